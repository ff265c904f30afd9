/*
 * ws_echo — the floor of the invocation benchmark: a WebSocket server with no
 * broker behind it. Each masked client data frame is answered with the same
 * payload in an unmasked server frame (same opcode, same FIN bit, so a
 * fragmented message comes back fragmented). Ping gets pong, close gets close.
 *
 * One thread, level-triggered epoll, one read buffer and one output buffer per
 * connection; every frame that arrived in one read is answered by one write.
 * That is the least any WebSocket server can do per message, so a broker's
 * figures divided by these show what the broker itself costs.
 *
 * It is deliberately self-contained (its own SHA-1 for the handshake, no
 * libtrine): the floor must build and run at any commit, also one where the
 * engine does not, so that a benchmark can be repeated while bisecting.
 *
 * usage: ws_echo <port>      (listens on 127.0.0.1; stops on SIGTERM/SIGINT)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1	/* memmem, accept4 */
#endif
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define HANDSHAKE_MAX 8192
#define FRAME_MAX (64u << 20)	/* larger frames close the connection */
#define READ_CHUNK (256u << 10)

/*
 * Bytes live in p[off..len). Consuming only moves off, so a deep output queue
 * drained by partial writes is not memmoved again on every write.
 */
struct buf {
	uint8_t *p;
	size_t off;
	size_t len;
	size_t cap;
};

enum conn_state { CONN_HANDSHAKE, CONN_OPEN, CONN_CLOSING };

