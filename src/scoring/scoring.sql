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

-- The amount a purchase counts with: zero or more and finite, else NULL (the purchase is then
-- counted in purchases_ignored). The one definition of a usable amount (src/scoring/rfm.c).
CREATE FUNCTION personalize._usable_amount(amount numeric)
RETURNS numeric
AS 'MODULE_PATHNAME', 'personalize_usable_amount'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

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
    PERFORM personalize._check_as_of(as_of);
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
    n bigint := 0;
    batch bigint[];
BEGIN
    PERFORM FROM personalize.profiles p ORDER BY p.profile_id FOR UPDATE;
    -- each profile's live state recomputed from all its events (the full recompute of the fold)
    -- and stored by the one writer, 10,000 profiles at a time
    FOR batch IN SELECT array_agg(p.profile_id ORDER BY p.profile_id) FROM personalize.profiles p
                  GROUP BY p.profile_id / 10000 ORDER BY p.profile_id / 10000 LOOP
        PERFORM personalize._live_write(ARRAY(
            SELECT ROW(b.profile_id, personalize._live_state_at(b.profile_id, 'infinity'))::personalize.profile_live
              FROM unnest(batch) AS b(profile_id)));
        n := n + cardinality(batch);
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION personalize.rebuild_scores() IS
'Recomputes every profile''s live scoring state (purchases, engagement, interests, cart) from its events: after changing weights, settings or personalize.half_life';

-- A profile's interest in a category: its score valued at as_of, the category's latest event.
CREATE TYPE personalize.interest AS (category text, score float8, as_of timestamptz);

-- What a profile's live state holds, as one value: the cart, the purchase and engagement state and
-- the interests (NULL: none), by category in byte order. _live_read and _live_write below are the
-- one place that knows where it is stored: profiles columns and profile_interests rows.
CREATE TYPE personalize.live_state AS (
    cart_log           jsonb,
    cart               jsonb,
    cart_updated_at    timestamptz,
    purchase_count     bigint,
    purchase_total     numeric,
    first_purchase_at  timestamptz,
    last_purchase_at   timestamptz,
    purchases_ignored  bigint,
    engagement         float8,
    engagement_as_of   timestamptz,
    interests          personalize.interest[]
);

-- A profile's live state, as the readers and writers of stored states pass them.
CREATE TYPE personalize.profile_live AS (profile_id bigint, live personalize.live_state);

-- The live cart (src/scoring/cart.c): the log of cart events since the latest order, and its cart.
ALTER TABLE personalize.profiles
    ADD COLUMN cart_log         jsonb,
    ADD COLUMN cart             jsonb NOT NULL DEFAULT '{"items": [], "total": 0, "item_count": 0}',
    ADD COLUMN cart_updated_at  timestamptz;
COMMENT ON COLUMN personalize.profiles.cart_log IS
'Product Added and Product Removed events since the latest Order Completed (src/scoring/cart.c): events folded in out of time order give the exact cart';
COMMENT ON COLUMN personalize.profiles.cart IS
'The cart cart_log replays to: items (latest Product Added properties, net quantity), item_count, total';

CREATE FUNCTION personalize._cart_log_add(log jsonb, events text[], properties jsonb[],
                                          occurred_at timestamptz[], event_ids bigint[])
RETURNS jsonb
AS 'MODULE_PATHNAME', 'personalize_cart_log_add'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION personalize._cart_log_add(jsonb, text[], jsonb[], timestamptz[], bigint[]) IS
'The cart log with these events folded in, in any time order (each event_id once)';

CREATE FUNCTION personalize._cart_of(log jsonb)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'personalize_cart_of'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION personalize._cart_of(jsonb) IS 'The cart a cart log replays to: items, item_count, total';

CREATE FUNCTION personalize._cart_updated_at(log jsonb)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'personalize_cart_updated_at'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION personalize._cart_updated_at(jsonb) IS 'The time of the latest event of a cart log';

-- The live-state fold (src/scoring/live_state.c), the one definition of how events change a
-- profile's live state (_live_fold) and how two states add up (_live_combine): ingest folds a
-- statement's events and combines them with each profile's state, the full recompute folds all of
-- a profile's events (_live_state_at, rebuild_scores), a merge combines the two profiles' states.
CREATE FUNCTION personalize._live_fold_trans(internal, timestamptz, bigint, text, jsonb, float8, float8, text, text[],
                                             text)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_live_fold_trans'
