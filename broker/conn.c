#include "conn.h"
#include "broker.h"
#include "chan_wire.h"
#include "http_front.h"
#include "log.h"
#include "proto.h"
#include "wauth.h"
#include "wire.h"
#include "ws_handshake.h"
#include "zsock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define CLOSE_GRACE_MS 2000

static void conn_on_read(struct bufferevent *bev, void *arg);
static void conn_on_close_timer(evutil_socket_t fd, short what, void *arg);
static void conn_linger(struct conn *c);
static void conn_on_write(struct bufferevent *bev, void *arg);

static void conn_on_event(struct bufferevent *bev, short what, void *arg);

static void kv_free(struct lh_entry *e)
{
	free(lh_entry_k(e));
	free(lh_entry_v(e));
}

static void pending_del(struct conn *c, const char *id)
{
	free(hmap_del(&c->pending, id));
}

static void pending_clear(struct conn *c)
{
	char *k;
	for (size_t i = 0; hmap_next(&c->pending, &i, NULL, (void **)&k);)
		free(k);
	hmap_free(&c->pending);
}

/* Insert or replace key -> copy of value (value NULL: presence only). */
static void kv_put(struct lh_table *t, const char *k, const char *v, size_t vlen)
{
	char *kc, *vc = NULL;

	lh_table_delete(t, k);
	kc = strdup(k);
	if (v) {
		vc = malloc(vlen + 1);
		if (vc) {
			memcpy(vc, v, vlen);
			vc[vlen] = '\0';
		}
	}
	if (!kc || (v && !vc) || lh_table_insert(t, kc, vc) < 0) {
		free(kc);
		free(vc);
	}
}

static void peer_name(const struct sockaddr *sa, char *out, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, host, sizeof host);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, host, sizeof host);
	snprintf(out, len, "%s", host);
}

/* One channel message to the router about this connection (key: channel id). */
static int chan_send(struct conn *c, const char *kind, const void *body, size_t len)
{
	int rc = wire_send(c->b->zsock, NULL, 0, kind, &c->id, 1, body, len, c->ch_id,
			   strlen(c->ch_id));
	if (rc < 0)
		log_warn("conn %llu: channel %s: could not send '%s' to the router: %s",
			 (unsigned long long)c->id, c->ch_id, kind, zmq_strerror(errno));
	zsock_kick(c->b->zw);
	return rc;
}

struct conn *conn_new(struct broker *b, int fd, const struct sockaddr *sa, int salen)
{
	struct conn *c = calloc(1, sizeof *c);
	int one = 1;

