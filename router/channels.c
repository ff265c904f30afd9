#include "channels.h"
#include "builtin.h"
#include "chan_wire.h"
#include "hmap.h"
#include "log.h"
#include "wire.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_BYTES 32

/* One end: a WebSocket connection or an HTTP request on a front. */
struct ep {
	char front[64];
	uint64_t id;
	int attached;
};

struct chunk {
	struct chunk *next;
	size_t len;
	char data[];		/* 't' or 'b', then the bytes */
};

struct chan {
	char id[ID_UUID_LEN + 1];
	char key[2][KEY_BYTES * 2 + 1];		/* per direction */
	char owner[ID_UUID_LEN + 1];		/* worker id, "" = dropped by its creator */
	int bufsz;
	struct ep ep[2];			/* [CHAN_WRITE], [CHAN_READ] */
	struct chunk *qh, *qt;			/* waiting for the reader */
	int qlen;
	int inflight;				/* sent to the reader's front, not acknowledged */
	int granted;				/* the writer got its first credit */
	int w_ended;
	int w_seen;
	int streaming;				/* a binary chunk came from the writer */
	struct chan *pair;
	void (*on_writer)(struct router *, void *);
	void *on_writer_arg;
};

static struct {
	struct router *r;
	struct hmap chans;		/* id -> struct chan * */
} C;

struct chan *chan_find(const char *id)
{
	return hmap_get(&C.chans, id);
}

const char *chan_id(const struct chan *c)
{
	return c->id;
}

struct chan *chan_create(struct router *r, const char *owner_id, int buffer_size)
{
	struct chan *c = calloc(1, sizeof *c);
	unsigned char k[KEY_BYTES];

	(void)r;
	if (!c)
		return NULL;
	id_uuid4(c->id);
	for (int d = 0; d < 2; d++) {
		randombytes_buf(k, sizeof k);
		sodium_bin2hex(c->key[d], sizeof c->key[d], k, sizeof k);
	}
	sodium_memzero(k, sizeof k);
	if (owner_id)
		snprintf(c->owner, sizeof c->owner, "%s", owner_id);
	c->bufsz = buffer_size;
	if (hmap_put(&C.chans, c->id, c) < 0) {
		free(c);
		return NULL;
	}
	return c;
}

json_object *chan_ref(const struct chan *c, int dir)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "channel_id", json_object_new_string(c->id));
	json_object_object_add(o, "access_key", json_object_new_string(c->key[dir]));
	json_object_object_add(o, "direction",
			       json_object_new_string(dir == CHAN_READ ? "read" : "write"));
	return o;
}

void chan_bind_front(struct chan *c, int dir, const struct front *f, uint64_t ep)
{
	snprintf(c->ep[dir].front, sizeof c->ep[dir].front, "%.*s", (int)f->ident_len, f->ident);
	c->ep[dir].id = ep;
	c->ep[dir].attached = 1;
	if (dir == CHAN_WRITE)
		c->w_seen = 1;
}

void chan_pair(struct chan *a, struct chan *b)
{
	a->pair = b;
	b->pair = a;
}

int chan_writer_seen(const struct chan *c)
{
	return c->w_seen;
}

int chan_streaming(const struct chan *c)
{
	return c->streaming;
}

void chan_on_writer(struct chan *c, void (*fn)(struct router *, void *), void *arg)
{
	c->on_writer = fn;
	c->on_writer_arg = arg;
}

/* Send to one end; -1 when it is not attached or its front is gone. */
static int ep_send(struct chan *c, int dir, const char *kind, const void *body, size_t len)
{
	struct ep *e = &c->ep[dir];
	void *f;

	if (!e->attached || !lh_table_lookup_ex(C.r->fronts, e->front, &f))
		return -1;
	router_wire(C.r, f, kind, e->id, body, len, c->id, strlen(c->id));
	return 0;
}

static void credit(struct chan *c, int n)
{
	char b[16];
	int l;

	if (n <= 0 || !c->ep[CHAN_WRITE].attached || c->w_ended)
		return;
	l = snprintf(b, sizeof b, "%d", n);
	ep_send(c, CHAN_WRITE, "chcredit", b, (size_t)l);
}

/*
 * The writer's first credit: at once for a WebSocket writer; for a front
 * feeding a request body, only when a reader is there (the body stays in
 * the front until someone reads it).
 */
