-- The cart in context(profile_id, as_of), at its edges: which property keys a line, partial and
-- unknown removals, an add stamped with the order's own time, and prices or quantities that are
-- not JSON numbers. Every expected cart is worked out by hand in the comment above its query,
-- from the documented rule (README, "context"): Product Added events after the last Order
-- Completed up to as_of, one line per product_id (else sku, else name) with the latest
-- properties and the summed quantity (default 1), less Product Removed (its quantity, or the
-- whole line); total = sum of price x quantity over numeric prices.
CREATE EXTENSION personalize;
\set VERBOSITY terse
SET timezone = 'UTC';
SELECT personalize.maintain('2026-02-15', 1, 1) AS partitions;
-- The built-in schema of Product Added requires a product_id, a numeric price and an integer
-- quantity: such adds are quarantined, and reach no cart.
COPY personalize.events (user_id, event, properties, occurred_at, message_id) FROM stdin;
strict	Product Added	{"sku": "S1", "price": 10}	2026-02-01 10:00:00+00	q1
strict	Product Added	{"product_id": "p1", "price": "12.50"}	2026-02-01 10:00:00+00	q2
strict	Product Added	{"product_id": "p1", "price": 1, "quantity": "2"}	2026-02-01 10:00:00+00	q3
\.
SELECT reason, path FROM personalize.rejected_events ORDER BY rejected_id;
SELECT count(*) AS strict_profiles FROM personalize.profiles WHERE user_id = 'strict';
-- The cart's rules are for the events a schema lets through: an admin who drops the schema of
-- Product Added lets every add in, as below.
UPDATE personalize.event_schemas SET schema = NULL WHERE event = 'Product Added';
COPY personalize.events (user_id, event, properties, occurred_at, message_id) FROM stdin;
keys	Product Added	{"product_id": "p1", "sku": "S1", "name": "Mug", "price": 10}	2026-02-01 10:00:00+00	k1
keys	Product Added	{"sku": "S1", "name": "Mug", "price": 10}	2026-02-01 10:01:00+00	k2
keys	Product Added	{"name": "Mug", "price": 10}	2026-02-01 10:02:00+00	k3
keys	Product Added	{"sku": "S2", "name": "Tea", "price": 4, "quantity": 2}	2026-02-01 10:03:00+00	k4
keys	Product Added	{"sku": "S2", "name": "Green tea", "price": 5}	2026-02-01 10:04:00+00	k5
keys	Product Added	{"price": 99}	2026-02-01 10:05:00+00	k6
keys	Product Removed	{"sku": "S1"}	2026-02-01 10:06:00+00	k7
removals	Product Removed	{"product_id": "p4"}	2026-02-01 09:00:00+00	r0
removals	Product Added	{"product_id": "p1", "price": 2, "quantity": 5}	2026-02-01 10:00:00+00	r1
removals	Product Added	{"product_id": "p2", "price": 1.5, "quantity": 4}	2026-02-01 10:00:01+00	r2
removals	Product Added	{"product_id": "p3", "price": 3, "quantity": 2}	2026-02-01 10:00:02+00	r3
removals	Product Added	{"product_id": "p4", "price": 7}	2026-02-01 10:00:03+00	r4
removals	Product Removed	{"product_id": "p1", "quantity": 2}	2026-02-01 11:00:00+00	r5
removals	Product Removed	{"product_id": "p2", "quantity": 1}	2026-02-01 11:00:01+00	r6
removals	Product Removed	{"product_id": "p9", "quantity": 1}	2026-02-01 11:00:02+00	r7
removals	Product Removed	{"product_id": "p1"}	2026-02-01 12:00:00+00	r8
removals	Product Removed	{"product_id": "p2", "quantity": 10}	2026-02-01 12:00:01+00	r9
removals	Product Removed	{"product_id": "p3", "quantity": "1"}	2026-02-01 12:00:02+00	r10
ordered	Product Added	{"product_id": "p1", "price": 1}	2026-02-01 10:00:00+00	o1
ordered	Order Completed	{"order_id": "x", "revenue": 1}	2026-02-01 12:00:00+00	o2
ordered	Product Added	{"product_id": "p2", "price": 2}	2026-02-01 12:00:00+00	o3
ordered	Product Added	{"product_id": "p3", "price": 3}	2026-02-01 12:00:00.000001+00	o4
prices	Product Added	{"product_id": "p1", "price": "12.50", "quantity": 2}	2026-02-01 10:00:00+00	p1
prices	Product Added	{"product_id": "p2", "price": null}	2026-02-01 10:00:01+00	p2
prices	Product Added	{"product_id": "p3", "price": 3, "quantity": "2"}	2026-02-01 10:00:02+00	p3
prices	Product Added	{"product_id": "p4", "price": 1e2}	2026-02-01 10:00:03+00	p4
prices	Product Added	{"product_id": "p5", "price": {"amount": 5}}	2026-02-01 10:00:04+00	p5
\.
-- One row per line: its key property, quantity and price as the context shows them.
CREATE FUNCTION cart_lines(who text, as_of timestamptz)
RETURNS TABLE (line int, product_id text, sku text, name text, quantity jsonb, price jsonb)
LANGUAGE sql AS $$
    SELECT i.n::int, i.item ->> 'product_id', i.item ->> 'sku', i.item ->> 'name', i.item -> 'quantity', i.item -> 'price'
      FROM jsonb_array_elements(personalize.context(personalize.resolve_identity('user_id', who), as_of) -> 'cart' -> 'items')
           WITH ORDINALITY AS i(item, n)
