/*
 * trigger_load — drives the router trigger benchmarks (bench/scenario-cron,
 * bench/scenario-pubsub) and prints one "M <metric> <value>" line per figure
 * and '#' context lines; the scenarios pair the figures up.
 *
 *   trigger_load cron <port>         CRON_JOBS `* * * * * *` cron triggers over
 *                                    CRON_CONNS worker connections; jitter =
 *                                    receive time - scheduled_time, per run;
 *                                    router_late = actual_time - scheduled_time
 *   trigger_load cron-floor          the floor: a timerfd woken at each whole
 *                                    second running CRON_JOBS callbacks, each
 *                                    taking the same measurement
 *   trigger_load pubsub-trine <port> <N>
 *                                    N subscriber functions (one connection each,
 *                                    `subscribe` trigger) and a publisher calling
 *                                    the built-in `publish`
 *   trigger_load pubsub-redis <port> <N>
 *                                    N connections SUBSCRIBEd to one channel and a
 *                                    publisher sending PUBLISH, raw RESP
 *   trigger_load streams-trine <port> <N> <stream port>
 *                                    N stream clients joined to one group on the
 *                                    stream port and a writer calling the built-in
 *                                    `stream::send` (bench/scenario-streams)
 *
 * With RSS_PIDS="pid ..." set, the pub/sub modes also print the growth of
 * those processes' summed VmRSS per subscriber connection, measured before
 * the subscribers connect and once each has its first answer (SUBSCRIBE's
 * reply, the stream sync), before any message.
 *
 * Both pub/sub peers carry the same message, {"s":<seq>,"k":<slot>,"t":<send
 * time ns>,"p":"xxx…"}, and are driven by the same loop: a message is done when
 * all N subscribers have it, and K messages are kept in flight (closed loop: a
 * completed message sends the next). Latency is per delivery: from the send to
 * each subscriber's receipt, read from the "t" the message carries.
 *
 * Everything runs in one thread on one epoll set: the publisher, the
 * subscribers (or cron workers) and the clocks live in the same process, so
 * no clock is compared across machines. Neither side parses full JSON: the
 * fields needed are found by substring search.
 *
 * Environment: BENCH_SECONDS (pub/sub window, default 3), BENCH_WARMUP
 * (default 0.5), PUBSUB_INFLIGHT (K for the throughput runs, default 32),
 * PUBSUB_PAYLOAD (bytes of "p", default 100), CRON_JOBS (default 10000),
 * CRON_CONNS (default 4), CRON_SECONDS (ticks measured, default 10),
 * CRON_WARMUP (ticks skipped first, default 2).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1	/* memmem */
#endif
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "bench_ws.h"

#define ID_LEN 36
#define MAX_INFLIGHT 1024
#define READY_NS (15ull * 1000000000ull)	/* how long the first message may take */
#define DRAIN_NS (5ull * 1000000000ull)		/* give up on stragglers after this */
#define LOST_NS (2ull * 1000000000ull)		/* a message not complete by then is lost */

