-- The event pipeline: COPY and INSERT take the track() path; duplicates are dropped and
-- counted; invalid rows are quarantined with their payload; profiles are kept once per statement.
CREATE EXTENSION personalize;
\set VERBOSITY terse
SELECT personalize.maintain('2026-02-15', 1, 1);

COPY personalize.events (user_id, event, properties, occurred_at, message_id) FROM stdin;
alice	Product Viewed	{"product_id": "p1", "price": 10, "category": "shoes"}	2026-01-05 10:00:00+00	m1
alice	Product Viewed	{"product_id": "p1", "price": 10, "category": "shoes"}	2026-01-05 10:00:00+00	m1
alice	Product Added	{"product_id": "p1", "price": 10, "quantity": 1}	2026-01-05 10:01:00+00	m2
bob	Order Completed	{"order_id": "o1", "revenue": 30}	2026-02-01 09:00:00+00	m3
bob	Order Completed	{"order_id": "o1", "revenue": -30}	2026-02-01 09:00:00+00	m4
\N	Product Viewed	{}	2026-02-01 09:00:00+00	m5
carol	\N	{}	2026-02-01 09:00:00+00	m6
carol	Product Viewed	[1, 2]	2026-02-01 09:00:00+00	m7
carol	Product Viewed	{}	\N	m8
carol	Product Viewed	{}	infinity	m9
carol	Email Opened	\N	2026-03-20 00:00:00+00	\N
carol	Email Opened	\N	2026-03-20 00:00:00+00	\N
carol	Email Opened	{}	2026-03-20 00:00:01+00	\N
dave	Product Viewed	{}	2031-07-01 00:00:00+00	m10
\.
SELECT * FROM personalize.last_ingest();
SELECT user_id, event, occurred_at, message_id, properties FROM personalize.events ORDER BY event_id;
-- where each row went: months have partitions, the far future waits in the default partition
SELECT tableoid::regclass AS partition, count(*) FROM personalize.events GROUP BY 1 ORDER BY 1;
SELECT reason, path, expected, payload ->> 'message_id' AS message_id FROM personalize.rejected_events ORDER BY rejected_id;
-- the payload keeps everything the row had
SELECT payload FROM personalize.rejected_events WHERE payload ->> 'message_id' = 'm4';
SELECT message_id, duplicates FROM personalize.event_keys WHERE duplicates > 0 ORDER BY 1;
-- generated message ids: "fp:" and 32 hex digits of the content hash
SELECT count(*) FILTER (WHERE message_id ~ '^fp:[0-9a-f]{32}$') AS generated FROM personalize.events;

-- the same message_id in a later statement (any month) is a duplicate too
SELECT personalize.track('alice', 'Product Viewed', '{"product_id": "p9"}', '2026-02-20', 'm1');
SELECT personalize.track('bob', 'Email Opened', '{}', '2026-03-01', 'm3');
SELECT message_id, duplicates FROM personalize.event_keys WHERE message_id IN ('m1', 'm3') ORDER BY 1;

-- one statement with a key stored before (m2), three copies of a new key (m20) and a new key
-- (m21): the stored key's event and the later copies are dropped, each counted on its key,
-- and each key points at the event that holds it (m2: the Product Added of the COPY above)
INSERT INTO personalize.events (user_id, event, occurred_at, message_id) VALUES
  ('alice', 'Product Viewed', '2026-02-10 00:00+00', 'm20'),
  ('alice', 'Product Viewed', '2026-02-11 00:00+00', 'm2'),
  ('alice', 'Product Viewed', '2026-02-12 00:00+00', 'm20'),
  ('alice', 'Product Viewed', '2026-02-13 00:00+00', 'm21'),
  ('alice', 'Product Viewed', '2026-02-14 00:00+00', 'm20');
SELECT * FROM personalize.last_ingest();
SELECT k.message_id, k.duplicates, e.event, e.occurred_at AT TIME ZONE 'UTC' AS occurred_utc
  FROM personalize.event_keys k JOIN personalize.events e USING (event_id)
 WHERE k.message_id IN ('m2', 'm20', 'm21') ORDER BY 1;
SELECT count(*) AS alice_events FROM personalize.events WHERE user_id = 'alice';

