/*
 * ws_handshake — parse a client's HTTP/1.1 upgrade request and build the
 * server's answer. No I/O: bytes in, a parsed request or an HTTP status out.
 */
#ifndef TRINE_WS_HANDSHAKE_H
#define TRINE_WS_HANDSHAKE_H

#include <stddef.h>

#define WS_HS_MAX_HEADERS 64

enum ws_hs_status {
	WS_HS_OK = 0,		/* complete, valid upgrade request in *req */
	WS_HS_AGAIN = 1,	/* headers not complete yet */
	WS_HS_ERROR = -1,	/* answer with req->err_status / req->err_reason, then close */
};

struct ws_hs_header {
	char *name;		/* lower-cased, points into req->buf */
	char *value;		/* trimmed, points into req->buf */
};

struct ws_hs_request {
	char *buf;		/* private copy of the header block (owned, freed by ws_hs_request_free) */
	char *method;
	char *path;		/* path without the query string, e.g. "/otel" */
	char *query;		/* after '?', "" when none */
	const char *key;	/* Sec-WebSocket-Key (points into buf) */
	int version;		/* Sec-WebSocket-Version */
	int offers_deflate;	/* client offered permessage-deflate (we never accept it) */
	size_t nheaders;
	struct ws_hs_header headers[WS_HS_MAX_HEADERS];
	size_t header_bytes;	/* length of the request head including the blank line */

	int err_status;		/* 400, 405, 426, 431 when WS_HS_ERROR */
	const char *err_reason;	/* static string */
};

/*
 * Parse buf[0..len). Returns WS_HS_AGAIN until "\r\n\r\n" is seen; WS_HS_ERROR
 * with err_status 431 if max_bytes is exceeded before that. On WS_HS_OK the
 * request head was header_bytes long (bytes after it are the first frames).
 * Checks: method GET (405), HTTP/1.1 (400), Host present (400), Upgrade:
 * websocket (400), Connection contains "upgrade" token (400), Sec-WebSocket-Key
 * is base64 of 16 bytes (400), Sec-WebSocket-Version 13 (426). The path is not
 * checked here: the caller answers 404 for a path it does not serve.
 */
int ws_hs_parse(const char *buf, size_t len, size_t max_bytes, struct ws_hs_request *req);
void ws_hs_request_free(struct ws_hs_request *req);

/* Case-insensitive header lookup; NULL if absent. */
const char *ws_hs_header(const struct ws_hs_request *req, const char *lname);

/* Sec-WebSocket-Accept for key: base64(SHA1(key + GUID)), NUL-terminated, 28 chars. */
void ws_hs_accept_key(const char *key, char out[29]);

/* "HTTP/1.1 101 Switching Protocols" answer; returns length written (< cap) or 0. */
size_t ws_hs_response(char *out, size_t cap, const char *key);

/*
 * Plain HTTP error answer with a text/plain body that says why; adds
 * "Sec-WebSocket-Version: 13" for 426. Returns length written or 0.
 */
size_t ws_hs_error_response(char *out, size_t cap, int status, const char *reason);

#endif
