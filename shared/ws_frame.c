/*
 * ws_frame — RFC 6455 frame codec, server side. See ws_frame.h for the
 * contract. No I/O and no logging: the caller owns the socket and decides
 * what to do with an event or an error.
 */
#include "ws_frame.h"

#include <stdlib.h>
#include <string.h>

/*
 * Incremental UTF-8 validator state, packed into dec->utf8_state:
 *   bits 0..7   continuation bytes still expected (0 = between code points)
 *   bits 8..15  lowest allowed value of the next continuation byte
 *   bits 16..23 highest allowed value of the next continuation byte
 * The per-lead-byte bounds reject overlongs (E0, F0), surrogates (ED) and
 * code points above U+10FFFF (F4) exactly where RFC 3629 says they start.
 */
#define UTF8_ACCEPT 0u
#define UTF8_STATE(need, lo, hi) ((uint32_t)(need) | (uint32_t)(lo) << 8 | (uint32_t)(hi) << 16)

/* Returns 0 and updates *state, or -1 when s[0..len) cannot continue valid UTF-8. */
static int utf8_feed(uint32_t *state, const uint8_t *s, size_t len)
{
	uint32_t st = *state;
	size_t i = 0;

	while (i < len) {
		uint8_t b = s[i];

		if (st == UTF8_ACCEPT) {
			/* ASCII fast path: most JSON is plain ASCII. */
			while (i + 8 <= len) {
				uint64_t w;

				memcpy(&w, s + i, 8);
				if (w & UINT64_C(0x8080808080808080))
					break;
				i += 8;
			}
			if (i >= len)
				break;
			b = s[i];
			if (b < 0x80)
				;
			else if (b >= 0xC2 && b <= 0xDF)
				st = UTF8_STATE(1, 0x80, 0xBF);
			else if (b == 0xE0)
				st = UTF8_STATE(2, 0xA0, 0xBF);
			else if (b == 0xED)
				st = UTF8_STATE(2, 0x80, 0x9F);
			else if (b >= 0xE1 && b <= 0xEF)
				st = UTF8_STATE(2, 0x80, 0xBF);
			else if (b == 0xF0)
				st = UTF8_STATE(3, 0x90, 0xBF);
			else if (b >= 0xF1 && b <= 0xF3)
				st = UTF8_STATE(3, 0x80, 0xBF);
			else if (b == 0xF4)
				st = UTF8_STATE(3, 0x80, 0x8F);
			else
				goto bad;
		} else {
			uint32_t need = st & 0xFF;
			uint32_t lo = (st >> 8) & 0xFF, hi = (st >> 16) & 0xFF;

			if (b < lo || b > hi)
				goto bad;
			need--;
			st = need ? UTF8_STATE(need, 0x80, 0xBF) : UTF8_ACCEPT;
		}
		i++;
	}
	*state = st;
	return 0;
bad:
	*state = st;
	return -1;
}

/* Returns 1 when s[0..len) is complete, valid UTF-8, 0 otherwise. */
int ws_utf8_valid(const uint8_t *s, size_t len)
{
	uint32_t st = UTF8_ACCEPT;

	if (utf8_feed(&st, s, len) < 0)
		return 0;
	return st == UTF8_ACCEPT;
}

void ws_decoder_init(struct ws_decoder *dec, size_t max_frame, size_t max_message)
{
	memset(dec, 0, sizeof(*dec));
	dec->max_frame = max_frame;
	dec->max_message = max_message;
}

/* Safe on a zeroed or already freed decoder; limits survive so it can be reused. */
void ws_decoder_free(struct ws_decoder *dec)
{
	size_t max_frame = dec->max_frame, max_message = dec->max_message;

	free(dec->msg);
	ws_decoder_init(dec, max_frame, max_message);
}

static int fail(struct ws_decoder *dec, uint16_t code, const char *reason)
{
	dec->err_code = code;
	dec->err_reason = reason;
	return WS_ERROR;
}

/*
 * XOR p[0..len) with the frame mask, starting at mask byte `off`. Works 8
 * bytes at a time through memcpy so any alignment is fine; after 8 bytes the
 * mask phase is unchanged, so only the head and tail need byte steps.
 */
static void unmask(uint8_t *p, size_t len, const uint8_t mask[4], size_t off)
{
	size_t i = 0;

	if (len >= 16) {
		uint8_t m[8];
		uint64_t mw, w;
		int j;

		for (j = 0; j < 8; j++)
			m[j] = mask[(off + (size_t)j) & 3];
		memcpy(&mw, m, 8);
		for (; i + 8 <= len; i += 8) {
			memcpy(&w, p + i, 8);
			w ^= mw;
			memcpy(p + i, &w, 8);
		}
	}
	for (; i < len; i++)
		p[i] ^= mask[(off + i) & 3];
}

static int is_control(int opcode)
{
	return (opcode & 0x8) != 0;
}

