#include "proto.h"
#include "ids.h"
#include "json_scan.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static const char *get_str(json_object *o, const char *k)
{
	json_object *v;
	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static json_object *get(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) ? v : NULL;
}

/* Copy key from src to dst when present and not null. */
static void copy_opt(json_object *dst, json_object *src, const char *k)
{
	json_object *v = get(src, k);
	if (v)
		json_object_object_add(dst, k, json_object_get(v));
}

static void finish(struct proto_result *r, json_object *out)
{
	size_t len;
	const char *s = json_object_to_json_string_length(out, JSON_FLAGS, &len);
	r->body = malloc(len + 1);
	if (r->body) {
		memcpy(r->body, s, len + 1);
		r->body_len = len;
		r->action = PROTO_FORWARD;
	} else {
		r->action = PROTO_DROP;
		r->why = "out of memory";
	}
	json_object_put(out);
}

char *proto_error_result(const char *invocation_id, const char *function_id,
			 const char *code, const char *message, size_t *len)
{
	json_object *o = json_object_new_object(), *e = json_object_new_object();
	size_t l;
	char *out;

	json_object_object_add(o, "type", json_object_new_string("invocationresult"));
	json_object_object_add(o, "invocation_id", json_object_new_string(invocation_id));
	if (function_id)
		json_object_object_add(o, "function_id", json_object_new_string(function_id));
	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(message));
	json_object_object_add(o, "error", e);
	const char *s = json_object_to_json_string_length(o, JSON_FLAGS, &l);
	out = malloc(l + 1);
	if (out) {
		memcpy(out, s, l + 1);
		*len = l;
	}
	json_object_put(o);
	return out;
}

static void reply_error(struct proto_result *r, const char *id, const char *fn,
			const char *code, const char *msg)
{
	r->body = proto_error_result(id, fn, code, msg, &r->body_len);
	r->action = r->body ? PROTO_REPLY : PROTO_DROP;
	r->why = msg;
}

static void set_key(struct proto_result *r, const char *k)
{
	snprintf(r->key, sizeof r->key, "%s", k);
}

static int valid_id(const char *s)
{
	return s && *s && strlen(s) < 256;
}

static void norm_regfn(json_object *in, struct proto_result *r, int reg)
{
	const char *id = get_str(in, "id");
	json_object *out;

	r->msg = reg ? PM_REGFN : PM_UNREGFN;
	if (!valid_id(id)) {
		r->why = "function registration without an id";
		return;
	}
	out = json_object_new_object();
	json_object_object_add(out, "type", json_object_new_string(reg ? "registerfunction" :
								   "unregisterfunction"));
	json_object_object_add(out, "id", json_object_new_string(id));
	if (reg) {
		copy_opt(out, in, "description");
		copy_opt(out, in, "request_format");
		copy_opt(out, in, "response_format");
		copy_opt(out, in, "metadata");
		copy_opt(out, in, "invocation");
	}
	set_key(r, id);
	finish(r, out);
}

static void norm_regtt(json_object *in, struct proto_result *r, int reg)
{
	const char *id = get_str(in, "id");
	json_object *out;

	r->msg = reg ? PM_REGTT : PM_UNREGTT;
	if (!valid_id(id)) {
		r->why = "trigger type registration without an id";
		return;
	}
	out = json_object_new_object();
	json_object_object_add(out, "type", json_object_new_string(reg ? "registertriggertype" :
								   "unregistertriggertype"));
	json_object_object_add(out, "id", json_object_new_string(id));
	copy_opt(out, in, "description");
	copy_opt(out, in, "trigger_request_format");
	copy_opt(out, in, "call_request_format");
	set_key(r, id);
	finish(r, out);
}

static const char *map_trigger_type(const char *t)
{
	return strcmp(t, "queue") == 0 ? "durable:subscriber" : t;
}

static void norm_regtrig(json_object *in, struct proto_result *r, int reg)
{
	const char *id = get_str(in, "id");
	const char *tt = get_str(in, "trigger_type");
	const char *fn = get_str(in, "function_id");
	json_object *config = get(in, "config");
	json_object *out;

	r->msg = reg ? PM_REGTRIG : PM_UNREGTRIG;
	if (!valid_id(id)) {
		r->why = "trigger registration without an id";
		return;
	}
	if (reg && (!valid_id(tt) || !valid_id(fn))) {
		r->why = "registertrigger needs trigger_type and function_id strings";
		return;
	}
	out = json_object_new_object();
	json_object_object_add(out, "type", json_object_new_string(reg ? "registertrigger" :
								   "unregistertrigger"));
	json_object_object_add(out, "id", json_object_new_string(id));
	if (tt)
		json_object_object_add(out, "trigger_type",
				       json_object_new_string(map_trigger_type(tt)));
	if (reg) {
		json_object_object_add(out, "function_id", json_object_new_string(fn));
		json_object_object_add(out, "config", config && !json_object_is_type(config, json_type_null) ?
				       json_object_get(config) : json_object_new_object());
		copy_opt(out, in, "metadata");
	}
	set_key(r, id);
	finish(r, out);
}

