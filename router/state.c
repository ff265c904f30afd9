/*
 * state — scoped key/value state (reference §9): state::set/get/delete/
 * update/list/list_groups over the LMDB store (database "state", keys
 * "<scope>\0<key>") and the `state` trigger kind. Independent of streams;
 * shares the update ops (stream_ops.c) and the trigger runner.
 */
#include "streams.h"
#include "builtin.h"
#include "reg.h"
#include "store.h"
#include "stream_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DB "state"

static struct {
	struct trigger **v;
	size_t n, cap;
} T;

static json_object *jget(json_object *o, const char *k)
{
	json_object *v;
	return o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, k, &v) ? v : NULL;
}

static const char *jstr(json_object *o, const char *k)
{
	json_object *v = jget(o, k);
	if (!v || !json_object_is_type(v, json_type_string))
		return NULL;
	const char *s = json_object_get_string(v);
	return strlen(s) == (size_t)json_object_get_string_len(v) ? s : NULL;
}

static char *mkkey(const char *scope, const char *key, size_t *len)
{
	size_t a = strlen(scope), b = key ? strlen(key) : 0;
	char *k = malloc(a + b + 2);
	if (!k)
		return NULL;
	memcpy(k, scope, a);
	k[a] = '\0';
	if (key)
		memcpy(k + a + 1, key, b);
	*len = a + 1 + b;
	return k;
}

static json_object *parse_len(const void *p, size_t len)
{
	json_tokener *tok = json_tokener_new();
	json_object *o = NULL;
	if (tok) {
		o = json_tokener_parse_ex(tok, p, (int)len);
		/* a bare number at the end of the input waits for more: end it */
		if (!o && json_tokener_get_error(tok) == json_tokener_continue)
			o = json_tokener_parse_ex(tok, "", 1);
		json_tokener_free(tok);
	}
	return o;
}

static json_object *val_read(struct router *r, const char *scope, const char *key)
{
	size_t kl, vl;
	void *v = NULL;
	char *k = mkkey(scope, key, &kl);
	json_object *o = NULL;
	if (k && store_get(r->store, DB, k, kl, &v, &vl) == 0)
		o = parse_len(v, vl);
	free(v);
	free(k);
	return o;
}

static int val_write(struct router *r, const char *scope, const char *key, json_object *v)
{
	size_t kl, vl;
	char *k = mkkey(scope, key, &kl);
	const char *s = json_object_to_json_string_length(v, JSON_FLAGS, &vl);
	int rc = k ? store_put(r->store, DB, k, kl, s, vl) : -1;
	free(k);
	return rc;
}

/* Run the matching `state` triggers with the reference's payload. */
static void state_event(struct router *r, const char *type, const char *scope, const char *key,
			json_object *old, json_object *nv)
{
	json_object *p = NULL;

	for (size_t i = 0; i < T.n; i++) {
		struct trigger *t = T.v[i];
		const char *ts = jstr(t->config, "scope"), *tk = jstr(t->config, "key");
		if ((ts && *ts && strcmp(ts, scope) != 0) || (tk && *tk && strcmp(tk, key) != 0))
			continue;
		if (!p) {
			p = json_object_new_object();
			json_object_object_add(p, "type", json_object_new_string("state"));
			json_object_object_add(p, "event_type", json_object_new_string(type));
			json_object_object_add(p, "scope", json_object_new_string(scope));
			json_object_object_add(p, "key", json_object_new_string(key));
			json_object_object_add(p, "old_value", json_object_get(old));
			json_object_object_add(p, "new_value", json_object_get(nv));
		}
		streams_fire(r, t->function_id, jstr(t->config, "condition_function_id"), p);
	}
	json_object_put(p);
}

static int need(json_object *data, const char *code, int with_key, json_object **error)
{
	if (!jstr(data, "scope")) {
		*error = builtin_error(code, "missing or invalid field 'scope' (a string)");
		return -1;
	}
	if (with_key && !jstr(data, "key")) {
		*error = builtin_error(code, "missing or invalid field 'key' (a string)");
		return -1;
	}
	return 0;
}

static json_object *old_new(json_object *old, json_object *nv)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "old_value", json_object_get(old));
	json_object_object_add(o, "new_value", json_object_get(nv));
	return o;
}

static void bi_set(struct router *r, struct worker *caller, json_object *data,
		   json_object **result, json_object **error)
{
	json_object *old, *nv;
	const char *s, *k;

	(void)caller;
	if (need(data, "SET_ERROR", 1, error) < 0)
		return;
	s = jstr(data, "scope");
	k = jstr(data, "key");
	nv = jget(data, "value");
	if (!nv && !json_object_object_get_ex(data, "value", NULL))
		nv = jget(data, "data");	/* the reference's alias */
	old = val_read(r, s, k);
	if (val_write(r, s, k, nv) < 0) {
		*error = builtin_error("SET_ERROR", "the value could not be stored");
		json_object_put(old);
		return;
	}
	state_event(r, old ? "state:updated" : "state:created", s, k, old, nv);
	*result = old_new(old, nv);
	json_object_put(old);
}

