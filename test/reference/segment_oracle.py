"""Drives test/suites/segment_oracle: seeded random rules of every node kind the model knows
(all, any, not, trait, field, event, consent, segment, bucket, date_trait) and a random stream
of events (out of order, future-stamped, exactly on window edges), identifies that merge
anonymous profiles, consent changes, and ticks, many of them exactly at a boundary; after each
tick the live memberships are compared with test/reference/segments.py evaluated from the
stored events and profile state. Prints one line per rule: "PASS ..." or "FAIL ...", then
"COVERAGE ..." lines. Usage: segment_oracle.py SEED (PSQL in the environment).
"""
import json
import os
import random
import subprocess
import sys
import tempfile
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import segments as model  # noqa: E402

SEED = int(sys.argv[1]) if len(sys.argv) > 1 else 20261201
N_RULES, N_STEPS = 48, 70
rnd = random.Random(SEED)
PSQL = os.environ["PSQL"]
DB = "segment_oracle"

INTERVALS = ["6 hours", "1 day", "1 day 6 hours", "3 days", "7 days", "30 days", "1 mon"]
EVENTS = ["Product Viewed", "Order Completed", "Email Opened", "Product Added"]
USERS = ["u%d" % i for i in range(1, 26)]
ANONS = ["a%d" % i for i in range(1, 9)]
T0 = model.parse_time("2026-03-01 00:00+00")
HOUR = 3600 * 1000000


def sql_time(us):
    return "'%s+00'" % model.to_dt(us).isoformat(sep=" ")


def lit(s):
    return "'" + s.replace("'", "''") + "'"


def props_for(event, n):
    if event == "Product Viewed":
        return {"category": rnd.choice(["shoes", "hats"]), "price": rnd.choice([10, 49.5, 50, 120])}
    if event == "Order Completed":
        return {"order_id": n, "revenue": rnd.choice([0, 5, 25.5, 150, 150, -3, "lots", None])}
    if event == "Product Added":
        return {"tags": rnd.choice([["sale"], ["new", "sale"], ["new"]]), "price": rnd.choice([5, 80])}
    return {}


def traits():
    t = {"city": rnd.choice(["Oslo", "Bergen", "Aarhus"]), "age": rnd.choice([17, 30, 41, "unknown"]),
         "plan": rnd.choice(["pro", "free"]), "tags": rnd.choice([["vip"], ["vip", "early"], []]),
         "birthday": rnd.choice(["1990-03-04", "2000-02-29", "1985-03-20", "1990-13-01", "nope"]),
         "a": {"b": rnd.choice([1, 2])}}
    for k in list(t):
        if rnd.random() < 0.15:
            del t[k]
    return t


# ---- random valid rules

