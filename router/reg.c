#include "reg.h"
#include "wauth.h"
#include "channels.h"
#include "builtin.h"
#include "inv.h"
#include "log.h"
#include "topics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void nofree(struct lh_entry *e)
{
	(void)e;
}

static json_object *jget(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) ? v : NULL;
}

static const char *jstr(json_object *o, const char *k)
{
	json_object *v = jget(o, k);
	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

void reg_init(struct router *r)
{
	r->workers = lh_kchar_table_new(256, nofree);
	r->functions = lh_kchar_table_new(1024, nofree);
	r->trigtypes = lh_kchar_table_new(64, nofree);
	r->triggers = lh_kchar_table_new(1024, nofree);
}

const char *reg_worker_name(const struct worker *w)
{
	const char *n = w->meta ? jstr(w->meta, "name") : NULL;
	return n ? n : "";
}

struct worker *reg_worker_find(struct router *r, const char *id)
{
	void *v;
	return lh_table_lookup_ex(r->workers, id, &v) ? v : NULL;
}

struct function *reg_function_find(struct router *r, const char *id)
{
	void *v;
	return lh_table_lookup_ex(r->functions, id, &v) ? v : NULL;
}

static struct trigtype *trigtype_find(struct router *r, const char *id)
{
	void *v;
	return lh_table_lookup_ex(r->trigtypes, id, &v) ? v : NULL;
}

static struct trigger *trigger_find(struct router *r, const char *id)
{
	void *v;
	return lh_table_lookup_ex(r->triggers, id, &v) ? v : NULL;
}

struct worker *reg_function_pick(struct function *fn)
{
	struct worker *best = NULL;

	for (size_t k = 0; k < fn->nprov; k++) {
		struct worker *w = fn->prov[(fn->rr + k) % fn->nprov];
		if (w->drain_idle_sent)
			continue;	/* its broker is closing it (a held call waits for it) */
		/* a replica on a draining front only when no other is left */
		if (!best || (best->front->draining && !w->front->draining) ||
		    (w->front->draining == best->front->draining && w->inflight < best->inflight))
			best = w;
	}
	fn->rr++;
	return best;
}

/* ---- trigger bindings ------------------------------------------------- */

static json_object *trigger_msg(const struct trigger *t, const char *type)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string(type));
	json_object_object_add(o, "id", json_object_new_string(t->id));
	json_object_object_add(o, "trigger_type", json_object_new_string(t->type));
	json_object_object_add(o, "function_id", json_object_new_string(t->function_id));
	json_object_object_add(o, "config", json_object_get(t->config));
	if (t->metadata)
		json_object_object_add(o, "metadata", json_object_get(t->metadata));
	return o;
}

static void trigger_reject(struct router *r, struct trigger *t, const char *code, const char *msg)
{
	json_object *o, *e;

	log_warn("trigger %s (%s -> %s) rejected: %s", t->id, t->type, t->function_id, msg);
	if (!t->owner)
		return;
	o = json_object_new_object();
	e = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string("triggerregistrationresult"));
	json_object_object_add(o, "id", json_object_new_string(t->id));
	json_object_object_add(o, "trigger_type", json_object_new_string(t->type));
	json_object_object_add(o, "function_id", json_object_new_string(t->function_id));
	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(msg));
	json_object_object_add(o, "error", e);
	router_send_json(r, t->owner, o);
	json_object_put(o);
}

/*
 * Bind t to its type if the type exists: a built-in kind validates and
 * starts it, a worker-provided type gets it forwarded. Otherwise it stays
 * parked until the type appears. Returns -1 if a built-in kind rejected it.
 */
static int trigger_activate(struct router *r, struct trigger *t, char *err, size_t errlen)
{
	struct trigtype *tt = trigtype_find(r, t->type);

	if (!tt)
		return 0;
	if (tt->kind) {
		if (tt->kind->add(r, t, err, errlen) < 0)
			return -1;
	} else {
		json_object *o = trigger_msg(t, "registertrigger");
		router_send_json(r, tt->provider, o);
		json_object_put(o);
	}
	t->active_on = tt;
	return 0;
}

static void trigger_deactivate(struct router *r, struct trigger *t, int tell_provider)
{
	struct trigtype *tt = t->active_on;

	if (!tt)
		return;
	if (tt->kind) {
		tt->kind->remove(r, t);
	} else if (tell_provider && tt->provider) {
		json_object *o = trigger_msg(t, "unregistertrigger");
		router_send_json(r, tt->provider, o);
		json_object_put(o);
	}
	t->active_on = NULL;
}

