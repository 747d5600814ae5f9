/*
 * vectors.c: the C side of the stored feature vectors (src/predict/vectors.sql): the features a
 * stored row gives as of a time (vector_live_features, shared with the lookalike scan, and
 * personalize._vector_features), the aggregate personalize._interest_shares, the one place
 * that turns a profile's interest scores into the shares of the feature categories, and
 * personalize._written_since, which tells the rows a refresh could not see (parallel safe, unlike
 * age(xid)).
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/supportnodes.h"
#include "access/transam.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/xid8.h"

#include "predict/vectors.h"
#include "scoring/scoring.h"

PG_FUNCTION_INFO_V1(personalize_vector_features);
PG_FUNCTION_INFO_V1(personalize_interest_shares_trans);
PG_FUNCTION_INFO_V1(personalize_interest_shares_final);
PG_FUNCTION_INFO_V1(personalize_written_since);
PG_FUNCTION_INFO_V1(personalize_written_since_support);

/* 30 days in microseconds: the purchase recency's scale. */
#define RECENCY_USECS (30.0 * USECS_PER_DAY)

/* The live features as of t from 6 stored columns starting at argument arg (vectors.h). */
void
vector_live_features(FunctionCallInfo fcinfo, int arg, TimestampTz t, double *x)
{
	double h = (double) personalize_half_life_s * USECS_PER_SEC;

	x[0] = 0;
	if (!PG_ARGISNULL(arg) && PG_GETARG_TIMESTAMPTZ(arg) <= t)
		x[0] = 1 / (1 + (double) (t - PG_GETARG_TIMESTAMPTZ(arg)) / RECENCY_USECS);
	x[1] = log(1 + (PG_ARGISNULL(arg + 1) ? 0 : PG_GETARG_FLOAT8(arg + 1)));
	x[2] = log(1 + (PG_ARGISNULL(arg + 2) ? 0 : fmax(PG_GETARG_FLOAT8(arg + 2), 0)));
	x[3] = 0;
	if (!PG_ARGISNULL(arg + 3) && !PG_ARGISNULL(arg + 4))
	{
		double		e = PG_GETARG_FLOAT8(arg + 3);
		TimestampTz at = PG_GETARG_TIMESTAMPTZ(arg + 4);

		if (at != t && e != 0)
			e *= exp2(-((double) (t - at)) / h);
		x[3] = log(1 + fmax(e, 0));
	}
	x[4] = log(1 + (PG_ARGISNULL(arg + 5) ? 0 : PG_GETARG_FLOAT8(arg + 5)));
}

/*
 * SQL: personalize._vector_features(last_purchase_at, purchases, spend, engagement,
 * engagement_as_of, events, shares, as_of): a stored vector's features as of as_of (the live
 * features, then the shares).
 */
