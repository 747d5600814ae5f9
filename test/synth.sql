-- Deterministic synthetic shop for `make demo` and `make bench` (loaded with psql, not part of
-- the extension). Every value is a hash of (row number, stream, seed): the same store on every
-- run and machine, whatever the plan. Events span `days` days from `start_at`; about 1% of rows
-- repeat an earlier message_id and about 0.5% break the built-in schemas of src/schema.sql.

CREATE SCHEMA synth;

-- A uniform number in [0, 1) for row i of random stream `stream` under `seed`.
CREATE FUNCTION synth.u(i bigint, stream integer, seed integer DEFAULT 42)
RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT ((pg_catalog.hashint8extended(i, stream::bigint * 1000003 + seed) >> 11)
              & ((1::bigint << 53) - 1))::float8 / (1::bigint << 53)::float8 $$;

-- The user id of user number uid.
CREATE FUNCTION synth.user_id(uid integer)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 'user-' || pg_catalog.lpad(uid::text, 6, '0') $$;

-- The anonymous (cookie) id user number uid browses with before signing in.
CREATE FUNCTION synth.anonymous_id(uid integer)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 'anon-' || pg_catalog.md5('visitor' || uid)::text $$;

-- Users whose first visits are anonymous (every fifth); their sign-in moment as a fraction of the span.
CREATE FUNCTION synth.signs_in_at(uid integer, seed integer DEFAULT 42)
RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN uid % 5 = 0 THEN 0.2 + 0.6 * synth.u(uid, 7, seed) END $$;

-- The traits identify() receives for user number uid (e-mail addresses in mixed case on purpose).
CREATE FUNCTION synth.traits(uid integer, seed integer DEFAULT 42)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT pg_catalog.jsonb_build_object(
         'email', (ARRAY['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Ken', 'Frances', 'Donald'])
                    [1 + uid % 8] || '.' || uid || '@' || (ARRAY['Example.com', 'mail.example.org', 'SHOP.example'])
                    [1 + (uid / 8) % 3],
         'first_name', (ARRAY['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Ken', 'Frances', 'Donald'])[1 + uid % 8],
         'city', (ARRAY['Lisbon', 'Berlin', 'Austin', 'Osaka', 'Nairobi', 'Lima', 'Oslo'])
                   [1 + floor(7 * synth.u(uid, 21, seed))::int],
         'plan', CASE WHEN synth.u(uid, 22, seed) < 0.2 THEN 'vip' ELSE 'standard' END)
$$;

-- n events (plus ~1% duplicates) of `users` users and some never-identified visitors, in time order.
CREATE FUNCTION synth.events(n bigint, users integer, start_at timestamptz DEFAULT '2024-01-01 00:00+00',
                             days integer DEFAULT 90, seed integer DEFAULT 42)
RETURNS TABLE (user_id text, anonymous_id text, event text, properties jsonb, occurred_at timestamptz,
               message_id text)
LANGUAGE sql STABLE
AS $$
WITH picks AS (
    -- Every row once, then ~1% of them again: the same message resent by a retrying client.
    SELECT i, 0 AS copy FROM generate_series(1, n) i
    UNION ALL
    SELECT 1 + floor(n * synth.u(j, 10, seed))::bigint, 1 FROM generate_series(1, n / 100) j
), base AS (
    SELECT i, copy,
           floor(users * synth.u(i, 1, seed) ^ 2)::int AS uid,        -- skewed: low numbers shop most
           synth.u(i, 2, seed) AS k,                                  -- which kind of event
           synth.u(i, 3, seed) AS t,                                  -- when, as a fraction of the span
           1 + floor(500 * synth.u(i, 4, seed) ^ 2)::int AS product,  -- skewed: a few bestsellers
           synth.u(i, 5, seed) AS r,
           synth.u(i, 6, seed) < 0.03 AS visitor,                     -- an anonymous visitor, never identified
           synth.u(i, 8, seed) < 0.005 AS broken,                     -- violates the schemas
           floor(4 * synth.u(i, 9, seed))::int AS breakage
      FROM picks
), shaped AS (
    SELECT b.*,
           CASE WHEN k < 0.45 THEN 'Product Viewed' WHEN k < 0.60 THEN 'Product Added'
                WHEN k < 0.67 THEN 'Checkout Started' WHEN k < 0.72 THEN 'Order Completed'
                WHEN k < 0.88 THEN 'Email Opened' WHEN k < 0.96 THEN 'Email Clicked'
                WHEN k < 0.985 THEN 'Subscribed' ELSE 'Unsubscribed' END AS kind,
           'sku-' || product AS sku,
           round(4.99 + (product % 97) * 2.5, 2) AS price,
           (ARRAY['shoes', 'shirts', 'bags', 'hats', 'jackets', 'accessories'])[1 + product % 6] AS category,
           round((20 + 300 * r)::numeric, 2) AS amount,
           date_trunc('second', start_at + (days * 86400 * t) * interval '1 second') AS at,
           coalesce(t < synth.signs_in_at(uid, seed), false) AS before_sign_in
      FROM base b
), valid AS (
    SELECT i, copy, at, kind, broken, breakage,
           CASE WHEN visitor THEN NULL WHEN before_sign_in THEN NULL ELSE synth.user_id(uid) END AS user_id,
           CASE WHEN visitor THEN 'anon-visitor-' || (i % 20011)
                WHEN before_sign_in THEN synth.anonymous_id(uid) END AS anonymous_id,
           CASE kind
             WHEN 'Product Viewed' THEN jsonb_build_object('product_id', sku, 'price', price, 'category', category)
             WHEN 'Product Added' THEN jsonb_build_object('product_id', sku, 'price', price, 'category', category,
                                                          'quantity', 1 + floor(3 * r)::int)
             WHEN 'Checkout Started' THEN jsonb_build_object('total', amount, 'currency', 'EUR')
             WHEN 'Order Completed' THEN jsonb_build_object(
                 'order_id', 'order-' || i, 'revenue', amount, 'total', amount + 4.90, 'currency', 'EUR',
                 'products', jsonb_build_array(jsonb_build_object('product_id', sku, 'price', price,
                                                                  'quantity', 1)))
             WHEN 'Email Opened' THEN jsonb_build_object('campaign_id', 'campaign-' || (1 + floor(t * days / 7)::int))
             WHEN 'Email Clicked' THEN jsonb_build_object('campaign_id', 'campaign-' || (1 + floor(t * days / 7)::int),
                                                          'url', 'https://shop.example/p/' || sku)
             ELSE jsonb_build_object('list', 'newsletter')
           END AS props
      FROM shaped
)
SELECT CASE WHEN broken AND breakage = 2 THEN NULL ELSE v.user_id END,
       CASE WHEN broken AND breakage = 2 THEN NULL ELSE v.anonymous_id END,
       CASE WHEN broken AND breakage IN (0, 1) THEN (ARRAY['Product Viewed', 'Order Completed'])[1 + breakage]
            WHEN broken THEN 'Product Added' ELSE v.kind END,
       CASE WHEN NOT broken THEN v.props
            WHEN breakage = 0 THEN jsonb_build_object('product_id', 'sku-1', 'price', -9.99)   -- negative price
            WHEN breakage = 1 THEN jsonb_build_object('revenue', 42.00)                       -- no order_id
            WHEN breakage = 2 THEN v.props                                                    -- nobody's event
            ELSE jsonb_build_object('price', 9.99, 'quantity', 1)                             -- no product_id
       END,
       v.at,
       'msg-' || seed || '-' || v.i
  FROM valid v
 ORDER BY v.at, v.i, v.copy
$$;
