#include "zcurve.h"
#include "fanout.h"
#include "fan_index.h"
#include "fan_msg.h"
#include "log.h"
#include "master.h"
#include "master.h"
#include "wire.h"
#include "ws_frame.h"
#include "ws_handshake.h"
#include "zsock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define HB_INTERVAL_MS 1000
#define CLOSE_GRACE_MS 2000
#define STOP_GRACE_MS 3000
#define RECV_BATCH 1024
#define FAN_SLOT_BASE 100000

enum fconn_state { FC_HANDSHAKE, FC_OPEN, FC_CLOSING };

struct fanout;

struct fconn {
	struct fanout *f;
	uint64_t id;
	struct bufferevent *bev;
	enum fconn_state state;
	struct ws_decoder dec;
	char peer[80];			/* ip:port */
	struct fan_sub **subs;
	size_t nsubs, capsubs;
	char *context;			/* JSON from the auth function, NULL = none */
	int authing;			/* reading paused until the auth answer */
	int64_t soft_since_ms;		/* above the soft output limit since, 0 = not */
	struct event *close_timer;
};

struct fanout {
	struct event_base *base;
	const struct cfg *cfg;
	int index;
	char ident[48];
	void *zctx, *dealer, *sub;
	struct zsock *zw_dealer, *zw_sub;
	struct evconnlistener *listener;
	struct lh_table *conns;		/* id -> struct fconn * */
	uint64_t next_conn_id, next_rid, router_epoch;
	struct fan_index idx;
	struct event *hb_timer, *stop_timer, *sig_term, *sig_int;
	int stopping;
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void to_router(struct fanout *f, const char *kind, const uint64_t *ids, size_t nids,
		      const char *body, size_t len)
{
	if (wire_send(f->dealer, NULL, 0, kind, ids, nids, body, len, NULL, 0) < 0)
		log_warn("router link: dropped a '%s' message (%s)", kind, zmq_strerror(errno));
	zsock_kick(f->zw_dealer);
}

static void send_hello(struct fanout *f)
{
	char body[96];
	/*
	 * index + ppid name a slot of one master (a respawn replaces its
	 * predecessor); fanout slots are numbered after every broker slot.
	 */
	int n = snprintf(body, sizeof body, "{\"index\":%d,\"pid\":%d,\"ppid\":%d}",
			 f->index >= 0 ? FAN_SLOT_BASE + f->index : -1, (int)getpid(), (int)getppid());
	to_router(f, "hello", NULL, 0, body, (size_t)n);
}

/* ---- connection output and the one close path ---------------------------------- */

static void fconn_free(struct fconn *c);
static void fconn_on_close_timer(evutil_socket_t fd, short what, void *arg);

static void blob_cleanup(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	fan_blob_unref(arg);
}

static void fconn_linger(struct fconn *c)
{
	struct timeval tv = { CLOSE_GRACE_MS / 1000, (CLOSE_GRACE_MS % 1000) * 1000 };

	c->state = FC_CLOSING;
	bufferevent_disable(c->bev, EV_READ);
	if (!c->close_timer && !(c->close_timer = evtimer_new(c->f->base, fconn_on_close_timer, c))) {
		bufferevent_disable(c->bev, EV_WRITE);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		event_active(c->close_timer, EV_TIMEOUT, 0);
	else
		evtimer_add(c->close_timer, &tv);
}

static void fconn_write(struct fconn *c, int opcode, const void *data, size_t len)
{
	uint8_t hdr[10];
	size_t hl = ws_frame_header(hdr, opcode, 1, len);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	evbuffer_add(out, hdr, hl);
	if (len)
		evbuffer_add(out, data, len);
}

static void fconn_close(struct fconn *c, uint16_t code, const char *reason)
{
	uint8_t payload[125];

	if (c->state == FC_CLOSING)
		return;
	if (c->state == FC_OPEN)
		fconn_write(c, WS_OP_CLOSE, payload, ws_close_payload(payload, code, reason));
	if (code != WS_CLOSE_NORMAL && code != WS_CLOSE_GOING_AWAY)
		log_info("stream conn %llu (%s): closing with %u: %s", (unsigned long long)c->id,
			 c->peer, code, reason ? reason : "");
	fconn_linger(c);
}

/*
 * Slow consumers (redis's client-output-buffer-limit): above the hard limit
 * the client is closed at once; above the soft limit for soft_seconds too.
 * The backlog is dropped so that the close frame goes out next.
 */
static int fconn_check_output(struct fconn *c, int64_t now)
{
	const struct cfg *cfg = c->f->cfg;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	size_t pending = evbuffer_get_length(out);
	const char *why = NULL;

	if (pending > (size_t)cfg->stream_output_hard_limit) {
		why = "slow consumer: output above stream_output_hard_limit";
	} else if (pending > (size_t)cfg->stream_output_soft_limit) {
		if (!c->soft_since_ms)
			c->soft_since_ms = now;
		else if (now - c->soft_since_ms >= (int64_t)cfg->stream_output_soft_seconds * 1000)
			why = "slow consumer: output above stream_output_soft_limit for too long";
	} else {
		c->soft_since_ms = 0;
	}
	if (!why)
		return 0;
	log_warn("stream conn %llu (%s): %zu bytes unsent: %s", (unsigned long long)c->id, c->peer,
		 pending, why);
	evbuffer_drain(out, pending);
	fconn_close(c, WS_CLOSE_POLICY, why);
	return -1;
}

/* One frame to one subscription: the event's bytes are shared, not copied. */
static void fconn_send_blob(struct fconn *c, struct fan_blob *b)
{
	uint8_t hdr[10];
	size_t hl;
	struct evbuffer *out;

	if (c->state != FC_OPEN || !b)
		return;
	out = bufferevent_get_output(c->bev);
	hl = ws_frame_header(hdr, WS_OP_TEXT, 1, b->len);
	evbuffer_add(out, hdr, hl);
	b->refs++;
	if (evbuffer_add_reference(out, b->data, b->len, blob_cleanup, b) < 0)
		b->refs--;
}

/* ---- subscriptions ---------------------------------------------------------------- */

static struct fconn *conn_find(struct fanout *f, uint64_t id)
{
	void *v;
	return lh_table_lookup_ex(f->conns, (void *)(uintptr_t)id, &v) ? v : NULL;
}

/* Body of sjoin / sleave: what the join and leave triggers are given. */
static char *sub_body(struct fconn *c, struct fan_sub *s, int resync)
{
	json_object *o = json_object_new_object(), *ctx = NULL;
	char *r;

	json_object_object_add(o, "sub", json_object_new_string(s->sid));
	json_object_object_add(o, "stream", json_object_new_string(s->stream));
	json_object_object_add(o, "group", json_object_new_string(s->group));
	json_object_object_add(o, "id", s->item ? json_object_new_string(s->item) : NULL);
	if (c->context)
		ctx = json_tokener_parse(c->context);
	json_object_object_add(o, "context", ctx);
	json_object_object_add(o, "old", json_object_new_boolean(s->old));
	if (resync)
		json_object_object_add(o, "resync", json_object_new_boolean(1));
	r = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return r;
}

static void sub_request_sync(struct fconn *c, struct fan_sub *s, int resync)
{
	uint64_t ids[2];
	char *body = sub_body(c, s, resync);

	s->live = 0;
	s->rid = ++c->f->next_rid;
	ids[0] = c->id;
	ids[1] = s->rid;
	if (body)
		to_router(c->f, "sjoin", ids, 2, body, strlen(body));
	free(body);
}

static void sub_free(struct fan_sub *s)
{
	free(s->sid);
	free(s->stream);
	free(s->group);
	free(s->item);
	free(s);
}

/* Drop s from the index (and the ZeroMQ filter when its group empties). */
static void sub_unindex(struct fanout *f, struct fan_sub *s)
{
	char *topic = NULL;
	size_t tl = 0;

	if (fan_index_remove(&f->idx, s, &topic, &tl) == 1) {
		zmq_setsockopt(f->sub, ZMQ_UNSUBSCRIBE, topic, tl);
		zsock_kick(f->zw_sub);
		free(topic);
	}
}

/* Remove subscription i of c; tell the router (leave triggers) when asked. */
static void conn_drop_sub(struct fconn *c, size_t i, int tell)
{
	struct fan_sub *s = c->subs[i];

	if (tell) {
		char *body = sub_body(c, s, 0);
		if (body)
			to_router(c->f, "sleave", &c->id, 1, body, strlen(body));
		free(body);
	}
	sub_unindex(c->f, s);
	c->subs[i] = c->subs[--c->nsubs];
	sub_free(s);
}

static ssize_t conn_sub_index(struct fconn *c, const char *sid)
{
	for (size_t i = 0; i < c->nsubs; i++)
		if (strcmp(c->subs[i]->sid, sid) == 0)
			return (ssize_t)i;
	return -1;
}

static void conn_join(struct fconn *c, struct fan_msg *m)
{
	struct fanout *f = c->f;
	struct fan_sub *s;
	ssize_t old = conn_sub_index(c, m->sid);
	int rc;

	if (old >= 0)
		conn_drop_sub(c, (size_t)old, 0);	/* a repeat id replaces the subscription */
	if (c->nsubs == c->capsubs) {
		size_t cap = c->capsubs ? c->capsubs * 2 : 4;
		struct fan_sub **n = realloc(c->subs, cap * sizeof *n);
		if (!n)
			return;
		c->subs = n;
		c->capsubs = cap;
	}
	if (!(s = calloc(1, sizeof *s)))
		return;
	s->sid = m->sid;
	s->stream = m->stream;
	s->group = m->group;
	s->item = m->id;
	m->sid = m->stream = m->group = m->id = NULL;
	s->old = m->old;
	s->conn = c;
	if ((rc = fan_index_add(&f->idx, s)) < 0) {
		sub_free(s);
		return;
	}
	if (rc == 1) {
		/* subscribe before asking for the snapshot: events after it must reach us */
		zmq_setsockopt(f->sub, ZMQ_SUBSCRIBE, s->g->topic, s->g->topic_len);
		zsock_kick(f->zw_sub);
	}
	c->subs[c->nsubs++] = s;
	sub_request_sync(c, s, 0);
}

static void conn_leave(struct fconn *c, struct fan_msg *m)
{
	ssize_t i = conn_sub_index(c, m->sid);
	if (i >= 0)
		conn_drop_sub(c, (size_t)i, 1);
}

static void deliver_cb(void *arg, struct fan_sub *s, const struct fan_event *ev)
{
	(void)arg;
	fconn_send_blob(s->conn, ev->frame[s->old ? 1 : 0]);
}

/* ssync [conn, rid, seq, epoch] frame */
static void on_ssync(struct fanout *f, struct wire_msg *m)
{
	struct fconn *c;
	struct fan_sub *s = NULL;

	if (m->nids != 4 || !(c = conn_find(f, wire_id(m, 0))) || c->state != FC_OPEN)
		return;
	for (size_t i = 0; i < c->nsubs; i++)
		if (c->subs[i]->rid == wire_id(m, 1))
			s = c->subs[i];
	if (!s || s->live)
		return;		/* left or replaced meanwhile */
	fan_group_set_epoch(s->g, wire_id(m, 3));
	fconn_write(c, WS_OP_TEXT, m->body, m->body_len);
	if (fan_sub_synced(s, wire_id(m, 2), deliver_cb, NULL) < 0)
		sub_request_sync(c, s, 1);
	fconn_check_output(c, mono_ms());
}

/* sunauth [conn, rid] frame: a stream:join trigger refused the subscription. */
static void on_sunauth(struct fanout *f, struct wire_msg *m)
{
	struct fconn *c;

	if (m->nids != 2 || !(c = conn_find(f, wire_id(m, 0))) || c->state != FC_OPEN)
		return;
	for (size_t i = 0; i < c->nsubs; i++) {
		if (c->subs[i]->rid != wire_id(m, 1))
			continue;
		fconn_write(c, WS_OP_TEXT, m->body, m->body_len);
		conn_drop_sub(c, i, 0);
		return;
	}
}

static void fconn_on_read(struct bufferevent *bev, void *arg);

/* sauth [conn] context: reading resumes with the context attached. */
static void on_sauth(struct fanout *f, struct wire_msg *m)
{
	struct fconn *c;

	if (m->nids != 1 || !(c = conn_find(f, wire_id(m, 0))) || !c->authing)
		return;
	c->authing = 0;
	if (m->body_len && !(m->body_len == 4 && memcmp(m->body, "null", 4) == 0)) {
		c->context = malloc(m->body_len + 1);
		if (c->context) {
			memcpy(c->context, m->body, m->body_len);
			c->context[m->body_len] = '\0';
		}
	}
	if (c->state == FC_OPEN) {
		bufferevent_enable(c->bev, EV_READ);
		fconn_on_read(c->bev, c);
	}
}

/* The router restarted or forgot us: every subscription syncs again. */
static void resync_all(struct fanout *f)
{
	struct lh_entry *e;

	lh_foreach(f->conns, e) {
		struct fconn *c = (struct fconn *)lh_entry_v(e);
		for (size_t i = 0; i < c->nsubs; i++)
			sub_request_sync(c, c->subs[i], 1);
	}
}

static void on_epoch(struct fanout *f, const struct wire_msg *m, int force)
{
	char buf[32];
	uint64_t epoch;

	if (m->body_len == 0 || m->body_len >= sizeof buf)
		return;
	memcpy(buf, m->body, m->body_len);
	buf[m->body_len] = '\0';
	epoch = strtoull(buf, NULL, 10);
	if (!force && epoch == f->router_epoch)
		return;
	if (!f->router_epoch)
		master_child_ready();	/* the router answered: we serve */
	if (f->router_epoch || force) {
		log_warn("router %s (epoch %llu): resyncing every subscription",
			 force ? "lost track of us" : "restarted", (unsigned long long)epoch);
		if (force)
			send_hello(f);
		resync_all(f);
	}
	f->router_epoch = epoch;
}

static void on_router_msg(struct fanout *f, struct wire_msg *m)
{
	if (strcmp(m->kind, "ssync") == 0)
		on_ssync(f, m);
	else if (strcmp(m->kind, "sunauth") == 0)
		on_sunauth(f, m);
	else if (strcmp(m->kind, "sauth") == 0)
		on_sauth(f, m);
	else if (strcmp(m->kind, "welcome") == 0 || strcmp(m->kind, "hb") == 0) {
		on_epoch(f, m, 0);
		master_child_ready();	/* systemd READY=1 waits for every child (ops) */
	} else if (strcmp(m->kind, "resync") == 0)
		on_epoch(f, m, 1);
	else
		log_debug("router link: ignored '%s'", m->kind);
}

static void on_dealer(void *sock, void *arg)
{
	struct fanout *f = arg;
	struct wire_msg m;

	for (int i = 0; i < RECV_BATCH; i++) {
		int rc = wire_recv(sock, 0, &m);
		if (rc == 1)
			return;
		if (rc < 0)
			continue;
		on_router_msg(f, &m);
		wire_msg_close(&m);
	}
}

/* One published event: [topic][seq, epoch][item][frame][older frame]. */
static void on_event(struct fanout *f, zmq_msg_t *p, int n)
{
	struct fan_group *g;
	struct fan_blob *b[2];
	uint64_t seq, epoch;
	const uint8_t *h;
	const char *item;
	size_t item_len;
	int64_t now = mono_ms();

	if (n != 5 || zmq_msg_size(&p[1]) != 16)
		return;
	if (!(g = fan_index_find_topic(&f->idx, zmq_msg_data(&p[0]), zmq_msg_size(&p[0]))))
		return;		/* a group everyone left */
	h = zmq_msg_data(&p[1]);
	seq = 0;
	epoch = 0;
	for (int i = 0; i < 8; i++) {
		seq = seq << 8 | h[i];
		epoch = epoch << 8 | h[8 + i];
	}
	item = zmq_msg_data(&p[2]);
	item_len = zmq_msg_size(&p[2]);
	if (epoch != g->epoch) {
		/* a restarted router numbers from 1 again: everyone syncs */
		fan_group_set_epoch(g, epoch);
		for (size_t i = 0; i < g->n; i++)
			if (g->subs[i]->live)
				sub_request_sync(g->subs[i]->conn, g->subs[i], 1);
	}
	b[0] = fan_blob_new(zmq_msg_data(&p[3]), zmq_msg_size(&p[3]));
	b[1] = fan_blob_new(zmq_msg_data(&p[4]), zmq_msg_size(&p[4]));
	fan_group_record(g, seq, item_len ? item : NULL, item_len, b[0], b[1]);
	for (size_t i = 0; i < g->n; i++) {
		struct fan_sub *s = g->subs[i];
		switch (fan_sub_offer(s, seq, item_len ? item : NULL, item_len)) {
		case FAN_DELIVER:
			fconn_send_blob(s->conn, b[s->old ? 1 : 0]);
			break;
		case FAN_GAP:
			log_info("stream %s/%s: missed events before %llu; resyncing a subscription",
				 s->stream, s->group, (unsigned long long)seq);
			sub_request_sync(s->conn, s, 1);
			break;
		case FAN_SKIP:
			break;
		}
	}
	fan_blob_unref(b[0]);
	fan_blob_unref(b[1]);
	/* limits after the whole group got the event: closing changes g->subs */
	for (size_t i = 0; g && i < g->n; i++) {
		struct fconn *c = g->subs[i]->conn;
		if (c->state == FC_OPEN && fconn_check_output(c, now) < 0)
			g = fan_index_find_topic(&f->idx, zmq_msg_data(&p[0]), zmq_msg_size(&p[0]));
	}
}

static void on_sub(void *sock, void *arg)
{
	struct fanout *f = arg;
	zmq_msg_t p[6];

	for (int k = 0; k < RECV_BATCH; k++) {
		int n = 0, more = 1, bad = 0;
		while (more) {
			zmq_msg_t tmp, *dst = n < 6 ? &p[n] : &tmp;
			zmq_msg_init(dst);
			if (zmq_msg_recv(dst, sock, ZMQ_DONTWAIT) < 0) {
				zmq_msg_close(dst);
				if (n == 0)
					return;
				bad = 1;
				break;
			}
			more = zmq_msg_more(dst);
			if (n < 6)
				n++;
			else
				zmq_msg_close(&tmp), bad = 1;
		}
		if (!bad)
			on_event(f, p, n);
		for (int i = 0; i < n; i++)
			zmq_msg_close(&p[i]);
	}
}

/* ---- client connections ------------------------------------------------------------- */

static void fconn_free(struct fconn *c)
{
	struct fanout *f = c->f;

	while (c->nsubs)
		conn_drop_sub(c, c->nsubs - 1, 1);	/* socket closed: leave triggers for the rest */
	free(c->subs);
	free(c->context);
	if (c->close_timer)
		event_free(c->close_timer);
	bufferevent_free(c->bev);
	if (c->state != FC_HANDSHAKE)
		ws_decoder_free(&c->dec);
	lh_table_delete(f->conns, (void *)(uintptr_t)c->id);
	log_debug("stream conn %llu (%s): closed", (unsigned long long)c->id, c->peer);
	free(c);
	if (f->stopping && lh_table_length(f->conns) == 0)
		event_base_loopexit(f->base, NULL);
}

static void fconn_on_close_timer(evutil_socket_t fd, short what, void *arg)
{
	struct fconn *c = arg;
	(void)fd;
	(void)what;
	fconn_free(c);
}

static void fconn_on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	fconn_free(arg);
}

static void fconn_on_write(struct bufferevent *bev, void *arg)
{
	struct fconn *c = arg;
	if (c->state == FC_CLOSING && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		fconn_free(c);
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static json_object *url_decoded(const char *s, size_t n)
{
	char *o = malloc(n + 1);
	size_t k = 0;
	json_object *r;

	if (!o)
		return json_object_new_string("");
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+') {
			o[k++] = ' ';
		} else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			o[k++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			o[k++] = s[i];
		}
	}
	r = json_object_new_string_len(o, (int)k);
	free(o);
	return r;
}

/* {"k":["v",...]} from a query string, as the reference gives auth functions. */
static json_object *query_params(const char *q)
{
	json_object *o = json_object_new_object();

	while (q && *q) {
		const char *amp = strchr(q, '&'), *end = amp ? amp : q + strlen(q);
		const char *eq = memchr(q, '=', (size_t)(end - q));
		if (end > q) {
			json_object *k = url_decoded(q, (size_t)((eq ? eq : end) - q));
			json_object *v = eq ? url_decoded(eq + 1, (size_t)(end - eq - 1)) : json_object_new_string("");
			json_object *arr;
			const char *ks = json_object_get_string(k);
			if (!json_object_object_get_ex(o, ks, &arr)) {
				arr = json_object_new_array();
				json_object_object_add(o, ks, arr);
			}
			json_object_array_add(arr, v);
			json_object_put(k);
		}
		q = amp ? amp + 1 : end;
	}
	return o;
}

static void fconn_start_auth(struct fconn *c, const struct ws_hs_request *req)
{
	json_object *o = json_object_new_object(), *h = json_object_new_object();
	const char *s;

	for (size_t i = 0; i < req->nheaders; i++)
		json_object_object_add(h, req->headers[i].name, json_object_new_string(req->headers[i].value));
	json_object_object_add(o, "function", json_object_new_string(c->f->cfg->stream_auth_function));
	json_object_object_add(o, "headers", h);
	json_object_object_add(o, "path", json_object_new_string(req->path));
	json_object_object_add(o, "query_params", query_params(req->query));
	json_object_object_add(o, "addr", json_object_new_string(c->peer));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	c->authing = 1;
	bufferevent_disable(c->bev, EV_READ);
	to_router(c->f, "sauth", &c->id, 1, s, strlen(s));
	json_object_put(o);
}

static int fconn_handshake(struct fconn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t len = evbuffer_get_length(in), max = (size_t)c->f->cfg->handshake_max_bytes;
	size_t n = len > max + 1 ? max + 1 : len;
	const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
	struct ws_hs_request req;
	char resp[512], buf[512];
	size_t rl;
	const char *proto;
	int rc;

	memset(&req, 0, sizeof req);
	rc = ws_hs_parse(p, n, max, &req);
	if (rc == WS_HS_AGAIN)
		return 0;
	if (rc == WS_HS_ERROR || strcmp(req.path, "/") != 0) {
		int status = rc == WS_HS_ERROR ? req.err_status : 404;
		const char *why = rc == WS_HS_ERROR ? req.err_reason : "the stream endpoint is /";
		rl = ws_hs_error_response(buf, sizeof buf, status, why);
		if (rl)
			evbuffer_add(bufferevent_get_output(c->bev), buf, rl);
		ws_hs_request_free(&req);
		fconn_linger(c);
		return -1;
	}
	rl = ws_hs_response(resp, sizeof resp, req.key);
	/* a client that offers subprotocols (['Authorization', token]) needs one chosen */
	if ((proto = ws_hs_header(&req, "sec-websocket-protocol")) && rl >= 2) {
		size_t pl = strcspn(proto, ", ");
		if (pl && pl < 200) {
			rl -= 2;
			rl += (size_t)snprintf(resp + rl, sizeof resp - rl,
					       "Sec-WebSocket-Protocol: %.*s\r\n\r\n", (int)pl, proto);
		}
	}
	evbuffer_drain(in, req.header_bytes);
	evbuffer_add(bufferevent_get_output(c->bev), resp, rl);
	ws_decoder_init(&c->dec, (size_t)c->f->cfg->ws_max_frame, (size_t)c->f->cfg->ws_max_message);
	c->state = FC_OPEN;
	evtimer_del(c->close_timer);
	if (c->f->cfg->stream_auth_function[0])
		fconn_start_auth(c, &req);
	ws_hs_request_free(&req);
	return 0;
}

static void fconn_on_message(struct fconn *c, const uint8_t *d, size_t len)
{
	struct fan_msg m;

	switch (fan_msg_parse((const char *)d, len, c->f->cfg->max_json_depth, &m)) {
	case FAN_MSG_JOIN:
		conn_join(c, &m);
		break;
	case FAN_MSG_LEAVE:
		conn_leave(c, &m);
		break;
	case FAN_MSG_IGNORE:
		break;		/* unparseable frames are ignored, as in the reference */
	}
	fan_msg_free(&m);
}

static void fconn_on_frame(struct fconn *c, const struct ws_event *ev)
{
	uint8_t payload[125];

	switch (ev->opcode) {
	case WS_OP_PING:
		fconn_write(c, WS_OP_PONG, ev->data, ev->len);
		break;
	case WS_OP_PONG:
		break;
	case WS_OP_CLOSE:
		if (ev->close_code == WS_CLOSE_NO_STATUS)
			fconn_write(c, WS_OP_CLOSE, NULL, 0);
		else
			fconn_write(c, WS_OP_CLOSE, payload, ws_close_payload(payload, ev->close_code, NULL));
		fconn_linger(c);
		break;
	default:
		fconn_on_message(c, ev->data, ev->len);
		break;
	}
}

static void fconn_on_read(struct bufferevent *bev, void *arg)
{
	struct fconn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (c->state == FC_HANDSHAKE && fconn_handshake(c) < 0)
		return;
	while (c->state == FC_OPEN && !c->authing) {
		size_t len = evbuffer_get_length(in), consumed = 0;
		struct evbuffer_iovec v;
		struct ws_event ev;
		int rc;

		if (len == 0 || evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			return;
		rc = ws_decode(&c->dec, v.iov_base, v.iov_len, &consumed, &ev);
		if (rc == WS_ERROR) {
			evbuffer_drain(in, len);
			fconn_close(c, c->dec.err_code, c->dec.err_reason);
			return;
		}
		if (rc == WS_OK) {
			fconn_on_frame(c, &ev);
			evbuffer_drain(in, consumed);
			continue;
		}
		evbuffer_drain(in, consumed);
		if (consumed == 0) {
			if (v.iov_len >= len || v.iov_len >= 14)
				return;
			evbuffer_pullup(in, len < 14 ? (ev_ssize_t)len : 14);
		}
	}
	if (c->state == FC_CLOSING)
		evbuffer_drain(in, evbuffer_get_length(in));
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct fanout *f = arg;
	struct fconn *c;
	char host[INET6_ADDRSTRLEN] = "?";
	int one = 1, port = 0;
	struct timeval tv = { (time_t)(f->cfg->handshake_timeout_ms / 1000),
			      (suseconds_t)(f->cfg->handshake_timeout_ms % 1000) * 1000 };

	(void)l;
	(void)salen;
	if (f->stopping || lh_table_length(f->conns) >= f->cfg->max_connections ||
	    !(c = calloc(1, sizeof *c))) {
		evutil_closesocket(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, host, sizeof host);
		port = ntohs(((struct sockaddr_in *)sa)->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, host, sizeof host);
		port = ntohs(((struct sockaddr_in6 *)sa)->sin6_port);
	}
	snprintf(c->peer, sizeof c->peer, "%s:%d", host, port);
	c->f = f;
	c->id = ++f->next_conn_id;
	c->bev = bufferevent_socket_new(f->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->close_timer = evtimer_new(f->base, fconn_on_close_timer, c);
	if (!c->bev || !c->close_timer) {
		if (c->bev)
			bufferevent_free(c->bev);
		else
			evutil_closesocket(fd);
		if (c->close_timer)
			event_free(c->close_timer);
		free(c);
		return;
	}
	bufferevent_setcb(c->bev, fconn_on_read, fconn_on_write, fconn_on_event, c);
	evtimer_add(c->close_timer, &tv);	/* handshake deadline */
	bufferevent_enable(c->bev, EV_READ);
	lh_table_insert(f->conns, (void *)(uintptr_t)c->id, c);
}

/* Heartbeat to the router, and the soft output limit's clock. */
static void on_hb(evutil_socket_t fd, short what, void *arg)
{
	struct fanout *f = arg;
	struct lh_entry *e, *tmp;
	int64_t now = mono_ms();

	(void)fd;
	(void)what;
	to_router(f, "hb", NULL, 0, NULL, 0);
	lh_foreach_safe(f->conns, e, tmp) {
		struct fconn *c = (struct fconn *)lh_entry_v(e);
		if (c->state == FC_OPEN)
			fconn_check_output(c, now);
	}
}

static void on_stop_timer(evutil_socket_t fd, short what, void *arg)
{
	struct fanout *f = arg;
	(void)fd;
	(void)what;
	event_base_loopexit(f->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct fanout *f = arg;
	struct lh_entry *e, *tmp;
	struct timeval tv = { STOP_GRACE_MS / 1000, 0 };

	(void)what;
	if (f->stopping) {
		event_base_loopexit(f->base, NULL);
		return;
	}
	log_info("stopping on signal %d: closing %d stream connections", (int)sig,
		 lh_table_length(f->conns));
	f->stopping = 1;
	if (f->listener) {
		evconnlistener_free(f->listener);
		f->listener = NULL;
	}
	f->stop_timer = evtimer_new(f->base, on_stop_timer, f);
	if (f->stop_timer)
		evtimer_add(f->stop_timer, &tv);
	if (lh_table_length(f->conns) == 0) {
		event_base_loopexit(f->base, NULL);
		return;
	}
	lh_foreach_safe(f->conns, e, tmp)
		fconn_close((struct fconn *)lh_entry_v(e), WS_CLOSE_GOING_AWAY, "server shutting down");
}

static int fanout_link(struct fanout *f)
{
	int linger = 200, hwm = 200000, ivl = 100, ivl_max = 1000, subhwm = 1000000;

	f->zctx = zmq_ctx_new();
	f->dealer = f->zctx ? zmq_socket(f->zctx, ZMQ_DEALER) : NULL;
	f->sub = f->zctx ? zmq_socket(f->zctx, ZMQ_SUB) : NULL;
	if (!f->dealer || !f->sub)
		return -1;
	if (f->index >= 0)
		snprintf(f->ident, sizeof f->ident, "f%d.%08x", f->index, (unsigned)getpid());
	else
		snprintf(f->ident, sizeof f->ident, "f.%08x", (unsigned)getpid());
	zmq_setsockopt(f->dealer, ZMQ_ROUTING_ID, f->ident, strlen(f->ident));
	zmq_setsockopt(f->dealer, ZMQ_LINGER, &linger, sizeof linger);
	zmq_setsockopt(f->dealer, ZMQ_SNDHWM, &hwm, sizeof hwm);
	zmq_setsockopt(f->dealer, ZMQ_RCVHWM, &hwm, sizeof hwm);
	zmq_setsockopt(f->dealer, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
	zmq_setsockopt(f->dealer, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
	zmq_setsockopt(f->sub, ZMQ_LINGER, &linger, sizeof linger);
	zmq_setsockopt(f->sub, ZMQ_RCVHWM, &subhwm, sizeof subhwm);
	zmq_setsockopt(f->sub, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
	zmq_setsockopt(f->sub, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
	if (zcurve_client(f->dealer, f->cfg, f->cfg->router_endpoint) < 0 ||
	    zcurve_client(f->sub, f->cfg, f->cfg->router_pub_endpoint) < 0)
		return -1;
	if (zmq_connect(f->dealer, f->cfg->router_endpoint) < 0) {
		log_error("cannot connect to the router at %s: %s", f->cfg->router_endpoint,
			  zmq_strerror(errno));
		return -1;
	}
	if (zmq_connect(f->sub, f->cfg->router_pub_endpoint) < 0) {
		log_error("cannot connect to the router's events at %s: %s", f->cfg->router_pub_endpoint,
			  zmq_strerror(errno));
		return -1;
	}
	return 0;
}

static void conns_nofree(struct lh_entry *e)
{
	(void)e;
}

int fanout_main(const struct cfg *cfg, int fd, int index)
{
	struct fanout f;
	struct timeval hb = { HB_INTERVAL_MS / 1000, (HB_INTERVAL_MS % 1000) * 1000 };
	int rc = 1;

	memset(&f, 0, sizeof f);
	f.cfg = cfg;
	f.index = index;
	signal(SIGPIPE, SIG_IGN);
	f.base = event_base_new();
	f.conns = lh_kptr_table_new(1024, conns_nofree);
	if (!f.base || !f.conns || fan_index_init(&f.idx) < 0) {
		if (fd >= 0)
			close(fd);
		goto out;
	}
	if (fanout_link(&f) < 0) {
		close(fd);
		rc = EX_CONFIG;
		goto out;
	}
	f.zw_dealer = zsock_watch(f.base, f.dealer, on_dealer, &f);
	f.zw_sub = zsock_watch(f.base, f.sub, on_sub, &f);
	f.listener = evconnlistener_new(f.base, on_accept, &f, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
					-1, fd);
	if (!f.listener) {
		log_error("cannot listen: %s", strerror(errno));
		close(fd);
		rc = EX_CONFIG;
		goto out;
	}
	f.hb_timer = event_new(f.base, -1, EV_PERSIST, on_hb, &f);
	event_add(f.hb_timer, &hb);
	f.sig_term = evsignal_new(f.base, SIGTERM, on_signal, &f);
	f.sig_int = evsignal_new(f.base, SIGINT, on_signal, &f);
	event_add(f.sig_term, NULL);
	event_add(f.sig_int, NULL);
	send_hello(&f);
	log_info("fanout %d serving stream clients (router %s, events %s)", index, cfg->router_endpoint,
		 cfg->router_pub_endpoint);
	event_base_dispatch(f.base);
	rc = 0;
out:
	if (f.conns) {
		struct lh_entry *e, *tmp;
		f.stopping = 0;
		lh_foreach_safe(f.conns, e, tmp)
			fconn_free((struct fconn *)lh_entry_v(e));
		lh_table_free(f.conns);
	}
	fan_index_free(&f.idx);
	if (f.listener)
		evconnlistener_free(f.listener);
	if (f.hb_timer)
		event_free(f.hb_timer);
	if (f.stop_timer)
		event_free(f.stop_timer);
	if (f.sig_term)
		event_free(f.sig_term);
	if (f.sig_int)
		event_free(f.sig_int);
	zsock_free(&f.zw_dealer);
	zsock_free(&f.zw_sub);
	if (f.dealer)
		zmq_close(f.dealer);
	if (f.sub)
		zmq_close(f.sub);
	if (f.zctx)
		zmq_ctx_term(f.zctx);
	if (f.base)
		event_base_free(f.base);
	return rc;
}
