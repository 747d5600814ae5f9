-- Scoring: decay, the engagement and rfm_agg aggregates (serial and parallel), RFM scores and
-- segments, live state folded in by the ingest pipeline, and bad input. Every expected value
-- is computed by hand in the comments or by a plain SQL formula beside it.
CREATE EXTENSION personalize;
\set VERBOSITY terse
SET timezone = 'UTC';
SELECT personalize.maintain('2026-01-15', 1, 1) AS "partitions 2025-12, 2026-01, 2026-02: 3";

-- ---- decay: halves every half-life
SELECT personalize.decay(8, '2026-01-01', '2026-01-15', '14 days') AS "8 -> 4",
       personalize.decay(8, '2026-01-01', '2026-01-29', '14 days') AS "8 -> 2",
       round(personalize.decay(10, '2026-01-01', '2026-01-08', '14 days')::numeric, 12) AS "10/sqrt(2) = 7.071067811865",
       personalize.decay(3, '2026-01-01', '2026-01-01', '14 days') AS "same time: 3",
       personalize.decay(1, '2026-01-01', '2026-01-31', '1 mon') AS "a month is 30 days: 0.5",
       personalize.decay(1, '2026-01-01', '2026-01-01 12:00', '12 hours') AS "0.5",
       personalize.decay(1, '2026-01-01', '2126-01-01', '1 day') AS "underflows to 0";
SELECT personalize.half_life() AS default_half_life;
SET personalize.half_life = '7d';
SELECT personalize.half_life();
RESET personalize.half_life;
-- bad input: errors with an errcode, NULL in NULL out
\set VERBOSITY default
SELECT personalize.decay(1, '2026-01-02', '2026-01-01', '14 days');
\set VERBOSITY terse
SELECT personalize.decay(1, '2026-01-01', '2026-01-02', '0 days');
SELECT personalize.decay(1, '2026-01-01', '2026-01-02', '-1 day');
SELECT personalize.decay('NaN', '2026-01-01', '2026-01-02', '1 day');
SELECT personalize.decay('Infinity', '2026-01-01', '2026-01-02', '1 day');
SELECT personalize.decay(1, '-infinity', '2026-01-02', '1 day');
SELECT personalize.decay(1, '2026-01-01', 'infinity', '1 day');
SELECT personalize.decay(1, '2026-01-01', '2026-01-02', NULL) IS NULL AS null_in_null_out;
SET personalize.half_life = 0;

-- ---- engagement: sum of w * 2^(-(as_of - t) / h)
CREATE TABLE ev (id int, profile_id int, occurred_at timestamptz, weight float8, amount numeric);
INSERT INTO ev VALUES
  (1, 1, '2026-01-29', 1, 10),      -- at as_of: 1
  (2, 1, '2026-01-15', 3, 20.5),    -- 14 days before: 1.5
  (3, 1, '2026-01-01', 5, 0),       -- 28 days before: 1.25
  (4, 1, '2026-02-01', 7, 99),      -- after as_of: left out
  (5, 1, NULL, 1, 5),               -- no time: left out
  (6, 1, '2026-01-20', NULL, NULL), -- no weight, no amount: left out
  (7, 2, '2026-01-22', 2, -5),      -- 7 days before: 2/sqrt(2) = 1.414213562373; negative amount
  (8, 2, '-infinity', 2, 'NaN'),    -- infinite time: left out
  (9, 2, '2026-01-10', 1, 'Infinity');
SELECT personalize.reset_ignored_rows();
SELECT profile_id, round(personalize.engagement(occurred_at, weight, '14 days', '2026-01-29')::numeric, 12) AS engagement
  FROM ev GROUP BY profile_id ORDER BY 1;
-- profile 2 by hand: 1.414213562373 + 2^(-19/14) = 1.414213562373 + 0.390447983...; the plain formula:
SELECT profile_id, round(sum(weight * power(2, -extract(epoch FROM '2026-01-29'::timestamptz - occurred_at) / (14 * 86400)))::numeric, 12) AS formula
  FROM ev WHERE occurred_at <= '2026-01-29' AND isfinite(occurred_at) AND weight IS NOT NULL GROUP BY profile_id ORDER BY 1;
