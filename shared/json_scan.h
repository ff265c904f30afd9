/*
 * json_scan — validate one JSON object and find its top-level members without
 * building a tree. The hot path (invokefunction / invocationresult) only
 * needs a few top-level fields and must hand payloads of any size on as the
 * bytes they arrived as; parsing them into json-c objects and serializing
 * them again costs more than everything else on that path together.
 * No I/O, no allocation.
 */
#ifndef TRINE_JSON_SCAN_H
#define TRINE_JSON_SCAN_H

#include <stddef.h>

struct json_span {
	const char *p;		/* first byte of the value, NULL when the key is absent */
	size_t len;
};

enum json_scan_status {
	JSON_SCAN_OK = 0,
	JSON_SCAN_INVALID = -1,	/* not valid JSON, or not exactly one object */
	JSON_SCAN_DEPTH = -2,	/* nested deeper than max_depth */
};

/*
 * buf[0..len) must hold exactly one JSON object, optionally surrounded by
 * whitespace (RFC 8259; strings are checked for escapes and control bytes,
 * not for UTF-8, which the WebSocket layer validates). max_depth counts the
 * object itself as level 1. For each keys[i], out[i] gets the raw span of
 * that member's value (the last one if repeated), or p = NULL.
 */
int json_scan_object(const char *buf, size_t len, int max_depth,
		     const char *const *keys, struct json_span *out, size_t nkeys);

/* Kind of a value span: '"' string, '{' object, '[' array, 'n' null, 't'/'f', '0' number. */
char json_span_kind(struct json_span s);

/*
 * The contents of a string span with escapes decoded, NUL-terminated, into
 * out. Returns the length, or -1 if s is not a string or does not fit.
 */
int json_span_str(struct json_span s, char *out, size_t cap);

/*
 * Write s as a JSON string (with quotes) into out. Returns the length, or 0
 * if it does not fit in cap.
 */
size_t json_escape(const char *s, char *out, size_t cap);

#endif
