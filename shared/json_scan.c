#include "json_scan.h"

#include <stdint.h>
#include <string.h>

struct scan {
	const char *p, *end;
	int depth, max_depth;
};

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/*
 * Eight bytes at a time: non-zero when any of them is '"', '\\' or a control
 * byte (< 0x20). May report a chunk that has none (then the byte loop looks
 * closer), never misses one.
 */
static inline uint64_t swar_special(uint64_t v)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');

	return (((q - ones) & ~q) | ((b - ones) & ~b) | ((v - ones * 0x20) & ~v)) & highs;
}

/* At '"': move past the closing quote. Payload strings are long: skip plain bytes fast. */
static int scan_string(struct scan *s)
{
	const char *p = s->p + 1;

	for (;;) {
		while (s->end - p >= 8) {
			uint64_t v;
			memcpy(&v, p, 8);
			if (swar_special(v))
				break;
			p += 8;
		}
		while (p < s->end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
			p++;
		if (p >= s->end || (unsigned char)*p < 0x20)
			return -1;
		if (*p == '"') {
			s->p = p + 1;
			return 0;
		}
		/* backslash */
		if (++p >= s->end)
			return -1;
		switch (*p) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
			p++;
			break;
		case 'u':
			if (s->end - p < 5 || !hex(p[1]) || !hex(p[2]) || !hex(p[3]) || !hex(p[4]))
				return -1;
			p += 5;
			break;
		default:
			return -1;
		}
	}
}

static int scan_number(struct scan *s)
{
	const char *p = s->p;

	if (p < s->end && *p == '-')
		p++;
	if (p >= s->end)
		return -1;
	if (*p == '0') {
		p++;
	} else if (*p >= '1' && *p <= '9') {
		while (p < s->end && *p >= '0' && *p <= '9')
			p++;
	} else {
		return -1;
	}
	if (p < s->end && *p == '.') {
		p++;
		if (p >= s->end || *p < '0' || *p > '9')
			return -1;
		while (p < s->end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < s->end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < s->end && (*p == '+' || *p == '-'))
			p++;
		if (p >= s->end || *p < '0' || *p > '9')
			return -1;
		while (p < s->end && *p >= '0' && *p <= '9')
			p++;
	}
	s->p = p;
	return 0;
}

static int scan_literal(struct scan *s, const char *lit, size_t n)
{
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
		return -1;
	s->p += n;
	return 0;
}

static int scan_value(struct scan *s);

static int scan_container(struct scan *s, char close, int is_object)
{
	if (++s->depth > s->max_depth)
		return JSON_SCAN_DEPTH;
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == close) {
		s->p++;
		s->depth--;
		return 0;
	}
	for (;;) {
		int rc;
		skip_ws(s);
		if (is_object) {
			if (s->p >= s->end || *s->p != '"' || scan_string(s) < 0)
				return -1;
			skip_ws(s);
			if (s->p >= s->end || *s->p != ':')
				return -1;
			s->p++;
			skip_ws(s);
		}
		if ((rc = scan_value(s)) < 0)
			return rc;
		skip_ws(s);
		if (s->p >= s->end)
			return -1;
		if (*s->p == ',') {
			s->p++;
			continue;
		}
		if (*s->p == close) {
			s->p++;
			s->depth--;
			return 0;
		}
		return -1;
	}
}

static int scan_value(struct scan *s)
{
	if (s->p >= s->end)
		return -1;
	switch (*s->p) {
	case '{':
		return scan_container(s, '}', 1);
	case '[':
		return scan_container(s, ']', 0);
	case '"':
		return scan_string(s);
	case 't':
		return scan_literal(s, "true", 4);
	case 'f':
		return scan_literal(s, "false", 5);
	case 'n':
		return scan_literal(s, "null", 4);
	default:
		return scan_number(s);
	}
}

/* Compare a raw key span (with quotes, escapes possible) to a plain key. */
static int key_is(const char *k, size_t klen, const char *want)
{
	size_t wl = strlen(want);
	if (klen == wl + 2 && memcmp(k + 1, want, wl) == 0)
		return 1;
	if (memchr(k, '\\', klen)) {
		char buf[128];
		struct json_span sp = { k, klen };
		return json_span_str(sp, buf, sizeof buf) >= 0 && strcmp(buf, want) == 0;
	}
	return 0;
}

