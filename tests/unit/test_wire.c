/*
 * Tests for the internal ZeroMQ envelope (shared/wire.c). wire_parse() is
 * fed hand-built frame arrays, valid and broken one field at a time; then a
 * real inproc DEALER/ROUTER pair checks that wire_send() and wire_recv()
 * agree, and that a malformed multipart is consumed whole so the next
 * message on the socket still comes through.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "wire.h"

#define FR(s) { (s), sizeof(s) - 1 }

static const uint8_t HDR2[16] = {
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
};

/* ---------- wire_id / wire_put_id ---------- */

static void test_put_id_big_endian(void **state)
{
	uint8_t out[8];
	static const uint8_t want[8] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08 };
	(void)state;

	wire_put_id(out, 0x0102030405060708ULL);
	assert_memory_equal(out, want, 8);

	wire_put_id(out, 1);
	static const uint8_t one[8] = { 0, 0, 0, 0, 0, 0, 0, 1 };
	assert_memory_equal(out, one, 8);
}

static void test_put_id_round_trip(void **state)
{
	static const uint64_t vals[] = {
		0, 1, 255, 256, 0x00ff00ff00ff00ffULL, 0x8000000000000000ULL,
		UINT64_MAX - 1, UINT64_MAX,
	};
	uint8_t buf[8 * (sizeof vals / sizeof vals[0])];
	struct wire_msg m;
	size_t n = sizeof vals / sizeof vals[0];
	(void)state;

	memset(&m, 0, sizeof m);
	for (size_t i = 0; i < n; i++)
		wire_put_id(buf + 8 * i, vals[i]);
	m.ids_raw = buf;
	m.nids = n;
	for (size_t i = 0; i < n; i++)
		assert_true(wire_id(&m, i) == vals[i]);

	wire_put_id(buf, 0);
	static const uint8_t zero[8] = { 0 };
	assert_memory_equal(buf, zero, 8);
	wire_put_id(buf, UINT64_MAX);
	static const uint8_t ones[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	assert_memory_equal(buf, ones, 8);
}

/* ---------- wire_parse: valid ---------- */

static void test_parse_four_frames(void **state)
{
	struct wire_frame f[4] = {
		FR("T1"), FR("msg"), { HDR2, sizeof HDR2 }, FR("{\"a\":1}"),
	};
	struct wire_msg m;
	(void)state;

	memset(&m, 0, sizeof m);
	assert_int_equal(wire_parse(f, 4, &m), 0);
	assert_string_equal(m.kind, "msg");
	assert_int_equal(m.nids, 2);
	assert_true(wire_id(&m, 0) == 0x0102030405060708ULL);
	assert_true(wire_id(&m, 1) == 0xfffffffffffffffeULL);
	assert_int_equal(m.body_len, 7);
	assert_memory_equal(m.body, "{\"a\":1}", 7);
	assert_null(m.key);
	assert_int_equal(m.key_len, 0);
}

static void test_parse_five_frames_key(void **state)
{
	struct wire_frame f[5] = {
		FR("T1"), FR("result"), { HDR2, 8 }, FR("{}"), FR("inv-1"),
	};
	struct wire_msg m;
	(void)state;

	memset(&m, 0, sizeof m);
	assert_int_equal(wire_parse(f, 5, &m), 0);
	assert_string_equal(m.kind, "result");
	assert_int_equal(m.nids, 1);
	assert_true(wire_id(&m, 0) == 0x0102030405060708ULL);
	assert_int_equal(m.body_len, 2);
	assert_non_null(m.key);
	assert_int_equal(m.key_len, 5);
	assert_memory_equal(m.key, "inv-1", 5);
}

static void test_parse_empty_header_and_body(void **state)
{
	struct wire_frame f[4] = { FR("T1"), FR("hb"), FR(""), FR("") };
	struct wire_msg m;
	(void)state;

	memset(&m, 0, sizeof m);
	assert_int_equal(wire_parse(f, 4, &m), 0);
	assert_string_equal(m.kind, "hb");
	assert_int_equal(m.nids, 0);
	assert_int_equal(m.body_len, 0);
}

static void test_parse_empty_key(void **state)
{
	struct wire_frame f[5] = { FR("T1"), FR("result"), FR(""), FR("{}"), FR("") };
	struct wire_msg m;
	(void)state;

	memset(&m, 0, sizeof m);
	assert_int_equal(wire_parse(f, 5, &m), 0);
	assert_non_null(m.key);
	assert_int_equal(m.key_len, 0);
}

static void test_parse_kind_limits(void **state)
{
	/* 15 letters fit in kind[16] with the NUL; 16 do not */
	struct wire_frame ok[4] = { FR("T1"), FR("abcdefghijklmno"), FR(""), FR("") };
	struct wire_frame bad[4] = { FR("T1"), FR("abcdefghijklmnop"), FR(""), FR("") };
	struct wire_msg m;
	(void)state;

	memset(&m, 0, sizeof m);
	assert_int_equal(wire_parse(ok, 4, &m), 0);
	assert_string_equal(m.kind, "abcdefghijklmno");
	assert_int_equal(wire_parse(bad, 4, &m), -1);
}

static void test_parse_max_ids(void **state)
{
	size_t len = (size_t)(WIRE_MAX_IDS + 1) * 8;
	uint8_t *hdr = calloc(1, len);
	struct wire_msg m;
	(void)state;

	assert_non_null(hdr);
	wire_put_id(hdr + (size_t)(WIRE_MAX_IDS - 1) * 8, 42);
	struct wire_frame f[4] = { FR("T1"), FR("send"), { hdr, (size_t)WIRE_MAX_IDS * 8 }, FR("x") };
	memset(&m, 0, sizeof m);
	assert_int_equal(wire_parse(f, 4, &m), 0);
	assert_int_equal(m.nids, WIRE_MAX_IDS);
	assert_true(wire_id(&m, WIRE_MAX_IDS - 1) == 42);

	f[2].len = len;
	assert_int_equal(wire_parse(f, 4, &m), -1);
	free(hdr);
}

/* ---------- wire_parse: malformed ---------- */

static void test_parse_bad_version(void **state)
{
	static const char *const versions[] = { "T2", "t1", "T", "T1x", "", "1T" };
	struct wire_msg m;
	(void)state;

	for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
		struct wire_frame f[4] = {
			{ versions[i], strlen(versions[i]) }, FR("msg"), FR(""), FR("{}"),
		};
		memset(&m, 0, sizeof m);
		assert_int_equal(wire_parse(f, 4, &m), -1);
	}
}

