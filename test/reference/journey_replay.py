#!/usr/bin/env python3
"""Writes, for one seed, the two SQL scripts of the journey replay property test
(test/suites/journey_replay): the same random stream of events and ticks, applied as a stream
(each stretch of events between two ticks in one statement, with the clock at the stretch's
end, then the tick) and replayed in one go (all events in one statement, then one tick at the
end). Journeys: the abandoned-cart example and a second one with a filtered entry, a split, a
wait, a branch, an update, a wait_for with a timeout, re-entry after a day and a goal.

Usage: journey_replay.py SEED OUTDIR  (writes OUTDIR/setup.sql, stream.sql, once.sql)
"""
import json
import random
import sys
from datetime import datetime, timedelta, timezone

USERS = 8
START = datetime(2026, 6, 1, tzinfo=timezone.utc)
HOURS = 72

SETUP = """
SELECT personalize.maintain('2026-06-15', 1, 1);
SET personalize.clock = '2026-06-01 00:00+00';
SELECT count(personalize.identify('r' || i, jsonb_build_object('vip', i % 3 = 0), NULL, '2026-05-01'))
  FROM generate_series(1, USERS_N) i;
UPDATE personalize.profiles SET email = user_id || '@example.com', email_consent = 'subscribed';
SELECT personalize.install_abandoned_cart() > 0;
INSERT INTO personalize.templates (name, subject, html_body, text_body) VALUES ('nudge', 'N', '<p>n</p>', 'n');
SELECT personalize.create_journey('browse', '{
  "entry": {"event": "Product Viewed", "where": [{"property": "price", "op": "gt", "value": 20}]},
  "reentry": {"after": "1 day"},
  "goal": {"event": "Order Completed", "where": [{"property": "revenue", "op": "gte", "value": 50}]},
  "start": "coin",
  "steps": {
    "coin": {"split": [{"percent": 40, "next": "pause"}, {"percent": 60, "next": "check"}], "salt": "replay"},
    "pause": {"wait": "45 minutes", "next": "check"},
    "check": {"branch": {"trait": "vip", "value": true}, "yes": "mark", "no": "nudge"},
    "mark": {"update": {"trait": "browsed", "value": true}, "next": "listen"},
    "nudge": {"send": {"template": "nudge", "kind": "marketing"}, "next": "listen"},
    "listen": {"wait_for": {"event": "Product Added", "timeout": "3 hours", "as": "added"},
               "happened": "end", "timed_out": "end"},
    "end": {"exit": true}
  }}') > 0;
"""


def stream(seed):
    """The random stream: (time, kind, payload) in time order; kind 'event' or 'tick'."""
    rnd = random.Random(seed)
    items = []
    n = 0
    # distinct minutes, so that no two events share a time (the order of ties is the statement's)
    minutes = rnd.sample(range(HOURS * 60), 90)
    for i in range(rnd.randint(40, 80)):
        at = START + timedelta(minutes=minutes[i])
        user = "r%d" % rnd.randint(1, USERS)
        event = rnd.choices(["Product Added", "Checkout Started", "Order Completed", "Product Viewed"],
                            weights=[3, 1, 2, 4])[0]
        n += 1
        if event == "Product Added":
            props = {"product_id": "p%d" % rnd.randint(1, 5), "price": rnd.randint(1, 40)}
        elif event == "Order Completed":
            props = {"order_id": "o%d" % n, "revenue": rnd.choice([10, 60])}
        elif event == "Product Viewed":
            props = {"price": rnd.randint(1, 40)}
        else:
            props = {"total": rnd.randint(1, 100)}
        items.append((at, "event", (user, event, props, "e%d-%d" % (seed, n))))
    for _ in range(rnd.randint(10, 25)):
        items.append((START + timedelta(minutes=rnd.randrange(HOURS * 60)), "tick", None))
    # events exactly at a timeout's edge: a cart and an order 10 minutes later
    for _ in range(2):
        at = START + timedelta(minutes=rnd.randrange(HOURS * 60 - 20), seconds=30)
        user = "r%d" % rnd.randint(1, USERS)
        n += 1
        items.append((at, "event", (user, "Product Added", {"product_id": "edge"}, "e%d-%d" % (seed, n))))
        n += 1
        items.append((at + timedelta(minutes=10), "event",
                      (user, "Order Completed", {"order_id": "edge%d" % n, "revenue": 10}, "e%d-%d" % (seed, n))))
    # a tick always comes after the events of its time
    items.sort(key=lambda x: (x[0], x[1] == "tick"))
    return items


def ts(t):
    return t.strftime("%Y-%m-%d %H:%M:%S+00")


def lit(s):
    return "'" + s.replace("'", "''") + "'"


def insert(events, clock):
    rows = ",\n  ".join("(%s, %s, %s::jsonb, %s, %s)" % (lit(u), lit(e), lit(json.dumps(p)), lit(ts(t)), lit(m))
                        for t, (u, e, p, m) in events)
    return ("SET personalize.clock = %s;\n"
            "INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id) VALUES\n  %s;\n"
            % (lit(ts(clock)), rows))


def main():
    seed, out = int(sys.argv[1]), sys.argv[2]
    items = stream(seed)
    end = START + timedelta(hours=HOURS + 30)
    with open(out + "/setup.sql", "w") as f:
        f.write(SETUP.replace("USERS_N", str(USERS)))
    with open(out + "/stream.sql", "w") as f:
        pending = []
        for at, kind, payload in items:
            if kind == "event":
                pending.append((at, payload))
                continue
            if pending:
                f.write(insert(pending, at))
                pending = []
            f.write("SELECT personalize.tick(%s) IS NOT NULL;\n" % lit(ts(at)))
        if pending:
            f.write(insert(pending, pending[-1][0]))
        f.write("SELECT personalize.tick(%s) IS NOT NULL;\n" % lit(ts(end)))
    with open(out + "/once.sql", "w") as f:
        events = [(at, p) for at, kind, p in items if kind == "event"]
        rnd = random.Random(seed + 1)
        rnd.shuffle(events)  # the statement's row order does not matter
        f.write(insert(events, end))
        f.write("SELECT personalize.tick(%s) IS NOT NULL;\n" % lit(ts(end)))


if __name__ == "__main__":
    main()
