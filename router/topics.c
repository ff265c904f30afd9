#include "topics.h"
#include "builtin.h"
#include "inv.h"
#include "log.h"
#include "reg.h"
#include "store.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * Storage layout, database "topics" (seq = 8 bytes big-endian, so a prefix
 * scan returns a queue's messages in publish order):
 *   'm' QNAME '\0' seq   a message waiting or in flight: {id, fn, topic?, data, t, att, g?}
 *   'd' QNAME '\0' seq   a dead letter: {job: <message>, error, failed_at}
 *   'b' TOPIC '\0' seq   a message published while the topic had no subscriber
 *   's' TOPIC '\0' FN    FN is a durable subscriber of TOPIC (gets a copy of each publish)
 * QNAME is "t:TOPIC::FN" for a subscriber's queue and "q:NAME" for a named queue.
 */
#define TDB "topics"
#define KEY_MAX 480		/* LMDB's default key limit is 511 bytes */
#define SWEEP_MS 10000
#define PUBLISH_FN "iii::durable::publish"

struct tq;
struct tdel;

/* A message waiting in (or being delivered from) a queue; the data stays in the store. */
struct tmsg {
	struct tmsg *prev, *next;	/* queue order = publish order */
	struct tq *q;
	uint64_t seq;
	int attempts;			/* deliveries started so far */
	int64_t not_before;		/* monotonic ms: backing off until then */
	int64_t born_ms;		/* wall clock of the publish (retention) */
	char *group;			/* FIFO message group, NULL = the queue's one group */
	struct tdel *del;		/* the delivery in flight, or NULL */
};

struct tq {
	char *name;			/* QNAME (table key) */
	char *topic;			/* subscriber queue: its topic; named queue: NULL */
	char *fn;			/* subscriber queue: its function; named: per message */
	char *cond_fn;			/* condition_function_id, or NULL */
	int max_attempts, concurrency, fifo;
	char group_field[64];
	int64_t backoff_ms, vis_ms;
	int consumers;			/* live durable:subscriber triggers (named: 1) */
	struct tmsg *head, *tail;
	size_t depth, inflight, dlq;
	struct event *timer;		/* wakes the queue when a backoff ends */
	int64_t timer_at;
	int dirty;
};

/* One delivery: outlives its message when the visibility timeout fires first. */
struct tdel {
	struct tdel *prev, *next;	/* every live delivery (freed at shutdown) */
	struct tmsg *m;			/* NULL once abandoned */
	struct event *vis;
	char *fn;
	json_object *data;		/* kept between the condition and the handler */
};

struct ttopic {
	char *name;
	char **fns;			/* durable subscribers (also in the store) */
	size_t nfns, capfns;
	size_t backlog;			/* 'b' entries */
};

struct topics {
	struct router *r;
	struct lh_table *queues;	/* QNAME -> struct tq * */
	struct lh_table *topics;	/* topic -> struct ttopic * */
	struct tdel *dels;
	struct event *pump_ev, *tick;
	uint64_t seq;
	int loaded;
	int64_t last_sweep;
};

static struct topics *T;	/* one router per process */

static void nofree(struct lh_entry *e)
{
	(void)e;
}

static json_object *jget(json_object *o, const char *k)
{
	json_object *v;
	return o && json_object_object_get_ex(o, k, &v) ? v : NULL;
}

static const char *jstr(json_object *o, const char *k)
{
	json_object *v = jget(o, k);
	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- keys --------------------------------------------------------------- */

/* tag NAME '\0' seq; returns the length, or 0 when NAME is too long. */
static size_t key_seq(char *k, char tag, const char *name, uint64_t seq)
{
	size_t n = strlen(name);

	if (n + 10 > KEY_MAX)
		return 0;
	k[0] = tag;
	memcpy(k + 1, name, n);
	k[n + 1] = '\0';
	for (int i = 0; i < 8; i++)
		k[n + 2 + i] = (char)(seq >> (56 - 8 * i));
	return n + 10;
}

static uint64_t key_get_seq(const char *k, size_t klen)
{
	uint64_t s = 0;
	for (size_t i = klen - 8; i < klen; i++)
		s = (s << 8) | (unsigned char)k[i];
	return s;
}

static int put_json(const char *k, size_t kl, json_object *o)
{
	size_t len;
	const char *s = json_object_to_json_string_length(o, JSON_FLAGS, &len);
	return store_put(T->r->store, TDB, k, kl, s, len);
}

static json_object *get_json(const char *k, size_t kl)
{
	void *v = NULL;
	size_t vl;
	json_object *o;

	if (store_get(T->r->store, TDB, k, kl, &v, &vl) != 0)
		return NULL;
	o = json_tokener_parse(v);
	free(v);
	return o;
}

/* ---- queues ------------------------------------------------------------- */

static void pump_schedule(struct tq *q)
{
	if (!q->dirty) {
		q->dirty = 1;
		event_active(T->pump_ev, EV_TIMEOUT, 0);
	}
}

static void q_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct tq *q = arg;
	(void)fd;
	(void)what;
	q->timer_at = 0;
	pump_schedule(q);
}

static struct tq *q_find(const char *name)
{
	void *v;
	return lh_table_lookup_ex(T->queues, name, &v) ? v : NULL;
}

static void q_defaults(struct tq *q)
{
	q->max_attempts = 3;
	q->concurrency = 10;
	q->fifo = 0;
	q->group_field[0] = '\0';
	q->backoff_ms = 1000;
	q->vis_ms = T->r->cfg->topic_visibility_timeout_ms;
}

static struct tq *q_get(const char *name, const char *topic, const char *fn)
{
	struct tq *q = q_find(name);

	if (q)
		return q;
	q = calloc(1, sizeof *q);
	if (!q || !(q->name = strdup(name)) || (topic && !(q->topic = strdup(topic))) ||
	    (fn && !(q->fn = strdup(fn))))
		abort();	/* out of memory while rebuilding state: nothing sane to do */
	q_defaults(q);
	q->timer = evtimer_new(T->r->base, q_on_timer, q);
	lh_table_insert(T->queues, q->name, q);
	return q;
}

static void q_apply_named(struct tq *q, const struct cfg_queue *c)
{
	q->max_attempts = c->max_retries;
	q->concurrency = c->concurrency;
	q->fifo = c->fifo;
	snprintf(q->group_field, sizeof q->group_field, "%s", c->group_field);
	q->backoff_ms = c->backoff_ms;
	q->vis_ms = c->visibility_timeout_ms;
}

static void subq_name(char *out, size_t len, const char *topic, const char *fn)
{
	snprintf(out, len, "t:%s::%s", topic, fn);
}

