#include "chan_wire.h"

#include <stdio.h>
#include <string.h>

#define PREFIX "/ws/channels/"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode src[0..n) into out (cap bytes with the NUL). -1 if bad or too long. */
static int pct_decode(const char *src, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)src[i];
		if (c == '%') {
			int h, l;
			if (i + 2 >= n)
				return -1;
			h = hexval((unsigned char)src[i + 1]);
			l = hexval((unsigned char)src[i + 2]);
			if (h < 0 || l < 0)
				return -1;
			c = h * 16 + l;
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (c == 0 || o + 1 >= cap)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

static int id_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

int chan_url_parse(const char *path, const char *query, struct chan_url *out)
{
	size_t pl = strlen(PREFIX), n;
	const char *id, *q;
	int have_key = 0, have_dir = 0;

	memset(out, 0, sizeof *out);
	out->dir = -1;
	if (strncmp(path, PREFIX, pl) != 0)
		return CHAN_URL_NOT_CHANNEL;
	id = path + pl;
	n = strlen(id);
	if (n == 0 || n > CHAN_ID_MAX)
		return CHAN_URL_BAD;
	for (size_t i = 0; i < n; i++)
		if (!id_char((unsigned char)id[i]))
			return CHAN_URL_BAD;
	memcpy(out->id, id, n);
	out->id[n] = '\0';
	q = query ? query : "";
	while (*q) {
		const char *e = strchr(q, '&'), *eq;
		size_t len = e ? (size_t)(e - q) : strlen(q);
		eq = memchr(q, '=', len);
		if (eq) {
			size_t kl = (size_t)(eq - q), vl = len - kl - 1;
			if (kl == 3 && memcmp(q, "key", 3) == 0) {
				if (pct_decode(eq + 1, vl, out->key, sizeof out->key) < 0 || vl == 0)
					return CHAN_URL_BAD;
				have_key = 1;
			} else if (kl == 3 && memcmp(q, "dir", 3) == 0) {
				if (vl == 4 && memcmp(eq + 1, "read", 4) == 0)
					out->dir = CHAN_READ;
				else if (vl == 5 && memcmp(eq + 1, "write", 5) == 0)
					out->dir = CHAN_WRITE;
				else
					return CHAN_URL_BAD;
				have_dir = 1;
			}
		}
		q += len;
		if (*q == '&')
			q++;
	}
	if (!have_key || !have_dir || !out->key[0])
		return CHAN_URL_BAD;
	return CHAN_URL_OK;
}

int chan_ctl_apply(const char *msg, size_t len, int *status, json_object *headers)
{
	json_tokener *tok = json_tokener_new_ex(8);
	json_object *o, *t, *v;
	int rc = 0;

	if (!tok)
		return 0;
	o = json_tokener_parse_ex(tok, msg, (int)len);
	json_tokener_free(tok);
	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "type", &t) || !json_object_is_type(t, json_type_string))
		goto out;
	if (strcmp(json_object_get_string(t), "set_status") == 0) {
		rc = 1;
		if (json_object_object_get_ex(o, "status_code", &v) &&
		    json_object_is_type(v, json_type_int)) {
			int64_t c = json_object_get_int64(v);
			if (c >= 100 && c <= 599)
				*status = (int)c;
		}
	} else if (strcmp(json_object_get_string(t), "set_headers") == 0) {
		rc = 1;
		if (json_object_object_get_ex(o, "headers", &v) &&
		    json_object_is_type(v, json_type_object)) {
			json_object_object_foreach(v, k, hv) {
				if (json_object_is_type(hv, json_type_string))
					json_object_object_add(headers, k, json_object_get(hv));
			}
		}
	}
out:
	json_object_put(o);
	return rc;
}
