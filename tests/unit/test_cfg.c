/*
 * Tests for the configuration table and file reader (shared/cfg.c):
 * defaults, typed values with their bounds, size suffixes, and config files
 * written to a fresh temporary directory per test (comments, quotes,
 * includes, and errors that must name file:line exactly).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"

#define MiB (1024LL * 1024)

/* ---------- temp directory fixture ---------- */

struct tmp {
	char dir[64];
	char files[8][128];
	int nfiles;
};

static int tmp_setup(void **state)
{
	struct tmp *t = calloc(1, sizeof *t);
	if (!t)
		return -1;
	snprintf(t->dir, sizeof t->dir, "/tmp/trine-test-cfg-XXXXXX");
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
	for (int i = 0; i < t->nfiles; i++)
		unlink(t->files[i]);
	rmdir(t->dir);
	free(t);
	return 0;
}

/* Writes dir/name with text; returns the full path (owned by the fixture). */
static const char *put_file(struct tmp *t, const char *name, const char *text)
{
	char full[sizeof t->files[0]];

	assert_true(t->nfiles < 8);
	assert_true((size_t)snprintf(full, sizeof full, "%s/%s", t->dir, name) < sizeof full);
	char *path = t->files[t->nfiles++];
	memcpy(path, full, sizeof full);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* ---------- defaults and the table ---------- */

static void test_defaults(void **state)
{
	struct cfg c;
	(void)state;

	memset(&c, 0x5a, sizeof c);
	cfg_defaults(&c);
	assert_string_equal(c.bind, "0.0.0.0");
	assert_int_equal(c.worker_port, 49134);
	assert_int_equal(c.http_port, 3111);
	assert_int_equal(c.stream_port, 3112);
	assert_int_equal(c.brokers, 0);
	assert_string_equal(c.data_dir, "./data");
	assert_int_equal(c.log_level, LL_INFO);
	assert_true(c.invocation_timeout_ms == 30000);
	assert_true(c.handshake_timeout_ms == 10000);
	assert_true(c.handshake_max_bytes == 16384);
	assert_true(c.ws_max_frame == 16 * MiB);
	assert_true(c.ws_max_message == 64 * MiB);
	assert_int_equal(c.max_json_depth, 64);
	assert_true(c.client_output_limit == 256 * MiB);
	assert_int_equal(c.max_connections, 10000);
	assert_int_equal(c.max_inflight_per_worker, 100000);
	assert_true(c.shutdown_timeout_ms == 10000);
	assert_string_equal(c.router_endpoint, "");
	assert_string_equal(c.router_listen, "");
}

static void test_table_consistent(void **state)
{
	struct cfg c;
	char err[256];
	(void)state;

	memset(&c, 0, sizeof c);	/* list directives (queue) append to what is there */
	assert_true(cfg_table_len >= 19);
	for (size_t i = 0; i < cfg_table_len; i++) {
		const struct cfg_directive *d = &cfg_table[i];
		assert_non_null(d->name);
		assert_non_null(d->def);
		assert_non_null(d->help);
		assert_true(d->offset + d->size <= sizeof c);
		for (size_t j = i + 1; j < cfg_table_len; j++)
			assert_string_not_equal(d->name, cfg_table[j].name);
		err[0] = '\0';
		assert_int_equal(cfg_set(&c, d->name, d->def, err, sizeof err), 0);
		assert_string_equal(err, "");
		if (d->type == CFG_INT || d->type == CFG_MS || d->type == CFG_SIZE)
			assert_true(d->min <= d->max);
	}
}

/* ---------- cfg_set ---------- */

static void test_set_int(void **state)
{
	struct cfg c;
	char err[256];
	(void)state;

	cfg_defaults(&c);
	assert_int_equal(cfg_set(&c, "worker_port", "8080", err, sizeof err), 0);
	assert_int_equal(c.worker_port, 8080);
	assert_int_equal(cfg_set(&c, "worker_port", "1", err, sizeof err), 0);
	assert_int_equal(c.worker_port, 1);
	assert_int_equal(cfg_set(&c, "worker_port", "65535", err, sizeof err), 0);
	assert_int_equal(c.worker_port, 65535);
	assert_int_equal(cfg_set(&c, "http_port", "0", err, sizeof err), 0);
	assert_int_equal(c.http_port, 0);
	assert_int_equal(cfg_set(&c, "brokers", "256", err, sizeof err), 0);
	assert_int_equal(c.brokers, 256);
	/* the neighbours in the struct are untouched */
	assert_int_equal(c.stream_port, 3112);
	assert_int_equal(c.worker_port, 65535);

	assert_int_equal(cfg_set(&c, "invocation_timeout_ms", "86400000", err, sizeof err), 0);
	assert_true(c.invocation_timeout_ms == 86400000);
	assert_int_equal(cfg_set(&c, "invocation_timeout_ms", "0", err, sizeof err), 0);
	assert_true(c.invocation_timeout_ms == 0);
	assert_int_equal(c.log_level, LL_INFO);
}

static void test_set_out_of_range(void **state)
{
	struct cfg c;
	char err[256];
	(void)state;

	cfg_defaults(&c);
	assert_int_equal(cfg_set(&c, "worker_port", "0", err, sizeof err), -1);
	assert_string_equal(err, "worker_port: 0 is out of range [1, 65535]");
	assert_int_equal(c.worker_port, 49134);

	assert_int_equal(cfg_set(&c, "worker_port", "65536", err, sizeof err), -1);
	assert_string_equal(err, "worker_port: 65536 is out of range [1, 65535]");

	assert_int_equal(cfg_set(&c, "http_port", "-1", err, sizeof err), -1);
	assert_string_equal(err, "http_port: -1 is out of range [0, 65535]");

	assert_int_equal(cfg_set(&c, "brokers", "257", err, sizeof err), -1);
	assert_string_equal(err, "brokers: 257 is out of range [0, 256]");

	/* would wrap an int if stored unchecked */
	assert_int_equal(cfg_set(&c, "max_connections", "4294967297", err, sizeof err), -1);
	assert_string_equal(err, "max_connections: 4294967297 is out of range [1, 1000000]");
	assert_int_equal(c.max_connections, 10000);

	assert_int_equal(cfg_set(&c, "invocation_timeout_ms", "86400001", err, sizeof err), -1);
	assert_string_equal(err,
			    "invocation_timeout_ms: 86400001 is out of range [0, 86400000]");
	assert_true(c.invocation_timeout_ms == 30000);

	assert_int_equal(cfg_set(&c, "handshake_timeout_ms", "99", err, sizeof err), -1);
	assert_string_equal(err, "handshake_timeout_ms: 99 is out of range [100, 600000]");

	assert_int_equal(cfg_set(&c, "max_json_depth", "1", err, sizeof err), -1);
	assert_string_equal(err, "max_json_depth: 1 is out of range [2, 1000]");
}

static void test_set_not_integer(void **state)
{
	static const char *const bad[] = {
		"", "abc", "12abc", "1.5", "0x10", "1e3", "80 ", "99999999999999999999",
	};
	struct cfg c;
	char err[256], want[256];
	(void)state;

	cfg_defaults(&c);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(cfg_set(&c, "worker_port", bad[i], err, sizeof err), -1);
		snprintf(want, sizeof want, "worker_port: '%s' is not an integer", bad[i]);
		assert_string_equal(err, want);
	}
	assert_int_equal(c.worker_port, 49134);
	assert_int_equal(cfg_set(&c, "shutdown_timeout_ms", "5s", err, sizeof err), -1);
	assert_string_equal(err, "shutdown_timeout_ms: '5s' is not an integer");
}

