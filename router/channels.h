/*
 * channels — byte channels between two endpoints (engine::channels::create,
 * and the request-body / response channels of HTTP triggers). The router
 * owns the registry (id -> access keys, endpoints, buffered chunks) and
 * relays every chunk, so a writer and its reader may sit on different
 * brokers. Flow control is by credit: a writer may have at most buffer_size
 * chunks queued here or unacknowledged by the reader's broker; the writer's
 * broker stops reading its socket when its credit is spent.
 * Wire kinds: shared/chan_wire.h.
 */
#ifndef TRINE_CHANNELS_H
#define TRINE_CHANNELS_H

#include "router.h"

struct chan;

void chan_init(struct router *r);
void chan_free_all(struct router *r);

/*
 * A new channel, dropped with its owner worker (owner_id NULL: the caller
 * drops it with chan_drop). NULL when out of memory.
 */
struct chan *chan_create(struct router *r, const char *owner_id, int buffer_size);
struct chan *chan_find(const char *id);
const char *chan_id(const struct chan *c);
/* {"channel_id","access_key","direction"} for one end (new reference). */
json_object *chan_ref(const struct chan *c, int dir);
/* Bind one end to an HTTP request a front holds (endpoint id has CHAN_HTTP_BIT). */
void chan_bind_front(struct chan *c, int dir, const struct front *f, uint64_t ep);
/* Dropping one drops the other (an HTTP request's two channels). */
void chan_pair(struct chan *a, struct chan *b);
/* 1 once a writer attached (or the writer end is a front). */
int chan_writer_seen(const struct chan *c);
/* 1 once the writer sent a binary chunk (an HTTP response started streaming). */
int chan_streaming(const struct chan *c);
/* Call fn(r, arg) once, when a WebSocket writer attaches (NULL to cancel). */
void chan_on_writer(struct chan *c, void (*fn)(struct router *, void *), void *arg);
/* Forget the channel (and its pair); attached WebSockets are closed. */
void chan_drop(struct router *r, struct chan *c);
/* A worker left: drop the channels it created. */
void chan_worker_gone(struct router *r, const char *worker_id);

#endif
