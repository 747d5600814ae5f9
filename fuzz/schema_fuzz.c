/*
 * schema_fuzz.c: libFuzzer harness over the JSON Schema subset's pure-C core (the code the
 * server runs: src/ingest/schema_core.c) and the JSON parser of src/core/jvalue.c. An input is
 * a schema and a value as JSON text separated by a NUL byte: the schema is checked, and when it
 * is accepted the value is validated against it; every parsed value must survive print and
 * parse unchanged. The host is plain C: characters are UTF-8 code points, and an e-mail address
 * is anything with one "@" inside (the server uses normalize_email, out of the core's scope).
 * Build/run: fuzz/run schema [seconds]
 */
#include <stdint.h>
#include <string.h>

#include "ingest/schema_core.h"
#include "jv_arena.h"

/* The number of UTF-8 code points of s. */
static long
char_length(void *ctx, const char *s, size_t len)
{
	long n = 0;

	(void) ctx;
	for (size_t i = 0; i < len; i++)
		n += ((unsigned char) s[i] & 0xC0) != 0x80;
	return n;
}

/* One "@" with something on both sides. */
static bool
is_email(void *ctx, const char *s, size_t len)
{
	const char *at = memchr(s, '@', len);

	(void) ctx;
	return at != NULL && at != s && at != s + len - 1 && memchr(at + 1, '@', len - (at - s) - 1) == NULL;
}

/* Nothing to interrupt here. */
static void
no_interrupts(void *ctx)
{
	(void) ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input: "schema\0value". */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*text = (const char *) data, *err = NULL;
	const char	*sep = memchr(text, '\0', size);
	size_t		 slen = sep ? (size_t) (sep - text) : size;
	schema_host	 h = {arena, char_length, is_email, no_interrupts, NULL};
	schema_error e;
	jv			*schema, *value = NULL;

	schema = jv_parse(text, slen, 200, &arena, &err);
	if (sep)
		value = jv_parse(sep + 1, size - slen - 1, 200, &arena, &err);
	if (schema)
		check_round_trip(schema);
	if (value)
		check_round_trip(value);
	if (schema && schema_core_check(schema, &h, &e))
	{
		if (value && !schema_core_validate(schema, value, "$.properties", &h, &e) &&
			(e.path == NULL || e.detail == NULL || strncmp(e.path, "$.properties", 12) != 0))
			abort();
	}
	else if (schema && (e.kind != SCHEMA_ERR_DEFINITION || e.path == NULL || e.detail == NULL))
		abort();
	arena_reset();
	return 0;
}
