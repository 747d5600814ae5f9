-- Property test: after a random stream of 10,000 events (out of order, some stamped in the
-- future), trait and consent changes, anonymous visitors merged by identify(), and ticks at
-- random times, the incrementally kept memberships and recheck times of 20 segments mixing
-- every condition kind (traits, fields, event windows with filters, consent, buckets,
-- anniversaries, decaying engagement, interests, other segments) equal a full recompute, exactly.
-- Half of the clock steps, event times and ticks fall on whole hours, so that events and ticks
-- land exactly on window edges and "ago" boundaries, for every operator.
-- sql/segment_property_tz.sql runs this file again with :zone set to a zone with a DST change
-- inside the windows: the answers (and so the output) must be the same as in UTC.
CREATE EXTENSION personalize;
\set VERBOSITY terse
\if :{?zone}
\else
\set zone UTC
\endif
SET timezone = :'zone';
SELECT personalize.maintain('2026-03-01', 2, 3);
SELECT setseed(0.4242);

SELECT count(*) AS segments FROM (SELECT personalize.create_segment(name, rule::jsonb, '2026-01-01') FROM (VALUES
  ('vip',          '{"trait": "tier", "value": "vip"}'),
  ('not_vip',      '{"trait": "tier", "op": "ne", "value": "vip"}'),
  ('adults',       '{"trait": "age", "op": "gte", "value": 30}'),
  ('engaged',      '{"engagement": {"op": "gte", "value": 2}}'),
  ('nordic',       '{"trait": "country", "op": "in", "value": ["NO", "SE", "DK"]}'),
  ('tagged_sale',  '{"trait": "tags", "op": "contains", "value": "sale"}'),
  ('has_phone',    '{"trait": "phone", "op": "exists"}'),
  ('likes_shoes',  '{"all": [{"interest": "shoes", "top": 1}, {"trait": "name", "op": "starts_with", "value": "A"}]}'),
  ('subscribed',   '{"consent": "subscribed"}'),
  ('busy',         '{"field": "event_count", "op": "gt", "value": 60}'),
  ('lapsed',       '{"field": "last_seen_at", "op": "lte", "value": {"ago": "9 days"}}'),
  ('shoe_browser', '{"event": "Product Viewed", "min": 2, "within": "10 days", "where": [{"property": "category", "value": "shoes"}]}'),
  ('no_order_14d', '{"event": "Order Completed", "max": 0, "within": "14 days"}'),
  ('two_feb',      '{"event": "Order Completed", "exactly": 2, "between": ["2026-02-01 00:00+00", "2026-03-01 00:00+00"]}'),
  ('big_spender',  '{"event": "Order Completed", "min": 1, "within": "30 days", "where": [{"property": "revenue", "op": "gte", "value": 150}]}'),
  ('bday_soon',    '{"date_trait": "birthday", "within_next": 30}'),
  ('holdout',      '{"bucket": {"salt": "q1", "from": 0, "to": 1999}}'),
  ('vip_active',   '{"all": [{"segment": "vip"}, {"not": {"segment": "lapsed"}}]}'),
  ('winback',      '{"any": [{"segment": "vip_active"}, {"all": [{"segment": "no_order_14d"}, {"not": {"segment": "holdout"}}, {"consent": "subscribed"}]}]}'),
  ('cart_no_buy',  '{"all": [{"event": "Product Added", "min": 1, "within": "3 days"}, {"event": "Order Completed", "max": 0, "within": "3 days"}]}'),
  -- boundaries: every operator against an "ago" that whole-hour clocks and events hit exactly
  ('ago_lt',       '{"field": "last_purchase_at", "op": "lt", "value": {"ago": "2 days"}}'),
  ('ago_lte',      '{"field": "last_purchase_at", "op": "lte", "value": {"ago": "2 days"}}'),
  ('ago_gt',       '{"field": "last_seen_at", "op": "gt", "value": {"ago": "1 day 6 hours"}}'),
  ('ago_gte',      '{"field": "last_seen_at", "op": "gte", "value": {"ago": "1 day 6 hours"}}'),
  ('ago_eq',       '{"field": "first_seen_at", "op": "eq", "value": {"ago": "3 days"}}'),
  ('ago_ne',       '{"field": "last_seen_at", "op": "ne", "value": {"ago": "5 hours"}}'),
  ('opened_5h',    '{"event": "Email Opened", "exactly": 1, "within": "5 hours"}'),
  ('added_1mon',   '{"event": "Product Added", "min": 2, "within": "1 mon"}'),
  ('events_gte_40','{"field": "event_count", "op": "gte", "value": 40}')
) s(name, rule)) x;

DO $$
DECLARE
    clock timestamptz := '2026-01-01 00:00+00';
    events_left integer := 10000;
    n integer;
    u integer;