SELECT * FROM personalize.ignored_rows() ORDER BY 1, 2;
SELECT personalize.engagement(occurred_at, weight, '14 days', '2026-01-29') AS no_rows FROM ev WHERE false;
-- the state aggregate: valued at the latest event, whatever the input order
SELECT (personalize._engagement_state(occurred_at, weight, '14 days' ORDER BY id DESC)).* FROM ev WHERE profile_id = 1 AND id <= 3;
SELECT (personalize._engagement_state(occurred_at, weight, '14 days' ORDER BY id)).* FROM ev WHERE profile_id = 1 AND id <= 3;
-- bad arguments are errors
SELECT personalize.engagement(occurred_at, weight, '0 days', '2026-01-29') FROM ev;
SELECT personalize.engagement(occurred_at, weight, NULL, '2026-01-29') FROM ev;
SELECT personalize.engagement(occurred_at, weight, '14 days', NULL) FROM ev;
SELECT personalize.engagement(occurred_at, weight, '14 days', 'infinity') FROM ev;
SELECT personalize.engagement(occurred_at, 'NaN', '14 days', '2026-01-29') FROM ev;
SELECT personalize.engagement(occurred_at, weight, '14 days', '2026-01-29'::timestamptz + id * interval '1 s') FROM ev;
SELECT personalize.engagement(occurred_at, weight, (id || ' days')::interval, '2026-01-29') FROM ev;

-- ---- rfm_agg: recency (days), frequency, monetary, first and last purchase, rows left out
SELECT personalize.reset_ignored_rows();
SELECT profile_id, (personalize.rfm_agg(occurred_at, amount, '2026-01-29')).* FROM ev GROUP BY profile_id ORDER BY 1;
-- by hand: profile 1 counts rows 1-3 (10 + 20.5 + 0 = 30.5, last 2026-01-29: recency 0); rows 4, 5, 6 left out.
-- profile 2: -5 negative, NaN (also -infinity time), Infinity: nothing counts.
SELECT * FROM personalize.ignored_rows() ORDER BY 1, 2;
SELECT (personalize.rfm_agg(occurred_at, amount, '2026-01-30 12:00')).recency_days AS "1.5 days" FROM ev WHERE id = 1;
SELECT personalize.recency_days('2026-01-29', '2026-01-30 12:00') AS "1.5 days", personalize.recency_days('2026-01-29', '2026-01-28') AS "-1";
SELECT (personalize.rfm_agg(occurred_at, amount, '2026-01-29')).* FROM ev WHERE false;
SELECT personalize.rfm_agg(occurred_at, amount, NULL) FROM ev;
SELECT personalize.rfm_agg(occurred_at, amount, 'infinity') FROM ev;
SELECT personalize.rfm_agg(occurred_at, amount, '2026-01-29'::timestamptz + id * interval '1 s') FROM ev;
-- purchase_amount: the first key present decides; only JSON numbers count
SELECT personalize.purchase_amount('{"revenue": 12.5, "total": 14}') AS revenue,
       personalize.purchase_amount('{"total": 14}') AS "total fallback",
       personalize.purchase_amount('{"revenue": null, "total": 14}') AS "null falls back",
       personalize.purchase_amount('{"revenue": "12"}') AS "string: null",
       personalize.purchase_amount('{"revenue": -3}') AS "negative (rfm_agg leaves it out)",
       personalize.purchase_amount('[1]') AS "not an object",
       personalize.purchase_amount('{"amount": 7}', '{amount}') AS "other key";

-- ---- parallel plans: Partial Aggregate, same numbers as serial and as plain SQL
CREATE TABLE big AS
SELECT i, i % 1000 AS profile_id, '2026-01-01'::timestamptz + (i % 2591) * interval '1000 s' AS occurred_at,
       (i % 7) * 0.5 AS weight, (i % 101) * 1.01 AS amount
  FROM generate_series(1, 200000) i;
