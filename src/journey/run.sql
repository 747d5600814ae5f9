-- Journey runs (docs/journeys.md, "Evaluation"): entries, wait_for completions and goals,
-- set-at-a-time in the ingest statement's transaction (_journeys_on_events, one call from the
-- ingest trigger), entries on entering a segment (a statement trigger on segment_log) or on a
-- trait change (a row trigger on profiles.traits), waits and timeouts in tick (_journeys_tick,
-- through the index on wake_at), and the steps that run at once in between (_journey_advance).
-- Every run keeps its own time (step_at): the time of the event that moved it, or the wake_at
-- it woke at, so a stream of events and ticks gives the same transitions as the same stream
-- replayed in one statement. Rules (entry, branch, exit) and the send policy are evaluated at
-- the caller's clock (personalize.clock, else the statement's time; tick's as_of).

-- Moves runs to the steps nexts (parallel arrays), logging each transition with its cause.
-- The runs are found by run_id through run_idx, one lookup per moved run (a join to a CTE of
-- the unnested arrays was planned as a scan of every run), and their steps before the move
-- come from the same rows, read in the UPDATE's FROM.
CREATE FUNCTION personalize._journey_move(run_ids bigint[], nexts text[], causes text[])
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    WITH moved AS (
        UPDATE personalize.journey_runs r SET step = m.next, state = 'active', wake_at = NULL, waiting_for = NULL
          FROM (SELECT o.run_id, o.step AS from_step, x.next, x.cause
                  FROM unnest(run_ids, nexts, causes) AS x(run_id, next, cause)
                 CROSS JOIN LATERAL (SELECT o.run_id, o.step FROM personalize.journey_runs o
                                      WHERE o.run_id = x.run_id AND o.state <> 'done') o) m
         WHERE r.run_id = m.run_id AND r.state <> 'done'
        RETURNING r.run_id, r.journey_id, r.version, r.profile_id, r.step_at, m.from_step, m.next, m.cause
    )
    INSERT INTO personalize.journey_log (run_id, journey_id, version, profile_id, from_step, to_step, cause, at)
    SELECT v.run_id, v.journey_id, v.version, v.profile_id, v.from_step, v.next, v.cause, v.step_at
      FROM moved v
     ORDER BY v.run_id
$$;

