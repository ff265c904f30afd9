#include "http_front.h"
#include "broker.h"
#include "chan_wire.h"
#include "hmap.h"
#include "http_map.h"
#include "http_route.h"
#include "ids.h"
#include "log.h"
#include "wire.h"
#include "zsock.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zmq.h>

#define JFLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

struct route {
	int method;
	char *tmpl;
	char *trigger_id;
};

struct table {
	struct http_routes *rt;
	struct route *routes;
	size_t n;
};

/* One request waiting for the router's answer. */
struct hpend {
	char key[20];			/* request id in hex: the pending-table key */
	uint64_t id;
	struct evhttp_request *req;	/* NULL once the client connection is gone */
	struct evhttp_connection *evcon;
	char origin_ok[256];		/* Access-Control-Allow-Origin to send, "" = none */
	struct event *timer;
	struct http_front *h;

	/* byte channels (§4.2), only for functions that use them */
	int started;			/* streaming: reply_start sent, the timer is off */
	int status;			/* set_status, 0 = 200 */
	json_object *hdrs;		/* set_headers, NULL = none */
	char resp_ch[CHAN_ID_MAX + 1];	/* response channel, once seen */
	char body_ch[CHAN_ID_MAX + 1];	/* request-body channel, once a reader asked */
	int64_t credit;			/* body chunks we may still feed */
	int body_done;
	unsigned unacked;		/* response chunks not yet written out */
	struct hpend *snext, *sprev;	/* the streaming list */
};

struct http_front {
	struct broker *b;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct table tab;
	struct hmap pending;		/* key -> struct hpend * */
	uint64_t next_id;
	const struct timeval *timeout;	/* common timeout: http_timeout_ms */
	struct hpend *streams;		/* requests answering with a streamed body */
	int cors_any_origin, cors_any_method;
	unsigned long status_count[600];	/* answers by status, for /metrics */
};

static void table_clear(struct table *t)
{
	http_routes_free(&t->rt);
	for (size_t i = 0; i < t->n; i++) {
		free(t->routes[i].tmpl);
		free(t->routes[i].trigger_id);
	}
	free(t->routes);
	memset(t, 0, sizeof *t);
}

/* ---- CORS ------------------------------------------------------------- */

/* 1 if item is in the comma-separated list (case-insensitive, spaces ignored). */
static int list_has(const char *list, const char *item)
{
	size_t n = strlen(item);
	const char *p = list;

	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		const char *e = p;
		while (*e && *e != ',')
			e++;
		const char *t = e;
		while (t > p && t[-1] == ' ')
			t--;
		if ((size_t)(t - p) == n && strncasecmp(p, item, n) == 0)
			return 1;
		p = e;
	}
	return 0;
}

/* Access-Control-Allow-Origin for a request's Origin, "" when not allowed. */
static void cors_origin(struct http_front *h, const char *origin, char *out, size_t len)
{
	out[0] = '\0';
	if (!origin)
		return;
	if (h->cors_any_origin)
		snprintf(out, len, "*");
	else if (list_has(h->b->cfg->http_cors_origins, origin) && strlen(origin) < len)
		snprintf(out, len, "%s", origin);
}

static void cors_headers(struct evkeyvalq *oh, const char *allow_origin, int any)
{
	if (!allow_origin[0])
		return;
	evhttp_add_header(oh, "Access-Control-Allow-Origin", allow_origin);
	if (!any)
		evhttp_add_header(oh, "Vary", "Origin");
	evhttp_add_header(oh, "Access-Control-Expose-Headers", "*");
}

/* A CORS preflight is answered here, before routing (as the reference's CORS layer does). */
static void cors_preflight(struct http_front *h, struct evhttp_request *req, const char *origin,
			   const char *want_method)
{
	struct evkeyvalq *ih = evhttp_request_get_input_headers(req);
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
	const char *want_headers = evhttp_find_header(ih, "Access-Control-Request-Headers");
	char ao[256];

	cors_origin(h, origin, ao, sizeof ao);
	cors_headers(oh, ao, h->cors_any_origin);
	if (ao[0]) {
		if (h->cors_any_method)
			evhttp_add_header(oh, "Access-Control-Allow-Methods", "*");
		else if (list_has(h->b->cfg->http_cors_methods, want_method))
			evhttp_add_header(oh, "Access-Control-Allow-Methods",
					  h->b->cfg->http_cors_methods);
		/* request headers are always allowed */
		evhttp_add_header(oh, "Access-Control-Allow-Headers", want_headers ? want_headers : "*");
		evhttp_add_header(oh, "Access-Control-Max-Age", "86400");
	}
	evhttp_send_reply(req, 200, NULL, NULL);
}

