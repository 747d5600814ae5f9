/*
 * clv_model.c: BG/NBD and Gamma-Gamma in pure C (see clv_model.h for the references). Fits are
 * maximum likelihood by BFGS on the closed-form gradient (Nelder–Mead when BFGS does not converge)
 * over the logarithms of the parameters (so they stay
 * positive), on data rescaled so that the largest age (or the mean spend) is of order 10 (or 1):
 * the scale parameter alpha (or v) is scaled back afterwards and the log-likelihood is reported on
 * the original data.
 */
#include "clv_model.h"

#include "bfgs.h"

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define FIT_FTOL 1e-13
#define FIT_XTOL 1e-9
#define FIT_MAX_ITER 20000
#define FIT_GTOL 1e-10
#define HYP2F1_MAX_TERMS 2000000
/*
 * |log| of a rescaled parameter beyond which the data did not identify it (1e-8 .. 1e8). Large
 * but bounded values are legitimate limits (a and b both large: the drop-out probability hardly
 * varies between customers); running past the bound means the likelihood kept growing.
 */
#define IDENTIFIED_LOG_BOUND 18.4207
/*
 * Where the search stops: a parameter this far out (e^23, about 1e10) is past the bound above, so
 * the data cannot identify the model; searching on only wanders along a likelihood still rising
 * towards its limit (spend that never varies within a customer sends p to infinity: on 1M
 * customers that ran for over 20 minutes before the search was stopped here).
 */
#define ESCAPE_LOG_BOUND 23.0

/* Whether every log-parameter stayed within the bound: if not, the likelihood kept growing as one
 * ran off towards 0 or infinity, and the data cannot identify the model. */
static bool
identified(const double *theta, int n)
{
	for (int i = 0; i < n; i++)
		if (!(fabs(theta[i]) <= IDENTIFIED_LOG_BOUND))
			return false;
	return true;
}

/* log(exp(u) + exp(v)) without overflow. */
static double
log_add(double u, double v)
{
	double hi = fmax(u, v),
		   lo = fmin(u, v);

	if (hi == -INFINITY)
		return -INFINITY;
	return hi + log1p(exp(lo - hi));
}

/* ln B(x, y). */
static double
lbeta(double x, double y)
{
	return lgamma(x) + lgamma(y) - lgamma(x + y);
}

/* The digamma function psi(x) = d/dx ln Gamma(x) for x > 0: recurrence up to 10, then the
 * asymptotic series (Abramowitz & Stegun 6.3.18), accurate to about 1e-15. */
static double
digamma(double x)
{
	double shift = 0,
		   inv,
		   inv2;

	while (x < 10)
	{
		shift -= 1 / x;
		x += 1;
	}
	inv = 1 / x;
	inv2 = inv * inv;
	return shift + log(x) - 0.5 * inv -
		   inv2 * (1.0 / 12 - inv2 * (1.0 / 120 - inv2 * (1.0 / 252 - inv2 * (1.0 / 240 - inv2 * (1.0 / 132)))));
}

const char *
bgnbd_check_customer(double x, double t_x, double T)
{
	if (!isfinite(x) || !isfinite(t_x) || !isfinite(T))
		return "x, t_x and T must be finite";
	if (x < 0 || x != floor(x))
		return "x (repeat purchases) must be a whole number of at least 0";
	if (T <= 0)
		return "T (the customer's age) must be positive";
	if (t_x < 0 || t_x > T)
		return "t_x (the time of the last purchase) must be between 0 and T";
	if (x == 0 && t_x != 0)
		return "a customer with no repeat purchase must have t_x = 0";
	return NULL;
}

double
bgnbd_loglik(const BgNbd *p, double x, double t_x, double T)
{
	double r = p->r,
		   al = p->alpha,
		   a = p->a,
		   b = p->b;
	double ln_a1 = lgamma(r + x) - lgamma(r) + r * log(al);
	double ln_a2 = lgamma(a + b) + lgamma(b + x) - lgamma(b) - lgamma(a + b + x);
	double ln_a3 = -(r + x) * log(al + T);

	if (x > 0)
	{
		double ln_a4 = log(a) - log(b + x - 1) - (r + x) * log(al + t_x);

		return ln_a1 + ln_a2 + log_add(ln_a3, ln_a4);
	}
	return ln_a1 + ln_a2 + ln_a3;
}

