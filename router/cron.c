/*
 * cron — the `cron` trigger kind. Every job sits in one timer heap keyed by
 * its next fire time; one libevent timer is armed for the earliest, so idle
 * jobs cost nothing but their heap slot.
 *
 * Exactly once per tick across router restarts: before a tick's function is
 * invoked its scheduled time is written to the store (db "cron", key = job
 * id) and the call is made only after that write is committed. A restarted
 * router gets the jobs back through the brokers' replay of the trigger
 * registrations; a job whose record shows a tick that fell due while the
 * router was down fires the latest such tick once, late, with its original
 * scheduled_time. A crash between the commit and the call loses that tick
 * (at most once, never twice). The record is deleted when the job is removed
 * (unregistered or its worker left), so only router restarts catch up.
 */
#include "cron.h"
#include "cron_expr.h"
#include "inv.h"
#include "log.h"
#include "reg.h"
#include "store.h"
#include "timerheap.h"

#include <event2/event.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define CRON_DB "cron"
#define CRON_CATCHUP_MAX 1000000	/* ticks walked to find the latest missed one */

struct cron_job {
	struct th_node node;		/* first: the heap hands back &node */
	struct trigger *t;		/* NULL once removed */
	char *id, *fn, *cond;
	json_object *meta_msg;		/* {"metadata": ...} for inv_start, or NULL */
	struct cron_expr ce;
	char tz[64];			/* "" = UTC */
	int64_t next;			/* next tick, UTC seconds */
	int64_t late;			/* a tick missed during a restart, or -1 */
	int64_t run_sched, run_actual_ms;	/* the run in progress */
	int running;
	int refs;			/* pending commit / invocation callbacks */
	unsigned long missed;
	struct cron_job *prev, *nextj;
};

static struct {
	struct router *r;
	struct timerheap th;
	struct event *timer;
	struct cron_job *jobs;
	int closing;
	char *orig_tz;			/* the process's TZ, restored after zone math */
} cm;

/* ---- time zones ----------------------------------------------------------- */

static void tz_enter(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

static void tz_leave(void)
{
	if (cm.orig_tz)
		setenv("TZ", cm.orig_tz, 1);
	else
		unsetenv("TZ");
	tzset();
}

/*
 * glibc silently falls back to UTC for a zone it cannot find, so the name is
 * checked against the zoneinfo files first.
 */
static int tz_valid(const char *tz)
{
	const char *dir = getenv("TZDIR");
	char path[512];
	struct stat st;

	if (!*tz || strlen(tz) >= 64 || strstr(tz, "..") || tz[0] == '/')
		return 0;
	for (const char *p = tz; *p; p++)
		if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') ||
		      ('0' <= *p && *p <= '9') || strchr("/_+-", *p)))
			return 0;
	if (strcmp(tz, "UTC") == 0)
		return 1;
	snprintf(path, sizeof path, "%s/%s", dir ? dir : "/usr/share/zoneinfo", tz);
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/*
 * The next tick strictly after `after` (UTC seconds), or -1. With a zone the
 * expression is matched against the zone's wall clock: a wall time skipped
 * by a DST jump fires at the first instant after the gap, and a wall time
 * that occurs twice fires once.
 */
static int64_t job_next(const struct cron_job *j, int64_t after)
{
	struct tm tm;
	time_t tt = (time_t)after;
	int64_t civ, c, u = -1;

	if (!j->tz[0] || j->ce.every)
		return cron_expr_next(&j->ce, after);
	tz_enter(j->tz);
	localtime_r(&tt, &tm);
	civ = cron_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec);
	for (int i = 0; i < 4; i++) {
		int y, mo, d, h, mi, s, wd;
		if ((c = cron_expr_next(&j->ce, civ)) < 0) {
			u = -1;
			break;
		}
		cron_civil_split(c, &y, &mo, &d, &h, &mi, &s, &wd);
		memset(&tm, 0, sizeof tm);
		tm.tm_year = y - 1900;
		tm.tm_mon = mo - 1;
		tm.tm_mday = d;
		tm.tm_hour = h;
		tm.tm_min = mi;
		tm.tm_sec = s;
		tm.tm_isdst = -1;
		u = (int64_t)mktime(&tm);
		if (u > after)
			break;
		civ = c;	/* that wall time already passed (DST overlap) */
		u = -1;
	}
	tz_leave();
	return u;
}

/* ---- the heap and its one timer ------------------------------------------- */

static void cron_arm(void)
{
	struct th_node *top = th_top(&cm.th);
	struct timeval tv;
	int64_t d;

	if (!top) {
		evtimer_del(cm.timer);
		return;
	}
	d = top->when - router_now_ms();
	if (d < 0)
		d = 0;
	tv.tv_sec = (time_t)(d / 1000);
	tv.tv_usec = (suseconds_t)(d % 1000) * 1000;
	evtimer_add(cm.timer, &tv);
}

static void job_schedule(struct cron_job *j)
{
	int64_t when = j->late >= 0 ? router_now_ms() : j->next * 1000;

	if (j->late < 0 && j->next < 0) {
		th_remove(&cm.th, &j->node);
		return;
	}
	if (th_push(&cm.th, &j->node, when) < 0)
		log_error("cron job %s: out of memory; it will not fire", j->id);
}

