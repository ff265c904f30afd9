/*
 * trine — command line: `trine [router|broker] [-c FILE] [-t] [--name value]...`.
 * Without a role it is the master that runs the whole engine.
 */
#include "config.h"
#include "zcurve.h"
#include "broker.h"
#include "cfg.h"
#include "fanout.h"
#include "log.h"
#include "master.h"
#include "router.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: trine [router|broker|fanout] [-c FILE] [-t] [-d] [-p FILE] [--DIRECTIVE VALUE]...\n"
		"       trine keygen PREFIX   write a CURVE key pair: PREFIX.key (secret), PREFIX.pub\n"
		"\n"
		"  (no role)        run the whole engine: master, router and brokers\n"
		"  router           run only the router (brokers on other hosts connect to it)\n"
		"  broker           run one broker against --router_endpoint\n"
		"  fanout           run one stream fanout on stream_port against --router_endpoint\n"
		"                   and --router_pub_endpoint\n"
		"  -c, --config FILE  read directives from FILE (trine.conf(5))\n"
		"  -t, --test-config  validate the configuration and exit 0 or 1\n"
		"  -d, --daemonize    detach from the terminal (hosts without systemd)\n"
		"  -p, --pidfile FILE write the master's pid to FILE, removed at exit\n"
		"  -h, --help         this text\n"
		"  -V, --version      print the version\n"
		"\n"
		"Signals to the master: TERM/INT drain and stop, HUP reloads the configuration.\n"
		"Every directive can be given as --name value; it overrides the file:\n");
	cfg_print_help();
}

static int run(const char *role, struct cfg *cfg, int argc, char **argv);

/*
 * --daemonize, for hosts without systemd: detach from the terminal and the
 * session (fork, setsid, fork) with stdin on /dev/null. Logs still go to
 * stderr: redirect it. Under systemd use Type=notify instead.
 */
static int daemonize(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(EXIT_OK);
	if (setsid() < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(EXIT_OK);
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	return 0;
}

/* The pidfile holds the master's pid (after --daemonize); removed at exit. */
static int pidfile_write(const char *path)
{
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return -1;
	if (write(fd, buf, (size_t)n) != n) {
		int e = errno;
		close(fd);
		unlink(path);
		errno = e;
		return -1;
	}
	return close(fd);
}

int main(int argc, char **argv)
{
	struct cfg cfg;
	char err[512];
	const char *role = NULL, *file = NULL, *pidfile = NULL;
	int test_only = 0, daemon_mode = 0, rc;
	int ai = 1;

	cfg_defaults(&cfg);
	log_init("master", LL_INFO);
	if (sodium_init() < 0) {
		fprintf(stderr, "trine: libsodium failed to initialize\n");
		return EXIT_STARTUP;
	}
	if (ai < argc && strcmp(argv[ai], "keygen") == 0) {
		if (ai + 2 != argc) {
			fprintf(stderr, "usage: trine keygen PREFIX   (writes PREFIX.key and PREFIX.pub)\n");
			return EXIT_USAGE;
		}
		return zcurve_keygen(argv[ai + 1]) == 0 ? EXIT_OK : EXIT_STARTUP;
	}
	if (ai < argc && argv[ai][0] != '-') {
		role = argv[ai++];
		if (strcmp(role, "router") != 0 && strcmp(role, "broker") != 0 &&
		    strcmp(role, "fanout") != 0) {
			fprintf(stderr, "trine: unknown role '%s' (router, broker or fanout)\n", role);
			return EXIT_USAGE;
		}
	}
	for (int i = ai; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return EXIT_OK;
		} else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
			printf("trine %s\n", PACKAGE_VERSION);
			return EXIT_OK;
		} else if (strcmp(a, "-t") == 0 || strcmp(a, "--test-config") == 0) {
			test_only = 1;
		} else if (strcmp(a, "-d") == 0 || strcmp(a, "--daemonize") == 0) {
			daemon_mode = 1;
		} else if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && i + 1 < argc) {
			file = argv[++i];
		} else if ((strcmp(a, "-p") == 0 || strcmp(a, "--pidfile") == 0) && i + 1 < argc) {
			pidfile = argv[++i];
		}
	}
	if (cfg_load_args(&cfg, argc - ai, argv + ai, err, sizeof err) < 0) {
		fprintf(stderr, "trine: %s\n", err);
		if (strncmp(err, "command line: unexpected", 24) == 0)
			usage(stderr);
		return EXIT_USAGE;
	}
	if (test_only) {
		printf("trine: configuration %s is valid\n", file ? file : "(defaults)");
		return EXIT_OK;
	}
	/* a reload (SIGHUP) reads the same file and arguments again */
	if (cfg_keep_args(argc - ai, argv + ai) < 0) {
		fprintf(stderr, "trine: out of memory\n");
		return EXIT_STARTUP;
	}
	if (daemon_mode && daemonize() < 0) {
		fprintf(stderr, "trine: cannot daemonize: %s\n", strerror(errno));
		return EXIT_STARTUP;
	}
	if (pidfile && pidfile_write(pidfile) < 0) {
		fprintf(stderr, "trine: pidfile %s: %s\n", pidfile, strerror(errno));
		return EXIT_STARTUP;
	}
	rc = run(role, &cfg, argc, argv);
	if (pidfile)
		unlink(pidfile);
	return rc;
}

/* The process a role runs; main() wraps it with the pidfile. */
static int run(const char *role, struct cfg *cfg, int argc, char **argv)
{
	log_init(role ? role : "master", cfg->log_level);
	log_format_cur = cfg->log_format;
	proctitle_init(argc, argv);

	if (!role)
		return master_run(cfg);
	if (master_prepare(cfg) < 0)
		return EXIT_STARTUP;
	if (strcmp(role, "router") == 0)
		return router_main(cfg) == 0 ? EXIT_OK : EXIT_STARTUP;
	if (strcmp(role, "fanout") == 0) {
		int sfd = master_listen(cfg, cfg->stream_port);
		if (sfd < 0)
			return EXIT_STARTUP;
		return fanout_main(cfg, sfd, -1) == 0 ? EXIT_OK : EXIT_STARTUP;
	}
	struct broker_fds fds = { master_listen(cfg, cfg->worker_port), -1 };
	if (fds.worker_fd < 0)
		return EXIT_STARTUP;
	if (cfg->http_port && (fds.http_fd = master_listen_http(cfg)) < 0)
		return EXIT_STARTUP;
	return broker_main(cfg, &fds, -1) == 0 ? EXIT_OK : EXIT_STARTUP;
}