/* Orders customers by (x, t_x, T), so that identical ones are adjacent and x changes rarely. */
static int
customer_cmp(const void *l, const void *r)
{
	const ClvCustomer *a = l,
					  *b = r;

	if (a->x != b->x)
		return a->x < b->x ? -1 : 1;
	if (a->t_x != b->t_x)
		return a->t_x < b->t_x ? -1 : 1;
	if (a->T != b->T)
		return a->T < b->T ? -1 : 1;
	return 0;
}

/*
 * Sorts n rows of `size` bytes by cmp and folds identical neighbours into one, adding up the
 * double at weight_offset; returns the number of rows left.
 */
static size_t
collapse(void *rows, size_t n, size_t size, int (*cmp)(const void *, const void *),
		 size_t weight_offset)
{
	char  *base = rows;
	size_t k = 0;

	qsort(rows, n, size, cmp);
	for (size_t i = 0; i < n; i++)
	{
		char *row = base + i * size;
		char *last = base + (k - 1) * size;

		if (k > 0 && cmp(last, row) == 0)
			*(double *) (last + weight_offset) += *(double *) (row + weight_offset);
		else
			memmove(base + k++ * size, row, size);
	}
	return k;
}

/* What an objective evaluation reads: the collapsed rows and the caller's interrupt check. */
typedef struct FitData
{
	const void *rows;
	size_t		n;
	double		total; /* sum of weights */
	nm_tick		tick;
	void	   *tick_arg;
} FitData;

/* Forwards the optimizer's per-iteration call to the caller's. */
static void
data_tick(void *arg)
{
	FitData *d = arg;

	if (d->tick)
		d->tick(d->tick_arg);
}

/*
 * Sum of weighted log-likelihoods and, when grad is not NULL, its gradient in (r, alpha, a, b);
 * the terms that depend on x alone are computed once per distinct x (rows are sorted by x).
 */
static double
bgnbd_loglik_sum(const BgNbd *p, const ClvCustomer *rows, size_t n, double *grad)
{
	double r = p->r,
		   al = p->alpha,
		   a = p->a,
		   b = p->b;
	double base = -lgamma(r) + r * log(al) + lgamma(a + b) - lgamma(b);
	double ln_a = log(a);
	double sum = 0,
		   cur_x = -1,
		   xterm = 0,
		   ln_b1 = 0;
	double dx[4] = {0}, /* the x-only terms' gradient */
		g[4] = {0};

	for (size_t i = 0; i < n; i++)
	{
		const ClvCustomer *c = &rows[i];
		double			   ln_T = log(al + c->T),
			   l3 = -(r + c->x) * ln_T,
			   ll = l3,
			   w4 = 0,
			   ln_tx = 0;

		if (c->x != cur_x)
		{
			cur_x = c->x;
			xterm = base + lgamma(r + cur_x) + lgamma(b + cur_x) - lgamma(a + b + cur_x);
			ln_b1 = cur_x > 0 ? log(b + cur_x - 1) : 0;
			if (grad)
			{
				double psi_ab = digamma(a + b),
					   psi_abx = digamma(a + b + cur_x);

				dx[0] = digamma(r + cur_x) - digamma(r) + log(al);
				dx[1] = r / al;
				dx[2] = psi_ab - psi_abx;
				dx[3] = psi_ab - digamma(b) + digamma(b + cur_x) - psi_abx;
			}
		}
		if (cur_x > 0)
		{
			double l4;

			ln_tx = log(al + c->t_x);
			l4 = ln_a - ln_b1 - (r + cur_x) * ln_tx;
			ll = log_add(l3, l4);
			w4 = exp(l4 - ll);
		}
		sum += c->weight * (xterm + ll);
		if (grad)
		{
			double w3 = 1 - w4;

			g[0] += c->weight * (dx[0] - w3 * ln_T - w4 * ln_tx);
			g[1] += c->weight * (dx[1] - (r + cur_x) * (w3 / (al + c->T) + (cur_x > 0 ? w4 / (al + c->t_x) : 0)));
			g[2] += c->weight * (dx[2] + w4 / a);
			g[3] += c->weight * (dx[3] - (cur_x > 0 ? w4 / (b + cur_x - 1) : 0));
		}
	}
	if (grad)
		memcpy(grad, g, sizeof(g));
	return sum;
}

