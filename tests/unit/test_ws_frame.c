/*
 * Byte-vector tests for the RFC 6455 frame codec (shared/ws_frame.c). Client
 * frames are built with mkframe() so every test controls masking, RSV bits,
 * opcode and length encoding exactly; streams are fed whole, one byte at a
 * time or in odd-sized chunks, the way a socket would deliver them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "ws_frame.h"

#define MAXF (16u * 1024 * 1024)
#define MAXM (16u * 1024 * 1024)

static const uint8_t MASK[4] = { 0x37, 0xfa, 0x21, 0x3d };

/* len_enc: 0 = minimal, 16 / 64 = force that extended length form. */
struct fspec {
	int fin;
	int rsv;		/* bits 0x70 of byte 0 */
	int opcode;
	int masked;
	int len_enc;
};

/* Writes a client frame into out (caller sizes it: len + 14) and returns its size. */
static size_t mkframe_x(uint8_t *out, struct fspec s, const void *payload, size_t len)
{
	size_t n = 0, i;
	const uint8_t *p = payload;

	out[n++] = (uint8_t)((s.fin ? 0x80 : 0) | (s.rsv & 0x70) | (s.opcode & 0x0F));
	if (s.len_enc == 0 && len < 126) {
		out[n++] = (uint8_t)((s.masked ? 0x80 : 0) | len);
	} else if (s.len_enc == 16 || (s.len_enc == 0 && len <= 0xFFFF)) {
		out[n++] = (uint8_t)((s.masked ? 0x80 : 0) | 126);
		out[n++] = (uint8_t)(len >> 8);
		out[n++] = (uint8_t)len;
	} else {
		out[n++] = (uint8_t)((s.masked ? 0x80 : 0) | 127);
		for (i = 0; i < 8; i++)
			out[n++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	}
	if (s.masked) {
		memcpy(out + n, MASK, 4);
		n += 4;
	}
	for (i = 0; i < len; i++)
		out[n + i] = s.masked ? (uint8_t)(p[i] ^ MASK[i & 3]) : p[i];
	return n + len;
}

static size_t mkframe(uint8_t *out, int fin, int opcode, const void *payload, size_t len)
{
	struct fspec s = { fin, 0, opcode, 1, 0 };

	return mkframe_x(out, s, payload, len);
}

/* Collected events: copies, because ev->data is only valid until the next call. */
struct got {
	int n;
	int opcode[16];
	uint8_t *data[16];
	size_t len[16];
	uint16_t close_code[16];
	int rc;			/* last return code: WS_AGAIN or WS_ERROR */
};

static void got_free(struct got *g)
{
	int i;

	for (i = 0; i < g->n; i++)
		free(g->data[i]);
	memset(g, 0, sizeof(*g));
}

/*
 * Feeds stream in chunks of `chunk` bytes (0 = all at once) the way a
 * bufferevent would: unconsumed bytes stay pending and are offered again
 * with the next chunk. Checks the contract on every call.
 */
static void feed(struct ws_decoder *dec, const uint8_t *stream, size_t total,
		 size_t chunk, struct got *g)
{
	uint8_t *pending = malloc(total + 1);
	size_t plen = 0, off = 0;

	assert_non_null(pending);
	memset(g, 0, sizeof(*g));
	g->rc = WS_AGAIN;
	if (chunk == 0)
		chunk = total ? total : 1;
	while (off < total) {
		size_t n = total - off < chunk ? total - off : chunk;

		memcpy(pending + plen, stream + off, n);
		plen += n;
		off += n;
		for (;;) {
			struct ws_event ev;
			size_t consumed = 12345;
			int rc = ws_decode(dec, pending, plen, &consumed, &ev);

			assert_true(consumed <= plen);
			memmove(pending, pending + consumed, plen - consumed);
			plen -= consumed;
			g->rc = rc;
			if (rc == WS_ERROR)
				goto done;
			if (rc == WS_AGAIN)
				break;
			assert_int_equal(rc, WS_OK);
			assert_true(g->n < 16);
			assert_non_null(ev.data);
			g->opcode[g->n] = ev.opcode;
			g->len[g->n] = ev.len;
			g->close_code[g->n] = ev.close_code;
			g->data[g->n] = malloc(ev.len + 1);
			assert_non_null(g->data[g->n]);
			memcpy(g->data[g->n], ev.data, ev.len);
			g->n++;
		}
	}
	/* Everything offered was a complete stream: nothing may be left over. */
	assert_int_equal(plen, 0);
done:
	free(pending);
}

/* Decode `stream` in several chunkings and expect exactly one error code. */
static void expect_error(const uint8_t *stream, size_t total, size_t max_frame,
			 size_t max_message, uint16_t code)
{
	static const size_t chunks[] = { 0, 1, 3, 7 };
	size_t i;

	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		struct ws_decoder dec;
		struct got g;

		ws_decoder_init(&dec, max_frame, max_message);
		feed(&dec, stream, total, chunks[i], &g);
		assert_int_equal(g.rc, WS_ERROR);
		assert_int_equal(dec.err_code, code);
		assert_non_null(dec.err_reason);
		got_free(&g);
		ws_decoder_free(&dec);
	}
}