static void trigger_free(struct trigger *t)
{
	json_object_put(t->config);
	json_object_put(t->metadata);
	free(t->id);
	free(t->type);
	free(t->function_id);
	free(t);
}

int reg_trigger_remove(struct router *r, const char *id)
{
	struct trigger *t = trigger_find(r, id);

	if (!t)
		return -1;
	trigger_deactivate(r, t, 1);
	lh_table_delete(r->triggers, t->id);
	if (t->owner)
		lh_table_delete(t->owner->trigs, t->id);
	trigger_free(t);
	return 0;
}

int reg_trigger_add(struct router *r, struct worker *owner, const char *id, const char *type,
		    const char *function_id, json_object *config, json_object *metadata,
		    char *err, size_t errlen)
{
	struct trigger *t;

	reg_trigger_remove(r, id);	/* the same id again replaces the binding */
	t = calloc(1, sizeof *t);
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	t->id = strdup(id);
	t->type = strdup(type);
	t->function_id = strdup(function_id);
	t->config = config ? json_object_get(config) : json_object_new_object();
	t->metadata = metadata && !json_object_is_type(metadata, json_type_null) ?
		json_object_get(metadata) : NULL;
	t->owner = owner;
	if (!t->id || !t->type || !t->function_id) {
		trigger_free(t);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (trigger_activate(r, t, err, errlen) < 0) {
		trigger_free(t);
		return -1;
	}
	lh_table_insert(r->triggers, t->id, t);
	if (owner)
		lh_table_insert(owner->trigs, t->id, t);
	log_debug("trigger %s: %s -> %s (%s)", t->id, t->type, t->function_id,
		  t->active_on ? "active" : "waiting for its trigger type");
	return 0;
}

/* ---- trigger types ---------------------------------------------------- */

static void trigtype_bind_all(struct router *r, struct trigtype *tt)
{
	struct lh_entry *e, *tmp;

	lh_foreach_safe(r->triggers, e, tmp) {
		struct trigger *t = (struct trigger *)lh_entry_v(e);
		char err[256];
		if (t->active_on || strcmp(t->type, tt->id) != 0)
			continue;
		if (trigger_activate(r, t, err, sizeof err) < 0)
			trigger_reject(r, t, "trigger_registration_failed", err);
	}
}

static void trigtype_unbind_all(struct router *r, struct trigtype *tt)
{
	struct lh_entry *e;

	lh_foreach(r->triggers, e) {
		struct trigger *t = (struct trigger *)lh_entry_v(e);
		if (t->active_on == tt)
			trigger_deactivate(r, t, 0);	/* parked until the type comes back */
	}
}

void reg_trigkind_add(struct router *r, const struct trigkind *k)
{
	struct trigtype *tt = calloc(1, sizeof *tt);
	if (!tt)
		abort();
	tt->id = strdup(k->type);
	tt->description = strdup(k->description);
	tt->kind = k;
	lh_table_insert(r->trigtypes, tt->id, tt);
}

static void trigtype_free(struct router *r, struct trigtype *tt)
{
	trigtype_unbind_all(r, tt);
	lh_table_delete(r->trigtypes, tt->id);
	free(tt->id);
	free(tt->description);
	free(tt);
}

static void on_regtt(struct router *r, struct worker *w, json_object *msg)
{
	const char *id = jstr(msg, "id");
	const char *desc = jstr(msg, "description");
	struct trigtype *tt = trigtype_find(r, id);

	if (tt && tt->kind) {
		log_warn("worker %s: trigger type '%s' is provided by the engine; ignored", w->id, id);
		return;
	}
	if (tt) {
		/* a new provider replaces the old one and gets every binding again */
		trigtype_unbind_all(r, tt);
		if (tt->provider)
			lh_table_delete(tt->provider->tts, tt->id);
		free(tt->description);
	} else {
		tt = calloc(1, sizeof *tt);
		if (!tt)
			return;
		tt->id = strdup(id);
		lh_table_insert(r->trigtypes, tt->id, tt);
	}
	tt->description = strdup(desc ? desc : "");
	tt->provider = w;
	lh_table_insert(w->tts, tt->id, tt);
	trigtype_bind_all(r, tt);
}

static void on_unregtt(struct router *r, struct worker *w, json_object *msg)
{
	struct trigtype *tt = trigtype_find(r, jstr(msg, "id"));

	if (!tt || tt->provider != w)
		return;
	lh_table_delete(w->tts, tt->id);
	trigtype_free(r, tt);
}

/* ---- functions -------------------------------------------------------- */

static void function_drop_provider(struct router *r, struct function *fn, struct worker *w)
{
	for (size_t i = 0; i < fn->nprov; i++) {
		if (fn->prov[i] != w)
			continue;
		fn->prov[i] = fn->prov[--fn->nprov];
		break;
	}
	if (fn->nprov == 0) {
		lh_table_delete(r->functions, fn->id);
		json_object_put(fn->def);
		free(fn->prov);
		free(fn->id);
		free(fn);
	}
}

static void on_regfn(struct router *r, struct worker *w, json_object *msg)
{
	const char *id = jstr(msg, "id");
	struct function *fn = reg_function_find(r, id);

	if (builtin_call(r, NULL, id, NULL, NULL, NULL)) {
		log_warn("worker %s: function id '%s' is reserved by the engine; ignored", w->id, id);
		return;
	}
	if (!fn) {
		fn = calloc(1, sizeof *fn);
		if (!fn || !(fn->id = strdup(id))) {
			free(fn);
			return;
		}
		lh_table_insert(r->functions, fn->id, fn);
	}
	json_object_put(fn->def);
	fn->def = json_object_get(msg);
	for (size_t i = 0; i < fn->nprov; i++)
		if (fn->prov[i] == w)
			return;		/* same worker again: the definition is updated */
	if (fn->nprov == fn->capprov) {
		size_t cap = fn->capprov ? fn->capprov * 2 : 2;
		struct worker **p = realloc(fn->prov, cap * sizeof *p);
		if (!p)
			return;
		fn->prov = p;
		fn->capprov = cap;
	}
	fn->prov[fn->nprov++] = w;
	lh_table_insert(w->fns, fn->id, fn);
	log_debug("function %s registered by worker %s (%zu replicas)", id, w->id, fn->nprov);
}

static void on_unregfn(struct router *r, struct worker *w, json_object *msg)
{
	struct function *fn = reg_function_find(r, jstr(msg, "id"));
	void *v;

	if (!fn || !lh_table_lookup_ex(w->fns, fn->id, &v))
		return;
	lh_table_delete(w->fns, fn->id);
	function_drop_provider(r, fn, w);
}

/* ---- workers ---------------------------------------------------------- */

struct worker *reg_worker_open(struct router *r, struct front *f, uint64_t conn_id,
			       json_object *body)
{
	const char *id = jstr(body, "worker_id");
	const char *tok = jstr(body, "reattach_token");
	const char *ip = jstr(body, "ip");
	struct worker *w;

	if (!id || !id_is_uuid(id) || !tok || strlen(tok) > ID_UUID_LEN) {
		log_warn("front %s: open without a valid worker id", f->ident);
		return NULL;
	}
	if ((w = reg_worker_find(r, id))) {
		if (w->front == f && w->conn_id == conn_id)
			return w;	/* a replay of what we know */
		reg_worker_close(r, w);
	}
	w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	snprintf(w->id, sizeof w->id, "%s", id);
	snprintf(w->token, sizeof w->token, "%s", tok);
	snprintf(w->ip, sizeof w->ip, "%s", ip ? ip : "");
	w->front = f;
	w->conn_id = conn_id;
	w->connected_at_ms = router_now_ms();
	hmap_init(&w->inv_in);
	hmap_init(&w->inv_out);
	w->fns = lh_kchar_table_new(16, nofree);
	w->trigs = lh_kchar_table_new(16, nofree);
	w->tts = lh_kchar_table_new(4, nofree);
	w->acl = json_object_get(jget(body, "acl"));
	lh_table_insert(r->workers, w->id, w);
	lh_table_insert(f->workers, (void *)(uintptr_t)conn_id, w);
	reg_fire_workers_available(r, "worker_connected", w);
	return w;
}

void reg_worker_close(struct router *r, struct worker *w)
{
	struct lh_entry *e, *tmp;
	char id[ID_UUID_LEN + 1];

	log_debug("worker %s: cleaning up", w->id);
	/* 1. functions it owns */
	lh_foreach_safe(w->fns, e, tmp)
		function_drop_provider(r, (struct function *)lh_entry_v(e), w);
	lh_table_free(w->fns);
	w->fns = NULL;
	/* 2. calls it serves fail, calls it waits for lose their caller */
	inv_worker_gone(r, w);
	/* 2b. byte channels it created go (their sockets are closed) */
	chan_worker_gone(r, w->id);
	/* 3. triggers it registered go, and are unregistered at their provider */
	lh_foreach_safe(w->trigs, e, tmp)
		reg_trigger_remove(r, ((struct trigger *)lh_entry_v(e))->id);
	/* 4. trigger types it provides go; their bindings wait for a new provider */
	lh_foreach_safe(w->tts, e, tmp) {
		struct trigtype *tt = (struct trigtype *)lh_entry_v(e);
		lh_table_delete(w->tts, tt->id);
		trigtype_free(r, tt);
	}
	lh_table_delete(r->workers, w->id);
	lh_table_delete(w->front->workers, (void *)(uintptr_t)w->conn_id);
	snprintf(id, sizeof id, "%s", w->id);
	lh_table_free(w->trigs);
	lh_table_free(w->tts);
	hmap_free(&w->inv_in);
	hmap_free(&w->inv_out);
	json_object_put(w->meta);
	json_object_put(w->acl);
	free(w);
	/* 5. tell whoever listens */
	{
		struct worker gone;
		memset(&gone, 0, sizeof gone);
		snprintf(gone.id, sizeof gone.id, "%s", id);
		reg_fire_workers_available(r, "worker_disconnected", &gone);
	}
}

/*
 * max_registrations_per_worker: a worker holding that many functions,
 * triggers and trigger types gets a new trigger refused with
 * triggerregistrationresult, and is disconnected (1008, with the reason) for
 * a new function or trigger type, which have no answer message. Replacing
 * what it already registered is always allowed. 1 when msg was refused.
 */
static int reg_over_limit(struct router *r, struct worker *w, const char *type, json_object *msg)
{
	const char *id = jstr(msg, "id");
	struct lh_table *t;
	char m[160];

	if (strcmp(type, "registerfunction") == 0)
		t = w->fns;
	else if (strcmp(type, "registertrigger") == 0)
		t = w->trigs;
	else if (strcmp(type, "registertriggertype") == 0)
		t = w->tts;
	else
		return 0;
	if (!id || lh_table_lookup_entry(t, id) ||
	    (size_t)lh_table_length(w->fns) + (size_t)lh_table_length(w->trigs) +
	    (size_t)lh_table_length(w->tts) < (size_t)r->cfg->max_registrations_per_worker)
		return 0;
	snprintf(m, sizeof m, "max_registrations_per_worker (%d) reached: '%s' refused",
		 r->cfg->max_registrations_per_worker, id);
	log_warn("worker %s: %s", w->id, m);
	if (t == w->trigs) {
		struct trigger tmp = { .id = (char *)id, .type = (char *)(jstr(msg, "trigger_type") ? jstr(msg, "trigger_type") : ""),
				       .function_id = (char *)(jstr(msg, "function_id") ? jstr(msg, "function_id") : ""),
				       .owner = w };
		trigger_reject(r, &tmp, "too_many_registrations", m);
		return 1;
	}
	router_kick(r, w, 1008, m);
	reg_worker_close(r, w);
	return 1;
}

static void on_regtrig(struct router *r, struct worker *w, json_object *msg)
{
	char err[512];
	const char *id = jstr(msg, "id");
	const char *type = jstr(msg, "trigger_type");
	const char *fn = jstr(msg, "function_id");

	if (reg_trigger_add(r, w, id, type, fn, jget(msg, "config"), jget(msg, "metadata"),
			    err, sizeof err) < 0) {
		struct trigger tmp = { .id = (char *)id, .type = (char *)type,
				       .function_id = (char *)fn, .owner = w };
		trigger_reject(r, &tmp, "trigger_registration_failed", err);
	}
}

/* A provider's answer to a forwarded registertrigger: errors go to the owner. */
static void on_trigresult(struct router *r, struct worker *w, json_object *msg)
{
	struct trigger *t = trigger_find(r, jstr(msg, "id"));
	json_object *err = jget(msg, "error");

	if (!t || !t->active_on || t->active_on->provider != w || !err ||
	    json_object_is_type(err, json_type_null))
		return;
	log_info("trigger %s rejected by its provider %s", t->id, w->id);
	if (t->owner) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "type", json_object_new_string("triggerregistrationresult"));
		json_object_object_add(o, "id", json_object_new_string(t->id));
		json_object_object_add(o, "trigger_type", json_object_new_string(t->type));
		json_object_object_add(o, "function_id", json_object_new_string(t->function_id));
		json_object_object_add(o, "error", json_object_get(err));
		router_send_json(r, t->owner, o);
		json_object_put(o);
	}
}

