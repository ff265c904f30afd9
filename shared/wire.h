/*
 * wire — the internal envelope between fronts (brokers, fanouts) and the
 * router, carried as ZeroMQ multipart messages:
 *
 *   [identity]  (only on the router's ROUTER socket)
 *   "T1"        version
 *   kind        short ASCII verb: hello, welcome, hb, resync, open, close,
 *               msg, otel, send, result, kick
 *   header      connection ids, n x uint64 big-endian (may be empty)
 *   body        JSON text (may be empty)
 *   [key]       optional: the caller's invocation id for `result`
 *
 * wire_parse() is pure (frames in, struct out) so it is unit-tested and
 * fuzzed; wire_send()/wire_recv() are the only functions here that touch a
 * socket.
 */
#ifndef TRINE_WIRE_H
#define TRINE_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#define WIRE_VERSION "T1"
#define WIRE_MAX_PARTS 6
#define WIRE_MAX_IDS 65536

struct wire_frame {
	const void *data;
	size_t len;
};

struct wire_msg {
	/* parsed views; point into parts[] */
	const char *ident;
	size_t ident_len;
	char kind[16];
	size_t nids;
	const uint8_t *ids_raw;		/* nids * 8 bytes big-endian */
	const char *body;
	size_t body_len;
	const char *key;
	size_t key_len;

	/* received frames, owned */
	zmq_msg_t parts[WIRE_MAX_PARTS];
	int nparts;
};

/* Connection id i of the header. */
uint64_t wire_id(const struct wire_msg *m, size_t i);
void wire_put_id(uint8_t out[8], uint64_t id);

/*
 * Parse frames (without the identity frame). Returns 0, or -1 if the envelope
 * is malformed (wrong version, kind too long or not printable, header length
 * not a multiple of 8, too many frames).
 */
int wire_parse(const struct wire_frame *f, size_t n, struct wire_msg *m);

/*
 * Receive one whole multipart message without blocking. with_ident: the
 * socket is a ROUTER. Returns 0 on a message, 1 when nothing is waiting,
 * -1 on a malformed message (already consumed and released; logged).
 */
int wire_recv(void *sock, int with_ident, struct wire_msg *m);
void wire_msg_close(struct wire_msg *m);

/*
 * Send one message without blocking. ident may be NULL (DEALER side).
 * Returns 0, or -1 with errno (EAGAIN when the peer's queue is full).
 */
int wire_send(void *sock, const void *ident, size_t ident_len, const char *kind,
	      const uint64_t *ids, size_t nids, const void *body, size_t body_len,
	      const void *key, size_t key_len);

/*
 * The body parsed as one JSON value. The body is a ZeroMQ frame, not a C
 * string: it is parsed by its length, never read past its end. An empty body
 * is an empty object. Returns a new reference, or NULL if it is not JSON.
 */
struct json_object;
struct json_object *wire_body_json(const struct wire_msg *m, int max_depth);

#endif
