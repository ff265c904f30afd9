/*
 * Tests for the WebSocket upgrade handshake (shared/ws_handshake.c) and the
 * SHA-1 it relies on (shared/sha1.c): request parsing, every refusal status,
 * and the exact bytes of our answers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha1.h"
#include "ws_handshake.h"

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="

static const char GOOD[] =
	"GET /otel HTTP/1.1\r\n"
	"Host: localhost:49134\r\n"
	"Upgrade: websocket\r\n"
	"Connection: Upgrade\r\n"
	"Sec-WebSocket-Key: " KEY "\r\n"
	"Sec-WebSocket-Version: 13\r\n"
	"\r\n";

static int parse(const char *s, struct ws_hs_request *req)
{
	return ws_hs_parse(s, strlen(s), 8192, req);
}

static void expect_status(const char *s, int status)
{
	struct ws_hs_request req;

	assert_int_equal(parse(s, &req), WS_HS_ERROR);
	assert_int_equal(req.err_status, status);
	assert_non_null(req.err_reason);
	assert_null(req.buf);
	ws_hs_request_free(&req);
}

static void hex(const uint8_t *d, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void check_sha1(const void *data, size_t len, const char *want)
{
	uint8_t d[20];
	char h[41];

	sha1(data, len, d);
	hex(d, 20, h);
	assert_string_equal(h, want);
}

/* FIPS 180 / RFC 3174 vectors, including the 55/56/64-byte padding edges. */
static void test_sha1_vectors(void **state)
{
	char *m = malloc(1000000);
	char buf[128];

	assert_non_null(m);
	check_sha1("", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	check_sha1("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d");
	check_sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
		   "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
	check_sha1("The quick brown fox jumps over the lazy dog", 43,
		   "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12");
	memset(buf, 'a', sizeof(buf));
	check_sha1(buf, 55, "c1c8bbdc22796e28c0e15163d20899b65621d65a");
	check_sha1(buf, 64, "0098ba824b5c16427bd7a1122a5a442a25ec644d");
	memset(m, 'a', 1000000);
	check_sha1(m, 1000000, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
	free(m);
}

/* RFC 6455 §1.3 example. */
static void test_accept_key_rfc(void **state)
{
	char out[29];

	ws_hs_accept_key(KEY, out);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	assert_int_equal(strlen(out), 28);
}

static void test_parse_ok(void **state)
{
	struct ws_hs_request req;
	char buf[512];
	size_t hl = strlen(GOOD);

	/* trailing bytes after the head are the first frames, not part of it */
	memcpy(buf, GOOD, hl);
	memcpy(buf + hl, "\x81\x85junk", 7);
	assert_int_equal(ws_hs_parse(buf, hl + 7, 8192, &req), WS_HS_OK);
	assert_int_equal(req.header_bytes, hl);
	assert_string_equal(req.method, "GET");
	assert_string_equal(req.path, "/otel");
	assert_string_equal(req.query, "");
	assert_string_equal(req.key, KEY);
	assert_int_equal(req.version, 13);
	assert_int_equal(req.offers_deflate, 0);
	assert_int_equal(req.nheaders, 5);
	assert_string_equal(req.headers[0].name, "host");
	assert_string_equal(req.headers[0].value, "localhost:49134");
	assert_string_equal(req.headers[3].name, "sec-websocket-key");
	assert_string_equal(ws_hs_header(&req, "Sec-WebSocket-Version"), "13");
	assert_string_equal(ws_hs_header(&req, "HOST"), "localhost:49134");
	assert_null(ws_hs_header(&req, "origin"));
	ws_hs_request_free(&req);
	assert_null(req.buf);
	/* free is safe twice */
	ws_hs_request_free(&req);
}

/* Case, whitespace and token-list tolerance the RFC allows. */
static void test_parse_lenient_values(void **state)
{
	struct ws_hs_request req;
	const char *s =
		"GET /ws/a%20b?token=abc&x=1 HTTP/1.1\r\n"
		"hOsT:example.com\r\n"
		"UPGRADE:   WebSocket  \r\n"
		"Connection: keep-alive\r\n"
		"connection: keep-alive, Upgrade\r\n"
		"Sec-WebSocket-Key:\t" KEY "\t\r\n"
		"Sec-WebSocket-Version: 13\r\n"
		"X-Empty:\r\n"
		"\r\n";

	assert_int_equal(parse(s, &req), WS_HS_OK);
	assert_string_equal(req.path, "/ws/a%20b");
	assert_string_equal(req.query, "token=abc&x=1");
	assert_string_equal(ws_hs_header(&req, "upgrade"), "WebSocket");
	assert_string_equal(req.headers[0].name, "host");
	assert_string_equal(req.headers[0].value, "example.com");
	assert_string_equal(req.key, KEY);
	assert_string_equal(ws_hs_header(&req, "x-empty"), "");
	ws_hs_request_free(&req);

	assert_int_equal(parse("GET /?a=b?c HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
			       "Connection: UPGRADE\r\nSec-WebSocket-Key: " KEY "\r\n"
			       "Sec-WebSocket-Version: 13\r\n\r\n", &req), WS_HS_OK);
	assert_string_equal(req.path, "/");
	assert_string_equal(req.query, "a=b?c");
	ws_hs_request_free(&req);
}

static void test_deflate_offered(void **state)
{
	struct ws_hs_request req;
	char s[1024];

	snprintf(s, sizeof(s), "%.*sSec-WebSocket-Extensions: permessage-deflate; "
		 "client_max_window_bits\r\n\r\n", (int)strlen(GOOD) - 2, GOOD);
	assert_int_equal(parse(s, &req), WS_HS_OK);
	assert_int_equal(req.offers_deflate, 1);
	ws_hs_request_free(&req);

	snprintf(s, sizeof(s), "%.*sSec-WebSocket-Extensions: x-foo\r\n"
		 "Sec-WebSocket-Extensions: x-bar, PerMessage-Deflate\r\n\r\n",
		 (int)strlen(GOOD) - 2, GOOD);
	assert_int_equal(parse(s, &req), WS_HS_OK);
	assert_int_equal(req.offers_deflate, 1);
	ws_hs_request_free(&req);

	snprintf(s, sizeof(s), "%.*sSec-WebSocket-Extensions: x-permessage-deflate-foo\r\n\r\n",
		 (int)strlen(GOOD) - 2, GOOD);
	assert_int_equal(parse(s, &req), WS_HS_OK);
	assert_int_equal(req.offers_deflate, 0);
	ws_hs_request_free(&req);
}

static void test_missing_key(void **state)
{
	expect_status("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
		      "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", 400);
}

static void test_bad_keys(void **state)
{
	static const char *keys[] = {
		"AAAAAAAAAAAAAAAAAAAA",			/* 15 bytes */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAA",		/* 21 bytes */
		"AAAAAAAAAAAAAAAAAAAAAA",		/* 16 bytes, no padding */
		"!!!!!!!!!!!!!!!!!!!!!!==",		/* not base64 */
		"AAAAAAAAAAAAAAAAAAAAAAA=",		/* 17 bytes */
		"",
	};
	size_t i;
	char s[512];

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(s, sizeof(s), "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
			 "Sec-WebSocket-Version: 13\r\n\r\n", keys[i]);
		expect_status(s, 400);
	}
	/* the same key twice is refused */
	expect_status("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
		      "Connection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n"
		      "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n", 400);
}

static void test_version_426(void **state)
{
	struct ws_hs_request req;
	char out[512];
	size_t n;

	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
			       "Connection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n"
			       "Sec-WebSocket-Version: 8\r\n\r\n", &req), WS_HS_ERROR);
	assert_int_equal(req.err_status, 426);
	assert_int_equal(req.version, 8);
	n = ws_hs_error_response(out, sizeof(out), req.err_status, req.err_reason);
	assert_true(n > 0);
	assert_int_equal(strlen(out), n);
	assert_memory_equal(out, "HTTP/1.1 426 Upgrade Required\r\n", 31);
	assert_non_null(strstr(out, "\r\nSec-WebSocket-Version: 13\r\n"));
	ws_hs_request_free(&req);

	expect_status("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
		      "Connection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n\r\n", 426);
	expect_status("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
		      "Connection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n"
		      "Sec-WebSocket-Version: 13x\r\n\r\n", 426);
}

