/*
 * Tests for the worker-protocol normalizer (broker/proto.c). Every message
 * kind of sdk-wire.md §2 goes in as text; the test checks the action the
 * broker takes and, by parsing r.body with json-c, exactly what the router
 * (FORWARD) or the caller (REPLY) would receive.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define DEPTH 64
#define UUID "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
#define UUID2 "A0B1C2D3-E4F5-4607-8899-AABBCCDDEEFF"

static void norm(const char *s, struct proto_result *r)
{
	proto_normalize(s, strlen(s), DEPTH, r);
}

/* Parses r->body; the caller puts the result. Fails the test if it is not an object. */
static json_object *body_json(const struct proto_result *r)
{
	assert_non_null(r->body);
	assert_int_equal(strlen(r->body), r->body_len);
	json_object *o = json_tokener_parse(r->body);
	assert_non_null(o);
	assert_true(json_object_is_type(o, json_type_object));
	return o;
}

static const char *str_of(json_object *o, const char *k)
{
	json_object *v;
	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int has(json_object *o, const char *k)
{
	return json_object_object_get_ex(o, k, NULL);
}

static void assert_str_field(json_object *o, const char *k, const char *want)
{
	const char *got = str_of(o, k);
	assert_non_null(got);
	assert_string_equal(got, want);
}

static void assert_drop(const char *s, const char *why_part)
{
	struct proto_result r;
	norm(s, &r);
	assert_int_equal(r.action, PROTO_DROP);
	assert_null(r.body);
	if (why_part) {
		assert_non_null(r.why);
		assert_non_null(strstr(r.why, why_part));
	} else {
		assert_null(r.why);
	}
	proto_result_free(&r);
}

/* ---------- framing and JSON ---------- */

static void test_empty_and_whitespace(void **state)
{
	struct proto_result r;
	(void)state;

	proto_normalize("", 0, DEPTH, &r);
	assert_int_equal(r.action, PROTO_DROP);
	assert_null(r.why);
	assert_null(r.body);
	proto_normalize(NULL, 0, DEPTH, &r);
	assert_int_equal(r.action, PROTO_DROP);
	assert_null(r.why);
	assert_drop(" \t\r\n  ", NULL);
}

static void test_invalid_json(void **state)
{
	(void)state;
	assert_drop("{", "invalid JSON");
	assert_drop("{\"type\":\"ping\"", "invalid JSON");
	assert_drop("{type:ping}", "invalid JSON");
	assert_drop("nope", "invalid JSON");
	assert_drop("{\"type\":\"ping\",}x", "invalid JSON");
}

static void test_trailing_garbage(void **state)
{
	struct proto_result r;
	(void)state;

	assert_drop("{\"type\":\"ping\"}x", "invalid JSON");
	assert_drop("{\"type\":\"ping\"} {\"type\":\"ping\"}", "invalid JSON");
	assert_drop("{\"type\":\"ping\"}}", "invalid JSON");
	/* a NUL after the object is garbage, not whitespace */
	proto_normalize("{\"type\":\"ping\"}\0", 16, DEPTH, &r);
	assert_int_equal(r.action, PROTO_DROP);
	assert_non_null(r.why);
	assert_string_equal(r.why, "invalid JSON");
}

static void test_surrounding_whitespace_ok(void **state)
{
	struct proto_result r;
	(void)state;

	norm("{\"type\":\"ping\"}   \r\n\t \n", &r);
	assert_int_equal(r.action, PROTO_PONG);
	norm("\n  {\"type\":\"ping\"}\n", &r);
	assert_int_equal(r.action, PROTO_PONG);
	/* only the first len bytes count */
	proto_normalize("{\"type\":\"ping\"}GARBAGE", 15, DEPTH, &r);
	assert_int_equal(r.action, PROTO_PONG);
}

static void test_depth_limit(void **state)
{
	struct proto_result r;
	const char *two = "{\"type\":\"registerfunction\",\"id\":\"f\",\"metadata\":{\"a\":1}}";
	const char *three = "{\"type\":\"registerfunction\",\"id\":\"f\",\"metadata\":{\"a\":[1]}}";
	(void)state;

	/* max_depth N admits exactly N levels of nesting */
	proto_normalize(two, strlen(two), 2, &r);
	assert_int_equal(r.action, PROTO_FORWARD);
	proto_result_free(&r);
	proto_normalize(three, strlen(three), 2, &r);
	assert_int_equal(r.action, PROTO_DROP);
	assert_null(r.body);
	assert_non_null(r.why);
	assert_non_null(strstr(r.why, "deep"));

	/* a deep array bomb against the default limit */
	char bomb[2 * 200 + 64];
	size_t n = 0;
	n += (size_t)sprintf(bomb, "{\"type\":\"ping\",\"x\":");
	for (int i = 0; i < 200; i++)
		bomb[n++] = '[';
	for (int i = 0; i < 200; i++)
		bomb[n++] = ']';
	bomb[n++] = '}';
	proto_normalize(bomb, n, DEPTH, &r);
	assert_int_equal(r.action, PROTO_DROP);
	assert_string_equal(r.why, "JSON nested too deeply");
}

static void test_not_object_or_no_type(void **state)
{
	(void)state;
	assert_drop("[1,2]", "not an object");
	assert_drop("\"ping\"", "not an object");
	assert_drop("1 ", "not an object");
	/* json-c reports a bare null as no object: still a drop with a reason */
	assert_drop("null", "");
	assert_drop("{}", "not an object");
	assert_drop("{\"type\":5}", "not an object");
	assert_drop("{\"type\":null}", "not an object");
	assert_drop("{\"kind\":\"ping\"}", "not an object");
}

/* ---------- simple types ---------- */

static void test_ping_pong(void **state)
{
	struct proto_result r;
	(void)state;

	norm("{\"type\":\"ping\"}", &r);
	assert_int_equal(r.action, PROTO_PONG);
	assert_null(r.body);
	assert_int_equal(r.msg, PM_NONE);
	norm("{\"type\":\"ping\",\"extra\":[1,2,3]}", &r);
	assert_int_equal(r.action, PROTO_PONG);
}

static void test_known_ignored_types(void **state)
{
	(void)state;
	assert_drop("{\"type\":\"pong\"}", NULL);
	assert_drop("{\"type\":\"workerregistered\",\"worker_id\":\"" UUID "\"}", NULL);
	assert_drop("{\"type\":\"registrationrejected\"}", NULL);
	assert_drop("{\"type\":\"registerservice\",\"id\":\"s\"}", NULL);
}

static void test_unknown_type(void **state)
{
	(void)state;
	assert_drop("{\"type\":\"frobnicate\"}", "unknown message type");
	assert_drop("{\"type\":\"PING\"}", "unknown message type");
	assert_drop("{\"type\":\"\"}", "unknown message type");
}

/* ---------- registrations ---------- */

static void test_registerfunction(void **state)
{
	struct proto_result r;
	(void)state;

	norm("{\"type\":\"registerfunction\",\"id\":\"math::add\",\"description\":\"adds\","
	     "\"request_format\":{\"type\":\"object\"},\"response_format\":{\"t\":1},"
	     "\"metadata\":{\"team\":\"core\"},\"message_type\":\"registerfunction\","
	     "\"bogus\":42}", &r);
	assert_int_equal(r.action, PROTO_FORWARD);
	assert_int_equal(r.msg, PM_REGFN);
	assert_string_equal(r.key, "math::add");
	assert_int_equal(r.wants_reply, 0);
	json_object *o = body_json(&r);
	assert_str_field(o, "type", "registerfunction");
	assert_str_field(o, "id", "math::add");
	assert_str_field(o, "description", "adds");
	json_object *rf, *md;
	assert_true(json_object_object_get_ex(o, "request_format", &rf));
	assert_str_field(rf, "type", "object");
	assert_true(has(o, "response_format"));
	assert_true(json_object_object_get_ex(o, "metadata", &md));
	assert_str_field(md, "team", "core");
	assert_false(has(o, "message_type"));
	assert_false(has(o, "bogus"));
	assert_int_equal(json_object_object_length(o), 6);
	json_object_put(o);
	proto_result_free(&r);
	assert_null(r.body);
}

static void test_registerfunction_minimal_and_invocation(void **state)
{
	struct proto_result r;
	(void)state;

	norm("{\"type\":\"registerfunction\",\"id\":\"f\"}", &r);
	assert_int_equal(r.action, PROTO_FORWARD);
	json_object *o = body_json(&r);
	assert_int_equal(json_object_object_length(o), 2);
	assert_false(has(o, "description"));
	json_object_put(o);
	proto_result_free(&r);

	norm("{\"type\":\"registerfunction\",\"id\":\"h\",\"invocation\":{\"url\":\"http://x/y\"}}",
	     &r);
	assert_int_equal(r.action, PROTO_FORWARD);
	o = body_json(&r);
	json_object *inv;
	assert_true(json_object_object_get_ex(o, "invocation", &inv));
	assert_str_field(inv, "url", "http://x/y");
	json_object_put(o);
	proto_result_free(&r);
}

static void test_registerfunction_bad_id(void **state)
{
	char big[400];
	(void)state;

	assert_drop("{\"type\":\"registerfunction\"}", "without an id");
	assert_drop("{\"type\":\"registerfunction\",\"id\":\"\"}", "without an id");
	assert_drop("{\"type\":\"registerfunction\",\"id\":7}", "without an id");
	assert_drop("{\"type\":\"registerfunction\",\"id\":null}", "without an id");
	/* ids must fit r.key (255 bytes + NUL) */
	snprintf(big, sizeof big, "{\"type\":\"registerfunction\",\"id\":\"%0256d\"}", 0);
	assert_drop(big, "without an id");
}

static void test_unregisterfunction(void **state)
{
	struct proto_result r;
	(void)state;

	norm("{\"type\":\"unregisterfunction\",\"id\":\"f\",\"description\":\"dropped\"}", &r);
	assert_int_equal(r.action, PROTO_FORWARD);
	assert_int_equal(r.msg, PM_UNREGFN);
	assert_string_equal(r.key, "f");
	json_object *o = body_json(&r);
	assert_str_field(o, "type", "unregisterfunction");
	assert_str_field(o, "id", "f");
	assert_false(has(o, "description"));
	json_object_put(o);
	proto_result_free(&r);
	assert_drop("{\"type\":\"unregisterfunction\"}", "without an id");
}

static void test_registertriggertype(void **state)
{
	struct proto_result r;
	(void)state;

	norm("{\"type\":\"registertriggertype\",\"id\":\"cron\",\"description\":\"d\",\"x\":1}", &r);
	assert_int_equal(r.action, PROTO_FORWARD);
	assert_int_equal(r.msg, PM_REGTT);
	assert_string_equal(r.key, "cron");
	json_object *o = body_json(&r);
	assert_str_field(o, "type", "registertriggertype");
	assert_str_field(o, "description", "d");
	assert_false(has(o, "x"));
	json_object_put(o);
	proto_result_free(&r);

	norm("{\"type\":\"unregistertriggertype\",\"id\":\"cron\",\"description\":\"d\"}", &r);
	assert_int_equal(r.action, PROTO_FORWARD);
	assert_int_equal(r.msg, PM_UNREGTT);
	o = body_json(&r);
	assert_str_field(o, "type", "unregistertriggertype");
	assert_str_field(o, "id", "cron");
	json_object_put(o);
	proto_result_free(&r);

	assert_drop("{\"type\":\"registertriggertype\"}", "without an id");
}

static void test_registertrigger_queue_mapped(void **state)
{
	struct proto_result r;
	(void)state;

	norm("{\"type\":\"registertrigger\",\"id\":\"" UUID "\",\"trigger_type\":\"queue\","
	     "\"function_id\":\"worker::job\",\"config\":{\"topic\":\"jobs\"},"
	     "\"message_type\":\"registertrigger\"}", &r);
	assert_int_equal(r.action, PROTO_FORWARD);
	assert_int_equal(r.msg, PM_REGTRIG);
	assert_string_equal(r.key, UUID);
	json_object *o = body_json(&r);
	assert_str_field(o, "type", "registertrigger");
	assert_str_field(o, "id", UUID);
	assert_str_field(o, "trigger_type", "durable:subscriber");
	assert_str_field(o, "function_id", "worker::job");
	json_object *cfg;
	assert_true(json_object_object_get_ex(o, "config", &cfg));
	assert_str_field(cfg, "topic", "jobs");
	assert_false(has(o, "message_type"));
	json_object_put(o);
	proto_result_free(&r);
}

static void test_registertrigger_default_config(void **state)
{
	static const char *const inputs[] = {
		"{\"type\":\"registertrigger\",\"id\":\"t1\",\"trigger_type\":\"http\","
		"\"function_id\":\"api::get\"}",
		"{\"type\":\"registertrigger\",\"id\":\"t1\",\"trigger_type\":\"http\","
		"\"function_id\":\"api::get\",\"config\":null}",
	};
	(void)state;

	for (size_t i = 0; i < 2; i++) {
		struct proto_result r;
		norm(inputs[i], &r);
		assert_int_equal(r.action, PROTO_FORWARD);
		json_object *o = body_json(&r);
		assert_str_field(o, "trigger_type", "http");
		json_object *cfg;
		assert_true(json_object_object_get_ex(o, "config", &cfg));
		assert_true(json_object_is_type(cfg, json_type_object));
		assert_int_equal(json_object_object_length(cfg), 0);
		json_object_put(o);
		proto_result_free(&r);
	}
}

static void test_registertrigger_missing_fields(void **state)
{
	(void)state;
	assert_drop("{\"type\":\"registertrigger\",\"trigger_type\":\"http\",\"function_id\":\"f\"}",
		    "without an id");
	assert_drop("{\"type\":\"registertrigger\",\"id\":\"t\",\"function_id\":\"f\"}",
		    "needs trigger_type");
	assert_drop("{\"type\":\"registertrigger\",\"id\":\"t\",\"trigger_type\":\"http\"}",
		    "needs trigger_type");
}

static void test_unregistertrigger(void **state)
{
	struct proto_result r;
	(void)state;

	norm("{\"type\":\"unregistertrigger\",\"id\":\"t1\",\"trigger_type\":\"queue\","
	     "\"message_type\":\"unregistertrigger\"}", &r);
	assert_int_equal(r.action, PROTO_FORWARD);
	assert_int_equal(r.msg, PM_UNREGTRIG);
	assert_string_equal(r.key, "t1");
	json_object *o = body_json(&r);
	assert_str_field(o, "type", "unregistertrigger");
	assert_str_field(o, "trigger_type", "durable:subscriber");
	assert_false(has(o, "config"));
	assert_false(has(o, "function_id"));
	assert_false(has(o, "message_type"));
	json_object_put(o);
	proto_result_free(&r);

	/* trigger_type is optional when unregistering */
	norm("{\"type\":\"unregistertrigger\",\"id\":\"t2\"}", &r);
	assert_int_equal(r.action, PROTO_FORWARD);
	o = body_json(&r);
	assert_false(has(o, "trigger_type"));
	json_object_put(o);
	proto_result_free(&r);
}

/* ---------- invokefunction ---------- */

static void test_invoke_with_id(void **state)
{
	struct proto_result r;
	(void)state;

	norm("{\"type\":\"invokefunction\",\"invocation_id\":\"" UUID "\","
	     "\"function_id\":\"math::add\",\"data\":{\"a\":1,\"b\":2},"
	     "\"traceparent\":\"00-abc-def-01\",\"baggage\":\"k=v\",\"metadata\":{\"m\":1},"
	     "\"junk\":true}", &r);
	assert_int_equal(r.action, PROTO_FORWARD);
	assert_int_equal(r.msg, PM_INVOKE);
	assert_int_equal(r.wants_reply, 1);
	assert_int_equal(r.is_announce, 0);
	assert_string_equal(r.key, UUID);
	json_object *o = body_json(&r);
	assert_str_field(o, "type", "invokefunction");
	assert_str_field(o, "invocation_id", UUID);
	assert_str_field(o, "function_id", "math::add");
	json_object *d, *v;
	assert_true(json_object_object_get_ex(o, "data", &d));
	assert_true(json_object_object_get_ex(d, "b", &v));
	assert_int_equal(json_object_get_int(v), 2);
	assert_str_field(o, "traceparent", "00-abc-def-01");
	assert_str_field(o, "baggage", "k=v");
	assert_true(has(o, "metadata"));
	json_object_put(o);
	proto_result_free(&r);
}

static void test_invoke_uppercase_uuid(void **state)
{
	struct proto_result r;
	(void)state;

	norm("{\"type\":\"invokefunction\",\"invocation_id\":\"" UUID2 "\","
	     "\"function_id\":\"f\",\"data\":1}", &r);
	assert_int_equal(r.action, PROTO_FORWARD);
	assert_int_equal(r.wants_reply, 1);
	assert_string_equal(r.key, UUID2);
	proto_result_free(&r);
}

static void test_invoke_without_id(void **state)
{
	static const char *const inputs[] = {
		"{\"type\":\"invokefunction\",\"function_id\":\"f\",\"data\":{}}",
		"{\"type\":\"invokefunction\",\"invocation_id\":null,\"function_id\":\"f\",\"data\":{}}",
	};
	(void)state;

	for (size_t i = 0; i < 2; i++) {
		struct proto_result r;
		norm(inputs[i], &r);
		assert_int_equal(r.action, PROTO_FORWARD);
		assert_int_equal(r.wants_reply, 0);
		assert_string_equal(r.key, "");
		/* the hot path forwards the bytes as they came; the router builds the target's message */
		assert_int_equal(r.body_len, strlen(inputs[i]));
		assert_memory_equal(r.body, inputs[i], r.body_len);
		proto_result_free(&r);
	}
}

static void test_invoke_void_action(void **state)
{
	struct proto_result r;
	(void)state;

	norm("{\"type\":\"invokefunction\",\"invocation_id\":\"" UUID "\","
	     "\"function_id\":\"f\",\"data\":{},\"action\":{\"type\":\"void\"}}", &r);
	assert_int_equal(r.action, PROTO_FORWARD);
	assert_int_equal(r.wants_reply, 0);
	json_object *o = body_json(&r);
	json_object *a;
	assert_true(json_object_object_get_ex(o, "action", &a));
	assert_str_field(a, "type", "void");
	json_object_put(o);
	proto_result_free(&r);

	/* a void call without data has nobody to tell: dropped */
	assert_drop("{\"type\":\"invokefunction\",\"invocation_id\":\"" UUID "\","
		    "\"function_id\":\"f\",\"action\":{\"type\":\"void\"}}", "without data");
}

static void test_invoke_missing_data_replies(void **state)
{
	struct proto_result r;
	(void)state;

	norm("{\"type\":\"invokefunction\",\"invocation_id\":\"" UUID "\",\"function_id\":\"f\"}",
	     &r);
	assert_int_equal(r.action, PROTO_REPLY);
	assert_int_equal(r.msg, PM_INVOKE);
	assert_non_null(r.why);
	json_object *o = body_json(&r);
	assert_str_field(o, "type", "invocationresult");
	assert_str_field(o, "invocation_id", UUID);
	assert_str_field(o, "function_id", "f");
	json_object *e;
	assert_true(json_object_object_get_ex(o, "error", &e));
	assert_str_field(e, "code", "invalid_request");
	const char *msg = str_of(e, "message");
	assert_non_null(msg);
	assert_non_null(strstr(msg, "data"));
	json_object_put(o);
	proto_result_free(&r);

	/* no id: nobody to answer */
	assert_drop("{\"type\":\"invokefunction\",\"function_id\":\"f\"}", "without data");
}

static void test_invoke_data_null_is_value(void **state)
{
	struct proto_result r;
	(void)state;

	norm("{\"type\":\"invokefunction\",\"invocation_id\":\"" UUID "\","
	     "\"function_id\":\"f\",\"data\":null}", &r);
	assert_int_equal(r.action, PROTO_FORWARD);
	assert_int_equal(r.wants_reply, 1);
	json_object *o = body_json(&r);
	json_object *d = (json_object *)1;
	assert_true(json_object_object_get_ex(o, "data", &d));
	assert_null(d);
	assert_non_null(strstr(r.body, "\"data\":null"));
	json_object_put(o);
	proto_result_free(&r);
}

static void test_invoke_bad_invocation_id(void **state)
{
	(void)state;
	assert_drop("{\"type\":\"invokefunction\",\"invocation_id\":\"abc\","
		    "\"function_id\":\"f\",\"data\":{}}", "not a UUID");
	assert_drop("{\"type\":\"invokefunction\",\"invocation_id\":42,"
		    "\"function_id\":\"f\",\"data\":{}}", "not a UUID");
	/* one hex digit too many, wrong dash position, non-hex */
	assert_drop("{\"type\":\"invokefunction\",\"invocation_id\":\"" UUID "0\","
		    "\"function_id\":\"f\",\"data\":{}}", "not a UUID");
	assert_drop("{\"type\":\"invokefunction\",\"invocation_id\":"
		    "\"6f1c2a3b4-d5e-4f60-8a7b-9c0d1e2f3a4b\",\"function_id\":\"f\",\"data\":{}}",
		    "not a UUID");
	assert_drop("{\"type\":\"invokefunction\",\"invocation_id\":"
		    "\"6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4g\",\"function_id\":\"f\",\"data\":{}}",
		    "not a UUID");
}

static void test_invoke_missing_function_id(void **state)
{
	struct proto_result r;
	(void)state;

	norm("{\"type\":\"invokefunction\",\"invocation_id\":\"" UUID "\",\"data\":{}}", &r);
	assert_int_equal(r.action, PROTO_REPLY);
	json_object *o = body_json(&r);
	assert_str_field(o, "invocation_id", UUID);
	assert_false(has(o, "function_id"));
	json_object *e;
	assert_true(json_object_object_get_ex(o, "error", &e));
	assert_str_field(e, "code", "invalid_request");
	json_object_put(o);
	proto_result_free(&r);

	assert_drop("{\"type\":\"invokefunction\",\"data\":{}}", "without a function_id");
}

static void test_invoke_enqueue_mapped(void **state)
{
	struct proto_result r;
	(void)state;

	norm("{\"type\":\"invokefunction\",\"invocation_id\":\"" UUID "\","
	     "\"function_id\":\"enqueue\",\"data\":{\"topic\":\"t\"}}", &r);
	assert_int_equal(r.action, PROTO_FORWARD);
	json_object *o = body_json(&r);
	assert_str_field(o, "function_id", "iii::durable::publish");
	json_object_put(o);
	proto_result_free(&r);
}

static void test_invoke_enqueue_action(void **state)
{
	struct proto_result r;
	(void)state;

	norm("{\"type\":\"invokefunction\",\"invocation_id\":\"" UUID "\","
	     "\"function_id\":\"f\",\"data\":{},\"action\":{\"type\":\"enqueue\",\"queue\":\"q\"}}",
	     &r);
	assert_int_equal(r.action, PROTO_FORWARD);
	assert_int_equal(r.wants_reply, 1);
	json_object *o = body_json(&r);
	json_object *a;
	assert_true(json_object_object_get_ex(o, "action", &a));
	assert_str_field(a, "type", "enqueue");
	assert_str_field(a, "queue", "q");
	json_object_put(o);
	proto_result_free(&r);

	norm("{\"type\":\"invokefunction\",\"invocation_id\":\"" UUID "\","
	     "\"function_id\":\"f\",\"data\":{},\"action\":{\"type\":\"enqueue\"}}", &r);
	assert_int_equal(r.action, PROTO_REPLY);
	o = body_json(&r);
	assert_str_field(o, "invocation_id", UUID);
	json_object *e;
	assert_true(json_object_object_get_ex(o, "error", &e));
	assert_str_field(e, "code", "enqueue_error");
	json_object_put(o);
	proto_result_free(&r);

	assert_drop("{\"type\":\"invokefunction\",\"function_id\":\"f\",\"data\":{},"
		    "\"action\":{\"type\":\"enqueue\"}}", "without a queue");
}

static void test_invoke_unknown_action(void **state)
{
	static const char *const actions[] = {
		"{\"type\":\"later\"}", "\"void\"", "{}", "[]",
	};
	(void)state;

	for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
		char buf[256];
		struct proto_result r;
		snprintf(buf, sizeof buf, "{\"type\":\"invokefunction\",\"invocation_id\":\"" UUID
			 "\",\"function_id\":\"f\",\"data\":{},\"action\":%s}", actions[i]);
		norm(buf, &r);
		assert_int_equal(r.action, PROTO_REPLY);
		json_object *o = body_json(&r);
		assert_str_field(o, "type", "invocationresult");
		assert_str_field(o, "invocation_id", UUID);
		json_object *e;
		assert_true(json_object_object_get_ex(o, "error", &e));
		assert_str_field(e, "code", "invalid_request");
		json_object_put(o);
		proto_result_free(&r);
	}
	assert_drop("{\"type\":\"invokefunction\",\"function_id\":\"f\",\"data\":{},"
		    "\"action\":{\"type\":\"later\"}}", "unknown action");
}

