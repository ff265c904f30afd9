/*
 * Tests for the cron expression parser and next-fire computation
 * (router/cron_expr.c): every field form of the seconds-first syntax the
 * reference uses (day-of-week 1-7 = SUN-SAT), the 7th year field, classic
 * 5-field input, @shortcuts and @every, errors that name the field, and
 * next-fire times across month ends, leap years and year boundaries (UTC).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cron_expr.h"

#define T(y, mo, d, h, mi, s) cron_civil(y, mo, d, h, mi, s)

static struct cron_expr parse_ok(const char *s)
{
	struct cron_expr ce;
	char err[256] = "";
	int rc = cron_expr_parse(s, &ce, err, sizeof err);
	if (rc != 0)
		fail_msg("'%s' rejected: %s", s, err);
	return ce;
}

/* The error for s must contain want (usually the field's name). */
static void parse_bad(const char *s, const char *want)
{
	struct cron_expr ce;
	char err[256] = "";
	assert_int_equal(cron_expr_parse(s, &ce, err, sizeof err), -1);
	if (!strstr(err, want))
		fail_msg("'%s': error '%s' does not mention '%s'", s, err, want);
}

static void next_is(const char *expr, int64_t after, int64_t want)
{
	struct cron_expr ce = parse_ok(expr);
	int64_t got = cron_expr_next(&ce, after);
	if (got != want) {
		int y, mo, d, h, mi, s, wd;
		cron_civil_split(got, &y, &mo, &d, &h, &mi, &s, &wd);
		fail_msg("'%s': next is %04d-%02d-%02d %02d:%02d:%02d", expr, y, mo, d, h, mi, s);
	}
}

static void test_civil_roundtrip(void **state)
{
	int y, mo, d, h, mi, s, wd;
	(void)state;
	assert_int_equal(T(1970, 1, 1, 0, 0, 0), 0);
	assert_int_equal(T(2000, 3, 1, 0, 0, 0), 951868800);
	cron_civil_split(T(2024, 2, 29, 23, 59, 58), &y, &mo, &d, &h, &mi, &s, &wd);
	assert_int_equal(y, 2024);
	assert_int_equal(mo, 2);
	assert_int_equal(d, 29);
	assert_int_equal(h, 23);
	assert_int_equal(mi, 59);
	assert_int_equal(s, 58);
	assert_int_equal(wd, 4);	/* a Thursday */
}

static void test_every_second(void **state)
{
	(void)state;
	next_is("* * * * * *", T(2026, 8, 21, 10, 5, 0), T(2026, 8, 21, 10, 5, 1));
	next_is("* * * * * *", T(2026, 12, 31, 23, 59, 59), T(2027, 1, 1, 0, 0, 0));
}

static void test_steps_ranges_lists(void **state)
{
	(void)state;
	next_is("0 */5 * * * *", T(2026, 1, 1, 10, 6, 0), T(2026, 1, 1, 10, 10, 0));
	next_is("*/15 * * * * *", T(2026, 1, 1, 0, 0, 46), T(2026, 1, 1, 0, 1, 0));
	next_is("5/20 * * * * *", T(2026, 1, 1, 0, 0, 5), T(2026, 1, 1, 0, 0, 25));
	next_is("0 10-20/5 * * * *", T(2026, 1, 1, 0, 20, 0), T(2026, 1, 1, 1, 10, 0));
	next_is("0 0 8,12,18 * * *", T(2026, 1, 1, 12, 0, 0), T(2026, 1, 1, 18, 0, 0));
	next_is("0 0 8-9,17 * * *", T(2026, 1, 1, 9, 30, 0), T(2026, 1, 1, 17, 0, 0));
	next_is("30 15 10 ? * *", T(2026, 1, 1, 11, 0, 0), T(2026, 1, 2, 10, 15, 30));
}

