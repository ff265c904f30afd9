/*
 * Tests for the byte-channel pieces without I/O (shared/chan_wire.c): the
 * /ws/channels/<id>?key=&dir= URL, and the set_status / set_headers control
 * messages of an HTTP response channel.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "chan_wire.h"

static void test_url_ok(void **state)
{
	struct chan_url u;

	(void)state;
	assert_int_equal(chan_url_parse("/ws/channels/0b1c-Z_9", "key=ab%2Bcd&dir=read", &u),
			 CHAN_URL_OK);
	assert_string_equal(u.id, "0b1c-Z_9");
	assert_string_equal(u.key, "ab+cd");
	assert_int_equal(u.dir, CHAN_READ);
	/* order does not matter, unknown parameters are ignored, the last wins */
	assert_int_equal(chan_url_parse("/ws/channels/x", "dir=read&x=1&key=k&dir=write", &u),
			 CHAN_URL_OK);
	assert_int_equal(u.dir, CHAN_WRITE);
	assert_string_equal(u.key, "k");
}

static void test_url_not_channel(void **state)
{
	struct chan_url u;

	(void)state;
	assert_int_equal(chan_url_parse("/", "", &u), CHAN_URL_NOT_CHANNEL);
	assert_int_equal(chan_url_parse("/otel", "", &u), CHAN_URL_NOT_CHANNEL);
	assert_int_equal(chan_url_parse("/ws/channel/x", "key=k&dir=read", &u), CHAN_URL_NOT_CHANNEL);
}

static void test_url_bad(void **state)
{
	struct chan_url u;
	char longid[100];

	(void)state;
	memset(longid, 0, sizeof longid);
	memcpy(longid, "/ws/channels/", 13);
	memset(longid + 13, 'a', 65);
	assert_int_equal(chan_url_parse("/ws/channels/", "key=k&dir=read", &u), CHAN_URL_BAD);
	assert_int_equal(chan_url_parse(longid, "key=k&dir=read", &u), CHAN_URL_BAD);
	assert_int_equal(chan_url_parse("/ws/channels/a/b", "key=k&dir=read", &u), CHAN_URL_BAD);
	assert_int_equal(chan_url_parse("/ws/channels/a", "dir=read", &u), CHAN_URL_BAD);
	assert_int_equal(chan_url_parse("/ws/channels/a", "key=&dir=read", &u), CHAN_URL_BAD);
	assert_int_equal(chan_url_parse("/ws/channels/a", "key=k", &u), CHAN_URL_BAD);
	assert_int_equal(chan_url_parse("/ws/channels/a", "key=k&dir=both", &u), CHAN_URL_BAD);
	assert_int_equal(chan_url_parse("/ws/channels/a", "key=%2&dir=read", &u), CHAN_URL_BAD);
	assert_int_equal(chan_url_parse("/ws/channels/a", "key=%zz&dir=read", &u), CHAN_URL_BAD);
	assert_int_equal(chan_url_parse("/ws/channels/a", "key=a%00b&dir=read", &u), CHAN_URL_BAD);
}

static void test_ctl(void **state)
{
	json_object *h = json_object_new_object(), *v;
	int st = 0;
	const char *m;

	(void)state;
	m = "{\"type\":\"set_status\",\"status_code\":206}";
	assert_int_equal(chan_ctl_apply(m, strlen(m), &st, h), 1);
	assert_int_equal(st, 206);
	m = "{\"type\":\"set_status\",\"status_code\":99}";
	assert_int_equal(chan_ctl_apply(m, strlen(m), &st, h), 1);
	assert_int_equal(st, 206);	/* out of range: ignored */
	m = "{\"type\":\"set_headers\",\"headers\":{\"a\":\"1\",\"b\":2}}";
	assert_int_equal(chan_ctl_apply(m, strlen(m), &st, h), 1);
	m = "{\"type\":\"set_headers\",\"headers\":{\"a\":\"x\"}}";
	assert_int_equal(chan_ctl_apply(m, strlen(m), &st, h), 1);
	assert_true(json_object_object_get_ex(h, "a", &v));
	assert_string_equal(json_object_get_string(v), "x");
	assert_false(json_object_object_get_ex(h, "b", &v));	/* not a string */
	m = "{\"type\":\"event\"}";
	assert_int_equal(chan_ctl_apply(m, strlen(m), &st, h), 0);
	m = "not json";
	assert_int_equal(chan_ctl_apply(m, strlen(m), &st, h), 0);
	json_object_put(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_ok),
		cmocka_unit_test(test_url_not_channel),
		cmocka_unit_test(test_url_bad),
		cmocka_unit_test(test_ctl),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
