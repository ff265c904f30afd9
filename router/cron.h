/* cron — the `cron` trigger kind (router/cron.c). */
#ifndef TRINE_CRON_H
#define TRINE_CRON_H

#include "router.h"

void cron_init(struct router *r);
void cron_free(struct router *r);

#endif
