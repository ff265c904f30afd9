/* zcurve: key files as users write them (comments, blank lines, keys that start with '#'). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "zcurve.h"

static char path[64];

static void write_text(const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	snprintf(path, sizeof path, "/tmp/trine-zcurve-%d", (int)getpid());
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

static void test_load(void **state)
{
	char pub[41], sec[41], got[41], err[256], text[256];
	(void)state;

	assert_int_equal(zmq_curve_keypair(pub, sec), 0);
	snprintf(text, sizeof text, "# a comment\n\n   %s  \n", pub);
	write_text(text);
	assert_int_equal(zcurve_load_key(path, got, err, sizeof err), 0);
	assert_string_equal(got, pub);

	/* Z85 has '#' in its alphabet: a key line is a key even when it starts with it */
	char hashkey[41];
	memcpy(hashkey, pub, sizeof hashkey);
	hashkey[0] = '#';
	uint8_t bin[32];
	if (zmq_z85_decode(bin, hashkey)) {
		snprintf(text, sizeof text, "# comment\n%s\n", hashkey);
		write_text(text);
		assert_int_equal(zcurve_load_key(path, got, err, sizeof err), 0);
		assert_string_equal(got, hashkey);
	}
}

static void test_bad(void **state)
{
	char got[41], err[256];
	(void)state;

	write_text("# only a comment\n");
	assert_int_equal(zcurve_load_key(path, got, err, sizeof err), -1);
	assert_non_null(strstr(err, "no key"));
	write_text("tooshort\n");
	assert_int_equal(zcurve_load_key(path, got, err, sizeof err), -1);
	assert_non_null(strstr(err, "Z85"));
	unlink(path);
	assert_int_equal(zcurve_load_key(path, got, err, sizeof err), -1);
	assert_non_null(strstr(err, path));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
