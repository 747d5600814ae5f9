/*
 * clv_model.h: the BG/NBD purchase model (Fader, Hardie & Lee 2005, "Counting your customers the
 * easy way") and the Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV"; Fader &
 * Hardie's note "The Gamma-Gamma model of monetary value"), in pure C: likelihoods in log space,
 * maximum-likelihood fits, and the per-customer predictions. No PostgreSQL here, so that the
 * math can be tested and fuzzed on its own; src/predict/clv.c is the SQL side.
 */
#ifndef PERSONALIZE_CLV_MODEL_H
#define PERSONALIZE_CLV_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "neldermead.h"

/* BG/NBD parameters: purchase rates ~ Gamma(r, alpha), drop-out ~ Beta(a, b). */
typedef struct BgNbd
{
	double r,
		alpha,
		a,
		b;
} BgNbd;

/* Gamma-Gamma parameters: spend per purchase ~ Gamma(p, nu), nu ~ Gamma(q, v). */
typedef struct GammaGamma
{
	double p,
		q,
		v;
} GammaGamma;

/* One customer (or `weight` identical customers): repeat purchases x, recency t_x, age T. */
typedef struct ClvCustomer
{
	double x,
		t_x,
		T,
		weight;
} ClvCustomer;

/* One customer with purchases for the spend model: x purchases of mean amount m. */
typedef struct SpendCustomer
{
	double x,
		m,
		weight;
} SpendCustomer;

/* How a fit went. */
typedef struct ClvFit
{
	double			 loglik;	 /* at the fitted parameters, over the original data */
	double			 n;			 /* customers (sum of weights) */
	bool			 identified; /* the rescaled parameters stayed within 1e-8 .. 1e8 */
	NelderMeadResult search;
} ClvFit;

/* Checks one BG/NBD input row; returns NULL when valid, else what is wrong. */
extern const char *bgnbd_check_customer(double x, double t_x, double T);

/* The log-likelihood of one customer (the log-space form: no overflow for large x). */
extern double bgnbd_loglik(const BgNbd *p, double x, double t_x, double T);

/*
 * Fits BG/NBD to rows[0..n-1] (sorted and collapsed in place: identical rows become one with a
 * weight). Returns the fit; the parameters in *out.
 */
extern ClvFit bgnbd_fit(ClvCustomer *rows, size_t n, nm_tick tick, void *tick_arg, BgNbd *out);

/* P(alive | x, t_x, T). */
extern double bgnbd_p_alive(const BgNbd *p, double x, double t_x, double T);

/* E[purchases in (T, T + t] | x, t_x, T]; *ok is false when the series did not converge. */
extern double bgnbd_expected_purchases(const BgNbd *p, double x, double t_x, double T, double t,
									   bool *ok);

/* E[X(t)] for a new customer. */
extern double bgnbd_expected_purchases_new(const BgNbd *p, double t, bool *ok);

/* P(X(t) = k) for a new customer (the paper's equation 8). */
extern double bgnbd_prob_purchases(const BgNbd *p, double t, int k);

/* Checks one spend row; NULL when valid. */
extern const char *gamma_gamma_check_customer(double x, double m);

/* The log-likelihood of one customer's mean spend m over x purchases. */
extern double gamma_gamma_loglik(const GammaGamma *p, double x, double m);

/* Fits Gamma-Gamma to rows[0..n-1] (sorted and collapsed in place). */
extern ClvFit gamma_gamma_fit(SpendCustomer *rows, size_t n, nm_tick tick, void *tick_arg,
							  GammaGamma *out);

/* E[mean spend | x purchases of mean m] (for x = 0: the population mean, p v / (q - 1)). */
extern double gamma_gamma_expected_spend(const GammaGamma *p, double x, double m);

/*
 * Customer lifetime value: the expected spend per purchase times the expected purchases in each
 * of `periods` periods of `period` time units, each discounted by (1 + rate)^i.
 */
extern double clv_value(const BgNbd *bg, double x, double t_x, double T, double spend,
						int periods, double period, double rate, bool *ok);

/* The Gauss hypergeometric function 2F1(a, b; c; z) for 0 <= z < 1; *ok false if not converged. */
extern double hyp2f1(double a, double b, double c, double z, bool *ok);

#endif
