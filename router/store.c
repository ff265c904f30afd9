#include "store.h"
#include "log.h"

#include <errno.h>
#include <event2/event.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define STORE_MAX_DBS 32

struct store_cb {
	store_done_fn fn;
	void *arg;
};

struct store {
	MDB_env *env;
	MDB_txn *wtxn;			/* open write transaction, or NULL */
	struct {
		char name[32];
		MDB_dbi dbi;
		int in_wtxn;		/* opened inside the uncommitted write txn */
	} dbs[STORE_MAX_DBS];
	int ndbs;
	struct event *commit_ev;
	struct store_cb *cbs;
	size_t ncbs, capcbs;
};

static void store_on_commit(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	store_commit(arg);
}

static void store_schedule(struct store *s)
{
	if (s->commit_ev)
		event_active(s->commit_ev, EV_TIMEOUT, 0);
}

static int store_begin(struct store *s)
{
	int rc;

	if (s->wtxn)
		return 0;
	rc = mdb_txn_begin(s->env, NULL, 0, &s->wtxn);
	if (rc) {
		log_error("store: cannot begin a write transaction: %s", mdb_strerror(rc));
		s->wtxn = NULL;
		return -1;
	}
	store_schedule(s);
	return 0;
}

/* The dbi for name, created when create is set (needs the write txn). */
static int store_dbi(struct store *s, const char *name, int create, MDB_dbi *dbi)
{
	MDB_txn *txn;
	int rc;

	for (int i = 0; i < s->ndbs; i++) {
		if (strcmp(s->dbs[i].name, name) == 0) {
			*dbi = s->dbs[i].dbi;
			/* a known database still needs this turn's write txn for writes */
			return create ? store_begin(s) : 0;
		}
	}
	if (s->ndbs == STORE_MAX_DBS || strlen(name) >= sizeof s->dbs[0].name)
		return -1;
	if (create) {
		if (store_begin(s) < 0)
			return -1;
		txn = s->wtxn;
	} else if (s->wtxn) {
		txn = s->wtxn;
	} else {
		/* a database never written does not exist yet: an empty one */
		if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)))
			return -1;
		rc = mdb_dbi_open(txn, name, 0, dbi);
		if (rc == 0) {
			rc = mdb_txn_commit(txn);	/* makes the handle usable after this txn */
			if (rc == 0) {
				snprintf(s->dbs[s->ndbs].name, sizeof s->dbs[0].name, "%s", name);
				s->dbs[s->ndbs].dbi = *dbi;
				s->dbs[s->ndbs].in_wtxn = 0;
				s->ndbs++;
			}
			return rc ? -1 : 0;
		}
		mdb_txn_abort(txn);
		return rc == MDB_NOTFOUND ? 1 : -1;
	}
	rc = mdb_dbi_open(txn, name, create ? MDB_CREATE : 0, dbi);
	if (rc == MDB_NOTFOUND)
		return 1;
	if (rc) {
		log_error("store: cannot open database %s: %s", name, mdb_strerror(rc));
		return -1;
	}
	snprintf(s->dbs[s->ndbs].name, sizeof s->dbs[0].name, "%s", name);
	s->dbs[s->ndbs].dbi = *dbi;
	s->dbs[s->ndbs].in_wtxn = 1;
	s->ndbs++;
	return 0;
}

static void store_run_cbs(struct store *s, int ok)
{
	/* callbacks may queue new writes and callbacks: run only the current ones */
	struct store_cb *cbs = s->cbs;
	size_t n = s->ncbs;

	s->cbs = NULL;
	s->ncbs = s->capcbs = 0;
	for (size_t i = 0; i < n; i++)
		cbs[i].fn(cbs[i].arg, ok);
	free(cbs);
}

