#include "fan_msg.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

/* A copy of a string field without embedded NULs, or NULL. */
static char *sdup(json_object *o, const char *k)
{
	json_object *v;
	if (!o || !json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	const char *s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v))
		return NULL;
	return strdup(s);
}

enum fan_msg_kind fan_msg_parse(const char *text, size_t len, int max_depth, struct fan_msg *m)
{
	json_tokener *tok = json_tokener_new_ex(max_depth + 1);
	json_object *o = NULL, *t, *d;
	const char *type;

	memset(m, 0, sizeof *m);
	if (tok) {
		o = json_tokener_parse_ex(tok, text, (int)len);
		json_tokener_free(tok);
	}
	if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "type", &t) ||
	    !json_object_is_type(t, json_type_string))
		goto out;
	type = json_object_get_string(t);
	if (strcmp(type, "join") == 0 || strcmp(type, "leave") == 0) {
		if (!json_object_object_get_ex(o, "data", &d) || !json_object_is_type(d, json_type_object))
			goto out;
		m->sid = sdup(d, "subscriptionId");
		m->stream = sdup(d, "streamName");
		m->group = sdup(d, "groupId");
		m->id = sdup(d, "id");
		m->kind = type[0] == 'j' ? FAN_MSG_JOIN : FAN_MSG_LEAVE;
	} else if (strcmp(type, "Join") == 0 || strcmp(type, "Leave") == 0) {
		m->old = 1;
		m->sid = sdup(o, "subscription_id");
		m->stream = sdup(o, "stream_name");
		m->group = sdup(o, "group_id");
		m->id = sdup(o, "id");
		m->kind = type[0] == 'J' ? FAN_MSG_JOIN : FAN_MSG_LEAVE;
	}
	/* a join needs all three names; a leave needs the subscription id */
	if (!m->sid || (m->kind == FAN_MSG_JOIN && (!m->stream || !m->group))) {
		fan_msg_free(m);
		m->kind = FAN_MSG_IGNORE;
	}
out:
	json_object_put(o);
	return m->kind;
}

void fan_msg_free(struct fan_msg *m)
{
	free(m->sid);
	free(m->stream);
	free(m->group);
	free(m->id);
	m->sid = m->stream = m->group = m->id = NULL;
}
