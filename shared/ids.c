#include "ids.h"

#include <ctype.h>
#include <sodium.h>
#include <string.h>

void id_uuid4(char out[ID_UUID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t b[16];
	char *p = out;

	randombytes_buf(b, sizeof b);
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[b[i] >> 4];
		*p++ = hex[b[i] & 15];
	}
	*p = '\0';
}

int id_is_uuid(const char *s)
{
	for (int i = 0; i < ID_UUID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!isxdigit((unsigned char)s[i])) {
			return 0;
		}
	}
	return s[ID_UUID_LEN] == '\0';
}

uint64_t id_random64(void)
{
	uint64_t v;
	do
		randombytes_buf(&v, sizeof v);
	while (v == 0);
	return v;
}