static struct tmsg *msg_add(struct tq *q, uint64_t seq, int attempts, int64_t born,
			    const char *group)
{
	struct tmsg *m = calloc(1, sizeof *m);

	if (!m || (group && !(m->group = strdup(group))))
		abort();
	m->q = q;
	m->seq = seq;
	m->attempts = attempts;
	m->born_ms = born;
	/* keys arrive in seq order (new publishes, the load scan) except on redrive */
	struct tmsg *after = q->tail;
	while (after && after->seq > seq)
		after = after->prev;
	m->prev = after;
	m->next = after ? after->next : q->head;
	if (m->next)
		m->next->prev = m;
	else
		q->tail = m;
	if (after)
		after->next = m;
	else
		q->head = m;
	q->depth++;
	return m;
}

static void msg_free(struct tmsg *m)
{
	struct tq *q = m->q;

	if (m->prev)
		m->prev->next = m->next;
	else
		q->head = m->next;
	if (m->next)
		m->next->prev = m->prev;
	else
		q->tail = m->prev;
	q->depth--;
	free(m->group);
	free(m);
}

/* ---- topics ------------------------------------------------------------- */

static struct ttopic *topic_get(const char *name, int create)
{
	struct ttopic *t;
	void *v;

	if (lh_table_lookup_ex(T->topics, name, &v))
		return v;
	if (!create)
		return NULL;
	t = calloc(1, sizeof *t);
	if (!t || !(t->name = strdup(name)))
		abort();
	lh_table_insert(T->topics, t->name, t);
	return t;
}

static int topic_has_fn(struct ttopic *t, const char *fn)
{
	for (size_t i = 0; i < t->nfns; i++)
		if (strcmp(t->fns[i], fn) == 0)
			return 1;
	return 0;
}

static void topic_add_fn(struct ttopic *t, const char *fn)
{
	if (t->nfns == t->capfns) {
		size_t cap = t->capfns ? t->capfns * 2 : 4;
		char **p = realloc(t->fns, cap * sizeof *p);
		if (!p)
			abort();
		t->fns = p;
		t->capfns = cap;
	}
	if (!(t->fns[t->nfns++] = strdup(fn)))
		abort();
}

/* ---- loading ------------------------------------------------------------ */

static int load_visit(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	const char *k = key;
	char name[KEY_MAX + 1];
	json_object *o;
	struct tq *q;

	(void)arg;
	if (klen < 2 || klen > KEY_MAX)
		return 0;
	if (k[0] == 's') {
		size_t tl = strnlen(k + 1, klen - 1);
		if (tl + 1 >= klen)
			return 0;
		memcpy(name, k + 1, tl);
		name[tl] = '\0';
		char fn[KEY_MAX + 1];
		memcpy(fn, k + tl + 2, klen - tl - 2);
		fn[klen - tl - 2] = '\0';
		struct ttopic *t = topic_get(name, 1);
		if (!topic_has_fn(t, fn))
			topic_add_fn(t, fn);
		return 0;
	}
	if (klen < 10 || (k[0] != 'm' && k[0] != 'd' && k[0] != 'b') || k[klen - 9] != '\0')
		return 0;
	memcpy(name, k + 1, klen - 10);
	name[klen - 10] = '\0';
	uint64_t seq = key_get_seq(k, klen);
	if (seq >= T->seq)
		T->seq = seq + 1;
	if (k[0] == 'b') {
		topic_get(name, 1)->backlog++;
		return 0;
	}
	{
		char *text = strndup(val, vlen);
		o = text ? json_tokener_parse(text) : NULL;
		free(text);
	}
	if (!o) {
		log_warn("topics: unreadable record in queue %s (seq %" PRIu64 "); left in place",
			 name, seq);
		return 0;
	}
	json_object *rec = k[0] == 'd' ? jget(o, "job") : o;
	const char *topic = jstr(rec, "topic");
	q = q_get(name, strncmp(name, "t:", 2) == 0 ? topic : NULL,
		  strncmp(name, "t:", 2) == 0 ? jstr(rec, "fn") : NULL);
	if (k[0] == 'd') {
		q->dlq++;
	} else {
		json_object *a = jget(rec, "att"), *t = jget(rec, "t");
		msg_add(q, seq, a ? json_object_get_int(a) : 0, t ? json_object_get_int64(t) : 0,
			jstr(rec, "g"));
	}
	json_object_put(o);
	return 0;
}

/*
 * The store is opened after the modules start, so state is read on first
 * use (the first loop turn at the latest).
 */
static int topics_ready(void)
{
	struct router *r = T->r;

	if (T->loaded)
		return 0;
	if (!r->store)
		return -1;
	T->loaded = 1;
	T->seq = 1;
	for (int i = 0; i < r->cfg->nqueues; i++) {
		char name[80];
		snprintf(name, sizeof name, "q:%s", r->cfg->queues[i].name);
		struct tq *q = q_get(name, NULL, NULL);
		q_apply_named(q, &r->cfg->queues[i]);
		q->consumers = 1;
	}
	if (store_foreach(r->store, TDB, NULL, 0, load_visit, NULL) < 0)
		log_error("topics: cannot read the stored messages");
	struct lh_entry *e;
	size_t n = 0;
	lh_foreach(T->queues, e) {
		struct tq *q = (struct tq *)lh_entry_v(e);
		n += q->depth;
		if (q->depth && strncmp(q->name, "q:", 2) == 0 && !q->consumers)
			log_warn("topics: queue %s has %zu messages but is no longer declared; "
				 "they wait until it is", q->name + 2, q->depth);
		if (q->depth)
			pump_schedule(q);
	}
	if (n)
		log_info("topics: %zu unacknowledged messages to deliver", n);
	return 0;
}

/* ---- delivery ----------------------------------------------------------- */

static void deliver(struct tq *q, struct tmsg *m);
static void nack(struct tq *q, struct tmsg *m, const char *why);

static void del_free(struct tdel *d)
{
	if (d->prev)
		d->prev->next = d->next;
	else
		T->dels = d->next;
	if (d->next)
		d->next->prev = d->prev;
	if (d->vis)
		event_free(d->vis);
	json_object_put(d->data);
	free(d->fn);
	free(d);
}

/* Detach a finished (or abandoned) delivery from its message. */
static struct tmsg *del_detach(struct tdel *d)
{
	struct tmsg *m = d->m;

	if (!m)
		return NULL;
	d->m = NULL;
	m->del = NULL;
	m->q->inflight--;
	if (d->vis) {
		event_free(d->vis);
		d->vis = NULL;
	}
	return m;
}

static void ack(struct tq *q, struct tmsg *m)
{
	char k[KEY_MAX];
	size_t kl = key_seq(k, 'm', q->name, m->seq);

	store_del(T->r->store, TDB, k, kl);
	msg_free(m);
	pump_schedule(q);
}

