/*
 * wauth — worker authentication and per-worker function access (no I/O).
 *
 * worker_auth token: the broker compares the bearer token of the upgrade
 * request (Authorization: Bearer X, or ?token=X) with worker_auth_token in
 * constant time. worker_auth function: the broker sends the router
 * wauth_request() ({headers, query_params, ip_address}, as the reference's
 * RBAC auth function receives), the router calls the function and keeps the
 * allowed/forbidden lists of its result (wauth_acl()) for the worker's
 * calls (wauth_check(), iii-engine-semantics.md §10).
 */
#ifndef TRINE_WAUTH_H
#define TRINE_WAUTH_H

#include <stddef.h>
#include <json-c/json.h>

struct ws_hs_request;

/* WebSocket close code of a refused worker (private range, like HTTP 401) */
#define WAUTH_CLOSE_CODE 4001

/* worker_auth modes */
enum { WAUTH_NONE, WAUTH_TOKEN, WAUTH_FUNCTION };

/* "none", "token", "function" -> WAUTH_*, or -1. */
int wauth_mode_parse(const char *s);

/*
 * 1 when the request carries secret as its bearer token (Authorization:
 * Bearer <t>, else the first ?token= parameter, percent-decoded), 0 when it
 * carries none or another one. An empty secret matches nothing.
 */
int wauth_token_ok(const struct ws_hs_request *req, const char *secret);

/* {headers: {name: value}, query_params: {name: [values]}, ip_address} (new reference). */
json_object *wauth_request(const struct ws_hs_request *req, const char *ip);

/*
 * The part of an auth function's result the router enforces:
 * {"allowed_functions": [...], "forbidden_functions": [...]} (string entries
 * only; new reference). NULL when result is not an object (a refusal).
 */
json_object *wauth_acl(json_object *result);

/*
 * May a worker with acl (NULL = no auth function: everything) call fn?
 * Order as the reference: forbidden -> deny; allowed -> allow; the
 * infrastructure functions (engine::channels::create, engine::workers::register,
 * engine::log::*, engine::baggage::*) -> allow; else deny. An entry ending in
 * '*' matches by prefix. 1 = allowed; 0 = denied with the FORBIDDEN message in msg.
 */
int wauth_check(json_object *acl, const char *fn, char *msg, size_t msglen);

#endif
