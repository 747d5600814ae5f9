/*
 * hash.c: e-mail normalization, e-mail hashing and content fingerprints.
 *
 * The fingerprint of a jsonb value is the first 8 bytes, read big-endian as a signed bigint,
 * of the SHA-256 of its canonical encoding: a walk of the value in jsonb's own key order
 * (keys sorted by length, then bytewise, which jsonb guarantees for equal values whatever
 * the input's key order or whitespace), each token written as a one-byte tag followed, for
 * tokens with a payload, by a 4-byte big-endian length and the payload:
 *   '{' '}' object start/end, '[' ']' array start/end, 'k' key, 's' string,
 *   'n' number (numeric_normalize text, so 1.0 and 1 are the same), 't' true, 'f' false, 'z' null.
 * SHA-256 and the byte order fix the value on every platform.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "hash.h"

PG_FUNCTION_INFO_V1(personalize_normalize_email);
PG_FUNCTION_INFO_V1(personalize_email_hash);
PG_FUNCTION_INFO_V1(personalize_fingerprint);

/* Starts a canonical SHA-256 stream. */
void
canonical_begin(CanonicalHasher *h)
{
	h->ctx = pg_cryptohash_create(PG_SHA256);
	if (h->ctx == NULL || pg_cryptohash_init(h->ctx) < 0)
		elog(ERROR, "could not initialize SHA-256 context");
}

/* Adds one tagged token (tag, 4-byte big-endian length, payload) to the stream. */
void
canonical_add_bytes(CanonicalHasher *h, char tag, const char *data, size_t len)
{
	uint8 head[5];

	head[0] = (uint8) tag;
	head[1] = (uint8) (len >> 24);
	head[2] = (uint8) (len >> 16);
	head[3] = (uint8) (len >> 8);
	head[4] = (uint8) len;
	if (pg_cryptohash_update(h->ctx, head, data ? 5 : 1) < 0 ||
		(data && len > 0 && pg_cryptohash_update(h->ctx, (const uint8 *) data, len) < 0))
		elog(ERROR, "could not update SHA-256 context");
}

/* Adds a whole jsonb value to the stream in canonical form. */
void
canonical_add_jsonb(CanonicalHasher *h, JsonbContainer *container)
{
	JsonbIterator	  *it = JsonbIteratorInit(container);
	JsonbValue		   v;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		CHECK_FOR_INTERRUPTS();
		switch (tok)
		{
			case WJB_BEGIN_OBJECT:
				canonical_add_bytes(h, '{', NULL, 0);
				break;
			case WJB_END_OBJECT:
				canonical_add_bytes(h, '}', NULL, 0);
				break;
			case WJB_BEGIN_ARRAY:
				if (!v.val.array.rawScalar)
					canonical_add_bytes(h, '[', NULL, 0);
				break;
			case WJB_END_ARRAY:
				if (!v.val.array.rawScalar)
					canonical_add_bytes(h, ']', NULL, 0);
				break;
			case WJB_KEY:
				canonical_add_bytes(h, 'k', v.val.string.val, v.val.string.len);
				break;
			case WJB_VALUE:
			case WJB_ELEM:
				switch (v.type)
				{
					case jbvString:
						canonical_add_bytes(h, 's', v.val.string.val, v.val.string.len);
						break;
					case jbvNumeric:
					{
						char *txt = numeric_normalize(v.val.numeric);

						canonical_add_bytes(h, 'n', txt, strlen(txt));
						pfree(txt);
					}
					break;
					case jbvBool:
						canonical_add_bytes(h, v.val.boolean ? 't' : 'f', NULL, 0);
						break;
					case jbvNull:
						canonical_add_bytes(h, 'z', NULL, 0);
						break;
					default:
						elog(ERROR, "unexpected jsonb scalar type %d", (int) v.type);
				}
				break;
			default:
				break;
		}
	}
}

