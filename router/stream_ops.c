#include "stream_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOC_URL "https://iii.dev/docs/reference/update-ops#"

static void op_error(json_object **errors, size_t index, const char *code, const char *message)
{
	json_object *e = json_object_new_object();
	char url[128];

	if (!*errors)
		*errors = json_object_new_array();
	snprintf(url, sizeof url, DOC_URL "%s", code);
	json_object_object_add(e, "op_index", json_object_new_int64((int64_t)index));
	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(message));
	json_object_object_add(e, "doc_url", json_object_new_string(url));
	json_object_array_add(*errors, e);
}

static json_object *copy(json_object *v)
{
	json_object *c = NULL;
	if (!v)
		return NULL;
	if (json_object_deep_copy(v, &c, NULL) < 0)
		return NULL;
	return c;
}

/* Keys that would pollute a JavaScript reader's prototype chain. */
static int proto_key(const char *k)
{
	return strcmp(k, "__proto__") == 0 || strcmp(k, "constructor") == 0 ||
	       strcmp(k, "prototype") == 0;
}

/* Depth of nested objects/arrays (a scalar is 0). */
static int depth_of(json_object *v, int limit)
{
	int d = 0;

	if (limit < 0)
		return 1;
	if (json_object_is_type(v, json_type_object)) {
		json_object_object_foreach(v, k, c) {
			(void)k;
			int cd = depth_of(c, limit - 1);
			if (cd > d)
				d = cd;
		}
		return d + 1;
	}
	if (json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			int cd = depth_of(json_object_array_get_idx(v, i), limit - 1);
			if (cd > d)
				d = cd;
		}
		return d + 1;
	}
	return 0;
}

static int has_proto_key(json_object *v)
{
	if (json_object_is_type(v, json_type_object)) {
		json_object_object_foreach(v, k, c) {
			if (proto_key(k) || has_proto_key(c))
				return 1;
		}
	} else if (json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (has_proto_key(json_object_array_get_idx(v, i)))
				return 1;
	}
	return 0;
}

/*
 * A single top-level key (set/increment/decrement/append/remove): "" (root)
 * is reported as NULL with 0; a bad path returns -1 with the error recorded.
 */
static int top_key(json_object *path, const char *op, size_t index, json_object **errors,
		   const char **key)
{
	char code[64], msg[160];

	*key = NULL;
	if (!path || json_object_is_type(path, json_type_null))
		return 0;
	if (!json_object_is_type(path, json_type_string)) {
		snprintf(code, sizeof code, "%s.path.invalid", op);
		snprintf(msg, sizeof msg, "%s: path must be a string naming a top-level field", op);
		op_error(errors, index, code, msg);
		return -1;
	}
	const char *k = json_object_get_string(path);
	if (strlen(k) > STREAM_OPS_MAX_SEGMENT) {
		snprintf(code, sizeof code, "%s.path.segment_too_long", op);
		snprintf(msg, sizeof msg, "%s: a path segment is longer than %d bytes", op,
			 STREAM_OPS_MAX_SEGMENT);
		op_error(errors, index, code, msg);
		return -1;
	}
	if (proto_key(k)) {
		snprintf(code, sizeof code, "%s.path.forbidden", op);
		snprintf(msg, sizeof msg, "%s: the path segment '%s' is not allowed", op, k);
		op_error(errors, index, code, msg);
		return -1;
	}
	*key = *k ? k : NULL;
	return 0;
}

/* The object a top-level op works in; records `<op>.target_not_object`. */
static int need_object(json_object *root, const char *op, size_t index, json_object **errors)
{
	char code[64], msg[128];

	if (json_object_is_type(root, json_type_object))
		return 0;
	snprintf(code, sizeof code, "%s.target_not_object", op);
	snprintf(msg, sizeof msg, "%s: the value is not an object, so it has no fields", op);
	op_error(errors, index, code, msg);
	return -1;
}

static json_object *op_set(json_object *root, json_object *op, size_t index, json_object **errors)
{
	json_object *path = NULL, *value = NULL;
	const char *key;

	json_object_object_get_ex(op, "path", &path);
	json_object_object_get_ex(op, "value", &value);
	if (top_key(path, "set", index, errors, &key) < 0)
		return root;
	if (!key) {
		json_object_put(root);
		return copy(value);
	}
	if (need_object(root, "set", index, errors) < 0)
		return root;
	json_object_object_add(root, key, copy(value));
	return root;
}

