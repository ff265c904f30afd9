#include "config.h"
#include "master.h"
#include "broker.h"
#include "fanout.h"
#include "log.h"
#include "router.h"
#include "sd_notify.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define STABLE_MS 10000
#define STOP_GRACE_MS 5000	/* after shutdown_timeout_ms: close handshakes, store flush */

enum role { ROLE_ROUTER, ROLE_BROKER, ROLE_FANOUT };

struct child {
	enum role role;
	int index;
	pid_t pid;			/* 0 = not running */
	int64_t started_ms;
	int64_t respawn_at_ms;		/* 0 = no respawn pending */
	int backoff_ms;
	unsigned restarts;
	int ready;			/* it told us it serves (master_child_ready) */
	int roll_pending;		/* a reload replaces it, not yet begun */
	int rolling;			/* a reload sent it SIGTERM: it drains and exits */
	int replacing;			/* its successor is starting: the roll waits for it */
};

static char **pt_argv;
static size_t pt_len;

/*
 * ps shows argv; to retitle children ("trine: broker 0") we reuse the argv
 * and environ area, after moving environ to the heap (nginx does the same).
 */
void proctitle_init(int argc, char **argv)
{
	extern char **environ;
	char *end = argv[0] + strlen(argv[0]) + 1;
	size_t n = 0;

	for (int i = 1; i < argc; i++)
		if (argv[i] == end)
			end = argv[i] + strlen(argv[i]) + 1;
	while (environ[n])
		n++;
	char **env = malloc((n + 1) * sizeof *env);
	if (!env)
		return;
	for (size_t i = 0; i < n; i++) {
		if (environ[i] == end)
			end = environ[i] + strlen(environ[i]) + 1;
		env[i] = strdup(environ[i]);
	}
	env[n] = NULL;
	environ = env;
	pt_argv = argv;
	pt_len = (size_t)(end - argv[0]);
}

void proctitle_set(const char *title)
{
	if (!pt_argv || pt_len < 2)
		return;
	memset(pt_argv[0], 0, pt_len);
	snprintf(pt_argv[0], pt_len, "%s", title);
	pt_argv[1] = NULL;
	prctl(PR_SET_NAME, title, 0, 0, 0);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0750) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, 0750) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

int master_prepare(struct cfg *cfg)
{
	char abs[PATH_MAX];

	if (mkdir_p(cfg->data_dir) < 0) {
		log_error("cannot create data_dir %s: %s", cfg->data_dir, strerror(errno));
		return -1;
	}
	if (!realpath(cfg->data_dir, abs)) {
		log_error("data_dir %s: %s", cfg->data_dir, strerror(errno));
		return -1;
	}
	if (!cfg->router_endpoint[0]) {
		/* unix socket paths are limited to 107 bytes */
		if (strlen(abs) + strlen("ipc:///router.ipc") > 100) {
			log_error("data_dir %s is too long for the router's IPC socket; set router_endpoint",
				  abs);
			return -1;
		}
		snprintf(cfg->router_endpoint, sizeof cfg->router_endpoint, "ipc://%s/router.ipc", abs);
	}
	if (!cfg->router_pub_endpoint[0]) {
		if (strlen(abs) + strlen("ipc:///events.ipc") > 100) {
			log_error("data_dir %s is too long for the router's IPC socket; set router_pub_endpoint",
				  abs);
			return -1;
		}
		snprintf(cfg->router_pub_endpoint, sizeof cfg->router_pub_endpoint, "ipc://%s/events.ipc", abs);
	}
	return 0;
}

/*
 * http_bind and stream_bind let those ports listen on other addresses than
 * bind, so the worker port can stay private while HTTP and streams are public.
 */
static const char *listen_addr(const struct cfg *cfg, int port)
{
	if (port == cfg->http_port && cfg->http_bind[0])
		return cfg->http_bind;
	if (port == cfg->stream_port && cfg->stream_bind[0])
		return cfg->stream_bind;
	return cfg->bind;
}

int master_listen(const struct cfg *cfg, int port)
{
	struct addrinfo hints, *ai = NULL;
	char portstr[16];
	const char *addr = listen_addr(cfg, port);
	int fd = -1, one = 1, rc;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
	snprintf(portstr, sizeof portstr, "%d", port);
	if ((rc = getaddrinfo(addr, portstr, &hints, &ai)) != 0) {
		log_error("bind address %s: %s", addr, gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4096) < 0)
		goto fail;
	freeaddrinfo(ai);
	return fd;
fail:
	log_error("cannot listen on %s:%d: %s", addr, port, strerror(errno));
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return -1;
}