/*
 * reattach: the SDK reconnected and proves it is the same worker. The old
 * connection is retired completely before the replayed registrations, which
 * follow on the new connection, are applied.
 */
static void on_reattach(struct router *r, struct worker *w, json_object *msg)
{
	struct worker *old = reg_worker_find(r, jstr(msg, "previous_worker_id"));
	const char *tok = jstr(msg, "reattach_token");

	if (!old || old == w || !tok || strcmp(old->token, tok) != 0) {
		log_debug("worker %s: reattach ignored (unknown worker or wrong token)", w->id);
		return;
	}
	log_info("worker %s reattached as %s: retiring the old connection", old->id, w->id);
	router_kick(r, old, 1000, "replaced by a reattached connection");
	reg_worker_close(r, old);
}

void reg_on_message(struct router *r, struct worker *w, json_object *msg,
		    const char *raw, size_t raw_len)
{
	const char *type = jstr(msg, "type");

	if (!type)
		return;
	if (reg_over_limit(r, w, type, msg))
		return;
	if (strcmp(type, "invokefunction") == 0) {
		char why[256];
		/* a forbidden call goes to inv_start, which answers FORBIDDEN */
		if ((!w->acl || wauth_check(w->acl, jstr(msg, "function_id") ? jstr(msg, "function_id") : "",
					    why, sizeof why)) &&
		    topics_on_invoke(r, w, msg))
			return;	/* action enqueue: answered after commit */
		json_object *action = jget(msg, "action");
		const char *at = action ? jstr(action, "type") : NULL;
		const char *id = jstr(msg, "invocation_id");
		inv_start(r, w, id, id && !(at && strcmp(at, "void") == 0),
			  jstr(msg, "function_id"), jget(msg, "data"), msg, NULL, NULL);
	} else if (strcmp(type, "invocationresult") == 0) {
		inv_on_result(r, w, msg, raw, raw_len);
	} else if (strcmp(type, "registerfunction") == 0) {
		on_regfn(r, w, msg);
	} else if (strcmp(type, "unregisterfunction") == 0) {
		on_unregfn(r, w, msg);
	} else if (strcmp(type, "registertrigger") == 0) {
		on_regtrig(r, w, msg);
	} else if (strcmp(type, "unregistertrigger") == 0) {
		reg_trigger_remove(r, jstr(msg, "id"));
	} else if (strcmp(type, "registertriggertype") == 0) {
		on_regtt(r, w, msg);
	} else if (strcmp(type, "unregistertriggertype") == 0) {
		on_unregtt(r, w, msg);
	} else if (strcmp(type, "triggerregistrationresult") == 0) {
		on_trigresult(r, w, msg);
	} else if (strcmp(type, "reattach") == 0) {
		on_reattach(r, w, msg);
	}
}

