/*
 * http_front — the HTTP trigger front of a broker: evhttp on the inherited
 * http_port socket, a copy of the route table pushed by the router (matched
 * here, so only invocations cross to the router), CORS, limits and timeouts.
 *
 * Router -> broker kinds: "routes" (body: [[method, template, trigger id],
 * ...], the whole table) and "httpres" (header: request id; body: {"r":
 * result} to map as a function's response, or {"s":status,"code",
 * "message"[,"skipped"]} for an engine error). Broker -> router: "http"
 * (header: request id; key: trigger id; body: the request object).
 */
#ifndef TRINE_HTTP_FRONT_H
#define TRINE_HTTP_FRONT_H

#include <stddef.h>

struct broker;
struct wire_msg;
struct http_front;

/* Serve HTTP on fd (taken over). NULL on failure (logged; fd closed). */
struct http_front *http_front_new(struct broker *b, int fd);
/* Stop accepting (graceful stop); requests in flight still get answers. */
void http_front_stop(struct http_front *h);
void http_front_free(struct http_front **h);
/* Requests waiting for an answer (0 when h is NULL): a stop drains them. */
size_t http_front_inflight(const struct http_front *h);
/* Answers sent so far by status as a JSON object {"200":n,...}; length, 0 when h is NULL. */
int http_front_stats(const struct http_front *h, char *buf, size_t len);
/*
 * A channel message (shared/chan_wire.h) for one of our requests (endpoint
 * id with CHAN_HTTP_BIT): response chunks and control messages, the
 * response's end, credit to feed the request body. h may be NULL.
 */
void http_front_on_chan(struct http_front *h, struct wire_msg *m);
/* A router message of a kind this module owns: 1 if handled, 0 if not ours. */
int http_front_on_router(struct http_front *h, struct wire_msg *m);

/* The router restarted: answer every request still waiting for it (500 invocation_stopped). */
void http_front_router_lost(struct http_front *h);

#endif
