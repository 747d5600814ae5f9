/*
 * lookalike.c: the exact lookalike scan over every profile in one pass (the aggregate
 * personalize._lookalike_scan behind personalize.lookalike()). Each row is a profile with its
 * stored interest shares (personalize.profile_vectors) and live purchase, engagement and activity
 * columns, from which its features as of the scan's time are computed here (the formulas of
 * personalize.profile_features), or a profile whose features were computed by profile_features
 * itself (stale or newer than as_of). The final step takes the population's and the seed's moments,
 * scores every profile outside the seed with km_lookalike_similarity and keeps the n best.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "predict/kmeans_model.h"
#include "scoring/scoring.h"

PG_FUNCTION_INFO_V1(personalize_lookalike_scan_trans);
PG_FUNCTION_INFO_V1(personalize_lookalike_scan_final);

/* The features of a profile: 5 from the live columns, then the interest shares. */
#define LIVE_FEATURES 5
#define MAX_FEATURES 100
/* 30 days in microseconds: the purchase recency's scale. */
#define RECENCY_USECS (30.0 * USECS_PER_DAY)

/* The scan's state: every profile's id, whether it is in the seed, and its features. */
typedef struct LookalikeScan
{
	int64	n, cap;
	int32	d;	  /* features per profile (0 until the first row) */
	int32	want; /* n best to keep */
	int64  *ids;  /* [cap] */
	bool   *seed; /* [cap] */
	double *v;	  /* [cap * d] */
	int		nseed, nskip;
	int64  *seed_ids; /* [nseed], sorted: the seed's members */
	int64  *skip_ids; /* [nskip], sorted: profiles whose stored row is skipped */
} LookalikeScan;

/* Grows the state by doubling so that one more row fits. */
static void
scan_reserve(LookalikeScan *s, MemoryContext cxt)
{
	int64 cap;

	if (s->n < s->cap)
		return;
	cap = s->cap ? s->cap * 2 : 4096;
	s->ids = s->ids ? repalloc_huge(s->ids, cap * sizeof(int64)) : MemoryContextAllocHuge(cxt, cap * sizeof(int64));
	s->seed = s->seed ? repalloc_huge(s->seed, cap * sizeof(bool)) : MemoryContextAllocHuge(cxt, cap * sizeof(bool));
	s->v = s->v ? repalloc_huge(s->v, (Size) cap * s->d * sizeof(double))
				: MemoryContextAllocHuge(cxt, (Size) cap * s->d * sizeof(double));
	s->cap = cap;
}

