/*
 * distributions.c: the probability distributions the experiment statistics stand on, in
 * double precision and accurate in the tails: the standard normal (CDF through erfc, quantile
 * by Acklam's rational approximation polished with Halley steps), the regularized incomplete
 * beta function (continued fraction, modified Lentz, Numerical Recipes 6.4) and through it
 * Student's t and the Beta CDF, and the regularized upper incomplete gamma function (series or
 * continued fraction, Numerical Recipes 6.2) for the chi-square distribution.
 * Also here: personalize.student_t_cdf(t, df), the t distribution exposed to SQL.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/float.h"

#include "distributions.h"

PG_FUNCTION_INFO_V1(personalize_student_t_cdf);

/* Iterations allowed to a continued fraction; convergence takes about sqrt(max(a, b)) of them. */
#define MAX_FRACTION_STEPS 1000000
#define TINY 1e-300

/* P(Z <= x) for a standard normal Z, without cancellation in either tail. */
double
normal_cdf(double x)
{
	return 0.5 * erfc(-x / M_SQRT2);
}

/* The x with P(Z <= x) = p, 0 < p < 1: Acklam's approximation, then two Halley steps. */
double
normal_quantile(double p)
{
	static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
							   1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
	static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
							   6.680131188771972e+01, -1.328068155288572e+01};
	static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
							   -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
	static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
							   3.754408661907416e+00};
	double				q, r, x;

	if (p <= 0.0)
		return -get_float8_infinity();
	if (p >= 1.0)
		return get_float8_infinity();
	if (p < 0.02425 || p > 1 - 0.02425)
	{
		q = sqrt(-2 * log(p < 0.5 ? p : 1 - p));
		x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
			((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
		if (p > 0.5)
			x = -x;
	}
	else
	{
		q = p - 0.5;
		r = q * q;
		x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
			(((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
	}
	for (int i = 0; i < 2; i++)
	{
		/* Halley's step on the upper or lower tail, whichever keeps the error relative. */
		double e = (p < 0.5 ? normal_cdf(x) - p : (1 - p) - normal_cdf(-x));
		double u = e * sqrt(2 * M_PI) * exp(x * x / 2);

		x = x - u / (1 + x * u / 2);
	}
	return x;
}

/* One step of the modified Lentz method: folds the partial numerator aa into c and d and
 * returns the factor the fraction's value changes by. */
static double
lentz_step(double aa, double *c, double *d)
{
	*d = 1 + aa * *d;
	if (fabs(*d) < TINY)
		*d = TINY;
	*c = 1 + aa / *c;
	if (fabs(*c) < TINY)
		*c = TINY;
	*d = 1 / *d;
	return *d * *c;
}

/* The continued fraction of I_x(a, b) (modified Lentz), for x < (a + 1) / (a + b + 2). */
static double
beta_fraction(double x, double a, double b)
{
	double qab = a + b, qap = a + 1, qam = a - 1;
	double c = 1, d = 1 - qab * x / qap, h;

	if (fabs(d) < TINY)
		d = TINY;
	d = 1 / d;
	h = d;
	for (int m = 1; m <= MAX_FRACTION_STEPS; m++)
	{
		int	   m2 = 2 * m;
		double del;

		if ((m & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		h *= lentz_step(m * (b - m) * x / ((qam + m2) * (a + m2)), &c, &d);
		del = lentz_step(-(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)), &c, &d);
		h *= del;
		if (fabs(del - 1) < 1e-16)
			return h;
	}
	elog(ERROR, "incomplete beta fraction did not converge for a=%g b=%g x=%g", a, b, x);
	return h;
}

/* Stirling's remainder: lgamma(x) - ((x - 1/2) log x - x + log(2 pi) / 2), for x >= 10. */
static double
stirling_remainder(double x)
{
	double x2 = 1 / (x * x);

	return (1.0 / 12 - x2 * (1.0 / 360 - x2 * (1.0 / 1260 - x2 / 1680))) / x;
}

/* log B(a, b) = log(Gamma(a) Gamma(b) / Gamma(a + b)); for large arguments from Stirling's series arranged so that the large terms
 * cancel before rounding (lgamma(a + b) alone would carry an error of eps * (a + b) log(a + b)). */
double
log_beta(double a, double b)
{
	if (a < 10 || b < 10)
		return lgamma(a) + lgamma(b) - lgamma(a + b);
	return 0.5 * log(2 * M_PI) + (a - 0.5) * log(a / (a + b)) + (b - 0.5) * log(b / (a + b)) - 0.5 * log(a + b) + stirling_remainder(a) + stirling_remainder(b) - stirling_remainder(a + b);
}

/* The regularized incomplete beta function I_x(a, b) = P(X <= x) for X ~ Beta(a, b). */
double
incomplete_beta(double x, double a, double b)
{
	double front;

	if (x <= 0)
		return 0;
	if (x >= 1)
		return 1;
	front = exp(a * log(x) + b * log1p(-x) - log_beta(a, b));
	if (x < (a + 1) / (a + b + 2))
		return front * beta_fraction(x, a, b) / a;
	return 1 - front * beta_fraction(1 - x, b, a) / b;
}

/* log of the Beta(a, b) density at 0 < x < 1. */
double
beta_log_density(double x, double a, double b)
{
	return (a - 1) * log(x) + (b - 1) * log1p(-x) - log_beta(a, b);
}

/* P(|T| >= |t|) for Student's t with df degrees of freedom: I_{df/(df+t^2)}(df/2, 1/2). */
double
student_t_two_sided(double t, double df)
{
	if (isinf(t))
		return 0;
	return incomplete_beta(df / (df + t * t), df / 2, 0.5);
}

/* P(T <= t) for Student's t with df degrees of freedom, each tail computed as itself. */
double
student_t_cdf(double t, double df)
{
	double tail = student_t_two_sided(t, df) / 2;

	return t > 0 ? 1 - tail : tail;
}

/* Q(a, x) = Gamma(a, x) / Gamma(a), the chi-square survival at 2x with 2a degrees of freedom. */
double
incomplete_gamma_upper(double a, double x)
{
	double gln = lgamma(a);

	if (x <= 0)
		return 1;
	if (x < a + 1)
	{
		/* series for P(a, x); Q is not small here, so 1 - P loses nothing that matters */
		double ap = a, sum = 1 / a, del = sum;

		for (int n = 1; n <= MAX_FRACTION_STEPS; n++)
		{
			if ((n & 1023) == 0)
				CHECK_FOR_INTERRUPTS();
			ap += 1;
			del *= x / ap;
			sum += del;
			if (fabs(del) < fabs(sum) * 1e-17)
				return 1 - sum * exp(-x + a * log(x) - gln);
		}
	}
	else
	{
		/* continued fraction for Q(a, x), accurate deep in the upper tail */
		double b = x + 1 - a, c = 1 / TINY, d = 1 / b, h = d;

		for (int i = 1; i <= MAX_FRACTION_STEPS; i++)
		{
			double an = -i * (i - a), del;

			if ((i & 1023) == 0)
				CHECK_FOR_INTERRUPTS();
			b += 2;
			d = an * d + b;
			if (fabs(d) < TINY)
				d = TINY;
			c = b + an / c;
			if (fabs(c) < TINY)
				c = TINY;
			d = 1 / d;
			del = d * c;
			h *= del;
			if (fabs(del - 1) < 1e-16)
				return exp(-x + a * log(x) - gln) * h;
		}
	}
	elog(ERROR, "incomplete gamma did not converge for a=%g x=%g", a, x);
	return 0;
}

/* SQL: personalize.student_t_cdf(t, df) -> P(T <= t) for Student's t with df > 0 degrees of freedom. */
Datum
personalize_student_t_cdf(PG_FUNCTION_ARGS)
{
	double t = PG_GETARG_FLOAT8(0);
	double df = PG_GETARG_FLOAT8(1);

	if (isnan(t) || isnan(df) || !(df > 0) || isinf(df))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("degrees of freedom must be positive and finite, and t a number"),
				 errdetail("Got t = %g and df = %g.", t, df)));
	PG_RETURN_FLOAT8(student_t_cdf(t, df));
}
