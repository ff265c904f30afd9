#include "fan_index.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

struct fan_blob *fan_blob_new(const void *p, size_t len)
{
	struct fan_blob *b = malloc(sizeof *b + len);
	if (!b)
		return NULL;
	b->refs = 1;
	b->len = len;
	memcpy(b->data, p, len);
	return b;
}

void fan_blob_unref(struct fan_blob *b)
{
	if (b && --b->refs == 0)
		free(b);
}

static void ev_clear(struct fan_event *e)
{
	free(e->item);
	fan_blob_unref(e->frame[0]);
	fan_blob_unref(e->frame[1]);
	memset(e, 0, sizeof *e);
}

static void ring_clear(struct fan_group *g)
{
	for (size_t i = 0; i < g->ring_n; i++)
		ev_clear(&g->ring[(g->ring_start + i) % FAN_RING]);
	g->ring_start = g->ring_n = 0;
}

static void group_free(struct fan_group *g)
{
	ring_clear(g);
	free(g->subs);
	free(g->topic);
	free(g->key);
	free(g);
}

static void entry_free(struct lh_entry *e)
{
	group_free((struct fan_group *)lh_entry_v(e));
}

int fan_index_init(struct fan_index *x)
{
	x->groups = lh_kchar_table_new(256, entry_free);
	return x->groups ? 0 : -1;
}

void fan_index_free(struct fan_index *x)
{
	if (x->groups)
		lh_table_free(x->groups);
	x->groups = NULL;
}

/* "stream\x01group" from topic bytes "stream\0group\0"; NULL if malformed. */
static char *key_of_topic(const char *t, size_t len)
{
	const char *z1 = memchr(t, '\0', len);
	if (!z1 || len < 2 || t[len - 1] != '\0' || memchr(z1 + 1, '\0', len - (size_t)(z1 + 1 - t) - 1))
		return NULL;
	char *k = malloc(len);
	if (!k)
		return NULL;
	memcpy(k, t, len);
	k[z1 - t] = '\x01';
	return k;
}

struct fan_group *fan_index_find_topic(struct fan_index *x, const void *topic, size_t len)
{
	char *k = key_of_topic(topic, len);
	void *v = NULL;
	int found = k && lh_table_lookup_ex(x->groups, k, &v);
	free(k);
	return found ? v : NULL;
}

int fan_index_add(struct fan_index *x, struct fan_sub *s)
{
	size_t a = strlen(s->stream), b = strlen(s->group);
	char *topic = malloc(a + b + 2), *key;
	struct fan_group *g;
	void *v;
	int created = 0;

	if (!topic)
		return -1;
	memcpy(topic, s->stream, a + 1);
	memcpy(topic + a + 1, s->group, b + 1);
	key = key_of_topic(topic, a + b + 2);
	if (!key) {
		free(topic);
		return -1;
	}
	if (lh_table_lookup_ex(x->groups, key, &v)) {
		g = v;
		free(key);
		free(topic);
	} else {
		g = calloc(1, sizeof *g);
		if (!g) {
			free(key);
			free(topic);
			return -1;
		}
		g->key = key;
		g->topic = topic;
		g->topic_len = a + b + 2;
		if (lh_table_insert(x->groups, g->key, g) < 0) {
			group_free(g);
			return -1;
		}
		created = 1;
	}
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 4;
		struct fan_sub **n = realloc(g->subs, cap * sizeof *n);
		if (!n) {
			if (created)
				lh_table_delete(x->groups, g->key);
			return -1;
		}
		g->subs = n;
		g->cap = cap;
	}
	s->g = g;
	s->gpos = g->n;
	g->subs[g->n++] = s;
	return created;
}

int fan_index_remove(struct fan_index *x, struct fan_sub *s, char **topic, size_t *topic_len)
{
	struct fan_group *g = s->g;

	if (!g)
		return 0;
	/* swap with the last: delivery order between subscriptions does not matter */
	g->subs[s->gpos] = g->subs[g->n - 1];
	g->subs[s->gpos]->gpos = s->gpos;
	g->n--;
	s->g = NULL;
	if (g->n > 0)
		return 0;
	*topic = g->topic;
	*topic_len = g->topic_len;
	g->topic = NULL;
	lh_table_delete(x->groups, g->key);
	return 1;
}

void fan_group_record(struct fan_group *g, uint64_t seq, const char *item, size_t item_len,
		      struct fan_blob *fnew, struct fan_blob *fold)
{
	struct fan_event *e;

	if (g->ring_n == FAN_RING) {
		ev_clear(&g->ring[g->ring_start]);
		g->ring_start = (g->ring_start + 1) % FAN_RING;
		g->ring_n--;
	}
	e = &g->ring[(g->ring_start + g->ring_n) % FAN_RING];
	e->seq = seq;
	e->item = NULL;
	if (item && item_len) {
		e->item = malloc(item_len + 1);
		if (e->item) {
			memcpy(e->item, item, item_len);
			e->item[item_len] = '\0';
		}
	}
	e->frame[0] = fnew;
	e->frame[1] = fold;
	if (fnew)
		fnew->refs++;
	if (fold)
		fold->refs++;
	g->ring_n++;
}

void fan_group_set_epoch(struct fan_group *g, uint64_t epoch)
{
	if (g->epoch == epoch)
		return;
	ring_clear(g);
	g->epoch = epoch;
}

static int item_matches(const struct fan_sub *s, const char *item, size_t item_len)
{
	return !s->item || (item && strlen(s->item) == item_len && memcmp(s->item, item, item_len) == 0);
}

enum fan_verdict fan_sub_offer(struct fan_sub *s, uint64_t seq, const char *item, size_t item_len)
{
	if (!s->live || seq <= s->last)
		return FAN_SKIP;
	if (seq != s->last + 1)
		return FAN_GAP;
	s->last = seq;
	return item_matches(s, item, item_len) ? FAN_DELIVER : FAN_SKIP;
}

int fan_sub_synced(struct fan_sub *s, uint64_t seq,
		   void (*deliver)(void *arg, struct fan_sub *s, const struct fan_event *ev), void *arg)
{
	struct fan_group *g = s->g;
	size_t first = g ? g->ring_n : 0;

	if (g) {
		for (size_t i = 0; i < g->ring_n; i++) {
			if (g->ring[(g->ring_start + i) % FAN_RING].seq > seq) {
				first = i;
				break;
			}
		}
		if (first < g->ring_n && g->ring[(g->ring_start + first) % FAN_RING].seq != seq + 1)
			return -1;	/* the events right after the snapshot are gone */
	}
	s->live = 1;
	s->last = seq;
	for (size_t i = first; g && i < g->ring_n; i++) {
		const struct fan_event *e = &g->ring[(g->ring_start + i) % FAN_RING];
		if (e->seq != s->last + 1)
			break;
		s->last = e->seq;
		if (item_matches(s, e->item, e->item ? strlen(e->item) : 0))
			deliver(arg, s, e);
	}
	return 0;
}