static void test_invoke_action_null_ignored(void **state)
{
	struct proto_result r;
	(void)state;

	norm("{\"type\":\"invokefunction\",\"invocation_id\":\"" UUID "\","
	     "\"function_id\":\"f\",\"data\":{},\"action\":null}", &r);
	assert_int_equal(r.action, PROTO_FORWARD);
	assert_int_equal(r.wants_reply, 1);
	proto_result_free(&r);
}

static void test_invoke_announce(void **state)
{
	struct proto_result r;
	(void)state;

	norm("{\"type\":\"invokefunction\",\"function_id\":\"engine::workers::register\","
	     "\"data\":{\"runtime\":\"node\"},\"action\":{\"type\":\"void\"}}", &r);
	assert_int_equal(r.action, PROTO_FORWARD);
	assert_int_equal(r.is_announce, 1);
	assert_int_equal(r.wants_reply, 0);
	proto_result_free(&r);

	norm("{\"type\":\"invokefunction\",\"function_id\":\"engine::workers::list\",\"data\":{}}",
	     &r);
	assert_int_equal(r.action, PROTO_FORWARD);
	assert_int_equal(r.is_announce, 0);
	proto_result_free(&r);
}

/* ---------- results ---------- */

static void test_invocationresult_verbatim(void **state)
{
	struct proto_result r;
	/* odd spacing, key order and escapes must survive untouched */
	const char *in = "{ \"type\" : \"invocationresult\", \"result\":{\"z\":1,\"a\":\"\\/x\\u00e9\"},"
			 "\"invocation_id\":\"" UUID "\",\"function_id\":\"f\",\"extra\":[1.50] }";
	(void)state;

	norm(in, &r);
	assert_int_equal(r.action, PROTO_FORWARD);
	assert_int_equal(r.msg, PM_RESULT);
	assert_string_equal(r.key, UUID);
	assert_int_equal(r.body_len, strlen(in));
	assert_memory_equal(r.body, in, strlen(in));
	assert_int_equal(r.body[r.body_len], '\0');
	proto_result_free(&r);

	const char *err = "{\"type\":\"invocationresult\",\"invocation_id\":\"" UUID "\","
			  "\"error\":{\"code\":\"invocation_failed\",\"message\":\"boom\"}}";
	norm(err, &r);
	assert_int_equal(r.action, PROTO_FORWARD);
	assert_string_equal(r.body, err);
	proto_result_free(&r);

	const char *null_err = "{\"type\":\"invocationresult\",\"invocation_id\":\"" UUID "\","
			       "\"error\":null,\"result\":1}";
	norm(null_err, &r);
	assert_int_equal(r.action, PROTO_FORWARD);
	assert_string_equal(r.body, null_err);
	proto_result_free(&r);
}

