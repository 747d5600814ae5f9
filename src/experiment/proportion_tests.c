/*
 * proportion_tests.c: frequentist tests that variants share one success rate.
 *   personalize.z_test(successes_a, trials_a, successes_b, trials_b) -> (z, p_value): the
 *     two-sided two-proportion z-test with the pooled variance; z > 0 when b's rate is higher.
 *   personalize.chi_square_test(successes[], trials[]) -> (chi_square, df, p_value): Pearson's
 *     chi-square test of homogeneity of k proportions (the 2 x k table, no continuity correction).
 * A statistic the data leave undefined (a variant without trials, a pooled rate of 0 or 1) is NULL.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"

#include "distributions.h"
#include "stat_input.h"

PG_FUNCTION_INFO_V1(personalize_z_test);
PG_FUNCTION_INFO_V1(personalize_chi_square_test);

/* SQL: personalize.z_test(successes_a, trials_a, successes_b, trials_b) -> (z, p_value). */
Datum
personalize_z_test(PG_FUNCTION_ARGS)
{
	int64  sa = PG_GETARG_INT64(0), na = PG_GETARG_INT64(1);
	int64  sb = PG_GETARG_INT64(2), nb = PG_GETARG_INT64(3);
	double pooled, se, z = NAN;
	Datum  values[2];
	bool   nulls[2];

	check_counts(sa, na, "a");
	check_counts(sb, nb, "b");
	if (na > 0 && nb > 0)
	{
		pooled = (double) (sa + sb) / (double) (na + nb);
		se = sqrt(pooled * (1 - pooled) * (1.0 / na + 1.0 / nb));
		if (se > 0)
			z = ((double) sb / nb - (double) sa / na) / se;
	}
	values[0] = float8_or_null(z, &nulls[0]);
	values[1] = float8_or_null(erfc(fabs(z) / M_SQRT2), &nulls[1]);
	PG_RETURN_DATUM(return_record(fcinfo, values, nulls));
}

/* SQL: personalize.chi_square_test(successes[], trials[]) -> (chi_square, df, p_value). */
Datum
personalize_chi_square_test(PG_FUNCTION_ARGS)
{
	int64 *s, *n;
	int	   k = read_count_arrays(PG_GETARG_ARRAYTYPE_P(0), PG_GETARG_ARRAYTYPE_P(1), &s, &n);
	double total_s = 0, total_n = 0, pooled, chi = NAN;
	bool   empty = false;
	Datum  values[3];
	bool   nulls[3] = {false, false, false};

	for (int i = 0; i < k; i++)
	{
		total_s += s[i];
		total_n += n[i];
		empty |= (n[i] == 0);
	}
	pooled = empty ? 0 : total_s / total_n;
	if (pooled > 0 && pooled < 1)
	{
		chi = 0;
		for (int i = 0; i < k; i++)
		{
			double expected = n[i] * pooled;
			double dev = s[i] - expected;

			CHECK_FOR_INTERRUPTS();
			chi += dev * dev / (expected * (1 - pooled));
		}
	}
	values[0] = float8_or_null(chi, &nulls[0]);
	values[1] = Int32GetDatum(k - 1);
	values[2] = float8_or_null(isnan(chi) ? NAN : incomplete_gamma_upper((k - 1) / 2.0, chi / 2), &nulls[2]);
	PG_RETURN_DATUM(return_record(fcinfo, values, nulls));
}
