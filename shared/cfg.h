/*
 * cfg — the one typed table of configuration directives. Every directive has
 * a type, bounds, a default and a reloadable flag; the same table serves the
 * config file (`directive value` lines), `--name value` on the command line,
 * `--help` and the man page.
 */
#ifndef TRINE_CFG_H
#define TRINE_CFG_H

#include <stddef.h>
#include <stdint.h>

/* One named queue for `action: enqueue` (directive `queue`, repeatable). */
#define CFG_MAX_QUEUES 64
struct cfg_queue {
	char name[64];
	int max_retries;		/* total attempts, as the reference's queue_configs */
	int concurrency;		/* deliveries (or message groups) in flight at once */
	int fifo;			/* 1 = type=fifo: one at a time (per group) */
	char group_field[64];		/* fifo: data field naming the message group, "" = none */
	int64_t backoff_ms;		/* retry n waits backoff_ms * 2^(n-1) */
	int64_t visibility_timeout_ms;	/* unanswered this long = delivered again */
};

struct cfg {
	char bind[64];
	int worker_port;
	int http_port;
	int64_t http_timeout_ms;	/* whole HTTP trigger request, 504 beyond */
	int64_t http_idle_timeout_ms;	/* keep-alive idle and slow-client limit of HTTP connections */
	int64_t http_max_body;		/* 413 beyond */
	int64_t http_max_header;	/* request line + headers */
	char http_cors_origins[512];	/* "*" or a comma-separated list */
	char http_cors_methods[256];	/* "*" or a comma-separated list */
	int64_t http_stream_wait_ms;	/* null result: wait for a response channel writer */
	int stream_port;
	int brokers;			/* 0 = number of online CPUs */
	char data_dir[256];
	int log_level;
	int log_format;			/* enum log_format */
	int metrics_port;		/* Prometheus /metrics on the router, 0 = off */
	int64_t invocation_timeout_ms;	/* 0 = wait forever (the reference engine's behaviour) */
	int64_t handshake_timeout_ms;
	int64_t ws_max_frame;
	int64_t ws_max_message;
	int64_t handshake_max_bytes;
	int max_json_depth;
	int64_t client_output_limit;
	int max_connections;
	int max_inflight_per_worker;
	int64_t shutdown_timeout_ms;
	char router_endpoint[256];	/* "" = ipc://<data_dir>/router.ipc */
	char router_listen[256];	/* extra endpoint the router binds, "" = none */
	int64_t store_map_size;
	int log_trigger_queue;		/* log records waiting for log triggers */
	struct cfg_queue queues[CFG_MAX_QUEUES];	/* "default" is always there */
	int nqueues;
	int64_t topic_retention_ms;	/* undelivered messages kept this long (0 = forever) */
	int64_t topic_visibility_timeout_ms;	/* default for durable:subscriber */
	int fanouts;			/* stream fanout processes under the master */
	char router_pub_endpoint[256];	/* stream events: "" = ipc://<data_dir>/events.ipc */
	char router_pub_listen[256];	/* extra endpoint the router's PUB binds, "" = none */
	char curve_secret_key_file[256];	/* this process's CURVE key pair (trine keygen) */
	char curve_server_key_file[256];	/* brokers/fanouts: the router's public key */
	char curve_allowed_keys_file[256];	/* router: public keys allowed to connect over TCP */
	char stream_auth_function[256];	/* called on stream connect, "" = none */
	int64_t stream_output_hard_limit;	/* unsent bytes to one stream client: close at once */
	int64_t stream_output_soft_limit;	/* ... close when above this for soft_seconds */
	int stream_output_soft_seconds;
	char http_bind[64];		/* "" = bind */
	char stream_bind[64];		/* "" = bind */
	char worker_auth[16];		/* none, token, function (wauth_mode_parse) */
	char worker_auth_token[256];	/* worker_auth token: the secret, "" = refuse all */
	char worker_auth_function[256];	/* worker_auth function: the function called */
	int max_registrations_per_worker;	/* functions + triggers + trigger types */
};

/*
 * CFG_QUEUE is a list: every occurrence adds one struct cfg_queue (a later
 * one with the same name replaces the earlier); min/max bound the count.
 */
enum cfg_type { CFG_INT, CFG_SIZE, CFG_MS, CFG_STRING, CFG_LOGLEVEL, CFG_QUEUE, CFG_LOGFORMAT };

struct cfg_directive {
	const char *name;
	enum cfg_type type;
	size_t offset;
	size_t size;		/* for strings: buffer size; for ints: sizeof field */
	int64_t min, max;
	const char *def;	/* default, in the file syntax */
	int reloadable;
	const char *help;
};

extern const struct cfg_directive cfg_table[];
extern const size_t cfg_table_len;

/* Fill every field with its default. */
void cfg_defaults(struct cfg *c);

/*
 * Set one directive from its text value. Returns 0, or -1 with a message in
 * err (no file:line prefix; the caller adds it).
 */
int cfg_set(struct cfg *c, const char *name, const char *value, char *err, size_t errlen);

/*
 * Read a config file: `directive value` lines, `#` comments, blank lines,
 * `include FILE` (relative to the including file). Returns 0, or -1 with
 * "file:line: message" in err.
 */
int cfg_load_file(struct cfg *c, const char *path, char *err, size_t errlen);

/*
 * Parse a queue declaration "NAME key=value ..." into q (defaults for keys
 * not given). Returns 0, or -1 with a message in err.
 */
int cfg_parse_queue(const char *value, struct cfg_queue *q, char *err, size_t errlen);

/* Parse a size with optional k/kb/m/mb/g/gb suffix (1024-based). */
int cfg_parse_size(const char *s, int64_t *out);

/*
 * The whole configuration from command-line arguments (those after the
 * role): defaults, then `-c FILE`, then `--name value` / `--name=value`
 * overrides. Options main() handles (-t, -h, -V, -d/--daemonize,
 * -p/--pidfile FILE) are skipped. Returns 0, or -1 with a message in err
 * ("file:line: ..." or "command line: ...").
 */
int cfg_load_args(struct cfg *c, int argc, char *const *argv, char *err, size_t errlen);

/* Remember the arguments for cfg_reload (copied). 0 or -1 (out of memory). */
int cfg_keep_args(int argc, char *const *argv);

/* cfg_load_args again with the remembered arguments (a reload, SIGHUP). */
int cfg_reload(struct cfg *c, char *err, size_t errlen);

/*
 * Apply a reloaded configuration: copy every reloadable directive whose
 * value changed from next into running; for a changed directive that is not
 * reloadable, call restart_needed(name) (may be NULL) and keep the running
 * value. Returns the number of directives changed.
 */
int cfg_apply_reload(struct cfg *running, const struct cfg *next,
		     void (*restart_needed)(const char *name));

/* Print `--name value  help (default ...)` lines for --help. */
void cfg_print_help(void);

#endif
