/*
 * lookalike.c: the exact lookalike scan over every profile (the aggregate
 * personalize._lookalike_scan behind personalize.lookalike()), in two passes over the same rows so
 * that each runs in parallel with a small partial state. Each row is a profile with its stored
 * interest shares (personalize.profile_vectors) and live purchase, engagement and activity
 * columns, from which its features as of the scan's time are computed here (vectors.h), or a
 * profile whose features were computed by profile_features itself (stale or newer than as_of).
 * Pass 1 (no moments given) gathers the population's and the seed's moments (Welford, combined
 * exactly); pass 2 (given them) scores every profile outside the seed with
 * km_lookalike_similarity and keeps the n best in a heap (ties to the lower id), so that any plan
 * gives the same profiles in the same order.
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
#include "predict/vectors.h"

PG_FUNCTION_INFO_V1(personalize_lookalike_scan_trans);
PG_FUNCTION_INFO_V1(personalize_lookalike_scan_combine);
PG_FUNCTION_INFO_V1(personalize_lookalike_scan_serialize);
PG_FUNCTION_INFO_V1(personalize_lookalike_scan_deserialize);
PG_FUNCTION_INFO_V1(personalize_lookalike_scan_final);

#define MAX_FEATURES 100
/* The most profiles a lookalike returns (lookalike() refuses more). */
#define MAX_WANT 1000000

/* The aggregate's arguments (after the state), in order. */
enum
{
	ARG_ID = 1,
	ARG_FEATURES,
	ARG_LAST_PURCHASE_AT, /* the 6 live columns vectors.h reads, from here */
	ARG_SHARES = 9,
	ARG_AS_OF,
	ARG_SEED_IDS,
	ARG_SKIP_IDS,
	ARG_N,
	ARG_POP_SD, /* pass 2 only, with the two below */
	ARG_SEED_MEAN,
	ARG_SEED_SD
};

/* A candidate: a profile's score and id, and the slot of the state's buffer holding its features. */
typedef struct Candidate
{
	double score;
	int64  id;
	int64  slot;
} Candidate;

/* The scan's state: the moments (pass 1), or the n best so far and the moments they are scored with (pass 2). */
typedef struct LookalikeScan
{
	bool	   scoring; /* pass 2 */
	int32	   d;		/* features per profile (0 until the first row) */
	KmMoments  pop, seed;
	int32	   want, kept;
	Candidate *heap;		 /* [want]: a min-heap, the worst kept at the root */
	double	  *slots;		 /* [want * d] */
	double	  *sd, *sm, *ss; /* [d]: population sd, seed mean and sd (pass 2) */
	int		   nseed, nskip;
	int64	  *seed_ids; /* [nseed], sorted: the seed's members */
	int64	  *skip_ids; /* [nskip], sorted: profiles whose stored row is skipped */
} LookalikeScan;

/* The values of a float8[] without NULLs, in storage order (a 1 x d slice reads as d values); their count in *n. */
static const double *
float8_values(ArrayType *a, int *n, const char *what)
{
	if (ARR_HASNULL(a) || ARR_ELEMTYPE(a) != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("%s must be a float8 array without NULLs", what)));
	*n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
	return (const double *) ARR_DATA_PTR(a);
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

/* Sets the state's feature count, allocating what depends on it (the moments and the slots). */
static void
scan_set_d(LookalikeScan *s, MemoryContext cxt, int d)
{
	if (d < 1 || d > MAX_FEATURES)
		elog(ERROR, "_lookalike_scan: %d features per profile", d);
	s->d = d;
	s->pop.mean = MemoryContextAllocZero(cxt, sizeof(double) * d);
	s->pop.m2 = MemoryContextAllocZero(cxt, sizeof(double) * d);
	s->seed.mean = MemoryContextAllocZero(cxt, sizeof(double) * d);
	s->seed.m2 = MemoryContextAllocZero(cxt, sizeof(double) * d);
	if (s->scoring)
		s->slots = MemoryContextAllocHuge(cxt, sizeof(double) * Max(s->want, 1) * d);
}