static json_object *op_merge(json_object *root, json_object *op, size_t index, json_object **errors)
{
	json_object *path = NULL, *value = NULL, *target;
	const char *segs[STREAM_OPS_MAX_PATH_DEPTH];
	size_t nseg = 0;

	json_object_object_get_ex(op, "path", &path);
	json_object_object_get_ex(op, "value", &value);
	if (!value || !json_object_is_type(value, json_type_object)) {
		op_error(errors, index, "merge.value_not_object", "merge: value must be an object");
		return root;
	}
	if (path && json_object_is_type(path, json_type_string)) {
		if (*json_object_get_string(path))
			segs[nseg++] = json_object_get_string(path);
	} else if (path && json_object_is_type(path, json_type_array)) {
		size_t n = json_object_array_length(path);
		if (n > STREAM_OPS_MAX_PATH_DEPTH) {
			op_error(errors, index, "merge.path.too_deep",
				 "merge: the path has more than 32 segments");
			return root;
		}
		for (size_t i = 0; i < n; i++) {
			json_object *s = json_object_array_get_idx(path, i);
			if (!json_object_is_type(s, json_type_string)) {
				op_error(errors, index, "merge.path.invalid",
					 "merge: path segments must be strings");
				return root;
			}
			segs[nseg++] = json_object_get_string(s);
		}
	} else if (path && !json_object_is_type(path, json_type_null)) {
		op_error(errors, index, "merge.path.invalid",
			 "merge: path must be a string or an array of strings");
		return root;
	}
	for (size_t i = 0; i < nseg; i++) {
		if (strlen(segs[i]) > STREAM_OPS_MAX_SEGMENT) {
			op_error(errors, index, "merge.path.segment_too_long",
				 "merge: a path segment is longer than 256 bytes");
			return root;
		}
		if (proto_key(segs[i])) {
			op_error(errors, index, "merge.path.forbidden",
				 "merge: __proto__, constructor and prototype are not allowed in a path");
			return root;
		}
	}
	if (depth_of(value, STREAM_OPS_MAX_MERGE_DEPTH + 1) > STREAM_OPS_MAX_MERGE_DEPTH) {
		op_error(errors, index, "merge.value.too_deep", "merge: the value is nested deeper than 16");
		return root;
	}
	if (json_object_object_length(value) > STREAM_OPS_MAX_MERGE_KEYS) {
		op_error(errors, index, "merge.value.too_many_keys", "merge: the value has more than 1024 keys");
		return root;
	}
	if (has_proto_key(value)) {
		op_error(errors, index, "merge.value.forbidden",
			 "merge: __proto__, constructor and prototype are not allowed as keys");
		return root;
	}
	if (!json_object_is_type(root, json_type_object)) {
		if (nseg == 0 && (!root || json_object_is_type(root, json_type_null))) {
			json_object_put(root);
			root = json_object_new_object();
		} else {
			op_error(errors, index, "merge.target_not_object",
				 "merge: the value is not an object");
			return root;
		}
	}
	target = root;
	for (size_t i = 0; i < nseg; i++) {
		json_object *next = NULL;
		if (!json_object_object_get_ex(target, segs[i], &next) || !next ||
		    json_object_is_type(next, json_type_null)) {
			next = json_object_new_object();
			json_object_object_add(target, segs[i], next);
		} else if (!json_object_is_type(next, json_type_object)) {
			op_error(errors, index, "merge.target_not_object",
				 "merge: a field on the path is not an object");
			return root;
		}
		target = next;
	}
	json_object_object_foreach(value, k, v)
		json_object_object_add(target, k, copy(v));
	return root;
}

static json_object *op_add(json_object *root, json_object *op, size_t index, json_object **errors,
			   const char *name, int sign)
{
	json_object *path = NULL, *by = NULL, *cur = NULL;
	const char *key;
	char code[64], msg[128];

	json_object_object_get_ex(op, "path", &path);
	json_object_object_get_ex(op, "by", &by);
	if (top_key(path, name, index, errors, &key) < 0)
		return root;
	if (!by || json_object_is_type(by, json_type_null)) {
		by = NULL;
	} else if (!json_object_is_type(by, json_type_int) && !json_object_is_type(by, json_type_double)) {
		snprintf(code, sizeof code, "%s.by_not_number", name);
		snprintf(msg, sizeof msg, "%s: by must be a number", name);
		op_error(errors, index, code, msg);
		return root;
	}
	if (!key) {
		snprintf(code, sizeof code, "%s.path.invalid", name);
		snprintf(msg, sizeof msg, "%s: path must name a field", name);
		op_error(errors, index, code, msg);
		return root;
	}
	if (need_object(root, name, index, errors) < 0)
		return root;
	json_object_object_get_ex(root, key, &cur);
	if (cur && !json_object_is_type(cur, json_type_null) &&
	    !json_object_is_type(cur, json_type_int) && !json_object_is_type(cur, json_type_double)) {
		snprintf(code, sizeof code, "%s.not_number", name);
		snprintf(msg, sizeof msg, "%s: the field '%s' is not a number", name, key);
		op_error(errors, index, code, msg);
		return root;
	}
	int is_int = (!by || json_object_is_type(by, json_type_int)) &&
		     (!cur || !json_object_is_type(cur, json_type_double));
	if (is_int) {
		int64_t b = by ? json_object_get_int64(by) : 1;
		int64_t c = cur && !json_object_is_type(cur, json_type_null) ? json_object_get_int64(cur) : 0;
		json_object_object_add(root, key, json_object_new_int64(c + sign * b));
	} else {
		double b = by ? json_object_get_double(by) : 1;
		double c = cur && !json_object_is_type(cur, json_type_null) ? json_object_get_double(cur) : 0;
		json_object_object_add(root, key, json_object_new_double(c + sign * b));
	}
	return root;
}