/* ---- replies ---------------------------------------------------------- */

static void send_body(struct evhttp_request *req, int status, const char *ctype,
		      const char *body, size_t len)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);

	if (ctype)
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
	if (len)
		evbuffer_add(out, body, len);
	evhttp_send_reply(req, status, NULL, NULL);
}

/* The engine's error envelope; 5xx errors carry an error_id to find them in the log. */
static void send_error(struct evhttp_request *req, int status, const char *code, const char *msg,
		       int skipped)
{
	char eid[24];
	size_t len;
	char *body;

	if (status >= 500) {
		snprintf(eid, sizeof eid, "%016" PRIx64, id_random64());
		log_info("http %s: %d %s: %s (error_id %s)", evhttp_request_get_uri(req), status,
			 code, msg, eid);
	}
	body = http_map_error(code, msg, status >= 500 ? eid : NULL, skipped, &len);
	if (!body) {
		evhttp_send_reply(req, 500, NULL, NULL);
		return;
	}
	send_body(req, status, "application/json", body, len);
	free(body);
}

static void chan_msg(struct http_front *h, struct hpend *p, const char *kind, const char *ch,
		     const void *body, size_t len)
{
	uint64_t ep = p->id | CHAN_HTTP_BIT;

	if (wire_send(h->b->zsock, NULL, 0, kind, &ep, 1, body, len, ch, strlen(ch)) < 0)
		log_warn("http: channel %s: could not send '%s' to the router: %s", ch, kind,
			 zmq_strerror(errno));
	zsock_kick(h->b->zw);
}

static void pend_free(struct hpend *p)
{
	struct http_front *h = p->h;

	/* a body nobody finished reading ends here (the request is answered) */
	if (p->body_ch[0] && !p->body_done)
		chan_msg(h, p, "chend", p->body_ch, NULL, 0);
	if (p->started) {
		if (p->sprev)
			p->sprev->snext = p->snext;
		else
			h->streams = p->snext;
		if (p->snext)
			p->snext->sprev = p->sprev;
	}
	json_object_put(p->hdrs);
	hmap_del(&p->h->pending, p->key);
	if (p->timer)
		event_free(p->timer);
	free(p);
}

static void pend_on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct hpend *p = arg;
	char msg[96];

	(void)fd;
	(void)what;
	if (p->req) {
		snprintf(msg, sizeof msg, "Request timed out after %lld ms",
			 (long long)p->h->b->cfg->http_timeout_ms);
		cors_headers(evhttp_request_get_output_headers(p->req), p->origin_ok,
			     p->h->cors_any_origin);
		send_error(p->req, 504, "TIMEOUT", msg, 0);
	}
	pend_free(p);	/* a late answer from the router finds nothing and is dropped */
}

/* The client connection is gone: its requests must not be answered any more. */
static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
	struct http_front *h = arg;
	const char *k;
	void *v;

	for (size_t i = 0; hmap_next(&h->pending, &i, &k, &v);) {
		struct hpend *p = v;
		if (p->evcon == evcon) {
			p->req = NULL;
			p->evcon = NULL;
			/* a stream has no answer left to wait for: stop it, free p soon */
			if (p->started) {
				if (p->resp_ch[0])
					chan_msg(h, p, "chgone", p->resp_ch, NULL, 0);
				if (p->timer)
					event_active(p->timer, EV_TIMEOUT, 0);
			}
		}
	}
}

static void send_mapped(struct evhttp_request *req, json_object *result)
{
	struct http_resp r;
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);

	if (http_map_response(result, &r) < 0) {
		send_error(req, 500, "INTERNAL_ERROR", "internal server error", 0);
		return;
	}
	for (size_t i = 0; i < r.nheaders; i++)
		evhttp_add_header(oh, r.headers[i].name, r.headers[i].val);
	send_body(req, r.status, NULL, r.body, r.body_len);
	http_resp_free(&r);
}