static void grant_initial(struct chan *c)
{
	struct ep *w = &c->ep[CHAN_WRITE];

	if (c->granted || !w->attached)
		return;
	if ((w->id & CHAN_HTTP_BIT) && !c->ep[CHAN_READ].attached)
		return;
	c->granted = 1;
	credit(c, c->bufsz - c->qlen - c->inflight);
}

static void chan_destroy(struct chan *c)
{
	hmap_del(&C.chans, c->id);
	while (c->qh) {
		struct chunk *k = c->qh;
		c->qh = k->next;
		free(k);
	}
	free(c);
}

void chan_drop(struct router *r, struct chan *c)
{
	struct chan *p = c->pair;

	(void)r;
	for (int d = 0; d < 2; d++)
		if (c->ep[d].attached)
			ep_send(c, d, "chclose", NULL, 0);
	if (p) {
		p->pair = NULL;
		c->pair = NULL;
		chan_drop(r, p);
	}
	chan_destroy(c);
}

/* Move queued chunks to the reader within the window; deliver the end. */
static void pump(struct chan *c)
{
	while (c->ep[CHAN_READ].attached && c->qh && c->inflight < c->bufsz) {
		struct chunk *k = c->qh;
		if (ep_send(c, CHAN_READ, "chd", k->data, k->len) < 0) {
			c->ep[CHAN_READ].attached = 0;
			chan_drop(C.r, c);
			return;
		}
		c->qh = k->next;
		if (!c->qh)
			c->qt = NULL;
		c->qlen--;
		c->inflight++;
		free(k);
	}
	if (c->w_ended && !c->qh && c->ep[CHAN_READ].attached) {
		ep_send(c, CHAN_READ, "chend", NULL, 0);
		c->ep[CHAN_READ].attached = 0;
		c->ep[CHAN_WRITE].attached = 0;
		chan_drop(C.r, c);
	}
}

static int is_ep(const struct chan *c, int dir, const struct front *f, uint64_t id)
{
	const struct ep *e = &c->ep[dir];
	return e->attached && e->id == id && strlen(e->front) == f->ident_len &&
	       memcmp(e->front, f->ident, f->ident_len) == 0;
}

/* The channel named by a message's key frame, or NULL. */
static struct chan *msg_chan(struct wire_msg *m)
{
	char id[CHAN_ID_MAX + 1];

	if (m->nids != 1 || m->key_len == 0 || m->key_len > CHAN_ID_MAX)
		return NULL;
	memcpy(id, m->key, m->key_len);
	id[m->key_len] = '\0';
	return chan_find(id);
}

/*
 * "chatt": a WebSocket asks to attach (body "r:<key>" or "w:<key>"). The
 * key is compared in constant time; the broker answers the upgrade with
 * 101, or with the status in "chno" (404 unknown, 403 bad key, 409 taken).
 */
static void on_chatt(struct router *r, struct front *f, struct wire_msg *m)
{
	struct chan *c = msg_chan(m);
	const char *st = NULL;
	int dir = 0;

	if (m->nids != 1)
		return;
	if (!c) {
		st = "404";
	} else if (m->body_len < 3 || (m->body[0] != 'r' && m->body[0] != 'w') ||
		   m->body[1] != ':') {
		st = "400";
	} else {
		size_t kl = m->body_len - 2;
		dir = m->body[0] == 'r' ? CHAN_READ : CHAN_WRITE;
		if (kl != strlen(c->key[dir]) || sodium_memcmp(m->body + 2, c->key[dir], kl) != 0)
			st = "403";
		else if (c->ep[dir].attached || (dir == CHAN_WRITE && (c->w_seen || c->w_ended)))
			st = "409";
	}
	if (st) {
		router_wire(r, f, "chno", wire_id(m, 0), st, 3, m->key, m->key_len);
		return;
	}
	chan_bind_front(c, dir, f, wire_id(m, 0));
	router_wire(r, f, "chok", wire_id(m, 0), NULL, 0, m->key, m->key_len);
	grant_initial(c);
	if (dir == CHAN_WRITE && c->on_writer) {
		void (*fn)(struct router *, void *) = c->on_writer;
		c->on_writer = NULL;
		fn(r, c->on_writer_arg);
	}
	/* fn may have dropped it */
	if ((c = msg_chan(m)))
		pump(c);
}

