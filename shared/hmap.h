/*
 * hmap — a string-keyed hash map for tables with heavy insert/delete churn
 * (invocations in flight). Open addressing with linear probing and
 * backward-shift deletion: no tombstones, so lookups stay short however many
 * entries come and go. The map does not own keys or values; a key must stay
 * valid while its entry is in the map (it usually lives in the value).
 */
#ifndef TRINE_HMAP_H
#define TRINE_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hmap_ent {
	uint64_t hash;		/* 0 = empty slot */
	const char *key;
	void *val;
};

struct hmap {
	struct hmap_ent *tab;
	size_t cap;		/* power of two */
	size_t n;
};

void hmap_init(struct hmap *m);
void hmap_free(struct hmap *m);
/* Insert or replace. 0, or -1 when out of memory. */
int hmap_put(struct hmap *m, const char *key, void *val);
void *hmap_get(const struct hmap *m, const char *key);
/* Remove and return the value, NULL if absent. */
void *hmap_del(struct hmap *m, const char *key);
static inline size_t hmap_len(const struct hmap *m) { return m->n; }

/*
 * Iterate: for (size_t i = 0; hmap_next(m, &i, &k, &v); ) ... Deleting the
 * entry just returned is allowed when the loop then revisits index i - 1:
 * use hmap_next_del() for that pattern, or collect first.
 */
int hmap_next(const struct hmap *m, size_t *i, const char **key, void **val);

#endif
