#include "zcurve.h"
#include "broker.h"
#include "conn.h"
#include "http_front.h"
#include "log.h"
#include "master.h"
#include "wire.h"
#include "zsock.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define HB_INTERVAL_MS 1000
#define STOP_GRACE_MS 3000
#define RECV_BATCH 1024

int broker_send(struct broker *b, const char *kind, uint64_t conn_id,
		const char *body, size_t len)
{
	int rc = wire_send(b->zsock, NULL, 0, kind, &conn_id, conn_id ? 1 : 0, body, len, NULL, 0);
	if (rc < 0) {
		if (b->dropped_to_router++ % 1000 == 0)
			log_warn("router link: dropped a '%s' message (%s); %lu dropped so far", kind,
				 zmq_strerror(errno), b->dropped_to_router);
	}
	zsock_kick(b->zw);
	return rc;
}

static void broker_send_hello(struct broker *b)
{
	char body[96];
	/* index + parent pid name a slot of one master: a respawn replaces its predecessor */
	int n = snprintf(body, sizeof body, "{\"index\":%d,\"pid\":%d,\"ppid\":%d}", b->index,
			 (int)getpid(), (int)getppid());
	wire_send(b->zsock, NULL, 0, "hello", NULL, 0, body, (size_t)n, NULL, 0);
	zsock_kick(b->zw);
}

static struct conn *broker_conn(struct broker *b, uint64_t id)
{
	void *v;
	if (!lh_table_lookup_ex(b->conns, (void *)(uintptr_t)id, &v))
		return NULL;
	return v;
}

void broker_conn_gone(struct broker *b, struct conn *c)
{
	lh_table_delete(b->conns, (void *)(uintptr_t)c->id);
	if (b->stopping == STOP_CLOSING && lh_table_length(b->conns) == 0)
		event_base_loopexit(b->base, NULL);
}

/*
 * A router epoch we have not seen means the router was restarted and knows
 * nothing: fail the calls our workers were waiting for (their answers are
 * lost with the old router) and replay every live connection's registrations
 * so that workers keep working without reconnecting.
 */
static void broker_on_epoch(struct broker *b, const char *body, size_t len, int force)
{
	char buf[32];
	uint64_t epoch;
	struct lh_entry *e, *tmp;

	if (len == 0 || len >= sizeof buf)
		return;
	memcpy(buf, body, len);
	buf[len] = '\0';
	epoch = strtoull(buf, NULL, 10);
	if (epoch == 0 || (epoch == b->router_epoch && !force))
		return;
	if (b->router_epoch == 0 && !force) {
		b->router_epoch = epoch;
		return;
	}
	if (epoch != b->router_epoch)
		log_warn("router restarted (epoch %llu): replaying %d connections",
			 (unsigned long long)epoch, lh_table_length(b->conns));
	else
		log_warn("the router had given us up (missed heartbeats?): replaying %d connections",
			 lh_table_length(b->conns));
	b->router_epoch = epoch;
	broker_send_hello(b);
	if (b->http)
		http_front_router_lost(b->http);
	lh_foreach_safe(b->conns, e, tmp) {
		struct conn *c = (struct conn *)lh_entry_v(e);
		conn_fail_pending(c, "invocation_stopped",
				  "Invocation stopped: the engine's router restarted");
		conn_replay(c);
	}
}

/* The router says the worker on c neither serves nor waits for a call. */
static void broker_on_idle(struct broker *b, struct conn *c)
{
	if (b->stopping != STOP_DRAINING || c->state != CONN_OPEN)
		return;
	if (hmap_len(&c->pending) == 0)
		conn_close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
	/* else: a call of its own crossed the router's "idle"; another follows */
}

