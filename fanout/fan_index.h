/*
 * fan_index — a fanout's subscription index: stream groups -> subscriptions,
 * the per-group ring of recent events, and the ordering rule that keeps the
 * sync and the live events of one subscription free of gaps and duplicates.
 * Pure (no I/O): fanout.c does the sockets; this file is unit-tested.
 *
 * Ordering: the router numbers the events of each group (seq, from 1 in each
 * router epoch) and says which seq a snapshot includes. A subscription
 * applies event seq only when seq == last + 1; older ones are duplicates,
 * a jump is a gap and the subscription asks for a new sync. Events that
 * arrive before the sync wait in the group's ring.
 */
#ifndef TRINE_FAN_INDEX_H
#define TRINE_FAN_INDEX_H

#include <stddef.h>
#include <stdint.h>

#define FAN_RING 256

/* Reference-counted bytes shared by every connection that sends them. */
struct fan_blob {
	unsigned refs;
	size_t len;
	char data[];
};
struct fan_blob *fan_blob_new(const void *p, size_t len);	/* refs = 1 */
void fan_blob_unref(struct fan_blob *b);

struct fan_event {
	uint64_t seq;
	char *item;			/* NULL = no item id */
	struct fan_blob *frame[2];	/* [0] current dialect, [1] older dialect */
};

struct fan_group;

struct fan_sub {
	char *sid;			/* subscription id */
	char *stream, *group;
	char *item;			/* NULL = the whole group */
	int old;			/* answered in the older dialect */
	int live;			/* 0 = waiting for its sync */
	uint64_t last;			/* last seq applied */
	uint64_t rid;			/* request id of the pending sync */
	void *conn;			/* owner, opaque here */
	struct fan_group *g;
	size_t gpos;
};

struct fan_group {
	char *key;			/* "stream\x01group" */
	char *topic;			/* "stream\0group\0": the ZeroMQ topic */
	size_t topic_len;
	uint64_t epoch;			/* router epoch of seq numbers below */
	struct fan_sub **subs;
	size_t n, cap;
	struct fan_event ring[FAN_RING];
	size_t ring_start, ring_n;	/* oldest entry, count */
};

struct lh_table;
struct fan_index {
	struct lh_table *groups;	/* key -> struct fan_group * */
};

int fan_index_init(struct fan_index *x);
void fan_index_free(struct fan_index *x);	/* groups and rings; subs belong to their owners */

/* The group for topic bytes "stream\0group\0", NULL if none. */
struct fan_group *fan_index_find_topic(struct fan_index *x, const void *topic, size_t len);

/*
 * Add s (stream, group set) to its group. Returns 1 when the group is new
 * (subscribe to its topic), 0, or -1 when out of memory.
 */
int fan_index_add(struct fan_index *x, struct fan_sub *s);
/* Remove s; returns 1 when its group is now empty and freed (unsubscribe *topic first). */
int fan_index_remove(struct fan_index *x, struct fan_sub *s, char **topic, size_t *topic_len);

/* Record an event in the group's ring (takes references on the blobs). */
void fan_group_record(struct fan_group *g, uint64_t seq, const char *item, size_t item_len,
		      struct fan_blob *fnew, struct fan_blob *fold);
/* A new router epoch: forget the ring. */
void fan_group_set_epoch(struct fan_group *g, uint64_t epoch);

enum fan_verdict {
	FAN_SKIP,		/* not for this subscription (duplicate, waiting, other item) */
	FAN_DELIVER,		/* write the frame */
	FAN_GAP,		/* missed events: ask for a new sync */
};
/* What subscription s does with event (seq, item); advances s->last. */
enum fan_verdict fan_sub_offer(struct fan_sub *s, uint64_t seq, const char *item, size_t item_len);

/*
 * s's sync covering up to seq arrived: s goes live. Calls deliver for each
 * ring event newer than seq (in order) that s must still get, and returns 0;
 * returns -1 (s stays waiting) when the ring lacks events after seq.
 */
int fan_sub_synced(struct fan_sub *s, uint64_t seq,
		   void (*deliver)(void *arg, struct fan_sub *s, const struct fan_event *ev), void *arg);

#endif