static void test_set_size(void **state)
{
	static const struct {
		const char *text;
		int64_t want;
	} ok[] = {
		{ "125", 125 },
		{ "65536", 65536 },
		{ "64k", 64 * 1024 },
		{ "64K", 64 * 1024 },
		{ "64kb", 64 * 1024 },
		{ "64KB", 64 * 1024 },
		{ "16m", 16 * MiB },
		{ "16mb", 16 * MiB },
		{ "16MB", 16 * MiB },
		{ "1g", 1024 * MiB },
		{ "1gb", 1024 * MiB },
	};
	struct cfg c;
	char err[256];
	(void)state;

	cfg_defaults(&c);
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		c.ws_max_frame = -1;
		assert_int_equal(cfg_set(&c, "ws_max_frame", ok[i].text, err, sizeof err), 0);
		assert_true(c.ws_max_frame == ok[i].want);
	}
	/* client_output_limit allows 4 GiB, beyond 32 bits */
	assert_int_equal(cfg_set(&c, "client_output_limit", "4g", err, sizeof err), 0);
	assert_true(c.client_output_limit == 4096 * MiB);
	assert_int_equal(cfg_set(&c, "client_output_limit", "4097m", err, sizeof err), -1);
	assert_string_equal(err, "client_output_limit: 4097m is out of range [65536, 4294967296]");
}

