#include "config.h"	/* _GNU_SOURCE for memmem */
#include "inv.h"
#include "wauth.h"
#include "builtin.h"
#include "json_scan.h"
#include "store.h"
#include "log.h"
#include "metrics.h"
#include "reg.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_object *inv_error_msg(const char *id, const char *fn, const char *code, const char *message)
{
	json_object *o = json_object_new_object(), *e = json_object_new_object();

	json_object_object_add(o, "type", json_object_new_string("invocationresult"));
	json_object_object_add(o, "invocation_id", json_object_new_string(id));
	if (fn)
		json_object_object_add(o, "function_id", json_object_new_string(fn));
	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(message));
	json_object_object_add(o, "error", e);
	return o;
}

/* Answer a worker caller with a complete invocationresult message. */
static void reply_msg(struct router *r, struct worker *caller, const char *caller_id, json_object *o)
{
	size_t len;
	const char *s = json_object_to_json_string_length(o, JSON_FLAGS, &len);
	router_send_result(r, caller, caller_id, s, len);
}

/* Deliver an outcome to whoever started the call, then forget it. */
static void complete(struct router *r, struct worker *caller, const char *caller_id, int want_reply,
		     inv_done_fn done, void *done_arg, const char *fn,
		     json_object *result, json_object *error)
{
	if (done) {
		done(r, done_arg, result, error);
		return;
	}
	if (!want_reply || !caller)
		return;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string("invocationresult"));
	json_object_object_add(o, "invocation_id", json_object_new_string(caller_id));
	json_object_object_add(o, "function_id", json_object_new_string(fn));
	if (error)
		json_object_object_add(o, "error", json_object_get(error));
	else
		json_object_object_add(o, "result", json_object_get(result));
	reply_msg(r, caller, caller_id, o);
	json_object_put(o);
}

static void complete_error(struct router *r, struct worker *caller, const char *caller_id,
			   int want_reply, inv_done_fn done, void *done_arg, const char *fn,
			   const char *code, const char *message)
{
	json_object *e = json_object_new_object();
	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(message));
	complete(r, caller, caller_id, want_reply, done, done_arg, fn, NULL, e);
	json_object_put(e);
}

static void inv_unlink(struct router *r, struct inv *iv)
{
	hmap_del(&r->invs, iv->id);
	if (iv->target) {
		hmap_del(&iv->target->inv_in, iv->id);
		iv->target->inflight--;
	}
	if (iv->caller)
		hmap_del(&iv->caller->inv_out, iv->id);
	if (iv->timer)
		event_free(iv->timer);
	free(iv->function_id);
	free(iv);
}

static void inv_on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct inv *iv = arg;
	struct router *r = iv->r;
	char msg[256];

	(void)fd;
	(void)what;
	snprintf(msg, sizeof msg, "Invocation of %s timed out after %lld ms", iv->function_id,
		 (long long)r->cfg->invocation_timeout_ms);
	log_info("invocation %s: %s", iv->id, msg);
	metrics_inv_done(MO_TIMEOUT, iv->started_us);
	complete_error(r, iv->caller, iv->caller_id, iv->want_reply, iv->done, iv->done_arg,
		       iv->function_id, "invocation_timeout", msg);
	inv_unlink(r, iv);
}

/* What the target is sent, as raw JSON spans (p NULL = absent). */
struct inv_payload {
	struct json_span data, metadata, traceparent, baggage;
};

struct buf {
	char *p;
	size_t len, cap;
};

