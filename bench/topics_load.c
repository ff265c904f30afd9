/*
 * topics_load — drives the durable topic benchmark against one peer and prints
 * one "M <metric> <value>" line per figure (bench/scenario-topics pairs them up).
 *
 *   topics_load trine <port> <n>   n subscriber worker connections, each with its
 *                                  own function and a durable:subscriber trigger on
 *                                  topic bench.n<n>; one publisher connection calling
 *                                  iii::durable::publish
 *   topics_load nats <url> <n>     JetStream stream on file storage (interest
 *                                  retention), n durable push consumers with
 *                                  explicit acks; js_PublishAsync with pub acks
 *   topics_load redis <port> <n>   stream bench.n<n>, n consumer groups read with
 *                                  XREADGROUP and acked with XACK; XADD to publish
 *                                  (only when built with hiredis)
 *
 * Every peer gets the same 1 KiB JSON message, which carries its slot, sequence
 * number and send time (CLOCK_MONOTONIC ns) as fixed-width hex strings. A
 * message is done when the publisher's ack and all n deliveries have arrived;
 * a delivery's latency is its arrival time minus the embedded send time.
 *
 * Two closed-loop runs per peer: 1 message in flight (latency percentiles),
 * then BENCH_INFLIGHT messages in flight (messages/s fully delivered, and the
 * latency under that load). Each warms up, then counts inside a fixed window.
 *
 * Environment: BENCH_SECONDS (window, default 3), BENCH_WARMUP (default 0.5),
 * BENCH_INFLIGHT (default 256), BENCH_TOPIC_CONCURRENCY (trine subscribers'
 * queue_config.concurrency; unset = the engine's default).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1	/* memmem */
#endif
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "bench_ws.h"
#ifdef TOPICS_HIREDIS
#include <hiredis.h>
#endif

#define MAX_INFLIGHT 4096
#define MAX_SUBS 64
#define MSG_BYTES 1024
#define ID_LEN 36
#define DRAIN_NS (5ull * 1000000000ull)	/* give up waiting for stragglers after this */
#define READY_NS (15ull * 1000000000ull)	/* how long the first message may take */

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------- messages */

static const char hexd[] = "0123456789abcdef";

static void hex(char *out, uint64_t v, int digits)
{
	for (int i = digits - 1; i >= 0; i--, v >>= 4)
		out[i] = hexd[v & 15];
}

static int unhex(const uint8_t *p, size_t n, uint64_t *v)
{
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++) {
		const char *d = memchr(hexd, p[i], 16);
		if (!d || !p[i])
			return -1;
		x = x << 4 | (uint64_t)(d - hexd);
	}
	*v = x;
	return 0;
}

/*
 * The message every peer carries, exactly MSG_BYTES of JSON:
 * {"bench_slot":"ssss","bench_seq":"<16 hex>","bench_t":"<16 hex>","p":"xxx…"}
 */
static const char msg_fmt_a[] = "{\"bench_slot\":\"";
static const char msg_fmt_b[] = "\",\"bench_seq\":\"";
static const char msg_fmt_c[] = "\",\"bench_t\":\"";
static const char msg_fmt_d[] = "\",\"p\":\"";

static void msg_build(uint8_t *out, int slot, uint64_t seq, uint64_t t)
{
	uint8_t *p = out;
	memcpy(p, msg_fmt_a, sizeof msg_fmt_a - 1);
	p += sizeof msg_fmt_a - 1;
	hex((char *)p, (uint64_t)slot, 4);
	p += 4;
	memcpy(p, msg_fmt_b, sizeof msg_fmt_b - 1);
	p += sizeof msg_fmt_b - 1;
	hex((char *)p, seq, 16);
	p += 16;
	memcpy(p, msg_fmt_c, sizeof msg_fmt_c - 1);
	p += sizeof msg_fmt_c - 1;
	hex((char *)p, t, 16);
	p += 16;
	memcpy(p, msg_fmt_d, sizeof msg_fmt_d - 1);
	p += sizeof msg_fmt_d - 1;
	size_t pad = MSG_BYTES - (size_t)(p - out) - 2;
	memset(p, 'x', pad);
	p += pad;
	memcpy(p, "\"}", 2);
}