static void job_free(struct cron_job *j)
{
	th_remove(&cm.th, &j->node);
	if (j->prev)
		j->prev->nextj = j->nextj;
	else
		cm.jobs = j->nextj;
	if (j->nextj)
		j->nextj->prev = j->prev;
	json_object_put(j->meta_msg);
	free(j->id);
	free(j->fn);
	free(j->cond);
	free(j);
}

static void job_unref(struct cron_job *j)
{
	if (--j->refs == 0 && !j->t)
		job_free(j);
}

static void rfc3339(char *buf, size_t len, int64_t ms, int with_ms)
{
	int y, mo, d, h, mi, s, wd;
	int64_t sec = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;

	cron_civil_split(sec, &y, &mo, &d, &h, &mi, &s, &wd);
	if (with_ms)
		snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03d+00:00", y, mo, d, h, mi, s,
			 (int)(ms - sec * 1000));
	else
		snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d+00:00", y, mo, d, h, mi, s);
}

static json_object *job_payload(const struct cron_job *j)
{
	char sched[40], actual[40];
	json_object *o = json_object_new_object();

	rfc3339(sched, sizeof sched, j->run_sched * 1000, 0);
	rfc3339(actual, sizeof actual, j->run_actual_ms, 1);
	json_object_object_add(o, "trigger", json_object_new_string("cron"));
	json_object_object_add(o, "job_id", json_object_new_string(j->id));
	json_object_object_add(o, "scheduled_time", json_object_new_string(sched));
	json_object_object_add(o, "actual_time", json_object_new_string(actual));
	return o;
}

static void run_done(struct router *r, void *arg, json_object *result, json_object *error)
{
	struct cron_job *j = arg;

	(void)r;
	(void)result;
	j->running = 0;
	if (error && j->t) {
		json_object *m;
		log_warn("cron job %s: %s failed: %s", j->id, j->fn,
			 json_object_object_get_ex(error, "message", &m) ?
			 json_object_get_string(m) : json_object_to_json_string(error));
	}
	job_unref(j);
}

static void run_function(struct router *r, struct cron_job *j)
{
	json_object *p = job_payload(j);
	inv_start(r, NULL, NULL, 1, j->fn, p, j->meta_msg, run_done, j);
	json_object_put(p);
}

/* The condition function said whether this tick runs: anything but false (or an error) runs it. */
static void cond_done(struct router *r, void *arg, json_object *result, json_object *error)
{
	struct cron_job *j = arg;

	if (!j->t || cm.closing || error ||
	    (result && json_object_is_type(result, json_type_boolean) &&
	     !json_object_get_boolean(result))) {
		if (error && j->t)
			log_info("cron job %s: condition %s failed; tick skipped", j->id, j->cond);
		j->running = 0;
		job_unref(j);
		return;
	}
	run_function(r, j);
}

/* The tick's record is on disk: now the function may run. */
static void tick_committed(void *arg, int ok)
{
	struct cron_job *j = arg;

	if (!j->t || cm.closing || !ok) {
		if (!ok && j->t)
			log_warn("cron job %s: could not record the tick; it is skipped", j->id);
		j->running = 0;
		job_unref(j);
		return;
	}
	if (j->cond) {
		json_object *p = job_payload(j);
		inv_start(cm.r, NULL, NULL, 1, j->cond, p, j->meta_msg, cond_done, j);
		json_object_put(p);
	} else {
		run_function(cm.r, j);
	}
}

static void job_fire(struct cron_job *j, int64_t sched, int64_t now_ms)
{
	char key_val[32];
	char when[40];
	int n;

	if (j->running) {
		j->missed++;
		rfc3339(when, sizeof when, sched * 1000, 0);
		log_info("cron job %s: tick %s skipped, the previous run is still going "
			 "(%lu skipped so far)", j->id, when, j->missed);
		return;
	}
	j->running = 1;
	j->refs++;
	j->run_sched = sched;
	j->run_actual_ms = now_ms;
	n = snprintf(key_val, sizeof key_val, "%" PRId64, sched);
	if (cm.r->store) {
		store_put(cm.r->store, CRON_DB, j->id, strlen(j->id), key_val, (size_t)n);
		store_after_commit(cm.r->store, tick_committed, j);
	} else {
		tick_committed(j, 1);
	}
}

static void cron_on_timer(evutil_socket_t fd, short what, void *arg)
{
	int64_t now = router_now_ms();
	struct th_node *top;

	(void)fd;
	(void)what;
	(void)arg;
	while ((top = th_top(&cm.th)) && top->when <= now) {
		struct cron_job *j = (struct cron_job *)top;
		int64_t sched;
		th_remove(&cm.th, top);
		if (j->late >= 0) {
			sched = j->late;
			j->late = -1;
		} else {
			int64_t from = j->next > now / 1000 ? j->next : now / 1000;
			sched = j->next;
			/* like the reference: the next tick counts from now, no backlog */
			j->next = job_next(j, from);
		}
		job_schedule(j);
		job_fire(j, sched, now);
	}
	cron_arm();
}

