/*
 * Tests for the HTTP trigger route table (shared/http_route.c): literal
 * segments beat parameters, :name and {name}, trailing slashes, 405 with
 * the methods a path has, replacement of the same method + path, rejected
 * conflicting parameter names, removal, and 1,000 routes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "http_route.h"

static int A, B, C, D;

static int match(struct http_routes *rt, int m, const char *path, struct http_match *hm)
{
	return http_routes_match(rt, m, path, strlen(path), hm);
}

static void add_ok(struct http_routes *rt, int m, const char *t, void *v)
{
	char err[256];
	void *old;
	assert_int_equal(http_routes_add(rt, m, t, v, &old, err, sizeof err), 0);
}

static void param_is(const struct http_match *hm, size_t i, const char *name, const char *val)
{
	assert_true(i < hm->nparams);
	assert_int_equal(hm->params[i].name_len, strlen(name));
	assert_memory_equal(hm->params[i].name, name, strlen(name));
	assert_int_equal(hm->params[i].val_len, strlen(val));
	assert_memory_equal(hm->params[i].val, val, strlen(val));
}

static void test_methods(void **state)
{
	(void)state;
	assert_int_equal(http_method_parse("get"), HTTP_M_GET);
	assert_int_equal(http_method_parse("Patch"), HTTP_M_PATCH);
	assert_int_equal(http_method_parse("TRACE"), -1);
	assert_string_equal(http_method_name(HTTP_M_DELETE), "DELETE");
}

static void test_literal_beats_param(void **state)
{
	struct http_routes *rt = http_routes_new();
	struct http_match hm;
	(void)state;

	add_ok(rt, HTTP_M_GET, "/users/:id", &A);
	add_ok(rt, HTTP_M_GET, "/users/me", &B);
	assert_int_equal(match(rt, HTTP_M_GET, "/users/me", &hm), HTTP_ROUTE_FOUND);
	assert_ptr_equal(hm.value, &B);
	assert_int_equal(hm.nparams, 0);
	assert_int_equal(match(rt, HTTP_M_GET, "/users/42", &hm), HTTP_ROUTE_FOUND);
	assert_ptr_equal(hm.value, &A);
	assert_string_equal(hm.tmpl, "/users/:id");
	param_is(&hm, 0, "id", "42");
	/* raw, not percent-decoded */
	assert_int_equal(match(rt, HTTP_M_GET, "/users/a%20b", &hm), HTTP_ROUTE_FOUND);
	param_is(&hm, 0, "id", "a%20b");
	http_routes_free(&rt);
	assert_null(rt);
}

static void test_backtracking(void **state)
{
	struct http_routes *rt = http_routes_new();
	struct http_match hm;
	(void)state;

	/* the literal branch has no route for the rest: the parameter branch does */
	add_ok(rt, HTTP_M_GET, "/a/b/c", &A);
	add_ok(rt, HTTP_M_GET, "/a/:x/d", &B);
	assert_int_equal(match(rt, HTTP_M_GET, "/a/b/d", &hm), HTTP_ROUTE_FOUND);
	assert_ptr_equal(hm.value, &B);
	param_is(&hm, 0, "x", "b");
	assert_int_equal(match(rt, HTTP_M_GET, "/a/b/c", &hm), HTTP_ROUTE_FOUND);
	assert_ptr_equal(hm.value, &A);
	assert_int_equal(hm.nparams, 0);
	http_routes_free(&rt);
}

static void test_braces_and_no_leading_slash(void **state)
{
	struct http_routes *rt = http_routes_new();
	struct http_match hm;
	char out[64], err[128];
	(void)state;

	add_ok(rt, HTTP_M_POST, "orders/{order_id}/items/:item", &A);
	assert_int_equal(match(rt, HTTP_M_POST, "/orders/7/items/x1", &hm), HTTP_ROUTE_FOUND);
	assert_string_equal(hm.tmpl, "/orders/{order_id}/items/:item");
	assert_int_equal(hm.nparams, 2);
	param_is(&hm, 0, "order_id", "7");
	param_is(&hm, 1, "item", "x1");
	assert_int_equal(http_route_canon("a/b", out, sizeof out, err, sizeof err), 0);
	assert_string_equal(out, "/a/b");
	http_routes_free(&rt);
}

