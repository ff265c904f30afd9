#include "builtin.h"
#include "log.h"
#include "reg.h"

#include <stdlib.h>
#include <string.h>

#define BUILTIN_MAX 256

static struct {
	const char *id;
	builtin_fn fn;
} builtins[BUILTIN_MAX];
static size_t nbuiltins;

static json_object *jget(json_object *o, const char *k)
{
	json_object *v;
	return o && json_object_object_get_ex(o, k, &v) ? v : NULL;
}

static const char *jstr(json_object *o, const char *k)
{
	json_object *v = jget(o, k);
	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

json_object *builtin_error(const char *code, const char *message)
{
	json_object *e = json_object_new_object();
	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(message));
	return e;
}

static void add_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static void copy_meta(json_object *dst, json_object *meta, const char *k)
{
	json_object *v = jget(meta, k);
	json_object_object_add(dst, k, v ? json_object_get(v) : NULL);
}

/* The SDK announces itself with this on every (re)connect (sdk-wire.md §4). */
static void bi_workers_register(struct router *r, struct worker *caller, json_object *data,
			       json_object **result, json_object **error)
{
	(void)r;
	if (!caller) {
		*error = builtin_error("invalid_request", "engine::workers::register is for worker connections");
		return;
	}
	if (!data || !json_object_is_type(data, json_type_object)) {
		*error = builtin_error("invalid_request", "engine::workers::register takes an object");
		return;
	}
	json_object_put(caller->meta);
	caller->meta = json_object_new_object();
	json_object_object_foreach(data, k, v) {
		if (strcmp(k, "_caller_worker_id") != 0)
			json_object_object_add(caller->meta, k, json_object_get(v));
	}
	*result = json_object_new_object();
	json_object_object_add(*result, "success", json_object_new_boolean(1));
}

static json_object *trigtype_obj(struct trigtype *tt);

static json_object *worker_obj(struct worker *w)
{
	json_object *o = json_object_new_object();
	add_str(o, "id", w->id);
	add_str(o, "name", reg_worker_name(w));
	copy_meta(o, w->meta, "description");
	copy_meta(o, w->meta, "version");
	add_str(o, "namespace", "default");
	copy_meta(o, w->meta, "runtime");
	copy_meta(o, w->meta, "os");
	copy_meta(o, w->meta, "pid");
	add_str(o, "status", "connected");
	json_object_object_add(o, "function_count",
			       json_object_new_int(lh_table_length(w->fns)));
	json_object_object_add(o, "connected_at_ms", json_object_new_int64(w->connected_at_ms));
	json_object_object_add(o, "active_invocations", json_object_new_int(w->inflight));
	copy_meta(o, w->meta, "isolation");
	add_str(o, "ip_address", w->ip);
	return o;
}

static void bi_workers_list(struct router *r, struct worker *caller, json_object *data,
			   json_object **result, json_object **error)
{
	json_object *arr = json_object_new_array();
	struct lh_entry *e;

	(void)caller; (void)data; (void)error;
	lh_foreach(r->workers, e)
		json_object_array_add(arr, worker_obj((struct worker *)lh_entry_v(e)));
	*result = json_object_new_object();
	json_object_object_add(*result, "workers", arr);
}

static json_object *binding_obj(const struct trigger *t)
{
	json_object *o = json_object_new_object();
	add_str(o, "id", t->id);
	add_str(o, "trigger_type", t->type);
	add_str(o, "function_id", t->function_id);
	add_str(o, "worker_name", t->owner ? reg_worker_name(t->owner) : "engine");
	json_object_object_add(o, "config", json_object_get(t->config));
	if (t->metadata)
		json_object_object_add(o, "metadata", json_object_get(t->metadata));
	add_str(o, "status", t->active_on ? "active" : "pending");
	return o;
}

/* {name} (or {id}): one worker with the functions and bindings it holds. */
static void bi_workers_info(struct router *r, struct worker *caller, json_object *data,
			    json_object **result, json_object **error)
{
	const char *name = jstr(data, "name"), *id = jstr(data, "id");
	struct worker *w = NULL;
	struct lh_entry *e;

	(void)caller;
	lh_foreach(r->workers, e) {
		struct worker *x = (struct worker *)lh_entry_v(e);
		if ((id && strcmp(x->id, id) == 0) || (name && strcmp(reg_worker_name(x), name) == 0)) {
			w = x;
			break;
		}
	}
	if (!w) {
		*error = builtin_error("NOT_FOUND", "no connected worker with that name or id");
		return;
	}
	*result = worker_obj(w);
	json_object *fns = json_object_new_array(), *trigs = json_object_new_array();
	lh_foreach(w->fns, e)
		json_object_array_add(fns, json_object_new_string(((struct function *)lh_entry_v(e))->id));
	lh_foreach(w->trigs, e)
		json_object_array_add(trigs, binding_obj((struct trigger *)lh_entry_v(e)));
	json_object_object_add(*result, "functions", fns);
	json_object_object_add(*result, "triggers", trigs);
}

