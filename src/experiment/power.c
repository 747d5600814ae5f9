/*
 * power.c: how many recipients a test of two rates needs, and what power a given size has,
 * two-sided, equal groups, in two documented approximations:
 *   'normal'  the normal approximation of R's power.prop.test (strict = FALSE):
 *             power = Phi((sqrt(n) |p1 - p2| - z(1-alpha/2) sqrt((p1+p2)(1-(p1+p2)/2)))
 *                         / sqrt(p1(1-p1) + p2(1-p2))), solved for n in closed form;
 *   'cohen_h' Cohen's effect size h = 2 asin(sqrt(p1)) - 2 asin(sqrt(p2)) with the normal power of
 *             statsmodels' NormalIndPower (both rejection tails counted):
 *             power = Phi(|h| sqrt(n/2) - z) + Phi(-|h| sqrt(n/2) - z), solved for n by bisection.
 *   personalize.cohen_h(p1, p2), personalize.sample_size_two_proportions(p1, p2, alpha, power,
 *   method) -> recipients per variant (not rounded: take the ceiling), and
 *   personalize.power_two_proportions(p1, p2, n, alpha, method).
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "utils/builtins.h"

#include "distributions.h"
#include "stat_input.h"

PG_FUNCTION_INFO_V1(personalize_cohen_h);
PG_FUNCTION_INFO_V1(personalize_sample_size_two_proportions);
PG_FUNCTION_INFO_V1(personalize_power_two_proportions);

typedef enum PowerMethod
{
	POWER_NORMAL,
	POWER_COHEN_H
} PowerMethod;

/* Reads the method name. */
static PowerMethod
power_method(text *name)
{
	char *s = text_to_cstring(name);

	if (strcmp(s, "normal") == 0)
		return POWER_NORMAL;
	if (strcmp(s, "cohen_h") == 0)
		return POWER_COHEN_H;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown power method \"%s\"", s),
			 errhint("Use 'normal' (R's power.prop.test) or 'cohen_h'.")));
	return POWER_NORMAL;
}

/* Refuses rates outside (0, 1) and two equal rates (no difference to detect). */
static void
check_rates(double p1, double p2)
{
	check_level(p1, "p1");
	check_level(p2, "p2");
	if (p1 == p2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("p1 and p2 must differ"),
				 errdetail("Both are %g: there is no difference to detect.", p1)));
}

/* Cohen's h between two rates. */
static double
cohen_h(double p1, double p2)
{
	return 2 * asin(sqrt(p1)) - 2 * asin(sqrt(p2));
}

/* The power of a two-sided test with n per group at level alpha. */
static double
power_of(PowerMethod method, double p1, double p2, double n, double alpha)
{
	double z = normal_quantile(1 - alpha / 2);

	if (method == POWER_NORMAL)
	{
		double a = sqrt((p1 + p2) * (1 - (p1 + p2) / 2));
		double b = sqrt(p1 * (1 - p1) + p2 * (1 - p2));

		return normal_cdf((sqrt(n) * fabs(p1 - p2) - z * a) / b);
	}
	else
	{
		double d = fabs(cohen_h(p1, p2)) * sqrt(n / 2);

		return normal_cdf(d - z) + normal_cdf(-d - z);
	}
}

/* SQL: personalize.cohen_h(p1, p2) -> 2 asin(sqrt(p1)) - 2 asin(sqrt(p2)). */
Datum
personalize_cohen_h(PG_FUNCTION_ARGS)
{
	double p1 = PG_GETARG_FLOAT8(0), p2 = PG_GETARG_FLOAT8(1);

	if (!(p1 >= 0 && p1 <= 1 && p2 >= 0 && p2 <= 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rates must be between 0 and 1"),
				 errdetail("Got p1 = %g and p2 = %g.", p1, p2)));
	PG_RETURN_FLOAT8(cohen_h(p1, p2));
}

/* SQL: personalize.sample_size_two_proportions(p1, p2, alpha, power, method) -> n per variant. */
Datum
personalize_sample_size_two_proportions(PG_FUNCTION_ARGS)
{
	double		p1 = PG_GETARG_FLOAT8(0), p2 = PG_GETARG_FLOAT8(1);
	double		alpha = PG_GETARG_FLOAT8(2), power = PG_GETARG_FLOAT8(3);
	PowerMethod method = power_method(PG_GETARG_TEXT_PP(4));
	double		za, zb, n;

	check_rates(p1, p2);
	check_level(alpha, "alpha");
	check_level(power, "power");
	if (power <= alpha / 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("power must exceed alpha / 2"),
				 errdetail("Got power %g at alpha %g: even no recipients at all reach it.", power, alpha)));
	za = normal_quantile(1 - alpha / 2);
	zb = normal_quantile(power);
	if (method == POWER_NORMAL)
	{
		double a = sqrt((p1 + p2) * (1 - (p1 + p2) / 2));
		double b = sqrt(p1 * (1 - p1) + p2 * (1 - p2));
		double root = (za * a + zb * b) / fabs(p1 - p2);

		n = root > 0 ? root * root : 0;
	}
	else
	{
		/* bisection on the increasing power curve, from 0 to a size that surely suffices */
		double h = fabs(cohen_h(p1, p2));
		double lo = 0, hi = 2 * pow((za + fmax(zb, 0)) / h, 2) + 1;

		for (int i = 0; i < 200 && hi - lo > hi * 1e-15; i++)
		{
			double mid = (lo + hi) / 2;

			if (power_of(method, p1, p2, mid, alpha) < power)
				lo = mid;
			else
				hi = mid;
		}
		n = hi;
	}
	PG_RETURN_FLOAT8(n);
}

/* SQL: personalize.power_two_proportions(p1, p2, n, alpha, method) -> power with n per variant. */
Datum
personalize_power_two_proportions(PG_FUNCTION_ARGS)
{
	double		p1 = PG_GETARG_FLOAT8(0), p2 = PG_GETARG_FLOAT8(1);
	double		n = PG_GETARG_FLOAT8(2), alpha = PG_GETARG_FLOAT8(3);
	PowerMethod method = power_method(PG_GETARG_TEXT_PP(4));

	check_rates(p1, p2);
	check_level(alpha, "alpha");
	if (!(n >= 0) || isinf(n))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("recipients per variant must be a finite number, not negative"),
				 errdetail("Got %g.", n)));
	PG_RETURN_FLOAT8(power_of(method, p1, p2, n, alpha));
}
