/*
 * distributions.h: the probability distributions the experiment statistics stand on.
 */
#ifndef EXPERIMENT_DISTRIBUTIONS_H
#define EXPERIMENT_DISTRIBUTIONS_H

extern double normal_cdf(double x);
extern double normal_quantile(double p);
extern double incomplete_beta(double x, double a, double b);
extern double incomplete_gamma_upper(double a, double x);
extern double student_t_two_sided(double t, double df);
extern double student_t_cdf(double t, double df);
extern double log_beta(double a, double b);
extern double beta_log_density(double x, double a, double b);

#endif
