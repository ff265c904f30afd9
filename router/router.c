#include "router.h"
#include "builtin.h"
#include "inv.h"
#include "log.h"
#include "metrics.h"
#include "master.h"
#include "reg.h"
#include "store.h"
#include "wire.h"
#include "zcurve.h"
#include "zsock.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <zmq.h>

#define TICK_MS 1000
#define FRONT_DEAD_MS 5000
#define RECV_BATCH 1024

void reg_builtin_kinds(struct router *r);

int64_t router_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define KIND_MAX 32

static struct {
	const char *kind;
	router_kind_fn fn;
} kinds[KIND_MAX];
static size_t nkinds;

void router_on_kind(const char *kind, router_kind_fn fn)
{
	if (nkinds == KIND_MAX)
		abort();	/* a fixed set in practice; raise KIND_MAX */
	kinds[nkinds].kind = kind;
	kinds[nkinds].fn = fn;
	nkinds++;
}

void router_broadcast(struct router *r, const char *kind, const char *body, size_t len)
{
	struct lh_entry *e;
	lh_foreach(r->fronts, e)
		router_wire(r, (struct front *)lh_entry_v(e), kind, 0, body, len, NULL, 0);
}

void router_wire(struct router *r, struct front *f, const char *kind, uint64_t conn_id,
		 const char *body, size_t len, const char *key, size_t key_len)
{
	if (wire_send(r->zsock, f->ident, f->ident_len, kind, conn_id ? &conn_id : NULL,
		      conn_id ? 1 : 0, body, len, key, key_len) < 0)
		log_warn("front %s: could not send '%s': %s", f->ident, kind, zmq_strerror(errno));
	zsock_kick(r->zw);
}

void router_send(struct router *r, struct worker *w, const char *body, size_t len)
{
	router_wire(r, w->front, "send", w->conn_id, body, len, NULL, 0);
}

void router_send_result(struct router *r, struct worker *w, const char *key,
			const char *body, size_t len)
{
	router_wire(r, w->front, "result", w->conn_id, body, len, key, strlen(key));
}

void router_send_json(struct router *r, struct worker *w, json_object *o)
{
	size_t len;
	const char *s = json_object_to_json_string_length(o, JSON_FLAGS, &len);
	router_send(r, w, s, len);
}

void router_kick(struct router *r, struct worker *w, int code, const char *reason)
{
	char body[256];
	json_object *o = json_object_new_object();
	json_object_object_add(o, "code", json_object_new_int(code));
	json_object_object_add(o, "reason", json_object_new_string(reason));
	snprintf(body, sizeof body, "%s", json_object_to_json_string_ext(o, JSON_FLAGS));
	json_object_put(o);
	router_wire(r, w->front, "kick", w->conn_id, body, strlen(body), NULL, 0);
}

static void nofree(struct lh_entry *e)
{
	(void)e;
}

static struct front *front_find(struct router *r, const char *ident, size_t len)
{
	char key[64];
	void *v;

	if (len >= sizeof key)
		return NULL;
	memcpy(key, ident, len);
	key[len] = '\0';
	return lh_table_lookup_ex(r->fronts, key, &v) ? v : NULL;
}

static router_front_fn gone_fns[8];
static size_t ngone_fns;

void router_on_front_gone(router_front_fn fn)
{
	if (ngone_fns < sizeof gone_fns / sizeof gone_fns[0])
		gone_fns[ngone_fns++] = fn;
	else
		log_error("router_on_front_gone: too many handlers");
}

/*
 * A front is gone (crashed, replaced or silent): each of its connections
 * disconnects, and modules that keep per-front state (a fanout's stream
 * subscriptions) are told before the front is freed.
 */
static void front_dead(struct router *r, struct front *f, const char *why)
{
	struct lh_entry *e, *tmp;

	log_warn("front %s is gone (%s): cleaning up %d connections", f->ident, why,
		 lh_table_length(f->workers));
	lh_foreach_safe(f->workers, e, tmp)
		reg_worker_close(r, (struct worker *)lh_entry_v(e));
	for (size_t i = 0; i < ngone_fns; i++)
		gone_fns[i](r, f);
	if (f->draining) {
		r->ndraining--;
		/* its workers are reconnecting to the other brokers: hold their calls a while */
		if (lh_table_length(r->fronts) > 1)
			r->hold_until_ms = router_now_ms() + 10000;
	}
	lh_table_delete(r->fronts, f->ident);
	lh_table_free(f->workers);
	json_object_put(f->stat_http);
	free(f);
}

/*
 * A draining front (a broker stopping or being rolled) closes each of its
 * connections once it is idle: we tell it "idle" for a worker that neither
 * serves nor waits for a call. The broker closes the connection unless it
 * has since forwarded a new call from it (then the worker is busy here
 * again, and a later "idle" follows). Closing each connection at its own
 * idle moment, right behind its last result, leaves no call of an active
 * worker in flight when its close frame arrives.
 */
