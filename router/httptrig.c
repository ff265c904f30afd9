#include "httptrig.h"
#include "builtin.h"
#include "chan_wire.h"
#include "channels.h"
#include "hmap.h"
#include "http_route.h"
#include "inv.h"
#include "log.h"
#include "reg.h"
#include "wire.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One http binding (t->state). Inactive once a newer route took its method + path. */
struct hroute {
	struct trigger *t;
	int method;
	char *tmpl;
	char *condition;		/* condition_function_id or NULL */
	json_object *middleware;	/* array of function ids, or NULL */
	json_object *meta_msg;		/* {"metadata": ...} for inv_start, or NULL */
	int active;
	struct hroute *prev, *next;
};

/* One request in its chain: condition, middleware..., function. */
struct hreq {
	char front[64];
	uint64_t id;
	char *function_id;
	char *condition;
	json_object *middleware;
	json_object *meta_msg;
	json_object *req;		/* the request object from the broker */
	size_t stage;			/* 0 = condition, 1..n = middleware, n+1 = function */
	char body_ch[ID_UUID_LEN + 1];	/* request_body channel id, "" = none */
	char resp_ch[ID_UUID_LEN + 1];	/* response channel id, "" = none */
	struct event *wait;		/* null result: waiting for a response writer */
	struct hreq *prev, *next;
};

static struct {
	struct router *r;
	struct http_routes *rt;
	struct hmap by_trigger;		/* trigger id -> active struct hroute * */
	struct hroute *routes;		/* every binding, active or not */
	struct hreq *reqs;		/* requests in their chain */
	struct event *push;		/* coalesces table changes into one push */
	int closing;
} H;

/* Intrusive doubly linked lists (prev/next fields): push front, unlink. */
#define LIST_ADD(head, x) do {						\
		(x)->prev = NULL;					\
		(x)->next = (head);					\
		if (head)						\
			(head)->prev = (x);				\
		(head) = (x);						\
	} while (0)
#define LIST_DEL(head, x) do {						\
		if ((x)->prev)						\
			(x)->prev->next = (x)->next;			\
		else							\
			(head) = (x)->next;				\
		if ((x)->next)						\
			(x)->next->prev = (x)->prev;			\
	} while (0)

/* ---- the route table --------------------------------------------------- */

static char *table_json(size_t *len)
{
	json_object *a = json_object_new_array();
	const char *s;
	char *out;

	for (struct hroute *h = H.routes; h; h = h->next) {
		if (!h->active)
			continue;
		json_object *e = json_object_new_array();
		json_object_array_add(e, json_object_new_string(http_method_name(h->method)));
		json_object_array_add(e, json_object_new_string(h->tmpl));
		json_object_array_add(e, json_object_new_string(h->t->id));
		json_object_array_add(a, e);
	}
	s = json_object_to_json_string_length(a, JSON_FLAGS, len);
	out = s ? strndup(s, *len) : NULL;
	json_object_put(a);
	return out;
}

/* Only brokers (idents "b...") serve HTTP; other fronts never see the table. */
static int is_broker(const struct front *f)
{
	return f->ident_len > 0 && f->ident[0] == 'b';
}

static void push_now(evutil_socket_t fd, short what, void *arg)
{
	struct router *r = arg;
	struct lh_entry *e;
	size_t len;
	char *body = table_json(&len);

	(void)fd;
	(void)what;
	if (!body)
		return;
	lh_foreach(r->fronts, e) {
		struct front *f = (struct front *)lh_entry_v(e);
		if (is_broker(f))
			router_wire(r, f, "routes", 0, body, len, NULL, 0);
	}
	free(body);
}

/* A burst of registrations (up to a whole receive batch) costs one push. */
static void push_later(void)
{
	if (H.push && !H.closing)
		event_active(H.push, EV_TIMEOUT, 0);
}

static void on_hello(struct router *r, struct front *f, struct wire_msg *m)
{
	size_t len;
	char *body;

	(void)m;
	if (!is_broker(f))
		return;
	body = table_json(&len);
	if (body)
		router_wire(r, f, "routes", 0, body, len, NULL, 0);
	free(body);
}

static json_object *jget(json_object *o, const char *k)
{
	json_object *v;
	return o && json_object_object_get_ex(o, k, &v) ? v : NULL;
}

static void hroute_free(struct hroute *h)
{
	free(h->tmpl);
	free(h->condition);
	json_object_put(h->middleware);
	json_object_put(h->meta_msg);
	free(h);
}

