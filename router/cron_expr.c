#include "cron_expr.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- civil time (Howard Hinnant's days_from_civil / civil_from_days) ---- */

static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int64_t cron_civil(int year, int mon, int day, int hour, int min, int sec)
{
	return days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec;
}

void cron_civil_split(int64_t t, int *year, int *mon, int *day, int *hour, int *min, int *sec,
		      int *wday)
{
	int64_t z = t >= 0 ? t / 86400 : (t - 86399) / 86400;
	int64_t rem = t - z * 86400;
	*wday = (int)((z % 7 + 11) % 7);	/* 1970-01-01 was a Thursday (4) */
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int d = (int)(doy - (153 * mp + 2) / 5 + 1);
	int m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*year = (int)(yoe + era * 400 + (m <= 2));
	*mon = m;
	*day = d;
	*hour = (int)(rem / 3600);
	*min = (int)(rem % 3600 / 60);
	*sec = (int)(rem % 60);
}

static int leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int mdays(int y, int m)
{
	static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && leap(y) ? 29 : d[m - 1];
}

/* ---- parsing ------------------------------------------------------------ */

struct fdef {
	const char *name;
	int lo, hi;
	const char *const *names;	/* names[i] = value lo_name + i */
	int name_base;
};

static const char *const mon_names[] = { "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL",
					 "AUG", "SEP", "OCT", "NOV", "DEC", NULL };
static const char *const dow_names[] = { "SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL };

/* seconds-first (the reference's crate) and classic 5-field definitions */
static const struct fdef f_sec = { "second", 0, 59, NULL, 0 };
static const struct fdef f_min = { "minute", 0, 59, NULL, 0 };
static const struct fdef f_hour = { "hour", 0, 23, NULL, 0 };
static const struct fdef f_dom = { "day-of-month", 1, 31, NULL, 0 };
static const struct fdef f_mon = { "month", 1, 12, mon_names, 1 };
static const struct fdef f_dow = { "day-of-week", 1, 7, dow_names, 1 };
static const struct fdef f_dow5 = { "day-of-week", 0, 7, dow_names, 0 };
static const struct fdef f_year = { "year", CRON_YEAR_MIN, CRON_YEAR_MAX, NULL, 0 };

#define SET_MAX (CRON_YEAR_MAX + 1)

/* One value: a number or a name. Returns 0 and advances *pp, or -1 with err. */
static int parse_value(const char **pp, const struct fdef *fd, int *out, char *err, size_t errlen)
{
	const char *p = *pp;

	if (isdigit((unsigned char)*p)) {
		long v = 0;
		while (isdigit((unsigned char)*p)) {
			v = v * 10 + (*p - '0');
			if (v > 100000)
				break;
			p++;
		}
		if (v < fd->lo || v > fd->hi) {
			snprintf(err, errlen, "%s: %ld is out of range %d-%d", fd->name, v, fd->lo, fd->hi);
			return -1;
		}
		*out = (int)v;
		*pp = p;
		return 0;
	}
	if (fd->names && isalpha((unsigned char)*p)) {
		for (int i = 0; fd->names[i]; i++) {
			if (strncasecmp(p, fd->names[i], 3) == 0 && !isalpha((unsigned char)p[3])) {
				*out = fd->name_base + i;
				*pp = p + 3;
				return 0;
			}
		}
	}
	snprintf(err, errlen, "%s: unexpected '%.16s'", fd->name, p);
	return -1;
}

/*
 * One field (text up to the next space, already cut out) into set[lo..hi].
 * *any is set when the field is `*` or `?` alone.
 */
static int parse_field(const char *txt, const struct fdef *fd, uint8_t *set, int *any,
		       char *err, size_t errlen)
{
	const char *p = txt;

	*any = strcmp(txt, "*") == 0 || strcmp(txt, "?") == 0;
	if (!*txt) {
		snprintf(err, errlen, "%s: empty", fd->name);
		return -1;
	}
	for (;;) {
		int a, b, step = 1, ranged = 0;
		if (*p == '*' || *p == '?') {
			a = fd->lo;
			b = fd->hi;
			p++;
			ranged = 1;
		} else {
			if (parse_value(&p, fd, &a, err, errlen) < 0)
				return -1;
			b = a;
			if (*p == '-') {
				p++;
				if (parse_value(&p, fd, &b, err, errlen) < 0)
					return -1;
				if (b < a) {
					snprintf(err, errlen, "%s: range %d-%d goes backwards", fd->name, a, b);
					return -1;
				}
				ranged = 1;
			}
		}
		if (*p == '/') {
			long s = 0;
			p++;
			if (!isdigit((unsigned char)*p)) {
				snprintf(err, errlen, "%s: a step needs a number", fd->name);
				return -1;
			}
			while (isdigit((unsigned char)*p) && s <= 100000)
				s = s * 10 + (*p++ - '0');
			if (s < 1 || s > fd->hi - fd->lo + 1) {
				snprintf(err, errlen, "%s: step %ld is out of range 1-%d", fd->name, s,
					 fd->hi - fd->lo + 1);
				return -1;
			}
			step = (int)s;
			if (!ranged)
				b = fd->hi;	/* `a/n`: from a to the end of the range */
		}
		for (int v = a; v <= b; v += step)
			set[v] = 1;
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p) {
			snprintf(err, errlen, "%s: unexpected '%.16s'", fd->name, p);
			return -1;
		}
		return 0;
	}
}

