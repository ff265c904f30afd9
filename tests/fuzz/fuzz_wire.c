/*
 * libFuzzer target: the internal envelope decoder (shared/wire.c
 * wire_parse). The input is cut into up to WIRE_MAX_PARTS frames at the
 * lengths given by its first bytes, as ZeroMQ would deliver them.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <json-c/json.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_frame f[WIRE_MAX_PARTS + 1];
	struct wire_msg m;
	size_t n = 0, i;

	if (size < 1)
		return 0;
	n = (size_t)(data[0] % (WIRE_MAX_PARTS + 2));
	data++;
	size--;
	if (size < n)
		return 0;
	/* n length bytes, then the frames back to back; the last takes the rest */
	{
		const uint8_t *lens = data;
		const uint8_t *p = data + n;
		size_t left = size - n;

		for (i = 0; i < n; i++) {
			size_t l = i + 1 == n ? left : (lens[i] < left ? lens[i] : left);

			f[i].data = p;
			f[i].len = l;
			p += l;
			left -= l;
		}
	}
	memset(&m, 0, sizeof m);
	if (wire_parse(f, n, &m) == 0) {
		json_object *j;

		for (i = 0; i < m.nids; i++)
			(void)wire_id(&m, i);
		j = wire_body_json(&m, 64);
		json_object_put(j);
	}
	return 0;
}
