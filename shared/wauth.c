#include "wauth.h"
#include "ws_handshake.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sodium.h>

int wauth_mode_parse(const char *s)
{
	if (strcmp(s, "none") == 0 || !*s)
		return WAUTH_NONE;
	if (strcmp(s, "token") == 0)
		return WAUTH_TOKEN;
	if (strcmp(s, "function") == 0)
		return WAUTH_FUNCTION;
	return -1;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decode (and '+' = space) n bytes of s into out (cap > 0); returns the length. */
static size_t pct_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < cap; i++) {
		if (s[i] == '%' && i + 2 < n && hexval((unsigned char)s[i + 1]) >= 0 &&
		    hexval((unsigned char)s[i + 2]) >= 0) {
			out[o++] = (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
			i += 2;
		} else {
			out[o++] = s[i] == '+' ? ' ' : s[i];
		}
	}
	out[o] = '\0';
	return o;
}

/* Call fn for each name=value pair of a query string (raw, not decoded). */
static void query_each(const char *q, void (*fn)(void *, const char *, size_t, const char *, size_t),
		       void *arg)
{
	while (q && *q) {
		const char *amp = strchr(q, '&'), *end = amp ? amp : q + strlen(q);
		const char *eq = memchr(q, '=', (size_t)(end - q));

		if (end > q) {
			if (eq)
				fn(arg, q, (size_t)(eq - q), eq + 1, (size_t)(end - eq - 1));
			else
				fn(arg, q, (size_t)(end - q), end, 0);
		}
		q = amp ? amp + 1 : NULL;
	}
}

struct tok_find {
	char tok[512];
	int found;
};

static void tok_pair(void *arg, const char *n, size_t nl, const char *v, size_t vl)
{
	struct tok_find *t = arg;

	if (!t->found && nl == 5 && memcmp(n, "token", 5) == 0) {
		pct_decode(v, vl, t->tok, sizeof t->tok);
		t->found = 1;
	}
}

int wauth_token_ok(const struct ws_hs_request *req, const char *secret)
{
	struct tok_find t = { .found = 0 };
	const char *h = ws_hs_header(req, "authorization");
	size_t sl = strlen(secret), tl;
	int ok;

	if (!sl)
		return 0;
	if (h && strncasecmp(h, "Bearer ", 7) == 0) {
		h += 7;
		while (*h == ' ')
			h++;
		snprintf(t.tok, sizeof t.tok, "%s", h);
		t.found = 1;
	} else {
		query_each(req->query, tok_pair, &t);
	}
	if (!t.found)
		return 0;
	tl = strlen(t.tok);
	/* the length is not secret; the bytes are compared in constant time */
	ok = tl == sl && sodium_memcmp(t.tok, secret, sl) == 0;
	sodium_memzero(t.tok, sizeof t.tok);
	return ok;
}

static void query_add(void *arg, const char *n, size_t nl, const char *v, size_t vl)
{
	json_object *qp = arg, *arr;
	char name[256], *val = malloc(vl + 1);

	if (!val)
		return;
	pct_decode(n, nl, name, sizeof name);
	pct_decode(v, vl, val, vl + 1);
	if (!json_object_object_get_ex(qp, name, &arr)) {
		arr = json_object_new_array();
		json_object_object_add(qp, name, arr);
	}
	json_object_array_add(arr, json_object_new_string(val));
	free(val);
}

json_object *wauth_request(const struct ws_hs_request *req, const char *ip)
{
	json_object *o = json_object_new_object(), *h = json_object_new_object();
	json_object *q = json_object_new_object();

	for (size_t i = 0; i < req->nheaders; i++)
		json_object_object_add(h, req->headers[i].name,
				       json_object_new_string(req->headers[i].value));
	query_each(req->query, query_add, q);
	json_object_object_add(o, "headers", h);
	json_object_object_add(o, "query_params", q);
	json_object_object_add(o, "ip_address", json_object_new_string(ip ? ip : ""));
	return o;
}

static json_object *str_list(json_object *in)
{
	json_object *out = json_object_new_array();
	size_t n = json_object_is_type(in, json_type_array) ? json_object_array_length(in) : 0;

	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(in, i);
		if (json_object_is_type(e, json_type_string))
			json_object_array_add(out, json_object_get(e));
	}
	return out;
}

json_object *wauth_acl(json_object *result)
{
	json_object *acl, *v = NULL;

	if (!json_object_is_type(result, json_type_object))
		return NULL;
	acl = json_object_new_object();
	json_object_object_get_ex(result, "allowed_functions", &v);
	json_object_object_add(acl, "allowed_functions", str_list(v));
	v = NULL;
	json_object_object_get_ex(result, "forbidden_functions", &v);
	json_object_object_add(acl, "forbidden_functions", str_list(v));
	return acl;
}

static int pat_match(const char *pat, const char *fn)
{
	size_t pl = strlen(pat);

	if (pl && pat[pl - 1] == '*')
		return strncmp(pat, fn, pl - 1) == 0;
	return strcmp(pat, fn) == 0;
}

static int list_match(json_object *acl, const char *key, const char *fn)
{
	json_object *l;
	size_t n;

	if (!json_object_object_get_ex(acl, key, &l) || !json_object_is_type(l, json_type_array))
		return 0;
	n = json_object_array_length(l);
	for (size_t i = 0; i < n; i++) {
		const char *p = json_object_get_string(json_object_array_get_idx(l, i));
		if (p && pat_match(p, fn))
			return 1;
	}
	return 0;
}

int wauth_check(json_object *acl, const char *fn, char *msg, size_t msglen)
{
	if (!acl)
		return 1;
	if (list_match(acl, "forbidden_functions", fn)) {
		snprintf(msg, msglen, "function '%s' not allowed (remove from rbac.forbidden_functions)", fn);
		return 0;
	}
	if (list_match(acl, "allowed_functions", fn))
		return 1;
	if (strcmp(fn, "engine::channels::create") == 0 || strcmp(fn, "engine::workers::register") == 0 ||
	    strncmp(fn, "engine::log::", 13) == 0 || strncmp(fn, "engine::baggage::", 17) == 0)
		return 1;
	snprintf(msg, msglen, "function '%s' not allowed (add to rbac.expose_functions)", fn);
	return 0;
}
