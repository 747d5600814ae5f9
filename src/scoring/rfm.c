/*
 * rfm.c: recency, frequency and monetary value. The aggregate personalize.rfm_agg(occurred_at,
 * amount, as_of) returns a personalize.rfm row (recency in days as of as_of, frequency, monetary
 * total, first and last purchase, rows ignored). Its monetary total is PostgreSQL's own exact
 * numeric sum: the state holds the built-in sum(numeric) state, driven through the built-in
 * transition, combine, serialize and deserialize functions, so the aggregate runs in parallel
 * plans and never rounds. Also here: the amount of a purchase event (personalize.purchase_amount)
 * and the score of a value against quantile breakpoints (personalize.rfm_score).
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "scoring.h"

PG_FUNCTION_INFO_V1(personalize_rfm_trans);
PG_FUNCTION_INFO_V1(personalize_rfm_combine);
PG_FUNCTION_INFO_V1(personalize_rfm_serialize);
PG_FUNCTION_INFO_V1(personalize_rfm_deserialize);
PG_FUNCTION_INFO_V1(personalize_rfm_final);
PG_FUNCTION_INFO_V1(personalize_purchase_amount);
PG_FUNCTION_INFO_V1(personalize_rfm_score);
PG_FUNCTION_INFO_V1(personalize_recency_days);
PG_FUNCTION_INFO_V1(personalize_usable_amount);

/* The fixed-size part of the state, serialized as is. */
typedef struct RfmHeader
{
	int64		frequency; /* purchases counted */
	TimestampTz first;	   /* earliest counted purchase */
	TimestampTz last;	   /* latest counted purchase */
	TimestampTz as_of;
	int64		ignored[IGNORED_NREASONS];
	bool		has_as_of;
	bool		has_sum;
} RfmHeader;

/* The running state of rfm_agg: the header and the built-in numeric sum state. */
typedef struct RfmState
{
	RfmHeader h;
	Datum	  sum; /* NumericAggState *, owned by the built-in sum(numeric) */
} RfmState;

/* Calls a built-in numeric aggregate support function in this aggregate's context. */
static Datum
call_numeric_agg(FunctionCallInfo outer, PGFunction fn, Datum a0, bool null0, Datum a1, bool null1,
				 bool *isnull)
{
	LOCAL_FCINFO(f, 2);
	Datum result;

	InitFunctionCallInfoData(*f, NULL, 2, InvalidOid, outer->context, NULL);
	f->args[0].value = a0;
	f->args[0].isnull = null0;
	f->args[1].value = a1;
	f->args[1].isnull = null1;
	result = fn(f);
	*isnull = f->isnull;
	return result;
}

/* Zero as a numeric, made once per backend. */
static Numeric
numeric_zero(void)
{
	static Numeric zero = NULL;

	if (zero == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		zero = int64_to_numeric(0);
		MemoryContextSwitchTo(old);
	}
	return zero;
}

