/*
 * libFuzzer target: the stream/state update ops (router/stream_ops.c).
 * The input is "<current value JSON>\n<ops JSON array>"; each is parsed with
 * json-c (depth-limited as the router does) and the ops applied.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <json-c/json.h>

#include "stream_ops.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_object *parse(const char *p, size_t n)
{
	json_tokener *tok = json_tokener_new_ex(64);
	json_object *o;

	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, p, (int)n);
	json_tokener_free(tok);
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data, *nl;
	json_object *cur, *ops, *res, *errs = NULL;

	if (size > 65536)
		return 0;
	nl = memchr(buf, '\n', size);
	if (!nl)
		return 0;
	cur = parse(buf, (size_t)(nl - buf));
	ops = parse(nl + 1, size - (size_t)(nl - buf) - 1);
	res = stream_ops_apply(cur, ops, &errs);
	if (res)
		(void)json_object_to_json_string_ext(res, JSON_C_TO_STRING_PLAIN);
	json_object_put(res);
	json_object_put(errs);
	json_object_put(cur);
	json_object_put(ops);
	return 0;
}