static int http_add(struct router *r, struct trigger *t, char *err, size_t errlen)
{
	json_object *c = t->config, *v;
	const char *path, *ms = "GET";
	struct hroute *h, *old = NULL;
	char canon[1024];
	int method;

	(void)r;
	if (!c || !json_object_is_type(c, json_type_object) ||
	    !(v = jget(c, "api_path")) || !json_object_is_type(v, json_type_string)) {
		snprintf(err, errlen, "api_path is required");
		return -1;
	}
	path = json_object_get_string(v);
	if (http_route_canon(path, canon, sizeof canon, err, errlen) < 0)
		return -1;
	if ((v = jget(c, "http_method")) && !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_string)) {
			snprintf(err, errlen, "http_method must be a string");
			return -1;
		}
		ms = json_object_get_string(v);
	}
	if ((method = http_method_parse(ms)) < 0) {
		snprintf(err, errlen, "Unsupported http_method '%s' (GET, POST, PUT, DELETE, PATCH, "
			 "HEAD or OPTIONS)", ms);
		return -1;
	}
	h = calloc(1, sizeof *h);
	if (!h || !(h->tmpl = strdup(canon))) {
		free(h);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	h->t = t;
	h->method = method;
	if ((v = jget(c, "condition_function_id")) && json_object_is_type(v, json_type_string) &&
	    json_object_get_string_len(v) > 0)
		h->condition = strdup(json_object_get_string(v));
	if ((v = jget(c, "middleware_function_ids")) && !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_array)) {
			hroute_free(h);
			snprintf(err, errlen, "middleware_function_ids must be an array of function ids");
			return -1;
		}
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_string)) {
				hroute_free(h);
				snprintf(err, errlen, "middleware_function_ids must be an array of function ids");
				return -1;
			}
		}
		if (json_object_array_length(v) > 0)
			h->middleware = json_object_get(v);
	}
	if (t->metadata) {
		h->meta_msg = json_object_new_object();
		json_object_object_add(h->meta_msg, "metadata", json_object_get(t->metadata));
	}
	switch (http_routes_add(H.rt, method, canon, h, (void **)&old, err, errlen)) {
	case -1:
		hroute_free(h);
		return -1;
	case 1:
		/* same method and path: the newest binding wins (the reference's last-wins) */
		old->active = 0;
		hmap_del(&H.by_trigger, old->t->id);
		log_info("http: %s %s now served by trigger %s (was %s)", http_method_name(method),
			 canon, t->id, old->t->id);
		break;
	default:
		break;
	}
	h->active = 1;
	hmap_put(&H.by_trigger, t->id, h);
	LIST_ADD(H.routes, h);
	t->state = h;
	log_debug("http: %s %s -> %s", http_method_name(method), canon, t->function_id);
	push_later();
	return 0;
}

static void http_remove(struct router *r, struct trigger *t)
{
	struct hroute *h = t->state;

	(void)r;
	if (!h)
		return;
	if (h->active) {
		http_routes_remove(H.rt, h->method, h->tmpl, h);
		hmap_del(&H.by_trigger, t->id);
	}
	LIST_DEL(H.routes, h);
	hroute_free(h);
	t->state = NULL;
	push_later();
	if (H.closing && !H.routes)
		http_routes_free(&H.rt);
}

static const struct trigkind http_kind = {
	"http", "HTTP requests on http_port call the function",
	http_add, http_remove,
};

/* ---- requests ---------------------------------------------------------- */

static void hreq_free(struct hreq *q)
{
	struct chan *c;

	if (q->wait) {
		event_free(q->wait);
		if ((c = chan_find(q->resp_ch)))
			chan_on_writer(c, NULL, NULL);
	}
	LIST_DEL(H.reqs, q);
	free(q->function_id);
	free(q->condition);
	json_object_put(q->middleware);
	json_object_put(q->meta_msg);
	json_object_put(q->req);
	free(q);
}

/* Answer the broker that holds the request, then forget it. */
static void finish(struct router *r, struct hreq *q, json_object *body)
{
	void *v;
	size_t len;
	const char *s = json_object_to_json_string_length(body, JSON_FLAGS, &len);

	struct chan *c;

	if (lh_table_lookup_ex(r->fronts, q->front, &v))
		router_wire(r, (struct front *)v, "httpres", q->id, s, len, NULL, 0);
	/* the answer is the function's: its channels are done (a pair: one drop) */
	if ((c = chan_find(q->body_ch)) || (c = chan_find(q->resp_ch)))
		chan_drop(r, c);
	hreq_free(q);
}

static void finish_error(struct router *r, struct hreq *q, int status, const char *code,
			 const char *message, int skipped)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "s", json_object_new_int(status));
	json_object_object_add(o, "code", json_object_new_string(code));
	json_object_object_add(o, "message", json_object_new_string(message));
	if (skipped)
		json_object_object_add(o, "skipped", json_object_new_boolean(1));
	finish(r, q, o);
	json_object_put(o);
}