/* Failed attempt: back off and retry, or move to the dead-letter queue. */
static void nack(struct tq *q, struct tmsg *m, const char *why)
{
	char k[KEY_MAX], dk[KEY_MAX];
	size_t kl = key_seq(k, 'm', q->name, m->seq);
	json_object *rec = get_json(k, kl);

	if (m->attempts >= q->max_attempts) {
		json_object *d = json_object_new_object();
		json_object_object_add(d, "job", rec ? rec : json_object_new_object());
		json_object_object_add(json_object_object_get(d, "job"), "att",
				       json_object_new_int(m->attempts));
		json_object_object_add(d, "error", json_object_new_string(why));
		json_object_object_add(d, "failed_at", json_object_new_int64(router_now_ms()));
		put_json(dk, key_seq(dk, 'd', q->name, m->seq), d);
		json_object_put(d);
		store_del(T->r->store, TDB, k, kl);
		q->dlq++;
		log_info("topics: message %" PRIu64 " of %s moved to the dead-letter queue after %d "
			 "attempts: %s", m->seq, q->name, m->attempts, why);
		msg_free(m);
		pump_schedule(q);
		return;
	}
	if (rec) {
		json_object_object_add(rec, "att", json_object_new_int(m->attempts));
		put_json(k, kl, rec);
		json_object_put(rec);
	}
	int64_t delay = q->backoff_ms << (m->attempts - 1 < 20 ? m->attempts - 1 : 20);
	m->not_before = mono_ms() + delay;
	log_debug("topics: message %" PRIu64 " of %s failed (%s); retry in %lld ms", m->seq,
		  q->name, why, (long long)delay);
	pump_schedule(q);
}

static void error_text(json_object *error, char *out, size_t len)
{
	const char *code = jstr(error, "code"), *msg = jstr(error, "message");
	snprintf(out, len, "%s%s%s", code ? code : "error", msg ? ": " : "", msg ? msg : "");
}

static void on_handler_done(struct router *r, void *arg, json_object *result, json_object *error)
{
	struct tdel *d = arg;
	struct tmsg *m = del_detach(d);
	char why[512];

	(void)r;
	(void)result;
	del_free(d);
	if (!m)
		return;		/* abandoned after its visibility timeout */
	if (error) {
		error_text(error, why, sizeof why);
		nack(m->q, m, why);
	} else {
		ack(m->q, m);
	}
}

/* condition_function_id: false skips (acknowledges) the message. */
static void on_condition_done(struct router *r, void *arg, json_object *result, json_object *error)
{
	struct tdel *d = arg;
	char why[512];

	if (!d->m) {
		del_free(d);
		return;
	}
	if (error) {
		struct tmsg *m = del_detach(d);
		del_free(d);
		error_text(error, why, sizeof why);
		nack(m->q, m, why);
		return;
	}
	if (json_object_is_type(result, json_type_boolean) && !json_object_get_boolean(result)) {
		struct tmsg *m = del_detach(d);
		del_free(d);
		ack(m->q, m);
		return;
	}
	inv_start(r, NULL, NULL, 1, d->fn, d->data, NULL, on_handler_done, d);
}

static void on_visibility_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct tdel *d = arg;
	struct tmsg *m = del_detach(d);
	char why[128];

	(void)fd;
	(void)what;
	if (!m)
		return;
	snprintf(why, sizeof why, "visibility timeout: no answer within %lld ms",
		 (long long)m->q->vis_ms);
	log_info("topics: %s, message %" PRIu64 " of %s: %s", d->fn, m->seq, m->q->name, why);
	nack(m->q, m, why);	/* the late answer, if any, is ignored */
}

static void deliver(struct tq *q, struct tmsg *m)
{
	char k[KEY_MAX];
	size_t kl = key_seq(k, 'm', q->name, m->seq);
	json_object *rec = get_json(k, kl);
	const char *fn = q->fn ? q->fn : jstr(rec, "fn");
	struct tdel *d;
	struct timeval tv;

	if (!rec || !fn) {
		log_error("topics: message %" PRIu64 " of %s is missing from the store; dropped",
			  m->seq, q->name);
		json_object_put(rec);
		store_del(T->r->store, TDB, k, kl);
		msg_free(m);
		return;
	}
	d = calloc(1, sizeof *d);
	if (!d || !(d->fn = strdup(fn))) {
		free(d);
		json_object_put(rec);
		return;
	}
	d->data = json_object_get(jget(rec, "data"));
	json_object_put(rec);
	d->m = m;
	m->del = d;
	m->attempts++;
	q->inflight++;
	d->next = T->dels;
	if (T->dels)
		T->dels->prev = d;
	T->dels = d;
	d->vis = evtimer_new(T->r->base, on_visibility_timeout, d);
	tv.tv_sec = (time_t)(q->vis_ms / 1000);
	tv.tv_usec = (suseconds_t)(q->vis_ms % 1000) * 1000;
	if (d->vis)
		evtimer_add(d->vis, &tv);
	/* inv_start may answer at once (a built-in, an unknown function): d can be gone after */
	if (q->cond_fn)
		inv_start(T->r, NULL, NULL, 1, q->cond_fn, d->data, NULL, on_condition_done, d);
	else
		inv_start(T->r, NULL, NULL, 1, d->fn, d->data, NULL, on_handler_done, d);
}

static uint64_t group_hash(const char *g)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */
	for (; g && *g; g++)
		h = (h ^ (unsigned char)*g) * 1099511628211ULL;
	return h;
}

/*
 * Start as many deliveries as the queue allows: up to `concurrency` at once;
 * in FIFO mode only the oldest message of each group (the whole queue is
 * one group without group_field), and a group waits while its head backs off.
 */
static void pump(struct tq *q)
{
	uint64_t busy[64];		/* FIFO groups taken in this pass (hashes) */
	size_t nbusy = 0;
	int64_t now = mono_ms(), wake = 0;
	struct function *f;

	if (!q->consumers || !q->head)
		return;
	if (q->fn && (!(f = reg_function_find(T->r, q->fn)) || f->nprov == 0))
		return;		/* the subscriber's function is not served right now */
	for (struct tmsg *m = q->head, *next; m && q->inflight < (size_t)q->concurrency; m = next) {
		next = m->next;
		if (q->fifo) {
			/* a hash collision only serializes two groups: never unsafe */
			uint64_t g = group_hash(m->group);
			int seen = 0;
			for (size_t i = 0; i < nbusy && !seen; i++)
				seen = busy[i] == g;
			if (seen)
				continue;
			if (nbusy == sizeof busy / sizeof busy[0])
				break;
			busy[nbusy++] = g;
		}
		if (m->del)
			continue;
		if (m->not_before > now) {
			if (!wake || m->not_before < wake)
				wake = m->not_before;
			continue;
		}
		deliver(q, m);
	}
	if (wake && (!q->timer_at || wake < q->timer_at)) {
		struct timeval tv = { (time_t)((wake - now) / 1000),
				      (suseconds_t)((wake - now) % 1000) * 1000 };
		q->timer_at = wake;
		evtimer_add(q->timer, &tv);
	}
}

