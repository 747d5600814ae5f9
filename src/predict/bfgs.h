/*
 * bfgs.h: a small BFGS quasi-Newton minimizer with a backtracking (Armijo) line search (pure C,
 * no PostgreSQL), for the CLV fits whose gradients are known in closed form.
 */
#ifndef PERSONALIZE_BFGS_H
#define PERSONALIZE_BFGS_H

#include <stdbool.h>

#include "neldermead.h"

/* Returns f(x) and fills grad[0..n-1]; may return INFINITY or NaN for "outside". */
typedef double (*bfgs_objective)(const double *x, double *grad, void *arg);

typedef struct BfgsResult
{
	double fmin;
	int	   iterations;
	int	   evaluations;
	bool   converged; /* the gradient vanished (within gtol) */
	bool   escaped;	  /* the point left [-bound, bound] in some coordinate */
} BfgsResult;

/*
 * Minimizes f from x (updated in place) until the largest gradient component is below gtol or
 * a step no longer changes f, or max_iter iterations, or as soon as x leaves [-bound, bound] in a
 * coordinate (bound 0: no bound); tick is called once per iteration.
 */
extern BfgsResult bfgs(bfgs_objective f, void *arg, nm_tick tick, int n, double *x, double gtol,
					   int max_iter, double bound);

#endif