ANALYZE big;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF)
SELECT personalize.engagement(occurred_at, weight, '3 days', '2026-02-01'),
       personalize.rfm_agg(occurred_at, amount, '2026-02-01') FROM big;
EXPLAIN (COSTS OFF)
SELECT profile_id, personalize.engagement(occurred_at, weight, '3 days', '2026-02-01') FROM big GROUP BY profile_id;
CREATE TABLE par AS
SELECT profile_id, personalize.engagement(occurred_at, weight, '3 days', '2026-02-01') AS e,
       personalize.rfm_agg(occurred_at, amount, '2026-02-01') AS r,
       personalize._engagement_state(occurred_at, weight, '3 days') AS s
  FROM big GROUP BY profile_id;
-- whole-table: every worker's partial states are combined
SELECT (personalize.rfm_agg(occurred_at, amount, '2026-02-01')).frequency AS frequency,
       (personalize.rfm_agg(occurred_at, amount, '2026-02-01')).monetary = sum(amount) AS monetary_exact,
       abs(personalize.engagement(occurred_at, weight, '3 days', '2026-02-01') /
           sum(weight * power(2, -extract(epoch FROM '2026-02-01'::timestamptz - occurred_at)::float8 / 259200)) - 1) < 1e-12 AS engagement_equal
  FROM big;
-- empty states: FILTER leaves workers without any row, or with only rows left out
-- row 78: weight (78 % 7) * 0.5 = 0.5 at 2026-01-01 + 78000 s, amount 78 * 1.01 = 78.78
SELECT round((personalize.engagement(occurred_at, weight, '3 days', '2026-02-01') FILTER (WHERE i = 78))::numeric, 15) AS one_row,
       round((0.5 * power(2, -(31 * 86400 - 78000) / 259200.0))::numeric, 15) AS by_hand,
       (personalize.rfm_agg(occurred_at, amount, '2026-02-01') FILTER (WHERE i = 78)).monetary AS "78.78",
       personalize._engagement_state(occurred_at, weight, '3 days') FILTER (WHERE i < 0) AS none,
       (personalize.rfm_agg(occurred_at, amount, '2025-01-01')).ignored AS "all after as_of"
  FROM big;
-- mismatched states: a different as_of or half-life in one part is an error, not a number
SELECT personalize.engagement(occurred_at, weight, '3 days', CASE WHEN i > 100000 THEN '2026-02-02'::timestamptz ELSE '2026-02-01' END) FROM big;
SELECT personalize.rfm_agg(occurred_at, amount, CASE WHEN i > 100000 THEN '2026-02-02'::timestamptz ELSE '2026-02-01' END) FROM big;
SELECT personalize._engagement_state(occurred_at, weight, CASE WHEN i > 100000 THEN '3 days'::interval ELSE '2 days' END) FROM big;
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather; RESET parallel_leader_participation;
SET max_parallel_workers_per_gather = 0;
SELECT count(*) AS groups,
       count(*) FILTER (WHERE abs(s.e / p.e - 1) < 1e-12) AS engagement_equal,
       count(*) FILTER (WHERE s.r = p.r) AS rfm_equal,
       count(*) FILTER (WHERE abs((s.s).score / (p.s).score - 1) < 1e-12 AND (s.s).as_of = (p.s).as_of) AS state_equal
  FROM (SELECT profile_id, personalize.engagement(occurred_at, weight, '3 days', '2026-02-01') AS e,
               personalize.rfm_agg(occurred_at, amount, '2026-02-01') AS r,
               personalize._engagement_state(occurred_at, weight, '3 days') AS s
          FROM big GROUP BY profile_id) s JOIN par p USING (profile_id);