/* The objective: minus the mean log-likelihood at exp(theta), and its gradient in theta. */
static double
bgnbd_objective_grad(const double *theta, double *grad, void *arg)
{
	const FitData *d = arg;
	BgNbd		   p = {exp(theta[0]), exp(theta[1]), exp(theta[2]), exp(theta[3])};
	double		   g[4],
		params[4] = {p.r, p.alpha, p.a, p.b},
		ll;

	if (!(p.r > 0 && p.alpha > 0 && p.a > 0 && p.b > 0) || !isfinite(p.r + p.alpha + p.a + p.b))
		return INFINITY;
	ll = bgnbd_loglik_sum(&p, (const ClvCustomer *) d->rows, d->n, g);
	for (int i = 0; i < 4; i++)
		grad[i] = -params[i] * g[i] / d->total;
	return -ll / d->total;
}

/* The objective without the gradient, for the Nelder–Mead fallback. */
static double
bgnbd_objective(const double *theta, void *arg)
{
	double grad[4];

	return bgnbd_objective_grad(theta, grad, arg);
}

/*
 * Minimizes an objective from theta: BFGS on the closed-form gradient, then Nelder–Mead from
 * where it stopped if it did not converge (a flat or awkward likelihood); either stops once a
 * log-parameter passes ESCAPE_LOG_BOUND.
 */
static NelderMeadResult
minimize(bfgs_objective fg, nm_objective f, FitData *d, int n, double *theta)
{
	BfgsResult		 q = bfgs(fg, d, data_tick, n, theta, FIT_GTOL, FIT_MAX_ITER, ESCAPE_LOG_BOUND);
	NelderMeadResult r = {q.fmin, q.iterations, q.evaluations, q.converged, q.escaped};

	if (!q.converged && !q.escaped)
	{
		NelderMeadResult nm = nelder_mead(f, d, data_tick, n, theta, 0.1, FIT_FTOL, FIT_XTOL,
										  FIT_MAX_ITER, ESCAPE_LOG_BOUND);

		nm.iterations += r.iterations;
		nm.evaluations += r.evaluations;
		r = nm;
	}
	return r;
}

ClvFit
bgnbd_fit(ClvCustomer *rows, size_t n, nm_tick tick, void *tick_arg, BgNbd *out)
{
	ClvFit	fit = {0};
	FitData d = {rows, 0, 0, tick, tick_arg};
	double	max_T = 0,
		   scale,
		   theta[4] = {0, 0, 0, 0};

	n = collapse(rows, n, sizeof(ClvCustomer), customer_cmp, offsetof(ClvCustomer, weight));
	for (size_t i = 0; i < n; i++)
	{
		max_T = fmax(max_T, rows[i].T);
		d.total += rows[i].weight;
	}
	scale = 10.0 / max_T;
	for (size_t i = 0; i < n; i++)
	{
		rows[i].t_x *= scale;
		rows[i].T *= scale;
	}
	/* collapsing again is not needed: scaling keeps the order and the distinctness */
	d.n = n;
	fit.search = minimize(bgnbd_objective_grad, bgnbd_objective, &d, 4, theta);
	fit.identified = identified(theta, 4);
	out->r = exp(theta[0]);
	out->alpha = exp(theta[1]) / scale;
	out->a = exp(theta[2]);
	out->b = exp(theta[3]);
	for (size_t i = 0; i < n; i++)
	{
		rows[i].t_x /= scale;
		rows[i].T /= scale;
	}
	fit.loglik = bgnbd_loglik_sum(out, rows, n, NULL);
	fit.n = d.total;
	return fit;
}

double
bgnbd_p_alive(const BgNbd *p, double x, double t_x, double T)
{
	double ln_odds;

	if (x == 0)
		return 1.0;
	ln_odds = log(p->a) - log(p->b + x - 1) + (p->r + x) * (log(p->alpha + T) - log(p->alpha + t_x));
	return 1.0 / (1.0 + exp(ln_odds));
}