/* The values of a float8[] without NULLs; its length in *n. */
static const double *
float8_values(ArrayType *a, int *n, const char *what)
{
	if (ARR_NDIM(a) > 1 || ARR_HASNULL(a) || ARR_ELEMTYPE(a) != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional float8 array without NULLs", what)));
	*n = ARR_NDIM(a) == 0 ? 0 : ARR_DIMS(a)[0];
	return (const double *) ARR_DATA_PTR(a);
}

/*
 * The live features as of t (personalize.profile_features): purchase recency 1 / (1 + days since
 * the last purchase / 30) (0 without one), ln(1 + purchases), ln(1 + spend), ln(1 + engagement
 * decayed to t), ln(1 + events).
 */
static void
live_features(FunctionCallInfo fcinfo, TimestampTz t, double *x)
{
	double h = (double) personalize_half_life_s * USECS_PER_SEC;

	x[0] = 0;
	if (!PG_ARGISNULL(3) && PG_GETARG_TIMESTAMPTZ(3) <= t)
		x[0] = 1 / (1 + (double) (t - PG_GETARG_TIMESTAMPTZ(3)) / RECENCY_USECS);
	x[1] = log(1 + (PG_ARGISNULL(4) ? 0 : PG_GETARG_FLOAT8(4)));
	x[2] = log(1 + (PG_ARGISNULL(5) ? 0 : fmax(PG_GETARG_FLOAT8(5), 0)));
	x[3] = 0;
	if (!PG_ARGISNULL(6) && !PG_ARGISNULL(7))
	{
		double		e = PG_GETARG_FLOAT8(6);
		TimestampTz at = PG_GETARG_TIMESTAMPTZ(7);

		if (at != t && e != 0)
			e *= exp2(-((double) (t - at)) / h);
		x[3] = log(1 + fmax(e, 0));
	}
	x[4] = log(1 + (PG_ARGISNULL(8) ? 0 : PG_GETARG_FLOAT8(8)));
}

/* Compares two int64s, for qsort and bsearch. */
static int
cmp_int64(const void *a, const void *b)
{
	int64 x = *(const int64 *) a, y = *(const int64 *) b;

	return x < y ? -1 : x > y;
}

/* A bigint[] argument's values, copied into cxt and sorted; NULL or empty gives none. */
static int64 *
sorted_ids(FunctionCallInfo fcinfo, int arg, MemoryContext cxt, int *n)
{
	ArrayType *a;
	int64	  *ids;

	*n = 0;
	if (PG_ARGISNULL(arg))
		return NULL;
	a = PG_GETARG_ARRAYTYPE_P(arg);
	if (ARR_NDIM(a) > 1 || ARR_HASNULL(a) || ARR_ELEMTYPE(a) != INT8OID)
		elog(ERROR, "_lookalike_scan: ids must be a one-dimensional bigint array without NULLs");
	*n = ARR_NDIM(a) == 0 ? 0 : ARR_DIMS(a)[0];
	ids = MemoryContextAllocHuge(cxt, sizeof(int64) * Max(*n, 1));
	memcpy(ids, ARR_DATA_PTR(a), sizeof(int64) * *n);
	qsort(ids, *n, sizeof(int64), cmp_int64);
	return ids;
}

/* Whether id is among the n sorted ids. */
static inline bool
has_id(const int64 *ids, int n, int64 id)
{
	return n > 0 && bsearch(&id, ids, n, sizeof(int64), cmp_int64) != NULL;
}

/*
 * _lookalike_scan transition: (id, features, last_purchase_at, purchases, spend, engagement,
 * engagement_as_of, events, shares, as_of, n, seed_ids, skip_ids). A row with features uses them;
 * one without has them computed from the live columns and the shares, unless its id is in
 * skip_ids (its features come in another row). A row is in the seed when its id is in seed_ids.
 */
Datum
personalize_lookalike_scan_trans(PG_FUNCTION_ARGS)
{
	MemoryContext  aggcontext;
	LookalikeScan *s;
	double		  *x;
	int			   d;
	int64		   id;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "_lookalike_scan transition called in a non-aggregate context");
	s = PG_ARGISNULL(0) ? NULL : (LookalikeScan *) PG_GETARG_POINTER(0);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(10) || PG_ARGISNULL(11))
		elog(ERROR, "_lookalike_scan needs an id, as_of and n on every row");
	if (s == NULL)
	{
		s = MemoryContextAllocZero(aggcontext, sizeof(LookalikeScan));
		s->want = PG_GETARG_INT32(11);
		s->seed_ids = sorted_ids(fcinfo, 12, aggcontext, &s->nseed);
		s->skip_ids = sorted_ids(fcinfo, 13, aggcontext, &s->nskip);
	}
	id = PG_GETARG_INT64(1);
	if (!PG_ARGISNULL(2))
	{
		const double *f = float8_values(PG_GETARG_ARRAYTYPE_P(2), &d, "a feature vector");

		if (s->d == 0)
			s->d = d;
		if (d != s->d)
			elog(ERROR, "_lookalike_scan: feature vectors of %d and %d values", s->d, d);
		scan_reserve(s, aggcontext);
		x = s->v + s->n * s->d;
		memcpy(x, f, sizeof(double) * d);
	}
	else
	{
		const double *sh;

		/* a stored row whose profile comes with its features instead */
		if (has_id(s->skip_ids, s->nskip, id))
			PG_RETURN_POINTER(s);
		sh = PG_ARGISNULL(9) ? NULL : float8_values(PG_GETARG_ARRAYTYPE_P(9), &d, "interest shares");
		if (sh == NULL)
			elog(ERROR, "_lookalike_scan: a row needs its features or its interest shares");
		if (s->d == 0)
			s->d = LIVE_FEATURES + d;
		if (LIVE_FEATURES + d != s->d || s->d > MAX_FEATURES)
			elog(ERROR, "_lookalike_scan: %d interest shares where %d were expected", d, s->d - LIVE_FEATURES);
		scan_reserve(s, aggcontext);
		x = s->v + s->n * s->d;
		live_features(fcinfo, PG_GETARG_TIMESTAMPTZ(10), x);
		memcpy(x + LIVE_FEATURES, sh, sizeof(double) * d);
	}
	s->ids[s->n] = id;
	s->seed[s->n] = has_id(s->seed_ids, s->nseed, id);
	s->n++;
	PG_RETURN_POINTER(s);
}

/* A candidate: a row and its score, ordered best first (higher score, then lower id). */
typedef struct Candidate
{
	double score;
	int64  id;
	int64  row;
} Candidate;

/* Whether a ranks below b (a worse score, or the same score and a higher id). */
static inline bool
worse(const Candidate *a, const Candidate *b)
{
	return a->score < b->score || (a->score == b->score && a->id > b->id);
}

