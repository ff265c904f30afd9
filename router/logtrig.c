/*
 * logtrig — the `log` trigger kind (reference §7). Records come from three
 * places: workers calling engine::log::<level>, OTLP/JSON log batches the
 * brokers forward from `LOGS` frames (wire kind "otel"), and the router's own
 * warnings and errors (log_set_hook). Each record becomes the §7 payload and
 * waits in one bounded ring (log_trigger_queue); the ring is drained from an
 * event of its own, after the current one, so whatever produced the record
 * never waits for a handler. Full ring: the new record is dropped and counted.
 * A binding with LOGTRIG_INFLIGHT_MAX deliveries in flight drops further
 * records: a handler that does not keep up loses records instead of growing
 * the call table. Dropped counts are reported in the engine log every few
 * seconds. A removed binding stays in the list (t = NULL) until its last
 * delivery answers.
 *
 * Loops: a record logged by a handler of a log trigger is not delivered to
 * log triggers again. For engine::log calls the caller is checked (is it
 * serving a log delivery right now?); for OTLP records every delivery carries
 * a traceparent whose trace id starts with LOGTRIG_TRACE_MARK, which the
 * SDK puts on the records the handler logs.
 */
#include "config.h"
#include "logtrig.h"
#include "builtin.h"
#include "ids.h"
#include "inv.h"
#include "log.h"
#include "reg.h"
#include "wire.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define LOGTRIG_INFLIGHT_MAX 1024	/* deliveries in flight per binding; more are dropped */
#define LOGTRIG_BATCH 1024		/* records delivered per event-loop turn */
#define LOGTRIG_REPORT_MS 5000
#define LOGTRIG_TRACE_MARK "7472696e65"	/* "trine": trace ids of log deliveries */

enum { LV_ALL = 0, LV_TRACE, LV_DEBUG, LV_INFO, LV_WARN, LV_ERROR };
static const char *const lv_names[] = { "all", "trace", "debug", "info", "warn", "error" };
static const char *const lv_texts[] = { "", "TRACE", "DEBUG", "INFO", "WARN", "ERROR" };
static const int lv_numbers[] = { 0, 1, 5, 9, 13, 17 };

struct lt_binding {
	struct trigger *t;		/* NULL once removed */
	char *fn;
	json_object *meta_msg;		/* {"metadata":..., "traceparent": marked} */
	int level, min;			/* LV_*, min = match that level and above */
	int inflight, refs;
	unsigned long dropped;
	struct lt_binding *prev, *next;
};

struct lt_rec {
	json_object *payload;
	int level;
};

static struct {
	struct router *r;
	struct lt_binding *bindings;
	struct lt_rec *ring;
	size_t cap, head, n;
	unsigned long dropped;		/* ring full */
	unsigned long dropped_total;	/* every record not delivered, since start (/metrics) */
	struct event *drain, *report;
	int delivering;
} lt;

/* ---- levels ----------------------------------------------------------- */

static int level_from_number(int64_t n)
{
	if (n <= 0)
		return LV_INFO;	/* unspecified */
	if (n <= 4)
		return LV_TRACE;
	if (n <= 8)
		return LV_DEBUG;
	if (n <= 12)
		return LV_INFO;
	if (n <= 16)
		return LV_WARN;
	return LV_ERROR;
}

/* The text wins when it names a level; the number decides otherwise. */
static int level_of(const char *text, int64_t number)
{
	if (text && *text) {
		for (int i = LV_TRACE; i <= LV_ERROR; i++)
			if (strcasecmp(text, lv_names[i]) == 0)
				return i;
		if (strcasecmp(text, "warning") == 0)
			return LV_WARN;
		if (strcasecmp(text, "fatal") == 0 || strcasecmp(text, "critical") == 0)
			return LV_ERROR;
	}
	return level_from_number(number);
}

static int matches(const struct lt_binding *b, int level)
{
	if (!b->t)
		return 0;
	if (b->level == LV_ALL)
		return 1;
	return b->min ? level >= b->level : level == b->level;
}

/* ---- queue and delivery -------------------------------------------------- */

static void lt_unlink(struct lt_binding *b)
{
	if (b->prev)
		b->prev->next = b->next;
	else
		lt.bindings = b->next;
	if (b->next)
		b->next->prev = b->prev;
	json_object_put(b->meta_msg);
	free(b->fn);
	free(b);
}