static void on_pump(evutil_socket_t fd, short what, void *arg)
{
	struct lh_entry *e;

	(void)fd;
	(void)what;
	(void)arg;
	if (topics_ready() < 0)
		return;
	lh_foreach(T->queues, e) {
		struct tq *q = (struct tq *)lh_entry_v(e);
		if (q->dirty) {
			q->dirty = 0;
			pump(q);
		}
	}
}

/* ---- accepting messages ------------------------------------------------- */

/* Store one message in q; NULL when the store refuses it. */
static struct tmsg *q_push(struct tq *q, json_object *data, const char *fn, const char *topic,
			   const char *id, const char *group, int64_t born)
{
	char k[KEY_MAX];
	size_t kl = key_seq(k, 'm', q->name, T->seq);
	json_object *rec;
	int rc;

	if (!kl)
		return NULL;
	rec = json_object_new_object();
	json_object_object_add(rec, "id", json_object_new_string(id));
	json_object_object_add(rec, "fn", json_object_new_string(fn));
	if (topic)
		json_object_object_add(rec, "topic", json_object_new_string(topic));
	json_object_object_add(rec, "data", json_object_get(data));
	json_object_object_add(rec, "t", json_object_new_int64(born));
	json_object_object_add(rec, "att", json_object_new_int(0));
	if (group)
		json_object_object_add(rec, "g", json_object_new_string(group));
	rc = put_json(k, kl, rec);
	json_object_put(rec);
	if (rc < 0)
		return NULL;
	pump_schedule(q);
	return msg_add(q, T->seq++, 0, born, group);
}

/* One copy per durable subscriber; kept as backlog when there is none. */
static int publish(const char *topic, json_object *data, const char *id)
{
	struct ttopic *t = topic_get(topic, 1);
	char name[KEY_MAX + 16];
	int64_t now = router_now_ms();

	if (t->nfns == 0) {
		char k[KEY_MAX];
		size_t kl = key_seq(k, 'b', topic, T->seq++);
		json_object *rec;
		int rc;
		if (!kl)
			return -1;
		rec = json_object_new_object();
		json_object_object_add(rec, "id", json_object_new_string(id));
		json_object_object_add(rec, "data", json_object_get(data));
		json_object_object_add(rec, "t", json_object_new_int64(now));
		rc = put_json(k, kl, rec);
		json_object_put(rec);
		if (rc == 0)
			t->backlog++;
		return rc;
	}
	for (size_t i = 0; i < t->nfns; i++) {
		char mid[ID_UUID_LEN + 1];
		subq_name(name, sizeof name, topic, t->fns[i]);
		if (i)
			id_uuid4(mid);
		if (!q_push(q_get(name, topic, t->fns[i]), data, t->fns[i], topic, i ? mid : id,
			    NULL, now))
			return -1;
	}
	return 0;
}

struct pending_reply {
	char worker[ID_UUID_LEN + 1];
	char inv[ID_UUID_LEN + 1];
	char *fn;
	json_object *result;
	const char *err_code;
};

/* Answer the caller once its message is on disk (or tell it the write failed). */
static void reply_after_commit(void *arg, int ok)
{
	struct pending_reply *p = arg;
	struct worker *w = T ? reg_worker_find(T->r, p->worker) : NULL;

	if (w) {
		json_object *o;
		if (ok) {
			o = json_object_new_object();
			json_object_object_add(o, "type", json_object_new_string("invocationresult"));
			json_object_object_add(o, "invocation_id", json_object_new_string(p->inv));
			json_object_object_add(o, "function_id", json_object_new_string(p->fn));
			json_object_object_add(o, "result", json_object_get(p->result));
		} else {
			o = inv_error_msg(p->inv, p->fn, p->err_code,
					  "the message could not be stored");
		}
		size_t len;
		const char *s = json_object_to_json_string_length(o, JSON_FLAGS, &len);
		router_send_result(T->r, w, p->inv, s, len);
		json_object_put(o);
	}
	json_object_put(p->result);
	free(p->fn);
	free(p);
}

static void reply_now(struct router *r, struct worker *w, const char *inv, const char *fn,
		      const char *code, const char *msg)
{
	json_object *o;
	size_t len;
	const char *s;

	if (!inv)
		return;
	o = inv_error_msg(inv, fn, code, msg);
	s = json_object_to_json_string_length(o, JSON_FLAGS, &len);
	router_send_result(r, w, inv, s, len);
	json_object_put(o);
}

static void reply_later(struct router *r, struct worker *w, const char *inv, const char *fn,
			json_object *result, const char *err_code)
{
	struct pending_reply *p;

	if (!inv) {
		json_object_put(result);
		return;
	}
	p = calloc(1, sizeof *p);
	if (!p || !(p->fn = strdup(fn))) {
		free(p);
		json_object_put(result);
		reply_now(r, w, inv, fn, err_code, "out of memory");
		return;
	}
	snprintf(p->worker, sizeof p->worker, "%s", w->id);
	snprintf(p->inv, sizeof p->inv, "%s", inv);
	p->result = result;
	p->err_code = err_code;
	store_after_commit(r->store, reply_after_commit, p);
}

static void on_enqueue(struct router *r, struct worker *w, json_object *msg, const char *inv,
		       const char *fn, json_object *action)
{
	const char *qn = jstr(action, "queue");
	json_object *data = jget(msg, "data");
	char name[80], m[256], id[ID_UUID_LEN + 1];
	const char *group = NULL;
	struct tq *q = NULL;

	if (qn && strlen(qn) < 64) {
		snprintf(name, sizeof name, "q:%s", qn);
		q = q_find(name);
	}
	if (!q || !q->consumers) {
		snprintf(m, sizeof m, "Queue '%.64s' not found (declare it with the queue directive)",
			 qn ? qn : "");
		reply_now(r, w, inv, fn, "enqueue_error", m);
		return;
	}
	if (q->group_field[0]) {
		json_object *g = jget(data, q->group_field);
		if (!g || json_object_is_type(g, json_type_null)) {
			snprintf(m, sizeof m, "Queue '%s' is FIFO by '%s': data.%s must be present",
				 qn, q->group_field, q->group_field);
			reply_now(r, w, inv, fn, "enqueue_error", m);
			return;
		}
		group = json_object_is_type(g, json_type_string) ? json_object_get_string(g) :
			json_object_to_json_string_ext(g, JSON_FLAGS);
	}
	id_uuid4(id);
	if (!q_push(q, data, fn, NULL, id, group, router_now_ms())) {
		reply_now(r, w, inv, fn, "enqueue_error", "the message could not be stored");
		return;
	}
	json_object *res = json_object_new_object();
	json_object_object_add(res, "messageReceiptId", json_object_new_string(id));
	reply_later(r, w, inv, fn, res, "enqueue_error");
}