static void test_trailing_slash(void **state)
{
	struct http_routes *rt = http_routes_new();
	struct http_match hm;
	(void)state;

	add_ok(rt, HTTP_M_GET, "/a", &A);
	assert_int_equal(match(rt, HTTP_M_GET, "/a", &hm), HTTP_ROUTE_FOUND);
	assert_int_equal(match(rt, HTTP_M_GET, "/a/", &hm), HTTP_ROUTE_NO_PATH);
	add_ok(rt, HTTP_M_GET, "/a/", &B);
	assert_int_equal(match(rt, HTTP_M_GET, "/a/", &hm), HTTP_ROUTE_FOUND);
	assert_ptr_equal(hm.value, &B);
	add_ok(rt, HTTP_M_GET, "/", &C);
	assert_int_equal(match(rt, HTTP_M_GET, "/", &hm), HTTP_ROUTE_FOUND);
	assert_ptr_equal(hm.value, &C);
	/* a parameter never matches an empty segment */
	add_ok(rt, HTTP_M_GET, "/p/:x", &D);
	assert_int_equal(match(rt, HTTP_M_GET, "/p/", &hm), HTTP_ROUTE_NO_PATH);
	assert_int_equal(match(rt, HTTP_M_GET, "/p/1/", &hm), HTTP_ROUTE_NO_PATH);
	http_routes_free(&rt);
}

static void test_method_not_allowed(void **state)
{
	struct http_routes *rt = http_routes_new();
	struct http_match hm;
	(void)state;

	add_ok(rt, HTTP_M_GET, "/x", &A);
	add_ok(rt, HTTP_M_DELETE, "/x", &B);
	assert_int_equal(match(rt, HTTP_M_POST, "/x", &hm), HTTP_ROUTE_NO_METHOD);
	assert_int_equal(hm.allow, (1u << HTTP_M_GET) | (1u << HTTP_M_DELETE) | (1u << HTTP_M_HEAD));
	/* HEAD is served by the GET route */
	assert_int_equal(match(rt, HTTP_M_HEAD, "/x", &hm), HTTP_ROUTE_FOUND);
	assert_ptr_equal(hm.value, &A);
	assert_int_equal(match(rt, HTTP_M_DELETE, "/x", &hm), HTTP_ROUTE_FOUND);
	assert_ptr_equal(hm.value, &B);
	assert_int_equal(match(rt, HTTP_M_GET, "/y", &hm), HTTP_ROUTE_NO_PATH);
	http_routes_free(&rt);
}

static void test_replace_and_conflict(void **state)
{
	struct http_routes *rt = http_routes_new();
	struct http_match hm;
	char err[256];
	void *old;
	(void)state;

	add_ok(rt, HTTP_M_GET, "/a/:x", &A);
	assert_int_equal(http_routes_add(rt, HTTP_M_GET, "/a/:x", &B, &old, err, sizeof err), 1);
	assert_ptr_equal(old, &A);
	assert_int_equal(match(rt, HTTP_M_GET, "/a/1", &hm), HTTP_ROUTE_FOUND);
	assert_ptr_equal(hm.value, &B);
	assert_int_equal(http_routes_count(rt), 1);
	/* same shape, different parameter name: rejected, whatever the method */
	assert_int_equal(http_routes_add(rt, HTTP_M_POST, "/a/:y", &C, &old, err, sizeof err), -1);
	assert_string_equal(err, "Route 'POST /a/:y' conflicts with already-registered route "
			    "'GET /a/:x' (same path shape, different parameter names)");
	assert_int_equal(http_routes_add(rt, HTTP_M_GET, "/a/:y/z", &C, &old, err, sizeof err), -1);
	/* the rejected route left nothing behind */
	assert_int_equal(match(rt, HTTP_M_GET, "/a/1/z", &hm), HTTP_ROUTE_NO_PATH);
	/* the same name in {} spelling is the same route */
	assert_int_equal(http_routes_add(rt, HTTP_M_GET, "/a/{x}", &C, &old, err, sizeof err), 1);
	assert_ptr_equal(old, &B);
	http_routes_free(&rt);
}

