#include "zcurve.h"
#include "streams.h"
#include "builtin.h"
#include "inv.h"
#include "log.h"
#include "reg.h"
#include "store.h"
#include "stream_ops.h"
#include "wire.h"
#include "zsock.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define DB "streams"

/* Clock and sequence of one group: timestamps strictly increase per group. */
struct sgroup {
	uint64_t seq;
	int64_t last_ts;
};

struct tlist {
	struct trigger **v;
	size_t n, cap;
};

static struct {
	struct router *r;
	void *ctx, *pub;
	struct zap *zap;		/* CURVE allow-list for router_pub_listen */
	struct lh_table *groups;	/* "stream\x01group" -> struct sgroup * */
	struct tlist on_change, on_join, on_leave;
	struct lh_table *subs;		/* "ident conn sub" -> leave payload (json_object *) */
} S;

/* ---- small helpers --------------------------------------------------------- */

static json_object *jget(json_object *o, const char *k)
{
	json_object *v;
	return o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, k, &v) ? v : NULL;
}

/* A string field without embedded NULs (they would break the storage keys). */
static const char *jstr(json_object *o, const char *k)
{
	json_object *v = jget(o, k);
	if (!v || !json_object_is_type(v, json_type_string))
		return NULL;
	const char *s = json_object_get_string(v);
	return strlen(s) == (size_t)json_object_get_string_len(v) ? s : NULL;
}

static void group_free(struct lh_entry *e)
{
	free(lh_entry_k(e));
	free(lh_entry_v(e));
}

static void sub_entry_free(struct lh_entry *e)
{
	free(lh_entry_k(e));
	json_object_put((json_object *)lh_entry_v(e));
}

static struct sgroup *group_of(const char *stream, const char *group)
{
	char *k;
	void *v;
	size_t a = strlen(stream), b = strlen(group);

	if (!(k = malloc(a + b + 2)))
		return NULL;
	memcpy(k, stream, a);
	k[a] = '\x01';
	memcpy(k + a + 1, group, b + 1);
	if (lh_table_lookup_ex(S.groups, k, &v)) {
		free(k);
		return v;
	}
	struct sgroup *g = calloc(1, sizeof *g);
	if (!g || lh_table_insert(S.groups, k, g) < 0) {
		free(g);
		free(k);
		return NULL;
	}
	return g;
}

/* The next timestamp of a group: wall clock, but always past the previous one. */
static int64_t group_tick(struct sgroup *g)
{
	int64_t now = router_now_ms();
	if (!g)
		return now;
	if (now <= g->last_ts)
		now = g->last_ts + 1;
	g->last_ts = now;
	return now;
}

/* "<a>\0<b>\0<c>" (c may be NULL: "<a>\0<b>\0"); caller frees. */
static char *mkkey(const char *a, const char *b, const char *c, size_t *len)
{
	size_t la = strlen(a), lb = b ? strlen(b) : 0, lc = c ? strlen(c) : 0;
	char *k = malloc(la + lb + lc + 3);

	if (!k)
		return NULL;
	memcpy(k, a, la);
	k[la] = '\0';
	*len = la + 1;
	if (b) {
		memcpy(k + *len, b, lb);
		k[*len + lb] = '\0';
		*len += lb + 1;
	}
	if (c) {
		memcpy(k + *len, c, lc);
		*len += lc;
	}
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

/* The stored item, a new reference (NULL when absent). */
static json_object *item_read(struct router *r, const char *stream, const char *group, const char *item)
{
	size_t kl;
	char *k = mkkey(stream, group, item, &kl);
	void *val = NULL;
	size_t vl = 0;
	json_object *o = NULL;

	if (k && store_get(r->store, DB, k, kl, &val, &vl) == 0)
		o = parse_len(val, vl);
	free(val);
	free(k);
	return o;
}

static int item_write(struct router *r, const char *stream, const char *group, const char *item,
		      json_object *v)
{
	size_t kl, vl;
	char *k = mkkey(stream, group, item, &kl);
	const char *s = json_object_to_json_string_length(v, JSON_FLAGS, &vl);
	int rc = k ? store_put(r->store, DB, k, kl, s, vl) : -1;
	free(k);
	return rc;
}

static int item_delete(struct router *r, const char *stream, const char *group, const char *item)
{
	size_t kl;
	char *k = mkkey(stream, group, item, &kl);
	int rc = k ? store_del(r->store, DB, k, kl) : -1;
	free(k);
	return rc;
}

static int collect_values(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	json_object *o = parse_len(val, vlen);
	(void)key;
	(void)klen;
	json_object_array_add(arg, o);
	return 0;
}

static json_object *group_list(struct router *r, const char *stream, const char *group)
{
	size_t kl;
	char *k = mkkey(stream, group, NULL, &kl);
	json_object *arr = json_object_new_array();
	if (k)
		store_foreach(r->store, DB, k, kl, collect_values, arr);
	free(k);
	return arr;
}

struct groups_walk {
	size_t skip;		/* bytes of "<stream>\0" */
	json_object *arr;
	char last[1024];
};

static int collect_groups(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct groups_walk *w = arg;
	const char *g = (const char *)key + w->skip;
	size_t gl = strnlen(g, klen - w->skip);

	(void)val;
	(void)vlen;
	if (gl < sizeof w->last && strcmp(g, w->last) != 0) {
		memcpy(w->last, g, gl);
		w->last[gl] = '\0';
		json_object_array_add(w->arr, json_object_new_string_len(g, (int)gl));
	}
	return 0;
}

struct all_walk {
	json_object *streams;
	json_object *cur;	/* groups of the current stream */
	char stream[1024], group[1024];
};

static int collect_all(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct all_walk *w = arg;
	const char *s = key;
	size_t sl = strnlen(s, klen);

	(void)val;
	(void)vlen;
	if (sl + 1 >= klen || sl >= sizeof w->stream)
		return 0;
	const char *g = s + sl + 1;
	size_t gl = strnlen(g, klen - sl - 1);
	if (gl >= sizeof w->group)
		return 0;
	if (!w->cur || strcmp(w->stream, s) != 0) {
		json_object *o = json_object_new_object();
		memcpy(w->stream, s, sl + 1);
		w->group[0] = '\0';
		w->cur = json_object_new_array();
		json_object_object_add(o, "id", json_object_new_string(s));
		json_object_object_add(o, "groups", w->cur);
		json_object_array_add(w->streams, o);
	} else if (strncmp(w->group, g, gl) == 0 && w->group[gl] == '\0') {
		return 0;
	}
	memcpy(w->group, g, gl);
	w->group[gl] = '\0';
	json_object_array_add(w->cur, json_object_new_string(w->group));
	return 0;
}

/* ---- trigger lists ----------------------------------------------------------- */

static int tlist_add(struct tlist *l, struct trigger *t)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct trigger **v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = t;
	return 0;
}

