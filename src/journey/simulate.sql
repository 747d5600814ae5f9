-- simulate_journey (docs/journeys.md, "Simulation"): what a journey would have done with the
-- events stored between two times, computed by the same code that runs journeys, inside a
-- subtransaction that is rolled back, so that no run, log row or send is kept.

-- Replays the stored events of [from_time, to_time) through a definition: the events the
-- journey reads, in one pass (each profile's in time order, its waits timing out in between),
-- then the clock to to_time; rules and the send policy are evaluated at to_time on the profiles
-- as they are now. Returns per step (by name) how many profiles reached it,
-- how many sends it would have queued (and the policy would have suppressed), how many runs
-- converted there (goal) or left there by the exit rule, and how many runs were still there
-- at to_time.
CREATE FUNCTION personalize.simulate_journey(definition jsonb, from_time timestamptz, to_time timestamptz)
RETURNS TABLE (step text, reached bigint, sent bigint, suppressed bigint, converted bigint, exited bigint,
               waiting bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c record;
    id integer;
    result jsonb;
BEGIN
    PERFORM personalize._check_as_of(from_time);
    PERFORM personalize._check_as_of(to_time);
    IF from_time >= to_time THEN
        RAISE EXCEPTION 'from_time must be before to_time' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM personalize._journey_validate(definition);
    c := personalize._journey_check(definition);
    BEGIN
        INSERT INTO personalize.journeys (name) VALUES ('simulation ' || pg_backend_pid() || ' ' || clock_timestamp())
        RETURNING journey_id INTO id;
        INSERT INTO personalize.journey_versions (journey_id, version, definition, entry_kind, entry_events,
                                                  wait_events, goal_events)
        VALUES (id, 1, definition, c.entry_kind, c.entry_events, c.wait_events, c.goal_events);
        PERFORM personalize._journeys_on_events(x.pids, x.names, x.props, x.ats, x.eids, id, to_time)
           FROM (SELECT array_agg(e.profile_id ORDER BY e.occurred_at, e.event_id) AS pids,
                        array_agg(e.event ORDER BY e.occurred_at, e.event_id) AS names,
                        array_agg(e.properties ORDER BY e.occurred_at, e.event_id) AS props,
                        array_agg(e.occurred_at ORDER BY e.occurred_at, e.event_id) AS ats,
                        array_agg(e.event_id ORDER BY e.occurred_at, e.event_id) AS eids
                   FROM personalize.events e
                  WHERE e.occurred_at >= from_time AND e.occurred_at < to_time
                    AND e.event = ANY (c.entry_events || c.wait_events || c.goal_events)) x;
        PERFORM personalize._journeys_tick(to_time, id);
        SELECT jsonb_agg(jsonb_build_array(s.key, s.reached, s.sent, s.suppressed, s.converted, s.exited, s.waiting)
                         ORDER BY s.key)
          INTO result
          FROM (SELECT k.key,
                       (SELECT count(DISTINCT l.profile_id) FROM personalize.journey_log l
                         WHERE l.journey_id = id AND l.to_step = k.key) AS reached,
                       (SELECT count(*) FROM personalize.sends_all a
                         WHERE a.journey_id = id AND a.journey_step = k.key AND a.status <> 'suppressed') AS sent,
                       (SELECT count(*) FROM personalize.sends_all a
                         WHERE a.journey_id = id AND a.journey_step = k.key AND a.status = 'suppressed') AS suppressed,
                       (SELECT count(*) FROM personalize.journey_log l
                         WHERE l.journey_id = id AND l.from_step = k.key AND l.to_step IS NULL AND l.cause LIKE 'goal:%') AS converted,
                       (SELECT count(*) FROM personalize.journey_log l
                         WHERE l.journey_id = id AND l.from_step = k.key AND l.cause = 'exit rule') AS exited,
                       (SELECT count(*) FROM personalize.journey_runs r
                         WHERE r.journey_id = id AND r.step = k.key AND r.state <> 'done') AS waiting
                  FROM jsonb_object_keys(definition -> 'steps') AS k(key)) s;
        -- undo everything the replay wrote; the answer is kept in result
        RAISE EXCEPTION USING ERRCODE = 'PZ001', MESSAGE = 'personalize: simulation done';
    EXCEPTION WHEN SQLSTATE 'PZ001' THEN
        NULL;
    END;
    RETURN QUERY
    SELECT r ->> 0, (r ->> 1)::bigint, (r ->> 2)::bigint, (r ->> 3)::bigint, (r ->> 4)::bigint, (r ->> 5)::bigint,
           (r ->> 6)::bigint
      FROM jsonb_array_elements(result) AS r;
END
$$;
COMMENT ON FUNCTION personalize.simulate_journey(jsonb, timestamptz, timestamptz) IS
'What a journey definition would have done with the events stored in [from_time, to_time): per step, profiles reached, sends, suppressed, converted, exited, still waiting; writes nothing';

REVOKE ALL ON FUNCTION personalize.simulate_journey(jsonb, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION personalize.simulate_journey(jsonb, timestamptz, timestamptz) TO personalize_admin, personalize_analyst;
