"""An independent model of segment membership, written from docs (README "Segments", "Time"),
not from the compiler: given the stored events and the profile state (traits, consent, user id)
at an evaluation time t, it says which profiles a rule holds for. test/suites/segment_oracle
compares it with the live engine.

Everything is in UTC; times are integers of microseconds since 1970-01-01 00:00 UTC.
"""
import calendar
import datetime
import hashlib
from decimal import Decimal

EPOCH = datetime.datetime(1970, 1, 1)
PURCHASE_EVENT = "Order Completed"
AMOUNT_PROPERTIES = ("revenue", "total")
MISSING = object()          # a JSON path that leads nowhere (SQL NULL)


def to_dt(us):
    return EPOCH + datetime.timedelta(microseconds=us)


def to_us(dt):
    d = dt - EPOCH
    return (d.days * 86400 + d.seconds) * 1000000 + d.microseconds


def parse_interval(text):
    """'7 days', '6 hours', '1 mon', '1 day 6 hours' -> (months, days, microseconds)."""
    months = days = micros = 0
    words = text.split()
    for n, unit in zip(words[::2], words[1::2]):
        n = int(n)
        unit = unit.rstrip("s")
        if unit in ("mon", "month"):
            months += n
        elif unit == "day":
            days += n
        elif unit == "hour":
            micros += n * 3600 * 1000000
        elif unit == "minute":
            micros += n * 60 * 1000000
        else:
            raise ValueError(text)
    return months, days, micros


def add_interval(us, iv):
    """t + interval in UTC: months first (the day clamped to the month's end), then days, then time."""
    months, days, micros = iv
    dt = to_dt(us)
    m0 = dt.year * 12 + dt.month - 1 + months
    y, m = divmod(m0, 12)
    d = min(dt.day, calendar.monthrange(y, m + 1)[1])
    dt = dt.replace(year=y, month=m + 1, day=d)
    return to_us(dt) + (days * 86400 * 1000000) + micros


def parse_time(text):
    """'2026-03-01 00:00+00' or '2026-03-01' (no offset: UTC) -> microseconds."""
    t = text.strip()
    off = 0
    if " " in t and t[-3:-2] in "+-" and t[-2:].isdigit():
        off = int(t[-3:]) * 3600
        t = t[:-3]
    fmt = "%Y-%m-%d %H:%M:%S" if t.count(":") == 2 else "%Y-%m-%d %H:%M" if ":" in t else "%Y-%m-%d"
    return to_us(datetime.datetime.strptime(t, fmt)) - off * 1000000


# ---- JSON values (Python's json: numbers as int/float/Decimal, strings, bool, None, list, dict)

def is_num(v):
    return isinstance(v, (int, float, Decimal)) and not isinstance(v, bool)


def num(v):
    return Decimal(str(v)) if isinstance(v, float) else Decimal(v)


def json_eq(a, b):
    """jsonb equality of two scalars: same type, numbers by value."""
    if is_num(a) and is_num(b):
        return num(a) == num(b)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return type(a) == type(b) and a == b


def contains_elem(arr, v):
    return any(not isinstance(e, (list, dict)) and json_eq(e, v) for e in arr)


def at_path(doc, path):
    """doc #> path: MISSING when a key or index is absent."""
    for k in path:
        if isinstance(doc, dict) and k in doc:
            doc = doc[k]
        elif isinstance(doc, list) and (k.isdigit() or (k.startswith("-") and k[1:].isdigit())):
            i = int(k)
            if -len(doc) <= i < len(doc):
                doc = doc[i]
            else:
                return MISSING
        else:
            return MISSING
    return doc


def path_of(p):
    return p.split(".") if isinstance(p, str) else list(p)


def cmp(a, b, op):
    return {"lt": a < b, "lte": a <= b, "gt": a > b, "gte": a >= b}[op]


def json_compare(x, op, value):
    """A trait or property x (MISSING when absent) compared as documented: a missing or
    mistyped value compares false, and ne true."""
    scalar = x is not MISSING and not isinstance(x, (list, dict))
    if op == "exists":
        want = value is None or value is True
        present = x is not MISSING and x is not None
        return present == want
    if op == "eq":
        return scalar and json_eq(x, value)
    if op == "ne":
        return not (scalar and json_eq(x, value))
    if op in ("lt", "lte", "gt", "gte"):
        if is_num(value):
            return is_num(x) and cmp(num(x), num(value), op)
        return isinstance(x, str) and cmp(x.encode(), value.encode(), op)
    if op == "in":
        return scalar and contains_elem(value, x)
    if op == "contains":
        if isinstance(value, str) and isinstance(x, str):
            return value in x
        return isinstance(x, list) and contains_elem(x, value)
    if op == "starts_with":
        return isinstance(x, str) and x.startswith(value)
    raise ValueError(op)


# ---- the state of a profile as of t, folded from its events

