-- A generated store with planted co-purchase structure, for the offline evaluation of
-- personalize.recommend() (test/suites/recommend_eval, bench/predict.sh). :customers customers
-- (psql variable); 60 items in 12 groups of 5 ('g<group>-<k>'), category = 'cat<group % 6>'. Each
-- customer has a favourite group (groups with low numbers are favoured more often) and a second
-- one; an order's product is from the favourite group with probability 0.75, the second 0.2, any
-- item 0.05; within a group, lower k sells more. Each order is preceded by two views of the same
-- kind. Orders fall between 2026-01-01 and 2026-06-30; 2026-05-01 splits training from test.
SELECT setseed(0.31);
SELECT personalize.maintain('2026-03-15', 4, 3);
CREATE TEMP TABLE store_customers AS
SELECT c, floor(12 * random() ^ 1.5)::int AS fav, floor(12 * random())::int AS second,
       2 + floor(7 * random())::int AS orders
FROM generate_series(1, :customers) c;
-- Picks an item for a customer from a uniform draw u and a within-group draw v.
CREATE FUNCTION pg_temp.pick(fav int, second int, u float8, v float8, w float8) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT 'g' || CASE WHEN u < 0.75 THEN fav WHEN u < 0.95 THEN second ELSE floor(12 * w)::int END
           || '-' || floor(5 * v ^ 2)::int
$$;
CREATE TEMP TABLE store_events AS
SELECT c.c, o, kind, pg_temp.pick(c.fav, c.second, random(), random(), random()) AS item,
       timestamptz '2026-01-01 00:00+00' + random() * interval '180 days' AS at
FROM store_customers c, generate_series(1, c.orders) o,
     (VALUES ('Order Completed'), ('Product Viewed'), ('Product Viewed')) k(kind);
INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id)
SELECT 's' || e.c, e.kind,
       CASE WHEN e.kind = 'Order Completed'
            THEN jsonb_build_object('order_id', 'o' || e.c || '-' || e.o || '-' || e.item, 'revenue', 20,
                                    'products', jsonb_build_array(jsonb_build_object('product_id', e.item, 'category', e.category)))
            ELSE jsonb_build_object('product_id', e.item, 'category', e.category) END,
       e.at, 'm' || e.c || '-' || e.o || '-' || e.kind || '-' || e.item || '-' || e.at
FROM (SELECT s.*, 'cat' || (split_part(substr(s.item, 2), '-', 1)::int % 6) AS category FROM store_events s) e;
SELECT accepted AS store_events, duplicates, rejected FROM personalize.last_ingest();
