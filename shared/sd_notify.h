/*
 * sd_notify — the systemd notification protocol without libsystemd: one
 * datagram per message to the unix socket named by $NOTIFY_SOCKET (a path,
 * or "@name" for an abstract socket). Outside systemd every call is a no-op.
 */
#ifndef TRINE_SD_NOTIFY_H
#define TRINE_SD_NOTIFY_H

#include <stdint.h>

/*
 * Send state (e.g. "READY=1\nSTATUS=serving"). Returns 1 when sent, 0 when
 * there is no NOTIFY_SOCKET, -1 on error (errno set).
 */
int sd_notify_send(const char *state);

/* printf-style sd_notify_send. */
int sd_notify_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The watchdog interval systemd expects pings within (WATCHDOG_USEC, only
 * when WATCHDOG_PID is absent or ours), in microseconds; 0 = no watchdog.
 */
uint64_t sd_watchdog_usec(void);

/* Drop NOTIFY_SOCKET and the watchdog variables so that children do not use them. */
void sd_notify_unsetenv(void);

#endif