/* Restores the min-heap (worst at the root) below position i. */
static void
sift_down(Candidate *h, int64 n, int64 i)
{
	for (;;)
	{
		int64	  l = 2 * i + 1, r = l + 1, m = i;
		Candidate t;

		if (l < n && worse(&h[l], &h[m]))
			m = l;
		if (r < n && worse(&h[r], &h[m]))
			m = r;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

/* Best first. */
static int
cmp_best(const void *a, const void *b)
{
	const Candidate *x = a, *y = b;

	return worse(x, y) ? 1 : worse(y, x) ? -1
										 : 0;
}

/* A float8[] of n values. */
static Datum
float8_array(const double *v, int64 n)
{
	Datum *e = palloc(sizeof(Datum) * Max(n, 1));

	for (int64 i = 0; i < n; i++)
		e[i] = Float8GetDatum(v[i]);
	return PointerGetDatum(construct_array(e, (int) n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * _lookalike_scan final: the population's moments over every row, the seed's over its rows, then
 * the n best rows outside the seed by km_lookalike_similarity: (ids, scores, features (n x d,
 * flattened), population mean and sd, seed mean and sd); NULL without rows or without a seed row.
 */
Datum
personalize_lookalike_scan_final(PG_FUNCTION_ARGS)
{
	LookalikeScan *s = PG_ARGISNULL(0) ? NULL : (LookalikeScan *) PG_GETARG_POINTER(0);
	KmMoments	   pop, seed;
	double		  *sd, *ssd, *best_v;
	Candidate	  *heap;
	int64		   kept = 0, want;
	int			   d;
	TupleDesc	   desc;
	Datum		   values[7], *idd;
	bool		   nulls[7] = {0};

	if (s == NULL || s->n == 0)
		PG_RETURN_NULL();
	d = s->d;
	pop.n = seed.n = 0;
	pop.mean = palloc0(sizeof(double) * d);
	pop.m2 = palloc0(sizeof(double) * d);
	seed.mean = palloc0(sizeof(double) * d);
	seed.m2 = palloc0(sizeof(double) * d);
	for (int64 i = 0; i < s->n; i++)
	{
		km_moments_add(&pop, d, s->v + i * d);
		if (s->seed[i])
			km_moments_add(&seed, d, s->v + i * d);
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	if (seed.n == 0)
		PG_RETURN_NULL();
	sd = palloc(sizeof(double) * d);
	ssd = palloc(sizeof(double) * d);
	for (int j = 0; j < d; j++)
	{
		sd[j] = sqrt(Max(pop.m2[j], 0) / pop.n);
		ssd[j] = sqrt(Max(seed.m2[j], 0) / seed.n);
	}
	/* the n best outside the seed: a min-heap of the best so far, the worst at its root */
	want = Min((int64) Max(s->want, 0), s->n);
	heap = palloc(sizeof(Candidate) * Max(want, 1));
	for (int64 i = 0; i < s->n && want > 0; i++)
	{
		Candidate c;

		if (s->seed[i])
			continue;
		c.score = km_lookalike_similarity(s->v + i * d, d, sd, seed.mean, ssd);
		c.id = s->ids[i];
		c.row = i;
		if (kept < want)
		{
			int64 j = kept++;

			heap[j] = c;
			/* sift up */
			while (j > 0 && worse(&heap[j], &heap[(j - 1) / 2]))
			{
				Candidate t = heap[j];

				heap[j] = heap[(j - 1) / 2];
				heap[(j - 1) / 2] = t;
				j = (j - 1) / 2;
			}
		}
		else if (worse(&heap[0], &c))
		{
			heap[0] = c;
			sift_down(heap, kept, 0);
		}
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	qsort(heap, kept, sizeof(Candidate), cmp_best);
	idd = palloc(sizeof(Datum) * Max(kept, 1));
	best_v = palloc(sizeof(double) * Max(kept * d, 1));
	{
		double *sc = palloc(sizeof(double) * Max(kept, 1));

		for (int64 i = 0; i < kept; i++)
		{
			idd[i] = Int64GetDatum(heap[i].id);
			sc[i] = heap[i].score;
			memcpy(best_v + i * d, s->v + heap[i].row * d, sizeof(double) * d);
		}
		values[1] = float8_array(sc, kept);
	}
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_lookalike_scan must return a composite type");
	desc = BlessTupleDesc(desc);
	values[0] = PointerGetDatum(construct_array(idd, (int) kept, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[2] = float8_array(best_v, kept * d);
	values[3] = float8_array(pop.mean, d);
	values[4] = float8_array(sd, d);
	values[5] = float8_array(seed.mean, d);
	values[6] = float8_array(ssd, d);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
