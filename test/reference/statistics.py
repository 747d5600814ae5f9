#!/usr/bin/python3
"""Reference values for the experiment statistics (src/experiment/), from SciPy and statsmodels.

Runs every case through the extension (the psql command line in $PSQL) and compares with the
value SciPy or statsmodels computes for the same inputs; prints one line per failing case, a line
per case family (a function, or a function and its number of variants), and "N passed, N failed"
last, counting families: a family passes when all its cases agree. Cases: hand-picked ones (textbook sizes, edges, far
tails) and seeded random ones. Run by test/suites/statistics_reference.

  z_test             statsmodels proportions_ztest (pooled, two-sided)
  chi_square_test    scipy chi2_contingency(correction=False) on the 2 x k table
  wilson_interval    statsmodels proportion_confint(method='wilson')
  newcombe_interval  statsmodels confint_proportions_2indep(method='newcomb', compare='diff')
  welch_test         scipy ttest_ind_from_stats(equal_var=False)
  student_t_cdf      scipy.stats.t.cdf / t.sf (relative error in the tails)
  power, 'cohen_h'   statsmodels NormalIndPower with proportion_effectsize
  power, 'normal'    R's power.prop.test expression evaluated with scipy.stats.norm, n solved
                     by scipy.optimize.brentq as R solves it with uniroot
  bayes_best         scipy.integrate.quad of the Beta densities and CDFs
  sequential_test    the mSPRT formula of Johari et al. evaluated with numpy
"""
import json
import math
import os
import random
import subprocess
import sys

from scipy import integrate, optimize, stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (confint_proportions_2indep, proportion_confint,
                                          proportion_effectsize, proportions_ztest)

rng = random.Random(20261201)
cases = []  # (function name, sql select list, reference values, tolerance kind)


MIN_CASES = 500  # the cases below number some 520; fewer means the set shrank


def case(fn, sql, ref, rel=1e-9, abs_=1e-12):
    cases.append((fn, sql, [float(v) for v in ref], rel, abs_))


def counts(n_max=20000, p_max=0.5):
    n = rng.randint(20, n_max)
    return rng.randint(0, int(n * p_max)), n


# ---- z-test and chi-square
for i in range(60):
    (sa, na), (sb, nb) = counts(), counts()
    if sa + sb == 0:
        continue
    z, p = proportions_ztest([sb, sa], [nb, na])
    case("z_test", f"SELECT * FROM personalize.z_test({sa},{na},{sb},{nb})", [z, p])
for sa, na, sb, nb in [(10, 100000, 80, 100000), (5000, 10000, 5500, 10000), (1, 10, 9, 10)]:
    z, p = proportions_ztest([sb, sa], [nb, na])
    case("z_test", f"SELECT * FROM personalize.z_test({sa},{na},{sb},{nb})", [z, p], rel=1e-8)
for i in range(40):
    k = rng.randint(2, 8)
    arms = [counts() for _ in range(k)]
    s = [a for a, _ in arms]
    n = [b for _, b in arms]
    chi2, p, dof, _ = stats.chi2_contingency([s, [b - a for a, b in arms]], correction=False)
    case("chi_square_test", f"SELECT * FROM personalize.chi_square_test('{{{','.join(map(str, s))}}}','{{{','.join(map(str, n))}}}')",
         [chi2, dof, p], rel=1e-8, abs_=1e-300)
chi2, p, dof, _ = stats.chi2_contingency([[100, 300, 200], [9900, 9700, 9800]], correction=False)
case("chi_square_test", "SELECT * FROM personalize.chi_square_test('{100,300,200}','{10000,10000,10000}')", [chi2, dof, p], rel=1e-8, abs_=0)

