#include "wire.h"
#include "log.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

uint64_t wire_id(const struct wire_msg *m, size_t i)
{
	const uint8_t *p = m->ids_raw + i * 8;
	uint64_t v = 0;
	for (int k = 0; k < 8; k++)
		v = (v << 8) | p[k];
	return v;
}

void wire_put_id(uint8_t out[8], uint64_t id)
{
	for (int k = 7; k >= 0; k--) {
		out[k] = (uint8_t)id;
		id >>= 8;
	}
}

int wire_parse(const struct wire_frame *f, size_t n, struct wire_msg *m)
{
	if (n < 4 || n > 5)
		return -1;
	if (f[0].len != 2 || memcmp(f[0].data, WIRE_VERSION, 2) != 0)
		return -1;
	if (f[1].len == 0 || f[1].len >= sizeof m->kind)
		return -1;
	for (size_t i = 0; i < f[1].len; i++) {
		char ch = ((const char *)f[1].data)[i];
		if (ch < 'a' || ch > 'z')
			return -1;
	}
	memcpy(m->kind, f[1].data, f[1].len);
	m->kind[f[1].len] = '\0';
	if (f[2].len % 8 != 0 || f[2].len / 8 > WIRE_MAX_IDS)
		return -1;
	m->nids = f[2].len / 8;
	m->ids_raw = f[2].data;
	m->body = f[3].data;
	m->body_len = f[3].len;
	m->key = n == 5 ? f[4].data : NULL;
	m->key_len = n == 5 ? f[4].len : 0;
	return 0;
}

void wire_msg_close(struct wire_msg *m)
{
	for (int i = 0; i < m->nparts; i++)
		zmq_msg_close(&m->parts[i]);
	m->nparts = 0;
}

int wire_recv(void *sock, int with_ident, struct wire_msg *m)
{
	struct wire_frame f[WIRE_MAX_PARTS];
	int more = 1, overflow = 0;
	size_t fi = 0;

	memset(m, 0, offsetof(struct wire_msg, parts));
	m->nparts = 0;
	while (more) {
		zmq_msg_t part;
		zmq_msg_init(&part);
		if (zmq_msg_recv(&part, sock, m->nparts == 0 && !overflow ? ZMQ_DONTWAIT : 0) < 0) {
			int again = errno == EAGAIN;
			zmq_msg_close(&part);
			if (m->nparts == 0 && again)
				return 1;
			wire_msg_close(m);
			return again ? 1 : -1;
		}
		more = zmq_msg_more(&part);
		if (m->nparts == WIRE_MAX_PARTS) {
			/* drain the rest of an oversized message */
			zmq_msg_close(&part);
			overflow = 1;
			continue;
		}
		m->parts[m->nparts++] = part;
	}
	if (overflow)
		goto bad;
	int first = 0;
	if (with_ident) {
		m->ident = zmq_msg_data(&m->parts[0]);
		m->ident_len = zmq_msg_size(&m->parts[0]);
		first = 1;
	}
	for (int i = first; i < m->nparts; i++, fi++) {
		f[fi].data = zmq_msg_data(&m->parts[i]);
		f[fi].len = zmq_msg_size(&m->parts[i]);
	}
	{
		const char *ident = m->ident;
		size_t ident_len = m->ident_len;
		if (wire_parse(f, fi, m) < 0)
			goto bad;
		m->ident = ident;
		m->ident_len = ident_len;
	}
	return 0;
bad:
	log_warn("wire: dropped a malformed internal message (%d frames)", m->nparts);
	wire_msg_close(m);
	return -1;
}

int wire_send(void *sock, const void *ident, size_t ident_len, const char *kind,
	      const uint64_t *ids, size_t nids, const void *body, size_t body_len,
	      const void *key, size_t key_len)
{
	uint8_t hdr_small[8 * 16];
	uint8_t *hdr = hdr_small;
	int rc = -1;
	int more = ZMQ_SNDMORE | ZMQ_DONTWAIT;

	if (nids > 16) {
		hdr = malloc(nids * 8);
		if (!hdr)
			return -1;
	}
	for (size_t i = 0; i < nids; i++)
		wire_put_id(hdr + i * 8, ids[i]);
	/*
	 * Once the first frame is queued the rest of a multipart message is
	 * always accepted, so only the first send can fail with EAGAIN.
	 */
	if (ident && zmq_send(sock, ident, ident_len, more) < 0)
		goto out;
	if (zmq_send(sock, WIRE_VERSION, 2, more) < 0)
		goto out;
	if (zmq_send(sock, kind, strlen(kind), more) < 0)
		goto out;
	if (zmq_send(sock, hdr, nids * 8, more) < 0)
		goto out;
	if (zmq_send(sock, body_len ? body : "", body_len, key ? more : ZMQ_DONTWAIT) < 0)
		goto out;
	if (key && zmq_send(sock, key, key_len, ZMQ_DONTWAIT) < 0)
		goto out;
	rc = 0;
out:
	if (hdr != hdr_small)
		free(hdr);
	return rc;
}

struct json_object *wire_body_json(const struct wire_msg *m, int max_depth)
{
	json_tokener *tok;
	json_object *o;

	if (m->body_len == 0)
		return json_object_new_object();
	tok = json_tokener_new_ex(max_depth);
	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, m->body, (int)m->body_len);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}
