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
 * It deliberately does not link libtrine (it compiles only bench/bench_ws.c
 * and shared/sha1.c with it): the floor must build and run at any commit, also
 * one where the engine does not, so that a benchmark can be repeated while
 * bisecting.
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

#include "bench_ws.h"
#include "sha1.h"

#define HANDSHAKE_MAX 8192
#define FRAME_MAX (64u << 20)	/* larger frames close the connection */
#define READ_CHUNK (256u << 10)

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
	uint8_t *end = memmem(c->in.p, c->in.len, "\r\n\r\n", 4);
	if (!end)
		return c->in.len > HANDSHAKE_MAX ? -1 : 0;
	size_t head_len = (size_t)(end - c->in.p) + 4;
	char head[HANDSHAKE_MAX + 1];
	if (head_len > HANDSHAKE_MAX)
		return -1;
	memcpy(head, c->in.p, head_len);
	head[head_len] = '\0';

	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	char key[128], cat[128 + sizeof guid], accept[32], resp[256];
	uint8_t digest[20];
	if (strncmp(head, "GET ", 4) != 0 || find_header(head, "Sec-WebSocket-Key", key, sizeof key) < 0) {
		static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
		buf_add(&c->out, bad, sizeof bad - 1);
		c->state = CONN_CLOSING;
		buf_consume(&c->in, head_len);
		return 1;
	}
	int n = snprintf(cat, sizeof cat, "%s%s", key, guid);
	sha1(cat, (size_t)n, digest);
	base64(digest, sizeof digest, accept);
	n = snprintf(resp, sizeof resp,
		     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
	buf_add(&c->out, resp, (size_t)n);
	buf_consume(&c->in, head_len);
	c->state = CONN_OPEN;
	return 1;
}

/* Append one unmasked server frame to out. */
static void add_frame(struct buf *out, int fin_opcode, const uint8_t *payload, size_t len)
{
	uint8_t h[10];
	size_t hl = ws_hdr_put(h, fin_opcode, 0, len);
	buf_reserve(out, hl + len);
	memcpy(out->p + out->len, h, hl);
	memcpy(out->p + out->len + hl, payload, len);
	out->len += hl + len;
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
		uint64_t len;
		size_t hl = ws_hdr_get(p, avail, &len);
		if (!hl)
			break;
		if (len > FRAME_MAX) {
			rc = -1;
			break;
		}
		if (avail < hl + 4 + len)
			break;
		uint8_t *payload = p + hl + 4;
		ws_mask(payload, payload, (size_t)len, p + hl);
		off += hl + 4 + (size_t)len;
		switch (opcode) {
		case 0x0: case 0x1: case 0x2:
			add_frame(&c->out, fin_opcode, payload, (size_t)len);
			break;
		case 0x8:
			add_frame(&c->out, 0x88, payload, len >= 2 ? 2 : 0);
			c->state = CONN_CLOSING;
			break;
		case 0x9:
			add_frame(&c->out, 0x8A, payload, (size_t)len);
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
	if (buf_write(c->fd, &c->out) < 0)
		return -1;
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
	buf_reserve(&c->in, READ_CHUNK);
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
