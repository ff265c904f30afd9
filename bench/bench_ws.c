/* bench_ws — the benchmark programs' shared client pieces (see bench_ws.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1	/* memmem, program_invocation_short_name */
#endif
#include "bench_ws.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK (256u << 10)

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void fatal(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", program_invocation_short_name);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(1);
}

double env_double(const char *name, double dflt)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return dflt;
	char *end;
	double d = strtod(v, &end);
	if (*end || d <= 0)
		fatal("bad value for %s", name);
	return d;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p)
		fatal("%s", "out of memory");
	return p;
}

/* ---------------------------------------------------------------- buffers */

void buf_reserve(struct buf *b, size_t extra)
{
	if (b->off > 0 && b->len + extra > b->cap) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	size_t want = b->len + extra;
	if (want <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < want)
		cap *= 2;
	b->p = xrealloc(b->p, cap);
	b->cap = cap;
}

void buf_add(struct buf *b, const void *data, size_t len)
{
	buf_reserve(b, len);
	memcpy(b->p + b->len, data, len);
	b->len += len;
}

void buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	if (b->off == b->len)
		b->off = b->len = 0;
}

int buf_write(int fd, struct buf *b)
{
	while (b->off < b->len) {
		ssize_t n = write(fd, b->p + b->off, b->len - b->off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -1;
		}
		buf_consume(b, (size_t)n);
	}
	return 0;
}

/* ------------------------------------------------------------------- JSON */

const uint8_t *json_val(const uint8_t *msg, size_t len, const char *key)
{
	char pat[64];
	int pl = snprintf(pat, sizeof pat, "\"%s\"", key);
	const uint8_t *end = msg + len;
	const uint8_t *p = memmem(msg, len, pat, (size_t)pl);
	if (!p)
		return NULL;
	p += pl;
	while (p < end && (*p == ' ' || *p == ':' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p < end ? p : NULL;
}

int json_str(const uint8_t *msg, size_t len, const char *key, const uint8_t **val, size_t *vlen)
{
	const uint8_t *end = msg + len, *p = json_val(msg, len, key);
	if (!p || *p != '"')
		return -1;
	p++;
	const uint8_t *q = memchr(p, '"', (size_t)(end - p));
	if (!q)
		return -1;
	*val = p;
	*vlen = (size_t)(q - p);
	return 0;
}

/* ------------------------------------------------------------ frame codec */

size_t ws_hdr_put(uint8_t h[10], int fin_opcode, int masked, size_t len)
{
	uint8_t m = masked ? 0x80 : 0;
	h[0] = (uint8_t)fin_opcode;
	if (len < 126) {
		h[1] = m | (uint8_t)len;
		return 2;
	}
	if (len < 65536) {
		h[1] = m | 126;
		h[2] = (uint8_t)(len >> 8);
		h[3] = (uint8_t)len;
		return 4;
	}
	h[1] = m | 127;
	for (int i = 0; i < 8; i++)
		h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	return 10;
}

size_t ws_hdr_get(const uint8_t *p, size_t avail, uint64_t *len)
{
	if (avail < 2)
		return 0;
	uint64_t n = p[1] & 0x7F;
	size_t hl = 2;
	if (n == 126) {
		if (avail < 4)
			return 0;
		n = (uint64_t)p[2] << 8 | p[3];
		hl = 4;
	} else if (n == 127) {
		if (avail < 10)
			return 0;
		n = 0;
		for (int i = 0; i < 8; i++)
			n = n << 8 | p[2 + i];
		hl = 10;
	}
	*len = n;
	return hl;
}

void ws_mask(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4])
{
	uint8_t kb[8];
	uint64_t k8;
	for (int i = 0; i < 8; i++)
		kb[i] = key[i & 3];
	memcpy(&k8, kb, 8);
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t v;
		memcpy(&v, src + i, 8);
		v ^= k8;
		memcpy(dst + i, &v, 8);
	}
	for (; i < len; i++)
		dst[i] = src[i] ^ key[i & 3];
}

/* ------------------------------------------------------ WebSocket client */

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

void wsc_queue(struct wsc *c, int fin_opcode, const uint8_t *data, size_t len)
{
	buf_reserve(&c->out, 14 + len);
	uint8_t *h = c->out.p + c->out.len;
	size_t hl = ws_hdr_put(h, fin_opcode, 1, len);
	uint32_t key = (uint32_t)xorshift(&c->rnd) | 1;
	memcpy(h + hl, &key, 4);
	ws_mask(h + hl + 4, data, len, h + hl);
	c->out.len += hl + 4 + len;
}

void wsc_send_text(void *ctx, const uint8_t *msg, size_t len)
{
	wsc_queue(ctx, 0x81, msg, len);
}

