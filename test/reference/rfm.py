#!/usr/bin/env python3
"""Independent reference for RFM scoring, after the R package rfm (rsquaredacademy):
rfm_table_order() and rfm_segment(), written from their documented behaviour, not from our C.

Input: a CSV file with customer_id, order_date (YYYY-MM-DD), revenue; the analysis date; the
number of bins. Per customer: recency_days = analysis date - latest order date (days),
frequency = number of orders, monetary = sum of revenue. Breakpoints: R's default quantile()
(type 7: (1 - h) * x[lo] + h * x[hi] at index 1 + (n - 1) * p) at 1/bins .. (bins-1)/bins, plus 1
as the package's bins() does; bins are [lower, upper), recency reversed (bins = most recent).
Segments: the first matching rule of the table below wins, else Others.

Prints one tab-separated line per customer, sorted by customer_id:
customer_id, recency_days, frequency, monetary, r, f, m, segment
and, first, lines "#breaks<TAB>name<TAB>b1,b2,..." with the breakpoints.
"""
import csv
import datetime
import math
import sys
from decimal import Decimal

RULES = [  # segment, (r_min, r_max), (f_min, f_max), (m_min, m_max)
    ("Champions", (4, 5), (4, 5), (4, 5)),
    ("Loyal Customers", (2, 5), (3, 5), (3, 5)),
    ("Potential Loyalist", (3, 5), (1, 3), (1, 3)),
    ("New Customers", (4, 5), (1, 1), (1, 1)),
    ("Promising", (3, 4), (1, 1), (1, 1)),
    ("Need Attention", (2, 3), (2, 3), (2, 3)),
    ("About To Sleep", (2, 3), (1, 2), (1, 2)),
    ("At Risk", (1, 2), (2, 5), (2, 5)),
    ("Can't Lose Them", (1, 1), (4, 5), (4, 5)),
    ("Hibernating", (1, 2), (1, 2), (1, 2)),
    ("Lost", (1, 2), (1, 2), (1, 2)),
]


def quantile7(values, p):
    """R's quantile(x, p, type = 7)."""
    x = sorted(values)
    n = len(x)
    index = 1 + (n - 1) * p
    lo = math.floor(index + 4 * sys.float_info.epsilon)
    hi = math.ceil(index)
    qs = x[lo - 1]
    h = index - lo
    if index > lo and x[hi - 1] != qs:
        qs = (1 - h) * qs + h * x[hi - 1]
    return qs


def scores(values, bins, reverse):
    breaks = [quantile7(values, k / bins) + 1 for k in range(1, bins)]
    lower = [min(values)] + breaks
    upper = breaks + [max(values) + 1]
    out = []
    for v in values:
        s = None
        for i in range(bins):
            if lower[i] <= v < upper[i]:
                s = bins - i if reverse else i + 1
        out.append(s)
    return breaks, out


def segment(r, f, m):
    for name, (r0, r1), (f0, f1), (m0, m1) in RULES:
        if r0 <= r <= r1 and f0 <= f <= f1 and m0 <= m <= m1:
            return name
    return "Others"


def main():
    path, analysis, bins = sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 5
    as_of = datetime.date.fromisoformat(analysis)
    cust = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            d = datetime.date.fromisoformat(row["order_date"])
            c = cust.setdefault(row["customer_id"], [None, 0, Decimal(0)])
            c[0] = d if c[0] is None or d > c[0] else c[0]
            c[1] += 1
            c[2] += Decimal(row["revenue"])
    ids = sorted(cust, key=lambda s: s.encode())
    rec = [float((as_of - cust[i][0]).days) for i in ids]
    freq = [float(cust[i][1]) for i in ids]
    mon = [float(cust[i][2]) for i in ids]
    rb, r = scores(rec, bins, True)
    fb, fs = scores(freq, bins, False)
    mb, ms = scores(mon, bins, False)
    for name, b in (("recency", rb), ("frequency", fb), ("monetary", mb)):
        print("#breaks\t%s\t%s" % (name, ",".join(repr(x) for x in b)))
    for k, i in enumerate(ids):
        print("\t".join([i, "%g" % rec[k], str(cust[i][1]), str(cust[i][2]), str(r[k]), str(fs[k]), str(ms[k]),
                         segment(r[k], fs[k], ms[k])]))


if __name__ == "__main__":
    main()