/* RFC 6455 §5.7: a single-frame masked text message "Hello". */
static void test_rfc_masked_hello(void **state)
{
	static const uint8_t f[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
				     0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	struct ws_decoder dec;
	struct ws_event ev;
	size_t consumed;

	ws_decoder_init(&dec, MAXF, MAXM);
	assert_int_equal(ws_decode(&dec, f, sizeof(f), &consumed, &ev), WS_OK);
	assert_int_equal(consumed, sizeof(f));
	assert_int_equal(ev.opcode, WS_OP_TEXT);
	assert_int_equal(ev.len, 5);
	assert_memory_equal(ev.data, "Hello", 5);
	assert_int_equal(ws_decode(&dec, f, 0, &consumed, &ev), WS_AGAIN);
	assert_int_equal(consumed, 0);
	ws_decoder_free(&dec);
}

static void test_partial_header_not_consumed(void **state)
{
	uint8_t f[300 + 14], payload[300];
	struct ws_decoder dec;
	struct ws_event ev;
	size_t consumed, n, i;

	memset(payload, 'x', sizeof(payload));
	n = mkframe(f, 1, WS_OP_BINARY, payload, sizeof(payload));
	assert_int_equal(n, 2 + 2 + 4 + 300);
	ws_decoder_init(&dec, MAXF, MAXM);
	for (i = 0; i < 8; i++) {
		consumed = 99;
		assert_int_equal(ws_decode(&dec, f, i, &consumed, &ev), WS_AGAIN);
		assert_int_equal(consumed, 0);
	}
	/* header complete: header plus 10 payload bytes consumed */
	assert_int_equal(ws_decode(&dec, f, 18, &consumed, &ev), WS_AGAIN);
	assert_int_equal(consumed, 18);
	assert_int_equal(ws_decode(&dec, f + 18, n - 18, &consumed, &ev), WS_OK);
	assert_int_equal(consumed, n - 18);
	assert_int_equal(ev.len, 300);
	assert_memory_equal(ev.data, payload, 300);
	ws_decoder_free(&dec);
}

static void check_lengths(size_t len, int len_enc, size_t hdr)
{
	uint8_t *payload = malloc(len + 1), *f = malloc(len + 14);
	struct fspec s = { 1, 0, WS_OP_BINARY, 1, len_enc };
	static const size_t chunks[] = { 0, 1, 5, 4096 };
	size_t n, i, c;

	assert_non_null(payload);
	assert_non_null(f);
	for (i = 0; i < len; i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	n = mkframe_x(f, s, payload, len);
	assert_int_equal(n, hdr + len);
	for (c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		struct ws_decoder dec;
		struct got g;

		ws_decoder_init(&dec, MAXF, MAXM);
		feed(&dec, f, n, chunks[c], &g);
		assert_int_equal(g.rc, WS_AGAIN);
		assert_int_equal(g.n, 1);
		assert_int_equal(g.opcode[0], WS_OP_BINARY);
		assert_int_equal(g.len[0], len);
		assert_memory_equal(g.data[0], payload, len);
		got_free(&g);
		ws_decoder_free(&dec);
	}
	free(payload);
	free(f);
}

static void test_length_7bit(void **state)
{
	check_lengths(0, 0, 6);
	check_lengths(1, 0, 6);
	check_lengths(125, 0, 6);
}

static void test_length_16bit(void **state)
{
	check_lengths(126, 0, 8);
	check_lengths(300, 0, 8);
	check_lengths(65535, 0, 8);
}

static void test_length_64bit(void **state)
{
	check_lengths(65536, 0, 14);
	check_lengths(70001, 0, 14);
}

/* Non-minimal encodings are tolerated (lenient by design). */
static void test_length_non_minimal(void **state)
{
	check_lengths(5, 16, 8);
	check_lengths(5, 64, 14);
	check_lengths(200, 64, 14);
}

static void test_empty_messages(void **state)
{
	uint8_t s[64];
	size_t n = 0;
	struct ws_decoder dec;
	struct got g;

	n += mkframe(s + n, 1, WS_OP_TEXT, "", 0);
	n += mkframe(s + n, 1, WS_OP_BINARY, "", 0);
	n += mkframe(s + n, 0, WS_OP_TEXT, "", 0);
	n += mkframe(s + n, 1, WS_OP_CONT, "", 0);
	ws_decoder_init(&dec, MAXF, MAXM);
	feed(&dec, s, n, 0, &g);
	assert_int_equal(g.rc, WS_AGAIN);
	assert_int_equal(g.n, 3);
	assert_int_equal(g.opcode[0], WS_OP_TEXT);
	assert_int_equal(g.len[0], 0);
	assert_int_equal(g.opcode[1], WS_OP_BINARY);
	assert_int_equal(g.len[1], 0);
	assert_int_equal(g.opcode[2], WS_OP_TEXT);
	assert_int_equal(g.len[2], 0);
	got_free(&g);
	ws_decoder_free(&dec);
}

/* Text "Hello, world" in 3 fragments with a ping and a pong between them. */
static void test_fragmented_with_interleaved_control(void **state)
{
	static const size_t chunks[] = { 0, 1, 2, 3, 11 };
	uint8_t s[256];
	size_t n = 0, c;

	n += mkframe(s + n, 0, WS_OP_TEXT, "Hello", 5);
	n += mkframe(s + n, 1, WS_OP_PING, "p1", 2);
	n += mkframe(s + n, 0, WS_OP_CONT, ", ", 2);
	n += mkframe(s + n, 1, WS_OP_PONG, "", 0);
	n += mkframe(s + n, 1, WS_OP_CONT, "world", 5);
	n += mkframe(s + n, 1, WS_OP_BINARY, "\x00\xff", 2);
	for (c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		struct ws_decoder dec;
		struct got g;

		ws_decoder_init(&dec, MAXF, MAXM);
		feed(&dec, s, n, chunks[c], &g);
		assert_int_equal(g.rc, WS_AGAIN);
		assert_int_equal(g.n, 4);
		assert_int_equal(g.opcode[0], WS_OP_PING);
		assert_int_equal(g.len[0], 2);
		assert_memory_equal(g.data[0], "p1", 2);
		assert_int_equal(g.opcode[1], WS_OP_PONG);
		assert_int_equal(g.len[1], 0);
		assert_int_equal(g.opcode[2], WS_OP_TEXT);
		assert_int_equal(g.len[2], 12);
		assert_memory_equal(g.data[2], "Hello, world", 12);
		assert_int_equal(g.opcode[3], WS_OP_BINARY);
		assert_int_equal(g.len[3], 2);
		assert_memory_equal(g.data[3], "\x00\xff", 2);
		got_free(&g);
		ws_decoder_free(&dec);
	}
}

/* A close frame may also arrive between fragments. */
static void test_close_inside_fragmented_message(void **state)
{
	uint8_t s[64], cp[4] = { 0x03, 0xe8 };
	size_t n = 0;
	struct ws_decoder dec;
	struct got g;

	n += mkframe(s + n, 0, WS_OP_BINARY, "ab", 2);
	n += mkframe(s + n, 1, WS_OP_CLOSE, cp, 2);
	ws_decoder_init(&dec, MAXF, MAXM);
	feed(&dec, s, n, 0, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.opcode[0], WS_OP_CLOSE);
	assert_int_equal(g.close_code[0], 1000);
	got_free(&g);
	ws_decoder_free(&dec);
}

/* Several messages back to back: the buffer is reused, contents must not leak over. */
static void test_buffer_reuse(void **state)
{
	uint8_t s[256];
	size_t n = 0;
	struct ws_decoder dec;
	struct got g;

	n += mkframe(s + n, 1, WS_OP_TEXT, "first message", 13);
	n += mkframe(s + n, 1, WS_OP_TEXT, "2nd", 3);
	n += mkframe(s + n, 0, WS_OP_BINARY, "x", 1);
	n += mkframe(s + n, 1, WS_OP_CONT, "yz", 2);
	ws_decoder_init(&dec, MAXF, MAXM);
	feed(&dec, s, n, 0, &g);
	assert_int_equal(g.n, 3);
	assert_int_equal(g.len[0], 13);
	assert_memory_equal(g.data[0], "first message", 13);
	assert_int_equal(g.len[1], 3);
	assert_memory_equal(g.data[1], "2nd", 3);
	assert_int_equal(g.opcode[2], WS_OP_BINARY);
	assert_int_equal(g.len[2], 3);
	assert_memory_equal(g.data[2], "xyz", 3);
	got_free(&g);
	ws_decoder_free(&dec);
}

/* 1 MiB text message in 4 fragments, fed one byte at a time and in 4 KiB + 1 chunks. */
static void test_one_mib_message(void **state)
{
	size_t total = 1024 * 1024, q = total / 4, n = 0, i, c;
	static const size_t chunks[] = { 1, 4097 };
	uint8_t *payload = malloc(total), *s = malloc(total + 4 * 14);

	assert_non_null(payload);
	assert_non_null(s);
	for (i = 0; i < total; i++)
		payload[i] = (uint8_t)('a' + i % 26);
	for (i = 0; i < 4; i++)
		n += mkframe(s + n, i == 3, i == 0 ? WS_OP_TEXT : WS_OP_CONT, payload + i * q, q);
	for (c = 0; c < 2; c++) {
		struct ws_decoder dec;
		struct got g;

		ws_decoder_init(&dec, MAXF, MAXM);
		feed(&dec, s, n, chunks[c], &g);
		assert_int_equal(g.n, 1);
		assert_int_equal(g.opcode[0], WS_OP_TEXT);
		assert_int_equal(g.len[0], total);
		assert_memory_equal(g.data[0], payload, total);
		assert_true(dec.msg_cap <= MAXM);
		got_free(&g);
		ws_decoder_free(&dec);
	}
	free(payload);
	free(s);
}

/* 10 MiB single frame in 4 KiB chunks; the buffer never outgrows max_message. */
static void test_ten_mib_frame(void **state)
{
	size_t total = 10 * 1024 * 1024, n, i;
	uint8_t *payload = malloc(total), *s = malloc(total + 14);
	struct ws_decoder dec;
	struct got g;

	assert_non_null(payload);
	assert_non_null(s);
	for (i = 0; i < total; i++)
		payload[i] = (uint8_t)(i ^ (i >> 8));
	n = mkframe(s, 1, WS_OP_BINARY, payload, total);
	ws_decoder_init(&dec, total, total);
	feed(&dec, s, n, 4096, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.len[0], total);
	assert_memory_equal(g.data[0], payload, total);
	assert_true(dec.msg_cap <= total);
	got_free(&g);
	ws_decoder_free(&dec);
	free(payload);
	free(s);
}

/* Exactly max_frame / max_message is allowed; one more byte is 1009. */
static void test_limits_boundary(void **state)
{
	uint8_t s[256], p[100];
	size_t n = 0;
	struct ws_decoder dec;
	struct got g;

	memset(p, 'b', sizeof(p));
	n += mkframe(s + n, 0, WS_OP_BINARY, p, 50);
	n += mkframe(s + n, 1, WS_OP_CONT, p, 50);
	ws_decoder_init(&dec, 50, 100);
	feed(&dec, s, n, 1, &g);
	assert_int_equal(g.rc, WS_AGAIN);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.len[0], 100);
	assert_true(dec.msg_cap <= 100);
	got_free(&g);
	ws_decoder_free(&dec);
}

static void test_oversized_frame(void **state)
{
	uint8_t p[200], s[256];
	size_t n;

	memset(p, 'x', sizeof(p));
	n = mkframe(s, 1, WS_OP_BINARY, p, 101);
	expect_error(s, n, 100, 1000, WS_CLOSE_TOO_BIG);
	/* header alone is enough to refuse it: no payload has to arrive */
	expect_error(s, 8, 100, 1000, WS_CLOSE_TOO_BIG);
}

/* A huge announced length is refused without allocating it. */
static void test_oversized_frame_64bit_header_only(void **state)
{
	static const uint8_t h[] = { 0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4 };

	expect_error(h, sizeof(h), MAXF, MAXM, WS_CLOSE_TOO_BIG);
}

static void test_oversized_message_via_fragments(void **state)
{
	uint8_t p[64], s[512];
	size_t n = 0;

	memset(p, 'y', sizeof(p));
	n += mkframe(s + n, 0, WS_OP_TEXT, p, 40);
	n += mkframe(s + n, 0, WS_OP_CONT, p, 40);
	n += mkframe(s + n, 1, WS_OP_PING, "", 0);
	n += mkframe(s + n, 1, WS_OP_CONT, p, 40);
	expect_error(s, n, 64, 100, WS_CLOSE_TOO_BIG);
}

static void test_unmasked_frame(void **state)
{
	struct fspec sp = { 1, 0, WS_OP_TEXT, 0, 0 };
	uint8_t s[32];
	size_t n = mkframe_x(s, sp, "hi", 2);
	struct ws_decoder dec;
	struct ws_event ev;
	size_t consumed;

	expect_error(s, n, MAXF, MAXM, WS_CLOSE_PROTOCOL);
	ws_decoder_init(&dec, MAXF, MAXM);
	assert_int_equal(ws_decode(&dec, s, n, &consumed, &ev), WS_ERROR);
	assert_string_equal(dec.err_reason, "frames from the client must be masked");
	/* errors are sticky */
	assert_int_equal(ws_decode(&dec, s, n, &consumed, &ev), WS_ERROR);
	ws_decoder_free(&dec);
}

static void test_reserved_bits(void **state)
{
	static const int rsv[] = { 0x40, 0x20, 0x10, 0x70 };
	size_t i;

	for (i = 0; i < 4; i++) {
		struct fspec sp = { 1, rsv[i], WS_OP_TEXT, 1, 0 };
		uint8_t s[32];
		size_t n = mkframe_x(s, sp, "hi", 2);

		expect_error(s, n, MAXF, MAXM, WS_CLOSE_PROTOCOL);
	}
}

static void test_bad_opcodes(void **state)
{
	static const int ops[] = { 3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF };
	size_t i;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		uint8_t s[32];
		size_t n = mkframe(s, 1, ops[i], "hi", 2);

		expect_error(s, n, MAXF, MAXM, WS_CLOSE_PROTOCOL);
	}
}

