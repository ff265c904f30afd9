/*
 * ws_handshake — the HTTP/1.1 upgrade request a WebSocket client opens with
 * (RFC 6455 §4.2) and our answers to it. See ws_handshake.h for the contract.
 * Peer bytes are never trusted: every path ends in OK, AGAIN or an HTTP
 * status, and nothing is allocated unless WS_HS_OK is returned.
 */
#include "ws_handshake.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha1.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static int lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/* ASCII-only, so a locale can never change what a header name matches. */
static int ieq(const char *a, const char *b)
{
	while (*a && lower((unsigned char)*a) == lower((unsigned char)*b)) {
		a++;
		b++;
	}
	return *a == '\0' && *b == '\0';
}

static int ieqn(const char *a, size_t alen, const char *b)
{
	size_t i;

	for (i = 0; i < alen; i++)
		if (b[i] == '\0' || lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
	return b[alen] == '\0';
}

static int is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 7230 tchar: what a header name may be made of. */
static int is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/*
 * Does the comma-separated list contain `token` (case-insensitive)? With
 * `until_semicolon`, each element is cut at ';' so extension parameters
 * ("permessage-deflate; client_max_window_bits") do not hide the name.
 */
static int list_has(const char *list, const char *token, int until_semicolon)
{
	const char *p = list;

	while (*p) {
		const char *s, *e;

		while (*p == ',' || is_ows(*p))
			p++;
		s = p;
		while (*p && *p != ',')
			p++;
		e = p;
		if (until_semicolon) {
			const char *semi = memchr(s, ';', (size_t)(e - s));

			if (semi)
				e = semi;
		}
		while (e > s && is_ows(e[-1]))
			e--;
		if (e > s && ieqn(s, (size_t)(e - s), token))
			return 1;
	}
	return 0;
}

/* Any header line named lname whose value lists token. */
static int any_header_has(const struct ws_hs_request *req, const char *lname,
			  const char *token, int until_semicolon)
{
	size_t i;

	for (i = 0; i < req->nheaders; i++)
		if (strcmp(req->headers[i].name, lname) == 0 &&
		    list_has(req->headers[i].value, token, until_semicolon))
			return 1;
	return 0;
}

static size_t header_count(const struct ws_hs_request *req, const char *lname)
{
	size_t i, n = 0;

	for (i = 0; i < req->nheaders; i++)
		if (strcmp(req->headers[i].name, lname) == 0)
			n++;
	return n;
}

/* Offset just past "\r\n\r\n" in buf[0..len), or 0 when it is not there yet. */
static size_t find_head_end(const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i + 4 <= len; i++)
		if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n')
			return i + 4;
	return 0;
}