int topics_on_invoke(struct router *r, struct worker *w, json_object *msg)
{
	json_object *action = jget(msg, "action");
	const char *at = jstr(action, "type");
	const char *fn = jstr(msg, "function_id");
	const char *inv = jstr(msg, "invocation_id");

	if (!T || !fn || !at || strcmp(at, "enqueue") != 0)
		return 0;
	if (topics_ready() < 0) {
		reply_now(r, w, inv, fn, "enqueue_error", "storage is not open");
		return 1;
	}
	on_enqueue(r, w, msg, inv, fn, action);
	return 1;
}

/* Answer a publish once its copies are on disk (or say that the write failed). */
static void publish_committed(void *arg, int ok)
{
	struct inv_deferred *d = arg;
	json_object *err;

	if (!T) {
		inv_deferred_drop(d);	/* shutdown: the registry is gone, nobody to answer */
		return;
	}
	err = ok ? NULL : builtin_error("publish_error", "the message could not be stored");
	inv_deferred_finish(T->r, d, NULL, err);
	json_object_put(err);
}

/*
 * iii::durable::publish, for every caller (a worker's call takes the router's
 * fast path straight here): the answer waits for the commit, so that a
 * publish acknowledged to its caller survives a crash of the router.
 */
static void bi_publish(struct router *r, struct worker *caller, json_object *data,
		       json_object **result, json_object **error)
{
	const char *topic = jstr(data, "topic");
	char id[ID_UUID_LEN + 1];
	struct inv_deferred *d;

	(void)caller;
	(void)result;
	if (topics_ready() < 0) {
		*error = builtin_error("publish_error", "storage is not open");
		return;
	}
	if (!topic || !*topic) {
		*error = builtin_error("topic_not_set", "iii::durable::publish needs a topic");
		return;
	}
	if (!(d = inv_defer())) {
		*error = builtin_error("publish_error", "out of memory");
		return;
	}
	id_uuid4(id);
	if (publish(topic, jget(data, "data"), id) < 0) {
		json_object *err = builtin_error("publish_error", "the message could not be stored");
		inv_deferred_finish(r, d, NULL, err);
		json_object_put(err);
		return;
	}
	store_after_commit(r->store, publish_committed, d);
}

/* ---- the durable:subscriber trigger kind --------------------------------- */

static int cfg_int(json_object *qc, const char *k, int64_t min, int64_t max, int64_t *out,
		   char *err, size_t errlen)
{
	json_object *v = jget(qc, k);

	if (!v || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < min ||
	    json_object_get_int64(v) > max) {
		snprintf(err, errlen, "queue_config.%s must be an integer in [%lld, %lld]", k,
			 (long long)min, (long long)max);
		return -1;
	}
	*out = json_object_get_int64(v);
	return 0;
}

/* queue_config (camelCase keys, reference §6.2) onto a subscriber queue. */
static int sub_config(struct tq *q, json_object *qc, const char *cond, char *err, size_t errlen)
{
	int64_t retries = 2, conc = 10, backoff = 1000, vis = T->r->cfg->topic_visibility_timeout_ms;
	const char *type = jstr(qc, "type");

	if (qc && !json_object_is_type(qc, json_type_object) &&
	    !json_object_is_type(qc, json_type_null)) {
		snprintf(err, errlen, "queue_config must be an object");
		return -1;
	}
	if (type && strcmp(type, "fifo") && strcmp(type, "concurrent") && strcmp(type, "standard")) {
		snprintf(err, errlen, "queue_config.type must be \"fifo\" or \"concurrent\"");
		return -1;
	}
	if (cfg_int(qc, "maxRetries", 0, 100, &retries, err, errlen) < 0 ||
	    cfg_int(qc, "concurrency", 1, 10000, &conc, err, errlen) < 0 ||
	    cfg_int(qc, "backoffDelayMs", 0, 86400000LL, &backoff, err, errlen) < 0 ||
	    cfg_int(qc, "visibilityTimeout", 100, 86400000LL, &vis, err, errlen) < 0)
		return -1;
	q->max_attempts = (int)retries + 1;
	q->fifo = type && strcmp(type, "fifo") == 0;
	q->concurrency = q->fifo ? 1 : (int)conc;
	q->backoff_ms = backoff;
	q->vis_ms = vis;
	free(q->cond_fn);
	q->cond_fn = cond && *cond ? strdup(cond) : NULL;
	return 0;
}

/* Collect the topic's backlog into an array (no writes during a store walk). */
static int backlog_visit(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	char *text = strndup(val, vlen);
	json_object *o = text ? json_tokener_parse(text) : NULL;

	(void)key;
	(void)klen;
	free(text);
	if (o)
		json_object_array_add(arg, o);
	return 0;
}

/* A new durable subscriber gets a copy of the topic's backlog (messages nobody could take). */
static void backlog_copy(struct tq *q, const char *topic)
{
	char bk[KEY_MAX];
	size_t tl = strlen(topic);
	json_object *arr = json_object_new_array();

	bk[0] = 'b';
	memcpy(bk + 1, topic, tl + 1);
	store_foreach(T->r->store, TDB, bk, tl + 2, backlog_visit, arr);
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *o = json_object_array_get_idx(arr, i), *t = jget(o, "t");
		char id[ID_UUID_LEN + 1];
		id_uuid4(id);
		q_push(q, jget(o, "data"), q->fn, q->topic, id, NULL,
		       t ? json_object_get_int64(t) : router_now_ms());
	}
	log_info("topics: %zu retained messages of %s go to %s", json_object_array_length(arr),
		 topic, q->fn);
	json_object_put(arr);
}

