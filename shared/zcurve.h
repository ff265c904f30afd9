/*
 * zcurve — ZeroMQ CURVE for the links between hosts. A router that has a
 * secret key encrypts its TCP endpoints (IPC on one host needs no keys) and,
 * with an allow-list, admits only the listed brokers and fanouts through a
 * ZAP handler. Brokers and fanouts use their own key pair and the router's
 * public key when their router endpoint is tcp://.
 */
#ifndef TRINE_ZCURVE_H
#define TRINE_ZCURVE_H

#include <stddef.h>

#include "cfg.h"

struct event_base;
struct zap;

#define ZCURVE_KEY_LEN 40	/* Z85 text of a 32-byte key */

/*
 * Read a key file: the first line that is not blank or a '#' comment must
 * be a 40-character Z85 key. 0, or -1 with a message in err.
 */
int zcurve_load_key(const char *path, char out[ZCURVE_KEY_LEN + 1], char *err, size_t errlen);

/* `trine keygen PREFIX`: write PREFIX.key (secret, mode 0600) and PREFIX.pub. 0 or -1 (printed). */
int zcurve_keygen(const char *prefix);

/*
 * Before binding a tcp:// endpoint on a router-side socket: make it a CURVE
 * server when curve_secret_key_file is set. Options apply to the endpoints
 * bound after this call only, so bind IPC endpoints first. 0 or -1 (logged).
 */
int zcurve_server(void *sock, const struct cfg *cfg);

/*
 * Before connecting a broker's or fanout's socket to endpoint: for tcp://
 * with curve_secret_key_file and curve_server_key_file set, make it a CURVE
 * client. A tcp:// link without keys is allowed but logged as unencrypted.
 * 0 or -1 (logged: a key file that cannot be read).
 */
int zcurve_client(void *sock, const struct cfg *cfg, const char *endpoint);

/*
 * The allow-list check (ZAP, RFC 27) for one ZeroMQ context, served from the
 * router's event loop. NULL with no allow-list configured (every key that
 * knows the server key is admitted, and a warning is logged); also NULL on
 * error, with *failed set.
 */
struct zap *zap_start(void *zctx, struct event_base *base, const struct cfg *cfg, int *failed);
void zap_free(struct zap **zp);

#endif
