/*
 * neldermead.c: the Nelder–Mead simplex method (Nelder & Mead 1965) with the standard
 * coefficients (reflection 1, expansion 2, contraction 1/2, shrink 1/2), as described in
 * Lagarias et al. (1998), "Convergence properties of the Nelder–Mead simplex method in low
 * dimensions". Deterministic: the same input gives the same path.
 */
#include "neldermead.h"

#include <math.h>
#include <string.h>

/* An objective value with NaN mapped to +infinity, so that "outside" always loses. */
static double
eval(nm_objective f, void *arg, const double *x, int *count)
{
	double v = f(x, arg);

	(*count)++;
	return isnan(v) ? INFINITY : v;
}

/* Sorts the n+1 vertices by value, best first (insertion sort: n is tiny). */
static void
order(int n, double pts[][NM_MAX_DIM], double *val)
{
	for (int i = 1; i <= n; i++)
	{
		double v = val[i];
		double p[NM_MAX_DIM];
		int	   j = i - 1;

		memcpy(p, pts[i], sizeof(double) * n);
		while (j >= 0 && val[j] > v)
		{
			val[j + 1] = val[j];
			memcpy(pts[j + 1], pts[j], sizeof(double) * n);
			j--;
		}
		val[j + 1] = v;
		memcpy(pts[j + 1], p, sizeof(double) * n);
	}
}

/* pts[0] + t (c - pts[0])-style point: out = c + t (c - w). */
static void
along(int n, const double *c, const double *w, double t, double *out)
{
	for (int k = 0; k < n; k++)
		out[k] = c[k] + t * (c[k] - w[k]);
}

/* Whether a point has left [-bound, bound] in some coordinate (never when bound is 0). */
bool
outside(int n, const double *x, double bound)
{
	if (bound <= 0)
		return false;
	for (int i = 0; i < n; i++)
		if (!(fabs(x[i]) <= bound))
			return true;
	return false;
}

/* One Nelder–Mead run from x; returns the result and leaves the best point in x. */
static NelderMeadResult
run(nm_objective f, void *arg, nm_tick tick, int n, double *x, double step, double ftol,
	double xtol, int max_iter, double bound)
{
	double			 pts[NM_MAX_DIM + 1][NM_MAX_DIM];
	double			 val[NM_MAX_DIM + 1];
	NelderMeadResult r = {0};

	for (int i = 0; i <= n; i++)
	{
		memcpy(pts[i], x, sizeof(double) * n);
		if (i > 0)
			pts[i][i - 1] += step;
		val[i] = eval(f, arg, pts[i], &r.evaluations);
	}
	for (r.iterations = 0; r.iterations < max_iter; r.iterations++)
	{
		double c[NM_MAX_DIM],
			xr[NM_MAX_DIM],
			xe[NM_MAX_DIM],
			xc[NM_MAX_DIM];
		double fr,
			spread = 0;

		if (tick)
			tick(arg);
		order(n, pts, val);
		if (outside(n, pts[0], bound))
		{
			r.escaped = true;
			break;
		}
		for (int i = 1; i <= n; i++)
			for (int k = 0; k < n; k++)
				spread = fmax(spread, fabs(pts[i][k] - pts[0][k]));
		if (isfinite(val[0]) && fabs(val[n] - val[0]) <= ftol * (1 + fabs(val[0])) && spread <= xtol)
		{
			r.converged = true;
			break;
		}
		/* the centroid of all but the worst */
		for (int k = 0; k < n; k++)
		{
			c[k] = 0;
			for (int i = 0; i < n; i++)
				c[k] += pts[i][k] / n;
		}
		along(n, c, pts[n], 1.0, xr);
		fr = eval(f, arg, xr, &r.evaluations);
		if (fr < val[0])
		{
			double fe;

			along(n, c, pts[n], 2.0, xe);
			fe = eval(f, arg, xe, &r.evaluations);
			if (fe < fr)
			{
				memcpy(pts[n], xe, sizeof(double) * n);
				val[n] = fe;
			}
			else
			{
				memcpy(pts[n], xr, sizeof(double) * n);
				val[n] = fr;
			}
			continue;
		}
		if (fr < val[n - 1])
		{
			memcpy(pts[n], xr, sizeof(double) * n);
			val[n] = fr;
			continue;
		}
		/* contraction: outside if the reflection improved on the worst, else inside */
		if (fr < val[n])
			along(n, c, pts[n], 0.5, xc);
		else
			along(n, c, pts[n], -0.5, xc);
		{
			double fc = eval(f, arg, xc, &r.evaluations);

			if (fc < fmin(fr, val[n]))
			{
				memcpy(pts[n], xc, sizeof(double) * n);
				val[n] = fc;
				continue;
			}
		}
		/* shrink towards the best */
		for (int i = 1; i <= n; i++)
		{
			for (int k = 0; k < n; k++)
				pts[i][k] = pts[0][k] + 0.5 * (pts[i][k] - pts[0][k]);
			val[i] = eval(f, arg, pts[i], &r.evaluations);
		}
	}
	order(n, pts, val);
	memcpy(x, pts[0], sizeof(double) * n);
	r.fmin = val[0];
	return r;
}

NelderMeadResult
nelder_mead(nm_objective f, void *arg, nm_tick tick, int n, double *x, double step, double ftol,
			double xtol, int max_iter, double bound)
{
	NelderMeadResult first = run(f, arg, tick, n, x, step, ftol, xtol, max_iter, bound);
	NelderMeadResult second;

	if (first.escaped)
		return first;
	second = run(f, arg, tick, n, x, step / 10, ftol, xtol, max_iter, bound);

	second.iterations += first.iterations;
	second.evaluations += first.evaluations;
	return second;
}
