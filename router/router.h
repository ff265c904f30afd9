/*
 * router — the single source of truth: fronts (brokers), workers, functions,
 * trigger types and bindings, in-flight invocations. Single-threaded, driven
 * by one ROUTER socket inside a libevent loop.
 */
#ifndef TRINE_ROUTER_H
#define TRINE_ROUTER_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "hmap.h"
#include "ids.h"

struct front {
	char ident[64];
	size_t ident_len;
	int index;			/* slot under its master, -1 when started alone */
	int ppid;
	int64_t last_seen_ms;
	struct lh_table *workers;	/* conn id -> struct worker * */
	int draining;			/* it stops: route calls elsewhere, say "idle" per worker */
	int64_t stat_conns, stat_dropped;	/* from its heartbeats, for /metrics */
	json_object *stat_http;		/* HTTP answers by status, from its heartbeats */
};

struct worker {
	char id[ID_UUID_LEN + 1];
	char token[ID_UUID_LEN + 1];
	char ip[64];
	struct front *front;
	uint64_t conn_id;
	json_object *meta;		/* engine::workers::register data, or NULL */
	int64_t connected_at_ms;
	int inflight;			/* calls this worker is serving */
	struct hmap inv_in;		/* inv id -> inv it serves */
	struct hmap inv_out;		/* inv id -> inv it waits for */
	struct lh_table *fns;		/* function id -> struct function * it provides */
	struct lh_table *trigs;		/* trigger id -> struct trigger * it registered */
	struct lh_table *tts;		/* trigger type id -> struct trigtype * it provides */
	json_object *acl;		/* worker_auth function verdict (wauth_check), NULL = all allowed */
	int drain_idle_sent;		/* its front drains: "idle" sent since it was last busy */
};

struct function {
	char *id;
	json_object *def;		/* the registerfunction message (latest) */
	struct worker **prov;		/* live workers serving it (replicas) */
	size_t nprov, capprov;
	size_t rr;			/* round-robin start among equally loaded replicas */
};

struct trigger;
struct router;

/* A trigger type the engine itself provides (http, cron, ...). */
struct trigkind {
	const char *type;
	const char *description;
	/* 0 = accepted; -1 = rejected with a message in err */
	int (*add)(struct router *r, struct trigger *t, char *err, size_t errlen);
	void (*remove)(struct router *r, struct trigger *t);
};

struct trigtype {
	char *id;
	char *description;
	struct worker *provider;		/* NULL for a built-in kind */
	const struct trigkind *kind;		/* non-NULL for a built-in kind */
};

struct trigger {
	char *id;
	char *type;
	char *function_id;
	json_object *config;
	json_object *metadata;
	struct worker *owner;		/* NULL for engine-owned bindings */
	struct trigtype *active_on;	/* NULL while parked */
	void *state;			/* owned by the trigger kind */
};

struct router {
	const struct cfg *cfg;
	struct event_base *base;
	void *zctx;
	void *zsock;
	struct zsock *zw;
	uint64_t epoch;
	char epoch_str[24];
	struct lh_table *fronts;	/* ident -> struct front * */
	struct lh_table *workers;	/* worker id -> struct worker * */
	struct lh_table *functions;	/* function id -> struct function * */
	struct lh_table *trigtypes;	/* type id -> struct trigtype * */
	struct lh_table *triggers;	/* trigger id -> struct trigger * */
	struct hmap invs;		/* inv id -> struct inv * (heavy churn: not lh_table) */
	const struct timeval *inv_timeout;	/* common timeout, NULL = none */
	struct event *tick;
	struct event *sig_term, *sig_int;
	unsigned long otel_log_batches;
	struct store *store;
	struct zap *zap;		/* CURVE allow-list for router_listen, or NULL */
	int64_t last_resync_ms;		/* last resync request, to send one per front and second */
	char last_resync_ident[64];
	size_t last_resync_len;		/* durable data (LMDB), opened at start-up */
	int ndraining;			/* fronts draining */
	struct event *sig_hup;		/* reload */
	struct parked *parked;		/* calls held during a roll (inv.c) */
	int64_t hold_until_ms;		/* hold calls without a provider until then (a roll ended) */
};

int router_main(const struct cfg *cfg);

struct wire_msg;
/*
 * Handler for a front message kind that the core does not know (e.g. "http"
 * from brokers): modules register theirs in their init function. "hello"
 * handlers run after the core's own (a front connected or reconnected), so
 * a module can send that front its state.
 */
typedef void (*router_kind_fn)(struct router *r, struct front *f, struct wire_msg *m);
void router_on_kind(const char *kind, router_kind_fn fn);

/* Called when a front is declared gone (crash, respawn, no heartbeat), before it is freed. */
typedef void (*router_front_fn)(struct router *r, struct front *f);
void router_on_front_gone(router_front_fn fn);

/* Send any wire message to a front (modules use it for their own kinds). */
void router_wire(struct router *r, struct front *f, const char *kind, uint64_t conn_id,
		 const char *body, size_t len, const char *key, size_t key_len);
/* Send to every known front (route tables and the like). */
void router_broadcast(struct router *r, const char *kind, const char *body, size_t len);

/*
 * Module start-up and shutdown (router/modules.c): every trigger kind and
 * built-in function beyond the core registers itself here.
 */
void router_modules_init(struct router *r);
void router_modules_free(struct router *r);

int64_t router_now_ms(void);

/* Send one text frame to a worker's connection. */
void router_send(struct router *r, struct worker *w, const char *body, size_t len);
/* Send an invocation result to a caller; key is the caller's invocation id. */
void router_send_result(struct router *r, struct worker *w, const char *key,
			const char *body, size_t len);
void router_send_json(struct router *r, struct worker *w, json_object *o);
/* Close a worker's connection with a code and reason (the router has already dropped it). */
void router_kick(struct router *r, struct worker *w, int code, const char *reason);

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

#endif
