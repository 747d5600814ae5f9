-- What journeys keep about a profile, for the profile's own functions
-- (docs/profiles-and-privacy.md): forget() erases it (a run's context holds the entry event's
-- properties, the cart and what wait_for captured), export_profile() exports it,
-- merge_profiles() moves it to the kept profile. The tables: journey_runs and journey_log.
-- Each function runs inside its caller's SECURITY DEFINER function.

-- Erases a profile's journey runs (in flight and finished) and their transitions; returns how
-- many runs were erased.
CREATE FUNCTION personalize._forget_journeys(profile_id bigint)
RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    WITH logged AS (
        DELETE FROM personalize.journey_log l WHERE l.profile_id = _forget_journeys.profile_id
    ), runs AS (
        DELETE FROM personalize.journey_runs r WHERE r.profile_id = _forget_journeys.profile_id
        RETURNING 1
    )
    SELECT count(*) FROM runs
$$;
COMMENT ON FUNCTION personalize._forget_journeys(bigint) IS
'Erasure''s share of the journeys: a profile''s runs (with their context) and their log; returns the runs erased';

-- A profile's journey runs (with their context) and transitions, as the keys of an
-- export_profile document (each an array, oldest first).
CREATE FUNCTION personalize._export_journeys(profile_id bigint)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_build_object(
        'journey_runs', coalesce((SELECT jsonb_agg(to_jsonb(r) - 'profile_id' ORDER BY r.entered_at, r.run_id)
                                    FROM personalize.journey_runs r
                                   WHERE r.profile_id = _export_journeys.profile_id), '[]'),
        'journey_log', coalesce((SELECT jsonb_agg(to_jsonb(l) - 'profile_id' ORDER BY l.at, l.log_id)
                                   FROM personalize.journey_log l
                                  WHERE l.profile_id = _export_journeys.profile_id), '[]'))
$$;
COMMENT ON FUNCTION personalize._export_journeys(bigint) IS
'Right of access''s share of the journeys: a profile''s runs and their log as JSON arrays';

-- Moves profile drop's journey runs and log to profile keep (both locked by merge_profiles). A
-- person is in a journey at most once: where both have a run of one journey in flight, keep's
-- goes on and drop's ends with the outcome 'dropped' (logged with the cause 'merge into
-- <keep>', at as_of or the run's own time if later). Returns how many runs moved to keep.
CREATE FUNCTION personalize._merge_journeys(keep bigint, drop bigint, as_of timestamptz)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    moved bigint;
BEGIN
    PERFORM personalize._journey_end(t.run_ids, t.ats, 'dropped', 'merge into ' || keep)
       FROM (SELECT array_agg(d.run_id ORDER BY d.run_id) AS run_ids,
                    array_agg(greatest(d.step_at, as_of) ORDER BY d.run_id) AS ats
               FROM personalize.journey_runs d
              WHERE d.profile_id = drop AND d.state <> 'done'
                AND EXISTS (SELECT FROM personalize.journey_runs k
                             WHERE k.profile_id = keep AND k.journey_id = d.journey_id AND k.state <> 'done')) t
      WHERE t.run_ids IS NOT NULL;
    UPDATE personalize.journey_runs r SET profile_id = keep WHERE r.profile_id = drop;
    GET DIAGNOSTICS moved = ROW_COUNT;
    UPDATE personalize.journey_log l SET profile_id = keep WHERE l.profile_id = drop;
    RETURN moved;
END
$$;
COMMENT ON FUNCTION personalize._merge_journeys(bigint, bigint, timestamptz) IS
'Merge''s share of the journeys: drop''s runs and log move to keep; a journey both are in goes on as keep''s run';

REVOKE ALL ON FUNCTION personalize._forget_journeys(bigint), personalize._export_journeys(bigint),
    personalize._merge_journeys(bigint, bigint, timestamptz) FROM PUBLIC;