double
hyp2f1(double a, double b, double c, double z, bool *ok)
{
	double sum = 1,
		   term = 1,
		   pre = 1;

	*ok = true;
	if (z == 0)
		return 1;
	if (!(z > 0 && z < 1))
	{
		*ok = false;
		return NAN;
	}
	/* Euler's transformation speeds the series up where it converges slowly (c - a - b < 0) */
	if (c - a - b < 0)
	{
		pre = pow(1 - z, c - a - b);
		a = c - a;
		b = c - b;
	}
	for (int k = 0; k < HYP2F1_MAX_TERMS; k++)
	{
		term *= (a + k) * (b + k) / ((c + k) * (k + 1)) * z;
		sum += term;
		if (fabs(term) <= DBL_EPSILON * fabs(sum) && k > 2)
			return pre * sum;
		if (!isfinite(sum))
			break;
	}
	*ok = false;
	return NAN;
}

double
bgnbd_expected_purchases(const BgNbd *p, double x, double t_x, double T, double t, bool *ok)
{
	double r = p->r,
		   al = p->alpha,
		   a = p->a,
		   b = p->b;
	double z = t / (al + T + t);
	double f = hyp2f1(r + x, b + x, a + b + x - 1, z, ok);
	double num = (a + b + x - 1) / (a - 1) *
				 (1 - exp((r + x) * (log(al + T) - log(al + T + t))) * f);
	double den = 1;

	if (t == 0)
		return 0;
	if (x > 0)
		den += exp(log(a) - log(b + x - 1) + (r + x) * (log(al + T) - log(al + t_x)));
	return num / den;
}

double
bgnbd_expected_purchases_new(const BgNbd *p, double t, bool *ok)
{
	double z = t / (p->alpha + t);
	double f = hyp2f1(p->r, p->b, p->a + p->b - 1, z, ok);

	if (t == 0)
		return 0;
	return (p->a + p->b - 1) / (p->a - 1) *
		   (1 - exp(p->r * (log(p->alpha) - log(p->alpha + t))) * f);
}

double
bgnbd_prob_purchases(const BgNbd *p, double t, int k)
{
	double r = p->r,
		   al = p->alpha,
		   a = p->a,
		   b = p->b;
	double ln_q = log(al) - log(al + t); /* ln(alpha / (alpha + t)) */
	double ln_s = log(t) - log(al + t);	 /* ln(t / (alpha + t)) */
	double first,
		second = 0;

	if (t == 0)
		return k == 0 ? 1.0 : 0.0;
	first = exp(lbeta(a, b + k) - lbeta(a, b) + lgamma(r + k) - lgamma(r) - lgamma(k + 1.0) +
				r * ln_q + k * ln_s);
	if (k > 0)
	{
		double partial = 0;

		for (int j = 0; j < k; j++)
			partial += exp(lgamma(r + j) - lgamma(r) - lgamma(j + 1.0) + r * ln_q + j * ln_s);
		second = exp(lbeta(a + 1, b + k - 1) - lbeta(a, b)) * (1 - partial);
	}
	return first + second;
}

const char *
gamma_gamma_check_customer(double x, double m)
{
	if (!isfinite(x) || !isfinite(m))
		return "x and the mean spend must be finite";
	if (x < 1 || x != floor(x))
		return "x (purchases) must be a whole number of at least 1";
	if (m <= 0)
		return "the mean spend must be positive";
	return NULL;
}

double
gamma_gamma_loglik(const GammaGamma *g, double x, double m)
{
	double px = g->p * x;

	return lgamma(px + g->q) - lgamma(px) - lgamma(g->q) + g->q * log(g->v) +
		   (px - 1) * log(m) + px * log(x) - (px + g->q) * log(g->v + x * m);
}

/* Orders spend rows by (x, m). */
static int
spend_cmp(const void *l, const void *r)
{
	const SpendCustomer *a = l,
						*b = r;

	if (a->x != b->x)
		return a->x < b->x ? -1 : 1;
	if (a->m != b->m)
		return a->m < b->m ? -1 : 1;
	return 0;
}