static void test_control_frame_rules(void **state)
{
	uint8_t p[126], s[256];
	size_t n;
	struct ws_decoder dec;
	struct got g;

	memset(p, 'p', sizeof(p));
	/* ping of 126 bytes (16-bit length) */
	n = mkframe(s, 1, WS_OP_PING, p, 126);
	expect_error(s, n, MAXF, MAXM, WS_CLOSE_PROTOCOL);
	/* fragmented ping, pong, close */
	n = mkframe(s, 0, WS_OP_PING, p, 1);
	expect_error(s, n, MAXF, MAXM, WS_CLOSE_PROTOCOL);
	n = mkframe(s, 0, WS_OP_PONG, p, 1);
	expect_error(s, n, MAXF, MAXM, WS_CLOSE_PROTOCOL);
	n = mkframe(s, 0, WS_OP_CLOSE, "\x03\xe8", 2);
	expect_error(s, n, MAXF, MAXM, WS_CLOSE_PROTOCOL);
	/* 125 is fine and echoed byte for byte */
	n = mkframe(s, 1, WS_OP_PING, p, 125);
	ws_decoder_init(&dec, MAXF, MAXM);
	feed(&dec, s, n, 3, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.opcode[0], WS_OP_PING);
	assert_int_equal(g.len[0], 125);
	assert_memory_equal(g.data[0], p, 125);
	got_free(&g);
	ws_decoder_free(&dec);
}

