-- Clusters (src/predict/cluster.c over src/predict/kmeans_model.c): a feature vector per profile
-- as of a time (purchase recency, frequency and spend, engagement, activity, interest shares),
-- the moments and similarity lookalikes score with (src/predict/lookalike.sql)
-- and personalize.kmeans() (k-means++ with a fixed seed, stored in cluster_models, clusters and
-- profile_clusters, readable by segment rules as the field "cluster").

CREATE TYPE personalize.kmeans_fit_result AS (
    centroids   float8[],
    means       float8[],
    sds         float8[],
    inertia     float8,
    iterations  integer,
    converged   boolean,
    ids         bigint[],
    clusters    integer[],
    sizes       bigint[]
);
COMMENT ON TYPE personalize.kmeans_fit_result IS
'A k-means run: centroids (k x d, in standard deviations from the mean), the means and standard deviations the features were standardized with, inertia (sum of squared distances), Lloyd passes, whether the last pass changed nothing, and every id (ascending) with its cluster (0-based) and the cluster sizes';

CREATE TYPE personalize.feature_moments_result AS (
    n     bigint,
    mean  float8[],
    sd    float8[]
);
COMMENT ON TYPE personalize.feature_moments_result IS
'Per dimension of a set of feature vectors: the count, the mean and the population standard deviation';

CREATE FUNCTION personalize._kmeans_trans(internal, bigint, float8[], integer, bigint)
RETURNS internal AS 'MODULE_PATHNAME', 'personalize_kmeans_trans' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION personalize._kmeans_combine(internal, internal)
RETURNS internal AS 'MODULE_PATHNAME', 'personalize_kmeans_combine' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION personalize._kmeans_serialize(internal)
RETURNS bytea AS 'MODULE_PATHNAME', 'personalize_kmeans_serialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION personalize._kmeans_deserialize(bytea, internal)
RETURNS internal AS 'MODULE_PATHNAME', 'personalize_kmeans_deserialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION personalize._kmeans_final(internal)
RETURNS personalize.kmeans_fit_result AS 'MODULE_PATHNAME', 'personalize_kmeans_final' LANGUAGE C PARALLEL SAFE;

