/*
 * httptrig — the engine-provided `http` trigger kind: validates configs,
 * owns the route table (pushed whole to every broker whenever it changes and
 * to a broker that says hello), and runs a request the broker matched:
 * condition -> middleware chain -> function, answering the broker with
 * "httpres" (wire kinds in broker/http_front.h).
 */
#ifndef TRINE_HTTPTRIG_H
#define TRINE_HTTPTRIG_H

#include "router.h"

void httptrig_init(struct router *r);
void httptrig_free(struct router *r);

#endif