static void broker_on_router_msg(struct broker *b, struct wire_msg *m)
{
	struct conn *c;

	if (log_level_cur >= LL_TRACE)
		log_msg(LL_TRACE, "from router: %s (%zu ids, %zu bytes)", m->kind, m->nids, m->body_len);
	if (strcmp(m->kind, "send") == 0) {
		for (size_t i = 0; i < m->nids; i++)
			if ((c = broker_conn(b, wire_id(m, i))))
				conn_send_text(c, m->body, m->body_len);
	} else if (strcmp(m->kind, "result") == 0) {
		if (m->nids == 1 && (c = broker_conn(b, wire_id(m, 0)))) {
			conn_result_delivered(c, m->key, m->key_len);
			conn_send_text(c, m->body, m->body_len);
		}
	} else if (strcmp(m->kind, "kick") == 0) {
		json_object *o = wire_body_json(m, 8);
		json_object *v;
		int code = WS_CLOSE_POLICY;
		const char *reason = "closed by the engine";
		if (o && json_object_object_get_ex(o, "code", &v))
			code = json_object_get_int(v);
		if (o && json_object_object_get_ex(o, "reason", &v))
			reason = json_object_get_string(v);
		for (size_t i = 0; i < m->nids; i++)
			if ((c = broker_conn(b, wire_id(m, i)))) {
				c->told_router = 0;	/* the router already dropped it */
				conn_close(c, (uint16_t)code, reason);
			}
		json_object_put(o);
	} else if (conn_auth_on_router(b, m)) {
		/* worker_auth function verdicts */
	} else if (conn_chan_on_router(b, m)) {
		/* byte channels: broker/conn.c and the HTTP front */
	} else if (http_front_on_router(b->http, m)) {
		/* routes and HTTP answers */
	} else if (strcmp(m->kind, "welcome") == 0 || strcmp(m->kind, "hb") == 0) {
		broker_on_epoch(b, m->body, m->body_len, 0);
		master_child_ready();	/* the router answered: we serve */
	} else if (strcmp(m->kind, "idle") == 0) {
		if (m->nids == 1 && (c = broker_conn(b, wire_id(m, 0))))
			broker_on_idle(b, c);
	} else if (strcmp(m->kind, "resync") == 0) {
		/* the router does not know us (restarted, or it declared us dead) */
		broker_on_epoch(b, m->body, m->body_len, 1);
	} else {
		log_warn("router link: unknown message kind '%s'", m->kind);
	}
}

static void broker_on_zmq(void *sock, void *arg)
{
	struct broker *b = arg;
	struct wire_msg m;

	for (int i = 0; i < RECV_BATCH; i++) {
		int rc = wire_recv(sock, 0, &m);
		if (rc == 1)
			return;
		if (rc < 0)
			continue;
		broker_on_router_msg(b, &m);
		wire_msg_close(&m);
	}
}

/* The heartbeat carries our counters for the router's /metrics. */
static void broker_on_hb(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;
	char body[4096], http[3800];
	int n;

	(void)fd;
	(void)what;
	if (!http_front_stats(b->http, http, sizeof http))
		snprintf(http, sizeof http, "{}");
	n = snprintf(body, sizeof body, "{\"conns\":%d,\"dropped\":%lu,\"http\":%s}",
		     lh_table_length(b->conns), b->dropped_to_router, http);
	if (n < 0 || (size_t)n >= sizeof body)
		n = 0;
	wire_send(b->zsock, NULL, 0, "hb", NULL, 0, body, (size_t)n, NULL, 0);
	zsock_kick(b->zw);
}

static void broker_on_accept(struct evconnlistener *l, evutil_socket_t fd,
			     struct sockaddr *sa, int salen, void *arg)
{
	struct broker *b = arg;
	struct conn *c;

	(void)l;
	if (b->stopping) {
		evutil_closesocket(fd);
		return;
	}
	if (lh_table_length(b->conns) >= b->cfg->max_connections) {
		static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
			"Content-Length: 40\r\nConnection: close\r\n\r\n"
			"too many connections on this process\r\n\r\n";
		ssize_t w = write(fd, busy, sizeof busy - 1);
		(void)w;
		evutil_closesocket(fd);
		log_warn("refused a connection: max_connections (%d) reached", b->cfg->max_connections);
		return;
	}
	c = conn_new(b, fd, sa, salen);
	if (c)
		lh_table_insert(b->conns, (void *)(uintptr_t)c->id, c);
}