static int known_opcode(int opcode)
{
	switch (opcode) {
	case WS_OP_CONT:
	case WS_OP_TEXT:
	case WS_OP_BINARY:
	case WS_OP_CLOSE:
	case WS_OP_PING:
	case WS_OP_PONG:
		return 1;
	default:
		return 0;
	}
}

/* RFC 6455 §7.4: codes a peer may put on the wire (1012-1014 are IANA-registered). */
static int close_code_valid(unsigned code)
{
	if (code >= 1000 && code <= 1003)
		return 1;
	if (code >= 1007 && code <= 1014)
		return 1;
	return code >= 3000 && code <= 4999;
}

/*
 * Parse and validate a frame header at buf[0..len). Returns the header size,
 * 0 when more bytes are needed, or WS_ERROR. The cheap checks on the first
 * two bytes run before the rest of the header arrives, so a bad peer is cut
 * off as early as possible.
 */
static int parse_header(struct ws_decoder *dec, const uint8_t *buf, size_t len)
{
	int fin, opcode, masked;
	size_t need, i;
	uint64_t plen;

	if (len < 2)
		return 0;
	fin = (buf[0] & 0x80) != 0;
	opcode = buf[0] & 0x0F;
	masked = (buf[1] & 0x80) != 0;
	plen = buf[1] & 0x7F;

	if (buf[0] & 0x70)
		return fail(dec, WS_CLOSE_PROTOCOL, "reserved bits set");
	if (!known_opcode(opcode))
		return fail(dec, WS_CLOSE_PROTOCOL, "unknown opcode");
	if (is_control(opcode)) {
		if (!fin)
			return fail(dec, WS_CLOSE_PROTOCOL, "fragmented control frame");
		if (plen > 125)
			return fail(dec, WS_CLOSE_PROTOCOL, "control frame too long");
	} else if (opcode == WS_OP_CONT) {
		if (!dec->msg_opcode)
			return fail(dec, WS_CLOSE_PROTOCOL, "continuation without a started message");
	} else if (dec->msg_opcode) {
		return fail(dec, WS_CLOSE_PROTOCOL, "new message inside a fragmented message");
	}
	if (!masked)
		return fail(dec, WS_CLOSE_PROTOCOL, "frames from the client must be masked");

	need = 2 + (plen == 126 ? 2 : plen == 127 ? 8 : 0) + 4;
	if (len < need)
		return 0;
	if (plen == 126) {
		plen = (uint64_t)buf[2] << 8 | buf[3];
	} else if (plen == 127) {
		if (buf[2] & 0x80)
			return fail(dec, WS_CLOSE_PROTOCOL, "64-bit length with the high bit set");
		plen = 0;
		for (i = 2; i < 10; i++)
			plen = plen << 8 | buf[i];
	}
	/* Non-minimal length encodings are accepted: RFC 6455 says MUST, but
	 * rejecting them buys nothing and breaks sloppy clients. */
	if (plen > dec->max_frame)
		return fail(dec, WS_CLOSE_TOO_BIG, "frame too big");
	if (!is_control(opcode)) {
		size_t have = opcode == WS_OP_CONT ? dec->msg_len : 0;

		if (plen > dec->max_message || plen > dec->max_message - have)
			return fail(dec, WS_CLOSE_TOO_BIG, "message too big");
	}

	dec->fin = fin;
	dec->opcode = opcode;
	memcpy(dec->mask, buf + need - 4, 4);
	dec->frame_len = plen;
	dec->frame_done = 0;
	dec->in_frame = 1;
	if (is_control(opcode)) {
		dec->ctl_len = 0;
	} else if (opcode != WS_OP_CONT) {
		dec->msg_opcode = opcode;
		dec->msg_len = 0;
		dec->utf8_state = UTF8_ACCEPT;
	}
	return (int)need;
}

/*
 * Make room for `more` message bytes. Doubling keeps copies amortised; the
 * cap never passes max_message, and memory follows the bytes that actually
 * arrived rather than the length a peer announced.
 */
static int msg_reserve(struct ws_decoder *dec, size_t more)
{
	size_t need = dec->msg_len + more, cap;
	uint8_t *p;

	if (need <= dec->msg_cap)
		return 0;
	cap = dec->msg_cap ? dec->msg_cap : 4096;
	while (cap < need && cap <= dec->max_message / 2)
		cap *= 2;
	if (cap < need || cap > dec->max_message)
		cap = dec->max_message;
	if (cap < need)
		cap = need;	/* unreachable: the header check bounds need */
	p = realloc(dec->msg, cap);
	if (!p)
		return -1;
	dec->msg = p;
	dec->msg_cap = cap;
	return 0;
}

