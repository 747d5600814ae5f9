/*
 * send.c: the small hot helpers of the send path (src/send/ SQL modules): HMAC-SHA256 for the signed
 * unsubscribe tokens, a constant-time comparison to verify them, strong random bytes for new
 * signing secrets, the check that a profile's time zone names a zone the server knows, and the
 * check that a batch of candidates names each profile once (so the send policy can skip ranking).
 */
#include "postgres.h"

#include "fmgr.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "pgtime.h"
#include "port.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(personalize_hmac_sha256);
PG_FUNCTION_INFO_V1(personalize_bytes_equal);
PG_FUNCTION_INFO_V1(personalize_random_bytes);
PG_FUNCTION_INFO_V1(personalize_timezone_or);
PG_FUNCTION_INFO_V1(personalize_strictly_ascending);

/* HMAC-SHA256 (RFC 2104) of a message under a key, as 32 bytes. */
Datum
personalize_hmac_sha256(PG_FUNCTION_ARGS)
{
	bytea		*key = PG_GETARG_BYTEA_PP(0);
	text		*message = PG_GETARG_TEXT_PP(1);
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);
	bytea		*result = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);

	if (VARSIZE_ANY_EXHDR(key) < 16)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("signing secret is too short"),
				 errdetail("The secret has %d bytes; at least 16 are required.",
						   (int) VARSIZE_ANY_EXHDR(key))));
	if (ctx == NULL ||
		pg_hmac_init(ctx, (const uint8 *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key)) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) VARDATA_ANY(message), VARSIZE_ANY_EXHDR(message)) < 0 ||
		pg_hmac_final(ctx, (uint8 *) VARDATA(result), PG_SHA256_DIGEST_LENGTH) < 0)
	{
		pg_hmac_free(ctx);
		elog(ERROR, "could not compute HMAC-SHA256");
	}
	pg_hmac_free(ctx);
	SET_VARSIZE(result, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	PG_RETURN_BYTEA_P(result);
}

/* True when two byte strings are equal; the time taken depends on their lengths only. */
Datum
personalize_bytes_equal(PG_FUNCTION_ARGS)
{
	bytea		*a = PG_GETARG_BYTEA_PP(0);
	bytea		*b = PG_GETARG_BYTEA_PP(1);
	size_t		 len = VARSIZE_ANY_EXHDR(a);
	const uint8 *pa = (const uint8 *) VARDATA_ANY(a);
	const uint8 *pb = (const uint8 *) VARDATA_ANY(b);
	uint8		 diff = 0;

	if (len != VARSIZE_ANY_EXHDR(b))
		PG_RETURN_BOOL(false);
	for (size_t i = 0; i < len; i++)
		diff |= pa[i] ^ pb[i];
	PG_RETURN_BOOL(diff == 0);
}

/* n bytes from the operating system's strong random source (new signing secrets). */
Datum
personalize_random_bytes(PG_FUNCTION_ARGS)
{
	int32  n = PG_GETARG_INT32(0);
	bytea *result;

	if (n < 1 || n > 1024)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("random byte count must be between 1 and 1024"),
				 errdetail("The count given was %d.", n)));
	result = palloc(VARHDRSZ + n);
	if (!pg_strong_random(VARDATA(result), n))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes")));
	SET_VARSIZE(result, VARHDRSZ + n);
	PG_RETURN_BYTEA_P(result);
}

/* The answers for the last few names looked up (a campaign's profiles share a handful of zones). */
#define TZ_CACHE_SIZE 16
static struct
{
	char name[TZ_STRLEN_MAX + 1];
	bool valid;
} tz_cache[TZ_CACHE_SIZE];
static int tz_cache_used = 0;
static int tz_cache_next = 0;

/* True when the name is a time zone of the server's database (IANA name such as Europe/Berlin). */
static bool
valid_timezone(text *name)
{
	size_t len = VARSIZE_ANY_EXHDR(name);
	char   cname[TZ_STRLEN_MAX + 1];
	pg_tz *tz;
	bool   valid;

	if (len == 0 || len > TZ_STRLEN_MAX)
		return false;
	memcpy(cname, VARDATA_ANY(name), len);
	cname[len] = '\0';
	for (int i = 0; i < tz_cache_used; i++)
		if (strcmp(tz_cache[i].name, cname) == 0)
			return tz_cache[i].valid;
	/* pg_tzset also takes POSIX rule strings ("EST5EDT,M3.2.0,M11.1.0"); only zone names count */
	if (strlen(cname) != len || strpbrk(cname, ",<>") != NULL || (cname[0] >= '0' && cname[0] <= '9'))
		valid = false;
	else
	{
		tz = pg_tzset(cname);
		valid = tz != NULL && pg_tz_acceptable(tz);
	}
	strcpy(tz_cache[tz_cache_next].name, cname);
	tz_cache[tz_cache_next].valid = valid;
	tz_cache_next = (tz_cache_next + 1) % TZ_CACHE_SIZE;
	if (tz_cache_used < TZ_CACHE_SIZE)
		tz_cache_used++;
	return valid;
}

/* The time zone name if the server knows it, else the fallback (which may be NULL). */
Datum
personalize_timezone_or(PG_FUNCTION_ARGS)
{
	if (!PG_ARGISNULL(0) && valid_timezone(PG_GETARG_TEXT_PP(0)))
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	PG_RETURN_DATUM(PG_GETARG_DATUM(1));
}

/* True when the ids of a one-dimensional array without NULLs rise strictly (each id at most once). */
Datum
personalize_strictly_ascending(PG_FUNCTION_ARGS)
{
	ArrayType *ids = PG_GETARG_ARRAYTYPE_P(0);
	int		   n;
	int64	  *v;

	if (ARR_ELEMTYPE(ids) != INT8OID)
		elog(ERROR, "expected a bigint array");
	/* a multi-dimensional array or one with NULLs gets no shortcut: the caller ranks as usual */
	if (ARR_NDIM(ids) > 1 || ARR_HASNULL(ids))
		PG_RETURN_BOOL(false);
	n = ArrayGetNItems(ARR_NDIM(ids), ARR_DIMS(ids));
	v = (int64 *) ARR_DATA_PTR(ids);
	for (int i = 1; i < n; i++)
	{
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (v[i] <= v[i - 1])
			PG_RETURN_BOOL(false);
	}
	PG_RETURN_BOOL(true);
}
