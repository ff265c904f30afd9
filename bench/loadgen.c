/*
 * loadgen — drives the invocation round trip benchmark against one peer and
 * prints one "M <metric> <value>" line per figure (bench/run pairs them up).
 *
 *   loadgen trine <port>   caller + worker connections speaking the iii worker
 *                          protocol to a trine worker port (function bench::echo)
 *   loadgen echo <port>    caller connection only, against bench/ws_echo (the floor)
 *   loadgen nats <url> asap|buffered
 *                          requester + responder on nats-server, subject bench.echo,
 *                          replies to one inbox subscription (no blocking request)
 *
 * Every peer gets byte-for-byte the same request: the invokefunction JSON frame
 * with a payload string of N bytes, matched to its reply by invocation_id. For
 * each payload size it runs: 1 call in flight (sequential; latency percentiles
 * and calls/s), then 16 and 256 in flight (calls/s, closed loop: each reply
 * sends the next call). Each run warms up, then counts replies that arrive
 * inside a fixed window.
 *
 * Environment: BENCH_SECONDS (window, default 3), BENCH_WARMUP (default 0.5),
 * BENCH_WORKERS (worker connections in trine mode, default 4).
 *
 * The worker side runs in its own thread so that the caller's clock is not
 * disturbed by worker work queued behind it; neither side parses full JSON,
 * they find the two string fields they need.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1	/* memmem, accept4 */
#endif
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
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

#define MAX_INFLIGHT 256
#define ID_LEN 36
#define DRAIN_NS (10ull * 1000000000ull)	/* give up waiting for stragglers after this */
#define READY_NS (10ull * 1000000000ull)	/* how long the first call may take to succeed */

static const char function_id[] = "bench::echo";

/* ------------------------------------------------------------------ a run */

/*
 * One measurement: a closed loop of `inflight` calls. The invocation id is a
 * UUIDv4-shaped string whose third group carries the slot, so a reply finds
 * its call without a lookup table; the whole id is compared, so a straggler
 * from an earlier run is ignored.
 */
struct call {
	int busy;
	uint64_t t_sent;
	char id[ID_LEN];
};

struct run {
	void (*send)(void *ctx, const uint8_t *msg, size_t len);
	void *send_ctx;
	pthread_mutex_t lock;	/* nats mode: replies arrive on the client's thread */

	size_t payload;
	int inflight;
	int measuring;		/* 0 during the ready probe */
	uint64_t t_warm, t_end;
	uint32_t prefix;
	uint64_t counter;

	uint8_t *msg;		/* request template; the id is patched in at id_off */
	size_t msg_len;
	size_t id_off;

	struct call calls[MAX_INFLIGHT];
	int outstanding;
	uint64_t done;		/* good replies inside the window */
	uint64_t errors;	/* error or malformed replies inside the window */
	char first_error[160];	/* the start of the first one, for the report */
	uint64_t last_ok;	/* any good reply (ready probe) */
	uint64_t *lat;		/* ns, sequential runs only */
	size_t nlat, cap_lat;
};

static void hex(char *out, uint64_t v, int digits)
{
	static const char tab[] = "0123456789abcdef";
	for (int i = digits - 1; i >= 0; i--, v >>= 4)
		out[i] = tab[v & 15];
}

static void run_set_payload(struct run *r, size_t payload)
{
	static const char head[] = "{\"type\":\"invokefunction\",\"invocation_id\":\"";
	char mid[128];
	int ml = snprintf(mid, sizeof mid, "\",\"function_id\":\"%s\",\"data\":{\"p\":\"", function_id);
	static const char tail[] = "\"}}";

	free(r->msg);
	r->payload = payload;
	r->msg_len = sizeof head - 1 + ID_LEN + (size_t)ml + payload + sizeof tail - 1;
	r->msg = malloc(r->msg_len);
	if (!r->msg)
		fatal("%s", "out of memory");
	uint8_t *p = r->msg;
	memcpy(p, head, sizeof head - 1);
	p += sizeof head - 1;
	r->id_off = (size_t)(p - r->msg);
	memset(p, '0', ID_LEN);
	p += ID_LEN;
	memcpy(p, mid, (size_t)ml);
	p += ml;
	memset(p, 'x', payload);
	p += payload;
	memcpy(p, tail, sizeof tail - 1);
}