static uint64_t bits(const uint8_t *set, int lo, int hi)
{
	uint64_t m = 0;
	for (int v = lo; v <= hi; v++)
		if (set[v])
			m |= 1ULL << v;
	return m;
}

/* "@every 1h30m" style durations: <n><s|m|h|d> repeated. */
static int parse_every(const char *p, int64_t *out, char *err, size_t errlen)
{
	int64_t total = 0;

	while (*p == ' ')
		p++;
	if (!*p)
		goto bad;
	while (*p) {
		int64_t n = 0, mul;
		if (!isdigit((unsigned char)*p))
			goto bad;
		while (isdigit((unsigned char)*p) && n < 100000000)
			n = n * 10 + (*p++ - '0');
		switch (*p++) {
		case 's': mul = 1; break;
		case 'm': mul = 60; break;
		case 'h': mul = 3600; break;
		case 'd': mul = 86400; break;
		default: goto bad;
		}
		total += n * mul;
		if (total > 366LL * 86400)
			goto bad;
	}
	if (total < 1)
		goto bad;
	*out = total;
	return 0;
bad:
	snprintf(err, errlen, "@every: expected a duration like 30s, 5m, 1h30m or 1d (at most 366d)");
	return -1;
}

static const struct {
	const char *name;
	const char *expr;
} shortcuts[] = {
	{ "@yearly", "0 0 0 1 1 *" }, { "@annually", "0 0 0 1 1 *" },
	{ "@monthly", "0 0 0 1 * *" }, { "@weekly", "0 0 0 * * SUN" },
	{ "@daily", "0 0 0 * * *" }, { "@midnight", "0 0 0 * * *" },
	{ "@hourly", "0 0 * * * *" },
};

int cron_expr_parse(const char *s, struct cron_expr *ce, char *err, size_t errlen)
{
	char buf[512], *fields[8], *save = NULL;
	int nf = 0, any;
	uint8_t set[SET_MAX + 1];

	memset(ce, 0, sizeof *ce);
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '@') {
		if (strncasecmp(s, "@every", 6) == 0 && (s[6] == ' ' || s[6] == '\0'))
			return parse_every(s + 6, &ce->every, err, errlen);
		for (size_t i = 0; i < sizeof shortcuts / sizeof shortcuts[0]; i++) {
			size_t n = strlen(shortcuts[i].name);
			if (strncasecmp(s, shortcuts[i].name, n) == 0 && strspn(s + n, " \t") == strlen(s + n))
				return cron_expr_parse(shortcuts[i].expr, ce, err, errlen);
		}
		snprintf(err, errlen, "unknown shortcut '%.32s' (use @yearly, @monthly, @weekly, "
			 "@daily, @hourly or @every <duration>)", s);
		return -1;
	}
	if (strlen(s) >= sizeof buf) {
		snprintf(err, errlen, "expression too long");
		return -1;
	}
	snprintf(buf, sizeof buf, "%s", s);
	for (char *tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (nf == 8)
			break;
		fields[nf++] = tok;
	}
	if (nf < 5 || nf > 7) {
		snprintf(err, errlen, "expected 6 fields (sec min hour day-of-month month "
			 "day-of-week), 7 with a year, or classic 5; got %d", nf);
		return -1;
	}
	int classic = nf == 5;
	const struct fdef *defs[7];
	int k = 0;
	if (!classic)
		defs[k++] = &f_sec;
	defs[k++] = &f_min;
	defs[k++] = &f_hour;
	defs[k++] = &f_dom;
	defs[k++] = &f_mon;
	defs[k++] = classic ? &f_dow5 : &f_dow;
	if (nf == 7)
		defs[k++] = &f_year;
	if (classic)
		ce->sec = 1;	/* second 0 */
	for (int i = 0; i < nf; i++) {
		const struct fdef *fd = defs[i];
		memset(set, 0, sizeof set);
		if (parse_field(fields[i], fd, set, &any, err, errlen) < 0)
			return -1;
		if (fd == &f_sec) {
			ce->sec = bits(set, 0, 59);
		} else if (fd == &f_min) {
			ce->min = bits(set, 0, 59);
		} else if (fd == &f_hour) {
			ce->hour = (uint32_t)bits(set, 0, 23);
		} else if (fd == &f_dom) {
			ce->dom = (uint32_t)bits(set, 1, 31);
			ce->dom_any = (uint8_t)any;
		} else if (fd == &f_mon) {
			ce->mon = (uint16_t)bits(set, 1, 12);
		} else if (fd == &f_dow) {
			ce->dow = (uint8_t)(bits(set, 1, 7) >> 1);	/* 1-7 -> bits 0-6 */
			ce->dow_any = (uint8_t)any;
		} else if (fd == &f_dow5) {
			if (set[7])
				set[0] = 1;	/* 7 is Sunday too */
			ce->dow = (uint8_t)bits(set, 0, 6);
			ce->dow_any = (uint8_t)any;
		} else {
			for (int y = CRON_YEAR_MIN; y <= CRON_YEAR_MAX; y++)
				if (set[y])
					ce->year[(y - CRON_YEAR_MIN) / 64] |= 1ULL << ((y - CRON_YEAR_MIN) % 64);
		}
	}
	if (nf != 7) {
		for (size_t i = 0; i < sizeof ce->year / sizeof ce->year[0]; i++)
			ce->year[i] = ~0ULL;
	}
	ce->day_or = (uint8_t)classic;
	return 0;
}

