/*
 * libFuzzer target: the cron expression parser (router/cron_expr.c) and
 * the next-fire search on what it accepts. The next fire time must always
 * be after the time asked about (or -1 when there is none).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cron_expr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cron_expr ce;
	char err[160], *s;
	int64_t t = 1700000000, n;

	if (size > 256)
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	if (cron_expr_parse(s, &ce, err, sizeof err) == 0) {
		for (int i = 0; i < 3; i++) {
			n = cron_expr_next(&ce, t);
			if (n < 0)
				break;
			if (n <= t)
				abort();
			t = n;
		}
	}
	free(s);
	return 0;
}