static void on_httpres(struct http_front *h, struct wire_msg *m)
{
	char key[20];
	struct hpend *p;
	json_object *o, *v;
	json_tokener *tok;

	if (m->nids != 1)
		return;
	snprintf(key, sizeof key, "%" PRIx64, wire_id(m, 0));
	p = hmap_get(&h->pending, key);
	if (!p)
		return;		/* timed out already */
	if (p->started)
		return;		/* the response is streaming: its channel's end finishes it */
	if (!p->req) {
		pend_free(p);
		return;
	}
	tok = json_tokener_new_ex(h->b->cfg->max_json_depth + 4);
	o = tok ? json_tokener_parse_ex(tok, m->body, (int)m->body_len) : NULL;
	if (tok)
		json_tokener_free(tok);
	cors_headers(evhttp_request_get_output_headers(p->req), p->origin_ok, h->cors_any_origin);
	if (o && json_object_object_get_ex(o, "r", &v)) {
		send_mapped(p->req, v);
	} else if (o && json_object_object_get_ex(o, "s", &v)) {
		int status = json_object_get_int(v);
		json_object *c = NULL, *msg = NULL, *sk = NULL;
		json_object_object_get_ex(o, "code", &c);
		json_object_object_get_ex(o, "message", &msg);
		json_object_object_get_ex(o, "skipped", &sk);
		send_error(p->req, status >= 400 && status <= 599 ? status : 500,
			   c ? json_object_get_string(c) : "INTERNAL_ERROR",
			   msg ? json_object_get_string(msg) : "internal server error",
			   sk && json_object_get_boolean(sk));
	} else {
		send_error(p->req, 500, "INTERNAL_ERROR", "internal server error", 0);
	}
	json_object_put(o);
	pend_free(p);
}

/* ---- the route table -------------------------------------------------- */

/* The router's whole table replaces ours; a bad table keeps the old one. */
static void on_routes(struct http_front *h, struct wire_msg *m)
{
	json_tokener *tok = json_tokener_new();
	json_object *o = tok && m->body_len ?
		json_tokener_parse_ex(tok, m->body, (int)m->body_len) : json_object_new_array();
	struct table t;
	char err[256];
	size_t n;

	if (tok)
		json_tokener_free(tok);
	memset(&t, 0, sizeof t);
	if (!o || !json_object_is_type(o, json_type_array)) {
		log_warn("http: unparsable route table from the router");
		json_object_put(o);
		return;
	}
	n = json_object_array_length(o);
	t.rt = http_routes_new();
	t.routes = calloc(n ? n : 1, sizeof *t.routes);
	if (!t.rt || !t.routes)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(o, i);
		struct route *r = &t.routes[t.n];
		void *old;
		if (!json_object_is_type(e, json_type_array) || json_object_array_length(e) != 3)
			continue;
		r->method = http_method_parse(json_object_get_string(json_object_array_get_idx(e, 0)));
		r->tmpl = strdup(json_object_get_string(json_object_array_get_idx(e, 1)));
		r->trigger_id = strdup(json_object_get_string(json_object_array_get_idx(e, 2)));
		t.n++;
		if (!r->tmpl || !r->trigger_id)
			goto fail;
		if (http_routes_add(t.rt, r->method, r->tmpl, r, &old, err, sizeof err) < 0)
			log_warn("http: route %s from the router: %s", r->tmpl, err);
	}
	table_clear(&h->tab);
	h->tab = t;
	json_object_put(o);
	log_debug("http: %zu routes", http_routes_count(h->tab.rt));
	return;
fail:
	log_warn("http: out of memory loading the route table");
	table_clear(&t);
	json_object_put(o);
}

/* ---- byte channels ------------------------------------------------------ */

