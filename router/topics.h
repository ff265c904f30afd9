/*
 * topics — durable topics and named queues (reference §6.2, §6.3): the
 * `durable:subscriber` trigger kind, `iii::durable::publish`, the
 * `action: enqueue` path, at-least-once delivery with retries, backoff,
 * dead-letter queues, FIFO, concurrency limits and visibility timeouts, and
 * the engine::queue::* / iii::queue::* operator functions.
 *
 * Every message lives in the store (database "topics") from the moment it is
 * accepted until its handler succeeds or it is discarded, so a router killed
 * at any point delivers every unacknowledged message again after a restart.
 */
#ifndef TRINE_TOPICS_H
#define TRINE_TOPICS_H

#include "router.h"

/* Register the trigger kind and the built-in functions (router/modules.c). */
void topics_init(struct router *r);
void topics_free(struct router *r);

/* For /metrics: every queue (named queues "q:NAME", topic subscriptions) with its counts. */
void topics_each_queue(void (*fn)(void *arg, const char *name, size_t depth, size_t inflight,
				  size_t dlq), void *arg);

/*
 * The invokefunction hook (router/reg.c): a call with `action: enqueue` is
 * taken here and answered only after the message is committed (the built-in
 * iii::durable::publish waits for the commit too). Returns 1 when msg was
 * handled, 0 otherwise.
 */
int topics_on_invoke(struct router *r, struct worker *w, json_object *msg);

#endif