/* The slot, sequence and send time of a message found anywhere in msg. */
static int msg_parse(const uint8_t *msg, size_t len, int *slot, uint64_t *seq, uint64_t *t)
{
	const uint8_t *v;
	size_t vl;
	uint64_t s;
	if (json_str(msg, len, "bench_slot", &v, &vl) < 0 || vl != 4 || unhex(v, 4, &s) < 0 ||
	    json_str(msg, len, "bench_seq", &v, &vl) < 0 || vl != 16 || unhex(v, 16, seq) < 0 ||
	    json_str(msg, len, "bench_t", &v, &vl) < 0 || vl != 16 || unhex(v, 16, t) < 0)
		return -1;
	*slot = (int)s;
	return 0;
}

/* ------------------------------------------------------------------ a run */

/*
 * A closed loop of `inflight` messages. A slot is reused when its message was
 * acked to the publisher and delivered to all n subscribers; the sequence
 * number tells a straggler from an earlier run (or a redelivery) apart.
 */
struct slot {
	int busy, acked;
	uint64_t seq, mask, t_sent;
};

struct run {
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* a slot became free, or a run started */
	int nsubs;
	uint64_t all_mask;
	int inflight;
	int measuring;		/* 0 during the ready probe */
	int probe_ok;
	uint64_t issued;	/* messages taken in this run */
	uint64_t t_warm, t_end;
	uint64_t seq;
	struct slot slots[MAX_INFLIGHT];
	int freelist[MAX_INFLIGHT];
	int nfree;
	int outstanding;
	uint64_t done;		/* messages fully delivered inside the window */
	uint64_t deliveries;	/* deliveries inside the window */
	uint64_t dups;		/* a second delivery of a message to the same subscriber */
	uint64_t errors;	/* failed publishes */
	char first_error[160];
	uint64_t *lat;		/* ns, deliveries inside the window */
	size_t nlat, cap_lat;
};

static struct run R;

static void run_complete(struct run *r, int slot, uint64_t now)
{
	struct slot *s = &r->slots[slot];
	s->busy = 0;
	r->outstanding--;
	if (!r->measuring) {
		r->probe_ok = 1;
		return;
	}
	if (now >= r->t_warm && now < r->t_end)
		r->done++;
	r->freelist[r->nfree++] = slot;
	pthread_cond_signal(&r->cond);
}

/* A delivery to subscriber sub; call with r->lock held. */
static void run_on_delivery(struct run *r, int sub, const uint8_t *msg, size_t len)
{
	uint64_t now = now_ns(), seq, t;
	int slot;
	if (msg_parse(msg, len, &slot, &seq, &t) < 0 || slot < 0 || slot >= MAX_INFLIGHT)
		return;
	struct slot *s = &r->slots[slot];
	if (!s->busy || s->seq != seq)
		return;		/* straggler from an earlier run */
	if (s->mask & (1ull << sub)) {
		r->dups++;
		return;
	}
	s->mask |= 1ull << sub;
	if (r->measuring && now >= r->t_warm && now < r->t_end) {
		r->deliveries++;
		if (r->nlat == r->cap_lat) {
			r->cap_lat = r->cap_lat ? r->cap_lat * 2 : 65536;
			r->lat = realloc(r->lat, r->cap_lat * sizeof *r->lat);
			if (!r->lat)
				fatal("%s", "out of memory");
		}
		r->lat[r->nlat++] = now - t;
	}
	if (s->acked && s->mask == r->all_mask)
		run_complete(r, slot, now);
}

/* The publisher's ack (or failure) for a message; call with r->lock held. */
static void run_on_ack(struct run *r, int slot, uint64_t seq, const char *err, size_t errlen)
{
	uint64_t now = now_ns();
	if (slot < 0 || slot >= MAX_INFLIGHT)
		return;
	struct slot *s = &r->slots[slot];
	if (!s->busy || s->seq != seq || s->acked)
		return;
	if (err) {
		if (r->errors++ == 0) {
			size_t n = errlen < sizeof r->first_error - 1 ? errlen : sizeof r->first_error - 1;
			for (size_t i = 0; i < n; i++)
				r->first_error[i] = err[i] < 0x20 || err[i] > 0x7e ? '.' : err[i];
			r->first_error[n] = '\0';
		}
		s->mask = r->all_mask;	/* nothing will come: free the slot */
	}
	s->acked = 1;
	if (s->mask == r->all_mask)
		run_complete(r, slot, now);
}

/*
 * Take the free slots the run may fill now (none after the window, one in
 * all during a probe); fills slot[] and msg-ready seq[]/t[]. Lock held.
 */