/* A new state in cxt: pass 2 when want and the moments are given. */
static LookalikeScan *
scan_new(MemoryContext cxt, bool scoring, int32 want)
{
	LookalikeScan *s = MemoryContextAllocZero(cxt, sizeof(LookalikeScan));

	s->scoring = scoring;
	s->want = scoring ? want : 0;
	if (scoring)
		s->heap = MemoryContextAllocHuge(cxt, sizeof(Candidate) * Max(want, 1));
	return s;
}

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

/* Offers a profile (its score, id and features x) to the n best kept so far. */
static void
scan_offer(LookalikeScan *s, double score, int64 id, const double *x)
{
	Candidate c = {score, id, 0};

	if (s->kept < s->want)
	{
		int64 j = s->kept++;

		c.slot = j;
		memcpy(s->slots + j * s->d, x, sizeof(double) * s->d);
		s->heap[j] = c;
		/* sift up */
		while (j > 0 && worse(&s->heap[j], &s->heap[(j - 1) / 2]))
		{
			Candidate t = s->heap[j];

			s->heap[j] = s->heap[(j - 1) / 2];
			s->heap[(j - 1) / 2] = t;
			j = (j - 1) / 2;
		}
	}
	else if (s->want > 0 && worse(&s->heap[0], &c))
	{
		c.slot = s->heap[0].slot;
		memcpy(s->slots + c.slot * s->d, x, sizeof(double) * s->d);
		s->heap[0] = c;
		sift_down(s->heap, s->kept, 0);
	}
}

/* A float8[] argument of exactly d values (pass 2's moments). */
static double *
moments_arg(FunctionCallInfo fcinfo, int arg, int d, MemoryContext cxt)
{
	int			  n;
	const double *v = float8_values(PG_GETARG_ARRAYTYPE_P(arg), &n, "the moments");
	double		 *copy;

	if (n != d)
		elog(ERROR, "_lookalike_scan: moments of %d features for rows of %d", n, d);
	copy = MemoryContextAlloc(cxt, sizeof(double) * d);
	memcpy(copy, v, sizeof(double) * d);
	return copy;
}

/*
 * _lookalike_scan transition: (id, features, last_purchase_at, purchases, spend, engagement,
 * engagement_as_of, events, shares, as_of, seed_ids, skip_ids, n, pop_sd, seed_mean, seed_sd).
 * A row with features uses them; one without has them computed from the live columns and the
 * shares, unless its id is in skip_ids (its features come in another row). A row is in the seed
 * when its id is in seed_ids. Without pop_sd (pass 1) the row adds to the moments; with pop_sd,
 * seed_mean and seed_sd (pass 2) a row outside the seed is scored and offered to the n best.
 */
