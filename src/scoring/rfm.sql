-- RFM (src/rfm.c): the rfm_agg aggregate, scores against population quantiles, named segments
-- from an editable rule table, and score_rfm(), which rescores every profile from live state.

CREATE TYPE personalize.rfm AS (
    recency_days    float8,
    frequency       bigint,
    monetary        numeric,
    first_purchase  timestamptz,
    last_purchase   timestamptz,
    ignored         bigint
);
COMMENT ON TYPE personalize.rfm IS
'recency_days: days from last_purchase to as_of (NULL without purchases); frequency: purchases; monetary: their total; ignored: input rows left out';

CREATE FUNCTION personalize._rfm_trans(internal, timestamptz, numeric, timestamptz)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_rfm_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION personalize._rfm_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_rfm_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION personalize._rfm_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'personalize_rfm_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION personalize._rfm_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_rfm_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION personalize._rfm_final(internal)
RETURNS personalize.rfm
AS 'MODULE_PATHNAME', 'personalize_rfm_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE personalize.rfm_agg(occurred_at timestamptz, amount numeric, as_of timestamptz) (
    SFUNC = personalize._rfm_trans,
    STYPE = internal,
    FINALFUNC = personalize._rfm_final,
    COMBINEFUNC = personalize._rfm_combine,
    SERIALFUNC = personalize._rfm_serialize,
    DESERIALFUNC = personalize._rfm_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE personalize.rfm_agg(timestamptz, numeric, timestamptz) IS
'Recency (days as of as_of), frequency, monetary total, first and last purchase; rows with a NULL, negative, NaN or infinite amount, a NULL or infinite occurred_at, or occurred_at after as_of are left out and counted in ignored';

CREATE FUNCTION personalize.purchase_amount(properties jsonb, keys text[] DEFAULT '{revenue,total}')
RETURNS numeric
AS 'MODULE_PATHNAME', 'personalize_purchase_amount'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.purchase_amount(jsonb, text[]) IS
'The first of keys present in properties (and not null), if it is a JSON number; NULL otherwise';

CREATE FUNCTION personalize.rfm_score(value float8, breakpoints float8[], reverse boolean DEFAULT false)
RETURNS integer
AS 'MODULE_PATHNAME', 'personalize_rfm_score'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.rfm_score(float8, float8[], boolean) IS
'The bin of value: 1 + the number of breakpoints <= value (bins [lower, upper)); reversed: the lowest values score highest';

CREATE FUNCTION personalize.recency_days(last_purchase timestamptz, as_of timestamptz)
RETURNS float8
AS 'MODULE_PATHNAME', 'personalize_recency_days'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.recency_days(timestamptz, timestamptz) IS
'Days from last_purchase to as_of (fractional; negative when as_of is earlier), as rfm_agg reports recency';

-- The segment rules, first match wins (lowest priority number first). Scores run from 1 to 5.
CREATE TABLE personalize.rfm_segments (
    priority  integer PRIMARY KEY,
    segment   text NOT NULL CHECK (segment <> ''),
    r_min     smallint NOT NULL,
    r_max     smallint NOT NULL,
    f_min     smallint NOT NULL,
    f_max     smallint NOT NULL,
    m_min     smallint NOT NULL,
    m_max     smallint NOT NULL,
    builtin   boolean NOT NULL DEFAULT false,
    CHECK (1 <= r_min AND r_min <= r_max AND r_max <= 5),
    CHECK (1 <= f_min AND f_min <= f_max AND f_max <= 5),
    CHECK (1 <= m_min AND m_min <= m_max AND m_max <= 5)
);
COMMENT ON TABLE personalize.rfm_segments IS
'Named RFM segments as score ranges (inclusive); the first matching rule by priority wins, no match is Others';
INSERT INTO personalize.rfm_segments (priority, segment, r_min, r_max, f_min, f_max, m_min, m_max, builtin) VALUES
  (10, 'Champions',          4, 5, 4, 5, 4, 5, true),
  (20, 'Loyal Customers',    2, 5, 3, 5, 3, 5, true),
  (30, 'Potential Loyalist', 3, 5, 1, 3, 1, 3, true),
  (40, 'New Customers',      4, 5, 1, 1, 1, 1, true),
  (50, 'Promising',          3, 4, 1, 1, 1, 1, true),
  (60, 'Need Attention',     2, 3, 2, 3, 2, 3, true),
  (70, 'About To Sleep',     2, 3, 1, 2, 1, 2, true),
  (80, 'At Risk',            1, 2, 2, 5, 2, 5, true),
  (90, 'Can''t Lose Them',   1, 1, 4, 5, 4, 5, true),
  (100, 'Hibernating',       1, 2, 1, 2, 1, 2, true),
  (110, 'Lost',              1, 2, 1, 2, 1, 2, true);