static int run_take(struct run *r, int *slot, uint64_t *seq, uint64_t *t, int max)
{
	uint64_t now = now_ns();
	int n = 0;
	if (now >= r->t_end || (!r->measuring && r->issued > 0))
		return 0;
	while (r->nfree > 0 && n < max) {
		int i = r->freelist[--r->nfree];
		struct slot *s = &r->slots[i];
		s->busy = 1;
		s->acked = 0;
		s->mask = 0;
		s->seq = ++r->seq;
		s->t_sent = now;
		r->outstanding++;
		r->issued++;
		slot[n] = i;
		seq[n] = s->seq;
		t[n] = now;
		n++;
	}
	return n;
}

static void run_start(struct run *r, int measuring, int inflight, double warm_s, double secs)
{
	r->measuring = measuring;
	r->probe_ok = 0;
	r->inflight = inflight;
	r->issued = 0;
	r->done = r->deliveries = r->dups = r->errors = 0;
	r->nlat = 0;
	r->outstanding = 0;
	r->nfree = 0;
	for (int i = 0; i < MAX_INFLIGHT; i++)
		r->slots[i].busy = 0;
	for (int i = inflight - 1; i >= 0; i--)
		r->freelist[r->nfree++] = i;
	uint64_t t0 = now_ns();
	r->t_warm = t0 + (uint64_t)(warm_s * 1e9);
	r->t_end = r->t_warm + (uint64_t)(secs * 1e9);
	pthread_cond_broadcast(&r->cond);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void run_report(struct run *r, int nsubs, int seq_run, double secs, int drained)
{
	const char *kind = seq_run ? "seq" : "load";
	if (!drained)
		printf("# %dsub %s: %d messages still not delivered %.0f s after the window\n",
		       nsubs, kind, r->outstanding, DRAIN_NS / 1e9);
	if (r->errors)
		printf("# %dsub %s: %" PRIu64 " failed publishes in the window, first: %s\n",
		       nsubs, kind, r->errors, r->first_error);
	if (r->dups)
		printf("# %dsub %s: %" PRIu64 " duplicate deliveries\n", nsubs, kind, r->dups);
	printf("# %dsub %s: %d in flight, %" PRIu64 " messages fully delivered, %" PRIu64
	       " deliveries in %.1f s\n", nsubs, kind, r->inflight, r->done, r->deliveries, secs);
	if (r->nlat > 0) {
		qsort(r->lat, r->nlat, sizeof *r->lat, cmp_u64);
		if (seq_run)
			printf("M p50_us_%dsub_seq %.1f\n", nsubs, r->lat[r->nlat / 2] / 1e3);
		printf("M p99_us_%dsub_%s %.1f\n", nsubs, kind, r->lat[r->nlat * 99 / 100] / 1e3);
	}
	if (!seq_run && r->done > 0)
		printf("M msg_per_s_%dsub %.0f\n", nsubs, r->done / secs);
	fflush(stdout);
}

/* ------------------------------------------------------------- drivers */

/*
 * A peer: pump(ms) waits up to ms for progress. trine's pump is the whole
 * single-threaded event loop; nats and redis publish from their own thread
 * and deliver on client threads, so their pump only sleeps.
 */
struct driver {
	void (*pump)(struct driver *d, int ms);
};

static void sleep_pump(struct driver *d, int ms)
{
	(void)d;
	sleep_ms(ms);
}

/* Wait until one message reaches all n subscribers (they may still be registering). */
static int wait_ready(struct driver *d)
{
	struct run *r = &R;
	uint64_t deadline = now_ns() + READY_NS;
	while (now_ns() < deadline) {
		pthread_mutex_lock(&r->lock);
		run_start(r, 0, 1, 0, 1.0);
		pthread_mutex_unlock(&r->lock);
		uint64_t t = now_ns() + 1000000000ull;
		int ok = 0;
		while (!ok && now_ns() < t) {
			d->pump(d, 10);
			pthread_mutex_lock(&r->lock);
			ok = r->probe_ok;
			pthread_mutex_unlock(&r->lock);
		}
		if (ok)
			return 0;
	}
	return -1;
}

static void measure(struct driver *d, int nsubs, int inflight, double warm, double secs)
{
	struct run *r = &R;
	pthread_mutex_lock(&r->lock);
	run_start(r, 1, inflight, warm, secs);
	uint64_t give_up = r->t_end + DRAIN_NS;
	pthread_mutex_unlock(&r->lock);
	int drained = 0;
	for (;;) {
		d->pump(d, 10);
		pthread_mutex_lock(&r->lock);
		uint64_t now = now_ns();
		drained = now >= r->t_end && r->outstanding == 0;
		pthread_mutex_unlock(&r->lock);
		if (drained || now >= give_up)
			break;
	}
	pthread_mutex_lock(&r->lock);
	run_report(r, nsubs, inflight == 1, secs, drained);
	pthread_mutex_unlock(&r->lock);
}

/*
 * The publisher thread of nats and redis: waits for free slots and hands
 * each batch to publish(); stops when *stop is set.
 */
struct pubthread {
	void (*publish)(void *ctx, int n, const int *slot, const uint64_t *seq, const uint64_t *t);
	void *ctx;
	atomic_int stop;
	pthread_t th;
};

static void *pub_main(void *arg)
{
	struct pubthread *p = arg;
	static int slot[MAX_INFLIGHT];
	static uint64_t seq[MAX_INFLIGHT], t[MAX_INFLIGHT];
	while (!atomic_load(&p->stop)) {
		pthread_mutex_lock(&R.lock);
		int n = run_take(&R, slot, seq, t, MAX_INFLIGHT);
		if (n == 0) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 10000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&R.cond, &R.lock, &ts);
			n = run_take(&R, slot, seq, t, MAX_INFLIGHT);
		}
		pthread_mutex_unlock(&R.lock);
		if (n > 0)
			p->publish(p->ctx, n, slot, seq, t);
	}
	return NULL;
}

