/*
 * http_worker — the C worker of the HTTP trigger benchmark (bench/scenario-http).
 *
 *   http_worker <worker_port> <routes> <body>
 *
 * Connects one WebSocket to trine's worker port, registers bench::http and
 * <routes> http triggers GET /r/<i>/:id (i = 0 .. routes-1), prints "ready"
 * once the engine has answered a probe call, then answers every invocation
 * with {"status_code":200,"body":<body>} until the connection closes.
 * Blocking I/O, one thread: the point is to cost the engine, not the worker.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1	/* memmem */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int fd = -1;
static char *in;
static size_t in_len, in_cap;

static void die(const char *what)
{
	fprintf(stderr, "http_worker: %s: %s\n", what, errno ? strerror(errno) : "failed");
	exit(1);
}

static void write_all(const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("write");
		p += w;
		n -= (size_t)w;
	}
}

/* One masked client text frame (mask 0: payload unchanged). */
static char *out;
static size_t out_len, out_cap;

static void frame(const char *s, size_t n)
{
	size_t need = out_len + n + 14;
	if (need > out_cap) {
		out_cap = need * 2;
		out = realloc(out, out_cap);
		if (!out)
			die("realloc");
	}
	char *p = out + out_len;
	*p++ = (char)0x81;
	if (n < 126) {
		*p++ = (char)(0x80 | n);
	} else if (n < 65536) {
		*p++ = (char)(0x80 | 126);
		*p++ = (char)(n >> 8);
		*p++ = (char)n;
	} else {
		*p++ = (char)(0x80 | 127);
		for (int i = 7; i >= 0; i--)
			*p++ = (char)(n >> (8 * i));
	}
	memset(p, 0, 4);
	p += 4;
	memcpy(p, s, n);
	out_len = (size_t)(p + n - out);
}

static void flush_out(void)
{
	write_all(out, out_len);
	out_len = 0;
}

static int fill(void)
{
	if (in_cap - in_len < 65536) {
		in_cap = in_cap ? in_cap * 2 : 1 << 20;
		in = realloc(in, in_cap);
		if (!in)
			die("realloc");
	}
	ssize_t r = read(fd, in + in_len, in_cap - in_len);
	if (r <= 0)
		return -1;
	in_len += (size_t)r;
	return 0;
}

/* Next complete server frame's payload, or NULL when more bytes are needed. */
static const char *next_frame(size_t *off, size_t *plen, int *op)
{
	size_t o = *off, h = 2, n;
	if (in_len - o < 2)
		return NULL;
	*op = in[o] & 0x0f;
	n = (unsigned char)in[o + 1] & 0x7f;
	if (n == 126) {
		if (in_len - o < 4)
			return NULL;
		n = ((size_t)(unsigned char)in[o + 2] << 8) | (unsigned char)in[o + 3];
		h = 4;
	} else if (n == 127) {
		if (in_len - o < 10)
			return NULL;
		n = 0;
		for (int i = 0; i < 8; i++)
			n = (n << 8) | (unsigned char)in[o + 2 + i];
		h = 10;
	}
	if (in_len - o < h + n)
		return NULL;
	*plen = n;
	*off = o + h + n;
	return in + o + h;
}

/* The value of "invocation_id":"..." in a frame, copied into id. */
static int find_id(const char *p, size_t n, char *id, size_t idlen)
{
	static const char key[] = "\"invocation_id\":\"";
	const char *k = memmem(p, n, key, sizeof key - 1), *e;
	if (!k)
		return -1;
	k += sizeof key - 1;
	e = memchr(k, '"', n - (size_t)(k - p));
	if (!e || (size_t)(e - k) >= idlen)
		return -1;
	memcpy(id, k, (size_t)(e - k));
	id[e - k] = '\0';
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	char buf[4096], id[128];
	int one = 1, routes, ready = 0;
	const char *body;

	if (argc != 4) {
		fprintf(stderr, "usage: http_worker <worker_port> <routes> <body>\n");
		return 2;
	}
	routes = atoi(argv[2]);
	body = argv[3];
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)atoi(argv[1]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	int n = snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			 "Sec-WebSocket-Version: 13\r\n\r\n");
	write_all(buf, (size_t)n);
	for (;;) {
		if (fill() < 0)
			die("handshake");
		char *e = memmem(in, in_len, "\r\n\r\n", 4);
		if (e) {
			size_t h = (size_t)(e + 4 - in);
			memmove(in, in + h, in_len - h);
			in_len -= h;
			break;
		}
	}
	n = snprintf(buf, sizeof buf, "{\"type\":\"registerfunction\",\"id\":\"bench::http\"}");
	frame(buf, (size_t)n);
	for (int i = 0; i < routes; i++) {
		n = snprintf(buf, sizeof buf, "{\"type\":\"registertrigger\",\"id\":\"bench-route-%d\","
			     "\"trigger_type\":\"http\",\"function_id\":\"bench::http\","
			     "\"config\":{\"api_path\":\"/r/%d/:id\",\"http_method\":\"GET\"}}", i, i);
		frame(buf, (size_t)n);
	}
	/* everything before this call has been applied once its answer comes */
	n = snprintf(buf, sizeof buf, "{\"type\":\"invokefunction\",\"invocation_id\":"
		     "\"00000000-0000-4000-8000-000000000001\",\"function_id\":\"engine::functions::list\","
		     "\"data\":{}}");
	frame(buf, (size_t)n);
	flush_out();
	char *res = malloc(strlen(body) + 256);
	if (!res)
		die("malloc");
	for (;;) {
		size_t off = 0, plen;
		int op;
		const char *p;
		if (fill() < 0)
			return 0;
		while ((p = next_frame(&off, &plen, &op))) {
			if (op == 8)
				return 0;
			if (op != 1 && op != 2)
				continue;
			if (!ready && memmem(p, plen, "00000000-0000-4000-8000-000000000001", 36)) {
				ready = 1;
				printf("ready\n");
				fflush(stdout);
				continue;
			}
			if (!memmem(p, plen, "\"invokefunction\"", 16) || find_id(p, plen, id, sizeof id) < 0)
				continue;
			n = sprintf(res, "{\"type\":\"invocationresult\",\"invocation_id\":\"%s\","
				    "\"function_id\":\"bench::http\",\"result\":{\"status_code\":200,"
				    "\"body\":%s}}", id, body);
			frame(res, (size_t)n);
		}
		memmove(in, in + off, in_len - off);
		in_len -= off;
		if (out_len)
			flush_out();	/* one write per read: answers to a burst go together */
	}
}
