#include "zcurve.h"
#include "log.h"
#include "zsock.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define ZAP_MAX_KEYS 1024

struct zap {
	void *rep;
	struct zsock *zw;
	char keys[ZAP_MAX_KEYS][ZCURVE_KEY_LEN + 1];
	size_t nkeys;
	unsigned long refused;
};

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int valid_z85_key(const char *s)
{
	uint8_t bin[32];
	return strlen(s) == ZCURVE_KEY_LEN && zmq_z85_decode(bin, s) != NULL;
}

int zcurve_load_key(const char *path, char out[ZCURVE_KEY_LEN + 1], char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[256];

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		char *s = trim(line);
		/* a Z85 key may itself start with '#': a line that is a key is never a comment */
		if (!valid_z85_key(s) && (!*s || *s == '#'))
			continue;
		fclose(f);
		if (!valid_z85_key(s)) {
			snprintf(err, errlen, "%s: not a 40-character Z85 key", path);
			return -1;
		}
		memcpy(out, s, ZCURVE_KEY_LEN + 1);
		return 0;
	}
	fclose(f);
	snprintf(err, errlen, "%s: no key in the file", path);
	return -1;
}

static int write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	if (fd < 0) {
		fprintf(stderr, "trine keygen: %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t n = strlen(text);
	int ok = write(fd, text, n) == (ssize_t)n;
	if (close(fd) < 0 || !ok) {
		fprintf(stderr, "trine keygen: %s: write failed\n", path);
		return -1;
	}
	return 0;
}

int zcurve_keygen(const char *prefix)
{
	char pub[ZCURVE_KEY_LEN + 1], sec[ZCURVE_KEY_LEN + 1];
	char path[4096], text[256];

	if (zmq_curve_keypair(pub, sec) < 0) {
		fprintf(stderr, "trine keygen: %s\n", zmq_strerror(errno));
		return -1;
	}
	snprintf(path, sizeof path, "%s.key", prefix);
	snprintf(text, sizeof text, "# trine CURVE secret key: keep it private\n%s\n", sec);
	if (write_file(path, text, 0600) < 0)
		return -1;
	snprintf(path, sizeof path, "%s.pub", prefix);
	snprintf(text, sizeof text, "# trine CURVE public key\n%s\n", pub);
	if (write_file(path, text, 0644) < 0)
		return -1;
	printf("%s.key (secret) and %s.pub written; public key %s\n", prefix, prefix, pub);
	return 0;
}

int zcurve_server(void *sock, const struct cfg *cfg)
{
	char sec[ZCURVE_KEY_LEN + 1], err[512];
	int one = 1;

	if (!cfg->curve_secret_key_file[0])
		return 0;
	if (zcurve_load_key(cfg->curve_secret_key_file, sec, err, sizeof err) < 0) {
		log_error("curve_secret_key_file: %s", err);
		return -1;
	}
	if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) < 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, sec, ZCURVE_KEY_LEN) < 0 ||
	    zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, "trine", 5) < 0) {
		log_error("cannot make the socket a CURVE server: %s", zmq_strerror(errno));
		return -1;
	}
	return 0;
}

int zcurve_client(void *sock, const struct cfg *cfg, const char *endpoint)
{
	char sec[ZCURVE_KEY_LEN + 1], pub[ZCURVE_KEY_LEN + 1], srv[ZCURVE_KEY_LEN + 1];
	char err[512];

	if (strncmp(endpoint, "tcp://", 6) != 0)
		return 0;
	if (!cfg->curve_secret_key_file[0] || !cfg->curve_server_key_file[0]) {
		log_warn("the link to %s is not encrypted: set curve_secret_key_file and "
			 "curve_server_key_file (trine keygen)", endpoint);
		return 0;
	}
	if (zcurve_load_key(cfg->curve_secret_key_file, sec, err, sizeof err) < 0 ||
	    zcurve_load_key(cfg->curve_server_key_file, srv, err, sizeof err) < 0) {
		log_error("curve keys: %s", err);
		return -1;
	}
	if (zmq_curve_public(pub, sec) < 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, srv, ZCURVE_KEY_LEN) < 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, pub, ZCURVE_KEY_LEN) < 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, sec, ZCURVE_KEY_LEN) < 0) {
		log_error("cannot make the socket a CURVE client: %s", zmq_strerror(errno));
		return -1;
	}
	return 0;
}

static int zap_allowed(const struct zap *z, const char *key)
{
	for (size_t i = 0; i < z->nkeys; i++)
		if (strcmp(z->keys[i], key) == 0)
			return 1;
	return 0;
}

