/*
 * log — one line per event on stderr: time, role, pid, level, message.
 * Under systemd (JOURNAL_STREAM set) each line starts with the <N> priority
 * prefix so journald keeps the level.
 */
#ifndef TRINE_LOG_H
#define TRINE_LOG_H

enum log_level { LL_ERROR = 0, LL_WARN, LL_INFO, LL_DEBUG, LL_TRACE };

extern int log_level_cur;

/* log_format: text lines (the default) or one JSON object per line. */
enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON };
extern int log_format_cur;
int log_format_parse(const char *s);	/* -1 if unknown */

void log_init(const char *role, int level);
void log_set_role(const char *role);
int log_level_parse(const char *s);	/* -1 if unknown */
const char *log_level_name(int level);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Hook called with each warn/error line's message (without the prefix) after
 * it is written, e.g. to feed the router's log triggers. Lines logged from
 * inside the hook do not reach it again. NULL removes it.
 */
typedef void (*log_hook_fn)(int level, const char *msg);
void log_set_hook(log_hook_fn fn);

#define log_error(...) log_msg(LL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LL_WARN, __VA_ARGS__)
#define log_info(...) do { if (log_level_cur >= LL_INFO) log_msg(LL_INFO, __VA_ARGS__); } while (0)
#define log_debug(...) do { if (log_level_cur >= LL_DEBUG) log_msg(LL_DEBUG, __VA_ARGS__); } while (0)

#endif
