#!/usr/bin/python3
"""An independent k-means reference for personalize.kmeans_fit (src/predict/kmeans_model.c),
written from the algorithm's description in docs/predictions.md with NumPy, and checked once more
against SciPy's own Lloyd iterations (scipy.cluster.vq.kmeans2 from the same initial centres).

Input (stdin): a first line "k seed", then one row per profile: "id v1 v2 ... vd" (any order).
Output: the line "inertia <value>", then one line per cluster "centroid <z1> ... <zd>" (standardized
units), then one line per id in ascending order "<id> <cluster>" (0-based); the SciPy check's
agreement is printed as "scipy_agree <0|1>".

The steps: sort rows by id; standardize each dimension to z-scores with the population standard
deviation (a constant dimension becomes 0); k-means++ seeding from a splitmix64 stream started at
seed (the top 53 bits of each output over 2^53 give a uniform draw u): the first centre is row
floor(u n), each next the first row whose running sum of squared distances to the nearest centre
exceeds u times the total; then Lloyd's iterations (nearest centre, ties to the lowest index; a
centre that gets no row stays put) until the assignment stops changing, at most 300 passes.
"""
import sys

import numpy as np
from scipy.cluster.vq import kmeans2

MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def uniform(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        z ^= z >> 31
        return (z >> 11) / float(1 << 53)


def standardize(x):
    mean = x.mean(axis=0)
    sd = np.sqrt(((x - mean) ** 2).mean(axis=0))
    z = np.zeros_like(x)
    ok = sd > 0
    z[:, ok] = (x[:, ok] - mean[ok]) / sd[ok]
    return z


def seed_centres(z, k, seed):
    rng = SplitMix64(seed)
    n = len(z)
    first = min(int(rng.uniform() * n), n - 1)
    centres = [z[first].copy()]
    near = ((z - centres[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        total = 0.0
        for v in near:  # summed in row order, as the C code does
            total += v
        target = rng.uniform() * total
        run, pick = 0.0, None
        for i, v in enumerate(near):
            run += v
            if run > target and v > 0:
                pick = i
                break
        if pick is None:
            pick = max(i for i, v in enumerate(near) if v > 0)
        centres.append(z[pick].copy())
        near = np.minimum(near, ((z - centres[-1]) ** 2).sum(axis=1))
    return np.array(centres)


def nearest(z, c):
    d2 = ((z[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)
    return d2.argmin(axis=1), d2.min(axis=1)  # argmin: ties to the lowest index


def lloyd(z, c, max_iter=300):
    label = np.full(len(z), -1)
    for _ in range(max_iter):
        new, _ = nearest(z, c)
        if (new == label).all():
            break
        label = new
        for m in range(len(c)):
            rows = z[label == m]
            if len(rows):
                c[m] = rows.mean(axis=0)
    label, d2 = nearest(z, c)
    return c, label, d2.sum()


def main():
    lines = sys.stdin.read().split("\n")
    k, seed = (int(v) for v in lines[0].split())
    rows = sorted((int(p[0]), [float(v) for v in p[1:]]) for p in (l.split() for l in lines[1:]) if p)
    ids = [r[0] for r in rows]
    z = standardize(np.array([r[1] for r in rows]))
    init = seed_centres(z, k, seed)
    c, label, inertia = lloyd(z, init.copy())
    sc, slabel = kmeans2(z, init.copy(), iter=300, minit="matrix", missing="warn")
    agree = int((slabel == label).all() and np.allclose(sc, c, rtol=0, atol=1e-9))
    print("inertia %r" % inertia)
    for row in c:
        print("centroid " + " ".join(repr(float(v)) for v in row))
    for i, m in zip(ids, label):
        print("%d %d" % (i, m))
    print("scipy_agree %d" % agree)


if __name__ == "__main__":
    main()
