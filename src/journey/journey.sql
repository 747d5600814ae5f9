-- Journeys (docs/journeys.md): definitions checked in C (src/journey/journey_def.c) and kept
-- by version, so that runs in flight finish on the version they started; create, alter, pause,
-- resume and drop; the tables of runs and of every transition, and the views per journey.

-- Checks a definition, refusing a bad node with its JSON path; says what it reads and names.
CREATE FUNCTION personalize._journey_check(definition jsonb, OUT entry_kind text, OUT entry_events text[],
                                           OUT wait_events text[], OUT goal_events text[],
                                           OUT templates text[], OUT template_paths text[],
                                           OUT experiments text[], OUT experiment_paths text[],
                                           OUT segments text[], OUT segment_paths text[])
AS 'MODULE_PATHNAME', 'personalize_journey_check'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres';

-- The positions of the events (parallel arrays) that meet an event condition of a definition.
CREATE FUNCTION personalize._journey_event_matches(condition jsonb, events text[], properties jsonb[])
RETURNS SETOF integer
AS 'MODULE_PATHNAME', 'personalize_journey_event_matches'
LANGUAGE C STABLE STRICT
SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres';

-- The profiles of profile_ids for which a rule of the segment DSL holds at as_of.
CREATE FUNCTION personalize._rule_matches(rule jsonb, profile_ids bigint[], as_of timestamptz)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'personalize_rule_matches'
LANGUAGE C STABLE STRICT
SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres' SET jit = off;

CREATE TABLE personalize.journeys (
    journey_id  integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name <> '' AND octet_length(name) <= 200),
    version     integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp(),
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp()
);
COMMENT ON TABLE personalize.journeys IS
'Journeys: name, current version (new runs start on it) and status (paused journeys take no entries and do not advance)';

