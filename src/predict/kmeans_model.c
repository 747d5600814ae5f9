/*
 * kmeans_model.c: k-means++ seeding (Arthur & Vassilvitskii 2007, "k-means++: the advantages of
 * careful seeding"), Lloyd's iterations, z-score standardization, combinable moments and the
 * lookalike similarity. Deterministic: the same rows in the same order and the same seed give
 * the same centres (the SQL side sorts rows by profile id first).
 */
#include "kmeans_model.h"

#include <math.h>
#include <string.h>

/* The next splitmix64 output. */
static uint64_t
splitmix64(KmRandom *r)
{
	uint64_t z = (r->state += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* A uniform double in [0, 1). */
double
km_uniform(KmRandom *r)
{
	return (double) (splitmix64(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* z-scores in place, per dimension; a constant dimension becomes zeros. */
void
km_standardize(double *x, size_t n, int d, double *mean, double *sd)
{
	for (int j = 0; j < d; j++)
	{
		double s = 0, ss = 0;

		for (size_t i = 0; i < n; i++)
			s += x[i * d + j];
		mean[j] = n ? s / n : 0;
		for (size_t i = 0; i < n; i++)
		{
			double dv = x[i * d + j] - mean[j];

			ss += dv * dv;
		}
		sd[j] = n ? sqrt(ss / n) : 0;
		for (size_t i = 0; i < n; i++)
			x[i * d + j] = sd[j] > 0 ? (x[i * d + j] - mean[j]) / sd[j] : 0;
	}
}

/* Squared Euclidean distance of two rows. */
static double
dist2(const double *a, const double *b, int d)
{
	double s = 0;

	for (int j = 0; j < d; j++)
	{
		double dv = a[j] - b[j];

		s += dv * dv;
	}
	return s;
}

/* The nearest centre, ties to the lowest index. */
int
km_nearest(const double *x, int d, const double *c, int k, double *d2)
{
	int	   best = 0;
	double bd = dist2(x, c, d);

	for (int m = 1; m < k; m++)
	{
		double v = dist2(x, c + (size_t) m * d, d);

		if (v < bd)
		{
			bd = v;
			best = m;
		}
	}
	if (d2)
		*d2 = bd;
	return best;
}

/* k-means++ seeding; false when fewer than k rows are distinct. */
bool
km_seed(const double *x, size_t n, int d, int k, uint64_t seed, double *c, double *near, km_tick tick,
		void *arg)
{
	KmRandom r = {seed};
	size_t	 first;

	if (n == 0 || k < 1)
		return false;
	first = (size_t) (km_uniform(&r) * n);
	if (first >= n)
		first = n - 1;
	memcpy(c, x + first * d, sizeof(double) * d);
	if (k == 1)
		return true;
	for (size_t i = 0; i < n; i++)
		near[i] = dist2(x + i * d, c, d);
	for (int m = 1; m < k; m++)
	{
		double total = 0, target, run = 0;
		size_t pick = n;

		if (tick)
			tick(arg);
		for (size_t i = 0; i < n; i++)
			total += near[i];
		if (!(total > 0))
			return false;
		target = km_uniform(&r) * total;
		for (size_t i = 0; i < n; i++)
		{
			run += near[i];
			if (run > target && near[i] > 0)
			{
				pick = i;
				break;
			}
		}
		if (pick == n) /* rounding left the target at the very end: the last row with weight */
			for (size_t i = n; i-- > 0;)
				if (near[i] > 0)
				{
					pick = i;
					break;
				}
		memcpy(c + (size_t) m * d, x + pick * d, sizeof(double) * d);
		for (size_t i = 0; i < n; i++)
		{
			double v = dist2(x + i * d, c + (size_t) m * d, d);

			if (v < near[i])
				near[i] = v;
		}
	}
	return true;
}

/* Lloyd's iterations from the centres in c. */
KmResult
km_lloyd(const double *x, size_t n, int d, int k, double *c, int *label, int64_t *size, double *sum,
		 int max_iter, km_tick tick, void *arg)
{
	KmResult res = {0, false, 0};

	for (size_t i = 0; i < n; i++)
		label[i] = -1;
	while (res.iterations < max_iter)
	{
		bool changed = false;

		if (tick)
			tick(arg);
		res.iterations++;
		for (size_t i = 0; i < n; i++)
		{
			int m = km_nearest(x + i * d, d, c, k, NULL);

			if (m != label[i])
			{
				label[i] = m;
				changed = true;
			}
		}
		if (!changed)
		{
			res.converged = true;
			break;
		}
		memset(sum, 0, sizeof(double) * (size_t) k * d);
		memset(size, 0, sizeof(int64_t) * k);
		for (size_t i = 0; i < n; i++)
		{
			size[label[i]]++;
			for (int j = 0; j < d; j++)
				sum[(size_t) label[i] * d + j] += x[i * d + j];
		}
		for (int m = 0; m < k; m++)
			if (size[m] > 0)
				for (int j = 0; j < d; j++)
					c[(size_t) m * d + j] = sum[(size_t) m * d + j] / size[m];
	}
	memset(size, 0, sizeof(int64_t) * k);
	for (size_t i = 0; i < n; i++)
	{
		double d2;

		label[i] = km_nearest(x + i * d, d, c, k, &d2);
		size[label[i]]++;
		res.inertia += d2;
	}
	return res;
}

/* Welford's update with one row. */
void
km_moments_add(KmMoments *m, int d, const double *x)
{
	m->n += 1;
	for (int j = 0; j < d; j++)
	{
		double delta = x[j] - m->mean[j];

		m->mean[j] += delta / m->n;
		m->m2[j] += delta * (x[j] - m->mean[j]);
	}
}

/* Chan et al.'s pairwise combination. */
void
km_moments_combine(KmMoments *a, const KmMoments *b, int d)
{
	double n = a->n + b->n;

	if (b->n == 0)
		return;
	for (int j = 0; j < d; j++)
	{
		double delta = b->mean[j] - a->mean[j];

		a->m2[j] += b->m2[j] + delta * delta * a->n * b->n / n;
		a->mean[j] += delta * b->n / n;
	}
	a->n = n;
}

/* The lookalike similarity of a row to a seed (see the header). */
double
km_lookalike_similarity(const double *x, int d, const double *sd, const double *sm, const double *ss)
{
	double s = 0;
	int	   used = 0;

	for (int j = 0; j < d; j++)
	{
		double dv, szs;

		if (!(sd[j] > 0))
			continue;
		dv = (x[j] - sm[j]) / sd[j]; /* z - the seed's z */
		szs = ss[j] / sd[j];
		s += dv * dv / (szs * szs + LOOKALIKE_SMOOTHING);
		used++;
	}
	return used ? 1.0 / (1.0 + s / used) : 1.0;
}