static void broker_on_stop_timer(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;
	(void)fd;
	(void)what;
	log_warn("stop: %d connections did not finish the close handshake in time",
		 lh_table_length(b->conns));
	event_base_loopexit(b->base, NULL);
}

static int64_t broker_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Second phase of a stop: a 1001 close frame to every connection, exit once flushed. */
static void broker_close_all(struct broker *b)
{
	struct lh_entry *e, *tmp;
	struct timeval tv = { STOP_GRACE_MS / 1000, 0 };

	if (b->stopping == STOP_CLOSING)
		return;
	b->stopping = STOP_CLOSING;
	if (b->drain_timer)
		event_del(b->drain_timer);
	log_info("stop: closing %d connections", lh_table_length(b->conns));
	b->stop_timer = evtimer_new(b->base, broker_on_stop_timer, b);
	evtimer_add(b->stop_timer, &tv);
	if (lh_table_length(b->conns) == 0) {
		event_base_loopexit(b->base, NULL);
		return;
	}
	lh_foreach_safe(b->conns, e, tmp) {
		struct conn *c = (struct conn *)lh_entry_v(e);
		conn_close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
	}
}

/*
 * Drain (first phase of a stop): connections close one by one as the router
 * says they are idle ("idle"); every 100 ms we check whether we are done
 * (nothing connected, no HTTP request open). Past shutdown_timeout_ms the
 * rest is closed anyway.
 */
static void broker_on_drain_timer(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;

	(void)fd;
	(void)what;
	if (lh_table_length(b->conns) == 0 && http_front_inflight(b->http) == 0) {
		event_base_loopexit(b->base, NULL);
		return;
	}
	if (broker_mono_ms() >= b->drain_deadline_ms) {
		log_warn("stop: shutdown_timeout_ms (%lld) reached with %d connections and %zu HTTP "
			 "requests still busy; closing anyway", (long long)b->cfg->shutdown_timeout_ms,
			 lh_table_length(b->conns), http_front_inflight(b->http));
		broker_close_all(b);
	}
}

/*
 * Graceful stop: accept nothing more, let the calls and HTTP requests in
 * flight finish (up to shutdown_timeout_ms), then send every worker a 1001
 * close frame and exit once they are flushed. A second signal skips the wait.
 */
static void broker_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct broker *b = arg;
	struct timeval tick = { 0, 100 * 1000 };
	struct lh_entry *e, *tmp;

	(void)what;
	if (b->stopping == STOP_CLOSING) {
		event_base_loopexit(b->base, NULL);
		return;
	}
	if (b->stopping == STOP_DRAINING) {
		log_warn("second stop signal: closing without waiting for calls in flight");
		broker_close_all(b);
		return;
	}
	log_info("stopping on signal %d: draining %d connections (up to %lld ms)", (int)sig,
		 lh_table_length(b->conns), (long long)b->cfg->shutdown_timeout_ms);
	b->stopping = STOP_DRAINING;
	if (b->listener) {
		evconnlistener_free(b->listener);
		b->listener = NULL;
	}
	http_front_stop(b->http);
	b->drain_deadline_ms = broker_mono_ms() + b->cfg->shutdown_timeout_ms;
	broker_send(b, "drain", 0, NULL, 0);
	/* connections the router does not know (handshakes, /otel) have no calls */
	lh_foreach_safe(b->conns, e, tmp) {
		struct conn *c = (struct conn *)lh_entry_v(e);
		if (c->state == CONN_HANDSHAKE)
			conn_free(c);
		else if (!c->told_router)
			conn_close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
	}
	b->drain_timer = event_new(b->base, -1, EV_PERSIST, broker_on_drain_timer, b);
	event_add(b->drain_timer, &tick);
}

