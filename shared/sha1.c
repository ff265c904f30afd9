/*
 * sha1 — plain SHA-1 (FIPS 180-4 / RFC 3174), written for trine and placed in
 * the public domain. Only the WebSocket handshake uses it, to compute
 * Sec-WebSocket-Accept; it is never used for anything security-relevant.
 */
#include "sha1.h"

#include <string.h>

struct sha1_ctx {
	uint32_t h[5];
	uint64_t total;		/* bytes hashed so far */
	uint8_t block[64];
	size_t used;		/* bytes pending in block */
};

static uint32_t rol32(uint32_t x, unsigned n)
{
	return (x << n) | (x >> (32 - n));
}

/* One 64-byte block; the message schedule is kept as a rolling 16-word window. */
static void sha1_block(uint32_t h[5], const uint8_t p[64])
{
	uint32_t w[16], a, b, c, d, e, f, k, t;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
	a = h[0];
	b = h[1];
	c = h[2];
	d = h[3];
	e = h[4];
	for (i = 0; i < 80; i++) {
		if (i >= 16) {
			t = w[(i + 13) & 15] ^ w[(i + 8) & 15] ^ w[(i + 2) & 15] ^ w[i & 15];
			w[i & 15] = rol32(t, 1);
		}
		if (i < 20) {
			f = (b & c) | (~b & d);
			k = 0x5A827999u;
		} else if (i < 40) {
			f = b ^ c ^ d;
			k = 0x6ED9EBA1u;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8F1BBCDCu;
		} else {
			f = b ^ c ^ d;
			k = 0xCA62C1D6u;
		}
		t = rol32(a, 5) + f + e + k + w[i & 15];
		e = d;
		d = c;
		c = rol32(b, 30);
		b = a;
		a = t;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

static void sha1_update(struct sha1_ctx *ctx, const uint8_t *p, size_t len)
{
	size_t n;

	ctx->total += len;
	while (len > 0) {
		if (ctx->used == 0 && len >= 64) {
			sha1_block(ctx->h, p);
			p += 64;
			len -= 64;
			continue;
		}
		n = 64 - ctx->used;
		if (n > len)
			n = len;
		memcpy(ctx->block + ctx->used, p, n);
		ctx->used += n;
		p += n;
		len -= n;
		if (ctx->used == 64) {
			sha1_block(ctx->h, ctx->block);
			ctx->used = 0;
		}
	}
}

/* Padding: 0x80, zeros up to 56 mod 64, then the bit length big-endian. */
static void sha1_final(struct sha1_ctx *ctx, uint8_t out[20])
{
	uint64_t bits = ctx->total * 8;
	uint8_t pad[72];
	size_t padlen = (ctx->used < 56) ? 56 - ctx->used : 120 - ctx->used;
	int i;

	memset(pad, 0, sizeof(pad));
	pad[0] = 0x80;
	for (i = 0; i < 8; i++)
		pad[padlen + (size_t)i] = (uint8_t)(bits >> (56 - 8 * i));
	sha1_update(ctx, pad, padlen + 8);
	for (i = 0; i < 5; i++) {
		out[4 * i] = (uint8_t)(ctx->h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(ctx->h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(ctx->h[i] >> 8);
		out[4 * i + 3] = (uint8_t)ctx->h[i];
	}
}

void sha1(const void *data, size_t len, uint8_t out[20])
{
	struct sha1_ctx ctx;

	ctx.h[0] = 0x67452301u;
	ctx.h[1] = 0xEFCDAB89u;
	ctx.h[2] = 0x98BADCFEu;
	ctx.h[3] = 0x10325476u;
	ctx.h[4] = 0xC3D2E1F0u;
	ctx.total = 0;
	ctx.used = 0;
	sha1_update(&ctx, (const uint8_t *)data, len);
	sha1_final(&ctx, out);
}
