-- Ingestion at its edges: a COPY under on_invalid_event = 'error' (all or nothing), and
-- "Email Marked as Spam" changing consent by event time like Unsubscribed.
CREATE EXTENSION personalize;
\set VERBOSITY terse
SET timezone = 'UTC';
SELECT personalize.maintain('2026-02-15', 1, 1) AS partitions;

-- ---- COPY with on_invalid_event = 'error': the second of three rows breaks the built-in schema
-- of Order Completed (no order_id); the whole COPY fails with 23514 naming the path, and nothing
-- of it stays: no event, no profile, no quarantined row, no claimed message id.
SET personalize.on_invalid_event = 'error';
\set VERBOSITY sqlstate
COPY personalize.events (user_id, event, properties, occurred_at, message_id) FROM stdin;
cara	Product Viewed	{"product_id": "p1"}	2026-02-01 10:00:00+00	c1
cara	Order Completed	{"revenue": 5}	2026-02-01 10:01:00+00	c2
dan	Product Viewed	{"product_id": "p2"}	2026-02-01 10:02:00+00	c3
\.
\set VERBOSITY terse
SELECT (SELECT count(*) FROM personalize.events) AS events, (SELECT count(*) FROM personalize.profiles) AS profiles,
       (SELECT count(*) FROM personalize.rejected_events) AS quarantined, (SELECT count(*) FROM personalize.event_keys) AS keys;
-- the same COPY with the row fixed goes through whole, under the same message ids
COPY personalize.events (user_id, event, properties, occurred_at, message_id) FROM stdin;
cara	Product Viewed	{"product_id": "p1"}	2026-02-01 10:00:00+00	c1
cara	Order Completed	{"order_id": "o1", "revenue": 5}	2026-02-01 10:01:00+00	c2
dan	Product Viewed	{"product_id": "p2"}	2026-02-01 10:02:00+00	c3
\.
SELECT * FROM personalize.last_ingest();
SELECT p.user_id, p.event_count, p.purchase_count, p.purchase_total FROM personalize.profiles p ORDER BY 1;
-- an oversized row (over max_event_bytes) fails a COPY too, with its own SQLSTATE (54000), and
-- the small row beside it does not stay either
SET personalize.max_event_bytes = 100;
\set VERBOSITY sqlstate
COPY personalize.events (user_id, event, properties, occurred_at, message_id) FROM stdin;
dan	Product Viewed	{"product_id": "p3"}	2026-02-01 10:03:00+00	c4
dan	Product Viewed	{"product_id": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}	2026-02-01 10:04:00+00	c5
\.
\set VERBOSITY terse
RESET personalize.max_event_bytes;
RESET personalize.on_invalid_event;
SELECT count(*) AS events, count(*) FILTER (WHERE message_id IN ('c4', 'c5')) AS c4_c5 FROM personalize.events;

-- ---- Email Marked as Spam is an opt-out, by event time. By hand: eve subscribes on 02-01 and
-- reports spam on 02-03: unsubscribed since 02-03. fred subscribes on 02-05; a spam report
-- stamped 02-04 arrives afterwards: the later action (the subscription) stands. gus reports
-- spam and subscribes in one statement, spam last by time: unsubscribed since 02-07.
SELECT personalize.track('eve', 'Subscribed', '{}', '2026-02-01 00:00+00', 's1');
SELECT personalize.track('eve', 'Email Marked as Spam', '{}', '2026-02-03 00:00+00', 's2');
SELECT personalize.track('fred', 'Subscribed', '{}', '2026-02-05 00:00+00', 's3');
SELECT personalize.track('fred', 'Email Marked as Spam', '{}', '2026-02-04 00:00+00', 's4');
INSERT INTO personalize.events (user_id, event, occurred_at, message_id)
VALUES ('gus', 'Email Marked as Spam', '2026-02-07 00:00+00', 's6'), ('gus', 'Subscribed', '2026-02-06 00:00+00', 's5');
SELECT p.user_id, p.email_consent,
       (SELECT changed_at FROM personalize.consent_log l WHERE l.profile_id = p.profile_id ORDER BY changed_at DESC LIMIT 1) AS latest_change
  FROM personalize.profiles p WHERE p.user_id IN ('eve', 'fred', 'gus') ORDER BY 1;
SELECT p.user_id, l.changed_at, l.email_consent, l.source
  FROM personalize.consent_log l JOIN personalize.profiles p USING (profile_id) ORDER BY 1, 2;

DROP EXTENSION personalize;
