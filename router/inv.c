#include "inv.h"
#include "builtin.h"
#include "log.h"
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
	complete_error(r, iv->caller, iv->caller_id, iv->want_reply, iv->done, iv->done_arg,
		       iv->function_id, "invocation_timeout", msg);
	inv_unlink(r, iv);
}

/* The target message: always with an invocation id, never with an action. */
static void send_invoke(struct router *r, struct inv *iv, json_object *data, json_object *msg)
{
	json_object *o = json_object_new_object();
	json_object *v;

	json_object_object_add(o, "type", json_object_new_string("invokefunction"));
	json_object_object_add(o, "invocation_id", json_object_new_string(iv->id));
	json_object_object_add(o, "function_id", json_object_new_string(iv->function_id));
	json_object_object_add(o, "data", data ? json_object_get(data) : NULL);
	if (msg) {
		if (json_object_object_get_ex(msg, "metadata", &v))
			json_object_object_add(o, "metadata", json_object_get(v));
		if (json_object_object_get_ex(msg, "traceparent", &v))
			json_object_object_add(o, "traceparent", json_object_get(v));
		if (json_object_object_get_ex(msg, "baggage", &v))
			json_object_object_add(o, "baggage", json_object_get(v));
	}
	router_send_json(r, iv->target, o);
	json_object_put(o);
}

void inv_start(struct router *r, struct worker *caller, const char *caller_id, int want_reply,
	       const char *function_id, json_object *data, json_object *msg,
	       inv_done_fn done, void *done_arg)
{
	struct function *fn;
	struct worker *target;
	json_object *result = NULL, *error = NULL;
	struct inv *iv;
	char m[512];

	if (!function_id)
		return;
	if (builtin_call(r, caller, function_id, data, &result, &error)) {
		complete(r, caller, caller_id, want_reply, done, done_arg, function_id, result, error);
		json_object_put(result);
		json_object_put(error);
		return;
	}
	fn = reg_function_find(r, function_id);
	if (!fn || !(target = reg_function_pick(fn))) {
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
	if (caller && data && json_object_is_type(data, json_type_object))
		json_object_object_add(data, "_caller_worker_id", json_object_new_string(caller->id));
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
	if (r->inv_timeout) {
		iv->timer = evtimer_new(r->base, inv_on_timeout, iv);
		if (iv->timer)
			evtimer_add(iv->timer, r->inv_timeout);
	}
	send_invoke(r, iv, data, msg);
}

void inv_on_result(struct router *r, struct worker *w, json_object *msg,
		   const char *raw, size_t raw_len)
{
	json_object *idv, *res = NULL, *err = NULL;
	struct inv *iv;

	if (!json_object_object_get_ex(msg, "invocation_id", &idv) ||
	    !(iv = hmap_get(&r->invs, json_object_get_string(idv)))) {
		log_debug("worker %s: result for an unknown or finished invocation", w->id);
		return;
	}
	if (iv->target != w) {
		log_warn("worker %s: result for invocation %s it was not serving; ignored",
			 w->id, iv->id);
		return;
	}
	json_object_object_get_ex(msg, "error", &err);
	if (err && json_object_is_type(err, json_type_null))
		err = NULL;
	json_object_object_get_ex(msg, "result", &res);
	if (iv->done) {
		iv->done(r, iv->done_arg, err ? NULL : res, err);
	} else if (iv->want_reply && iv->caller) {
		if (strcmp(iv->caller_id, iv->id) == 0) {
			/* same id end to end: hand the target's bytes on as they are */
			router_send_result(r, iv->caller, iv->caller_id, raw, raw_len);
		} else {
			complete(r, iv->caller, iv->caller_id, 1, NULL, NULL, iv->function_id,
				 res, err);
		}
	}
	inv_unlink(r, iv);
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