static void test_set_size_bad(void **state)
{
	static const char *const bad[] = {
		"", "k", "16x", "16kbb", "16bk", "16 k", "-1", "-1k", "16t", "1.5m", "16b",
	};
	struct cfg c;
	char err[256], want[256];
	(void)state;

	cfg_defaults(&c);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(cfg_set(&c, "ws_max_frame", bad[i], err, sizeof err), -1);
		snprintf(want, sizeof want,
			 "ws_max_frame: '%s' is not a size (e.g. 65536, 64k, 16m)", bad[i]);
		assert_string_equal(err, want);
	}
	assert_true(c.ws_max_frame == 16 * MiB);

	assert_int_equal(cfg_set(&c, "ws_max_frame", "124", err, sizeof err), -1);
	assert_string_equal(err, "ws_max_frame: 124 is out of range [125, 1073741824]");
	assert_int_equal(cfg_set(&c, "ws_max_frame", "2g", err, sizeof err), -1);
	assert_string_equal(err, "ws_max_frame: 2g is out of range [125, 1073741824]");
	assert_true(c.ws_max_frame == 16 * MiB);
}

static void test_set_log_level(void **state)
{
	static const struct {
		const char *text;
		int want;
	} ok[] = {
		{ "error", LL_ERROR }, { "warn", LL_WARN }, { "warning", LL_WARN },
		{ "info", LL_INFO }, { "debug", LL_DEBUG }, { "trace", LL_TRACE },
	};
	struct cfg c;
	char err[256];
	(void)state;

	cfg_defaults(&c);
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		c.log_level = -1;
		assert_int_equal(cfg_set(&c, "log_level", ok[i].text, err, sizeof err), 0);
		assert_int_equal(c.log_level, ok[i].want);
	}
	assert_int_equal(cfg_set(&c, "log_level", "verbose", err, sizeof err), -1);
	assert_string_equal(err,
			    "log_level: 'verbose' is not one of error, warn, info, debug, trace");
	assert_int_equal(cfg_set(&c, "log_level", "INFO", err, sizeof err), -1);
	assert_int_equal(cfg_set(&c, "log_level", "3", err, sizeof err), -1);
	assert_int_equal(c.log_level, LL_TRACE);
}

static void test_set_string(void **state)
{
	struct cfg c;
	char err[256];
	char v[300];
	(void)state;

	cfg_defaults(&c);
	assert_int_equal(cfg_set(&c, "bind", "127.0.0.1", err, sizeof err), 0);
	assert_string_equal(c.bind, "127.0.0.1");
	assert_int_equal(cfg_set(&c, "router_listen", "", err, sizeof err), 0);
	assert_string_equal(c.router_listen, "");

	/* bind[64]: 63 bytes fit, 64 do not */
	memset(v, 'a', 63);
	v[63] = '\0';
	assert_int_equal(cfg_set(&c, "bind", v, err, sizeof err), 0);
	assert_int_equal(strlen(c.bind), 63);
	v[63] = 'a';
	v[64] = '\0';
	assert_int_equal(cfg_set(&c, "bind", v, err, sizeof err), -1);
	assert_string_equal(err, "bind: value longer than 63 bytes");
	assert_int_equal(strlen(c.bind), 63);

	memset(v, 'd', 256);
	v[256] = '\0';
	assert_int_equal(cfg_set(&c, "data_dir", v, err, sizeof err), -1);
	assert_string_equal(err, "data_dir: value longer than 255 bytes");
	assert_string_equal(c.data_dir, "./data");
}

