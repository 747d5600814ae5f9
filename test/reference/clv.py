#!/usr/bin/env python3
"""An independent reference for src/predict/clv_model.c, written from the papers, not from the C:
Fader, Hardie & Lee (2005), "Counting your customers the easy way" (BG/NBD: equations 6, 8, 9, 10
and 13), and Fader, Hardie & Lee (2005), "RFM and CLV" with Fader & Hardie's note "The Gamma-Gamma
model of monetary value" (equations 1 and 5). Computed directly in the probability domain with
math.gamma/lgamma where the C works in log space, and the hypergeometric function by its plain
power series (the C uses Euler's transformation), so the two share no code path.

Reads lines "kind args..." on stdin, prints one value per line (%.15g)."""
import math
import sys


def hyp2f1(a, b, c, z):
    s, term, k = 1.0, 1.0, 0
    while True:
        term *= (a + k) * (b + k) / ((c + k) * (k + 1)) * z
        s += term
        k += 1
        if abs(term) < 1e-17 * abs(s) and k > 5:
            return s
        if k > 10_000_000:
            raise RuntimeError("2F1 series did not converge")


def beta(x, y):
    return math.exp(math.lgamma(x) + math.lgamma(y) - math.lgamma(x + y))


def bgnbd_ll(r, al, a, b, x, tx, T):
    # equation 6: L = A1 * A2 * (A3 + delta(x>0) A4)
    a1 = math.exp(math.lgamma(r + x) - math.lgamma(r)) * al ** r
    a2 = beta(a, b + x) / beta(a, b)
    a3 = (1 / (al + T)) ** (r + x)
    a4 = (a / (b + x - 1)) * (1 / (al + tx)) ** (r + x) if x > 0 else 0.0
    return math.log(a1 * a2 * (a3 + a4))


def p_alive(r, al, a, b, x, tx, T):
    if x == 0:
        return 1.0
    return 1 / (1 + (a / (b + x - 1)) * ((al + T) / (al + tx)) ** (r + x))


def expected_cond(r, al, a, b, x, tx, T, t):
    # equation 10
    num = (a + b + x - 1) / (a - 1) * (1 - ((al + T) / (al + T + t)) ** (r + x)
                                       * hyp2f1(r + x, b + x, a + b + x - 1, t / (al + T + t)))
    den = 1 + ((a / (b + x - 1)) * ((al + T) / (al + tx)) ** (r + x) if x > 0 else 0)
    return num / den


def expected_new(r, al, a, b, t):
    # equation 9
    return (a + b - 1) / (a - 1) * (1 - (al / (al + t)) ** r * hyp2f1(r, b, a + b - 1, t / (al + t)))


def prob(r, al, a, b, t, n):
    # equation 8
    g = lambda j: math.exp(math.lgamma(r + j) - math.lgamma(r) - math.lgamma(j + 1))
    q, s = al / (al + t), t / (al + t)
    first = beta(a, b + n) / beta(a, b) * g(n) * q ** r * s ** n
    if n == 0:
        return first
    return first + beta(a + 1, b + n - 1) / beta(a, b) * (1 - q ** r * sum(g(j) * s ** j for j in range(n)))


def gg_ll(p, q, v, x, m):
    # the note's equation 1, the density of the mean of x amounts
    return (math.lgamma(p * x + q) - math.lgamma(p * x) - math.lgamma(q) + q * math.log(v)
            + (p * x - 1) * math.log(m) + p * x * math.log(x) - (p * x + q) * math.log(v + x * m))


def gg_spend(p, q, v, x, m):
    # equation 5: a weighted mean of the population mean p v / (q - 1) and the customer's mean
    w = (q - 1) / (p * x + q - 1)
    return w * (p * v / (q - 1)) + (1 - w) * m


def clv(r, al, a, b, x, tx, T, spend, periods, period, rate):
    total, before = 0.0, 0.0
    for i in range(1, periods + 1):
        upto = expected_cond(r, al, a, b, x, tx, T, i * period)
        total += spend * (upto - before) / (1 + rate) ** i
        before = upto
    return total


KINDS = {"ll": bgnbd_ll, "alive": p_alive, "cond": expected_cond, "new": expected_new,
         "prob": prob, "ggll": gg_ll, "spend": gg_spend, "clv": clv}

for line in sys.stdin:
    kind, *args = line.split()
    whole = {"prob": 5, "clv": 8}.get(kind)  # the argument that is a count
    vals = [int(v) if i == whole else float(v) for i, v in enumerate(args)]
    print("%.15g" % KINDS[kind](*vals))
