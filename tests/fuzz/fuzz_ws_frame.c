/*
 * libFuzzer target: the WebSocket frame decoder (shared/ws_frame.c).
 * The first byte picks how the input is split into reads, so fragmented
 * deliveries (a header over two reads, a payload over many) are explored too;
 * the decoder must never read past what it was given, nor accept a message
 * over its limits.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ws_decoder dec;
	uint8_t *pend = NULL;
	size_t npend = 0, chunk, off;

	if (size < 1)
		return 0;
	chunk = (size_t)(data[0] % 16) + 1;
	data++;
	size--;
	ws_decoder_init(&dec, 4096, 16384);
	/* Feed chunk bytes at a time, keeping unconsumed bytes as the broker does. */
	for (off = 0; off < size || npend;) {
		size_t add = size - off < chunk ? size - off : chunk;
		size_t used = 0;
		uint8_t *nb = realloc(pend, npend + add + 1);
		struct ws_event ev;
		int rc;

		if (!nb)
			break;
		pend = nb;
		memcpy(pend + npend, data + off, add);
		npend += add;
		off += add;
		rc = ws_decode(&dec, pend, npend, &used, &ev);
		if (rc == WS_ERROR)
			break;
		if (used > npend)
			abort();
		memmove(pend, pend + used, npend - used);
		npend -= used;
		if (rc == WS_OK) {
			if ((ev.opcode == WS_OP_TEXT || ev.opcode == WS_OP_BINARY) && ev.len > 16384)
				abort();
			if (ev.len)
				sink ^= ev.data[0] ^ ev.data[ev.len - 1];	/* ASan checks the bounds */
			continue;
		}
		if (add == 0)
			break;	/* WS_AGAIN with nothing left to give */
	}
	free(pend);
	ws_decoder_free(&dec);
	return 0;
}