static void tlist_remove(struct tlist *l, struct trigger *t)
{
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i] != t)
			continue;
		memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof *l->v);
		l->n--;
		return;
	}
}

/* Function ids of a list, copied: a trigger may go away while we call them. */
static char **tlist_fns(const struct tlist *l, size_t *n)
{
	char **v = calloc(l->n + 1, sizeof *v);
	*n = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < l->n; i++)
		if ((v[*n] = strdup(l->v[i]->function_id)))
			(*n)++;
	return v;
}

static void fns_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

struct cond_call {
	char *fn;
	json_object *payload;
};

static void cond_done(struct router *r, void *arg, json_object *result, json_object *error)
{
	struct cond_call *c = arg;

	if (!error && result && !(json_object_is_type(result, json_type_boolean) &&
				  !json_object_get_boolean(result)))
		inv_start(r, NULL, NULL, 0, c->fn, c->payload, NULL, NULL, NULL);
	json_object_put(c->payload);
	free(c->fn);
	free(c);
}

void streams_fire(struct router *r, const char *function_id, const char *condition_id,
		  json_object *payload)
{
	struct cond_call *c;

	if (!condition_id || !*condition_id) {
		inv_start(r, NULL, NULL, 0, function_id, payload, NULL, NULL, NULL);
		return;
	}
	if (!(c = calloc(1, sizeof *c)) || !(c->fn = strdup(function_id))) {
		free(c);
		return;
	}
	c->payload = json_object_get(payload);
	inv_start(r, NULL, NULL, 0, condition_id, payload, NULL, cond_done, c);
}

/* ---- events -------------------------------------------------------------------- */

static const char *old_name(const char *type)
{
	if (strcmp(type, "sync") == 0)
		return "Sync";
	if (strcmp(type, "create") == 0)
		return "Create";
	if (strcmp(type, "update") == 0)
		return "Update";
	if (strcmp(type, "delete") == 0)
		return "Delete";
	if (strcmp(type, "unauthorized") == 0)
		return "Unauthorized";
	return "Event";
}

/*
 * The client frame of an event in either dialect (new reference). type is
 * sync/create/update/delete/unauthorized, or "event" with custom naming the
 * custom event type. data is borrowed (NULL = JSON null).
 */
static json_object *frame_obj(int old, int64_t ts, const char *stream, const char *group,
			      const char *item, const char *type, const char *custom, json_object *data)
{
	json_object *f = json_object_new_object(), *ev = json_object_new_object();

	if (!old)
		json_object_object_add(f, "type", json_object_new_string("stream"));
	json_object_object_add(f, "timestamp", json_object_new_int64(ts));
	json_object_object_add(f, old ? "stream_name" : "streamName", json_object_new_string(stream));
	json_object_object_add(f, old ? "group_id" : "groupId", json_object_new_string(group));
	json_object_object_add(f, "id", item ? json_object_new_string(item) : NULL);
	json_object_object_add(ev, "type", json_object_new_string(old ? old_name(type) : type));
	if (strcmp(type, "event") == 0) {
		json_object *c = json_object_new_object();
		json_object_object_add(c, "type", json_object_new_string(custom ? custom : ""));
		json_object_object_add(c, "data", json_object_get(data));
		json_object_object_add(ev, old ? "data" : "event", c);
	} else if (strcmp(type, "unauthorized") != 0) {
		json_object_object_add(ev, "data", json_object_get(data));
	}
	json_object_object_add(f, "event", ev);
	return f;
}