static void test_names_and_dow_numbering(void **state)
{
	(void)state;
	/* 2026-08-21 is a Friday. The crate's 1 = SUN, 2 = MON ... 7 = SAT. */
	next_is("0 0 0 * * 1", T(2026, 8, 21, 0, 0, 0), T(2026, 8, 23, 0, 0, 0));
	next_is("0 0 0 * * SUN", T(2026, 8, 21, 0, 0, 0), T(2026, 8, 23, 0, 0, 0));
	next_is("0 0 0 * * mon", T(2026, 8, 21, 0, 0, 0), T(2026, 8, 24, 0, 0, 0));
	next_is("0 0 0 * * 7", T(2026, 8, 21, 0, 0, 0), T(2026, 8, 22, 0, 0, 0));
	/* 1-5 means Sunday to Thursday, as in the reference */
	next_is("0 0 0 * * 1-5", T(2026, 8, 21, 0, 0, 0), T(2026, 8, 23, 0, 0, 0));
	next_is("0 0 0 * * MON-FRI", T(2026, 8, 21, 12, 0, 0), T(2026, 8, 24, 0, 0, 0));
	next_is("0 0 0 1 JAN,JUL *", T(2026, 2, 1, 0, 0, 0), T(2026, 7, 1, 0, 0, 0));
	next_is("0 0 0 1 mar-may *", T(2026, 5, 1, 0, 0, 0), T(2027, 3, 1, 0, 0, 0));
}

static void test_both_day_fields(void **state)
{
	(void)state;
	/* seconds-first: a day must match both fields (Friday the 13th) */
	next_is("0 0 0 13 * FRI", T(2026, 1, 1, 0, 0, 0), T(2026, 2, 13, 0, 0, 0));
	/* classic 5-field: either field (the 13th, or any Friday) */
	next_is("0 0 13 * 5", T(2026, 1, 1, 0, 0, 0), T(2026, 1, 2, 0, 0, 0));
	next_is("0 0 13 * 5", T(2026, 1, 10, 0, 0, 0), T(2026, 1, 13, 0, 0, 0));
}

static void test_month_ends_and_leap_years(void **state)
{
	(void)state;
	next_is("0 0 0 31 * *", T(2026, 1, 31, 0, 0, 0), T(2026, 3, 31, 0, 0, 0));
	next_is("0 0 0 31 * *", T(2026, 4, 1, 0, 0, 0), T(2026, 5, 31, 0, 0, 0));
	next_is("0 0 0 30 * *", T(2026, 1, 30, 0, 0, 0), T(2026, 3, 30, 0, 0, 0));
	next_is("0 0 12 29 2 *", T(2025, 1, 1, 0, 0, 0), T(2028, 2, 29, 12, 0, 0));
	next_is("0 0 12 29 FEB *", T(2096, 3, 1, 0, 0, 0), -1);	/* 2100 is not a leap year */
	next_is("0 0 0 29 2 * 2000", T(1999, 1, 1, 0, 0, 0), T(2000, 2, 29, 0, 0, 0));
}

static void test_year_field(void **state)
{
	(void)state;
	next_is("0 0 0 1 1 * 2030", T(2026, 5, 5, 0, 0, 0), T(2030, 1, 1, 0, 0, 0));
	next_is("0 0 0 1 1 * 2027-2029/2", T(2027, 1, 1, 0, 0, 0), T(2029, 1, 1, 0, 0, 0));
	next_is("0 0 0 1 1 * 2026", T(2026, 1, 1, 0, 0, 0), -1);
	next_is("0 0 0 * * * 2026,2028", T(2026, 12, 31, 0, 0, 0), T(2028, 1, 1, 0, 0, 0));
	next_is("0 0 0 1 1 * 2099", T(2026, 1, 1, 0, 0, 0), T(2099, 1, 1, 0, 0, 0));
	next_is("0 0 0 31 12 *", T(2099, 12, 31, 0, 0, 0), -1);
}

