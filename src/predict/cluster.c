/*
 * cluster.c: the SQL side of k-means and lookalikes (src/predict/kmeans_model.c): the aggregate
 * personalize.kmeans_fit(id, features, k, seed) (parallel safe: its state is the list of rows,
 * combined by concatenation, and the final function sorts them by id so that any plan gives the
 * same answer), the aggregate personalize.feature_moments(features) (per-dimension count, mean
 * and standard deviation; combined exactly) and the scalar personalize.lookalike_similarity().
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
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "kmeans_model.h"

PG_FUNCTION_INFO_V1(personalize_kmeans_trans);
PG_FUNCTION_INFO_V1(personalize_kmeans_combine);
PG_FUNCTION_INFO_V1(personalize_kmeans_serialize);
PG_FUNCTION_INFO_V1(personalize_kmeans_deserialize);
PG_FUNCTION_INFO_V1(personalize_kmeans_final);
PG_FUNCTION_INFO_V1(personalize_moments_trans);
PG_FUNCTION_INFO_V1(personalize_moments_combine);
PG_FUNCTION_INFO_V1(personalize_moments_serialize);
PG_FUNCTION_INFO_V1(personalize_moments_deserialize);
PG_FUNCTION_INFO_V1(personalize_moments_final);
PG_FUNCTION_INFO_V1(personalize_lookalike_similarity);

/* The most dimensions a feature vector may have, and the most clusters. */
#define MAX_FEATURES 100
#define MAX_CLUSTERS 1000
/* Lloyd passes before a run stops unconverged (reported by the result's converged column). */
#define KMEANS_MAX_ITER 300

/* The kmeans_fit state: the rows seen (ids and features), with the k and seed they asked for. */
typedef struct KmState
{
	int64	n, cap;
	int32	d, k;
	int64	seed;
	int64  *ids; /* [cap] */
	double *v;	 /* [cap * d] */
} KmState;

/*
 * The values of a float8[] argument, checked (one dimension, no NULL, finite, 1..MAX_FEATURES
 * long), read in place: a float8 array without NULLs is its values, contiguous.
 */
static const double *
features_arg(ArrayType *a, int *d)
{
	const double *v;
	int			  n;

	if (ARR_NDIM(a) != 1 || ARR_HASNULL(a) || ARR_ELEMTYPE(a) != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a feature vector must be a one-dimensional float8 array without NULLs")));
	n = ARR_DIMS(a)[0];
	if (n < 1 || n > MAX_FEATURES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a feature vector must have 1 to %d values", MAX_FEATURES),
				 errdetail("Got %d.", n)));
	v = (const double *) ARR_DATA_PTR(a);
	for (int j = 0; j < n; j++)
		if (!isfinite(v[j]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a feature vector must hold finite numbers"),
					 errdetail("Value %d is %g.", j + 1, v[j])));
	*d = n;
	return v;
}

/* Refuses a row whose length differs from the rows before it. */
static void
check_dims(int have, int got)
{
	if (have != got)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feature vectors of different lengths"),
				 errdetail("One has %d values, another %d.", have, got)));
}

/* Appends one row to a k-means state, growing it by doubling. */
static void
km_state_append(KmState *s, MemoryContext cxt, int64 id, const double *x)
{
	if (s->n == s->cap)
	{
		int64 cap = s->cap ? s->cap * 2 : 1024;

		s->ids = s->ids ? repalloc_huge(s->ids, cap * sizeof(int64))
						: MemoryContextAllocHuge(cxt, cap * sizeof(int64));
		s->v = s->v ? repalloc_huge(s->v, (Size) cap * s->d * sizeof(double))
					: MemoryContextAllocHuge(cxt, (Size) cap * s->d * sizeof(double));
		s->cap = cap;
	}
	s->ids[s->n] = id;
	memcpy(s->v + s->n * s->d, x, sizeof(double) * s->d);
	s->n++;
}

/* kmeans_fit transition: one profile's id and features, with k and the seed (the same on every row). */
Datum
personalize_kmeans_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext, old;
	KmState		 *s;
	const double *x;
	int			  d;
	int32		  k;
	int64		  seed;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "kmeans_fit transition called in a non-aggregate context");
	s = PG_ARGISNULL(0) ? NULL : (KmState *) PG_GETARG_POINTER(0);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(s);
	if (PG_ARGISNULL(3) || PG_GETARG_INT32(3) < 1 || PG_GETARG_INT32(3) > MAX_CLUSTERS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be between 1 and %d", MAX_CLUSTERS),
				 PG_ARGISNULL(3) ? errdetail("Got NULL.") : errdetail("Got %d.", PG_GETARG_INT32(3))));
	k = PG_GETARG_INT32(3);
	seed = PG_ARGISNULL(4) ? 0 : PG_GETARG_INT64(4);
	x = features_arg(PG_GETARG_ARRAYTYPE_P(2), &d);
	if (s == NULL)
	{
		s = MemoryContextAllocZero(aggcontext, sizeof(KmState));
		s->d = d;
		s->k = k;
		s->seed = seed;
	}
	check_dims(s->d, d);
	if (s->k != k || s->seed != seed)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k and seed must be the same on every row of kmeans_fit")));
	old = MemoryContextSwitchTo(aggcontext);
	km_state_append(s, aggcontext, PG_GETARG_INT64(1), x);
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(s);
}

