/*
 * Tests for the HTTP trigger's request/response mapping (shared/http_map.c):
 * the request object a function gets (§4.2 plus raw_body), the response
 * mapping with its content-type rules (§4.3), and the error envelope (§4.4).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "http_map.h"

#define JF (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static const char *js(json_object *o)
{
	return json_object_to_json_string_ext(o, JF);
}

static json_object *field(json_object *o, const char *k)
{
	json_object *v = NULL;
	assert_true(json_object_object_get_ex(o, k, &v));
	return v;
}

static json_object *req(const char *ctype, const char *body, size_t body_len, const char *query)
{
	struct http_param params[1] = { { "id", 2, "4%202", 5 } };
	struct http_kv hdrs[3] = {
		{ "X-Custom", 8, "one", 3 },
		{ "x-custom", 8, "two", 3 },
		{ "Content-Type", 12, ctype, strlen(ctype) },
	};
	struct http_req_in in = {
		.method = "POST", .tmpl = "/users/:id", .params = params, .nparams = 1,
		.query = query, .query_len = query ? strlen(query) : 0,
		.headers = hdrs, .nheaders = 3, .body = body, .body_len = body_len,
		.max_depth = 8,
	};
	return http_map_request(&in);
}

static void test_request_object(void **state)
{
	json_object *o = req("application/json; charset=utf-8", "{\"a\":[1,2]}", 11,
			     "page=2&q=a+b%21&page=3&flag&%ZZ=x");
	(void)state;

	assert_string_equal(js(field(o, "query_params")),
			    "{\"page\":\"3\",\"q\":\"a b!\",\"flag\":\"\",\"%ZZ\":\"x\"}");
	assert_string_equal(js(field(o, "path_params")), "{\"id\":\"4%202\"}");
	assert_string_equal(js(field(o, "headers")),
			    "{\"x-custom\":\"two\",\"content-type\":\"application/json; charset=utf-8\"}");
	assert_string_equal(json_object_get_string(field(o, "path")), "/users/:id");
	assert_string_equal(json_object_get_string(field(o, "method")), "POST");
	assert_string_equal(js(field(o, "body")), "{\"a\":[1,2]}");
	assert_string_equal(js(field(o, "trigger")),
			    "{\"type\":\"http\",\"path\":\"/users/:id\",\"method\":\"POST\"}");
	assert_string_equal(json_object_get_string(field(o, "raw_body")), "{\"a\":[1,2]}");
	json_object_put(o);
}

static void test_request_body_rules(void **state)
{
	json_object *o;
	(void)state;

	/* not JSON content: body null, raw text kept */
	o = req("text/plain", "hello", 5, NULL);
	assert_null(field(o, "body"));
	assert_string_equal(json_object_get_string(field(o, "raw_body")), "hello");
	assert_string_equal(js(field(o, "query_params")), "{}");
	json_object_put(o);
	/* malformed, trailing bytes, too deep, empty: null (never an error) */
	o = req("application/json", "{\"a\":", 5, NULL);
	assert_null(field(o, "body"));
	json_object_put(o);
	o = req("application/json", "{} x", 4, NULL);
	assert_null(field(o, "body"));
	json_object_put(o);
	o = req("application/json", "[[[[[[[[[[1]]]]]]]]]]", 21, NULL);
	assert_null(field(o, "body"));
	json_object_put(o);
	o = req("application/json", "", 0, NULL);
	assert_null(field(o, "body"));
	assert_string_equal(json_object_get_string(field(o, "raw_body")), "");
	json_object_put(o);
	/* bare values and trailing white space are fine */
	o = req("application/json", "42 \n", 4, NULL);
	assert_int_equal(json_object_get_int(field(o, "body")), 42);
	json_object_put(o);
	/* bytes that are not UTF-8 come as base64 */
	o = req("application/octet-stream", "\xff\x00\x01", 3, NULL);
	assert_false(json_object_object_get_ex(o, "raw_body", NULL));
	assert_string_equal(json_object_get_string(field(o, "raw_body_base64")), "/wAB");
	json_object_put(o);
	/* a query value that decodes to bad UTF-8 becomes U+FFFD */
	o = req("text/plain", "", 0, "k=%FF");
	assert_string_equal(json_object_get_string(field(field(o, "query_params"), "k")), "\xef\xbf\xbd");
	json_object_put(o);
}

static void test_request_header_not_utf8(void **state)
{
	struct http_kv h = { "X-Bin", 5, "\xc3\x28", 2 };
	struct http_req_in in = { .method = "GET", .tmpl = "/", .headers = &h, .nheaders = 1,
				  .body = "", .max_depth = 8 };
	json_object *o = http_map_request(&in);
	(void)state;
	assert_string_equal(js(field(o, "headers")), "{\"x-bin\":\"\"}");
	json_object_put(o);
}

