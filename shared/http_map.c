#include "http_map.h"
#include "ws_frame.h"

#include <ctype.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define JFLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one. */
static size_t utf8_seq(const uint8_t *s, size_t len)
{
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	return n <= len && ws_utf8_valid(s, n) ? n : 0;
}

/*
 * A JSON string from bytes that may not be UTF-8: invalid sequences become
 * U+FFFD, so that what reaches a worker is always a valid text frame.
 */
static json_object *str_lossy(const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s;
	char *out, *o;
	json_object *j;

	if (ws_utf8_valid(p, len))
		return json_object_new_string_len(s, (int)len);
	out = malloc(len * 3 + 1);
	if (!out)
		return NULL;
	o = out;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq(p + i, len - i);
		if (n) {
			memcpy(o, p + i, n);
			o += n;
			i += n;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	j = json_object_new_string_len(out, (int)(o - out));
	free(out);
	return j;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Form decoding as serde_urlencoded does it: '+' is a space, bad escapes stay. */
static size_t form_decode(const char *s, size_t len, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		int h, l;
		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (s[i] == '%' && i + 2 < len && (h = hexval(s[i + 1])) >= 0 &&
			   (l = hexval(s[i + 2])) >= 0) {
			out[o++] = (char)(h * 16 + l);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	return o;
}

static json_object *query_params(const char *q, size_t len)
{
	json_object *o = json_object_new_object();
	char *buf;
	size_t i = 0;

	if (!o || !q || !len)
		return o;
	buf = malloc(len * 2 + 2);
	if (!buf)
		return o;
	while (i < len) {
		const char *pair = q + i, *amp = memchr(pair, '&', len - i);
		size_t plen = amp ? (size_t)(amp - pair) : len - i;
		const char *eq = memchr(pair, '=', plen);
		size_t klen = eq ? (size_t)(eq - pair) : plen;
		i += plen + 1;
		if (plen == 0)
			continue;
		size_t kd = form_decode(pair, klen, buf);
		buf[kd] = '\0';
		size_t vd = eq ? form_decode(eq + 1, plen - klen - 1, buf + kd + 1) : 0;
		json_object *k = str_lossy(buf, kd);
		json_object *v = str_lossy(buf + kd + 1, vd);
		if (k && v)
			json_object_object_add(o, json_object_get_string(k), v);
		else
			json_object_put(v);
		json_object_put(k);
	}
	free(buf);
	return o;
}

static int has_ci(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle);
	for (size_t i = 0; i + n <= len; i++)
		if (strncasecmp(hay + i, needle, n) == 0)
			return 1;
	return 0;
}

static json_object *parse_json_body(const char *b, size_t len, int max_depth)
{
	json_tokener *tok;
	json_object *o;
	char *buf;
	size_t end;

	if (len == 0 || len >= INT32_MAX)
		return NULL;
	tok = json_tokener_new_ex(max_depth > 0 ? max_depth : 64);
	buf = malloc(len + 1);
	if (!tok || !buf) {
		if (tok)
			json_tokener_free(tok);
		free(buf);
		return NULL;
	}
	memcpy(buf, b, len);
	buf[len] = '\0';
	/* the NUL ends a bare number or literal; it is not part of the body */
	o = json_tokener_parse_ex(tok, buf, (int)len + 1);
	end = json_tokener_get_parse_end(tok);
	for (size_t i = end; o && i < len; i++)
		if (!isspace((unsigned char)buf[i])) {
			/* trailing bytes after the value: invalid, so null as in the reference */
			json_object_put(o);
			o = NULL;
		}
	json_tokener_free(tok);
	free(buf);
	return o;
}

json_object *http_map_request(const struct http_req_in *in)
{
	json_object *o = json_object_new_object(), *pp, *hh, *t;
	const char *ctype = NULL;
	size_t ctype_len = 0;
	char name[256];

	if (!o)
		return NULL;
	json_object_object_add(o, "query_params", query_params(in->query, in->query_len));
	pp = json_object_new_object();
	for (size_t i = 0; i < in->nparams; i++) {
		const struct http_param *p = &in->params[i];
		char pn[64];
		snprintf(pn, sizeof pn, "%.*s", (int)p->name_len, p->name);
		json_object_object_add(pp, pn, str_lossy(p->val, p->val_len));
	}
	json_object_object_add(o, "path_params", pp);
	hh = json_object_new_object();
	for (size_t i = 0; i < in->nheaders; i++) {
		const struct http_kv *h = &in->headers[i];
		size_t n = h->name_len < sizeof name - 1 ? h->name_len : sizeof name - 1;
		for (size_t k = 0; k < n; k++)
			name[k] = (char)tolower((unsigned char)h->name[k]);
		name[n] = '\0';
		if (ws_utf8_valid((const uint8_t *)h->val, h->val_len))
			json_object_object_add(hh, name, json_object_new_string_len(h->val, (int)h->val_len));
		else
			json_object_object_add(hh, name, json_object_new_string(""));
		if (strcmp(name, "content-type") == 0) {
			ctype = h->val;
			ctype_len = h->val_len;
		}
	}
	json_object_object_add(o, "headers", hh);
	json_object_object_add(o, "path", json_object_new_string(in->tmpl));
	json_object_object_add(o, "method", json_object_new_string(in->method));
	json_object_object_add(o, "body", ctype && has_ci(ctype, ctype_len, "application/json") ?
			       parse_json_body(in->body, in->body_len, in->max_depth) : NULL);
	t = json_object_new_object();
	json_object_object_add(t, "type", json_object_new_string("http"));
	json_object_object_add(t, "path", json_object_new_string(in->tmpl));
	json_object_object_add(t, "method", json_object_new_string(in->method));
	json_object_object_add(o, "trigger", t);
	if (ws_utf8_valid((const uint8_t *)in->body, in->body_len)) {
		json_object_object_add(o, "raw_body",
				       json_object_new_string_len(in->body ? in->body : "", (int)in->body_len));
	} else {
		size_t blen = sodium_base64_encoded_len(in->body_len, sodium_base64_VARIANT_ORIGINAL);
		char *b64 = malloc(blen);
		if (b64) {
			sodium_bin2base64(b64, blen, (const unsigned char *)in->body, in->body_len,
					  sodium_base64_VARIANT_ORIGINAL);
			json_object_object_add(o, "raw_body_base64", json_object_new_string(b64));
			free(b64);
		}
	}
	return o;
}

int http_header_ok(const char *name, size_t name_len, const char *val, size_t val_len)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";

	if (name_len == 0)
		return 0;
	for (size_t i = 0; i < name_len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!isalnum(c) && !strchr(tchar, c))
			return 0;
		if (c == 0)
			return 0;
	}
	for (size_t i = 0; i < val_len; i++)
		if (val[i] == '\r' || val[i] == '\n' || val[i] == '\0')
			return 0;
	return 1;
}