/* A control frame is complete: validate a close payload and fill *ev. */
static int finish_control(struct ws_decoder *dec, struct ws_event *ev)
{
	ev->opcode = dec->opcode;
	ev->data = dec->ctl;
	ev->len = dec->ctl_len;
	ev->close_code = 0;
	if (dec->opcode != WS_OP_CLOSE)
		return WS_OK;
	if (dec->ctl_len == 0) {
		ev->close_code = WS_CLOSE_NO_STATUS;
		return WS_OK;
	}
	if (dec->ctl_len == 1)
		return fail(dec, WS_CLOSE_PROTOCOL, "close payload of 1 byte");
	ev->close_code = (uint16_t)(dec->ctl[0] << 8 | dec->ctl[1]);
	if (!close_code_valid(ev->close_code))
		return fail(dec, WS_CLOSE_PROTOCOL, "invalid close code");
	if (!ws_utf8_valid(dec->ctl + 2, dec->ctl_len - 2))
		return fail(dec, WS_CLOSE_INVALID_DATA, "close reason is not valid UTF-8");
	return WS_OK;
}

int ws_decode(struct ws_decoder *dec, const uint8_t *buf, size_t len,
	      size_t *consumed, struct ws_event *ev)
{
	size_t pos = 0;
	int rc;

	*consumed = 0;
	if (dec->err_code)
		return WS_ERROR;	/* sticky: the connection is being closed */
	if (len == 0)
		return WS_AGAIN;	/* also keeps a NULL buf out of pointer arithmetic */

	for (;;) {
		if (!dec->in_frame) {
			rc = parse_header(dec, buf + pos, len - pos);
			if (rc < 0)
				goto out;
			if (rc == 0) {
				rc = WS_AGAIN;
				goto out;
			}
			pos += (size_t)rc;
		}

		if (dec->frame_done < dec->frame_len) {
			uint64_t left = dec->frame_len - dec->frame_done;
			size_t n = len - pos;
			uint8_t *dst;

			if ((uint64_t)n > left)
				n = (size_t)left;
			if (n == 0) {
				rc = WS_AGAIN;
				goto out;
			}
			if (is_control(dec->opcode)) {
				dst = dec->ctl + dec->ctl_len;
				dec->ctl_len += n;
			} else {
				if (msg_reserve(dec, n) < 0) {
					rc = fail(dec, WS_CLOSE_INTERNAL, "out of memory");
					goto out;
				}
				dst = dec->msg + dec->msg_len;
				dec->msg_len += n;
			}
			memcpy(dst, buf + pos, n);
			unmask(dst, n, dec->mask, (size_t)(dec->frame_done & 3));
			pos += n;
			dec->frame_done += n;
			if (dec->msg_opcode == WS_OP_TEXT && !is_control(dec->opcode) &&
			    utf8_feed(&dec->utf8_state, dst, n) < 0) {
				rc = fail(dec, WS_CLOSE_INVALID_DATA, "invalid UTF-8 in text message");
				goto out;
			}
			if (dec->frame_done < dec->frame_len) {
				rc = WS_AGAIN;
				goto out;
			}
		}

		/* frame complete */
		dec->in_frame = 0;
		if (is_control(dec->opcode)) {
			rc = finish_control(dec, ev);
			goto out;
		}
		if (!dec->fin)
			continue;
		if (dec->msg_opcode == WS_OP_TEXT && dec->utf8_state != UTF8_ACCEPT) {
			rc = fail(dec, WS_CLOSE_INVALID_DATA, "text message ends inside a UTF-8 sequence");
			goto out;
		}
		ev->opcode = dec->msg_opcode;
		ev->data = dec->msg ? dec->msg : dec->ctl;	/* never NULL, even when empty */
		ev->len = dec->msg_len;
		ev->close_code = 0;
		dec->msg_opcode = 0;
		rc = WS_OK;
		goto out;
	}
out:
	*consumed = pos;
	return rc;
}

size_t ws_frame_header(uint8_t out[10], int opcode, int fin, uint64_t payload_len)
{
	int i;

	out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0F));
	if (payload_len < 126) {
		out[1] = (uint8_t)payload_len;
		return 2;
	}
	if (payload_len <= 0xFFFF) {
		out[1] = 126;
		out[2] = (uint8_t)(payload_len >> 8);
		out[3] = (uint8_t)payload_len;
		return 4;
	}
	out[1] = 127;
	for (i = 0; i < 8; i++)
		out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
	return 10;
}

/*
 * The reason is ours (a static string or a peer-facing message), but it may
 * be longer than a control frame allows; cutting inside a multi-byte
 * sequence would make the peer fail the close with 1007.
 */
size_t ws_close_payload(uint8_t out[125], uint16_t code, const char *reason)
{
	size_t rlen = reason ? strlen(reason) : 0;

	out[0] = (uint8_t)(code >> 8);
	out[1] = (uint8_t)code;
	if (rlen > 123) {
		rlen = 123;
		while (rlen > 0 && ((uint8_t)reason[rlen] & 0xC0) == 0x80)
			rlen--;
	}
	if (rlen)
		memcpy(out + 2, reason, rlen);
	return 2 + rlen;
}