/* Transition of rfm_agg(occurred_at, amount, as_of). */
Datum
personalize_rfm_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	RfmState	 *state;
	TimestampTz	  t;
	Numeric		  amount;
	bool		  isnull;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "rfm_agg transition called in non-aggregate context");
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("as_of must not be null"),
				 errhint("Pass the time to measure recency from, such as now().")));
	if (PG_ARGISNULL(0))
	{
		state = MemoryContextAllocZero(aggcontext, sizeof(RfmState));
		state->h.as_of = PG_GETARG_TIMESTAMPTZ(3);
		scoring_check_finite(state->h.as_of, "as_of");
		state->h.has_as_of = true;
	}
	else
		state = (RfmState *) PG_GETARG_POINTER(0);
	if (PG_GETARG_TIMESTAMPTZ(3) != state->h.as_of)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be the same for every row of a group")));

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		state->h.ignored[IGNORED_NULL]++;
		PG_RETURN_POINTER(state);
	}
	t = PG_GETARG_TIMESTAMPTZ(1);
	amount = PG_GETARG_NUMERIC(2);
	if (TIMESTAMP_NOT_FINITE(t))
		state->h.ignored[IGNORED_INFINITE_TIME]++;
	else if (t > state->h.as_of)
		state->h.ignored[IGNORED_FUTURE]++;
	else if (numeric_is_nan(amount) || numeric_is_inf(amount))
		state->h.ignored[IGNORED_NAN_AMOUNT]++;
	else if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(amount),
											   NumericGetDatum(numeric_zero()))) < 0)
		state->h.ignored[IGNORED_NEGATIVE_AMOUNT]++;
	else
	{
		if (state->h.frequency == 0 || t < state->h.first)
			state->h.first = t;
		if (state->h.frequency == 0 || t > state->h.last)
			state->h.last = t;
		state->h.frequency++;
		state->sum = call_numeric_agg(fcinfo, numeric_avg_accum,
									  state->sum, !state->h.has_sum,
									  NumericGetDatum(amount), false, &isnull);
		state->h.has_sum = true;
	}
	PG_RETURN_POINTER(state);
}

/* Combine: counts add up, first and last widen, the numeric sums combine exactly. */
Datum
personalize_rfm_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	RfmState	 *a = PG_ARGISNULL(0) ? NULL : (RfmState *) PG_GETARG_POINTER(0);
	RfmState	 *b = PG_ARGISNULL(1) ? NULL : (RfmState *) PG_GETARG_POINTER(1);
	bool		  isnull;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "rfm_agg combine called in non-aggregate context");
	if (b == NULL)
		PG_RETURN_POINTER(a);
	if (a == NULL)
	{
		a = MemoryContextAllocZero(aggcontext, sizeof(RfmState));
		a->h.as_of = b->h.as_of;
		a->h.has_as_of = b->h.has_as_of;
	}
	if (a->h.has_as_of && b->h.has_as_of && a->h.as_of != b->h.as_of)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be the same for every row of a group")));
	if (!a->h.has_as_of)
	{
		a->h.as_of = b->h.as_of;
		a->h.has_as_of = b->h.has_as_of;
	}
	if (b->h.frequency > 0)
	{
		if (a->h.frequency == 0 || b->h.first < a->h.first)
			a->h.first = b->h.first;
		if (a->h.frequency == 0 || b->h.last > a->h.last)
			a->h.last = b->h.last;
		a->h.frequency += b->h.frequency;
	}
	if (b->h.has_sum)
	{
		a->sum = call_numeric_agg(fcinfo, numeric_avg_combine, a->sum, !a->h.has_sum,
								  b->sum, false, &isnull);
		a->h.has_sum = !isnull;
	}
	for (int i = 0; i < IGNORED_NREASONS; i++)
		a->h.ignored[i] += b->h.ignored[i];
	PG_RETURN_POINTER(a);
}

