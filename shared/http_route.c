#include "http_route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const method_names[HTTP_M_COUNT] = {
	"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS",
};

int http_method_parse(const char *s)
{
	for (int i = 0; i < HTTP_M_COUNT; i++)
		if (strcasecmp(s, method_names[i]) == 0)
			return i;
	return -1;
}

const char *http_method_name(int m)
{
	return m >= 0 && m < HTTP_M_COUNT ? method_names[m] : "?";
}

struct node {
	char *seg;			/* literal text of this child (NULL for a param node) */
	size_t seg_len;
	char *pname;			/* param node: the parameter's name */
	size_t pname_len;
	struct node **lit;		/* literal children, sorted by seg */
	size_t nlit, caplit;
	struct node *param;		/* the one parameter child */
	void *val[HTTP_M_COUNT];
	char *tmpl;			/* canonical template, set while any val is */
	int nvals;
};

struct http_routes {
	struct node root;
	size_t count;
};

struct http_routes *http_routes_new(void)
{
	return calloc(1, sizeof(struct http_routes));
}

static void node_free_children(struct node *n)
{
	for (size_t i = 0; i < n->nlit; i++) {
		node_free_children(n->lit[i]);
		free(n->lit[i]);
	}
	free(n->lit);
	if (n->param) {
		node_free_children(n->param);
		free(n->param);
	}
	free(n->seg);
	free(n->pname);
	free(n->tmpl);
}

void http_routes_free(struct http_routes **rt)
{
	if (!*rt)
		return;
	node_free_children(&(*rt)->root);
	free(*rt);
	*rt = NULL;
}

size_t http_routes_count(const struct http_routes *rt)
{
	return rt->count;
}

/* ---- templates ------------------------------------------------------- */

struct seg {
	const char *s;
	size_t len;
	int is_param;
	const char *name;	/* param name */
	size_t name_len;
};

