/* ids — random identifiers (libsodium's CSPRNG). */
#ifndef TRINE_IDS_H
#define TRINE_IDS_H
#include <stddef.h>
#include <stdint.h>

#define ID_UUID_LEN 36

/* Random UUID v4, lower-case, NUL-terminated. */
void id_uuid4(char out[ID_UUID_LEN + 1]);
/* 1 if s is a UUID in 8-4-4-4-12 hex form (any version, any case). */
int id_is_uuid(const char *s);
/* Random 64-bit value, never 0. */
uint64_t id_random64(void);

#endif