/* ---- engine::workers-available ---------------------------------------- */

static int wa_add(struct router *r, struct trigger *t, char *err, size_t errlen)
{
	(void)r; (void)t; (void)err; (void)errlen;
	return 0;
}

static void wa_remove(struct router *r, struct trigger *t)
{
	(void)r; (void)t;
}

static const struct trigkind workers_available = {
	"engine::workers-available", "Fires when a worker connects or disconnects",
	wa_add, wa_remove,
};

void reg_fire_workers_available(struct router *r, const char *event, const struct worker *w)
{
	struct lh_entry *e;
	struct trigtype *tt = trigtype_find(r, workers_available.type);

	if (!tt)
		return;
	lh_foreach(r->triggers, e) {
		struct trigger *t = (struct trigger *)lh_entry_v(e);
		if (t->active_on != tt)
			continue;
		json_object *d = json_object_new_object();
		json_object_object_add(d, "event", json_object_new_string(event));
		json_object_object_add(d, "worker_id", json_object_new_string(w->id));
		inv_start(r, NULL, NULL, 0, t->function_id, d, NULL, NULL, NULL);
		json_object_put(d);
	}
}

static void free_trigger_entry(struct lh_entry *e)
{
	trigger_free((struct trigger *)lh_entry_v(e));
}

void reg_free(struct router *r)
{
	struct lh_entry *e, *tmp;

	/* workers first: they unwind functions, calls and bindings */
	lh_foreach_safe(r->workers, e, tmp)
		reg_worker_close(r, (struct worker *)lh_entry_v(e));
	lh_foreach_safe(r->trigtypes, e, tmp) {
		struct trigtype *tt = (struct trigtype *)lh_entry_v(e);
		trigtype_free(r, tt);
	}
	lh_table_free(r->trigtypes);
	lh_foreach(r->triggers, e)
		free_trigger_entry(e);
	lh_table_free(r->triggers);
	lh_table_free(r->functions);
	lh_table_free(r->workers);
}

void reg_builtin_kinds(struct router *r);
void reg_builtin_kinds(struct router *r)
{
	reg_trigkind_add(r, &workers_available);
}