Datum
personalize_vector_features(PG_FUNCTION_ARGS)
{
	ArrayType *sh;
	int		   n;
	Datum	  *e;
	double	   x[LIVE_FEATURES];

	if (PG_ARGISNULL(6) || PG_ARGISNULL(7))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("a stored vector needs its shares and a time")));
	sh = PG_GETARG_ARRAYTYPE_P(6);
	if (ARR_NDIM(sh) != 1 || ARR_HASNULL(sh) || ARR_ELEMTYPE(sh) != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("interest shares must be a one-dimensional float8 array without NULLs")));
	n = ARR_DIMS(sh)[0];
	vector_live_features(fcinfo, 0, PG_GETARG_TIMESTAMPTZ(7), x);
	e = palloc(sizeof(Datum) * (LIVE_FEATURES + n));
	for (int j = 0; j < LIVE_FEATURES; j++)
		e[j] = Float8GetDatum(x[j]);
	for (int j = 0; j < n; j++)
		e[LIVE_FEATURES + j] = Float8GetDatum(((const double *) ARR_DATA_PTR(sh))[j]);
	PG_RETURN_ARRAYTYPE_P(construct_array(e, LIVE_FEATURES + n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* The _interest_shares state: the categories asked for, the score of each and the total. */
typedef struct SharesState
{
	int	   n;
	text  *cats[FEATURE_CATEGORIES]; /* NULL past n */
	double sum[FEATURE_CATEGORIES];
	double total;
} SharesState;

/*
 * _interest_shares transition: (category, score, cats). Every non-NULL score adds to the total,
 * and to its category's sum when the category is one of cats (at most FEATURE_CATEGORIES; a
 * NULL element matches nothing). The first row's cats are the ones used.
 */
Datum
personalize_interest_shares_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext, old;
	SharesState	 *s;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "_interest_shares transition called in a non-aggregate context");
	s = PG_ARGISNULL(0) ? NULL : (SharesState *) PG_GETARG_POINTER(0);
	if (s == NULL)
	{
		ArrayType *a;
		Datum	  *e;
		bool	  *nulls;
		int		   n;

		if (PG_ARGISNULL(3))
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("the feature categories must not be NULL")));
		a = PG_GETARG_ARRAYTYPE_P(3);
		if (ARR_NDIM(a) > 1 || ARR_ELEMTYPE(a) != TEXTOID)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("the feature categories must be a one-dimensional text array")));
		deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &e, &nulls, &n);
		if (n > FEATURE_CATEGORIES)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("at most %d feature categories", FEATURE_CATEGORIES),
					 errdetail("Got %d.", n)));
		s = MemoryContextAllocZero(aggcontext, sizeof(SharesState));
		s->n = n;
		old = MemoryContextSwitchTo(aggcontext);
		for (int j = 0; j < n; j++)
			s->cats[j] = nulls[j] ? NULL : DatumGetTextPCopy(e[j]);
		MemoryContextSwitchTo(old);
	}
	if (PG_ARGISNULL(2))
		PG_RETURN_POINTER(s);
	s->total += PG_GETARG_FLOAT8(2);
	if (!PG_ARGISNULL(1))
	{
		text *c = PG_GETARG_TEXT_PP(1);

		for (int j = 0; j < s->n; j++)
			if (s->cats[j] != NULL && VARSIZE_ANY_EXHDR(s->cats[j]) == VARSIZE_ANY_EXHDR(c) && memcmp(VARDATA_ANY(s->cats[j]), VARDATA_ANY(c), VARSIZE_ANY_EXHDR(c)) == 0)
			{
				s->sum[j] += PG_GETARG_FLOAT8(2);
				break;
			}
	}
	PG_RETURN_POINTER(s);
}

/*
 * _interest_shares final: FEATURE_CATEGORIES shares, each category's score over the total (0 for
 * a category not given, or when the total is 0).
 */
Datum
personalize_interest_shares_final(PG_FUNCTION_ARGS)
{
	SharesState *s = PG_ARGISNULL(0) ? NULL : (SharesState *) PG_GETARG_POINTER(0);
	Datum		 e[FEATURE_CATEGORIES];

	for (int j = 0; j < FEATURE_CATEGORIES; j++)
		e[j] = Float8GetDatum(s != NULL && s->total != 0 ? s->sum[j] / s->total : 0);
	PG_RETURN_ARRAYTYPE_P(construct_array(e, FEATURE_CATEGORIES, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * SQL: personalize._written_since(row_xmin, since, snap): whether a row version written by the
 * 32-bit transaction row_xmin is one the snapshot snap did not see; since is snap's xmin. A
 * normal row_xmin less than 2^31 past since (modulo 2^32) is that far past it, and counts unless
 * snap saw it committed; any other was seen: frozen, or older than since (an unfrozen xid is
 * always less than 2^31 behind the newest, so it cannot read as past since unless it is).
 */
Datum
personalize_written_since(PG_FUNCTION_ARGS)
{
	TransactionId	  x = DatumGetTransactionId(PG_GETARG_DATUM(0));
	FullTransactionId since = PG_GETARG_FULLTRANSACTIONID(1);
	uint32			  ahead;

	if (!TransactionIdIsNormal(x))
		PG_RETURN_BOOL(false);
	ahead = (uint32) (x - XidFromFullTransactionId(since));
	if (ahead >= ((uint32) 1 << 31))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(!DatumGetBool(DirectFunctionCall2(
		pg_visible_in_snapshot,
		FullTransactionIdGetDatum(FullTransactionIdFromU64(U64FromFullTransactionId(since) + ahead)),
		PG_GETARG_DATUM(2))));
}

/* The share of profiles the planner assumes _written_since finds: few, so that their scan may run in parallel. */
#define WRITTEN_SINCE_SELECTIVITY 0.01

/* The planner support of _written_since: its selectivity (the default, a third, would keep the scan serial). */
Datum
personalize_written_since_support(PG_FUNCTION_ARGS)
{
	Node *req = (Node *) PG_GETARG_POINTER(0);

	if (IsA(req, SupportRequestSelectivity))
	{
		((SupportRequestSelectivity *) req)->selectivity = WRITTEN_SINCE_SELECTIVITY;
		PG_RETURN_POINTER(req);
	}
	PG_RETURN_POINTER(NULL);
}
