#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int log_level_cur = LL_INFO;
int log_format_cur = LOG_FORMAT_TEXT;
static char log_role[32] = "master";
static int log_journal = -1;
static log_hook_fn log_hook;
static int log_in_hook;

static const char *const level_names[] = { "error", "warn", "info", "debug", "trace" };
/* syslog priorities for journald: err, warning, info, debug, debug */
static const int level_prio[] = { 3, 4, 6, 7, 7 };

void log_init(const char *role, int level)
{
	log_set_role(role);
	log_level_cur = level;
	log_journal = getenv("JOURNAL_STREAM") != NULL;
}

void log_set_role(const char *role)
{
	snprintf(log_role, sizeof log_role, "%s", role);
}

int log_level_parse(const char *s)
{
	for (int i = 0; i <= LL_TRACE; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	if (strcmp(s, "warning") == 0)
		return LL_WARN;
	return -1;
}

void log_set_hook(log_hook_fn fn)
{
	log_hook = fn;
}

const char *log_level_name(int level)
{
	return level >= 0 && level <= LL_TRACE ? level_names[level] : "?";
}

int log_format_parse(const char *s)
{
	if (strcmp(s, "text") == 0)
		return LOG_FORMAT_TEXT;
	if (strcmp(s, "json") == 0)
		return LOG_FORMAT_JSON;
	return -1;
}

/*
 * log_format json: one object per line for log shippers,
 * {"ts":"...Z","level":"info","role":"broker0","pid":12,"msg":"..."}; under
 * journald still behind the <N> prefix, which journald strips.
 */
static void log_write_json(int level, const char *msg)
{
	char line[4500];
	size_t n = 0;
	struct timeval tv;
	struct tm tm;

	if (log_journal)
		n += (size_t)snprintf(line, sizeof line, "<%d>", level_prio[level]);
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n += strftime(line + n, sizeof line - n, "{\"ts\":\"%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(line + n, sizeof line - n,
			      ".%03dZ\",\"level\":\"%s\",\"role\":\"%s\",\"pid\":%d,\"msg\":\"",
			      (int)(tv.tv_usec / 1000), level_names[level], log_role, (int)getpid());
	for (const unsigned char *p = (const unsigned char *)msg; *p && n < sizeof line - 16; p++) {
		if (*p == '"' || *p == '\\') {
			line[n++] = '\\';
			line[n++] = (char)*p;
		} else if (*p < 0x20) {
			n += (size_t)snprintf(line + n, sizeof line - n, "\\u%04x", *p);
		} else {
			line[n++] = (char)*p;
		}
	}
	line[n++] = '"';
	line[n++] = '}';
	line[n++] = '\n';
	ssize_t r = write(STDERR_FILENO, line, n);
	(void)r;
}

/*
 * One write() per line so lines from the master and its children do not
 * interleave on a shared stderr.
 */
void log_msg(int level, const char *fmt, ...)
{
	char line[2048];
	size_t n = 0;
	va_list ap;

	if (level > log_level_cur)
		return;
	if (log_journal < 0)
		log_journal = getenv("JOURNAL_STREAM") != NULL;
	if (log_journal) {
		n += (size_t)snprintf(line, sizeof line, "<%d>%s %s: ",
				      level_prio[level], log_role, level_names[level]);
	} else {
		struct timeval tv;
		struct tm tm;
		gettimeofday(&tv, NULL);
		gmtime_r(&tv.tv_sec, &tm);
		n += strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
		n += (size_t)snprintf(line + n, sizeof line - n, ".%03dZ %s[%d] %s: ",
				      (int)(tv.tv_usec / 1000), log_role, (int)getpid(),
				      level_names[level]);
	}
	size_t msg_at = n;
	if (n < sizeof line) {
		va_start(ap, fmt);
		int w = vsnprintf(line + n, sizeof line - n, fmt, ap);
		va_end(ap);
		if (w > 0)
			n += (size_t)w;
	}
	if (n >= sizeof line - 1)
		n = sizeof line - 2;
	line[n++] = '\n';
	if (log_format_cur == LOG_FORMAT_JSON) {
		line[n - 1] = '\0';
		log_write_json(level, line + msg_at);
	} else {
		ssize_t r = write(STDERR_FILENO, line, n);
		(void)r;
	}
	if (log_hook && level <= LL_WARN && !log_in_hook && msg_at < n) {
		line[n - 1] = '\0';
		log_in_hook = 1;
		log_hook(level, line + msg_at);
		log_in_hook = 0;
	}
}
