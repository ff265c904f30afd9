/*
 * pubsub — non-durable publish/subscribe (reference §6.4): the `subscribe`
 * trigger kind {topic} and the `publish` function {topic, data}. Every
 * binding subscribed to the topic gets the raw data, fire-and-forget; nothing
 * is kept. Each binding is its own subscription: removing one leaves the
 * others (the reference's local adapter drops them all).
 */
#include "pubsub.h"
#include "builtin.h"
#include "inv.h"
#include "log.h"
#include "reg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pubsub_topic {
	char *name;
	struct trigger **subs;		/* in subscription order */
	size_t n, cap;
};

static struct lh_table *topics;	/* name -> struct pubsub_topic * */

static void nofree(struct lh_entry *e)
{
	(void)e;
}

static const char *jstr(json_object *o, const char *k)
{
	json_object *v;
	return o && json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string) ?
		json_object_get_string(v) : NULL;
}

static void topic_free(struct pubsub_topic *tp)
{
	lh_table_delete(topics, tp->name);
	free(tp->subs);
	free(tp->name);
	free(tp);
}

static int pubsub_add(struct router *r, struct trigger *t, char *err, size_t errlen)
{
	const char *name = jstr(t->config, "topic");
	struct pubsub_topic *tp;
	void *v;

	(void)r;
	if (!name || !*name) {
		snprintf(err, errlen, "Topic is required (config {\"topic\": \"...\"})");
		return -1;
	}
	if (lh_table_lookup_ex(topics, name, &v)) {
		tp = v;
	} else {
		tp = calloc(1, sizeof *tp);
		if (!tp || !(tp->name = strdup(name))) {
			free(tp);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		lh_table_insert(topics, tp->name, tp);
	}
	if (tp->n == tp->cap) {
		size_t cap = tp->cap ? tp->cap * 2 : 4;
		struct trigger **s = realloc(tp->subs, cap * sizeof *s);
		if (!s) {
			if (tp->n == 0)
				topic_free(tp);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		tp->subs = s;
		tp->cap = cap;
	}
	tp->subs[tp->n++] = t;
	t->state = tp;
	return 0;
}

static void pubsub_remove(struct router *r, struct trigger *t)
{
	struct pubsub_topic *tp = t->state;

	(void)r;
	if (!tp)
		return;
	t->state = NULL;
	for (size_t i = 0; i < tp->n; i++) {
		if (tp->subs[i] != t)
			continue;
		memmove(&tp->subs[i], &tp->subs[i + 1], (tp->n - i - 1) * sizeof *tp->subs);
		tp->n--;
		break;
	}
	if (tp->n == 0)
		topic_free(tp);
}

/* publish {topic, data} -> null, after handing data to every subscriber. */
static void bi_publish(struct router *r, struct worker *caller, json_object *data,
		       json_object **result, json_object **error)
{
	const char *name = jstr(data, "topic");
	json_object *payload = NULL;
	struct pubsub_topic *tp;
	void *v;

	(void)caller;
	(void)result;
	if (!name || !*name) {
		*error = builtin_error("topic_not_set", "publish needs {\"topic\": \"...\", \"data\": ...}");
		return;
	}
	if (!lh_table_lookup_ex(topics, name, &v))
		return;		/* nobody listens: the message is gone, as in the reference */
	tp = v;
	json_object_object_get_ex(data, "data", &payload);
	/* ids are copied first: a built-in subscriber could change the list */
	size_t n = tp->n;
	char **fns = calloc(n, sizeof *fns);
	if (!fns) {
		*error = builtin_error("invocation_error", "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++)
		fns[i] = strdup(tp->subs[i]->function_id);
	for (size_t i = 0; i < n; i++) {
		if (fns[i])
			inv_start(r, NULL, NULL, 0, fns[i], payload, NULL, NULL, NULL);
		free(fns[i]);
	}
	free(fns);
}

static const struct trigkind subscribe_kind = {
	"subscribe", "Fires a function for each message published to a topic",
	pubsub_add, pubsub_remove,
};

void pubsub_init(struct router *r)
{
	topics = lh_kchar_table_new(64, nofree);
	reg_trigkind_add(r, &subscribe_kind);
	builtin_add("publish", bi_publish);
}

/* Bindings forget their topics; the registry frees the bindings. */
void pubsub_free(struct router *r)
{
	struct lh_entry *e, *tmp;

	(void)r;
	lh_foreach_safe(topics, e, tmp) {
		struct pubsub_topic *tp = (struct pubsub_topic *)lh_entry_v(e);
		for (size_t i = 0; i < tp->n; i++)
			tp->subs[i]->state = NULL;
		topic_free(tp);
	}
	lh_table_free(topics);
	topics = NULL;
}