/*
 * The HTTP trigger socket: TCP_NODELAY on the listener is inherited by every
 * accepted connection on Linux, so no broker pays a setsockopt per request.
 */
int master_listen_http(const struct cfg *cfg)
{
	int one = 1, fd = master_listen(cfg, cfg->http_port);

	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static pid_t master_pid;
static pid_t ready_to;		/* in a child: the master to tell once serving */

/*
 * Children say "serving" with a queued real-time signal: sigtimedwait in the
 * master gets it with the sender's pid, needs no extra descriptor, and
 * queued signals are not merged when several children start at once.
 */
#define SIG_CHILD_READY SIGRTMIN

void master_child_ready(void)
{
	union sigval v = { .sival_int = 0 };

	if (ready_to && getppid() == ready_to)
		sigqueue(ready_to, SIG_CHILD_READY, v);
	ready_to = 0;
}

static int stream_fd = -1;	/* stream_port, inherited by the fanouts */

static void child_spawn(struct cfg *cfg, struct child *c, const struct broker_fds *fds,
			const sigset_t *oldmask)
{
	char title[64];
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		c->respawn_at_ms = mono_ms() + BACKOFF_MAX_MS;
		return;
	}
	if (pid > 0) {
		c->pid = pid;
		c->ready = 0;
		c->started_ms = mono_ms();
		c->respawn_at_ms = 0;
		return;
	}
	/* child: die with the master, never outlive it as an orphan */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != master_pid)
		_exit(0);
	/*
	 * Own process group: a terminal's Ctrl-C reaches only the master, which
	 * then stops the children in order (brokers first, then the router).
	 */
	setpgid(0, 0);
	ready_to = master_pid;
	sd_notify_unsetenv();	/* only the master talks to systemd */
	sigprocmask(SIG_SETMASK, oldmask, NULL);
	signal(SIGCHLD, SIG_DFL);
	int rc;
	if (c->role != ROLE_FANOUT && stream_fd >= 0)
		close(stream_fd);
	if (c->role == ROLE_ROUTER) {
		close(fds->worker_fd);
		if (fds->http_fd >= 0)
			close(fds->http_fd);
		proctitle_set("trine: router");
		log_set_role("router");
		rc = router_main(cfg);
	} else if (c->role == ROLE_FANOUT) {
		close(fds->worker_fd);
		if (fds->http_fd >= 0)
			close(fds->http_fd);
		snprintf(title, sizeof title, "trine: fanout %d", c->index);
		proctitle_set(title);
		snprintf(title, sizeof title, "fanout%d", c->index);
		log_set_role(title);
		rc = fanout_main(cfg, stream_fd, c->index);
	} else {
		snprintf(title, sizeof title, "trine: broker %d", c->index);
		proctitle_set(title);
		snprintf(title, sizeof title, "broker%d", c->index);
		log_set_role(title);
		rc = broker_main(cfg, fds, c->index);
	}
	/* exit, not _exit: LeakSanitizer checks at exit in sanitizer builds */
	exit(rc);
}

static const char *child_name(const struct child *c, char *buf, size_t len)
{
	if (c->role == ROLE_ROUTER)
		snprintf(buf, len, "router");
	else if (c->role == ROLE_FANOUT)
		snprintf(buf, len, "fanout %d", c->index);
	else
		snprintf(buf, len, "broker %d", c->index);
	return buf;
}

static void restart_needed(const char *name)
{
	log_warn("reload: %s changed but takes effect only at a restart; keeping the running value",
		 name);
}

/*
 * Read and validate the configuration again (same file and arguments as at
 * start) and apply what is reloadable to cfg, which later children inherit.
 * On any error nothing changes. 0 or -1 (logged).
 */