static void test_parse_bad_kind(void **state)
{
	static const char *const kinds[] = {
		"", "Msg", "MSG", "msg1", "1", "m-g", "m g", "msg\n", "\xc3\xa9t\xc3\xa9",
	};
	struct wire_msg m;
	(void)state;

	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		struct wire_frame f[4] = {
			FR("T1"), { kinds[i], strlen(kinds[i]) }, FR(""), FR("{}"),
		};
		memset(&m, 0, sizeof m);
		assert_int_equal(wire_parse(f, 4, &m), -1);
	}
	/* an embedded NUL is not a letter either */
	struct wire_frame nul[4] = { FR("T1"), { "ms\0g", 4 }, FR(""), FR("{}") };
	assert_int_equal(wire_parse(nul, 4, &m), -1);
}

static void test_parse_bad_header_len(void **state)
{
	static const size_t lens[] = { 1, 7, 9, 15, 17 };
	uint8_t hdr[32] = { 0 };
	struct wire_msg m;
	(void)state;

	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		struct wire_frame f[4] = { FR("T1"), FR("msg"), { hdr, lens[i] }, FR("{}") };
		memset(&m, 0, sizeof m);
		assert_int_equal(wire_parse(f, 4, &m), -1);
	}
	struct wire_frame f[4] = { FR("T1"), FR("msg"), { hdr, 24 }, FR("{}") };
	assert_int_equal(wire_parse(f, 4, &m), 0);
	assert_int_equal(m.nids, 3);
}

static void test_parse_frame_count(void **state)
{
	struct wire_frame f[6] = {
		FR("T1"), FR("msg"), FR(""), FR("{}"), FR("key"), FR("extra"),
	};
	struct wire_msg m;
	(void)state;

	memset(&m, 0, sizeof m);
	assert_int_equal(wire_parse(f, 0, &m), -1);
	assert_int_equal(wire_parse(f, 1, &m), -1);
	assert_int_equal(wire_parse(f, 2, &m), -1);
	assert_int_equal(wire_parse(f, 3, &m), -1);
	assert_int_equal(wire_parse(f, 6, &m), -1);
	assert_int_equal(wire_parse(f, 4, &m), 0);
	assert_int_equal(wire_parse(f, 5, &m), 0);
}

/* ---------- over a real socket pair ---------- */

struct pair {
	void *ctx;
	void *router;
	void *dealer;
};