-- and both equal the plain SQL aggregates
SELECT count(*) FILTER (WHERE (p.r).frequency = q.n AND (p.r).monetary = q.m AND (p.r).last_purchase = q.last
                          AND (p.r).first_purchase = q.first
                          AND (p.r).recency_days = extract(epoch FROM '2026-02-01'::timestamptz - q.last)::float8 / 86400
                          AND abs(p.e / q.e - 1) < 1e-12) AS equal_to_plain_sql
  FROM par p JOIN (SELECT profile_id, count(*) AS n, sum(amount) AS m, min(occurred_at) AS first, max(occurred_at) AS last,
                          sum(weight * power(2, -extract(epoch FROM '2026-02-01'::timestamptz - occurred_at)::float8 / 259200)) AS e
                     FROM big GROUP BY profile_id) q USING (profile_id);
RESET max_parallel_workers_per_gather;
DROP TABLE big, par;

-- ---- RFM scores: bins [lower, upper) between type 7 quantiles plus 1 (the R package rfm)
SELECT v, personalize.rfm_score(v, '{2,3,4,5}') AS score, personalize.rfm_score(v, '{2,3,4,5}', true) AS reversed
  FROM unnest('{1, 1.99, 2, 4.5, 5, 99}'::float8[]) v;
SELECT personalize.rfm_score('NaN', '{1}');
SELECT personalize.rfm_score(1, '{1,NULL}');
-- frequencies 1..5: quantiles at 0.2..0.8 are 1.8, 2.6, 3.4, 4.2 (index 1 + 4p), so breakpoints 2.8, 3.6, 4.4, 5.2
SELECT personalize.rfm_breakpoints(percentile_cont(personalize._rfm_probs(5)) WITHIN GROUP (ORDER BY f)) FROM generate_series(1, 5) f;
SELECT personalize._rfm_probs(3) AS "3 bins", personalize._rfm_probs(4) AS "4 bins";

-- ---- segments: the first matching rule wins
SELECT r, f, m, personalize.rfm_segment(r, f, m)
  FROM (VALUES (5,5,5), (2,5,5), (3,1,3), (5,1,1), (3,1,1), (2,2,3), (2,1,2), (1,5,5), (1,2,3), (1,1,2),
               (2,2,2), (1,1,1), (3,5,1), (5,2,5)) v(r, f, m);