static int master_reload_cfg(struct cfg *cfg)
{
	struct cfg *next = malloc(sizeof *next);
	char err[512] = "data_dir or the router endpoints are unusable";
	int n;

	if (!next) {
		log_error("reload: out of memory; keeping the running configuration");
		return -1;
	}
	if (cfg_reload(next, err, sizeof err) < 0 || master_prepare(next) < 0) {
		log_error("reload: %s; keeping the running configuration", err);
		sd_notify_sendf("STATUS=reload failed, running the previous configuration: %s", err);
		free(next);
		return -1;
	}
	n = cfg_apply_reload(cfg, next, restart_needed);
	free(next);
	log_level_cur = cfg->log_level;
	log_format_cur = cfg->log_format;
	log_info("reload: configuration read, %d reloadable directives changed", n);
	return 0;
}

/*
 * One step of a roll: SIGTERM the next front waiting to be replaced (it
 * drains like a stop and exits; the supervision loop starts its successor
 * at once and waits for it to serve before the next step). Returns 0 when
 * no front is left to roll.
 */
static int roll_step(struct child *kids, size_t nkids)
{
	char name[32];

	for (size_t i = 0; i < nkids; i++) {
		struct child *c = &kids[i];
		if (!c->roll_pending)
			continue;
		c->roll_pending = 0;
		if (!c->pid)
			continue;	/* down already: its respawn gets the new configuration */
		c->rolling = 1;
		log_info("reload: replacing %s (pid %d)", child_name(c, name, sizeof name), (int)c->pid);
		kill(c->pid, SIGTERM);
		return 1;
	}
	return 0;
}

/*
 * DATA_DIR/restarts: how often each child was restarted after dying, one
 * "<process> <count>" line each, for the router's /metrics. Replaced
 * atomically (rename) so that a reader never sees half a file.
 */
static void write_restarts(const struct cfg *cfg, const struct child *kids, size_t n)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	FILE *f;

	snprintf(path, sizeof path, "%s/restarts", cfg->data_dir);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return;
	for (size_t i = 0; i < n; i++) {
		if (kids[i].role == ROLE_ROUTER)
			fprintf(f, "router %u\n", kids[i].restarts);
		else
			fprintf(f, "%s%d %u\n", kids[i].role == ROLE_BROKER ? "broker" : "fanout",
				kids[i].index, kids[i].restarts);
	}
	if (fclose(f) == 0)
		rename(tmp, path);
	else
		unlink(tmp);
}

static int all_ready(const struct child *kids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!kids[i].pid || !kids[i].ready)
			return 0;
	return 1;
}

static void on_sigchld(int sig)
{
	(void)sig;	/* only here so that SIGCHLD is delivered to sigtimedwait */
}