static int pair_setup(void **state)
{
	static int seq;
	struct pair *p = calloc(1, sizeof *p);
	char ep[64];
	int linger = 0;

	if (!p)
		return -1;
	snprintf(ep, sizeof ep, "inproc://test-wire-%d", seq++);
	p->ctx = zmq_ctx_new();
	p->router = zmq_socket(p->ctx, ZMQ_ROUTER);
	p->dealer = zmq_socket(p->ctx, ZMQ_DEALER);
	if (!p->ctx || !p->router || !p->dealer)
		return -1;
	zmq_setsockopt(p->router, ZMQ_LINGER, &linger, sizeof linger);
	zmq_setsockopt(p->dealer, ZMQ_LINGER, &linger, sizeof linger);
	if (zmq_setsockopt(p->dealer, ZMQ_ROUTING_ID, "brk7", 4) < 0)
		return -1;
	if (zmq_bind(p->router, ep) < 0 || zmq_connect(p->dealer, ep) < 0)
		return -1;
	*state = p;
	return 0;
}

static int pair_teardown(void **state)
{
	struct pair *p = *state;

	zmq_close(p->dealer);
	zmq_close(p->router);
	zmq_ctx_term(p->ctx);
	free(p);
	return 0;
}

/* Wait up to 2 s for something readable, so a test does not race the pipe. */
static void wait_readable(void *sock)
{
	zmq_pollitem_t it = { sock, 0, ZMQ_POLLIN, 0 };
	assert_int_equal(zmq_poll(&it, 1, 2000), 1);
}

static void test_sock_round_trip_dealer_to_router(void **state)
{
	struct pair *p = *state;
	static const uint64_t ids[] = { 0, 7, UINT64_MAX };
	const char *body = "{\"type\":\"invocationresult\"}";
	struct wire_msg m;

	assert_int_equal(wire_send(p->dealer, NULL, 0, "result", ids, 3, body, strlen(body),
				   "k-123", 5), 0);
	wait_readable(p->router);
	assert_int_equal(wire_recv(p->router, 1, &m), 0);
	assert_int_equal(m.ident_len, 4);
	assert_memory_equal(m.ident, "brk7", 4);
	assert_string_equal(m.kind, "result");
	assert_int_equal(m.nids, 3);
	assert_true(wire_id(&m, 0) == 0);
	assert_true(wire_id(&m, 1) == 7);
	assert_true(wire_id(&m, 2) == UINT64_MAX);
	assert_int_equal(m.body_len, strlen(body));
	assert_memory_equal(m.body, body, strlen(body));
	assert_int_equal(m.key_len, 5);
	assert_memory_equal(m.key, "k-123", 5);
	assert_int_equal(m.nparts, 6);
	wire_msg_close(&m);
	assert_int_equal(m.nparts, 0);

	/* nothing else queued */
	assert_int_equal(wire_recv(p->router, 1, &m), 1);
}

static void test_sock_router_to_dealer_no_key(void **state)
{
	struct pair *p = *state;
	struct wire_msg m;

	/* the router learns the dealer's identity from its first message */
	assert_int_equal(wire_send(p->dealer, NULL, 0, "hello", NULL, 0, NULL, 0, NULL, 0), 0);
	wait_readable(p->router);
	assert_int_equal(wire_recv(p->router, 1, &m), 0);
	assert_string_equal(m.kind, "hello");
	assert_int_equal(m.nids, 0);
	assert_int_equal(m.body_len, 0);
	assert_null(m.key);
	assert_int_equal(m.nparts, 5);
	wire_msg_close(&m);

	uint64_t one = 0x1122334455667788ULL;
	assert_int_equal(wire_send(p->router, "brk7", 4, "welcome", &one, 1, "{}", 2, NULL, 0), 0);
	wait_readable(p->dealer);
	assert_int_equal(wire_recv(p->dealer, 0, &m), 0);
	assert_null(m.ident);
	assert_int_equal(m.ident_len, 0);
	assert_string_equal(m.kind, "welcome");
	assert_int_equal(m.nids, 1);
	assert_true(wire_id(&m, 0) == 0x1122334455667788ULL);
	assert_int_equal(m.body_len, 2);
	assert_memory_equal(m.body, "{}", 2);
	assert_null(m.key);
	wire_msg_close(&m);
}

static void test_sock_many_ids(void **state)
{
	struct pair *p = *state;
	enum { N = 1000 };	/* beyond the 16-id stack buffer in wire_send */
	uint64_t *ids = malloc(N * sizeof *ids);
	struct wire_msg m;

	assert_non_null(ids);
	for (size_t i = 0; i < N; i++)
		ids[i] = (uint64_t)i * 0x0101010101010101ULL + 1;
	assert_int_equal(wire_send(p->dealer, NULL, 0, "send", ids, N, "x", 1, NULL, 0), 0);
	wait_readable(p->router);
	assert_int_equal(wire_recv(p->router, 1, &m), 0);
	assert_int_equal(m.nids, N);
	for (size_t i = 0; i < N; i++)
		assert_true(wire_id(&m, i) == ids[i]);
	wire_msg_close(&m);
	free(ids);
}