static void norm_trigresult(json_object *in, struct proto_result *r)
{
	const char *id = get_str(in, "id");
	json_object *out;

	r->msg = PM_TRIGRESULT;
	if (!valid_id(id)) {
		r->why = "triggerregistrationresult without an id";
		return;
	}
	out = json_object_new_object();
	json_object_object_add(out, "type", json_object_new_string("triggerregistrationresult"));
	json_object_object_add(out, "id", json_object_new_string(id));
	copy_opt(out, in, "function_id");
	copy_opt(out, in, "trigger_type");
	copy_opt(out, in, "error");
	set_key(r, id);
	finish(r, out);
}

static void norm_reattach(json_object *in, struct proto_result *r)
{
	const char *prev = get_str(in, "previous_worker_id");
	const char *tok = get_str(in, "reattach_token");
	json_object *out;

	r->msg = PM_REATTACH;
	if (!valid_id(prev) || !valid_id(tok)) {
		r->why = "reattach needs previous_worker_id and reattach_token";
		return;
	}
	out = json_object_new_object();
	json_object_object_add(out, "type", json_object_new_string("reattach"));
	json_object_object_add(out, "previous_worker_id", json_object_new_string(prev));
	json_object_object_add(out, "reattach_token", json_object_new_string(tok));
	finish(r, out);
}

static void forward_raw(struct proto_result *r, const char *raw, size_t len)
{
	r->body = malloc(len + 1);
	if (!r->body) {
		r->action = PROTO_DROP;
		r->why = "out of memory";
		return;
	}
	memcpy(r->body, raw, len);
	r->body[len] = '\0';
	r->body_len = len;
	r->action = PROTO_FORWARD;
}

enum { K_TYPE, K_ID, K_FN, K_DATA, K_ACTION, K_ERROR, K_N };
static const char *const hot_keys[K_N] = {
	"type", "invocation_id", "function_id", "data", "action", "error",
};

/*
 * The hot path: invokefunction and invocationresult are checked with the
 * scanner and forwarded as the bytes they arrived as, so a payload of any
 * size is never parsed into objects here. Returns 1 when handled, 0 when the
 * message needs the general path (other types, or a legacy name to rewrite).
 */
static int proto_fast(const char *buf, size_t len, int max_depth, struct proto_result *r)
{
	struct json_span k[K_N];
	char type[32], id[64], fn[256];
	int rc = json_scan_object(buf, len, max_depth, hot_keys, k, K_N);

	if (rc == JSON_SCAN_DEPTH) {
		r->why = "JSON nested too deeply";
		return 1;
	}
	if (rc != JSON_SCAN_OK)
		return 0;	/* the general path says precisely what is wrong */
	if (json_span_str(k[K_TYPE], type, sizeof type) < 0)
		return 0;	/* the general path explains what is wrong */
	int has_id = k[K_ID].p && json_span_kind(k[K_ID]) != 'n';
	if (has_id && (json_span_str(k[K_ID], id, sizeof id) < 0 || !id_is_uuid(id)))
		has_id = -1;

	if (strcmp(type, "invocationresult") == 0) {
		r->msg = PM_RESULT;
		if (has_id != 1) {
			r->why = "invocationresult without a UUID invocation_id";
			return 1;
		}
		char ek = json_span_kind(k[K_ERROR]);
		if (k[K_ERROR].p && ek != 'n' && ek != '{') {
			r->why = "invocationresult: error must be an object";
			return 1;
		}
		snprintf(r->key, sizeof r->key, "%s", id);
		forward_raw(r, buf, len);
		return 1;
	}
	if (strcmp(type, "invokefunction") != 0)
		return 0;

	r->msg = PM_INVOKE;
	if (has_id < 0) {
		r->why = "invokefunction: invocation_id is not a UUID";
		return 1;
	}
	int is_void = 0;
	char ak = json_span_kind(k[K_ACTION]);
	if (k[K_ACTION].p && ak != 'n') {
		static const char *const akeys[2] = { "type", "queue" };
		struct json_span a[2];
		char at[16] = "";
		if (ak == '{')
			json_scan_object(k[K_ACTION].p, k[K_ACTION].len, max_depth, akeys, a, 2);
		if (ak == '{' && json_span_str(a[0], at, sizeof at) >= 0 && strcmp(at, "void") == 0) {
			is_void = 1;
		} else if (ak == '{' && strcmp(at, "enqueue") == 0) {
			if (json_span_kind(a[1]) != '"') {
				if (has_id)
					reply_error(r, id, NULL, "enqueue_error",
						    "action enqueue needs a queue name");
				else
					r->why = "enqueue action without a queue";
				return 1;
			}
		} else {
			if (has_id)
				reply_error(r, id, NULL, "invalid_request",
					    "action.type must be \"void\" or \"enqueue\"");
			else
				r->why = "invokefunction: unknown action";
			return 1;
		}
	}
	if (json_span_str(k[K_FN], fn, sizeof fn) <= 0) {
		if (has_id && !is_void)
			reply_error(r, id, NULL, "invalid_request",
				    "invokefunction needs a function_id string");
		else
			r->why = "invokefunction without a function_id";
		return 1;
	}
	if (!k[K_DATA].p) {
		if (has_id && !is_void)
			reply_error(r, id, fn, "invalid_request",
				    "invokefunction needs a data field (use {} for no input)");
		else
			r->why = "invokefunction without data";
		return 1;
	}
	r->wants_reply = has_id && !is_void;
	r->is_announce = strcmp(fn, "engine::workers::register") == 0;
	snprintf(r->key, sizeof r->key, "%s", has_id ? id : "");
	if (strcmp(fn, "enqueue") == 0) {
		/* the legacy name is the one invoke rewritten instead of forwarded as it came */
		json_tokener *tok = json_tokener_new_ex(max_depth + 1);
		json_object *in = tok ? json_tokener_parse_ex(tok, buf, (int)len) : NULL;
		if (tok)
			json_tokener_free(tok);
		if (!in) {
			r->why = "out of memory";
			return 1;
		}
		json_object_object_add(in, "function_id", json_object_new_string("iii::durable::publish"));
		finish(r, in);
		return 1;
	}
	forward_raw(r, buf, len);
	return 1;
}