static int key_valid(const char *key)
{
	unsigned char bin[32];
	size_t binlen = 0, klen = strlen(key);
	const char *end = NULL;

	if (klen != 24)
		return 0;
	if (sodium_base642bin(bin, sizeof(bin), key, klen, NULL, &binlen, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0)
		return 0;
	return end == key + klen && binlen == 16;
}

/* Request line "GET <target> HTTP/1.1": exactly three parts, single spaces. */
static int parse_request_line(struct ws_hs_request *req, char *line)
{
	char *sp1, *sp2, *q;

	sp1 = strchr(line, ' ');
	if (!sp1)
		goto bad;
	*sp1 = '\0';
	sp2 = strchr(sp1 + 1, ' ');
	if (!sp2)
		goto bad;
	*sp2 = '\0';
	req->method = line;
	req->path = sp1 + 1;
	if (req->method[0] == '\0' || req->path[0] == '\0' || strchr(sp2 + 1, ' '))
		goto bad;
	if (strcmp(req->method, "GET") != 0) {
		req->err_status = 405;
		req->err_reason = "only GET can upgrade to a WebSocket";
		return -1;
	}
	if (strcmp(sp2 + 1, "HTTP/1.1") != 0) {
		req->err_status = 400;
		req->err_reason = "HTTP/1.1 required";
		return -1;
	}
	if (req->path[0] != '/') {
		req->err_status = 400;
		req->err_reason = "request target must be a path";
		return -1;
	}
	q = strchr(req->path, '?');
	if (q) {
		*q = '\0';
		req->query = q + 1;
	} else {
		req->query = sp2 + 1 + strlen(sp2 + 1);	/* "" inside buf */
	}
	return 0;
bad:
	req->err_status = 400;
	req->err_reason = "malformed request line";
	return -1;
}

/* "name: value" → lower-cased name, trimmed value; no obs-fold, no space before ':'. */
static int parse_header_line(struct ws_hs_request *req, char *line)
{
	char *colon = strchr(line, ':'), *v, *e, *p;

	if (!colon || colon == line)
		goto bad;
	for (p = line; p < colon; p++) {
		if (!is_tchar((unsigned char)*p))
			goto bad;
		*p = (char)lower((unsigned char)*p);
	}
	*colon = '\0';
	v = colon + 1;
	while (is_ows(*v))
		v++;
	e = v + strlen(v);
	while (e > v && is_ows(e[-1]))
		e--;
	*e = '\0';
	if (req->nheaders >= WS_HS_MAX_HEADERS) {
		req->err_status = 431;
		req->err_reason = "too many header fields";
		return -1;
	}
	req->headers[req->nheaders].name = line;
	req->headers[req->nheaders].value = v;
	req->nheaders++;
	return 0;
bad:
	req->err_status = 400;
	req->err_reason = "malformed header line";
	return -1;
}

/* Semantic checks, in the order the header documents them. */
static int check_upgrade(struct ws_hs_request *req)
{
	const char *v;
	char *end;
	long ver;

	if (!ws_hs_header(req, "host")) {
		req->err_reason = "missing Host header";
		goto bad;
	}
	if (!any_header_has(req, "upgrade", "websocket", 0)) {
		req->err_reason = "Upgrade: websocket required";
		goto bad;
	}
	if (!any_header_has(req, "connection", "upgrade", 0)) {
		req->err_reason = "Connection: Upgrade required";
		goto bad;
	}
	v = ws_hs_header(req, "sec-websocket-version");
	ver = 0;
	if (v && *v) {
		ver = strtol(v, &end, 10);
		if (*end != '\0' || ver < 0 || ver > 255)
			ver = 0;
	}
	req->version = (int)ver;
	if (ver != 13) {
		req->err_status = 426;
		req->err_reason = "Sec-WebSocket-Version 13 required";
		return -1;
	}
	if (header_count(req, "sec-websocket-key") != 1) {
		req->err_reason = "exactly one Sec-WebSocket-Key required";
		goto bad;
	}
	req->key = ws_hs_header(req, "sec-websocket-key");
	if (!key_valid(req->key)) {
		req->err_reason = "Sec-WebSocket-Key must be base64 of 16 bytes";
		goto bad;
	}
	req->offers_deflate = any_header_has(req, "sec-websocket-extensions",
					     "permessage-deflate", 1);
	return 0;
bad:
	req->err_status = 400;
	return -1;
}

/*
 * *req is (re)initialised on every call, so a caller can retry with a longer
 * buffer after WS_HS_AGAIN without freeing first. Only WS_HS_OK leaves
 * memory behind (req->buf), released by ws_hs_request_free.
 */
int ws_hs_parse(const char *buf, size_t len, size_t max_bytes, struct ws_hs_request *req)
{
	size_t head, i;
	char *line, *next;

	memset(req, 0, sizeof(*req));
	head = find_head_end(buf, len);
	if (head == 0 || head > max_bytes) {
		if (head == 0 && len < max_bytes)
			return WS_HS_AGAIN;
		req->err_status = 431;
		req->err_reason = "request header too large";
		return WS_HS_ERROR;
	}
	/* Bare CR, bare LF or NUL inside the head: refuse rather than guess. */
	for (i = 0; i < head; i++) {
		char c = buf[i];

		if (c == '\0' || (c == '\r' && buf[i + 1] != '\n') ||
		    (c == '\n' && (i == 0 || buf[i - 1] != '\r'))) {
			req->err_status = 400;
			req->err_reason = "malformed request header";
			return WS_HS_ERROR;
		}
	}
	req->buf = malloc(head + 1);
	if (!req->buf) {
		req->err_status = 500;
		req->err_reason = "out of memory";
		return WS_HS_ERROR;
	}
	memcpy(req->buf, buf, head);
	req->buf[head] = '\0';
	req->header_bytes = head;

	line = req->buf;
	next = strstr(line, "\r\n");
	*next = '\0';
	if (parse_request_line(req, line) < 0)
		goto fail;
	for (;;) {
		line = next + 2;
		next = strstr(line, "\r\n");
		if (next == line)
			break;	/* blank line: end of head */
		*next = '\0';
		if (parse_header_line(req, line) < 0)
			goto fail;
	}
	if (check_upgrade(req) < 0)
		goto fail;
	return WS_HS_OK;
fail:
	{
		int status = req->err_status;
		const char *reason = req->err_reason;
		int version = req->version;

		ws_hs_request_free(req);
		req->err_status = status;
		req->err_reason = reason;
		req->version = version;
	}
	return WS_HS_ERROR;
}

/* Safe on a zeroed or already freed request: buf is NULL after the first call. */
void ws_hs_request_free(struct ws_hs_request *req)
{
	free(req->buf);
	memset(req, 0, sizeof(*req));
}

const char *ws_hs_header(const struct ws_hs_request *req, const char *lname)
{
	size_t i;

	for (i = 0; i < req->nheaders; i++)
		if (ieq(req->headers[i].name, lname))
			return req->headers[i].value;
	return NULL;
}

void ws_hs_accept_key(const char *key, char out[29])
{
	static const char guid[] = WS_GUID;
	char stackbuf[128];
	char *tmp = stackbuf;
	size_t klen = strlen(key), n = klen + sizeof(guid) - 1;
	uint8_t digest[20];

	if (n > sizeof(stackbuf)) {
		tmp = malloc(n);
		if (!tmp) {
			out[0] = '\0';
			return;
		}
	}
	memcpy(tmp, key, klen);
	memcpy(tmp + klen, guid, sizeof(guid) - 1);
	sha1(tmp, n, digest);
	if (tmp != stackbuf)
		free(tmp);
	sodium_bin2base64(out, 29, digest, sizeof(digest), sodium_base64_VARIANT_ORIGINAL);
}

/* No Sec-WebSocket-Extensions and no subprotocol: we accept neither. */
size_t ws_hs_response(char *out, size_t cap, const char *key)
{
	char accept[29];
	int n;

	ws_hs_accept_key(key, accept);
	n = snprintf(out, cap,
		     "HTTP/1.1 101 Switching Protocols\r\n"
		     "Upgrade: websocket\r\n"
		     "Connection: Upgrade\r\n"
		     "Sec-WebSocket-Accept: %s\r\n"
		     "\r\n", accept);
	if (n < 0 || (size_t)n >= cap)
		return 0;
	return (size_t)n;
}

static const char *status_text(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

/*
 * 426 carries the version we speak (RFC 6455 §4.4); 405 carries Allow
 * (RFC 7231 §6.5.5). The body repeats the reason so a human with curl sees why.
 */
size_t ws_hs_error_response(char *out, size_t cap, int status, const char *reason)
{
	const char *text = status_text(status);
	const char *extra = status == 426 ? "Sec-WebSocket-Version: 13\r\n" :
			    status == 405 ? "Allow: GET\r\n" : "";
	int n;

	if (!reason)
		reason = text;
	n = snprintf(out, cap,
		     "HTTP/1.1 %d %s\r\n"
		     "Content-Type: text/plain\r\n"
		     "Content-Length: %zu\r\n"
		     "%s"
		     "Connection: close\r\n"
		     "\r\n"
		     "%s\n", status, text, strlen(reason) + 1, extra, reason);
	if (n < 0 || (size_t)n >= cap)
		return 0;
	return (size_t)n;
}