/* Feed the buffered request body into its channel, one chunk per credit. */
static void feed_body(struct http_front *h, struct hpend *p)
{
	struct evbuffer *in;
	char *buf;

	if (!p->req || p->body_done || !p->body_ch[0] || p->credit <= 0)
		return;
	in = evhttp_request_get_input_buffer(p->req);
	buf = malloc(CHAN_CHUNK + 1);
	if (!buf)
		return;
	buf[0] = 'b';
	while (p->credit > 0) {
		size_t n = evbuffer_get_length(in);
		uint64_t ep = p->id | CHAN_HTTP_BIT;
		if (n == 0) {
			chan_msg(h, p, "chend", p->body_ch, NULL, 0);
			p->body_done = 1;
			break;
		}
		if (n > CHAN_CHUNK)
			n = CHAN_CHUNK;
		evbuffer_copyout(in, buf + 1, n);
		if (wire_send(h->b->zsock, NULL, 0, "chd", &ep, 1, buf, n + 1, p->body_ch,
			      strlen(p->body_ch)) < 0) {
			/* router link full: the reader sees the body end early */
			log_warn("http: channel %s: router link full, request body cut", p->body_ch);
			chan_msg(h, p, "chend", p->body_ch, NULL, 0);
			p->body_done = 1;
			break;
		}
		evbuffer_drain(in, n);
		p->credit--;
	}
	zsock_kick(h->b->zw);
	free(buf);
}

/* The response's chunks left our buffer: acknowledge them (back-pressure). */
static void on_chunks_out(struct evhttp_connection *evcon, void *arg)
{
	struct http_front *h = arg;
	char b[16];

	for (struct hpend *p = h->streams; p; p = p->snext) {
		if (p->evcon != evcon || !p->unacked)
			continue;
		int n = snprintf(b, sizeof b, "%u", p->unacked);
		p->unacked = 0;
		chan_msg(h, p, "chack", p->resp_ch, b, (size_t)n);
	}
}

/* The first binary chunk starts the response with the status and headers set so far. */
static void stream_start(struct http_front *h, struct hpend *p)
{
	struct evkeyvalq *oh = evhttp_request_get_output_headers(p->req);

	cors_headers(oh, p->origin_ok, h->cors_any_origin);
	if (p->hdrs) {
		json_object_object_foreach(p->hdrs, k, v) {
			evhttp_remove_header(oh, k);
			if (evhttp_add_header(oh, k, json_object_get_string(v)) < 0)
				log_debug("http: skipped an invalid response header %s", k);
		}
	}
	evhttp_send_reply_start(p->req, p->status ? p->status : 200, NULL);
	p->started = 1;
	if (p->timer)
		evtimer_del(p->timer);
	p->sprev = NULL;
	p->snext = h->streams;
	if (h->streams)
		h->streams->sprev = p;
	h->streams = p;
}

/* The response channel ended (or is gone): finish the answer. */
static void stream_finish(struct http_front *h, struct hpend *p)
{
	if (p->req) {
		if (p->started) {
			evhttp_send_reply_end(p->req);
		} else {
			/* closed before any binary chunk: status and headers, empty body */
			struct evkeyvalq *oh = evhttp_request_get_output_headers(p->req);
			cors_headers(oh, p->origin_ok, h->cors_any_origin);
			if (p->hdrs) {
				json_object_object_foreach(p->hdrs, k, v) {
					evhttp_remove_header(oh, k);
					evhttp_add_header(oh, k, json_object_get_string(v));
				}
			}
			evhttp_send_reply(p->req, p->status ? p->status : 200, NULL, NULL);
		}
	}
	pend_free(p);
}