static json_object *appended(json_object *target, json_object *value, size_t index,
			     json_object **errors, int *ok)
{
	*ok = 1;
	if (!target || json_object_is_type(target, json_type_null)) {
		json_object *a = json_object_new_array();
		json_object_array_add(a, copy(value));
		return a;
	}
	if (json_object_is_type(target, json_type_array)) {
		json_object_array_add(target, copy(value));
		return json_object_get(target);
	}
	if (json_object_is_type(target, json_type_string) && json_object_is_type(value, json_type_string)) {
		size_t a = (size_t)json_object_get_string_len(target), b = (size_t)json_object_get_string_len(value);
		char *s = malloc(a + b + 1);
		if (s) {
			memcpy(s, json_object_get_string(target), a);
			memcpy(s + a, json_object_get_string(value), b);
			s[a + b] = '\0';
			json_object *r = json_object_new_string_len(s, (int)(a + b));
			free(s);
			return r;
		}
	}
	op_error(errors, index, "append.target_not_appendable",
		 "append: the target is neither an array nor a string (or the value is not a string)");
	*ok = 0;
	return NULL;
}

static json_object *op_append(json_object *root, json_object *op, size_t index, json_object **errors)
{
	json_object *path = NULL, *value = NULL, *cur = NULL, *nv;
	const char *key;
	int ok;

	json_object_object_get_ex(op, "path", &path);
	json_object_object_get_ex(op, "value", &value);
	if (top_key(path, "append", index, errors, &key) < 0)
		return root;
	if (!key) {
		nv = appended(json_object_is_type(root, json_type_object) &&
			      json_object_object_length(root) == 0 ? NULL : root, value, index, errors, &ok);
		if (!ok)
			return root;
		json_object_put(root);
		return nv;
	}
	if (need_object(root, "append", index, errors) < 0)
		return root;
	json_object_object_get_ex(root, key, &cur);
	nv = appended(cur, value, index, errors, &ok);
	if (ok)
		json_object_object_add(root, key, nv);
	return root;
}

static json_object *op_remove(json_object *root, json_object *op, size_t index, json_object **errors)
{
	json_object *path = NULL;
	const char *key;

	json_object_object_get_ex(op, "path", &path);
	if (top_key(path, "remove", index, errors, &key) < 0)
		return root;
	if (!key) {
		op_error(errors, index, "remove.path.invalid", "remove: path must name a field");
		return root;
	}
	if (need_object(root, "remove", index, errors) < 0)
		return root;
	json_object_object_del(root, key);
	return root;
}

json_object *stream_ops_apply(json_object *cur, json_object *ops, json_object **errors)
{
	json_object *root;

	if (!ops || !json_object_is_type(ops, json_type_array))
		return NULL;
	root = cur && !json_object_is_type(cur, json_type_null) ? copy(cur) : json_object_new_object();
	for (size_t i = 0; i < json_object_array_length(ops); i++) {
		json_object *op = json_object_array_get_idx(ops, i), *t = NULL;
		const char *type;

		if (!json_object_is_type(op, json_type_object) ||
		    !json_object_object_get_ex(op, "type", &t) || !json_object_is_type(t, json_type_string)) {
			op_error(errors, i, "op.invalid", "an op must be an object with a string type");
			continue;
		}
		type = json_object_get_string(t);
		if (strcmp(type, "set") == 0)
			root = op_set(root, op, i, errors);
		else if (strcmp(type, "merge") == 0)
			root = op_merge(root, op, i, errors);
		else if (strcmp(type, "increment") == 0)
			root = op_add(root, op, i, errors, "increment", 1);
		else if (strcmp(type, "decrement") == 0)
			root = op_add(root, op, i, errors, "decrement", -1);
		else if (strcmp(type, "append") == 0)
			root = op_append(root, op, i, errors);
		else if (strcmp(type, "remove") == 0)
			root = op_remove(root, op, i, errors);
		else
			op_error(errors, i, "op.unknown_type", "unknown op type (set, merge, increment, decrement, append, remove)");
	}
	return root;
}
