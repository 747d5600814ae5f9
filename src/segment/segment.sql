-- Segments: rules compiled in C (src/segment/rule_core.c, through src/segment/segment.c) into whole evaluation statements that
-- are never stored, membership kept in the same transaction as the events that change it,
-- time-driven rechecks for tick(), and NOTIFY of what changed. Every function that compiles or
-- evaluates a rule runs with TimeZone UTC (and fixed date and interval styles), so no answer
-- depends on the session's settings.

-- Checks a rule and says what it reads; the statements it returns are for inspection only.
CREATE FUNCTION personalize._segment_compile(rule jsonb, OUT time_dependent boolean, OUT events text[],
                                             OUT fields text[], OUT segments text[],
                                             OUT live_statement text, OUT full_statement text)
AS 'MODULE_PATHNAME', 'personalize_segment_compile'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres';

-- The profile fields a rule may compare (the compiler's own table): name, type, the change
-- group that re-evaluates it, and whether it is taken as of the evaluation time.
CREATE FUNCTION personalize._segment_fields()
RETURNS TABLE (name text, kind text, reads text, as_of boolean)
AS 'MODULE_PATHNAME', 'personalize_segment_fields'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION personalize.bucket(profile_id bigint, salt text DEFAULT '')
RETURNS integer
AS 'MODULE_PATHNAME', 'personalize_bucket'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.bucket(bigint, text) IS
'Stable random bucket 0..9999: first 8 bytes of SHA-256(salt:profile_id), big-endian, mod 10000';

CREATE FUNCTION personalize.days_to_anniversary(date_text text, as_of timestamptz)
RETURNS integer
AS 'MODULE_PATHNAME', 'personalize_days_to_anniversary'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.days_to_anniversary(text, timestamptz) IS
'Days from as_of (UTC date) to the next anniversary of a YYYY-MM-DD date; NULL if not a date';

-- The evaluation time of live updates: personalize.clock if set (tests, replays), else the
-- statement's time.
CREATE FUNCTION personalize._clock()
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'personalize_clock_now'
LANGUAGE C STABLE;

-- No compiled SQL is stored here: evaluation compiles the rule again (src/segment/segment_exec.c),
-- so a role that can write this table can only write rules, which the compiler checks.
CREATE TABLE personalize.segments (
    segment_id      integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (name <> '' AND octet_length(name) <= 200),
    kind            text NOT NULL CHECK (kind IN ('rule', 'sql')),
    rule            jsonb,
    reads_events    text[] NOT NULL DEFAULT '{}',
    reads_fields    text[] NOT NULL DEFAULT '{}',
    reads_segments  text[] NOT NULL DEFAULT '{}',
    eval_order      integer NOT NULL DEFAULT 0,
    refreshed_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp(),
    evaluated_at    timestamptz
);
COMMENT ON TABLE personalize.segments IS 'Segment definitions (rules, never compiled SQL) and what they read';
COMMENT ON COLUMN personalize.segments.evaluated_at IS
'The latest time the whole segment was evaluated at (refresh or tick); a refresh before it is refused';

-- The conditions of SQL segments: SQL text that refresh_segment runs as the extension owner, so
-- only superusers may write it (src/core/roles.sql grants no role anything but SELECT).
CREATE TABLE personalize.segment_sql (
    segment_id      integer PRIMARY KEY,
    where_clause    text NOT NULL,
    defined_by      name NOT NULL DEFAULT CURRENT_USER
);
COMMENT ON TABLE personalize.segment_sql IS
'The SQL condition of each SQL segment; written by superusers only (create_sql_segment)';

-- No foreign keys on the member tables: their per-row checks were a third of the cost of
-- filling a segment; drop_segment deletes the rows itself.
CREATE TABLE personalize.segment_members (
    segment_id  integer NOT NULL,
    profile_id  bigint NOT NULL,
    entered_at  timestamptz NOT NULL,
    recheck_at  timestamptz,
    PRIMARY KEY (segment_id, profile_id)
);
CREATE INDEX segment_members_profile_idx ON personalize.segment_members (profile_id);
CREATE INDEX segment_members_recheck_idx ON personalize.segment_members (recheck_at) WHERE recheck_at IS NOT NULL;
COMMENT ON TABLE personalize.segment_members IS
'Current members; recheck_at is when the passing of time alone may change the answer';

CREATE TABLE personalize.segment_pending (
    segment_id  integer NOT NULL,
    profile_id  bigint NOT NULL,
    recheck_at  timestamptz NOT NULL,
    PRIMARY KEY (segment_id, profile_id)
);
CREATE INDEX segment_pending_recheck_idx ON personalize.segment_pending (recheck_at);
COMMENT ON TABLE personalize.segment_pending IS
'Non-members that the passing of time alone may turn into members, and when';

CREATE TABLE personalize.segment_log (
    log_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    segment_id  integer NOT NULL,
    profile_id  bigint NOT NULL,
    change      text NOT NULL CHECK (change IN ('entered', 'exited')),
    at          timestamptz NOT NULL,
    cause       text NOT NULL
);
CREATE INDEX segment_log_segment_idx ON personalize.segment_log (segment_id, log_id);
CREATE INDEX segment_log_profile_idx ON personalize.segment_log (profile_id);
COMMENT ON TABLE personalize.segment_log IS 'Every entry into and exit from a segment, with its cause';

SELECT pg_catalog.pg_extension_config_dump('personalize.segments', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.segments_segment_id_seq', '');   -- else a restore restarts the ids
SELECT pg_catalog.pg_extension_config_dump('personalize.segment_sql', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.segment_members', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.segment_pending', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.segment_log', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.segment_log_log_id_seq', '');   -- else a restore restarts the ids

CREATE VIEW personalize.segment_profiles AS
SELECT profile_id, user_id, email, traits, email_consent, lawful_basis, do_not_sell, consent_at,
       event_count, first_seen_at, last_seen_at, created_at, updated_at,
       purchase_count, purchase_total, first_purchase_at, last_purchase_at,
       engagement, engagement_as_of, rfm_r, rfm_f, rfm_m, rfm_segment
  FROM personalize.profiles;
COMMENT ON VIEW personalize.segment_profiles IS
'What SQL segments (create_sql_segment) may read, one row per profile, as "p"';

-- Orders segments so that each comes after the segments it reads; refuses unknown
-- references and cycles.
CREATE FUNCTION personalize._segments_sort()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    missing text;
    changed integer;
    rounds integer := 0;
    cycle text;
BEGIN
    SELECT r INTO missing FROM personalize.segments s, unnest(s.reads_segments) r
     WHERE NOT EXISTS (SELECT FROM personalize.segments t WHERE t.name = r) LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'segment "%" does not exist', missing USING ERRCODE = 'undefined_object';
    END IF;
    UPDATE personalize.segments SET eval_order = 0 WHERE eval_order <> 0;
    LOOP
        UPDATE personalize.segments s SET eval_order = d.o
          FROM (SELECT s2.segment_id, 1 + max(t.eval_order) AS o
                  FROM personalize.segments s2, unnest(s2.reads_segments) r
                  JOIN personalize.segments t ON t.name = r
                 GROUP BY s2.segment_id) d
         WHERE s.segment_id = d.segment_id AND s.eval_order <> d.o;
        GET DIAGNOSTICS changed = ROW_COUNT;
        EXIT WHEN changed = 0;
        rounds := rounds + 1;
        IF rounds > (SELECT count(*) FROM personalize.segments) THEN
            SELECT string_agg(name, ', ' ORDER BY name) INTO cycle FROM personalize.segments
             WHERE eval_order > (SELECT count(*) FROM personalize.segments) - 1;
            RAISE EXCEPTION 'segment rules refer to each other in a cycle'
                USING ERRCODE = 'invalid_recursion', DETAIL = format('Segments involved: %s.', cycle);
        END IF;
    END LOOP;
END
$$;

-- Evaluates a segment for the profiles ids (NULL: everyone) as of as_of, from its rule (compiled
-- here, in C, and kept per backend with the plan of its live form) or its SQL condition.
CREATE FUNCTION personalize._segment_run(segment_id integer, rule jsonb, where_clause text, ids bigint[],
                                         as_of timestamptz, cause text,
                                         OUT entered bigint, OUT exited bigint, OUT changed bigint[])
AS 'MODULE_PATHNAME', 'personalize_segment_run'
LANGUAGE C VOLATILE
SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
SET jit = off;   -- the statement's estimates are defaults: JIT would compile every call

-- The backend's cache of compiled segment statements: entries, entries in use, evictions.
CREATE FUNCTION personalize._segment_cache_stats(OUT entries bigint, OUT in_use bigint, OUT evictions bigint)
AS 'MODULE_PATHNAME', 'personalize_segment_cache_stats'
LANGUAGE C VOLATILE;

-- Re-evaluates one segment for the given profiles (NULL: every profile) as of as_of, stores
-- the answer, logs entries and exits with cause, and returns how many entered and exited.
-- exclusive: a full refresh or a tick holds the segment alone; live updates share it, so that
-- neither computes from a snapshot that misses what the other is committing.
CREATE FUNCTION personalize._segment_apply(seg personalize.segments, ids bigint[], as_of timestamptz,
                                           cause text, exclusive boolean, OUT entered bigint,
                                           OUT exited bigint, OUT changed bigint[])
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    clause text;
BEGIN
    IF exclusive THEN
        PERFORM pg_advisory_xact_lock(1885692786, seg.segment_id);
    ELSE
        PERFORM pg_advisory_xact_lock_shared(1885692786, seg.segment_id);
    END IF;
    IF seg.kind = 'sql' THEN
        SELECT q.where_clause INTO STRICT clause FROM personalize.segment_sql q WHERE q.segment_id = seg.segment_id;
    END IF;
    SELECT x.entered, x.exited, x.changed INTO entered, exited, changed
      FROM personalize._segment_run(seg.segment_id, CASE WHEN seg.kind = 'rule' THEN seg.rule END, clause,
                                    ids, as_of, cause) x;
END
$$;

-- Re-evaluates, in dependency order, the rule segments that read any of the given events or
-- fields ('*': everything), or a segment this pass changed, for the given profiles; profiles
-- new_ids (just created) are evaluated for every segment. Returns a summary
-- [{"id", "entered", "exited"}] of the segments that changed.
CREATE FUNCTION personalize._segments_on_change(ids bigint[], events text[], fields text[],
                                                as_of timestamptz, cause text, new_ids bigint[])
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    seg personalize.segments;
    r record;
    changed text[] := '{}';
    summary jsonb := '[]';
BEGIN
    IF coalesce(cardinality(ids), 0) + coalesce(cardinality(new_ids), 0) = 0 THEN
        RETURN summary;
    END IF;
    PERFORM personalize._check_as_of(as_of);
    FOR seg IN
        SELECT * FROM personalize.segments s
         WHERE s.kind = 'rule'
         ORDER BY s.eval_order, s.segment_id
    LOOP
        IF '*' = ANY (fields) OR seg.reads_events && events OR seg.reads_fields && fields
           OR seg.reads_segments && changed THEN
            r := personalize._segment_apply(seg, ids, as_of, cause, false);
        ELSIF coalesce(cardinality(new_ids), 0) > 0 THEN
            r := personalize._segment_apply(seg, new_ids, as_of, cause, false);
        ELSE
            CONTINUE;
        END IF;
        IF r.entered + r.exited > 0 THEN
            changed := changed || seg.name;
            summary := summary || jsonb_build_object('id', seg.segment_id, 'entered', r.entered, 'exited', r.exited);
        END IF;
    END LOOP;
    RETURN summary;
END
$$;

-- Sends the one NOTIFY of a statement on channel personalize_segments: segment ids and
-- counts, never profile data, kept under the 8000-byte payload limit.
CREATE FUNCTION personalize._segments_notify(summary jsonb, cause text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    payload text;
    n integer := jsonb_array_length(summary);
BEGIN
    IF n = 0 THEN
        RETURN;
    END IF;
    payload := jsonb_build_object('cause', cause, 'segments', summary)::text;
    WHILE octet_length(payload) > 7900 LOOP
        n := n / 2;
        payload := jsonb_build_object('cause', cause, 'truncated', true,
                                      'segments', (SELECT jsonb_agg(e) FROM jsonb_array_elements(summary)
                                                     WITH ORDINALITY AS t(e, i) WHERE i <= n))::text;
    END LOOP;
    PERFORM pg_notify('personalize_segments', payload);
END
$$;

-- Live updates after a change to some profiles: re-evaluates the segments that read what
-- changed, as of personalize.clock, and sends the statement's one NOTIFY.
CREATE FUNCTION personalize._segments_live(ids bigint[], events text[], fields text[], cause text,
                                           new_ids bigint[] DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT FROM personalize.segments WHERE kind = 'rule') THEN
        PERFORM personalize._segments_notify(
            personalize._segments_on_change(ids, events, fields, personalize._clock(), cause, new_ids), cause);
    END IF;
END
$$;

-- Compiles a rule, refusing a bad one with the JSON path of the bad node, into the row to store:
-- the rule and what it reads (never the compiled SQL).
CREATE FUNCTION personalize._segment_row(name text, rule jsonb)
RETURNS personalize.segments
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c record;
    s personalize.segments;
BEGIN
    IF rule IS NULL THEN
        RAISE EXCEPTION 'a segment rule must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    c := personalize._segment_compile(rule);
    s.name := name;
    s.kind := 'rule';
    s.rule := rule;
    s.reads_events := c.events;
    s.reads_fields := c.fields;
    s.reads_segments := c.segments;
    RETURN s;
END
$$;

-- Re-evaluates the segments named in roots for everyone, then the segments that read them,
-- in order; sends one NOTIFY. Returns [{"id", "entered", "exited"}] for every segment it ran.
-- A refresh or an alter never goes back before the time a segment was last evaluated at (by a
-- tick or a refresh): it would put back members that have left since, and log entries out of
-- order; audience(name, as_of) answers for earlier times from segment_log.
CREATE FUNCTION personalize._segments_refresh(roots text[], as_of timestamptz, cause text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    seg personalize.segments;
    r record;
    touched text[] := roots;
    summary jsonb := '[]';
BEGIN
    PERFORM personalize._check_as_of(as_of);
    FOR seg IN SELECT * FROM personalize.segments ORDER BY eval_order, segment_id LOOP
        CONTINUE WHEN NOT (seg.name = ANY (roots) OR seg.reads_segments && touched);
        IF cause IN ('refresh', 'alter') AND seg.evaluated_at > as_of THEN
            RAISE EXCEPTION 'segment "%" was evaluated at a later time than %', seg.name, as_of
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = format('It was evaluated at %s; evaluating it at an earlier time would put back members that have left since.',
                                      seg.evaluated_at),
                      HINT = 'Evaluate at that time or later; personalize.audience(name, as_of) gives the membership at an earlier time.';
        END IF;
        r := personalize._segment_apply(seg, NULL, as_of, cause, true);
        UPDATE personalize.segments SET refreshed_at = as_of, evaluated_at = as_of WHERE segment_id = seg.segment_id;
        touched := touched || seg.name;
        summary := summary || jsonb_build_object('id', seg.segment_id, 'entered', r.entered, 'exited', r.exited);
    END LOOP;
    PERFORM personalize._segments_notify(
        (SELECT coalesce(jsonb_agg(e), '[]') FROM jsonb_array_elements(summary) e
          WHERE (e ->> 'entered')::bigint + (e ->> 'exited')::bigint > 0), cause);
    RETURN summary;
END
$$;

-- Refreshes every rule segment that reads a field group (e.g. rfm after score_rfm).
CREATE FUNCTION personalize._segments_refresh_reading(field text, as_of timestamptz, cause text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    roots text[] := ARRAY(SELECT s.name FROM personalize.segments s
                           WHERE s.kind = 'rule' AND field = ANY (s.reads_fields));
BEGIN
    IF cardinality(roots) > 0 THEN
        PERFORM personalize._segments_refresh(roots, as_of, cause);
    END IF;
END
$$;

-- Compiles a rule and stores it as a new segment or over an existing one, orders the
-- segments, and fills it (and the segments that read it) as of as_of (NULL: personalize.clock,
-- or the statement's time when it is not set, as for live updates).
CREATE FUNCTION personalize._segment_define(name text, rule jsonb, as_of timestamptz, is_new boolean)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s personalize.segments;
    id integer;
BEGIN
    s := personalize._segment_row(name, rule);
    IF is_new THEN
        INSERT INTO personalize.segments (name, kind, rule, reads_events, reads_fields, reads_segments)
        VALUES (s.name, 'rule', s.rule, s.reads_events, s.reads_fields, s.reads_segments)
        RETURNING segment_id INTO id;
    ELSE
        UPDATE personalize.segments g
           SET rule = s.rule, reads_events = s.reads_events, reads_fields = s.reads_fields,
               reads_segments = s.reads_segments, updated_at = statement_timestamp()
         WHERE g.name = _segment_define.name AND g.kind = 'rule'
        RETURNING segment_id INTO id;
        IF id IS NULL THEN
            RAISE EXCEPTION 'rule segment "%" does not exist', name USING ERRCODE = 'undefined_object';
        END IF;
    END IF;
    PERFORM personalize._segments_sort();
    PERFORM personalize._segments_refresh(ARRAY[name], coalesce(as_of, personalize._clock()),
                                          CASE WHEN is_new THEN 'create' ELSE 'alter' END);
    RETURN id;
END
$$;

CREATE FUNCTION personalize.create_segment(name text, rule jsonb, as_of timestamptz DEFAULT NULL)
RETURNS integer
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT personalize._segment_define(name, rule, as_of, true) $$;
COMMENT ON FUNCTION personalize.create_segment(text, jsonb, timestamptz) IS
'Defines a segment by a JSON rule (compiled and checked now) and fills it as of as_of (default: personalize.clock, else now)';

CREATE FUNCTION personalize.alter_segment(name text, rule jsonb, as_of timestamptz DEFAULT NULL)
RETURNS integer
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT personalize._segment_define(name, rule, as_of, false) $$;
COMMENT ON FUNCTION personalize.alter_segment(text, jsonb, timestamptz) IS
'Replaces a rule segment''s rule and recomputes it (and the segments that read it) as of as_of (default: personalize.clock, else now)';

-- Removes a segment and its members once nothing reads it. Runs as the owner, so it refuses a
-- SQL segment whose condition is still stored: drop_segment removes that first, with the
-- caller's own rights, which only superusers have.
CREATE FUNCTION personalize._segment_drop(name text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    users text;
    gone integer;
BEGIN
    SELECT string_agg(s.name, ', ' ORDER BY s.name) INTO users FROM personalize.segments s
     WHERE _segment_drop.name = ANY (s.reads_segments);
    IF users IS NOT NULL THEN
        RAISE EXCEPTION 'segment "%" is used by other segments', name
            USING ERRCODE = 'dependent_objects_still_exist', DETAIL = format('Used by: %s.', users),
                  HINT = 'Alter or drop those segments first.';
    END IF;
    IF EXISTS (SELECT FROM personalize.segments s JOIN personalize.segment_sql q USING (segment_id)
                WHERE s.name = _segment_drop.name) THEN
        RAISE EXCEPTION 'permission denied to drop SQL segment "%"', name
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'SQL segments are created and dropped by superusers only.';
    END IF;
    DELETE FROM personalize.segments s WHERE s.name = _segment_drop.name RETURNING segment_id INTO gone;
    IF gone IS NULL THEN
        RAISE EXCEPTION 'segment "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    DELETE FROM personalize.segment_members m WHERE m.segment_id = gone;
    DELETE FROM personalize.segment_pending sp WHERE sp.segment_id = gone;
END
$$;

-- Drops a segment: a rule segment for whoever may create one, a SQL segment for superusers
-- only (the same rights as creating it). Runs with the caller's rights.
CREATE FUNCTION personalize.drop_segment(name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT FROM personalize.segments s WHERE s.name = drop_segment.name AND s.kind = 'sql') THEN
        IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
            RAISE EXCEPTION 'permission denied to drop SQL segment "%"', name
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = 'SQL segments are created and dropped by superusers only.';
        END IF;
        DELETE FROM personalize.segment_sql q
         USING personalize.segments s WHERE s.segment_id = q.segment_id AND s.name = drop_segment.name;
    END IF;
    PERFORM personalize._segment_drop(name);
END
$$;
COMMENT ON FUNCTION personalize.drop_segment(text) IS
'Drops a segment nothing reads; SQL segments only by a superuser';

-- A segment defined by a SQL condition. Its text is run by refresh_segment as the extension's
-- owner, so only a superuser may define one (docs/segments.md, "SQL segments").
CREATE FUNCTION personalize.create_sql_segment(name text, where_clause text, as_of timestamptz DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id integer;
BEGIN
    IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
        RAISE EXCEPTION 'permission denied to create SQL segment "%"', name
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A SQL segment''s condition runs as the extension''s owner, so only superusers may define one.',
                  HINT = 'Use create_segment with a JSON rule.';
    END IF;
    IF where_clause IS NULL OR btrim(where_clause) = '' OR position(';' IN where_clause) > 0 THEN
        RAISE EXCEPTION 'invalid where clause for SQL segment "%"', name USING ERRCODE = 'syntax_error',
            DETAIL = 'A SQL segment is one boolean expression over personalize.segment_profiles p, without semicolons.';
    END IF;
    EXECUTE format('SELECT count(*) FROM (SELECT FROM personalize.segment_profiles p WHERE (%s) LIMIT 0) x',
                   where_clause);
    INSERT INTO personalize.segments (name, kind) VALUES (name, 'sql') RETURNING segment_id INTO id;
    INSERT INTO personalize.segment_sql (segment_id, where_clause) VALUES (id, where_clause);
    PERFORM personalize._segments_refresh(ARRAY[name], coalesce(as_of, personalize._clock()), 'create');
    RETURN id;
END
$$;
COMMENT ON FUNCTION personalize.create_sql_segment(text, text, timestamptz) IS
'A segment defined by a SQL condition on personalize.segment_profiles p (superusers only); refreshed in batch only (refresh_segment)';

CREATE FUNCTION personalize.refresh_segment(name text, as_of timestamptz DEFAULT NULL,
                                            OUT entered bigint, OUT exited bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    summary jsonb;
BEGIN
    IF NOT EXISTS (SELECT FROM personalize.segments s WHERE s.name = refresh_segment.name) THEN
        RAISE EXCEPTION 'segment "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    summary := personalize._segments_refresh(ARRAY[name], coalesce(as_of, personalize._clock()), 'refresh');
    entered := (summary -> 0 ->> 'entered')::bigint;
    exited := (summary -> 0 ->> 'exited')::bigint;
END
$$;
COMMENT ON FUNCTION personalize.refresh_segment(text, timestamptz) IS
'Recomputes a segment from scratch as of as_of (then the segments that read it); returns its entries and exits';

CREATE FUNCTION personalize.refresh_segments(names text[] DEFAULT NULL, as_of timestamptz DEFAULT NULL)
RETURNS TABLE (segment text, entered bigint, exited bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    roots text[] := coalesce(names, ARRAY(SELECT s.name FROM personalize.segments s));
    missing text;
BEGIN
    SELECT n INTO missing FROM unnest(roots) n
     WHERE NOT EXISTS (SELECT FROM personalize.segments s WHERE s.name = n) LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'segment "%" does not exist', missing USING ERRCODE = 'undefined_object';
    END IF;
    RETURN QUERY
    SELECT s.name, (t.e ->> 'entered')::bigint, (t.e ->> 'exited')::bigint
      FROM jsonb_array_elements(personalize._segments_refresh(roots, coalesce(as_of, personalize._clock()), 'refresh')) WITH ORDINALITY AS t(e, i)
      JOIN personalize.segments s ON s.segment_id = (t.e ->> 'id')::integer
     ORDER BY t.i;
END
$$;
COMMENT ON FUNCTION personalize.refresh_segments(text[], timestamptz) IS
'Recomputes the named segments (NULL: all) as of as_of, and the segments that read them, each once, in dependency order; one row per segment';

-- The clock of tick(): the time it last ran at. Dumped, so a restored database keeps it.
CREATE TABLE personalize.tick_state (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_tick  timestamptz
);
INSERT INTO personalize.tick_state DEFAULT VALUES;
COMMENT ON TABLE personalize.tick_state IS 'The time tick() last ran at (it refuses an earlier one)';
SELECT pg_catalog.pg_extension_config_dump('personalize.tick_state', '');

-- Moves the clock of tick() to as_of, or refuses an as_of earlier than the last tick or than the
-- latest evaluation of a rule segment (a refresh), as refresh_segment refuses one: evaluating at
-- an earlier time would put back members that have left since. Concurrent ticks run one at a time.
CREATE FUNCTION personalize._tick_advance(as_of timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    last timestamptz;
BEGIN
    SELECT t.last_tick INTO last FROM personalize.tick_state t FOR UPDATE;
    SELECT greatest(last, max(s.evaluated_at)) INTO last FROM personalize.segments s WHERE s.kind = 'rule';
    IF last > as_of THEN
        RAISE EXCEPTION 'cannot tick at %: the clock is already at %', as_of, last
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Segments and the outbox were evaluated at the later time; evaluating them at an earlier time would put back members that have left since.',
                  HINT = 'Tick at that time or later; personalize.audience(name, as_of) gives the membership at an earlier time.';
    END IF;
    UPDATE personalize.tick_state SET last_tick = as_of;
END
$$;

CREATE FUNCTION personalize.tick(as_of timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    seg personalize.segments;
    ids bigint[];
    r record;
    changed text[] := '{}';
    changed_ids bigint[] := '{}';
    summary jsonb := '[]';
    total bigint := 0;
BEGIN
    as_of := coalesce(as_of, personalize._clock());
    PERFORM personalize._check_as_of(as_of);
    PERFORM personalize._tick_advance(as_of);     -- never back in time
    FOR seg IN SELECT * FROM personalize.segments WHERE kind = 'rule' ORDER BY eval_order, segment_id LOOP
        SELECT array_agg(profile_id) INTO ids FROM (
            SELECT m.profile_id FROM personalize.segment_members m
             WHERE m.segment_id = seg.segment_id AND m.recheck_at <= as_of
            UNION
            SELECT sp.profile_id FROM personalize.segment_pending sp
             WHERE sp.segment_id = seg.segment_id AND sp.recheck_at <= as_of
            UNION
            -- profiles whose membership of a segment this one reads changed in this tick
            SELECT unnest(changed_ids) WHERE seg.reads_segments && changed) due;
        CONTINUE WHEN ids IS NULL;
        r := personalize._segment_apply(seg, ids, as_of, 'tick', true);
        IF r.entered + r.exited > 0 THEN
            changed := changed || seg.name;
            changed_ids := changed_ids || r.changed;
            total := total + r.entered + r.exited;
            summary := summary || jsonb_build_object('id', seg.segment_id, 'entered', r.entered, 'exited', r.exited);
        END IF;
    END LOOP;
    UPDATE personalize.segments s SET evaluated_at = as_of
     WHERE s.kind = 'rule' AND (s.evaluated_at IS NULL OR s.evaluated_at < as_of);
    PERFORM personalize._segments_notify(summary, 'tick');
    -- the journeys' share: the runs due by as_of (src/journey/run.sql)
    PERFORM personalize._journeys_tick(as_of);
    -- the outbox's share of the clock (src/send/queue.sql)
    PERFORM personalize._sends_tick(as_of);
    -- experiments' share: test-then-roll-out decisions that are due (src/experiment/launch.sql)
    PERFORM personalize.experiment_tick(as_of);
    RETURN total;
END
$$;
COMMENT ON FUNCTION personalize.tick(timestamptz) IS
'Re-evaluates the memberships whose answer may have changed with time by as_of, advances the journey runs due, then the outbox''s leases and due sends, then the experiments'' due decisions; pg_cron calls it every minute';

CREATE FUNCTION personalize.in_segment(name text, profile_id bigint)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT FROM personalize.segment_members m JOIN personalize.segments s USING (segment_id)
                    WHERE s.name = $1 AND m.profile_id = $2)
$$;

CREATE FUNCTION personalize.segments_of(profile_id bigint)
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(array_agg(s.name ORDER BY s.name), '{}')
      FROM personalize.segment_members m JOIN personalize.segments s USING (segment_id)
     WHERE m.profile_id = $1
$$;

CREATE FUNCTION personalize.install_schedule(tick_schedule text DEFAULT '* * * * *',
                                             maintain_schedule text DEFAULT '17 3 * * *')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in this database'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database and run CREATE EXTENSION pg_cron; or call personalize.tick() every minute and personalize.maintain() daily from your own scheduler.';
    END IF;
    EXECUTE 'SELECT cron.schedule($1, $2, $3)' USING 'personalize-tick', tick_schedule, 'SELECT personalize.tick()';
    EXECUTE 'SELECT cron.schedule($1, $2, $3)' USING 'personalize-maintain', maintain_schedule, 'SELECT personalize.maintain()';
END
$$;
COMMENT ON FUNCTION personalize.install_schedule(text, text) IS
'Registers tick() (every minute) and maintain() (daily) with pg_cron';

CREATE FUNCTION personalize.audience(segment_name text, as_of timestamptz)
RETURNS personalize.audience
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    seg integer;
    latest timestamptz;
    result personalize.audience;
BEGIN
    SELECT s.segment_id INTO seg FROM personalize.segments s WHERE s.name = segment_name;
    IF seg IS NULL THEN
        RAISE EXCEPTION 'segment "%" does not exist', segment_name USING ERRCODE = 'undefined_object';
    END IF;
    IF as_of IS NULL OR NOT isfinite(as_of) THEN
        RAISE EXCEPTION 'as_of must be a finite timestamp' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT max(l.at) INTO latest FROM personalize.segment_log l WHERE l.segment_id = seg;
    IF latest IS NULL OR as_of >= latest THEN
        SELECT personalize.audience_agg(m.profile_id) INTO result
          FROM personalize.segment_members m WHERE m.segment_id = seg;
    ELSE
        -- the membership at an earlier time, replayed from the log of entries and exits
        SELECT personalize.audience_agg(l.profile_id) INTO result
          FROM (SELECT DISTINCT ON (x.profile_id) x.profile_id, x.change
                  FROM personalize.segment_log x
                 WHERE x.segment_id = seg AND x.at <= as_of
                 ORDER BY x.profile_id, x.at DESC, x.log_id DESC) l
         WHERE l.change = 'entered';
    END IF;
    RETURN coalesce(result, personalize.audience_from_array('{}'));
END
$$;
COMMENT ON FUNCTION personalize.audience(text, timestamptz) IS
'The members of a segment as an audience bitmap: current ones, or as of an earlier time from segment_log';