	(void)salen;
	if (!c) {
		evutil_closesocket(fd);
		return NULL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->b = b;
	c->id = ++b->next_conn_id;
	c->state = CONN_HANDSHAKE;
	peer_name(sa, c->peer, sizeof c->peer);
	c->bev = bufferevent_socket_new(b->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		evutil_closesocket(fd);
		free(c);
		return NULL;
	}
	bufferevent_setcb(c->bev, conn_on_read, conn_on_write, conn_on_event, c);
	/*
	 * The whole upgrade must arrive within handshake_timeout_ms, however
	 * slowly it trickles in (slowloris): a deadline, not an idle timeout.
	 */
	struct timeval tv = { (time_t)(b->cfg->handshake_timeout_ms / 1000),
			      (suseconds_t)(b->cfg->handshake_timeout_ms % 1000) * 1000 };
	c->close_timer = evtimer_new(b->base, conn_on_close_timer, c);
	if (!c->close_timer) {
		bufferevent_free(c->bev);
		free(c);
		return NULL;
	}
	evtimer_add(c->close_timer, &tv);
	bufferevent_enable(c->bev, EV_READ);
	log_debug("conn %llu: accepted from %s", (unsigned long long)c->id, c->peer);
	return c;
}

static void conn_write_frame(struct conn *c, int opcode, const void *data, size_t len)
{
	uint8_t hdr[10];
	size_t hl = ws_frame_header(hdr, opcode, 1, len);
	struct evbuffer *out = bufferevent_get_output(c->bev);

	evbuffer_add(out, hdr, hl);
	if (len)
		evbuffer_add(out, data, len);
}

/*
 * Output limit: a peer that does not read must not make us hold unbounded
 * memory. Past the limit the connection is dropped without a close frame
 * (it could not be delivered anyway).
 */
static int conn_check_output(struct conn *c)
{
	size_t pending = evbuffer_get_length(bufferevent_get_output(c->bev));
	if (pending > (size_t)c->b->cfg->client_output_limit) {
		log_warn("conn %llu (%s): %zu bytes unsent exceed client_output_limit, closing",
			 (unsigned long long)c->id, c->worker_id, pending);
		evbuffer_drain(bufferevent_get_output(c->bev), pending);
		conn_linger(c);
		return -1;
	}
	return 0;
}

void conn_send_text(struct conn *c, const char *data, size_t len)
{
	if (c->state != CONN_OPEN)
		return;
	conn_write_frame(c, WS_OP_TEXT, data, len);
	conn_check_output(c);
}


/* Stop reading; the connection is freed once the output is flushed. */
static void conn_linger(struct conn *c)
{
	struct timeval tv = { CLOSE_GRACE_MS / 1000, (CLOSE_GRACE_MS % 1000) * 1000 };

	c->state = CONN_CLOSING;
	bufferevent_disable(c->bev, EV_READ);
	if (!c->close_timer)
		c->close_timer = evtimer_new(c->b->base, conn_on_close_timer, c);
	if (!c->close_timer) {
		/* cannot even schedule: drop it at the next read or write event */
		bufferevent_disable(c->bev, EV_WRITE);
		return;
	}
	/* never freed synchronously: callers up the stack still use c */
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		event_active(c->close_timer, EV_TIMEOUT, 0);
	else
		evtimer_add(c->close_timer, &tv);
}

void conn_close(struct conn *c, uint16_t code, const char *reason)
{
	uint8_t payload[125];
	size_t n;

	if (c->state == CONN_CLOSING)
		return;
	if (c->state == CONN_OPEN) {
		n = ws_close_payload(payload, code, reason);
		conn_write_frame(c, WS_OP_CLOSE, payload, n);
	}
	if (code != WS_CLOSE_NORMAL && code != WS_CLOSE_GOING_AWAY)
		log_warn("conn %llu (%s %s): closing with %u: %s", (unsigned long long)c->id,
			 c->peer, c->worker_id, code, reason ? reason : "");
	conn_linger(c);
}

static void conn_http_error(struct conn *c, int status, const char *reason)
{
	char buf[512];
	size_t n = ws_hs_error_response(buf, sizeof buf, status, reason);

	log_info("conn %llu (%s): handshake refused with %d: %s", (unsigned long long)c->id,
		 c->peer, status, reason);
	if (n)
		evbuffer_add(bufferevent_get_output(c->bev), buf, n);
	conn_linger(c);
}

void conn_free(struct conn *c)
{
	struct broker *b = c->b;

	if (c->told_router)
		broker_send(b, "close", c->id, NULL, 0);
	if (c->ch_attached)
		chan_send(c, c->ch_dir == CHAN_WRITE ? "chend" : "chgone", NULL, 0);
	free(c->ch_accept);
	log_debug("conn %llu (%s): closed", (unsigned long long)c->id, c->worker_id);
	if (c->close_timer)
		event_free(c->close_timer);
	bufferevent_free(c->bev);
	if (c->state != CONN_HANDSHAKE)
		ws_decoder_free(&c->dec);
	pending_clear(c);
	if (c->reg_tts)
		lh_table_free(c->reg_tts);
	if (c->reg_fns)
		lh_table_free(c->reg_fns);
	if (c->reg_trigs)
		lh_table_free(c->reg_trigs);
	free(c->announce);
	free(c->acl);
	broker_conn_gone(b, c);
	free(c);
}

/* The "open" body (malloc'd): ids, peer address and the worker_auth verdict if any. */
static char *conn_open_body(struct conn *c)
{
	size_t n = 160 + strlen(c->peer) + (c->acl ? strlen(c->acl) : 0);
	char *buf = malloc(n);

	if (buf)
		snprintf(buf, n, "{\"worker_id\":\"%s\",\"reattach_token\":\"%s\",\"ip\":\"%s\"%s%s}",
			 c->worker_id, c->token, c->peer, c->acl ? ",\"acl\":" : "", c->acl ? c->acl : "");
	return buf;
}

/* The upgrade succeeded on "/": this connection is a worker from now on. */
static void conn_start_worker(struct conn *c)
{
	char buf[256];
	int n;

	id_uuid4(c->worker_id);
	id_uuid4(c->token);
	hmap_init(&c->pending);
	c->reg_tts = lh_kchar_table_new(4, kv_free);
	c->reg_fns = lh_kchar_table_new(16, kv_free);
	c->reg_trigs = lh_kchar_table_new(16, kv_free);
	/* sent first, unprompted (sdk-wire.md §3) */
	n = snprintf(buf, sizeof buf,
		     "{\"type\":\"workerregistered\",\"worker_id\":\"%s\",\"reattach_token\":\"%s\"}",
		     c->worker_id, c->token);
	conn_send_text(c, buf, (size_t)n);
	char *ob = conn_open_body(c);
	if (!ob) {
		conn_close(c, WS_CLOSE_INTERNAL, "out of memory");
		return;
	}
	broker_send(c->b, "open", c->id, ob, strlen(ob));
	free(ob);
	c->told_router = 1;
	log_info("conn %llu: worker %s connected from %s", (unsigned long long)c->id,
		 c->worker_id, c->peer);
}

/*
 * "/ws/channels/<id>?key=&dir=": the router holds the channels, so the
 * upgrade waits for its verdict ("chok" -> 101, "chno" -> 403/404/409)
 * with reading stopped; the handshake deadline still runs.
 */
static int conn_chan_handshake(struct conn *c, struct ws_hs_request *req)
{
	struct chan_url u;
	char resp[256], body[CHAN_KEY_MAX + 3];
	size_t rl;
	int n;

	if (chan_url_parse(req->path, req->query, &u) != CHAN_URL_OK) {
		conn_http_error(c, 400, "channel URL is /ws/channels/<id>?key=<key>&dir=read|write");
		return -1;
	}
	rl = ws_hs_response(resp, sizeof resp, req->key);
	c->ch_accept = malloc(rl ? rl : 1);
	if (!c->ch_accept || !rl) {
		conn_http_error(c, 500, "out of memory");
		return -1;
	}
	memcpy(c->ch_accept, resp, rl);
	c->ch_accept_len = rl;
	c->path = PATH_CHANNEL;
	c->ch_dir = u.dir;
	snprintf(c->ch_id, sizeof c->ch_id, "%s", u.id);
	evbuffer_drain(bufferevent_get_input(c->bev), req->header_bytes);
	bufferevent_disable(c->bev, EV_READ);
	n = snprintf(body, sizeof body, "%c:%s", u.dir == CHAN_READ ? 'r' : 'w', u.key);
	if (chan_send(c, "chatt", body, (size_t)n) < 0) {
		conn_http_error(c, 503, "the engine's router is not reachable");
		return -1;
	}
	sodium_memzero(body, sizeof body);
	return 0;
}

/* The router's verdict on a channel upgrade. */
static void conn_chan_answer(struct conn *c, int ok, int status)
{
	if (c->state != CONN_HANDSHAKE || c->path != PATH_CHANNEL || !c->ch_accept)
		return;
	if (!ok) {
		conn_http_error(c, status, status == 404 ? "no such channel" :
				status == 403 ? "bad channel access key" :
				status == 409 ? "this end of the channel is already connected" :
				"channel refused");
		return;
	}
	evbuffer_add(bufferevent_get_output(c->bev), c->ch_accept, c->ch_accept_len);
	free(c->ch_accept);
	c->ch_accept = NULL;
	ws_decoder_init(&c->dec, (size_t)c->b->cfg->ws_max_frame, (size_t)c->b->cfg->ws_max_message);
	c->state = CONN_OPEN;
	c->ch_attached = 1;
	evtimer_del(c->close_timer);
	/* a writer reads once the router grants credit; a reader reads control frames */
	if (c->ch_dir == CHAN_READ)
		bufferevent_enable(c->bev, EV_READ);
	log_debug("conn %llu: channel %s %s end connected", (unsigned long long)c->id, c->ch_id,
		  c->ch_dir == CHAN_READ ? "read" : "write");
}

/* Send the 101 answer: frames flow from now on. */
static void conn_upgrade(struct conn *c, const char *resp, size_t rl)
{
	evbuffer_add(bufferevent_get_output(c->bev), resp, rl);
	ws_decoder_init(&c->dec, (size_t)c->b->cfg->ws_max_frame, (size_t)c->b->cfg->ws_max_message);
	c->state = CONN_OPEN;
	evtimer_del(c->close_timer);
}

static int conn_auth_ask(struct conn *c, const struct ws_hs_request *req, const char *resp, size_t rl);
static struct conn *conn_find(struct broker *b, uint64_t id);

/* Returns 0 when the connection is still reading, -1 when it is closing. */
static int conn_handshake(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t len = evbuffer_get_length(in);
	size_t max = (size_t)c->b->cfg->handshake_max_bytes;
	size_t n = len > max + 1 ? max + 1 : len;
	const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
	struct ws_hs_request req;
	char resp[256];
	int rc;

	memset(&req, 0, sizeof req);
	rc = ws_hs_parse(p, n, max, &req);
	if (rc == WS_HS_AGAIN)
		return 0;
	if (rc == WS_HS_ERROR) {
		conn_http_error(c, req.err_status, req.err_reason);
		ws_hs_request_free(&req);
		return -1;
	}
	if (strcmp(req.path, "/") == 0) {
		c->path = PATH_WORKER;
	} else if (strcmp(req.path, "/otel") == 0) {
		c->path = PATH_OTEL;
	} else if (strncmp(req.path, "/ws/channels/", 13) == 0) {
		rc = conn_chan_handshake(c, &req);
		ws_hs_request_free(&req);
		return rc;
	} else {
		ws_hs_request_free(&req);
		conn_http_error(c, 404, "no WebSocket endpoint at this path (use / or /otel)");
		return -1;
	}
	size_t rl = ws_hs_response(resp, sizeof resp, req.key);
	int mode = wauth_mode_parse(c->b->cfg->worker_auth);

	evbuffer_drain(in, req.header_bytes);
	/* worker_auth function: a worker with worker_auth_token is trusted (it may provide the function) */
	if (mode == WAUTH_FUNCTION && !(c->b->cfg->worker_auth_token[0] &&
					wauth_token_ok(&req, c->b->cfg->worker_auth_token))) {
		rc = conn_auth_ask(c, &req, resp, rl);
		ws_hs_request_free(&req);
		return rc;
	}
	if (mode == WAUTH_TOKEN && !wauth_token_ok(&req, c->b->cfg->worker_auth_token)) {
		ws_hs_request_free(&req);
		conn_upgrade(c, resp, rl);
		conn_close(c, WAUTH_CLOSE_CODE, "unauthorized: missing or wrong worker token");
		return -1;
	}
	ws_hs_request_free(&req);
	conn_upgrade(c, resp, rl);
	if (c->path == PATH_WORKER)
		conn_start_worker(c);
	return 0;
}

/*
 * worker_auth function: the upgrade waits, with reading stopped, for the
 * router's verdict on {headers, query_params, ip_address}; the worker can
 * send nothing before it, so none of its registrations can take effect if
 * it is refused. The handshake deadline still runs (router gone = refused).
 */
static int conn_auth_ask(struct conn *c, const struct ws_hs_request *req, const char *resp, size_t rl)
{
	json_object *o = wauth_request(req, c->peer);
	const char *s = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : NULL;

	c->ch_accept = malloc(rl ? rl : 1);
	if (!s || !c->ch_accept || !rl) {
		json_object_put(o);
		conn_http_error(c, 500, "out of memory");
		return -1;
	}
	memcpy(c->ch_accept, resp, rl);
	c->ch_accept_len = rl;
	c->auth_wait = 1;
	bufferevent_disable(c->bev, EV_READ);
	if (broker_send(c->b, "wauth", c->id, s, strlen(s)) < 0) {
		json_object_put(o);
		conn_http_error(c, 503, "the engine's router is not reachable");
		return -1;
	}
	json_object_put(o);
	return 0;
}

int conn_auth_on_router(struct broker *b, struct wire_msg *m)
{
	struct conn *c;
	int ok;

	if (strcmp(m->kind, "wauthok") != 0 && strcmp(m->kind, "wauthno") != 0)
		return 0;
	ok = m->kind[5] == 'o';
	if (m->nids != 1 || !(c = conn_find(b, wire_id(m, 0))) || !c->auth_wait ||
	    c->state != CONN_HANDSHAKE)
		return 1;
	c->auth_wait = 0;
	conn_upgrade(c, c->ch_accept, c->ch_accept_len);
	free(c->ch_accept);
	c->ch_accept = NULL;
	if (!ok) {
		char reason[120];
		snprintf(reason, sizeof reason, "unauthorized: %.*s",
			 (int)(m->body_len < 100 ? m->body_len : 100), m->body ? m->body : "");
		conn_close(c, WAUTH_CLOSE_CODE, reason);
		return 1;
	}
	if (m->body_len) {
		c->acl = malloc(m->body_len + 1);
		if (!c->acl) {
			conn_close(c, WS_CLOSE_INTERNAL, "out of memory");
			return 1;
		}
		memcpy(c->acl, m->body, m->body_len);
		c->acl[m->body_len] = '\0';
	}
	bufferevent_enable(c->bev, EV_READ);
	if (c->path == PATH_WORKER)
		conn_start_worker(c);
	return 1;
}

static int is_telemetry(const uint8_t *d, size_t len)
{
	return len >= 4 && (memcmp(d, "OTLP", 4) == 0 || memcmp(d, "MTRC", 4) == 0 ||
			    memcmp(d, "LOGS", 4) == 0);
}

static void conn_on_telemetry(struct conn *c, const uint8_t *d, size_t len)
{
	/* spans and metrics are accepted and not kept; log records go to the router */
	if (len >= 4 && memcmp(d, "LOGS", 4) == 0)
		broker_send(c->b, "otel", c->id, (const char *)d + 4, len - 4);
}

static void conn_reply(struct conn *c, const char *body, size_t len)
{
	conn_send_text(c, body, len);
}

/* A writer's data frame becomes one chunk ('t' text, 'b' binary) at the cost of one credit. */
static void conn_chan_frame(struct conn *c, int opcode, const uint8_t *d, size_t len)
{
	char *buf;

	if (c->ch_dir != CHAN_WRITE || len == 0)
		return;		/* readers only send control frames; empty chunks carry nothing */
	buf = malloc(len + 1);
	if (!buf) {
		conn_close(c, WS_CLOSE_INTERNAL, "out of memory");
		return;
	}
	buf[0] = opcode == WS_OP_TEXT ? 't' : 'b';
	memcpy(buf + 1, d, len);
	if (chan_send(c, "chd", buf, len + 1) < 0)
		conn_close(c, WS_CLOSE_INTERNAL, "the engine's router is not reachable");
	free(buf);
	c->ch_credit--;
}

static void conn_on_message(struct conn *c, int opcode, const uint8_t *d, size_t len)
{
	struct proto_result r;

	if (c->path == PATH_CHANNEL) {
		conn_chan_frame(c, opcode, d, len);
		return;
	}

	if (opcode == WS_OP_BINARY && is_telemetry(d, len)) {
		conn_on_telemetry(c, d, len);
		return;
	}
	if (c->path == PATH_OTEL)
		return;		/* the telemetry socket carries nothing else */
	if (opcode == WS_OP_BINARY && !ws_utf8_valid(d, len)) {
		log_warn("conn %llu (%s): dropped a binary frame that is neither telemetry nor UTF-8 JSON",
			 (unsigned long long)c->id, c->worker_id);
		return;
	}
	proto_normalize((const char *)d, len, c->b->cfg->max_json_depth, &r);
	switch (r.action) {
	case PROTO_DROP:
		if (r.why)
			log_warn("conn %llu (%s): dropped a message: %s", (unsigned long long)c->id,
				 c->worker_id, r.why);
		break;
	case PROTO_PONG:
		conn_send_text(c, "{\"type\":\"pong\"}", 15);
		break;
	case PROTO_REPLY:
		conn_reply(c, r.body, r.body_len);
		break;
	case PROTO_FORWARD:
		switch (r.msg) {
		case PM_INVOKE:
			if (r.wants_reply) {
				if (hmap_len(&c->pending) >= (size_t)c->b->cfg->max_inflight_per_worker) {
					size_t el;
					char *e = proto_error_result(r.key, NULL, "too_many_in_flight",
						"max_inflight_per_worker calls are already waiting on this connection",
						&el);
					if (e)
						conn_reply(c, e, el);
					free(e);
					goto out;
				}
				if (!hmap_get(&c->pending, r.key)) {
					char *k = strdup(r.key);
					if (k && hmap_put(&c->pending, k, k) < 0)
						free(k);
				}
			}
			if (r.is_announce) {
				free(c->announce);
				c->announce = strdup(r.body);
			}
			break;
		case PM_REGFN:
			kv_put(c->reg_fns, r.key, r.body, r.body_len);
			break;
		case PM_UNREGFN:
			lh_table_delete(c->reg_fns, r.key);
			break;
		case PM_REGTT:
			kv_put(c->reg_tts, r.key, r.body, r.body_len);
			break;
		case PM_UNREGTT:
			lh_table_delete(c->reg_tts, r.key);
			break;
		case PM_REGTRIG:
			kv_put(c->reg_trigs, r.key, r.body, r.body_len);
			break;
		case PM_UNREGTRIG:
			lh_table_delete(c->reg_trigs, r.key);
			break;
		default:
			break;
		}
		if (broker_send(c->b, "msg", c->id, r.body, r.body_len) < 0 && r.wants_reply) {
			size_t el;
			char *e = proto_error_result(r.key, NULL, "engine_unavailable",
						     "the engine's router is not reachable", &el);
			pending_del(c, r.key);
			if (e)
				conn_reply(c, e, el);
			free(e);
		}
		break;
	}
out:
	proto_result_free(&r);
}

static void conn_on_frame(struct conn *c, const struct ws_event *ev)
{
	uint8_t payload[125];
	size_t n;

	switch (ev->opcode) {
	case WS_OP_PING:
		conn_write_frame(c, WS_OP_PONG, ev->data, ev->len);
		break;
	case WS_OP_PONG:
		break;
	case WS_OP_CLOSE:
		/* echo the peer's code, then close (RFC 6455 §5.5.1) */
		if (ev->close_code == WS_CLOSE_NO_STATUS) {
			conn_write_frame(c, WS_OP_CLOSE, NULL, 0);
		} else {
			n = ws_close_payload(payload, ev->close_code, NULL);
			conn_write_frame(c, WS_OP_CLOSE, payload, n);
		}
		conn_linger(c);
		break;
	default:
		conn_on_message(c, ev->opcode, ev->data, ev->len);
		break;
	}
}

static void conn_read_frames(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	while (c->state == CONN_OPEN) {
		size_t len = evbuffer_get_length(in);

		/* back-pressure: a writer with no credit is not read any further */
		if (c->path == PATH_CHANNEL && c->ch_dir == CHAN_WRITE && c->ch_credit <= 0) {
			bufferevent_disable(c->bev, EV_READ);
			return;
		}
		struct evbuffer_iovec v;
		struct ws_event ev;
		size_t consumed = 0;
		int rc;

		if (len == 0)
			return;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			return;
		rc = ws_decode(&c->dec, v.iov_base, v.iov_len, &consumed, &ev);
		if (rc == WS_ERROR) {
			evbuffer_drain(in, len);
			conn_close(c, c->dec.err_code, c->dec.err_reason);
			return;
		}
		if (rc == WS_OK) {
			conn_on_frame(c, &ev);
			evbuffer_drain(in, consumed);
			continue;
		}
		evbuffer_drain(in, consumed);
		if (consumed == 0) {
			/* a frame header split across chunks: make it contiguous */
			if (v.iov_len >= len || v.iov_len >= 14)
				return;
			evbuffer_pullup(in, len < 14 ? (ev_ssize_t)len : 14);
		}
	}
}

static void conn_on_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (c->state == CONN_HANDSHAKE && conn_handshake(c) < 0)
		return;
	if (c->state == CONN_OPEN)
		conn_read_frames(c);
	else if (c->state == CONN_CLOSING)
		evbuffer_drain(bufferevent_get_input(c->bev), evbuffer_get_length(bufferevent_get_input(c->bev)));
}