int master_run(struct cfg *cfg)
{
	struct child *kids;
	size_t nkids, running;
	int nbrokers = cfg->brokers;
	struct broker_fds fds = { -1, -1 };
	sigset_t set, oldmask;
	int stopping = 0, exit_code = EXIT_OK;
	int64_t stop_deadline = 0;
	int router_signalled = 0, forced = 0;
	int announced = 0;		/* READY=1 sent */
	int rolling = 0, reload_again = 0, reload_now = 0;
	uint64_t wd_usec = sd_watchdog_usec();
	int64_t wd_ms = wd_usec ? (int64_t)(wd_usec / 2000) : 0, next_wd = 0;

	master_pid = getpid();
	if (master_prepare(cfg) < 0)
		return EXIT_STARTUP;
	if (nbrokers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		nbrokers = n > 0 ? (int)n : 1;
	}
	fds.worker_fd = master_listen(cfg, cfg->worker_port);
	if (fds.worker_fd < 0)
		return EXIT_STARTUP;
	if (cfg->http_port && (fds.http_fd = master_listen_http(cfg)) < 0) {
		close(fds.worker_fd);
		return EXIT_STARTUP;
	}

	int nfanouts = cfg->stream_port ? cfg->fanouts : 0;
	if (nfanouts && (stream_fd = master_listen(cfg, cfg->stream_port)) < 0) {
		close(fds.worker_fd);
		if (fds.http_fd >= 0)
			close(fds.http_fd);
		return EXIT_STARTUP;
	}

	nkids = (size_t)nbrokers + (size_t)nfanouts + 1;
	kids = calloc(nkids, sizeof *kids);
	if (!kids)
		return EXIT_STARTUP;
	kids[0].role = ROLE_ROUTER;
	for (int i = 0; i < nbrokers; i++) {
		kids[i + 1].role = ROLE_BROKER;
		kids[i + 1].index = i;
	}
	for (int i = 0; i < nfanouts; i++) {
		kids[nbrokers + 1 + i].role = ROLE_FANOUT;
		kids[nbrokers + 1 + i].index = i;
	}

	/* signals are taken synchronously with sigtimedwait: no handler races */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIG_CHILD_READY);
	signal(SIGCHLD, on_sigchld);
	signal(SIGPIPE, SIG_IGN);
	sigprocmask(SIG_BLOCK, &set, &oldmask);

	log_info("trine %s: worker port %d, %d brokers, data in %s", PACKAGE_VERSION,
		 cfg->worker_port, nbrokers, cfg->data_dir);
	sd_notify_sendf("STATUS=starting the router and %d brokers", nbrokers);
	if (wd_ms)
		log_info("systemd watchdog: pinging every %lld ms while every child serves",
			 (long long)wd_ms);
	write_restarts(cfg, kids, nkids);
	for (size_t i = 0; i < nkids; i++) {
		kids[i].backoff_ms = BACKOFF_MIN_MS;
		child_spawn(cfg, &kids[i], &fds, &oldmask);
	}

	for (;;) {
		int64_t now = mono_ms(), wait_ms = 1000;
		struct timespec ts;
		siginfo_t si;
		int sig, st;
		pid_t pid;
		char name[32];

		for (size_t i = 0; i < nkids; i++)
			if (kids[i].respawn_at_ms && kids[i].respawn_at_ms - now < wait_ms)
				wait_ms = kids[i].respawn_at_ms - now;
		if (stopping && stop_deadline - now < wait_ms)
			wait_ms = stop_deadline - now;
		if (wd_ms && next_wd - now < wait_ms)
			wait_ms = next_wd - now;
		if (wait_ms < 0)
			wait_ms = 0;
		ts.tv_sec = wait_ms / 1000;
		ts.tv_nsec = (wait_ms % 1000) * 1000000;
		sig = sigtimedwait(&set, &si, &ts);

		if (sig == SIG_CHILD_READY) {
			int roll_done = 0;
			for (size_t i = 0; i < nkids; i++)
				if (kids[i].pid && kids[i].pid == si.si_pid)
					kids[i].ready = 1;
			for (size_t i = 0; rolling && i < nkids; i++)
				if (kids[i].pid == si.si_pid && kids[i].replacing) {
					kids[i].replacing = 0;
					if (!roll_step(kids, nkids)) {
						rolling = 0;
						roll_done = 1;
						log_info("reload: done");
						reload_now = reload_again;
						reload_again = 0;
					}
				}
			if (!stopping && !rolling && all_ready(kids, nkids)) {
				if (!announced)
					log_info("ready: the router and %d brokers are serving", nbrokers);
				sd_notify_sendf("%sSTATUS=serving: the router and %d brokers",
						announced && !roll_done ? "" : "READY=1\n", nbrokers);
				announced = 1;
			}
		} else if ((sig == SIGTERM || sig == SIGINT) && !stopping) {
			log_info("stopping on signal %d: draining brokers, then the router", sig);
			sd_notify_send("STOPPING=1\nSTATUS=stopping: draining the brokers");
			stopping = 1;
			rolling = 0;
			stop_deadline = mono_ms() + cfg->shutdown_timeout_ms + STOP_GRACE_MS;
			for (size_t i = 0; i < nkids; i++) {
				kids[i].respawn_at_ms = 0;
				if (kids[i].pid && kids[i].role != ROLE_ROUTER)
					kill(kids[i].pid, SIGTERM);
			}
		} else if ((sig == SIGTERM || sig == SIGINT) && stopping) {
			/* the brokers skip what is left of their drain */
			log_warn("second stop signal: forcing the stop");
			stop_deadline = mono_ms() + STOP_GRACE_MS;
			forced = 1;
			for (size_t i = 0; i < nkids; i++)
				if (kids[i].pid && kids[i].role != ROLE_ROUTER)
					kill(kids[i].pid, SIGTERM);
		} else if (sig == SIGHUP && !stopping && rolling) {
			log_info("reload: a reload is already rolling; reloading again after it");
			reload_again = 1;
		} else if (sig == SIGHUP && !stopping) {
			reload_now = 1;
		}
		if (reload_now && !stopping) {
			reload_now = 0;
			if (master_reload_cfg(cfg) == 0) {
				struct timespec mt;
				clock_gettime(CLOCK_MONOTONIC, &mt);
				sd_notify_sendf("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading: "
						"replacing the brokers one by one",
						(unsigned long long)mt.tv_sec * 1000000ULL +
						(unsigned long long)mt.tv_nsec / 1000);
				/* the router applies its reloadable settings in place */
				if (kids[0].pid)
					kill(kids[0].pid, SIGHUP);
				for (size_t i = 1; i < nkids; i++)
					kids[i].roll_pending = 1;
				rolling = roll_step(kids, nkids);
				if (!rolling) {
					log_info("reload: done");
					sd_notify_send("READY=1");
				}
			}
		}

		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			for (size_t i = 0; i < nkids; i++) {
				struct child *c = &kids[i];
				if (c->pid != pid)
					continue;
				c->pid = 0;
				child_name(c, name, sizeof name);
				if (stopping) {
					log_info("%s exited", name);
					break;
				}
				if (c->rolling) {
					/* replaced by a reload: its successor starts now */
					c->rolling = 0;
					c->replacing = 1;
					log_info("reload: %s (pid %d) drained and exited; starting its successor",
						 name, (int)pid);
					c->respawn_at_ms = mono_ms();
					break;
				}
				if (WIFEXITED(st) && WEXITSTATUS(st) == EXIT_CHILD_FATAL) {
					log_error("%s cannot start; stopping", name);
					exit_code = EXIT_STARTUP;
					stopping = 1;
					stop_deadline = mono_ms() + cfg->shutdown_timeout_ms + STOP_GRACE_MS;
					for (size_t k = 0; k < nkids; k++)
						if (kids[k].pid && kids[k].role != ROLE_ROUTER)
							kill(kids[k].pid, SIGTERM);
					break;
				}
				if (mono_ms() - c->started_ms > STABLE_MS)
					c->backoff_ms = BACKOFF_MIN_MS;
				if (WIFSIGNALED(st))
					log_warn("%s (pid %d) killed by signal %d; respawn in %d ms", name,
						 (int)pid, WTERMSIG(st), c->backoff_ms);
				else
					log_warn("%s (pid %d) exited with %d; respawn in %d ms", name,
						 (int)pid, WEXITSTATUS(st), c->backoff_ms);
				sd_notify_sendf("STATUS=%s exited; respawning it", name);
				c->respawn_at_ms = mono_ms() + c->backoff_ms;
				c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
					c->backoff_ms * 2;
				break;
			}
		}

		now = mono_ms();
		running = 0;
		for (size_t i = 0; i < nkids; i++) {
			struct child *c = &kids[i];
			if (!stopping && !c->pid && c->respawn_at_ms && c->respawn_at_ms <= now) {
				if (!c->replacing) {
					c->restarts++;
					write_restarts(cfg, kids, nkids);
				}
				child_spawn(cfg, c, &fds, &oldmask);
			}
			running += c->pid != 0;
		}
		/* the watchdog hears from us only while every child is alive and serving */
		if (wd_ms && now >= next_wd) {
			if (!stopping && all_ready(kids, nkids))
				sd_notify_send("WATCHDOG=1");
			next_wd = now + wd_ms;
		}
		if (!stopping)
			continue;
		/* brokers first (they send close frames and tell the router), then the router */
		if (!router_signalled && kids[0].pid && running == 1) {
			kill(kids[0].pid, SIGTERM);
			router_signalled = 1;
		}
		if (running == 0)
			break;
		if (now >= stop_deadline) {
			if (!forced)
				log_error("children did not stop within %lld ms: killing them",
					  (long long)cfg->shutdown_timeout_ms);
			for (size_t i = 0; i < nkids; i++)
				if (kids[i].pid)
					kill(kids[i].pid, SIGKILL);
			while (waitpid(-1, NULL, 0) > 0)
				;
			if (exit_code == EXIT_OK && !forced)
				exit_code = EXIT_STOP_TIMEOUT;
			break;
		}
	}
	close(fds.worker_fd);
	if (fds.http_fd >= 0)
		close(fds.http_fd);
	if (stream_fd >= 0)
		close(stream_fd);
	free(kids);
	log_info("stopped (exit %d)", exit_code);
	return exit_code;
}