static void deliver_done(struct router *r, void *arg, json_object *result, json_object *error)
{
	struct lt_binding *b = arg;

	(void)r;
	(void)result;
	(void)error;	/* fire-and-forget: a failing handler is not reported (it would loop) */
	b->inflight--;
	if (--b->refs == 0 && !b->t)
		lt_unlink(b);
}

static void lt_on_drain(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	lt.delivering = 1;
	for (int i = 0; i < LOGTRIG_BATCH && lt.n; i++) {
		struct lt_rec rec = lt.ring[lt.head];
		lt.head = (lt.head + 1) % lt.cap;
		lt.n--;
		for (struct lt_binding *b = lt.bindings, *nb; b; b = nb) {
			nb = b->next;
			if (!matches(b, rec.level))
				continue;
			if (b->inflight >= LOGTRIG_INFLIGHT_MAX) {
				b->dropped++;
				lt.dropped_total++;
				continue;
			}
			b->inflight++;
			b->refs++;
			inv_start(lt.r, NULL, NULL, 1, b->fn, rec.payload, b->meta_msg, deliver_done, b);
		}
		json_object_put(rec.payload);
	}
	lt.delivering = 0;
	if (lt.n)
		event_active(lt.drain, EV_TIMEOUT, 0);
}

/* Take a payload (ownership passes); queue it if any binding wants its level. */
static void lt_push(json_object *payload, int level)
{
	int want = 0;

	for (struct lt_binding *b = lt.bindings; b && !want; b = b->next)
		want = matches(b, level);
	if (!want || !lt.ring) {
		json_object_put(payload);
		return;
	}
	if (lt.n == lt.cap) {
		lt.dropped++;	/* full ring: the newest record is dropped */
		lt.dropped_total++;
		json_object_put(payload);
		return;
	}
	lt.ring[(lt.head + lt.n) % lt.cap] = (struct lt_rec){ payload, level };
	lt.n++;
	if (lt.n == 1)
		event_active(lt.drain, EV_TIMEOUT, 0);
}

static void lt_on_report(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	for (struct lt_binding *b = lt.bindings; b; b = b->next) {
		if (b->dropped && b->t)
			log_warn("log trigger %s: %lu records dropped, its handler %s does not keep up "
				 "(%d deliveries in flight)", b->t->id, b->dropped, b->fn,
				 b->inflight);
		b->dropped = 0;
	}
	if (lt.dropped)
		log_warn("log triggers: %lu records dropped, the delivery queue (log_trigger_queue "
			 "%zu) was full", lt.dropped, lt.cap);
	lt.dropped = 0;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static json_object *str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

/* The §7 payload; takes attributes and resource (new references or NULL). */
static json_object *make_payload(int64_t ts, int64_t obs, int64_t sevnum, const char *sevtext,
				 json_object *body, json_object *attrs, const char *trace_id,
				 const char *span_id, json_object *resource, const char *service,
				 const char *scope, const char *scope_ver)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "timestamp_unix_nano", json_object_new_int64(ts));
	json_object_object_add(o, "observed_timestamp_unix_nano", json_object_new_int64(obs));
	json_object_object_add(o, "severity_number", json_object_new_int64(sevnum));
	json_object_object_add(o, "severity_text", json_object_new_string(sevtext));
	json_object_object_add(o, "body", body ? body : json_object_new_string(""));
	json_object_object_add(o, "attributes", attrs ? attrs : json_object_new_object());
	json_object_object_add(o, "trace_id", json_object_new_string(trace_id ? trace_id : ""));
	json_object_object_add(o, "span_id", json_object_new_string(span_id ? span_id : ""));
	json_object_object_add(o, "resource", resource ? resource : json_object_new_object());
	json_object_object_add(o, "service_name", json_object_new_string(service ? service : ""));
	json_object_object_add(o, "instrumentation_scope_name", str_or_null(scope));
	json_object_object_add(o, "instrumentation_scope_version", str_or_null(scope_ver));
	return o;
}

/* ---- source 1: engine::log::<level> --------------------------------------- */

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

