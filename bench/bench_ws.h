/*
 * bench_ws — what the benchmark programs share: clocks and fatal errors,
 * growable byte buffers, a JSON string field finder, the RFC 6455 frame header
 * and masking, and a non-blocking WebSocket client on an epoll set (loadgen,
 * topics_load, trigger_load; ws_echo uses the buffers and the frame codec).
 * Benchmarks only: errors are fatal, nothing here is used by trine itself.
 */
#ifndef TRINE_BENCH_WS_H
#define TRINE_BENCH_WS_H
#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in ns. */
uint64_t now_ns(void);

/* Print "<program>: " fmt (with one string arg) and exit(1). */
__attribute__((noreturn)) void fatal(const char *fmt, const char *arg);

/* A positive number from the environment, dflt when unset or empty; fatal if malformed. */
double env_double(const char *name, double dflt);

/* realloc that is fatal on failure. */
void *xrealloc(void *p, size_t n);

/*
 * Bytes live in p[off..len). Consuming only moves off, so a deep output queue
 * drained by partial writes is not memmoved again on every write. Growing is
 * fatal when memory runs out.
 */
struct buf {
	uint8_t *p;
	size_t off;
	size_t len;
	size_t cap;
};

void buf_reserve(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *data, size_t len);
void buf_consume(struct buf *b, size_t n);

/* Write b's bytes to the non-blocking fd until it would block; -1 on an error (errno). */
int buf_write(int fd, struct buf *b);

/* Where the value of JSON member "key" starts (after ':' and blanks), or NULL. */
const uint8_t *json_val(const uint8_t *msg, size_t len, const char *key);

/*
 * Value of the JSON string field "key" in msg, or -1. Tolerates whitespace
 * around ':' (json-c's spaced output) but not escapes: the benchmarks' ids and
 * payloads never contain any.
 */
int json_str(const uint8_t *msg, size_t len, const char *key, const uint8_t **val, size_t *vlen);

/* ------------------------------------------------------- frame codec */

/*
 * Write a frame header (RFC 6455 §5.2) for a payload of len bytes into h,
 * with the MASK bit when masked (the 4 key bytes are not written). Returns its
 * length: 2, 4 or 10.
 */
size_t ws_hdr_put(uint8_t h[10], int fin_opcode, int masked, size_t len);

/*
 * Read the payload length of the frame header at p[0..avail) (the MASK bit
 * and key are the caller's). Returns the header length without the key, or 0
 * when more bytes are needed.
 */
size_t ws_hdr_get(const uint8_t *p, size_t avail, uint64_t *len);

/* dst[i] = src[i] ^ key[i % 4], eight bytes at a time; dst may be src. */
void ws_mask(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4]);

/* ------------------------------------------------------ WebSocket client */

/*
 * One client connection on an epoll set (data.ptr is the struct wsc). parse
 * turns c->in into calls of on_msg: wsc_parse for WebSocket, or the program's
 * own (trigger_load's RESP) for a raw TCP peer.
 */
struct wsc {
	int fd;
	int ep;
	int want_out;
	uint64_t rnd;		/* xorshift state for mask keys */
	uint64_t answers;	/* left to the program (trigger_load counts replies) */
	struct buf in, out, frag;
	int frag_op;
	void (*parse)(struct wsc *c);
	void (*on_msg)(struct wsc *c, const uint8_t *msg, size_t len);
	void *ctx;
};

typedef void wsc_msg_fn(struct wsc *c, const uint8_t *msg, size_t len);

/* Blocking TCP connect to 127.0.0.1:port with TCP_NODELAY. */
int tcp_connect(int port);

/*
 * Blocking connect and upgrade, then non-blocking for the loop. The key is
 * RFC 6455's sample, so the expected accept value is a constant.
 */
struct wsc *wsc_connect(int port, int ep, wsc_msg_fn *on_msg, void *ctx);

/* A connected fd made non-blocking and added to ep, its input read by parse. */
struct wsc *wsc_attach(int fd, int ep, void (*parse)(struct wsc *c), wsc_msg_fn *on_msg, void *ctx);

/* Append one masked client frame (RFC 6455 §5.3) to the output buffer. */
void wsc_queue(struct wsc *c, int fin_opcode, const uint8_t *data, size_t len);

/* A text message; ctx is the struct wsc (the shape of a send callback). */
void wsc_send_text(void *ctx, const uint8_t *msg, size_t len);

/* Write what is queued; EPOLLOUT stays armed only while bytes are left. */
void wsc_flush(struct wsc *c);

/*
 * Hand every complete server frame in c->in to on_msg (fragments joined; a
 * ping is answered, a close is fatal); keeps a partial frame for later.
 */
void wsc_parse(struct wsc *c);

/* Read what is there and parse it; EOF or an error is fatal. */
void wsc_read(struct wsc *c);

void wsc_free(struct wsc *c);

/* One wait on an epoll set: read what arrived, then write what that queued. */
void ws_poll(int ep, int timeout_ms);

#endif
