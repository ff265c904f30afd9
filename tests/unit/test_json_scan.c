/* json_scan: validation and top-level member spans, byte vectors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "json_scan.h"

static int scan(const char *s, int depth)
{
	return json_scan_object(s, strlen(s), depth, NULL, NULL, 0);
}

static void test_valid(void **state)
{
	static const char *const ok[] = {
		"{}", " { } ", "{\"a\":1}", "{\"a\":-0.5e+10,\"b\":[1,2,{\"c\":null}],\"d\":true,\"e\":false}",
		"{\"s\":\"esc \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9\"}", "{\"a\":[]}", "{\"a\":{}}\n",
		"{\"a\":0,\"a\":1}", "{\"\":\"\"}",
	};
	(void)state;
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		assert_int_equal(scan(ok[i], 64), JSON_SCAN_OK);
}

/* Each of these is what a broken or hostile peer might send. */
static void test_invalid(void **state)
{
	static const char *const bad[] = {
		"", " ", "[]", "1", "\"x\"", "null", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}",
		"{,}", "{\"a\":1 \"b\":2}", "{a:1}", "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}",
		"{\"a\":1e}", "{\"a\":-}", "{\"a\":tru}", "{\"a\":nul}", "{\"a\":\"\\x\"}",
		"{\"a\":\"\\u12\"}", "{\"a\":\"unterminated}", "{\"a\":\"tab\there\"}",
		"{\"a\":[1,2}", "{\"a\":{\"b\":1]}", "{} {}", "{}x", "{\"a\":+1}",
	};
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = scan(bad[i], 64);
		if (rc != JSON_SCAN_INVALID)
			fail_msg("accepted: %s", bad[i]);
	}
}

static void test_depth(void **state)
{
	(void)state;
	assert_int_equal(scan("{\"a\":{\"b\":[1]}}", 3), JSON_SCAN_OK);
	assert_int_equal(scan("{\"a\":{\"b\":[1]}}", 2), JSON_SCAN_DEPTH);
	assert_int_equal(scan("{}", 1), JSON_SCAN_OK);
	/* a bomb of 100k brackets is refused by depth, not by the stack */
	static char bomb[200010];
	memcpy(bomb, "{\"a\":", 5);
	memset(bomb + 5, '[', 100000);
	bomb[100005] = '\0';
	assert_int_equal(scan(bomb, 64), JSON_SCAN_DEPTH);
}

static void test_spans(void **state)
{
	const char *s = "{\"type\":\"invokefunction\", \"data\" : {\"x\":[1,\"}\"]} ,"
			"\"function_id\":\"a\\u003ab\",\"n\":null,\"type\":\"again\"}";
	const char *const keys[] = { "type", "data", "function_id", "n", "missing" };
	struct json_span sp[5];
	char buf[64];
	(void)state;

	assert_int_equal(json_scan_object(s, strlen(s), 8, keys, sp, 5), JSON_SCAN_OK);
	assert_int_equal(json_span_str(sp[0], buf, sizeof buf), 5);
	assert_string_equal(buf, "again");	/* a repeated key: the last wins */
	assert_int_equal(sp[1].len, strlen("{\"x\":[1,\"}\"]}"));
	assert_memory_equal(sp[1].p, "{\"x\":[1,\"}\"]}", sp[1].len);
	assert_int_equal(json_span_kind(sp[1]), '{');
	assert_int_equal(json_span_str(sp[2], buf, sizeof buf), 3);
	assert_string_equal(buf, "a:b");
	assert_int_equal(json_span_kind(sp[3]), 'n');
	assert_null(sp[4].p);
	assert_int_equal(json_span_kind(sp[4]), 0);
	assert_int_equal(json_span_str(sp[1], buf, sizeof buf), -1);	/* not a string */
}

static void test_str_decode(void **state)
{
	char buf[16];
	struct json_span s = { "\"\\ud83d\\ude00\\u00e9\"", 20 };
	(void)state;
	assert_int_equal(json_span_str(s, buf, sizeof buf), 6);
	assert_memory_equal(buf, "\xF0\x9F\x98\x80\xC3\xA9", 6);
	struct json_span big = { "\"0123456789abcdefghij\"", 22 };
	assert_int_equal(json_span_str(big, buf, sizeof buf), -1);	/* does not fit */
}

static void test_escape(void **state)
{
	char buf[64];
	(void)state;
	assert_int_equal(json_escape("a\"b\\c\n", buf, sizeof buf), 15);
	assert_string_equal(buf, "\"a\\\"b\\\\c\\u000a\"");
	assert_int_equal(json_escape("0123456789", buf, 8), 0);
	/* what json_escape writes, json_span_str reads back */
	struct json_span s = { buf, json_escape("x\"y", buf, sizeof buf) };
	char back[16];
	assert_int_equal(json_span_str(s, back, sizeof back), 3);
	assert_string_equal(back, "x\"y");
}

/*
 * The string scan skips eight bytes at a time: an escape, a quote or a
 * control byte must be found at every offset and length around that stride.
 */
static void test_long_strings(void **state)
{
	char buf[128];
	(void)state;
	for (int len = 0; len < 40; len++) {
		for (int at = 0; at < len; at++) {
			char body[64];
			memset(body, 'x', (size_t)len);
			body[len] = '\0';
			snprintf(buf, sizeof buf, "{\"s\":\"%s\"}", body);
			assert_int_equal(scan(buf, 4), JSON_SCAN_OK);
			body[at] = '\t';	/* raw control byte: invalid */
			snprintf(buf, sizeof buf, "{\"s\":\"%s\"}", body);
			assert_int_equal(scan(buf, 4), JSON_SCAN_INVALID);
			body[at] = '"';		/* ends the string early: what follows is garbage */
			snprintf(buf, sizeof buf, "{\"s\":\"%s\"}", body);
			assert_int_equal(scan(buf, 4), JSON_SCAN_INVALID);
		}
		/* an escaped quote at the end of a long run */
		char body[64];
		memset(body, 'y', (size_t)len);
		body[len] = '\0';
		snprintf(buf, sizeof buf, "{\"s\":\"%s\\\"\"}", body);
		assert_int_equal(scan(buf, 4), JSON_SCAN_OK);
	}
	/* bytes >= 0x80 (UTF-8) are plain string bytes */
	assert_int_equal(scan("{\"s\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xe2\x82\xac\"}", 4), JSON_SCAN_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_spans),
		cmocka_unit_test(test_str_decode),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_long_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
