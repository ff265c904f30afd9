/*
 * proto — normalize one worker-protocol message (sdk-wire.md §2) before it
 * goes to the router. No I/O: text in, a decision out. The broker answers
 * what it can itself (JSON ping, malformed calls) so the router only ever
 * sees well-formed messages with defaults filled and legacy names mapped.
 */
#ifndef TRINE_PROTO_H
#define TRINE_PROTO_H

#include <stddef.h>

enum proto_action {
	PROTO_DROP,	/* ignore; why says what was wrong (NULL = nothing to log) */
	PROTO_PONG,	/* answer {"type":"pong"} */
	PROTO_FORWARD,	/* send body to the router */
	PROTO_REPLY,	/* answer the peer with body (an invocationresult error) */
};

enum proto_msg {
	PM_NONE = 0,
	PM_REGFN, PM_UNREGFN,
	PM_REGTT, PM_UNREGTT,
	PM_REGTRIG, PM_UNREGTRIG,
	PM_INVOKE, PM_RESULT, PM_TRIGRESULT, PM_REATTACH,
};

struct proto_result {
	enum proto_action action;
	enum proto_msg msg;
	char *body;		/* owned (malloc): normalized JSON or the reply */
	size_t body_len;
	char key[256];		/* function / trigger / type / invocation id the message is about */
	int wants_reply;	/* PM_INVOKE with an invocation id and no void action */
	int is_announce;	/* PM_INVOKE of engine::workers::register */
	const char *why;	/* static, for the log */
};

/*
 * Normalize buf[0..len). Never fails: every input maps to an action. The
 * caller frees r->body with proto_result_free().
 */
void proto_normalize(const char *buf, size_t len, int max_depth, struct proto_result *r);
void proto_result_free(struct proto_result *r);

/* {"type":"invocationresult",...,"error":{code,message}} for a caller's id. */
char *proto_error_result(const char *invocation_id, const char *function_id,
			 const char *code, const char *message, size_t *len);

#endif
