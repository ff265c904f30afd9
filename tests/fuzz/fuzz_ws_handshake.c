/*
 * libFuzzer target: the WebSocket upgrade request parser
 * (shared/ws_handshake.c), with the header lookups the broker makes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws_handshake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ws_hs_request req;
	char out[512];

	if (ws_hs_parse((const char *)data, size, 8192, &req) == WS_HS_OK) {
		const char *h;

		if (req.header_bytes > size)
			abort();
		h = ws_hs_header(&req, "authorization");
		if (h)
			(void)strlen(h);
		h = ws_hs_header(&req, "host");
		if (h)
			(void)strlen(h);
		if (ws_hs_response(out, sizeof out, req.key) == 0)
			abort();
	} else {
		(void)ws_hs_error_response(out, sizeof out, req.err_status ? req.err_status : 400,
					   req.err_reason ? req.err_reason : "bad");
	}
	ws_hs_request_free(&req);
	return 0;
}