static int64_t real_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* A non-negative JSON integer member. */
static int json_u64(const uint8_t *msg, size_t len, const char *key, uint64_t *out)
{
	const uint8_t *end = msg + len, *p = json_val(msg, len, key);
	uint64_t v = 0;
	if (!p || *p < '0' || *p > '9')
		return -1;
	for (; p < end && *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (uint64_t)(*p - '0');
	*out = v;
	return 0;
}

/* --------------------------------------------------------- connections */

/* A text message; msg may be a char string. */
static void ws_text(struct wsc *c, const void *msg, size_t len)
{
	wsc_queue(c, 0x81, msg, len);
}

/*
 * Raw RESP (Redis) connections are struct wsc too, attached with resp_parse:
 * on_msg gets each Redis "message" push's payload; other replies are only
 * counted in answers.
 *
 * One RESP value at p: a line (+ - :), a bulk string, or an array of those
 * (what PUBLISH, SUBSCRIBE and pushes answer). Returns the bytes it takes, 0
 * if incomplete. For an array, elem[] gets up to 4 bulk strings.
 */
struct span {
	const uint8_t *p;
	size_t len;
};

static size_t resp_line(const uint8_t *p, size_t avail, long long *num)
{
	const uint8_t *e = memmem(p, avail, "\r\n", 2);
	if (!e)
		return 0;
	if (num) {
		char tmp[32];
		size_t n = (size_t)(e - p) - 1 < sizeof tmp - 1 ? (size_t)(e - p) - 1 : sizeof tmp - 1;
		memcpy(tmp, p + 1, n);
		tmp[n] = '\0';
		*num = strtoll(tmp, NULL, 10);
	}
	return (size_t)(e - p) + 2;
}

static size_t resp_value(const uint8_t *p, size_t avail, struct span *elem, int *nelem)
{
	long long n;
	size_t used;
	if (avail < 1)
		return 0;
	switch (p[0]) {
	case '+': case '-': case ':':
		return resp_line(p, avail, NULL);
	case '$':
		if (!(used = resp_line(p, avail, &n)))
			return 0;
		if (n < 0)
			return used;
		if (avail - used < (size_t)n + 2)
			return 0;
		if (elem) {
			elem[*nelem].p = p + used;
			elem[*nelem].len = (size_t)n;
			(*nelem)++;
		}
		return used + (size_t)n + 2;
	case '*':
		if (!(used = resp_line(p, avail, &n)))
			return 0;
		for (long long i = 0; i < n; i++) {
			size_t u = resp_value(p + used, avail - used, *nelem < 4 ? elem : NULL, nelem);
			if (!u)
				return 0;
			used += u;
		}
		return used;
	default:
		fatal("%s", "unexpected reply from redis");
		return 0;
	}
}

static void resp_parse(struct wsc *c)
{
	for (;;) {
		struct span el[4];
		int nel = 0;
		const uint8_t *p = c->in.p + c->in.off;
		size_t used = resp_value(p, c->in.len - c->in.off, el, &nel);
		if (!used)
			break;
		if (p[0] == '-')
			fatal("redis error: %.60s", (const char *)p);
		if (p[0] == '*' && nel == 3 && el[0].len == 7 && memcmp(el[0].p, "message", 7) == 0)
			c->on_msg(c, el[2].p, el[2].len);
		else
			c->answers++;
		buf_consume(&c->in, used);
	}
}

/* A UUIDv4-shaped id: pppppppp-nnnn-4000-8000-nnnnnnnnnnnn. */
static void make_id(char *id, uint32_t prefix, uint64_t n)
{
	char d[ID_LEN + 1];
	snprintf(d, sizeof d, "%08x-%04x-4000-8000-%012" PRIx64, prefix, (unsigned)(n >> 48) & 0xffff,
		 (uint64_t)(n & 0xffffffffffffull));
	memcpy(id, d, ID_LEN);
}

/* A worker's answer to an invokefunction: result null, as a handler returning nothing. */
static void answer_null(struct wsc *c, const uint8_t *msg, size_t len, struct buf *s)
{
	const uint8_t *id;
	size_t idlen;
	if (json_str(msg, len, "invocation_id", &id, &idlen) < 0)
		return;
	s->off = s->len = 0;
	buf_str(s, "{\"type\":\"invocationresult\",\"invocation_id\":\"");
	buf_add(s, id, idlen);
	buf_str(s, "\",\"result\":null}");
	ws_text(c, s->p, s->len);
}

/* Show the start of an unexpected message (registration errors) once per kind. */
static void show_error(const char *what, const uint8_t *msg, size_t len)
{
	static int shown;
	if (shown++ >= 3)
		return;
	char t[200];
	size_t n = len < sizeof t - 1 ? len : sizeof t - 1;
	for (size_t i = 0; i < n; i++)
		t[i] = msg[i] < 0x20 || msg[i] > 0x7e ? '.' : (char)msg[i];
	t[n] = '\0';
	printf("# %s: %s\n", what, t);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

struct samples {
	int64_t *v;
	size_t n, cap;
};

static void samples_add(struct samples *s, int64_t v)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 65536;
		s->v = xrealloc(s->v, s->cap * sizeof *s->v);
	}
	s->v[s->n++] = v;
}