static int sub_add(struct router *r, struct trigger *t, char *err, size_t errlen)
{
	const char *topic = jstr(t->config, "topic");
	char name[KEY_MAX + 16];
	struct tq *q;
	struct ttopic *tp;

	if (!topic)
		topic = jstr(t->config, "queue");	/* documented alias */
	if (!topic || !*topic) {
		snprintf(err, errlen, "durable:subscriber needs config.topic");
		return -1;
	}
	if (strlen(topic) + strlen(t->function_id) + 16 > KEY_MAX) {
		snprintf(err, errlen, "topic and function id are too long together");
		return -1;
	}
	if (topics_ready() < 0) {
		snprintf(err, errlen, "storage is not open");
		return -1;
	}
	subq_name(name, sizeof name, topic, t->function_id);
	q = q_get(name, topic, t->function_id);
	if (sub_config(q, jget(t->config, "queue_config"),
		       jstr(t->config, "condition_function_id"), err, errlen) < 0)
		return -1;
	tp = topic_get(topic, 1);
	if (!topic_has_fn(tp, t->function_id)) {
		char k[KEY_MAX];
		size_t tl = strlen(topic), fl = strlen(t->function_id);
		k[0] = 's';
		memcpy(k + 1, topic, tl + 1);
		memcpy(k + tl + 2, t->function_id, fl);
		if (store_put(r->store, TDB, k, tl + fl + 2, "", 0) < 0) {
			snprintf(err, errlen, "the subscription could not be stored");
			return -1;
		}
		topic_add_fn(tp, t->function_id);
		if (tp->backlog)
			backlog_copy(q, topic);
	}
	q->consumers++;
	t->state = q;
	pump_schedule(q);
	return 0;
}

static void sub_remove(struct router *r, struct trigger *t)
{
	struct tq *q = t->state;

	(void)r;
	/* the module is freed before the registry at shutdown */
	if (T && q && q->consumers > 0)
		q->consumers--;
	t->state = NULL;
}

static const struct trigkind durable_subscriber = {
	"durable:subscriber", "Durable topic subscription (at-least-once, retries, DLQ)",
	sub_add, sub_remove,
};

/* ---- retention and the tick --------------------------------------------- */

struct sweep {
	int64_t cutoff;
	char (*keys)[KEY_MAX];
	size_t *lens;
	size_t n, cap;
};

static int sweep_visit(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct sweep *s = arg;
	char *text = strndup(val, vlen);
	json_object *o = text ? json_tokener_parse(text) : NULL;
	json_object *t = jget(o, "t");
	int old = t && json_object_get_int64(t) < s->cutoff;

	free(text);
	json_object_put(o);
	if (!old || klen > KEY_MAX)
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		void *a = realloc(s->keys, cap * sizeof *s->keys);
		if (!a)
			return 1;
		s->keys = a;
		a = realloc(s->lens, cap * sizeof *s->lens);
		if (!a)
			return 1;
		s->lens = a;
		s->cap = cap;
	}
	memcpy(s->keys[s->n], key, klen);
	s->lens[s->n++] = klen;
	return 0;
}

/*
 * Retention: a message nobody can take (backlog, or a queue without a live
 * subscriber) is dropped once it is older than topic_retention_ms.
 */
static void sweep(void)
{
	int64_t ret = T->r->cfg->topic_retention_ms;
	struct sweep s = { .cutoff = router_now_ms() - ret };
	struct lh_entry *e;
	size_t dropped = 0;

	if (ret <= 0)
		return;
	store_foreach(T->r->store, TDB, "b", 1, sweep_visit, &s);
	for (size_t i = 0; i < s.n; i++) {
		struct ttopic *tp = topic_get(s.keys[i] + 1, 0);
		store_del(T->r->store, TDB, s.keys[i], s.lens[i]);
		if (tp && tp->backlog)
			tp->backlog--;
	}
	dropped += s.n;
	free(s.keys);
	free(s.lens);
	lh_foreach(T->queues, e) {
		struct tq *q = (struct tq *)lh_entry_v(e);
		if (q->consumers)
			continue;
		for (struct tmsg *m = q->head, *next; m; m = next) {
			next = m->next;
			if (m->del || m->born_ms >= s.cutoff)
				continue;
			char k[KEY_MAX];
			store_del(T->r->store, TDB, k, key_seq(k, 'm', q->name, m->seq));
			msg_free(m);
			dropped++;
		}
	}
	if (dropped)
		log_info("topics: dropped %zu messages older than topic_retention_ms", dropped);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct lh_entry *e;
	int64_t now = mono_ms();

	(void)fd;
	(void)what;
	(void)arg;
	if (topics_ready() < 0)
		return;
	/* a subscriber's function may have come back without its trigger changing */
	lh_foreach(T->queues, e) {
		struct tq *q = (struct tq *)lh_entry_v(e);
		if (q->consumers && q->depth > q->inflight)
			pump_schedule(q);
	}
	if (now - T->last_sweep >= SWEEP_MS) {
		T->last_sweep = now;
		sweep();
	}
}

/* ---- operator functions --------------------------------------------------- */

static json_object *queue_stats(struct tq *q)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "depth", json_object_new_int64((int64_t)q->depth));
	json_object_object_add(o, "in_flight", json_object_new_int64((int64_t)q->inflight));
	json_object_object_add(o, "dlq", json_object_new_int64((int64_t)q->dlq));
	return o;
}

static void stats_add(json_object *o, const char *k, size_t n)
{
	json_object *v = jget(o, k);
	json_object_object_add(o, k, json_object_new_int64((v ? json_object_get_int64(v) : 0) +
							   (int64_t)n));
}

/*
 * The queues a call names: {queue: NAME} is a named queue, {topic: T} every
 * subscriber queue of T (or the named queue T when no such topic exists).
 */
static size_t resolve(json_object *data, struct tq **out, size_t max, const char **label)
{
	const char *qn = jstr(data, "queue"), *topic = jstr(data, "topic");
	char name[KEY_MAX + 16];
	struct ttopic *tp;
	size_t n = 0;

	if (topic && (tp = topic_get(topic, 0))) {
		*label = topic;
		for (size_t i = 0; i < tp->nfns && n < max; i++) {
			subq_name(name, sizeof name, topic, tp->fns[i]);
			struct tq *q = q_find(name);
			if (q)
				out[n++] = q;
		}
		return n;
	}
	if (!qn)
		qn = topic;
	if (!qn || strlen(qn) >= 64)
		return 0;
	*label = qn;
	snprintf(name, sizeof name, "q:%s", qn);
	if ((out[0] = q_find(name)))
		return 1;
	return 0;
}