static void conn_on_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->state == CONN_CLOSING && evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		conn_free(c);
		return;
	}
	/* a reader's chunks left our buffer: the router may send more */
	if (c->path == PATH_CHANNEL && c->ch_unacked && c->state == CONN_OPEN) {
		char b[16];
		int n = snprintf(b, sizeof b, "%u", c->ch_unacked);
		c->ch_unacked = 0;
		chan_send(c, "chack", b, (size_t)n);
	}
}

/* Handshake deadline or close grace period: either way the connection ends. */
static void conn_on_close_timer(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	if (c->state == CONN_HANDSHAKE)
		log_info("conn %llu (%s): handshake not complete within %lld ms, closing",
			 (unsigned long long)c->id, c->peer, (long long)c->b->cfg->handshake_timeout_ms);
	conn_free(c);
}

static void conn_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (c->state == CONN_OPEN && c->path == PATH_WORKER)
		log_info("conn %llu: worker %s disconnected", (unsigned long long)c->id, c->worker_id);
	conn_free(c);
}

void conn_replay(struct conn *c)
{
	struct lh_entry *e;
	char *ob;

	if (!c->told_router || !(ob = conn_open_body(c)))
		return;
	broker_send(c->b, "open", c->id, ob, strlen(ob));
	free(ob);
	if (c->announce)
		broker_send(c->b, "msg", c->id, c->announce, strlen(c->announce));
	/* trigger types first, then functions, then triggers: the SDK's order */
	lh_foreach(c->reg_tts, e)
		broker_send(c->b, "msg", c->id, lh_entry_v(e), strlen(lh_entry_v(e)));
	lh_foreach(c->reg_fns, e)
		broker_send(c->b, "msg", c->id, lh_entry_v(e), strlen(lh_entry_v(e)));
	lh_foreach(c->reg_trigs, e)
		broker_send(c->b, "msg", c->id, lh_entry_v(e), strlen(lh_entry_v(e)));
}

