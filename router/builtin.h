/* builtin — functions the engine itself serves (engine::*). */
#ifndef TRINE_BUILTIN_H
#define TRINE_BUILTIN_H

#include "router.h"

/*
 * If function_id is a built-in, run it and return 1 with *result or *error
 * set (new references, exactly one non-NULL). Returns 0 otherwise.
 */
int builtin_call(struct router *r, struct worker *caller, const char *function_id,
		 json_object *data, json_object **result, json_object **error);

/* Built-in ids, for engine::functions::list with include_internal. */
extern const char *const builtin_ids[];

#endif