void http_front_on_chan(struct http_front *h, struct wire_msg *m)
{
	char key[20], ch[CHAN_ID_MAX + 1];
	struct hpend *p;
	const char *k = m->kind;

	if (!h || m->nids != 1 || m->key_len == 0 || m->key_len > CHAN_ID_MAX)
		return;
	memcpy(ch, m->key, m->key_len);
	ch[m->key_len] = '\0';
	snprintf(key, sizeof key, "%" PRIx64, (uint64_t)(wire_id(m, 0) & ~CHAN_HTTP_BIT));
	p = hmap_get(&h->pending, key);
	if (strcmp(k, "chd") == 0) {
		if (!p || !p->req) {
			/* answered already (or the client left): the writer can stop */
			uint64_t ep = wire_id(m, 0);
			wire_send(h->b->zsock, NULL, 0, "chgone", &ep, 1, NULL, 0, ch, strlen(ch));
			zsock_kick(h->b->zw);
			return;
		}
		snprintf(p->resp_ch, sizeof p->resp_ch, "%s", ch);
		if (m->body_len >= 1 && m->body[0] == 't') {
			if (!p->started) {
				if (!p->hdrs)
					p->hdrs = json_object_new_object();
				if (p->hdrs)
					chan_ctl_apply(m->body + 1, m->body_len - 1, &p->status, p->hdrs);
			}
			chan_msg(h, p, "chack", ch, "1", 1);
			return;
		}
		if (m->body_len < 2)
			return;
		if (!p->started)
			stream_start(h, p);
		struct evbuffer *b = evbuffer_new();
		if (!b)
			return;
		evbuffer_add(b, m->body + 1, m->body_len - 1);
		evhttp_send_reply_chunk_with_cb(p->req, b, on_chunks_out, h);
		evbuffer_free(b);
		p->unacked++;
	} else if (strcmp(k, "chcredit") == 0) {
		char nb[16];
		if (!p || !p->req) {
			uint64_t ep = wire_id(m, 0);
			wire_send(h->b->zsock, NULL, 0, "chgone", &ep, 1, NULL, 0, ch, strlen(ch));
			zsock_kick(h->b->zw);
			return;
		}
		if (m->body_len == 0 || m->body_len >= sizeof nb)
			return;
		memcpy(nb, m->body, m->body_len);
		nb[m->body_len] = '\0';
		snprintf(p->body_ch, sizeof p->body_ch, "%s", ch);
		p->credit += atoi(nb);
		feed_body(h, p);
	} else if (strcmp(k, "chend") == 0 || strcmp(k, "chclose") == 0) {
		if (!p)
			return;
		if (p->body_ch[0] && strcmp(ch, p->body_ch) == 0) {
			p->body_done = 1;	/* nobody reads the body any more */
			return;
		}
		/* the response channel: its end answers the request (also before any data) */
		if (k[2] == 'c' && !p->started && !p->resp_ch[0])
			return;		/* dropped with an answer that is on its way */
		stream_finish(h, p);
	}
}

int http_front_on_router(struct http_front *h, struct wire_msg *m)
{
	if (strcmp(m->kind, "httpres") == 0) {
		if (h)
			on_httpres(h, m);
		return 1;
	}
	if (strcmp(m->kind, "routes") == 0) {
		if (h)
			on_routes(h, m);
		return 1;
	}
	return 0;
}

/* ---- requests --------------------------------------------------------- */

static int method_of(enum evhttp_cmd_type c)
{
	switch (c) {
	case EVHTTP_REQ_GET: return HTTP_M_GET;
	case EVHTTP_REQ_POST: return HTTP_M_POST;
	case EVHTTP_REQ_PUT: return HTTP_M_PUT;
	case EVHTTP_REQ_DELETE: return HTTP_M_DELETE;
	case EVHTTP_REQ_PATCH: return HTTP_M_PATCH;
	case EVHTTP_REQ_HEAD: return HTTP_M_HEAD;
	case EVHTTP_REQ_OPTIONS: return HTTP_M_OPTIONS;
	default: return -1;
	}
}

static void send_405(struct evhttp_request *req, unsigned allow)
{
	char list[96] = "";
	size_t o = 0;

	for (int i = 0; i < HTTP_M_COUNT; i++)
		if (allow & (1u << i))
			o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", o ? ", " : "",
					      http_method_name(i));
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", list);
	evhttp_send_reply(req, 405, NULL, NULL);
}

/*
 * Match, build the request object and hand it to the router; the answer
 * comes back as "httpres" (or the timer answers 504 first).
 */
