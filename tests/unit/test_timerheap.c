/*
 * Tests for the timer heap (router/timerheap.c): pops come out in deadline
 * order, removal and re-keying from any position keep the heap valid, and a
 * large random workload agrees with a sorted reference.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "timerheap.h"

static void test_empty(void **state)
{
	struct timerheap th;
	(void)state;
	th_init(&th);
	assert_null(th_top(&th));
	assert_null(th_pop(&th));
	th_free(&th);
}

static void test_order(void **state)
{
	struct timerheap th;
	struct th_node n[6] = { { 0, 0 } };
	int64_t when[6] = { 50, 10, 40, 10, 30, 20 };
	int64_t last = -1;
	(void)state;
	th_init(&th);
	for (int i = 0; i < 6; i++)
		assert_int_equal(th_push(&th, &n[i], when[i]), 0);
	assert_int_equal(th_top(&th)->when, 10);
	for (int i = 0; i < 6; i++) {
		struct th_node *p = th_pop(&th);
		assert_non_null(p);
		assert_true(p->when >= last);
		assert_int_equal(p->idx, 0);
		last = p->when;
	}
	assert_null(th_pop(&th));
	th_free(&th);
}

static void test_remove_and_rekey(void **state)
{
	struct timerheap th;
	struct th_node n[5] = { { 0, 0 } };
	(void)state;
	th_init(&th);
	for (int i = 0; i < 5; i++)
		th_push(&th, &n[i], (i + 1) * 10);	/* 10 20 30 40 50 */
	th_remove(&th, &n[2]);				/* 30 goes */
	th_remove(&th, &n[2]);				/* twice is harmless */
	th_push(&th, &n[4], 5);				/* 50 -> 5: new top */
	assert_ptr_equal(th_top(&th), &n[4]);
	th_push(&th, &n[4], 45);			/* back down */
	assert_ptr_equal(th_top(&th), &n[0]);
	int64_t want[] = { 10, 20, 40, 45 };
	for (int i = 0; i < 4; i++)
		assert_int_equal(th_pop(&th)->when, want[i]);
	assert_null(th_top(&th));
	th_free(&th);
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void test_random_100k(void **state)
{
	enum { N = 100000 };
	struct timerheap th;
	struct th_node *n = calloc(N, sizeof *n);
	int64_t *ref = calloc(N, sizeof *ref);
	size_t nref = 0;
	(void)state;
	assert_non_null(n);
	assert_non_null(ref);
	srand(42);
	th_init(&th);
	for (int i = 0; i < N; i++)
		th_push(&th, &n[i], rand() % 1000000);
	/* re-key a third, remove a third */
	for (int i = 0; i < N; i += 3)
		th_push(&th, &n[i], rand() % 1000000);
	for (int i = 1; i < N; i += 3)
		th_remove(&th, &n[i]);
	for (int i = 0; i < N; i++)
		if (n[i].idx)
			ref[nref++] = n[i].when;
	qsort(ref, nref, sizeof *ref, cmp64);
	assert_int_equal(th.n, nref);
	for (size_t i = 0; i < nref; i++)
		assert_int_equal(th_pop(&th)->when, ref[i]);
	assert_null(th_pop(&th));
	th_free(&th);
	free(n);
	free(ref);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_remove_and_rekey),
		cmocka_unit_test(test_random_100k),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