static void test_fragmentation_errors(void **state)
{
	uint8_t s[64];
	size_t n;

	n = mkframe(s, 1, WS_OP_CONT, "x", 1);
	expect_error(s, n, MAXF, MAXM, WS_CLOSE_PROTOCOL);
	n = mkframe(s, 0, WS_OP_CONT, "x", 1);
	expect_error(s, n, MAXF, MAXM, WS_CLOSE_PROTOCOL);
	n = mkframe(s, 0, WS_OP_TEXT, "a", 1);
	n += mkframe(s + n, 1, WS_OP_TEXT, "b", 1);
	expect_error(s, n, MAXF, MAXM, WS_CLOSE_PROTOCOL);
	n = mkframe(s, 0, WS_OP_BINARY, "a", 1);
	n += mkframe(s + n, 1, WS_OP_BINARY, "b", 1);
	expect_error(s, n, MAXF, MAXM, WS_CLOSE_PROTOCOL);
	/* a completed message does not leave the stream "open" */
	n = mkframe(s, 1, WS_OP_TEXT, "a", 1);
	n += mkframe(s + n, 1, WS_OP_CONT, "b", 1);
	expect_error(s, n, MAXF, MAXM, WS_CLOSE_PROTOCOL);
}

static void test_64bit_length_msb(void **state)
{
	static const uint8_t h[] = { 0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4 };

	expect_error(h, sizeof(h), (size_t)-1, (size_t)-1, WS_CLOSE_PROTOCOL);
}