/* Is w running a log-trigger handler right now? Then what it logs is not redelivered. */
static int serving_log_delivery(struct worker *w)
{
	size_t i = 0;
	const char *k;
	void *v;

	if (!w)
		return 0;
	while (hmap_next(&w->inv_in, &i, &k, &v))
		if (((struct inv *)v)->done == deliver_done)
			return 1;
	return 0;
}

static void bi_log(struct worker *caller, json_object *data, int lv)
{
	const char *msg = jstr(data, "message");
	const char *service = jstr(data, "service_name");
	json_object *d = jget(data, "data");
	json_object *attrs = json_object_new_object(), *res = json_object_new_object();
	int64_t ns = now_ns();
	int nested = lt.delivering;	/* a log trigger bound to engine::log::* itself */
	static const int engine_level[] = { LL_INFO, LL_TRACE, LL_DEBUG, LL_INFO, LL_WARN, LL_ERROR };

	lt.delivering++;	/* our own line below is this record, not a new one */
	log_msg(engine_level[lv], "worker %s log: %s", caller ? caller->id : "engine", msg ? msg : "");
	lt.delivering--;
	if (nested || serving_log_delivery(caller)) {
		json_object_put(attrs);
		json_object_put(res);
		return;
	}
	if (d && json_object_is_type(d, json_type_object)) {
		json_object_object_foreach(d, k, v)
			json_object_object_add(attrs, k, json_object_get(v));
	} else if (d) {
		json_object_object_add(attrs, "data", json_object_get(d));
	}
	if (service)
		json_object_object_add(res, "service.name", json_object_new_string(service));
	lt_push(make_payload(ns, ns, lv_numbers[lv], lv_texts[lv],
			     json_object_new_string(msg ? msg : ""), attrs, jstr(data, "trace_id"),
			     jstr(data, "span_id"), res, service, "iii", NULL), lv);
}

#define LOGFN(name, lvl) \
	static void lt_log_##name(struct router *r, struct worker *c, json_object *d, \
				  json_object **res, json_object **err) \
	{ (void)r; (void)res; (void)err; bi_log(c, d, lvl); }
LOGFN(trace, LV_TRACE)
LOGFN(debug, LV_DEBUG)
LOGFN(info, LV_INFO)
LOGFN(warn, LV_WARN)
LOGFN(error, LV_ERROR)

/* ---- source 2: OTLP/JSON from LOGS frames --------------------------------- */

static int64_t otlp_int(json_object *v)
{
	json_object *lo, *hi;

	if (!v)
		return 0;
	if (json_object_is_type(v, json_type_string))
		return strtoll(json_object_get_string(v), NULL, 10);
	if (json_object_is_type(v, json_type_object) && json_object_object_get_ex(v, "low", &lo) &&
	    json_object_object_get_ex(v, "high", &hi))
		return (int64_t)(((uint64_t)(uint32_t)json_object_get_int64(hi) << 32) |
				 (uint32_t)json_object_get_int64(lo));
	return json_object_get_int64(v);
}

/* An OTLP AnyValue as plain JSON (new reference, or NULL). */
static json_object *otlp_value(json_object *av)
{
	json_object *v, *arr;

	if (!av || !json_object_is_type(av, json_type_object))
		return NULL;
	if ((v = jget(av, "stringValue")) || (v = jget(av, "boolValue")) ||
	    (v = jget(av, "doubleValue")))
		return json_object_get(v);
	if ((v = jget(av, "intValue")))
		return json_object_new_int64(otlp_int(v));
	if ((v = jget(av, "arrayValue"))) {
		json_object *out = json_object_new_array();
		arr = jget(v, "values");
		for (size_t i = 0; arr && json_object_is_type(arr, json_type_array) &&
		     i < json_object_array_length(arr); i++)
			json_object_array_add(out, otlp_value(json_object_array_get_idx(arr, i)));
		return out;
	}
	if ((v = jget(av, "kvlistValue"))) {
		json_object *out = json_object_new_object();
		arr = jget(v, "values");
		for (size_t i = 0; arr && json_object_is_type(arr, json_type_array) &&
		     i < json_object_array_length(arr); i++) {
			json_object *kv = json_object_array_get_idx(arr, i);
			const char *k = jstr(kv, "key");
			if (k)
				json_object_object_add(out, k, otlp_value(jget(kv, "value")));
		}
		return out;
	}
	return NULL;
}

