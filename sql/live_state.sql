-- The live state a profile keeps. The live cart (src/scoring/cart.c) against an independent reference: the cart rebuilt from the
-- events by the plpgsql implementation context() used before (below, verbatim), after random
-- streams of Product Added / Removed / Order Completed events ingested out of time order in
-- several statements, with ties, keyless events, partial and non-numeric quantities, merges and
-- forget; and context() from live state against the exact path field by field.
CREATE EXTENSION personalize;
SELECT personalize.maintain('2026-03-15', 1, 1);
-- carts keyed by sku or name, with any quantity: schemas that accept them
UPDATE personalize.event_schemas SET schema = NULL WHERE event IN ('Product Added', 'Product Removed', 'Order Completed');
CREATE FUNCTION pg_temp.ref_cart(profile_id bigint, as_of timestamptz)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ordered_at timestamptz;
    ev record;
    k text;
    qty numeric;
    lines jsonb := '{}';
    keys text[] := '{}';
    items jsonb := '[]';
    item jsonb;
    n numeric := 0;
    total numeric := 0;
    updated timestamptz;
BEGIN
    SELECT max(e.occurred_at) INTO ordered_at FROM personalize.events e
     WHERE e.profile_id = ref_cart.profile_id AND e.event = 'Order Completed' AND e.occurred_at <= as_of;
    FOR ev IN
        SELECT e.event, e.properties, e.occurred_at FROM personalize.events e
         WHERE e.profile_id = ref_cart.profile_id AND e.event IN ('Product Added', 'Product Removed')
           AND e.occurred_at <= as_of AND (ordered_at IS NULL OR e.occurred_at > ordered_at)
         ORDER BY e.occurred_at, e.event_id
    LOOP
        k := coalesce(ev.properties ->> 'product_id', ev.properties ->> 'sku', ev.properties ->> 'name');
        CONTINUE WHEN k IS NULL;
        qty := CASE WHEN jsonb_typeof(ev.properties -> 'quantity') = 'number'
                    THEN (ev.properties ->> 'quantity')::numeric END;
        updated := ev.occurred_at;
        IF ev.event = 'Product Added' THEN
            qty := coalesce(qty, 1) + coalesce((lines -> k ->> 'quantity')::numeric, 0);
            IF NOT lines ? k THEN
                keys := keys || k;
            END IF;
            lines := jsonb_set(lines, ARRAY[k], ev.properties || jsonb_build_object('quantity', qty));
        ELSIF lines ? k THEN
            qty := (lines -> k ->> 'quantity')::numeric - coalesce(qty, (lines -> k ->> 'quantity')::numeric);
            IF qty > 0 THEN
                lines := jsonb_set(lines, ARRAY[k, 'quantity'], to_jsonb(qty));
            ELSE
                lines := lines - k;
                keys := array_remove(keys, k);
            END IF;
        END IF;
    END LOOP;
    FOREACH k IN ARRAY keys LOOP
        item := lines -> k;
        items := items || jsonb_build_array(item);
        n := n + (item ->> 'quantity')::numeric;
        IF jsonb_typeof(item -> 'price') = 'number' THEN
            total := total + (item ->> 'price')::numeric * (item ->> 'quantity')::numeric;
        END IF;
    END LOOP;
    RETURN jsonb_build_object('items', items, 'item_count', n, 'total', total, 'updated_at', updated);
END
$$;

-- A seeded random stream: 20 users, 1500 cart and other events over 3 days, on whole hours (ties),
-- keys by product_id, sku or name (or none), quantities a number, absent or a string.
SELECT setseed(0.13);
CREATE TEMP TABLE stream AS
SELECT i, 'u' || (1 + floor(random() * 20)::int) AS user_id,
       (ARRAY['Product Added', 'Product Added', 'Product Added', 'Product Removed', 'Product Removed',
              'Order Completed', 'Product Viewed'])[1 + floor(random() * 7)::int] AS event,
       timestamptz '2026-03-01' + floor(random() * 72) * interval '1 hour' AS occurred_at,
       floor(random() * 6)::int AS k, random() AS r, floor(random() * 4)::int AS batch
  FROM generate_series(1, 1500) i;
