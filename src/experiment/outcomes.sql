-- Per-send outcomes kept by ingest (docs/experiments.md, "Metrics"): what the feedback events
-- carrying send_id say about each send (the first delivery, bounce, human and machine open,
-- click, unsubscribe and complaint), every human touch of a marketing send (an open that is not
-- a machine open, or a click), and each Order Completed with the latest touch at or before it.
-- A statement trigger on events folds each INSERT set-at-a-time; rebuild_send_outcomes() is the
-- full-recompute twin. The metrics views only aggregate these tables.

CREATE TABLE personalize.send_feedback (
    send_id            bigint PRIMARY KEY,
    profile_id         bigint NOT NULL REFERENCES personalize.profiles ON DELETE CASCADE,
    campaign_id        integer,   -- the send's campaign and variant (fixed when it is enqueued),
    variant            text,      -- so that per-variant counts need not join the sends
    delivered_at       timestamptz,
    bounced_at         timestamptz,
    opened_at          timestamptz,
    machine_opened_at  timestamptz,
    clicked_at         timestamptz,
    unsubscribed_at    timestamptz,
    complained_at      timestamptz
);
CREATE INDEX send_feedback_profile_idx ON personalize.send_feedback (profile_id);
COMMENT ON TABLE personalize.send_feedback IS
'Per send with feedback: its campaign and variant, and the first Email Delivered, Email Bounced, human and machine Email Opened, Email Clicked, Unsubscribed and Email Marked as Spam (kept by ingest)';

CREATE TABLE personalize.send_touches (
    profile_id  bigint NOT NULL REFERENCES personalize.profiles ON DELETE CASCADE,
    touched_at  timestamptz NOT NULL,
    send_id     bigint NOT NULL,
    campaign_id integer,
    PRIMARY KEY (profile_id, touched_at, send_id)
);
COMMENT ON TABLE personalize.send_touches IS
'Every human open (not a machine open) and click of a marketing send, by the profile of the event (kept by ingest)';

CREATE TABLE personalize.order_touches (
    profile_id     bigint NOT NULL REFERENCES personalize.profiles ON DELETE CASCADE,
    occurred_at    timestamptz NOT NULL,
    message_id     text COLLATE "C" NOT NULL,
    revenue        numeric NOT NULL,
    touch_send_id  bigint,
    touch_at       timestamptz,
    touch_campaign_id integer,
    PRIMARY KEY (profile_id, occurred_at, message_id)
);
CREATE INDEX order_touches_send_idx ON personalize.order_touches (touch_send_id) WHERE touch_send_id IS NOT NULL;
COMMENT ON TABLE personalize.order_touches IS
'Every Order Completed with its revenue and the profile''s latest touch (send_touches) at or before it, however old, and that send''s campaign (kept by ingest)';

-- The send_id an event names, or NULL when it names none (or not as an integer).
CREATE FUNCTION personalize._event_send_id(properties jsonb)
RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN (properties ->> 'send_id') ~ '^[0-9]{1,18}$' THEN (properties ->> 'send_id')::bigint END
$$;

