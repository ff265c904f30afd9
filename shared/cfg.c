#include "cfg.h"
#include "log.h"
#include "wauth.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define F(field) offsetof(struct cfg, field), sizeof(((struct cfg *)0)->field)
#define MiB (1024LL * 1024)

const struct cfg_directive cfg_table[] = {
	{ "bind", CFG_STRING, F(bind), 0, 0, "0.0.0.0", 0,
	  "address the listening sockets bind to" },
	{ "worker_port", CFG_INT, F(worker_port), 1, 65535, "49134", 0,
	  "WebSocket port for workers (paths /, /otel)" },
	{ "http_port", CFG_INT, F(http_port), 0, 65535, "3111", 0,
	  "HTTP trigger port (0 = off)" },
	{ "http_timeout_ms", CFG_MS, F(http_timeout_ms), 100, 86400000LL, "30000", 0,
	  "an HTTP trigger request not answered within this gets 504" },
	{ "http_idle_timeout_ms", CFG_MS, F(http_idle_timeout_ms), 1000, 3600000LL, "60000", 0,
	  "close an HTTP connection idle (keep-alive) or sending a request slower than this" },
	{ "http_max_body", CFG_SIZE, F(http_max_body), 0, 1024 * MiB, "10m", 0,
	  "largest HTTP trigger request body (413 beyond)" },
	{ "http_max_header", CFG_SIZE, F(http_max_header), 1024, 16 * MiB, "64k", 0,
	  "largest HTTP request line plus headers" },
	{ "http_cors_origins", CFG_STRING, F(http_cors_origins), 0, 0, "*", 0,
	  "CORS: allowed origins, * or a comma-separated list (e.g. https://a.example,https://b.example)" },
	{ "http_cors_methods", CFG_STRING, F(http_cors_methods), 0, 0, "*", 0,
	  "CORS: allowed methods, * or a comma-separated list (e.g. GET,POST)" },
	{ "http_stream_wait_ms", CFG_MS, F(http_stream_wait_ms), 0, 60000, "500", 0,
	  "a function that returns nothing may still stream its response: wait this long for its response channel to open (then 200 {})" },
	{ "stream_port", CFG_INT, F(stream_port), 0, 65535, "3112", 0,
	  "stream WebSocket port (0 = off)" },
	{ "brokers", CFG_INT, F(brokers), 0, 256, "0", 0,
	  "broker processes (0 = one per online CPU)" },
	{ "data_dir", CFG_STRING, F(data_dir), 0, 0, "./data", 0,
	  "directory for storage and the router's IPC socket" },
	{ "log_level", CFG_LOGLEVEL, F(log_level), 0, 0, "info", 1,
	  "error, warn, info, debug or trace" },
	{ "log_format", CFG_LOGFORMAT, F(log_format), 0, 0, "text", 1,
	  "text, or json for one JSON object per line (for log shippers)" },
	{ "metrics_port", CFG_INT, F(metrics_port), 0, 65535, "0", 0,
	  "Prometheus metrics at http://BIND:PORT/metrics, served by the router (0 = off; 9464 is usual)" },
	{ "invocation_timeout_ms", CFG_MS, F(invocation_timeout_ms), 0, 86400000LL, "30000", 1,
	  "fail a call with invocation_timeout after this long (0 = never)" },
	{ "handshake_timeout_ms", CFG_MS, F(handshake_timeout_ms), 100, 600000, "10000", 1,
	  "time a client has to complete the WebSocket upgrade" },
	{ "handshake_max_bytes", CFG_SIZE, F(handshake_max_bytes), 512, MiB, "16384", 1,
	  "largest WebSocket upgrade request head (431 beyond)" },
	{ "ws_max_frame", CFG_SIZE, F(ws_max_frame), 125, 1024 * MiB, "16m", 1,
	  "largest WebSocket frame payload (close 1009 beyond)" },
	{ "ws_max_message", CFG_SIZE, F(ws_max_message), 125, 1024 * MiB, "64m", 1,
	  "largest reassembled WebSocket message (close 1009 beyond)" },
	{ "max_json_depth", CFG_INT, F(max_json_depth), 2, 1000, "64", 1,
	  "deepest JSON nesting accepted from a peer" },
	{ "client_output_limit", CFG_SIZE, F(client_output_limit), 64 * 1024, 4096 * MiB, "256m", 1,
	  "unsent bytes queued for one connection before it is closed" },
	{ "max_connections", CFG_INT, F(max_connections), 1, 1000000, "10000", 1,
	  "connections one broker process accepts" },
	{ "max_inflight_per_worker", CFG_INT, F(max_inflight_per_worker), 1, 10000000, "100000", 1,
	  "calls one connection may have waiting for a result" },
	{ "shutdown_timeout_ms", CFG_MS, F(shutdown_timeout_ms), 0, 600000, "10000", 1,
	  "how long a stop waits for children before killing them" },
	{ "router_endpoint", CFG_STRING, F(router_endpoint), 0, 0, "", 0,
	  "ZeroMQ endpoint of the router (empty = ipc://DATA_DIR/router.ipc)" },
	{ "router_listen", CFG_STRING, F(router_listen), 0, 0, "", 0,
	  "extra endpoint the router binds for brokers on other hosts, e.g. tcp://0.0.0.0:49200" },
	{ "store_map_size", CFG_SIZE, F(store_map_size), 16 * MiB, 1024 * 1024 * MiB, "1g", 0,
	  "largest size the LMDB store in DATA_DIR/store may grow to" },
	{ "log_trigger_queue", CFG_INT, F(log_trigger_queue), 1, 10000000, "10000", 0,
	  "log records waiting for log-trigger delivery; more are dropped and counted" },
	{ "queue", CFG_QUEUE, F(queues), 1, CFG_MAX_QUEUES, "default", 0,
	  "named queue for action enqueue: NAME [max_retries=3] [concurrency=10] "
	  "[type=standard|fifo] [group_field=F] [backoff_ms=1000] [visibility_timeout_ms=300000] "
	  "(repeatable; 'default' always exists)" },
	{ "topic_retention_ms", CFG_MS, F(topic_retention_ms), 0, 365 * 86400000LL, "604800000", 1,
	  "how long an undelivered durable message waits for a subscriber (0 = forever)" },
	{ "topic_visibility_timeout_ms", CFG_MS, F(topic_visibility_timeout_ms), 100, 86400000LL,
	  "300000", 1,
	  "a durable:subscriber delivery unanswered this long is delivered again" },
	{ "fanouts", CFG_INT, F(fanouts), 0, 256, "1", 0,
	  "stream fanout processes serving stream_port (0 = no stream clients)" },
	{ "router_pub_endpoint", CFG_STRING, F(router_pub_endpoint), 0, 0, "", 0,
	  "ZeroMQ endpoint of the router's stream event PUB socket (empty = ipc://DATA_DIR/events.ipc)" },
	{ "router_pub_listen", CFG_STRING, F(router_pub_listen), 0, 0, "", 0,
	  "extra endpoint the router's PUB socket binds for fanouts on other hosts, e.g. tcp://0.0.0.0:49201" },
	{ "curve_secret_key_file", CFG_STRING, F(curve_secret_key_file), 0, 0, "", 0,
	  "this process's CURVE secret key (trine keygen): encrypts the TCP links to the router" },
	{ "curve_server_key_file", CFG_STRING, F(curve_server_key_file), 0, 0, "", 0,
	  "brokers and fanouts: the router's CURVE public key" },
	{ "curve_allowed_keys_file", CFG_STRING, F(curve_allowed_keys_file), 0, 0, "", 0,
	  "router: CURVE public keys (one per line) allowed to connect over TCP" },
	{ "stream_auth_function", CFG_STRING, F(stream_auth_function), 0, 0, "", 1,
	  "function called with {headers, path, query_params, addr} when a stream client connects; "
	  "its {context} is kept for the connection (empty = none)" },
	{ "stream_output_hard_limit", CFG_SIZE, F(stream_output_hard_limit), 64 * 1024, 4096 * MiB, "32m", 1,
	  "unsent bytes queued for one stream client before it is closed at once" },
	{ "stream_output_soft_limit", CFG_SIZE, F(stream_output_soft_limit), 16 * 1024, 4096 * MiB, "8m", 1,
	  "a stream client with more unsent bytes than this for stream_output_soft_seconds is closed" },
	{ "stream_output_soft_seconds", CFG_INT, F(stream_output_soft_seconds), 1, 3600, "10", 1,
	  "how long a stream client may stay above stream_output_soft_limit" },
	{ "http_bind", CFG_STRING, F(http_bind), 0, 0, "", 0,
	  "address http_port binds to (empty = bind; its port must differ from the worker port)" },
	{ "stream_bind", CFG_STRING, F(stream_bind), 0, 0, "", 0,
	  "address stream_port binds to (empty = bind; its port must differ from the worker port)" },
	{ "worker_auth", CFG_STRING, F(worker_auth), 0, 0, "none", 0,
	  "worker authentication on the worker port: none, token (worker_auth_token) or function (worker_auth_function)" },
	{ "worker_auth_token", CFG_STRING, F(worker_auth_token), 0, 0, "", 0,
	  "the bearer token workers present (Authorization: Bearer T or ?token=T): required by worker_auth token; "
	  "with worker_auth function it admits a trusted worker (e.g. the one providing the function) without the call" },
	{ "worker_auth_function", CFG_STRING, F(worker_auth_function), 0, 0, "", 0,
	  "worker_auth function: called with {headers, query_params, ip_address} per worker connection; "
	  "an error refuses it, an object's allowed_functions/forbidden_functions limit its calls" },
	{ "max_registrations_per_worker", CFG_INT, F(max_registrations_per_worker), 1, 10000000, "10000", 1,
	  "functions, triggers and trigger types one worker connection may register" },
};
const size_t cfg_table_len = sizeof cfg_table / sizeof cfg_table[0];