-- by hand: (5,5,5) Champions; (2,5,5) Loyal Customers; (3,1,3) Potential Loyalist; (5,1,1) Potential
-- Loyalist (before New Customers); (3,1,1) Potential Loyalist; (2,2,3) Need Attention; (2,1,2) About
-- To Sleep; (1,5,5) At Risk (before Can't Lose Them); (1,2,3) At Risk; (1,1,2) Hibernating; (2,2,2)
-- Need Attention; (1,1,1) Hibernating; (3,5,1) and (5,2,5) match nothing: Others.
SELECT personalize.rfm_segment(0, 1, 1);
SELECT personalize.rfm_segment(NULL, 1, 1) IS NULL AS null_in_null_out;
-- analysts edit the rules
SET ROLE personalize_analyst;
UPDATE personalize.rfm_segments SET priority = 25 WHERE segment = 'New Customers';
SELECT personalize.rfm_segment(5, 1, 1) AS "now New Customers";
INSERT INTO personalize.rfm_segments (priority, segment, r_min, r_max, f_min, f_max, m_min, m_max) VALUES (1, 'Whales', 1, 5, 1, 5, 6, 6);  -- scores stop at 5
INSERT INTO personalize.rfm_segments (priority, segment, r_min, r_max, f_min, f_max, m_min, m_max) VALUES (1, 'Whales', 1, 5, 1, 5, 5, 5);
SELECT personalize.rfm_segment(1, 1, 5) AS "Whales", personalize.rfm_segment(1, 1, 4) AS "Others";
DELETE FROM personalize.rfm_segments WHERE segment = 'Whales';
RESET ROLE;
UPDATE personalize.rfm_segments SET priority = 40 WHERE segment = 'New Customers';

-- ---- live state: purchases, engagement, interests folded in by each INSERT or COPY
-- alice, in two statements, latest first (out of order):
COPY personalize.events (user_id, event, properties, occurred_at, message_id) FROM stdin;
alice	Order Completed	{"order_id": "o1", "revenue": 30}	2026-01-29 00:00:00+00	a1
alice	Email Opened	{}	2026-01-15 00:00:00+00	a2
\.
COPY personalize.events (user_id, event, properties, occurred_at, message_id) FROM stdin;
alice	Order Completed	{"order_id": "o2", "total": 12.5}	2026-01-22 00:00:00+00	a3
alice	Email Clicked	{"url": "https://shop.example"}	2026-01-01 00:00:00+00	a4
alice	Order Completed	{"order_id": "o3"}	2026-01-20 00:00:00+00	a5
alice	Order Completed	{"order_id": "o4", "revenue": "12"}	2026-01-20 00:00:00+00	a6
alice	Email Clicked	{"url": "https://shop.example"}	2026-01-01 00:00:00+00	a4
\.
-- by hand, as of 2026-01-29 (half-life 14 days): opened 14 days before: 0.5; clicked 28 days
-- before: 3/4 = 0.75; orders: 5 + 5/sqrt(2) (7 days) + 5 * 2^(-9/14) (o3 on 01-20: no amount, so not a
-- purchase, but still engagement); o4 (a string revenue) fails the built-in schema and is quarantined;
-- the duplicate a4 counts once. Purchases: o1 30 + o2 12.5 (total, no revenue) = 42.5.
SELECT p.user_id, p.purchase_count, p.purchase_total, p.first_purchase_at, p.last_purchase_at, p.purchases_ignored,
       p.engagement_as_of, round(personalize.engagement_score(p.profile_id, '2026-01-29')::numeric, 9) AS engagement,
       round((0.5 + 0.75 + 5 + 5 / sqrt(2) + 5 * power(2, -9 / 14.0))::numeric, 9) AS by_hand,
       round(personalize.engagement_score(p.profile_id, '2026-02-12')::numeric, 9) AS "14 days later: half"
  FROM personalize.profiles p WHERE p.user_id = 'alice';
SELECT p.user_id, s.score FROM personalize.engagement_scores('2026-01-29') s JOIN personalize.profiles p USING (profile_id)
 ORDER BY 1;
-- reading before the latest folded event is an error; an unknown profile is an error
SELECT personalize.engagement_score(p.profile_id, '2026-01-28') FROM personalize.profiles p WHERE p.user_id = 'alice';
SELECT personalize.engagement_score(-1, '2026-01-29');
SELECT s.score IS NULL AS "bulk read before latest event: NULL" FROM personalize.engagement_scores('2026-01-28') s
  JOIN personalize.profiles p USING (profile_id) WHERE p.user_id = 'alice';

-- interests: carol's shoes: viewed 14 days before (0.5 / 2) + added (2) = 2.25; bags: viewed 0.5
COPY personalize.events (user_id, event, properties, occurred_at, message_id) FROM stdin;
carol	Product Added	{"product_id": "p1", "category": "shoes"}	2026-01-29 00:00:00+00	c1
carol	Product Viewed	{"product_id": "p2", "category": "bags"}	2026-01-29 00:00:00+00	c2
carol	Product Viewed	{"product_id": "p1", "category": "shoes"}	2026-01-15 00:00:00+00	c3
carol	Product Viewed	{"product_id": "p3", "category": ""}	2026-01-15 00:00:00+00	c4
carol	Product Viewed	{"product_id": "p3", "category": 7}	2026-01-15 00:00:00+00	c5
carol	Email Opened	{"category": "hats"}	2026-01-15 00:00:00+00	c6
\.
SELECT i.category, i.score, i.as_of FROM personalize.profile_interests i
  JOIN personalize.profiles p USING (profile_id) WHERE p.user_id = 'carol' ORDER BY 1;
SELECT personalize.top_interests(p.profile_id, 3, '2026-01-29') AS top3, personalize.top_interests(p.profile_id, 1, '2026-01-29') AS top1,
       personalize.top_interests(p.profile_id, 0, '2026-01-29') AS none
  FROM personalize.profiles p WHERE p.user_id = 'carol';
SELECT personalize.top_interests(p.profile_id, 3, '2026-01-20') FROM personalize.profiles p WHERE p.user_id = 'carol';
SELECT personalize.top_interests(p.profile_id, -1, '2026-01-29') FROM personalize.profiles p WHERE p.user_id = 'carol';
-- three later bags views overtake shoes: as of 2026-03-01 shoes = 2.25 * 2^(-31/14) = 0.48, bags = 0.5 * 2^(-31/14) + 3 * 0.5 = 1.61
INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id)
SELECT 'carol', 'Product Viewed', '{"category": "bags"}', '2026-03-01', 'c-bags-' || i FROM generate_series(1, 3) i;
SELECT personalize.top_interests(p.profile_id, 3, '2026-03-01') FROM personalize.profiles p WHERE p.user_id = 'carol';