static void pub_start(struct pubthread *p)
{
	if (pthread_create(&p->th, NULL, pub_main, p) != 0)
		fatal("%s", "pthread_create failed");
}

static void pub_stop(struct pubthread *p)
{
	atomic_store(&p->stop, 1);
	pthread_join(p->th, NULL);
}

/* ------------------------------------------------------------------ trine */

struct tsub {
	int idx;
	char fn[48];
};

struct trine_drv {
	struct driver d;
	int ep;
	struct wsc *pub;
	uint32_t prefix;
	char topic[32];
	struct buf scratch;
};

/* A subscriber function: note the delivery, answer it with a null result. */
static void tsub_on_msg(struct wsc *c, const uint8_t *msg, size_t len)
{
	struct tsub *s = c->ctx;
	const uint8_t *id;
	size_t idlen;
	if (!memmem(msg, len, "\"invokefunction\"", 16) ||
	    json_str(msg, len, "invocation_id", &id, &idlen) < 0)
		return;
	pthread_mutex_lock(&R.lock);
	run_on_delivery(&R, s->idx, msg, len);
	pthread_mutex_unlock(&R.lock);
	char out[256];
	int n = snprintf(out, sizeof out, "{\"type\":\"invocationresult\",\"invocation_id\":\"%.*s\","
			 "\"function_id\":\"%s\",\"result\":null}", (int)idlen, (const char *)id, s->fn);
	if (n > 0 && (size_t)n < sizeof out)
		wsc_send_text(c, (const uint8_t *)out, (size_t)n);
}

/* The publisher's invocationresult: the id carries slot and sequence. */
static void tpub_on_msg(struct wsc *c, const uint8_t *msg, size_t len)
{
	(void)c;
	const uint8_t *id;
	size_t idlen;
	uint64_t slot, seq;
	if (json_str(msg, len, "invocation_id", &id, &idlen) < 0 || idlen != ID_LEN ||
	    unhex(id + 9, 4, &slot) < 0 || unhex(id + 24, 12, &seq) < 0)
		return;
	const uint8_t *e = memmem(msg, len, "\"error\"", 7);
	pthread_mutex_lock(&R.lock);
	run_on_ack(&R, (int)slot, seq, e ? (const char *)e : NULL, e ? len - (size_t)(e - msg) : 0);
	pthread_mutex_unlock(&R.lock);
}