Datum
personalize_lookalike_scan_trans(PG_FUNCTION_ARGS)
{
	MemoryContext  aggcontext;
	LookalikeScan *s;
	double		   x[MAX_FEATURES];
	int			   d;
	int64		   id;
	bool		   in_seed;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "_lookalike_scan transition called in a non-aggregate context");
	s = PG_ARGISNULL(0) ? NULL : (LookalikeScan *) PG_GETARG_POINTER(0);
	if (PG_ARGISNULL(ARG_ID) || PG_ARGISNULL(ARG_AS_OF) || PG_ARGISNULL(ARG_N))
		elog(ERROR, "_lookalike_scan needs an id, as_of and n on every row");
	if (s == NULL)
	{
		bool scoring = !PG_ARGISNULL(ARG_POP_SD);

		if (scoring && (PG_ARGISNULL(ARG_SEED_MEAN) || PG_ARGISNULL(ARG_SEED_SD)))
			elog(ERROR, "_lookalike_scan: scoring needs the population's sd and the seed's mean and sd");
		if (PG_GETARG_INT32(ARG_N) < 0 || PG_GETARG_INT32(ARG_N) > MAX_WANT)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("n must be between 0 and %d", MAX_WANT),
					 errdetail("Got %d.", PG_GETARG_INT32(ARG_N))));
		s = scan_new(aggcontext, scoring, PG_GETARG_INT32(ARG_N));
		s->seed_ids = sorted_ids(fcinfo, ARG_SEED_IDS, aggcontext, &s->nseed);
		s->skip_ids = sorted_ids(fcinfo, ARG_SKIP_IDS, aggcontext, &s->nskip);
	}
	id = PG_GETARG_INT64(ARG_ID);
	if (!PG_ARGISNULL(ARG_FEATURES))
	{
		const double *f = float8_values(PG_GETARG_ARRAYTYPE_P(ARG_FEATURES), &d, "a feature vector");

		if (d < 1 || d > MAX_FEATURES)
			elog(ERROR, "_lookalike_scan: a feature vector of %d values", d);
		memcpy(x, f, sizeof(double) * d);
	}
	else
	{
		const double *sh;
		int			  nsh;

		/* a stored row whose profile comes with its features instead */
		if (has_id(s->skip_ids, s->nskip, id))
			PG_RETURN_POINTER(s);
		if (PG_ARGISNULL(ARG_SHARES))
			elog(ERROR, "_lookalike_scan: a row needs its features or its interest shares");
		sh = float8_values(PG_GETARG_ARRAYTYPE_P(ARG_SHARES), &nsh, "interest shares");
		d = LIVE_FEATURES + nsh;
		if (d > MAX_FEATURES)
			elog(ERROR, "_lookalike_scan: %d interest shares", nsh);
		vector_live_features(fcinfo, ARG_LAST_PURCHASE_AT, PG_GETARG_TIMESTAMPTZ(ARG_AS_OF), x);
		memcpy(x + LIVE_FEATURES, sh, sizeof(double) * nsh);
	}
	if (s->d == 0)
	{
		scan_set_d(s, aggcontext, d);
		if (s->scoring)
		{
			s->sd = moments_arg(fcinfo, ARG_POP_SD, d, aggcontext);
			s->sm = moments_arg(fcinfo, ARG_SEED_MEAN, d, aggcontext);
			s->ss = moments_arg(fcinfo, ARG_SEED_SD, d, aggcontext);
		}
	}
	if (d != s->d)
		elog(ERROR, "_lookalike_scan: feature vectors of %d and %d values", s->d, d);
	in_seed = has_id(s->seed_ids, s->nseed, id);
	if (!s->scoring)
	{
		km_moments_add(&s->pop, d, x);
		if (in_seed)
			km_moments_add(&s->seed, d, x);
	}
	else if (!in_seed)
		scan_offer(s, km_lookalike_similarity(x, d, s->sd, s->sm, s->ss), id, x);
	PG_RETURN_POINTER(s);
}

/* Combines two partial scans: the moments exactly (Chan et al.), the n best by offering b's to a's. */
Datum
personalize_lookalike_scan_combine(PG_FUNCTION_ARGS)
{
	MemoryContext  aggcontext;
	LookalikeScan *a, *b;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "_lookalike_scan combine called in a non-aggregate context");
	a = PG_ARGISNULL(0) ? NULL : (LookalikeScan *) PG_GETARG_POINTER(0);
	b = PG_ARGISNULL(1) ? NULL : (LookalikeScan *) PG_GETARG_POINTER(1);
	if (b == NULL || b->d == 0)
		PG_RETURN_POINTER(a);
	if (a == NULL)
		a = scan_new(aggcontext, b->scoring, b->want);
	if (a->d == 0)
	{
		scan_set_d(a, aggcontext, b->d);
		if (b->scoring)
		{
			a->sd = MemoryContextAlloc(aggcontext, sizeof(double) * b->d * 3);
			a->sm = a->sd + b->d;
			a->ss = a->sm + b->d;
			memcpy(a->sd, b->sd, sizeof(double) * b->d);
			memcpy(a->sm, b->sm, sizeof(double) * b->d);
			memcpy(a->ss, b->ss, sizeof(double) * b->d);
		}
	}
	if (a->d != b->d || a->scoring != b->scoring || a->want != b->want)
		elog(ERROR, "_lookalike_scan: partial states that do not match");
	km_moments_combine(&a->pop, &b->pop, a->d);
	km_moments_combine(&a->seed, &b->seed, a->d);
	for (int32 i = 0; i < b->kept; i++)
		scan_offer(a, b->heap[i].score, b->heap[i].id, b->slots + b->heap[i].slot * b->d);
	PG_RETURN_POINTER(a);
}

