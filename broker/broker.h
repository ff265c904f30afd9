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
	int stopping;
	unsigned long dropped_to_router;
};

/*
 * Run a broker on listen_fd until SIGTERM. index: its slot under a master,
 * -1 for a broker started alone. Returns the process exit code.
 */
int broker_main(const struct cfg *cfg, int listen_fd, int index);

/*
 * Send one message to the router about connection id. Returns 0, or -1 when
 * the router link is full (the message is dropped and counted).
 */
int broker_send(struct broker *b, const char *kind, uint64_t conn_id,
		const char *body, size_t len);

/* Called by conn.c when a connection is gone for good. */
void broker_conn_gone(struct broker *b, struct conn *c);

#endif