static int trig_matches(struct trigger *t, const char *stream, const char *group, const char *item)
{
	const char *ts = jstr(t->config, "stream_name"), *tg = jstr(t->config, "group_id"),
		   *ti = jstr(t->config, "item_id");
	if (!ts || strcmp(ts, stream) != 0)
		return 0;
	if (tg && *tg && strcmp(tg, group) != 0)
		return 0;
	if (ti && *ti && (!item || strcmp(ti, item) != 0))
		return 0;
	return 1;
}

/*
 * A change: publish it to the fanouts (serialized once per dialect) and run
 * the matching `stream` triggers with the current-dialect frame as payload.
 */
static void emit(struct router *r, const char *stream, const char *group, const char *item,
		 const char *type, const char *custom, json_object *data)
{
	struct sgroup *g = group_of(stream, group);
	int64_t ts = group_tick(g);
	uint64_t seq = g ? ++g->seq : 0;
	json_object *fn = frame_obj(0, ts, stream, group, item, type, custom, data);
	json_object *fo = frame_obj(1, ts, stream, group, item, type, custom, data);
	size_t ln, lo, kl;
	const char *sn = json_object_to_json_string_length(fn, JSON_FLAGS, &ln);
	const char *so = json_object_to_json_string_length(fo, JSON_FLAGS, &lo);
	char *topic = mkkey(stream, group, NULL, &kl);
	uint8_t head[16];

	wire_put_id(head, seq);
	wire_put_id(head + 8, r->epoch);
	if (topic && S.pub &&
	    (zmq_send(S.pub, topic, kl, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	     zmq_send(S.pub, head, sizeof head, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	     zmq_send(S.pub, item ? item : "", item ? strlen(item) : 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	     zmq_send(S.pub, sn, ln, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	     zmq_send(S.pub, so, lo, ZMQ_DONTWAIT) < 0))
		log_warn("stream %s/%s: event %llu not published (%s); fanouts will resync",
			 stream, group, (unsigned long long)seq, zmq_strerror(errno));
	free(topic);
	for (size_t i = 0; i < S.on_change.n; i++) {
		struct trigger *t = S.on_change.v[i];
		if (trig_matches(t, stream, group, item))
			streams_fire(r, t->function_id, jstr(t->config, "condition_function_id"), fn);
	}
	json_object_put(fn);
	json_object_put(fo);
}

/* ---- storage, possibly owned by a worker ----------------------------------- */

typedef void (*val_cb)(struct router *r, void *arg, json_object *val, json_object *err);

/* "stream::get(<name>)" if a worker registered it, else NULL. */
static const char *custom_fn(struct router *r, const char *op, const char *stream, char *buf, size_t len)
{
	snprintf(buf, len, "stream::%s(%s)", op, stream);
	return reg_function_find(r, buf) ? buf : NULL;
}

struct relay {
	val_cb cb;
	void *arg;
};

static void relay_done(struct router *r, void *arg, json_object *result, json_object *error)
{
	struct relay *x = arg;
	x->cb(r, x->arg, result, error);
	free(x);
}

static void call_fn(struct router *r, const char *fn, json_object *data, val_cb cb, void *arg)
{
	struct relay *x = malloc(sizeof *x);
	if (!x) {
		json_object *e = builtin_error("STREAM_GET_ERROR", "out of memory");
		cb(r, arg, NULL, e);
		json_object_put(e);
		return;
	}
	x->cb = cb;
	x->arg = arg;
	inv_start(r, NULL, NULL, 0, fn, data, NULL, relay_done, x);
}

/* The item (or the group's items when item is NULL), from the owner of the stream. */
static void fetch(struct router *r, const char *stream, const char *group, const char *item,
		  val_cb cb, void *arg)
{
	char fnb[512];
	const char *fn = custom_fn(r, item ? "get" : "list", stream, fnb, sizeof fnb);

	if (fn) {
		json_object *d = json_object_new_object();
		json_object_object_add(d, "stream_name", json_object_new_string(stream));
		json_object_object_add(d, "group_id", json_object_new_string(group));
		if (item)
			json_object_object_add(d, "item_id", json_object_new_string(item));
		call_fn(r, fn, d, cb, arg);
		json_object_put(d);
		return;
	}
	json_object *v = item ? item_read(r, stream, group, item) : group_list(r, stream, group);
	cb(r, arg, v, NULL);
	json_object_put(v);
}

/* ---- the stream::* built-ins ------------------------------------------------- */

struct call {
	struct inv_deferred *d;
	json_object *in;		/* the caller's data */
	json_object *cur;		/* update: the value read */
	const char *code;		/* error code of this function */
};

static struct call *call_new(json_object *data, const char *code)
{
	struct call *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	if (!(c->d = inv_defer())) {
		free(c);
		return NULL;
	}
	c->in = json_object_get(data);
	c->code = code;
	return c;
}

static void call_end(struct router *r, struct call *c, json_object *result, json_object *error)
{
	inv_deferred_finish(r, c->d, result, error);
	json_object_put(c->in);
	json_object_put(c->cur);
	free(c);
}

/* Relay a worker's error under our code, keeping its message. */
static json_object *wrap_error(const char *code, json_object *err)
{
	const char *m = jstr(err, "message");
	return builtin_error(code, m ? m : "the stream's owner failed");
}

static int need(json_object *data, const char *code, json_object **error, int nkeys, ...)
{
	va_list ap;
	char m[160];

	if (!data || !json_object_is_type(data, json_type_object)) {
		*error = builtin_error(code, "the input must be an object");
		return -1;
	}
	va_start(ap, nkeys);
	for (int i = 0; i < nkeys; i++) {
		const char *k = va_arg(ap, const char *);
		if (!jstr(data, k)) {
			snprintf(m, sizeof m, "missing or invalid field '%s' (a string)", k);
			*error = builtin_error(code, m);
			va_end(ap);
			return -1;
		}
	}
	va_end(ap);
	return 0;
}

static void relay_result(struct router *r, void *arg, json_object *val, json_object *err)
{
	struct call *c = arg;
	if (err) {
		json_object *e = wrap_error(c->code, err);
		call_end(r, c, NULL, e);
		json_object_put(e);
		return;
	}
	call_end(r, c, val, NULL);
}

static void defer_to(struct router *r, const char *fn, json_object *data, const char *code,
		     val_cb cb, json_object **error)
{
	struct call *c = call_new(data, code);
	if (!c) {
		*error = builtin_error(code, "out of memory");
		return;
	}
	call_fn(r, fn, data, cb, c);
}

static void bi_get(struct router *r, struct worker *caller, json_object *data,
		   json_object **result, json_object **error)
{
	char fnb[512];
	const char *fn;

	(void)caller;
	if (need(data, "STREAM_GET_ERROR", error, 3, "stream_name", "group_id", "item_id") < 0)
		return;
	if ((fn = custom_fn(r, "get", jstr(data, "stream_name"), fnb, sizeof fnb))) {
		defer_to(r, fn, data, "STREAM_GET_ERROR", relay_result, error);
		return;
	}
	*result = item_read(r, jstr(data, "stream_name"), jstr(data, "group_id"), jstr(data, "item_id"));
}

static json_object *old_new(json_object *old, json_object *nv)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "old_value", json_object_get(old));
	json_object_object_add(o, "new_value", json_object_get(nv));
	return o;
}

/* After a worker-owned set: tell subscribers what the owner says changed. */
static void set_done(struct router *r, void *arg, json_object *val, json_object *err)
{
	struct call *c = arg;
	if (err) {
		json_object *e = wrap_error(c->code, err);
		call_end(r, c, NULL, e);
		json_object_put(e);
		return;
	}
	json_object *old = jget(val, "old_value"), *nv = jget(val, "new_value");
	if (!nv)
		nv = jget(c->in, "data");
	emit(r, jstr(c->in, "stream_name"), jstr(c->in, "group_id"), jstr(c->in, "item_id"),
	     old && !json_object_is_type(old, json_type_null) ? "update" : "create", NULL, nv);
	call_end(r, c, val, NULL);
}

static void bi_set(struct router *r, struct worker *caller, json_object *data,
		   json_object **result, json_object **error)
{
	char fnb[512];
	const char *fn, *s, *g, *i;
	json_object *old, *nv;

	(void)caller;
	if (need(data, "STREAM_SET_ERROR", error, 3, "stream_name", "group_id", "item_id") < 0)
		return;
	s = jstr(data, "stream_name");
	g = jstr(data, "group_id");
	i = jstr(data, "item_id");
	if ((fn = custom_fn(r, "set", s, fnb, sizeof fnb))) {
		defer_to(r, fn, data, "STREAM_SET_ERROR", set_done, error);
		return;
	}
	nv = jget(data, "data");
	old = item_read(r, s, g, i);
	if (item_write(r, s, g, i, nv) < 0) {
		*error = builtin_error("STREAM_SET_ERROR", "the item could not be stored");
		json_object_put(old);
		return;
	}
	emit(r, s, g, i, old ? "update" : "create", NULL, nv);
	*result = old_new(old, nv);
	json_object_put(old);
}

static void delete_done(struct router *r, void *arg, json_object *val, json_object *err)
{
	struct call *c = arg;
	if (err) {
		json_object *e = wrap_error(c->code, err);
		call_end(r, c, NULL, e);
		json_object_put(e);
		return;
	}
	json_object *old = jget(val, "old_value");
	if (old && !json_object_is_type(old, json_type_null))
		emit(r, jstr(c->in, "stream_name"), jstr(c->in, "group_id"), jstr(c->in, "item_id"),
		     "delete", NULL, old);
	call_end(r, c, val, NULL);
}

static void bi_delete(struct router *r, struct worker *caller, json_object *data,
		      json_object **result, json_object **error)
{
	char fnb[512];
	const char *fn, *s, *g, *i;
	json_object *old;

	(void)caller;
	if (need(data, "STREAM_DELETE_ERROR", error, 3, "stream_name", "group_id", "item_id") < 0)
		return;
	s = jstr(data, "stream_name");
	g = jstr(data, "group_id");
	i = jstr(data, "item_id");
	if ((fn = custom_fn(r, "delete", s, fnb, sizeof fnb))) {
		defer_to(r, fn, data, "STREAM_DELETE_ERROR", delete_done, error);
		return;
	}
	old = item_read(r, s, g, i);
	if (old && item_delete(r, s, g, i) < 0) {
		*error = builtin_error("STREAM_DELETE_ERROR", "the item could not be deleted");
		json_object_put(old);
		return;
	}
	if (old)
		emit(r, s, g, i, "delete", NULL, old);
	*result = json_object_new_object();
	json_object_object_add(*result, "old_value", old);
}

static void bi_list(struct router *r, struct worker *caller, json_object *data,
		    json_object **result, json_object **error)
{
	char fnb[512];
	const char *fn;

	(void)caller;
	if (need(data, "STREAM_GET_GROUP_ERROR", error, 2, "stream_name", "group_id") < 0)
		return;
	if ((fn = custom_fn(r, "list", jstr(data, "stream_name"), fnb, sizeof fnb))) {
		defer_to(r, fn, data, "STREAM_GET_GROUP_ERROR", relay_result, error);
		return;
	}
	*result = group_list(r, jstr(data, "stream_name"), jstr(data, "group_id"));
}

static void bi_list_groups(struct router *r, struct worker *caller, json_object *data,
			   json_object **result, json_object **error)
{
	char fnb[512];
	const char *fn;
	struct groups_walk w;
	size_t kl;
	char *k;

	(void)caller;
	if (need(data, "STREAM_LIST_GROUPS_ERROR", error, 1, "stream_name") < 0)
		return;
	if ((fn = custom_fn(r, "list_groups", jstr(data, "stream_name"), fnb, sizeof fnb))) {
		defer_to(r, fn, data, "STREAM_LIST_GROUPS_ERROR", relay_result, error);
		return;
	}
	memset(&w, 0, sizeof w);
	w.arr = json_object_new_array();
	k = mkkey(jstr(data, "stream_name"), NULL, NULL, &kl);
	w.skip = kl;
	if (k)
		store_foreach(r->store, DB, k, kl, collect_groups, &w);
	free(k);
	*result = w.arr;
}

static void bi_list_all(struct router *r, struct worker *caller, json_object *data,
			json_object **result, json_object **error)
{
	struct all_walk w;

	(void)caller;
	(void)data;
	(void)error;
	memset(&w, 0, sizeof w);
	w.streams = json_object_new_array();
	store_foreach(r->store, DB, NULL, 0, collect_all, &w);
	*result = json_object_new_object();
	json_object_object_add(*result, "count",
			       json_object_new_int64((int64_t)json_object_array_length(w.streams)));
	json_object_object_add(*result, "stream", w.streams);
}

static void bi_send(struct router *r, struct worker *caller, json_object *data,
		    json_object **result, json_object **error)
{
	(void)caller;
	(void)result;
	if (need(data, "STREAM_SEND_ERROR", error, 3, "stream_name", "group_id", "type") < 0)
		return;
	emit(r, jstr(data, "stream_name"), jstr(data, "group_id"), jstr(data, "id"), "event",
	     jstr(data, "type"), jget(data, "data"));
}

static void set_after_update(struct router *r, void *arg, json_object *val, json_object *err);

/* update on a worker-owned stream: get from the owner, apply, set through the owner. */
static void update_got(struct router *r, void *arg, json_object *val, json_object *err)
{
	struct call *c = arg;
	json_object *errors = NULL, *nv, *d;
	char fnb[512];

	if (err) {
		json_object *e = wrap_error(c->code, err);
		call_end(r, c, NULL, e);
		json_object_put(e);
		return;
	}
	nv = stream_ops_apply(val, jget(c->in, "ops"), &errors);
	c->cur = json_object_new_object();
	json_object_object_add(c->cur, "old_value", json_object_get(val));
	json_object_object_add(c->cur, "new_value", nv);
	if (errors)
		json_object_object_add(c->cur, "errors", errors);
	d = json_object_new_object();
	json_object_object_add(d, "stream_name", json_object_new_string(jstr(c->in, "stream_name")));
	json_object_object_add(d, "group_id", json_object_new_string(jstr(c->in, "group_id")));
	json_object_object_add(d, "item_id", json_object_new_string(jstr(c->in, "item_id")));
	json_object_object_add(d, "data", json_object_get(nv));
	call_fn(r, custom_fn(r, "set", jstr(c->in, "stream_name"), fnb, sizeof fnb) ?
		fnb : "stream::set", d, set_after_update, c);
	json_object_put(d);
}

static void set_after_update(struct router *r, void *arg, json_object *val, json_object *err)
{
	struct call *c = arg;
	json_object *old = jget(c->cur, "old_value"), *nv = jget(c->cur, "new_value");

	(void)val;
	if (err) {
		json_object *e = wrap_error(c->code, err);
		call_end(r, c, NULL, e);
		json_object_put(e);
		return;
	}
	emit(r, jstr(c->in, "stream_name"), jstr(c->in, "group_id"), jstr(c->in, "item_id"),
	     old && !json_object_is_type(old, json_type_null) ? "update" : "create", NULL, nv);
	call_end(r, c, c->cur, NULL);
}

static void bi_update(struct router *r, struct worker *caller, json_object *data,
		      json_object **result, json_object **error)
{
	char fnb[512];
	const char *fn, *s, *g, *i;
	json_object *old, *nv, *errors = NULL;

	(void)caller;
	if (need(data, "STREAM_UPDATE_ERROR", error, 3, "stream_name", "group_id", "item_id") < 0)
		return;
	if (!jget(data, "ops") || !json_object_is_type(jget(data, "ops"), json_type_array)) {
		*error = builtin_error("STREAM_UPDATE_ERROR", "missing or invalid field 'ops' (an array)");
		return;
	}
	s = jstr(data, "stream_name");
	g = jstr(data, "group_id");
	i = jstr(data, "item_id");
	if ((fn = custom_fn(r, "update", s, fnb, sizeof fnb))) {
		defer_to(r, fn, data, "STREAM_UPDATE_ERROR", set_done, error);
		return;
	}
	if ((fn = custom_fn(r, "get", s, fnb, sizeof fnb))) {
		json_object *d = json_object_new_object();
		struct call *c = call_new(data, "STREAM_UPDATE_ERROR");
		if (!c) {
			json_object_put(d);
			*error = builtin_error("STREAM_UPDATE_ERROR", "out of memory");
			return;
		}
		json_object_object_add(d, "stream_name", json_object_new_string(s));
		json_object_object_add(d, "group_id", json_object_new_string(g));
		json_object_object_add(d, "item_id", json_object_new_string(i));
		call_fn(r, fn, d, update_got, c);
		json_object_put(d);
		return;
	}
	old = item_read(r, s, g, i);
	nv = stream_ops_apply(old, jget(data, "ops"), &errors);
	if (item_write(r, s, g, i, nv) < 0) {
		*error = builtin_error("STREAM_UPDATE_ERROR", "the item could not be stored");
		json_object_put(old);
		json_object_put(nv);
		json_object_put(errors);
		return;
	}
	emit(r, s, g, i, old ? "update" : "create", NULL, nv);
	*result = old_new(old, nv);
	if (errors)
		json_object_object_add(*result, "errors", errors);
	json_object_put(old);
	json_object_put(nv);
}

/* ---- fanout requests ------------------------------------------------------------ */

/* A join in progress: join triggers one after another, then the snapshot. */
struct join {
	char ident[64];
	size_t ident_len;
	uint64_t conn, rid, seq;
	json_object *req;
	char **fns;
	size_t nfns, next;
	int64_t ts;
};

static void join_free(struct join *j)
{
	json_object_put(j->req);
	fns_free(j->fns, j->nfns);
	free(j);
}

static void to_front(struct router *r, const char *ident, size_t ident_len, const char *kind,
		     const uint64_t *ids, size_t nids, const char *body, size_t len)
{
	if (wire_send(r->zsock, ident, ident_len, kind, ids, nids, body, len, NULL, 0) < 0)
		log_warn("fanout %.*s: could not send '%s': %s", (int)ident_len, ident, kind,
			 zmq_strerror(errno));
	zsock_kick(r->zw);
}

static void join_reply(struct router *r, struct join *j, const char *kind, json_object *frame)
{
	uint64_t ids[4] = { j->conn, j->rid, j->seq, r->epoch };
	size_t len;
	const char *s = json_object_to_json_string_length(frame, JSON_FLAGS, &len);
	to_front(r, j->ident, j->ident_len, kind, ids, strcmp(kind, "ssync") == 0 ? 4 : 2, s, len);
}

static void join_synced(struct router *r, void *arg, json_object *val, json_object *err)
{
	struct join *j = arg;
	const char *item = jstr(j->req, "id");
	json_object *f;

	if (err)
		log_warn("stream %s/%s: snapshot for a join failed: %s", jstr(j->req, "stream"),
			 jstr(j->req, "group"), jstr(err, "message") ? jstr(err, "message") : "?");
	if (!val && !item)
		val = json_object_new_array();
	else
		json_object_get(val);
	f = frame_obj(json_object_get_boolean(jget(j->req, "old")), j->ts, jstr(j->req, "stream"),
		      jstr(j->req, "group"), item, "sync", NULL, val);
	join_reply(r, j, "ssync", f);
	json_object_put(f);
	json_object_put(val);
	join_free(j);
}

static void join_snapshot(struct router *r, struct join *j)
{
	struct sgroup *g = group_of(jstr(j->req, "stream"), jstr(j->req, "group"));

	/* the snapshot holds every change up to seq; the fanout drops older events */
	j->seq = g ? g->seq : 0;
	j->ts = group_tick(g);
	fetch(r, jstr(j->req, "stream"), jstr(j->req, "group"), jstr(j->req, "id"), join_synced, j);
}

static json_object *join_payload(json_object *req)
{
	json_object *p = json_object_new_object();
	json_object *id = jget(req, "id");
	json_object_object_add(p, "subscription_id", json_object_get(jget(req, "sub")));
	json_object_object_add(p, "stream_name", json_object_get(jget(req, "stream")));
	json_object_object_add(p, "group_id", json_object_get(jget(req, "group")));
	json_object_object_add(p, "id", json_object_get(id));
	json_object_object_add(p, "context", json_object_get(jget(req, "context")));
	return p;
}

/*
 * The router remembers every fanout subscription (joined, not yet left) with
 * its leave payload: when a fanout dies, nobody else can tell the stream:leave
 * triggers that its clients are gone.
 */
static char *sub_key(const char *ident, size_t ident_len, uint64_t conn, const char *sid)
{
	size_t n = ident_len + strlen(sid) + 24;
	char *k = malloc(n);

	if (k)
		snprintf(k, n, "%.*s %llu %s", (int)ident_len, ident, (unsigned long long)conn, sid);
	return k;
}

static void sub_forget(const char *ident, size_t ident_len, uint64_t conn, const char *sid)
{
	char *k = sid ? sub_key(ident, ident_len, conn, sid) : NULL;

	if (k)
		lh_table_delete(S.subs, k);
	free(k);
}

static void sub_remember(const char *ident, size_t ident_len, uint64_t conn, json_object *req)
{
	char *k = sub_key(ident, ident_len, conn, jstr(req, "sub"));

	if (!k)
		return;
	lh_table_delete(S.subs, k);	/* a repeated subscription id replaces the old one */
	if (lh_table_insert(S.subs, k, join_payload(req)) < 0)
		free(k);
}

static void leave_triggers(struct router *r, json_object *payload)
{
	size_t n;
	char **fns = tlist_fns(&S.on_leave, &n);

	for (size_t i = 0; i < n; i++)
		inv_start(r, NULL, NULL, 0, fns[i], payload, NULL, NULL, NULL);
	fns_free(fns, n);
}

/* A fanout is gone: each of its subscriptions leaves. */
static void on_front_gone(struct router *r, struct front *f)
{
	struct lh_entry *e, *tmp;
	size_t fired = 0;

	lh_foreach_safe(S.subs, e, tmp) {
		const char *k = (const char *)lh_entry_k(e);
		if (strncmp(k, f->ident, f->ident_len) != 0 || k[f->ident_len] != ' ')
			continue;
		leave_triggers(r, (json_object *)lh_entry_v(e));
		lh_table_delete(S.subs, k);
		fired++;
	}
	if (fired)
		log_info("fanout %s is gone: %zu stream subscriptions left", f->ident, fired);
}

static void join_next(struct router *r, struct join *j);

static void join_trigger_done(struct router *r, void *arg, json_object *result, json_object *error)
{
	struct join *j = arg;
	json_object *u = jget(result, "unauthorized");

	(void)error;
	if (u && json_object_get_boolean(u)) {
		json_object *f = frame_obj(json_object_get_boolean(jget(j->req, "old")),
					   router_now_ms(), jstr(j->req, "stream"), jstr(j->req, "group"),
					   jstr(j->req, "id"), "unauthorized", NULL, NULL);
		join_reply(r, j, "sunauth", f);
		json_object_put(f);
		sub_forget(j->ident, j->ident_len, j->conn, jstr(j->req, "sub"));
		join_free(j);
		return;
	}
	join_next(r, j);
}

static void join_next(struct router *r, struct join *j)
{
	if (j->next >= j->nfns) {
		join_snapshot(r, j);
		return;
	}
	json_object *p = join_payload(j->req);
	inv_start(r, NULL, NULL, 0, j->fns[j->next++], p, NULL, join_trigger_done, j);
	json_object_put(p);
}

static void on_sjoin(struct router *r, struct front *f, struct wire_msg *m)
{
	struct join *j;
	json_object *req;

	if (m->nids != 2 || f->ident_len >= sizeof j->ident)
		return;
	req = parse_len(m->body, m->body_len);
	if (!jstr(req, "stream") || !jstr(req, "group") || !jstr(req, "sub")) {
		log_warn("fanout %s: malformed join", f->ident);
		json_object_put(req);
		return;
	}
	if (!(j = calloc(1, sizeof *j))) {
		json_object_put(req);
		return;
	}
	memcpy(j->ident, f->ident, f->ident_len);
	j->ident_len = f->ident_len;
	j->conn = wire_id(m, 0);
	j->rid = wire_id(m, 1);
	j->req = req;
	sub_remember(f->ident, f->ident_len, j->conn, req);
	if (!json_object_get_boolean(jget(req, "resync")))
		j->fns = tlist_fns(&S.on_join, &j->nfns);
	join_next(r, j);
}

static void on_sleave(struct router *r, struct front *f, struct wire_msg *m)
{
	json_object *req = parse_len(m->body, m->body_len), *p;

	if (!jstr(req, "stream")) {
		json_object_put(req);
		return;
	}
	if (m->nids == 1)
		sub_forget(f->ident, f->ident_len, wire_id(m, 0), jstr(req, "sub"));
	p = join_payload(req);
	leave_triggers(r, p);
	json_object_put(p);
	json_object_put(req);
}

struct auth {
	char ident[64];
	size_t ident_len;
	uint64_t conn;
};

static void auth_done(struct router *r, void *arg, json_object *result, json_object *error)
{
	struct auth *a = arg;
	json_object *ctx = error ? NULL : jget(result, "context");
	const char *s = ctx ? json_object_to_json_string_ext(ctx, JSON_FLAGS) : "null";

	if (error)
		log_info("stream auth: %s; the connection is accepted without context",
			 jstr(error, "message") ? jstr(error, "message") : "the function failed");
	to_front(r, a->ident, a->ident_len, "sauth", &a->conn, 1, s, strlen(s));
	free(a);
}

static void on_sauth(struct router *r, struct front *f, struct wire_msg *m)
{
	json_object *req = parse_len(m->body, m->body_len), *fn;
	struct auth *a;

	if (m->nids != 1 || f->ident_len >= sizeof a->ident || !(a = calloc(1, sizeof *a))) {
		json_object_put(req);
		return;
	}
	memcpy(a->ident, f->ident, f->ident_len);
	a->ident_len = f->ident_len;
	a->conn = wire_id(m, 0);
	fn = jget(req, "function");
	if (!jstr(req, "function")) {
		auth_done(r, a, NULL, NULL);
	} else {
		fn = json_object_get(fn);
		json_object_object_del(req, "function");
		inv_start(r, NULL, NULL, 0, json_object_get_string(fn), req, NULL, auth_done, a);
		json_object_put(fn);
	}
	json_object_put(req);
}

/* ---- trigger kinds ---------------------------------------------------------------- */

static int change_add(struct router *r, struct trigger *t, char *err, size_t errlen)
{
	(void)r;
	if (!jstr(t->config, "stream_name") || !*jstr(t->config, "stream_name")) {
		snprintf(err, errlen, "stream_name is required (config {\"stream_name\": \"...\"})");
		return -1;
	}
	return tlist_add(&S.on_change, t) < 0 ? (snprintf(err, errlen, "out of memory"), -1) : 0;
}

static void change_remove(struct router *r, struct trigger *t)
{
	(void)r;
	tlist_remove(&S.on_change, t);
}

static int join_add(struct router *r, struct trigger *t, char *err, size_t errlen)
{
	(void)r;
	return tlist_add(&S.on_join, t) < 0 ? (snprintf(err, errlen, "out of memory"), -1) : 0;
}

static void join_remove(struct router *r, struct trigger *t)
{
	(void)r;
	tlist_remove(&S.on_join, t);
}

static int leave_add(struct router *r, struct trigger *t, char *err, size_t errlen)
{
	(void)r;
	return tlist_add(&S.on_leave, t) < 0 ? (snprintf(err, errlen, "out of memory"), -1) : 0;
}

static void leave_remove(struct router *r, struct trigger *t)
{
	(void)r;
	tlist_remove(&S.on_leave, t);
}

static const struct trigkind change_kind = {
	"stream", "Fires on stream item changes and custom events", change_add, change_remove,
};
static const struct trigkind join_kind = {
	"stream:join", "Runs when a client joins a stream subscription; {unauthorized:true} refuses it",
	join_add, join_remove,
};
static const struct trigkind leave_kind = {
	"stream:leave", "Runs when a client leaves a stream subscription", leave_add, leave_remove,
};

static int pub_bind(const struct cfg *cfg)
{
	int linger = 0, hwm = 1000000;

	S.ctx = zmq_ctx_new();
	S.pub = S.ctx ? zmq_socket(S.ctx, ZMQ_PUB) : NULL;
	if (!S.pub)
		return -1;
	zmq_setsockopt(S.pub, ZMQ_LINGER, &linger, sizeof linger);
	zmq_setsockopt(S.pub, ZMQ_SNDHWM, &hwm, sizeof hwm);
	if (cfg->router_pub_endpoint[0] && zmq_bind(S.pub, cfg->router_pub_endpoint) < 0) {
		log_error("streams: cannot bind %s: %s", cfg->router_pub_endpoint, zmq_strerror(errno));
		return -1;
	}
	int zap_failed;
	S.zap = zap_start(S.ctx, S.r->base, cfg, &zap_failed);
	if (zap_failed || zcurve_server(S.pub, cfg) < 0)
		return -1;
	if (cfg->router_pub_listen[0] && zmq_bind(S.pub, cfg->router_pub_listen) < 0) {
		log_error("streams: cannot bind %s: %s", cfg->router_pub_listen, zmq_strerror(errno));
		return -1;
	}
	return 0;
}

void streams_init(struct router *r)
{
	S.r = r;
	S.groups = lh_kchar_table_new(1024, group_free);
	S.subs = lh_kchar_table_new(1024, sub_entry_free);
	if (pub_bind(r->cfg) < 0)
		log_error("streams: stream clients will get no live events");
	reg_trigkind_add(r, &change_kind);
	reg_trigkind_add(r, &join_kind);
	reg_trigkind_add(r, &leave_kind);
	builtin_add("stream::get", bi_get);
	builtin_add("stream::set", bi_set);
	builtin_add("stream::delete", bi_delete);
	builtin_add("stream::list", bi_list);
	builtin_add("stream::list_groups", bi_list_groups);
	builtin_add("stream::list_all", bi_list_all);
	builtin_add("stream::send", bi_send);
	builtin_add("stream::update", bi_update);
	router_on_kind("sjoin", on_sjoin);
	router_on_kind("sleave", on_sleave);
	router_on_kind("sauth", on_sauth);
	router_on_front_gone(on_front_gone);
	state_init(r);
}

void streams_free(struct router *r)
{
	state_free(r);
	zap_free(&S.zap);
	if (S.pub)
		zmq_close(S.pub);
	if (S.ctx)
		zmq_ctx_term(S.ctx);
	if (S.groups)
		lh_table_free(S.groups);
	if (S.subs)
		lh_table_free(S.subs);
	free(S.on_change.v);
	free(S.on_join.v);
	free(S.on_leave.v);
	memset(&S, 0, sizeof S);
}

size_t streams_subscriptions(void)
{
	return S.subs ? (size_t)lh_table_length(S.subs) : 0;
}
