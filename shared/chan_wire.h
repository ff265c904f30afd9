/*
 * chan_wire — the byte-channel pieces with no I/O: the WebSocket endpoint
 * URL (/ws/channels/<id>?key=<access key>&dir=read|write) and the control
 * messages an HTTP function writes to its response channel
 * ({"type":"set_status","status_code":N}, {"type":"set_headers","headers":{...}}).
 *
 * Internal wire for channels (router <-> fronts; key frame = channel id):
 *   front -> router  chatt  [conn]  body "r:<key>" / "w:<key>"  attach
 *                    chd    [ep]    body 't'|'b' + bytes          one chunk (costs 1 credit)
 *                    chend  [ep]    writer finished
 *                    chack  [ep]    body decimal n: reader wrote n chunks out
 *                    chgone [ep]    reader gone
 *   router -> front  chok / chno [conn] (chno body: HTTP status) attach answer
 *                    chd, chend [ep]      to the reader
 *                    chcredit [ep] body n  the writer may send n more chunks
 *                    chclose [ep]         the channel is gone: close the socket
 * An endpoint id with CHAN_HTTP_BIT set is an HTTP request held by a broker's
 * HTTP front (response reader or request-body writer), otherwise a WebSocket
 * connection id.
 */
#ifndef TRINE_CHAN_WIRE_H
#define TRINE_CHAN_WIRE_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#define CHAN_HTTP_BIT ((uint64_t)1 << 63)
#define CHAN_ID_MAX 64
#define CHAN_KEY_MAX 128
#define CHAN_CHUNK 65536		/* request bodies are fed in chunks of this size */

enum { CHAN_WRITE = 0, CHAN_READ = 1 };

struct chan_url {
	char id[CHAN_ID_MAX + 1];
	char key[CHAN_KEY_MAX + 1];
	int dir;			/* CHAN_WRITE or CHAN_READ */
};

/* Results of chan_url_parse. */
#define CHAN_URL_OK 0
#define CHAN_URL_NOT_CHANNEL 1	/* not under /ws/channels/: someone else's path */
#define CHAN_URL_BAD (-1)	/* under /ws/channels/ but malformed: 400 */

/*
 * path: the request path without the query; query: after '?', "" if none.
 * The id is [A-Za-z0-9_-]{1,64}; key (percent-decoded) 1..128 bytes; dir
 * "read" or "write". Repeated parameters: the last wins.
 */
int chan_url_parse(const char *path, const char *query, struct chan_url *out);

/*
 * Apply one text message of a response channel to the pending status and
 * headers (an object name -> string value; set_headers adds or replaces).
 * Status codes outside 100..599 and non-string header values are ignored.
 * Returns 1 if the message was a control message, 0 otherwise (ignored).
 */
int chan_ctl_apply(const char *msg, size_t len, int *status, json_object *headers);

#endif