/* Serialize: the header, then the built-in numeric sum state's own serialization. */
Datum
personalize_rfm_serialize(PG_FUNCTION_ARGS)
{
	RfmState	  *state = (RfmState *) PG_GETARG_POINTER(0);
	StringInfoData buf;
	bool		   isnull;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "rfm_agg serialize called in non-aggregate context");
	pq_begintypsend(&buf);
	pq_sendbytes(&buf, (const char *) &state->h, sizeof(RfmHeader));
	if (state->h.has_sum)
	{
		bytea *sum = DatumGetByteaPP(call_numeric_agg(fcinfo, numeric_avg_serialize,
													  state->sum, false, (Datum) 0, true,
													  &isnull));

		pq_sendbytes(&buf, VARDATA_ANY(sum), VARSIZE_ANY_EXHDR(sum));
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Deserialize: validates the length of the header and hands the rest to the built-in. */
Datum
personalize_rfm_deserialize(PG_FUNCTION_ARGS)
{
	bytea	 *data = PG_GETARG_BYTEA_PP(0);
	size_t	  len = VARSIZE_ANY_EXHDR(data);
	RfmState *state;
	bool	  isnull;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "rfm_agg deserialize called in non-aggregate context");
	if (len < sizeof(RfmHeader))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid rfm_agg state"),
				 errdetail("The state is %zu bytes, shorter than its %zu-byte header.",
						   len, sizeof(RfmHeader))));
	state = palloc0(sizeof(RfmState));
	memcpy(&state->h, VARDATA_ANY(data), sizeof(RfmHeader));
	if (state->h.has_sum != (len > sizeof(RfmHeader)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid rfm_agg state"),
				 errdetail("The header and the length of the sum state disagree.")));
	if (state->h.has_sum)
	{
		size_t n = len - sizeof(RfmHeader);
		bytea *sum = palloc(VARHDRSZ + n);

		SET_VARSIZE(sum, VARHDRSZ + n);
		memcpy(VARDATA(sum), VARDATA_ANY(data) + sizeof(RfmHeader), n);
		state->sum = call_numeric_agg(fcinfo, numeric_avg_deserialize, PointerGetDatum(sum), false,
									  (Datum) 0, true, &isnull);
	}
	PG_RETURN_POINTER(state);
}

/* Final: the personalize.rfm row; recency is in days from the last purchase to as_of. */
Datum
personalize_rfm_final(PG_FUNCTION_ARGS)
{
	RfmState *state = PG_ARGISNULL(0) ? NULL : (RfmState *) PG_GETARG_POINTER(0);
	TupleDesc tupdesc;
	Datum	  values[6];
	bool	  nulls[6] = {false, false, false, false, false, false};
	int64	  ignored = 0;
	bool	  isnull = true;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "rfm_agg must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);
	if (state != NULL)
	{
		scoring_note_ignored(AGG_RFM, state->h.ignored);
		for (int i = 0; i < IGNORED_NREASONS; i++)
			ignored += state->h.ignored[i];
	}
	if (state == NULL || state->h.frequency == 0)
	{
		nulls[0] = nulls[3] = nulls[4] = true;
		values[1] = Int64GetDatum(0);
		values[2] = NumericGetDatum(int64_to_numeric(0));
	}
	else
	{
		values[0] = Float8GetDatum((double) (state->h.as_of - state->h.last) / (double) USECS_PER_DAY);
		values[1] = Int64GetDatum(state->h.frequency);
		values[2] = call_numeric_agg(fcinfo, numeric_sum, state->sum, !state->h.has_sum,
									 (Datum) 0, true, &isnull);
		if (isnull)
			values[2] = NumericGetDatum(int64_to_numeric(0));
		values[3] = TimestampTzGetDatum(state->h.first);
		values[4] = TimestampTzGetDatum(state->h.last);
	}
	values[5] = Int64GetDatum(ignored);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * SQL: personalize.purchase_amount(properties, keys): the value of the first of keys present
 * (and not JSON null) in properties, if it is a JSON number; NULL otherwise.
 */
Datum
personalize_purchase_amount(PG_FUNCTION_ARGS)
{
	Jsonb	  *props = PG_GETARG_JSONB_P(0);
	ArrayType *keys = PG_GETARG_ARRAYTYPE_P(1);
	Datum	  *elems;
	bool	  *enulls;
	int		   n;

	if (!JB_ROOT_IS_OBJECT(props))
		PG_RETURN_NULL();
	deconstruct_array(keys, TEXTOID, -1, false, TYPALIGN_INT, &elems, &enulls, &n);
	for (int i = 0; i < n; i++)
	{
		JsonbValue *v;
		text	   *key;

		CHECK_FOR_INTERRUPTS();
		if (enulls[i])
			continue;
		key = DatumGetTextPP(elems[i]);
		v = getKeyJsonValueFromContainer(&props->root, VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), NULL);
		if (v == NULL || v->type == jbvNull)
			continue;
		if (v->type != jbvNumeric)
			PG_RETURN_NULL();
		PG_RETURN_NUMERIC(v->val.numeric);
	}
	PG_RETURN_NULL();
}