static void test_set_unknown(void **state)
{
	struct cfg c;
	char err[256];
	(void)state;

	cfg_defaults(&c);
	assert_int_equal(cfg_set(&c, "worker-port", "1", err, sizeof err), -1);
	assert_string_equal(err, "unknown directive 'worker-port'");
	assert_int_equal(cfg_set(&c, "", "1", err, sizeof err), -1);
	assert_string_equal(err, "unknown directive ''");
	assert_int_equal(cfg_set(&c, "WORKER_PORT", "1", err, sizeof err), -1);
}

static void test_set_err_truncated_safely(void **state)
{
	struct cfg c;
	char err[8];
	(void)state;

	cfg_defaults(&c);
	memset(err, 'x', sizeof err);
	assert_int_equal(cfg_set(&c, "nonexistent_directive", "1", err, sizeof err), -1);
	assert_string_equal(err, "unknown");
}

/* ---------- cfg_parse_size ---------- */

static void test_parse_size(void **state)
{
	int64_t v;
	(void)state;

	v = -1;
	assert_int_equal(cfg_parse_size("0", &v), 0);
	assert_true(v == 0);
	assert_int_equal(cfg_parse_size("1", &v), 0);
	assert_true(v == 1);
	assert_int_equal(cfg_parse_size("1k", &v), 0);
	assert_true(v == 1024);
	assert_int_equal(cfg_parse_size("3Kb", &v), 0);
	assert_true(v == 3072);
	assert_int_equal(cfg_parse_size("2M", &v), 0);
	assert_true(v == 2 * MiB);
	assert_int_equal(cfg_parse_size("5gB", &v), 0);
	assert_true(v == 5 * 1024 * MiB);
	assert_int_equal(cfg_parse_size("0g", &v), 0);
	assert_true(v == 0);
	assert_int_equal(cfg_parse_size("9223372036854775807", &v), 0);
	assert_true(v == INT64_MAX);
	/* largest g that fits: (2^63 - 1) / 2^30 */
	assert_int_equal(cfg_parse_size("8589934591g", &v), 0);
	assert_true(v == 8589934591LL * 1024 * MiB);

	v = 77;
	assert_int_equal(cfg_parse_size("8589934592g", &v), -1);
	assert_int_equal(cfg_parse_size("9007199254740992k", &v), -1);
	assert_int_equal(cfg_parse_size("9223372036854775808", &v), -1);
	assert_int_equal(cfg_parse_size("", &v), -1);
	assert_int_equal(cfg_parse_size("m", &v), -1);
	assert_int_equal(cfg_parse_size("-0k", &v), 0);	/* -0 is 0 */
	v = 77;
	assert_int_equal(cfg_parse_size("-5", &v), -1);
	assert_int_equal(cfg_parse_size("5 ", &v), -1);
	assert_int_equal(cfg_parse_size("5kk", &v), -1);
	assert_int_equal(cfg_parse_size("5mbx", &v), -1);
	assert_int_equal(cfg_parse_size("5p", &v), -1);
	assert_true(v == 77);	/* untouched on failure */
}

/* ---------- cfg_load_file ---------- */

static void test_load_basic(void **state)
{
	struct tmp *t = *state;
	struct cfg c;
	char err[512] = "";
	const char *p = put_file(t, "trine.conf",
				 "# trine test config\n"
				 "\n"
				 "   \t\n"
				 "worker_port 5000\n"
				 "  http_port\t\t0   # off\n"
				 "data_dir \"/var/lib/trine data\"\n"
				 "log_level debug\n"
				 "ws_max_frame 1m\n"
				 "bind \"\"\n"
				 "# stream_port 1\n"
				 "invocation_timeout_ms 0\r\n");

	cfg_defaults(&c);
	assert_int_equal(cfg_load_file(&c, p, err, sizeof err), 0);
	assert_string_equal(err, "");
	assert_int_equal(c.worker_port, 5000);
	assert_int_equal(c.http_port, 0);
	assert_string_equal(c.data_dir, "/var/lib/trine data");
	assert_int_equal(c.log_level, LL_DEBUG);
	assert_true(c.ws_max_frame == MiB);
	assert_string_equal(c.bind, "");
	assert_int_equal(c.stream_port, 3112);
	assert_true(c.invocation_timeout_ms == 0);
}