/* Every answer, whatever path sent it, is counted by status once it is out. */
static void on_complete(struct evhttp_request *req, void *arg)
{
	struct http_front *h = arg;
	int st = evhttp_request_get_response_code(req);

	if (st >= 100 && st < 600)
		h->status_count[st]++;
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct http_front *h = arg;

	evhttp_request_set_on_complete_cb(req, on_complete, h);
	struct evkeyvalq *ih = evhttp_request_get_input_headers(req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *origin = evhttp_find_header(ih, "Origin");
	int method = method_of(evhttp_request_get_command(req));
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
	struct http_match hm;
	struct http_kv *hv = NULL;
	size_t nh = 0, cap = 0, len;
	struct evkeyval *kv;
	struct evbuffer *in;
	struct route *rte;
	struct hpend *p;
	json_object *o;
	const char *s;
	char ao[256];
	int rc;

	cors_origin(h, origin, ao, sizeof ao);
	if (method == HTTP_M_OPTIONS && origin) {
		const char *want = evhttp_find_header(ih, "Access-Control-Request-Method");
		if (want) {
			cors_preflight(h, req, origin, want);
			return;
		}
	}
	if (!path || !*path)
		path = "/";
	rc = h->tab.rt ? http_routes_match(h->tab.rt, method, path, strlen(path), &hm) :
		HTTP_ROUTE_NO_PATH;
	if (rc != HTTP_ROUTE_FOUND)
		cors_headers(evhttp_request_get_output_headers(req), ao, h->cors_any_origin);
	if (rc == HTTP_ROUTE_NO_PATH) {
		send_error(req, 404, "NOT_FOUND", "Not Found", 0);
		return;
	}
	if (rc == HTTP_ROUTE_NO_METHOD) {
		send_405(req, hm.allow);
		return;
	}
	rte = hm.value;
	for (kv = ih->tqh_first; kv; kv = kv->next.tqe_next) {
		if (nh == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct http_kv *t = realloc(hv, nc * sizeof *t);
			if (!t)
				goto oom;
			hv = t;
			cap = nc;
		}
		hv[nh].name = kv->key;
		hv[nh].name_len = strlen(kv->key);
		hv[nh].val = kv->value;
		hv[nh].val_len = strlen(kv->value);
		nh++;
	}
	in = evhttp_request_get_input_buffer(req);
	len = evbuffer_get_length(in);
	{
		struct http_req_in ri = {
			.method = http_method_name(method),
			.tmpl = hm.tmpl,
			.params = hm.params,
			.nparams = hm.nparams,
			.query = query,
			.query_len = query ? strlen(query) : 0,
			.headers = hv,
			.nheaders = nh,
			.body = len ? (const char *)evbuffer_pullup(in, -1) : "",
			.body_len = len,
			.max_depth = h->b->cfg->max_json_depth,
		};
		o = http_map_request(&ri);
	}
	free(hv);
	hv = NULL;
	p = calloc(1, sizeof *p);
	if (!o || !p) {
		free(p);
		json_object_put(o);
		goto oom;
	}
	p->h = h;
	p->id = ++h->next_id;
	snprintf(p->key, sizeof p->key, "%" PRIx64, p->id);
	p->req = req;
	p->evcon = evhttp_request_get_connection(req);
	snprintf(p->origin_ok, sizeof p->origin_ok, "%s", ao);
	s = json_object_to_json_string_length(o, JFLAGS, &len);
	if (wire_send(h->b->zsock, NULL, 0, "http", &p->id, 1, s, len, rte->trigger_id,
		      strlen(rte->trigger_id)) < 0) {
		log_warn("http: router link full (%s): 503", zmq_strerror(errno));
		json_object_put(o);
		free(p);
		cors_headers(evhttp_request_get_output_headers(req), ao, h->cors_any_origin);
		send_error(req, 503, "SERVICE_UNAVAILABLE", "The engine is overloaded", 0);
		zsock_kick(h->b->zw);
		return;
	}
	zsock_kick(h->b->zw);
	json_object_put(o);
	if (hmap_put(&h->pending, p->key, p) < 0) {
		free(p);
		goto oom;
	}
	if (p->evcon)
		evhttp_connection_set_closecb(p->evcon, on_conn_close, h);
	p->timer = evtimer_new(h->b->base, pend_on_timeout, p);
	if (p->timer)
		evtimer_add(p->timer, h->timeout);
	return;
oom:
	free(hv);
	cors_headers(evhttp_request_get_output_headers(req), ao, h->cors_any_origin);
	send_error(req, 500, "INTERNAL_ERROR", "internal server error", 0);
}

struct http_front *http_front_new(struct broker *b, int fd)
{
	struct http_front *h = calloc(1, sizeof *h);
	struct timeval tv;
	const struct cfg *cfg = b->cfg;

	if (!h) {
		close(fd);
		return NULL;
	}
	h->b = b;
	hmap_init(&h->pending);
	h->cors_any_origin = strcmp(cfg->http_cors_origins, "*") == 0 || !cfg->http_cors_origins[0];
	h->cors_any_method = strcmp(cfg->http_cors_methods, "*") == 0 || !cfg->http_cors_methods[0];
	tv.tv_sec = (time_t)(cfg->http_timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(cfg->http_timeout_ms % 1000) * 1000;
	/* one shared timeout: libevent keeps these in a queue, O(1) per request */
	h->timeout = event_base_init_common_timeout(b->base, &tv);
	h->http = evhttp_new(b->base);
	if (!h->http)
		goto fail;
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
				   EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH | EVHTTP_REQ_HEAD |
				   EVHTTP_REQ_OPTIONS);
	evhttp_set_max_body_size(h->http, (ev_ssize_t)cfg->http_max_body);
	evhttp_set_max_headers_size(h->http, (ev_ssize_t)cfg->http_max_header);
	evhttp_set_default_content_type(h->http, NULL);
	/*
	 * Idle keep-alive connections and clients that send too slowly are
	 * closed after http_idle_timeout_ms: a limit of its own, longer than
	 * a client's keep-alive reuse window, so that a client never reuses a
	 * connection at the moment the server drops it.
	 */
	tv.tv_sec = (time_t)(cfg->http_idle_timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(cfg->http_idle_timeout_ms % 1000) * 1000;
	evhttp_set_timeout_tv(h->http, &tv);
	evhttp_set_gencb(h->http, on_request, h);
	h->bound = evhttp_accept_socket_with_handle(h->http, fd);
	if (!h->bound) {
		log_error("http: cannot serve on the inherited socket: %s", strerror(errno));
		close(fd);
		goto fail;
	}
	return h;
fail:
	if (h->http)
		evhttp_free(h->http);
	hmap_free(&h->pending);
	free(h);
	return NULL;
}

void http_front_stop(struct http_front *h)
{
	if (h && h->bound) {
		evhttp_del_accept_socket(h->http, h->bound);
		h->bound = NULL;
	}
}

void http_front_free(struct http_front **hp)
{
	struct http_front *h = *hp;
	const char *k;
	void *v;

	if (!h)
		return;
	/* connections first: their close callbacks still look at the pending table */
	evhttp_free(h->http);
	for (size_t i = 0; hmap_next(&h->pending, &i, &k, &v);) {
		struct hpend *p = v;
		if (p->timer)
			event_free(p->timer);
		free(p);
	}
	hmap_free(&h->pending);
	table_clear(&h->tab);
	free(h);
	*hp = NULL;
}

size_t http_front_inflight(const struct http_front *h)
{
	return h ? hmap_len(&h->pending) : 0;
}

/*
 * The router restarted (or gave this broker up): every request waiting for it
 * would otherwise hang until http_timeout_ms. Answer them now, as the
 * reference does for a target that goes away mid-call (500 invocation_stopped);
 * a response already streaming ends where it is.
 */
void http_front_router_lost(struct http_front *h)
{
	size_t n = 0, cap = hmap_len(&h->pending);
	struct hpend **all;
	void *v;

	if (!cap)
		return;
	all = malloc(cap * sizeof *all);
	if (!all)
		return;
	for (size_t i = 0; hmap_next(&h->pending, &i, NULL, &v) && n < cap;)
		all[n++] = v;
	for (size_t i = 0; i < n; i++) {
		struct hpend *p = all[i];
		if (p->started) {
			stream_finish(h, p);
			continue;
		}
		if (p->req) {
			cors_headers(evhttp_request_get_output_headers(p->req), p->origin_ok,
				     h->cors_any_origin);
			send_error(p->req, 500, "invocation_stopped",
				   "Invocation stopped: the engine's router restarted", 0);
		}
		pend_free(p);
	}
	free(all);
}

int http_front_stats(const struct http_front *h, char *buf, size_t len)
{
	size_t n = 0;
	int first = 1;

	if (!h || len < 3)
		return 0;
	buf[n++] = '{';
	for (int st = 100; st < 600; st++) {
		if (!h->status_count[st])
			continue;
		int w = snprintf(buf + n, len - n, "%s\"%d\":%lu", first ? "" : ",", st,
				 h->status_count[st]);
		if (w < 0 || (size_t)w >= len - n - 1)
			break;
		n += (size_t)w;
		first = 0;
	}
	buf[n++] = '}';
	buf[n] = '\0';
	return (int)n;
}
