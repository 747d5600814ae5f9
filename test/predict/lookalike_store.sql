-- A generated store with planted personas, for the evaluation of personalize.lookalike() and
-- personalize.kmeans() (test/suites/cluster_reference, bench/predict.sh). :customers customers
-- (psql variable), each of one of four personas (persona = c % 4, kept in the temp table
-- store_personas and in the trait "persona" for the tests only; the features never read traits):
--   0 loyal:    6 to 12 orders of about 50 over the last 200 days, the last within 20 days; views of 'home'
--   1 browser:  no order; 10 to 20 views of 'books' and 5 to 15 e-mail opens in the last 60 days
--   2 spender:  1 or 2 orders of about 400, 90 to 150 days before; views of 'tech'
--   3 lapsed:   2 to 4 orders of about 30, 200 to 300 days before; views of 'toys'
-- Every persona's amounts and counts are jittered, and a fifth of all views are of a random
-- category of the six ('home', 'books', 'tech', 'toys', 'garden', 'sport'). As of 2026-06-30.
SELECT setseed(0.47);
SELECT personalize.maintain('2026-06-30', 1, 11);
CREATE TEMP TABLE store_personas AS
SELECT c, c % 4 AS persona, random() AS u FROM generate_series(1, :customers) c;
CREATE TEMP TABLE store_events AS
-- orders
SELECT p.c, 'Order Completed' AS event, o AS n,
       CASE p.persona WHEN 0 THEN timestamptz '2026-06-30 00:00+00' - random() * 200 * interval '1 day'
                      WHEN 2 THEN timestamptz '2026-06-30 00:00+00' - (90 + 60 * random()) * interval '1 day'
                      ELSE timestamptz '2026-06-30 00:00+00' - (200 + 100 * random()) * interval '1 day' END AS at,
       round(((CASE p.persona WHEN 0 THEN 50 WHEN 2 THEN 400 ELSE 30 END) * (0.6 + 0.8 * random()))::numeric, 2) AS amount,
       NULL::text AS category
  FROM store_personas p,
       generate_series(1, CASE p.persona WHEN 0 THEN 6 + floor(7 * p.u)::int WHEN 1 THEN 0
                                         WHEN 2 THEN 1 + floor(2 * p.u)::int ELSE 2 + floor(3 * p.u)::int END) o
UNION ALL
-- a loyal customer's latest order, within the last 20 days
SELECT p.c, 'Order Completed', 0, timestamptz '2026-06-30 00:00+00' - 20 * random() * interval '1 day',
       round((50 * (0.6 + 0.8 * random()))::numeric, 2), NULL
  FROM store_personas p WHERE p.persona = 0
UNION ALL
-- views, a fifth of them of a random category
SELECT p.c, 'Product Viewed', v,
       timestamptz '2026-06-30 00:00+00' - (CASE p.persona WHEN 0 THEN 200 WHEN 1 THEN 60 WHEN 2 THEN 150 ELSE 300 END) * random() * interval '1 day',
       NULL,
       CASE WHEN random() < 0.2 THEN (ARRAY['home', 'books', 'tech', 'toys', 'garden', 'sport'])[1 + floor(6 * random())::int]
            ELSE (ARRAY['home', 'books', 'tech', 'toys'])[p.persona + 1] END
  FROM store_personas p, generate_series(1, CASE p.persona WHEN 1 THEN 10 + floor(11 * p.u)::int ELSE 2 + floor(4 * p.u)::int END) v
UNION ALL
-- a browser's e-mail opens
SELECT p.c, 'Email Opened', m, timestamptz '2026-06-30 00:00+00' - 60 * random() * interval '1 day', NULL, NULL
  FROM store_personas p, generate_series(1, 5 + floor(11 * p.u)::int) m WHERE p.persona = 1;
INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id)
SELECT 'l' || e.c, e.event,
       CASE e.event WHEN 'Order Completed' THEN jsonb_build_object('order_id', 'o' || e.c || '-' || e.n, 'revenue', e.amount)
                    WHEN 'Product Viewed' THEN jsonb_build_object('product_id', e.category || '-1', 'category', e.category)
                    ELSE '{}' END,
       e.at, 'l' || e.c || '-' || e.event || '-' || e.n
  FROM store_events e ORDER BY e.at;
UPDATE personalize.profiles p SET traits = jsonb_build_object('persona', s.persona)
  FROM store_personas s WHERE p.user_id = 'l' || s.c;
SELECT accepted AS store_events, duplicates, rejected FROM personalize.last_ingest();