static void expect_text_1007(const char *bytes, size_t len)
{
	uint8_t s[64];
	size_t n = mkframe(s, 1, WS_OP_TEXT, bytes, len);

	expect_error(s, n, MAXF, MAXM, WS_CLOSE_INVALID_DATA);
	assert_int_equal(ws_utf8_valid((const uint8_t *)bytes, len), 0);
}

static void test_invalid_utf8(void **state)
{
	expect_text_1007("\xc0\xaf", 2);		/* overlong '/' */
	expect_text_1007("\xc1\xbf", 2);		/* overlong */
	expect_text_1007("\xe0\x80\xaf", 3);		/* overlong 3-byte */
	expect_text_1007("\xf0\x80\x80\xaf", 4);	/* overlong 4-byte */
	expect_text_1007("\xed\xa0\x80", 3);		/* surrogate U+D800 */
	expect_text_1007("\xed\xbf\xbf", 3);		/* surrogate U+DFFF */
	expect_text_1007("\xf4\x90\x80\x80", 4);	/* U+110000 */
	expect_text_1007("\xf5\x80\x80\x80", 4);	/* lead byte F5 */
	expect_text_1007("\xff", 1);
	expect_text_1007("ok\x80", 3);			/* lone continuation */
	expect_text_1007("\xe2\x82", 2);		/* truncated at end */
	expect_text_1007("abcdefghijklmnop\xce", 17);	/* truncated after fast path */
	expect_text_1007("\xe2\x28\xa1", 3);		/* bad continuation */
}

/* Binary messages are not UTF-8 checked. */
static void test_binary_not_utf8_checked(void **state)
{
	uint8_t s[32];
	size_t n = mkframe(s, 1, WS_OP_BINARY, "\xff\xc0\x80", 3);
	struct ws_decoder dec;
	struct got g;

	ws_decoder_init(&dec, MAXF, MAXM);
	feed(&dec, s, n, 1, &g);
	assert_int_equal(g.rc, WS_AGAIN);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.len[0], 3);
	got_free(&g);
	ws_decoder_free(&dec);
}