CREATE TEMP TABLE stream_events AS
SELECT s.i, s.user_id, s.event, s.occurred_at, s.batch, 'm' || s.i AS message_id,
       CASE s.event
         WHEN 'Order Completed' THEN jsonb_build_object('order_id', 'o' || s.i, 'revenue', 10)
         ELSE (CASE s.k WHEN 0 THEN jsonb_build_object('product_id', 'p' || floor(s.r * 4)::int)
                        WHEN 1 THEN jsonb_build_object('product_id', floor(s.r * 4)::int)
                        WHEN 2 THEN jsonb_build_object('sku', 's' || floor(s.r * 3)::int)
                        WHEN 3 THEN jsonb_build_object('name', 'n' || floor(s.r * 2)::int)
                        WHEN 4 THEN jsonb_build_object('product_id', 'p1', 'name', 'x')
                        ELSE '{}'::jsonb END)
              || CASE WHEN s.r < 0.5 THEN jsonb_build_object('quantity', 1 + floor(s.r * 10)::int)
                      WHEN s.r < 0.6 THEN '{"quantity": "2"}' WHEN s.r < 0.7 THEN '{"quantity": 0.5}' ELSE '{}' END
              || CASE WHEN s.r < 0.8 THEN jsonb_build_object('price', round((s.r * 30)::numeric, 2))
                      WHEN s.r < 0.9 THEN '{"price": "free"}' ELSE '{}' END
              || jsonb_build_object('category', (ARRAY['mugs', 'tees', 'bags', 'hats'])[1 + s.i % 4])
       END AS properties
  FROM stream s;
-- four statements, each in reverse time order, the later statements holding earlier events too
SELECT count(*) FROM (
  SELECT personalize.track(user_id, event, properties, occurred_at, message_id)
    FROM stream_events WHERE batch = 0 ORDER BY occurred_at DESC, i) x;
INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id)
SELECT user_id, event, properties, occurred_at, message_id FROM stream_events WHERE batch = 1 ORDER BY occurred_at DESC;
INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id)
SELECT user_id, event, properties, occurred_at, message_id FROM stream_events WHERE batch = 2 ORDER BY random();
-- merges: u2 into u1 (interleaved carts), and an anonymous visitor's cart into u3 at its sign-in
SELECT personalize.resolve_identity('user_id', 'u1') AS u1, personalize.resolve_identity('user_id', 'u2') AS u2 \gset
SELECT personalize.merge_profiles(:u1, :u2, force => true) = :u1 AS returns_kept;
SELECT personalize.track(NULL, 'Product Added', '{"product_id": "anon", "price": 3}', '2026-03-02 05:30', 'anon1', 'visitor-1');
INSERT INTO personalize.events (user_id, anonymous_id, event, properties, occurred_at, message_id)
SELECT user_id, CASE WHEN user_id = 'u3' THEN 'visitor-1' END, event, properties, occurred_at, message_id
  FROM stream_events WHERE batch = 3 ORDER BY random();
-- forget u4: its cart goes with it
SELECT personalize.forget(personalize.resolve_identity('user_id', 'u4'));

-- The checks, per profile: the live cart equals the reference as of after every event; context()
-- as of then (live) and as of earlier times (exact path) equal the reference cart; the live
-- state equals the full recompute field by field.
SELECT count(*) AS profiles, count(*) FILTER (WHERE jsonb_array_length(p.cart -> 'items') > 0) AS with_items,
       count(*) FILTER (WHERE p.cart || jsonb_build_object('updated_at', p.cart_updated_at)
                              = pg_temp.ref_cart(p.profile_id, '2027-01-01')) AS live_cart_equal,
       count(*) FILTER (WHERE personalize.context(p.profile_id, '2027-01-01') -> 'cart'
                              = pg_temp.ref_cart(p.profile_id, '2027-01-01')) AS context_cart_equal
  FROM personalize.profiles p;