void wsc_flush(struct wsc *c)
{
	if (buf_write(c->fd, &c->out) < 0)
		fatal("write: %s", strerror(errno));
	int want = c->out.len > 0;
	if (want != c->want_out) {
		struct epoll_event ev = { .events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c };
		epoll_ctl(c->ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->want_out = want;
	}
}

void wsc_parse(struct wsc *c)
{
	size_t off = c->in.off;
	for (;;) {
		uint8_t *p = c->in.p + off;
		size_t avail = c->in.len - off;
		uint64_t len;
		size_t hl = ws_hdr_get(p, avail, &len);
		if (!hl)
			break;
		int fin = p[0] & 0x80, op = p[0] & 0x0F, masked = p[1] & 0x80;
		size_t mhl = hl + (masked ? 4 : 0);
		if (avail < mhl || avail - mhl < len)
			break;
		uint8_t *data = p + mhl;
		if (masked)	/* servers must not mask; tolerate it anyway */
			ws_mask(data, data, (size_t)len, p + hl);
		off += mhl + (size_t)len;
		switch (op) {
		case 0x1: case 0x2:
			if (fin) {
				c->on_msg(c, data, (size_t)len);
			} else {
				c->frag.len = 0;
				c->frag_op = op;
				buf_add(&c->frag, data, (size_t)len);
			}
			break;
		case 0x0:
			buf_add(&c->frag, data, (size_t)len);
			if (fin && c->frag_op)
				c->on_msg(c, c->frag.p, c->frag.len);
			if (fin)
				c->frag_op = 0;
			break;
		case 0x8:
			fatal("%s", "peer closed the WebSocket");
			break;
		case 0x9:
			wsc_queue(c, 0x8A, data, (size_t)len);
			break;
		default:
			break;
		}
	}
	buf_consume(&c->in, off - c->in.off);
}

void wsc_read(struct wsc *c)
{
	buf_reserve(&c->in, READ_CHUNK);
	ssize_t n = read(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len);
	if (n == 0)
		fatal("%s", "peer closed the connection");
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		fatal("read: %s", strerror(errno));
	}
	c->in.len += (size_t)n;
	c->parse(c);
}

int tcp_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		fatal("socket: %s", strerror(errno));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		fatal("connect: %s", strerror(errno));
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static void wsc_init(struct wsc *c, int fd, int ep, void (*parse)(struct wsc *c), wsc_msg_fn *on_msg,
		     void *ctx)
{
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		fatal("fcntl: %s", strerror(errno));
	c->fd = fd;
	c->ep = ep;
	c->rnd = now_ns() ^ ((uint64_t)fd << 32) ^ 0x9E3779B97F4A7C15ull;
	c->parse = parse;
	c->on_msg = on_msg;
	c->ctx = ctx;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

struct wsc *wsc_attach(int fd, int ep, void (*parse)(struct wsc *c), wsc_msg_fn *on_msg, void *ctx)
{
	struct wsc *c = calloc(1, sizeof *c);
	if (!c)
		fatal("%s", "out of memory");
	wsc_init(c, fd, ep, parse, on_msg, ctx);
	return c;
}

struct wsc *wsc_connect(int port, int ep, wsc_msg_fn *on_msg, void *ctx)
{
	int fd = tcp_connect(port);
	char req[256];
	int rl = snprintf(req, sizeof req,
			  "GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
			  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			  "Sec-WebSocket-Version: 13\r\n\r\n", port);
	if (write(fd, req, (size_t)rl) != rl)
		fatal("handshake write: %s", strerror(errno));

	struct wsc *c = calloc(1, sizeof *c);
	if (!c)
		fatal("%s", "out of memory");
	uint8_t *end = NULL;
	while (!end) {
		buf_reserve(&c->in, 4096);
		ssize_t n = read(fd, c->in.p + c->in.len, c->in.cap - c->in.len);
		if (n <= 0)
			fatal("%s", "connection closed during the WebSocket handshake");
		c->in.len += (size_t)n;
		end = memmem(c->in.p, c->in.len, "\r\n\r\n", 4);
	}
	size_t head = (size_t)(end - c->in.p) + 4;
	if (c->in.len < 12 || memcmp(c->in.p + 9, "101", 3) != 0 ||
	    !memmem(c->in.p, head, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", 28))
		fatal("%s", "WebSocket upgrade refused");
	buf_consume(&c->in, head);
	wsc_init(c, fd, ep, wsc_parse, on_msg, ctx);
	wsc_parse(c);		/* frames that came with the 101 answer */
	return c;
}

void wsc_free(struct wsc *c)
{
	close(c->fd);
	free(c->in.p);
	free(c->out.p);
	free(c->frag.p);
	free(c);
}

void ws_poll(int ep, int timeout_ms)
{
	struct epoll_event evs[128];
	int n = epoll_wait(ep, evs, 128, timeout_ms);
	for (int i = 0; i < n; i++) {
		struct wsc *c = evs[i].data.ptr;
		if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
			wsc_read(c);
		wsc_flush(c);
	}
}