/* A function's error becomes 500 with its code and message (§4.4). */
static void finish_fn_error(struct router *r, struct hreq *q, json_object *error)
{
	json_object *c = jget(error, "code"), *m = jget(error, "message");
	finish_error(r, q, 500, c && json_object_is_type(c, json_type_string) ?
		     json_object_get_string(c) : "INTERNAL_ERROR",
		     m && json_object_is_type(m, json_type_string) ?
		     json_object_get_string(m) : "internal server error", 0);
}

static void step(struct router *r, struct hreq *q);

static void on_condition(struct router *r, void *arg, json_object *result, json_object *error)
{
	struct hreq *q = arg;

	if (error) {
		finish_fn_error(r, q, error);
		return;
	}
	/* only a literal false skips; null or anything else passes */
	if (result && json_object_is_type(result, json_type_boolean) &&
	    !json_object_get_boolean(result)) {
		finish_error(r, q, 422, "CONDITION_NOT_MET", "Request condition not met", 1);
		return;
	}
	q->stage++;
	step(r, q);
}

static void on_middleware(struct router *r, void *arg, json_object *result, json_object *error)
{
	struct hreq *q = arg;
	json_object *a, *resp;

	if (error) {
		finish_fn_error(r, q, error);
		return;
	}
	a = jget(result, "action");
	if (a && json_object_is_type(a, json_type_string) &&
	    strcmp(json_object_get_string(a), "respond") == 0) {
		json_object *o = json_object_new_object();
		resp = jget(result, "response");
		json_object_object_add(o, "r", resp ? json_object_get(resp) : NULL);
		finish(r, q, o);
		json_object_put(o);
		return;
	}
	q->stage++;
	step(r, q);
}

/* The response writer attached: the channel's end will answer the request. */
static void on_writer(struct router *r, void *arg)
{
	(void)r;
	hreq_free(arg);
}

/* No response writer came: the function's null result is the answer (200 {}). */
static void on_wait_over(evutil_socket_t fd, short what, void *arg)
{
	struct hreq *q = arg;
	json_object *o = json_object_new_object();

	(void)fd;
	(void)what;
	json_object_object_add(o, "r", NULL);
	finish(H.r, q, o);
	json_object_put(o);
}

/*
 * A function that streams its response (the SDK's http() helper) returns
 * nothing, and its response socket may connect after its result arrived:
 * with a null result, wait up to http_stream_wait_ms for the writer. Once a
 * writer is attached, or a binary chunk went out, the channel's end answers
 * the request (the front writes status, headers and chunks as they come).
 */
static int hand_to_stream(struct router *r, struct hreq *q, json_object *result)
{
	struct chan *c = q->resp_ch[0] ? chan_find(q->resp_ch) : NULL;
	int is_null = !result || json_object_is_type(result, json_type_null);
	struct timeval tv;

	if (!c)
		return 0;
	if (chan_streaming(c) || (is_null && chan_writer_seen(c))) {
		hreq_free(q);
		return 1;
	}
	if (!is_null || r->cfg->http_stream_wait_ms <= 0)
		return 0;
	q->wait = evtimer_new(r->base, on_wait_over, q);
	if (!q->wait)
		return 0;
	tv.tv_sec = (time_t)(r->cfg->http_stream_wait_ms / 1000);
	tv.tv_usec = (suseconds_t)(r->cfg->http_stream_wait_ms % 1000) * 1000;
	evtimer_add(q->wait, &tv);
	chan_on_writer(c, on_writer, q);
	return 1;
}

static void on_function(struct router *r, void *arg, json_object *result, json_object *error)
{
	struct hreq *q = arg;
	json_object *o;

	if (error) {
		finish_fn_error(r, q, error);
		return;
	}
	if (hand_to_stream(r, q, result))
		return;
	o = json_object_new_object();
	json_object_object_add(o, "r", result ? json_object_get(result) : NULL);
	finish(r, q, o);
	json_object_put(o);
}

/* The middleware's view of the request: no body (§4.4). */
static json_object *middleware_input(json_object *req)
{
	static const char *const keep[] = { "path_params", "query_params", "headers", "method" };
	json_object *o = json_object_new_object(), *rq = json_object_new_object();

	for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
		json_object *v = jget(req, keep[i]);
		if (v)
			json_object_object_add(rq, keep[i], json_object_get(v));
	}
	json_object_object_add(o, "phase", json_object_new_string("preHandler"));
	json_object_object_add(o, "request", rq);
	json_object_object_add(o, "context", json_object_new_object());
	return o;
}

/*
 * The function (not the condition or middleware) gets the two byte channels
 * of §4.2: request_body (the front feeds the body when a reader attaches)
 * and response (the front is its reader). Both ends on the front are the
 * request id with CHAN_HTTP_BIT. Without them the call still runs.
 */