static void test_bad_templates(void **state)
{
	struct http_routes *rt = http_routes_new();
	char err[256];
	void *old;
	(void)state;

	assert_int_equal(http_routes_add(rt, HTTP_M_GET, "", &A, &old, err, sizeof err), -1);
	assert_string_equal(err, "api_path is required");
	assert_int_equal(http_routes_add(rt, HTTP_M_GET, "/a//b", &A, &old, err, sizeof err), -1);
	assert_int_equal(http_routes_add(rt, HTTP_M_GET, "/a/:", &A, &old, err, sizeof err), -1);
	assert_int_equal(http_routes_add(rt, HTTP_M_GET, "/a/{}", &A, &old, err, sizeof err), -1);
	assert_int_equal(http_routes_add(rt, HTTP_M_GET, "/a?b=1", &A, &old, err, sizeof err), -1);
	assert_int_equal(http_routes_add(rt, HTTP_M_GET, "/a b", &A, &old, err, sizeof err), -1);
	assert_int_equal(http_routes_add(rt, HTTP_M_GET, "/x{y}z", &A, &old, err, sizeof err), -1);
	assert_int_equal(http_routes_count(rt), 0);
	http_routes_free(&rt);
}

static void test_remove(void **state)
{
	struct http_routes *rt = http_routes_new();
	struct http_match hm;
	(void)state;

	add_ok(rt, HTTP_M_GET, "/a/:x/b", &A);
	add_ok(rt, HTTP_M_GET, "/a/:x", &B);
	/* only the value that holds it may remove it */
	assert_int_equal(http_routes_remove(rt, HTTP_M_GET, "/a/:x/b", &B), -1);
	assert_int_equal(http_routes_remove(rt, HTTP_M_GET, "/a/:x/b", &A), 0);
	assert_int_equal(match(rt, HTTP_M_GET, "/a/1/b", &hm), HTTP_ROUTE_NO_PATH);
	assert_int_equal(match(rt, HTTP_M_GET, "/a/1", &hm), HTTP_ROUTE_FOUND);
	assert_int_equal(http_routes_remove(rt, HTTP_M_GET, "/a/:x", &B), 0);
	assert_int_equal(http_routes_count(rt), 0);
	/* the subtree is gone, so a new parameter name is fine now */
	add_ok(rt, HTTP_M_GET, "/a/:other", &C);
	http_routes_free(&rt);
}

static void test_thousand_routes(void **state)
{
	struct http_routes *rt = http_routes_new();
	static int vals[1000];
	struct http_match hm;
	char t[64];
	(void)state;

	for (int i = 999; i >= 0; i--) {
		snprintf(t, sizeof t, "/r/%d/:id", i);
		add_ok(rt, HTTP_M_GET, t, &vals[i]);
	}
	assert_int_equal(http_routes_count(rt), 1000);
	for (int i = 0; i < 1000; i++) {
		snprintf(t, sizeof t, "/r/%d/abc", i);
		assert_int_equal(match(rt, HTTP_M_GET, t, &hm), HTTP_ROUTE_FOUND);
		assert_ptr_equal(hm.value, &vals[i]);
		param_is(&hm, 0, "id", "abc");
	}
	assert_int_equal(match(rt, HTTP_M_GET, "/r/1000/abc", &hm), HTTP_ROUTE_NO_PATH);
	http_routes_free(&rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_literal_beats_param),
		cmocka_unit_test(test_backtracking),
		cmocka_unit_test(test_braces_and_no_leading_slash),
		cmocka_unit_test(test_trailing_slash),
		cmocka_unit_test(test_method_not_allowed),
		cmocka_unit_test(test_replace_and_conflict),
		cmocka_unit_test(test_bad_templates),
		cmocka_unit_test(test_remove),
		cmocka_unit_test(test_thousand_routes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
