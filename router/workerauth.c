#include "workerauth.h"
#include "inv.h"
#include "log.h"
#include "router.h"
#include "wauth.h"
#include "wire.h"
#include "zsock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

struct wa_req {
	char ident[64];
	size_t ident_len;
	uint64_t conn;
};

static void wa_answer(struct router *r, struct wa_req *a, const char *kind, const char *body)
{
	/* by identity: the front may have gone (and come back) while the function ran */
	if (wire_send(r->zsock, a->ident, a->ident_len, kind, &a->conn, 1, body, strlen(body),
		      NULL, 0) < 0)
		log_warn("worker auth: could not answer front %.*s: %s", (int)a->ident_len, a->ident,
			 zmq_strerror(errno));
	zsock_kick(r->zw);
}

/* The auth function answered: an object admits the worker, anything else refuses it. */
static void wa_done(struct router *r, void *arg, json_object *result, json_object *error)
{
	struct wa_req *a = arg;
	json_object *acl = error ? NULL : wauth_acl(result), *m;

	if (acl) {
		wa_answer(r, a, "wauthok", json_object_to_json_string_ext(acl, JSON_FLAGS));
	} else {
		const char *why = "the auth function did not return an object";

		if (error && json_object_object_get_ex(error, "message", &m) &&
		    json_object_get_string(m))
			why = json_object_get_string(m);
		log_info("worker auth: refused a connection: %s", why);
		wa_answer(r, a, "wauthno", why);
	}
	json_object_put(acl);
	free(a);
}

static void on_wauth(struct router *r, struct front *f, struct wire_msg *m)
{
	const char *fn = r->cfg->worker_auth_function;
	json_object *req = wire_body_json(m, r->cfg->max_json_depth + 2);
	struct wa_req *a;

	if (m->nids != 1 || f->ident_len > sizeof a->ident || !(a = calloc(1, sizeof *a))) {
		json_object_put(req);
		return;
	}
	memcpy(a->ident, f->ident, f->ident_len);
	a->ident_len = f->ident_len;
	a->conn = wire_id(m, 0);
	if (!req || !*fn) {
		wa_answer(r, a, "wauthno", *fn ? "malformed auth request" :
			  "worker_auth function is set but worker_auth_function is empty");
		free(a);
	} else {
		inv_start(r, NULL, NULL, 0, fn, req, NULL, wa_done, a);
	}
	json_object_put(req);
}

void workerauth_init(struct router *r)
{
	(void)r;
	router_on_kind("wauth", on_wauth);
}
