/*
 * fanout — a stream front process: terminates stream-client WebSockets on the
 * inherited stream_port socket, holds the subscription index, asks the
 * router for snapshots, join authorization and connection auth over a
 * DEALER link, and receives stream events on a SUB socket filtered to the
 * groups its clients joined. Each event arrives serialized once per dialect
 * and is written as-is to every matching subscription.
 */
#ifndef TRINE_FANOUT_H
#define TRINE_FANOUT_H

#include "cfg.h"

/*
 * Run a fanout on the listening socket fd (owned) until SIGTERM. index: its
 * slot under a master, -1 when started alone. Returns the exit code.
 */
int fanout_main(const struct cfg *cfg, int fd, int index);

#endif