/*
 * A serialized scan: scoring, d, want, kept, then the two moments (n, mean[d], m2[d] each), then
 * pass 2's sd, seed mean and sd [d each] and each kept candidate's score, id and features [d];
 * in this process's byte order (it only travels from parallel workers to their leader).
 */
typedef struct ScanHeader
{
	int32  scoring, d, want, kept;
	double pop_n, seed_n;
} ScanHeader;

/* The doubles after a serialized scan's header. */
static Size
scan_doubles(const ScanHeader *h)
{
	return (Size) 4 * h->d + (h->scoring ? (Size) 3 * h->d + (Size) h->kept * (2 + h->d) : 0);
}

/* Serializes a partial scan. */
Datum
personalize_lookalike_scan_serialize(PG_FUNCTION_ARGS)
{
	LookalikeScan *s = (LookalikeScan *) PG_GETARG_POINTER(0);
	ScanHeader	   h = {s->scoring, s->d, s->want, s->kept, s->pop.n, s->seed.n};
	Size		   len = sizeof(ScanHeader) + sizeof(double) * scan_doubles(&h);
	bytea		  *b = palloc(VARHDRSZ + len);
	double		  *p;

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), &h, sizeof(ScanHeader));
	p = (double *) (VARDATA(b) + sizeof(ScanHeader));
	if (s->d > 0)
	{
		memcpy(p, s->pop.mean, sizeof(double) * s->d), p += s->d;
		memcpy(p, s->pop.m2, sizeof(double) * s->d), p += s->d;
		memcpy(p, s->seed.mean, sizeof(double) * s->d), p += s->d;
		memcpy(p, s->seed.m2, sizeof(double) * s->d), p += s->d;
	}
	if (s->scoring && s->d > 0)
	{
		memcpy(p, s->sd, sizeof(double) * s->d), p += s->d;
		memcpy(p, s->sm, sizeof(double) * s->d), p += s->d;
		memcpy(p, s->ss, sizeof(double) * s->d), p += s->d;
		for (int32 i = 0; i < s->kept; i++)
		{
			double id = 0;

			memcpy(&id, &s->heap[i].id, sizeof(int64));
			*p++ = s->heap[i].score;
			*p++ = id;
			memcpy(p, s->slots + s->heap[i].slot * s->d, sizeof(double) * s->d), p += s->d;
		}
	}
	PG_RETURN_BYTEA_P(b);
}

