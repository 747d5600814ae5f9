/*
 * kmeans_model.h: k-means clustering (k-means++ seeding, Lloyd iterations) and the per-dimension
 * statistics lookalikes score with, over dense row-major feature matrices, in pure C (no
 * PostgreSQL), so that the math can be checked on its own against test/reference/kmeans.py;
 * src/predict/cluster.c is the SQL side.
 */
#ifndef PERSONALIZE_KMEANS_MODEL_H
#define PERSONALIZE_KMEANS_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Called once per pass over the rows, so that the caller can check for interrupts. */
typedef void (*km_tick)(void *arg);

/* splitmix64 (Steele, Lea & Flood 2014): the documented generator k-means++ draws from. */
typedef struct KmRandom
{
	uint64_t state;
} KmRandom;

/* The next uniform double in [0, 1): the top 53 bits of the next splitmix64 output. */
extern double km_uniform(KmRandom *r);

/*
 * Standardizes x[n][d] in place to z-scores: mean[j] and sd[j] (population standard deviation,
 * divided by n) are written out; a dimension with sd 0 becomes all zeros.
 */
extern void km_standardize(double *x, size_t n, int d, double *mean, double *sd);

/*
 * k-means++ seeding (Arthur & Vassilvitskii 2007): the first centre is row floor(u n), each next
 * one is drawn with probability proportional to its squared distance to the nearest centre so
 * far (the first row whose running sum exceeds u times the total). Writes k centres to c[k][d].
 * near[n] is scratch (the caller allocates, so that an interrupt leaks nothing). Returns false
 * when fewer than k rows are distinct (the total reaches 0 before k centres).
 */
extern bool km_seed(const double *x, size_t n, int d, int k, uint64_t seed, double *c, double *near,
					km_tick tick, void *arg);

/* What a k-means run ended with. */
typedef struct KmResult
{
	int	   iterations; /* Lloyd passes made (the last one changed nothing, unless max_iter) */
	bool   converged;  /* an assignment pass changed nothing */
	double inertia;	   /* sum of squared distances of the rows to their centres */
} KmResult;

/*
 * Lloyd's iterations from the centres c[k][d]: assign each row to its nearest centre (ties to the
 * lowest index), move each centre to the mean of its rows (a centre that gets none stays put),
 * until an assignment pass changes nothing or after max_iter passes. label[n] and size[k] out;
 * sum[k][d] is scratch.
 */
extern KmResult km_lloyd(const double *x, size_t n, int d, int k, double *c, int *label, int64_t *size,
						 double *sum, int max_iter, km_tick tick, void *arg);

/* The nearest of k centres to the row x[d] (ties to the lowest index), its squared distance in *d2. */
extern int km_nearest(const double *x, int d, const double *c, int k, double *d2);

/*
 * Running per-dimension count, mean and sum of squared deviations (Welford), combinable (Chan et
 * al. 1979) so that an aggregate over it is parallel safe.
 */
typedef struct KmMoments
{
	double	n;
	double *mean; /* [d] */
	double *m2;	  /* [d] */
} KmMoments;

/* Adds one row x[d]. */
extern void km_moments_add(KmMoments *m, int d, const double *x);

/* Folds b into a. */
extern void km_moments_combine(KmMoments *a, const KmMoments *b, int d);

/*
 * A lookalike's similarity to a seed: in units of the population's standard deviation sd (z =
 * x / sd), with the seed's mean sm and standard deviation ss (raw units, as mean), d2 = the mean
 * over dimensions of (z - sm / sd)^2 / ((ss / sd)^2 + LOOKALIKE_SMOOTHING), and the similarity
 * is 1 / (1 + d2), in (0, 1]. A dimension where the population does not vary (sd 0) is left out.
 */
#define LOOKALIKE_SMOOTHING 0.1
extern double km_lookalike_similarity(const double *x, int d, const double *sd, const double *sm,
									  const double *ss);

#endif