void cfg_defaults(struct cfg *c)
{
	char err[256];
	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < cfg_table_len; i++)
		if (cfg_set(c, cfg_table[i].name, cfg_table[i].def, err, sizeof err) < 0)
			abort();	/* a bad default is our bug */
}

int cfg_parse_size(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (end == s || errno || v < 0)
		return -1;
	int64_t mul = 1;
	if (*end) {
		char suf = (char)tolower((unsigned char)*end);
		if (suf == 'k')
			mul = 1024;
		else if (suf == 'm')
			mul = MiB;
		else if (suf == 'g')
			mul = 1024 * MiB;
		else
			return -1;
		end++;
		if (tolower((unsigned char)*end) == 'b')
			end++;
		if (*end)
			return -1;
	}
	if (v > INT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

/* One key=value of a queue declaration: an integer within [min, max]. */
static int queue_int(const char *q, const char *key, const char *v, int64_t min, int64_t max,
		     int64_t *out, char *err, size_t errlen)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (end == v || *end || errno || n < min || n > max) {
		snprintf(err, errlen, "queue %s: %s=%s is not an integer in [%lld, %lld]", q, key, v,
			 (long long)min, (long long)max);
		return -1;
	}
	*out = n;
	return 0;
}

int cfg_parse_queue(const char *value, struct cfg_queue *q, char *err, size_t errlen)
{
	char buf[1024], *save = NULL, *tok;
	int64_t n;

	if (strlen(value) >= sizeof buf) {
		snprintf(err, errlen, "queue: declaration longer than %zu bytes", sizeof buf - 1);
		return -1;
	}
	memcpy(buf, value, strlen(value) + 1);
	memset(q, 0, sizeof *q);
	q->max_retries = 3;
	q->concurrency = 10;
	q->backoff_ms = 1000;
	q->visibility_timeout_ms = 300000;
	tok = strtok_r(buf, " \t", &save);
	if (!tok) {
		snprintf(err, errlen, "queue: needs a name");
		return -1;
	}
	for (const char *p = tok; *p; p++) {
		if (!isalnum((unsigned char)*p) && !strchr("_-.:", *p)) {
			snprintf(err, errlen, "queue: name '%s' may hold only letters, digits and _-.:",
				 tok);
			return -1;
		}
	}
	if (strlen(tok) >= sizeof q->name) {
		snprintf(err, errlen, "queue: name longer than %zu bytes", sizeof q->name - 1);
		return -1;
	}
	memcpy(q->name, tok, strlen(tok) + 1);
	while ((tok = strtok_r(NULL, " \t", &save))) {
		char *v = strchr(tok, '=');
		if (!v || v == tok || !v[1]) {
			snprintf(err, errlen, "queue %s: '%s' is not key=value", q->name, tok);
			return -1;
		}
		*v++ = '\0';
		if (strcmp(tok, "max_retries") == 0) {
			if (queue_int(q->name, tok, v, 1, 100, &n, err, errlen) < 0)
				return -1;
			q->max_retries = (int)n;
		} else if (strcmp(tok, "concurrency") == 0) {
			if (queue_int(q->name, tok, v, 1, 10000, &n, err, errlen) < 0)
				return -1;
			q->concurrency = (int)n;
		} else if (strcmp(tok, "backoff_ms") == 0) {
			if (queue_int(q->name, tok, v, 0, 86400000LL, &n, err, errlen) < 0)
				return -1;
			q->backoff_ms = n;
		} else if (strcmp(tok, "visibility_timeout_ms") == 0) {
			if (queue_int(q->name, tok, v, 100, 86400000LL, &n, err, errlen) < 0)
				return -1;
			q->visibility_timeout_ms = n;
		} else if (strcmp(tok, "type") == 0) {
			if (strcmp(v, "standard") && strcmp(v, "fifo")) {
				snprintf(err, errlen, "queue %s: type=%s is not standard or fifo",
					 q->name, v);
				return -1;
			}
			q->fifo = strcmp(v, "fifo") == 0;
		} else if (strcmp(tok, "group_field") == 0) {
			if (strlen(v) >= sizeof q->group_field) {
				snprintf(err, errlen, "queue %s: group_field longer than %zu bytes",
					 q->name, sizeof q->group_field - 1);
				return -1;
			}
			memcpy(q->group_field, v, strlen(v) + 1);
		} else {
			snprintf(err, errlen, "queue %s: unknown key '%s' (max_retries, concurrency, "
				 "type, group_field, backoff_ms, visibility_timeout_ms)", q->name, tok);
			return -1;
		}
	}
	if (q->group_field[0] && !q->fifo) {
		snprintf(err, errlen, "queue %s: group_field needs type=fifo", q->name);
		return -1;
	}
	return 0;
}

/* A queue declaration adds a queue, or replaces the one with the same name. */
static int cfg_set_queue(struct cfg *c, const struct cfg_directive *d, const char *value,
			 char *err, size_t errlen)
{
	struct cfg_queue q;
	int i;

	if (cfg_parse_queue(value, &q, err, errlen) < 0)
		return -1;
	for (i = 0; i < c->nqueues; i++)
		if (strcmp(c->queues[i].name, q.name) == 0)
			break;
	if (i == c->nqueues) {
		if (c->nqueues >= d->max) {
			snprintf(err, errlen, "queue: more than %lld queues", (long long)d->max);
			return -1;
		}
		c->nqueues++;
	}
	c->queues[i] = q;
	return 0;
}

static const struct cfg_directive *cfg_find(const char *name)
{
	for (size_t i = 0; i < cfg_table_len; i++)
		if (strcmp(cfg_table[i].name, name) == 0)
			return &cfg_table[i];
	return NULL;
}

int cfg_set(struct cfg *c, const char *name, const char *value, char *err, size_t errlen)
{
	const struct cfg_directive *d = cfg_find(name);
	char *field;
	int64_t v = 0;
	char *end;

	if (!d) {
		snprintf(err, errlen, "unknown directive '%s'", name);
		return -1;
	}
	field = (char *)c + d->offset;
	switch (d->type) {
	case CFG_STRING:
		if (strlen(value) >= d->size) {
			snprintf(err, errlen, "%s: value longer than %zu bytes", name, d->size - 1);
			return -1;
		}
		if (d->offset == offsetof(struct cfg, worker_auth) && wauth_mode_parse(value) < 0) {
			snprintf(err, errlen, "%s: '%s' is not one of none, token, function", name, value);
			return -1;
		}
		memcpy(field, value, strlen(value) + 1);
		return 0;
	case CFG_LOGLEVEL: {
		int l = log_level_parse(value);
		if (l < 0) {
			snprintf(err, errlen, "%s: '%s' is not one of error, warn, info, debug, trace",
				 name, value);
			return -1;
		}
		*(int *)field = l;
		return 0;
	}
	case CFG_QUEUE:
		return cfg_set_queue(c, d, value, err, errlen);
	case CFG_LOGFORMAT: {
		int f = log_format_parse(value);
		if (f < 0) {
			snprintf(err, errlen, "%s: '%s' is not text or json", name, value);
			return -1;
		}
		*(int *)field = f;
		return 0;
	}
	case CFG_INT:
	case CFG_MS:
		errno = 0;
		v = strtoll(value, &end, 10);
		if (end == value || *end || errno) {
			snprintf(err, errlen, "%s: '%s' is not an integer", name, value);
			return -1;
		}
		break;
	case CFG_SIZE:
		if (cfg_parse_size(value, &v) < 0) {
			snprintf(err, errlen, "%s: '%s' is not a size (e.g. 65536, 64k, 16m)",
				 name, value);
			return -1;
		}
		break;
	}
	if (v < d->min || v > d->max) {
		snprintf(err, errlen, "%s: %s is out of range [%lld, %lld]", name, value,
			 (long long)d->min, (long long)d->max);
		return -1;
	}
	if (d->size == sizeof(int))
		*(int *)field = (int)v;
	else
		*(int64_t *)field = v;
	return 0;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int cfg_load_depth(struct cfg *c, const char *path, int depth, char *err, size_t errlen)
{
	FILE *f;
	char line[4096];
	int lineno = 0;
	int rc = -1;

	if (depth > 8) {
		snprintf(err, errlen, "%s: includes nested too deeply", path);
		return -1;
	}
	f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		char msg[512];
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s:%d: line too long", path, lineno);
			goto out;
		}
		/* '#' starts a comment unless it is inside a quoted value */
		for (char *p = line, inq = 0; *p; p++) {
			if (*p == '"')
				inq = !inq;
			else if (*p == '#' && !inq) {
				*p = '\0';
				break;
			}
		}
		char *s = trim(line);
		if (!*s)
			continue;
		char *name = s;
		while (*s && !isspace((unsigned char)*s))
			s++;
		if (*s)
			*s++ = '\0';
		char *value = trim(s);
		if (!*value) {
			snprintf(err, errlen, "%s:%d: '%s' needs a value", path, lineno, name);
			goto out;
		}
		size_t vl = strlen(value);
		if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
			value[vl - 1] = '\0';
			value++;
		}
		if (strcmp(name, "include") == 0) {
			char inc[PATH_MAX];
			if (value[0] == '/') {
				snprintf(inc, sizeof inc, "%s", value);
			} else {
				char dir[PATH_MAX];
				snprintf(dir, sizeof dir, "%s", path);
				snprintf(inc, sizeof inc, "%s/%s", dirname(dir), value);
			}
			if (access(inc, R_OK) < 0) {
				snprintf(err, errlen, "%s:%d: include %s: %s", path, lineno, inc,
					 strerror(errno));
				goto out;
			}
			if (cfg_load_depth(c, inc, depth + 1, err, errlen) < 0)
				goto out;
			continue;
		}
		if (cfg_set(c, name, value, msg, sizeof msg) < 0) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
			goto out;
		}
	}
	rc = 0;
