/*
 * trine — command line: `trine [router|broker] [-c FILE] [-t] [--name value]...`.
 * Without a role it is the master that runs the whole engine.
 */
#include "config.h"
#include "broker.h"
#include "cfg.h"
#include "fanout.h"
#include "log.h"
#include "master.h"
#include "router.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: trine [router|broker|fanout] [-c FILE] [-t] [--DIRECTIVE VALUE]...\n"
		"\n"
		"  (no role)        run the whole engine: master, router and brokers\n"
		"  router           run only the router (brokers on other hosts connect to it)\n"
		"  broker           run one broker against --router_endpoint\n"
		"  fanout           run one stream fanout on stream_port against --router_endpoint\n"
		"                   and --router_pub_endpoint\n"
		"  -c, --config FILE  read directives from FILE (trine.conf(5))\n"
		"  -t, --test-config  validate the configuration and exit 0 or 1\n"
		"  -h, --help         this text\n"
		"  -V, --version      print the version\n"
		"\n"
		"Every directive can be given as --name value; it overrides the file:\n");
	cfg_print_help();
}

int main(int argc, char **argv)
{
	struct cfg cfg;
	char err[512];
	const char *role = NULL, *file = NULL;
	int test_only = 0;
	int ai = 1;

	cfg_defaults(&cfg);
	log_init("master", LL_INFO);
	if (sodium_init() < 0) {
		fprintf(stderr, "trine: libsodium failed to initialize\n");
		return EXIT_STARTUP;
	}
	if (ai < argc && argv[ai][0] != '-') {
		role = argv[ai++];
		if (strcmp(role, "router") != 0 && strcmp(role, "broker") != 0 &&
		    strcmp(role, "fanout") != 0) {
			fprintf(stderr, "trine: unknown role '%s' (router, broker or fanout)\n", role);
			return EXIT_USAGE;
		}
	}
	/* first pass: the file, so that command-line directives override it */
	for (int i = ai; i < argc; i++) {
		if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc)
			file = argv[++i];
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return EXIT_OK;
		} else if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
			printf("trine %s\n", PACKAGE_VERSION);
			return EXIT_OK;
		}
	}
	if (file && cfg_load_file(&cfg, file, err, sizeof err) < 0) {
		fprintf(stderr, "trine: %s\n", err);
		return EXIT_USAGE;
	}
	for (int i = ai; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			if (++i >= argc) {
				fprintf(stderr, "trine: %s needs a file\n", a);
				return EXIT_USAGE;
			}
		} else if (strcmp(a, "-t") == 0 || strcmp(a, "--test-config") == 0) {
			test_only = 1;
		} else if (a[0] == '-' && a[1] == '-') {
			const char *name = a + 2, *eq = strchr(name, '=');
			char nbuf[64];
			const char *value;
			if (eq) {
				snprintf(nbuf, sizeof nbuf, "%.*s", (int)(eq - name), name);
				name = nbuf;
				value = eq + 1;
			} else if (i + 1 < argc) {
				value = argv[++i];
			} else {
				fprintf(stderr, "trine: --%s needs a value\n", name);
				return EXIT_USAGE;
			}
			if (cfg_set(&cfg, name, value, err, sizeof err) < 0) {
				fprintf(stderr, "trine: command line: %s\n", err);
				return EXIT_USAGE;
			}
		} else {
			fprintf(stderr, "trine: unexpected argument '%s'\n", a);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (test_only) {
		printf("trine: configuration %s is valid\n", file ? file : "(defaults)");
		return EXIT_OK;
	}
	log_init(role ? role : "master", cfg.log_level);
	proctitle_init(argc, argv);

	if (!role)
		return master_run(&cfg);
	if (master_prepare(&cfg) < 0)
		return EXIT_STARTUP;
	if (strcmp(role, "router") == 0)
		return router_main(&cfg) == 0 ? EXIT_OK : EXIT_STARTUP;
	if (strcmp(role, "fanout") == 0) {
		int sfd = master_listen(&cfg, cfg.stream_port);
		if (sfd < 0)
			return EXIT_STARTUP;
		return fanout_main(&cfg, sfd, -1) == 0 ? EXIT_OK : EXIT_STARTUP;
	}
	struct broker_fds fds = { master_listen(&cfg, cfg.worker_port), -1 };
	if (fds.worker_fd < 0)
		return EXIT_STARTUP;
	if (cfg.http_port && (fds.http_fd = master_listen_http(&cfg)) < 0)
		return EXIT_STARTUP;
	return broker_main(&cfg, &fds, -1) == 0 ? EXIT_OK : EXIT_STARTUP;
}