SELECT pg_catalog.pg_extension_config_dump('personalize.rfm_segments', 'WHERE NOT builtin');

CREATE FUNCTION personalize.rfm_segment(r integer, f integer, m integer)
RETURNS text
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF r NOT BETWEEN 1 AND 5 OR f NOT BETWEEN 1 AND 5 OR m NOT BETWEEN 1 AND 5 THEN
        RAISE EXCEPTION 'RFM scores run from 1 to 5, not (%, %, %)', r, f, m
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN coalesce((SELECT s.segment FROM personalize.rfm_segments s
                      WHERE r BETWEEN s.r_min AND s.r_max AND f BETWEEN s.f_min AND s.f_max
                        AND m BETWEEN s.m_min AND s.m_max
                      ORDER BY s.priority LIMIT 1), 'Others');
END
$$;
COMMENT ON FUNCTION personalize.rfm_segment(integer, integer, integer) IS
'The named segment of scores (r, f, m) by the rules in personalize.rfm_segments; Others when none matches';

-- Every run of score_rfm: when, how many bins, the breakpoints used, what changed.
CREATE TABLE personalize.rfm_runs (
    run_id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    as_of             timestamptz NOT NULL,
    bins              integer NOT NULL,
    recency_breaks    float8[],
    frequency_breaks  float8[],
    monetary_breaks   float8[],
    profiles          bigint NOT NULL,
    changed           bigint NOT NULL,
    ran_at            timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp()
);
COMMENT ON TABLE personalize.rfm_runs IS 'Every run of score_rfm(), with the breakpoints it used';
SELECT pg_catalog.pg_extension_config_dump('personalize.rfm_runs', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.rfm_runs_run_id_seq', '');   -- else a restore restarts the ids

-- Breakpoints between bins of values: the type 7 quantiles (R's default, = percentile_cont) at
-- 1/bins, ..., (bins-1)/bins, plus 1 (the R package rfm's convention); bins [lower, upper).
CREATE FUNCTION personalize.rfm_breakpoints(sorted_quantiles float8[])
RETURNS float8[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT array_agg(q + 1 ORDER BY i) FROM unnest(sorted_quantiles) WITH ORDINALITY AS u(q, i) $$;
COMMENT ON FUNCTION personalize.rfm_breakpoints(float8[]) IS
'Quantiles to breakpoints: each plus 1, as the R package rfm does';

-- The probabilities 1/bins .. (bins-1)/bins.
CREATE FUNCTION personalize._rfm_probs(bins integer)
RETURNS float8[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT array_agg(k::float8 / bins ORDER BY k) FROM generate_series(1, bins - 1) k $$;

CREATE FUNCTION personalize.score_rfm(as_of timestamptz DEFAULT now(), bins integer DEFAULT 5)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    probs float8[];
    rb float8[];
    fb float8[];
    mb float8[];
    latest timestamptz;
    n_profiles bigint;
    n_changed bigint;
BEGIN
    PERFORM personalize._check_as_of(as_of);
    IF bins IS NULL OR bins NOT IN (3, 4, 5) THEN
        RAISE EXCEPTION 'bins must be 3, 4 or 5, not %', bins USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'The segment rules in personalize.rfm_segments use scores from 1 to 5.';
    END IF;
    probs := personalize._rfm_probs(bins);
    -- One pass over the purchasers for all three sets of quantiles.
    SELECT personalize.rfm_breakpoints(percentile_cont(probs) WITHIN GROUP (ORDER BY personalize.recency_days(p.last_purchase_at, score_rfm.as_of))),
           personalize.rfm_breakpoints(percentile_cont(probs) WITHIN GROUP (ORDER BY p.purchase_count::float8)),
           personalize.rfm_breakpoints(percentile_cont(probs) WITHIN GROUP (ORDER BY p.purchase_total::float8)),
           max(p.last_purchase_at), count(*)
      INTO rb, fb, mb, latest, n_profiles
      FROM personalize.profiles p
     WHERE p.purchase_count > 0;
    IF latest > as_of THEN
        RAISE EXCEPTION 'cannot score RFM as of %: profiles hold purchases up to %', as_of, latest
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Live state includes every purchase folded in, so recency would be negative.',
                  HINT = 'Score a past date from the events with personalize.rfm_agg(occurred_at, amount, as_of), which leaves later purchases out.';
    END IF;

    -- The segment of every score combination, evaluated once; then one pass over the profiles.
    WITH combos AS (
        SELECT DISTINCT ON (g.r, g.f, g.m) g.r, g.f, g.m, coalesce(s.segment, 'Others') AS segment
          FROM (SELECT r, f, m FROM generate_series(1, bins) r, generate_series(1, bins) f,
                                    generate_series(1, bins) m) g
          LEFT JOIN personalize.rfm_segments s
                 ON g.r BETWEEN s.r_min AND s.r_max AND g.f BETWEEN s.f_min AND s.f_max
                AND g.m BETWEEN s.m_min AND s.m_max
         ORDER BY g.r, g.f, g.m, s.priority
    ), scored AS (
        SELECT p.profile_id,
               personalize.rfm_score(personalize.recency_days(p.last_purchase_at, score_rfm.as_of), rb, true) AS r,
               personalize.rfm_score(p.purchase_count::float8, fb) AS f,
               personalize.rfm_score(p.purchase_total::float8, mb) AS m,
               p.rfm_r AS old_r, p.rfm_f AS old_f, p.rfm_m AS old_m, p.rfm_segment AS old_segment
          FROM personalize.profiles p
         WHERE p.purchase_count > 0 OR p.rfm_segment IS NOT NULL
    ), target AS (
        SELECT s.profile_id, s.r, s.f, s.m, c.segment, s.old_segment
          FROM scored s LEFT JOIN combos c ON (c.r, c.f, c.m) = (s.r, s.f, s.m)
         WHERE (s.r, s.f, s.m, c.segment) IS DISTINCT FROM (s.old_r, s.old_f, s.old_m, s.old_segment)
    ), locked AS MATERIALIZED (
        SELECT p.profile_id FROM personalize.profiles p JOIN target t USING (profile_id)
         ORDER BY p.profile_id FOR UPDATE OF p
    ), updated AS (
        UPDATE personalize.profiles p
           SET rfm_r = t.r, rfm_f = t.f, rfm_m = t.m, rfm_segment = t.segment
          FROM target t
         WHERE p.profile_id = t.profile_id AND p.profile_id IN (SELECT profile_id FROM locked)
        RETURNING t.segment IS DISTINCT FROM t.old_segment AS changed
    )
    SELECT count(*) FILTER (WHERE changed) INTO n_changed FROM updated;

    INSERT INTO personalize.rfm_runs (as_of, bins, recency_breaks, frequency_breaks, monetary_breaks, profiles, changed)
    VALUES (as_of, bins, rb, fb, mb, n_profiles, n_changed);
    PERFORM personalize._segments_refresh_reading('rfm'::text, as_of, 'score_rfm'::text);
    RETURN n_changed;
END
$$;
COMMENT ON FUNCTION personalize.score_rfm(timestamptz, integer) IS
'Scores every purchaser 1..bins on recency (reversed), frequency and monetary against population quantiles, stores r, f, m and the segment on the profile; returns how many profiles changed segment';