/* Queue a publish for every slot the run lets us fill, then write them at once. */
static void trine_publish_free(struct trine_drv *t)
{
	static int slot[MAX_INFLIGHT];
	static uint64_t seq[MAX_INFLIGHT], ts[MAX_INFLIGHT];
	static const char a[] = "{\"type\":\"invokefunction\",\"invocation_id\":\"";
	static const char b[] = "\",\"function_id\":\"iii::durable::publish\",\"data\":{\"topic\":\"";
	static const char c[] = "\",\"data\":";
	uint8_t m[MSG_BYTES];
	char id[ID_LEN];

	pthread_mutex_lock(&R.lock);
	int n = run_take(&R, slot, seq, ts, MAX_INFLIGHT);
	pthread_mutex_unlock(&R.lock);
	for (int i = 0; i < n; i++) {
		/* pppppppp-ssss-4000-8000-<seq 12 hex> */
		hex(id, t->prefix, 8);
		id[8] = '-';
		hex(id + 9, (uint64_t)slot[i], 4);
		memcpy(id + 13, "-4000-8000-", 11);
		hex(id + 24, seq[i], 12);
		msg_build(m, slot[i], seq[i], ts[i]);
		struct buf *s = &t->scratch;
		s->off = s->len = 0;
		buf_add(s, a, sizeof a - 1);
		buf_add(s, id, ID_LEN);
		buf_add(s, b, sizeof b - 1);
		buf_add(s, t->topic, strlen(t->topic));
		buf_add(s, c, sizeof c - 1);
		buf_add(s, m, MSG_BYTES);
		buf_add(s, "}}", 2);
		wsc_send_text(t->pub, s->p, s->len);
	}
	if (n > 0)
		wsc_flush(t->pub);
}

/* One thread does it all: publish what may go, read what came, publish again. */
static void trine_pump(struct driver *d, int ms)
{
	struct trine_drv *t = (struct trine_drv *)d;
	trine_publish_free(t);
	ws_poll(t->ep, ms);
	trine_publish_free(t);
}

static struct trine_drv *trine_setup(int port, int nsubs)
{
	static struct trine_drv t;
	static struct tsub subs[MAX_SUBS];
	const char *conc = getenv("BENCH_TOPIC_CONCURRENCY");
	char qc[64] = "";
	if (conc && *conc)
		snprintf(qc, sizeof qc, ",\"queue_config\":{\"concurrency\":%d}", atoi(conc));
	snprintf(t.topic, sizeof t.topic, "bench.n%d", nsubs);
	t.d.pump = trine_pump;
	t.ep = epoll_create1(0);
	if (getrandom(&t.prefix, sizeof t.prefix, 0) != sizeof t.prefix)
		t.prefix = (uint32_t)now_ns() ^ (uint32_t)getpid();
	for (int i = 0; i < nsubs; i++) {
		struct tsub *s = &subs[i];
		s->idx = i;
		snprintf(s->fn, sizeof s->fn, "bench::n%d::sub%d", nsubs, i);
		struct wsc *c = wsc_connect(port, t.ep, tsub_on_msg, s);
		char m[512];
		int n = snprintf(m, sizeof m, "{\"type\":\"registerfunction\",\"id\":\"%s\"}", s->fn);
		wsc_send_text(c, (const uint8_t *)m, (size_t)n);
		n = snprintf(m, sizeof m, "{\"type\":\"registertrigger\",\"id\":\"%08x-0000-4000-8000-%012x\","
			     "\"trigger_type\":\"durable:subscriber\",\"function_id\":\"%s\","
			     "\"config\":{\"topic\":\"%s\"%s}}", t.prefix, i, s->fn, t.topic, qc);
		wsc_send_text(c, (const uint8_t *)m, (size_t)n);
		wsc_flush(c);
	}
	t.pub = wsc_connect(port, t.ep, tpub_on_msg, NULL);
	printf("# %d subscriber connections on topic %s, queue_config.concurrency %s\n",
	       nsubs, t.topic, conc && *conc ? conc : "default");
	return &t;
}

/* ------------------------------------------------------------------- NATS */

struct nats_drv {
	struct driver d;
	struct pubthread pt;
	natsConnection *pubc;
	jsCtx *js;
	char subj[32], stream[32];
	int nsubs;
	natsConnection *subc[MAX_SUBS];
	jsCtx *sjs[MAX_SUBS];
	natsSubscription *subs[MAX_SUBS];
	int idx[MAX_SUBS];
};

