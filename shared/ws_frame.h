/*
 * ws_frame — RFC 6455 frame codec, server side. No I/O: the caller hands in
 * bytes and gets back events. One decoder per connection; it reassembles
 * fragmented messages, validates UTF-8 of text messages incrementally, and
 * lets control frames interleave with a fragmented message.
 */
#ifndef TRINE_WS_FRAME_H
#define TRINE_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum ws_opcode {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xA,
};

/* Close status codes we send (RFC 6455 §7.4.1). */
enum ws_close_code {
	WS_CLOSE_NORMAL = 1000,
	WS_CLOSE_GOING_AWAY = 1001,
	WS_CLOSE_PROTOCOL = 1002,
	WS_CLOSE_UNSUPPORTED = 1003,
	WS_CLOSE_NO_STATUS = 1005,	/* never sent on the wire */
	WS_CLOSE_INVALID_DATA = 1007,
	WS_CLOSE_POLICY = 1008,
	WS_CLOSE_TOO_BIG = 1009,
	WS_CLOSE_INTERNAL = 1011,
	WS_CLOSE_TRY_AGAIN = 1013,
};

enum ws_status {
	WS_OK = 0,	/* *ev holds one complete message or control frame */
	WS_AGAIN = 1,	/* every byte given was consumed (or too few for a header): give more */
	WS_ERROR = -1,	/* protocol violation: close with dec->err_code / dec->err_reason */
};

struct ws_event {
	int opcode;		/* WS_OP_TEXT/BINARY (whole message), PING, PONG, CLOSE */
	const uint8_t *data;	/* owned by the decoder, valid until the next ws_decode call */
	size_t len;
	uint16_t close_code;	/* for CLOSE: code sent by the peer, WS_CLOSE_NO_STATUS if none */
};

struct ws_decoder {
	/* limits, set by ws_decoder_init */
	size_t max_frame;	/* largest single frame payload */
	size_t max_message;	/* largest reassembled message */

	/* current frame */
	int in_frame;		/* header parsed, payload bytes pending */
	int fin;
	int opcode;
	uint8_t mask[4];
	uint64_t frame_len;
	uint64_t frame_done;

	/* message being reassembled (data opcodes) */
	int msg_opcode;		/* 0 when no message is open */
	uint8_t *msg;
	size_t msg_len;
	size_t msg_cap;
	uint32_t utf8_state;	/* incremental validator state for text messages */

	/* control frame payload (<= 125 bytes) */
	uint8_t ctl[125];
	size_t ctl_len;

	/* set when WS_ERROR is returned */
	uint16_t err_code;
	const char *err_reason;	/* static string */
};

void ws_decoder_init(struct ws_decoder *dec, size_t max_frame, size_t max_message);
void ws_decoder_free(struct ws_decoder *dec);

/*
 * Feed bytes. Consumes up to len bytes, sets *consumed, and returns WS_OK when
 * an event is ready (call again with the rest of the bytes), WS_AGAIN when it
 * needs more input, WS_ERROR on a protocol violation. A frame header is only
 * consumed when it is complete in buf: when fewer bytes than the header needs
 * are given, WS_AGAIN is returned with *consumed == 0 and the caller must
 * offer those bytes again together with more (contiguously). Payload bytes are
 * consumed incrementally, so a large frame does not need to be contiguous.
 *
 * Rules enforced: client frames must be masked (1002), RSV bits must be 0
 * (1002), unknown opcodes (1002), control frames <= 125 bytes and not
 * fragmented (1002), continuation without a started message or a new data
 * frame inside an unfinished one (1002), frame > max_frame or message >
 * max_message (1009), invalid UTF-8 in text (1007), close payload of 1 byte
 * or with an invalid code or invalid UTF-8 reason (1002/1007).
 */
int ws_decode(struct ws_decoder *dec, const uint8_t *buf, size_t len,
	      size_t *consumed, struct ws_event *ev);

/*
 * Server frame header (never masked). Writes 2..10 bytes into out and returns
 * how many.
 */
size_t ws_frame_header(uint8_t out[10], int opcode, int fin, uint64_t payload_len);

/*
 * Close frame payload: 2-byte code + reason truncated to fit 123 bytes on a
 * UTF-8 boundary. Returns the payload length.
 */
size_t ws_close_payload(uint8_t out[125], uint16_t code, const char *reason);

/* Whole-buffer UTF-8 check (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). */
int ws_utf8_valid(const uint8_t *s, size_t len);

#endif