int json_scan_object(const char *buf, size_t len, int max_depth,
		     const char *const *keys, struct json_span *out, size_t nkeys)
{
	struct scan s = { buf, buf + len, 1, max_depth };
	int rc;

	for (size_t i = 0; i < nkeys; i++) {
		out[i].p = NULL;
		out[i].len = 0;
	}
	if (max_depth < 1)
		return JSON_SCAN_DEPTH;
	skip_ws(&s);
	if (s.p >= s.end || *s.p != '{')
		return JSON_SCAN_INVALID;
	s.p++;
	skip_ws(&s);
	if (s.p < s.end && *s.p == '}') {
		s.p++;
		goto tail;
	}
	for (;;) {
		const char *k;
		skip_ws(&s);
		if (s.p >= s.end || *s.p != '"')
			return JSON_SCAN_INVALID;
		k = s.p;
		if (scan_string(&s) < 0)
			return JSON_SCAN_INVALID;
		size_t klen = (size_t)(s.p - k);
		skip_ws(&s);
		if (s.p >= s.end || *s.p != ':')
			return JSON_SCAN_INVALID;
		s.p++;
		skip_ws(&s);
		const char *v = s.p;
		if ((rc = scan_value(&s)) < 0)
			return rc == JSON_SCAN_DEPTH ? JSON_SCAN_DEPTH : JSON_SCAN_INVALID;
		for (size_t i = 0; i < nkeys; i++) {
			if (key_is(k, klen, keys[i])) {
				out[i].p = v;
				out[i].len = (size_t)(s.p - v);
			}
		}
		skip_ws(&s);
		if (s.p >= s.end)
			return JSON_SCAN_INVALID;
		if (*s.p == ',') {
			s.p++;
			continue;
		}
		if (*s.p == '}') {
			s.p++;
			break;
		}
		return JSON_SCAN_INVALID;
	}
tail:
	skip_ws(&s);
	return s.p == s.end ? JSON_SCAN_OK : JSON_SCAN_INVALID;
}

char json_span_kind(struct json_span s)
{
	if (!s.p || !s.len)
		return 0;
	switch (s.p[0]) {
	case '"': case '{': case '[': case 'n': case 't': case 'f':
		return s.p[0];
	default:
		return '0';
	}
}

static void put_utf8(char *out, size_t *o, unsigned cp)
{
	if (cp < 0x80) {
		out[(*o)++] = (char)cp;
	} else if (cp < 0x800) {
		out[(*o)++] = (char)(0xC0 | (cp >> 6));
		out[(*o)++] = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		out[(*o)++] = (char)(0xE0 | (cp >> 12));
		out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[(*o)++] = (char)(0x80 | (cp & 0x3F));
	} else {
		out[(*o)++] = (char)(0xF0 | (cp >> 18));
		out[(*o)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
		out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[(*o)++] = (char)(0x80 | (cp & 0x3F));
	}
}

static unsigned hex4(const char *p)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	return v;
}

int json_span_str(struct json_span s, char *out, size_t cap)
{
	size_t o = 0;
	const char *p, *end;

	if (!s.p || s.len < 2 || s.p[0] != '"' || s.p[s.len - 1] != '"' || cap == 0)
		return -1;
	p = s.p + 1;
	end = s.p + s.len - 1;
	while (p < end) {
		if (o + 4 >= cap)
			return -1;
		if (*p != '\\') {
			out[o++] = *p++;
			continue;
		}
		if (++p >= end)
			return -1;
		switch (*p) {
		case 'b': out[o++] = '\b'; p++; break;
		case 'f': out[o++] = '\f'; p++; break;
		case 'n': out[o++] = '\n'; p++; break;
		case 'r': out[o++] = '\r'; p++; break;
		case 't': out[o++] = '\t'; p++; break;
		case 'u': {
			if (end - p < 5)
				return -1;
			unsigned cp = hex4(p + 1);
			p += 5;
			if (cp >= 0xD800 && cp < 0xDC00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
				unsigned lo = hex4(p + 2);
				if (lo >= 0xDC00 && lo < 0xE000) {
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					p += 6;
				}
			}
			put_utf8(out, &o, cp);
			break;
		}
		default:
			out[o++] = *p++;
			break;
		}
	}
	out[o] = '\0';
	return (int)o;
}

size_t json_escape(const char *s, char *out, size_t cap)
{
	static const char hexd[] = "0123456789abcdef";
	size_t o = 0;

	if (cap < 3)
		return 0;
	out[o++] = '"';
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (o + 8 >= cap)
			return 0;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			out[o++] = '\\';
			out[o++] = 'u';
			out[o++] = '0';
			out[o++] = '0';
			out[o++] = hexd[c >> 4];
			out[o++] = hexd[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
	return o;
}