/* OTLP attributes [{key, value}] as an object (new reference). */
static json_object *otlp_attrs(json_object *arr)
{
	json_object *out = json_object_new_object();

	for (size_t i = 0; arr && json_object_is_type(arr, json_type_array) &&
	     i < json_object_array_length(arr); i++) {
		json_object *kv = json_object_array_get_idx(arr, i);
		const char *k = jstr(kv, "key");
		if (k)
			json_object_object_add(out, k, otlp_value(jget(kv, "value")));
	}
	return out;
}

static size_t arr_len(json_object *a)
{
	return a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

static void otlp_record(json_object *lr, json_object *resource, const char *service,
			const char *scope, const char *scope_ver)
{
	const char *text = jstr(lr, "severityText");
	const char *trace = jstr(lr, "traceId");
	const char *span = jstr(lr, "spanId");
	int64_t num = otlp_int(jget(lr, "severityNumber"));
	int64_t ts = otlp_int(jget(lr, "timeUnixNano"));
	int64_t obs = otlp_int(jget(lr, "observedTimeUnixNano"));
	int lv = level_of(text, num);
	json_object *attrs = otlp_attrs(jget(lr, "attributes"));
	const char *atrace = jstr(attrs, "trace_id");

	/* what a log handler logs is not delivered again (see the top of the file) */
	if ((trace && strncmp(trace, LOGTRIG_TRACE_MARK, strlen(LOGTRIG_TRACE_MARK)) == 0) ||
	    (atrace && strncmp(atrace, LOGTRIG_TRACE_MARK, strlen(LOGTRIG_TRACE_MARK)) == 0)) {
		json_object_put(attrs);
		return;
	}
	if (!text || !*text)
		text = lv_texts[lv];
	if (!num)
		num = lv_numbers[lv];
	if (!obs)
		obs = now_ns();
	if (!ts)
		ts = obs;
	if (!trace || !*trace)
		trace = atrace;
	if (!span || !*span)
		span = jstr(attrs, "span_id");
	lt_push(make_payload(ts, obs, num, text, otlp_value(jget(lr, "body")), attrs, trace, span,
			     json_object_get(resource), service, scope, scope_ver), lv);
}

static void lt_on_otel(struct router *r, struct front *f, struct wire_msg *m)
{
	json_tokener *tok;
	json_object *o, *rls;

	r->otel_log_batches++;
	if (!lt.bindings)
		return;		/* nobody listens: not even parsed */
	tok = json_tokener_new_ex(r->cfg->max_json_depth + 2);
	o = tok ? json_tokener_parse_ex(tok, m->body, (int)m->body_len) : NULL;
	if (tok)
		json_tokener_free(tok);
	if (!o) {
		log_debug("front %s: unparsable OTLP log batch (%zu bytes)", f->ident, m->body_len);
		return;
	}
	rls = jget(o, "resourceLogs");
	for (size_t i = 0; i < arr_len(rls); i++) {
		json_object *rl = json_object_array_get_idx(rls, i);
		json_object *res = otlp_attrs(jget(jget(rl, "resource"), "attributes"));
		const char *service = jstr(res, "service.name");
		json_object *sls = jget(rl, "scopeLogs");
		for (size_t k = 0; k < arr_len(sls); k++) {
			json_object *sl = json_object_array_get_idx(sls, k);
			json_object *scope = jget(sl, "scope");
			json_object *lrs = jget(sl, "logRecords");
			for (size_t n = 0; n < arr_len(lrs); n++)
				otlp_record(json_object_array_get_idx(lrs, n), res, service,
					    jstr(scope, "name"), jstr(scope, "version"));
		}
		json_object_put(res);
	}
	json_object_put(o);
}

/* ---- source 3: the router's own warnings and errors ---------------------- */

static void lt_on_engine_log(int level, const char *msg)
{
	json_object *res;
	int64_t ns;
	int lv = level == LL_ERROR ? LV_ERROR : LV_WARN;

	if (lt.delivering || !lt.bindings)
		return;
	ns = now_ns();
	res = json_object_new_object();
	json_object_object_add(res, "service.name", json_object_new_string("trine"));
	lt_push(make_payload(ns, ns, lv_numbers[lv], lv_texts[lv], json_object_new_string(msg), NULL,
			     NULL, NULL, res, "trine", "trine", PACKAGE_VERSION), lv);
}

/* ---- the trigger kind ----------------------------------------------------- */

static int lt_add(struct router *r, struct trigger *t, char *err, size_t errlen)
{
	const char *level = jstr(t->config, "level");
	const char *min = jstr(t->config, "min_level");
	struct lt_binding *b;
	char trace[33], tp[64];
	int lv = LV_ALL, ismin = 0;

	(void)r;
	if (level && min) {
		snprintf(err, errlen, "give either level or min_level, not both");
		return -1;
	}
	if (min) {
		level = min;
		ismin = 1;
	}
	if (level) {
		for (lv = 0; lv <= LV_ERROR; lv++)
			if (strcmp(level, lv_names[lv]) == 0)
				break;
		if (lv > LV_ERROR) {
			snprintf(err, errlen, "Invalid log level '%s' (use all, trace, debug, info, warn "
				 "or error)", level);
			return -1;
		}
	}
	b = calloc(1, sizeof *b);
	if (!b || !(b->fn = strdup(t->function_id))) {
		free(b);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	b->t = t;
	b->level = lv;
	b->min = ismin;
	b->meta_msg = json_object_new_object();
	if (t->metadata)
		json_object_object_add(b->meta_msg, "metadata", json_object_get(t->metadata));
	/* a fresh marked trace id per binding; the span id is fixed */
	snprintf(trace, sizeof trace, "%s%022" PRIx64, LOGTRIG_TRACE_MARK,
		 (uint64_t)id_random64() >> 1);
	snprintf(tp, sizeof tp, "00-%.32s-%016" PRIx64 "-01", trace, (uint64_t)id_random64() | 1);
	json_object_object_add(b->meta_msg, "traceparent", json_object_new_string(tp));
	b->next = lt.bindings;
	if (lt.bindings)
		lt.bindings->prev = b;
	lt.bindings = b;
	t->state = b;
	return 0;
}

static void lt_remove(struct router *r, struct trigger *t)
{
	struct lt_binding *b = t->state;

	(void)r;
	if (!b)
		return;
	t->state = NULL;
	b->t = NULL;
	if (b->refs == 0)
		lt_unlink(b);
}

static const struct trigkind log_kind = {
	"log", "Fires a function for each log record of a level", lt_add, lt_remove,
};

void logtrig_init(struct router *r)
{
	struct timeval every = { LOGTRIG_REPORT_MS / 1000, 0 };

	memset(&lt, 0, sizeof lt);
	lt.r = r;
	lt.cap = (size_t)r->cfg->log_trigger_queue;
	lt.ring = calloc(lt.cap, sizeof *lt.ring);
	lt.drain = event_new(r->base, -1, 0, lt_on_drain, NULL);
	lt.report = event_new(r->base, -1, EV_PERSIST, lt_on_report, NULL);
	if (!lt.ring || !lt.drain || !lt.report)
		abort();
	event_add(lt.report, &every);
	reg_trigkind_add(r, &log_kind);
	builtin_add("engine::log::trace", lt_log_trace);
	builtin_add("engine::log::debug", lt_log_debug);
	builtin_add("engine::log::info", lt_log_info);
	builtin_add("engine::log::warn", lt_log_warn);
	builtin_add("engine::log::error", lt_log_error);
	router_on_kind("otel", lt_on_otel);
	log_set_hook(lt_on_engine_log);
}

/* Calls in flight are already gone (inv_free_all): bindings are freed whatever their refs. */
void logtrig_free(struct router *r)
{
	(void)r;
	log_set_hook(NULL);
	while (lt.bindings) {
		struct lt_binding *b = lt.bindings;
		if (b->t)
			b->t->state = NULL;
		lt_unlink(b);
	}
	while (lt.n) {
		json_object_put(lt.ring[lt.head].payload);
		lt.head = (lt.head + 1) % lt.cap;
		lt.n--;
	}
	free(lt.ring);
	if (lt.drain)
		event_free(lt.drain);
	if (lt.report)
		event_free(lt.report);
	memset(&lt, 0, sizeof lt);
}

unsigned long logtrig_dropped_total(void)
{
	return lt.dropped_total;
}
