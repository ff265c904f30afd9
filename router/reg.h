/*
 * reg — the registry: workers, functions (with replicas), trigger types and
 * trigger bindings. Each entry is created and destroyed only here.
 */
#ifndef TRINE_REG_H
#define TRINE_REG_H

#include "router.h"

void reg_init(struct router *r);
void reg_free(struct router *r);

struct worker *reg_worker_open(struct router *r, struct front *f, uint64_t conn_id,
			       json_object *body);
/* Everything a disconnect implies (§2.5); frees w. */
void reg_worker_close(struct router *r, struct worker *w);
struct worker *reg_worker_find(struct router *r, const char *id);
const char *reg_worker_name(const struct worker *w);

/* One worker-protocol message from w (already normalized by the broker). */
void reg_on_message(struct router *r, struct worker *w, json_object *msg,
		    const char *raw, size_t raw_len);

struct function *reg_function_find(struct router *r, const char *id);
/* The replica to call: fewest calls in flight, round robin among equals. */
struct worker *reg_function_pick(struct function *fn);

/* Bindings made by the engine itself (owner NULL); 0 or -1 with err. */
int reg_trigger_add(struct router *r, struct worker *owner, const char *id, const char *type,
		    const char *function_id, json_object *config, json_object *metadata,
		    char *err, size_t errlen);
int reg_trigger_remove(struct router *r, const char *id);

/* Register an engine-provided trigger type. */
void reg_trigkind_add(struct router *r, const struct trigkind *k);

/* Fire engine::workers-available bindings. */
void reg_fire_workers_available(struct router *r, const char *event, const struct worker *w);

#endif
