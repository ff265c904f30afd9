/*
 * stream_ops — the update operations shared by stream::update and
 * state::update (reference §8.1): set, merge, increment, decrement, append,
 * remove, with the reference's limits and per-op error codes. Pure: JSON in,
 * JSON out, no storage.
 */
#ifndef TRINE_STREAM_OPS_H
#define TRINE_STREAM_OPS_H

#include <json-c/json.h>

#define STREAM_OPS_MAX_PATH_DEPTH 32
#define STREAM_OPS_MAX_SEGMENT 256
#define STREAM_OPS_MAX_MERGE_DEPTH 16
#define STREAM_OPS_MAX_MERGE_KEYS 1024

/*
 * Apply ops (a JSON array) to cur (borrowed; NULL or null = the item is
 * missing and starts as {}). Returns the new value (a new reference, never
 * NULL: a failed op leaves the value as it was). Each failed op appends
 * {op_index, code, message, doc_url} to *errors, which is created on the
 * first failure (caller owns it; stays NULL when every op applied).
 * Returns NULL only when ops is not an array (the caller reports that).
 */
json_object *stream_ops_apply(json_object *cur, json_object *ops, json_object **errors);

#endif