void conn_fail_pending(struct conn *c, const char *code, const char *message)
{
	char *k;

	for (size_t i = 0; hmap_next(&c->pending, &i, NULL, (void **)&k);) {
		size_t el;
		char *msg = proto_error_result(k, NULL, code, message, &el);
		if (msg)
			conn_send_text(c, msg, el);
		free(msg);
	}
	pending_clear(c);
}

void conn_result_delivered(struct conn *c, const char *key, size_t key_len)
{
	char k[256];

	if (key_len == 0 || key_len >= sizeof k)
		return;
	memcpy(k, key, key_len);
	k[key_len] = '\0';
	pending_del(c, k);
}

static struct conn *conn_find(struct broker *b, uint64_t id)
{
	void *v;
	return lh_table_lookup_ex(b->conns, (void *)(uintptr_t)id, &v) ? v : NULL;
}

int conn_chan_on_router(struct broker *b, struct wire_msg *m)
{
	const char *k = m->kind;
	struct conn *c;
	uint64_t id;

	if (k[0] != 'c' || k[1] != 'h' || (strcmp(k, "chok") != 0 && strcmp(k, "chno") != 0 &&
					   strcmp(k, "chd") != 0 && strcmp(k, "chend") != 0 &&
					   strcmp(k, "chcredit") != 0 && strcmp(k, "chclose") != 0))
		return 0;
	if (m->nids != 1)
		return 1;
	id = wire_id(m, 0);
	if (id & CHAN_HTTP_BIT) {
		http_front_on_chan(b->http, m);
		return 1;
	}
	c = conn_find(b, id);
	if (!c || c->path != PATH_CHANNEL) {
		/* gone already (before or after its attach): the router drops or ends it */
		if ((strcmp(k, "chd") == 0 || strcmp(k, "chok") == 0) && m->key_len &&
		    m->key_len <= CHAN_ID_MAX) {
			wire_send(b->zsock, NULL, 0, "chgone", &id, 1, NULL, 0, m->key, m->key_len);
			zsock_kick(b->zw);
		}
		return 1;
	}
	if (strcmp(k, "chok") == 0 || strcmp(k, "chno") == 0) {
		int st = 403;
		if (m->body_len == 3)
			st = (m->body[0] - '0') * 100 + (m->body[1] - '0') * 10 + (m->body[2] - '0');
		conn_chan_answer(c, k[2] == 'o', st);
	} else if (strcmp(k, "chd") == 0) {
		if (c->state != CONN_OPEN || c->ch_dir != CHAN_READ || m->body_len < 1)
			return 1;
		conn_write_frame(c, m->body[0] == 't' ? WS_OP_TEXT : WS_OP_BINARY, m->body + 1,
				 m->body_len - 1);
		c->ch_unacked++;
	} else if (strcmp(k, "chcredit") == 0) {
		char nb[16];
		int was;
		if (m->body_len == 0 || m->body_len >= sizeof nb || c->ch_dir != CHAN_WRITE)
			return 1;
		memcpy(nb, m->body, m->body_len);
		nb[m->body_len] = '\0';
		was = c->ch_credit > 0;
		c->ch_credit += atoi(nb);
		if (!was && c->ch_credit > 0 && c->state == CONN_OPEN) {
			bufferevent_enable(c->bev, EV_READ);
			conn_read_frames(c);	/* frames already buffered */
		}
	} else if (strcmp(k, "chend") == 0) {
		c->ch_attached = 0;
		conn_close(c, WS_CLOSE_NORMAL, "stream_complete");
	} else {	/* chclose: the channel is gone */
		c->ch_attached = 0;
		conn_close(c, WS_CLOSE_NORMAL, "channel_close");
	}
	return 1;
}
