-- Ingestion and scoring do not depend on the session TimeZone. The same event stream, written
-- with explicit UTC offsets and crossing the United States' change to summer time (2026-03-08
-- 07:00 UTC) and a UTC month boundary that is still the previous month in New York, is ingested
-- and scored once under UTC and once under America/New_York (by different user ids); every
-- answer is recorded as text that does not depend on how times are displayed (epochs, numbers)
-- and the two sets must be equal. The UTC answers are shown, with hand checks.
CREATE EXTENSION personalize;
\set VERBOSITY terse
SET timezone = 'UTC';
SELECT personalize.maintain('2026-03-15 00:00+00', 1, 1) AS partitions;
CREATE TEMP TABLE answers (tz text, what text, value text);

-- Ingests the stream for users prefix||a, b, c, d under the current TimeZone, then records the
-- answers as of 2026-04-05 00:00 UTC.
CREATE FUNCTION run_stream(prefix text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t_as_of timestamptz := '2026-04-05 00:00+00';
    tz text := current_setting('TimeZone');
    u text;
    pid bigint;
BEGIN
    INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id)
    SELECT prefix || v.u, v.e, v.p::jsonb, v.t::timestamptz, prefix || v.m
      FROM (VALUES
        ('a', 'Email Opened', '{}', '2026-03-07 12:00+00', '1'),
        ('a', 'Order Completed', '{"order_id": "o1", "revenue": 20}', '2026-03-08 06:30+00', '2'),
        ('a', 'Product Viewed', '{"category": "shoes"}', '2026-03-08 07:30+00', '3'),
        ('a', 'Email Clicked', '{}', '2026-03-09 12:00+00', '4'),
        ('a', 'Product Added', '{"product_id": "p1", "price": 5, "quantity": 2}', '2026-03-08 06:59:59+00', '5'),
        ('b', 'Subscribed', '{}', '2026-03-08 06:59:59+00', '6'),
        ('b', 'Unsubscribed', '{}', '2026-03-08 07:00:00+00', '7'),
        ('c', 'Order Completed', '{"order_id": "o2", "revenue": 7}', '2026-02-28 23:30+00', '8'),
        ('c', 'Order Completed', '{"order_id": "o3", "revenue": 8}', '2026-03-31 23:30+00', '9'),
        ('c', 'Order Completed', '{"order_id": "o4", "revenue": 9}', '2026-04-01 02:00+00', '10'),
        ('d', 'Product Viewed', '{"category": "bags"}', '2026-03-01 00:00+00', '11'),
        ('d', 'Product Viewed', '{"category": "bags"}', '2026-03-01 00:00+00', '11')) v(u, e, p, t, m);
    FOREACH u IN ARRAY ARRAY['a', 'b', 'c', 'd'] LOOP
        pid := personalize.resolve_identity('user_id', prefix || u);
        INSERT INTO answers
        SELECT tz, u || ' ' || w, x FROM (VALUES
          ('events', (SELECT string_agg(format('%s@%s in %s', e.event, extract(epoch FROM e.occurred_at), e.tableoid::regclass),
                                        '; ' ORDER BY e.occurred_at, e.event)
                        FROM personalize.events e WHERE e.profile_id = pid)),
          ('counters', (SELECT format('events %s, first %s, last %s, purchases %s, total %s, last purchase %s',
                                      p.event_count, extract(epoch FROM p.first_seen_at), extract(epoch FROM p.last_seen_at),
                                      p.purchase_count, p.purchase_total, extract(epoch FROM p.last_purchase_at))
                          FROM personalize.profiles p WHERE p.profile_id = pid)),
          ('consent', (SELECT format('%s since %s', p.email_consent, extract(epoch FROM c.changed_at))
                         FROM personalize.profiles p
                         LEFT JOIN LATERAL (SELECT changed_at FROM personalize.consent_log l WHERE l.profile_id = pid
                                             ORDER BY changed_at DESC LIMIT 1) c ON true
                        WHERE p.profile_id = pid)),
          ('engagement', round(personalize.engagement_score(pid, t_as_of)::numeric, 9)::text),
          ('interests', (SELECT string_agg(format('%s %s', i.category, round(personalize.decay(i.score, i.as_of, t_as_of, '14 days')::numeric, 9)),
                                           ', ' ORDER BY i.category)
                           FROM personalize.profile_interests i WHERE i.profile_id = pid)),
          ('rfm_agg', (SELECT format('recency %s, frequency %s, monetary %s', round(r.recency_days::numeric, 9), r.frequency, r.monetary)
                         FROM (SELECT (personalize.rfm_agg(e.occurred_at, personalize.purchase_amount(e.properties), t_as_of)).*
                                 FROM personalize.events e WHERE e.profile_id = pid AND e.event = 'Order Completed') r)),
          -- times inside the jsonb are written with the session's offset: compared as epochs
          ('context', (SELECT (c -> 'purchases') - 'first_at' - 'last_at'
                              || jsonb_build_object('first_at', extract(epoch FROM (c -> 'purchases' ->> 'first_at')::timestamptz),
                                                    'last_at', extract(epoch FROM (c -> 'purchases' ->> 'last_at')::timestamptz),
                                                    'engagement', round((c ->> 'engagement_score')::numeric, 9),
                                                    'cart', c -> 'cart' -> 'items', 'cart_total', c -> 'cart' -> 'total')
                         FROM personalize.context(pid, t_as_of) c)::text)) t(w, x);
    END LOOP;