BEGIN
    WHILE events_left > 0 LOOP
        clock := clock + (random() * interval '14 hours');
        IF random() < 0.5 THEN
            clock := date_trunc('hour', clock);
        END IF;
        PERFORM set_config('personalize.clock', clock::text, false);
        n := least(events_left, 1 + (random() * 120)::integer);
        INSERT INTO personalize.events (user_id, anonymous_id, event, properties, occurred_at)
        SELECT CASE WHEN r.anon THEN NULL ELSE 'u' || r.u END,
               CASE WHEN r.anon THEN 'anon-' || r.u END,
               r.name,
               CASE r.name
                   WHEN 'Order Completed' THEN jsonb_build_object('order_id', g, 'revenue', round((random() * 300)::numeric, 2))
                   WHEN 'Product Viewed' THEN jsonb_build_object('category', (ARRAY['shoes', 'hats', 'bags'])[1 + floor(random() * 3)::int])
                   WHEN 'Product Added' THEN jsonb_build_object('product_id', 'p' || g)
                   ELSE '{}'::jsonb END,
               CASE WHEN r.whole THEN date_trunc('hour', r.at) ELSE r.at END
          FROM generate_series(1, n) g,
               LATERAL (SELECT (1 + random() * 119)::int AS u, random() < 0.1 AS anon,
                               clock - random() * interval '480 hours' + interval '48 hours' AS at, random() < 0.5 AS whole,
                               (ARRAY['Product Viewed', 'Product Viewed', 'Product Added', 'Order Completed',
                                      'Email Opened', 'Subscribed', 'Unsubscribed'])[1 + floor(random() * 7)::int] AS name
                         WHERE g > 0) r;
        events_left := events_left - n;
        IF random() < 0.3 THEN
            u := 1 + (random() * 119)::integer;
            PERFORM personalize.identify('u' || u,
                jsonb_build_object('tier', (ARRAY['vip', 'basic', 'gold'])[1 + floor(random() * 3)::int],
                                   'age', 18 + (random() * 50)::int,
                                   'country', (ARRAY['NO', 'SE', 'DE', 'FR'])[1 + floor(random() * 4)::int],
                                   'tags', CASE WHEN random() < 0.5 THEN '["sale"]'::jsonb ELSE '["new"]'::jsonb END,
                                   'name', (ARRAY['Ada', 'Bob', 'Alf', 'Eve'])[1 + floor(random() * 4)::int],
                                   'birthday', to_char(date '1980-01-01' + (random() * 10000)::int, 'YYYY-MM-DD'))
                || CASE WHEN random() < 0.5 THEN '{"phone": "+4799"}'::jsonb ELSE '{}' END,
                CASE WHEN random() < 0.5 THEN 'anon-' || u END, clock);
        END IF;
        IF random() < 0.1 THEN
            -- draw once, outside the query, so the stream does not depend on row order
            u := 1 + (random() * 119)::integer;
            PERFORM personalize.set_consent(p.profile_id, (ARRAY['subscribed', 'unsubscribed'])[1 + floor(random() * 2)::int],
                                            as_of => clock)
               FROM personalize.profiles p WHERE p.user_id = 'u' || u;
        END IF;
        IF random() < 0.25 THEN
            PERFORM personalize.tick(clock);
        END IF;
    END LOOP;
    PERFORM set_config('personalize.clock', clock::text, false);
    PERFORM personalize.tick(clock);
    CREATE TEMP TABLE final_clock AS SELECT clock AS at;
END
$$;

SELECT count(*) AS events, count(DISTINCT profile_id) AS profiles, min(occurred_at) < '2026-01-01' AS some_before_start
  FROM personalize.events;
SELECT count(*) AS rejected FROM personalize.rejected_events;
SELECT count(*) AS merges FROM personalize.merge_log;
SELECT count(*) > 1000 AS many_changes, count(DISTINCT cause) AS causes FROM personalize.segment_log;

-- the incremental state, then a full recompute at the same time
CREATE TEMP TABLE kept AS
SELECT segment_id, profile_id, recheck_at, true AS member FROM personalize.segment_members
UNION ALL
SELECT segment_id, profile_id, recheck_at, false FROM personalize.segment_pending;
SELECT count(*) FILTER (WHERE member) AS memberships, count(*) FILTER (WHERE NOT member) AS pending FROM kept;
SELECT s.name, r.entered, r.exited
  FROM personalize.segments s, final_clock f, LATERAL personalize.refresh_segment(s.name, f.at) r
 ORDER BY s.eval_order, s.name;
CREATE TEMP TABLE recomputed AS
SELECT segment_id, profile_id, recheck_at, true AS member FROM personalize.segment_members
UNION ALL
SELECT segment_id, profile_id, recheck_at, false FROM personalize.segment_pending;
SELECT (SELECT count(*) FROM (TABLE kept EXCEPT ALL TABLE recomputed) a) AS only_incremental,
       (SELECT count(*) FROM (TABLE recomputed EXCEPT ALL TABLE kept) b) AS only_recomputed;
-- every segment but ago_eq (which holds only at the instant a clock hits first_seen_at + 3 days)
-- has members and non-members, so the comparison means something
SELECT string_agg(s.name, ', ') AS segments_without_both
  FROM personalize.segments s
 WHERE NOT (EXISTS (SELECT FROM personalize.segment_members m WHERE m.segment_id = s.segment_id)
   AND (SELECT count(*) FROM personalize.segment_members m WHERE m.segment_id = s.segment_id)
       < (SELECT count(*) FROM personalize.profiles));
SELECT count(*) AS segments_with_both
  FROM personalize.segments s
 WHERE EXISTS (SELECT FROM personalize.segment_members m WHERE m.segment_id = s.segment_id)
   AND (SELECT count(*) FROM personalize.segment_members m WHERE m.segment_id = s.segment_id)
       < (SELECT count(*) FROM personalize.profiles);
DROP EXTENSION personalize;