/* p50/p99/max of the samples (ns) as "M <prefix>p50_us<suffix> <µs>" lines. */
static void samples_report(struct samples *s, const char *prefix, const char *suffix, int with_max)
{
	if (!s->n)
		return;
	qsort(s->v, s->n, sizeof *s->v, cmp_i64);
	printf("M %sp50_us%s %.1f\n", prefix, suffix, s->v[s->n / 2] / 1e3);
	printf("M %sp99_us%s %.1f\n", prefix, suffix, s->v[s->n * 99 / 100] / 1e3);
	if (with_max)
		printf("M %smax_us%s %.1f\n", prefix, suffix, s->v[s->n - 1] / 1e3);
}

/* ------------------------------------------------------------------ cron */

struct cron {
	int64_t from_s, to_s;		/* ticks [from, to) are measured */
	struct samples jit;
	struct samples fire;		/* actual_time - scheduled_time: the router's side */
	uint64_t fires;			/* runs of measured ticks */
	uint64_t errors;
	int64_t last_sched;		/* latest scheduled_time seen */
	struct buf scratch;
};

/*
 * "YYYY-MM-DDTHH:MM:SS[.mmm]+00:00" (what the router sends) -> Unix ms, or -1.
 */
static int64_t parse_rfc3339_utc(const uint8_t *s, size_t len)
{
	int ms = 0;
	if (len < 19 || s[4] != '-' || s[10] != 'T')
		return -1;
	if (len >= 23 && s[19] == '.')
		ms = (s[20] - '0') * 100 + (s[21] - '0') * 10 + (s[22] - '0');
	struct tm tm = { 0 };
	char t[20];
	memcpy(t, s, 19);
	t[19] = '\0';
	if (sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
		   &tm.tm_min, &tm.tm_sec) != 6)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

static void cron_on_msg(struct wsc *c, const uint8_t *msg, size_t len)
{
	int64_t now = real_ns();
	struct cron *cr = c->ctx;
	const uint8_t *st;
	size_t stlen;
	if (!memmem(msg, len, "\"invokefunction\"", 16)) {
		if (memmem(msg, len, "\"error\"", 7) && cr->errors++ == 0)
			show_error("cron: error from the engine", msg, len);
		return;
	}
	answer_null(c, msg, len, &cr->scratch);
	if (json_str(msg, len, "scheduled_time", &st, &stlen) < 0)
		return;
	int64_t sched = parse_rfc3339_utc(st, stlen) / 1000;
	if (sched < 0)
		return;
	if (sched > cr->last_sched)
		cr->last_sched = sched;
	if (sched >= cr->from_s && sched < cr->to_s) {
		cr->fires++;
		samples_add(&cr->jit, now - sched * 1000000000ll);
		if (json_str(msg, len, "actual_time", &st, &stlen) == 0)
			samples_add(&cr->fire, (parse_rfc3339_utc(st, stlen) - sched * 1000) * 1000000ll);
	}
}