out:
	fclose(f);
	return rc;
}

int cfg_load_file(struct cfg *c, const char *path, char *err, size_t errlen)
{
	return cfg_load_depth(c, path, 0, err, errlen);
}

/* Command-line options that are not directives: main() handles them. */
static const char *const cfg_flag_opts[] = {
	"-t", "--test-config", "-h", "--help", "-V", "--version", "-d", "--daemonize", NULL,
};
static const char *const cfg_value_opts[] = { "-c", "--config", "-p", "--pidfile", NULL };

static int cfg_is_opt(const char *const *list, const char *a)
{
	for (; *list; list++)
		if (strcmp(*list, a) == 0)
			return 1;
	return 0;
}

int cfg_load_args(struct cfg *c, int argc, char *const *argv, char *err, size_t errlen)
{
	const char *file = NULL;
	char msg[512];

	cfg_defaults(c);
	/* first pass: the file, so that command-line directives override it */
	for (int i = 0; i < argc; i++) {
		if (cfg_is_opt(cfg_value_opts, argv[i])) {
			if (i + 1 >= argc) {
				snprintf(err, errlen, "command line: %s needs a value", argv[i]);
				return -1;
			}
			if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0)
				file = argv[i + 1];
			i++;
		}
	}
	if (file && cfg_load_file(c, file, err, errlen) < 0)
		return -1;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (cfg_is_opt(cfg_value_opts, a)) {
			i++;
		} else if (cfg_is_opt(cfg_flag_opts, a)) {
			continue;
		} else if (a[0] == '-' && a[1] == '-') {
			const char *name = a + 2, *eq = strchr(name, '=');
			char nbuf[64];
			const char *value;
			if (eq) {
				snprintf(nbuf, sizeof nbuf, "%.*s", (int)(eq - name), name);
				name = nbuf;
				value = eq + 1;
			} else if (i + 1 < argc) {
				value = argv[++i];
			} else {
				snprintf(err, errlen, "command line: --%s needs a value", name);
				return -1;
			}
			if (cfg_set(c, name, value, msg, sizeof msg) < 0) {
				snprintf(err, errlen, "command line: %s", msg);
				return -1;
			}
		} else {
			snprintf(err, errlen, "command line: unexpected argument '%s'", a);
			return -1;
		}
	}
	return 0;
}

