/*
 * fan_msg — the stream client's messages, in both dialects (sdk-wire.md §7):
 *   current: {"type":"join"|"leave","data":{"subscriptionId","streamName","groupId","id"?}}
 *   older:   {"type":"Join","subscription_id","stream_name","group_id","id"?},
 *            {"type":"Leave","subscription_id"}
 * Pure: text in, fields out. Anything else is ignored, as the reference does.
 */
#ifndef TRINE_FAN_MSG_H
#define TRINE_FAN_MSG_H

#include <stddef.h>

enum fan_msg_kind { FAN_MSG_IGNORE, FAN_MSG_JOIN, FAN_MSG_LEAVE };

struct fan_msg {
	enum fan_msg_kind kind;
	int old;			/* older dialect */
	char *sid, *stream, *group, *id;	/* owned; id NULL = whole group */
};

/* Parse one text frame. Returns the kind (also in m->kind). */
enum fan_msg_kind fan_msg_parse(const char *text, size_t len, int max_depth, struct fan_msg *m);
void fan_msg_free(struct fan_msg *m);

#endif
