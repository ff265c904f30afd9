/* fan_index and fan_msg: the fanout's subscription index, ordering rule and client messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "fan_index.h"
#include "fan_msg.h"

static struct fan_sub *mksub(const char *stream, const char *group, const char *item)
{
	struct fan_sub *s = calloc(1, sizeof *s);
	s->stream = strdup(stream);
	s->group = strdup(group);
	s->item = item ? strdup(item) : NULL;
	s->sid = strdup("x");
	return s;
}

static void freesub(struct fan_sub *s)
{
	free(s->stream);
	free(s->group);
	free(s->item);
	free(s->sid);
	free(s);
}

static void test_groups_and_topics(void **st)
{
	struct fan_index x;
	struct fan_sub *a = mksub("s", "g", NULL), *b = mksub("s", "g", "i"), *c = mksub("s", "h", NULL);
	char *topic;
	size_t tl;
	(void)st;
	assert_int_equal(fan_index_init(&x), 0);
	assert_int_equal(fan_index_add(&x, a), 1);
	assert_int_equal(fan_index_add(&x, b), 0);
	assert_int_equal(fan_index_add(&x, c), 1);
	assert_ptr_equal(fan_index_find_topic(&x, "s\0g\0", 4), a->g);
	assert_null(fan_index_find_topic(&x, "s\0gg\0", 5));
	assert_null(fan_index_find_topic(&x, "sg", 2));
	assert_int_equal(fan_index_remove(&x, a, &topic, &tl), 0);
	assert_int_equal(fan_index_remove(&x, b, &topic, &tl), 1);
	assert_int_equal(tl, 4);
	assert_memory_equal(topic, "s\0g\0", 4);
	free(topic);
	assert_null(fan_index_find_topic(&x, "s\0g\0", 4));
	fan_index_free(&x);
	freesub(a);
	freesub(b);
	freesub(c);
}

static int delivered[16], ndel;
static void deliver(void *arg, struct fan_sub *s, const struct fan_event *ev)
{
	(void)arg;
	(void)s;
	delivered[ndel++] = (int)ev->seq;
}

static void test_sync_then_live_no_gap_no_dup(void **st)
{
	struct fan_index x;
	struct fan_sub *s = mksub("s", "g", NULL), *it = mksub("s", "g", "i");
	struct fan_blob *b = fan_blob_new("f", 1);
	(void)st;
	fan_index_init(&x);
	fan_index_add(&x, s);
	fan_index_add(&x, it);
	fan_group_set_epoch(s->g, 7);
	/* events 5..7 arrive before the sync that covers up to 5 */
	for (uint64_t q = 5; q <= 7; q++) {
		fan_group_record(s->g, q, q == 6 ? "i" : "j", 1, b, b);
		assert_int_equal(fan_sub_offer(s, q, "j", 1), FAN_SKIP);	/* not live yet */
	}
	ndel = 0;
	assert_int_equal(fan_sub_synced(s, 5, deliver, NULL), 0);
	assert_int_equal(ndel, 2);
	assert_int_equal(delivered[0], 6);
	assert_int_equal(delivered[1], 7);
	assert_int_equal(fan_sub_offer(s, 7, NULL, 0), FAN_SKIP);	/* duplicate */
	assert_int_equal(fan_sub_offer(s, 8, NULL, 0), FAN_DELIVER);
	assert_int_equal(fan_sub_offer(s, 10, NULL, 0), FAN_GAP);
	/* item subscription: only its item, but it advances on every event */
	ndel = 0;
	assert_int_equal(fan_sub_synced(it, 4, deliver, NULL), 0);
	assert_int_equal(ndel, 1);	/* 5..7 replayed, only item i's event delivered */
	assert_int_equal(delivered[0], 6);
	assert_int_equal(it->last, 7);
	fan_index_free(&x);
	fan_blob_unref(b);
	freesub(s);
	freesub(it);
}

static void test_item_filter_and_missing_ring(void **st)
{
	struct fan_index x;
	struct fan_sub *it = mksub("s", "g", "i");
	struct fan_blob *b = fan_blob_new("f", 1);
	(void)st;
	fan_index_init(&x);
	fan_index_add(&x, it);
	fan_group_record(it->g, 3, "i", 1, b, b);
	fan_group_record(it->g, 4, "k", 1, b, b);
	ndel = 0;
	assert_int_equal(fan_sub_synced(it, 2, deliver, NULL), 0);
	assert_int_equal(ndel, 1);
	assert_int_equal(delivered[0], 3);
	assert_int_equal(it->last, 4);
	assert_int_equal(fan_sub_offer(it, 5, "k", 1), FAN_SKIP);
	assert_int_equal(fan_sub_offer(it, 6, "i", 1), FAN_DELIVER);
	/* a sync older than the ring's first event cannot be completed */
	it->live = 0;
	assert_int_equal(fan_sub_synced(it, 1, deliver, NULL), -1);
	fan_index_free(&x);
	fan_blob_unref(b);
	freesub(it);
}

static void test_messages_both_dialects(void **st)
{
	struct fan_msg m;
	const char *cur = "{\"type\":\"join\",\"data\":{\"subscriptionId\":\"s1\",\"streamName\":\"t\",\"groupId\":\"g\",\"id\":\"i\"}}";
	const char *old = "{\"type\":\"Join\",\"subscription_id\":\"s2\",\"stream_name\":\"t\",\"group_id\":\"g\"}";
	(void)st;
	assert_int_equal(fan_msg_parse(cur, strlen(cur), 64, &m), FAN_MSG_JOIN);
	assert_int_equal(m.old, 0);
	assert_string_equal(m.sid, "s1");
	assert_string_equal(m.id, "i");
	fan_msg_free(&m);
	assert_int_equal(fan_msg_parse(old, strlen(old), 64, &m), FAN_MSG_JOIN);
	assert_int_equal(m.old, 1);
	assert_null(m.id);
	fan_msg_free(&m);
	assert_int_equal(fan_msg_parse("{\"type\":\"Leave\",\"subscription_id\":\"s2\"}", strlen("{\"type\":\"Leave\",\"subscription_id\":\"s2\"}"), 64, &m), FAN_MSG_LEAVE);
	fan_msg_free(&m);
	assert_int_equal(fan_msg_parse("{\"type\":\"join\",\"data\":{\"subscriptionId\":\"s\"}}", strlen("{\"type\":\"join\",\"data\":{\"subscriptionId\":\"s\"}}"), 64, &m), FAN_MSG_IGNORE);
	assert_int_equal(fan_msg_parse("nope", strlen("nope"), 64, &m), FAN_MSG_IGNORE);
	assert_int_equal(fan_msg_parse("{\"type\":\"join\",\"data\":[]}", strlen("{\"type\":\"join\",\"data\":[]}"), 64, &m), FAN_MSG_IGNORE);
	assert_int_equal(fan_msg_parse("[[[[[[[[[[", strlen("[[[[[[[[[["), 4, &m), FAN_MSG_IGNORE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_groups_and_topics),
		cmocka_unit_test(test_sync_then_live_no_gap_no_dup),
		cmocka_unit_test(test_item_filter_and_missing_ring),
		cmocka_unit_test(test_messages_both_dialects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