static void run_issue(struct run *r, int slot)
{
	struct call *c = &r->calls[slot];
	char *id = c->id;
	uint64_t n = ++r->counter;
	/* pppppppp-nnnn-4nnn-8sss-nnnnnnnnnnnn */
	hex(id, r->prefix, 8);
	id[8] = '-';
	hex(id + 9, n >> 60, 4);
	id[13] = '-';
	id[14] = '4';
	hex(id + 15, n >> 48, 3);
	id[18] = '-';
	id[19] = '8';
	hex(id + 20, (uint64_t)slot, 3);
	id[23] = '-';
	hex(id + 24, n, 12);
	memcpy(r->msg + r->id_off, id, ID_LEN);
	c->busy = 1;
	r->outstanding++;
	c->t_sent = now_ns();
	r->send(r->send_ctx, r->msg, r->msg_len);
}

static void run_on_reply(struct run *r, const uint8_t *msg, size_t len)
{
	uint64_t now = now_ns();
	const uint8_t *id, *p;
	size_t idlen, plen;
	if (json_str(msg, len, "invocation_id", &id, &idlen) < 0 || idlen != ID_LEN)
		return;		/* not a reply (e.g. workerregistered) */
	int slot = 0;
	for (int i = 20; i < 23; i++)
		slot = slot * 16 + (id[i] <= '9' ? id[i] - '0' : id[i] - 'a' + 10);
	if (slot < 0 || slot >= MAX_INFLIGHT)
		return;
	struct call *c = &r->calls[slot];
	if (!c->busy || memcmp(c->id, id, ID_LEN) != 0)
		return;		/* straggler from an earlier run */
	c->busy = 0;
	r->outstanding--;
	int ok = !memmem(msg, len, "\"error\"", 7) &&
		 json_str(msg, len, "p", &p, &plen) == 0 && plen == r->payload;
	if (ok)
		r->last_ok = now;
	if (r->measuring && now >= r->t_warm && now < r->t_end) {
		if (!ok) {
			if (r->errors++ == 0) {
				size_t n = len < sizeof r->first_error - 1 ? len : sizeof r->first_error - 1;
				for (size_t i = 0; i < n; i++)
					r->first_error[i] = msg[i] < 0x20 || msg[i] > 0x7e ? '.' : (char)msg[i];
				r->first_error[n] = '\0';
			}
		} else {
			r->done++;
			if (r->inflight == 1) {
				if (r->nlat == r->cap_lat) {
					r->cap_lat = r->cap_lat ? r->cap_lat * 2 : 65536;
					r->lat = realloc(r->lat, r->cap_lat * sizeof *r->lat);
					if (!r->lat)
						fatal("%s", "out of memory");
				}
				r->lat[r->nlat++] = now - c->t_sent;
			}
		}
	}
	if (r->measuring && now < r->t_end)
		run_issue(r, slot);
}

