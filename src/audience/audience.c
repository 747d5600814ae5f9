/*
 * audience.c: the personalize.audience type, a compressed set of 32-bit profile numbers
 * (segment memberships), stored as CRoaring's portable serialization in a varlena.
 *
 * Owns: text and binary I/O, the bytea cast, the set operators (& | - = <> @> <@), cardinality,
 * overlap and Jaccard index, members as rows, and the aggregates audience_agg(bigint),
 * audience_union_agg(audience) and audience_intersect_agg(audience).
 *
 * Memory: CRoaring 0.2 allocates with malloc and has no allocator hook. Every bitmap made here
 * is either freed in a PG_FINALLY block or owned by an aggregate state whose memory context
 * frees it through a reset callback, so an ERROR (or a cancel) never leaks it. Reading a stored
 * value (cardinality, containment, text output, members) uses audience_format.c on the bytes
 * themselves and allocates nothing outside palloc. Input from outside (text, binary, bytea) is
 * validated in full before CRoaring sees it.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include <roaring/roaring.h>

#include "audience_format.h"

PG_FUNCTION_INFO_V1(personalize_audience_in);
PG_FUNCTION_INFO_V1(personalize_audience_out);
PG_FUNCTION_INFO_V1(personalize_audience_recv);
PG_FUNCTION_INFO_V1(personalize_audience_send);
PG_FUNCTION_INFO_V1(personalize_audience_from_bytea);
PG_FUNCTION_INFO_V1(personalize_audience_and);
PG_FUNCTION_INFO_V1(personalize_audience_or);
PG_FUNCTION_INFO_V1(personalize_audience_andnot);
PG_FUNCTION_INFO_V1(personalize_audience_eq);
PG_FUNCTION_INFO_V1(personalize_audience_ne);
PG_FUNCTION_INFO_V1(personalize_audience_cardinality);
PG_FUNCTION_INFO_V1(personalize_audience_overlap);
PG_FUNCTION_INFO_V1(personalize_audience_jaccard);
PG_FUNCTION_INFO_V1(personalize_audience_contains);
PG_FUNCTION_INFO_V1(personalize_audience_contained);
PG_FUNCTION_INFO_V1(personalize_audience_members);
PG_FUNCTION_INFO_V1(personalize_audience_from_array);
PG_FUNCTION_INFO_V1(personalize_audience_agg_trans);
PG_FUNCTION_INFO_V1(personalize_audience_union_trans);
PG_FUNCTION_INFO_V1(personalize_audience_intersect_trans);
PG_FUNCTION_INFO_V1(personalize_audience_union_combine);
PG_FUNCTION_INFO_V1(personalize_audience_intersect_combine);
PG_FUNCTION_INFO_V1(personalize_audience_agg_final);
PG_FUNCTION_INFO_V1(personalize_audience_agg_serialize);
PG_FUNCTION_INFO_V1(personalize_audience_agg_deserialize);

/* Ids buffered by audience_agg before one roaring_bitmap_add_many call. */
#define AGG_BUFFER 1024

/* Ids added between two CHECK_FOR_INTERRUPTS when building from an array. */
#define ADD_CHUNK 65536

/* Aggregate state: a malloc'd bitmap freed by a callback on the state's memory context. */
typedef struct AudienceState
{
	MemoryContextCallback cb;
	roaring_bitmap_t	 *rb;
	bool				  any; /* some non-NULL input was seen (intersection needs it) */
	int					  nbuf;
	uint32				  buf[AGG_BUFFER];
} AudienceState;

/* The profile-number range, for error messages. */
#define RANGE_DETAIL "Profile numbers of an audience are 0 to 4294967295."

/* Checks that a bigint is a valid profile number (0..4294967295), else ERROR 22003. */
static uint32
personalize_audience_id(int64 id)
{
	if (id < 0 || id > (int64) PG_UINT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("profile number " INT64_FORMAT " is out of range for type audience", id),
				 errdetail(RANGE_DETAIL)));
	return (uint32) id;
}

/* Raises "out of memory" when CRoaring returned NULL. */
static void
check_alloc(const void *p)
{
	if (p == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("The Roaring bitmap library could not allocate memory.")));
}