/*
 * One ZAP request (RFC 27): version, request id, domain, address, identity,
 * mechanism, credentials. Answer 200 for a listed CURVE key, 400 otherwise.
 */
static void zap_on_request(void *sock, void *arg)
{
	struct zap *z = arg;
	zmq_msg_t parts[8];
	int n = 0, more = 1;

	while (more) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, sock, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
			zmq_msg_close(&m);
			for (int i = 0; i < n; i++)
				zmq_msg_close(&parts[i]);
			return;
		}
		more = zmq_msg_more(&m);
		if (n < 8)
			parts[n++] = m;
		else
			zmq_msg_close(&m);
	}
	const char *status = "400", *text = "key not allowed";
	char key[ZCURVE_KEY_LEN + 1] = "";
	if (n >= 7 && zmq_msg_size(&parts[5]) == 5 && memcmp(zmq_msg_data(&parts[5]), "CURVE", 5) == 0 &&
	    zmq_msg_size(&parts[6]) == 32) {
		zmq_z85_encode(key, zmq_msg_data(&parts[6]), 32);
		if (zap_allowed(z, key)) {
			status = "200";
			text = "OK";
		}
	}
	if (strcmp(status, "200") != 0) {
		z->refused++;
		log_warn("curve: refused a link from %.*s with key %s (not in curve_allowed_keys_file)",
			 n >= 4 ? (int)zmq_msg_size(&parts[3]) : 0,
			 n >= 4 ? (const char *)zmq_msg_data(&parts[3]) : "", key[0] ? key : "(none)");
	}
	/* reply: version, request id, status code, status text, user id, metadata */
	zmq_send(sock, "1.0", 3, ZMQ_SNDMORE);
	if (n >= 2)
		zmq_send(sock, zmq_msg_data(&parts[1]), zmq_msg_size(&parts[1]), ZMQ_SNDMORE);
	else
		zmq_send(sock, "", 0, ZMQ_SNDMORE);
	zmq_send(sock, status, 3, ZMQ_SNDMORE);
	zmq_send(sock, text, strlen(text), ZMQ_SNDMORE);
	zmq_send(sock, key, strlen(key), ZMQ_SNDMORE);
	zmq_send(sock, "", 0, 0);
	for (int i = 0; i < n; i++)
		zmq_msg_close(&parts[i]);
	zsock_kick(z->zw);
}

static int zap_load(struct zap *z, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[256];
	int lineno = 0;

	if (!f) {
		log_error("curve_allowed_keys_file %s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		char *s = trim(line);
		lineno++;
		if (!valid_z85_key(s) && (!*s || *s == '#'))
			continue;
		if (!valid_z85_key(s)) {
			log_error("%s:%d: not a 40-character Z85 public key", path, lineno);
			fclose(f);
			return -1;
		}
		if (z->nkeys == ZAP_MAX_KEYS) {
			log_error("%s:%d: more than %d keys", path, lineno, ZAP_MAX_KEYS);
			fclose(f);
			return -1;
		}
		memcpy(z->keys[z->nkeys++], s, ZCURVE_KEY_LEN + 1);
	}
	fclose(f);
	return 0;
}

struct zap *zap_start(void *zctx, struct event_base *base, const struct cfg *cfg, int *failed)
{
	struct zap *z;
	int linger = 0;

	*failed = 0;
	if (!cfg->curve_secret_key_file[0])
		return NULL;
	if (!cfg->curve_allowed_keys_file[0]) {
		log_warn("curve_allowed_keys_file is not set: any holder of the router's public key "
			 "may connect over TCP");
		return NULL;
	}
	z = calloc(1, sizeof *z);
	if (!z || zap_load(z, cfg->curve_allowed_keys_file) < 0)
		goto fail;
	z->rep = zmq_socket(zctx, ZMQ_REP);
	if (!z->rep)
		goto fail;
	zmq_setsockopt(z->rep, ZMQ_LINGER, &linger, sizeof linger);
	if (zmq_bind(z->rep, "inproc://zeromq.zap.01") < 0) {
		log_error("curve: cannot start the ZAP handler: %s", zmq_strerror(errno));
		goto fail;
	}
	z->zw = zsock_watch(base, z->rep, zap_on_request, z);
	return z;
fail:
	*failed = 1;
	zap_free(&z);
	return NULL;
}

void zap_free(struct zap **zp)
{
	struct zap *z = *zp;
	if (!z)
		return;
	zsock_free(&z->zw);
	if (z->rep)
		zmq_close(z->rep);
	free(z);
	*zp = NULL;
}
