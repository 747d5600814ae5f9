-- Clusters (src/predict/cluster.c over src/predict/kmeans_model.c): personalize.kmeans() (k-means++
-- with a fixed seed over the feature vectors of src/predict/vectors.sql, stored in cluster_models,
-- clusters and profile_clusters, readable by segment rules as the field "cluster"), and the
-- moments and similarity lookalikes score with (src/predict/lookalike.sql).

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
    stale bigint[];
    cats text[];
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
    -- every profile's features: computed exactly where its stored vector is stale, else from it
    SELECT * INTO stale, cats FROM personalize._feature_source(as_of);
    fit := (SELECT personalize.kmeans_fit(coalesce(f.profile_id, v.profile_id),
                                          coalesce(f.features,
                                                   personalize._vector_features(v.last_purchase_at, v.purchases, v.spend, v.engagement,
                                                                                v.engagement_as_of, v.events, v.shares, kmeans.as_of)),
                                          k, seed)
              FROM (SELECT * FROM personalize.profile_vectors WHERE stale IS NOT NULL) v
              FULL JOIN personalize._profile_features(kmeans.as_of, stale, cats) f ON f.profile_id = v.profile_id);
    IF fit IS NULL THEN
        RAISE EXCEPTION 'no profiles to cluster' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'k-means needs at least k profiles.';
    END IF;
    names := personalize._feature_names(cats);
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
'Clusters every profile by k-means++ (seeded, deterministic) over its features as of as_of (profile_features, read from the stored vectors where current), standardized; stores the run (cluster_models, clusters, profile_clusters) and refreshes the segments that read "cluster"';

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA personalize FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    personalize.kmeans_fit(bigint, float8[], integer, bigint), personalize.feature_moments(float8[]),
    personalize.lookalike_similarity(float8[], float8[], float8[], float8[]),
    personalize._describe_features(float8[], text[])
TO personalize_admin, personalize_analyst;
GRANT EXECUTE ON FUNCTION personalize.kmeans(integer, timestamptz, bigint) TO personalize_admin;
GRANT SELECT ON personalize.cluster_models, personalize.clusters, personalize.profile_clusters
TO personalize_admin, personalize_analyst;
GRANT INSERT, DELETE ON personalize.cluster_models, personalize.clusters, personalize.profile_clusters TO personalize_admin;