static void router_drain_check(struct router *r)
{
	struct lh_entry *e, *we;

	if (r->ndraining == 0)
		return;
	lh_foreach(r->fronts, e) {
		struct front *f = (struct front *)lh_entry_v(e);
		if (!f->draining)
			continue;
		lh_foreach(f->workers, we) {
			struct worker *w = (struct worker *)lh_entry_v(we);
			if (hmap_len(&w->inv_in) || hmap_len(&w->inv_out)) {
				w->drain_idle_sent = 0;
			} else if (!w->drain_idle_sent) {
				w->drain_idle_sent = 1;
				router_wire(r, f, "idle", w->conn_id, NULL, 0, NULL, 0);
			}
		}
	}
}

static void on_hello(struct router *r, struct wire_msg *m)
{
	json_object *o = wire_body_json(m, 8);
	json_object *v;
	int index = -1, ppid = 0;
	struct front *f;
	struct lh_entry *e, *tmp;

	if (o && json_object_object_get_ex(o, "index", &v))
		index = json_object_get_int(v);
	if (o && json_object_object_get_ex(o, "ppid", &v))
		ppid = json_object_get_int(v);
	json_object_put(o);
	if (m->ident_len >= sizeof f->ident)
		return;
	/* a respawned front takes the place of its previous generation */
	lh_foreach_safe(r->fronts, e, tmp) {
		struct front *old = (struct front *)lh_entry_v(e);
		if (index >= 0 && old->index == index && old->ppid == ppid &&
		    (old->ident_len != m->ident_len || memcmp(old->ident, m->ident, m->ident_len)))
			front_dead(r, old, "replaced by a new process");
	}
	f = front_find(r, m->ident, m->ident_len);
	if (!f) {
		f = calloc(1, sizeof *f);
		if (!f)
			return;
		memcpy(f->ident, m->ident, m->ident_len);
		f->ident_len = m->ident_len;
		f->index = index;
		f->ppid = ppid;
		f->workers = lh_kptr_table_new(256, nofree);
		lh_table_insert(r->fronts, f->ident, f);
		log_info("front %s connected", f->ident);
	}
	f->last_seen_ms = mono_ms();
	router_wire(r, f, "welcome", 0, r->epoch_str, strlen(r->epoch_str), NULL, 0);
}

static struct worker *front_worker(struct front *f, uint64_t conn_id)
{
	void *v;
	return lh_table_lookup_ex(f->workers, (void *)(uintptr_t)conn_id, &v) ? v : NULL;
}

static void on_front_msg(struct router *r, struct wire_msg *m)
{
	struct front *f;
	struct worker *w;

	if (log_level_cur >= LL_TRACE)
		log_msg(LL_TRACE, "from %.*s: %s (%zu ids, %zu bytes)", (int)m->ident_len, m->ident,
			m->kind, m->nids, m->body_len);
	if (strcmp(m->kind, "hello") == 0) {
		on_hello(r, m);
		/* modules registered for "hello" learn of a (re)connected front */
		if ((f = front_find(r, m->ident, m->ident_len)))
			for (size_t i = 0; i < nkinds; i++)
				if (strcmp(kinds[i].kind, "hello") == 0)
					kinds[i].fn(r, f, m);
		return;
	}
	f = front_find(r, m->ident, m->ident_len);
	if (!f) {
		/*
		 * We restarted, or declared this front dead, and it has not said
		 * hello since: ask it to replay. Its messages queued before the
		 * replay all land here, so ask at most once a second.
		 */
		int64_t now = mono_ms();
		if (now - r->last_resync_ms >= 1000 || m->ident_len != r->last_resync_len ||
		    memcmp(m->ident, r->last_resync_ident, m->ident_len) != 0) {
			r->last_resync_ms = now;
			r->last_resync_len = m->ident_len < sizeof r->last_resync_ident ?
				m->ident_len : sizeof r->last_resync_ident;
			memcpy(r->last_resync_ident, m->ident, r->last_resync_len);
			if (wire_send(r->zsock, m->ident, m->ident_len, "resync", NULL, 0, r->epoch_str,
				      strlen(r->epoch_str), NULL, 0) < 0)
				log_debug("resync: %s", zmq_strerror(errno));
			zsock_kick(r->zw);
		}
		return;
	}
	f->last_seen_ms = mono_ms();
	if (strcmp(m->kind, "hb") == 0) {
		metrics_front_hb(f, m->body, m->body_len);
		router_wire(r, f, "hb", 0, r->epoch_str, strlen(r->epoch_str), NULL, 0);
		return;
	}
	if (strcmp(m->kind, "drain") == 0) {
		if (!f->draining) {
			log_info("front %s is draining", f->ident);
			r->ndraining++;
		}
		f->draining = 1;
		return;
	}
	for (size_t i = 0; i < nkinds; i++) {
		if (strcmp(kinds[i].kind, m->kind) == 0) {
			kinds[i].fn(r, f, m);
			return;
		}
	}
	if (m->nids != 1) {
		log_warn("front %s: '%s' without a connection id", f->ident, m->kind);
		return;
	}
	uint64_t conn_id = wire_id(m, 0);
	if (strcmp(m->kind, "open") == 0) {
		/* parsed by length: the frame is not a C string (reading on lost opens) */
		json_object *o = wire_body_json(m, 8);
		if (o)
			reg_worker_open(r, f, conn_id, o);
		else
			log_warn("front %s: unparsable open for connection %" PRIu64, f->ident, conn_id);
		json_object_put(o);
		return;
	}
	w = front_worker(f, conn_id);
	if (strcmp(m->kind, "close") == 0) {
		if (w)
			reg_worker_close(r, w);
	} else if (strcmp(m->kind, "msg") == 0) {
		if (!w) {
			log_debug("front %s: message for unknown connection %" PRIu64, f->ident, conn_id);
			return;
		}
		if (inv_on_raw(r, w, m->body, m->body_len))
			return;
		json_tokener *tok = json_tokener_new_ex(r->cfg->max_json_depth + 2);
		json_object *o = tok ? json_tokener_parse_ex(tok, m->body, (int)m->body_len) : NULL;
		if (o && json_object_is_type(o, json_type_object))
			reg_on_message(r, w, o, m->body, m->body_len);
		else
			log_warn("front %s: unparsable message from worker %s", f->ident, w->id);
		json_object_put(o);
		if (tok)
			json_tokener_free(tok);
	} else if (strcmp(m->kind, "otel") == 0) {
		r->otel_log_batches++;	/* log records: consumed by the log trigger */
	} else {
		log_warn("front %s: unknown message kind '%s'", f->ident, m->kind);
	}
}