struct conn {
	int fd;
	enum conn_state state;
	int want_out;		/* EPOLLOUT armed */
	struct buf in;
	struct buf out;
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static int buf_reserve(struct buf *b, size_t extra)
{
	if (b->off > 0 && b->len + extra > b->cap) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	size_t want = b->len + extra;
	if (want <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < want)
		cap *= 2;
	uint8_t *p = realloc(b->p, cap);
	if (!p)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int buf_add(struct buf *b, const void *data, size_t len)
{
	if (buf_reserve(b, len) < 0)
		return -1;
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

static void buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	if (b->off == b->len)
		b->off = b->len = 0;
}

/* SHA-1 (RFC 3174), only for Sec-WebSocket-Accept. */
static uint32_t rol(uint32_t x, int n)
{
	return (x << n) | (x >> (32 - n));
}

static void sha1_block(uint32_t h[5], const uint8_t *blk)
{
	uint32_t w[80];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)blk[4 * i] << 24 | (uint32_t)blk[4 * i + 1] << 16 |
		       (uint32_t)blk[4 * i + 2] << 8 | blk[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
	for (int i = 0; i < 80; i++) {
		uint32_t f, k;
		if (i < 20) {
			f = (b & c) | (~b & d);
			k = 0x5A827999;
		} else if (i < 40) {
			f = b ^ c ^ d;
			k = 0x6ED9EBA1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8F1BBCDC;
		} else {
			f = b ^ c ^ d;
			k = 0xCA62C1D6;
		}
		uint32_t t = rol(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = rol(b, 30);
		b = a;
		a = t;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

static void sha1(const uint8_t *data, size_t len, uint8_t out[20])
{
	uint32_t h[5] = { 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0 };
	uint8_t blk[64];
	size_t i = 0;
	for (; i + 64 <= len; i += 64)
		sha1_block(h, data + i);
	size_t rest = len - i;
	memset(blk, 0, sizeof blk);
	memcpy(blk, data + i, rest);
	blk[rest] = 0x80;
	if (rest >= 56) {
		sha1_block(h, blk);
		memset(blk, 0, sizeof blk);
	}
	uint64_t bits = (uint64_t)len * 8;
	for (int j = 0; j < 8; j++)
		blk[63 - j] = (uint8_t)(bits >> (8 * j));
	sha1_block(h, blk);
	for (int j = 0; j < 5; j++) {
		out[4 * j] = (uint8_t)(h[j] >> 24);
		out[4 * j + 1] = (uint8_t)(h[j] >> 16);
		out[4 * j + 2] = (uint8_t)(h[j] >> 8);
		out[4 * j + 3] = (uint8_t)h[j];
	}
}

static void base64(const uint8_t *in, size_t len, char *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*out++ = tab[v >> 18];
		*out++ = tab[(v >> 12) & 63];
		*out++ = tab[(v >> 6) & 63];
		*out++ = tab[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		*out++ = tab[v >> 18];
		*out++ = tab[(v >> 12) & 63];
		*out++ = '=';
		*out++ = '=';
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		*out++ = tab[v >> 18];
		*out++ = tab[(v >> 12) & 63];
		*out++ = tab[(v >> 6) & 63];
		*out++ = '=';
	}
	*out = '\0';
}

/* Case-insensitive header lookup in a NUL-terminated request head. */
static int find_header(const char *head, const char *name, char *val, size_t cap)
{
	size_t nlen = strlen(name);
	for (const char *line = strstr(head, "\r\n"); line; line = strstr(line, "\r\n")) {
		line += 2;
		if (strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
			continue;
		const char *v = line + nlen + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		const char *end = strstr(v, "\r\n");
		while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		size_t n = (size_t)(end - v);
		if (n >= cap)
			return -1;
		memcpy(val, v, n);
		val[n] = '\0';
		return 0;
	}
	return -1;
}

/* Returns 1 when the handshake is answered, 0 when more bytes are needed, -1 to close. */
static int do_handshake(struct conn *c)
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	uint8_t *end = memmem(c->in.p, c->in.len, "\r\n\r\n", 4);
	if (!end)
		return c->in.len > HANDSHAKE_MAX ? -1 : 0;
	size_t head_len = (size_t)(end - c->in.p) + 4;
	char head[HANDSHAKE_MAX + 1];
	if (head_len > HANDSHAKE_MAX)
		return -1;
	memcpy(head, c->in.p, head_len);
	head[head_len] = '\0';

	char key[128], cat[128 + sizeof guid], accept[32], resp[256];
	uint8_t digest[20];
	if (strncmp(head, "GET ", 4) != 0 || find_header(head, "Sec-WebSocket-Key", key, sizeof key) < 0) {
		static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
		(void)buf_add(&c->out, bad, sizeof bad - 1);
		c->state = CONN_CLOSING;
		buf_consume(&c->in, head_len);
		return 1;
	}
	int n = snprintf(cat, sizeof cat, "%s%s", key, guid);
	sha1((const uint8_t *)cat, (size_t)n, digest);
	base64(digest, sizeof digest, accept);
	n = snprintf(resp, sizeof resp,
		     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
	if (buf_add(&c->out, resp, (size_t)n) < 0)
		return -1;
	buf_consume(&c->in, head_len);
	c->state = CONN_OPEN;
	return 1;
}

static void unmask(uint8_t *p, size_t len, const uint8_t key[4])
{
	uint64_t k8;
	uint8_t kb[8];
	for (int i = 0; i < 8; i++)
		kb[i] = key[i & 3];
	memcpy(&k8, kb, 8);
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t v;
		memcpy(&v, p + i, 8);
		v ^= k8;
		memcpy(p + i, &v, 8);
	}
	for (; i < len; i++)
		p[i] ^= key[i & 3];
}

static int add_frame(struct buf *out, int fin_opcode, const uint8_t *payload, size_t len)
{
	uint8_t h[10];
	size_t hl;
	h[0] = (uint8_t)fin_opcode;
	if (len < 126) {
		h[1] = (uint8_t)len;
		hl = 2;
	} else if (len < 65536) {
		h[1] = 126;
		h[2] = (uint8_t)(len >> 8);
		h[3] = (uint8_t)len;
		hl = 4;
	} else {
		h[1] = 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
		hl = 10;
	}
	if (buf_reserve(out, hl + len) < 0)
		return -1;
	memcpy(out->p + out->len, h, hl);
	memcpy(out->p + out->len + hl, payload, len);
	out->len += hl + len;
	return 0;
}

/* Answer every complete frame in c->in. Returns -1 to close. */
static int do_frames(struct conn *c)
{
	size_t off = c->in.off;
	int rc = 0;
	while (c->state == CONN_OPEN) {
		uint8_t *p = c->in.p + off;
		size_t avail = c->in.len - off;
		if (avail < 2)
			break;
		int fin_opcode = p[0] & 0x8F;
		int opcode = p[0] & 0x0F;
		if (!(p[1] & 0x80) || (p[0] & 0x70)) {
			rc = -1;	/* unmasked client frame or RSV bits: protocol error */
			break;
		}
		uint64_t len = p[1] & 0x7F;
		size_t hl = 2;
		if (len == 126) {
			if (avail < 4)
				break;
			len = (uint64_t)p[2] << 8 | p[3];
			hl = 4;
		} else if (len == 127) {
			if (avail < 10)
				break;
			len = 0;
			for (int i = 0; i < 8; i++)
				len = len << 8 | p[2 + i];
			hl = 10;
		}
		if (len > FRAME_MAX) {
			rc = -1;
			break;
		}
		if (avail < hl + 4 + len)
			break;
		uint8_t *payload = p + hl + 4;
		unmask(payload, (size_t)len, p + hl);
		off += hl + 4 + (size_t)len;
		switch (opcode) {
		case 0x0: case 0x1: case 0x2:
			rc = add_frame(&c->out, fin_opcode, payload, (size_t)len);
			break;
		case 0x8:
			rc = add_frame(&c->out, 0x88, payload, len >= 2 ? 2 : 0);
			c->state = CONN_CLOSING;
			break;
		case 0x9:
			rc = add_frame(&c->out, 0x8A, payload, (size_t)len);
			break;
		case 0xA:
			break;
		default:
			rc = -1;
		}
		if (rc < 0)
			break;
	}
	buf_consume(&c->in, off - c->in.off);
	return rc;
}

static void conn_close(int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->in.p);
	free(c->out.p);
	free(c);
}

/* Write what is queued; arm EPOLLOUT only while bytes are left. Returns -1 to close. */
static int conn_flush(int ep, struct conn *c)
{
	while (c->out.off < c->out.len) {
		ssize_t n = write(c->fd, c->out.p + c->out.off, c->out.len - c->out.off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -1;
		}
		buf_consume(&c->out, (size_t)n);
	}
	int want = c->out.len > 0;
	if (want != c->want_out) {
		struct epoll_event ev = { .events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c };
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->want_out = want;
	}
	if (c->state == CONN_CLOSING && c->out.len == 0)
		return -1;
	return 0;
}

static int conn_read(struct conn *c)
{
	if (buf_reserve(&c->in, READ_CHUNK) < 0)
		return -1;
	ssize_t n = read(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len);
	if (n == 0)
		return -1;
	if (n < 0)
		return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
	c->in.len += (size_t)n;
	if (c->state == CONN_HANDSHAKE) {
		int r = do_handshake(c);
		if (r <= 0)
			return r;
	}
	return c->state == CONN_OPEN ? do_frames(c) : 0;
}

static int listen_on(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		die("socket");
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("bind");
	if (listen(fd, 128) < 0)
		die("listen");
	return fd;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s <port>\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	int lfd = listen_on(atoi(argv[1]));
	int ep = epoll_create1(0);
	if (ep < 0)
		die("epoll_create1");
	struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);

	struct epoll_event evs[64];
	while (!stop_flag) {
		int n = epoll_wait(ep, evs, 64, -1);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (!c) {
				int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
				if (fd < 0)
					continue;
				int one = 1;
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
				c = calloc(1, sizeof *c);
				if (!c) {
					close(fd);
					continue;
				}
				c->fd = fd;
				c->state = CONN_HANDSHAKE;
				struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
				epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				continue;
			}
			int rc = 0;
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				rc = conn_read(c);
			if (rc == 0)
				rc = conn_flush(ep, c);
			if (rc < 0)
				conn_close(ep, c);
		}
	}
	return 0;
}