$$;
CREATE FUNCTION cart_sums(who text, as_of timestamptz)
RETURNS TABLE (item_count jsonb, total jsonb, updated_at jsonb)
LANGUAGE sql AS $$
    SELECT c -> 'item_count', c -> 'total', c -> 'updated_at'
      FROM (SELECT personalize.context(personalize.resolve_identity('user_id', who), as_of) -> 'cart' AS c) x
$$;

-- ---- keys: product_id, else sku, else name; an add with none of them is not a line.
-- By hand: p1 (its sku S1 and name are properties, not its key), S1 (no product_id: a line of
-- its own, 10:01), Mug (name only), S2 (2 + 1 = 3, the latest properties: Green tea at 5); the
-- {"price": 99} add has no key. As of 10:05: item_count 1 + 1 + 1 + 3 = 6, total 10 + 10 + 10 +
-- 3 x 5 = 45, updated_at 10:04 (the keyless add does not count).
SELECT * FROM cart_lines('keys', '2026-02-01 10:05');
SELECT * FROM cart_sums('keys', '2026-02-01 10:05');
-- a removal by sku S1 removes the S1 line only, not p1 whose sku is also S1: 5 items, 35
SELECT * FROM cart_lines('keys', '2026-02-01 10:06');
SELECT * FROM cart_sums('keys', '2026-02-01 10:06');

-- ---- removals. By hand: the removal of p4 at 09:00 came before any p4 and removes nothing,
-- p4 added later counts. As of 11:30: p1 5 - 2 = 3, p2 4 - 1 = 3, p3 2, p4 1; p9 was never
-- added; item_count 9, total 3 x 2 + 3 x 1.5 + 2 x 3 + 7 = 23.5. updated_at is today the time of
-- the last add or removal read, the removal of p9 (never in the cart) included: 11:00:02.
SELECT * FROM cart_lines('removals', '2026-02-01 11:30');
SELECT * FROM cart_sums('removals', '2026-02-01 11:30');
-- As of 13:00: p1 removed without a quantity (the whole line), p2 removed 10 of 3 (the line goes,
-- never negative), p3 removed with the string "1", not a number, so as if no quantity was given
-- (the whole line); p4 stays: 1 item, 7.
SELECT * FROM cart_lines('removals', '2026-02-01 13:00');
SELECT * FROM cart_sums('removals', '2026-02-01 13:00');

