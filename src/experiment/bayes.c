/*
 * bayes.c: which variant is best, the Bayesian way. Each variant's rate has the posterior
 * Beta(prior_alpha + successes, prior_beta + failures) (integer priors, default the uniform
 * Beta(1, 1)); personalize.bayes_best(successes[], trials[], prior_alpha, prior_beta) returns,
 * per variant, the posterior probability that its rate is the highest and its expected loss
 * E[max_i p_i - p_j] (the rate given up, on average, by choosing it).
 *   Two variants: exact. P(p_b > p_a) is Evan Miller's closed form (a finite sum of Beta function
 *   ratios over one of the four integer parameters, the smallest, its terms by recurrence in log
 *   space), and the expected loss Chris Stucchio's identity
 *   E[max(p_a - p_b, 0)] = E[p_a] P(p_a' > p_b) - E[p_b] P(p_a > p_b'), p' ~ Beta(alpha + 1, beta).
 *   k > 2: P(j best) = int f_j(x) prod_{i != j} F_i(x) dx and E[max] = sum_j int x f_j(x)
 *   prod_{i != j} F_i(x) dx by 20-point Gauss-Legendre on panels 1.25 standard deviations wide
 *   spanning 40 standard deviations around every posterior: deterministic, no sampling.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/float.h"

#include "distributions.h"
#include "stat_input.h"

PG_FUNCTION_INFO_V1(personalize_bayes_best);

/* More variants than this are refused: the integration costs k^2 incomplete beta functions per node. */
#define MAX_VARIANTS 32
#define GAUSS_POINTS 20
#define WINDOW_SDS 40.0
#define PANEL_SDS 1.25

typedef struct Posterior
{
	double a, b;
} Posterior;

/* P(Y > X) for X ~ Beta(xa, xb), Y ~ Beta(ya, yb), integer ya: the sum over i < ya of
 * t_i = B(xa + i, xb + yb) / ((yb + i) B(1 + i, yb) B(xa, xb)), each term from the one before by
 * its ratio, the running sum kept relative to a scale whose logarithm is carried aside. */
static double
prob_greater_sum(double xa, double xb, double ya, double yb)
{
	/* the first term, B(xa, xb + yb) / B(xa, xb) since B(1, yb) = 1 / yb */
	double log_scale = log_beta(xa, xb + yb) - log_beta(xa, xb);
	double term = 1, sum = 1; /* t_i and the sum so far, both divided by exp(log_scale) */
	int64  terms = (int64) ya;

	for (int64 i = 0; i + 1 < terms; i++)
	{
		if ((i & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
		term *= (xa + i) * (1 + i + yb) * (yb + i) / ((xa + i + xb + yb) * (1 + i) * (yb + i + 1));
		sum += term;
		if (term > 1e100)
		{
			log_scale += log(term);
			sum /= term;
			term = 1;
		}
	}
	return fmin(1, exp(log_scale + log(sum)));
}

/* P(p_b > p_a), exactly, summing over the smallest of the four parameters. */
static double
prob_b_beats_a(Posterior a, Posterior b)
{
	double m = fmin(fmin(a.a, a.b), fmin(b.a, b.b));

	if (m == b.a)
		return prob_greater_sum(a.a, a.b, b.a, b.b);
	if (m == a.a)
		return 1 - prob_greater_sum(b.a, b.b, a.a, a.b);
	/* through 1 - p ~ Beta(beta, alpha): p_b > p_a exactly when 1 - p_a > 1 - p_b */
	if (m == a.b)
		return prob_greater_sum(b.b, b.a, a.b, a.a);
	return 1 - prob_greater_sum(a.b, a.a, b.b, b.a);
}

/* Posterior mean. */
static double
mean_of(Posterior p)
{
	return p.a / (p.a + p.b);
}

/* Exact results for two variants. */
static void
two_variants(Posterior *p, double *best, double *loss)
{
	Posterior a1 = {p[0].a + 1, p[0].b}, b1 = {p[1].a + 1, p[1].b};

	best[1] = prob_b_beats_a(p[0], p[1]);
	best[0] = 1 - best[1];
	/* choosing b loses E[max(p_a - p_b, 0)]; choosing a loses E[max(p_b - p_a, 0)] */
	loss[1] = fmax(0, mean_of(p[0]) * (1 - prob_b_beats_a(a1, p[1])) - mean_of(p[1]) * (1 - prob_b_beats_a(p[0], b1)));
	loss[0] = fmax(0, mean_of(p[1]) * prob_b_beats_a(p[0], b1) - mean_of(p[0]) * prob_b_beats_a(a1, p[1]));
}

/* Gauss-Legendre nodes and weights on [-1, 1], computed once by Newton's method. */
static void
gauss_legendre(double *x, double *w)
{
	static double nodes[GAUSS_POINTS], weights[GAUSS_POINTS];
	static bool	  done = false;

	if (!done)
	{
		for (int i = 0; i < (GAUSS_POINTS + 1) / 2; i++)
		{
			double z = cos(M_PI * (i + 0.75) / (GAUSS_POINTS + 0.5)), pp = 0;

			for (int iter = 0; iter < 100; iter++)
			{
				double p1 = 1, p2 = 0, z1 = z;

				for (int j = 0; j < GAUSS_POINTS; j++)
				{
					double p3 = p2;

					p2 = p1;
					p1 = ((2 * j + 1) * z * p2 - j * p3) / (j + 1);
				}
				pp = GAUSS_POINTS * (z * p1 - p2) / (z * z - 1);
				z = z1 - p1 / pp;
				if (fabs(z - z1) < 1e-15)
					break;
			}
			nodes[i] = -z;
			nodes[GAUSS_POINTS - 1 - i] = z;
			weights[i] = weights[GAUSS_POINTS - 1 - i] = 2 / ((1 - z * z) * pp * pp);
		}
		done = true;
	}
	memcpy(x, nodes, sizeof(nodes));
	memcpy(w, weights, sizeof(weights));
}

/* qsort comparison of doubles. */
static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *) a, y = *(const double *) b;

	return (x > y) - (x < y);
}

