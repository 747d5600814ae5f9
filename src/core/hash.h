/*
 * hash.h: canonical hashing shared by the identity, dedup and sampling code.
 */
#ifndef PERSONALIZE_HASH_H
#define PERSONALIZE_HASH_H

#include "postgres.h"
#include "common/cryptohash.h"
#include "utils/jsonb.h"

/* Streaming SHA-256 over the canonical encoding of values (see hash.c for the format). */
typedef struct CanonicalHasher
{
	pg_cryptohash_ctx *ctx;
} CanonicalHasher;

extern void	 canonical_begin(CanonicalHasher *h);
extern void	 canonical_add_bytes(CanonicalHasher *h, char tag, const char *data, size_t len);
extern void	 canonical_add_jsonb(CanonicalHasher *h, JsonbContainer *container);
extern int64 canonical_finish(CanonicalHasher *h);
extern void	 canonical_finish_digest(CanonicalHasher *h, uint8 *digest);

/* Normalizes an e-mail address in place into a palloc'd string, or returns NULL if malformed. */
extern char *normalize_email_cstring(const char *s, size_t len, bool strip_plus, bool strip_dots,
									 const char **why);
extern void	 sha256_hex(const char *data, size_t len, char *out_hex65);

#endif