static void test_method_405(void **state)
{
	expect_status("POST /otel HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
		      "Connection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n"
		      "Sec-WebSocket-Version: 13\r\n\r\n", 405);
	expect_status("get / HTTP/1.1\r\n\r\n", 405);
}

static void test_request_line_400(void **state)
{
	/* otherwise valid upgrade requests, so only the version can be at fault */
	expect_status("GET / HTTP/1.0\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		      "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n", 400);
	expect_status("GET / HTTP/2.0\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		      "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n", 400);
	expect_status("GET /  HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	expect_status("GET /\r\nHost: h\r\n\r\n", 400);
	expect_status("GET otel HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	expect_status("\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1 extra\r\n\r\n", 400);
}

static void test_missing_headers_400(void **state)
{
	/* no Host */
	expect_status("GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		      "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n", 400);
	/* no Upgrade / wrong Upgrade */
	expect_status("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n"
		      "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
		      "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n", 400);
	/* Connection without the upgrade token ("upgraded" is not "upgrade") */
	expect_status("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
		      "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgraded\r\n"
		      "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n", 400);
}

static void test_malformed_header_lines(void **state)
{
	/* obs-fold, space before colon, no colon, empty name */
	expect_status("GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nHost h\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\n: h\r\n\r\n", 400);
	/* bare CR or bare LF inside the head */
	expect_status("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		      "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n"
		      "X-A: a\rb\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		      "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n"
		      "X-A: a\nb\r\n\r\n", 400);
}

static void test_nul_byte_400(void **state)
{
	static const char s[] = "GET / HTTP/1.1\r\nHost: h\0evil\r\n\r\n";
	struct ws_hs_request req;

	assert_int_equal(ws_hs_parse(s, sizeof(s) - 1, 8192, &req), WS_HS_ERROR);
	assert_int_equal(req.err_status, 400);
}

/* Every strict prefix of a good request is AGAIN and allocates nothing. */
static void test_partial_again(void **state)
{
	size_t n = strlen(GOOD), i;
	struct ws_hs_request req;

	for (i = 0; i < n; i++) {
		assert_int_equal(ws_hs_parse(GOOD, i, 8192, &req), WS_HS_AGAIN);
		assert_null(req.buf);
	}
	assert_int_equal(ws_hs_parse(GOOD, n, 8192, &req), WS_HS_OK);
	ws_hs_request_free(&req);
}

static void test_oversize_431(void **state)
{
	struct ws_hs_request req;
	size_t n = strlen(GOOD);

	/* no blank line within max_bytes */
	assert_int_equal(ws_hs_parse(GOOD, 40, 40, &req), WS_HS_ERROR);
	assert_int_equal(req.err_status, 431);
	assert_null(req.buf);
	/* blank line present but beyond max_bytes */
	assert_int_equal(ws_hs_parse(GOOD, n, n - 1, &req), WS_HS_ERROR);
	assert_int_equal(req.err_status, 431);
	/* exactly max_bytes is fine */
	assert_int_equal(ws_hs_parse(GOOD, n, n, &req), WS_HS_OK);
	ws_hs_request_free(&req);
	/* under max_bytes and incomplete is still AGAIN */
	assert_int_equal(ws_hs_parse(GOOD, 40, 41, &req), WS_HS_AGAIN);
}

static void test_too_many_headers_431(void **state)
{
	char *s = malloc(8192);
	size_t n = 0, i;
	struct ws_hs_request req;

	assert_non_null(s);
	n += (size_t)sprintf(s + n, "%.*s", (int)strlen(GOOD) - 2, GOOD);
	for (i = 5; i < WS_HS_MAX_HEADERS; i++)
		n += (size_t)sprintf(s + n, "X-H%zu: v\r\n", i);
	sprintf(s + n, "\r\n");
	/* exactly WS_HS_MAX_HEADERS is accepted */
	assert_int_equal(ws_hs_parse(s, strlen(s), 8192, &req), WS_HS_OK);
	assert_int_equal(req.nheaders, WS_HS_MAX_HEADERS);
	ws_hs_request_free(&req);
	sprintf(s + n, "X-One-More: v\r\n\r\n");
	assert_int_equal(ws_hs_parse(s, strlen(s), 8192, &req), WS_HS_ERROR);
	assert_int_equal(req.err_status, 431);
	assert_null(req.buf);
	free(s);
}

static void test_response_bytes(void **state)
{
	static const char want[] =
		"HTTP/1.1 101 Switching Protocols\r\n"
		"Upgrade: websocket\r\n"
		"Connection: Upgrade\r\n"
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
		"\r\n";
	char out[256];

	assert_int_equal(ws_hs_response(out, sizeof(out), KEY), strlen(want));
	assert_string_equal(out, want);
	assert_null(strstr(out, "Extensions"));
	assert_int_equal(ws_hs_response(out, strlen(want), KEY), 0);
	assert_int_equal(ws_hs_response(out, strlen(want) + 1, KEY), strlen(want));
}

static void test_error_response_bytes(void **state)
{
	static const char want[] =
		"HTTP/1.1 400 Bad Request\r\n"
		"Content-Type: text/plain\r\n"
		"Content-Length: 20\r\n"
		"Connection: close\r\n"
		"\r\n"
		"missing Host header\n";
	char out[512];
	char *p;

	assert_int_equal(ws_hs_error_response(out, sizeof(out), 400, "missing Host header"),
			 strlen(want));
	assert_string_equal(out, want);
	assert_int_equal(ws_hs_error_response(out, 10, 400, "missing Host header"), 0);

	assert_true(ws_hs_error_response(out, sizeof(out), 431, "request header too large") > 0);
	assert_memory_equal(out, "HTTP/1.1 431 Request Header Fields Too Large\r\n", 46);
	assert_null(strstr(out, "Sec-WebSocket-Version"));
	p = strstr(out, "\r\n\r\n");
	assert_non_null(p);
	assert_string_equal(p + 4, "request header too large\n");

	assert_true(ws_hs_error_response(out, sizeof(out), 405, "only GET") > 0);
	assert_memory_equal(out, "HTTP/1.1 405 Method Not Allowed\r\n", 33);
	assert_non_null(strstr(out, "\r\nAllow: GET\r\n"));
}

/* Zeroed struct: free is a no-op. */
static void test_free_zeroed(void **state)
{
	struct ws_hs_request req;

	memset(&req, 0, sizeof(req));
	ws_hs_request_free(&req);
	ws_hs_request_free(&req);
	assert_null(req.buf);
}

/* Pseudo-random bytes around a terminator: never crash, never leak (ASan). */
static void test_garbage_never_crashes(void **state)
{
	uint32_t x = 2463534242u;
	char buf[300];
	int round;
	size_t i;

	for (round = 0; round < 20000; round++) {
		struct ws_hs_request req;
		size_t n = 1 + (size_t)(round % 280);
		int rc;

		for (i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			/* bias towards the bytes the parser cares about */
			buf[i] = "GET / HTTP/1.1\r\n:? \tUpgrade\x00\xff"[x % 29];
		}
		if (round & 1)
			memcpy(buf + n, "\r\n\r\n", 4), n += 4;
		rc = ws_hs_parse(buf, n, 256, &req);
		assert_true(rc == WS_HS_OK || rc == WS_HS_AGAIN || rc == WS_HS_ERROR);
		if (rc == WS_HS_ERROR)
			assert_true(req.err_status >= 400 && req.err_status <= 500);
		ws_hs_request_free(&req);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha1_vectors),
		cmocka_unit_test(test_accept_key_rfc),
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_lenient_values),
		cmocka_unit_test(test_deflate_offered),
		cmocka_unit_test(test_missing_key),
		cmocka_unit_test(test_bad_keys),
		cmocka_unit_test(test_version_426),
		cmocka_unit_test(test_method_405),
		cmocka_unit_test(test_request_line_400),
		cmocka_unit_test(test_missing_headers_400),
		cmocka_unit_test(test_malformed_header_lines),
		cmocka_unit_test(test_nul_byte_400),
		cmocka_unit_test(test_partial_again),
		cmocka_unit_test(test_oversize_431),
		cmocka_unit_test(test_too_many_headers_431),
		cmocka_unit_test(test_response_bytes),
		cmocka_unit_test(test_error_response_bytes),
		cmocka_unit_test(test_free_zeroed),
		cmocka_unit_test(test_garbage_never_crashes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