SELECT count(*) AS checks,
       count(*) FILTER (WHERE personalize.context(p.profile_id, t) -> 'cart' = pg_temp.ref_cart(p.profile_id, t)) AS exact_cart_equal
  FROM personalize.profiles p,
       generate_series(timestamptz '2026-03-01 06:00', '2026-03-04', '6 hours') t;
SELECT count(*) AS profiles,
       count(*) FILTER (WHERE (x.cart_log, x.cart, x.cart_updated_at, x.purchase_count, x.purchase_total, x.first_purchase_at,
                               x.last_purchase_at, x.purchases_ignored, x.engagement_as_of)
                              IS NOT DISTINCT FROM
                              (p.cart_log, p.cart, p.cart_updated_at, p.purchase_count, p.purchase_total, p.first_purchase_at,
                               p.last_purchase_at, p.purchases_ignored, p.engagement_as_of)
                          AND abs(x.engagement - p.engagement) <= 1e-9 * greatest(1, abs(p.engagement))) AS equal_fields
  FROM personalize.profiles p, personalize._live_state_at(p.profile_id, 'infinity') x;
-- top interests from live state (profile_interests decayed to as_of) and by the exact path
-- (recomputed from the events) agree
SELECT count(*) AS profiles,
       count(*) FILTER (WHERE personalize.context(p.profile_id, '2027-01-01') -> 'top_interests'
                              = to_jsonb(personalize._interests_at(p.profile_id, 5, '2027-01-01'))) AS equal,
       count(*) FILTER (WHERE cardinality(personalize._interests_at(p.profile_id, 5, '2027-01-01')) > 0) AS with_interests
  FROM personalize.profiles p;
-- rebuild_scores() recomputes the same carts
CREATE TEMP TABLE before AS SELECT profile_id, cart, cart_log, cart_updated_at FROM personalize.profiles;
SELECT count(*) AS profiles FROM personalize.profiles \gset
SELECT personalize.rebuild_scores() AS rebuilt, :profiles AS profiles;
SELECT count(*) FILTER (WHERE (b.cart, b.cart_log, b.cart_updated_at) IS NOT DISTINCT FROM (p.cart, p.cart_log, p.cart_updated_at)) AS unchanged,
       count(*) AS profiles
  FROM before b JOIN personalize.profiles p USING (profile_id);

-- by hand: partial removal, a remove of all, an add at the time of an order (before it), an order
-- earlier than the cart's events arriving last, sku and name keys
SELECT personalize.track('hand', 'Product Added', '{"sku": "a", "price": 2, "quantity": 5}', '2026-03-10 10:00', 'h1');
SELECT personalize.track('hand', 'Product Removed', '{"sku": "a", "quantity": 2}', '2026-03-10 11:00', 'h2');
SELECT personalize.track('hand', 'Product Added', '{"name": "b", "price": 1.5}', '2026-03-10 12:00', 'h3');
SELECT cart FROM personalize.profiles WHERE user_id = 'hand';
SELECT personalize.track('hand', 'Product Added', '{"name": "c", "price": 9}', '2026-03-10 09:00', 'h4');
SELECT personalize.track('hand', 'Order Completed', '{"order_id": "o", "revenue": 1}', '2026-03-10 09:00', 'h5');
SELECT cart, cart_updated_at FROM personalize.profiles WHERE user_id = 'hand';
SELECT personalize.track('hand', 'Order Completed', '{"order_id": "o2", "revenue": 1}', '2026-03-10 11:30', 'h6');
SELECT cart, cart_updated_at FROM personalize.profiles WHERE user_id = 'hand';
SELECT personalize.track('hand', 'Product Removed', '{"name": "b"}', '2026-03-10 13:00', 'h7');
SELECT cart, cart_updated_at FROM personalize.profiles WHERE user_id = 'hand';

