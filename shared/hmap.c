#include "hmap.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a, never 0 (0 marks an empty slot). */
static uint64_t hmap_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ULL;
	}
	h ^= h >> 29;
	return h ? h : 1;
}

void hmap_init(struct hmap *m)
{
	memset(m, 0, sizeof *m);
}

void hmap_free(struct hmap *m)
{
	free(m->tab);
	memset(m, 0, sizeof *m);
}

static int hmap_grow(struct hmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 16;
	struct hmap_ent *tab = calloc(cap, sizeof *tab);

	if (!tab)
		return -1;
	for (size_t i = 0; i < m->cap; i++) {
		struct hmap_ent *e = &m->tab[i];
		if (!e->hash)
			continue;
		size_t j = e->hash & (cap - 1);
		while (tab[j].hash)
			j = (j + 1) & (cap - 1);
		tab[j] = *e;
	}
	free(m->tab);
	m->tab = tab;
	m->cap = cap;
	return 0;
}

static struct hmap_ent *hmap_find(const struct hmap *m, const char *key, uint64_t h)
{
	if (!m->cap)
		return NULL;
	for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		struct hmap_ent *e = &m->tab[i];
		if (!e->hash)
			return NULL;
		if (e->hash == h && strcmp(e->key, key) == 0)
			return e;
	}
}

int hmap_put(struct hmap *m, const char *key, void *val)
{
	uint64_t h = hmap_hash(key);
	struct hmap_ent *e = hmap_find(m, key, h);

	if (e) {
		e->key = key;
		e->val = val;
		return 0;
	}
	if ((m->n + 1) * 4 > m->cap * 3 && hmap_grow(m) < 0)	/* load <= 0.75 */
		return -1;
	size_t i = h & (m->cap - 1);
	while (m->tab[i].hash)
		i = (i + 1) & (m->cap - 1);
	m->tab[i].hash = h;
	m->tab[i].key = key;
	m->tab[i].val = val;
	m->n++;
	return 0;
}

void *hmap_get(const struct hmap *m, const char *key)
{
	struct hmap_ent *e = hmap_find(m, key, hmap_hash(key));
	return e ? e->val : NULL;
}

void *hmap_del(struct hmap *m, const char *key)
{
	struct hmap_ent *e = hmap_find(m, key, hmap_hash(key));
	void *val;
	size_t i, j, mask = m->cap - 1;

	if (!e)
		return NULL;
	val = e->val;
	/* backward shift: pull later entries of the probe run into the hole */
	i = (size_t)(e - m->tab);
	for (j = (i + 1) & mask; m->tab[j].hash; j = (j + 1) & mask) {
		size_t home = m->tab[j].hash & mask;
		/* move j to i unless its home lies cyclically in (i, j] */
		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			m->tab[i] = m->tab[j];
			i = j;
		}
	}
	memset(&m->tab[i], 0, sizeof m->tab[i]);
	m->n--;
	return val;
}

int hmap_next(const struct hmap *m, size_t *i, const char **key, void **val)
{
	while (*i < m->cap) {
		struct hmap_ent *e = &m->tab[(*i)++];
		if (e->hash) {
			if (key)
				*key = e->key;
			if (val)
				*val = e->val;
			return 1;
		}
	}
	return 0;
}