static void test_invocationresult_bad(void **state)
{
	(void)state;
	assert_drop("{\"type\":\"invocationresult\",\"invocation_id\":\"nope\",\"result\":1}",
		    "UUID");
	assert_drop("{\"type\":\"invocationresult\",\"result\":1}", "UUID");
	assert_drop("{\"type\":\"invocationresult\",\"invocation_id\":\"" UUID "\","
		    "\"error\":\"boom\"}", "error must be an object");
	assert_drop("{\"type\":\"invocationresult\",\"invocation_id\":\"" UUID "\","
		    "\"error\":[1]}", "error must be an object");
}

static void test_triggerregistrationresult(void **state)
{
	struct proto_result r;
	(void)state;

	norm("{\"type\":\"triggerregistrationresult\",\"id\":\"" UUID "\",\"function_id\":\"f\","
	     "\"trigger_type\":\"cron\",\"error\":{\"code\":\"trigger_registration_failed\","
	     "\"message\":\"bad cron\"},\"junk\":1}", &r);
	assert_int_equal(r.action, PROTO_FORWARD);
	assert_int_equal(r.msg, PM_TRIGRESULT);
	assert_string_equal(r.key, UUID);
	json_object *o = body_json(&r);
	assert_str_field(o, "type", "triggerregistrationresult");
	assert_str_field(o, "id", UUID);
	assert_str_field(o, "function_id", "f");
	assert_str_field(o, "trigger_type", "cron");
	json_object *e;
	assert_true(json_object_object_get_ex(o, "error", &e));
	assert_str_field(e, "code", "trigger_registration_failed");
	assert_false(has(o, "junk"));
	json_object_put(o);
	proto_result_free(&r);

	assert_drop("{\"type\":\"triggerregistrationresult\",\"function_id\":\"f\"}",
		    "without an id");
}