# ---- intervals
for conf in (0.95, 0.9, 0.99, 0.999):
    for i in range(12):
        s, n = counts(p_max=1)
        lo, hi = proportion_confint(s, n, alpha=1 - conf, method="wilson")
        case("wilson_interval", f"SELECT * FROM personalize.wilson_interval({s},{n},{conf})", [s / n, lo, hi])
        (sa, na), (sb, nb) = counts(), counts()
        lo, hi = confint_proportions_2indep(sb, nb, sa, na, method="newcomb", compare="diff", alpha=1 - conf)
        case("newcombe_interval", f"SELECT * FROM personalize.newcombe_interval({sa},{na},{sb},{nb},{conf})", [sb / nb - sa / na, lo, hi])
for s, n in [(0, 50), (50, 50), (1, 1), (0, 1)]:
    lo, hi = proportion_confint(s, n, alpha=0.05, method="wilson")
    case("wilson_interval", f"SELECT * FROM personalize.wilson_interval({s},{n})", [s / n, lo, hi])
for sa, na, sb, nb in [(0, 50, 0, 60), (50, 50, 0, 40), (0, 1000, 3, 1000)]:
    lo, hi = confint_proportions_2indep(sb, nb, sa, na, method="newcomb", compare="diff")
    case("newcombe_interval", f"SELECT * FROM personalize.newcombe_interval({sa},{na},{sb},{nb})", [sb / nb - sa / na, lo, hi])

# ---- Welch and the t distribution
for i in range(40):
    na, nb = rng.randint(2, 5000), rng.randint(2, 5000)
    ma, mb = rng.uniform(0, 20), rng.uniform(0, 20)
    va, vb = rng.uniform(0.01, 400), rng.uniform(0.01, 400)
    t, p = stats.ttest_ind_from_stats(mb, math.sqrt(vb), nb, ma, math.sqrt(va), na, equal_var=False)
    ua, ub = va / na, vb / nb
    df = (ua + ub) ** 2 / (ua ** 2 / (na - 1) + ub ** 2 / (nb - 1))
    case("welch_test", f"SELECT * FROM personalize.welch_test({na},{ma!r},{va!r},{nb},{mb!r},{vb!r})", [mb - ma, t, df, p],
         rel=1e-8, abs_=1e-300)
t, p = stats.ttest_ind_from_stats(9.0, 1.0, 3, 1.0, 2.0, 4, equal_var=False)
case("welch_test", "SELECT * FROM personalize.welch_test(4, 1, 4, 3, 9, 1)", [8, t, (4 / 4 + 1 / 3) ** 2 / ((4 / 4) ** 2 / 3 + (1 / 3) ** 2 / 2), p], rel=1e-8, abs_=0)
for t_, df in [(-40, 3), (-1000, 1), (-8, 30), (-50, 30), (-12, 200), (-3, 0.5), (-2, 1e6), (-38, 2.5),
               (-0.01, 7), (0, 5), (-200, 10), (-6, 1000)]:
    case("student_t_cdf (lower tail, relative)", f"SELECT personalize.student_t_cdf({t_},{df})", [stats.t.cdf(t_, df)],
         rel=1e-9, abs_=0)
    if t_ != 0 and stats.t.sf(-t_, df) > 1e-9:
        # 1 - cdf loses the digits below 1e-16 of the upper half, so only where sf is not tiny
        case("student_t_cdf (upper half)", f"SELECT 1 - personalize.student_t_cdf({-t_},{df})", [stats.t.sf(-t_, df)],
             rel=1e-6, abs_=0)
for i in range(30):
    df = rng.choice([rng.uniform(0.3, 5), rng.uniform(5, 100), rng.uniform(100, 1e5)])
    t_ = rng.uniform(-30, 30)
    case("student_t_cdf", f"SELECT personalize.student_t_cdf({t_!r},{df!r})", [stats.t.cdf(t_, df)], rel=1e-9, abs_=1e-15)

# ---- power and sample size


def r_power(p1, p2, n, alpha):
    """The body of R's power.prop.test (strict = FALSE, two-sided)."""
    qu = stats.norm.isf(alpha / 2)
    return stats.norm.cdf((math.sqrt(n) * abs(p1 - p2) - qu * math.sqrt((p1 + p2) * (1 - (p1 + p2) / 2)))
                          / math.sqrt(p1 * (1 - p1) + p2 * (1 - p2)))