static void test_load_no_trailing_newline(void **state)
{
	struct tmp *t = *state;
	struct cfg c;
	char err[512];
	const char *p = put_file(t, "a.conf", "worker_port 6000");

	cfg_defaults(&c);
	assert_int_equal(cfg_load_file(&c, p, err, sizeof err), 0);
	assert_int_equal(c.worker_port, 6000);
}

static void test_load_include_relative(void **state)
{
	struct tmp *t = *state;
	struct cfg c;
	char err[512] = "";

	put_file(t, "extra.conf", "http_port 4000\nbrokers 3\n");
	const char *p = put_file(t, "main.conf",
				 "worker_port 5001\n"
				 "include extra.conf\n"
				 "brokers 4\n");

	/* run from elsewhere so "extra.conf" only resolves relative to main.conf */
	char cwd[512];
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_int_equal(chdir("/"), 0);
	cfg_defaults(&c);
	int rc = cfg_load_file(&c, p, err, sizeof err);
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(rc, 0);
	assert_string_equal(err, "");
	assert_int_equal(c.worker_port, 5001);
	assert_int_equal(c.http_port, 4000);
	assert_int_equal(c.brokers, 4);	/* later lines win */
}

static void test_load_include_quoted_absolute(void **state)
{
	struct tmp *t = *state;
	struct cfg c;
	char err[512] = "";
	char text[256];

	const char *inc = put_file(t, "abs.conf", "stream_port 4001\n");
	snprintf(text, sizeof text, "include \"%s\"\n", inc);
	const char *p = put_file(t, "main.conf", text);

	cfg_defaults(&c);
	assert_int_equal(cfg_load_file(&c, p, err, sizeof err), 0);
	assert_int_equal(c.stream_port, 4001);
}

