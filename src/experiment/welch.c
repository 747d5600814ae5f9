/*
 * welch.c: Welch's unequal-variances t-test, for means such as revenue per recipient.
 *   personalize.welch_test(n_a, mean_a, variance_a, n_b, mean_b, variance_b)
 *     -> (difference, t, df, p_value): difference = mean_b - mean_a, t its ratio to the standard
 *     error sqrt(var_a/n_a + var_b/n_b), df by the Welch-Satterthwaite equation, and the
 *     two-sided p-value from Student's t (src/experiment/distributions.c). Variances are the
 *     sample variances (var_samp). Fewer than two observations in a group, or both variances
 *     zero: t, df and p_value are NULL.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"

#include "distributions.h"
#include "stat_input.h"

PG_FUNCTION_INFO_V1(personalize_welch_test);

/* Refuses a negative group size, a negative variance, or a value that is not finite. */
static void
check_group(int64 n, double mean, double var, const char *arm)
{
	if (n < 0 || !isfinite(mean) || !isfinite(var) || var < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("group sizes and variances must not be negative, and means and variances must be finite"),
				 errdetail("Group %s has n = " INT64_FORMAT ", mean = %g, variance = %g.", arm, n, mean, var)));
}

/* SQL: personalize.welch_test(n_a, mean_a, var_a, n_b, mean_b, var_b) -> (difference, t, df, p_value). */
Datum
personalize_welch_test(PG_FUNCTION_ARGS)
{
	int64  na = PG_GETARG_INT64(0), nb = PG_GETARG_INT64(3);
	double ma = PG_GETARG_FLOAT8(1), va = PG_GETARG_FLOAT8(2);
	double mb = PG_GETARG_FLOAT8(4), vb = PG_GETARG_FLOAT8(5);
	double t = NAN, df = NAN, p = NAN;
	Datum  values[4];
	bool   nulls[4];

	check_group(na, ma, va, "a");
	check_group(nb, mb, vb, "b");
	if (na >= 2 && nb >= 2 && (va > 0 || vb > 0))
	{
		double ua = va / na, ub = vb / nb;

		t = (mb - ma) / sqrt(ua + ub);
		df = (ua + ub) * (ua + ub) / (ua * ua / (na - 1) + ub * ub / (nb - 1));
		p = student_t_two_sided(t, df);
	}
	values[0] = float8_or_null(na > 0 && nb > 0 ? mb - ma : NAN, &nulls[0]);
	values[1] = float8_or_null(t, &nulls[1]);
	values[2] = float8_or_null(df, &nulls[2]);
	values[3] = float8_or_null(p, &nulls[3]);
	PG_RETURN_DATUM(return_record(fcinfo, values, nulls));
}
