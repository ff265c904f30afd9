#include "metrics.h"
#include "log.h"
#include "router.h"
#include "topics.h"
#include "logtrig.h"
#include "streams.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Latency buckets in seconds, as Prometheus clients use by default (+Inf implied). */
static const double buckets[] = { 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
#define NBUCKETS (sizeof buckets / sizeof buckets[0])

static const char *const outcome_names[MO_N] = { "result", "timeout", "stopped", "not_found" };

static struct {
	struct evhttp *http;
	uint64_t outcome[MO_N];
	uint64_t hist[NBUCKETS + 1];	/* non-cumulative; last = beyond the largest bucket */
	double sum_s;
	uint64_t count;
} M;

int64_t metrics_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void metrics_inv_done(enum metrics_outcome o, int64_t started_us)
{
	M.outcome[o]++;
	if (!started_us)
		return;
	double s = (double)(metrics_now_us() - started_us) / 1e6;
	size_t i = 0;
	while (i < NBUCKETS && s > buckets[i])
		i++;
	M.hist[i]++;
	M.sum_s += s;
	M.count++;
}

void metrics_front_hb(struct front *f, const char *body, size_t len)
{
	json_object *o, *v;

	if (!len)
		return;
	o = json_tokener_parse(body);	/* bodies are NUL-terminated (wire.h) */
	if (!o)
		return;
	if (json_object_object_get_ex(o, "conns", &v))
		f->stat_conns = json_object_get_int64(v);
	if (json_object_object_get_ex(o, "dropped", &v))
		f->stat_dropped = json_object_get_int64(v);
	if (json_object_object_get_ex(o, "http", &v) && json_object_is_type(v, json_type_object)) {
		json_object_put(f->stat_http);
		f->stat_http = json_object_get(v);
	}
	json_object_put(o);
}

/* A front's name for labels: broker<index> (fanout<index>), or its routing id when started alone. */
static void front_label(const struct front *f, char *buf, size_t len)
{
	if (f->index >= 0)
		snprintf(buf, len, "%s%d", f->ident[0] == 'b' ? "broker" : "fanout", f->index);
	else
		snprintf(buf, len, "%s", f->ident);
}

struct qctx {
	struct evbuffer *b;
	int pass;
};

static void queue_line(void *arg, const char *name, size_t depth, size_t inflight, size_t dlq)
{
	struct qctx *q = arg;
	size_t v = q->pass == 0 ? depth : q->pass == 1 ? inflight : dlq;
	static const char *const names[] = { "trine_queue_depth", "trine_queue_in_flight",
					     "trine_queue_dlq" };

	evbuffer_add_printf(q->b, "%s{queue=\"", names[q->pass]);
	for (const char *p = name; *p; p++) {
		if (*p == '"' || *p == '\\')
			evbuffer_add(q->b, "\\", 1);
		if (*p == '\n')
			evbuffer_add(q->b, "\\n", 2);
		else
			evbuffer_add(q->b, p, 1);
	}
	evbuffer_add_printf(q->b, "\"} %zu\n", v);
}

/* DATA_DIR/restarts, written by the master: "<process> <count>" per line. */
static void restarts_lines(struct router *r, struct evbuffer *b)
{
	char path[512], line[128], name[64];
	unsigned long n;
	FILE *f;

	snprintf(path, sizeof path, "%s/restarts", r->cfg->data_dir);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "%63s %lu", name, &n) == 2)
			evbuffer_add_printf(b, "trine_process_restarts_total{process=\"%s\"} %lu\n", name, n);
	fclose(f);
}