static void test_reattach(void **state)
{
	struct proto_result r;
	(void)state;

	norm("{\"type\":\"reattach\",\"previous_worker_id\":\"" UUID "\","
	     "\"reattach_token\":\"tok-1\",\"x\":1}", &r);
	assert_int_equal(r.action, PROTO_FORWARD);
	assert_int_equal(r.msg, PM_REATTACH);
	json_object *o = body_json(&r);
	assert_str_field(o, "type", "reattach");
	assert_str_field(o, "previous_worker_id", UUID);
	assert_str_field(o, "reattach_token", "tok-1");
	assert_int_equal(json_object_object_length(o), 3);
	json_object_put(o);
	proto_result_free(&r);

	assert_drop("{\"type\":\"reattach\",\"previous_worker_id\":\"" UUID "\"}",
		    "reattach needs");
	assert_drop("{\"type\":\"reattach\",\"reattach_token\":\"t\"}", "reattach needs");
	assert_drop("{\"type\":\"reattach\",\"previous_worker_id\":\"" UUID "\","
		    "\"reattach_token\":\"\"}", "reattach needs");
}

/* ---------- proto_error_result ---------- */

static void test_error_result(void **state)
{
	size_t len = 0;
	char *s;
	(void)state;

	s = proto_error_result(UUID, "math::add", "function_not_found", "no \"such\" fn", &len);
	assert_non_null(s);
	assert_int_equal(len, strlen(s));
	json_object *o = json_tokener_parse(s);
	assert_non_null(o);
	assert_int_equal(json_object_object_length(o), 4);
	assert_str_field(o, "type", "invocationresult");
	assert_str_field(o, "invocation_id", UUID);
	assert_str_field(o, "function_id", "math::add");
	json_object *e;
	assert_true(json_object_object_get_ex(o, "error", &e));
	assert_int_equal(json_object_object_length(e), 2);
	assert_str_field(e, "code", "function_not_found");
	assert_str_field(e, "message", "no \"such\" fn");
	json_object_put(o);
	/* plain output, no slash escaping */
	free(s);

	s = proto_error_result(UUID, NULL, "invocation_stopped", "a/b", &len);
	assert_non_null(s);
	assert_string_equal(s, "{\"type\":\"invocationresult\",\"invocation_id\":\"" UUID "\","
			    "\"error\":{\"code\":\"invocation_stopped\",\"message\":\"a/b\"}}");
	assert_int_equal(len, strlen(s));
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_and_whitespace),
		cmocka_unit_test(test_invalid_json),
		cmocka_unit_test(test_trailing_garbage),
		cmocka_unit_test(test_surrounding_whitespace_ok),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_not_object_or_no_type),
		cmocka_unit_test(test_ping_pong),
		cmocka_unit_test(test_known_ignored_types),
		cmocka_unit_test(test_unknown_type),
		cmocka_unit_test(test_registerfunction),
		cmocka_unit_test(test_registerfunction_minimal_and_invocation),
		cmocka_unit_test(test_registerfunction_bad_id),
		cmocka_unit_test(test_unregisterfunction),
		cmocka_unit_test(test_registertriggertype),
		cmocka_unit_test(test_registertrigger_queue_mapped),
		cmocka_unit_test(test_registertrigger_default_config),
		cmocka_unit_test(test_registertrigger_missing_fields),
		cmocka_unit_test(test_unregistertrigger),
		cmocka_unit_test(test_invoke_with_id),
		cmocka_unit_test(test_invoke_uppercase_uuid),
		cmocka_unit_test(test_invoke_without_id),
		cmocka_unit_test(test_invoke_void_action),
		cmocka_unit_test(test_invoke_missing_data_replies),
		cmocka_unit_test(test_invoke_data_null_is_value),
		cmocka_unit_test(test_invoke_bad_invocation_id),
		cmocka_unit_test(test_invoke_missing_function_id),
		cmocka_unit_test(test_invoke_enqueue_mapped),
		cmocka_unit_test(test_invoke_enqueue_action),
		cmocka_unit_test(test_invoke_unknown_action),
		cmocka_unit_test(test_invoke_action_null_ignored),
		cmocka_unit_test(test_invoke_announce),
		cmocka_unit_test(test_invocationresult_verbatim),
		cmocka_unit_test(test_invocationresult_bad),
		cmocka_unit_test(test_triggerregistrationresult),
		cmocka_unit_test(test_reattach),
		cmocka_unit_test(test_error_result),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