static int buf_add(struct buf *b, const void *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			return -1;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int buf_str(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

/* Does the object span have a top-level _caller_worker_id member? (rare: a cheap look first) */
static int has_caller_key(struct json_span data)
{
	static const char *const key[1] = { "_caller_worker_id" };
	struct json_span v;

	if (!memmem(data.p, data.len, "_caller_worker_id", 17))
		return 0;
	return json_scan_object(data.p, data.len, 1000, key, &v, 1) == JSON_SCAN_OK && v.p;
}

/*
 * The target message: always with an invocation id, never with an action.
 * The payload is spliced in as bytes; for worker callers the reference adds
 * _caller_worker_id to object payloads, which we append as the object's last
 * member so that it wins over a member of the same name (JSON.parse keeps
 * the last).
 */
static void send_invoke(struct router *r, struct inv *iv, const struct inv_payload *pl)
{
	struct buf b = { 0 };
	char esc[600];
	int ok = 1;

	ok &= buf_str(&b, "{\"type\":\"invokefunction\",\"invocation_id\":\"") == 0;
	ok &= buf_str(&b, iv->id) == 0;
	ok &= buf_str(&b, "\",\"function_id\":") == 0;
	size_t el = json_escape(iv->function_id, esc, sizeof esc);
	ok &= el && buf_add(&b, esc, el) == 0;
	ok &= buf_str(&b, ",\"data\":") == 0;
	if (!pl->data.p) {
		ok &= buf_str(&b, "null") == 0;
	} else if (iv->caller && json_span_kind(pl->data) == '{' && has_caller_key(pl->data)) {
		/* the caller sent its own _caller_worker_id: ours replaces it, as in the reference */
		json_tokener *tok = json_tokener_new_ex(r->cfg->max_json_depth + 2);
		json_object *d = tok ? json_tokener_parse_ex(tok, pl->data.p, (int)pl->data.len) : NULL;
		size_t dl;
		if (tok)
			json_tokener_free(tok);
		if (d) {
			json_object_object_add(d, "_caller_worker_id", json_object_new_string(iv->caller->id));
			const char *ds = json_object_to_json_string_length(d, JSON_FLAGS, &dl);
			ok &= buf_add(&b, ds, dl) == 0;
			json_object_put(d);
		} else {
			ok = 0;
		}
	} else if (iv->caller && json_span_kind(pl->data) == '{') {
		const char *d = pl->data.p;
		size_t dl = pl->data.len, i = 1;
		while (i < dl && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r'))
			i++;
		int empty = d[i] == '}';
		ok &= buf_add(&b, d, dl - 1) == 0;	/* all but the closing brace */
		ok &= buf_str(&b, empty ? "\"_caller_worker_id\":\"" : ",\"_caller_worker_id\":\"") == 0;
		ok &= buf_str(&b, iv->caller->id) == 0;
		ok &= buf_str(&b, "\"}") == 0;
	} else {
		ok &= buf_add(&b, pl->data.p, pl->data.len) == 0;
	}
	if (pl->metadata.p && json_span_kind(pl->metadata) != 'n') {
		ok &= buf_str(&b, ",\"metadata\":") == 0;
		ok &= buf_add(&b, pl->metadata.p, pl->metadata.len) == 0;
	}
	if (pl->traceparent.p && json_span_kind(pl->traceparent) != 'n') {
		ok &= buf_str(&b, ",\"traceparent\":") == 0;
		ok &= buf_add(&b, pl->traceparent.p, pl->traceparent.len) == 0;
	}
	if (pl->baggage.p && json_span_kind(pl->baggage) != 'n') {
		ok &= buf_str(&b, ",\"baggage\":") == 0;
		ok &= buf_add(&b, pl->baggage.p, pl->baggage.len) == 0;
	}
	ok &= buf_str(&b, "}") == 0;
	if (ok)
		router_send(r, iv->target, b.p, b.len);
	else
		log_error("invocation %s: out of memory building the message", iv->id);
	free(b.p);
}

/* The built-in call running now, so that it can take its call with inv_defer(). */
struct defer_ctx {
	struct worker *caller;
	const char *caller_id;
	int want_reply;
	inv_done_fn done;
	void *done_arg;
	const char *function_id;
	int taken;
};
static struct defer_ctx *defer_cur;

struct inv_deferred {
	char caller[ID_UUID_LEN + 1];		/* worker id, "" for engine calls */
	char caller_id[ID_UUID_LEN + 1];
	int want_reply;
	inv_done_fn done;
	void *done_arg;
	char *function_id;
};

struct inv_deferred *inv_defer(void)
{
	struct inv_deferred *d;

	if (!defer_cur || defer_cur->taken || !(d = calloc(1, sizeof *d)))
		return NULL;
	if (!(d->function_id = strdup(defer_cur->function_id))) {
		free(d);
		return NULL;
	}
	if (defer_cur->caller)
		snprintf(d->caller, sizeof d->caller, "%s", defer_cur->caller->id);
	snprintf(d->caller_id, sizeof d->caller_id, "%s", defer_cur->caller_id ? defer_cur->caller_id : "");
	d->want_reply = defer_cur->want_reply;
	d->done = defer_cur->done;
	d->done_arg = defer_cur->done_arg;
	defer_cur->taken = 1;
	return d;
}

void inv_deferred_finish(struct router *r, struct inv_deferred *d,
			 json_object *result, json_object *error)
{
	struct worker *caller = d->caller[0] ? reg_worker_find(r, d->caller) : NULL;

	if (d->done || caller)
		complete(r, caller, d->caller_id, d->want_reply, d->done, d->done_arg,
			 d->function_id, result, error);
	inv_deferred_drop(d);
}

void inv_deferred_drop(struct inv_deferred *d)
{
	free(d->function_id);
	free(d);
}

struct committed_answer {
	struct router *r;
	struct inv_deferred *d;
	json_object *result, *error;
};

static void on_answer_committed(void *arg, int ok)
{
	struct committed_answer *a = arg;

	if (!ok) {
		json_object_put(a->result);
		json_object_put(a->error);
		a->result = NULL;
		a->error = builtin_error("store_error", "the change could not be written to storage");
	}
	inv_deferred_finish(a->r, a->d, a->result, a->error);
	json_object_put(a->result);
	json_object_put(a->error);
	free(a);
}

/*
 * A built-in that wrote to the store (state::set, stream::update, ...) is
 * answered only once this turn's transaction is committed: a caller told
 * "done" must find the change after a crash. Takes the call (ctx->taken).
 */
static void answer_after_commit(struct router *r, json_object *result, json_object *error,
				struct defer_ctx *ctx)
{
	struct committed_answer *a = calloc(1, sizeof *a);

	if (!a || !(a->d = inv_defer())) {
		free(a);
		ctx->taken = 0;	/* answer now rather than never */
		return;
	}
	a->r = r;
	a->result = json_object_get(result);
	a->error = json_object_get(error);
	store_after_commit(r->store, on_answer_committed, a);
}

struct parked;
static int inv_park(struct router *r, struct worker *caller, const char *caller_id, int want_reply,
		    const char *function_id, const struct inv_payload *pl,
		    inv_done_fn done, void *done_arg);

/*
 * The routing decision, for every kind of caller: built-in, or the least
 * loaded replica of a worker function, or function_not_found.
 */
static void inv_route(struct router *r, struct worker *caller, const char *caller_id, int want_reply,
		      const char *function_id, const struct inv_payload *pl,
		      inv_done_fn done, void *done_arg)
{
	struct function *fn;
	struct worker *target;
	struct inv *iv;
	char m[512];

	if (caller && caller->acl && !wauth_check(caller->acl, function_id, m, sizeof m)) {
		complete_error(r, caller, caller_id, want_reply, done, done_arg, function_id,
			       "FORBIDDEN", m);
		return;
	}
	if (builtin_call(r, caller, function_id, NULL, NULL, NULL)) {
		json_object *result = NULL, *error = NULL, *data = NULL;
		if (pl->data.p) {
			json_tokener *tok = json_tokener_new_ex(r->cfg->max_json_depth + 2);
			if (tok) {
				data = json_tokener_parse_ex(tok, pl->data.p, (int)pl->data.len);
				json_tokener_free(tok);
			}
		}
		struct defer_ctx ctx = { caller, caller_id, want_reply, done, done_arg, function_id, 0 };
		struct defer_ctx *outer = defer_cur;
		defer_cur = &ctx;
		builtin_call(r, caller, function_id, data, &result, &error);
		if (!ctx.taken && store_pending(r->store))
			answer_after_commit(r, result, error, &ctx);
		defer_cur = outer;
		if (!ctx.taken)
			complete(r, caller, caller_id, want_reply, done, done_arg, function_id, result, error);
		json_object_put(data);
		json_object_put(result);
		json_object_put(error);
		return;
	}
	fn = reg_function_find(r, function_id);
	if (!fn || !(target = reg_function_pick(fn))) {
		if (inv_park(r, caller, caller_id, want_reply, function_id, pl, done, done_arg) == 0)
			return;
		metrics_inv_done(MO_NOT_FOUND, 0);
		snprintf(m, sizeof m, "Function %s not found in namespace default.", function_id);
		complete_error(r, caller, caller_id, want_reply, done, done_arg, function_id,
			       "function_not_found", m);
		return;
	}
	iv = calloc(1, sizeof *iv);
	if (!iv || !(iv->function_id = strdup(function_id))) {
		free(iv);
		complete_error(r, caller, caller_id, want_reply, done, done_arg, function_id,
			       "invocation_error", "out of memory");
		return;
	}
	iv->r = r;
	/* reuse the caller's id end to end unless another call already holds it */
	if (caller_id && !hmap_get(&r->invs, caller_id))
		snprintf(iv->id, sizeof iv->id, "%s", caller_id);
	else
		id_uuid4(iv->id);
	snprintf(iv->caller_id, sizeof iv->caller_id, "%s", caller_id ? caller_id : "");
	iv->caller = caller;
	iv->target = target;
	iv->want_reply = want_reply || done;
	iv->done = done;
	iv->done_arg = done_arg;
	if (hmap_put(&r->invs, iv->id, iv) < 0 || hmap_put(&target->inv_in, iv->id, iv) < 0 ||
	    (caller && hmap_put(&caller->inv_out, iv->id, iv) < 0)) {
		hmap_del(&r->invs, iv->id);
		hmap_del(&target->inv_in, iv->id);
		free(iv->function_id);
		free(iv);
		complete_error(r, caller, caller_id, want_reply, done, done_arg, function_id,
			       "invocation_error", "out of memory");
		return;
	}
	target->inflight++;
	iv->started_us = metrics_now_us();
	if (r->inv_timeout) {
		iv->timer = evtimer_new(r->base, inv_on_timeout, iv);
		if (iv->timer)
			evtimer_add(iv->timer, r->inv_timeout);
	}
	send_invoke(r, iv, pl);
}

/*
 * Calls held across a rolling reload. While brokers are replaced one by one
 * (and for PARK_MS after the last one went), a function whose only workers
 * are on their way to a new broker has no provider for a moment; a call to
 * it waits here for one instead of failing with function_not_found. The
 * caller is remembered by worker id: if it leaves meanwhile, nobody waits.
 */
#define PARK_MS 10000

static int park_off;	/* set while a held call is routed again: do not hold it twice */

struct parked {
	struct parked *next;
	char *function_id;
	char caller_wid[ID_UUID_LEN + 1];	/* "" for an engine call */
	char caller_id[64];			/* "" when none */
	int want_reply;
	inv_done_fn done;
	void *done_arg;
	char *part[4];				/* data, metadata, traceparent, baggage (NULL = absent) */
	size_t len[4];
	int64_t deadline_ms;
};

static int inv_park(struct router *r, struct worker *caller, const char *caller_id, int want_reply,
		    const char *function_id, const struct inv_payload *pl,
		    inv_done_fn done, void *done_arg)
{
	const struct json_span *sp[4] = { &pl->data, &pl->metadata, &pl->traceparent, &pl->baggage };
	int64_t now = router_now_ms();
	struct parked *p;

	if (park_off ||
	    (!(r->ndraining > 0 && lh_table_length(r->fronts) > r->ndraining) && now >= r->hold_until_ms))
		return -1;	/* no roll going on: not found is the answer */
	if (caller_id && strlen(caller_id) >= sizeof p->caller_id)
		return -1;
	p = calloc(1, sizeof *p);
	if (!p || !(p->function_id = strdup(function_id)))
		goto oom;
	for (int i = 0; i < 4; i++) {
		if (!sp[i]->p)
			continue;
		if (!(p->part[i] = malloc(sp[i]->len + 1)))
			goto oom;
		memcpy(p->part[i], sp[i]->p, sp[i]->len);
		p->part[i][sp[i]->len] = '\0';
		p->len[i] = sp[i]->len;
	}
	if (caller)
		snprintf(p->caller_wid, sizeof p->caller_wid, "%s", caller->id);
	snprintf(p->caller_id, sizeof p->caller_id, "%s", caller_id ? caller_id : "");
	p->want_reply = want_reply;
	p->done = done;
	p->done_arg = done_arg;
	p->deadline_ms = now + PARK_MS;
	p->next = r->parked;
	r->parked = p;
	log_debug("call of %s held: its workers are moving to a new broker", function_id);
	return 0;
oom:
	if (p) {
		for (int i = 0; i < 4; i++)
			free(p->part[i]);
		free(p->function_id);
		free(p);
	}
	return -1;
}

static void parked_free(struct parked *p)
{
	for (int i = 0; i < 4; i++)
		free(p->part[i]);
	free(p->function_id);
	free(p);
}

void inv_parked_retry(struct router *r)
{
	struct parked **pp = &r->parked, *p;
	int64_t now = router_now_ms();

	while ((p = *pp)) {
		struct function *fn = reg_function_find(r, p->function_id);
		struct worker *caller = p->caller_wid[0] ? reg_worker_find(r, p->caller_wid) : NULL;
		int ready = fn && reg_function_pick(fn) != NULL;
		if (!ready && now < p->deadline_ms && (caller || !p->caller_wid[0])) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		if (p->caller_wid[0] && !caller) {
			parked_free(p);	/* the caller left: nobody waits */
			continue;
		}
		struct inv_payload pl;
		struct json_span *sp[4] = { &pl.data, &pl.metadata, &pl.traceparent, &pl.baggage };
		for (int i = 0; i < 4; i++) {
			sp[i]->p = p->part[i];
			sp[i]->len = p->len[i];
		}
		/* routes it, or (past the deadline) answers function_not_found */
		park_off = 1;
		inv_route(r, caller, p->caller_id[0] ? p->caller_id : NULL, p->want_reply,
			  p->function_id, &pl, p->done, p->done_arg);
		park_off = 0;
		parked_free(p);
	}
}

void inv_parked_free(struct router *r)
{
	struct parked *p;

	while ((p = r->parked)) {
		r->parked = p->next;
		parked_free(p);
	}
}

static struct json_span json_span_of(json_object *o)
{
	struct json_span s = { NULL, 0 };
	if (o)
		s.p = json_object_to_json_string_length(o, JSON_FLAGS, &s.len);
	return s;
}

void inv_start(struct router *r, struct worker *caller, const char *caller_id, int want_reply,
	       const char *function_id, json_object *data, json_object *msg,
	       inv_done_fn done, void *done_arg)
{
	struct inv_payload pl;
	json_object *v;

	if (!function_id)
		return;
	memset(&pl, 0, sizeof pl);
	pl.data = json_span_of(data);
	if (msg && json_object_object_get_ex(msg, "metadata", &v))
		pl.metadata = json_span_of(v);
	if (msg && json_object_object_get_ex(msg, "traceparent", &v))
		pl.traceparent = json_span_of(v);
	if (msg && json_object_object_get_ex(msg, "baggage", &v))
		pl.baggage = json_span_of(v);
	inv_route(r, caller, caller_id, want_reply, function_id, &pl, done, done_arg);
}

enum { R_TYPE, R_ID, R_FN, R_DATA, R_ACTION, R_META, R_TRACE, R_BAGGAGE, R_N };
static const char *const raw_keys[R_N] = {
	"type", "invocation_id", "function_id", "data", "action", "metadata", "traceparent", "baggage",
};

static void inv_result(struct router *r, struct worker *w, const char *id,
		       const char *raw, size_t raw_len);

int inv_on_raw(struct router *r, struct worker *w, const char *body, size_t len)
{
	struct json_span k[R_N];
	char type[32], id[64] = "", fn[256], at[16] = "";
	struct inv_payload pl;

	if (json_scan_object(body, len, r->cfg->max_json_depth + 2, raw_keys, k, R_N) != JSON_SCAN_OK ||
	    json_span_str(k[R_TYPE], type, sizeof type) < 0)
		return 0;
	if (k[R_ID].p && json_span_kind(k[R_ID]) == '"' && json_span_str(k[R_ID], id, sizeof id) < 0)
		return 0;
	if (strcmp(type, "invocationresult") == 0) {
		inv_result(r, w, id, body, len);
		return 1;
	}
	if (strcmp(type, "invokefunction") != 0 || json_span_str(k[R_FN], fn, sizeof fn) <= 0)
		return 0;
	if (json_span_kind(k[R_ACTION]) == '{') {
		static const char *const akeys[1] = { "type" };
		struct json_span a[1];
		json_scan_object(k[R_ACTION].p, k[R_ACTION].len, r->cfg->max_json_depth, akeys, a, 1);
		json_span_str(a[0], at, sizeof at);
		if (strcmp(at, "void") != 0)
			return 0;	/* enqueue and future actions take the general path */
	}
	pl.data = k[R_DATA];
	if (json_span_kind(pl.data) == 'n')
		pl.data.p = NULL;
	pl.metadata = k[R_META];
	pl.traceparent = k[R_TRACE];
	pl.baggage = k[R_BAGGAGE];
	inv_route(r, w, id[0] ? id : NULL, id[0] && !at[0], fn, &pl, NULL, NULL);
	return 1;
}

/*
 * A result from w for invocation id. When the caller used the same id, the
 * target's bytes go to it unchanged; only the other cases parse them.
 */
static void inv_result(struct router *r, struct worker *w, const char *id,
		       const char *raw, size_t raw_len)
{
	struct inv *iv = id[0] ? hmap_get(&r->invs, id) : NULL;
	json_object *msg, *res = NULL, *err = NULL;

	if (!iv) {
		log_debug("worker %s: result for an unknown or finished invocation", w->id);
		return;
	}
	if (iv->target != w) {
		log_warn("worker %s: result for invocation %s it was not serving; ignored",
			 w->id, iv->id);
		return;
	}
	metrics_inv_done(MO_RESULT, iv->started_us);
	if (!iv->done && iv->want_reply && iv->caller && strcmp(iv->caller_id, iv->id) == 0) {
		/* same id end to end: hand the target's bytes on as they are */
		router_send_result(r, iv->caller, iv->caller_id, raw, raw_len);
		inv_unlink(r, iv);
		return;
	}
	if (!iv->done && !(iv->want_reply && iv->caller)) {
		inv_unlink(r, iv);	/* nobody waits for it */
		return;
	}
	json_tokener *tok = json_tokener_new_ex(r->cfg->max_json_depth + 2);
	msg = tok ? json_tokener_parse_ex(tok, raw, (int)raw_len) : NULL;
	if (tok)
		json_tokener_free(tok);
	if (msg) {
		json_object_object_get_ex(msg, "error", &err);
		if (err && json_object_is_type(err, json_type_null))
			err = NULL;
		json_object_object_get_ex(msg, "result", &res);
	}
	if (iv->done)
		iv->done(r, iv->done_arg, err ? NULL : res, err);
	else
		complete(r, iv->caller, iv->caller_id, 1, NULL, NULL, iv->function_id, res, err);
	json_object_put(msg);
	inv_unlink(r, iv);
}

void inv_on_result(struct router *r, struct worker *w, json_object *msg,
		   const char *raw, size_t raw_len)
{
	json_object *idv;
	const char *id = json_object_object_get_ex(msg, "invocation_id", &idv) ?
		json_object_get_string(idv) : "";
	inv_result(r, w, id ? id : "", raw, raw_len);
}

/* Take every inv out of m's current contents (deletions reshuffle an hmap). */
static struct inv **inv_snapshot(const struct hmap *m, size_t *n)
{
	struct inv **all = malloc((hmap_len(m) + 1) * sizeof *all);
	void *v;

	*n = 0;
	if (!all)
		return NULL;
	for (size_t i = 0; hmap_next(m, &i, NULL, &v);)
		all[(*n)++] = v;
	return all;
}

void inv_worker_gone(struct router *r, struct worker *w)
{
	size_t n;
	struct inv **all = inv_snapshot(&w->inv_in, &n);

	for (size_t i = 0; all && i < n; i++) {
		struct inv *iv = all[i];
		metrics_inv_done(MO_STOPPED, iv->started_us);
		complete_error(r, iv->caller, iv->caller_id, iv->want_reply, iv->done, iv->done_arg,
			       iv->function_id, "invocation_stopped", "Invocation stopped");
		inv_unlink(r, iv);
	}
	free(all);
	all = inv_snapshot(&w->inv_out, &n);
	for (size_t i = 0; all && i < n; i++) {
		/* the target keeps working; its answer is dropped */
		all[i]->caller = NULL;
		all[i]->want_reply = all[i]->done != NULL;
	}
	free(all);
	hmap_free(&w->inv_out);
}

void inv_free_all(struct router *r)
{
	size_t n;
	struct inv **all = inv_snapshot(&r->invs, &n);

	for (size_t i = 0; all && i < n; i++)
		inv_unlink(r, all[i]);
	free(all);
}