def trait_node():
    path = rnd.choice(["city", "age", "tags", "plan", "a.b", "birthday"])
    op = rnd.choice(["eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "exists", "starts_with"])
    if op == "exists":
        return {"trait": path, "op": op, "value": rnd.choice([True, False])}
    if op in ("lt", "lte", "gt", "gte"):
        return {"trait": path, "op": op, "value": rnd.choice([30, 41, 1.5, "Oslo", "M"])}
    if op == "in":
        return {"trait": path, "op": op, "value": rnd.sample(["Oslo", "pro", 30, 1, "vip", None], 3)}
    if op == "contains":
        return {"trait": path, "op": op, "value": rnd.choice(["vip", "sl", "early", 1])}
    if op == "starts_with":
        return {"trait": path, "op": op, "value": rnd.choice(["O", "Be", "p"])}
    return {"trait": path, "op": op, "value": rnd.choice(["Oslo", "pro", 30, 1, True, None])}


def field_node():
    name = rnd.choice(sorted(model.FIELD_KIND))
    kind = model.FIELD_KIND[name]
    op = rnd.choice(["eq", "ne", "lt", "lte", "gt", "gte", "in", "exists"] + (["lt", "gte", "gt", "lte"] if kind == "t" else []))
    if op == "exists":
        return {"field": name, "op": op, "value": rnd.choice([True, False])}
    if kind == "n":
        vals = [0, 1, 2, 3, 5, 25.5, 150]
    elif kind == "s":
        vals = ["subscribed", "unsubscribed", "unknown", "u3", "u10", "u2"]
    else:
        vals = ["2026-03-05 00:00+00", "2026-03-10 12:00", "2026-03-03 06:00+00"]
    if op == "in":
        return {"field": name, "op": op, "value": rnd.sample(vals, 2)}
    if kind == "t" and op not in ("eq", "ne") and rnd.random() < 0.8 or kind == "t" and rnd.random() < 0.3:
        return {"field": name, "op": op, "value": {"ago": rnd.choice(INTERVALS)}}
    return {"field": name, "op": op, "value": rnd.choice(vals)}


def event_node():
    d = {"event": rnd.choice(EVENTS)}
    k = rnd.choice(["none", "min", "max", "exactly", "minmax"])
    if k == "min":
        d["min"] = rnd.choice([1, 2, 3])
    elif k == "max":
        d["max"] = rnd.choice([0, 1, 2])
    elif k == "exactly":
        d["exactly"] = rnd.choice([0, 1, 2])
    elif k == "minmax":
        d["min"], d["max"] = 1, rnd.choice([1, 3])
    w = rnd.random()
    if w < 0.6:
        d["within"] = rnd.choice(INTERVALS)
    elif w < 0.8:
        d["between"] = rnd.choice([["2026-03-02 00:00+00", "2026-03-06 00:00+00"], ["2026-03-04", "2026-03-08 12:00"]])
    if rnd.random() < 0.4:
        d["where"] = [rnd.choice([{"property": "category", "value": "shoes"},
                                  {"property": "price", "op": "gte", "value": 50},
                                  {"property": "revenue", "op": "gt", "value": 20},
                                  {"property": "tags", "op": "contains", "value": "sale"},
                                  {"property": "revenue", "op": "exists"}])]
    return d


def node(depth, names):
    kinds = ["trait", "field", "field", "event", "event", "event", "consent", "bucket", "date_trait"]
    if names:
        kinds.append("segment")
    if depth < 3:
        kinds += ["all", "any", "not"]
    k = rnd.choice(kinds)
    if k in ("all", "any"):
        return {k: [node(depth + 1, names) for _ in range(rnd.randrange(1, 4))]}
    if k == "not":
        return {"not": node(depth + 1, names)}
    if k == "trait":
        return trait_node()
    if k == "field":
        return field_node()
    if k == "event":
        return event_node()
    if k == "consent":
        return {"consent": rnd.choice(["subscribed", "unsubscribed", "unknown"])}
    if k == "segment":
        return {"segment": rnd.choice(names)}
    if k == "bucket":
        a = rnd.randrange(0, 9000)
        return {"bucket": {"salt": rnd.choice(["s1", "s2"]), "from": a, "to": min(9999, a + rnd.randrange(0, 5000))}}
    return {"date_trait": rnd.choice(["birthday", "city"]), "within_next": rnd.choice([0, 3, 10, 30])}


def main():
    rules = {}
    for i in range(N_RULES):
        rules["r%02d" % i] = node(0, list(rules))

    script = ["\\set ON_ERROR_STOP 1", "SET client_min_messages = warning;",
              "SELECT personalize.maintain('2026-03-15', 2, 2);",
              """CREATE TABLE snap_members (t timestamptz, segment text, profile_id bigint);
CREATE TABLE snap_profiles (t timestamptz, profile_id bigint, user_id text, traits jsonb, consent text);
CREATE TABLE snap_events (t timestamptz, profile_id bigint, event text, properties jsonb, occurred_at timestamptz);
CREATE FUNCTION snap(at timestamptz) RETURNS void LANGUAGE sql AS $$
  INSERT INTO snap_members SELECT at, s.name, m.profile_id FROM personalize.segment_members m JOIN personalize.segments s USING (segment_id);
  INSERT INTO snap_profiles SELECT at, p.profile_id, p.user_id, p.traits, p.email_consent FROM personalize.profiles p;
  INSERT INTO snap_events SELECT at, e.profile_id, e.event, e.properties, e.occurred_at FROM personalize.events e;
$$;""",
              "SET personalize.clock = %s;" % sql_time(T0)]
    for name, rule in rules.items():
        script.append("SELECT personalize.create_segment(%s, %s::jsonb, %s);" % (lit(name), lit(json.dumps(rule)), sql_time(T0)))
    clock, order, stored = T0, 0, []
    edges = 0
    for step in range(N_STEPS):
        clock += rnd.randrange(1, 20) * HOUR + (rnd.choice([0, 0, 0, 17]) * 60 * 1000000)
        script.append("SET personalize.clock = %s;" % sql_time(clock))
        rows = []
        for _ in range(rnd.randrange(1, 15)):
            ev = rnd.choice(EVENTS)
            order += 1
            r = rnd.random()
            if r < 0.15:
                at = clock + rnd.randrange(1, 72) * HOUR                      # future-stamped
            elif r < 0.35:
                at = model.add_interval(clock, tuple(-x for x in model.parse_interval(rnd.choice(INTERVALS))))
            else:
                at = clock - rnd.randrange(0, 200) * HOUR
            anon = rnd.random() < 0.15
            who = rnd.choice(ANONS if anon else USERS)
            rows.append("(%s, %s, %s, %s::jsonb, %s)" % ("NULL" if anon else lit(who), lit(who) if anon else "NULL",
                                                        lit(ev), lit(json.dumps(props_for(ev, order))), sql_time(at)))
            stored.append(at)
        script.append("INSERT INTO personalize.events (user_id, anonymous_id, event, properties, occurred_at) VALUES %s;"
                      % ", ".join(rows))
        if rnd.random() < 0.3:
            script.append("SELECT personalize.identify(%s, %s::jsonb, %s, %s);" % (
                lit(rnd.choice(USERS)), lit(json.dumps(traits())),
                lit(rnd.choice(ANONS)) if rnd.random() < 0.4 else "NULL", sql_time(clock)))
        if rnd.random() < 0.15:
            script.append("SELECT personalize.set_consent(p.profile_id, %s, as_of => %s) FROM personalize.profiles p WHERE p.user_id = %s;"
                          % (lit(rnd.choice(["subscribed", "unsubscribed"])), sql_time(clock), lit(rnd.choice(USERS))))
        if rnd.random() < 0.35 or step == N_STEPS - 1:
            # a tick, often exactly where a stored event crosses a window edge
            later = sorted({model.add_interval(a, model.parse_interval(w)) for a in stored for w in INTERVALS
                            if model.add_interval(a, model.parse_interval(w)) > clock})
            if later and rnd.random() < 0.6:
                clock = rnd.choice(later[:20])
                edges += 1
            else:
                clock += rnd.randrange(0, 30) * HOUR
            script.append("SET personalize.clock = %s;" % sql_time(clock))
            script.append("SELECT personalize.tick(%s);" % sql_time(clock))
            script.append("SELECT snap(%s);" % sql_time(clock))
    fetch = """SELECT json_build_object(
  'members', (SELECT json_agg(json_build_array((extract(epoch FROM t) * 1000000)::bigint, segment, profile_id)) FROM snap_members),
  'profiles', (SELECT json_agg(json_build_array((extract(epoch FROM t) * 1000000)::bigint, profile_id, user_id, traits, consent)) FROM snap_profiles),
  'events', (SELECT json_agg(json_build_array((extract(epoch FROM t) * 1000000)::bigint, profile_id, event, properties,
                                              (extract(epoch FROM occurred_at) * 1000000)::bigint)) FROM snap_events));"""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write("\n".join(script) + "\n\\o /dev/null\n")
        path = f.name
    os.chmod(path, 0o644)
    def run(args, **kw):
        r = subprocess.run("%s %s" % (PSQL, args), shell=True, capture_output=True, text=True, **kw)
        if r.returncode != 0:
            sys.exit("psql %s failed: %s" % (args, r.stderr[-2000:]))
        return r
    run("-c 'DROP DATABASE IF EXISTS %s' -c 'CREATE DATABASE %s'" % (DB, DB))
    try:
        run("-d %s -c 'CREATE EXTENSION personalize'" % DB)
        run("-d %s -f %s" % (DB, path))
        out = run("-d %s -At" % DB, input=fetch).stdout
    finally:
        os.unlink(path)
        subprocess.run("%s -c 'DROP DATABASE IF EXISTS %s'" % (PSQL, DB), shell=True, capture_output=True)
    data = json.loads(out, parse_float=Decimal)

    times = sorted({m[0] for m in data["profiles"]})
    live = {}
    for t, seg, pid in data["members"] or []:
        live.setdefault((t, seg), set()).add(pid)
    profiles_at = {}
    for t, pid, uid, tr, consent in data["profiles"]:
        profiles_at.setdefault(t, {})[pid] = model.Profile(pid, uid, tr or {}, consent, [])
    for t, pid, ev, props, at in data["events"] or []:
        profiles_at[t][pid].events.append((ev, props, at))
    bad = {name: [] for name in rules}
    nonempty = total = 0
    for t in times:
        m = model.Model(rules, list(profiles_at[t].values()), t)
        for name in rules:
            want, got = m.members(name), live.get((t, name), set())
            total += 1
            nonempty += bool(want) and len(want) < len(profiles_at[t])
            if want != got:
                bad[name].append((model.to_dt(t), sorted(want - got), sorted(got - want)))
    for name, rule in rules.items():
        if bad[name]:
            t, missing, extra = bad[name][0]
            print("FAIL %s %s: at %s the model has %s not in the engine, the engine %s not in the model (%d of %d times)"
                  % (name, json.dumps(rule), t, missing, extra, len(bad[name]), len(times)))
        else:
            print("PASS %s %s at %d times" % (name, json.dumps(rule), len(times)))
    future = sum(1 for t in times for p in profiles_at[t].values() for e in p.events if e[2] > t)
    print("COVERAGE times=%d comparisons=%d mixed=%d edge_ticks=%d future_events_seen=%d profiles=%d"
          % (len(times), total, nonempty, edges, future, len(profiles_at[times[-1]])))


main()