static void run_cron(int port)
{
	int jobs = (int)env_double("CRON_JOBS", 10000);
	int nconn = (int)env_double("CRON_CONNS", 4);
	int ticks = (int)env_double("CRON_SECONDS", 10);
	int warm = (int)env_double("CRON_WARMUP", 2);
	static struct cron cr;
	int ep = epoll_create1(0);
	struct wsc **conns = xrealloc(NULL, (size_t)nconn * sizeof *conns);
	uint32_t prefix;
	char id[ID_LEN + 1] = { 0 };
	struct buf m = { 0 };

	if (getrandom(&prefix, sizeof prefix, 0) != sizeof prefix)
		prefix = (uint32_t)now_ns();
	cr.from_s = cr.to_s = INT64_MAX;
	uint64_t t0 = now_ns();
	for (int i = 0; i < nconn; i++) {
		conns[i] = wsc_connect(port, ep, cron_on_msg, &cr);
		m.off = m.len = 0;
		char reg[96];
		snprintf(reg, sizeof reg, "{\"type\":\"registerfunction\",\"id\":\"bench::cron%d\"}", i);
		buf_str(&m, reg);
		ws_text(conns[i], m.p, m.len);
	}
	for (int j = 0; j < jobs; j++) {
		struct wsc *c = conns[j % nconn];
		char f[240];
		make_id(id, prefix, (uint64_t)j);
		snprintf(f, sizeof f, "{\"type\":\"registertrigger\",\"id\":\"%s\",\"trigger_type\":\"cron\","
			 "\"function_id\":\"bench::cron%d\",\"config\":{\"expression\":\"* * * * * *\"}}",
			 id, j % nconn);
		ws_text(c, f, strlen(f));
		if (c->out.len > (1u << 20))
			wsc_flush(c);
		ws_poll(ep, 0);
	}
	for (int i = 0; i < nconn; i++)
		wsc_flush(conns[i]);
	/* the registrations are in once a tick after the last one was sent fires */
	int64_t sent_s = real_ns() / 1000000000ll;
	uint64_t give_up = now_ns() + 30ull * 1000000000ull;
	while (cr.last_sched <= sent_s + 1 && now_ns() < give_up)
		ws_poll(ep, 50);
	if (cr.last_sched <= sent_s + 1)
		fatal("%s", "no cron run within 30 s of registering");
	printf("# %d cron jobs `* * * * * *` over %d worker connections, registered in %.2f s\n",
	       jobs, nconn, (now_ns() - t0) / 1e9);
	cr.from_s = cr.last_sched + warm;
	cr.to_s = cr.from_s + ticks;
	/* measure until a second past the last tick (late runs still count) */
	while (real_ns() < (cr.to_s + 1) * 1000000000ll)
		ws_poll(ep, 50);
	uint64_t want = (uint64_t)jobs * (uint64_t)ticks;
	printf("# ticks %d (after %d warm-up ticks): %" PRIu64 " runs of %" PRIu64 " expected%s\n",
	       ticks, warm, cr.fires, want, cr.fires == want ? "" : " (some missed or late > 1 s)");
	if (cr.errors)
		printf("# %" PRIu64 " error messages from the engine\n", cr.errors);
	samples_report(&cr.jit, "jitter_", "", 1);
	samples_report(&cr.fire, "router_late_", "", 1);
	printf("M runs_per_s %.0f\n", (double)cr.fires / ticks);
	for (int i = 0; i < nconn; i++)
		wsc_free(conns[i]);
	free(conns);
	free(m.p);
	free(cr.scratch.p);
	free(cr.jit.v);
	free(cr.fire.v);
}

/*
 * The floor: one thread sleeping on a timerfd armed at each whole second
 * (CLOCK_REALTIME, absolute), then CRON_JOBS callbacks, each taking the time
 * and recording it against the scheduled second: what waking up on time and
 * walking 10,000 jobs costs with nothing else (no heap, no store, no network).
 */
static volatile int64_t floor_sink;

static void floor_callback(struct samples *s, int64_t sched_ns)
{
	int64_t now = real_ns();
	floor_sink += now;
	samples_add(s, now - sched_ns);
}