static void test_load_unknown_directive_line3(void **state)
{
	struct tmp *t = *state;
	struct cfg c;
	char err[512], want[512];
	const char *p = put_file(t, "bad.conf",
				 "worker_port 5002\n"
				 "# comment\n"
				 "frobnicate yes\n"
				 "http_port 1\n");

	cfg_defaults(&c);
	assert_int_equal(cfg_load_file(&c, p, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s:3: ", p);
	assert_memory_equal(err, want, strlen(want));
	snprintf(want, sizeof want, "%s:3: unknown directive 'frobnicate'", p);
	assert_string_equal(err, want);
	/* stops at the bad line */
	assert_int_equal(c.http_port, 3111);
}

static void test_load_bad_value_line(void **state)
{
	struct tmp *t = *state;
	struct cfg c;
	char err[512], want[512];
	const char *p = put_file(t, "bad.conf", "\n\nworker_port 70000\n");

	cfg_defaults(&c);
	assert_int_equal(cfg_load_file(&c, p, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s:3: worker_port: 70000 is out of range [1, 65535]", p);
	assert_string_equal(err, want);
}

static void test_load_missing_value(void **state)
{
	struct tmp *t = *state;
	struct cfg c;
	char err[512], want[512];
	const char *p = put_file(t, "novalue.conf",
				 "worker_port 5003\n"
				 "log_level   # nothing here\n");

	cfg_defaults(&c);
	assert_int_equal(cfg_load_file(&c, p, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s:2: 'log_level' needs a value", p);
	assert_string_equal(err, want);
	assert_non_null(strstr(err, "needs a value"));
}

static void test_load_missing_file(void **state)
{
	struct tmp *t = *state;
	struct cfg c;
	char err[512];
	char path[256];

	snprintf(path, sizeof path, "%s/does-not-exist.conf", t->dir);
	cfg_defaults(&c);
	assert_int_equal(cfg_load_file(&c, path, err, sizeof err), -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "No such file"));
}

static void test_load_missing_include(void **state)
{
	struct tmp *t = *state;
	struct cfg c;
	char err[512];
	const char *p = put_file(t, "main.conf", "worker_port 5004\ninclude nowhere.conf\n");

	cfg_defaults(&c);
	assert_int_equal(cfg_load_file(&c, p, err, sizeof err), -1);
	assert_non_null(strstr(err, "nowhere.conf"));
	assert_int_equal(c.worker_port, 5004);
}

static void test_load_error_in_include(void **state)
{
	struct tmp *t = *state;
	struct cfg c;
	char err[512], want[512];

	const char *inc = put_file(t, "inc.conf", "http_port 1\nhttp_port x\n");
	const char *p = put_file(t, "main.conf", "include inc.conf\n");

	cfg_defaults(&c);
	assert_int_equal(cfg_load_file(&c, p, err, sizeof err), -1);
	/* the message names the included file and its line */
	snprintf(want, sizeof want, "%s:2: http_port: 'x' is not an integer", inc);
	assert_string_equal(err, want);
}

static void test_load_include_self_loop(void **state)
{
	struct tmp *t = *state;
	struct cfg c;
	char err[512] = "";
	const char *p = put_file(t, "loop.conf", "worker_port 5005\ninclude loop.conf\n");

	cfg_defaults(&c);
	assert_int_equal(cfg_load_file(&c, p, err, sizeof err), -1);
	assert_non_null(strstr(err, "loop.conf"));
	assert_non_null(strstr(err, "nested too deeply"));
}

static void test_load_include_mutual_loop(void **state)
{
	struct tmp *t = *state;
	struct cfg c;
	char err[512] = "";

	put_file(t, "b.conf", "include a.conf\n");
	const char *p = put_file(t, "a.conf", "include b.conf\n");

	cfg_defaults(&c);
	assert_int_equal(cfg_load_file(&c, p, err, sizeof err), -1);
	assert_non_null(strstr(err, "nested too deeply"));
}

static void test_load_line_too_long(void **state)
{
	struct tmp *t = *state;
	struct cfg c;
	char err[512], want[512];
	size_t n = 5000;
	char *text = malloc(n + 32);

	assert_non_null(text);
	strcpy(text, "worker_port 1\n# ");
	size_t off = strlen(text);
	memset(text + off, 'z', n);
	strcpy(text + off + n, "\n");
	const char *p = put_file(t, "long.conf", text);
	free(text);

	cfg_defaults(&c);
	assert_int_equal(cfg_load_file(&c, p, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s:2: line too long", p);
	assert_string_equal(err, want);
}

/* ---------- command line, reload (cfg_load_args, cfg_apply_reload) ---------- */

static void test_args_override_file(void **state)
{
	struct tmp *t = *state;
	struct cfg c;
	char err[512] = "";
	const char *p = put_file(t, "a.conf", "worker_port 5000\nlog_format json\nbrokers 3\n");
	char *argv[] = { "--brokers", "2", "-c", (char *)p, "-t", "-d", "-p", "/x.pid",
			 "--metrics_port=9464", NULL };

	assert_int_equal(cfg_load_args(&c, 9, argv, err, sizeof err), 0);
	assert_int_equal(c.worker_port, 5000);	/* from the file */
	assert_int_equal(c.brokers, 2);		/* the command line wins, wherever it is */
	assert_int_equal(c.log_format, LOG_FORMAT_JSON);
	assert_int_equal(c.metrics_port, 9464);
}

static void test_args_errors(void **state)
{
	struct cfg c;
	char err[512];
	char *a1[] = { "--log_format", "yaml" };
	char *a2[] = { "--brokers" };
	char *a3[] = { "stray" };
	char *a4[] = { "-c" };
	char *a5[] = { "--metrics_port", "65536" };

	(void)state;
	assert_int_equal(cfg_load_args(&c, 2, a1, err, sizeof err), -1);
	assert_string_equal(err, "command line: log_format: 'yaml' is not text or json");
	assert_int_equal(cfg_load_args(&c, 1, a2, err, sizeof err), -1);
	assert_string_equal(err, "command line: --brokers needs a value");
	assert_int_equal(cfg_load_args(&c, 1, a3, err, sizeof err), -1);
	assert_string_equal(err, "command line: unexpected argument 'stray'");
	assert_int_equal(cfg_load_args(&c, 1, a4, err, sizeof err), -1);
	assert_string_equal(err, "command line: -c needs a value");
	assert_int_equal(cfg_load_args(&c, 2, a5, err, sizeof err), -1);
	assert_string_equal(err, "command line: metrics_port: 65536 is out of range [0, 65535]");
}

static void test_reload_file_error_keeps_line(void **state)
{
	struct tmp *t = *state;
	struct cfg c;
	char err[512], want[600];
	const char *p = put_file(t, "r.conf", "log_level info\n\ninvocation_timeout_ms banana\n");
	char *argv[] = { "-c", (char *)p };

	assert_int_equal(cfg_keep_args(2, argv), 0);
	assert_int_equal(cfg_reload(&c, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s:3: invocation_timeout_ms: 'banana' is not an integer", p);
	assert_string_equal(err, want);
}

static int restart_calls;
static char restart_names[256];

static void note_restart(const char *name)
{
	restart_calls++;
	strncat(restart_names, name, sizeof restart_names - strlen(restart_names) - 2);
	strcat(restart_names, " ");
}

static void test_apply_reload(void **state)
{
	struct cfg run, next;

	(void)state;
	cfg_defaults(&run);
	cfg_defaults(&next);
	assert_int_equal(cfg_apply_reload(&run, &next, note_restart), 0);
	next.log_level = LL_DEBUG;
	next.invocation_timeout_ms = 1234;
	next.log_format = LOG_FORMAT_JSON;
	next.worker_port = 6000;			/* restart */
	snprintf(next.data_dir, sizeof next.data_dir, "/elsewhere");	/* restart */
	restart_calls = 0;
	restart_names[0] = '\0';
	assert_int_equal(cfg_apply_reload(&run, &next, note_restart), 3);
	assert_int_equal(run.log_level, LL_DEBUG);
	assert_true(run.invocation_timeout_ms == 1234);
	assert_int_equal(run.log_format, LOG_FORMAT_JSON);
	assert_int_equal(run.worker_port, 49134);	/* kept */
	assert_string_equal(run.data_dir, "./data");
	assert_int_equal(restart_calls, 2);
	assert_string_equal(restart_names, "worker_port data_dir ");
	/* applied: a second apply changes nothing */
	next.worker_port = 49134;
	snprintf(next.data_dir, sizeof next.data_dir, "./data");
	assert_int_equal(cfg_apply_reload(&run, &next, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_table_consistent),
		cmocka_unit_test(test_set_int),
		cmocka_unit_test(test_set_out_of_range),
		cmocka_unit_test(test_set_not_integer),
		cmocka_unit_test(test_set_size),
		cmocka_unit_test(test_set_size_bad),
		cmocka_unit_test(test_set_log_level),
		cmocka_unit_test(test_set_string),
		cmocka_unit_test(test_set_unknown),
		cmocka_unit_test(test_set_err_truncated_safely),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test_setup_teardown(test_load_basic, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_load_no_trailing_newline, tmp_setup,
						tmp_teardown),
		cmocka_unit_test_setup_teardown(test_load_include_relative, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_load_include_quoted_absolute, tmp_setup,
						tmp_teardown),
		cmocka_unit_test_setup_teardown(test_load_unknown_directive_line3, tmp_setup,
						tmp_teardown),
		cmocka_unit_test_setup_teardown(test_load_bad_value_line, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_load_missing_value, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_load_missing_file, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_load_missing_include, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_load_error_in_include, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_load_include_self_loop, tmp_setup,
						tmp_teardown),
		cmocka_unit_test_setup_teardown(test_load_include_mutual_loop, tmp_setup,
						tmp_teardown),
		cmocka_unit_test_setup_teardown(test_load_line_too_long, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_args_override_file, tmp_setup, tmp_teardown),
		cmocka_unit_test(test_args_errors),
		cmocka_unit_test_setup_teardown(test_reload_file_error_keeps_line, tmp_setup,
						tmp_teardown),
		cmocka_unit_test(test_apply_reload),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
