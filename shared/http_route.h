/*
 * http_route — the HTTP trigger route table: a trie of path segments with
 * per-method values. Pure (no I/O), so the router (which validates and owns
 * the table) and every broker (which matches requests against its copy) use
 * the same code.
 *
 * Templates: "/users/:id", "/users/{id}", "users/:id" (a leading slash is
 * implied). Literal segments win over parameters; trailing slashes are
 * significant ("/a" and "/a/" are different routes); a parameter matches one
 * non-empty segment. Matching cost depends on the path length, not on the
 * number of routes (children are kept sorted and binary-searched).
 */
#ifndef TRINE_HTTP_ROUTE_H
#define TRINE_HTTP_ROUTE_H

#include <stddef.h>

enum http_method {
	HTTP_M_GET, HTTP_M_POST, HTTP_M_PUT, HTTP_M_DELETE, HTTP_M_PATCH,
	HTTP_M_HEAD, HTTP_M_OPTIONS, HTTP_M_COUNT
};

#define HTTP_ROUTE_MAX_PARAMS 16
#define HTTP_ROUTE_MAX_SEGMENTS 64

/* Case-insensitive method name -> enum http_method, or -1. */
int http_method_parse(const char *s);
const char *http_method_name(int m);

struct http_routes;

struct http_routes *http_routes_new(void);
void http_routes_free(struct http_routes **rt);
size_t http_routes_count(const struct http_routes *rt);

/*
 * Add method + template with value (borrowed; the caller owns it). Returns 0
 * when added, 1 when it replaced a route with the same method and path (the
 * replaced value in *old), -1 when rejected with a message in err (bad
 * template, or a parameter whose name differs from an existing route's
 * parameter at the same place).
 */
int http_routes_add(struct http_routes *rt, int method, const char *tmpl, void *value,
		    void **old, char *err, size_t errlen);

/* Remove method + template if it still maps to value. 0, or -1 if not there. */
int http_routes_remove(struct http_routes *rt, int method, const char *tmpl, void *value);

/*
 * Canonical form of a template ("users/:id" -> "/users/:id") into out.
 * 0, or -1 if it does not fit or is not a valid template (err says why).
 */
int http_route_canon(const char *tmpl, char *out, size_t outlen, char *err, size_t errlen);

struct http_param {
	const char *name;	/* points into the table: valid until it changes */
	size_t name_len;
	const char *val;	/* points into the matched path, raw (not decoded) */
	size_t val_len;
};

struct http_match {
	void *value;
	const char *tmpl;		/* canonical template of the route */
	size_t nparams;
	struct http_param params[HTTP_ROUTE_MAX_PARAMS];
	unsigned allow;			/* NO_METHOD: bit per method the path has */
};

enum { HTTP_ROUTE_FOUND = 0, HTTP_ROUTE_NO_PATH = 1, HTTP_ROUTE_NO_METHOD = 2 };

/*
 * Match a raw URL path (without the query). HEAD falls back to a GET route.
 * Returns HTTP_ROUTE_FOUND with m filled, HTTP_ROUTE_NO_PATH (404) or
 * HTTP_ROUTE_NO_METHOD (405; m->allow says which methods the path has).
 */
int http_routes_match(const struct http_routes *rt, int method, const char *path, size_t len,
		      struct http_match *m);

#endif