static void run_cron_floor(void)
{
	int jobs = (int)env_double("CRON_JOBS", 10000);
	int ticks = (int)env_double("CRON_SECONDS", 10);
	int warm = (int)env_double("CRON_WARMUP", 2);
	struct samples s = { 0 };
	int fd = timerfd_create(CLOCK_REALTIME, 0);
	if (fd < 0)
		fatal("timerfd_create: %s", strerror(errno));
	int64_t next = real_ns() / 1000000000ll + 1;
	for (int t = 0; t < warm + ticks; t++, next++) {
		struct itimerspec its = { .it_value = { .tv_sec = (time_t)next } };
		uint64_t exp;
		if (timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
			fatal("timerfd_settime: %s", strerror(errno));
		if (read(fd, &exp, sizeof exp) != sizeof exp)
			fatal("timerfd read: %s", strerror(errno));
		size_t before = s.n;
		for (int j = 0; j < jobs; j++)
			floor_callback(&s, next * 1000000000ll);
		if (t < warm)
			s.n = before;
	}
	close(fd);
	printf("# timerfd at each whole second, %d callbacks per tick, %d ticks after %d warm-up\n",
	       jobs, ticks, warm);
	samples_report(&s, "jitter_", "", 1);
	free(s.v);
}

/* ---------------------------------------------------------------- pubsub */

struct slot {
	uint64_t seq;		/* 0: free */
	uint64_t t_sent;
	int remaining;		/* subscribers that have not had it yet */
};

struct pubsub {
	int redis;
	int streams;		/* trine stream clients instead of subscribe triggers */
	int nsubs;
	char topic[32];
	struct wsc *pub;
	struct wsc **subs;
	uint32_t prefix;
	size_t payload;

	int inflight;
	int measuring;
	uint64_t t_warm, t_end;
	uint64_t seq;
	struct slot slots[MAX_INFLIGHT];
	int outstanding;

	uint64_t done;		/* messages complete inside the window */
	uint64_t deliveries;	/* deliveries inside the window */
	uint64_t lost;		/* messages not complete after LOST_NS */
	uint64_t pub_errors;
	struct samples lat;
	struct buf m, scratch;
};

/* Send the message of slot k: {"s":seq,"k":k,"t":ns,"p":"xxx…"} to the topic. */
static void ps_issue(struct pubsub *ps, int k)
{
	struct slot *sl = &ps->slots[k];
	char head[96];
	sl->seq = ++ps->seq;
	sl->remaining = ps->nsubs;
	sl->t_sent = now_ns();
	int hl = snprintf(head, sizeof head, "{\"s\":%" PRIu64 ",\"k\":%d,\"t\":%" PRIu64 ",\"p\":\"",
			  sl->seq, k, sl->t_sent);
	size_t dlen = (size_t)hl + ps->payload + 2;
	struct buf *m = &ps->m;
	m->off = m->len = 0;
	if (ps->redis) {
		char pre[96];
		snprintf(pre, sizeof pre, "*3\r\n$7\r\nPUBLISH\r\n$%zu\r\n%s\r\n$%zu\r\n",
			 strlen(ps->topic), ps->topic, dlen);
		buf_str(m, pre);
	} else {
		char id[ID_LEN + 1] = { 0 };
		make_id(id, ps->prefix, sl->seq);
		buf_str(m, "{\"type\":\"invokefunction\",\"invocation_id\":\"");
		buf_str(m, id);
		if (ps->streams) {
			buf_str(m, "\",\"function_id\":\"stream::send\",\"data\":{\"stream_name\":\"bench\","
				"\"type\":\"m\",\"group_id\":\"");
		} else {
			buf_str(m, "\",\"function_id\":\"publish\",\"data\":{\"topic\":\"");
		}
		buf_str(m, ps->topic);
		buf_str(m, "\",\"data\":");
	}
	buf_add(m, head, (size_t)hl);
	buf_reserve(m, ps->payload);
	memset(m->p + m->len, 'x', ps->payload);
	m->len += ps->payload;
	buf_str(m, "\"}");
	if (ps->redis) {
		buf_str(m, "\r\n");
		buf_add(&ps->pub->out, m->p, m->len);
	} else {
		buf_str(m, "}}");
		ws_text(ps->pub, m->p, m->len);
	}
	ps->outstanding++;
}

static void ps_complete(struct pubsub *ps, int k, uint64_t now)
{
	ps->slots[k].seq = 0;
	ps->outstanding--;
	if (ps->measuring && now >= ps->t_warm && now < ps->t_end)
		ps->done++;
	if (ps->measuring && now < ps->t_end)
		ps_issue(ps, k);
}

/* A subscriber got data (the raw message, or the invokefunction around it). */
static void ps_delivered(struct pubsub *ps, const uint8_t *msg, size_t len)
{
	uint64_t now = now_ns(), seq, k, t;
	const uint8_t *p;
	size_t plen;
	if (json_u64(msg, len, "s", &seq) < 0 || json_u64(msg, len, "k", &k) < 0 ||
	    json_u64(msg, len, "t", &t) < 0 || k >= MAX_INFLIGHT)
		return;
	struct slot *sl = &ps->slots[k];
	if (sl->seq != seq || sl->remaining <= 0)
		return;		/* a straggler from a message given up on */
	if (json_str(msg, len, "p", &p, &plen) < 0 || plen != ps->payload)
		return;
	if (ps->measuring && now >= ps->t_warm && now < ps->t_end) {
		ps->deliveries++;
		samples_add(&ps->lat, (int64_t)(now - t));
	}
	if (--sl->remaining == 0)
		ps_complete(ps, (int)k, now);
}

static void ps_trine_sub_msg(struct wsc *c, const uint8_t *msg, size_t len)
{
	struct pubsub *ps = c->ctx;
	if (!memmem(msg, len, "\"invokefunction\"", 16)) {
		if (memmem(msg, len, "\"error\"", 7))
			show_error("subscriber: error from the engine", msg, len);
		return;
	}
	answer_null(c, msg, len, &ps->scratch);	/* as the SDK does for every call */
	ps_delivered(ps, msg, len);
}

static void ps_redis_sub_msg(struct wsc *c, const uint8_t *msg, size_t len)
{
	ps_delivered(c->ctx, msg, len);
}

/* A stream client's frame: the sync that answers its join, then the events. */
static void ps_stream_sub_msg(struct wsc *c, const uint8_t *msg, size_t len)
{
	if (memmem(msg, len, "\"sync\"", 6))
		c->answers++;
	else
		ps_delivered(c->ctx, msg, len);
}

/* Summed VmRSS (bytes) of the processes in RSS_PIDS; 0 = unset or unreadable. */
static long long rss_sum(void)
{
	const char *pids = getenv("RSS_PIDS");
	long long sum = 0;
	char path[64], line[256];

	while (pids && *pids) {
		char *end;
		long pid = strtol(pids, &end, 10);
		if (end == pids)
			break;
		pids = end;
		snprintf(path, sizeof path, "/proc/%ld/status", pid);
		FILE *f = fopen(path, "r");
		if (!f)
			return 0;
		while (fgets(line, sizeof line, f))
			if (strncmp(line, "VmRSS:", 6) == 0)
				sum += atoll(line + 6) * 1024;
		fclose(f);
	}
	return sum;
}

/* Wait until every subscriber has its first answer (or 30 s). */
static void ps_wait_joined(struct pubsub *ps, int ep)
{
	uint64_t give_up = now_ns() + 30000000000ull;
	int n = 0;

	while (now_ns() < give_up) {
		for (; n < ps->nsubs && ps->subs[n]->answers; n++)
			;
		if (n == ps->nsubs)
			return;
		ws_poll(ep, 20);
	}
	printf("# only %d of %d subscribers answered within 30 s\n", n, ps->nsubs);
}

/* The publisher's own replies: publish's invocationresult, which should be null. */
static void ps_trine_pub_msg(struct wsc *c, const uint8_t *msg, size_t len)
{
	struct pubsub *ps = c->ctx;
	if (memmem(msg, len, "\"error\"", 7) && ps->pub_errors++ == 0)
		show_error("publisher: error from the engine", msg, len);
}

/* Give up on messages some subscriber never got (counted, and the slot goes on). */
static void ps_reap(struct pubsub *ps)
{
	uint64_t now = now_ns();
	for (int k = 0; k < ps->inflight; k++) {
		struct slot *sl = &ps->slots[k];
		if (sl->seq && now - sl->t_sent > LOST_NS) {
			if (ps->measuring)
				ps->lost++;
			ps_complete(ps, k, now);
		}
	}
}

static void ps_pump(struct pubsub *ps, int ep, int ms)
{
	wsc_flush(ps->pub);
	ws_poll(ep, ms);
	ps_reap(ps);
}

/* Wait until one message reaches every subscriber (registrations take a moment). */
static void ps_wait_ready(struct pubsub *ps, int ep)
{
	uint64_t give_up = now_ns() + READY_NS;
	ps->measuring = 0;
	ps->inflight = 1;
	while (now_ns() < give_up) {
		if (ps->slots[0].seq) {	/* the previous probe did not make it: drop it */
			ps->slots[0].seq = 0;
			ps->outstanding--;
		}
		ps_issue(ps, 0);
		uint64_t t = now_ns() + 300000000ull;
		while (ps->slots[0].seq && now_ns() < t)
			ps_pump(ps, ep, 10);
		if (!ps->slots[0].seq)
			return;
	}
	fatal("%s", "no message reached every subscriber within 15 s");
}

static void ps_measure(struct pubsub *ps, int ep, int inflight, double warm, double secs,
		       const char *suffix)
{
	ps->inflight = inflight;
	ps->measuring = 1;
	ps->done = ps->deliveries = ps->lost = 0;
	ps->lat.n = 0;
	ps->outstanding = 0;
	for (int k = 0; k < MAX_INFLIGHT; k++)
		ps->slots[k].seq = 0;
	uint64_t t0 = now_ns();
	ps->t_warm = t0 + (uint64_t)(warm * 1e9);
	ps->t_end = ps->t_warm + (uint64_t)(secs * 1e9);
	for (int k = 0; k < inflight; k++)
		ps_issue(ps, k);
	uint64_t give_up = ps->t_end + DRAIN_NS;
	while (now_ns() < give_up && !(now_ns() >= ps->t_end && ps->outstanding == 0))
		ps_pump(ps, ep, 20);
	ps->measuring = 0;
	if (ps->outstanding)
		printf("# n%d k%d: %d messages still incomplete %.0f s after the window\n", ps->nsubs,
		       inflight, ps->outstanding, DRAIN_NS / 1e9);
	if (ps->lost)
		printf("# n%d k%d: %" PRIu64 " messages missed some subscriber (given up after %.0f s)\n",
		       ps->nsubs, inflight, ps->lost, LOST_NS / 1e9);
	printf("# n%d k%d: %.0f msgs/s, %.0f deliveries/s\n", ps->nsubs, inflight, ps->done / secs,
	       ps->deliveries / secs);
	if (ps->deliveries)
		printf("M deliveries_s_n%d%s %.0f\n", ps->nsubs, suffix, ps->deliveries / secs);
	char sfx[32];
	snprintf(sfx, sizeof sfx, "_n%d%s", ps->nsubs, suffix);
	samples_report(&ps->lat, "", sfx, 0);
	if (ps->done)
		printf("M msgs_s_n%d%s %.0f\n", ps->nsubs, suffix, ps->done / secs);
	fflush(stdout);
}

static void run_pubsub(int redis, int port, int nsubs, int stream_port)
{
	static struct pubsub ps;
	double secs = env_double("BENCH_SECONDS", 3);
	double warm = env_double("BENCH_WARMUP", 0.5);
	int k = (int)env_double("PUBSUB_INFLIGHT", 32);
	int ep = epoll_create1(0);

	if (k > MAX_INFLIGHT)
		fatal("%s", "PUBSUB_INFLIGHT is at most 1024");
	long long rss0 = rss_sum();

	ps.redis = redis;
	ps.streams = stream_port > 0;
	ps.nsubs = nsubs;
	ps.payload = (size_t)env_double("PUBSUB_PAYLOAD", 100);
	if (getrandom(&ps.prefix, sizeof ps.prefix, 0) != sizeof ps.prefix)
		ps.prefix = (uint32_t)now_ns();
	snprintf(ps.topic, sizeof ps.topic, "bench.n%d.%08x", nsubs, ps.prefix);
	ps.subs = xrealloc(NULL, (size_t)nsubs * sizeof *ps.subs);
	for (int i = 0; i < nsubs; i++) {
		char f[256];
		if (redis) {
			ps.subs[i] = wsc_attach(tcp_connect(port), ep, resp_parse, ps_redis_sub_msg, &ps);
			snprintf(f, sizeof f, "*2\r\n$9\r\nSUBSCRIBE\r\n$%zu\r\n%s\r\n", strlen(ps.topic), ps.topic);
			buf_str(&ps.subs[i]->out, f);
		} else if (ps.streams) {
			ps.subs[i] = wsc_connect(stream_port, ep, ps_stream_sub_msg, &ps);
			snprintf(f, sizeof f, "{\"type\":\"join\",\"data\":{\"subscriptionId\":\"s%d\","
				 "\"streamName\":\"bench\",\"groupId\":\"%s\"}}", i, ps.topic);
			ws_text(ps.subs[i], f, strlen(f));
		} else {
			char id[ID_LEN + 1] = { 0 };
			ps.subs[i] = wsc_connect(port, ep, ps_trine_sub_msg, &ps);
			snprintf(f, sizeof f, "{\"type\":\"registerfunction\",\"id\":\"bench::sub%d\"}", i);
			ws_text(ps.subs[i], f, strlen(f));
			make_id(id, ps.prefix ^ 0xffffffffu, (uint64_t)i);
			snprintf(f, sizeof f, "{\"type\":\"registertrigger\",\"id\":\"%s\",\"trigger_type\":"
				 "\"subscribe\",\"function_id\":\"bench::sub%d\",\"config\":{\"topic\":\"%s\"}}",
				 id, i, ps.topic);
			ws_text(ps.subs[i], f, strlen(f));
		}
		wsc_flush(ps.subs[i]);
		if (i % 256 == 255)
			ws_poll(ep, 0);	/* answers must not pile up unread */
	}
	if (rss0 && (redis || ps.streams)) {
		ps_wait_joined(&ps, ep);
		long long rss1 = rss_sum();
		printf("# RSS of %s: %.1f MiB before %d subscribers, %.1f MiB after\n", getenv("RSS_PIDS"),
		       rss0 / 1048576.0, nsubs, rss1 / 1048576.0);
		printf("M rss_bytes_per_sub %.0f\n", (double)(rss1 - rss0) / nsubs);
	}
	if (redis)
		ps.pub = wsc_attach(tcp_connect(port), ep, resp_parse, NULL, &ps);
	else
		ps.pub = wsc_connect(port, ep, ps_trine_pub_msg, &ps);
	ps_wait_ready(&ps, ep);
	printf("# %d subscribers (one connection each), topic %s, payload p of %zu B\n", nsubs, ps.topic,
	       ps.payload);
	ps_measure(&ps, ep, 1, warm, secs, "_seq");
	ps_measure(&ps, ep, k, warm, secs, "");
	if (ps.pub_errors)
		printf("# %" PRIu64 " publish calls answered with an error\n", ps.pub_errors);
	for (int i = 0; i < nsubs; i++)
		wsc_free(ps.subs[i]);
	free(ps.subs);
	wsc_free(ps.pub);
	free(ps.lat.v);
	free(ps.m.p);
	free(ps.scratch.p);
}

/* ----------------------------------------------------------------- main */

static void usage(void)
{
	fprintf(stderr, "usage: trigger_load cron <port> | trigger_load cron-floor |\n"
		"       trigger_load pubsub-trine|pubsub-redis <port> <subscribers>\n"
		"       trigger_load streams-trine <worker port> <subscribers> <stream port>\n");
	exit(2);
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && strcmp(argv[1], "cron") == 0 && atoi(argv[2]) > 0)
		run_cron(atoi(argv[2]));
	else if (argc == 2 && strcmp(argv[1], "cron-floor") == 0)
		run_cron_floor();
	else if (argc == 4 && (strcmp(argv[1], "pubsub-trine") == 0 || strcmp(argv[1], "pubsub-redis") == 0) &&
		 atoi(argv[2]) > 0 && atoi(argv[3]) > 0)
		run_pubsub(strcmp(argv[1], "pubsub-redis") == 0, atoi(argv[2]), atoi(argv[3]), 0);
	else if (argc == 5 && strcmp(argv[1], "streams-trine") == 0 && atoi(argv[2]) > 0 &&
		 atoi(argv[3]) > 0 && atoi(argv[4]) > 0)
		run_pubsub(0, atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
	else
		usage();
	return 0;
}