static void run_start(struct run *r, int inflight, double warm_s, double secs)
{
	r->inflight = inflight;
	r->measuring = 1;
	r->done = r->errors = 0;
	r->nlat = 0;
	r->outstanding = 0;
	for (int i = 0; i < MAX_INFLIGHT; i++)
		r->calls[i].busy = 0;
	uint64_t t0 = now_ns();
	r->t_warm = t0 + (uint64_t)(warm_s * 1e9);
	r->t_end = r->t_warm + (uint64_t)(secs * 1e9);
	for (int i = 0; i < inflight; i++)
		run_issue(r, i);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void run_report(struct run *r, const char *label, double secs, int drained)
{
	if (!drained)
		printf("# %s c%d: %d calls still unanswered %.0f s after the window\n",
		       label, r->inflight, r->outstanding, DRAIN_NS / 1e9);
	if (r->errors)
		printf("# %s c%d: %" PRIu64 " error or malformed replies in the window, first: %s\n",
		       label, r->inflight, r->errors, r->first_error);
	if (r->inflight == 1 && r->nlat > 0) {
		qsort(r->lat, r->nlat, sizeof *r->lat, cmp_u64);
		printf("M p50_us_%s_seq %.1f\n", label, r->lat[r->nlat / 2] / 1e3);
		printf("M p99_us_%s_seq %.1f\n", label, r->lat[r->nlat * 99 / 100] / 1e3);
	}
	if (r->done > 0)
		printf("M rps_%s_c%d %.0f\n", label, r->inflight, r->done / secs);
	fflush(stdout);
}

/* ------------------------------------------------------- trine workers */

struct workers {
	int ep;
	atomic_int stop;
	struct buf scratch;
	int n;
	struct wsc **conns;
};

/*
 * The echo function: answer each invokefunction with an invocationresult
 * whose result carries the same payload string back, so the reply is as large
 * as the request, as with the other peers.
 */
static void worker_on_msg(struct wsc *c, const uint8_t *msg, size_t len)
{
	struct workers *w = c->ctx;
	const uint8_t *id, *p;
	size_t idlen, plen;
	if (!memmem(msg, len, "\"invokefunction\"", 16) ||
	    json_str(msg, len, "invocation_id", &id, &idlen) < 0)
		return;
	if (json_str(msg, len, "p", &p, &plen) < 0) {
		p = (const uint8_t *)"";
		plen = 0;
	}
	static const char a[] = "{\"type\":\"invocationresult\",\"invocation_id\":\"";
	char b[96];
	int bl = snprintf(b, sizeof b, "\",\"function_id\":\"%s\",\"result\":{\"p\":\"", function_id);
	static const char d[] = "\"}}";
	struct buf *s = &w->scratch;
	s->len = 0;
	buf_add(s, a, sizeof a - 1);
	buf_add(s, id, idlen);
	buf_add(s, b, (size_t)bl);
	buf_add(s, p, plen);
	buf_add(s, d, sizeof d - 1);
	wsc_send_text(c, s->p, s->len);
}

static void *workers_main(void *arg)
{
	struct workers *w = arg;
	while (!atomic_load(&w->stop))
		ws_poll(w->ep, 100);
	return NULL;
}

/* ------------------------------------------------------------- drivers */

struct peer {
	struct run *run;
	void (*pump)(struct peer *pe, int ms);	/* called without run->lock */
	struct wsc *caller;			/* ws modes */
	int ep;
};

static void ws_pump(struct peer *pe, int ms)
{
	wsc_flush(pe->caller);
	ws_poll(pe->ep, ms);
}

static void caller_on_msg(struct wsc *c, const uint8_t *msg, size_t len)
{
	run_on_reply(c->ctx, msg, len);
}

static void sleep_pump(struct peer *pe, int ms)
{
	(void)pe;
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/*
 * Wait until a call succeeds: trine may not have the function registered yet
 * (function_not_found) just after registerfunction.
 */
static int wait_ready(struct peer *pe)
{
	struct run *r = pe->run;
	uint64_t deadline = now_ns() + READY_NS;
	while (now_ns() < deadline) {
		pthread_mutex_lock(&r->lock);
		r->measuring = 0;
		r->inflight = 1;
		r->last_ok = 0;
		r->outstanding = 0;
		r->calls[0].busy = 0;
		run_issue(r, 0);
		pthread_mutex_unlock(&r->lock);
		uint64_t t = now_ns() + 1000000000ull;
		int answered = 0, ok = 0;
		while (!answered && now_ns() < t) {
			pe->pump(pe, 10);
			pthread_mutex_lock(&r->lock);
			answered = r->outstanding == 0;
			ok = r->last_ok != 0;
			pthread_mutex_unlock(&r->lock);
		}
		if (ok)
			return 0;
		sleep_pump(pe, 50);
	}
	return -1;
}

static void measure(struct peer *pe, const char *label, int inflight, double warm, double secs)
{
	struct run *r = pe->run;
	pthread_mutex_lock(&r->lock);
	run_start(r, inflight, warm, secs);
	uint64_t give_up = r->t_end + DRAIN_NS;
	pthread_mutex_unlock(&r->lock);
	int drained = 0;
	for (;;) {
		pe->pump(pe, 20);
		pthread_mutex_lock(&r->lock);
		uint64_t now = now_ns();
		drained = now >= r->t_end && r->outstanding == 0;
		pthread_mutex_unlock(&r->lock);
		if (drained || now >= give_up)
			break;
	}
	pthread_mutex_lock(&r->lock);
	run_report(r, label, secs, drained);
	pthread_mutex_unlock(&r->lock);
}

/* ----------------------------------------------------------------- NATS */

struct natsq {
	natsConnection *nc;
	char inbox[64];
};

static void nats_send(void *ctx, const uint8_t *msg, size_t len)
{
	struct natsq *q = ctx;
	natsStatus s = natsConnection_PublishRequest(q->nc, "bench.echo", q->inbox, msg, (int)len);
	if (s != NATS_OK)
		fatal("nats publish: %s", natsStatus_GetText(s));
}

static void nats_responder_cb(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
	(void)sub;
	(void)closure;
	const char *reply = natsMsg_GetReply(m);
	if (reply)
		natsConnection_Publish(nc, reply, natsMsg_GetData(m), natsMsg_GetDataLength(m));
	natsMsg_Destroy(m);
}

static void nats_reply_cb(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
	(void)nc;
	(void)sub;
	struct run *r = closure;
	pthread_mutex_lock(&r->lock);
	run_on_reply(r, (const uint8_t *)natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
	pthread_mutex_unlock(&r->lock);
	natsMsg_Destroy(m);
}

/*
 * asap: the client writes each publish at once (natsOptions_SetSendAsap).
 * Otherwise it buffers and its flusher thread writes, which costs ~1 ms per
 * hop at 1 in flight but batches well at 256; bench/run measures both and
 * credits NATS with the better figure.
 */
static natsConnection *nats_connect(const char *url, bool asap)
{
	natsOptions *o = NULL;
	natsConnection *nc = NULL;
	natsStatus s = natsOptions_Create(&o);
	if (s == NATS_OK)
		s = natsOptions_SetURL(o, url);
	if (s == NATS_OK)
		s = natsOptions_SetSendAsap(o, asap);
	if (s == NATS_OK)
		s = natsConnection_Connect(&nc, o);
	if (s != NATS_OK)
		fatal("nats connect: %s", natsStatus_GetText(s));
	natsOptions_Destroy(o);
	return nc;
}

static void nats_subscribe(natsConnection *nc, const char *subj, natsMsgHandler cb, void *closure)
{
	natsSubscription *sub = NULL;
	natsStatus s = natsConnection_Subscribe(&sub, nc, subj, cb, closure);
	if (s == NATS_OK)
		s = natsSubscription_SetPendingLimits(sub, -1, -1);
	if (s == NATS_OK)
		s = natsConnection_Flush(nc);
	if (s != NATS_OK)
		fatal("nats subscribe: %s", natsStatus_GetText(s));
}

/* ----------------------------------------------------------------- main */

static void usage(void)
{
	fprintf(stderr, "usage: loadgen trine <port> | loadgen echo <port> | "
		"loadgen nats <url> asap|buffered\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc != 3 && !(argc == 4 && strcmp(argv[1], "nats") == 0))
		usage();
	const char *mode = argv[1];
	double secs = env_double("BENCH_SECONDS", 3);
	double warm = env_double("BENCH_WARMUP", 0.5);
	int nworkers = (int)env_double("BENCH_WORKERS", 4);
	signal(SIGPIPE, SIG_IGN);

	static struct run r;
	pthread_mutex_init(&r.lock, NULL);
	if (getrandom(&r.prefix, sizeof r.prefix, 0) != sizeof r.prefix)
		r.prefix = (uint32_t)now_ns() ^ (uint32_t)getpid();
	run_set_payload(&r, 100);

	struct peer pe = { .run = &r };
	static struct workers w;
	pthread_t wt;
	int have_workers = 0;
	static struct natsq q;

	if (strcmp(mode, "trine") == 0 || strcmp(mode, "echo") == 0) {
		int port = atoi(argv[2]);
		if (port <= 0)
			usage();
		if (strcmp(mode, "trine") == 0) {
			static const char reg[] = "{\"type\":\"registerfunction\",\"id\":\"bench::echo\"}";
			w.ep = epoll_create1(0);
			w.conns = calloc((size_t)nworkers, sizeof *w.conns);
			if (!w.conns)
				fatal("%s", "out of memory");
			for (int i = 0; i < nworkers; i++) {
				struct wsc *c = wsc_connect(port, w.ep, worker_on_msg, &w);
				w.conns[w.n++] = c;
				wsc_send_text(c, (const uint8_t *)reg, sizeof reg - 1);
				wsc_flush(c);
			}
			if (pthread_create(&wt, NULL, workers_main, &w) != 0)
				fatal("%s", "pthread_create failed");
			have_workers = 1;
			printf("# %d worker connections, function %s\n", nworkers, function_id);
		}
		pe.ep = epoll_create1(0);
		pe.caller = wsc_connect(port, pe.ep, caller_on_msg, &r);
		pe.pump = ws_pump;
		r.send = wsc_send_text;
		r.send_ctx = pe.caller;
		if (have_workers)
			sleep_pump(&pe, 300);	/* let the registrations land */
	} else if (strcmp(mode, "nats") == 0) {
		if (argc != 4 || (strcmp(argv[3], "asap") != 0 && strcmp(argv[3], "buffered") != 0))
			usage();
		bool asap = strcmp(argv[3], "asap") == 0;
		natsConnection *resp = nats_connect(argv[2], asap);
		nats_subscribe(resp, "bench.echo", nats_responder_cb, NULL);
		q.nc = nats_connect(argv[2], asap);
		snprintf(q.inbox, sizeof q.inbox, "_INBOX.bench.%08x", r.prefix);
		nats_subscribe(q.nc, q.inbox, nats_reply_cb, &r);
		pe.pump = sleep_pump;
		r.send = nats_send;
		r.send_ctx = &q;
	} else {
		usage();
	}

	if (wait_ready(&pe) < 0)
		fatal("%s: no successful call within 10 s", mode);

	static const struct { size_t bytes; const char *label; } sizes[] = {
		{ 100, "100B" }, { 65536, "64KiB" },
	};
	static const int inflight[] = { 1, 16, 256 };
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		pthread_mutex_lock(&r.lock);
		run_set_payload(&r, sizes[i].bytes);
		pthread_mutex_unlock(&r.lock);
		for (size_t j = 0; j < sizeof inflight / sizeof inflight[0]; j++)
			measure(&pe, sizes[i].label, inflight[j], warm, secs);
	}

	if (have_workers) {
		atomic_store(&w.stop, 1);
		pthread_join(wt, NULL);
		for (int i = 0; i < w.n; i++)
			wsc_free(w.conns[i]);
		free(w.conns);
		free(w.scratch.p);
	}
	if (pe.caller)
		wsc_free(pe.caller);
	free(r.msg);
	free(r.lat);
	return 0;
}
