/*
 * cron_expr — cron expressions: parsing and next-fire computation, no I/O and
 * no time zone. Times are "civil seconds": seconds since 1970-01-01T00:00:00
 * of a wall clock (UTC, or a zone's local time that the caller converts).
 *
 * Accepted forms (trine.conf(5) describes how each is read):
 *   6 fields  sec min hour day-of-month month day-of-week   (the reference's
 *             Rust `cron` crate: day-of-week 1-7 = SUN-SAT; when both day
 *             fields are restricted a day must match both)
 *   7 fields  the same plus a trailing year (1970-2099)
 *   5 fields  classic cron: min hour day-of-month month day-of-week with
 *             day-of-week 0-7 (0 and 7 = SUN) and the classic rule that a day
 *             matches either day field when both are restricted
 *   @yearly @annually @monthly @weekly @daily @midnight @hourly
 *   @every <duration>  e.g. "@every 90s", "@every 1h30m" (fires when the
 *             civil time is a multiple of the duration)
 * Fields: `*`, `?` (day fields), numbers, names (JAN-DEC, SUN-SAT, any case),
 * lists `a,b`, ranges `a-b`, steps `*\/n`, `a-b/n` and `a/n`.
 */
#ifndef TRINE_CRON_EXPR_H
#define TRINE_CRON_EXPR_H

#include <stddef.h>
#include <stdint.h>

#define CRON_YEAR_MIN 1970
#define CRON_YEAR_MAX 2099

struct cron_expr {
	uint64_t sec, min;		/* bit n = second / minute n */
	uint32_t hour;			/* bits 0-23 */
	uint32_t dom;			/* bits 1-31 */
	uint16_t mon;			/* bits 1-12 */
	uint8_t dow;			/* bits 0-6 = SUN-SAT */
	uint8_t dom_any, dow_any;	/* the field was `*` or `?` */
	uint8_t day_or;			/* classic: either day field may match */
	uint64_t year[3];		/* bit n = year CRON_YEAR_MIN + n */
	int64_t every;			/* @every: period in seconds, else 0 */
};

/*
 * Parse s into *ce. Returns 0, or -1 with a message naming the offending
 * field in err (e.g. "day-of-week: 0 is out of range 1-7").
 */
int cron_expr_parse(const char *s, struct cron_expr *ce, char *err, size_t errlen);

/* The first matching civil time strictly after `after`, or -1 if none before 2100. */
int64_t cron_expr_next(const struct cron_expr *ce, int64_t after);

/* Civil time <-> date helpers (proleptic Gregorian, no zone). */
int64_t cron_civil(int year, int mon, int day, int hour, int min, int sec);
void cron_civil_split(int64_t t, int *year, int *mon, int *day, int *hour, int *min, int *sec,
		      int *wday);

#endif
