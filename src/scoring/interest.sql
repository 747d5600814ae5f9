-- Interest affinity (src/interest.c): per profile and product category, a decayed score of
-- the events about that category (weights: personalize.scoring_events.interest_weight), kept
-- live by the ingest pipeline as a (score, as_of) pair like engagement.

CREATE FUNCTION personalize.event_category(properties jsonb, key text DEFAULT 'category')
RETURNS text
AS 'MODULE_PATHNAME', 'personalize_event_category'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.event_category(jsonb, text) IS
'properties ->> key when it is a JSON string of 1 to 200 bytes, else NULL: the category an event counts for';

CREATE TABLE personalize.profile_interests (
    profile_id  bigint NOT NULL,
    category    text NOT NULL,
    score       float8 NOT NULL,
    as_of       timestamptz NOT NULL,
    PRIMARY KEY (profile_id, category)
);
COMMENT ON TABLE personalize.profile_interests IS
'Affinity of each profile to each category: score valued at as_of (its latest event); read it with top_interests()';
SELECT pg_catalog.pg_extension_config_dump('personalize.profile_interests', '');

CREATE FUNCTION personalize.top_interests(profile_id bigint, n integer DEFAULT 3, as_of timestamptz DEFAULT now())
RETURNS text[]
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    latest timestamptz;
    result text[];
BEGIN
    IF n IS NULL OR n < 0 THEN
        RAISE EXCEPTION 'n must be zero or more, not %', coalesce(n::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM personalize._check_as_of(top_interests.as_of);
    IF NOT EXISTS (SELECT FROM personalize.profiles p WHERE p.profile_id = top_interests.profile_id) THEN
        RAISE EXCEPTION 'profile % does not exist', top_interests.profile_id USING ERRCODE = 'no_data_found';
    END IF;
    SELECT max(i.as_of) INTO latest FROM personalize.profile_interests i
     WHERE i.profile_id = top_interests.profile_id;
    IF latest > top_interests.as_of THEN
        RAISE EXCEPTION 'the interests of profile % are valued at %, after as_of %',
                        top_interests.profile_id, latest, top_interests.as_of
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Live state holds every event folded in, including those after as_of.';
    END IF;
    SELECT coalesce(array_agg(t.category ORDER BY t.score DESC, t.category), '{}') INTO result
      FROM (SELECT i.category,
                   personalize.decay(i.score, i.as_of, top_interests.as_of, personalize.half_life()) AS score
              FROM personalize.profile_interests i
             WHERE i.profile_id = top_interests.profile_id
             ORDER BY 2 DESC, 1
             LIMIT n) t;
    RETURN result;
END
$$;
COMMENT ON FUNCTION personalize.top_interests(bigint, integer, timestamptz) IS
'The n categories with the highest decayed affinity as of as_of, best first (ties by name); empty when none';
