/* logtrig — the `log` trigger kind and engine::log::* (router/logtrig.c). */
#ifndef TRINE_LOGTRIG_H
#define TRINE_LOGTRIG_H

#include "router.h"

void logtrig_init(struct router *r);
void logtrig_free(struct router *r);
/* Log records not delivered to log triggers since start (full queue or slow handler). */
unsigned long logtrig_dropped_total(void);

#endif