/* Invalid UTF-8 is caught in the first fragment, before the message ends. */
static void test_invalid_utf8_detected_early(void **state)
{
	uint8_t s[64];
	size_t n = mkframe(s, 0, WS_OP_TEXT, "ab\xc0", 3);
	struct ws_decoder dec;
	struct ws_event ev;
	size_t consumed;

	ws_decoder_init(&dec, MAXF, MAXM);
	assert_int_equal(ws_decode(&dec, s, n, &consumed, &ev), WS_ERROR);
	assert_int_equal(dec.err_code, WS_CLOSE_INVALID_DATA);
	ws_decoder_free(&dec);
}

/* U+1F600 (F0 9F 98 80) split across fragments at every position, with a ping between. */
static void test_utf8_split_across_fragments(void **state)
{
	static const char emoji[] = "\xf0\x9f\x98\x80";
	size_t cut, c;
	static const size_t chunks[] = { 0, 1 };

	for (cut = 0; cut <= 4; cut++) {
		for (c = 0; c < 2; c++) {
			uint8_t s[128];
			size_t n = 0;
			struct ws_decoder dec;
			struct got g;

			n += mkframe(s + n, 0, WS_OP_TEXT, emoji, cut);
			n += mkframe(s + n, 1, WS_OP_PING, "", 0);
			n += mkframe(s + n, 1, WS_OP_CONT, emoji + cut, 4 - cut);
			ws_decoder_init(&dec, MAXF, MAXM);
			feed(&dec, s, n, chunks[c], &g);
			assert_int_equal(g.rc, WS_AGAIN);
			assert_int_equal(g.n, 2);
			assert_int_equal(g.opcode[1], WS_OP_TEXT);
			assert_int_equal(g.len[1], 4);
			assert_memory_equal(g.data[1], emoji, 4);
			got_free(&g);
			ws_decoder_free(&dec);
		}
	}
}

/* Last fragment ends mid-code-point: 1007 even though each fragment alone looked fine. */
static void test_utf8_truncated_in_last_fragment(void **state)
{
	uint8_t s[64];
	size_t n = 0;

	n += mkframe(s + n, 0, WS_OP_TEXT, "abc", 3);
	n += mkframe(s + n, 1, WS_OP_CONT, "\xf0\x9f\x98", 3);
	expect_error(s, n, MAXF, MAXM, WS_CLOSE_INVALID_DATA);
}

static void test_close_frames(void **state)
{
	uint8_t s[160], cp[125];
	size_t n = 0;
	struct ws_decoder dec;
	struct got g;

	/* no payload: 1005 */
	n = mkframe(s, 1, WS_OP_CLOSE, "", 0);
	ws_decoder_init(&dec, MAXF, MAXM);
	feed(&dec, s, n, 0, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.opcode[0], WS_OP_CLOSE);
	assert_int_equal(g.close_code[0], WS_CLOSE_NO_STATUS);
	assert_int_equal(g.len[0], 0);
	got_free(&g);
	ws_decoder_free(&dec);

	/* code + UTF-8 reason */
	n = ws_close_payload(cp, 1001, "bye \xc3\xa9");
	n = mkframe(s, 1, WS_OP_CLOSE, cp, n);
	ws_decoder_init(&dec, MAXF, MAXM);
	feed(&dec, s, n, 1, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.close_code[0], 1001);
	assert_int_equal(g.len[0], 8);
	assert_memory_equal(g.data[0], "\x03\xe9" "bye \xc3\xa9", 8);
	got_free(&g);
	ws_decoder_free(&dec);
}

static void test_close_codes(void **state)
{
	static const uint16_t good[] = { 1000, 1001, 1002, 1003, 1007, 1008, 1009,
					 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999 };
	static const uint16_t bad[] = { 0, 999, 1004, 1005, 1006, 1015, 1016, 2000,
					2999, 5000, 65535 };
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint8_t cp[2] = { (uint8_t)(good[i] >> 8), (uint8_t)good[i] }, s[32];
		size_t n = mkframe(s, 1, WS_OP_CLOSE, cp, 2);
		struct ws_decoder dec;
		struct got g;

		ws_decoder_init(&dec, MAXF, MAXM);
		feed(&dec, s, n, 0, &g);
		assert_int_equal(g.n, 1);
		assert_int_equal(g.close_code[0], good[i]);
		got_free(&g);
		ws_decoder_free(&dec);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t cp[2] = { (uint8_t)(bad[i] >> 8), (uint8_t)bad[i] }, s[32];
		size_t n = mkframe(s, 1, WS_OP_CLOSE, cp, 2);

		expect_error(s, n, MAXF, MAXM, WS_CLOSE_PROTOCOL);
	}
}