static void nats_deliver_cb(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
	(void)nc;
	(void)sub;
	int idx = *(int *)closure;
	pthread_mutex_lock(&R.lock);
	run_on_delivery(&R, idx, (const uint8_t *)natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
	pthread_mutex_unlock(&R.lock);
	natsMsg_Ack(m, NULL);
	natsMsg_Destroy(m);
}

static void nats_ack_cb(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	(void)js;
	(void)closure;
	int slot;
	uint64_t seq, t;
	if (msg_parse((const uint8_t *)natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg),
		      &slot, &seq, &t) == 0) {
		const char *err = NULL;
		if (!pa)
			err = pae && pae->ErrText ? pae->ErrText : "publish failed";
		pthread_mutex_lock(&R.lock);
		run_on_ack(&R, slot, seq, err, err ? strlen(err) : 0);
		pthread_mutex_unlock(&R.lock);
	}
	natsMsg_Destroy(msg);
}

static void nats_publish(void *ctx, int n, const int *slot, const uint64_t *seq, const uint64_t *t)
{
	struct nats_drv *d = ctx;
	uint8_t m[MSG_BYTES];
	for (int i = 0; i < n; i++) {
		msg_build(m, slot[i], seq[i], t[i]);
		natsStatus s = js_PublishAsync(d->js, d->subj, m, MSG_BYTES, NULL);
		if (s != NATS_OK) {
			const char *err = natsStatus_GetText(s);
			pthread_mutex_lock(&R.lock);
			run_on_ack(&R, slot[i], seq[i], err, strlen(err));
			pthread_mutex_unlock(&R.lock);
		}
	}
}

/* Each publish is written at once (SendAsap): the latency figures need it. */
static natsConnection *nats_connect(const char *url)
{
	natsOptions *o = NULL;
	natsConnection *nc = NULL;
	natsStatus s = natsOptions_Create(&o);
	if (s == NATS_OK)
		s = natsOptions_SetURL(o, url);
	if (s == NATS_OK)
		s = natsOptions_SetSendAsap(o, true);
	if (s == NATS_OK)
		s = natsConnection_Connect(&nc, o);
	if (s != NATS_OK)
		fatal("nats connect: %s", natsStatus_GetText(s));
	natsOptions_Destroy(o);
	return nc;
}

static struct nats_drv *nats_setup(const char *url, int nsubs)
{
	static struct nats_drv d;
	jsOptions jo;
	jsErrCode jerr = 0;
	natsStatus s;

	d.d.pump = sleep_pump;
	d.nsubs = nsubs;
	snprintf(d.subj, sizeof d.subj, "bench.n%d", nsubs);
	snprintf(d.stream, sizeof d.stream, "BENCH_N%d", nsubs);
	d.pubc = nats_connect(url);
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = MAX_INFLIGHT * 2;
	jo.PublishAsync.AckHandler = nats_ack_cb;
	if ((s = natsConnection_JetStream(&d.js, d.pubc, &jo)) != NATS_OK)
		fatal("nats jetstream: %s", natsStatus_GetText(s));

	jsStreamConfig sc;
	jsStreamInfo *si = NULL;
	const char *subjects[1] = { d.subj };
	jsStreamConfig_Init(&sc);
	sc.Name = d.stream;
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage;
	sc.Retention = js_InterestPolicy;	/* gone once every consumer acked it */
	if ((s = js_AddStream(&si, d.js, &sc, NULL, &jerr)) != NATS_OK)
		fatal("nats add stream: %s", natsStatus_GetText(s));
	jsStreamInfo_Destroy(si);

	for (int i = 0; i < nsubs; i++) {
		char durable[32];
		jsSubOptions so;
		snprintf(durable, sizeof durable, "c%d", i);
		d.idx[i] = i;
		d.subc[i] = nats_connect(url);
		if ((s = natsConnection_JetStream(&d.sjs[i], d.subc[i], NULL)) != NATS_OK)
			fatal("nats jetstream: %s", natsStatus_GetText(s));
		jsSubOptions_Init(&so);
		so.Stream = d.stream;
		so.Config.Durable = durable;
		so.Config.AckPolicy = js_AckExplicit;
		so.Config.DeliverPolicy = js_DeliverNew;
		so.Config.MaxAckPending = MAX_INFLIGHT * 2;
		so.ManualAck = true;
		s = js_Subscribe(&d.subs[i], d.sjs[i], d.subj, nats_deliver_cb, &d.idx[i], NULL, &so, &jerr);
		if (s == NATS_OK)
			s = natsSubscription_SetPendingLimits(d.subs[i], -1, -1);
		if (s != NATS_OK)
			fatal("nats subscribe: %s", natsStatus_GetText(s));
	}
	d.pt.publish = nats_publish;
	d.pt.ctx = &d;
	pub_start(&d.pt);
	printf("# stream %s (file storage, interest retention), %d durable push consumers, "
	       "explicit acks\n", d.stream, nsubs);
	return &d;
}

