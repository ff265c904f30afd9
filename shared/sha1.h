/* sha1 — SHA-1 for the WebSocket handshake only (RFC 3174); never for security. */
#ifndef TRINE_SHA1_H
#define TRINE_SHA1_H
#include <stddef.h>
#include <stdint.h>
void sha1(const void *data, size_t len, uint8_t out[20]);
#endif