static json_object *function_obj(struct router *r, struct function *fn)
{
	json_object *o = json_object_new_object(), *v;
	json_object *workers = json_object_new_array(), *trigs = json_object_new_array();
	struct lh_entry *e;

	add_str(o, "function_id", fn->id);
	add_str(o, "namespace", "default");
	add_str(o, "worker_name", fn->nprov ? reg_worker_name(fn->prov[0]) : "");
	static const char *const keys[] = { "description", "request_format", "response_format",
					    "metadata" };
	for (size_t i = 0; i < 4; i++)
		if ((v = jget(fn->def, keys[i])))
			json_object_object_add(o, keys[i], json_object_get(v));
	for (size_t i = 0; i < fn->nprov; i++)
		json_object_array_add(workers, json_object_new_string(fn->prov[i]->id));
	json_object_object_add(o, "workers", workers);
	lh_foreach(r->triggers, e) {
		struct trigger *t = (struct trigger *)lh_entry_v(e);
		if (strcmp(t->function_id, fn->id) == 0)
			json_object_array_add(trigs, binding_obj(t));
	}
	json_object_object_add(o, "triggers", trigs);
	return o;
}

/* {function_id} → that function; {function_ids:[...]} (at most 32) → {functions:[...]}. */
static void bi_functions_info(struct router *r, struct worker *caller, json_object *data,
			      json_object **result, json_object **error)
{
	const char *id = jstr(data, "function_id");
	json_object *ids = jget(data, "function_ids");
	struct function *fn;

	(void)caller;
	if (id) {
		if (!(fn = reg_function_find(r, id))) {
			*error = builtin_error("NOT_FOUND", "no function with that id");
			return;
		}
		*result = function_obj(r, fn);
		return;
	}
	if (!ids || !json_object_is_type(ids, json_type_array) || json_object_array_length(ids) > 32) {
		*error = builtin_error("invalid_request",
				       "give function_id, or function_ids with at most 32 ids");
		return;
	}
	json_object *arr = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(ids); i++) {
		const char *x = json_object_get_string(json_object_array_get_idx(ids, i));
		if (x && (fn = reg_function_find(r, x)))
			json_object_array_add(arr, function_obj(r, fn));
	}
	*result = json_object_new_object();
	json_object_object_add(*result, "functions", arr);
}

static void bi_functions_list(struct router *r, struct worker *caller, json_object *data,
			     json_object **result, json_object **error)
{
	json_object *arr = json_object_new_array();
	json_object *inc = jget(data, "include_internal");
	const char *prefix = jstr(data, "prefix");
	const char *search = jstr(data, "search");
	struct lh_entry *e;

	(void)caller; (void)error;
	lh_foreach(r->functions, e) {
		struct function *fn = (struct function *)lh_entry_v(e);
		if (prefix && strncmp(fn->id, prefix, strlen(prefix)) != 0)
			continue;
		if (search && !strstr(fn->id, search))
			continue;
		json_object *o = json_object_new_object();
		add_str(o, "function_id", fn->id);
		add_str(o, "namespace", "default");
		add_str(o, "worker_name", fn->nprov ? reg_worker_name(fn->prov[0]) : "");
		json_object *v;
		if ((v = jget(fn->def, "description")))
			json_object_object_add(o, "description", json_object_get(v));
		if ((v = jget(fn->def, "metadata")))
			json_object_object_add(o, "metadata", json_object_get(v));
		if ((v = jget(fn->def, "request_format")))
			json_object_object_add(o, "request_format", json_object_get(v));
		if ((v = jget(fn->def, "response_format")))
			json_object_object_add(o, "response_format", json_object_get(v));
		json_object_object_add(o, "replicas", json_object_new_int((int)fn->nprov));
		json_object_array_add(arr, o);
	}
	if (inc && json_object_get_boolean(inc)) {
		for (size_t i = 0; i < nbuiltins; i++) {
			const char *id = builtins[i].id;
			if (prefix && strncmp(id, prefix, strlen(prefix)) != 0)
				continue;
			if (search && !strstr(id, search))
				continue;
			json_object *o = json_object_new_object();
			add_str(o, "function_id", id);
			add_str(o, "namespace", "default");
			add_str(o, "worker_name", "engine");
			json_object_array_add(arr, o);
		}
	}
	*result = json_object_new_object();
	json_object_object_add(*result, "functions", arr);
}