-- Every version of every journey, with what it reads (from the checker): the ingest trigger
-- touches only the journeys whose entry, waits or goal read the statement's event names.
CREATE TABLE personalize.journey_versions (
    journey_id    integer NOT NULL REFERENCES personalize.journeys ON DELETE CASCADE,
    version       integer NOT NULL,
    definition    jsonb NOT NULL,
    entry_kind    text NOT NULL CHECK (entry_kind IN ('event', 'segment', 'trait')),
    entry_events  text[] NOT NULL DEFAULT '{}',
    wait_events   text[] NOT NULL DEFAULT '{}',
    goal_events   text[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp(),
    PRIMARY KEY (journey_id, version)
);
COMMENT ON TABLE personalize.journey_versions IS
'Each version of each journey definition (checked at create), and the event names it reads';

-- A run: one profile's way through one version of a journey. Active runs are at a step that
-- runs now (state active, only inside a statement) or wait (state waiting) until wake_at or,
-- at a wait_for step, for the event waiting_for; finished runs keep their outcome.
CREATE TABLE personalize.journey_runs (
    run_id       bigint GENERATED ALWAYS AS IDENTITY,
    journey_id   integer NOT NULL,
    version      integer NOT NULL,
    profile_id   bigint NOT NULL,
    step         text,
    state        text NOT NULL CHECK (state IN ('active', 'waiting', 'done')),
    step_at      timestamptz NOT NULL,
    wake_at      timestamptz,
    waiting_for  text,
    context      jsonb NOT NULL DEFAULT '{}',
    entered_at   timestamptz NOT NULL,
    ended_at     timestamptz,
    outcome      text CHECK (outcome IN ('completed', 'converted', 'exited', 'dropped')),
    CHECK ((state = 'done') = (ended_at IS NOT NULL) AND (state = 'done') = (outcome IS NOT NULL)),
    PRIMARY KEY (profile_id, run_id)   -- profile_id first: distributable by it (docs/scale-out.md)
);
CREATE INDEX journey_runs_run_idx ON personalize.journey_runs (run_id);
-- at most one run in flight per profile and journey
CREATE UNIQUE INDEX journey_runs_active_idx ON personalize.journey_runs (journey_id, profile_id) WHERE state <> 'done';
-- tick advances exactly the runs that are due, journey by journey (a paused journey's are not
-- read): its cost follows them, not all waiting runs. The predicate also says wake_at <
-- 'infinity' (true of every wake-up time), which only tick's query states: so the planner never
-- takes this index for the lookups by run or by profile that ingest makes, where one statement
-- can grow journey_runs far past its statistics (a scan of every waiting run per lookup).
CREATE INDEX journey_runs_wake_idx ON personalize.journey_runs (journey_id, wake_at)
    WHERE state = 'waiting' AND wake_at < 'infinity';
CREATE INDEX journey_runs_history_idx ON personalize.journey_runs (journey_id, profile_id, entered_at);
COMMENT ON TABLE personalize.journey_runs IS
'Journey runs: the step each is at, when it wakes (wake_at) or what it waits for, its context, and for finished runs the outcome';

CREATE TABLE personalize.journey_log (
    log_id      bigint GENERATED ALWAYS AS IDENTITY,
    run_id      bigint NOT NULL,
    journey_id  integer NOT NULL,
    version     integer NOT NULL,
    profile_id  bigint NOT NULL,
    from_step   text,
    to_step     text,
    cause       text NOT NULL,
    at          timestamptz NOT NULL,
    PRIMARY KEY (profile_id, log_id)
);
CREATE INDEX journey_log_journey_idx ON personalize.journey_log (journey_id, log_id);
CREATE INDEX journey_log_run_idx ON personalize.journey_log (run_id);
COMMENT ON TABLE personalize.journey_log IS
'Every step transition of every run: from (NULL at entry), to (NULL at the end), cause and the run''s time';

SELECT pg_catalog.pg_extension_config_dump('personalize.journeys', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.journeys_journey_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.journey_versions', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.journey_runs', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.journey_runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.journey_log', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.journey_log_log_id_seq', '');

-- Checks a definition and the names it refers to (templates, experiments, segments), each
-- refused with its path.
CREATE FUNCTION personalize._journey_validate(definition jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c record;
    bad record;
BEGIN
    IF definition IS NULL THEN
        RAISE EXCEPTION 'a journey definition must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    c := personalize._journey_check(definition);
    SELECT t.name, t.path INTO bad FROM unnest(c.templates, c.template_paths) AS t(name, path)
     WHERE NOT EXISTS (SELECT FROM personalize.templates x WHERE x.name = t.name) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'invalid journey definition at %', bad.path USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Template "%s" does not exist.', bad.name);
    END IF;
    SELECT t.name, t.path INTO bad FROM unnest(c.experiments, c.experiment_paths) AS t(name, path)
     WHERE NOT EXISTS (SELECT FROM personalize.experiments x WHERE x.name = t.name) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'invalid journey definition at %', bad.path USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Experiment "%s" does not exist.', bad.name);
    END IF;
    SELECT t.name, t.path INTO bad FROM unnest(c.segments, c.segment_paths) AS t(name, path)
     WHERE NOT EXISTS (SELECT FROM personalize.segments x WHERE x.name = t.name) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'invalid journey definition at %', bad.path USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Segment "%s" does not exist.', bad.name);
    END IF;
END
$$;

-- Stores a checked definition as the next version of a journey (version 1 of a new one).
CREATE FUNCTION personalize._journey_store(name text, definition jsonb, is_new boolean)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c record;
    id integer;
    v integer;
BEGIN
    PERFORM personalize._journey_validate(definition);
    c := personalize._journey_check(definition);
    IF is_new THEN
        INSERT INTO personalize.journeys (name) VALUES (_journey_store.name) RETURNING journey_id, version INTO id, v;
    ELSE
        UPDATE personalize.journeys j SET version = j.version + 1, updated_at = statement_timestamp()
         WHERE j.name = _journey_store.name RETURNING journey_id, version INTO id, v;
        IF id IS NULL THEN
            RAISE EXCEPTION 'journey "%" does not exist', name USING ERRCODE = 'undefined_object';
        END IF;
    END IF;
    INSERT INTO personalize.journey_versions (journey_id, version, definition, entry_kind, entry_events,
                                              wait_events, goal_events)
    VALUES (id, v, definition, c.entry_kind, c.entry_events, c.wait_events, c.goal_events);
    RETURN id;
END
$$;

CREATE FUNCTION personalize.create_journey(name text, definition jsonb)
RETURNS integer
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT personalize._journey_store(name, definition, true) $$;
COMMENT ON FUNCTION personalize.create_journey(text, jsonb) IS
'Defines a journey (checked now: every bad node is refused with its JSON path); it takes entries from now on';

CREATE FUNCTION personalize.alter_journey(name text, definition jsonb)
RETURNS integer
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT personalize._journey_store(name, definition, false) $$;
COMMENT ON FUNCTION personalize.alter_journey(text, jsonb) IS
'Makes a new version of a journey: new runs start on it, runs in flight finish on the version they started';

-- Sets a journey's status.
CREATE FUNCTION personalize._journey_status(name text, status text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE personalize.journeys j SET status = _journey_status.status, updated_at = statement_timestamp()
     WHERE j.name = _journey_status.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'journey "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
END
$$;

CREATE FUNCTION personalize.pause_journey(name text)
RETURNS void
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT personalize._journey_status(name, 'paused') $$;
COMMENT ON FUNCTION personalize.pause_journey(text) IS
'Pauses a journey: no new entries, and its waiting runs do not advance until resume_journey (goals still end them)';

CREATE FUNCTION personalize.resume_journey(name text)
RETURNS void
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT personalize._journey_status(name, 'active') $$;
COMMENT ON FUNCTION personalize.resume_journey(text) IS
'Resumes a paused journey: runs that fell due meanwhile advance at the next tick';

CREATE FUNCTION personalize.drop_journey(name text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id integer;
BEGIN
    DELETE FROM personalize.journeys j WHERE j.name = drop_journey.name RETURNING journey_id INTO id;
    IF id IS NULL THEN
        RAISE EXCEPTION 'journey "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    DELETE FROM personalize.journey_runs r WHERE r.journey_id = id;
    DELETE FROM personalize.journey_log l WHERE l.journey_id = id;
END
$$;
COMMENT ON FUNCTION personalize.drop_journey(text) IS
'Drops a journey with its versions, runs and log (sends already queued stay in the outbox)';

-- ---- views per journey

CREATE VIEW personalize.journey_report AS
SELECT j.name AS journey, j.version, j.status,
       (SELECT count(*) FROM personalize.journey_runs r WHERE r.journey_id = j.journey_id) AS entered,
       (SELECT count(*) FROM personalize.journey_runs r WHERE r.journey_id = j.journey_id AND r.state <> 'done') AS in_flight,
       (SELECT count(*) FROM personalize.journey_runs r WHERE r.journey_id = j.journey_id AND r.outcome = 'converted') AS converted,
       (SELECT count(*) FROM personalize.journey_runs r WHERE r.journey_id = j.journey_id AND r.outcome = 'exited') AS exited,
       (SELECT count(*) FROM personalize.journey_runs r WHERE r.journey_id = j.journey_id AND r.outcome = 'completed') AS completed,
       (SELECT count(*) FROM personalize.sends_all s WHERE s.journey_id = j.journey_id) AS sends,
       (SELECT count(*) FROM personalize.sends_all s WHERE s.journey_id = j.journey_id AND s.status = 'sent') AS sent
  FROM personalize.journeys j;
COMMENT ON VIEW personalize.journey_report IS
'Per journey: runs entered, in flight, converted (goal), exited (exit rule), completed (exit step), sends made and sent';

CREATE VIEW personalize.journey_steps AS
SELECT j.name AS journey, t.version, t.step,
       count(*) FILTER (WHERE t.here) AS runs_here,
       coalesce(sum(t.reached), 0)::bigint AS reached
  FROM personalize.journeys j
  JOIN (SELECT r.journey_id, r.version, r.step, true AS here, 0 AS reached
          FROM personalize.journey_runs r WHERE r.state <> 'done'
        UNION ALL
        SELECT l.journey_id, l.version, l.to_step, false, 1
          FROM personalize.journey_log l WHERE l.to_step IS NOT NULL) t USING (journey_id)
 GROUP BY j.name, t.version, t.step;
COMMENT ON VIEW personalize.journey_steps IS
'Per journey, version and step: runs there now, and how many times a run reached it';

CREATE VIEW personalize.journey_sends AS
SELECT j.name AS journey, s.journey_step AS step, s.template, s.variant, s.status, count(*) AS sends
  FROM personalize.journeys j JOIN personalize.sends_all s USING (journey_id)
 GROUP BY j.name, s.journey_step, s.template, s.variant, s.status;
COMMENT ON VIEW personalize.journey_sends IS 'Per journey and send step: the sends by template, variant and status';

-- Admins define journeys; analysts read them.
REVOKE ALL ON FUNCTION personalize._journey_check(jsonb), personalize._journey_event_matches(jsonb, text[], jsonb[]),
    personalize._rule_matches(jsonb, bigint[], timestamptz), personalize._journey_validate(jsonb),
    personalize._journey_store(text, jsonb, boolean), personalize.create_journey(text, jsonb),
    personalize.alter_journey(text, jsonb), personalize._journey_status(text, text),
    personalize.pause_journey(text), personalize.resume_journey(text), personalize.drop_journey(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION personalize.create_journey(text, jsonb),
    personalize.alter_journey(text, jsonb), personalize.pause_journey(text), personalize.resume_journey(text), personalize.drop_journey(text)
    TO personalize_admin;
GRANT SELECT ON personalize.journeys, personalize.journey_versions, personalize.journey_runs, personalize.journey_log,
    personalize.journey_report, personalize.journey_steps, personalize.journey_sends
    TO personalize_admin, personalize_analyst;
