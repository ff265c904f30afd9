/*
 * broker — one pre-forked front process: terminates worker WebSockets on the
 * inherited listening socket and talks to the router over one DEALER socket.
 */
#ifndef TRINE_BROKER_H
#define TRINE_BROKER_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"

struct conn;
struct http_front;
struct lh_table;

struct broker {
	struct event_base *base;
	const struct cfg *cfg;
	int index;
	char ident[48];			/* ZeroMQ routing id: b<index>.<random> */
	void *zctx;
	void *zsock;
	struct zsock *zw;
	struct evconnlistener *listener;
	struct lh_table *conns;		/* conn id -> struct conn * */
	uint64_t next_conn_id;
	uint64_t router_epoch;		/* epoch of the router instance we synced with */
	struct event *hb_timer;
	struct event *stop_timer;
	struct event *sig_term, *sig_int;
	int stopping;			/* enum broker_stop */
	struct event *drain_timer;
	int64_t drain_deadline_ms;	/* monotonic: close anyway after this */
	unsigned long dropped_to_router;
	struct http_front *http;	/* HTTP triggers (broker/http_front.c), NULL when off */
};

/* A stop: drain (calls in flight finish), then close (1001 frames), then exit. */
enum broker_stop { STOP_NONE, STOP_DRAINING, STOP_CLOSING };

/* Listening sockets a broker inherits from the master (or binds alone). */
struct broker_fds {
	int worker_fd;		/* worker WebSockets */
	int http_fd;		/* HTTP triggers, -1 when http_port is 0 */
};

/*
 * Run a broker on the inherited sockets until SIGTERM (it owns and closes
 * them). index: its slot under a master, -1 for a broker started alone.
 * Returns the process exit code.
 */
int broker_main(const struct cfg *cfg, const struct broker_fds *fds, int index);

/*
 * Send one message to the router about connection id. Returns 0, or -1 when
 * the router link is full (the message is dropped and counted).
 */
int broker_send(struct broker *b, const char *kind, uint64_t conn_id,
		const char *body, size_t len);

/* Called by conn.c when a connection is gone for good. */
void broker_conn_gone(struct broker *b, struct conn *c);

#endif