static int add_header(struct http_resp *r, const char *name, size_t nlen, const char *val,
		      size_t vlen)
{
	struct http_hdr *h;

	while (vlen && (val[0] == ' ' || val[0] == '\t')) {
		val++;
		vlen--;
	}
	while (vlen && (val[vlen - 1] == ' ' || val[vlen - 1] == '\t'))
		vlen--;
	if (!http_header_ok(name, nlen, val, vlen))
		return 0;	/* skipped, as the reference does */
	h = realloc(r->headers, (r->nheaders + 1) * sizeof *h);
	if (!h)
		return -1;
	r->headers = h;
	h = &r->headers[r->nheaders];
	h->name = strndup(name, nlen);
	h->val = strndup(val, vlen);
	if (!h->name || !h->val) {
		free(h->name);
		free(h->val);
		return -1;
	}
	r->nheaders++;
	return 0;
}

static int set_body(struct http_resp *r, const char *s, size_t len)
{
	r->body = malloc(len ? len : 1);
	if (!r->body)
		return -1;
	memcpy(r->body, s, len);
	r->body_len = len;
	return 0;
}

int http_map_response(json_object *result, struct http_resp *out)
{
	json_object *v, *body = NULL;
	const char *user_ct = NULL;
	int has_body = 0;
	size_t len;
	const char *s;

	memset(out, 0, sizeof *out);
	out->status = 200;
	if (result && json_object_is_type(result, json_type_object)) {
		if (json_object_object_get_ex(result, "status_code", &v) &&
		    json_object_is_type(v, json_type_int)) {
			int64_t c = json_object_get_int64(v);
			if (c >= 100 && c <= 999)
				out->status = (int)c;
		}
		if (json_object_object_get_ex(result, "headers", &v)) {
			if (json_object_is_type(v, json_type_object)) {
				json_object_object_foreach(v, k, hv) {
					if (!json_object_is_type(hv, json_type_string))
						continue;
					if (add_header(out, k, strlen(k), json_object_get_string(hv),
						       (size_t)json_object_get_string_len(hv)) < 0)
						goto oom;
				}
			} else if (json_object_is_type(v, json_type_array)) {
				for (size_t i = 0; i < json_object_array_length(v); i++) {
					json_object *line = json_object_array_get_idx(v, i);
					const char *l, *c;
					if (!json_object_is_type(line, json_type_string))
						continue;
					l = json_object_get_string(line);
					if (!(c = strchr(l, ':')))
						continue;
					if (add_header(out, l, (size_t)(c - l), c + 1, strlen(c + 1)) < 0)
						goto oom;
				}
			}
		}
		has_body = json_object_object_get_ex(result, "body", &body);
	}
	for (size_t i = 0; i < out->nheaders; i++)
		if (strcasecmp(out->headers[i].name, "content-type") == 0)
			user_ct = out->headers[i].val;
	if (!has_body) {
		/* no body (or no result at all): {} */
		if (!user_ct && add_header(out, "content-type", 12, "application/json", 16) < 0)
			goto oom;
		if (set_body(out, "{}", 2) < 0)
			goto oom;
		return 0;
	}
	if (user_ct && json_object_is_type(body, json_type_string)) {
		if (set_body(out, json_object_get_string(body),
			     (size_t)json_object_get_string_len(body)) < 0)
			goto oom;
		return 0;
	}
	if (user_ct && !body)
		return 0;
	s = json_object_to_json_string_length(body, JFLAGS, &len);
	if (!body) {
		s = "null";
		len = 4;
	}
	if (!user_ct && add_header(out, "content-type", 12, "application/json", 16) < 0)
		goto oom;
	if (set_body(out, s, len) < 0)
		goto oom;
	return 0;
oom:
	http_resp_free(out);
	return -1;
}

void http_resp_free(struct http_resp *r)
{
	for (size_t i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].val);
	}
	free(r->headers);
	free(r->body);
	memset(r, 0, sizeof *r);
}

char *http_map_error(const char *code, const char *message, const char *error_id,
		     int skipped, size_t *len)
{
	json_object *o = json_object_new_object(), *e = json_object_new_object();
	const char *s;
	char *out;

	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(message));
	if (error_id)
		json_object_object_add(e, "error_id", json_object_new_string(error_id));
	json_object_object_add(o, "error", e);
	if (skipped)
		json_object_object_add(o, "skipped", json_object_new_boolean(1));
	s = json_object_to_json_string_length(o, JFLAGS, len);
	out = s ? strndup(s, *len) : NULL;
	json_object_put(o);
	return out;
}