-- Statement trigger on events: folds the statement's kept feedback events and orders into
-- send_feedback, send_touches and order_touches; a touch that arrives after an order it precedes
-- moves that order's attribution to itself when it is the later touch.
CREATE FUNCTION personalize._events_outcomes()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    WITH fb AS MATERIALIZED (
        SELECT s.send_id, s.profile_id AS send_profile_id, s.kind, s.campaign_id, s.variant, e.profile_id, e.occurred_at,
               e.event, e.event = 'Email Opened' AND coalesce(e.properties ->> 'machine_open' = 'true', false) AS machine
          FROM new_events e
          JOIN personalize.sends_all s ON s.send_id = personalize._event_send_id(e.properties)
         WHERE e.event IN ('Email Delivered', 'Email Bounced', 'Email Opened', 'Email Clicked', 'Unsubscribed',
                           'Email Marked as Spam')
           -- a copy of an event already recorded (dropped by the ingest trigger) counts once
           AND EXISTS (SELECT FROM personalize.event_keys k WHERE k.message_id = e.message_id AND k.event_id = e.event_id)
    ), touches AS (
        INSERT INTO personalize.send_touches AS t (profile_id, touched_at, send_id, campaign_id)
        SELECT DISTINCT fb.profile_id, fb.occurred_at, fb.send_id, fb.campaign_id FROM fb
         WHERE fb.kind = 'marketing' AND (fb.event = 'Email Clicked' OR (fb.event = 'Email Opened' AND NOT fb.machine))
           -- (a profile a concurrent merge or erasure removed: the ingest trigger moved its events)
           AND EXISTS (SELECT FROM personalize.profiles p WHERE p.profile_id = fb.profile_id)
            ON CONFLICT DO NOTHING
        RETURNING t.profile_id, t.touched_at, t.send_id, t.campaign_id
    ), late AS (
        -- orders already recorded that a new touch precedes more closely than their own touch
        UPDATE personalize.order_touches o SET touch_send_id = n.send_id, touch_at = n.touched_at, touch_campaign_id = n.campaign_id
          FROM (SELECT DISTINCT ON (o2.profile_id, o2.occurred_at, o2.message_id)
                       o2.profile_id, o2.occurred_at, o2.message_id, t.send_id, t.touched_at, t.campaign_id
                  FROM touches t
                  JOIN personalize.order_touches o2 ON o2.profile_id = t.profile_id AND o2.occurred_at >= t.touched_at
                 ORDER BY o2.profile_id, o2.occurred_at, o2.message_id, t.touched_at DESC, t.send_id DESC) n
         WHERE o.profile_id = n.profile_id AND o.occurred_at = n.occurred_at AND o.message_id = n.message_id
           AND (o.touch_at IS NULL OR (n.touched_at, n.send_id) > (o.touch_at, o.touch_send_id))
        RETURNING 1
    )
    INSERT INTO personalize.send_feedback AS f (send_id, profile_id, campaign_id, variant, delivered_at, bounced_at,
                                                opened_at, machine_opened_at, clicked_at, unsubscribed_at, complained_at)
    SELECT fb.send_id, fb.send_profile_id, fb.campaign_id, fb.variant,
           min(fb.occurred_at) FILTER (WHERE fb.event = 'Email Delivered'),
           min(fb.occurred_at) FILTER (WHERE fb.event = 'Email Bounced'),
           min(fb.occurred_at) FILTER (WHERE fb.event = 'Email Opened' AND NOT fb.machine),
           min(fb.occurred_at) FILTER (WHERE fb.machine),
           min(fb.occurred_at) FILTER (WHERE fb.event = 'Email Clicked'),
           min(fb.occurred_at) FILTER (WHERE fb.event = 'Unsubscribed'),
           min(fb.occurred_at) FILTER (WHERE fb.event = 'Email Marked as Spam')
      FROM fb
     GROUP BY fb.send_id, fb.send_profile_id, fb.campaign_id, fb.variant
        ON CONFLICT (send_id) DO UPDATE
       SET delivered_at = least(f.delivered_at, excluded.delivered_at),
           bounced_at = least(f.bounced_at, excluded.bounced_at),
           opened_at = least(f.opened_at, excluded.opened_at),
           machine_opened_at = least(f.machine_opened_at, excluded.machine_opened_at),
           clicked_at = least(f.clicked_at, excluded.clicked_at),
           unsubscribed_at = least(f.unsubscribed_at, excluded.unsubscribed_at),
           complained_at = least(f.complained_at, excluded.complained_at);

    -- new orders, each with the latest touch at or before it (this statement's touches included)
    INSERT INTO personalize.order_touches (profile_id, occurred_at, message_id, revenue, touch_send_id, touch_at,
                                           touch_campaign_id)
    SELECT e.profile_id, e.occurred_at, e.message_id, coalesce(personalize.purchase_amount(e.properties), 0),
           t.send_id, t.touched_at, t.campaign_id
      FROM new_events e
      LEFT JOIN LATERAL (SELECT t.send_id, t.touched_at, t.campaign_id FROM personalize.send_touches t
                          WHERE t.profile_id = e.profile_id AND t.touched_at <= e.occurred_at
                          ORDER BY t.touched_at DESC, t.send_id DESC LIMIT 1) t ON true
     WHERE e.event = 'Order Completed'
       AND EXISTS (SELECT FROM personalize.event_keys k WHERE k.message_id = e.message_id AND k.event_id = e.event_id)
       AND EXISTS (SELECT FROM personalize.profiles p WHERE p.profile_id = e.profile_id)
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION personalize._events_outcomes() IS
'Trigger: folds a statement''s feedback events and orders into send_feedback, send_touches and order_touches';

-- Named to fire after events_after_statement (same-event triggers fire in name order), whose
-- event_keys tell which rows of the statement were kept.
CREATE TRIGGER events_outcomes AFTER INSERT ON personalize.events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION personalize._events_outcomes();

-- Events moved from one profile to another (merge_profiles): their touches and orders follow,
-- and the orders of the profiles that received them are attributed again over all their touches.
CREATE FUNCTION personalize._events_outcomes_moved()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    moved record;
BEGIN
    FOR moved IN
        SELECT DISTINCT o.profile_id AS old_id, n.profile_id AS new_id
          FROM old_events o JOIN new_events n USING (event_id)
         WHERE o.profile_id <> n.profile_id ORDER BY 1, 2
    LOOP
        INSERT INTO personalize.send_touches (profile_id, touched_at, send_id, campaign_id)
        SELECT moved.new_id, t.touched_at, t.send_id, t.campaign_id FROM personalize.send_touches t WHERE t.profile_id = moved.old_id
            ON CONFLICT DO NOTHING;
        DELETE FROM personalize.send_touches t WHERE t.profile_id = moved.old_id;
        UPDATE personalize.order_touches o SET profile_id = moved.new_id WHERE o.profile_id = moved.old_id;
        UPDATE personalize.send_feedback f SET profile_id = moved.new_id WHERE f.profile_id = moved.old_id;
        UPDATE personalize.order_touches o
           SET (touch_send_id, touch_at, touch_campaign_id) = (SELECT t.send_id, t.touched_at, t.campaign_id
                                                                FROM personalize.send_touches t
                                             WHERE t.profile_id = o.profile_id AND t.touched_at <= o.occurred_at
                                             ORDER BY t.touched_at DESC, t.send_id DESC LIMIT 1)
         WHERE o.profile_id = moved.new_id;
    END LOOP;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION personalize._events_outcomes_moved() IS
'Trigger: touches and orders follow events moved to another profile, whose orders are attributed again';

CREATE TRIGGER events_outcomes_moved AFTER UPDATE ON personalize.events
    REFERENCING OLD TABLE AS old_events NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION personalize._events_outcomes_moved();

-- The full-recompute twin of the trigger: empties the three tables and computes them again
-- from every event, e.g. after a restore or to check the incremental state. Returns the rows.
CREATE FUNCTION personalize.rebuild_send_outcomes(OUT feedback bigint, OUT touches bigint, OUT orders bigint)
RETURNS record
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    LOCK TABLE personalize.send_feedback, personalize.send_touches, personalize.order_touches IN EXCLUSIVE MODE;
    DELETE FROM personalize.order_touches;
    DELETE FROM personalize.send_touches;
    DELETE FROM personalize.send_feedback;
    CREATE TEMP TABLE outcomes_feedback ON COMMIT DROP AS
    SELECT s.send_id, s.profile_id AS send_profile_id, s.kind, s.campaign_id, s.variant, e.profile_id, e.occurred_at,
           e.event, e.event = 'Email Opened' AND coalesce(e.properties ->> 'machine_open' = 'true', false) AS machine
      FROM personalize.events e
      JOIN personalize.sends_all s ON s.send_id = personalize._event_send_id(e.properties)
     WHERE e.event IN ('Email Delivered', 'Email Bounced', 'Email Opened', 'Email Clicked', 'Unsubscribed',
                       'Email Marked as Spam');
    INSERT INTO personalize.send_feedback (send_id, profile_id, campaign_id, variant, delivered_at, bounced_at, opened_at,
                                           machine_opened_at, clicked_at, unsubscribed_at, complained_at)
    SELECT fb.send_id, fb.send_profile_id, fb.campaign_id, fb.variant,
           min(fb.occurred_at) FILTER (WHERE fb.event = 'Email Delivered'),
           min(fb.occurred_at) FILTER (WHERE fb.event = 'Email Bounced'),
           min(fb.occurred_at) FILTER (WHERE fb.event = 'Email Opened' AND NOT fb.machine),
           min(fb.occurred_at) FILTER (WHERE fb.machine),
           min(fb.occurred_at) FILTER (WHERE fb.event = 'Email Clicked'),
           min(fb.occurred_at) FILTER (WHERE fb.event = 'Unsubscribed'),
           min(fb.occurred_at) FILTER (WHERE fb.event = 'Email Marked as Spam')
      FROM outcomes_feedback fb
     GROUP BY fb.send_id, fb.send_profile_id, fb.campaign_id, fb.variant;
    GET DIAGNOSTICS feedback = ROW_COUNT;
    INSERT INTO personalize.send_touches (profile_id, touched_at, send_id, campaign_id)
    SELECT DISTINCT fb.profile_id, fb.occurred_at, fb.send_id, fb.campaign_id FROM outcomes_feedback fb
     WHERE fb.kind = 'marketing' AND (fb.event = 'Email Clicked' OR (fb.event = 'Email Opened' AND NOT fb.machine));
    GET DIAGNOSTICS touches = ROW_COUNT;
    DROP TABLE outcomes_feedback;
    -- each order with the latest touch at or before it: a profile's touches and orders in time
    -- order (a touch before an order at the same instant); group = the number of touches so far,
    -- so each order shares its group with its latest touch, which comes first in it
    INSERT INTO personalize.order_touches (profile_id, occurred_at, message_id, revenue, touch_send_id, touch_at,
                                           touch_campaign_id)
    SELECT x.profile_id, x.occurred_at, x.message_id, x.revenue, x.touch_send_id, x.touch_at, x.touch_campaign_id
      FROM (SELECT g.*, first_value(g.send_id) OVER w AS touch_send_id, first_value(g.touched_at) OVER w AS touch_at,
                   first_value(g.campaign_id) OVER w AS touch_campaign_id
              FROM (SELECT a.*, count(a.send_id) OVER (PARTITION BY a.profile_id ORDER BY a.occurred_at, a.is_order, a.send_id
                                                        ROWS UNBOUNDED PRECEDING) AS touch_group
                      FROM (SELECT t.profile_id, t.touched_at AS occurred_at, NULL::text AS message_id,
                                   NULL::numeric AS revenue, t.send_id, t.touched_at, t.campaign_id, 0 AS is_order
                              FROM personalize.send_touches t
                            UNION ALL
                            SELECT e.profile_id, e.occurred_at, e.message_id,
                                   coalesce(personalize.purchase_amount(e.properties), 0), NULL, NULL, NULL, 1
                              FROM personalize.events e WHERE e.event = 'Order Completed') a) g
            WINDOW w AS (PARTITION BY g.profile_id, g.touch_group ORDER BY g.occurred_at, g.is_order, g.send_id)) x
     WHERE x.is_order = 1;
    GET DIAGNOSTICS orders = ROW_COUNT;
END
$$;
COMMENT ON FUNCTION personalize.rebuild_send_outcomes() IS
'Recomputes send_feedback, send_touches and order_touches from all events (the twin of the ingest trigger''s fold); returns their row counts';

-- Dumped with their rows: a restore loads the events into their partitions, where the statement
-- triggers on the parent do not fire, so the outcomes come back from the dump, not from a rebuild.
SELECT pg_catalog.pg_extension_config_dump('personalize.send_feedback', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.send_touches', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.order_touches', '');

REVOKE ALL ON FUNCTION personalize._event_send_id(jsonb), personalize._events_outcomes(),
    personalize._events_outcomes_moved(), personalize.rebuild_send_outcomes() FROM PUBLIC;
GRANT SELECT ON personalize.send_feedback, personalize.send_touches, personalize.order_touches
    TO personalize_admin, personalize_analyst;
GRANT EXECUTE ON FUNCTION personalize.rebuild_send_outcomes() TO personalize_admin;