class Profile:
    def __init__(self, pid, user_id, traits, consent, events):
        self.pid = pid
        self.user_id = user_id
        self.traits = traits
        self.consent = consent
        self.events = events          # [(event, properties, occurred_us)]

    def fields_at(self, t):
        past = [e for e in self.events if e[2] <= t]
        buys = []
        for name, props, at in past:
            if name != PURCHASE_EVENT or not isinstance(props, dict):
                continue
            amount = None
            for k in AMOUNT_PROPERTIES:
                if k in props and props[k] is not None:
                    amount = num(props[k]) if is_num(props[k]) else None
                    break
            if amount is not None and amount >= 0:
                buys.append((amount, at))
        times = [e[2] for e in past]
        return {
            "event_count": Decimal(len(past)),
            "first_seen_at": min(times) if times else None,
            "last_seen_at": max(times) if times else None,
            "purchase_count": Decimal(len(buys)),
            "purchase_total": sum((b[0] for b in buys), Decimal(0)),
            "first_purchase_at": min(b[1] for b in buys) if buys else None,
            "last_purchase_at": max(b[1] for b in buys) if buys else None,
            "email_consent": self.consent,
            "user_id": self.user_id,
        }


FIELD_KIND = {"event_count": "n", "purchase_count": "n", "purchase_total": "n", "first_seen_at": "t",
              "last_seen_at": "t", "first_purchase_at": "t", "last_purchase_at": "t",
              "email_consent": "s", "user_id": "s"}


def field_value(kind, v):
    if kind == "n":
        return num(v)
    if kind == "t":
        return parse_time(v)
    return v


def field_holds(p, node, t, fields):
    name, op, value = node["field"], node.get("op", "eq"), node.get("value")
    kind = FIELD_KIND[name]
    x = fields[name]
    if op == "exists":
        return (x is not None) == (value is not False)
    if x is None:
        return False
    if op == "in":
        return any(x == field_value(kind, v) for v in value)
    if isinstance(value, dict):                       # {"ago": W}: field + W OP t
        x, target = add_interval(x, parse_interval(value["ago"])), t
    else:
        target = field_value(kind, value)
    if kind == "s":
        x, target = x.encode(), target.encode()
    if op == "eq":
        return x == target
    if op == "ne":
        return x != target
    return cmp(x, target, op)


def event_count(p, node, t):
    n = 0
    within = parse_interval(node["within"]) if "within" in node else None
    between = [parse_time(b) for b in node["between"]] if "between" in node else None
    for name, props, at in p.events:
        if name != node["event"] or at > t:
            continue
        if within and not add_interval(at, within) > t:
            continue
        if between and not (between[0] <= at < between[1]):
            continue
        if all(json_compare(at_path(props, path_of(w["property"])), w.get("op", "eq"), w.get("value"))
               for w in node.get("where", [])):
            n += 1
    return n


def bucket(pid, salt):
    return int(hashlib.sha256(f"{salt}:{pid}".encode()).hexdigest()[:16], 16) % 10000


def days_to_anniversary(text, t):
    if not isinstance(text, str) or len(text) != 10 or text[4] != "-" or text[7] != "-" \
            or not (text[:4] + text[5:7] + text[8:]).isdigit():
        return None
    y, m, d = int(text[:4]), int(text[5:7]), int(text[8:])
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    if not 1 <= m <= 12 or not 1 <= d <= [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]:
        return None
    today = to_dt(t).date()
    year = today.year
    while True:
        dd = 28 if (m == 2 and d == 29 and not calendar.isleap(year)) else d
        nxt = datetime.date(year, m, dd)
        if nxt >= today:
            return (nxt - today).days
        year += 1


def trait_text(traits, path):
    x = at_path(traits, path_of(path))
    if x is MISSING or x is None:
        return None
    if isinstance(x, str):
        return x
    return None if isinstance(x, (list, dict, bool)) else str(x)


class Model:
    """Evaluates rules by name at one time t over a snapshot of profiles."""

    def __init__(self, rules, profiles, t):
        self.rules, self.profiles, self.t = rules, profiles, t
        self.fields = {p.pid: p.fields_at(t) for p in profiles}
        self.memo = {}

    def members(self, name):
        if name not in self.memo:
            self.memo[name] = {p.pid for p in self.profiles if self.holds(p, self.rules[name])}
        return self.memo[name]

    def holds(self, p, node):
        t = self.t
        if "all" in node:
            return all(self.holds(p, n) for n in node["all"])
        if "any" in node:
            return any(self.holds(p, n) for n in node["any"])
        if "not" in node:
            return not self.holds(p, node["not"])
        if "trait" in node:
            return json_compare(at_path(p.traits, path_of(node["trait"])), node.get("op", "eq"), node.get("value"))
        if "field" in node:
            return field_holds(p, node, t, self.fields[p.pid])
        if "event" in node:
            n = event_count(p, node, t)
            if "exactly" in node:
                return n == node["exactly"]
            lo = node.get("min", 0 if "max" in node else 1)
            return n >= lo and ("max" not in node or n <= node["max"])
        if "consent" in node:
            return p.consent == node["consent"]
        if "segment" in node:
            return p.pid in self.members(node["segment"])
        if "bucket" in node:
            b = node["bucket"]
            return b.get("from", 0) <= bucket(p.pid, b.get("salt", "")) <= b.get("to", 9999)
        if "date_trait" in node:
            days = days_to_anniversary(trait_text(p.traits, node["date_trait"]), t)
            return days is not None and days <= node["within_next"]
        raise ValueError(node)