-- Ends the runs in flight among run_ids with an outcome, at ats (NULL: each run's own time).
-- The runs are found as _journey_move finds them.
CREATE FUNCTION personalize._journey_end(run_ids bigint[], ats timestamptz[], outcome text, cause text)
RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    WITH ended AS (
        UPDATE personalize.journey_runs r
           SET state = 'done', outcome = _journey_end.outcome, ended_at = coalesce(m.at, r.step_at),
               step_at = coalesce(m.at, r.step_at), wake_at = NULL, waiting_for = NULL
          FROM (SELECT o.run_id, o.step AS from_step, x.at
                  FROM unnest(run_ids, coalesce(ats, array_fill(NULL::timestamptz, ARRAY[cardinality(run_ids)])))
                       AS x(run_id, at)
                 CROSS JOIN LATERAL (SELECT o.run_id, o.step FROM personalize.journey_runs o
                                      WHERE o.run_id = x.run_id AND o.state <> 'done') o) m
         WHERE r.run_id = m.run_id AND r.state <> 'done'
        RETURNING r.run_id, r.journey_id, r.version, r.profile_id, r.ended_at, m.from_step
    ), logged AS (
        INSERT INTO personalize.journey_log (run_id, journey_id, version, profile_id, from_step, to_step, cause, at)
        SELECT e.run_id, e.journey_id, e.version, e.profile_id, e.from_step, NULL, _journey_end.cause, e.ended_at
          FROM ended e
         ORDER BY e.run_id
        RETURNING 1
    )
    SELECT count(*) FROM logged
$$;

-- The send steps among the runs of one step: through the experiment's assignment if it has
-- one, then the send policy and the outbox (one _enqueue per template), each send marked with
-- its journey, run and step (by _enqueue); the run's context is journey.* in the render context.
CREATE FUNCTION personalize._journey_send(journey_id integer, journey_name text, step text, spec jsonb,
                                          run_ids bigint[], profile_ids bigint[], contexts jsonb[],
                                          step_ats timestamptz[], as_of timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v record;
    n integer;
    keys text[] := ARRAY(SELECT format('j:%s:%s:%s:%s', journey_id, r, step, extract(epoch FROM a))
                           FROM unnest(run_ids, step_ats) AS x(r, a));
    variants text[];
BEGIN
    IF spec ? 'experiment' THEN
        SELECT array_agg(a.variant ORDER BY m.ord) INTO variants
          FROM unnest(profile_ids) WITH ORDINALITY AS m(profile_id, ord)
          JOIN personalize.assign_variants(spec ->> 'experiment', profile_ids) a USING (profile_id);
    ELSE
        variants := array_fill(NULL::text, ARRAY[cardinality(run_ids)]);
    END IF;
    FOR v IN
        SELECT x.variant, coalesce(ev.template, spec ->> 'template') AS template, ev.subject,
               array_agg(x.profile_id) AS pids, array_agg(x.key) AS ks, array_agg(x.run_id) AS rids,
               array_agg(jsonb_build_object('journey', x.context || jsonb_build_object(
                   'name', journey_name, 'step', step, 'run_id', x.run_id))
                   || CASE WHEN x.variant IS NULL THEN '{}'::jsonb
                           ELSE jsonb_build_object('experiment', jsonb_strip_nulls(jsonb_build_object(
                               'name', spec ->> 'experiment', 'variant', x.variant, 'subject', ev.subject))) END) AS extras
          FROM unnest(run_ids, profile_ids, contexts, keys, variants) AS x(run_id, profile_id, context, key, variant)
          LEFT JOIN personalize.experiments e ON e.name = spec ->> 'experiment'
          LEFT JOIN personalize.experiment_variants ev ON ev.experiment_id = e.experiment_id AND ev.variant = x.variant
         WHERE x.variant IS DISTINCT FROM 'holdout' AND (spec ? 'experiment') = (x.variant IS NOT NULL)
         GROUP BY 1, 2, 3
    LOOP
        n := cardinality(v.pids);
        PERFORM personalize._enqueue(v.pids, v.ks, v.extras, array_fill(NULL::timestamptz, ARRAY[n]),
                                     array_fill(v.variant, ARRAY[n]), v.template,
                                     coalesce(spec ->> 'kind', 'marketing'), coalesce((spec ->> 'priority')::integer, 0),
                                     NULL, NULL, as_of, journey_id, v.rids, step);
    END LOOP;
END
$$;

-- Runs the steps that happen at once (exit, branch, split, send, update) for the runs ids that
-- are at one, until each waits or has ended; the exit rule of a run's journey is checked first
-- at every step. Rules are evaluated and sends decided at as_of.
CREATE FUNCTION personalize._journey_advance(ids bigint[], as_of timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET IntervalStyle = 'postgres'
AS $$
DECLARE
    rounds integer := 0;
    g record;
    run_list bigint[];
    next_list text[];
    cause_list text[];
    yes bigint[];
    default_tz text := coalesce((SELECT s.default_timezone FROM personalize.send_settings s), 'UTC');
BEGIN
    LOOP
        SELECT array_agg(r.run_id ORDER BY r.run_id) INTO ids FROM personalize.journey_runs r
         WHERE r.run_id = ANY (ids) AND r.state = 'active';
        EXIT WHEN ids IS NULL;
        rounds := rounds + 1;
        IF rounds > 1000 THEN
            -- cannot happen: the checker refuses cycles without a wait
            RAISE EXCEPTION 'journey runs did not come to a wait after 1000 steps' USING ERRCODE = 'program_limit_exceeded';
        END IF;

        -- exit rules: the runs whose profile meets its journey's exit rule end here
        FOR g IN
            SELECT r.journey_id, r.version, v.definition -> 'exit' AS rule, array_agg(r.profile_id) AS pids
              FROM personalize.journey_runs r JOIN personalize.journey_versions v USING (journey_id, version)
             WHERE r.run_id = ANY (ids) AND v.definition ? 'exit'
             GROUP BY 1, 2, 3
        LOOP
            PERFORM personalize._journey_end(ARRAY(
                SELECT r.run_id FROM personalize.journey_runs r
                 WHERE r.run_id = ANY (ids) AND r.journey_id = g.journey_id AND r.version = g.version
                   AND r.profile_id IN (SELECT personalize._rule_matches(g.rule, g.pids, as_of))), NULL, 'exited', 'exit rule');
        END LOOP;

        -- exit steps
        PERFORM personalize._journey_end(ARRAY(
            SELECT r.run_id FROM personalize.journey_runs r JOIN personalize.journey_versions v USING (journey_id, version)
             WHERE r.run_id = ANY (ids) AND r.state = 'active' AND v.definition -> 'steps' -> r.step ? 'exit'),
            NULL, 'completed', 'exit step');

        -- wait and wait_for: the run waits until wake_at (a wait_for also for its event)
        UPDATE personalize.journey_runs r
           SET state = 'waiting',
               waiting_for = s.def -> 'wait_for' ->> 'event',
               wake_at = CASE WHEN s.def ? 'wait_for' THEN r.step_at + (s.def -> 'wait_for' ->> 'timeout')::interval
                              WHEN jsonb_typeof(s.def -> 'wait') = 'string' THEN r.step_at + (s.def ->> 'wait')::interval
                              -- strictly later, so that a run never wakes at the time it started waiting
                              ELSE personalize._next_local_time(r.step_at + interval '1 microsecond',
                                       personalize._timezone_or(s.traits ->> 'timezone', default_tz),
                                       (s.def -> 'wait' ->> 'until')::time) END
          FROM (SELECT r2.run_id, v.definition -> 'steps' -> r2.step AS def, p.traits
                  FROM personalize.journey_runs r2 JOIN personalize.journey_versions v USING (journey_id, version)
                  JOIN personalize.profiles p USING (profile_id)
                 WHERE r2.run_id = ANY (ids) AND r2.state = 'active') s
         WHERE r.run_id = s.run_id AND (s.def ? 'wait' OR s.def ? 'wait_for');

        -- update: set a trait, then go on
        WITH u AS (
            SELECT DISTINCT ON (r.profile_id) r.profile_id, v.definition -> 'steps' -> r.step -> 'update' AS spec
              FROM personalize.journey_runs r JOIN personalize.journey_versions v USING (journey_id, version)
             WHERE r.run_id = ANY (ids) AND r.state = 'active' AND v.definition -> 'steps' -> r.step ? 'update'
             ORDER BY r.profile_id, r.run_id
        ), done AS (
            UPDATE personalize.profiles p
               SET traits = jsonb_set(coalesce(p.traits, '{}'), ARRAY[u.spec ->> 'trait'], u.spec -> 'value'),
                   updated_at = statement_timestamp()
              FROM u WHERE p.profile_id = u.profile_id
            RETURNING p.profile_id
        )
        SELECT array_agg(profile_id) INTO yes FROM done;
        IF yes IS NOT NULL THEN
            PERFORM personalize._segments_live(yes, '{}', '{traits}', 'journey');
        END IF;

        -- send: through the policy and the outbox, step by step (one enqueue per template)
        FOR g IN
            SELECT r.journey_id, j.name, r.step, v.definition -> 'steps' -> r.step -> 'send' AS spec,
                   array_agg(r.run_id ORDER BY r.run_id) AS rids, array_agg(r.profile_id ORDER BY r.run_id) AS pids,
                   array_agg(r.context ORDER BY r.run_id) AS ctxs, array_agg(r.step_at ORDER BY r.run_id) AS ats
              FROM personalize.journey_runs r JOIN personalize.journey_versions v USING (journey_id, version)
              JOIN personalize.journeys j USING (journey_id)
             WHERE r.run_id = ANY (ids) AND r.state = 'active' AND v.definition -> 'steps' -> r.step ? 'send'
             GROUP BY 1, 2, 3, 4
             ORDER BY 1, 3   -- the policy decides the sends of one profile in this order
        LOOP
            PERFORM personalize._journey_send(g.journey_id, g.name, g.step, g.spec, g.rids, g.pids, g.ctxs, g.ats, as_of);
        END LOOP;

        -- branch: the rule at this moment decides yes or no
        run_list := '{}'; next_list := '{}'; cause_list := '{}';
        FOR g IN
            SELECT r.journey_id, r.version, r.step, v.definition -> 'steps' -> r.step AS def,
                   array_agg(r.run_id) AS rids, array_agg(r.profile_id) AS pids
              FROM personalize.journey_runs r JOIN personalize.journey_versions v USING (journey_id, version)
             WHERE r.run_id = ANY (ids) AND r.state = 'active' AND v.definition -> 'steps' -> r.step ? 'branch'
             GROUP BY 1, 2, 3, 4
        LOOP
            yes := ARRAY(SELECT personalize._rule_matches(g.def -> 'branch', g.pids, as_of));
            SELECT run_list || array_agg(x.r), next_list || array_agg(CASE WHEN x.p = ANY (yes) THEN g.def ->> 'yes' ELSE g.def ->> 'no' END),
                   cause_list || array_agg(CASE WHEN x.p = ANY (yes) THEN 'branch: yes' ELSE 'branch: no' END)
              INTO run_list, next_list, cause_list
              FROM unnest(g.rids, g.pids) AS x(r, p);
        END LOOP;

        -- split, send and update go on to their next step
        SELECT run_list || coalesce(array_agg(x.run_id), '{}'), next_list || coalesce(array_agg(x.next), '{}'),
               cause_list || coalesce(array_agg(x.cause), '{}')
          INTO run_list, next_list, cause_list
          FROM (SELECT r.run_id,
                       CASE WHEN s.def ? 'split' THEN coalesce(
                                (SELECT c.next FROM (SELECT e ->> 'next' AS next,
                                                            sum((e ->> 'percent')::numeric) OVER (ORDER BY i) AS cum
                                                       FROM jsonb_array_elements(s.def -> 'split') WITH ORDINALITY AS t(e, i)) c
                                  WHERE personalize.bucket(r.profile_id, coalesce(s.def ->> 'salt', format('journey:%s:%s', r.journey_id, r.step)))
                                        < c.cum * 100
                                  ORDER BY c.cum LIMIT 1),
                                s.def -> 'split' -> -1 ->> 'next')
                            ELSE s.def ->> 'next' END AS next,
                       CASE WHEN s.def ? 'split' THEN 'split'
                            WHEN s.def ? 'send' THEN 'send: ' || (s.def -> 'send' ->> 'template')
                            ELSE 'update: ' || (s.def -> 'update' ->> 'trait') END AS cause
                  FROM personalize.journey_runs r JOIN personalize.journey_versions v USING (journey_id, version)
                  CROSS JOIN LATERAL (SELECT v.definition -> 'steps' -> r.step AS def) s
                 WHERE r.run_id = ANY (ids) AND r.state = 'active'
                   AND (s.def ? 'split' OR s.def ? 'send' OR s.def ? 'update')) x;
        PERFORM personalize._journey_move(run_list, next_list, cause_list);
    END LOOP;
END
$$;

-- Starts runs of one journey version for the profiles pids at ats (one candidate per profile,
-- the earliest), with contexts and causes, where the re-entry policy and the entry rule allow
-- and no run is in flight, at their start step; the caller runs their first steps
-- (_journey_advance), once for the runs started in several journeys. Returns the new run ids.
CREATE FUNCTION personalize._journey_start(jid integer, ver integer, pids bigint[], ats timestamptz[],
                                           contexts jsonb[], causes text[], as_of timestamptz)
RETURNS bigint[]
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET IntervalStyle = 'postgres'
AS $$
DECLARE
    def jsonb;
    allowed bigint[];
    ids bigint[];
BEGIN
    SELECT v.definition INTO def FROM personalize.journey_versions v
     WHERE v.journey_id = jid AND v.version = ver;
    IF def ? 'rule' THEN
        allowed := ARRAY(SELECT personalize._rule_matches(def -> 'rule', pids, as_of));
    END IF;
    WITH cand AS (
        SELECT DISTINCT ON (c.pid) c.*
          FROM unnest(pids, ats, contexts, causes) AS c(pid, at, context, cause)
         WHERE (allowed IS NULL OR c.pid = ANY (allowed))
         ORDER BY c.pid, c.at
    ), ok AS (
        SELECT c.* FROM cand c
         WHERE NOT EXISTS (SELECT FROM personalize.journey_runs r
                            WHERE r.journey_id = jid AND r.profile_id = c.pid
                              AND (r.state <> 'done'
                                   OR def ->> 'reentry' = 'once'
                                   OR (def -> 'reentry' ? 'after'
                                       AND r.entered_at > c.at - (def -> 'reentry' ->> 'after')::interval)))
    ), started AS (
        INSERT INTO personalize.journey_runs AS r (journey_id, version, profile_id, step, state, step_at, context, entered_at)
        SELECT jid, ver, o.pid, def ->> 'start', 'active', o.at, o.context, o.at
          FROM ok o ORDER BY o.pid
            ON CONFLICT (journey_id, profile_id) WHERE state <> 'done' DO NOTHING
        RETURNING r.run_id, r.profile_id, r.step, r.entered_at
    ), logged AS (
        INSERT INTO personalize.journey_log (run_id, journey_id, version, profile_id, from_step, to_step, cause, at)
        SELECT s.run_id, jid, ver, s.profile_id, NULL, s.step, o.cause, s.entered_at
          FROM started s JOIN ok o ON o.pid = s.profile_id
         ORDER BY s.run_id
        RETURNING run_id
    )
    SELECT array_agg(run_id) INTO ids FROM logged;
    -- a run already in flight keeps going, with the profile's cart as it is now
    UPDATE personalize.journey_runs r SET context = r.context || jsonb_build_object('cart', c.context -> 'cart')
      FROM unnest(pids, contexts) AS c(pid, context)
     WHERE r.journey_id = jid AND r.profile_id = c.pid AND r.state <> 'done' AND c.context ? 'cart'
       AND r.run_id <> ALL (coalesce(ids, '{}'));
    RETURN coalesce(ids, '{}');
END
$$;

-- Wakes the waiting runs among ids whose wake_at is at or before due_by: a wait goes on to its
-- next step, a wait_for to timed_out, each at its wake_at, logged; then runs on. Claim and move
-- are one guarded UPDATE (still waiting at that step, still due), so a goal or a wait_for
-- completion committed meanwhile wins and the run is not woken.
CREATE FUNCTION personalize._journey_wake(ids bigint[], due_by timestamptz, as_of timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    woken bigint[];
BEGIN
    WITH due AS (
        SELECT r.run_id, r.step,
               CASE WHEN d.def ? 'wait_for' THEN d.def ->> 'timed_out' ELSE d.def ->> 'next' END AS next,
               CASE WHEN d.def ? 'wait_for' THEN 'timed out' ELSE 'waited' END AS cause
          FROM personalize.journey_runs r JOIN personalize.journey_versions v USING (journey_id, version)
         CROSS JOIN LATERAL (SELECT v.definition -> 'steps' -> r.step AS def) d
         WHERE r.run_id = ANY (ids) AND r.state = 'waiting' AND r.wake_at <= due_by
    ), moved AS (
        UPDATE personalize.journey_runs r
           SET step = d.next, step_at = r.wake_at, state = 'active', wake_at = NULL, waiting_for = NULL
          FROM due d
         WHERE r.run_id = d.run_id AND r.state = 'waiting' AND r.step = d.step AND r.wake_at <= due_by
        RETURNING r.run_id, r.journey_id, r.version, r.profile_id, r.step_at, d.step AS from_step, d.next, d.cause
    ), logged AS (
        INSERT INTO personalize.journey_log (run_id, journey_id, version, profile_id, from_step, to_step, cause, at)
        SELECT m.run_id, m.journey_id, m.version, m.profile_id, m.from_step, m.next, m.cause, m.step_at
          FROM moved m ORDER BY m.run_id
        RETURNING run_id
    )
    SELECT array_agg(run_id) INTO woken FROM logged;
    IF woken IS NOT NULL THEN
        PERFORM personalize._journey_advance(woken, as_of);
    END IF;
END
$$;

-- tick's share: wakes the runs that are due by as_of, in batches of the 10,000 earliest, until
-- none is due (a run woken may come to a wait already due). The due runs are read journey by
-- journey through the index on (journey_id, wake_at), so a paused journey's runs (which wait)
-- are not read at all and the cost follows the due runs. Their profiles are locked in
-- profile_id order first, as ingest locks them. Returns the runs woken. only_journey limits it
-- to one journey (simulate_journey).
CREATE FUNCTION personalize._journeys_tick(as_of timestamptz, only_journey integer DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    due bigint[];
    pids bigint[];
    total bigint := 0;
BEGIN
    LOOP
        SELECT array_agg(d.run_id), array_agg(d.profile_id) INTO due, pids
          FROM (SELECT r.run_id, r.profile_id
                  FROM personalize.journeys j
                 CROSS JOIN LATERAL (SELECT r.run_id, r.profile_id, r.wake_at FROM personalize.journey_runs r
                                      WHERE r.journey_id = j.journey_id AND r.state = 'waiting' AND r.wake_at <= as_of
                                        AND r.wake_at < 'infinity'   -- the wake-up index's predicate
                                      ORDER BY r.wake_at LIMIT 10000) r
                 WHERE j.status = 'active' AND (only_journey IS NULL OR j.journey_id = only_journey)
                 ORDER BY r.wake_at LIMIT 10000) d;
        EXIT WHEN due IS NULL;
        PERFORM FROM personalize.profiles p WHERE p.profile_id = ANY (pids) ORDER BY p.profile_id FOR UPDATE OF p;
        PERFORM personalize._journey_wake(due, as_of, as_of);
        total := total + cardinality(due);
    END LOOP;
    RETURN total;
END
$$;

-- True for a version that may have runs in flight by the end of a statement: the current
-- version of an active journey, or any version with runs in flight now.
CREATE FUNCTION personalize._journey_version_live(journey_id integer, version integer)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT FROM personalize.journeys j WHERE j.journey_id = $1 AND j.version = $2 AND j.status = 'active')
        OR EXISTS (SELECT FROM personalize.journey_runs r WHERE r.journey_id = $1 AND r.version = $2 AND r.state <> 'done')
$$;

-- The statement's pass in C (src/journey/journey_pass.c): the matched events m_* (kind entry,
-- goal or wait, the version, a wait_for's step, the event's 1-based position) applied to the
-- runs of their profiles in memory, in the waves _journeys_on_events describes, each run then
-- written once; false (nothing done) when a version in play has an update step.
CREATE FUNCTION personalize._journey_pass(pids bigint[], names text[], props jsonb[], ats timestamptz[], eids bigint[],
                                          m_kind text[], m_journey integer[], m_version integer[], m_step text[],
                                          m_ord integer[], only_journey integer, as_of timestamptz)
RETURNS boolean
AS 'MODULE_PATHNAME', 'personalize_journey_pass'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

-- The ingest statement's share: the accepted events whose names a live journey reads, as
-- parallel arrays (profile, event, properties, time, event_id). The matching events are taken
-- in waves, each profile's k-th event in the k-th, in time order; in each wave the runs of
-- those profiles first wake up to the event's time (timeouts and waits at their own times),
-- then goals end runs, wait_for steps complete (their event's properties join the run's
-- context under the step's "as", by default the step's name), and entries start runs.
-- only_journey limits all this to one journey and at_time replaces the clock (simulate_journey).
CREATE FUNCTION personalize._journeys_on_events(pids bigint[], names text[], props jsonb[], ats timestamptz[],
                                                eids bigint[], only_journey integer DEFAULT NULL,
                                                at_time timestamptz DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET IntervalStyle = 'postgres'
AS $$
DECLARE
    as_of timestamptz := coalesce(at_time, personalize._clock());
    c record;
    g record;
    m_kind text[] := '{}';
    m_journey integer[] := '{}';
    m_version integer[] := '{}';
    m_step text[] := '{}';
    m_ord integer[] := '{}';
    hits integer[];
    -- the events of one name (the conditions come by name): their positions, names, properties
    named text;
    named_at integer[];
    named_names text[];
    named_props jsonb[];
    -- the matches with their events, in wave order, and where each wave starts and ends in them
    w_wave integer[];
    w_lo integer[];
    w_hi integer[];
    contiguous boolean;
    w_kind text[];
    w_journey integer[];
    w_version integer[];
    w_step text[];
    w_profile bigint[];
    w_at timestamptz[];
    w_event text[];
    w_props jsonb[];
    waves integer;
    -- the matches of the wave at hand (a slice of the above: each statement reads only its wave)
    s_kind text[];
    s_journey integer[];
    s_version integer[];
    s_step text[];
    s_profile bigint[];
    s_at timestamptz[];
    s_event text[];
    s_props jsonb[];
    due bigint[];
    started bigint[];
BEGIN
    IF coalesce(cardinality(pids), 0) = 0 THEN
        RETURN;
    END IF;
    -- each event condition of the versions that read these names: entries of active journeys'
    -- current versions, goals and wait_for steps of those and of versions with runs in flight
    FOR c IN
        SELECT * FROM (
        SELECT 'entry' AS kind, v.journey_id, v.version, NULL::text AS step, e.cond
          FROM personalize.journeys j JOIN personalize.journey_versions v ON v.journey_id = j.journey_id AND v.version = j.version
         CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN v.definition -> 'entry' ? 'events' THEN v.definition -> 'entry' -> 'events'
                                                      ELSE jsonb_build_array(v.definition -> 'entry') END) AS e(cond)
         WHERE j.status = 'active' AND v.entry_kind = 'event' AND v.entry_events && names
           AND (only_journey IS NULL OR v.journey_id = only_journey)
        UNION ALL
        SELECT 'goal', v.journey_id, v.version, NULL, v.definition -> 'goal'
          FROM personalize.journey_versions v
         WHERE v.goal_events && names AND (only_journey IS NULL OR v.journey_id = only_journey)
           AND personalize._journey_version_live(v.journey_id, v.version)
        UNION ALL
        SELECT 'wait', v.journey_id, v.version, s.key, s.value -> 'wait_for'
          FROM personalize.journey_versions v CROSS JOIN LATERAL jsonb_each(v.definition -> 'steps') AS s
         WHERE v.wait_events && names AND s.value ? 'wait_for' AND (s.value -> 'wait_for' ->> 'event') = ANY (names)
           AND (only_journey IS NULL OR v.journey_id = only_journey)
           AND personalize._journey_version_live(v.journey_id, v.version)
        ) x ORDER BY x.cond ->> 'event'
    LOOP
        -- each condition reads only the events of its name, picked once per name
        IF (c.cond ->> 'event') IS DISTINCT FROM named THEN
            named := c.cond ->> 'event';
            SELECT coalesce(array_agg(u.i), '{}'), coalesce(array_agg(u.n), '{}'), coalesce(array_agg(u.p), '{}')
              INTO named_at, named_names, named_props
              FROM unnest(names, props) WITH ORDINALITY AS u(n, p, i) WHERE u.n = named;
        END IF;
        hits := ARRAY(SELECT named_at[h] FROM personalize._journey_event_matches(c.cond, named_names, named_props) AS h);
        m_kind := m_kind || array_fill(c.kind, ARRAY[cardinality(hits)]);
        m_journey := m_journey || array_fill(c.journey_id, ARRAY[cardinality(hits)]);
        m_version := m_version || array_fill(c.version, ARRAY[cardinality(hits)]);
        m_step := m_step || array_fill(c.step, ARRAY[cardinality(hits)]);
        m_ord := m_ord || hits;
    END LOOP;
    IF cardinality(m_ord) = 0 THEN
        RETURN;
    END IF;
    -- the pass in C takes the statement, unless an update step is in play: then the waves below
    IF personalize._journey_pass(pids, names, props, ats, eids, m_kind, m_journey, m_version, m_step, m_ord,
                                 only_journey, as_of) THEN
        RETURN;
    END IF;

    -- wave k holds each profile's k-th matched event (by time, then event_id); the matches are
    -- kept in wave order (then in match order), so that each wave is one slice of the arrays.
    -- One sort feeds every array (PostgreSQL 15 would sort once per ordered aggregate).
    SELECT array_agg(x.wave), array_agg(x.kind), array_agg(x.journey_id), array_agg(x.version), array_agg(x.step),
           array_agg(x.profile_id), array_agg(x.at), array_agg(x.event), array_agg(x.properties), max(x.wave)
      INTO w_wave, w_kind, w_journey, w_version, w_step, w_profile, w_at, w_event, w_props, waves
      FROM (SELECT y.* FROM (
                SELECT dense_rank() OVER (PARTITION BY e.profile_id ORDER BY e.at, e.event_id)::integer AS wave, m.i,
                       m.kind, m.journey_id, m.version, m.step, e.profile_id, e.at, e.event, e.properties
                  FROM unnest(m_kind, m_journey, m_version, m_step, m_ord) WITH ORDINALITY AS m(kind, journey_id, version, step, ord, i)
                  JOIN unnest(pids, names, props, ats, eids) WITH ORDINALITY AS e(profile_id, event, properties, at, event_id, ord)
                    ON e.ord = m.ord) y
             ORDER BY y.wave, y.i) x;
    SELECT array_agg(b.lo ORDER BY b.wave), array_agg(b.hi ORDER BY b.wave), sum(b.hi - b.lo + 1 - b.n) = 0
      INTO w_lo, w_hi, contiguous
      FROM (SELECT t.wave, min(t.i)::integer AS lo, max(t.i)::integer AS hi, count(*) AS n
              FROM unnest(w_wave) WITH ORDINALITY AS t(wave, i) GROUP BY t.wave) b;
    IF NOT contiguous THEN
        -- cannot happen: the arrays come from one sorted subquery
        RAISE EXCEPTION 'journey event waves are not contiguous' USING ERRCODE = 'internal_error';
    END IF;

    FOR w IN 1 .. waves LOOP
        s_kind := w_kind[w_lo[w]:w_hi[w]];
        s_journey := w_journey[w_lo[w]:w_hi[w]];
        s_version := w_version[w_lo[w]:w_hi[w]];
        s_step := w_step[w_lo[w]:w_hi[w]];
        s_profile := w_profile[w_lo[w]:w_hi[w]];
        s_at := w_at[w_lo[w]:w_hi[w]];
        s_event := w_event[w_lo[w]:w_hi[w]];
        s_props := w_props[w_lo[w]:w_hi[w]];
        -- the runs of the wave's profiles wake up to the event's time, at their own times (found
        -- by profile: each wave's profiles have one event each)
        LOOP
            SELECT array_agg(r.run_id) INTO due
              FROM (SELECT DISTINCT m.profile_id, m.at FROM unnest(s_profile, s_at) AS m(profile_id, at)) e
             CROSS JOIN LATERAL (SELECT r.run_id FROM personalize.journey_runs r JOIN personalize.journeys j USING (journey_id)
                                  WHERE r.profile_id = e.profile_id AND r.state = 'waiting' AND r.wake_at <= e.at
                                    AND j.status = 'active' AND (only_journey IS NULL OR r.journey_id = only_journey)) r;
            EXIT WHEN due IS NULL;
            PERFORM personalize._journey_wake(due, 'infinity', as_of);
        END LOOP;

        -- goals end the runs in flight wherever they are
        FOR g IN
            SELECT m.event, array_agg(r.run_id) AS rids, array_agg(m.at) AS ats
              FROM unnest(s_kind, s_journey, s_version, s_profile, s_at, s_event)
                   AS m(kind, journey_id, version, profile_id, at, event)
              JOIN personalize.journey_runs r
                ON r.journey_id = m.journey_id AND r.version = m.version AND r.profile_id = m.profile_id AND r.state <> 'done'
             WHERE m.kind = 'goal'
             GROUP BY m.event
        LOOP
            PERFORM personalize._journey_end(g.rids, g.ats, 'converted', 'goal: ' || g.event);
        END LOOP;

        -- wait_for steps whose event came: its properties join the context, on to happened
        WITH came AS (
            UPDATE personalize.journey_runs r
               SET step_at = m.at, state = 'active',
                   context = r.context || jsonb_build_object(coalesce(v.definition -> 'steps' -> r.step -> 'wait_for' ->> 'as', r.step),
                                                             m.properties)
              FROM unnest(s_kind, s_journey, s_version, s_step, s_profile, s_at, s_event, s_props)
                   AS m(kind, journey_id, version, step, profile_id, at, event, properties)
              JOIN personalize.journey_versions v USING (journey_id, version)
             WHERE m.kind = 'wait' AND r.journey_id = m.journey_id AND r.version = m.version
               AND r.profile_id = m.profile_id AND r.step = m.step AND r.state = 'waiting'
            RETURNING r.run_id, v.definition -> 'steps' -> r.step ->> 'happened' AS next, m.event
        )
        SELECT array_agg(run_id) AS rids, array_agg(next) AS nexts, array_agg('happened: ' || event) AS causes
          INTO g FROM came;
        IF g.rids IS NOT NULL THEN
            PERFORM personalize._journey_move(g.rids, g.nexts, g.causes);
            PERFORM personalize._journey_advance(g.rids, as_of);
        END IF;

        -- entries: the run's context is the entry event and the profile's cart; the runs
        -- started in all journeys then run their first steps together
        started := '{}';
        FOR c IN
            SELECT m.journey_id, m.version, array_agg(m.profile_id) AS pids, array_agg(m.at) AS ats,
                   array_agg(jsonb_build_object('event', m.event, 'properties', m.properties, 'cart', p.cart)) AS ctxs,
                   array_agg('entry: ' || m.event) AS causes
              FROM unnest(s_kind, s_journey, s_version, s_profile, s_at, s_event, s_props)
                   AS m(kind, journey_id, version, profile_id, at, event, properties)
              JOIN personalize.profiles p USING (profile_id)
             WHERE m.kind = 'entry'
             GROUP BY 1, 2
             ORDER BY 1, 2
        LOOP
            started := started || personalize._journey_start(c.journey_id, c.version, c.pids, c.ats, c.ctxs, c.causes, as_of);
        END LOOP;
        IF cardinality(started) > 0 THEN
            PERFORM personalize._journey_advance(started, as_of);
        END IF;
    END LOOP;
END
$$;

-- Entries on entering a segment: the statement trigger on segment_log starts the runs of the
-- active journeys whose entry is a segment that profiles just entered, at the entry's time.
CREATE FUNCTION personalize._journeys_on_segment_log()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c record;
    started bigint[] := '{}';
BEGIN
    FOR c IN
        SELECT v.journey_id, v.version, array_agg(l.profile_id) AS pids, array_agg(l.at) AS ats,
               array_agg(jsonb_build_object('segment', s.name)) AS ctxs, array_agg('entry: segment ' || s.name) AS causes
          FROM personalize.journeys j
          JOIN personalize.journey_versions v ON v.journey_id = j.journey_id AND v.version = j.version
          JOIN personalize.segments s ON s.name = v.definition -> 'entry' ->> 'segment'
          JOIN logged l ON l.segment_id = s.segment_id AND l.change = 'entered'
         WHERE j.status = 'active' AND v.entry_kind = 'segment'
         GROUP BY 1, 2
         ORDER BY 1, 2
    LOOP
        started := started || personalize._journey_start(c.journey_id, c.version, c.pids, c.ats, c.ctxs, c.causes,
                                                         personalize._clock());
    END LOOP;
    IF cardinality(started) > 0 THEN
        PERFORM personalize._journey_advance(started, personalize._clock());
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER segment_log_journeys AFTER INSERT ON personalize.segment_log
    REFERENCING NEW TABLE AS logged
    FOR EACH STATEMENT EXECUTE FUNCTION personalize._journeys_on_segment_log();

-- Entries on a trait change: the row trigger on profiles (fired only when traits change)
-- starts the runs of the active journeys whose entry is that trait going from "from" (if
-- given) to "to" (if given), at the clock's time; the context holds both values.
CREATE FUNCTION personalize._journeys_on_traits()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c record;
    as_of timestamptz := personalize._clock();
    started bigint[] := '{}';
BEGIN
    FOR c IN
        SELECT v.journey_id, v.version, x.before, x.after, v.definition -> 'entry' ->> 'trait' AS trait
          FROM personalize.journeys j
          JOIN personalize.journey_versions v ON v.journey_id = j.journey_id AND v.version = j.version
         CROSS JOIN LATERAL (SELECT OLD.traits #> string_to_array(v.definition -> 'entry' ->> 'trait', '.') AS before,
                                    NEW.traits #> string_to_array(v.definition -> 'entry' ->> 'trait', '.') AS after) x
         WHERE j.status = 'active' AND v.entry_kind = 'trait'
           AND x.before IS DISTINCT FROM x.after
           AND (NOT v.definition -> 'entry' ? 'from' OR x.before = v.definition -> 'entry' -> 'from')
           AND (NOT v.definition -> 'entry' ? 'to' OR x.after = v.definition -> 'entry' -> 'to')
         ORDER BY v.journey_id
    LOOP
        started := started || personalize._journey_start(c.journey_id, c.version, ARRAY[NEW.profile_id], ARRAY[as_of],
                                                         ARRAY[jsonb_build_object('trait', c.trait, 'from', c.before, 'to', c.after)],
                                                         ARRAY['entry: trait ' || c.trait], as_of);
    END LOOP;
    IF cardinality(started) > 0 THEN
        PERFORM personalize._journey_advance(started, as_of);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER profiles_traits_journeys AFTER UPDATE OF traits ON personalize.profiles
    FOR EACH ROW WHEN (OLD.traits IS DISTINCT FROM NEW.traits)
    EXECUTE FUNCTION personalize._journeys_on_traits();

-- The event names live journeys read (entry of active journeys, goals and waits of versions
-- with runs in flight): the ingest trigger passes on only the events of these names.
CREATE FUNCTION personalize._journey_event_names()
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(array_agg(DISTINCT n), '{}')
      FROM personalize.journey_versions v
      JOIN personalize.journeys j USING (journey_id)
     CROSS JOIN LATERAL unnest(CASE WHEN j.status = 'active' AND v.version = j.version THEN v.entry_events ELSE '{}' END
                               || v.goal_events || v.wait_events) AS n
     WHERE personalize._journey_version_live(v.journey_id, v.version)
$$;

REVOKE ALL ON FUNCTION personalize._journey_move(bigint[], text[], text[]),
    personalize._journey_end(bigint[], timestamptz[], text, text),
    personalize._journey_send(integer, text, text, jsonb, bigint[], bigint[], jsonb[], timestamptz[], timestamptz),
    personalize._journey_advance(bigint[], timestamptz),
    personalize._journey_start(integer, integer, bigint[], timestamptz[], jsonb[], text[], timestamptz),
    personalize._journey_wake(bigint[], timestamptz, timestamptz), personalize._journeys_tick(timestamptz, integer),
    personalize._journeys_on_events(bigint[], text[], jsonb[], timestamptz[], bigint[], integer, timestamptz),
    personalize._journeys_on_segment_log(), personalize._journeys_on_traits(), personalize._journey_event_names(),
    personalize._journey_version_live(integer, integer),
    personalize._journey_pass(bigint[], text[], jsonb[], timestamptz[], bigint[], text[], integer[], integer[], text[],
                              integer[], integer, timestamptz) FROM PUBLIC;
