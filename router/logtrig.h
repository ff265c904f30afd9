/* logtrig — the `log` trigger kind and engine::log::* (router/logtrig.c). */
#ifndef TRINE_LOGTRIG_H
#define TRINE_LOGTRIG_H

#include "router.h"

void logtrig_init(struct router *r);
void logtrig_free(struct router *r);

#endif
