-- Lookalikes (src/predict/lookalike.c): personalize.lookalike() (the profiles closest to a seed
-- audience or segment, an exact scan over every profile) and what makes it fast: the inputs of
-- each profile's features stored in personalize.profile_vectors (its live purchase, engagement and
-- activity columns, and its interest shares, which do not change with time), kept current by
-- personalize.refresh_profile_vectors() (incremental: only the profiles changed since), so that a
-- scan reads one narrow row per profile and no interest rows. A profile changed since the last
-- refresh (its row in profiles is newer than the refresh's snapshot) is computed exactly by
-- profile_features, so the answer never depends on how recently the vectors were refreshed.

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

-- A 32-bit transaction id with its epoch (the most recent one it can be, as of the snapshot's xmax).
CREATE FUNCTION personalize._xid8(x xid)
RETURNS xid8
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (((m >> 32) - CASE WHEN x::text::bigint > (m & 4294967295) THEN 1 ELSE 0 END) * 4294967296
            + x::text::bigint)::text::xid8
      FROM (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS m) s
$$;
COMMENT ON FUNCTION personalize._xid8(xid) IS 'A 32-bit transaction id as a full xid8 (its latest epoch as of now)';

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
    x xid;
BEGIN
    SELECT * INTO st FROM personalize.profile_vector_state;
    IF st IS NULL OR st.half_life <> personalize.half_life() THEN
        RETURN NULL;
    END IF;
    x := (pg_snapshot_xmin(st.snapshot)::text::numeric % 4294967296)::text::xid;
    IF age(x) > 20000000 THEN
        RETURN NULL;
    END IF;
    -- written since the refresh's snapshot's xmin (cheap to test), and not visible to it
    RETURN ARRAY(SELECT p.profile_id FROM personalize.profiles p
                  WHERE (age(p.xmin) <= age(x) AND NOT pg_visible_in_snapshot(personalize._xid8(p.xmin), st.snapshot))
                     OR p.last_seen_at > as_of);
END
$$;
COMMENT ON FUNCTION personalize._stale_vectors(timestamptz) IS
'The profiles lookalike() must compute from profile_features: changed since the last refresh_profile_vectors(), or newer than as_of; NULL when no stored vector is usable';

CREATE TYPE personalize.lookalike_scan_result AS (
    ids        bigint[],
    scores     float8[],
    features   float8[],
    pop_mean   float8[],
    pop_sd     float8[],
    seed_mean  float8[],
    seed_sd    float8[]
);
COMMENT ON TYPE personalize.lookalike_scan_result IS
'The n best profiles outside a seed (best first) with their scores and features (n x d, flattened), and the population''s and the seed''s per-feature means and standard deviations';

CREATE FUNCTION personalize._lookalike_scan_trans(internal, bigint, float8[], timestamptz, float8, float8,
                                                  float8, timestamptz, float8, float8[], timestamptz, integer, bigint[], bigint[])
RETURNS internal AS 'MODULE_PATHNAME', 'personalize_lookalike_scan_trans' LANGUAGE C;
CREATE FUNCTION personalize._lookalike_scan_final(internal)
RETURNS personalize.lookalike_scan_result AS 'MODULE_PATHNAME', 'personalize_lookalike_scan_final' LANGUAGE C;
CREATE AGGREGATE personalize._lookalike_scan(id bigint, features float8[], last_purchase_at timestamptz,
                                             purchases float8, spend float8, engagement float8,
                                             engagement_as_of timestamptz, events float8, shares float8[],
                                             as_of timestamptz, n integer, seed_ids bigint[], skip_ids bigint[]) (
    SFUNC = personalize._lookalike_scan_trans,
    STYPE = internal,
    FINALFUNC = personalize._lookalike_scan_final
);
COMMENT ON AGGREGATE personalize._lookalike_scan(bigint, float8[], timestamptz, float8, float8, float8, timestamptz, float8, float8[], timestamptz, integer, bigint[], bigint[]) IS
'lookalike()''s scan: every profile''s features (given, or computed as of as_of from the live columns and the stored shares, unless in skip_ids), then the n best outside the seed (seed_ids) by lookalike_similarity';

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
        SELECT i.profile_id, sum(i.score) AS total,
               sum(i.score) FILTER (WHERE i.category = cats[1]) AS s1, sum(i.score) FILTER (WHERE i.category = cats[2]) AS s2,
               sum(i.score) FILTER (WHERE i.category = cats[3]) AS s3, sum(i.score) FILTER (WHERE i.category = cats[4]) AS s4,
               sum(i.score) FILTER (WHERE i.category = cats[5]) AS s5, sum(i.score) FILTER (WHERE i.category = cats[6]) AS s6,
               sum(i.score) FILTER (WHERE i.category = cats[7]) AS s7, sum(i.score) FILTER (WHERE i.category = cats[8]) AS s8
          FROM interest i GROUP BY i.profile_id
    )
    INSERT INTO personalize.profile_vectors (profile_id, last_purchase_at, purchases, spend, engagement, engagement_as_of,
                                             events, last_seen_at, shares)
    SELECT c.profile_id, c.last_purchase_at, c.purchase_count, c.purchase_total, c.engagement, c.engagement_as_of,
           c.event_count, c.last_seen_at,
           ARRAY[coalesce(h.s1 / nullif(h.total, 0), 0), coalesce(h.s2 / nullif(h.total, 0), 0),
                 coalesce(h.s3 / nullif(h.total, 0), 0), coalesce(h.s4 / nullif(h.total, 0), 0),
                 coalesce(h.s5 / nullif(h.total, 0), 0), coalesce(h.s6 / nullif(h.total, 0), 0),
                 coalesce(h.s7 / nullif(h.total, 0), 0), coalesce(h.s8 / nullif(h.total, 0), 0)]
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

-- The n profiles most like a seed audience, outside it, with why.
CREATE FUNCTION personalize.lookalike(seed personalize.audience, n integer DEFAULT 1000, as_of timestamptz DEFAULT now())
RETURNS TABLE (profile_id bigint, score float8, reason text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    st personalize.profile_vector_state;
    stale bigint[];
    members bigint[];
    cats text[];
    names text[];
    r personalize.lookalike_scan_result;
    d integer;
BEGIN
    IF n IS NULL OR n < 0 OR n > 1000000 THEN
        RAISE EXCEPTION 'n must be between 0 and 1000000' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Got %s.', coalesce(n::text, 'NULL'));
    END IF;
    IF seed IS NULL OR personalize.cardinality(seed) = 0 THEN
        RAISE EXCEPTION 'the lookalike seed is empty' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Seed with a segment or audience that has members.';
    END IF;
    PERFORM personalize._check_as_of(as_of);
    SELECT * INTO st FROM personalize.profile_vector_state;
    stale := personalize._stale_vectors(as_of);
    -- the categories of the stored vectors while they are usable; else as of as_of
    cats := CASE WHEN stale IS NOT NULL THEN st.categories ELSE personalize._feature_categories(as_of) END;
    names := ARRAY['purchase recency', 'purchase frequency', 'spend', 'engagement', 'activity']
             || ARRAY(SELECT 'interest in ' || coalesce(cats[g], '(no category ' || g || ')') FROM generate_series(1, 8) g ORDER BY g);
    -- every profile: from its stored vector when current, else computed by profile_features
    members := ARRAY(SELECT personalize.audience_members(seed));
    r := (SELECT personalize._lookalike_scan(x.profile_id, x.features, x.last_purchase_at, x.purchases, x.spend,
                                             x.engagement, x.engagement_as_of, x.events, x.shares,
                                             lookalike.as_of, lookalike.n, members, stale)
      FROM (SELECT v.profile_id, NULL::float8[] AS features, v.last_purchase_at, v.purchases, v.spend, v.engagement,
                   v.engagement_as_of, v.events, v.shares
              FROM personalize.profile_vectors v
             WHERE stale IS NOT NULL
            UNION ALL
            SELECT f.profile_id, f.features, NULL, NULL, NULL, NULL, NULL, NULL, NULL
              FROM personalize._profile_features(lookalike.as_of, stale, cats) f) x);
    IF r IS NULL OR r.ids IS NULL THEN
        RETURN;
    END IF;
    d := cardinality(r.pop_mean);
    RETURN QUERY
    SELECT b.id, b.score,
           coalesce('shares what sets the seed apart: ' || personalize._describe_features(
               ARRAY(SELECT CASE WHEN r.pop_sd[j] > 0
                                      AND abs(r.features[(b.i - 1) * d + j] - r.seed_mean[j]) <= greatest(r.seed_sd[j], 0.5 * r.pop_sd[j])
                                 THEN (r.seed_mean[j] - r.pop_mean[j]) / r.pop_sd[j] ELSE 0 END
                       FROM generate_series(1, d) j ORDER BY j), names),
                    'close to the seed''s average on every feature')
      FROM unnest(r.ids, r.scores) WITH ORDINALITY b(id, score, i)
     ORDER BY b.score DESC, b.id;
END
$$;
COMMENT ON FUNCTION personalize.lookalike(personalize.audience, integer, timestamptz) IS
'The n profiles outside the seed most similar to it (lookalike_similarity over the features as of as_of, the seed''s own spread weighting each feature), best first, with the seed''s distinguishing features each shares; an exact scan over the stored vectors (refresh_profile_vectors), computing the stale ones';

CREATE FUNCTION personalize.lookalike(seed text, n integer DEFAULT 1000, as_of timestamptz DEFAULT now())
RETURNS TABLE (profile_id bigint, score float8, reason text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM personalize.lookalike(personalize.audience($1, $3), $2, $3)
$$;
COMMENT ON FUNCTION personalize.lookalike(text, integer, timestamptz) IS
'lookalike() seeded with a segment''s members as of as_of';

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA personalize FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    personalize._stale_vectors(timestamptz), personalize._xid8(xid),
    personalize._lookalike_scan(bigint, float8[], timestamptz, float8, float8, float8, timestamptz, float8, float8[], timestamptz, integer, bigint[], bigint[]),
    personalize.lookalike(personalize.audience, integer, timestamptz), personalize.lookalike(text, integer, timestamptz)
TO personalize_admin, personalize_analyst;
GRANT EXECUTE ON FUNCTION personalize.refresh_profile_vectors(boolean) TO personalize_admin;
GRANT SELECT ON personalize.profile_vectors, personalize.profile_vector_state TO personalize_admin, personalize_analyst;
GRANT INSERT, UPDATE, DELETE ON personalize.profile_vectors, personalize.profile_vector_state TO personalize_admin;