/* Sum of weighted Gamma-Gamma log-likelihoods and, when grad is not NULL, its gradient in (p, q, v). */
static double
gamma_gamma_loglik_sum(const GammaGamma *gp, const SpendCustomer *rows, size_t n, double *grad)
{
	double sum = 0,
		   g[3] = {0};
	double psi_q = grad ? digamma(gp->q) : 0,
		   ln_v = log(gp->v);

	for (size_t i = 0; i < n; i++)
	{
		const SpendCustomer *c = &rows[i];

		sum += c->weight * gamma_gamma_loglik(gp, c->x, c->m);
		if (grad)
		{
			double px = gp->p * c->x,
				   psi_pxq = digamma(px + gp->q),
				   ln_vxm = log(gp->v + c->x * c->m);

			g[0] += c->weight * c->x * (psi_pxq - digamma(px) + log(c->m) + log(c->x) - ln_vxm);
			g[1] += c->weight * (psi_pxq - psi_q + ln_v - ln_vxm);
			g[2] += c->weight * (gp->q / gp->v - (px + gp->q) / (gp->v + c->x * c->m));
		}
	}
	if (grad)
		memcpy(grad, g, sizeof(g));
	return sum;
}

/* The objective: minus the mean log-likelihood at exp(theta), and its gradient in theta. */
static double
gamma_gamma_objective_grad(const double *theta, double *grad, void *arg)
{
	const FitData *d = arg;
	GammaGamma	   gp = {exp(theta[0]), exp(theta[1]), exp(theta[2])};
	double		   g[3],
		params[3] = {gp.p, gp.q, gp.v},
		ll;

	if (!(gp.p > 0 && gp.q > 0 && gp.v > 0) || !isfinite(gp.p + gp.q + gp.v))
		return INFINITY;
	ll = gamma_gamma_loglik_sum(&gp, (const SpendCustomer *) d->rows, d->n, g);
	for (int i = 0; i < 3; i++)
		grad[i] = -params[i] * g[i] / d->total;
	return -ll / d->total;
}

/* The objective without the gradient, for the Nelder–Mead fallback. */
static double
gamma_gamma_objective(const double *theta, void *arg)
{
	double grad[3];

	return gamma_gamma_objective_grad(theta, grad, arg);
}

ClvFit
gamma_gamma_fit(SpendCustomer *rows, size_t n, nm_tick tick, void *tick_arg, GammaGamma *out)
{
	ClvFit	fit = {0};
	FitData d = {rows, 0, 0, tick, tick_arg};
	double	mean = 0,
		   scale,
		   theta[3] = {0, 0, 0};

	n = collapse(rows, n, sizeof(SpendCustomer), spend_cmp, offsetof(SpendCustomer, weight));
	for (size_t i = 0; i < n; i++)
	{
		d.total += rows[i].weight;
		mean += rows[i].weight * rows[i].m;
	}
	mean /= d.total;
	scale = 1.0 / mean;
	for (size_t i = 0; i < n; i++)
		rows[i].m *= scale;
	d.n = n;
	fit.search = minimize(gamma_gamma_objective_grad, gamma_gamma_objective, &d, 3, theta);
	fit.identified = identified(theta, 3);
	out->p = exp(theta[0]);
	out->q = exp(theta[1]);
	out->v = exp(theta[2]) / scale;
	for (size_t i = 0; i < n; i++)
		rows[i].m /= scale;
	fit.loglik = gamma_gamma_loglik_sum(out, rows, n, NULL);
	fit.n = d.total;
	return fit;
}

double
gamma_gamma_expected_spend(const GammaGamma *g, double x, double m)
{
	if (x <= 0)
		return g->p * g->v / (g->q - 1);
	return g->p * (g->v + x * m) / (g->p * x + g->q - 1);
}

double
clv_value(const BgNbd *bg, double x, double t_x, double T, double spend, int periods,
		  double period, double rate, bool *ok)
{
	double value = 0,
		   before = 0;

	*ok = true;
	for (int i = 1; i <= periods; i++)
	{
		bool   step_ok;
		double upto = bgnbd_expected_purchases(bg, x, t_x, T, i * period, &step_ok);

		if (!step_ok)
			*ok = false;
		value += spend * (upto - before) / pow(1 + rate, i);
		before = upto;
	}
	return value;
}
