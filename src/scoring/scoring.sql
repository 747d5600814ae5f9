-- Live scoring state: the configuration of what scores (event weights, the purchase event and
-- its amount, the interest category), the state each profile keeps (purchase counters,
-- engagement as a (score, as_of) pair, RFM scores), reading it as of a time, and rebuilding it
-- from the events. The ingest pipeline folds each statement's events in (src/ingest.sql).

CREATE TABLE personalize.scoring_events (
    event              text PRIMARY KEY,
    engagement_weight  float8 NOT NULL DEFAULT 0
                       CHECK (engagement_weight > '-Infinity' AND engagement_weight < 'Infinity'),
    interest_weight    float8 NOT NULL DEFAULT 0
                       CHECK (interest_weight >= 0 AND interest_weight < 'Infinity'),
    builtin            boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE personalize.scoring_events IS
'Weight of each event name in the engagement score and in interest affinity (0: not counted); after a change, run personalize.rebuild_scores()';
INSERT INTO personalize.scoring_events (event, engagement_weight, interest_weight, builtin) VALUES
  ('Email Opened', 1, 0, true),
  ('Email Clicked', 3, 0, true),
  ('Product Viewed', 0.5, 0.5, true),
  ('Product Added', 2, 2, true),
  ('Checkout Started', 3, 0, true),
  ('Order Completed', 5, 5, true);
SELECT pg_catalog.pg_extension_config_dump('personalize.scoring_events', 'WHERE NOT builtin');

CREATE TABLE personalize.scoring_settings (
    singleton          boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    purchase_event     text NOT NULL DEFAULT 'Order Completed',
    amount_properties  text[] NOT NULL DEFAULT '{revenue,total}'
                       CHECK (pg_catalog.cardinality(amount_properties) > 0
                              AND pg_catalog.array_position(amount_properties, NULL) IS NULL),
    category_property  text NOT NULL DEFAULT 'category'
);
COMMENT ON TABLE personalize.scoring_settings IS
'One row: the event that is a purchase, the properties holding its amount (the first present wins), the property holding a product category; after a change, run personalize.rebuild_scores()';
INSERT INTO personalize.scoring_settings DEFAULT VALUES;

-- The settings row must stay: without it nothing would be scored.
CREATE FUNCTION personalize._scoring_settings_keep()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'personalize.scoring_settings must keep its one row'
        USING ERRCODE = 'restrict_violation', HINT = 'Change the settings with UPDATE.';
END
$$;
CREATE TRIGGER scoring_settings_keep BEFORE DELETE OR TRUNCATE ON personalize.scoring_settings
    FOR EACH STATEMENT EXECUTE FUNCTION personalize._scoring_settings_keep();

ALTER TABLE personalize.profiles
    ADD COLUMN purchase_count     bigint NOT NULL DEFAULT 0,
    ADD COLUMN purchase_total     numeric NOT NULL DEFAULT 0,
    ADD COLUMN first_purchase_at  timestamptz,
    ADD COLUMN last_purchase_at   timestamptz,
    ADD COLUMN purchases_ignored  bigint NOT NULL DEFAULT 0,
    ADD COLUMN engagement         float8 NOT NULL DEFAULT 0,
    ADD COLUMN engagement_as_of   timestamptz,
    ADD COLUMN rfm_r              smallint,
    ADD COLUMN rfm_f              smallint,
    ADD COLUMN rfm_m              smallint,
    ADD COLUMN rfm_segment        text;
COMMENT ON COLUMN personalize.profiles.purchases_ignored IS
'Purchase events without a usable amount (missing, not a number, negative): not counted in purchase_count';
COMMENT ON COLUMN personalize.profiles.engagement IS
'Engagement valued at engagement_as_of (the latest scored event); read it with engagement_score(profile_id, as_of)';

CREATE FUNCTION personalize.engagement_score(profile_id bigint, as_of timestamptz DEFAULT now())
RETURNS float8
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    score float8;
    at timestamptz;
BEGIN
    SELECT p.engagement, p.engagement_as_of INTO score, at
      FROM personalize.profiles p WHERE p.profile_id = engagement_score.profile_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'profile % does not exist', engagement_score.profile_id USING ERRCODE = 'no_data_found';
    END IF;
    IF at IS NULL THEN
        RETURN 0;
    ELSIF at > as_of THEN
        RAISE EXCEPTION 'the engagement of profile % is valued at %, after as_of %', engagement_score.profile_id, at, as_of
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Live state holds every event folded in, including those after as_of.',
                  HINT = 'Compute it from the events with personalize.engagement(occurred_at, weight, half_life, as_of), which leaves later events out.';
    END IF;
    RETURN personalize.decay(score, at, as_of, personalize.half_life());
END
$$;
COMMENT ON FUNCTION personalize.engagement_score(bigint, timestamptz) IS
'The live engagement of a profile valued at as_of; an error if the profile holds events after as_of';

CREATE FUNCTION personalize.engagement_scores(as_of timestamptz DEFAULT now())
RETURNS TABLE (profile_id bigint, score float8)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
SELECT p.profile_id,
       CASE WHEN p.engagement_as_of IS NULL THEN 0
            WHEN p.engagement_as_of <= as_of
            THEN personalize.decay(p.engagement, p.engagement_as_of, as_of, personalize.half_life()) END
  FROM personalize.profiles p
$$;
COMMENT ON FUNCTION personalize.engagement_scores(timestamptz) IS
'The live engagement of every profile valued at as_of, in one pass; NULL for a profile holding events after as_of';

CREATE FUNCTION personalize.rebuild_scores()
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM FROM personalize.profiles p ORDER BY p.profile_id FOR UPDATE;
    WITH scored AS (
        SELECT e.profile_id, e.occurred_at, w.engagement_weight, e.event = st.purchase_event AS purchase,
               CASE WHEN e.event = st.purchase_event
                    THEN personalize.purchase_amount(e.properties, st.amount_properties) END AS amount
          FROM personalize.events e
         CROSS JOIN personalize.scoring_settings st
          LEFT JOIN personalize.scoring_events w ON w.event = e.event
         WHERE w.engagement_weight <> 0 OR e.event = st.purchase_event
    ), per_profile AS (
        SELECT s.profile_id,
               count(*) FILTER (WHERE s.amount >= 0 AND s.amount < 'Infinity') AS purchases,
               coalesce(sum(s.amount) FILTER (WHERE s.amount >= 0 AND s.amount < 'Infinity'), 0) AS total,
               min(s.occurred_at) FILTER (WHERE s.amount >= 0 AND s.amount < 'Infinity') AS first_at,
               max(s.occurred_at) FILTER (WHERE s.amount >= 0 AND s.amount < 'Infinity') AS last_at,
               count(*) FILTER (WHERE s.purchase AND NOT coalesce(s.amount >= 0 AND s.amount < 'Infinity', false)) AS ignored,
               personalize._engagement_state(s.occurred_at, s.engagement_weight, personalize.half_life())
                   FILTER (WHERE s.engagement_weight <> 0) AS engagement
          FROM scored s GROUP BY s.profile_id
    )
    UPDATE personalize.profiles p
       SET purchase_count = coalesce(x.purchases, 0),
           purchase_total = coalesce(x.total, 0),
           first_purchase_at = x.first_at,
           last_purchase_at = x.last_at,
           purchases_ignored = coalesce(x.ignored, 0),
           engagement = coalesce((x.engagement).score, 0),
           engagement_as_of = (x.engagement).as_of
      FROM personalize.profiles q LEFT JOIN per_profile x USING (profile_id)
     WHERE p.profile_id = q.profile_id;
    GET DIAGNOSTICS n = ROW_COUNT;

    DELETE FROM personalize.profile_interests;
    INSERT INTO personalize.profile_interests (profile_id, category, score, as_of)
    SELECT x.profile_id, x.category, (x.s).score, (x.s).as_of
      FROM (SELECT e.profile_id, personalize.event_category(e.properties, st.category_property) AS category,
                   personalize._engagement_state(e.occurred_at, w.interest_weight, personalize.half_life()) AS s
              FROM personalize.events e
             CROSS JOIN personalize.scoring_settings st
              JOIN personalize.scoring_events w ON w.event = e.event AND w.interest_weight > 0
             WHERE personalize.event_category(e.properties, st.category_property) IS NOT NULL
             GROUP BY 1, 2) x
     ORDER BY 1, 2;
    RETURN n;
END
$$;
COMMENT ON FUNCTION personalize.rebuild_scores() IS
'Recomputes every profile''s live scoring state (purchases, engagement, interests) from its events: after changing weights, settings or personalize.half_life';

-- What a profile's live state holds, as one value: the cart and the purchase and engagement state
-- (a context reads it from the profile row, or recomputes it as of a time: _live_state_at).
CREATE TYPE personalize.live_state AS (
    cart               jsonb,
    purchase_count     bigint,
    purchase_total     numeric,
    first_purchase_at  timestamptz,
    last_purchase_at   timestamptz,
    purchases_ignored  bigint,
    engagement         float8,
    engagement_as_of   timestamptz
);