static void test_sock_empty_returns_1(void **state)
{
	struct pair *p = *state;
	struct wire_msg m;

	assert_int_equal(wire_recv(p->router, 1, &m), 1);
	assert_int_equal(m.nparts, 0);
	assert_int_equal(wire_recv(p->dealer, 0, &m), 1);
	assert_int_equal(m.nparts, 0);
}

static void test_sock_malformed_then_valid(void **state)
{
	struct pair *p = *state;
	struct wire_msg m;

	assert_int_equal(zmq_send(p->dealer, "XX", 2, ZMQ_SNDMORE), 2);
	assert_int_equal(zmq_send(p->dealer, "kind", 4, ZMQ_SNDMORE), 4);
	assert_int_equal(zmq_send(p->dealer, "", 0, ZMQ_SNDMORE), 0);
	assert_int_equal(zmq_send(p->dealer, "body", 4, 0), 4);
	assert_int_equal(wire_send(p->dealer, NULL, 0, "msg", NULL, 0, "ok", 2, NULL, 0), 0);

	wait_readable(p->router);
	assert_int_equal(wire_recv(p->router, 1, &m), -1);
	assert_int_equal(m.nparts, 0);
	wait_readable(p->router);
	assert_int_equal(wire_recv(p->router, 1, &m), 0);
	assert_string_equal(m.kind, "msg");
	assert_int_equal(m.body_len, 2);
	assert_memory_equal(m.body, "ok", 2);
	wire_msg_close(&m);
	assert_int_equal(wire_recv(p->router, 1, &m), 1);
}

static void test_sock_too_many_frames_then_valid(void **state)
{
	struct pair *p = *state;
	struct wire_msg m;

	/* 9 frames + identity: more than WIRE_MAX_PARTS, must be drained whole */
	assert_int_equal(zmq_send(p->dealer, "T1", 2, ZMQ_SNDMORE), 2);
	assert_int_equal(zmq_send(p->dealer, "msg", 3, ZMQ_SNDMORE), 3);
	assert_int_equal(zmq_send(p->dealer, "", 0, ZMQ_SNDMORE), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(zmq_send(p->dealer, "b", 1, ZMQ_SNDMORE), 1);
	assert_int_equal(zmq_send(p->dealer, "end", 3, 0), 3);
	assert_int_equal(wire_send(p->dealer, NULL, 0, "hb", NULL, 0, NULL, 0, NULL, 0), 0);

	wait_readable(p->router);
	assert_int_equal(wire_recv(p->router, 1, &m), -1);
	wait_readable(p->router);
	assert_int_equal(wire_recv(p->router, 1, &m), 0);
	assert_string_equal(m.kind, "hb");
	wire_msg_close(&m);
}

static void test_sock_short_message_rejected(void **state)
{
	struct pair *p = *state;
	struct wire_msg m;

	/* a valid prefix that stops before the body frame */
	assert_int_equal(zmq_send(p->dealer, "T1", 2, ZMQ_SNDMORE), 2);
	assert_int_equal(zmq_send(p->dealer, "msg", 3, ZMQ_SNDMORE), 3);
	assert_int_equal(zmq_send(p->dealer, "", 0, 0), 0);
	wait_readable(p->router);
	assert_int_equal(wire_recv(p->router, 1, &m), -1);
	assert_int_equal(wire_recv(p->router, 1, &m), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_id_big_endian),
		cmocka_unit_test(test_put_id_round_trip),
		cmocka_unit_test(test_parse_four_frames),
		cmocka_unit_test(test_parse_five_frames_key),
		cmocka_unit_test(test_parse_empty_header_and_body),
		cmocka_unit_test(test_parse_empty_key),
		cmocka_unit_test(test_parse_kind_limits),
		cmocka_unit_test(test_parse_max_ids),
		cmocka_unit_test(test_parse_bad_version),
		cmocka_unit_test(test_parse_bad_kind),
		cmocka_unit_test(test_parse_bad_header_len),
		cmocka_unit_test(test_parse_frame_count),
		cmocka_unit_test_setup_teardown(test_sock_round_trip_dealer_to_router,
						pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_sock_router_to_dealer_no_key,
						pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_sock_many_ids, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_sock_empty_returns_1, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_sock_malformed_then_valid,
						pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_sock_too_many_frames_then_valid,
						pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_sock_short_message_rejected,
						pair_setup, pair_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