/* Ends the stream, writing the 32-byte SHA-256 digest. */
void
canonical_finish_digest(CanonicalHasher *h, uint8 *digest)
{
	if (pg_cryptohash_final(h->ctx, digest, PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "could not finalize SHA-256 context");
	pg_cryptohash_free(h->ctx);
	h->ctx = NULL;
}

/* Ends the stream and returns the first 8 digest bytes as a big-endian signed integer. */
int64
canonical_finish(CanonicalHasher *h)
{
	uint8  digest[PG_SHA256_DIGEST_LENGTH];
	uint64 r = 0;

	canonical_finish_digest(h, digest);
	for (int i = 0; i < 8; i++)
		r = (r << 8) | digest[i];
	return (int64) r;
}

/* Writes the lowercase hex SHA-256 of data into out (65 bytes with the terminator). */
void
sha256_hex(const char *data, size_t len, char *out)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint8			   digest[PG_SHA256_DIGEST_LENGTH];
	static const char  hex[] = "0123456789abcdef";

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not compute SHA-256");
	pg_cryptohash_free(ctx);
	for (int i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
	{
		out[2 * i] = hex[digest[i] >> 4];
		out[2 * i + 1] = hex[digest[i] & 15];
	}
	out[64] = '\0';
}

/* True for the ASCII white space that normalization trims. */
static inline bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/*
 * Normalizes an e-mail address: trims ASCII white space and lowercases ASCII letters; with
 * strip_plus drops a "+tag" from the local part; with strip_dots drops dots from the local
 * part of gmail.com and googlemail.com addresses (the one provider that ignores them).
 * Returns NULL and sets *why when the address is malformed.
 */
char *
normalize_email_cstring(const char *s, size_t len, bool strip_plus, bool strip_dots, const char **why)
{
	const char *start = s, *end = s + len;
	const char *at = NULL;
	char	   *out, *o;
	bool		gmail;

	while (start < end && is_space(*start))
		start++;
	while (end > start && is_space(end[-1]))
		end--;
	for (const char *p = start; p < end; p++)
	{
		if (*p == '@')
		{
			if (at != NULL)
			{
				*why = "it contains more than one \"@\"";
				return NULL;
			}
			at = p;
		}
		else if (is_space(*p) || *p == '\0' || (unsigned char) *p < 0x20)
		{
			*why = "it contains white space or control characters";
			return NULL;
		}
	}
	if (at == NULL)
	{
		*why = "it has no \"@\"";
		return NULL;
	}
	if (at == start || at + 1 == end)
	{
		*why = "its local part or domain is empty";
		return NULL;
	}
	if (end - start > 254)
	{
		*why = "it is longer than 254 characters";
		return NULL;
	}
	gmail = (end - at - 1 == 9 && pg_strncasecmp(at + 1, "gmail.com", 9) == 0) ||
			(end - at - 1 == 14 && pg_strncasecmp(at + 1, "googlemail.com", 14) == 0);
	out = o = palloc(end - start + 1);
	for (const char *p = start; p < at; p++)
	{
		if (strip_plus && *p == '+')
			break;
		if (strip_dots && gmail && *p == '.')
			continue;
		*o++ = pg_ascii_tolower((unsigned char) *p);
	}
	if (o == out)
	{
		*why = "its local part is empty";
		pfree(out);
		return NULL;
	}
	for (const char *p = at; p < end; p++)
		*o++ = pg_ascii_tolower((unsigned char) *p);
	*o = '\0';
	return out;
}

/* Raises the error for a malformed address passed to the SQL functions. */
static void
reject_email(text *t, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid e-mail address \"%.64s%s\"", text_to_cstring(t),
					VARSIZE_ANY_EXHDR(t) > 64 ? "..." : ""),
			 errdetail("The address is malformed: %s.", why)));
}

/* SQL: personalize.normalize_email(email, strip_plus, strip_dots) -> text */
Datum
personalize_normalize_email(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *why = NULL;
	char	   *n = normalize_email_cstring(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t),
											PG_GETARG_BOOL(1), PG_GETARG_BOOL(2), &why);

	if (n == NULL)
		reject_email(t, why);
	PG_RETURN_TEXT_P(cstring_to_text(n));
}

/* SQL: personalize.email_hash(email) -> lowercase hex SHA-256 of the normalized address */
Datum
personalize_email_hash(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *why = NULL;
	char	   *n = normalize_email_cstring(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), false, false, &why);
	char		hex[65];

	if (n == NULL)
		reject_email(t, why);
	sha256_hex(n, strlen(n), hex);
	PG_RETURN_TEXT_P(cstring_to_text(hex));
}

/* SQL: personalize.fingerprint(jsonb) -> bigint, stable across key order and white space */
Datum
personalize_fingerprint(PG_FUNCTION_ARGS)
{
	Jsonb		   *j = PG_GETARG_JSONB_P(0);
	CanonicalHasher h;

	canonical_begin(&h);
	canonical_add_jsonb(&h, &j->root);
	PG_RETURN_INT64(canonical_finish(&h));
}
