/*
 * Tests for the LMDB store (router/store.c): writes visible at once and
 * durable after the commit, after-commit callbacks, reopening, prefix walks
 * and deletes, a directory of another format version refused with a clear
 * message, and a garbage data file detected instead of crashing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

#define MAP (64 * 1024 * 1024)

struct tmp {
	char dir[64];
};

static int tmp_setup(void **state)
{
	struct tmp *t = calloc(1, sizeof *t);
	if (!t)
		return -1;
	snprintf(t->dir, sizeof t->dir, "/tmp/trine-test-store-XXXXXX");
	if (!mkdtemp(t->dir)) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int tmp_teardown(void **state)
{
	struct tmp *t = *state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
	if (system(cmd) != 0)
		return -1;
	free(t);
	return 0;
}

static struct store *open_ok(struct tmp *t)
{
	char err[512] = "";
	struct store *s = store_open(NULL, t->dir, MAP, err, sizeof err);
	if (!s)
		fail_msg("store_open: %s", err);
	return s;
}

static void expect_stored(struct store *s, const char *db, const char *k, const char *want)
{
	void *v = NULL;
	size_t vl = 0;
	assert_int_equal(store_get(s, db, k, strlen(k), &v, &vl), 0);
	assert_int_equal(vl, strlen(want));
	assert_memory_equal(v, want, vl);
	free(v);
}

static void on_commit(void *arg, int ok)
{
	*(int *)arg = ok ? 1 : -1;
}

static void test_write_commit_reopen(void **state)
{
	struct tmp *t = *state;
	struct store *s = open_ok(t);
	int done = 0;
	void *v;
	size_t vl;

	assert_int_equal(store_get(s, "a", "k", 1, &v, &vl), 1);	/* db not there yet */
	assert_int_equal(store_put(s, "a", "k1", 2, "one", 3), 0);
	expect_stored(s, "a", "k1", "one");	/* visible before the commit */
	store_after_commit(s, on_commit, &done);
	assert_int_equal(done, 0);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(done, 1);
	/* the same database again, in later transactions */
	for (int i = 0; i < 3; i++) {
		char k[8];
		snprintf(k, sizeof k, "k%d", i + 2);
		assert_int_equal(store_put(s, "a", k, strlen(k), "x", 1), 0);
		assert_int_equal(store_put(s, "b", k, strlen(k), "y", 1), 0);
		assert_int_equal(store_commit(s), 0);
	}
	assert_int_equal(store_del(s, "a", "k2", 2), 0);
	store_close(&s);
	assert_null(s);

	s = open_ok(t);
	expect_stored(s, "a", "k1", "one");
	expect_stored(s, "b", "k3", "y");
	assert_int_equal(store_get(s, "a", "k2", 2, &v, &vl), 1);
	store_close(&s);
}

static int count_visit(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)k; (void)kl; (void)v; (void)vl;
	(*(int *)arg)++;
	return 0;
}

static void test_prefix_walk_and_delete(void **state)
{
	struct tmp *t = *state;
	struct store *s = open_ok(t);
	int n = 0;

	assert_int_equal(store_put(s, "p", "m:a1", 4, "", 0), 0);
	assert_int_equal(store_put(s, "p", "m:a2", 4, "", 0), 0);
	assert_int_equal(store_put(s, "p", "m:b1", 4, "", 0), 0);
	assert_int_equal(store_put(s, "p", "n:a1", 4, "", 0), 0);
	assert_int_equal(store_foreach(s, "p", "m:a", 3, count_visit, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(store_commit(s), 0);
	n = 0;
	assert_int_equal(store_foreach(s, "p", "m:", 2, count_visit, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(store_del_prefix(s, "p", "m:", 2), 0);
	n = 0;
	assert_int_equal(store_foreach(s, "p", NULL, 0, count_visit, &n), 0);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(store_foreach(s, "never-written", NULL, 0, count_visit, &n), 0);
	assert_int_equal(n, 0);
	store_close(&s);
}

static void test_other_format_refused(void **state)
{
	struct tmp *t = *state;
	struct store *s = open_ok(t);
	char err[512] = "";

	assert_int_equal(store_put(s, "meta", "format", 6, "trine-store-0", 13), 0);
	store_close(&s);
	assert_null(store_open(NULL, t->dir, MAP, err, sizeof err));
	assert_non_null(strstr(err, "trine-store-0"));
	assert_non_null(strstr(err, STORE_FORMAT));
}

static void test_garbage_file_detected(void **state)
{
	struct tmp *t = *state;
	char path[128], err[512] = "", junk[16384];
	int fd;

	snprintf(path, sizeof path, "%s/store", t->dir);
	assert_int_equal(mkdir(path, 0750), 0);
	snprintf(path, sizeof path, "%s/store/data.mdb", t->dir);
	fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0640);
	assert_true(fd >= 0);
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (char)(i * 7 + 3);
	assert_int_equal(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
	close(fd);
	assert_null(store_open(NULL, t->dir, MAP, err, sizeof err));
	assert_non_null(strstr(err, "cannot open the store"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_commit_reopen, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_prefix_walk_and_delete, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_other_format_refused, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_garbage_file_detected, tmp_setup, tmp_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