static void bi_list_topics(struct router *r, struct worker *caller, json_object *data,
			   json_object **result, json_object **error)
{
	json_object *arr = json_object_new_array();
	struct lh_entry *e;

	(void)r; (void)caller; (void)data; (void)error;
	if (topics_ready() < 0)
		return;
	lh_foreach(T->topics, e) {
		struct ttopic *tp = (struct ttopic *)lh_entry_v(e);
		json_object *o = json_object_new_object();
		size_t subs = 0;
		char name[KEY_MAX + 16];
		json_object_object_add(o, "name", json_object_new_string(tp->name));
		json_object_object_add(o, "broker_type", json_object_new_string("builtin"));
		stats_add(o, "depth", 0);
		stats_add(o, "in_flight", 0);
		stats_add(o, "dlq", 0);
		for (size_t i = 0; i < tp->nfns; i++) {
			subq_name(name, sizeof name, tp->name, tp->fns[i]);
			struct tq *q = q_find(name);
			if (!q)
				continue;
			subs += q->consumers ? 1 : 0;
			stats_add(o, "depth", q->depth);
			stats_add(o, "in_flight", q->inflight);
			stats_add(o, "dlq", q->dlq);
		}
		json_object_object_add(o, "subscriber_count", json_object_new_int64((int64_t)subs));
		json_object_object_add(o, "retained", json_object_new_int64((int64_t)tp->backlog));
		json_object_array_add(arr, o);
	}
	lh_foreach(T->queues, e) {
		struct tq *q = (struct tq *)lh_entry_v(e);
		if (strncmp(q->name, "q:", 2) != 0)
			continue;
		json_object *o = queue_stats(q);
		json_object_object_add(o, "name", json_object_new_string(q->name + 2));
		json_object_object_add(o, "broker_type", json_object_new_string("function_queue"));
		json_object_object_add(o, "type", json_object_new_string(q->fifo ? "fifo" : "standard"));
		json_object_array_add(arr, o);
	}
	*result = arr;
}

static void bi_topic_stats(struct router *r, struct worker *caller, json_object *data,
			   json_object **result, json_object **error)
{
	struct tq *qs[256];
	const char *label = NULL;
	size_t n;
	json_object *o, *subs;

	(void)r; (void)caller;
	if (topics_ready() < 0)
		return;
	if (!jstr(data, "topic") && !jstr(data, "queue")) {
		*error = builtin_error("topic_not_set", "engine::queue::topic_stats needs a topic");
		return;
	}
	n = resolve(data, qs, 256, &label);
	o = json_object_new_object();
	json_object_object_add(o, "topic", json_object_new_string(label ? label :
								  jstr(data, "topic")));
	stats_add(o, "depth", 0);
	stats_add(o, "in_flight", 0);
	stats_add(o, "dlq", 0);
	subs = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		stats_add(o, "depth", qs[i]->depth);
		stats_add(o, "in_flight", qs[i]->inflight);
		stats_add(o, "dlq", qs[i]->dlq);
		if (qs[i]->fn) {
			json_object *s = queue_stats(qs[i]);
			json_object_object_add(s, "function_id", json_object_new_string(qs[i]->fn));
			json_object_object_add(s, "consumers", json_object_new_int(qs[i]->consumers));
			json_object_array_add(subs, s);
		}
	}
	struct ttopic *tp = label ? topic_get(label, 0) : NULL;
	json_object_object_add(o, "retained", json_object_new_int64(tp ? (int64_t)tp->backlog : 0));
	json_object_object_add(o, "subscribers", subs);
	*result = o;
}

static void bi_dlq_topics(struct router *r, struct worker *caller, json_object *data,
			  json_object **result, json_object **error)
{
	json_object *arr = json_object_new_array(), *by = json_object_new_object();
	struct lh_entry *e;

	(void)r; (void)caller; (void)data; (void)error;
	if (topics_ready() < 0)
		return;
	lh_foreach(T->queues, e) {
		struct tq *q = (struct tq *)lh_entry_v(e);
		if (!q->dlq)
			continue;
		stats_add(by, q->topic ? q->topic : q->name + 2, q->dlq);
	}
	json_object_object_foreach(by, k, v) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "topic", json_object_new_string(k));
		json_object_object_add(o, "count", json_object_get(v));
		json_object_array_add(arr, o);
	}
	json_object_put(by);
	*result = arr;
}

struct dlq_walk {
	struct tq *q;
	int64_t skip, left;		/* dlq_messages paging */
	const char *id;			/* redrive/discard one: its message id */
	json_object *out;		/* listing */
	char (*keys)[KEY_MAX];		/* matching keys (redrive, discard) */
	size_t *lens, n, cap;
};

static int dlq_visit(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct dlq_walk *w = arg;
	char *text;
	json_object *o, *job;

	if (w->id || !w->out) {
		/* collect the keys to change after the walk (no writes during a visit) */
		if (w->id) {
			text = strndup(val, vlen);
			o = text ? json_tokener_parse(text) : NULL;
			free(text);
			const char *id = jstr(jget(o, "job"), "id");
			int match = id && strcmp(id, w->id) == 0;
			json_object_put(o);
			if (!match)
				return 0;
		}
		if (w->n == w->cap) {
			size_t cap = w->cap ? w->cap * 2 : 64;
			void *a = realloc(w->keys, cap * sizeof *w->keys);
			if (!a)
				return 1;
			w->keys = a;
			if (!(a = realloc(w->lens, cap * sizeof *w->lens)))
				return 1;
			w->lens = a;
			w->cap = cap;
		}
		memcpy(w->keys[w->n], key, klen);
		w->lens[w->n++] = klen;
		return 0;
	}
	if (w->skip > 0) {
		w->skip--;
		return 0;
	}
	if (w->left-- <= 0)
		return 1;
	text = strndup(val, vlen);
	o = text ? json_tokener_parse(text) : NULL;
	free(text);
	if (!o)
		return 0;
	job = jget(o, "job");
	json_object *m = json_object_new_object();
	json_object_object_add(m, "id", json_object_get(jget(job, "id")));
	json_object_object_add(m, "queue", json_object_new_string(w->q->name + 2));
	json_object_object_add(m, "function_id", json_object_get(jget(job, "fn")));
	json_object_object_add(m, "data", json_object_get(jget(job, "data")));
	json_object_object_add(m, "attempts", json_object_get(jget(job, "att")));
	json_object_object_add(m, "error", json_object_get(jget(o, "error")));
	json_object_object_add(m, "failed_at", json_object_get(jget(o, "failed_at")));
	json_object_array_add(w->out, m);
	json_object_put(o);
	return 0;
}

static size_t dlq_prefix(char *k, struct tq *q)
{
	size_t n = strlen(q->name);
	k[0] = 'd';
	memcpy(k + 1, q->name, n + 1);
	return n + 2;
}

