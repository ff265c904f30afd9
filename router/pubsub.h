/* pubsub — the `subscribe` trigger kind and the `publish` function (router/pubsub.c). */
#ifndef TRINE_PUBSUB_H
#define TRINE_PUBSUB_H

#include "router.h"

void pubsub_init(struct router *r);
void pubsub_free(struct router *r);

#endif