static void test_close_one_byte(void **state)
{
	uint8_t s[32];
	size_t n = mkframe(s, 1, WS_OP_CLOSE, "\x03", 1), consumed;
	struct ws_decoder dec;
	struct ws_event ev;

	expect_error(s, n, MAXF, MAXM, WS_CLOSE_PROTOCOL);
	/* after a valid close left 0x03 0xe8 in the control buffer, the lone
	 * byte must still be refused rather than read as 1000 */
	ws_decoder_init(&dec, MAXF, MAXM);
	n = mkframe(s, 1, WS_OP_CLOSE, "\x03\xe8", 2);
	assert_int_equal(ws_decode(&dec, s, n, &consumed, &ev), WS_OK);
	assert_int_equal(ev.close_code, 1000);
	n = mkframe(s, 1, WS_OP_CLOSE, "\x03", 1);
	assert_int_equal(ws_decode(&dec, s, n, &consumed, &ev), WS_ERROR);
	assert_int_equal(dec.err_code, WS_CLOSE_PROTOCOL);
	assert_string_equal(dec.err_reason, "close payload of 1 byte");
	ws_decoder_free(&dec);
}

static void test_close_bad_reason_utf8(void **state)
{
	uint8_t s[32];
	size_t n = mkframe(s, 1, WS_OP_CLOSE, "\x03\xe8\xed\xa0\x80", 5);

	expect_error(s, n, MAXF, MAXM, WS_CLOSE_INVALID_DATA);
}

/* Mask phase must carry across chunk boundaries of every size and alignment. */
static void test_unmask_any_chunking(void **state)
{
	uint8_t payload[1000], s[1100];
	size_t n, c, i;

	for (i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 31 + 17);
	n = mkframe(s, 1, WS_OP_BINARY, payload, sizeof(payload));
	for (c = 1; c <= 37; c++) {
		struct ws_decoder dec;
		struct got g;

		ws_decoder_init(&dec, MAXF, MAXM);
		feed(&dec, s, n, c, &g);
		assert_int_equal(g.n, 1);
		assert_int_equal(g.len[0], sizeof(payload));
		assert_memory_equal(g.data[0], payload, sizeof(payload));
		got_free(&g);
		ws_decoder_free(&dec);
	}
}

/* Decoder free is idempotent and the decoder is usable again after init. */
static void test_free_twice(void **state)
{
	struct ws_decoder dec;
	uint8_t s[32];
	size_t n = mkframe(s, 1, WS_OP_TEXT, "x", 1);
	struct got g;

	ws_decoder_init(&dec, MAXF, MAXM);
	feed(&dec, s, n, 0, &g);
	assert_int_equal(g.n, 1);
	got_free(&g);
	ws_decoder_free(&dec);
	ws_decoder_free(&dec);
	assert_null(dec.msg);
	assert_int_equal(dec.max_frame, MAXF);
}

