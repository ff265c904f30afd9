/*
 * libFuzzer target: the HTTP route table (shared/http_route.c). The input is
 * lines: "+<m><template>" adds a route, "-<m><template>" removes it, any
 * other line is a request path matched against the table (<m> is one byte
 * picking the method).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_routes *rt = http_routes_new();
	char *copy = malloc(size + 1), *line, *save = NULL;
	static int value;

	if (!rt || !copy) {
		free(copy);
		http_routes_free(&rt);
		return 0;
	}
	memcpy(copy, data, size);
	copy[size] = 0;
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char err[128], canon[256];
		void *old = NULL;

		if ((line[0] == '+' || line[0] == '-') && line[1]) {
			int m = (unsigned char)line[1] % HTTP_M_COUNT;

			if (line[0] == '+') {
				(void)http_routes_add(rt, m, line + 2, &value, &old, err, sizeof err);
				(void)http_route_canon(line + 2, canon, sizeof canon, err, sizeof err);
			} else {
				(void)http_routes_remove(rt, m, line + 2, &value);
			}
		} else {
			struct http_match hm;
			size_t len = strlen(line);
			int m = len ? (unsigned char)line[0] % HTTP_M_COUNT : 0;

			if (http_routes_match(rt, m, line, len, &hm) == HTTP_ROUTE_FOUND) {
				for (size_t i = 0; i < hm.nparams; i++)
					if (hm.params[i].val < line || hm.params[i].val + hm.params[i].val_len > line + len)
						abort();
			}
		}
	}
	(void)http_method_parse(copy);
	free(copy);
	http_routes_free(&rt);
	return 0;
}