static void add_channels(struct router *r, struct hreq *q)
{
	struct chan *body, *resp;
	void *f;

	if (!lh_table_lookup_ex(r->fronts, q->front, &f))
		return;
	body = chan_create(r, NULL, 64);
	resp = chan_create(r, NULL, 64);
	if (!body || !resp) {
		if (body)
			chan_drop(r, body);
		if (resp)
			chan_drop(r, resp);
		return;
	}
	chan_pair(body, resp);
	chan_bind_front(body, CHAN_WRITE, f, q->id | CHAN_HTTP_BIT);
	chan_bind_front(resp, CHAN_READ, f, q->id | CHAN_HTTP_BIT);
	snprintf(q->body_ch, sizeof q->body_ch, "%s", chan_id(body));
	snprintf(q->resp_ch, sizeof q->resp_ch, "%s", chan_id(resp));
	json_object_object_add(q->req, "request_body", chan_ref(body, CHAN_READ));
	json_object_object_add(q->req, "response", chan_ref(resp, CHAN_WRITE));
}

/*
 * Run the next stage. inv_start may call the done callback before it
 * returns, so nothing touches q after starting a call.
 */
static void step(struct router *r, struct hreq *q)
{
	size_t nmw = q->middleware ? json_object_array_length(q->middleware) : 0;
	struct function *fn;

	if (q->stage == 0) {
		if (!q->condition) {
			q->stage++;
			step(r, q);
			return;
		}
		inv_start(r, NULL, NULL, 0, q->condition, q->req, q->meta_msg, on_condition, q);
		return;
	}
	if (q->stage <= nmw) {
		json_object *in = middleware_input(q->req);
		const char *id = json_object_get_string(json_object_array_get_idx(q->middleware,
										   q->stage - 1));
		inv_start(r, NULL, NULL, 0, id, in, q->meta_msg, on_middleware, q);
		json_object_put(in);
		return;
	}
	fn = reg_function_find(r, q->function_id);
	if ((!fn || fn->nprov == 0) && !builtin_call(r, NULL, q->function_id, NULL, NULL, NULL)) {
		char m[512];
		snprintf(m, sizeof m, "No worker serves %s", q->function_id);
		finish_error(r, q, 503, "function_not_found", m, 0);
		return;
	}
	add_channels(r, q);
	inv_start(r, NULL, NULL, 0, q->function_id, q->req, q->meta_msg, on_function, q);
}

/* "http" from a broker: header = request id, key = trigger id, body = request object. */
static void on_http(struct router *r, struct front *f, struct wire_msg *m)
{
	char tid[256];
	struct hroute *h;
	struct hreq *q;
	json_tokener *tok;

	if (m->nids != 1 || m->key_len == 0 || m->key_len >= sizeof tid ||
	    f->ident_len >= sizeof q->front)
		return;
	memcpy(tid, m->key, m->key_len);
	tid[m->key_len] = '\0';
	q = calloc(1, sizeof *q);
	if (!q)
		return;
	memcpy(q->front, f->ident, f->ident_len);
	q->id = wire_id(m, 0);
	LIST_ADD(H.reqs, q);
	h = hmap_get(&H.by_trigger, tid);
	if (!h) {
		/* the route went away between the broker's match and now */
		finish_error(r, q, 404, "NOT_FOUND", "Not Found", 0);
		return;
	}
	tok = json_tokener_new_ex(r->cfg->max_json_depth + 4);
	q->req = tok ? json_tokener_parse_ex(tok, m->body, (int)m->body_len) : NULL;
	if (tok)
		json_tokener_free(tok);
	q->function_id = strdup(h->t->function_id);
	q->condition = h->condition ? strdup(h->condition) : NULL;
	q->middleware = json_object_get(h->middleware);
	q->meta_msg = json_object_get(h->meta_msg);
	if (!q->req || !q->function_id || (h->condition && !q->condition)) {
		finish_error(r, q, 500, "INTERNAL_ERROR", "internal server error", 0);
		return;
	}
	step(r, q);
}

void httptrig_init(struct router *r)
{
	memset(&H, 0, sizeof H);
	H.r = r;
	H.rt = http_routes_new();
	hmap_init(&H.by_trigger);
	H.push = event_new(r->base, -1, 0, push_now, r);
	if (!H.rt || !H.push)
		abort();	/* start-up allocation */
	reg_trigkind_add(r, &http_kind);
	router_on_kind("http", on_http);
	router_on_kind("hello", on_hello);
}

/*
 * Requests in flight are dropped (their calls are gone with inv_free_all).
 * Bindings are removed later by reg_free through http_remove, which frees
 * the table with the last one.
 */
void httptrig_free(struct router *r)
{
	(void)r;
	while (H.reqs)
		hreq_free(H.reqs);
	if (H.push)
		event_free(H.push);
	H.push = NULL;
	H.closing = 1;
	hmap_free(&H.by_trigger);
	if (!H.routes)
		http_routes_free(&H.rt);
}