static void bi_triggers_list(struct router *r, struct worker *caller, json_object *data,
			    json_object **result, json_object **error)
{
	json_object *arr = json_object_new_array();
	struct lh_entry *e;

	(void)caller; (void)data; (void)error;
	lh_foreach(r->trigtypes, e)
		json_object_array_add(arr, trigtype_obj((struct trigtype *)lh_entry_v(e)));
	*result = json_object_new_object();
	json_object_object_add(*result, "triggers", arr);
}

static json_object *trigtype_obj(struct trigtype *tt)
{
	json_object *o = json_object_new_object();
	add_str(o, "id", tt->id);
	add_str(o, "namespace", "default");
	add_str(o, "worker_name", tt->provider ? reg_worker_name(tt->provider) : "engine");
	add_str(o, "description", tt->description);
	return o;
}

static void bi_triggers_info(struct router *r, struct worker *caller, json_object *data,
			     json_object **result, json_object **error)
{
	const char *id = jstr(data, "id");
	void *v;

	(void)caller;
	if (!id || !lh_table_lookup_ex(r->trigtypes, id, &v)) {
		*error = builtin_error("NOT_FOUND", "no trigger type with that id");
		return;
	}
	*result = trigtype_obj(v);
}

static void bi_registered_triggers_info(struct router *r, struct worker *caller, json_object *data,
					json_object **result, json_object **error)
{
	const char *id = jstr(data, "id");
	void *v;

	(void)caller;
	if (!id || !lh_table_lookup_ex(r->triggers, id, &v)) {
		*error = builtin_error("NOT_FOUND", "no registered trigger with that id");
		return;
	}
	*result = binding_obj(v);
}

static void bi_registered_triggers_list(struct router *r, struct worker *caller, json_object *data,
				       json_object **result, json_object **error)
{
	json_object *arr = json_object_new_array();
	const char *type = jstr(data, "trigger_type");
	struct lh_entry *e;

	(void)caller; (void)error;
	lh_foreach(r->triggers, e) {
		struct trigger *t = (struct trigger *)lh_entry_v(e);
		if (type && strcmp(type, t->type) != 0)
			continue;
		json_object_array_add(arr, binding_obj(t));
	}
	*result = json_object_new_object();
	json_object_object_add(*result, "registered_triggers", arr);
}

/* engine::log::<level>: written to the engine's own log (the log trigger builds on this). */
static void bi_log(struct worker *caller, json_object *data, int level)
{
	const char *msg = jstr(data, "message");
	log_msg(level, "worker %s log: %s", caller ? caller->id : "engine", msg ? msg : "");
}

#define LOGFN(name, lvl) \
	static void bi_log_##name(struct router *r, struct worker *c, json_object *d, \
				  json_object **res, json_object **err) \
	{ (void)r; (void)res; (void)err; bi_log(c, d, lvl); }
LOGFN(trace, LL_TRACE)
LOGFN(debug, LL_DEBUG)
LOGFN(info, LL_INFO)
LOGFN(warn, LL_WARN)
LOGFN(error, LL_ERROR)

void builtin_add(const char *id, builtin_fn fn)
{
	for (size_t i = 0; i < nbuiltins; i++) {
		if (strcmp(builtins[i].id, id) == 0) {
			builtins[i].fn = fn;
			return;
		}
	}
	if (nbuiltins == BUILTIN_MAX)
		abort();	/* a compile-time list in practice; raise BUILTIN_MAX */
	builtins[nbuiltins].id = id;
	builtins[nbuiltins].fn = fn;
	nbuiltins++;
}

void builtin_init(void)
{
	builtin_add("engine::workers::register", bi_workers_register);
	builtin_add("engine::workers::list", bi_workers_list);
	builtin_add("engine::functions::list", bi_functions_list);
	builtin_add("engine::triggers::list", bi_triggers_list);
	builtin_add("engine::registered-triggers::list", bi_registered_triggers_list);
	builtin_add("engine::workers::info", bi_workers_info);
	builtin_add("engine::functions::info", bi_functions_info);
	builtin_add("engine::triggers::info", bi_triggers_info);
	builtin_add("engine::registered-triggers::info", bi_registered_triggers_info);
	builtin_add("engine::log::trace", bi_log_trace);
	builtin_add("engine::log::debug", bi_log_debug);
	builtin_add("engine::log::info", bi_log_info);
	builtin_add("engine::log::warn", bi_log_warn);
	builtin_add("engine::log::error", bi_log_error);
}

const char *builtin_id(size_t i)
{
	return i < nbuiltins ? builtins[i].id : NULL;
}

int builtin_call(struct router *r, struct worker *caller, const char *function_id,
		 json_object *data, json_object **result, json_object **error)
{
	for (size_t i = 0; i < nbuiltins; i++) {
		if (strcmp(builtins[i].id, function_id) != 0)
			continue;
		if (result) {
			*result = NULL;
			*error = NULL;
			builtins[i].fn(r, caller, data, result, error);
		}
		return 1;
	}
	return 0;
}
