/* hmap: insert/replace/delete against a plain array as the reference, under churn. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"

#define N 5000

static char keys[N][16];

static void test_basic(void **state)
{
	struct hmap m;
	int a = 1, b = 2;
	(void)state;

	hmap_init(&m);
	assert_null(hmap_get(&m, "x"));
	assert_null(hmap_del(&m, "x"));
	assert_int_equal(hmap_put(&m, "x", &a), 0);
	assert_ptr_equal(hmap_get(&m, "x"), &a);
	assert_int_equal(hmap_put(&m, "x", &b), 0);	/* replace keeps one entry */
	assert_int_equal(hmap_len(&m), 1);
	assert_ptr_equal(hmap_del(&m, "x"), &b);
	assert_int_equal(hmap_len(&m), 0);
	assert_null(hmap_get(&m, "x"));
	hmap_free(&m);
}

/*
 * Random insert/delete churn far beyond the table size: every key present in
 * the reference must be found, every absent one must not (this is what broke
 * with tombstones: absent-key lookups got slow, and a bad backward shift
 * loses entries).
 */
static void test_churn(void **state)
{
	struct hmap m;
	static int present[N];
	unsigned seed = 42;
	(void)state;

	hmap_init(&m);
	memset(present, 0, sizeof present);
	for (int i = 0; i < N; i++)
		snprintf(keys[i], sizeof keys[i], "k%d", i);
	for (int round = 0; round < 200000; round++) {
		int i = (int)(rand_r(&seed) % N);
		if (present[i]) {
			assert_ptr_equal(hmap_del(&m, keys[i]), &present[i]);
			present[i] = 0;
		} else {
			assert_int_equal(hmap_put(&m, keys[i], &present[i]), 0);
			present[i] = 1;
		}
	}
	size_t count = 0;
	for (int i = 0; i < N; i++) {
		if (present[i]) {
			count++;
			assert_ptr_equal(hmap_get(&m, keys[i]), &present[i]);
		} else {
			assert_null(hmap_get(&m, keys[i]));
		}
	}
	assert_int_equal(hmap_len(&m), count);
	size_t seen = 0;
	const char *k;
	void *v;
	for (size_t it = 0; hmap_next(&m, &it, &k, &v);) {
		assert_ptr_equal(hmap_get(&m, k), v);
		seen++;
	}
	assert_int_equal(seen, count);
	hmap_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_churn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
