/*
 * store — the router's durable storage: one LMDB environment under data_dir
 * with named databases (cron, topics, streams, state, ...). Only the router
 * writes. Writes go into one open write transaction that is committed once
 * per event-loop turn (group commit); code that must not answer before its
 * data is on disk registers an after-commit callback.
 */
#ifndef TRINE_STORE_H
#define TRINE_STORE_H

#include <stddef.h>

struct store;
struct event_base;

#define STORE_FORMAT "trine-store-1"

/*
 * Open (create) the environment in dir. Refuses, with a clear message in err,
 * a directory written by an incompatible format version. map_size is the
 * largest the data may grow (bytes).
 */
struct store *store_open(struct event_base *base, const char *dir, size_t map_size,
			 char *err, size_t errlen);
/* Commits what is pending, then closes; sets *sp to NULL. */
void store_close(struct store **sp);

/*
 * Writes: queued in the turn's transaction, visible to store_get at once,
 * durable after the commit. Return 0, or -1 (logged) when LMDB fails (map full).
 */
int store_put(struct store *s, const char *db, const void *key, size_t klen,
	      const void *val, size_t vlen);
int store_del(struct store *s, const char *db, const void *key, size_t klen);
/* Delete every key that starts with prefix. */
int store_del_prefix(struct store *s, const char *db, const void *prefix, size_t plen);

/*
 * Read one value: 0 with *val (malloc'ed copy, caller frees) and *vlen, 1 when
 * absent, -1 on error.
 */
int store_get(struct store *s, const char *db, const void *key, size_t klen,
	      void **val, size_t *vlen);

/*
 * Visit keys starting with prefix in key order (plen 0 = all). fn returns 0
 * to go on, non-zero to stop. The pointers are valid only during the call,
 * and fn must not write to the store.
 */
typedef int (*store_visit_fn)(void *arg, const void *key, size_t klen,
			      const void *val, size_t vlen);
int store_foreach(struct store *s, const char *db, const void *prefix, size_t plen,
		  store_visit_fn fn, void *arg);

/*
 * Run fn(arg, ok) once the writes made so far are committed (ok = 1) or
 * failed (ok = 0). If nothing is pending it still runs, at the next commit.
 */
typedef void (*store_done_fn)(void *arg, int ok);
void store_after_commit(struct store *s, store_done_fn fn, void *arg);

/* 1 when writes wait for this turn's commit. */
int store_pending(const struct store *s);

/* Commit now (also done automatically at the end of the loop turn). 0 or -1. */
int store_commit(struct store *s);

#endif