LANGUAGE C PARALLEL SAFE;

CREATE FUNCTION personalize._live_fold_final(internal)
RETURNS personalize.live_state
AS 'MODULE_PATHNAME', 'personalize_live_fold_final'
LANGUAGE C PARALLEL SAFE;

CREATE FUNCTION personalize._live_fold_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_live_fold_combine'
LANGUAGE C PARALLEL SAFE;

CREATE FUNCTION personalize._live_fold_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'personalize_live_fold_serialize'
LANGUAGE C STRICT PARALLEL SAFE;

CREATE FUNCTION personalize._live_fold_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_live_fold_deserialize'
LANGUAGE C STRICT PARALLEL SAFE;

CREATE AGGREGATE personalize._live_fold(occurred_at timestamptz, event_id bigint, event text, properties jsonb,
                                         engagement_weight float8, interest_weight float8, purchase_event text,
                                         amount_properties text[], category_property text) (
    SFUNC = personalize._live_fold_trans,
    STYPE = internal,
    FINALFUNC = personalize._live_fold_final,
    COMBINEFUNC = personalize._live_fold_combine,
    SERIALFUNC = personalize._live_fold_serialize,
    DESERIALFUNC = personalize._live_fold_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE personalize._live_fold(timestamptz, bigint, text, jsonb, float8, float8, text, text[], text) IS
'The live state that these events give (purchases, engagement valued at the latest scored event, interests per category, cart log), in any order';

CREATE FUNCTION personalize._live_combine(a personalize.live_state, b personalize.live_state)
RETURNS personalize.live_state
AS 'MODULE_PATHNAME', 'personalize_live_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION personalize._live_combine(personalize.live_state, personalize.live_state) IS
'The live state of the events of both: counters add up, times widen, engagements and each category''s interest add up at the later time, cart logs merge';

-- The stored live state of these profiles (those that exist): the one list of where each field of
-- a live state is kept, read side. Interests in byte order, as the fold gives them.
CREATE FUNCTION personalize._live_read(profile_ids bigint[])
RETURNS SETOF personalize.profile_live
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p.profile_id,
           ROW(p.cart_log, p.cart, p.cart_updated_at, p.purchase_count, p.purchase_total, p.first_purchase_at,
               p.last_purchase_at, p.purchases_ignored, p.engagement, p.engagement_as_of,
               (SELECT array_agg(ROW(i.category, i.score, i.as_of)::personalize.interest ORDER BY i.category COLLATE "C")
                  FROM personalize.profile_interests i WHERE i.profile_id = p.profile_id))::personalize.live_state
      FROM personalize.profiles p
     WHERE p.profile_id = ANY ($1)
$$;

-- Stores these live states as these profiles' (the caller holds their locks): the one list of
-- where each field is kept, write side. Interests the state no longer has are removed; rows
-- that did not change are not written.
CREATE FUNCTION personalize._live_write(states personalize.profile_live[])
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE personalize.profiles p
       SET cart_log = (s.live).cart_log, cart = (s.live).cart, cart_updated_at = (s.live).cart_updated_at,
           purchase_count = (s.live).purchase_count, purchase_total = (s.live).purchase_total,
           first_purchase_at = (s.live).first_purchase_at, last_purchase_at = (s.live).last_purchase_at,
           purchases_ignored = (s.live).purchases_ignored, engagement = (s.live).engagement,
           engagement_as_of = (s.live).engagement_as_of
      FROM unnest($1) s
     WHERE p.profile_id = s.profile_id;
    DELETE FROM personalize.profile_interests i
     USING unnest($1) s
     WHERE i.profile_id = s.profile_id
       AND NOT EXISTS (SELECT FROM unnest((s.live).interests) x WHERE x.category = i.category);
    INSERT INTO personalize.profile_interests AS i (profile_id, category, score, as_of)
    SELECT s.profile_id, x.category, x.score, x.as_of
      FROM unnest($1) s
     CROSS JOIN LATERAL unnest((s.live).interests) x
     ORDER BY 1, 2
        ON CONFLICT (profile_id, category) DO UPDATE SET score = excluded.score, as_of = excluded.as_of
     WHERE (i.score, i.as_of) IS DISTINCT FROM (excluded.score, excluded.as_of);
$$;

-- Adds these live states (a statement's events, a merged profile's state) to these profiles'
-- stored ones (the caller holds their locks): ingest and merge_profiles store through here.
CREATE FUNCTION personalize._live_add(states personalize.profile_live[])
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT personalize._live_write(array_agg(ROW(r.profile_id, personalize._live_combine(r.live, d.live))::personalize.profile_live))
      FROM personalize._live_read(ARRAY(SELECT d.profile_id FROM unnest($1) d)) r
      JOIN unnest($1) d ON d.profile_id = r.profile_id
    HAVING count(*) > 0;
$$;

-- The full recompute of a profile's cart log from its events up to as_of: what rebuild, merge and
-- the exact path of context() use, and what the ingest fold must always equal.
CREATE FUNCTION personalize._cart_log_from_events(profile_id bigint, as_of timestamptz DEFAULT 'infinity')
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT personalize._cart_log_add(NULL, array_agg(e.event), array_agg(e.properties), array_agg(e.occurred_at),
                                     array_agg(e.event_id))
      FROM personalize.events e
     WHERE e.profile_id = $1 AND e.occurred_at <= $2
       AND e.event IN ('Product Added', 'Product Removed', 'Order Completed')
$$;

-- The exact path: a profile's live state recomputed from its events up to as_of, for a time before
-- the live state (which holds every event folded in, including those after as_of).
CREATE FUNCTION personalize._live_state_at(profile_id bigint, as_of timestamptz)
RETURNS personalize.live_state
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT personalize._live_fold(e.occurred_at, e.event_id, e.event, e.properties, w.engagement_weight,
                                  w.interest_weight, st.purchase_event, st.amount_properties, st.category_property)
      FROM personalize.events e
     CROSS JOIN personalize.scoring_settings st
      LEFT JOIN personalize.scoring_events w ON w.event = e.event
     WHERE e.profile_id = $1 AND e.occurred_at <= $2
$$;

-- The exact path of top interests: the n categories with the highest affinity as of as_of, from
-- the live state of the events up to as_of (best first, ties by name).
CREATE FUNCTION personalize._interests_at(profile_id bigint, n integer, as_of timestamptz)
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(array_agg(t.category ORDER BY t.score DESC, t.category), '{}')
      FROM (SELECT i.category, personalize.decay(i.score, i.as_of, $3, personalize.half_life()) AS score
              FROM unnest((personalize._live_state_at($1, $3)).interests) i
             ORDER BY 2 DESC, 1
             LIMIT $2) t
$$;

-- The engagement of a profile as of a time before its live state (which is valued at its latest
-- scored event): recomputed from the events up to as_of, so that an event stamped after as_of
-- counts only once it has happened. Readers of the live state use it when engagement_as_of > as_of.
CREATE FUNCTION personalize._engagement_from_events(profile_id bigint, as_of timestamptz)
RETURNS float8
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT personalize.engagement(e.occurred_at, w.engagement_weight, personalize.half_life(), $2)
      FROM personalize.events e
      JOIN personalize.scoring_events w ON w.event = e.event AND w.engagement_weight <> 0
     WHERE e.profile_id = $1 AND e.occurred_at <= $2
$$;

-- When an engagement threshold rule may next change its answer for a profile whose live state is
-- valued after as_of: at its next scored event, or earlier when the score as of as_of decays
-- through the threshold first.
CREATE FUNCTION personalize._engagement_recheck(profile_id bigint, as_of timestamptz, threshold float8)
RETURNS timestamptz
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT least((SELECT min(e.occurred_at) FROM personalize.events e
                    JOIN personalize.scoring_events w ON w.event = e.event AND w.engagement_weight <> 0
                   WHERE e.profile_id = $1 AND e.occurred_at > $2),
                 CASE WHEN s.score > $3 AND $3 > 0
                      THEN $2 + personalize.half_life() * (ln(s.score / $3) / ln(2)) + interval '1 microsecond' END)
      FROM (SELECT personalize._engagement_from_events($1, $2) AS score) s
$$;