char *metrics_render(struct router *r, size_t *len)
{
	struct evbuffer *b = evbuffer_new();
	struct lh_entry *e;
	char lab[80];
	uint64_t cum = 0;
	char *out;

	if (!b)
		return NULL;
	evbuffer_add_printf(b, "# HELP trine_connections Open WebSocket connections per broker.\n"
			    "# TYPE trine_connections gauge\n");
	lh_foreach(r->fronts, e) {
		struct front *f = (struct front *)lh_entry_v(e);
		front_label(f, lab, sizeof lab);
		evbuffer_add_printf(b, "trine_connections{process=\"%s\"} %" PRId64 "\n", lab, f->stat_conns);
	}
	evbuffer_add_printf(b, "# HELP trine_workers Workers registered with the router.\n"
			    "# TYPE trine_workers gauge\ntrine_workers %d\n",
			    r->workers ? lh_table_length(r->workers) : 0);
	evbuffer_add_printf(b, "# HELP trine_invocations_total Invocations that ended, by outcome "
			    "(result: the function answered, with a value or an error).\n"
			    "# TYPE trine_invocations_total counter\n");
	for (int i = 0; i < MO_N; i++)
		evbuffer_add_printf(b, "trine_invocations_total{outcome=\"%s\"} %" PRIu64 "\n",
				    outcome_names[i], M.outcome[i]);
	evbuffer_add_printf(b, "# HELP trine_invocations_in_flight Invocations waiting for a result.\n"
			    "# TYPE trine_invocations_in_flight gauge\ntrine_invocations_in_flight %zu\n",
			    hmap_len(&r->invs));
	evbuffer_add_printf(b, "# HELP trine_invocation_duration_seconds Time from routing an "
			    "invocation to its end.\n# TYPE trine_invocation_duration_seconds histogram\n");
	for (size_t i = 0; i < NBUCKETS; i++) {
		cum += M.hist[i];
		evbuffer_add_printf(b, "trine_invocation_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
				    buckets[i], cum);
	}
	evbuffer_add_printf(b, "trine_invocation_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n"
			    "trine_invocation_duration_seconds_sum %.6f\n"
			    "trine_invocation_duration_seconds_count %" PRIu64 "\n",
			    M.count, M.sum_s, M.count);
	evbuffer_add_printf(b, "# HELP trine_http_requests_total HTTP trigger requests answered, "
			    "by broker and status.\n# TYPE trine_http_requests_total counter\n");
	lh_foreach(r->fronts, e) {
		struct front *f = (struct front *)lh_entry_v(e);
		if (!f->stat_http)
			continue;
		front_label(f, lab, sizeof lab);
		json_object_object_foreach(f->stat_http, k, v)
			evbuffer_add_printf(b, "trine_http_requests_total{process=\"%s\",code=\"%s\"} %" PRId64 "\n",
					    lab, k, json_object_get_int64(v));
	}
	evbuffer_add_printf(b, "# HELP trine_router_link_dropped_total Messages a broker dropped "
			    "because its link to the router was full.\n"
			    "# TYPE trine_router_link_dropped_total counter\n");
	lh_foreach(r->fronts, e) {
		struct front *f = (struct front *)lh_entry_v(e);
		front_label(f, lab, sizeof lab);
		evbuffer_add_printf(b, "trine_router_link_dropped_total{process=\"%s\"} %" PRId64 "\n",
				    lab, f->stat_dropped);
	}
	static const char *const qhelp[] = {
		("# HELP trine_queue_depth Messages waiting in a durable queue or topic subscription.\n"
		 "# TYPE trine_queue_depth gauge\n"),
		"# HELP trine_queue_in_flight Messages being delivered.\n# TYPE trine_queue_in_flight gauge\n",
		"# HELP trine_queue_dlq Messages in the dead-letter queue.\n# TYPE trine_queue_dlq gauge\n",
	};
	for (int pass = 0; pass < 3; pass++) {
		struct qctx q = { b, pass };
		evbuffer_add(b, qhelp[pass], strlen(qhelp[pass]));
		topics_each_queue(queue_line, &q);
	}
	evbuffer_add_printf(b, "# HELP trine_stream_subscriptions Stream subscriptions held by "
			    "the fanouts.\n# TYPE trine_stream_subscriptions gauge\n"
			    "trine_stream_subscriptions %zu\n", streams_subscriptions());
	evbuffer_add_printf(b, "# HELP trine_log_records_dropped_total Log records not delivered "
			    "to log triggers (full queue or a handler that does not keep up).\n"
			    "# TYPE trine_log_records_dropped_total counter\n"
			    "trine_log_records_dropped_total %lu\n", logtrig_dropped_total());
	evbuffer_add_printf(b, "# HELP trine_process_restarts_total Times the master restarted a "
			    "child process after it died.\n# TYPE trine_process_restarts_total counter\n");
	restarts_lines(r, b);
	*len = evbuffer_get_length(b);
	out = malloc(*len + 1);
	if (out) {
		evbuffer_remove(b, out, *len);
		out[*len] = '\0';
	}
	evbuffer_free(b);
	return out;
}

static void on_metrics(struct evhttp_request *req, void *arg)
{
	struct router *r = arg;
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	size_t len;
	char *text;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_send_error(req, 405, "only GET");
		return;
	}
	text = metrics_render(r, &len);
	if (!text) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4; charset=utf-8");
	evbuffer_add(out, text, len);
	free(text);
	evhttp_send_reply(req, 200, "OK", NULL);
}

static void on_other(struct evhttp_request *req, void *arg)
{
	(void)arg;
	evhttp_send_error(req, 404, "only /metrics here");
}

int metrics_init(struct router *r)
{
	if (!r->cfg->metrics_port)
		return 0;
	M.http = evhttp_new(r->base);
	if (!M.http)
		return -1;
	evhttp_set_cb(M.http, "/metrics", on_metrics, r);
	evhttp_set_gencb(M.http, on_other, NULL);
	if (evhttp_bind_socket(M.http, r->cfg->bind, (ev_uint16_t)r->cfg->metrics_port) < 0) {
		log_error("metrics: cannot listen on %s:%d", r->cfg->bind, r->cfg->metrics_port);
		evhttp_free(M.http);
		M.http = NULL;
		return -1;
	}
	log_info("metrics on http://%s:%d/metrics", r->cfg->bind, r->cfg->metrics_port);
	return 0;
}

void metrics_free(struct router *r)
{
	(void)r;
	if (M.http)
		evhttp_free(M.http);
	M.http = NULL;
}