static void test_frame_header_encoding(void **state)
{
	uint8_t h[10];

	assert_int_equal(ws_frame_header(h, WS_OP_TEXT, 1, 0), 2);
	assert_memory_equal(h, "\x81\x00", 2);
	assert_int_equal(ws_frame_header(h, WS_OP_BINARY, 1, 125), 2);
	assert_memory_equal(h, "\x82\x7d", 2);
	assert_int_equal(ws_frame_header(h, WS_OP_TEXT, 0, 126), 4);
	assert_memory_equal(h, "\x01\x7e\x00\x7e", 4);
	assert_int_equal(ws_frame_header(h, WS_OP_CONT, 1, 65535), 4);
	assert_memory_equal(h, "\x80\x7e\xff\xff", 4);
	assert_int_equal(ws_frame_header(h, WS_OP_BINARY, 1, 65536), 10);
	assert_memory_equal(h, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
	assert_int_equal(ws_frame_header(h, WS_OP_BINARY, 1, UINT64_C(0x0102030405)), 10);
	assert_memory_equal(h, "\x82\x7f\x00\x00\x00\x01\x02\x03\x04\x05", 10);
	assert_int_equal(ws_frame_header(h, WS_OP_CLOSE, 1, 2), 2);
	assert_memory_equal(h, "\x88\x02", 2);
	assert_int_equal(ws_frame_header(h, WS_OP_PONG, 1, 5), 2);
	assert_memory_equal(h, "\x8a\x05", 2);
}

static void test_close_payload_encoding(void **state)
{
	uint8_t out[125];
	char reason[200];

	assert_int_equal(ws_close_payload(out, 1000, NULL), 2);
	assert_memory_equal(out, "\x03\xe8", 2);
	assert_int_equal(ws_close_payload(out, 1009, "too big"), 9);
	assert_memory_equal(out, "\x03\xf1too big", 9);
	assert_int_equal(ws_close_payload(out, 4000, ""), 2);
	assert_memory_equal(out, "\x0f\xa0", 2);

	/* ASCII: cut at exactly 123 bytes */
	memset(reason, 'a', 150);
	reason[150] = '\0';
	assert_int_equal(ws_close_payload(out, 1000, reason), 125);
	assert_memory_equal(out + 2, reason, 123);

	/* exactly 123 bytes fits untouched */
	reason[123] = '\0';
	assert_int_equal(ws_close_payload(out, 1000, reason), 125);

	/* 122 'a' + "é" (2 bytes): é would straddle byte 123, so it is dropped */
	memset(reason, 'a', 122);
	memcpy(reason + 122, "\xc3\xa9zz", 5);
	assert_int_equal(ws_close_payload(out, 1000, reason), 124);
	assert_memory_equal(out + 2, reason, 122);

	/* 121 'a' + "€" (3 bytes) ends at 124 → dropped; 120 'a' + "€" fits */
	memset(reason, 'a', 121);
	memcpy(reason + 121, "\xe2\x82\xac", 4);
	assert_int_equal(ws_close_payload(out, 1000, reason), 123);
	memset(reason, 'a', 120);
	memcpy(reason + 120, "\xe2\x82\xac!", 5);
	assert_int_equal(ws_close_payload(out, 1000, reason), 125);
	assert_int_equal(ws_utf8_valid(out + 2, 123), 1);
}

static void test_utf8_valid_vectors(void **state)
{
	assert_int_equal(ws_utf8_valid((const uint8_t *)"", 0), 1);
	assert_int_equal(ws_utf8_valid((const uint8_t *)"plain ascii, long enough for words", 34), 1);
	assert_int_equal(ws_utf8_valid((const uint8_t *)"\xc2\x80", 2), 1);		/* U+0080 */
	assert_int_equal(ws_utf8_valid((const uint8_t *)"\xdf\xbf", 2), 1);		/* U+07FF */
	assert_int_equal(ws_utf8_valid((const uint8_t *)"\xe0\xa0\x80", 3), 1);	/* U+0800 */
	assert_int_equal(ws_utf8_valid((const uint8_t *)"\xed\x9f\xbf", 3), 1);	/* U+D7FF */
	assert_int_equal(ws_utf8_valid((const uint8_t *)"\xee\x80\x80", 3), 1);	/* U+E000 */
	assert_int_equal(ws_utf8_valid((const uint8_t *)"\xef\xbf\xbf", 3), 1);	/* U+FFFF */
	assert_int_equal(ws_utf8_valid((const uint8_t *)"\xf0\x90\x80\x80", 4), 1);	/* U+10000 */
	assert_int_equal(ws_utf8_valid((const uint8_t *)"\xf4\x8f\xbf\xbf", 4), 1);	/* U+10FFFF */
	assert_int_equal(ws_utf8_valid((const uint8_t *)"a\0b", 3), 1);
	assert_int_equal(ws_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4), 0);
	assert_int_equal(ws_utf8_valid((const uint8_t *)"\xf0\x8f\xbf\xbf", 4), 0);
	assert_int_equal(ws_utf8_valid((const uint8_t *)"\xe0\x9f\xbf", 3), 0);
	assert_int_equal(ws_utf8_valid((const uint8_t *)"\xc2", 1), 0);
	assert_int_equal(ws_utf8_valid((const uint8_t *)"12345678\x80", 9), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_masked_hello),
		cmocka_unit_test(test_partial_header_not_consumed),
		cmocka_unit_test(test_length_7bit),
		cmocka_unit_test(test_length_16bit),
		cmocka_unit_test(test_length_64bit),
		cmocka_unit_test(test_length_non_minimal),
		cmocka_unit_test(test_empty_messages),
		cmocka_unit_test(test_fragmented_with_interleaved_control),
		cmocka_unit_test(test_close_inside_fragmented_message),
		cmocka_unit_test(test_buffer_reuse),
		cmocka_unit_test(test_one_mib_message),
		cmocka_unit_test(test_ten_mib_frame),
		cmocka_unit_test(test_limits_boundary),
		cmocka_unit_test(test_oversized_frame),
		cmocka_unit_test(test_oversized_frame_64bit_header_only),
		cmocka_unit_test(test_oversized_message_via_fragments),
		cmocka_unit_test(test_unmasked_frame),
		cmocka_unit_test(test_reserved_bits),
		cmocka_unit_test(test_bad_opcodes),
		cmocka_unit_test(test_control_frame_rules),
		cmocka_unit_test(test_fragmentation_errors),
		cmocka_unit_test(test_64bit_length_msb),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_binary_not_utf8_checked),
		cmocka_unit_test(test_invalid_utf8_detected_early),
		cmocka_unit_test(test_utf8_split_across_fragments),
		cmocka_unit_test(test_utf8_truncated_in_last_fragment),
		cmocka_unit_test(test_close_frames),
		cmocka_unit_test(test_close_codes),
		cmocka_unit_test(test_close_one_byte),
		cmocka_unit_test(test_close_bad_reason_utf8),
		cmocka_unit_test(test_unmask_any_chunking),
		cmocka_unit_test(test_free_twice),
		cmocka_unit_test(test_frame_header_encoding),
		cmocka_unit_test(test_close_payload_encoding),
		cmocka_unit_test(test_utf8_valid_vectors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
