/*
 * Tests for worker authentication without I/O (shared/wauth.c): the bearer
 * token from the Authorization header or ?token=, the auth function's
 * request, and the allowed/forbidden check order of §10.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "wauth.h"
#include "ws_handshake.h"

static const char *HS =
	"GET /%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n";

static void parse(struct ws_hs_request *req, const char *target, const char *extra)
{
	char buf[1024];
	int n = snprintf(buf, sizeof buf, HS, target, extra);

	assert_int_equal(ws_hs_parse(buf, (size_t)n, sizeof buf, req), WS_HS_OK);
}

static void test_mode(void **state)
{
	(void)state;
	assert_int_equal(wauth_mode_parse("none"), WAUTH_NONE);
	assert_int_equal(wauth_mode_parse("token"), WAUTH_TOKEN);
	assert_int_equal(wauth_mode_parse("function"), WAUTH_FUNCTION);
	assert_int_equal(wauth_mode_parse("Token"), -1);
}

static void test_token(void **state)
{
	struct ws_hs_request req;

	(void)state;
	parse(&req, "?a=1&token=s%2B3", "");
	assert_true(wauth_token_ok(&req, "s+3"));
	assert_false(wauth_token_ok(&req, "s+"));	/* a prefix is not the token */
	assert_false(wauth_token_ok(&req, "s+33"));
	assert_false(wauth_token_ok(&req, ""));		/* an empty secret admits nobody */
	ws_hs_request_free(&req);

	/* the header wins over the query */
	parse(&req, "?token=q", "Authorization: bearer  h1\r\n");
	assert_true(wauth_token_ok(&req, "h1"));
	assert_false(wauth_token_ok(&req, "q"));
	ws_hs_request_free(&req);

	parse(&req, "", "Authorization: Basic aDE=\r\n");
	assert_false(wauth_token_ok(&req, "aDE="));
	ws_hs_request_free(&req);
	parse(&req, "?tokens=x&token", "");
	assert_false(wauth_token_ok(&req, "x"));
	ws_hs_request_free(&req);
}

static void test_request(void **state)
{
	struct ws_hs_request req;
	json_object *o;

	(void)state;
	parse(&req, "?x=1&x=a%20b&y", "X-App: demo\r\n");
	o = wauth_request(&req, "10.0.0.1");
	assert_string_equal(json_object_to_json_string_ext(json_object_object_get(o, "query_params"),
							   JSON_C_TO_STRING_PLAIN),
			    "{\"x\":[\"1\",\"a b\"],\"y\":[\"\"]}");
	assert_string_equal(json_object_get_string(json_object_object_get(
				    json_object_object_get(o, "headers"), "x-app")), "demo");
	assert_string_equal(json_object_get_string(json_object_object_get(o, "ip_address")), "10.0.0.1");
	json_object_put(o);
	ws_hs_request_free(&req);
}

static void test_check(void **state)
{
	json_object *res = json_tokener_parse(
		"{\"allowed_functions\":[\"api::*\",\"one\",7],\"forbidden_functions\":[\"api::admin\"],\"context\":{}}");
	json_object *acl = wauth_acl(res);
	char msg[256];

	(void)state;
	assert_non_null(acl);
	assert_true(wauth_check(NULL, "anything", msg, sizeof msg));
	assert_true(wauth_check(acl, "api::get", msg, sizeof msg));
	assert_true(wauth_check(acl, "one", msg, sizeof msg));
	assert_false(wauth_check(acl, "onex", msg, sizeof msg));
	assert_string_equal(msg, "function 'onex' not allowed (add to rbac.expose_functions)");
	/* forbidden wins over allowed */
	assert_false(wauth_check(acl, "api::admin", msg, sizeof msg));
	assert_string_equal(msg, "function 'api::admin' not allowed (remove from rbac.forbidden_functions)");
	/* the infrastructure carve-out */
	assert_true(wauth_check(acl, "engine::log::info", msg, sizeof msg));
	assert_true(wauth_check(acl, "engine::channels::create", msg, sizeof msg));
	assert_false(wauth_check(acl, "engine::functions::list", msg, sizeof msg));
	json_object_put(acl);
	json_object_put(res);
	/* a result that is not an object refuses */
	res = json_tokener_parse("true");
	assert_null(wauth_acl(res));
	json_object_put(res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mode),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