static int kept_argc;
static char **kept_argv;

/*
 * The arguments are copied: children retitle themselves over the original
 * argv area (proctitle_set), and the router re-reads them on SIGHUP.
 */
int cfg_keep_args(int argc, char *const *argv)
{
	char **v = calloc((size_t)argc + 1, sizeof *v);

	if (!v)
		return -1;
	for (int i = 0; i < argc; i++)
		if (!(v[i] = strdup(argv[i]))) {
			while (i--)
				free(v[i]);
			free(v);
			return -1;
		}
	for (int i = 0; kept_argv && i < kept_argc; i++)
		free(kept_argv[i]);
	free(kept_argv);
	kept_argc = argc;
	kept_argv = v;
	return 0;
}

int cfg_reload(struct cfg *c, char *err, size_t errlen)
{
	return cfg_load_args(c, kept_argc, kept_argv, err, errlen);
}

/* Does directive d hold the same value in a and b? */
static int cfg_same(const struct cfg_directive *d, const struct cfg *a, const struct cfg *b)
{
	const char *fa = (const char *)a + d->offset, *fb = (const char *)b + d->offset;

	if (d->type == CFG_STRING)
		return strcmp(fa, fb) == 0;
	if (d->type == CFG_QUEUE)
		return a->nqueues == b->nqueues &&
			memcmp(a->queues, b->queues, (size_t)a->nqueues * sizeof a->queues[0]) == 0;
	return memcmp(fa, fb, d->size) == 0;
}

int cfg_apply_reload(struct cfg *running, const struct cfg *next,
		     void (*restart_needed)(const char *name))
{
	int n = 0;

	for (size_t i = 0; i < cfg_table_len; i++) {
		const struct cfg_directive *d = &cfg_table[i];
		if (cfg_same(d, running, next))
			continue;
		if (!d->reloadable) {
			if (restart_needed)
				restart_needed(d->name);
			continue;
		}
		/* reloadable directives are scalars or strings: copy the field */
		memcpy((char *)running + d->offset, (const char *)next + d->offset, d->size);
		n++;
	}
	return n;
}

void cfg_print_help(void)
{
	for (size_t i = 0; i < cfg_table_len; i++) {
		const struct cfg_directive *d = &cfg_table[i];
		printf("  --%-24s %s (default: \"%s\"%s)\n", d->name, d->help, d->def,
		       d->reloadable ? "" : ", restart to change");
	}
}
