/*
 * conn — one client WebSocket connection in a broker: handshake, frame
 * decoding, worker-protocol normalization, output, and the one close path.
 */
#ifndef TRINE_CONN_H
#define TRINE_CONN_H

#include <stdint.h>
#include <event2/bufferevent.h>

#include "hmap.h"
#include "ids.h"
#include "ws_frame.h"

struct broker;
struct lh_table;
struct wire_msg;

enum conn_state {
	CONN_HANDSHAKE,		/* reading the HTTP upgrade request */
	CONN_OPEN,		/* WebSocket frames flow */
	CONN_CLOSING,		/* close frame or HTTP error queued; closed once flushed */
};

enum conn_path {
	PATH_WORKER,		/* "/": the worker protocol */
	PATH_OTEL,		/* "/otel": telemetry frames only */
	PATH_CHANNEL,		/* "/ws/channels/<id>": one end of a byte channel */
};

struct conn {
	struct broker *b;
	uint64_t id;
	struct bufferevent *bev;
	enum conn_state state;
	enum conn_path path;
	struct ws_decoder dec;
	char peer[64];
	char worker_id[ID_UUID_LEN + 1];
	char token[ID_UUID_LEN + 1];
	int told_router;		/* the router knows this connection */
	struct event *close_timer;

	struct hmap pending;		/* caller invocation ids awaiting a result (owned strings) */
	/* what to replay to a restarted router, keyed by id, normalized JSON */
	struct lh_table *reg_tts;
	struct lh_table *reg_fns;
	struct lh_table *reg_trigs;
	char *announce;
	char *acl;			/* worker_auth function: the router's verdict, in every open */
	int auth_wait;			/* upgrade held until the router's worker_auth verdict */

	/* PATH_CHANNEL only */
	char ch_id[65];			/* channel id */
	int ch_dir;			/* CHAN_WRITE or CHAN_READ */
	int ch_attached;		/* the router accepted us: tell it when we go */
	char *ch_accept;		/* the 101 response, sent once the router accepts (also auth_wait) */
	size_t ch_accept_len;
	int64_t ch_credit;		/* writer: chunks we may still forward */
	unsigned ch_unacked;		/* reader: chunks written, not yet acknowledged */
};

/* Take ownership of an accepted socket. Returns NULL (socket closed) on failure. */
struct conn *conn_new(struct broker *b, int fd, const struct sockaddr *sa, int salen);

/* Write one text frame (unmasked server frame). */
void conn_send_text(struct conn *c, const char *data, size_t len);

/*
 * Start the close handshake: send a close frame with code and reason, stop
 * reading, and free the connection once the frame is flushed (or after a
 * short grace period).
 */
void conn_close(struct conn *c, uint16_t code, const char *reason);

/* Free immediately, without a close frame (peer gone, or broker exiting). */
void conn_free(struct conn *c);

/* "wauthok"/"wauthno" (worker_auth function verdicts): 1 when m was one. */
int conn_auth_on_router(struct broker *b, struct wire_msg *m);

/* The router restarted: replay what it needs to know about this connection. */
void conn_replay(struct conn *c);

/* The router restarted: fail every call this connection is waiting for. */
void conn_fail_pending(struct conn *c, const char *code, const char *message);

/* A result for the caller's invocation id key is delivered: forget it. */
void conn_result_delivered(struct conn *c, const char *key, size_t key_len);

/*
 * A router message about a byte channel (chok, chno, chd, chend, chcredit,
 * chclose): 1 if handled here (or by the HTTP front for its requests), 0 if
 * the kind is not a channel kind.
 */
struct wire_msg;
int conn_chan_on_router(struct broker *b, struct wire_msg *m);

#endif
