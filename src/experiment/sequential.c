/*
 * sequential.c: an always-valid sequential test of two rates, so that looking at a running
 * experiment every hour does not inflate false positives: the mixture sequential probability
 * ratio test (mSPRT) of Johari, Koomen, Pekelis and Walsh, "Peeking at A/B Tests: Why it
 * matters, and what to do about it" (KDD 2017) and "Always Valid Inference: Continuous
 * Monitoring of A/B Tests" (Operations Research 70(3), 2022), in its normal-approximation form
 * for two proportions. With difference d = rate_b - rate_a, its variance under the null
 * V = p(1 - p)(1/n_a + 1/n_b) from the pooled rate p, and a normal mixture N(0, tau^2) over the
 * alternative,
 *     Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 d^2 / (2 V (V + tau^2))).
 * Under the null Lambda is a nonnegative martingale, so by Ville's inequality the chance it
 * ever reaches 1/alpha, however often it is checked, is at most alpha: an experiment is
 * conclusive the first time Lambda >= 1/alpha, and 1/Lambda (at most 1) is its always-valid
 * p-value at this look (the running minimum over looks is the p-value of the whole history).
 *   personalize.sequential_test(successes_a, trials_a, successes_b, trials_b, alpha, tau)
 *     -> (difference, likelihood_ratio, p_value, conclusive)
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "utils/float.h"

#include "stat_input.h"

PG_FUNCTION_INFO_V1(personalize_sequential_test);

/* SQL: personalize.sequential_test(sa, na, sb, nb, alpha, tau) -> (difference, likelihood_ratio, p_value, conclusive). */
Datum
personalize_sequential_test(PG_FUNCTION_ARGS)
{
	int64  sa = PG_GETARG_INT64(0), na = PG_GETARG_INT64(1);
	int64  sb = PG_GETARG_INT64(2), nb = PG_GETARG_INT64(3);
	double alpha = PG_GETARG_FLOAT8(4), tau = PG_GETARG_FLOAT8(5);
	double d = NAN, log_lr = 0;
	Datum  values[4];
	bool   nulls[4] = {false, false, false, false};

	check_counts(sa, na, "a");
	check_counts(sb, nb, "b");
	check_level(alpha, "alpha");
	if (!(tau > 0) || isinf(tau))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tau must be positive and finite"),
				 errdetail("Got %g.", tau),
				 errhint("tau is the standard deviation of the differences in rate the test expects, e.g. 0.01 for one percentage point.")));
	if (na > 0 && nb > 0)
	{
		double pooled = (double) (sa + sb) / (double) (na + nb);
		double v = pooled * (1 - pooled) * (1.0 / na + 1.0 / nb);
		double t2 = tau * tau;

		d = (double) sb / nb - (double) sa / na;
		/* all successes or none: no evidence either way, Lambda stays 1 */
		if (v > 0)
			log_lr = 0.5 * log(v / (v + t2)) + t2 * d * d / (2 * v * (v + t2));
	}
	values[0] = float8_or_null(d, &nulls[0]);
	values[1] = Float8GetDatum(exp(log_lr));
	values[2] = Float8GetDatum(fmin(1, exp(-log_lr)));
	values[3] = BoolGetDatum(log_lr >= -log(alpha));
	PG_RETURN_DATUM(return_record(fcinfo, values, nulls));
}