-- ---- score_rfm: one pass over the profiles, from live state
-- five buyers with 1..5 orders of 10 each, the last one on day k of January
INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id)
SELECT 'buyer' || k, 'Order Completed', jsonb_build_object('order_id', k || '-' || j, 'revenue', 10),
       '2026-01-01'::timestamptz + (k - 1) * interval '1 day' - (j - 1) * interval '1 hour', 'b' || k || '-' || j
  FROM generate_series(1, 5) k, generate_series(1, k) j;
-- 7 purchasers now: alice (2 orders, 42.5, last 01-29), buyers 1..5 (k orders, 10k, last 01-0k).
-- As of 2026-02-01: recency days alice 3, buyer k 32 - k = 31, 30, 29, 28, 27.
-- Recency sorted: 3, 27, 28, 29, 30, 31 (n = 6, index 1 + 5p = 2, 3, 4, 5: exact order statistics)
-- gives quantiles 27, 28, 29, 30 and breakpoints 28, 29, 30, 31: alice 5, buyer5 (27) 5, buyer4 (28) 4,
-- buyer3 3, buyer2 2, buyer1 (31) 1. Frequency 2, 1, 2, 3, 4, 5 sorted 1, 2, 2, 3, 4, 5: quantiles
-- 2, 2, 3, 4, breakpoints 3, 3, 4, 5: 1 -> 1, 2 -> 1, 3 -> 3, 4 -> 4, 5 -> 5. Monetary 42.5, 10, 20, 30,
-- 40, 50 sorted 10, 20, 30, 40, 42.5, 50: quantiles 20, 30, 40, 42.5, breakpoints 21, 31, 41, 43.5:
-- 10 -> 1, 20 -> 1, 30 -> 2, 40 -> 3, 42.5 -> 4, 50 -> 5.
-- Segments: alice (5,1,4) Others; buyer1 (1,1,1) Hibernating; buyer2 (2,1,1) About To Sleep;
-- buyer3 (3,3,2) Potential Loyalist; buyer4 (4,4,3) Loyal Customers; buyer5 (5,5,5) Champions.
SELECT personalize.score_rfm('2026-02-01') AS changed;
SELECT recency_breaks, frequency_breaks, monetary_breaks, profiles, changed FROM personalize.rfm_runs ORDER BY run_id DESC LIMIT 1;
SELECT p.user_id, p.purchase_count, p.purchase_total, p.rfm_r, p.rfm_f, p.rfm_m, p.rfm_segment
  FROM personalize.profiles p WHERE p.purchase_count > 0 ORDER BY p.user_id;
SELECT personalize.score_rfm('2026-02-01') AS "unchanged: 0";
SELECT personalize.score_rfm('2026-01-28');
SELECT personalize.score_rfm('2026-02-01', 6);
SELECT personalize.score_rfm('infinity');
-- non-purchasers carry no segment
SELECT count(*) AS unscored_non_buyers FROM personalize.profiles WHERE purchase_count = 0 AND rfm_segment IS NULL;
SELECT count(*) FROM personalize.profiles WHERE purchase_count = 0;