static void router_on_zmq(void *sock, void *arg)
{
	struct router *r = arg;
	struct wire_msg m;

	for (int i = 0; i < RECV_BATCH; i++) {
		int rc = wire_recv(sock, 1, &m);
		if (rc == 1)
			break;
		if (rc < 0)
			continue;
		on_front_msg(r, &m);
		wire_msg_close(&m);
	}
	router_drain_check(r);
	if (r->parked)
		inv_parked_retry(r);
}

static void router_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct router *r = arg;
	struct lh_entry *e, *tmp;
	int64_t now = mono_ms();

	(void)fd;
	(void)what;
	lh_foreach_safe(r->fronts, e, tmp) {
		struct front *f = (struct front *)lh_entry_v(e);
		if (now - f->last_seen_ms > FRONT_DEAD_MS)
			front_dead(r, f, "no heartbeat");
	}
	router_drain_check(r);	/* calls that ended by a timeout */
	if (r->parked)
		inv_parked_retry(r);
}

/*
 * SIGHUP (the master sends it on a reload): read the configuration again
 * and apply the reloadable settings in place; on an error keep them all.
 * Invocations started from now on use the new invocation_timeout_ms.
 */
static void router_on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct router *r = arg;
	struct cfg next;
	char err[512];
	struct timeval tmo;

	(void)sig;
	(void)what;
	if (cfg_reload(&next, err, sizeof err) < 0) {
		log_error("reload: %s; keeping the running configuration", err);
		return;
	}
	cfg_apply_reload((struct cfg *)r->cfg, &next, NULL);
	log_level_cur = r->cfg->log_level;
	log_format_cur = r->cfg->log_format;
	r->inv_timeout = NULL;
	if (r->cfg->invocation_timeout_ms > 0) {
		tmo.tv_sec = (time_t)(r->cfg->invocation_timeout_ms / 1000);
		tmo.tv_usec = (suseconds_t)(r->cfg->invocation_timeout_ms % 1000) * 1000;
		r->inv_timeout = event_base_init_common_timeout(r->base, &tmo);
	}
	log_info("reload: applied (log_level %s, invocation_timeout_ms %lld)",
		 log_level_name(r->cfg->log_level), (long long)r->cfg->invocation_timeout_ms);
}

static void router_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct router *r = arg;
	(void)what;
	log_info("stopping on signal %d", (int)sig);
	event_base_loopexit(r->base, NULL);
}