static void on_chd(struct router *r, struct front *f, struct wire_msg *m)
{
	struct chan *c = msg_chan(m);
	struct chunk *k;

	(void)r;
	if (!c || !is_ep(c, CHAN_WRITE, f, wire_id(m, 0)) || c->w_ended || m->body_len == 0)
		return;
	k = malloc(sizeof *k + m->body_len);
	if (!k) {
		log_warn("channel %s: out of memory, chunk dropped", c->id);
		return;
	}
	if (m->body[0] == 'b')
		c->streaming = 1;
	k->next = NULL;
	k->len = m->body_len;
	memcpy(k->data, m->body, m->body_len);
	if (c->qt)
		c->qt->next = k;
	else
		c->qh = k;
	c->qt = k;
	c->qlen++;
	pump(c);
}

static void on_chend(struct router *r, struct front *f, struct wire_msg *m)
{
	struct chan *c = msg_chan(m);

	(void)r;
	if (!c || !is_ep(c, CHAN_WRITE, f, wire_id(m, 0)))
		return;
	c->w_ended = 1;
	c->ep[CHAN_WRITE].attached = 0;
	pump(c);
}

static void on_chack(struct router *r, struct front *f, struct wire_msg *m)
{
	struct chan *c = msg_chan(m);
	char b[16];
	int n;

	(void)r;
	if (!c || !is_ep(c, CHAN_READ, f, wire_id(m, 0)) || m->body_len == 0 ||
	    m->body_len >= sizeof b)
		return;
	memcpy(b, m->body, m->body_len);
	b[m->body_len] = '\0';
	n = atoi(b);
	if (n <= 0)
		return;
	if (n > c->inflight)
		n = c->inflight;
	c->inflight -= n;
	credit(c, n);
	pump(c);
}

/* The reader went away (or a front's body feeder gave up: same as an end). */
static void on_chgone(struct router *r, struct front *f, struct wire_msg *m)
{
	struct chan *c = msg_chan(m);

	if (!c)
		return;
	if (is_ep(c, CHAN_READ, f, wire_id(m, 0))) {
		c->ep[CHAN_READ].attached = 0;
		chan_drop(r, c);
	} else if (is_ep(c, CHAN_WRITE, f, wire_id(m, 0))) {
		on_chend(r, f, m);
	}
}

/* Few channels live at once: a scan per departing worker is cheap. */
void chan_worker_gone(struct router *r, const char *worker_id)
{
	const char *k;
	void *v;

	for (;;) {
		struct chan *found = NULL;
		for (size_t i = 0; hmap_next(&C.chans, &i, &k, &v);) {
			struct chan *c = v;
			if (c->owner[0] && strcmp(c->owner, worker_id) == 0) {
				found = c;
				break;
			}
		}
		if (!found)
			break;
		log_debug("channel %s: owner worker %s left", found->id, worker_id);
		chan_drop(r, found);	/* may drop its pair too: rescan */
	}
}

/* engine::channels::create {buffer_size?: 64, at most 1024} -> {writer, reader}. */
static void bi_channels_create(struct router *r, struct worker *caller, json_object *data,
			       json_object **result, json_object **error)
{
	json_object *v;
	int64_t bs = 64;
	struct chan *c;

	if (data && json_object_is_type(data, json_type_object) &&
	    json_object_object_get_ex(data, "buffer_size", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1) {
			*error = builtin_error("invalid_argument",
					       "buffer_size must be a positive integer (at most 1024)");
			return;
		}
		bs = json_object_get_int64(v);
		if (bs > 1024)
			bs = 1024;
	}
	c = chan_create(r, caller ? caller->id : NULL, (int)bs);
	if (!c) {
		*error = builtin_error("internal_error", "out of memory");
		return;
	}
	*result = json_object_new_object();
	json_object_object_add(*result, "writer", chan_ref(c, CHAN_WRITE));
	json_object_object_add(*result, "reader", chan_ref(c, CHAN_READ));
}

void chan_init(struct router *r)
{
	C.r = r;
	hmap_init(&C.chans);
	builtin_add("engine::channels::create", bi_channels_create);
	router_on_kind("chatt", on_chatt);
	router_on_kind("chd", on_chd);
	router_on_kind("chend", on_chend);
	router_on_kind("chack", on_chack);
	router_on_kind("chgone", on_chgone);
}

void chan_free_all(struct router *r)
{
	const char *k;
	void *v;

	(void)r;
	for (size_t i = 0; hmap_next(&C.chans, &i, &k, &v); i = 0)
		chan_destroy(v);
	hmap_free(&C.chans);
}