static void test_classic_five_fields(void **state)
{
	(void)state;
	next_is("*/5 * * * *", T(2026, 1, 1, 0, 0, 1), T(2026, 1, 1, 0, 5, 0));
	next_is("30 4 * * *", T(2026, 1, 1, 5, 0, 0), T(2026, 1, 2, 4, 30, 0));
	/* 0 and 7 are both Sunday; 1-5 is Monday to Friday */
	next_is("0 0 * * 0", T(2026, 8, 21, 0, 0, 0), T(2026, 8, 23, 0, 0, 0));
	next_is("0 0 * * 7", T(2026, 8, 21, 0, 0, 0), T(2026, 8, 23, 0, 0, 0));
	next_is("0 0 * * 1-5", T(2026, 8, 21, 12, 0, 0), T(2026, 8, 24, 0, 0, 0));
}

static void test_shortcuts(void **state)
{
	(void)state;
	next_is("@hourly", T(2026, 1, 1, 0, 0, 0), T(2026, 1, 1, 1, 0, 0));
	next_is("@daily", T(2026, 1, 1, 0, 0, 0), T(2026, 1, 2, 0, 0, 0));
	next_is("@midnight", T(2026, 1, 1, 0, 0, 1), T(2026, 1, 2, 0, 0, 0));
	next_is("@weekly", T(2026, 8, 21, 0, 0, 0), T(2026, 8, 23, 0, 0, 0));
	next_is("@monthly", T(2026, 1, 31, 0, 0, 0), T(2026, 2, 1, 0, 0, 0));
	next_is("@yearly", T(2026, 1, 1, 0, 0, 0), T(2027, 1, 1, 0, 0, 0));
	next_is("@annually", T(2026, 6, 1, 0, 0, 0), T(2027, 1, 1, 0, 0, 0));
	next_is("@every 30s", T(2026, 1, 1, 0, 0, 10), T(2026, 1, 1, 0, 0, 30));
	next_is("@every 30s", T(2026, 1, 1, 0, 0, 30), T(2026, 1, 1, 0, 1, 0));
	next_is("@every 1h30m", T(2026, 1, 1, 0, 0, 0), T(2026, 1, 1, 1, 30, 0));
}

static void test_bad_input_names_the_field(void **state)
{
	(void)state;
	parse_bad("", "expected 6 fields");
	parse_bad("* * * *", "got 4");
	parse_bad("* * * * * * * *", "got 8");
	parse_bad("60 * * * * *", "second: 60 is out of range 0-59");
	parse_bad("0 60 * * * *", "minute");
	parse_bad("0 0 24 * * *", "hour");
	parse_bad("0 0 0 0 * *", "day-of-month: 0 is out of range 1-31");
	parse_bad("0 0 0 32 * *", "day-of-month");
	parse_bad("0 0 0 * 13 *", "month");
	parse_bad("0 0 0 * FOO *", "month: unexpected 'FOO'");
	parse_bad("0 0 0 * * 0", "day-of-week: 0 is out of range 1-7");
	parse_bad("0 0 0 * * 8", "day-of-week");
	parse_bad("0 0 0 * * * 1969", "year");
	parse_bad("0 0 0 * * * 2100", "year");
	parse_bad("*/0 * * * * *", "second: step 0");
	parse_bad("*/ * * * * *", "second: a step needs a number");
	parse_bad("0 5-2 * * * *", "minute: range 5-2 goes backwards");
	parse_bad("0 1,,2 * * * *", "minute: unexpected");
	parse_bad("0 * * * * x", "day-of-week: unexpected 'x'");
	parse_bad("0 0 * * 8", "day-of-week: 8 is out of range 0-7");
	parse_bad("@often", "unknown shortcut");
	parse_bad("@every", "@every");
	parse_bad("@every 10x", "@every");
	parse_bad("@every 0s", "@every");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_civil_roundtrip),
		cmocka_unit_test(test_every_second),
		cmocka_unit_test(test_steps_ranges_lists),
		cmocka_unit_test(test_names_and_dow_numbering),
		cmocka_unit_test(test_both_day_fields),
		cmocka_unit_test(test_month_ends_and_leap_years),
		cmocka_unit_test(test_year_field),
		cmocka_unit_test(test_classic_five_fields),
		cmocka_unit_test(test_shortcuts),
		cmocka_unit_test(test_bad_input_names_the_field),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
