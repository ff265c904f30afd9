/*
 * workerauth — worker_auth function in the router: brokers hold a worker's
 * upgrade and send "wauth" {headers, query_params, ip_address}; the router
 * calls worker_auth_function and answers "wauthok" (body: the worker's
 * allowed/forbidden function lists) or "wauthno" (body: why).
 */
#ifndef TRINE_WORKERAUTH_H
#define TRINE_WORKERAUTH_H

struct router;

void workerauth_init(struct router *r);

#endif