/*
 * json-c accepted a call or a result that the strict scanner did not (json-c
 * is lenient): the same rules as the hot path, run on json-c's strict text.
 */
static void proto_lenient(json_object *in, int max_depth, struct proto_result *r)
{
	size_t len;
	const char *s = json_object_to_json_string_length(in, JSON_FLAGS, &len);

	if (!proto_fast(s, len, max_depth, r))
		r->why = "invalid message";
}

void proto_normalize(const char *buf, size_t len, int max_depth, struct proto_result *r)
{
	json_tokener *tok;
	json_object *in;
	const char *type;
	size_t i;

	memset(r, 0, sizeof *r);
	r->action = PROTO_DROP;
	for (i = 0; i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'); i++)
		;
	if (i == len)
		return;		/* empty frames are ignored, as the reference does */
	if (proto_fast(buf, len, max_depth, r))
		return;
	/* json-c counts the outermost value as a level too: N levels need N + 1 */
	tok = json_tokener_new_ex(max_depth + 1);
	if (!tok) {
		r->why = "out of memory";
		return;
	}
	in = json_tokener_parse_ex(tok, buf, (int)len);
	if (!in || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) < len) {
		/* trailing bytes after one value count as invalid, too */
		r->why = json_tokener_get_error(tok) == json_tokener_error_depth ?
			"JSON nested too deeply" : "invalid JSON";
		json_object_put(in);
		json_tokener_free(tok);
		return;
	}
	json_tokener_free(tok);
	if (!json_object_is_type(in, json_type_object) || !(type = get_str(in, "type"))) {
		r->why = "message is not an object with a string type";
		json_object_put(in);
		return;
	}
	if (strcmp(type, "ping") == 0)
		r->action = PROTO_PONG;
	else if (strcmp(type, "invokefunction") == 0 || strcmp(type, "invocationresult") == 0)
		proto_lenient(in, max_depth, r);
	else if (strcmp(type, "registerfunction") == 0)
		norm_regfn(in, r, 1);
	else if (strcmp(type, "unregisterfunction") == 0)
		norm_regfn(in, r, 0);
	else if (strcmp(type, "registertrigger") == 0)
		norm_regtrig(in, r, 1);
	else if (strcmp(type, "unregistertrigger") == 0)
		norm_regtrig(in, r, 0);
	else if (strcmp(type, "registertriggertype") == 0)
		norm_regtt(in, r, 1);
	else if (strcmp(type, "unregistertriggertype") == 0)
		norm_regtt(in, r, 0);
	else if (strcmp(type, "triggerregistrationresult") == 0)
		norm_trigresult(in, r);
	else if (strcmp(type, "reattach") == 0)
		norm_reattach(in, r);
	else if (strcmp(type, "pong") == 0 || strcmp(type, "workerregistered") == 0 ||
		 strcmp(type, "registrationrejected") == 0 || strcmp(type, "registerservice") == 0)
		r->why = NULL;	/* known, nothing to do */
	else
		r->why = "unknown message type";
	json_object_put(in);
}

void proto_result_free(struct proto_result *r)
{
	free(r->body);
	r->body = NULL;
}
