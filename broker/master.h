/*
 * master — the program a user starts: binds the listening sockets, forks the
 * router and the brokers, and supervises them (respawn with backoff, stop on
 * SIGTERM/SIGINT). It holds no client state.
 */
#ifndef TRINE_MASTER_H
#define TRINE_MASTER_H

#include <sysexits.h>

#include "cfg.h"

/* Process exit codes (trine(8) documents them). */
enum {
	EXIT_OK = 0,		/* stopped by a signal, cleanly */
	EXIT_USAGE = 1,		/* bad command line or config */
	EXIT_STARTUP = 2,	/* could not start: bind, data directory, a child that cannot start */
	EXIT_STOP_TIMEOUT = 3,	/* children did not stop within shutdown_timeout_ms and were killed */
	EXIT_CHILD_FATAL = EX_CONFIG,	/* a child's own "cannot start, do not respawn me" (EX_CONFIG) */
};

/* Prepare derived settings (data directory, router endpoint). 0 or -1 (logged). */
int master_prepare(struct cfg *cfg);

/* Bind a TCP listening socket on cfg->bind:port. Returns the fd or -1 (logged). */
int master_listen(const struct cfg *cfg, int port);

/* master_listen on http_port, with TCP_NODELAY for every accepted connection. */
int master_listen_http(const struct cfg *cfg);

/* Run the whole engine. Returns the process exit code. */
int master_run(struct cfg *cfg);

/*
 * In a child of the master: tell it that this process now serves (the
 * master sends systemd READY=1 once every child has). A no-op elsewhere and
 * after the first call.
 */
void master_child_ready(void);

/* Set the process title shown by ps (main() calls proctitle_init first). */
void proctitle_init(int argc, char **argv);
void proctitle_set(const char *title);

#endif