static void bi_get(struct router *r, struct worker *caller, json_object *data,
		   json_object **result, json_object **error)
{
	(void)caller;
	if (need(data, "GET_ERROR", 1, error) < 0)
		return;
	*result = val_read(r, jstr(data, "scope"), jstr(data, "key"));
}

static void bi_delete(struct router *r, struct worker *caller, json_object *data,
		      json_object **result, json_object **error)
{
	json_object *old;
	const char *s, *k;
	size_t kl;
	char *key;

	(void)caller;
	if (need(data, "DELETE_ERROR", 1, error) < 0)
		return;
	s = jstr(data, "scope");
	k = jstr(data, "key");
	old = val_read(r, s, k);
	key = mkkey(s, k, &kl);
	if (old && (!key || store_del(r->store, DB, key, kl) < 0)) {
		*error = builtin_error("DELETE_ERROR", "the value could not be deleted");
		free(key);
		json_object_put(old);
		return;
	}
	free(key);
	/* the reference fires state:deleted even when nothing was there */
	state_event(r, "state:deleted", s, k, old, NULL);
	*result = json_object_new_object();
	json_object_object_add(*result, "old_value", old);
}

static void bi_update(struct router *r, struct worker *caller, json_object *data,
		      json_object **result, json_object **error)
{
	json_object *old, *nv, *errors = NULL, *ops = jget(data, "ops");
	const char *s, *k;

	(void)caller;
	if (need(data, "UPDATE_ERROR", 1, error) < 0)
		return;
	if (!ops || !json_object_is_type(ops, json_type_array)) {
		*error = builtin_error("UPDATE_ERROR", "missing or invalid field 'ops' (an array)");
		return;
	}
	s = jstr(data, "scope");
	k = jstr(data, "key");
	old = val_read(r, s, k);
	nv = stream_ops_apply(old, ops, &errors);
	if (val_write(r, s, k, nv) < 0) {
		*error = builtin_error("UPDATE_ERROR", "the value could not be stored");
		json_object_put(old);
		json_object_put(nv);
		json_object_put(errors);
		return;
	}
	state_event(r, old ? "state:updated" : "state:created", s, k, old, nv);
	*result = old_new(old, nv);
	if (errors)
		json_object_object_add(*result, "errors", errors);
	json_object_put(old);
	json_object_put(nv);
}

static int collect_values(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	(void)key;
	(void)klen;
	json_object_array_add(arg, parse_len(val, vlen));
	return 0;
}

static void bi_list(struct router *r, struct worker *caller, json_object *data,
		    json_object **result, json_object **error)
{
	size_t kl;
	char *k;

	(void)caller;
	if (need(data, "LIST_ERROR", 0, error) < 0)
		return;
	k = mkkey(jstr(data, "scope"), NULL, &kl);
	*result = json_object_new_array();
	if (k)
		store_foreach(r->store, DB, k, kl, collect_values, *result);
	free(k);
}

static int collect_scopes(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	json_object *arr = arg;
	size_t n = json_object_array_length(arr), sl = strnlen(key, klen);

	(void)val;
	(void)vlen;
	/* keys come in order, so equal scopes are next to each other: sorted and unique */
	if (n) {
		json_object *last = json_object_array_get_idx(arr, n - 1);
		if ((size_t)json_object_get_string_len(last) == sl &&
		    memcmp(json_object_get_string(last), key, sl) == 0)
			return 0;
	}
	json_object_array_add(arr, json_object_new_string_len(key, (int)sl));
	return 0;
}

static void bi_list_groups(struct router *r, struct worker *caller, json_object *data,
			   json_object **result, json_object **error)
{
	json_object *arr = json_object_new_array();

	(void)caller;
	(void)data;
	(void)error;
	store_foreach(r->store, DB, NULL, 0, collect_scopes, arr);
	*result = json_object_new_object();
	json_object_object_add(*result, "groups", arr);
}

static int state_add(struct router *r, struct trigger *t, char *err, size_t errlen)
{
	(void)r;
	if (T.n == T.cap) {
		size_t cap = T.cap ? T.cap * 2 : 8;
		struct trigger **v = realloc(T.v, cap * sizeof *v);
		if (!v) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		T.v = v;
		T.cap = cap;
	}
	T.v[T.n++] = t;
	return 0;
}

static void state_remove(struct router *r, struct trigger *t)
{
	(void)r;
	for (size_t i = 0; i < T.n; i++) {
		if (T.v[i] != t)
			continue;
		memmove(&T.v[i], &T.v[i + 1], (T.n - i - 1) * sizeof *T.v);
		T.n--;
		return;
	}
}

static const struct trigkind state_kind = {
	"state", "Fires on state changes (state:created, state:updated, state:deleted)",
	state_add, state_remove,
};

void state_init(struct router *r)
{
	reg_trigkind_add(r, &state_kind);
	builtin_add("state::set", bi_set);
	builtin_add("state::get", bi_get);
	builtin_add("state::delete", bi_delete);
	builtin_add("state::update", bi_update);
	builtin_add("state::list", bi_list);
	builtin_add("state::list_groups", bi_list_groups);
}

void state_free(struct router *r)
{
	(void)r;
	free(T.v);
	memset(&T, 0, sizeof T);
}