/* ---- the trigger kind ----------------------------------------------------- */

static const char *jstr(json_object *o, const char *k)
{
	json_object *v;
	return o && json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string) ?
		json_object_get_string(v) : NULL;
}

/* A record of the last fired tick: the latest tick missed since then, or -1. */
static int64_t job_missed_tick(struct cron_job *j, int64_t now_s)
{
	void *val = NULL;
	size_t vlen = 0;
	char buf[32];
	int64_t last, m, k;
	long skipped = 0;

	if (!cm.r->store || store_get(cm.r->store, CRON_DB, j->id, strlen(j->id), &val, &vlen) != 0)
		return -1;
	snprintf(buf, sizeof buf, "%.*s", (int)(vlen < 31 ? vlen : 31), (char *)val);
	free(val);
	last = strtoll(buf, NULL, 10);
	m = job_next(j, last);
	if (m < 0 || m > now_s)
		return -1;
	for (int i = 0; i < CRON_CATCHUP_MAX && (k = job_next(j, m)) >= 0 && k <= now_s; i++) {
		m = k;
		skipped++;
	}
	rfc3339(buf, sizeof buf, m * 1000, 0);
	log_info("cron job %s: tick %s fell due while the router was down; firing it late "
		 "(%ld earlier ticks skipped)", j->id, buf, skipped);
	return m;
}

static int cron_add(struct router *r, struct trigger *t, char *err, size_t errlen)
{
	const char *expr = jstr(t->config, "expression");
	const char *tz = jstr(t->config, "timezone");
	const char *cond = jstr(t->config, "condition_function_id");
	struct cron_expr ce;
	char perr[256];
	struct cron_job *j;
	int64_t now_ms = router_now_ms();

	(void)r;
	if (!expr || !*expr) {
		snprintf(err, errlen, "Cron expression is required");
		return -1;
	}
	if (cron_expr_parse(expr, &ce, perr, sizeof perr) < 0) {
		snprintf(err, errlen, "Invalid cron expression '%s': %s", expr, perr);
		return -1;
	}
	if (tz && !tz_valid(tz)) {
		snprintf(err, errlen, "Unknown timezone '%s' (use an IANA name such as Europe/Paris)",
			 tz);
		return -1;
	}
	j = calloc(1, sizeof *j);
	if (!j || !(j->id = strdup(t->id)) || !(j->fn = strdup(t->function_id)) ||
	    (cond && *cond && !(j->cond = strdup(cond)))) {
		if (j) {
			free(j->id);
			free(j->fn);
		}
		free(j);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	j->ce = ce;
	snprintf(j->tz, sizeof j->tz, "%s", tz && strcmp(tz, "UTC") != 0 ? tz : "");
	j->next = job_next(j, now_ms / 1000);
	if (j->next < 0) {
		snprintf(err, errlen, "Invalid cron expression '%s': it never fires after now", expr);
		free(j->id);
		free(j->fn);
		free(j->cond);
		free(j);
		return -1;
	}
	if (t->metadata) {
		j->meta_msg = json_object_new_object();
		json_object_object_add(j->meta_msg, "metadata", json_object_get(t->metadata));
	}
	j->t = t;
	j->late = job_missed_tick(j, now_ms / 1000);
	j->nextj = cm.jobs;
	if (cm.jobs)
		cm.jobs->prev = j;
	cm.jobs = j;
	t->state = j;
	job_schedule(j);
	cron_arm();
	return 0;
}

static void cron_remove(struct router *r, struct trigger *t)
{
	struct cron_job *j = t->state;

	(void)r;
	if (!j)
		return;
	t->state = NULL;
	j->t = NULL;
	th_remove(&cm.th, &j->node);
	if (cm.r->store)
		store_del(cm.r->store, CRON_DB, j->id, strlen(j->id));
	if (j->refs == 0)
		job_free(j);
	cron_arm();
}

static const struct trigkind cron_kind = {
	"cron", "Fires a function on a cron schedule", cron_add, cron_remove,
};

void cron_init(struct router *r)
{
	const char *tz = getenv("TZ");

	memset(&cm, 0, sizeof cm);
	cm.r = r;
	cm.orig_tz = tz ? strdup(tz) : NULL;
	th_init(&cm.th);
	cm.timer = evtimer_new(r->base, cron_on_timer, NULL);
	if (!cm.timer)
		abort();
	reg_trigkind_add(r, &cron_kind);
}

/*
 * Shutdown: pending commits still call back (store_close commits), so they
 * are flushed here while the jobs exist; bindings forget their jobs so the
 * registry's teardown does not reach them, and no record is deleted (the
 * jobs come back after a restart).
 */
void cron_free(struct router *r)
{
	cm.closing = 1;
	if (r->store)
		store_commit(r->store);
	while (cm.jobs) {
		struct cron_job *j = cm.jobs;
		if (j->t)
			j->t->state = NULL;
		job_free(j);
	}
	if (cm.timer)
		event_free(cm.timer);
	th_free(&cm.th);
	free(cm.orig_tz);
	memset(&cm, 0, sizeof cm);
}