/* Opens a stored audience for reading (structure check only: the value was validated on input). */
static void
open_stored(AudienceView *v, const bytea *a)
{
	const char *why = audience_view_open(v, VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a), false);

	if (why != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("corrupt audience value"),
				 errdetail("%s", why)));
}

/* Validates bytes that come from outside (recv, bytea cast, aggregate deserialization). */
static void
validate_external(const char *data, size_t len)
{
	AudienceView v;
	const char	*why = audience_view_open(&v, data, len, true);

	if (why != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary data for type audience"),
				 errdetail("%s", why),
				 errhint("An audience in binary form is a CRoaring portable serialization of 32-bit profile numbers.")));
}

/* Copies validated bytes into a new audience datum. */
static bytea *
audience_from_bytes(const char *data, size_t len)
{
	bytea *result = palloc(VARHDRSZ + len);

	SET_VARSIZE(result, VARHDRSZ + len);
	memcpy(VARDATA(result), data, len);
	return result;
}

/* Serializes a CRoaring bitmap into a palloc'd audience (run-optimizes rb; does not free it). */
static bytea *
personalize_audience_from_roaring(roaring_bitmap_t *rb)
{
	size_t size;
	bytea *result;

	roaring_bitmap_run_optimize(rb);
	size = roaring_bitmap_portable_size_in_bytes(rb);
	if (size > MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("audience is too large"),
				 errdetail("Its serialization would take %zu bytes.", size)));
	result = palloc(VARHDRSZ + size);
	if (roaring_bitmap_portable_serialize(rb, VARDATA(result)) != size)
		elog(ERROR, "roaring_bitmap_portable_serialize wrote an unexpected size");
	SET_VARSIZE(result, VARHDRSZ + size);
	return result;
}

/*
 * Deserializes an audience into a malloc'd CRoaring bitmap: the caller must free it on every
 * path, so call it inside PG_TRY and free it in PG_CATCH and after PG_END_TRY.
 */
static roaring_bitmap_t *
personalize_audience_to_roaring(const bytea *a)
{
	AudienceView	  v;
	roaring_bitmap_t *rb;

	open_stored(&v, a);
	rb = roaring_bitmap_portable_deserialize_safe(VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a));
	if (rb == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("corrupt audience value"),
				 errdetail("The Roaring bitmap library could not read it.")));
	return rb;
}

/* Builds an audience datum (palloc'd) from n profile numbers in any order, repeats allowed. */
static bytea *
personalize_audience_from_ids(const uint32 *ids, size_t n)
{
	roaring_bitmap_t *volatile rb = NULL;
	bytea *volatile result = NULL;

	PG_TRY();
	{
		rb = roaring_bitmap_create();
		check_alloc(rb);
		for (size_t done = 0; done < n; done += ADD_CHUNK)
		{
			CHECK_FOR_INTERRUPTS();
			roaring_bitmap_add_many(rb, Min((size_t) ADD_CHUNK, n - done), ids + done);
		}
		result = personalize_audience_from_roaring(rb);
	}
	PG_CATCH();
	{
		if (rb != NULL)
			roaring_bitmap_free(rb);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (rb != NULL)
		roaring_bitmap_free(rb);
	return result;
}

/* Parser callback of audience_in: adds one range to the bitmap. */
static void
add_range_cb(void *arg, uint32_t lo, uint32_t hi)
{
	roaring_bitmap_t *rb = arg;

	if (lo == hi)
		roaring_bitmap_add(rb, lo);
	else
		roaring_bitmap_add_range_closed(rb, lo, hi);
}

/* Raises the error that describes a refused text input. */
static void
report_parse_error(const char *s, const AudienceParseError *err)
{
	size_t len = strlen(s);
	/* quoted excerpts are cut on character boundaries */
	int head = pg_mbcliplen(s, (int) Min(len, 1000), 64);
	int here = err->pos < len ? pg_mbcliplen(s + err->pos, (int) Min(len - err->pos, 1000), 10) : 0;

	if (err->status == AUDIENCE_PARSE_OUT_OF_RANGE)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("profile number \"%.*s%s\" is out of range for type audience",
						(int) Min(err->len, 40), s + err->pos, err->len > 40 ? "..." : ""),
				 errdetail(RANGE_DETAIL)));
	if (err->status == AUDIENCE_PARSE_REVERSED)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type audience: range \"%.*s%s\" ends before it starts",
						(int) Min(err->len, 60), s + err->pos, err->len > 60 ? "..." : ""),
				 errhint("Write a range as \"low-high\", for example {1,5-9}.")));
	if (err->pos >= len)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type audience: \"%.*s%s\"", head, s, len > (size_t) head ? "..." : ""),
				 errdetail("Expected %s at the end of the input.", err->expected),
				 errhint("An audience is written as {} or {1,2,5-9}.")));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type audience: \"%.*s%s\"", head, s, len > (size_t) head ? "..." : ""),
			 errdetail("Expected %s at byte %zu, found \"%.*s%s\".", err->expected, err->pos + 1,
					   here, s + err->pos, len - err->pos > (size_t) here ? "..." : ""),
			 errhint("An audience is written as {} or {1,2,5-9}.")));
}

