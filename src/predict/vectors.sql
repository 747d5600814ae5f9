-- Feature vectors (src/predict/vectors.c): the one definition of a profile's 13 features as of a
-- time, which kmeans() (cluster.sql) and lookalike() (lookalike.sql) work on, and where they come
-- from: computed exactly from the live state and interests (personalize.profile_features), or read
-- from their stored inputs in personalize.profile_vectors (the live purchase, engagement and
-- activity columns and the interest shares, which do not change with time), kept current by
-- personalize.refresh_profile_vectors() (incremental: only the profiles changed since). A profile
-- changed since the last refresh (its row in profiles is newer than the refresh's snapshot), or with
-- events after as_of, is computed exactly, so no answer depends on how recent the refresh is.

-- The categories the interest features are about: the 8 that the most profiles have an
-- interest in, as stored up to as_of (ties by name).
CREATE FUNCTION personalize._feature_categories(as_of timestamptz)
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(array_agg(t.category ORDER BY t.n DESC, t.category), '{}')
      FROM (SELECT i.category, count(*) AS n FROM personalize.profile_interests i
             WHERE i.as_of <= $1 GROUP BY i.category ORDER BY 2 DESC, 1 LIMIT 8) t
$$;
COMMENT ON FUNCTION personalize._feature_categories(timestamptz) IS
'The (up to) 8 categories the most profiles are interested in, as stored up to as_of: the interest features';

-- The names of the feature dimensions over the given interest categories, in order.
CREATE FUNCTION personalize._feature_names(cats text[])
RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ARRAY['purchase recency', 'purchase frequency', 'spend', 'engagement', 'activity']
           || ARRAY(SELECT 'interest in ' || coalesce($1[g], '(no category ' || g || ')') FROM generate_series(1, 8) g ORDER BY g)
$$;
COMMENT ON FUNCTION personalize._feature_names(text[]) IS
'The names of the 13 feature dimensions when the interest features are about these categories';

-- The names of the feature dimensions, in order.
CREATE FUNCTION personalize.feature_names(as_of timestamptz DEFAULT now())
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT personalize._feature_names(personalize._feature_categories($1))
$$;
COMMENT ON FUNCTION personalize.feature_names(timestamptz) IS
'The names of the 13 dimensions of profile_features(as_of), in order';

-- A profile's interest shares: per feature category (cats, at most 8), its interests' score in
-- that category over their total (the one place that turns interests into the interest features).
CREATE FUNCTION personalize._interest_shares_trans(internal, text, float8, text[])
RETURNS internal AS 'MODULE_PATHNAME', 'personalize_interest_shares_trans' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION personalize._interest_shares_final(internal)
RETURNS float8[] AS 'MODULE_PATHNAME', 'personalize_interest_shares_final' LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE personalize._interest_shares(category text, score float8, cats text[]) (
    SFUNC = personalize._interest_shares_trans,
    STYPE = internal,
    FINALFUNC = personalize._interest_shares_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE personalize._interest_shares(text, float8, text[]) IS
'Per feature category (the first row''s cats, at most 8; a missing one gives 0), the rows'' score in that category over the total score (0 when the total is 0): 8 shares';

-- The interest shares of a profile without interests: 8 zeros.
CREATE FUNCTION personalize._no_interest_shares()
RETURNS float8[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.array_fill(0::float8, ARRAY[8])
$$;
COMMENT ON FUNCTION personalize._no_interest_shares() IS 'The interest shares of a profile without interests: 8 zeros';

-- One feature vector per profile as of a time, over the given interest categories
-- (docs/predictions.md lists the dimensions). The
-- stored live state is used for profiles with no event after as_of; the others are recounted
-- from their events up to as_of (the exact path other live scores take).
CREATE FUNCTION personalize._profile_features(as_of timestamptz, profile_ids bigint[], cats text[])
RETURNS TABLE (profile_id bigint, features float8[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t timestamptz := _profile_features.as_of;
    hl interval := personalize.half_life();
BEGIN
    PERFORM personalize._check_as_of(t);
    RETURN QUERY
    WITH state AS (
        SELECT p.profile_id, p.purchase_count::float8 AS purchases, p.purchase_total::float8 AS spend,
               p.last_purchase_at AS last_at, p.engagement AS engagement, p.engagement_as_of AS engagement_at,
               p.event_count::float8 AS events
          FROM personalize.profiles p
         WHERE (p.last_seen_at IS NULL OR p.last_seen_at <= t)
           AND (profile_ids IS NULL OR p.profile_id = ANY (profile_ids))
        UNION ALL
        SELECT p.profile_id, (l.st).purchase_count, (l.st).purchase_total, (l.st).last_purchase_at,
               (l.st).engagement, (l.st).engagement_as_of,
               (SELECT count(*) FROM personalize.events e WHERE e.profile_id = p.profile_id AND e.occurred_at <= t)
          FROM personalize.profiles p, LATERAL (SELECT personalize._live_state_at(p.profile_id, t) AS st) l
         WHERE p.last_seen_at > t
           AND (profile_ids IS NULL OR p.profile_id = ANY (profile_ids))
    ), interest AS (
        -- each profile's affinity per category, decayed to t
        SELECT i.profile_id, i.category, personalize.decay(i.score, i.as_of, t, hl) AS score
          FROM personalize.profiles p JOIN personalize.profile_interests i ON i.profile_id = p.profile_id
         WHERE (p.last_seen_at IS NULL OR p.last_seen_at <= t)
           AND (profile_ids IS NULL OR p.profile_id = ANY (profile_ids))
        UNION ALL
        SELECT e.profile_id, personalize.event_category(e.properties, st.category_property),
               personalize.engagement(e.occurred_at, w.interest_weight, hl, t)
          FROM personalize.profiles p
          JOIN personalize.events e ON e.profile_id = p.profile_id AND e.occurred_at <= t
         CROSS JOIN personalize.scoring_settings st
          JOIN personalize.scoring_events w ON w.event = e.event AND w.interest_weight > 0
         WHERE p.last_seen_at > t
           AND (profile_ids IS NULL OR p.profile_id = ANY (profile_ids))
           AND personalize.event_category(e.properties, st.category_property) IS NOT NULL
         GROUP BY e.profile_id, 2
    ), shares AS (
        SELECT i.profile_id, personalize._interest_shares(i.category, i.score, cats) AS shares
          FROM interest i GROUP BY i.profile_id
    )
    SELECT s.profile_id,
           ARRAY[CASE WHEN s.last_at IS NULL OR s.last_at > t THEN 0
                      ELSE 1 / (1 + extract(epoch FROM t - s.last_at)::float8 / 2592000) END,
                 ln(1 + s.purchases), ln(1 + greatest(s.spend, 0)),
                 ln(1 + CASE WHEN s.engagement_at IS NULL THEN 0
                             ELSE greatest(personalize.decay(s.engagement, s.engagement_at, t, hl), 0) END),
                 ln(1 + s.events)] || coalesce(h.shares, personalize._no_interest_shares())
      FROM state s LEFT JOIN shares h ON h.profile_id = s.profile_id;
END
$$;
COMMENT ON FUNCTION personalize._profile_features(timestamptz, bigint[], text[]) IS
'profile_features() with the interest categories given (lookalike() passes those of the stored vectors)';

CREATE FUNCTION personalize.profile_features(as_of timestamptz DEFAULT now(), profile_ids bigint[] DEFAULT NULL)
RETURNS TABLE (profile_id bigint, features float8[])
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM personalize._profile_features($1, $2, personalize._feature_categories($1))
$$;
COMMENT ON FUNCTION personalize.profile_features(timestamptz, bigint[]) IS
'Per profile as of a time, 13 features (feature_names): purchase recency 1 / (1 + days since the last purchase / 30) (0 without one), ln(1 + purchases), ln(1 + spend), ln(1 + engagement), ln(1 + events), and the share of its interest in each of the 8 most common categories';

-- The inputs of each profile's feature vector as of the last refresh: its live columns and the
-- shares of its interest in the feature categories (every interest decays with the same
-- half-life, so the shares do not change with time).
CREATE TABLE personalize.profile_vectors (
    profile_id        bigint PRIMARY KEY REFERENCES personalize.profiles (profile_id) ON DELETE CASCADE,
    last_purchase_at  timestamptz,
    purchases         float8 NOT NULL,
    spend             float8 NOT NULL,
    engagement        float8,
    engagement_as_of  timestamptz,
    events            float8 NOT NULL,
    last_seen_at      timestamptz,
    shares            float8[] NOT NULL
);
-- the profiles with events after a time (_stale_vectors), without a scan
CREATE INDEX profile_vectors_last_seen_at ON personalize.profile_vectors (last_seen_at);
COMMENT ON TABLE personalize.profile_vectors IS
'Per profile, the inputs of its features as of the last refresh_profile_vectors(): the live purchase, engagement and activity columns, and the shares of its interest in the feature categories of profile_vector_state';

-- What the stored vectors were computed with (one row once refreshed).
CREATE TABLE personalize.profile_vector_state (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    categories     text[] NOT NULL,
    half_life      interval NOT NULL,
    snapshot       pg_snapshot NOT NULL,
    refreshed_at   timestamptz NOT NULL,
    profiles       bigint NOT NULL
);
COMMENT ON TABLE personalize.profile_vector_state IS
'The interest categories (in feature order) and half-life of profile_vectors, the snapshot the last refresh read (a profile row written by a transaction it could not see is recomputed), when, and how many profiles it computed';

-- Whether a row was written by a transaction a snapshot did not see (vectors.c).
CREATE FUNCTION personalize._written_since_support(internal)
RETURNS internal AS 'MODULE_PATHNAME', 'personalize_written_since_support' LANGUAGE C STRICT;
COMMENT ON FUNCTION personalize._written_since_support(internal) IS
'The planner support of _written_since: a low selectivity, so that the scan of profiles for changed rows may run in parallel';
CREATE FUNCTION personalize._written_since(row_xmin xid, since xid8, snap pg_snapshot)
RETURNS boolean AS 'MODULE_PATHNAME', 'personalize_written_since' LANGUAGE C STABLE STRICT PARALLEL SAFE
SUPPORT personalize._written_since_support;
COMMENT ON FUNCTION personalize._written_since(xid, xid8, pg_snapshot) IS
'Whether the row version written by row_xmin is one snap did not see (since: snap''s xmin; row_xmin read as less than 2^31 past it, else as older)';

-- The profiles written by transactions a snapshot did not see (_written_since); a query of its
-- own so that its scan of profiles may run in parallel (PL/pgSQL plans one only for RETURN QUERY).
CREATE FUNCTION personalize._profiles_written_since(since xid8, snap pg_snapshot)
RETURNS SETOF bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY SELECT p.profile_id FROM personalize.profiles p WHERE personalize._written_since(p.xmin, since, snap);
END
$$;
COMMENT ON FUNCTION personalize._profiles_written_since(xid8, pg_snapshot) IS
'The profiles whose row was written by a transaction snap did not see (since: snap''s xmin)';

-- The profiles whose stored vector may be out of date: written by a transaction the last refresh
-- could not see (or never refreshed), or holding events after as_of. NULL (every profile) when
-- there are no usable vectors: none, another half-life, or a refresh so old (20M transactions)
-- that rows written since could have been frozen by VACUUM, which hides their transaction.
CREATE FUNCTION personalize._stale_vectors(as_of timestamptz)
RETURNS bigint[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    st personalize.profile_vector_state;
    since xid8;
BEGIN
    SELECT * INTO st FROM personalize.profile_vector_state;
    IF st IS NULL OR st.half_life <> personalize.half_life() THEN
        RETURN NULL;
    END IF;
    since := pg_snapshot_xmin(st.snapshot);
    IF pg_snapshot_xmax(pg_current_snapshot())::text::bigint - since::text::bigint > 20000000 THEN
        RETURN NULL;
    END IF;
    -- written since the refresh's snapshot (a scan of profiles), or with events after as_of (the
    -- other vectors are current: their last_seen_at is the profile's)
    RETURN ARRAY(SELECT w.id FROM personalize._profiles_written_since(since, st.snapshot) w(id)
                 UNION
                 SELECT v.profile_id FROM personalize.profile_vectors v WHERE v.last_seen_at > as_of);
END
$$;
COMMENT ON FUNCTION personalize._stale_vectors(timestamptz) IS
'The profiles lookalike() must compute from profile_features: changed since the last refresh_profile_vectors(), or newer than as_of; NULL when no stored vector is usable';

-- Where the features as of a time come from: the profiles that must be computed exactly
-- (_stale_vectors; NULL: every profile, no stored vector being usable) and the interest
-- categories (those of the stored vectors while usable, else the 8 most common as of as_of).
CREATE FUNCTION personalize._feature_source(as_of timestamptz, OUT stale bigint[], OUT categories text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    stale := personalize._stale_vectors(as_of);
    IF stale IS NOT NULL THEN
        categories := (SELECT s.categories FROM personalize.profile_vector_state s);
    ELSE
        categories := personalize._feature_categories(as_of);
    END IF;
END
$$;
COMMENT ON FUNCTION personalize._feature_source(timestamptz) IS
'For features as of as_of: the profiles to compute exactly (NULL: all) and the interest categories (the stored vectors'' while usable)';

-- A stored vector's features as of a time.
CREATE FUNCTION personalize._vector_features(last_purchase_at timestamptz, purchases float8, spend float8, engagement float8,
                                             engagement_as_of timestamptz, events float8, shares float8[], as_of timestamptz)
RETURNS float8[] AS 'MODULE_PATHNAME', 'personalize_vector_features' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION personalize._vector_features(timestamptz, float8, float8, float8, timestamptz, float8, float8[], timestamptz) IS
'The 13 features as of as_of of a profile_vectors row (its live columns'' features at that time, then its interest shares): what profile_features gives for a profile unchanged since the refresh';

-- Brings profile_vectors up to date: the profiles changed since the last refresh (every profile
-- when the feature categories or the half-life changed, or when asked to rebuild).
CREATE FUNCTION personalize.refresh_profile_vectors(rebuild boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cats text[] := personalize._feature_categories('infinity');
    hl interval := personalize.half_life();
    st personalize.profile_vector_state;
    stale bigint[];
    n bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('personalize.refresh_profile_vectors'));
    SELECT * INTO st FROM personalize.profile_vector_state;
    stale := personalize._stale_vectors('infinity');
    IF rebuild OR stale IS NULL OR st.categories IS DISTINCT FROM cats THEN
        DELETE FROM personalize.profile_vectors;
        stale := NULL;
    END IF;
    WITH changed AS (
        SELECT p.* FROM personalize.profiles p WHERE stale IS NULL OR p.profile_id = ANY (stale)
    ), interest AS (
        -- decayed to each profile's latest interest: the shares do not depend on the time
        SELECT i.profile_id, i.category,
               personalize.decay(i.score, i.as_of, max(i.as_of) OVER (PARTITION BY i.profile_id), hl) AS score
          FROM personalize.profile_interests i JOIN changed c USING (profile_id)
    ), shares AS (
        SELECT i.profile_id, personalize._interest_shares(i.category, i.score, cats) AS shares
          FROM interest i GROUP BY i.profile_id
    )
    INSERT INTO personalize.profile_vectors (profile_id, last_purchase_at, purchases, spend, engagement, engagement_as_of,
                                             events, last_seen_at, shares)
    SELECT c.profile_id, c.last_purchase_at, c.purchase_count, c.purchase_total, c.engagement, c.engagement_as_of,
           c.event_count, c.last_seen_at,
           coalesce(h.shares, personalize._no_interest_shares())
      FROM changed c LEFT JOIN shares h USING (profile_id)
    ON CONFLICT (profile_id) DO UPDATE
       SET last_purchase_at = excluded.last_purchase_at, purchases = excluded.purchases, spend = excluded.spend,
           engagement = excluded.engagement, engagement_as_of = excluded.engagement_as_of, events = excluded.events,
           last_seen_at = excluded.last_seen_at, shares = excluded.shares;
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM personalize.profile_vector_state;
    -- a profile row written by a transaction this refresh could not see is stale
    INSERT INTO personalize.profile_vector_state (categories, half_life, snapshot, refreshed_at, profiles)
    VALUES (cats, hl, pg_current_snapshot(), statement_timestamp(), n);
    RETURN n;
END
$$;
COMMENT ON FUNCTION personalize.refresh_profile_vectors(boolean) IS
'Recomputes the stored feature inputs of the profiles changed since the last refresh (every profile when the top categories or the half-life changed, or when rebuild); returns how many';

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA personalize FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    personalize._feature_categories(timestamptz), personalize._feature_names(text[]), personalize.feature_names(timestamptz),
    personalize._interest_shares(text, float8, text[]), personalize._no_interest_shares(),
    personalize.profile_features(timestamptz, bigint[]), personalize._profile_features(timestamptz, bigint[], text[]),
    personalize._stale_vectors(timestamptz), personalize._written_since(xid, xid8, pg_snapshot),
    personalize._profiles_written_since(xid8, pg_snapshot), personalize._feature_source(timestamptz),
    personalize._vector_features(timestamptz, float8, float8, float8, timestamptz, float8, float8[], timestamptz)
TO personalize_admin, personalize_analyst;
GRANT EXECUTE ON FUNCTION personalize.refresh_profile_vectors(boolean) TO personalize_admin;
-- profile_features (and with it kmeans and lookalike) checks its as_of with core's checker, which
-- runs in the caller's context and only refuses bad input: without it only a superuser could call them
GRANT EXECUTE ON FUNCTION personalize._check_as_of(timestamptz) TO personalize_admin, personalize_analyst;
GRANT SELECT ON personalize.profile_vectors, personalize.profile_vector_state TO personalize_admin, personalize_analyst;
GRANT INSERT, UPDATE, DELETE ON personalize.profile_vectors, personalize.profile_vector_state TO personalize_admin;