static int name_ok(const char *s, size_t len)
{
	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/*
 * Split a template (leading slash optional) into segments. The last segment
 * is "" when the template ends with a slash (and for "/" itself).
 */
static int tmpl_split(const char *t, struct seg *out, size_t *n, char *err, size_t errlen)
{
	const char *p = t;
	size_t k = 0;

	if (*p == '/')
		p++;
	for (;;) {
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		struct seg *s = &out[k];

		if (k == HTTP_ROUTE_MAX_SEGMENTS) {
			snprintf(err, errlen, "api_path '%s' has more than %d segments", t,
				 HTTP_ROUTE_MAX_SEGMENTS);
			return -1;
		}
		memset(s, 0, sizeof *s);
		s->s = p;
		s->len = len;
		if (len == 0 && e) {
			snprintf(err, errlen, "api_path '%s' has an empty segment", t);
			return -1;
		}
		for (size_t i = 0; i < len; i++) {
			if (p[i] == '?' || p[i] == '#' || (unsigned char)p[i] <= ' ' || p[i] == 0x7f) {
				snprintf(err, errlen, "api_path '%s' holds a character not allowed in a path", t);
				return -1;
			}
		}
		if (len && p[0] == ':') {
			s->is_param = 1;
			s->name = p + 1;
			s->name_len = len - 1;
		} else if (len && p[0] == '{' && p[len - 1] == '}') {
			s->is_param = 1;
			s->name = p + 1;
			s->name_len = len >= 2 ? len - 2 : 0;
		} else if (memchr(p, '{', len) || memchr(p, '}', len) || (len && p[0] == '*')) {
			snprintf(err, errlen, "api_path '%s': segment '%.*s' is not a literal, :name or {name}",
				 t, (int)len, p);
			return -1;
		}
		if (s->is_param && !name_ok(s->name, s->name_len)) {
			snprintf(err, errlen, "api_path '%s': parameter '%.*s' needs a name of letters, digits, _ or -",
				 t, (int)len, p);
			return -1;
		}
		k++;
		if (!e)
			break;
		p = e + 1;
	}
	*n = k;
	return 0;
}

int http_route_canon(const char *tmpl, char *out, size_t outlen, char *err, size_t errlen)
{
	struct seg segs[HTTP_ROUTE_MAX_SEGMENTS];
	size_t n;
	int w;

	if (!tmpl || !*tmpl) {
		snprintf(err, errlen, "api_path is required");
		return -1;
	}
	if (tmpl_split(tmpl, segs, &n, err, errlen) < 0)
		return -1;
	w = snprintf(out, outlen, "%s%s", tmpl[0] == '/' ? "" : "/", tmpl);
	if (w < 0 || (size_t)w >= outlen) {
		snprintf(err, errlen, "api_path is longer than %zu bytes", outlen - 1);
		return -1;
	}
	return 0;
}

/* ---- the trie --------------------------------------------------------- */

static int seg_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* Index of the literal child seg, or the insertion point (*found = 0). */
static size_t lit_find(const struct node *n, const char *s, size_t len, int *found)
{
	size_t lo = 0, hi = n->nlit;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = seg_cmp(n->lit[mid]->seg, n->lit[mid]->seg_len, s, len);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = 0;
	return lo;
}

static struct node *lit_child(struct node *n, const char *s, size_t len, int create)
{
	int found;
	size_t i = lit_find(n, s, len, &found);
	struct node *c;

	if (found)
		return n->lit[i];
	if (!create)
		return NULL;
	if (n->nlit == n->caplit) {
		size_t cap = n->caplit ? n->caplit * 2 : 4;
		struct node **p = realloc(n->lit, cap * sizeof *p);
		if (!p)
			return NULL;
		n->lit = p;
		n->caplit = cap;
	}
	c = calloc(1, sizeof *c);
	if (!c || !(c->seg = malloc(len + 1))) {
		free(c);
		return NULL;
	}
	memcpy(c->seg, s, len);
	c->seg[len] = '\0';
	c->seg_len = len;
	memmove(&n->lit[i + 1], &n->lit[i], (n->nlit - i) * sizeof *n->lit);
	n->lit[i] = c;
	n->nlit++;
	return c;
}

/* Any route at or below n (for naming the route a new one conflicts with). */
static const struct node *any_leaf(const struct node *n, int *method)
{
	if (n->nvals) {
		for (int m = 0; m < HTTP_M_COUNT; m++)
			if (n->val[m]) {
				*method = m;
				return n;
			}
	}
	for (size_t i = 0; i < n->nlit; i++) {
		const struct node *l = any_leaf(n->lit[i], method);
		if (l)
			return l;
	}
	return n->param ? any_leaf(n->param, method) : NULL;
}

static int node_empty(const struct node *n)
{
	return n->nvals == 0 && n->nlit == 0 && !n->param;
}

/* Drop the empty nodes along a path (deepest first). */
static void prune(struct node **path, size_t depth)
{
	while (depth > 0) {
		struct node *c = path[depth], *p = path[depth - 1];
		if (!node_empty(c))
			return;
		if (p->param == c) {
			p->param = NULL;
		} else {
			int found;
			size_t i = lit_find(p, c->seg, c->seg_len, &found);
			if (!found)
				return;
			memmove(&p->lit[i], &p->lit[i + 1], (p->nlit - i - 1) * sizeof *p->lit);
			p->nlit--;
		}
		node_free_children(c);
		free(c);
		depth--;
	}
}

int http_routes_add(struct http_routes *rt, int method, const char *tmpl, void *value,
		    void **old, char *err, size_t errlen)
{
	struct seg segs[HTTP_ROUTE_MAX_SEGMENTS];
	struct node *path[HTTP_ROUTE_MAX_SEGMENTS + 1];
	char canon[1024];
	size_t n, np = 0, depth = 0;
	struct node *cur = &rt->root;

	*old = NULL;
	if (method < 0 || method >= HTTP_M_COUNT) {
		snprintf(err, errlen, "unsupported http_method");
		return -1;
	}
	if (http_route_canon(tmpl, canon, sizeof canon, err, errlen) < 0 ||
	    tmpl_split(canon, segs, &n, err, errlen) < 0)
		return -1;
	path[0] = cur;
	for (size_t i = 0; i < n; i++) {
		if (segs[i].is_param) {
			np++;
			if (np > HTTP_ROUTE_MAX_PARAMS) {
				snprintf(err, errlen, "api_path '%s' has more than %d parameters", canon,
					 HTTP_ROUTE_MAX_PARAMS);
				goto fail;
			}
			if (cur->param && (cur->param->pname_len != segs[i].name_len ||
					   memcmp(cur->param->pname, segs[i].name, segs[i].name_len))) {
				int m = 0;
				const struct node *l = any_leaf(cur->param, &m);
				snprintf(err, errlen, "Route '%s %s' conflicts with already-registered route "
					 "'%s %s' (same path shape, different parameter names)",
					 http_method_name(method), canon, http_method_name(m),
					 l ? l->tmpl : "?");
				goto fail;
			}
			if (!cur->param) {
				struct node *c = calloc(1, sizeof *c);
				if (!c || !(c->pname = malloc(segs[i].name_len + 1))) {
					free(c);
					snprintf(err, errlen, "out of memory");
					goto fail;
				}
				memcpy(c->pname, segs[i].name, segs[i].name_len);
				c->pname[segs[i].name_len] = '\0';
				c->pname_len = segs[i].name_len;
				cur->param = c;
			}
			cur = cur->param;
		} else {
			cur = lit_child(cur, segs[i].s, segs[i].len, 1);
			if (!cur) {
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
		}
		path[++depth] = cur;
	}
	if (cur->val[method]) {
		*old = cur->val[method];
		cur->val[method] = value;
		/* "{id}" and ":id" are the same route: the newest spelling is shown */
		free(cur->tmpl);
		cur->tmpl = strdup(canon);
		return cur->tmpl ? 1 : -1;
	}
	if (!cur->tmpl || strcmp(cur->tmpl, canon) != 0) {
		char *t = strdup(canon);
		if (!t) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		free(cur->tmpl);
		cur->tmpl = t;
	}
	cur->val[method] = value;
	cur->nvals++;
	rt->count++;
	return 0;
fail:
	/* nodes created for a rejected route must not linger */
	prune(path, depth);
	return -1;
}

int http_routes_remove(struct http_routes *rt, int method, const char *tmpl, void *value)
{
	struct seg segs[HTTP_ROUTE_MAX_SEGMENTS];
	struct node *path[HTTP_ROUTE_MAX_SEGMENTS + 1];
	char err[256];
	size_t n;
	struct node *cur = &rt->root;

	if (method < 0 || method >= HTTP_M_COUNT ||
	    tmpl_split(tmpl, segs, &n, err, sizeof err) < 0)
		return -1;
	path[0] = cur;
	for (size_t i = 0; i < n; i++) {
		if (segs[i].is_param)
			cur = cur->param;
		else
			cur = lit_child(cur, segs[i].s, segs[i].len, 0);
		if (!cur)
			return -1;
		path[i + 1] = cur;
	}
	if (!cur->val[method] || cur->val[method] != value)
		return -1;
	cur->val[method] = NULL;
	cur->nvals--;
	rt->count--;
	if (cur->nvals == 0) {
		free(cur->tmpl);
		cur->tmpl = NULL;
	}
	prune(path, n);
	return 0;
}

/* ---- matching --------------------------------------------------------- */

/*
 * Depth-first: the literal child first, then the parameter (backtracking
 * when the literal branch has no route). Returns the node that has a route
 * for the whole path, or NULL.
 */
static const struct node *match_node(const struct node *n, const char *p, const char *end,
				     struct http_match *m)
{
	const char *e;
	size_t len;
	const struct node *c, *r;

	if (p > end)
		return n->nvals ? n : NULL;
	e = memchr(p, '/', (size_t)(end - p));
	if (!e)
		e = end;
	len = (size_t)(e - p);
	c = lit_child((struct node *)n, p, len, 0);
	if (c && (r = match_node(c, e + 1, end, m)))
		return r;
	if (n->param && len > 0 && m->nparams < HTTP_ROUTE_MAX_PARAMS) {
		struct http_param *hp = &m->params[m->nparams++];
		hp->name = n->param->pname;
		hp->name_len = n->param->pname_len;
		hp->val = p;
		hp->val_len = len;
		if ((r = match_node(n->param, e + 1, end, m)))
			return r;
		m->nparams--;
	}
	return NULL;
}

int http_routes_match(const struct http_routes *rt, int method, const char *path, size_t len,
		      struct http_match *m)
{
	const struct node *n;

	memset(m, 0, sizeof *m);
	if (len && path[0] == '/') {
		path++;
		len--;
	}
	n = match_node(&rt->root, path, path + len, m);
	if (!n)
		return HTTP_ROUTE_NO_PATH;
	m->tmpl = n->tmpl;
	if (method >= 0 && method < HTTP_M_COUNT && n->val[method]) {
		m->value = n->val[method];
		return HTTP_ROUTE_FOUND;
	}
	if (method == HTTP_M_HEAD && n->val[HTTP_M_GET]) {
		m->value = n->val[HTTP_M_GET];
		return HTTP_ROUTE_FOUND;
	}
	for (int i = 0; i < HTTP_M_COUNT; i++)
		if (n->val[i])
			m->allow |= 1u << i;
	if (m->allow & (1u << HTTP_M_GET))
		m->allow |= 1u << HTTP_M_HEAD;
	m->nparams = 0;
	return HTTP_ROUTE_NO_METHOD;
}