/* Combines two partial k-means states by appending the second's rows. */
Datum
personalize_kmeans_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	KmState		 *a, *b;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "kmeans_fit combine called in a non-aggregate context");
	a = PG_ARGISNULL(0) ? NULL : (KmState *) PG_GETARG_POINTER(0);
	b = PG_ARGISNULL(1) ? NULL : (KmState *) PG_GETARG_POINTER(1);
	if (b == NULL || b->n == 0)
		PG_RETURN_POINTER(a);
	if (a == NULL || a->n == 0)
	{
		KmState *c = MemoryContextAllocZero(aggcontext, sizeof(KmState));

		c->d = b->d;
		c->k = b->k;
		c->seed = b->seed;
		a = c;
	}
	check_dims(a->d, b->d);
	if (a->k != b->k || a->seed != b->seed)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k and seed must be the same on every row of kmeans_fit")));
	for (int64 i = 0; i < b->n; i++)
	{
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		km_state_append(a, aggcontext, b->ids[i], b->v + i * b->d);
	}
	PG_RETURN_POINTER(a);
}

/* Serializes a k-means state: n, d, k, seed, then each row's id and values. */
Datum
personalize_kmeans_serialize(PG_FUNCTION_ARGS)
{
	KmState		  *s = (KmState *) PG_GETARG_POINTER(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint64(&buf, s->n);
	pq_sendint32(&buf, s->d);
	pq_sendint32(&buf, s->k);
	pq_sendint64(&buf, s->seed);
	for (int64 i = 0; i < s->n; i++)
	{
		pq_sendint64(&buf, s->ids[i]);
		for (int j = 0; j < s->d; j++)
			pq_sendfloat8(&buf, s->v[i * s->d + j]);
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * The aggregate context of a deserialize call and a reader over its bytea; what names the state
 * in the errors, min_len is the shortest valid state.
 */
static MemoryContext
state_reader(FunctionCallInfo fcinfo, const char *what, int min_len, StringInfo buf)
{
	bytea		 *b = PG_GETARG_BYTEA_PP(0);
	MemoryContext aggcontext;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "%s deserialize called in a non-aggregate context", what);
	buf->data = VARDATA_ANY(b);
	buf->len = VARSIZE_ANY_EXHDR(b);
	buf->maxlen = buf->len;
	buf->cursor = 0;
	if (buf->len < min_len)
		elog(ERROR, "%s state too short", what);
	return aggcontext;
}

/* Reads a serialized k-means state back, checking its length against its header. */
Datum
personalize_kmeans_deserialize(PG_FUNCTION_ARGS)
{
	StringInfoData buf;
	MemoryContext  aggcontext = state_reader(fcinfo, "kmeans_fit", 24, &buf);
	KmState		  *s;
	int64		   n;
	int32		   d;
	double		   row[MAX_FEATURES];

	s = MemoryContextAllocZero(aggcontext, sizeof(KmState));
	n = pq_getmsgint64(&buf);
	d = pq_getmsgint(&buf, 4);
	s->k = pq_getmsgint(&buf, 4);
	s->seed = pq_getmsgint64(&buf);
	if (n < 0 || d < 1 || d > MAX_FEATURES ||
		(int64) (buf.len - buf.cursor) != n * (int64) (sizeof(int64) + d * sizeof(double)))
		elog(ERROR, "kmeans_fit state of %lld rows has the wrong length", (long long) n);
	s->d = d;
	for (int64 i = 0; i < n; i++)
	{
		int64 id = pq_getmsgint64(&buf);

		for (int j = 0; j < d; j++)
			row[j] = pq_getmsgfloat8(&buf);
		km_state_append(s, aggcontext, id, row);
	}
	PG_RETURN_POINTER(s);
}

/* The per-pass call of the k-means core: lets statement_timeout and cancel work. */
static void
km_tick_interrupts(void *arg)
{
	CHECK_FOR_INTERRUPTS();
}

/* Orders row indexes by profile id (then by index, for equal ids: stable). */
static const int64 *sort_ids;
static int
cmp_by_id(const void *a, const void *b)
{
	int64 x = *(const int64 *) a, y = *(const int64 *) b;

	if (sort_ids[x] != sort_ids[y])
		return sort_ids[x] < sort_ids[y] ? -1 : 1;
	return x < y ? -1 : x > y;
}

/* A float8[] of n values. */
static Datum
float8_array(const double *v, int n)
{
	Datum *e = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		e[i] = Float8GetDatum(v[i]);
	return PointerGetDatum(construct_array(e, n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * kmeans_fit final: sorts the rows by id, standardizes them, seeds k-means++ with the seed and
 * runs Lloyd's iterations; returns the centres (k x d, standardized units), the means and
 * standard deviations used, inertia, iterations, whether it converged, and the ids (sorted) with
 * their clusters (0-based) and the cluster sizes.
 */
Datum
personalize_kmeans_final(PG_FUNCTION_ARGS)
{
	KmState	 *s = PG_ARGISNULL(0) ? NULL : (KmState *) PG_GETARG_POINTER(0);
	int64	 *order;
	double	 *x, *c, *mean, *sd, *scratch;
	int		 *label;
	int64_t	 *size;
	int		  d, k;
	KmResult  res;
	TupleDesc desc;
	Datum	  values[9], *e;
	bool	  nulls[9] = {0};
	int		  dims[2], lbs[2] = {1, 1};

	if (s == NULL || s->n == 0)
		PG_RETURN_NULL();
	d = s->d;
	k = s->k;
	if (k > s->n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k is more than the profiles"),
				 errdetail("k = %d, profiles = %lld.", k, (long long) s->n)));
	order = palloc_extended(sizeof(int64) * s->n, MCXT_ALLOC_HUGE);
	for (int64 i = 0; i < s->n; i++)
		order[i] = i;
	sort_ids = s->ids;
	qsort(order, s->n, sizeof(int64), cmp_by_id);
	x = palloc_extended(sizeof(double) * s->n * d, MCXT_ALLOC_HUGE);
	for (int64 i = 0; i < s->n; i++)
		memcpy(x + i * d, s->v + order[i] * d, sizeof(double) * d);
	mean = palloc(sizeof(double) * d);
	sd = palloc(sizeof(double) * d);
	km_standardize(x, s->n, d, mean, sd);
	c = palloc(sizeof(double) * k * d);
	scratch = palloc_extended(sizeof(double) * Max(s->n, (int64) k * d), MCXT_ALLOC_HUGE);
	if (!km_seed(x, s->n, d, k, (uint64_t) s->seed, c, scratch, km_tick_interrupts, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k is more than the distinct feature vectors"),
				 errdetail("k = %d, but fewer than %d of the %lld profiles differ.", k, k, (long long) s->n),
				 errhint("Ask for fewer clusters.")));
	label = palloc_extended(sizeof(int) * s->n, MCXT_ALLOC_HUGE);
	size = palloc(sizeof(int64_t) * k);
	res = km_lloyd(x, s->n, d, k, c, label, size, scratch, KMEANS_MAX_ITER, km_tick_interrupts, NULL);

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "kmeans_fit must return a composite type");
	desc = BlessTupleDesc(desc);
	e = palloc(sizeof(Datum) * k * d);
	for (int i = 0; i < k * d; i++)
		e[i] = Float8GetDatum(c[i]);
	dims[0] = k;
	dims[1] = d;
	values[0] = PointerGetDatum(construct_md_array(e, NULL, 2, dims, lbs, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[1] = float8_array(mean, d);
	values[2] = float8_array(sd, d);
	values[3] = Float8GetDatum(res.inertia);
	values[4] = Int32GetDatum(res.iterations);
	values[5] = BoolGetDatum(res.converged);
	e = palloc_extended(sizeof(Datum) * s->n, MCXT_ALLOC_HUGE);
	for (int64 i = 0; i < s->n; i++)
		e[i] = Int64GetDatum(s->ids[order[i]]);
	values[6] = PointerGetDatum(construct_array(e, s->n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	for (int64 i = 0; i < s->n; i++)
		e[i] = Int32GetDatum(label[i]);
	values[7] = PointerGetDatum(construct_array(e, s->n, INT4OID, 4, true, TYPALIGN_INT));
	for (int m = 0; m < k; m++)
		e[m] = Int64GetDatum(size[m]);
	values[8] = PointerGetDatum(construct_array(e, k, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/* The feature_moments state: the dimension and the running moments. */
typedef struct MomentsState
{
	int32	  d;
	KmMoments m;
} MomentsState;

/* A new moments state of d dimensions in cxt. */
static MomentsState *
moments_new(MemoryContext cxt, int d)
{
	MomentsState *s = MemoryContextAllocZero(cxt, sizeof(MomentsState));

	s->d = d;
	s->m.mean = MemoryContextAllocZero(cxt, sizeof(double) * d);
	s->m.m2 = MemoryContextAllocZero(cxt, sizeof(double) * d);
	return s;
}

/* feature_moments transition: one feature vector. */
Datum
personalize_moments_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	MomentsState *s;
	const double *x;
	int			  d;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "feature_moments transition called in a non-aggregate context");
	s = PG_ARGISNULL(0) ? NULL : (MomentsState *) PG_GETARG_POINTER(0);
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(s);
	x = features_arg(PG_GETARG_ARRAYTYPE_P(1), &d);
	if (s == NULL)
		s = moments_new(aggcontext, d);
	check_dims(s->d, d);
	km_moments_add(&s->m, d, x);
	PG_RETURN_POINTER(s);
}

/* Combines two moments states exactly (Chan et al.). */
Datum
personalize_moments_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	MomentsState *a, *b;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "feature_moments combine called in a non-aggregate context");
	a = PG_ARGISNULL(0) ? NULL : (MomentsState *) PG_GETARG_POINTER(0);
	b = PG_ARGISNULL(1) ? NULL : (MomentsState *) PG_GETARG_POINTER(1);
	if (b == NULL || b->m.n == 0)
		PG_RETURN_POINTER(a);
	if (a == NULL)
		a = moments_new(aggcontext, b->d);
	check_dims(a->d, b->d);
	km_moments_combine(&a->m, &b->m, a->d);
	PG_RETURN_POINTER(a);
}

/* Serializes a moments state: d, n, then the means and the sums of squared deviations. */
Datum
personalize_moments_serialize(PG_FUNCTION_ARGS)
{
	MomentsState  *s = (MomentsState *) PG_GETARG_POINTER(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, s->d);
	pq_sendfloat8(&buf, s->m.n);
	for (int j = 0; j < s->d; j++)
		pq_sendfloat8(&buf, s->m.mean[j]);
	for (int j = 0; j < s->d; j++)
		pq_sendfloat8(&buf, s->m.m2[j]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Reads a serialized moments state back, checking its length against its dimension. */
Datum
personalize_moments_deserialize(PG_FUNCTION_ARGS)
{
	StringInfoData buf;
	MemoryContext  aggcontext = state_reader(fcinfo, "feature_moments", 12, &buf);
	MomentsState  *s;
	int32		   d;

	d = pq_getmsgint(&buf, 4);
	if (d < 1 || d > MAX_FEATURES || buf.len - buf.cursor != (int) ((1 + 2 * d) * sizeof(double)))
		elog(ERROR, "feature_moments state of %d dimensions has the wrong length", d);
	s = moments_new(aggcontext, d);
	s->m.n = pq_getmsgfloat8(&buf);
	for (int j = 0; j < d; j++)
		s->m.mean[j] = pq_getmsgfloat8(&buf);
	for (int j = 0; j < d; j++)
		s->m.m2[j] = pq_getmsgfloat8(&buf);
	PG_RETURN_POINTER(s);
}

/* feature_moments final: (n, mean[], sd[]) with the population standard deviation. */
Datum
personalize_moments_final(PG_FUNCTION_ARGS)
{
	MomentsState *s = PG_ARGISNULL(0) ? NULL : (MomentsState *) PG_GETARG_POINTER(0);
	TupleDesc	  desc;
	Datum		  values[3];
	bool		  nulls[3] = {0};
	double		 *sd;

	if (s == NULL || s->m.n == 0)
		PG_RETURN_NULL();
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "feature_moments must return a composite type");
	desc = BlessTupleDesc(desc);
	sd = palloc(sizeof(double) * s->d);
	for (int j = 0; j < s->d; j++)
		sd[j] = sqrt(Max(s->m.m2[j], 0) / s->m.n);
	values[0] = Int64GetDatum((int64) s->m.n);
	values[1] = float8_array(s->m.mean, s->d);
	values[2] = float8_array(sd, s->d);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/*
 * SQL: personalize.lookalike_similarity(features, sd, seed_mean, seed_sd): how close a profile's
 * features are to a seed's, in (0, 1] (kmeans_model.h says how).
 */
Datum
personalize_lookalike_similarity(PG_FUNCTION_ARGS)
{
	int			  d, d2;
	const double *x = features_arg(PG_GETARG_ARRAYTYPE_P(0), &d);
	const double *sd = features_arg(PG_GETARG_ARRAYTYPE_P(1), &d2);
	const double *sm, *ss;

	check_dims(d, d2);
	sm = features_arg(PG_GETARG_ARRAYTYPE_P(2), &d2);
	check_dims(d, d2);
	ss = features_arg(PG_GETARG_ARRAYTYPE_P(3), &d2);
	check_dims(d, d2);
	PG_RETURN_FLOAT8(km_lookalike_similarity(x, d, sd, sm, ss));
}
