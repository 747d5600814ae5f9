/*
 * stat_input.c: what the experiment statistics check of their inputs (counts, levels, arrays of
 * counts per variant), each refusal with SQLSTATE 22023 (invalid_parameter_value) and the
 * offending value, and the composite rows they return.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/lsyscache.h"

#include "stat_input.h"

/* Refuses negative counts and more successes than trials. */
void
check_counts(int64 successes, int64 trials, const char *arm)
{
	if (successes < 0 || trials < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("counts must not be negative"),
				 errdetail("Variant %s has " INT64_FORMAT " successes in " INT64_FORMAT " trials.",
						   arm, successes, trials)));
	if (successes > trials)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("successes must not exceed trials"),
				 errdetail("Variant %s has " INT64_FORMAT " successes in " INT64_FORMAT " trials.",
						   arm, successes, trials)));
}

/* Refuses a significance level, confidence or power outside the open interval (0, 1). */
void
check_level(double value, const char *name)
{
	if (!(value > 0 && value < 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between 0 and 1, exclusive", name),
				 errdetail("Got %g.", value)));
}

/* Reads two one-dimensional bigint arrays of equal length k >= 2 without NULLs; returns k. */
int
read_count_arrays(ArrayType *successes, ArrayType *trials, int64 **s, int64 **n)
{
	Datum *sd, *nd;
	bool  *sn, *nn;
	int	   ks, kn;

	if (ARR_NDIM(successes) > 1 || ARR_NDIM(trials) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("successes and trials must be one-dimensional arrays")));
	deconstruct_array(successes, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &sd, &sn, &ks);
	deconstruct_array(trials, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &nd, &nn, &kn);
	if (ks != kn)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("successes and trials must have the same length"),
				 errdetail("Got %d successes and %d trials.", ks, kn)));
	if (ks < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("at least two variants are needed"),
				 errdetail("Got %d.", ks)));
	*s = palloc(sizeof(int64) * ks);
	*n = palloc(sizeof(int64) * ks);
	for (int i = 0; i < ks; i++)
	{
		char arm[16];

		if (sn[i] || nn[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("successes and trials must not contain NULL"),
					 errdetail("Variant %d has a NULL count.", i + 1)));
		(*s)[i] = DatumGetInt64(sd[i]);
		(*n)[i] = DatumGetInt64(nd[i]);
		snprintf(arm, sizeof(arm), "%d", i + 1);
		check_counts((*s)[i], (*n)[i], arm);
	}
	return ks;
}

/* The function's composite result from its column values. */
Datum
return_record(FunctionCallInfo fcinfo, Datum *values, bool *nulls)
{
	TupleDesc desc;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls));
}

/* A float8 column value; NaN (an undefined statistic) becomes NULL. */
Datum
float8_or_null(double v, bool *null)
{
	*null = isnan(v);
	return Float8GetDatum(*null ? 0 : v);
}
