-- Lookalikes (src/predict/lookalike.c): personalize.lookalike(), the profiles closest to a seed
-- audience or segment, by an exact scan over every profile's features (src/predict/vectors.sql):
-- the scan reads one narrow stored row per profile (profile_vectors) and computes its features
-- as of the time in C; the profiles whose stored row is stale come computed by profile_features.

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
'A lookalike scan''s pass: the population''s and the seed''s per-feature means and standard deviations (pass 1), or the n best profiles outside the seed (best first) with their scores and features (n x d, flattened; pass 2)';

CREATE FUNCTION personalize._lookalike_scan_trans(internal, bigint, float8[], timestamptz, float8, float8, float8, timestamptz,
                                                  float8, float8[], timestamptz, bigint[], bigint[], integer,
                                                  float8[], float8[], float8[])
RETURNS internal AS 'MODULE_PATHNAME', 'personalize_lookalike_scan_trans' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION personalize._lookalike_scan_combine(internal, internal)
RETURNS internal AS 'MODULE_PATHNAME', 'personalize_lookalike_scan_combine' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION personalize._lookalike_scan_serialize(internal)
RETURNS bytea AS 'MODULE_PATHNAME', 'personalize_lookalike_scan_serialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION personalize._lookalike_scan_deserialize(bytea, internal)
RETURNS internal AS 'MODULE_PATHNAME', 'personalize_lookalike_scan_deserialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION personalize._lookalike_scan_final(internal)
RETURNS personalize.lookalike_scan_result AS 'MODULE_PATHNAME', 'personalize_lookalike_scan_final' LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE personalize._lookalike_scan(id bigint, features float8[], last_purchase_at timestamptz,
                                             purchases float8, spend float8, engagement float8,
                                             engagement_as_of timestamptz, events float8, shares float8[],
                                             as_of timestamptz, seed_ids bigint[], skip_ids bigint[], n integer,
                                             pop_sd float8[], seed_mean float8[], seed_sd float8[]) (
    SFUNC = personalize._lookalike_scan_trans,
    STYPE = internal,
    FINALFUNC = personalize._lookalike_scan_final,
    COMBINEFUNC = personalize._lookalike_scan_combine,
    SERIALFUNC = personalize._lookalike_scan_serialize,
    DESERIALFUNC = personalize._lookalike_scan_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE personalize._lookalike_scan(bigint, float8[], timestamptz, float8, float8, float8, timestamptz, float8, float8[], timestamptz, bigint[], bigint[], integer, float8[], float8[], float8[]) IS
'lookalike()''s scan over every profile''s features (given, or computed as of as_of from the live columns and the stored shares, unless in skip_ids): without pop_sd the population''s and the seed''s (seed_ids) moments, with pop_sd, seed_mean and seed_sd the n best outside the seed by lookalike_similarity; parallel safe, small partial states';

-- One pass of lookalike()'s scan over every profile: the stored vectors (but the stale ones) and
-- the given exact features (exact_features[i:i] those of exact_ids[i]); a query of its own so
-- that it may run in parallel (PL/pgSQL plans a parallel query only for RETURN QUERY).
CREATE FUNCTION personalize._lookalike_pass(as_of timestamptz, seed_ids bigint[], stale bigint[], exact_ids bigint[],
                                            exact_features float8[], n integer, pop_sd float8[], seed_mean float8[],
                                            seed_sd float8[])
RETURNS SETOF personalize.lookalike_scan_result
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT (s.r).* FROM (
    SELECT personalize._lookalike_scan(x.profile_id, x.features, x.last_purchase_at, x.purchases, x.spend,
                                       x.engagement, x.engagement_as_of, x.events, x.shares,
                                       _lookalike_pass.as_of, seed_ids, stale, _lookalike_pass.n, pop_sd, seed_mean, seed_sd) AS r
      FROM (SELECT v.profile_id, NULL::float8[] AS features, v.last_purchase_at, v.purchases, v.spend, v.engagement,
                   v.engagement_as_of, v.events, v.shares
              FROM personalize.profile_vectors v
             WHERE stale IS NOT NULL
            UNION ALL
            SELECT e.id, exact_features[e.i:e.i], NULL, NULL, NULL, NULL, NULL, NULL, NULL
              FROM unnest(exact_ids) WITH ORDINALITY e(id, i)) x) s;
END
$$;
COMMENT ON FUNCTION personalize._lookalike_pass(timestamptz, bigint[], bigint[], bigint[], float8[], integer, float8[], float8[], float8[]) IS
'_lookalike_scan over the stored vectors not in stale (none when stale is NULL) and the exact features given: the moments (pop_sd NULL) or the n best';

-- The n profiles most like a seed audience, outside it, with why.
CREATE FUNCTION personalize.lookalike(seed personalize.audience, n integer DEFAULT 1000, as_of timestamptz DEFAULT now())
RETURNS TABLE (profile_id bigint, score float8, reason text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    stale bigint[];
    members bigint[];
    exact_ids bigint[];
    exact_features float8[];
    cats text[];
    names text[];
    m personalize.lookalike_scan_result;
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
    SELECT * INTO stale, cats FROM personalize._feature_source(as_of);
    names := personalize._feature_names(cats);
    members := ARRAY(SELECT personalize.audience_members(seed));
    -- every profile: computed exactly where its stored vector is stale (first, so that the scan
    -- of the stored ones may run in parallel), else from its stored vector
    SELECT array_agg(f.profile_id ORDER BY f.profile_id), array_agg(f.features ORDER BY f.profile_id)
      INTO exact_ids, exact_features
      FROM personalize._profile_features(as_of, stale, cats) f;
    -- pass 1, the moments; pass 2, the n best scored with them
    SELECT * INTO m FROM personalize._lookalike_pass(as_of, members, stale, exact_ids, exact_features, n, NULL, NULL, NULL);
    IF m IS NULL OR m.pop_sd IS NULL THEN
        RETURN;
    END IF;
    SELECT * INTO r FROM personalize._lookalike_pass(as_of, members, stale, exact_ids, exact_features, n, m.pop_sd, m.seed_mean, m.seed_sd);
    IF r IS NULL OR r.ids IS NULL THEN
        RETURN;
    END IF;
    d := cardinality(m.pop_mean);
    RETURN QUERY
    SELECT b.id, b.score,
           coalesce('shares what sets the seed apart: ' || personalize._describe_features(
               ARRAY(SELECT CASE WHEN m.pop_sd[j] > 0
                                      AND abs(r.features[(b.i - 1) * d + j] - m.seed_mean[j]) <= greatest(m.seed_sd[j], 0.5 * m.pop_sd[j])
                                 THEN (m.seed_mean[j] - m.pop_mean[j]) / m.pop_sd[j] ELSE 0 END
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
    personalize._lookalike_pass(timestamptz, bigint[], bigint[], bigint[], float8[], integer, float8[], float8[], float8[]),
    personalize._lookalike_scan(bigint, float8[], timestamptz, float8, float8, float8, timestamptz, float8, float8[], timestamptz, bigint[], bigint[], integer, float8[], float8[], float8[]),
    personalize.lookalike(personalize.audience, integer, timestamptz), personalize.lookalike(text, integer, timestamptz)
TO personalize_admin, personalize_analyst;