static const char *hdr(const struct http_resp *r, const char *name)
{
	for (size_t i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].val;
	return NULL;
}

static void resp(const char *result_json, struct http_resp *r)
{
	json_object *o = result_json ? json_tokener_parse(result_json) : NULL;
	assert_int_equal(http_map_response(o, r), 0);
	json_object_put(o);
}

static void body_is(const struct http_resp *r, const char *b)
{
	assert_int_equal(r->body_len, strlen(b));
	if (r->body_len)
		assert_memory_equal(r->body, b, r->body_len);
}

static void test_response_mapping(void **state)
{
	struct http_resp r;
	(void)state;

	resp("{\"status_code\":201,\"headers\":{\"Location\":\"/u/1\",\"X-N\":5},\"body\":{\"id\":1}}", &r);
	assert_int_equal(r.status, 201);
	assert_string_equal(hdr(&r, "Location"), "/u/1");
	assert_null(hdr(&r, "X-N"));	/* non-string values are skipped */
	assert_string_equal(hdr(&r, "content-type"), "application/json");
	body_is(&r, "{\"id\":1}");
	http_resp_free(&r);

	/* null result, or no body: 200 {} */
	resp(NULL, &r);
	assert_int_equal(r.status, 200);
	body_is(&r, "{}");
	http_resp_free(&r);
	resp("{\"status_code\":204}", &r);
	assert_int_equal(r.status, 204);
	body_is(&r, "{}");
	http_resp_free(&r);

	/* invalid status: 200 */
	resp("{\"status_code\":\"x\",\"body\":1}", &r);
	assert_int_equal(r.status, 200);
	body_is(&r, "1");
	http_resp_free(&r);
	resp("{\"status_code\":42,\"body\":null}", &r);
	assert_int_equal(r.status, 200);
	body_is(&r, "null");
	http_resp_free(&r);
}

static void test_response_header_list_and_text(void **state)
{
	struct http_resp r;
	(void)state;

	/* list form, lines without ':' and invalid names/values skipped */
	resp("{\"headers\":[\"Content-Type: text/plain\",\"X-A:  b c \",\"nocolon\","
	     "\"Bad Name: x\",\"X-Evil: a\\r\\nb\"],\"body\":\"hi there\"}", &r);
	assert_int_equal(r.nheaders, 2);
	assert_string_equal(hdr(&r, "content-type"), "text/plain");
	assert_string_equal(hdr(&r, "x-a"), "b c");
	body_is(&r, "hi there");	/* user content type + string body: raw text */
	http_resp_free(&r);

	/* user content type and a null body: empty */
	resp("{\"headers\":{\"content-type\":\"text/plain\"},\"body\":null}", &r);
	body_is(&r, "");
	http_resp_free(&r);

	/* user non-JSON content type and an object body: JSON text, type kept */
	resp("{\"headers\":{\"Content-Type\":\"text/csv\"},\"body\":{\"a\":1}}", &r);
	assert_string_equal(hdr(&r, "content-type"), "text/csv");
	assert_int_equal(r.nheaders, 1);
	body_is(&r, "{\"a\":1}");
	http_resp_free(&r);

	/* no content type and a string body: a JSON string */
	resp("{\"body\":\"plain\"}", &r);
	assert_string_equal(hdr(&r, "content-type"), "application/json");
	body_is(&r, "\"plain\"");
	http_resp_free(&r);
}

static void test_error_envelope(void **state)
{
	size_t len;
	char *s;
	(void)state;

	s = http_map_error("NOT_FOUND", "Not Found", NULL, 0, &len);
	assert_string_equal(s, "{\"error\":{\"code\":\"NOT_FOUND\",\"message\":\"Not Found\"}}");
	assert_int_equal(len, strlen(s));
	free(s);
	s = http_map_error("CONDITION_NOT_MET", "Request condition not met", NULL, 1, &len);
	assert_string_equal(s, "{\"error\":{\"code\":\"CONDITION_NOT_MET\",\"message\":"
			    "\"Request condition not met\"},\"skipped\":true}");
	free(s);
	s = http_map_error("boom", "x", "00ff", 0, &len);
	assert_string_equal(s, "{\"error\":{\"code\":\"boom\",\"message\":\"x\",\"error_id\":\"00ff\"}}");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_object),
		cmocka_unit_test(test_request_body_rules),
		cmocka_unit_test(test_request_header_not_utf8),
		cmocka_unit_test(test_response_mapping),
		cmocka_unit_test(test_response_header_list_and_text),
		cmocka_unit_test(test_error_envelope),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