-- ---- property: live state = full recompute after a random stream of 10,000 events, 60 days of
-- shuffled timestamps, in 20 statements, with re-sent message ids and merges along the way
SELECT setseed(0.20261128);
CREATE TABLE stream AS
SELECT i, 'p' || (1 + floor(random() * 200))::int AS user_id,
       (ARRAY['Email Opened', 'Email Clicked', 'Product Viewed', 'Product Added', 'Checkout Started',
              'Order Completed', 'Page Viewed'])[1 + floor(random() * 7)::int] AS event,
       '2026-01-01'::timestamptz + random() * interval '60 days' AS occurred_at,
       (ARRAY['shoes', 'bags', 'hats', 'shirts'])[1 + floor(random() * 4)::int] AS category,
       round((random() * 200)::numeric, 2) AS amount, floor(random() * 3)::int AS amount_key,
       floor(random() * 20)::int AS batch, random() < 0.02 AS resend
  FROM generate_series(1, 10000) i;
DO $$
BEGIN
    FOR b IN 0..19 LOOP
        INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id)
        SELECT s.user_id, s.event,
               CASE WHEN s.event = 'Order Completed'
                    THEN jsonb_build_object('order_id', s.i) || CASE s.amount_key WHEN 0 THEN jsonb_build_object('revenue', s.amount)
                                                                   WHEN 1 THEN jsonb_build_object('total', s.amount) ELSE '{}' END
                    WHEN s.event LIKE 'Product%' THEN jsonb_build_object('product_id', s.i, 'category', s.category)
                    ELSE '{}' END,
               s.occurred_at, 'prop-' || s.i
          FROM stream s WHERE s.batch = b OR (s.resend AND s.batch = b - 1);
        IF b IN (7, 13) THEN   -- p1 turns out to be p2, then p3 to be p4: their profiles merge
            PERFORM personalize.alias('p' || (b - 6), 'p' || (b - 5));
        END IF;
    END LOOP;
END
$$;
SELECT count(*) AS events, count(DISTINCT profile_id) AS profiles FROM personalize.events WHERE message_id LIKE 'prop-%';
SELECT count(*) AS merges FROM personalize.merge_log WHERE cause = 'alias';
-- the full recompute from the events, and the comparison, as of 2026-03-15
CREATE TABLE recomputed AS
SELECT e.profile_id,
       personalize.engagement(e.occurred_at, w.engagement_weight, '14 days', '2026-03-15') AS engagement,
       sum(w.engagement_weight * power(2, -extract(epoch FROM '2026-03-15'::timestamptz - e.occurred_at)::float8 / (14 * 86400))) AS formula,
       personalize.rfm_agg(e.occurred_at, CASE WHEN e.event = 'Order Completed' THEN personalize.purchase_amount(e.properties) END,
                           '2026-03-15') FILTER (WHERE e.event = 'Order Completed') AS rfm,
       count(*) FILTER (WHERE e.event = 'Order Completed' AND personalize.purchase_amount(e.properties) IS NULL) AS no_amount
  FROM personalize.events e LEFT JOIN personalize.scoring_events w USING (event)
 WHERE e.message_id LIKE 'prop-%' GROUP BY e.profile_id;
CREATE FUNCTION live_vs_recomputed() RETURNS TABLE (profiles bigint, engagement_mismatches bigint, formula_mismatches bigint,
                                                    rfm_mismatches bigint, interest_rows bigint, interest_mismatches bigint)