for i in range(30):
    p1 = rng.uniform(0.005, 0.6)
    p2 = min(0.99, p1 * rng.uniform(1.02, 1.8))
    alpha = rng.choice([0.05, 0.01, 0.1])
    power = rng.choice([0.8, 0.9, 0.95])
    n_r = optimize.brentq(lambda n: r_power(p1, p2, n, alpha) - power, 1e-9, 1e12, xtol=1e-12, rtol=1e-14)
    case("sample_size_two_proportions normal", f"SELECT personalize.sample_size_two_proportions({p1!r},{p2!r},{alpha},{power})", [n_r], rel=1e-9)
    n = rng.randint(50, 200000)
    case("power_two_proportions normal", f"SELECT personalize.power_two_proportions({p1!r},{p2!r},{n},{alpha})", [r_power(p1, p2, n, alpha)])
    h = proportion_effectsize(p1, p2)
    case("cohen_h", f"SELECT personalize.cohen_h({p1!r},{p2!r})", [h])
    n_h = NormalIndPower().solve_power(effect_size=h, alpha=alpha, power=power, ratio=1)
    case("sample_size_two_proportions cohen_h", f"SELECT personalize.sample_size_two_proportions({p1!r},{p2!r},{alpha},{power},'cohen_h')", [n_h], rel=1e-6)
    case("power_two_proportions cohen_h", f"SELECT personalize.power_two_proportions({p1!r},{p2!r},{n},{alpha},'cohen_h')",
         [NormalIndPower().power(effect_size=h, nobs1=n, alpha=alpha, ratio=1)])

# ---- Bayesian probability best and expected loss


def bayes(s, n, pa=1, pb=1):
    post = [(pa + a, pb + b - a) for a, b in zip(s, n)]
    windows = []
    for a, b in post:
        m = a / (a + b)
        sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
        windows.append((max(0.0, m - 40 * sd), min(1.0, m + 40 * sd)))
    best, moment = [], []
    for j, (a, b) in enumerate(post):
        others = [q for i, q in enumerate(post) if i != j]

        def f(x, weight):
            v = stats.beta.pdf(x, a, b) * weight(x)
            for oa, ob in others:
                v *= stats.beta.cdf(x, oa, ob)
            return v
        lo, hi = windows[j]
        pts = sorted({min(max(w, lo), hi) for win in windows for w in win} - {lo, hi})
        kw = dict(points=pts or None, limit=2000, epsabs=1e-14, epsrel=1e-12)
        best.append(integrate.quad(lambda x: f(x, lambda _: 1.0), lo, hi, **kw)[0])
        moment.append(integrate.quad(lambda x: f(x, lambda y: y), lo, hi, **kw)[0])
    emax = sum(moment)
    return best, [max(0.0, emax - a / (a + b)) for a, b in post]


bayes_cases = [([100, 130], [1000, 1000]), ([3, 5], [40, 35]), ([0, 0], [10, 12]), ([500, 520], [10000, 10000]),
               ([20, 20], [100, 100]), ([1500, 1400], [30000, 30000]), ([100, 130, 120], [1000, 1000, 1000]),
               ([100, 130, 0], [1000, 1000, 0]), ([5, 9, 7, 8], [50, 60, 55, 40]),
               ([2000, 2050, 1990, 2100, 2010], [40000, 40000, 40000, 40000, 40000]), ([1, 200], [50, 1000]),
               ([200000, 200900], [1000000, 1000000]), ([200000, 200900, 200500], [1000000, 1000000, 1000000])]
for i in range(8):
    k = rng.randint(2, 5)
    arms = [counts(n_max=5000, p_max=0.3) for _ in range(k)]
    bayes_cases.append(([a for a, _ in arms], [b for _, b in arms]))