-- bad identifiers, names and sizes
SELECT personalize.track('', 'Product Viewed');
SELECT personalize.track(repeat('x', 256), 'Product Viewed');
SELECT personalize.track(E'tab\there', 'Product Viewed');
SELECT personalize.track('erin', '');
SELECT personalize.track('erin', repeat('E', 201));
SELECT personalize.track('erin', 'Product Viewed', '{}', '2026-02-02', repeat('m', 300));
SET personalize.max_event_bytes = 100;
SELECT personalize.track('erin', 'Custom', jsonb_build_object('blob', repeat('x', 200)), '2026-02-02');
RESET personalize.max_event_bytes;
-- an event must come before the year 10000 (later times would overflow segment rechecks)
SELECT personalize.track('fay', 'Product Viewed', '{}', '10000-01-01 00:00+00');
SELECT personalize.track('fay', 'Product Viewed', '{}', '9999-12-31 23:59:59+00');
SELECT reason, path FROM personalize.rejected_events ORDER BY rejected_id DESC LIMIT 8;
SELECT count(*) AS profiles_for_erin FROM personalize.identities WHERE value = 'erin';

-- profile state kept incrementally equals the full recompute from the events
SELECT p.user_id, p.event_count, p.first_seen_at, p.last_seen_at FROM personalize.profiles p ORDER BY p.profile_id;
SELECT count(*) AS mismatches
  FROM personalize.profiles p
  FULL JOIN (SELECT profile_id, count(*) AS n, min(occurred_at) AS lo, max(occurred_at) AS hi
               FROM personalize.events GROUP BY profile_id) e USING (profile_id)
 WHERE p.event_count IS DISTINCT FROM e.n OR p.first_seen_at IS DISTINCT FROM e.lo
    OR p.last_seen_at IS DISTINCT FROM e.hi;

-- a rolled-back statement leaves nothing behind, and the next one still works
BEGIN;
SELECT personalize.track('frank', 'Product Viewed', '{}', '2026-02-03', 'f1');
ROLLBACK;
SELECT personalize.track('frank', 'Product Viewed', '{}', '2026-02-03', 'f1');
BEGIN;
SAVEPOINT s;
SELECT personalize.track('gina', 'Product Viewed', '{}', '2026-02-03', 'g1');
ROLLBACK TO SAVEPOINT s;
SELECT personalize.track('gina', 'Product Viewed', '{}', '2026-02-03', 'g2');
COMMIT;
SELECT p.user_id, p.event_count FROM personalize.profiles p
  JOIN personalize.identities i USING (profile_id) WHERE i.value IN ('frank', 'gina') ORDER BY 1;
SELECT message_id FROM personalize.event_keys WHERE message_id IN ('f1', 'g1', 'g2') ORDER BY 1;

-- an anonymous visitor's events join the user's profile when both ids are seen together
SELECT personalize.track(NULL, 'Product Viewed', '{}', '2026-02-04', 'a1', anonymous_id => 'anon-1');
SELECT personalize.track(NULL, 'Product Viewed', '{}', '2026-02-05', 'a2', anonymous_id => 'anon-1');
SELECT personalize.track('bob', 'Product Viewed', '{}', '2026-02-06', 'a3', anonymous_id => 'anon-1');
SELECT p.user_id, p.event_count, (SELECT count(*) FROM personalize.events e WHERE e.profile_id = p.profile_id) AS events
  FROM personalize.profiles p WHERE p.user_id = 'bob';
SELECT kind, value FROM personalize.identities WHERE profile_id = personalize.resolve_identity('user_id', 'bob') ORDER BY 1, 2;
SELECT kept_profile = personalize.resolve_identity('user_id', 'bob') AS kept_bob, cause, events_moved FROM personalize.merge_log;

-- consent follows Subscribed / Unsubscribed events by their time, whatever the arrival order
INSERT INTO personalize.events (user_id, event, occurred_at) VALUES
  ('hana', 'Subscribed', '2026-02-10'), ('hana', 'Unsubscribed', '2026-02-12');
SELECT personalize.track('hana', 'Subscribed', '{}', '2026-02-11');
SELECT email_consent, consent_at FROM personalize.profiles WHERE user_id = 'hana';
SELECT personalize.track('hana', 'Subscribed', '{}', '2026-02-13');
SELECT email_consent, consent_at FROM personalize.profiles WHERE user_id = 'hana';
SELECT changed_at, email_consent, source FROM personalize.consent_log ORDER BY changed_at;

-- the totals
SELECT * FROM personalize.ingest_stats;
DROP EXTENSION personalize;