/* Type input: "{}" or "{1,2,5-9}". */
Datum
personalize_audience_in(PG_FUNCTION_ARGS)
{
	char *s = PG_GETARG_CSTRING(0);
	roaring_bitmap_t *volatile rb = NULL;
	bytea *volatile result = NULL;

	PG_TRY();
	{
		AudienceParseError err;

		rb = roaring_bitmap_create();
		check_alloc(rb);
		if (audience_parse_text(s, strlen(s), add_range_cb, rb, &err) != AUDIENCE_PARSE_OK)
			report_parse_error(s, &err);
		result = personalize_audience_from_roaring(rb);
	}
	PG_CATCH();
	{
		if (rb != NULL)
			roaring_bitmap_free(rb);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (rb != NULL)
		roaring_bitmap_free(rb);
	PG_RETURN_BYTEA_P(result);
}

/* Appends one run lo..hi to the text form: "a", "a,b" or "a-b" (three or more). */
static void
append_run(StringInfo out, bool *first, uint32 lo, uint32 hi)
{
	if (!*first)
		appendStringInfoChar(out, ',');
	*first = false;
	if (lo == hi)
		appendStringInfo(out, "%u", lo);
	else if (hi == lo + 1)
		appendStringInfo(out, "%u,%u", lo, hi);
	else
		appendStringInfo(out, "%u-%u", lo, hi);
}

/* Type output: ascending, runs of three or more as "lo-hi". */
Datum
personalize_audience_out(PG_FUNCTION_ARGS)
{
	bytea		  *a = PG_GETARG_BYTEA_PP(0);
	AudienceView   v;
	AudienceIter   it;
	StringInfoData out;
	uint32		   x,
		xhi,
		lo = 0,
		hi = 0;
	bool have = false,
		 first = true;
	uint64 count = 0;

	open_stored(&v, a);
	initStringInfo(&out);
	appendStringInfoChar(&out, '{');
	audience_iter_init(&it, &v);
	while (audience_iter_next_run(&it, &x, &xhi))
	{
		if ((++count & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (have && hi != PG_UINT32_MAX && x == hi + 1)
		{
			hi = xhi;
			continue;
		}
		if (have)
			append_run(&out, &first, lo, hi);
		lo = x;
		hi = xhi;
		have = true;
	}
	if (have)
		append_run(&out, &first, lo, hi);
	appendStringInfoChar(&out, '}');
	PG_RETURN_CSTRING(out.data);
}

/* Binary input: the portable serialization, validated in full. */
Datum
personalize_audience_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			len = buf->len - buf->cursor;
	const char *data = pq_getmsgbytes(buf, len);

	validate_external(data, len);
	PG_RETURN_BYTEA_P(audience_from_bytes(data, len));
}

/* Binary output: the portable serialization. */
Datum
personalize_audience_send(PG_FUNCTION_ARGS)
{
	bytea		  *a = PG_GETARG_BYTEA_PP(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbytes(&buf, VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Cast bytea -> audience: validates the portable serialization in full. */
Datum
personalize_audience_from_bytea(PG_FUNCTION_ARGS)
{
	bytea *b = PG_GETARG_BYTEA_PP(0);

	validate_external(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
	PG_RETURN_BYTEA_P(audience_from_bytes(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b)));
}

/* What audience_pair computes from two bitmaps. */
typedef enum AudienceOp
{
	OP_AND, /* the set operations give a new audience */
	OP_OR,
	OP_ANDNOT,
	OP_EQUALS, /* these give *count: 1/0, or the size of a & b */
	OP_AND_COUNT
} AudienceOp;

/*
 * Applies op to the bitmaps of a and b, freeing both (CRoaring mallocs) on every path: returns
 * a new audience for the set operations, NULL and *count for the others.
 */
static bytea *
audience_pair(const bytea *a, const bytea *b, AudienceOp op, uint64 *count)
{
	roaring_bitmap_t *volatile ra = NULL;
	roaring_bitmap_t *volatile rb = NULL;
	bytea *volatile result = NULL;
	volatile uint64 n = 0;

	PG_TRY();
	{
		ra = personalize_audience_to_roaring(a);
		rb = personalize_audience_to_roaring(b);
		switch (op)
		{
			case OP_AND:
				roaring_bitmap_and_inplace(ra, rb);
				break;
			case OP_OR:
				roaring_bitmap_or_inplace(ra, rb);
				break;
			case OP_ANDNOT:
				roaring_bitmap_andnot_inplace(ra, rb);
				break;
			case OP_EQUALS:
				n = roaring_bitmap_equals(ra, rb) ? 1 : 0;
				break;
			case OP_AND_COUNT:
				n = roaring_bitmap_and_cardinality(ra, rb);
				break;
		}
		if (op == OP_AND || op == OP_OR || op == OP_ANDNOT)
			result = personalize_audience_from_roaring(ra);
	}
	PG_CATCH();
	{
		if (ra != NULL)
			roaring_bitmap_free(ra);
		if (rb != NULL)
			roaring_bitmap_free(rb);
		PG_RE_THROW();
	}
	PG_END_TRY();
	roaring_bitmap_free(ra);
	roaring_bitmap_free(rb);
	if (count)
		*count = n;
	return result;
}

/* Operator &: intersection. */
Datum
personalize_audience_and(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(audience_pair(PG_GETARG_BYTEA_PP(0), PG_GETARG_BYTEA_PP(1), OP_AND, NULL));
}

/* Operator |: union. */
Datum
personalize_audience_or(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(audience_pair(PG_GETARG_BYTEA_PP(0), PG_GETARG_BYTEA_PP(1), OP_OR, NULL));
}

/* Operator -: difference. */
Datum
personalize_audience_andnot(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(audience_pair(PG_GETARG_BYTEA_PP(0), PG_GETARG_BYTEA_PP(1), OP_ANDNOT, NULL));
}

/* Set equality: equal bytes, else equal cardinalities and then equal bitmaps. */
static bool
audience_equal(const bytea *a, const bytea *b)
{
	AudienceView va,
		vb;
	uint64 same;

	if (VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0)
		return true;
	open_stored(&va, a);
	open_stored(&vb, b);
	if (audience_view_cardinality(&va) != audience_view_cardinality(&vb))
		return false;
	audience_pair(a, b, OP_EQUALS, &same);
	return same != 0;
}

/* Operator =: same set of profiles. */
Datum
personalize_audience_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(audience_equal(PG_GETARG_BYTEA_PP(0), PG_GETARG_BYTEA_PP(1)));
}

/* Operator <>: different sets. */
Datum
personalize_audience_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(!audience_equal(PG_GETARG_BYTEA_PP(0), PG_GETARG_BYTEA_PP(1)));
}

/* personalize.cardinality(audience): number of profiles, read from the header. */
Datum
personalize_audience_cardinality(PG_FUNCTION_ARGS)
{
	AudienceView v;

	open_stored(&v, PG_GETARG_BYTEA_PP(0));
	PG_RETURN_INT64((int64) audience_view_cardinality(&v));
}

/* Size of the intersection of a and b, counted without building it. */
static uint64
audience_and_cardinality(const bytea *a, const bytea *b)
{
	AudienceView va,
		vb;
	uint64 n;

	open_stored(&va, a);
	open_stored(&vb, b);
	if (va.n == 0 || vb.n == 0)
		return 0;
	audience_pair(a, b, OP_AND_COUNT, &n);
	return n;
}

/* personalize.overlap(a, b): cardinality(a & b). */
Datum
personalize_audience_overlap(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64((int64) audience_and_cardinality(PG_GETARG_BYTEA_PP(0), PG_GETARG_BYTEA_PP(1)));
}

/* personalize.jaccard(a, b): |a & b| / |a | b|, 1 when both are empty. */
Datum
personalize_audience_jaccard(PG_FUNCTION_ARGS)
{
	bytea		*a = PG_GETARG_BYTEA_PP(0);
	bytea		*b = PG_GETARG_BYTEA_PP(1);
	AudienceView va,
		vb;
	uint64 inter,
		uni;

	open_stored(&va, a);
	open_stored(&vb, b);
	inter = audience_and_cardinality(a, b);
	uni = audience_view_cardinality(&va) + audience_view_cardinality(&vb) - inter;
	PG_RETURN_FLOAT8(uni == 0 ? 1.0 : (double) inter / (double) uni);
}

/* Whether profile id belongs to audience a. */
static bool
audience_has(const bytea *a, int64 id)
{
	AudienceView v;
	uint32		 x = personalize_audience_id(id);

	open_stored(&v, a);
	return audience_view_contains(&v, x);
}

/* personalize.contains(audience, bigint) and operator @>. */
Datum
personalize_audience_contains(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(audience_has(PG_GETARG_BYTEA_PP(0), PG_GETARG_INT64(1)));
}

/* Operator bigint <@ audience. */
Datum
personalize_audience_contained(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(audience_has(PG_GETARG_BYTEA_PP(1), PG_GETARG_INT64(0)));
}

/* Cross-call state of audience_members: the value and a walk over it. */
typedef struct MembersState
{
	AudienceView v;
	AudienceIter it;
} MembersState;

/* personalize.audience_members(audience): the profile numbers as rows, ascending. */
Datum
personalize_audience_members(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	MembersState	*st;
	uint32			 x;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext old;
		bytea		 *a;

		funcctx = SRF_FIRSTCALL_INIT();
		old = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		a = PG_GETARG_BYTEA_P_COPY(0);
		st = palloc(sizeof(MembersState));
		open_stored(&st->v, a);
		audience_iter_init(&st->it, &st->v);
		funcctx->user_fctx = st;
		MemoryContextSwitchTo(old);
	}
	funcctx = SRF_PERCALL_SETUP();
	st = funcctx->user_fctx;
	CHECK_FOR_INTERRUPTS();
	if (audience_iter_next(&st->it, &x))
		SRF_RETURN_NEXT(funcctx, Int64GetDatum((int64) x));
	SRF_RETURN_DONE(funcctx);
}

/* personalize.audience_from_array(bigint[]): NULL elements are skipped. */
Datum
personalize_audience_from_array(PG_FUNCTION_ARGS)
{
	ArrayType *arr = PG_GETARG_ARRAYTYPE_P(0);
	Datum	  *elems;
	bool	  *nulls;
	int		   n,
		k = 0;
	uint32 *ids;

	deconstruct_array(arr, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &n);
	ids = palloc(sizeof(uint32) * Max(n, 1));
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			ids[k++] = personalize_audience_id(DatumGetInt64(elems[i]));
	PG_RETURN_BYTEA_P(personalize_audience_from_ids(ids, k));
}

/* Reset callback of an aggregate state's context: frees the bitmap. */
static void
state_free(void *arg)
{
	AudienceState *s = arg;

	if (s->rb != NULL)
		roaring_bitmap_free(s->rb);
	s->rb = NULL;
}

/* A new empty state in cxt, its bitmap freed when cxt is reset or deleted. */
static AudienceState *
state_create(MemoryContext cxt)
{
	AudienceState *s = MemoryContextAllocZero(cxt, sizeof(AudienceState));

	s->rb = roaring_bitmap_create();
	check_alloc(s->rb);
	s->cb.func = state_free;
	s->cb.arg = s;
	MemoryContextRegisterResetCallback(cxt, &s->cb);
	return s;
}

/* Moves the buffered ids of audience_agg into the bitmap. */
static void
state_flush(AudienceState *s)
{
	if (s->nbuf > 0)
		roaring_bitmap_add_many(s->rb, s->nbuf, s->buf);
	s->nbuf = 0;
}

/* The aggregate context, or an error when called as a plain function. */
static MemoryContext
agg_context(FunctionCallInfo fcinfo, const char *name)
{
	MemoryContext cxt;

	if (!AggCheckCallContext(fcinfo, &cxt))
		elog(ERROR, "%s called in non-aggregate context", name);
	return cxt;
}

/* Transition of audience_agg(bigint): NULLs are skipped. */
Datum
personalize_audience_agg_trans(PG_FUNCTION_ARGS)
{
	MemoryContext  cxt = agg_context(fcinfo, "audience_agg_trans");
	AudienceState *s = PG_ARGISNULL(0) ? NULL : (AudienceState *) PG_GETARG_POINTER(0);
	uint32		   x;

	if (PG_ARGISNULL(1))
	{
		if (s == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s);
	}
	x = personalize_audience_id(PG_GETARG_INT64(1));
	if (s == NULL)
		s = state_create(cxt);
	s->any = true;
	if (s->nbuf == AGG_BUFFER)
		state_flush(s);
	s->buf[s->nbuf++] = x;
	PG_RETURN_POINTER(s);
}

/* Folds one stored audience into a state: union, or intersection once the state has any input. */
static void
state_fold(AudienceState *s, const bytea *a, bool intersect)
{
	roaring_bitmap_t *volatile r = NULL;

	PG_TRY();
	{
		r = personalize_audience_to_roaring(a);
		if (intersect && s->any)
			roaring_bitmap_and_inplace(s->rb, r);
		else
			roaring_bitmap_or_inplace(s->rb, r);
	}
	PG_CATCH();
	{
		if (r != NULL)
			roaring_bitmap_free(r);
		PG_RE_THROW();
	}
	PG_END_TRY();
	roaring_bitmap_free(r);
	s->any = true;
}

/* Transition of audience_union_agg(audience). */
Datum
personalize_audience_union_trans(PG_FUNCTION_ARGS)
{
	MemoryContext  cxt = agg_context(fcinfo, "audience_union_trans");
	AudienceState *s = PG_ARGISNULL(0) ? NULL : (AudienceState *) PG_GETARG_POINTER(0);

	if (PG_ARGISNULL(1))
	{
		if (s == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s);
	}
	if (s == NULL)
		s = state_create(cxt);
	state_fold(s, PG_GETARG_BYTEA_PP(1), false);
	PG_RETURN_POINTER(s);
}

/* Transition of audience_intersect_agg(audience): the first input is taken as it is. */
Datum
personalize_audience_intersect_trans(PG_FUNCTION_ARGS)
{
	MemoryContext  cxt = agg_context(fcinfo, "audience_intersect_trans");
	AudienceState *s = PG_ARGISNULL(0) ? NULL : (AudienceState *) PG_GETARG_POINTER(0);

	if (PG_ARGISNULL(1))
	{
		if (s == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s);
	}
	if (s == NULL)
		s = state_create(cxt);
	if (!(s->any && roaring_bitmap_is_empty(s->rb))) /* an empty intersection stays empty */
		state_fold(s, PG_GETARG_BYTEA_PP(1), true);
	PG_RETURN_POINTER(s);
}

/* Combine of audience_agg and audience_union_agg: union of two partial states. */
Datum
personalize_audience_union_combine(PG_FUNCTION_ARGS)
{
	MemoryContext  cxt = agg_context(fcinfo, "audience_union_combine");
	AudienceState *s1 = PG_ARGISNULL(0) ? NULL : (AudienceState *) PG_GETARG_POINTER(0);
	AudienceState *s2 = PG_ARGISNULL(1) ? NULL : (AudienceState *) PG_GETARG_POINTER(1);

	if (s2 == NULL || !s2->any)
	{
		if (s1 == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s1);
	}
	if (s1 == NULL)
		s1 = state_create(cxt);
	state_flush(s1);
	state_flush(s2);
	roaring_bitmap_or_inplace(s1->rb, s2->rb);
	s1->any = true;
	PG_RETURN_POINTER(s1);
}

/* Combine of audience_intersect_agg: a state without input is the identity. */
Datum
personalize_audience_intersect_combine(PG_FUNCTION_ARGS)
{
	MemoryContext  cxt = agg_context(fcinfo, "audience_intersect_combine");
	AudienceState *s1 = PG_ARGISNULL(0) ? NULL : (AudienceState *) PG_GETARG_POINTER(0);
	AudienceState *s2 = PG_ARGISNULL(1) ? NULL : (AudienceState *) PG_GETARG_POINTER(1);

	if (s2 == NULL || !s2->any)
	{
		if (s1 == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s1);
	}
	if (s1 == NULL)
		s1 = state_create(cxt);
	if (s1->any)
		roaring_bitmap_and_inplace(s1->rb, s2->rb);
	else
		roaring_bitmap_or_inplace(s1->rb, s2->rb);
	s1->any = true;
	PG_RETURN_POINTER(s1);
}

/* Final function of the three aggregates: NULL when no non-NULL input was seen. */
Datum
personalize_audience_agg_final(PG_FUNCTION_ARGS)
{
	AudienceState *s = PG_ARGISNULL(0) ? NULL : (AudienceState *) PG_GETARG_POINTER(0);

	agg_context(fcinfo, "audience_agg_final");
	if (s == NULL || !s->any)
		PG_RETURN_NULL();
	state_flush(s);
	PG_RETURN_BYTEA_P(personalize_audience_from_roaring(s->rb));
}

/* Serialization of a partial state: one flag byte (input seen) and the portable bitmap. */
Datum
personalize_audience_agg_serialize(PG_FUNCTION_ARGS)
{
	AudienceState *s = (AudienceState *) PG_GETARG_POINTER(0);
	size_t		   size;
	bytea		  *result;

	agg_context(fcinfo, "audience_agg_serialize");
	state_flush(s);
	roaring_bitmap_run_optimize(s->rb);
	size = roaring_bitmap_portable_size_in_bytes(s->rb);
	if (size > MaxAllocSize - VARHDRSZ - 1)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("audience is too large"),
				 errdetail("Its serialization would take %zu bytes.", size)));
	result = palloc(VARHDRSZ + 1 + size);
	SET_VARSIZE(result, VARHDRSZ + 1 + size);
	VARDATA(result)
	[0] = s->any ? 1 : 0;
	if (roaring_bitmap_portable_serialize(s->rb, VARDATA(result) + 1) != size)
		elog(ERROR, "roaring_bitmap_portable_serialize wrote an unexpected size");
	PG_RETURN_BYTEA_P(result);
}

/* Deserialization of a partial state; the bytes are validated in full first. */
Datum
personalize_audience_agg_deserialize(PG_FUNCTION_ARGS)
{
	bytea		  *b = PG_GETARG_BYTEA_PP(0);
	const char	  *data = VARDATA_ANY(b);
	size_t		   len = VARSIZE_ANY_EXHDR(b);
	AudienceState *s;

	agg_context(fcinfo, "audience_agg_deserialize");
	if (len < 1 || (data[0] != 0 && data[0] != 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid serialized audience aggregate state"),
				 errdetail("The state must start with a flag byte of 0 or 1.")));
	validate_external(data + 1, len - 1);
	s = state_create(CurrentMemoryContext);
	roaring_bitmap_free(s->rb);
	s->rb = roaring_bitmap_portable_deserialize_safe(data + 1, len - 1);
	check_alloc(s->rb);
	s->any = data[0] == 1;
	PG_RETURN_POINTER(s);
}
