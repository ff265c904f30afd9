/*
 * metrics — Prometheus text format at http://BIND:metrics_port/metrics,
 * served by the router (the one process that sees every invocation).
 * Brokers report their counters with each heartbeat; the master writes its
 * restart counts to DATA_DIR/restarts.
 */
#ifndef TRINE_METRICS_H
#define TRINE_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct router;
struct front;

enum metrics_outcome {
	MO_RESULT,		/* the function answered (a value or its own error) */
	MO_TIMEOUT,		/* invocation_timeout_ms passed */
	MO_STOPPED,		/* its worker left while serving it */
	MO_NOT_FOUND,		/* no such function */
	MO_N
};

/* Bind metrics_port when set. 0, or -1 (logged): the router cannot start. */
int metrics_init(struct router *r);
void metrics_free(struct router *r);

/* An invocation ended; started_us: its start (metrics_now_us), 0 if never routed. */
void metrics_inv_done(enum metrics_outcome o, int64_t started_us);
int64_t metrics_now_us(void);

/* A front's heartbeat body: {"conns":N,"dropped":N,"http":{"200":N,...}}. */
void metrics_front_hb(struct front *f, const char *body, size_t len);

/* The exposition text (tests and the HTTP handler). Caller frees. */
char *metrics_render(struct router *r, size_t *len);

#endif