CREATE AGGREGATE personalize.kmeans_fit(id bigint, features float8[], k integer, seed bigint) (
    SFUNC = personalize._kmeans_trans,
    STYPE = internal,
    FINALFUNC = personalize._kmeans_final,
    COMBINEFUNC = personalize._kmeans_combine,
    SERIALFUNC = personalize._kmeans_serialize,
    DESERIALFUNC = personalize._kmeans_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE personalize.kmeans_fit(bigint, float8[], integer, bigint) IS
'k-means over feature vectors: rows sorted by id, standardized (z-scores), k-means++ seeding from a splitmix64 stream started at seed, Lloyd''s iterations to convergence (at most 300); the same answer under any plan';

CREATE FUNCTION personalize._moments_trans(internal, float8[])
RETURNS internal AS 'MODULE_PATHNAME', 'personalize_moments_trans' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION personalize._moments_combine(internal, internal)
RETURNS internal AS 'MODULE_PATHNAME', 'personalize_moments_combine' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION personalize._moments_serialize(internal)
RETURNS bytea AS 'MODULE_PATHNAME', 'personalize_moments_serialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION personalize._moments_deserialize(bytea, internal)
RETURNS internal AS 'MODULE_PATHNAME', 'personalize_moments_deserialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION personalize._moments_final(internal)
RETURNS personalize.feature_moments_result AS 'MODULE_PATHNAME', 'personalize_moments_final' LANGUAGE C PARALLEL SAFE;

CREATE AGGREGATE personalize.feature_moments(features float8[]) (
    SFUNC = personalize._moments_trans,
    STYPE = internal,
    FINALFUNC = personalize._moments_final,
    COMBINEFUNC = personalize._moments_combine,
    SERIALFUNC = personalize._moments_serialize,
    DESERIALFUNC = personalize._moments_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE personalize.feature_moments(float8[]) IS
'Per dimension of feature vectors: count, mean, population standard deviation (Welford, combined exactly in parallel)';

CREATE FUNCTION personalize.lookalike_similarity(features float8[], sd float8[], seed_mean float8[], seed_sd float8[])
RETURNS float8 AS 'MODULE_PATHNAME', 'personalize_lookalike_similarity' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.lookalike_similarity(float8[], float8[], float8[], float8[]) IS
'1 / (1 + d2): d2 the mean over dimensions (population sd > 0) of ((x - seed_mean) / sd)^2 / ((seed_sd / sd)^2 + 0.1)';

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

-- The names of the feature dimensions, in order.
CREATE FUNCTION personalize.feature_names(as_of timestamptz DEFAULT now())
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ARRAY['purchase recency', 'purchase frequency', 'spend', 'engagement', 'activity']
           || ARRAY(SELECT 'interest in ' || coalesce(c.c[g], '(no category ' || g || ')')
                      FROM (SELECT personalize._feature_categories($1) AS c) c, generate_series(1, 8) g ORDER BY g)
$$;
COMMENT ON FUNCTION personalize.feature_names(timestamptz) IS
'The names of the 13 dimensions of profile_features(as_of), in order';

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
        SELECT i.profile_id, sum(i.score) AS total,
               sum(i.score) FILTER (WHERE i.category = cats[1]) AS s1, sum(i.score) FILTER (WHERE i.category = cats[2]) AS s2,
               sum(i.score) FILTER (WHERE i.category = cats[3]) AS s3, sum(i.score) FILTER (WHERE i.category = cats[4]) AS s4,
               sum(i.score) FILTER (WHERE i.category = cats[5]) AS s5, sum(i.score) FILTER (WHERE i.category = cats[6]) AS s6,
               sum(i.score) FILTER (WHERE i.category = cats[7]) AS s7, sum(i.score) FILTER (WHERE i.category = cats[8]) AS s8
          FROM interest i GROUP BY i.profile_id
    )
    SELECT s.profile_id,
           ARRAY[CASE WHEN s.last_at IS NULL OR s.last_at > t THEN 0
                      ELSE 1 / (1 + extract(epoch FROM t - s.last_at)::float8 / 2592000) END,
                 ln(1 + s.purchases), ln(1 + greatest(s.spend, 0)),
                 ln(1 + CASE WHEN s.engagement_at IS NULL THEN 0
                             ELSE greatest(personalize.decay(s.engagement, s.engagement_at, t, hl), 0) END),
                 ln(1 + s.events),
                 coalesce(h.s1 / nullif(h.total, 0), 0), coalesce(h.s2 / nullif(h.total, 0), 0),
                 coalesce(h.s3 / nullif(h.total, 0), 0), coalesce(h.s4 / nullif(h.total, 0), 0),
                 coalesce(h.s5 / nullif(h.total, 0), 0), coalesce(h.s6 / nullif(h.total, 0), 0),
                 coalesce(h.s7 / nullif(h.total, 0), 0), coalesce(h.s8 / nullif(h.total, 0), 0)]
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

CREATE TABLE personalize.cluster_models (
    model_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    as_of       timestamptz NOT NULL,
    k           integer NOT NULL,
    seed        bigint NOT NULL,
    features    text[] NOT NULL,
    means       float8[] NOT NULL,
    sds         float8[] NOT NULL,
    inertia     float8 NOT NULL,
    iterations  integer NOT NULL,
    converged   boolean NOT NULL,
    profiles    bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp()
);
COMMENT ON TABLE personalize.cluster_models IS
'Every kmeans() run: k, seed, the feature names and the means and standard deviations they were standardized with, inertia, Lloyd passes, profiles';

CREATE TABLE personalize.clusters (
    model_id     bigint NOT NULL REFERENCES personalize.cluster_models ON DELETE CASCADE,
    cluster      integer NOT NULL,
    size         bigint NOT NULL,
    centroid     float8[] NOT NULL,
    description  text NOT NULL,
    PRIMARY KEY (model_id, cluster)
);
COMMENT ON TABLE personalize.clusters IS
'The clusters of each kmeans() run (numbered from 1): size, centroid (standard deviations from the mean, per feature) and what sets it apart, in words';

CREATE TABLE personalize.profile_clusters (
    profile_id  bigint PRIMARY KEY,
    model_id    bigint NOT NULL,
    cluster     integer NOT NULL
);
COMMENT ON TABLE personalize.profile_clusters IS
'Each profile''s cluster in the latest kmeans() run (segment rules read it as the field "cluster")';
SELECT pg_catalog.pg_extension_config_dump('personalize.cluster_models', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.clusters', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.profile_clusters', '');

-- What sets a point apart from the average profile, in words: its (up to) three features
-- furthest from the mean, at least half a standard deviation away.
CREATE FUNCTION personalize._describe_features(z float8[], names text[])
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT string_agg(format('%s %s (%s%s sd)', CASE WHEN t.v > 0 THEN 'high' ELSE 'low' END, t.name,
                             CASE WHEN t.v > 0 THEN '+' ELSE '' END, round(t.v::numeric, 1)),
                      ', ' ORDER BY abs(t.v) DESC, t.name)
      FROM (SELECT u.v, u.name FROM unnest($1, $2) u(v, name)
             WHERE abs(u.v) >= 0.5 ORDER BY abs(u.v) DESC, u.name LIMIT 3) t
$$;
COMMENT ON FUNCTION personalize._describe_features(float8[], text[]) IS
'The (up to) three features furthest from the mean (at least 0.5 sd), in words; NULL when none is';

-- Clusters every profile by k-means as of a time and stores the run; segments reading the
-- field "cluster" are refreshed.
CREATE FUNCTION personalize.kmeans(k integer, as_of timestamptz DEFAULT now(), seed bigint DEFAULT 0)
RETURNS SETOF personalize.clusters
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fit personalize.kmeans_fit_result;
    names text[];
    m bigint;
    d integer;
BEGIN
    IF k IS NULL OR k < 1 OR k > 1000 THEN
        RAISE EXCEPTION 'k must be between 1 and 1000' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Got %s.', coalesce(k::text, 'NULL'));
    END IF;
    PERFORM personalize._check_as_of(as_of);
    seed := coalesce(seed, 0);
    -- one run at a time: profile_clusters holds the latest
    PERFORM pg_advisory_xact_lock(hashtext('personalize.kmeans'));
    fit := (SELECT personalize.kmeans_fit(f.profile_id, f.features, k, seed)
              FROM personalize.profile_features(as_of) f);
    IF fit IS NULL THEN
        RAISE EXCEPTION 'no profiles to cluster' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'k-means needs at least k profiles.';
    END IF;
    names := personalize.feature_names(as_of);
    d := cardinality(fit.means);
    INSERT INTO personalize.cluster_models (as_of, k, seed, features, means, sds, inertia, iterations, converged, profiles)
    VALUES (as_of, k, seed, names, fit.means, fit.sds, fit.inertia, fit.iterations, fit.converged, cardinality(fit.ids))
    RETURNING model_id INTO m;
    INSERT INTO personalize.clusters (model_id, cluster, size, centroid, description)
    SELECT m, c, fit.sizes[c], z, coalesce(personalize._describe_features(z, names), 'close to the average profile')
      FROM generate_series(1, k) c,
           LATERAL (SELECT ARRAY(SELECT fit.centroids[c][j] FROM generate_series(1, d) j ORDER BY j) AS z) zz;
    DELETE FROM personalize.profile_clusters;
    INSERT INTO personalize.profile_clusters (profile_id, model_id, cluster)
    SELECT u.id, m, u.c + 1 FROM unnest(fit.ids, fit.clusters) u(id, c);
    PERFORM personalize._segments_refresh_reading('cluster'::text, as_of, 'kmeans'::text);
    RETURN QUERY SELECT * FROM personalize.clusters c WHERE c.model_id = m ORDER BY c.cluster;
END
$$;
COMMENT ON FUNCTION personalize.kmeans(integer, timestamptz, bigint) IS
'Clusters every profile by k-means++ (seeded, deterministic) over profile_features(as_of), standardized; stores the run (cluster_models, clusters, profile_clusters) and refreshes the segments that read "cluster"';

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA personalize FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    personalize.kmeans_fit(bigint, float8[], integer, bigint), personalize.feature_moments(float8[]),
    personalize.lookalike_similarity(float8[], float8[], float8[], float8[]),
    personalize._feature_categories(timestamptz), personalize.feature_names(timestamptz),
    personalize.profile_features(timestamptz, bigint[]), personalize._profile_features(timestamptz, bigint[], text[]),
    personalize._describe_features(float8[], text[])
TO personalize_admin, personalize_analyst;
GRANT EXECUTE ON FUNCTION personalize.kmeans(integer, timestamptz, bigint) TO personalize_admin;
-- profile_features (and with it kmeans and lookalike) checks its as_of with core's checker, which
-- runs in the caller's context and only refuses bad input: without it only a superuser could call them
GRANT EXECUTE ON FUNCTION personalize._check_as_of(timestamptz) TO personalize_admin, personalize_analyst;
GRANT SELECT ON personalize.cluster_models, personalize.clusters, personalize.profile_clusters
TO personalize_admin, personalize_analyst;
GRANT INSERT, DELETE ON personalize.cluster_models, personalize.clusters, personalize.profile_clusters TO personalize_admin;