static void bi_dlq_messages(struct router *r, struct worker *caller, json_object *data,
			    json_object **result, json_object **error)
{
	struct tq *qs[256];
	const char *label = NULL;
	json_object *off = jget(data, "offset"), *lim = jget(data, "limit");
	struct dlq_walk w = { .skip = off ? json_object_get_int64(off) : 0,
			      .left = lim ? json_object_get_int64(lim) : 50 };
	char k[KEY_MAX];
	size_t n;

	(void)caller;
	if (topics_ready() < 0)
		return;
	if (!jstr(data, "topic") && !jstr(data, "queue")) {
		*error = builtin_error("topic_not_set", "engine::queue::dlq_messages needs a topic");
		return;
	}
	if (w.skip < 0 || w.left < 0 || w.left > 10000) {
		*error = builtin_error("invalid_request", "offset must be >= 0 and limit in [0, 10000]");
		return;
	}
	n = resolve(data, qs, 256, &label);
	w.out = json_object_new_array();
	int64_t total = 0;
	for (size_t i = 0; i < n; i++) {
		w.q = qs[i];
		total += (int64_t)qs[i]->dlq;
		store_foreach(r->store, TDB, k, dlq_prefix(k, qs[i]), dlq_visit, &w);
	}
	*result = json_object_new_object();
	json_object_object_add(*result, "topic", json_object_new_string(label ? label : ""));
	json_object_object_add(*result, "total", json_object_new_int64(total));
	json_object_object_add(*result, "messages", w.out);
}

/* Redrive (back to the queue, attempts reset) or discard the collected dead letters. */
static size_t dlq_apply(struct tq *q, struct dlq_walk *w, int redrive)
{
	size_t done = 0;

	for (size_t i = 0; i < w->n; i++) {
		json_object *o = get_json(w->keys[i], w->lens[i]), *job = jget(o, "job");
		if (redrive && job) {
			uint64_t seq = key_get_seq(w->keys[i], w->lens[i]);
			char mk[KEY_MAX];
			size_t ml = key_seq(mk, 'm', q->name, seq);
			json_object *t = jget(job, "t");
			json_object_object_add(job, "att", json_object_new_int(0));
			if (put_json(mk, ml, job) < 0) {
				json_object_put(o);
				continue;
			}
			msg_add(q, seq, 0, t ? json_object_get_int64(t) : router_now_ms(),
				jstr(job, "g"));
			pump_schedule(q);
		}
		json_object_put(o);
		store_del(T->r->store, TDB, w->keys[i], w->lens[i]);
		q->dlq--;
		done++;
	}
	free(w->keys);
	free(w->lens);
	w->keys = NULL;
	w->lens = NULL;
	w->n = w->cap = 0;
	return done;
}

static void dlq_change(json_object *data, json_object **result, json_object **error,
		       int redrive, int one)
{
	struct tq *qs[256];
	const char *label = NULL, *id = jstr(data, "message_id");
	char k[KEY_MAX];
	size_t n, done = 0;

	if (topics_ready() < 0)
		return;
	if (!jstr(data, "topic") && !jstr(data, "queue")) {
		*error = builtin_error("queue_not_set", "needs a queue or a topic");
		return;
	}
	if (one && !id) {
		*error = builtin_error("invalid_request", "needs a message_id");
		return;
	}
	n = resolve(data, qs, 256, &label);
	for (size_t i = 0; i < n; i++) {
		struct dlq_walk w = { .q = qs[i], .id = one ? id : NULL };
		store_foreach(T->r->store, TDB, k, dlq_prefix(k, qs[i]), dlq_visit, &w);
		done += dlq_apply(qs[i], &w, redrive);
	}
	if (one && !done) {
		*error = builtin_error("message_not_found", "no dead letter with that message_id");
		return;
	}
	*result = json_object_new_object();
	json_object_object_add(*result, "queue", json_object_new_string(label ? label : ""));
	if (one)
		json_object_object_add(*result, redrive ? "redriven" : "discarded",
				       json_object_new_boolean(1));
	else
		json_object_object_add(*result, "redriven", json_object_new_int64((int64_t)done));
}

static void bi_redrive(struct router *r, struct worker *c, json_object *d, json_object **res,
		       json_object **err)
{
	(void)r; (void)c;
	dlq_change(d, res, err, 1, 0);
}

static void bi_redrive_message(struct router *r, struct worker *c, json_object *d,
			       json_object **res, json_object **err)
{
	(void)r; (void)c;
	dlq_change(d, res, err, 1, 1);
}

static void bi_discard_message(struct router *r, struct worker *c, json_object *d,
			       json_object **res, json_object **err)
{
	(void)r; (void)c;
	dlq_change(d, res, err, 0, 1);
}

/* ---- module ------------------------------------------------------------- */

void topics_init(struct router *r)
{
	struct timeval tick = { 1, 0 };

	T = calloc(1, sizeof *T);
	if (!T)
		abort();
	T->r = r;
	T->queues = lh_kchar_table_new(64, nofree);
	T->topics = lh_kchar_table_new(64, nofree);
	T->pump_ev = event_new(r->base, -1, 0, on_pump, NULL);
	T->tick = event_new(r->base, -1, EV_PERSIST, on_tick, NULL);
	event_add(T->tick, &tick);
	event_active(T->pump_ev, EV_TIMEOUT, 0);	/* loads the stored state on the first turn */
	reg_trigkind_add(r, &durable_subscriber);
	builtin_add(PUBLISH_FN, bi_publish);
	builtin_add("engine::queue::list_topics", bi_list_topics);
	builtin_add("engine::queue::topic_stats", bi_topic_stats);
	builtin_add("engine::queue::dlq_topics", bi_dlq_topics);
	builtin_add("engine::queue::dlq_messages", bi_dlq_messages);
	builtin_add("iii::queue::redrive", bi_redrive);
	builtin_add("iii::queue::redrive_message", bi_redrive_message);
	builtin_add("iii::queue::discard_message", bi_discard_message);
}

void topics_free(struct router *r)
{
	struct lh_entry *e, *tmp;

	(void)r;
	if (!T)
		return;
	while (T->dels)
		del_free(T->dels);
	lh_foreach_safe(T->queues, e, tmp) {
		struct tq *q = (struct tq *)lh_entry_v(e);
		while (q->head)
			msg_free(q->head);
		event_free(q->timer);
		free(q->name);
		free(q->topic);
		free(q->fn);
		free(q->cond_fn);
		free(q);
	}
	lh_table_free(T->queues);
	lh_foreach_safe(T->topics, e, tmp) {
		struct ttopic *tp = (struct ttopic *)lh_entry_v(e);
		for (size_t i = 0; i < tp->nfns; i++)
			free(tp->fns[i]);
		free(tp->fns);
		free(tp->name);
		free(tp);
	}
	lh_table_free(T->topics);
	event_free(T->pump_ev);
	event_free(T->tick);
	free(T);
	T = NULL;
}

void topics_each_queue(void (*fn)(void *arg, const char *name, size_t depth, size_t inflight,
				  size_t dlq), void *arg)
{
	struct lh_entry *e;

	if (!T)
		return;
	lh_foreach(T->queues, e) {
		struct tq *q = (struct tq *)lh_entry_v(e);
		fn(arg, q->name, q->depth, q->inflight, q->dlq);
	}
}