int store_commit(struct store *s)
{
	int rc = 0, ok = 1;

	if (s->wtxn) {
		rc = mdb_txn_commit(s->wtxn);
		s->wtxn = NULL;
		if (rc) {
			log_error("store: commit failed: %s", mdb_strerror(rc));
			ok = 0;
			/* handles opened in the lost transaction are gone */
			int k = 0;
			for (int i = 0; i < s->ndbs; i++)
				if (!s->dbs[i].in_wtxn)
					s->dbs[k++] = s->dbs[i];
			s->ndbs = k;
		}
		for (int i = 0; i < s->ndbs; i++)
			s->dbs[i].in_wtxn = 0;
	}
	if (s->ncbs)
		store_run_cbs(s, ok);
	return ok ? 0 : -1;
}

void store_after_commit(struct store *s, store_done_fn fn, void *arg)
{
	if (s->ncbs == s->capcbs) {
		size_t cap = s->capcbs ? s->capcbs * 2 : 16;
		struct store_cb *p = realloc(s->cbs, cap * sizeof *p);
		if (!p) {
			fn(arg, 0);
			return;
		}
		s->cbs = p;
		s->capcbs = cap;
	}
	s->cbs[s->ncbs].fn = fn;
	s->cbs[s->ncbs].arg = arg;
	s->ncbs++;
	store_schedule(s);
}

int store_put(struct store *s, const char *db, const void *key, size_t klen,
	      const void *val, size_t vlen)
{
	MDB_dbi dbi;
	MDB_val k = { klen, (void *)key }, v = { vlen, (void *)val };
	int rc;

	if (store_dbi(s, db, 1, &dbi) != 0)
		return -1;
	rc = mdb_put(s->wtxn, dbi, &k, &v, 0);
	if (rc) {
		log_error("store: put in %s failed: %s", db, mdb_strerror(rc));
		return -1;
	}
	return 0;
}

int store_del(struct store *s, const char *db, const void *key, size_t klen)
{
	MDB_dbi dbi;
	MDB_val k = { klen, (void *)key };
	int rc;

	if (store_dbi(s, db, 1, &dbi) != 0)
		return -1;
	rc = mdb_del(s->wtxn, dbi, &k, NULL);
	if (rc && rc != MDB_NOTFOUND) {
		log_error("store: delete in %s failed: %s", db, mdb_strerror(rc));
		return -1;
	}
	return 0;
}

int store_del_prefix(struct store *s, const char *db, const void *prefix, size_t plen)
{
	MDB_dbi dbi;
	MDB_cursor *cur;
	MDB_val k = { plen, (void *)prefix }, v;
	int rc;

	if (store_dbi(s, db, 1, &dbi) != 0)
		return -1;
	if (mdb_cursor_open(s->wtxn, dbi, &cur))
		return -1;
	rc = mdb_cursor_get(cur, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST);
	while (rc == 0 && k.mv_size >= plen && (plen == 0 || memcmp(k.mv_data, prefix, plen) == 0)) {
		if (mdb_cursor_del(cur, 0))
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
		if (rc)	/* deleting the last item leaves the cursor past the end */
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	return 0;
}

/* A transaction to read with: the pending write txn, or a fresh read-only one. */
static MDB_txn *store_rtxn(struct store *s, int *own)
{
	MDB_txn *txn;

	if (s->wtxn) {
		*own = 0;
		return s->wtxn;
	}
	if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))
		return NULL;
	*own = 1;
	return txn;
}

int store_get(struct store *s, const char *db, const void *key, size_t klen,
	      void **val, size_t *vlen)
{
	MDB_dbi dbi;
	MDB_val k = { klen, (void *)key }, v;
	MDB_txn *txn;
	int own, rc, ret = -1;

	rc = store_dbi(s, db, 0, &dbi);
	if (rc)
		return rc;
	if (!(txn = store_rtxn(s, &own)))
		return -1;
	rc = mdb_get(txn, dbi, &k, &v);
	if (rc == MDB_NOTFOUND) {
		ret = 1;
	} else if (rc == 0) {
		*val = malloc(v.mv_size + 1);
		if (*val) {
			memcpy(*val, v.mv_data, v.mv_size);
			((char *)*val)[v.mv_size] = '\0';	/* handy for JSON text */
			*vlen = v.mv_size;
			ret = 0;
		}
	}
	if (own)
		mdb_txn_abort(txn);
	return ret;
}

