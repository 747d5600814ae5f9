/*
 * neldermead.h: a small Nelder–Mead minimizer (pure C, no PostgreSQL), used to fit the CLV models
 * by maximum likelihood over log-transformed parameters.
 */
#ifndef PERSONALIZE_NELDERMEAD_H
#define PERSONALIZE_NELDERMEAD_H

#include <stdbool.h>

#define NM_MAX_DIM 8

/* The function minimized: returns f(x) for x[0..n-1]; may return INFINITY or NaN for "outside". */
typedef double (*nm_objective)(const double *x, void *arg);

/* Called once per iteration, so that the caller can check for interrupts. */
typedef void (*nm_tick)(void *arg);

typedef struct NelderMeadResult
{
	double fmin;		/* the smallest value found */
	int	   iterations;	/* iterations over all restarts */
	int	   evaluations; /* objective evaluations */
	bool   converged;	/* the simplex shrank below the tolerances */
	bool   escaped;		/* the best point left [-bound, bound] in some coordinate */
} NelderMeadResult;

/*
 * Minimizes f from x (updated in place to the minimizer) with an initial step per coordinate;
 * stops when the simplex's values and coordinates agree within ftol and xtol, or after max_iter
 * iterations, or as soon as the best point leaves [-bound, bound] in a coordinate (bound 0: no
 * bound). Restarts once from the best point to escape a collapsed simplex.
 */
/* Whether x[0..n-1] has left [-bound, bound] in some coordinate (never when bound is 0). */
extern bool outside(int n, const double *x, double bound);

extern NelderMeadResult nelder_mead(nm_objective f, void *arg, nm_tick tick, int n, double *x,
									double step, double ftol, double xtol, int max_iter, double bound);

#endif
