/*
 * bfgs.c: Broyden–Fletcher–Goldfarb–Shanno with an inverse-Hessian update and a backtracking
 * line search on the Armijo condition (Nocedal & Wright, "Numerical Optimization", algorithms 6.1
 * and 3.1). The update is skipped when the curvature condition fails, which keeps the inverse
 * Hessian positive definite without a Wolfe line search. Deterministic.
 */
#include "bfgs.h"

#include <math.h>
#include <string.h>

#define ARMIJO_C 1e-4
#define MAX_HALVINGS 60

/* f at x with the gradient; NaN mapped to +infinity. */
static double
eval(bfgs_objective f, void *arg, const double *x, double *g, int *count)
{
	double v = f(x, g, arg);

	(*count)++;
	return isnan(v) ? INFINITY : v;
}

BfgsResult
bfgs(bfgs_objective f, void *arg, nm_tick tick, int n, double *x, double gtol, int max_iter, double bound)
{
	double H[NM_MAX_DIM][NM_MAX_DIM];
	double g[NM_MAX_DIM],
		p[NM_MAX_DIM],
		xn[NM_MAX_DIM],
		gn[NM_MAX_DIM],
		s[NM_MAX_DIM],
		y[NM_MAX_DIM];
	BfgsResult r = {0};
	double	   fx = eval(f, arg, x, g, &r.evaluations);

	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			H[i][j] = i == j ? 1.0 : 0.0;
	for (r.iterations = 0; r.iterations < max_iter && isfinite(fx); r.iterations++)
	{
		double gmax = 0,
			   slope = 0,
			   t = 1,
			   fn = INFINITY,
			   sy = 0;
		int h;

		if (tick)
			tick(arg);
		for (int i = 0; i < n; i++)
			gmax = fmax(gmax, fabs(g[i]));
		if (gmax <= gtol)
		{
			r.converged = true;
			break;
		}
		for (int i = 0; i < n; i++)
		{
			p[i] = 0;
			for (int j = 0; j < n; j++)
				p[i] -= H[i][j] * g[j];
			slope += p[i] * g[i];
		}
		if (slope >= 0)
		{
			/* not a descent direction: restart from steepest descent */
			for (int i = 0; i < n; i++)
			{
				for (int j = 0; j < n; j++)
					H[i][j] = i == j ? 1.0 : 0.0;
				p[i] = -g[i];
			}
			slope = 0;
			for (int i = 0; i < n; i++)
				slope -= g[i] * g[i];
		}
		for (h = 0; h < MAX_HALVINGS; h++, t /= 2)
		{
			for (int i = 0; i < n; i++)
				xn[i] = x[i] + t * p[i];
			fn = eval(f, arg, xn, gn, &r.evaluations);
			if (fn <= fx + ARMIJO_C * t * slope)
				break;
		}
		if (h == MAX_HALVINGS || !(fn < fx))
		{
			/* no decrease is possible along p at machine precision: a minimum to that precision */
			r.converged = gmax <= gtol * 1e3;
			break;
		}
		for (int i = 0; i < n; i++)
		{
			s[i] = xn[i] - x[i];
			y[i] = gn[i] - g[i];
			sy += s[i] * y[i];
		}
		if (sy > 1e-300)
		{
			/* H = (I - rho s y') H (I - rho y s') + rho s s' */
			double rho = 1 / sy,
				   Hy[NM_MAX_DIM],
				   yHy = 0;

			for (int i = 0; i < n; i++)
			{
				Hy[i] = 0;
				for (int j = 0; j < n; j++)
					Hy[i] += H[i][j] * y[j];
				yHy += y[i] * Hy[i];
			}
			for (int i = 0; i < n; i++)
				for (int j = 0; j < n; j++)
					H[i][j] += rho * ((1 + rho * yHy) * s[i] * s[j] - Hy[i] * s[j] - s[i] * Hy[j]);
		}
		memcpy(x, xn, sizeof(double) * n);
		memcpy(g, gn, sizeof(double) * n);
		fx = fn;
		if (outside(n, x, bound))
		{
			r.escaped = true;
			break;
		}
	}
	r.fmin = fx;
	return r;
}
