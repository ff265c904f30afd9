/*
 * libFuzzer target: the JSON scanner (shared/json_scan.c) that validates
 * invokes and results on the hot path without a tree. When the scanner
 * accepts, json-c must parse the same text to an object (differential), and
 * every span it returns must lie inside the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "json_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = { "type", "invocation_id", "function_id", "data", "result", "error" };
	struct json_span sp[6];
	const char *buf = (const char *)data;
	char str[64];
	int rc;

	rc = json_scan_object(buf, size, 32, keys, sp, 6);
	if (rc != JSON_SCAN_OK)
		return 0;
	for (size_t i = 0; i < 6; i++) {
		if (!sp[i].p)
			continue;
		if (sp[i].p < buf || sp[i].p + sp[i].len > buf + size)
			abort();
		(void)json_span_kind(sp[i]);
		(void)json_span_str(sp[i], str, sizeof str);
	}
	/* what the scanner accepts, json-c (the slow path) must accept as an object */
	if (memchr(buf, 0, size) == NULL) {
		json_tokener *tok = json_tokener_new_ex(64);
		json_object *o = json_tokener_parse_ex(tok, buf, (int)size);

		if (!json_object_is_type(o, json_type_object))
			abort();
		json_object_put(o);
		json_tokener_free(tok);
	}
	{
		char *s = malloc(size + 1), out[256];

		if (s) {
			memcpy(s, data, size);
			s[size] = 0;
			(void)json_escape(s, out, sizeof out);
			free(s);
		}
	}
	return 0;
}