-- Engagement stamped in the future (issue 11): with the clock at Feb 10 and one Email Opened
-- (weight 1) at Feb 12, the score as of Feb 10 is 0 (the event has not happened); it is 1 at Feb 12
-- and, by hand, 2^(-17/14) = 0.43099 at Mar 1 (half-life 14 days), 2^(-21/14) = 0.35355 at Mar 5;
-- it falls below 0.3 at Feb 12 + 14·log2(1/0.3) = 24.32 days, on Mar 8 at about 07:37.
SET personalize.clock = '2026-02-10';
SELECT personalize.create_segment('eng105', '{"engagement": {"op": "gte", "value": 1.05}}', '2026-02-10') AS eng105,
       personalize.create_segment('eng03', '{"engagement": {"op": "gte", "value": 0.3}}', '2026-02-10') AS eng03,
       personalize.create_segment('eng10', '{"engagement": {"op": "gte", "value": 10}}', '2026-02-10') AS eng10;
SELECT personalize.track('future', 'Email Opened', '{}', '2026-02-12', 'f1');
SELECT personalize.track('far', 'Email Opened', '{}', '2030-01-01', 'f2');
SELECT p.user_id, s.name, personalize.in_segment(s.name, p.profile_id) AS member,
       (SELECT min(x.recheck_at) FROM personalize.segment_pending x
         WHERE x.segment_id = s.segment_id AND x.profile_id = p.profile_id) AS pending_recheck
  FROM personalize.profiles p, personalize.segments s
 WHERE p.user_id IN ('future', 'far') AND s.name LIKE 'eng%' ORDER BY 1, 2;
SELECT round(personalize._engagement_from_events(profile_id, '2026-02-10')::numeric, 5) AS feb10,
       round(personalize.engagement_score(profile_id, '2026-03-01')::numeric, 5) AS mar1
  FROM personalize.profiles WHERE user_id = 'future';
-- tick's count of changes against the memberships that changed, counted from segment_members
CREATE FUNCTION pg_temp.tick_checked(t timestamptz, OUT changes bigint, OUT membership_changes bigint)
LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE members_before AS SELECT segment_id, profile_id FROM personalize.segment_members;
    changes := personalize.tick(t);
    SELECT count(*) INTO membership_changes
      FROM ((SELECT * FROM members_before EXCEPT SELECT segment_id, profile_id FROM personalize.segment_members)
            UNION ALL
            (SELECT segment_id, profile_id FROM personalize.segment_members EXCEPT SELECT * FROM members_before)) d;
    DROP TABLE members_before;
END
$$;
SELECT * FROM pg_temp.tick_checked('2026-02-13');
SELECT s.name, personalize.in_segment(s.name, p.profile_id) AS member
  FROM personalize.profiles p, personalize.segments s WHERE p.user_id = 'future' AND s.name LIKE 'eng%' ORDER BY 1;
SELECT * FROM pg_temp.tick_checked('2026-03-05');
SELECT s.name, personalize.in_segment(s.name, p.profile_id) AS member
  FROM personalize.profiles p, personalize.segments s WHERE p.user_id = 'future' AND s.name LIKE 'eng%' ORDER BY 1;
SELECT * FROM pg_temp.tick_checked('2026-03-09');
SELECT s.name, personalize.in_segment(s.name, p.profile_id) AS member
  FROM personalize.profiles p, personalize.segments s WHERE p.user_id = 'future' AND s.name LIKE 'eng%' ORDER BY 1;
-- a full refresh agrees with the live path
SELECT name, (personalize.refresh_segment(name, '2026-03-09')).* FROM personalize.segments WHERE name LIKE 'eng%' ORDER BY 1;
RESET personalize.clock;

DROP EXTENSION personalize;

-- The upgrade from 0.1 back-fills the live cart from the events already stored.
CREATE EXTENSION personalize VERSION '0.1';
SELECT personalize.maintain('2026-03-15', 1, 1);
SELECT personalize.track('up', 'Product Added', '{"product_id": "p1", "price": 2, "quantity": 2}', '2026-03-10 10:00', 'u1');
SELECT personalize.track('up', 'Product Added', '{"product_id": "p2", "price": 5}', '2026-03-10 10:30', 'u2');
SELECT personalize.track('up', 'Product Removed', '{"product_id": "p1", "quantity": 1}', '2026-03-10 11:00', 'u3');
ALTER EXTENSION personalize UPDATE;
SELECT cart, cart_updated_at FROM personalize.profiles WHERE user_id = 'up';
DROP EXTENSION personalize;