static int broker_link(struct broker *b, const char *endpoint)
{
	int linger = 200, hwm = 200000, ivl = 100, ivl_max = 1000;

	b->zctx = zmq_ctx_new();
	b->zsock = zmq_socket(b->zctx, ZMQ_DEALER);
	if (!b->zsock)
		return -1;
	if (b->index >= 0)
		snprintf(b->ident, sizeof b->ident, "b%d.%08x", b->index, (unsigned)getpid());
	else
		snprintf(b->ident, sizeof b->ident, "b.%08x", (unsigned)getpid());
	zmq_setsockopt(b->zsock, ZMQ_ROUTING_ID, b->ident, strlen(b->ident));
	zmq_setsockopt(b->zsock, ZMQ_LINGER, &linger, sizeof linger);
	zmq_setsockopt(b->zsock, ZMQ_SNDHWM, &hwm, sizeof hwm);
	zmq_setsockopt(b->zsock, ZMQ_RCVHWM, &hwm, sizeof hwm);
	zmq_setsockopt(b->zsock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
	zmq_setsockopt(b->zsock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
	if (zcurve_client(b->zsock, b->cfg, endpoint) < 0)
		return -1;
	if (zmq_connect(b->zsock, endpoint) < 0) {
		log_error("cannot connect to the router at %s: %s", endpoint, zmq_strerror(errno));
		return -1;
	}
	return 0;
}

static void conn_table_free(struct lh_entry *e)
{
	(void)e;	/* connections are freed by conn_free */
}

int broker_main(const struct cfg *cfg, const struct broker_fds *fds, int index)
{
	struct broker b;
	struct timeval hb = { HB_INTERVAL_MS / 1000, (HB_INTERVAL_MS % 1000) * 1000 };
	int rc = 1;

	memset(&b, 0, sizeof b);
	b.cfg = cfg;
	b.index = index;
	b.base = event_base_new();
	b.conns = lh_kptr_table_new(1024, conn_table_free);
	signal(SIGPIPE, SIG_IGN);
	if (!b.base || !b.conns)
		goto out;
	if (broker_link(&b, cfg->router_endpoint) < 0) {
		rc = EX_CONFIG;
		goto out;
	}
	b.zw = zsock_watch(b.base, b.zsock, broker_on_zmq, &b);
	b.listener = evconnlistener_new(b.base, broker_on_accept, &b,
					LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1,
					fds->worker_fd);
	if (!b.listener) {
		log_error("cannot listen: %s", strerror(errno));
		rc = EX_CONFIG;
		goto out;
	}
	if (fds->http_fd >= 0 && !(b.http = http_front_new(&b, fds->http_fd))) {
		rc = EX_CONFIG;
		goto out;
	}
	b.hb_timer = event_new(b.base, -1, EV_PERSIST, broker_on_hb, &b);
	event_add(b.hb_timer, &hb);
	b.sig_term = evsignal_new(b.base, SIGTERM, broker_on_signal, &b);
	b.sig_int = evsignal_new(b.base, SIGINT, broker_on_signal, &b);
	event_add(b.sig_term, NULL);
	event_add(b.sig_int, NULL);
	broker_send_hello(&b);
	log_info("broker %d serving workers (router %s)", index, cfg->router_endpoint);
	event_base_dispatch(b.base);
	rc = 0;
out:
	if (b.conns) {
		struct lh_entry *e, *tmp;
		b.stopping = 0;
		lh_foreach_safe(b.conns, e, tmp)
			conn_free((struct conn *)lh_entry_v(e));
		lh_table_free(b.conns);
	}
	if (b.listener)
		evconnlistener_free(b.listener);
	http_front_free(&b.http);
	if (b.hb_timer)
		event_free(b.hb_timer);
	if (b.stop_timer)
		event_free(b.stop_timer);
	if (b.drain_timer)
		event_free(b.drain_timer);
	if (b.sig_term)
		event_free(b.sig_term);
	if (b.sig_int)
		event_free(b.sig_int);
	zsock_free(&b.zw);
	if (b.zsock)
		zmq_close(b.zsock);
	if (b.zctx)
		zmq_ctx_term(b.zctx);
	if (b.base)
		event_base_free(b.base);
	return rc;
}
