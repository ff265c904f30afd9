/*
 * http_map — the HTTP trigger's data mapping, with no I/O: an HTTP request
 * (already split by the front) into the request object a function gets
 * (iii-engine-semantics §4.2), a function's result into status, headers and
 * body (§4.3), and the engine's error envelope (§4.4).
 */
#ifndef TRINE_HTTP_MAP_H
#define TRINE_HTTP_MAP_H

#include <json-c/json.h>
#include <stddef.h>

#include "http_route.h"

struct http_kv {
	const char *name;
	size_t name_len;
	const char *val;
	size_t val_len;
};

struct http_req_in {
	const char *method;			/* upper-case name */
	const char *tmpl;			/* the route's template */
	const struct http_param *params;
	size_t nparams;
	const char *query;			/* raw, without '?'; NULL = none */
	size_t query_len;
	const struct http_kv *headers;
	size_t nheaders;
	const char *body;
	size_t body_len;
	int max_depth;				/* deepest JSON body that is parsed */
};

/*
 * The request object: query_params (percent-decoded, last wins),
 * path_params (raw), headers (lower-cased names, last wins, non-UTF-8 value
 * ""), path (the template), method, body (parsed JSON only for
 * application/json, else null), trigger, and raw_body (the body as text) or
 * raw_body_base64 (when it is not UTF-8). Returns a new reference or NULL.
 */
json_object *http_map_request(const struct http_req_in *in);

struct http_hdr {
	char *name;
	char *val;
};

struct http_resp {
	int status;
	struct http_hdr *headers;	/* owned */
	size_t nheaders;
	char *body;			/* owned, may be NULL when body_len is 0 */
	size_t body_len;
};

/*
 * A function's result (borrowed; NULL = null) into a response: status_code
 * (default and fallback 200), headers as a map or "Name: value" list
 * (invalid entries skipped), body with the content-type rules. 0, or -1 out
 * of memory. http_resp_free releases what it filled.
 */
int http_map_response(json_object *result, struct http_resp *out);
void http_resp_free(struct http_resp *r);

/*
 * {"error":{"code","message"[,"error_id"]}[,"skipped":true]} as JSON text,
 * malloc'd with its length in *len; NULL out of memory.
 */
char *http_map_error(const char *code, const char *message, const char *error_id,
		     int skipped, size_t *len);

/* 1 if name is an HTTP token and value has no CR, LF or NUL. */
int http_header_ok(const char *name, size_t name_len, const char *val, size_t val_len);

#endif