int store_foreach(struct store *s, const char *db, const void *prefix, size_t plen,
		  store_visit_fn fn, void *arg)
{
	MDB_dbi dbi;
	MDB_cursor *cur;
	MDB_val k = { plen, (void *)prefix }, v;
	MDB_txn *txn;
	int own, rc;

	rc = store_dbi(s, db, 0, &dbi);
	if (rc)
		return rc < 0 ? -1 : 0;
	if (!(txn = store_rtxn(s, &own)))
		return -1;
	if (mdb_cursor_open(txn, dbi, &cur)) {
		if (own)
			mdb_txn_abort(txn);
		return -1;
	}
	rc = mdb_cursor_get(cur, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST);
	while (rc == 0 && k.mv_size >= plen && (plen == 0 || memcmp(k.mv_data, prefix, plen) == 0)) {
		if (fn(arg, k.mv_data, k.mv_size, v.mv_data, v.mv_size))
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (own)
		mdb_txn_abort(txn);
	return 0;
}

/* The on-disk format is versioned: never guess at a directory we cannot read. */
static int store_check_format(struct store *s, char *err, size_t errlen)
{
	void *v = NULL;
	size_t vl = 0;
	int rc = store_get(s, "meta", "format", 6, &v, &vl);

	if (rc < 0) {
		snprintf(err, errlen, "cannot read the store's format version");
		return -1;
	}
	if (rc == 1) {
		if (store_put(s, "meta", "format", 6, STORE_FORMAT, strlen(STORE_FORMAT)) < 0 ||
		    store_commit(s) < 0) {
			snprintf(err, errlen, "cannot write the store's format version");
			return -1;
		}
		return 0;
	}
	if (vl != strlen(STORE_FORMAT) || memcmp(v, STORE_FORMAT, vl) != 0) {
		snprintf(err, errlen, "the data directory was written in format '%.*s'; this trine "
			 "reads '%s' only (use the trine version that wrote it, or another data_dir)",
			 (int)(vl > 64 ? 64 : vl), (char *)v, STORE_FORMAT);
		free(v);
		return -1;
	}
	free(v);
	return 0;
}

struct store *store_open(struct event_base *base, const char *dir, size_t map_size,
			 char *err, size_t errlen)
{
	struct store *s = calloc(1, sizeof *s);
	char path[4096];
	int rc;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(path, sizeof path, "%s/store", dir);
	if (mkdir(path, 0750) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		free(s);
		return NULL;
	}
	if ((rc = mdb_env_create(&s->env)) ||
	    (rc = mdb_env_set_maxdbs(s->env, STORE_MAX_DBS)) ||
	    (rc = mdb_env_set_mapsize(s->env, map_size)) ||
	    (rc = mdb_env_open(s->env, path, MDB_NOTLS, 0640))) {
		snprintf(err, errlen, "cannot open the store in %s: %s", path, mdb_strerror(rc));
		if (s->env)
			mdb_env_close(s->env);
		free(s);
		return NULL;
	}
	/* readers left by a crashed router would pin old pages forever */
	int dead = 0;
	mdb_reader_check(s->env, &dead);
	if (store_check_format(s, err, errlen) < 0) {
		if (s->wtxn)
			mdb_txn_abort(s->wtxn);
		mdb_env_close(s->env);
		free(s);
		return NULL;
	}
	if (base)
		s->commit_ev = event_new(base, -1, 0, store_on_commit, s);
	return s;
}

void store_close(struct store **sp)
{
	struct store *s = *sp;

	if (!s)
		return;
	store_commit(s);
	if (s->commit_ev)
		event_free(s->commit_ev);
	mdb_env_close(s->env);
	free(s->cbs);
	free(s);
	*sp = NULL;
}

int store_pending(const struct store *s)
{
	return s && s->wtxn != NULL;
}
