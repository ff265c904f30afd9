/*
 * zsock — a ZeroMQ socket inside a libevent loop. ZMQ_FD is edge-triggered
 * and only says "look at ZMQ_EVENTS", so the callback drains every waiting
 * message, and any send (which may consume the edge) must be followed by
 * zsock_kick() to re-check before the loop sleeps.
 */
#ifndef TRINE_ZSOCK_H
#define TRINE_ZSOCK_H

#include <event2/event.h>

struct zsock;
typedef void (*zsock_read_cb)(void *sock, void *arg);

/* cb is called when messages may be waiting; it must drain with DONTWAIT. */
struct zsock *zsock_watch(struct event_base *base, void *sock, zsock_read_cb cb, void *arg);
/* Schedule a re-check of ZMQ_EVENTS in this loop turn (cheap, idempotent). */
void zsock_kick(struct zsock *z);
void zsock_free(struct zsock **zp);

#endif
