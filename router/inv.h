/*
 * inv — the invocation table and the routing decision, behind one small
 * interface: start a call, take a result, forget a worker. A later fast path
 * (a broker delivering to a worker it holds) only has to reimplement this.
 */
#ifndef TRINE_INV_H
#define TRINE_INV_H

#include "router.h"

/* For engine-originated calls: result or error (one of them non-NULL, borrowed). */
typedef void (*inv_done_fn)(struct router *r, void *arg, json_object *result, json_object *error);

struct inv {
	char id[ID_UUID_LEN + 1];		/* id the target sees (table key) */
	char caller_id[ID_UUID_LEN + 1];	/* the caller's id, "" if none */
	char *function_id;
	struct worker *caller;			/* NULL for engine calls or once the caller left */
	struct worker *target;
	int want_reply;
	inv_done_fn done;
	void *done_arg;
	struct event *timer;
	struct router *r;
	int64_t started_us;			/* metrics_now_us() when routed */
};

/*
 * Start a call of function_id with data (borrowed; decorated in place with
 * _caller_worker_id for worker callers). caller_id: the caller's invocation
 * id or NULL. want_reply: answer the caller (worker) or call done (engine).
 * Every error is reported through the same path as a result.
 */
void inv_start(struct router *r, struct worker *caller, const char *caller_id, int want_reply,
	       const char *function_id, json_object *data, json_object *msg,
	       inv_done_fn done, void *done_arg);

/*
 * The hot path: body is an invokefunction or invocationresult from worker w
 * as the broker forwarded it (already validated there). Handles it from the
 * raw bytes, without building JSON objects for the payload, and returns 1;
 * returns 0 for any other message (the caller parses it).
 */
int inv_on_raw(struct router *r, struct worker *w, const char *body, size_t len);

/* An invocationresult from worker w. */
void inv_on_result(struct router *r, struct worker *w, json_object *msg,
		   const char *raw, size_t raw_len);

/* w is leaving: calls it serves fail with invocation_stopped, calls it waits for lose their caller. */
void inv_worker_gone(struct router *r, struct worker *w);

void inv_free_all(struct router *r);

/*
 * Calls held during a rolling reload (no provider for a moment): route
 * those whose function has a provider again, answer function_not_found to
 * those past their deadline. The router calls it after each batch.
 */
void inv_parked_retry(struct router *r);
void inv_parked_free(struct router *r);

/*
 * A built-in that has to wait for something (it calls a worker itself, e.g.
 * stream::get delegating to stream::get(<name>)) takes its call with
 * inv_defer() while it runs, leaves *result and *error unset, and answers later
 * with inv_deferred_finish() (which frees the handle; result and error are
 * borrowed). The caller may be gone by then: the answer is dropped.
 * inv_defer() returns NULL outside a built-in call or when out of memory.
 */
struct inv_deferred;
struct inv_deferred *inv_defer(void);
void inv_deferred_finish(struct router *r, struct inv_deferred *d,
			 json_object *result, json_object *error);
/* Forget a deferred call without answering it (at shutdown, once the registry is gone). */
void inv_deferred_drop(struct inv_deferred *d);

/* {"type":"invocationresult","invocation_id":id,"function_id":fn,"error":{...}} */
json_object *inv_error_msg(const char *id, const char *fn, const char *code, const char *message);

#endif
