/*
 * streams — stream and state data (reference §8-9): the stream::* and
 * state::* built-ins over the LMDB store, delegation to a worker that owns a
 * stream (stream::get(<name>) ...), the stream / state / stream:join /
 * stream:leave trigger kinds, and the router side of the fanout processes:
 * every change is published once on a PUB socket (topic = stream and group)
 * and fanouts ask for snapshots (sync), join authorization and connection
 * auth over their DEALER link.
 *
 * PUB message parts (each fanout subscribes to the topics its clients joined):
 *   topic   "<stream>\0<group>\0"
 *   head    seq (uint64 BE, per group, from 1 in each router epoch) + epoch (uint64 BE)
 *   item    the item id ("" when none)
 *   frame   the client frame in the current dialect (type:"stream", camelCase)
 *   frame   the same event in the older dialect (stream_name, event.type "Create"...)
 *
 * Fanout <-> router kinds (ids = header connection ids):
 *   sjoin  [conn, rid] {sub, stream, group, id, context, old, resync}
 *          -> ssync [conn, rid, seq, epoch] frame, or sunauth [conn, rid] frame
 *   sleave [conn] {sub, stream, group, id, context}  (stream:leave triggers)
 *   sauth  [conn] {headers, path, query_params, addr} -> sauth [conn] context
 */
#ifndef TRINE_STREAMS_H
#define TRINE_STREAMS_H

#include "router.h"

void streams_init(struct router *r);
void streams_free(struct router *r);
/* Stream subscriptions the fanouts hold now (/metrics). */
size_t streams_subscriptions(void);

/* state.c */
void state_init(struct router *r);
void state_free(struct router *r);

/*
 * Run function_id with payload (borrowed) for a trigger, behind its
 * condition function when it has one (a result other than false/null passes).
 */
void streams_fire(struct router *r, const char *function_id, const char *condition_id,
		  json_object *payload);

#endif