/* Breakpoints of the last call of rfm_score, kept in fn_extra: queries pass the same array per row. */
typedef struct BreaksCache
{
	Size	len; /* bytes of the array they came from */
	int		n;
	double *values;
	char   *raw; /* a copy of that array, to recognize it */
} BreaksCache;

/* The breakpoints of an array, deconstructed once per distinct array per call site. */
static BreaksCache *
breaks_of(FunctionCallInfo fcinfo, ArrayType *breaks)
{
	BreaksCache	 *cache = (BreaksCache *) fcinfo->flinfo->fn_extra;
	Size		  len = VARSIZE(breaks);
	MemoryContext old;
	Datum		 *elems;
	bool		 *enulls;
	int			  n;

	if (cache != NULL && cache->len == len && memcmp(cache->raw, breaks, len) == 0)
		return cache;
	if (ARR_NDIM(breaks) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("breakpoints must be a one-dimensional array"),
				 errdetail("The array has %d dimensions.", ARR_NDIM(breaks))));
	deconstruct_array(breaks, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &enulls, &n);
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	if (cache == NULL)
		cache = palloc0(sizeof(BreaksCache));
	else
	{
		pfree(cache->values);
		pfree(cache->raw);
	}
	cache->values = palloc(sizeof(double) * Max(n, 1));
	cache->raw = palloc(len);
	MemoryContextSwitchTo(old);
	for (int i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (enulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("breakpoints must not contain nulls")));
		cache->values[i] = DatumGetFloat8(elems[i]);
	}
	memcpy(cache->raw, breaks, len);
	cache->len = len;
	cache->n = n;
	fcinfo->flinfo->fn_extra = cache;
	return cache;
}

/*
 * SQL: personalize.rfm_score(value, breakpoints, reverse): the bin of value among the bins
 * [min, b1), [b1, b2), ..., [bk, max]: 1 + the number of breakpoints <= value, or, reversed,
 * k + 1 minus that (5 = the lowest values of 5 bins, as for recency).
 */
Datum
personalize_rfm_score(PG_FUNCTION_ARGS)
{
	float8		 value = PG_GETARG_FLOAT8(0);
	bool		 reverse = PG_GETARG_BOOL(2);
	BreaksCache *breaks;
	int			 below = 0;

	if (isnan(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot score NaN")));
	breaks = breaks_of(fcinfo, PG_GETARG_ARRAYTYPE_P(1));
	for (int i = 0; i < breaks->n; i++)
		if (breaks->values[i] <= value)
			below++;
	PG_RETURN_INT32(reverse ? breaks->n + 1 - below : 1 + below);
}

/* SQL: personalize.recency_days(last_purchase, as_of): days from last_purchase to as_of, as float8. */
Datum
personalize_recency_days(PG_FUNCTION_ARGS)
{
	TimestampTz last = PG_GETARG_TIMESTAMPTZ(0);
	TimestampTz as_of = PG_GETARG_TIMESTAMPTZ(1);

	scoring_check_finite(last, "last_purchase");
	scoring_check_finite(as_of, "as_of");
	PG_RETURN_FLOAT8((double) (as_of - last) / (double) USECS_PER_DAY);
}

/*
 * SQL: personalize._usable_amount(amount): the amount when a purchase counts with it (zero or more,
 * finite), else NULL; the one definition the live state (ingest, rebuild, the exact path) uses.
 */
Datum
personalize_usable_amount(PG_FUNCTION_ARGS)
{
	Numeric a = PG_GETARG_NUMERIC(0);

	if (numeric_is_nan(a) || numeric_is_inf(a) ||
		DatumGetBool(DirectFunctionCall2(numeric_lt, NumericGetDatum(a), NumericGetDatum(numeric_zero()))))
		PG_RETURN_NULL();
	PG_RETURN_NUMERIC(a);
}