/* ---- next fire ---------------------------------------------------------- */

static int year_ok(const struct cron_expr *ce, int y)
{
	int i = y - CRON_YEAR_MIN;
	if (i < 0 || y > CRON_YEAR_MAX)
		return 0;
	return (ce->year[i / 64] >> (i % 64)) & 1;
}

static int day_ok(const struct cron_expr *ce, int y, int m, int d)
{
	int wday = (int)((days_from_civil(y, m, d) % 7 + 11) % 7);
	int a = (ce->dom >> d) & 1, b = (ce->dow >> wday) & 1;
	if (ce->day_or && !ce->dom_any && !ce->dow_any)
		return a || b;
	return a && b;
}

/*
 * Walk forward field by field from the most significant one: a field that
 * does not match advances itself and resets the smaller ones. Each step
 * skips at least one value of one field, so the walk is bounded by the
 * year range.
 */
int64_t cron_expr_next(const struct cron_expr *ce, int64_t after)
{
	int y, mo, d, h, mi, s, wd;

	if (ce->every > 0) {
		int64_t q = after >= 0 ? after / ce->every : (after - ce->every + 1) / ce->every;
		return (q + 1) * ce->every;
	}
	cron_civil_split(after + 1, &y, &mo, &d, &h, &mi, &s, &wd);
	if (y < CRON_YEAR_MIN) {
		y = CRON_YEAR_MIN;
		mo = d = 1;
		h = mi = s = 0;
	}
	for (;;) {
		if (y > CRON_YEAR_MAX)
			return -1;
		if (!year_ok(ce, y)) {
			y++; mo = 1; d = 1; h = mi = s = 0;
			continue;
		}
		if (!((ce->mon >> mo) & 1)) {
			mo++; d = 1; h = mi = s = 0;
			if (mo > 12) { mo = 1; y++; }
			continue;
		}
		if (!day_ok(ce, y, mo, d)) {
			d++; h = mi = s = 0;
			if (d > mdays(y, mo)) { d = 1; if (++mo > 12) { mo = 1; y++; } }
			continue;
		}
		if (!((ce->hour >> h) & 1)) {
			h++; mi = s = 0;
			if (h > 23) {
				h = 0;
				if (++d > mdays(y, mo)) { d = 1; if (++mo > 12) { mo = 1; y++; } }
			}
			continue;
		}
		if (!((ce->min >> mi) & 1)) {
			mi++; s = 0;
			if (mi > 59) { mi = 0; h++; }
			if (h > 23) {
				h = 0;
				if (++d > mdays(y, mo)) { d = 1; if (++mo > 12) { mo = 1; y++; } }
			}
			continue;
		}
		if (!((ce->sec >> s) & 1)) {
			s++;
			if (s > 59) { s = 0; mi++; }
			if (mi > 59) { mi = 0; h++; }
			if (h > 23) {
				h = 0;
				if (++d > mdays(y, mo)) { d = 1; if (++mo > 12) { mo = 1; y++; } }
			}
			continue;
		}
		return cron_civil(y, mo, d, h, mi, s);
	}
}