LANGUAGE sql AS $$
SELECT count(*),
       count(*) FILTER (WHERE NOT abs(personalize.engagement_score(p.profile_id, '2026-03-15') / r.engagement - 1) < 1e-9),
       count(*) FILTER (WHERE NOT abs(r.formula / r.engagement - 1) < 1e-9),
       count(*) FILTER (WHERE (p.purchase_count, p.purchase_total, p.first_purchase_at, p.last_purchase_at, p.purchases_ignored)
                              IS DISTINCT FROM (coalesce((r.rfm).frequency, 0), coalesce((r.rfm).monetary, 0),
                                                (r.rfm).first_purchase, (r.rfm).last_purchase, r.no_amount)),
       (SELECT count(*) FROM personalize.profile_interests),
       (SELECT count(*) FROM personalize.profile_interests i
          FULL JOIN (SELECT e.profile_id, e.properties ->> 'category' AS category,
                            sum(w.interest_weight * power(2, -extract(epoch FROM '2026-03-15'::timestamptz - e.occurred_at)::float8 / (14 * 86400))) AS score
                       FROM personalize.events e JOIN personalize.scoring_events w USING (event)
                      WHERE w.interest_weight > 0 AND e.properties ->> 'category' <> ''
                      GROUP BY 1, 2) f USING (profile_id, category)
         WHERE NOT abs(personalize.decay(i.score, i.as_of, '2026-03-15', '14 days') / f.score - 1) < 1e-9
            OR i.score IS NULL OR f.score IS NULL)
  FROM personalize.profiles p JOIN recomputed r USING (profile_id)
$$;
SELECT * FROM live_vs_recomputed();
-- rebuild_scores() (the recompute twin) lands on the same state
SELECT count(*) AS profiles FROM personalize.profiles \gset
SELECT personalize.rebuild_scores() AS rebuilt, :profiles AS profiles;
SELECT * FROM live_vs_recomputed();
-- a weight set to 0: rebuild_scores() removes the interests that no longer count, then puts them back
UPDATE personalize.scoring_events SET interest_weight = 0 WHERE event = 'Product Viewed';
SELECT personalize.rebuild_scores() = :profiles AS rebuilt;
SELECT * FROM live_vs_recomputed();
UPDATE personalize.scoring_events SET interest_weight = 0.5 WHERE event = 'Product Viewed';
SELECT personalize.rebuild_scores() = :profiles AS rebuilt;
SELECT * FROM live_vs_recomputed();

-- merge_profiles by hand: dave's engagement 1 + 3 + 5 = 9 at 01-10 and erin's 1 + 1 + 0.5 = 2.5 at 01-24
-- (14 days later) sum to 9 / 2 + 2.5 = 7 at 01-24; purchases and interests move along
COPY personalize.events (user_id, event, properties, occurred_at, message_id) FROM stdin;
dave	Email Opened	{}	2026-01-10 00:00:00+00	d1
dave	Email Clicked	{}	2026-01-10 00:00:00+00	d2
dave	Order Completed	{"order_id": "d", "revenue": 7}	2026-01-10 00:00:00+00	d3
erin	Email Opened	{}	2026-01-24 00:00:00+00	e1
erin	Email Opened	{}	2026-01-24 00:00:00+00	e2
erin	Product Viewed	{"category": "shoes"}	2026-01-24 00:00:00+00	e3
\.
SELECT personalize.resolve_identity('user_id', 'dave') AS dave, personalize.resolve_identity('user_id', 'erin') AS erin \gset
SELECT personalize.merge_profiles(:dave, :erin) = :dave AS returns_keep;
SELECT p.engagement, p.engagement_as_of, personalize.engagement_score(p.profile_id, '2026-01-24') AS "9 * 0.5 + 2.5 = 7",
       p.purchase_count, p.purchase_total, personalize.top_interests(p.profile_id, 5, '2026-01-24')
  FROM personalize.profiles p WHERE p.user_id = 'dave';
-- forget erases interests too
SELECT personalize.forget(p.profile_id) FROM personalize.profiles p WHERE p.user_id = 'dave';
SELECT count(*) AS interests_left FROM personalize.profile_interests i
 WHERE NOT EXISTS (SELECT FROM personalize.profiles p WHERE p.profile_id = i.profile_id);
DROP TABLE ev, stream, recomputed;
DROP FUNCTION live_vs_recomputed();
DROP EXTENSION personalize;
