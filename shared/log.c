#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int log_level_cur = LL_INFO;
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
	ssize_t r = write(STDERR_FILENO, line, n);
	(void)r;
	if (log_hook && level <= LL_WARN && !log_in_hook && msg_at < n) {
		line[n - 1] = '\0';
		log_in_hook = 1;
		log_hook(level, line + msg_at);
		log_in_hook = 0;
	}
}
