/* builtin — functions the engine itself serves (engine::*). */
#ifndef TRINE_BUILTIN_H
#define TRINE_BUILTIN_H

#include "router.h"

/*
 * A built-in sets *result (may stay NULL for a null result) or *error, new
 * references. caller is NULL for engine-originated calls.
 */
typedef void (*builtin_fn)(struct router *r, struct worker *caller, json_object *data,
			   json_object **result, json_object **error);

/*
 * Modules (triggers, storage) add their functions at router start-up. ids
 * are static strings. Adding an id twice replaces the function.
 */
void builtin_add(const char *id, builtin_fn fn);
void builtin_init(void);	/* the engine::* functions of this file */

/*
 * If function_id is a built-in, run it (when result is non-NULL) and return
 * 1; *result / *error as for builtin_fn. Returns 0 otherwise.
 */
int builtin_call(struct router *r, struct worker *caller, const char *function_id,
		 json_object *data, json_object **result, json_object **error);

/* The i-th built-in id, NULL past the end (engine::functions::list). */
const char *builtin_id(size_t i);

/* Helpers for built-ins. */
json_object *builtin_error(const char *code, const char *message);

#endif