static void nats_teardown(struct nats_drv *d)
{
	pub_stop(&d->pt);
	for (int i = 0; i < d->nsubs; i++) {
		natsSubscription_Unsubscribe(d->subs[i]);
		natsSubscription_Destroy(d->subs[i]);
		jsCtx_Destroy(d->sjs[i]);
		natsConnection_Destroy(d->subc[i]);
	}
	jsCtx_Destroy(d->js);
	natsConnection_Destroy(d->pubc);
	nats_Close();
}

/* ------------------------------------------------------------------ Redis */

#ifdef TOPICS_HIREDIS
struct redis_cons {
	pthread_t th;
	int idx;
	redisContext *c;
};

struct redis_drv {
	struct driver d;
	struct pubthread pt;
	redisContext *pub;
	char key[32];
	int nsubs;
	atomic_int stop;
	struct redis_cons cons[MAX_SUBS];
};

static struct redis_drv RD;

static redisContext *redis_connect(int port)
{
	redisContext *c = redisConnect("127.0.0.1", port);
	if (!c || c->err)
		fatal("redis connect: %s", c ? c->errstr : "out of memory");
	return c;
}

static redisReply *redis_cmd(redisContext *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	redisReply *rep = redisvCommand(c, fmt, ap);
	va_end(ap);
	if (!rep)
		fatal("redis: %s", c->errstr);
	return rep;
}

/* One consumer group: read a batch, note each delivery, ack the batch. */
static void *redis_cons_main(void *arg)
{
	struct redis_cons *k = arg;
	const char **argv = malloc((3 + 1024) * sizeof *argv);
	size_t *argl = malloc((3 + 1024) * sizeof *argl);
	char group[16];
	if (!argv || !argl)
		fatal("%s", "out of memory");
	snprintf(group, sizeof group, "g%d", k->idx);
	while (!atomic_load(&RD.stop)) {
		redisReply *rep = redis_cmd(k->c, "XREADGROUP GROUP %s c COUNT 1024 BLOCK 100 STREAMS %s >",
					    group, RD.key);
		if (rep->type == REDIS_REPLY_ERROR)
			fatal("redis XREADGROUP: %s", rep->str);
		if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
		    rep->element[0]->elements < 2) {
			freeReplyObject(rep);
			continue;
		}
		redisReply *entries = rep->element[0]->element[1];
		int argc = 0;
		argv[argc] = "XACK", argl[argc++] = 4;
		argv[argc] = RD.key, argl[argc++] = strlen(RD.key);
		argv[argc] = group, argl[argc++] = strlen(group);
		pthread_mutex_lock(&R.lock);
		for (size_t i = 0; i < entries->elements && argc < 3 + 1024; i++) {
			redisReply *e = entries->element[i];
			if (e->elements < 2 || e->element[1]->elements < 2)
				continue;
			redisReply *v = e->element[1]->element[1];
			run_on_delivery(&R, k->idx, (const uint8_t *)v->str, v->len);
			argv[argc] = e->element[0]->str;
			argl[argc++] = e->element[0]->len;
		}
		pthread_mutex_unlock(&R.lock);
		if (argc > 3) {
			redisReply *ack = redisCommandArgv(k->c, argc, argv, argl);
			if (!ack)
				fatal("redis XACK: %s", k->c->errstr);
			freeReplyObject(ack);
		}
		freeReplyObject(rep);
	}
	free(argv);
	free(argl);
	return NULL;
}

/* XADD the batch pipelined, then read the answers in order. */
static void redis_publish(void *ctx, int n, const int *slot, const uint64_t *seq, const uint64_t *t)
{
	struct redis_drv *d = ctx;
	uint8_t m[MSG_BYTES];
	for (int i = 0; i < n; i++) {
		msg_build(m, slot[i], seq[i], t[i]);
		redisAppendCommand(d->pub, "XADD %s MAXLEN ~ 100000 * m %b", d->key, m, (size_t)MSG_BYTES);
	}
	for (int i = 0; i < n; i++) {
		redisReply *rep = NULL;
		if (redisGetReply(d->pub, (void **)&rep) != REDIS_OK || !rep)
			fatal("redis XADD: %s", d->pub->errstr);
		int bad = rep->type == REDIS_REPLY_ERROR;
		pthread_mutex_lock(&R.lock);
		run_on_ack(&R, slot[i], seq[i], bad ? rep->str : NULL, bad ? rep->len : 0);
		pthread_mutex_unlock(&R.lock);
		freeReplyObject(rep);
	}
}