/* Reads a serialized partial scan back, checking its length against its header. */
Datum
personalize_lookalike_scan_deserialize(PG_FUNCTION_ARGS)
{
	bytea		  *b = PG_GETARG_BYTEA_PP(0);
	Size		   len = VARSIZE_ANY_EXHDR(b);
	MemoryContext  aggcontext;
	LookalikeScan *s;
	ScanHeader	   h;
	double		  *buf, *p;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "_lookalike_scan deserialize called in a non-aggregate context");
	if (len < sizeof(ScanHeader))
		elog(ERROR, "_lookalike_scan state too short");
	memcpy(&h, VARDATA_ANY(b), sizeof(ScanHeader));
	if (h.d < 0 || h.d > MAX_FEATURES || h.want < 0 || h.want > MAX_WANT || h.kept < 0 || h.kept > h.want || (h.d == 0 && h.kept > 0) || len != sizeof(ScanHeader) + sizeof(double) * scan_doubles(&h))
		elog(ERROR, "_lookalike_scan state has the wrong length");
	/* the doubles, aligned */
	buf = palloc(sizeof(double) * Max(scan_doubles(&h), 1));
	memcpy(buf, VARDATA_ANY(b) + sizeof(ScanHeader), sizeof(double) * scan_doubles(&h));
	p = buf;
	s = scan_new(aggcontext, h.scoring, h.want);
	if (h.d == 0)
		PG_RETURN_POINTER(s);
	scan_set_d(s, aggcontext, h.d);
	s->pop.n = h.pop_n;
	s->seed.n = h.seed_n;
	memcpy(s->pop.mean, p, sizeof(double) * h.d), p += h.d;
	memcpy(s->pop.m2, p, sizeof(double) * h.d), p += h.d;
	memcpy(s->seed.mean, p, sizeof(double) * h.d), p += h.d;
	memcpy(s->seed.m2, p, sizeof(double) * h.d), p += h.d;
	if (h.scoring)
	{
		s->sd = MemoryContextAlloc(aggcontext, sizeof(double) * h.d * 3);
		s->sm = s->sd + h.d;
		s->ss = s->sm + h.d;
		memcpy(s->sd, p, sizeof(double) * 3 * h.d), p += 3 * h.d;
		for (int32 i = 0; i < h.kept; i++)
		{
			int64 id;

			memcpy(&id, p + 1, sizeof(int64));
			scan_offer(s, p[0], id, p + 2);
			p += 2 + h.d;
		}
	}
	PG_RETURN_POINTER(s);
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
 * _lookalike_scan final, a lookalike_scan_result. Pass 1: the population's mean and sd over
 * every row and the seed's over its rows (NULL without rows or without a seed row). Pass 2: the
 * n best rows outside the seed, best first: ids, scores and features (n x d, flattened).
 */
Datum
personalize_lookalike_scan_final(PG_FUNCTION_ARGS)
{
	LookalikeScan *s = PG_ARGISNULL(0) ? NULL : (LookalikeScan *) PG_GETARG_POINTER(0);
	TupleDesc	   desc;
	Datum		   values[7];
	bool		   nulls[7] = {true, true, true, true, true, true, true};

	if (s == NULL || s->d == 0)
		PG_RETURN_NULL();
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_lookalike_scan must return a composite type");
	desc = BlessTupleDesc(desc);
	if (!s->scoring)
	{
		double *sd = palloc(sizeof(double) * s->d), *ssd = palloc(sizeof(double) * s->d);

		if (s->seed.n == 0)
			PG_RETURN_NULL();
		for (int j = 0; j < s->d; j++)
		{
			sd[j] = sqrt(Max(s->pop.m2[j], 0) / s->pop.n);
			ssd[j] = sqrt(Max(s->seed.m2[j], 0) / s->seed.n);
		}
		values[3] = float8_array(s->pop.mean, s->d);
		values[4] = float8_array(sd, s->d);
		values[5] = float8_array(s->seed.mean, s->d);
		values[6] = float8_array(ssd, s->d);
		nulls[3] = nulls[4] = nulls[5] = nulls[6] = false;
	}
	else
	{
		Datum  *idd = palloc(sizeof(Datum) * Max(s->kept, 1));
		double *sc = palloc(sizeof(double) * Max(s->kept, 1));
		double *best_v = palloc(sizeof(double) * Max(s->kept, 1) * s->d);

		qsort(s->heap, s->kept, sizeof(Candidate), cmp_best);
		for (int32 i = 0; i < s->kept; i++)
		{
			idd[i] = Int64GetDatum(s->heap[i].id);
			sc[i] = s->heap[i].score;
			memcpy(best_v + (int64) i * s->d, s->slots + s->heap[i].slot * s->d, sizeof(double) * s->d);
		}
		values[0] = PointerGetDatum(construct_array(idd, s->kept, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		values[1] = float8_array(sc, s->kept);
		values[2] = float8_array(best_v, (int64) s->kept * s->d);
		nulls[0] = nulls[1] = nulls[2] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