-- ---- an order and an add at the same time: the add stamped 12:00, the order's own time, is
-- taken as part of the order; the one a microsecond later starts the next cart. As of 11:00 the
-- cart holds p1; as of 12:00 it is empty (p1 ordered, p2 with the order); as of 13:00 p3.
SELECT * FROM cart_lines('ordered', '2026-02-01 11:00');
SELECT * FROM cart_sums('ordered', '2026-02-01 12:00');
SELECT * FROM cart_lines('ordered', '2026-02-01 13:00');
SELECT * FROM cart_sums('ordered', '2026-02-01 13:00');

-- ---- prices and quantities that are not JSON numbers. By hand: p1's price is the string
-- "12.50" (listed as it is, left out of the total), quantity 2; p2's price null (left out);
-- p3's quantity is the string "2", not a number, so the default 1, price 3; p4's price 1e2 is
-- the number 100; p5's price is an object (left out). item_count 2 + 1 + 1 + 1 + 1 = 6,
-- total 1 x 3 + 1 x 100 = 103.
SELECT * FROM cart_lines('prices', '2026-02-02');
SELECT * FROM cart_sums('prices', '2026-02-02');

-- ---- the bound: a cart log keeps the latest 1000 cart events since the order (docs/limits.md),
-- kept by ingest exactly as the full recompute keeps them. By hand: 1005 adds of products b1 ..
-- b1005, one a minute, quantity 1, price 1: the latest 1000 are b6 .. b1005, so item_count 1000,
-- total 1000, oldest line b6.
INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id)
SELECT 'bulk', 'Product Added', jsonb_build_object('product_id', 'b' || g, 'price', 1, 'quantity', 1),
       '2026-02-03 00:00+00'::timestamptz + make_interval(mins => g), 'bulk-' || g
  FROM generate_series(1, 1005) g;
SELECT jsonb_array_length(cart_log -> 'ops') AS ops, cart ->> 'item_count' AS item_count, cart ->> 'total' AS total,
       cart -> 'items' -> 0 ->> 'product_id' AS oldest_line, cart_log = personalize._cart_log_from_events(profile_id) AS equals_full
  FROM personalize.profiles WHERE user_id = 'bulk';
-- an add older than all of them arrives late: it is not among the latest 1000, the cart is
-- unchanged; then a removal of b1005 arrives, the newest event: it pushes b6 out and removes
-- b1005, so b7 .. b1004: item_count 998, oldest line b7
SELECT personalize.track('bulk', 'Product Added', '{"product_id": "b0", "price": 1, "quantity": 1}', '2026-02-02 00:00+00', 'bulk-0');
SELECT jsonb_array_length(cart_log -> 'ops') AS ops, cart ->> 'item_count' AS item_count,
       cart -> 'items' -> 0 ->> 'product_id' AS oldest_line, cart_log = personalize._cart_log_from_events(profile_id) AS equals_full
  FROM personalize.profiles WHERE user_id = 'bulk';
SELECT personalize.track('bulk', 'Product Removed', '{"product_id": "b1005"}', '2026-02-03 16:46+00', 'bulk-r');
SELECT jsonb_array_length(cart_log -> 'ops') AS ops, cart ->> 'item_count' AS item_count, cart ->> 'total' AS total,
       cart -> 'items' -> 0 ->> 'product_id' AS oldest_line, cart_log = personalize._cart_log_from_events(profile_id) AS equals_full,
       personalize.context(profile_id, '2026-02-04') -> 'cart' = cart || jsonb_build_object('updated_at', cart_updated_at) AS context_equal
  FROM personalize.profiles WHERE user_id = 'bulk';

DROP FUNCTION cart_lines(text, timestamptz);
DROP FUNCTION cart_sums(text, timestamptz);
DROP EXTENSION personalize;