/* Numerical integration for k > 2 variants. */
static void
many_variants(Posterior *p, int k, double *best, double *loss)
{
	int		per = (int) (2 * WINDOW_SDS / PANEL_SDS) + 1;
	double *cuts = palloc(sizeof(double) * (k * per + 2));
	double *cdf = palloc(sizeof(double) * k), *dens = palloc(sizeof(double) * k);
	double *prefix = palloc(sizeof(double) * (k + 1)), *suffix = palloc(sizeof(double) * (k + 1));
	double *moment = palloc0(sizeof(double) * k);
	double	gx[GAUSS_POINTS], gw[GAUSS_POINTS], emax = 0;
	int		ncuts = 0;

	gauss_legendre(gx, gw);
	/* panel edges: every 1.25 sd within 40 sd of each posterior mean, inside [0, 1] */
	cuts[ncuts++] = 0;
	cuts[ncuts++] = 1;
	for (int i = 0; i < k; i++)
	{
		double m = mean_of(p[i]), n = p[i].a + p[i].b;
		double sd = sqrt(m * (1 - m) / (n + 1));

		for (int s = 0; s < per; s++)
		{
			double c = m + sd * (s * PANEL_SDS - WINDOW_SDS);

			if (c > 0 && c < 1)
				cuts[ncuts++] = c;
		}
	}
	qsort(cuts, ncuts, sizeof(double), cmp_double);
	memset(best, 0, sizeof(double) * k);
	for (int c = 0; c + 1 < ncuts; c++)
	{
		double lo = cuts[c], hi = cuts[c + 1];

		if (hi <= lo)
			continue;
		CHECK_FOR_INTERRUPTS();
		for (int g = 0; g < GAUSS_POINTS; g++)
		{
			double x = (lo + hi) / 2 + (hi - lo) / 2 * gx[g], w = (hi - lo) / 2 * gw[g];

			for (int i = 0; i < k; i++)
			{
				cdf[i] = incomplete_beta(x, p[i].a, p[i].b);
				dens[i] = exp(beta_log_density(x, p[i].a, p[i].b));
			}
			prefix[0] = suffix[k] = 1;
			for (int i = 0; i < k; i++)
				prefix[i + 1] = prefix[i] * cdf[i];
			for (int i = k - 1; i >= 0; i--)
				suffix[i] = suffix[i + 1] * cdf[i];
			for (int j = 0; j < k; j++)
			{
				double v = w * dens[j] * prefix[j] * suffix[j + 1];

				best[j] += v;
				moment[j] += v * x;
			}
		}
	}
	for (int j = 0; j < k; j++)
		emax += moment[j];
	for (int j = 0; j < k; j++)
	{
		best[j] = fmin(1, fmax(0, best[j]));
		loss[j] = fmax(0, emax - mean_of(p[j]));
	}
}

/* Reads a prior parameter: a positive integer. */
static double
prior_arg(int32 v, const char *name)
{
	if (v < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a positive integer", name),
				 errdetail("Got %d.", v)));
	return v;
}

/* A float8[] of k values. */
static Datum
float8_array(double *v, int k)
{
	Datum *d = palloc(sizeof(Datum) * k);

	for (int i = 0; i < k; i++)
		d[i] = Float8GetDatum(v[i]);
	return PointerGetDatum(construct_array(d, k, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* SQL: personalize.bayes_best(successes[], trials[], prior_alpha, prior_beta)
 *      -> (probability_best float8[], expected_loss float8[]). */
Datum
personalize_bayes_best(PG_FUNCTION_ARGS)
{
	int64	  *s, *n;
	int		   k = read_count_arrays(PG_GETARG_ARRAYTYPE_P(0), PG_GETARG_ARRAYTYPE_P(1), &s, &n);
	double	   pa = prior_arg(PG_GETARG_INT32(2), "prior_alpha");
	double	   pb = prior_arg(PG_GETARG_INT32(3), "prior_beta");
	Posterior *post = palloc(sizeof(Posterior) * k);
	double	  *best = palloc(sizeof(double) * k), *loss = palloc(sizeof(double) * k);
	Datum	   values[2];
	bool	   nulls[2] = {false, false};

	if (k > MAX_VARIANTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("at most %d variants can be compared", MAX_VARIANTS),
				 errdetail("Got %d.", k)));
	for (int i = 0; i < k; i++)
	{
		post[i].a = pa + s[i];
		post[i].b = pb + (n[i] - s[i]);
	}
	if (k == 2)
		two_variants(post, best, loss);
	else
		many_variants(post, k, best, loss);
	values[0] = float8_array(best, k);
	values[1] = float8_array(loss, k);
	PG_RETURN_DATUM(return_record(fcinfo, values, nulls));
}