static struct redis_drv *redis_setup(int port, int nsubs)
{
	struct redis_drv *d = &RD;
	d->d.pump = sleep_pump;
	d->nsubs = nsubs;
	snprintf(d->key, sizeof d->key, "bench.n%d", nsubs);
	d->pub = redis_connect(port);
	for (int i = 0; i < nsubs; i++) {
		redisReply *rep = redis_cmd(d->pub, "XGROUP CREATE %s g%d $ MKSTREAM", d->key, i);
		if (rep->type == REDIS_REPLY_ERROR)
			fatal("redis XGROUP CREATE: %s", rep->str);
		freeReplyObject(rep);
	}
	for (int i = 0; i < nsubs; i++) {
		struct redis_cons *k = &d->cons[i];
		k->idx = i;
		k->c = redis_connect(port);
		if (pthread_create(&k->th, NULL, redis_cons_main, k) != 0)
			fatal("%s", "pthread_create failed");
	}
	d->pt.publish = redis_publish;
	d->pt.ctx = d;
	pub_start(&d->pt);
	printf("# stream %s, %d consumer groups (XREADGROUP COUNT 1024 BLOCK 100, XACK per batch), "
	       "XADD pipelined\n", d->key, nsubs);
	return d;
}

static void redis_teardown(struct redis_drv *d)
{
	pub_stop(&d->pt);
	atomic_store(&d->stop, 1);
	for (int i = 0; i < d->nsubs; i++) {
		pthread_join(d->cons[i].th, NULL);
		redisFree(d->cons[i].c);
	}
	redisFree(d->pub);
}
#endif

/* ----------------------------------------------------------------- main */

static void usage(void)
{
	fprintf(stderr, "usage: topics_load trine <port> <n> | topics_load nats <url> <n>"
#ifdef TOPICS_HIREDIS
		" | topics_load redis <port> <n>"
#endif
		"\n  n: subscriber functions / consumers, 1..%d\n", MAX_SUBS);
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc != 4)
		usage();
	const char *mode = argv[1];
	int nsubs = atoi(argv[3]);
	if (nsubs < 1 || nsubs > MAX_SUBS)
		usage();
	double secs = env_double("BENCH_SECONDS", 3);
	double warm = env_double("BENCH_WARMUP", 0.5);
	int inflight = (int)env_double("BENCH_INFLIGHT", 256);
	if (inflight > MAX_INFLIGHT)
		fatal("BENCH_INFLIGHT is at most %s", "4096");
	signal(SIGPIPE, SIG_IGN);

	pthread_mutex_init(&R.lock, NULL);
	pthread_cond_init(&R.cond, NULL);
	R.nsubs = nsubs;
	R.all_mask = nsubs == 64 ? ~0ull : (1ull << nsubs) - 1;

	struct driver *d = NULL;	/* usage() exits on a bad mode */
	struct nats_drv *nd = NULL;
#ifdef TOPICS_HIREDIS
	struct redis_drv *rd = NULL;
#endif
	if (strcmp(mode, "trine") == 0) {
		int port = atoi(argv[2]);
		if (port <= 0)
			usage();
		d = &trine_setup(port, nsubs)->d;
	} else if (strcmp(mode, "nats") == 0) {
		nd = nats_setup(argv[2], nsubs);
		d = &nd->d;
#ifdef TOPICS_HIREDIS
	} else if (strcmp(mode, "redis") == 0) {
		int port = atoi(argv[2]);
		if (port <= 0)
			usage();
		rd = redis_setup(port, nsubs);
		d = &rd->d;
#endif
	} else {
		usage();
	}

	if (wait_ready(d) < 0)
		fatal("%s: no message reached every subscriber within 15 s", mode);
	measure(d, nsubs, 1, warm, secs);
	measure(d, nsubs, inflight, warm, secs);

	if (nd)
		nats_teardown(nd);
#ifdef TOPICS_HIREDIS
	if (rd)
		redis_teardown(rd);
#endif
	free(R.lat);
	return 0;
}