END
$$;
SELECT run_stream('utc-');
SET timezone = 'America/New_York';
SELECT run_stream('ny-');
SET timezone = 'UTC';

-- Equal under both: no row here.
(SELECT what, value FROM answers WHERE tz = 'UTC' EXCEPT SELECT what, value FROM answers WHERE tz = 'America/New_York')
UNION ALL
(SELECT what, value FROM answers WHERE tz = 'America/New_York' EXCEPT SELECT what, value FROM answers WHERE tz = 'UTC');
SELECT count(*) AS answers_per_zone FROM answers GROUP BY tz ORDER BY tz;
-- The answers (times as epochs). By hand, as of 04-05 00:00 UTC, half-life 14 days:
-- a's engagement: opened 1 at 03-07 12:00, ordered 5 at 03-08 06:30, viewed 0.5 at 03-08 07:30,
-- clicked 3 at 03-09 12:00, added 2 at 03-08 06:59:59; each weight x 2^(-elapsed days / 14).
-- c's purchases: 7 (02-28 23:30, February in UTC, in the 2026-02 partition) + 8 + 9 = 24 over 3
-- orders, the last 04-01 02:00 UTC (still March 31 in New York), recency 3.916666667 days.
-- a's recency 04-05 00:00 - 03-08 06:30 = 27 d 17.5 h = 27.729166667 days; d's second copy of
-- one message id is dropped: one event, engagement 0.5 x 2^(-35/14) = 0.088388348; b unsubscribed
-- at 03-08 07:00:00 UTC (epoch 1772953200), a second after subscribing.
SELECT what, value FROM answers WHERE tz = 'UTC' ORDER BY what;
SELECT round((1 * 2 ^ (-extract(epoch FROM '2026-04-05 00:00+00'::timestamptz - '2026-03-07 12:00+00') / 86400 / 14)
            + 5 * 2 ^ (-extract(epoch FROM '2026-04-05 00:00+00'::timestamptz - '2026-03-08 06:30+00') / 86400 / 14)
            + 0.5 * 2 ^ (-extract(epoch FROM '2026-04-05 00:00+00'::timestamptz - '2026-03-08 07:30+00') / 86400 / 14)
            + 3 * 2 ^ (-extract(epoch FROM '2026-04-05 00:00+00'::timestamptz - '2026-03-09 12:00+00') / 86400 / 14)
            + 2 * 2 ^ (-extract(epoch FROM '2026-04-05 00:00+00'::timestamptz - '2026-03-08 06:59:59+00') / 86400 / 14))::numeric, 9)
       AS "a's engagement by hand";
-- decay over exactly 14 elapsed days across the change halves, whatever the TimeZone
SET timezone = 'America/New_York';
SELECT personalize.decay(8, '2026-03-01 00:00+00', '2026-03-15 00:00+00', '14 days') AS "8 -> 4 in New York",
       personalize.recency_days('2026-03-07 12:00+00', '2026-03-09 12:00+00') AS "2 days across the change";
SET timezone = 'UTC';
DROP FUNCTION run_stream(text);
DROP EXTENSION personalize;