for s, n in bayes_cases:
    best, loss = bayes(s, n)
    arr = lambda v: "'{" + ",".join(map(str, v)) + "}'"
    sql = f"FROM personalize.bayes_best({arr(s)},{arr(n)})"
    case(f"bayes_best probability (k={len(s)})", f"SELECT unnest(probability_best) {sql}", best, rel=1e-7, abs_=1e-9)
    case(f"bayes_best expected loss (k={len(s)})", f"SELECT unnest(expected_loss) {sql}", loss, rel=1e-6, abs_=1e-10)
best, loss = bayes([30, 45], [200, 210], 2, 5)
case("bayes_best probability (prior 2, 5)", "SELECT unnest(probability_best) FROM personalize.bayes_best('{30,45}','{200,210}',2,5)", best, rel=1e-7, abs_=1e-9)

# ---- mixture SPRT


def msprt(sa, na, sb, nb, alpha, tau):
    p = (sa + sb) / (na + nb)
    v = p * (1 - p) * (1 / na + 1 / nb)
    d = sb / nb - sa / na
    log_lr = 0.5 * math.log(v / (v + tau ** 2)) + tau ** 2 * d ** 2 / (2 * v * (v + tau ** 2))
    lr = math.exp(log_lr) if log_lr < 700 else math.inf
    return [d, lr, min(1.0, 1 / lr), 1.0 if lr >= 1 / alpha else 0.0]


for i in range(30):
    (sa, na), (sb, nb) = counts(), counts()
    if sa + sb == 0:
        continue
    tau = rng.choice([0.005, 0.01, 0.05])
    alpha = rng.choice([0.05, 0.01, 0.1])
    case("sequential_test", f"SELECT difference, likelihood_ratio, p_value, conclusive::int FROM personalize.sequential_test({sa},{na},{sb},{nb},{alpha},{tau})",
         msprt(sa, na, sb, nb, alpha, tau), rel=1e-9)

# ---- run and compare
script = "\n".join(f"SELECT {i}, row_to_json(q)::text FROM ({sql}) AS q;" for i, (_, sql, *_r) in enumerate(cases))
out = subprocess.run(os.environ["PSQL"].split() + ["-At", "-F", "\t"], input=script, capture_output=True, text=True)
if out.returncode != 0:
    print(out.stderr)
    print("0 passed, 1 failed")
    sys.exit(1)
got = {}
for line in out.stdout.splitlines():
    i, v = line.split("\t", 1)
    got.setdefault(int(i), []).append(v)


def values(texts):
    """The column values of the result rows, in order; booleans as 1 and 0, NULL as None."""
    vals = []
    for t in texts:
        for v in json.loads(t).values():
            vals.append(None if v is None else float(v) if not isinstance(v, bool) else float(v))
    return vals


def close(x, r, rel, abs_):
    return x is not None and (x == r or abs(x - r) <= abs_ or abs(x - r) <= rel * abs(r))


passed = failed = 0
per_fn = {}
for i, (fn, sql, ref, rel, abs_) in enumerate(cases):
    g = values(got.get(i, []))
    ok = len(g) == len(ref) and all(close(x, r, rel, abs_) for x, r in zip(g, ref))
    per_fn.setdefault(fn, [0, 0])[0 if ok else 1] += 1
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAILED {fn}: {sql}\n  got      {g}\n  expected {ref}")
# One test per case family (a function, or a function and its number of variants): it passes
# when every one of its cases agrees (docs/testing.md). A shrunken run fails as one more test.
families_failed = 0
for fn, (p, f) in per_fn.items():
    print(f"{'ok' if not f else 'FAILED'}: {fn}: {p} agree" + (f", {f} differ" if f else ""))
    families_failed += 1 if f else 0
families_passed = len(per_fn) - families_failed
if passed + failed < MIN_CASES:
    print(f"FAILED: {passed + failed} cases ran, at least {MIN_CASES} expected")
    families_failed += 1
print(f"{families_passed} passed, {families_failed} failed")
sys.exit(1 if families_failed else 0)
