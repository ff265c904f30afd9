/*
 * libFuzzer target: the worker-message normalizer (broker/proto.c), both
 * its scanner fast path and its json-c slow path. Every message a worker
 * sends goes through it before anything else looks at it.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_result r;

	proto_normalize((const char *)data, size, 64, &r);
	if (r.body)
		(void)strlen(r.body);
	proto_result_free(&r);
	return 0;
}