static int router_bind(struct router *r)
{
	int linger = 200, hwm = 200000;

	r->zctx = zmq_ctx_new();
	r->zsock = zmq_socket(r->zctx, ZMQ_ROUTER);
	if (!r->zsock)
		return -1;
	zmq_setsockopt(r->zsock, ZMQ_LINGER, &linger, sizeof linger);
	zmq_setsockopt(r->zsock, ZMQ_SNDHWM, &hwm, sizeof hwm);
	zmq_setsockopt(r->zsock, ZMQ_RCVHWM, &hwm, sizeof hwm);
	if (zmq_bind(r->zsock, r->cfg->router_endpoint) < 0) {
		log_error("cannot bind %s: %s", r->cfg->router_endpoint, zmq_strerror(errno));
		return -1;
	}
	/* other hosts' brokers: CURVE on the TCP endpoint only, the allow-list first */
	int zap_failed;
	r->zap = zap_start(r->zctx, r->base, r->cfg, &zap_failed);
	if (zap_failed || zcurve_server(r->zsock, r->cfg) < 0)
		return -1;
	if (r->cfg->router_listen[0] && zmq_bind(r->zsock, r->cfg->router_listen) < 0) {
		log_error("cannot bind %s: %s", r->cfg->router_listen, zmq_strerror(errno));
		return -1;
	}
	return 0;
}

int router_main(const struct cfg *cfg)
{
	struct router r;
	struct timeval tick = { TICK_MS / 1000, (TICK_MS % 1000) * 1000 };
	struct timeval tmo;
	int rc = 1;

	memset(&r, 0, sizeof r);
	r.cfg = cfg;
	r.epoch = id_random64();
	snprintf(r.epoch_str, sizeof r.epoch_str, "%" PRIu64, r.epoch);
	signal(SIGPIPE, SIG_IGN);
	r.base = event_base_new();
	if (!r.base)
		goto out;
	r.fronts = lh_kchar_table_new(64, nofree);
	hmap_init(&r.invs);
	reg_init(&r);
	reg_builtin_kinds(&r);
	builtin_init();
	if (cfg->invocation_timeout_ms > 0) {
		tmo.tv_sec = (time_t)(cfg->invocation_timeout_ms / 1000);
		tmo.tv_usec = (suseconds_t)(cfg->invocation_timeout_ms % 1000) * 1000;
		/* one shared timeout: libevent keeps these in a queue, O(1) per call */
		r.inv_timeout = event_base_init_common_timeout(r.base, &tmo);
	}
	{
		char err[512];
		r.store = store_open(r.base, cfg->data_dir, (size_t)cfg->store_map_size, err, sizeof err);
		if (!r.store) {
			log_error("storage: %s", err);
			rc = EX_CONFIG;
			goto out;
		}
	}
	/* modules start with the store open and the timeouts set */
	router_modules_init(&r);
	if (router_bind(&r) < 0 || metrics_init(&r) < 0) {
		rc = EX_CONFIG;	/* the master must not respawn us in a loop */
		goto out;
	}
	r.zw = zsock_watch(r.base, r.zsock, router_on_zmq, &r);
	r.tick = event_new(r.base, -1, EV_PERSIST, router_on_tick, &r);
	event_add(r.tick, &tick);
	r.sig_term = evsignal_new(r.base, SIGTERM, router_on_signal, &r);
	r.sig_int = evsignal_new(r.base, SIGINT, router_on_signal, &r);
	r.sig_hup = evsignal_new(r.base, SIGHUP, router_on_hup, &r);
	event_add(r.sig_hup, NULL);
	event_add(r.sig_term, NULL);
	event_add(r.sig_int, NULL);
	log_info("router ready on %s (epoch %s)", cfg->router_endpoint, r.epoch_str);
	master_child_ready();
	event_base_dispatch(r.base);
	rc = 0;
out:
	if (r.workers) {
		struct lh_entry *e, *tmp;
		/* answers waiting for the last commit go out while their callers exist */
		if (r.store)
			store_commit(r.store);
		/* bindings go while their modules still exist, then the modules */
		inv_free_all(&r);
		inv_parked_free(&r);
		reg_free(&r);
		router_modules_free(&r);
		lh_foreach_safe(r.fronts, e, tmp) {
			struct front *f = (struct front *)lh_entry_v(e);
			lh_table_free(f->workers);
			json_object_put(f->stat_http);
			free(f);
		}
	}
	metrics_free(&r);
	store_close(&r.store);
	if (r.fronts)
		lh_table_free(r.fronts);
	hmap_free(&r.invs);
	if (r.tick)
		event_free(r.tick);
	if (r.sig_term)
		event_free(r.sig_term);
	if (r.sig_int)
		event_free(r.sig_int);
	if (r.sig_hup)
		event_free(r.sig_hup);
	zap_free(&r.zap);
	zsock_free(&r.zw);
	if (r.zsock)
		zmq_close(r.zsock);
	if (r.zctx)
		zmq_ctx_term(r.zctx);
	if (r.base)
		event_base_free(r.base);
	return rc;
}
