/* stream_ops: the update ops of stream::update / state::update. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "stream_ops.h"

static json_object *run(const char *cur, const char *ops, json_object **errors)
{
	json_object *c = cur ? json_tokener_parse(cur) : NULL, *o = json_tokener_parse(ops);
	json_object *r = stream_ops_apply(c, o, errors);
	json_object_put(c);
	json_object_put(o);
	return r;
}

static void expect(json_object *r, const char *want)
{
	json_object *w = json_tokener_parse(want);
	if (!json_object_equal(r, w))
		fail_msg("got %s, want %s", json_object_to_json_string(r), want);
	json_object_put(w);
}

static void test_basic_ops(void **st)
{
	json_object *e = NULL, *r;
	(void)st;
	r = run(NULL, "[{\"type\":\"set\",\"path\":\"a\",\"value\":1},"
		"{\"type\":\"increment\",\"path\":\"n\",\"by\":3},{\"type\":\"decrement\",\"path\":\"m\",\"by\":2},"
		"{\"type\":\"append\",\"path\":\"l\",\"value\":\"x\"},{\"type\":\"append\",\"path\":\"l\",\"value\":\"y\"},"
		"{\"type\":\"merge\",\"path\":[\"p\",\"q\"],\"value\":{\"z\":true}},{\"type\":\"remove\",\"path\":\"a\"}]", &e);
	expect(r, "{\"n\":3,\"m\":-2,\"l\":[\"x\",\"y\"],\"p\":{\"q\":{\"z\":true}}}");
	assert_null(e);
	json_object_put(r);
}

static void test_root_set_and_string_append(void **st)
{
	json_object *e = NULL, *r;
	(void)st;
	r = run("{\"s\":\"ab\",\"f\":1.5}", "[{\"type\":\"append\",\"path\":\"s\",\"value\":\"cd\"},"
		"{\"type\":\"increment\",\"path\":\"f\",\"by\":1}]", &e);
	expect(r, "{\"s\":\"abcd\",\"f\":2.5}");
	json_object_put(r);
	r = run("{\"a\":1}", "[{\"type\":\"set\",\"path\":\"\",\"value\":{\"b\":2}}]", &e);
	expect(r, "{\"b\":2}");
	assert_null(e);
	json_object_put(r);
}

static const char *code_at(json_object *e, size_t i)
{
	json_object *o = json_object_array_get_idx(e, i), *c;
	json_object_object_get_ex(o, "code", &c);
	return json_object_get_string(c);
}

static void test_errors_keep_value(void **st)
{
	json_object *e = NULL, *r;
	char ops[4096];
	(void)st;
	r = run("{\"s\":\"x\",\"n\":[1]}", "[{\"type\":\"increment\",\"path\":\"s\",\"by\":1},"
		"{\"type\":\"merge\",\"path\":\"\",\"value\":5},"
		"{\"type\":\"merge\",\"path\":\"__proto__\",\"value\":{}},"
		"{\"type\":\"append\",\"path\":\"s\",\"value\":1},"
		"{\"type\":\"nope\"},{\"type\":\"set\",\"path\":\"ok\",\"value\":1}]", &e);
	expect(r, "{\"s\":\"x\",\"n\":[1],\"ok\":1}");
	assert_int_equal(json_object_array_length(e), 5);
	assert_string_equal(code_at(e, 0), "increment.not_number");
	assert_string_equal(code_at(e, 1), "merge.value_not_object");
	assert_string_equal(code_at(e, 2), "merge.path.forbidden");
	assert_string_equal(code_at(e, 3), "append.target_not_appendable");
	assert_string_equal(code_at(e, 4), "op.unknown_type");
	json_object_put(r);
	json_object_put(e);
	/* limits: path depth 32, value depth 16 */
	strcpy(ops, "[{\"type\":\"merge\",\"path\":[");
	for (int i = 0; i < 33; i++)
		strcat(ops, i ? ",\"a\"" : "\"a\"");
	strcat(ops, "],\"value\":{}}]");
	e = NULL;
	r = run(NULL, ops, &e);
	assert_string_equal(code_at(e, 0), "merge.path.too_deep");
	json_object_put(r);
	json_object_put(e);
	strcpy(ops, "[{\"type\":\"merge\",\"path\":\"\",\"value\":");
	for (int i = 0; i < 17; i++)
		strcat(ops, "{\"a\":");
	strcat(ops, "1");
	for (int i = 0; i < 17; i++)
		strcat(ops, "}");
	strcat(ops, "}]");
	e = NULL;
	r = run(NULL, ops, &e);
	assert_string_equal(code_at(e, 0), "merge.value.too_deep");
	json_object_put(r);
	json_object_put(e);
	e = NULL;
	assert_null(run(NULL, "{}", &e));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_ops),
		cmocka_unit_test(test_root_set_and_string_append),
		cmocka_unit_test(test_errors_keep_value),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
