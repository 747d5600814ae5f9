-- Decay and engagement (src/decay.c): scores that halve every half-life, the engagement
-- aggregate, the half-life setting and the counters of ignored aggregate input rows.

CREATE FUNCTION personalize.decay(score float8, from_ts timestamptz, to_ts timestamptz, half_life interval)
RETURNS float8
AS 'MODULE_PATHNAME', 'personalize_decay'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.decay(float8, timestamptz, timestamptz, interval) IS
'score valued at from_ts, valued at to_ts: halved once per half_life (a month counts 30 days); to_ts before from_ts is an error';

CREATE FUNCTION personalize.half_life()
RETURNS interval
AS 'MODULE_PATHNAME', 'personalize_half_life'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION personalize.half_life() IS
'The personalize.half_life setting (default 14 days): the half-life of the live engagement and interest scores';

-- A score and the time it is valued at.
CREATE TYPE personalize.decayed AS (score float8, as_of timestamptz);

CREATE FUNCTION personalize._decay_sum(score float8, as_of timestamptz, add personalize.decayed, half_life interval)
RETURNS float8
AS 'MODULE_PATHNAME', 'personalize_decay_sum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION personalize._engagement_trans(internal, timestamptz, float8, interval, timestamptz)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_engagement_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION personalize._engagement_state_trans(internal, timestamptz, float8, interval)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_engagement_state_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION personalize._engagement_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_engagement_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION personalize._engagement_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'personalize_engagement_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION personalize._engagement_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_engagement_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION personalize._engagement_final(internal)
RETURNS float8
AS 'MODULE_PATHNAME', 'personalize_engagement_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION personalize._engagement_state_final(internal)
RETURNS personalize.decayed
AS 'MODULE_PATHNAME', 'personalize_engagement_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE personalize.engagement(occurred_at timestamptz, weight float8, half_life interval,
                                        as_of timestamptz) (
    SFUNC = personalize._engagement_trans,
    STYPE = internal,
    SSPACE = 128,    -- the EngagementState of src/decay.c as allocated; the planner assumes 1 kB
    FINALFUNC = personalize._engagement_final,
    COMBINEFUNC = personalize._engagement_combine,
    SERIALFUNC = personalize._engagement_serialize,
    DESERIALFUNC = personalize._engagement_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE personalize.engagement(timestamptz, float8, interval, timestamptz) IS
'Sum of weight * 2^(-(as_of - occurred_at) / half_life); rows with a NULL or infinite occurred_at, a NULL weight, or occurred_at after as_of are left out (see ignored_rows()); 0 when none counts';

-- The same sum valued at the latest event instead of as_of: what profiles store.
CREATE AGGREGATE personalize._engagement_state(occurred_at timestamptz, weight float8, half_life interval) (
    SFUNC = personalize._engagement_state_trans,
    STYPE = internal,
    SSPACE = 128,
    FINALFUNC = personalize._engagement_state_final,
    COMBINEFUNC = personalize._engagement_combine,
    SERIALFUNC = personalize._engagement_serialize,
    DESERIALFUNC = personalize._engagement_deserialize,
    PARALLEL = SAFE
);

CREATE FUNCTION personalize.ignored_rows(OUT aggregate text, OUT reason text, OUT rows bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'personalize_ignored_rows'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION personalize.ignored_rows() IS
'Input rows the scoring aggregates (engagement, rfm_agg) left out in this session, by reason';

CREATE FUNCTION personalize.reset_ignored_rows()
RETURNS void
AS 'MODULE_PATHNAME', 'personalize_reset_ignored_rows'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION personalize.reset_ignored_rows() IS 'Sets the counters of ignored_rows() back to zero';
