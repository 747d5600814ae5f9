/*
 * intervals.c: confidence intervals for a rate and for the difference of two rates.
 *   personalize.wilson_interval(successes, trials, confidence) -> (rate, lower, upper): the
 *     Wilson score interval (Wilson 1927), which stays inside [0, 1] and behaves at 0 and n.
 *   personalize.newcombe_interval(successes_a, trials_a, successes_b, trials_b, confidence)
 *     -> (difference, lower, upper): the difference rate_b - rate_a with Newcombe's hybrid score
 *     interval (Newcombe 1998, method 10), built from the two Wilson intervals.
 * No trials: NULL.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"

#include "distributions.h"
#include "stat_input.h"

PG_FUNCTION_INFO_V1(personalize_wilson_interval);
PG_FUNCTION_INFO_V1(personalize_newcombe_interval);

typedef struct Interval
{
	double estimate, lower, upper;
} Interval;

/* The Wilson interval of s successes in n > 0 trials at critical value z. */
static Interval
wilson(int64 s, int64 n, double z)
{
	double	 p = (double) s / n, z2 = z * z;
	double	 denom = 1 + z2 / n;
	double	 center = (p + z2 / (2.0 * n)) / denom;
	double	 half = z / denom * sqrt(p * (1 - p) / n + z2 / (4.0 * n * n));
	Interval r = {p, fmax(0, center - half), fmin(1, center + half)};

	/* at the edges the interval touches 0 or 1 exactly; rounding must not leave a gap */
	if (s == 0)
		r.lower = 0;
	if (s == n)
		r.upper = 1;
	return r;
}

/* The critical value of a two-sided interval at this confidence. */
static double
critical_value(double confidence)
{
	check_level(confidence, "confidence");
	return normal_quantile(1 - (1 - confidence) / 2);
}

/* Returns an interval row, or a row of NULLs when undefined. */
static Datum
interval_row(FunctionCallInfo fcinfo, Interval r, bool defined)
{
	Datum values[3] = {Float8GetDatum(r.estimate), Float8GetDatum(r.lower), Float8GetDatum(r.upper)};
	bool  nulls[3] = {!defined, !defined, !defined};

	return return_record(fcinfo, values, nulls);
}

/* SQL: personalize.wilson_interval(successes, trials, confidence) -> (rate, lower, upper). */
Datum
personalize_wilson_interval(PG_FUNCTION_ARGS)
{
	int64	 s = PG_GETARG_INT64(0), n = PG_GETARG_INT64(1);
	double	 z = critical_value(PG_GETARG_FLOAT8(2));
	Interval r = {0, 0, 0};

	check_counts(s, n, "a");
	if (n > 0)
		r = wilson(s, n, z);
	PG_RETURN_DATUM(interval_row(fcinfo, r, n > 0));
}

/* SQL: personalize.newcombe_interval(sa, na, sb, nb, confidence) -> (difference, lower, upper). */
Datum
personalize_newcombe_interval(PG_FUNCTION_ARGS)
{
	int64	 sa = PG_GETARG_INT64(0), na = PG_GETARG_INT64(1);
	int64	 sb = PG_GETARG_INT64(2), nb = PG_GETARG_INT64(3);
	double	 z = critical_value(PG_GETARG_FLOAT8(4));
	Interval r = {0, 0, 0};

	check_counts(sa, na, "a");
	check_counts(sb, nb, "b");
	if (na > 0 && nb > 0)
	{
		Interval a = wilson(sa, na, z), b = wilson(sb, nb, z);

		r.estimate = b.estimate - a.estimate;
		r.lower = r.estimate - sqrt(pow(b.estimate - b.lower, 2) + pow(a.upper - a.estimate, 2));
		r.upper = r.estimate + sqrt(pow(b.upper - b.estimate, 2) + pow(a.estimate - a.lower, 2));
	}
	PG_RETURN_DATUM(interval_row(fcinfo, r, na > 0 && nb > 0));
}
