-- Campaigns (docs/sends.md, "Campaigns"): a template sent to an audience of segments, launched
-- set-at-a-time through the send policy and the outbox, once or on a pg_cron schedule.

CREATE TABLE personalize.campaigns (
    campaign_id       integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name              text NOT NULL UNIQUE CHECK (name <> '' AND octet_length(name) <= 200),
    audience          text NOT NULL,
    audience_tree     jsonb NOT NULL,
    template          text NOT NULL,
    kind              text NOT NULL DEFAULT 'marketing' CHECK (kind IN ('marketing', 'transactional')),
    priority          integer NOT NULL DEFAULT 0,
    from_address      text,
    reply_to          text,
    experiment        text,
    status            text NOT NULL DEFAULT 'draft'
                      CHECK (status IN ('draft', 'scheduled', 'running', 'paused', 'done', 'cancelled')),
    send_time         text NOT NULL DEFAULT 'now' CHECK (send_time IN ('now', 'at', 'local_time')),
    send_at           timestamptz,
    local_time        time,
    holdout_percent   numeric NOT NULL DEFAULT 0 CHECK (holdout_percent BETWEEN 0 AND 100),
    drop_when_capped  boolean NOT NULL DEFAULT false,
    utm               jsonb CHECK (utm IS NULL OR pg_catalog.jsonb_typeof(utm) = 'object'),
    schedule          text,
    last_run          bigint,
    created_at        timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp(),
    updated_at        timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp(),
    CHECK ((send_time = 'at') = (send_at IS NOT NULL)),
    CHECK ((send_time = 'local_time') = (local_time IS NOT NULL))
);
COMMENT ON TABLE personalize.campaigns IS
'Campaigns: template, audience (a segment or an expression over segments), kind, priority, send time, status';

CREATE TABLE personalize.campaign_runs (
    campaign_id  integer NOT NULL,
    run          bigint NOT NULL,
    launched_at  timestamptz NOT NULL,
    queued       bigint NOT NULL,
    deferred     bigint NOT NULL,
    suppressed   bigint NOT NULL,
    PRIMARY KEY (campaign_id, run)
);
COMMENT ON TABLE personalize.campaign_runs IS 'Each run of a campaign: when it was first launched and what it enqueued';

SELECT pg_catalog.pg_extension_config_dump('personalize.campaigns', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.campaign_runs', '');

-- The operand stack of parse_audience with its top two operands combined by an operator.
CREATE FUNCTION personalize._audience_reduce(stack jsonb[], op text)
RETURNS jsonb[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT stack[1:cardinality(stack) - 2]
           || jsonb_build_object(CASE op WHEN '&' THEN 'and' WHEN '|' THEN 'or' ELSE 'minus' END,
                                 jsonb_build_array(stack[cardinality(stack) - 1], stack[cardinality(stack)]))
$$;
COMMENT ON FUNCTION personalize._audience_reduce(jsonb[], text) IS
'parse_audience''s stack with its top two operands replaced by {and|or|minus: [a, b]}';

-- Parses an audience expression over segment names into its JSON tree: a name is a string,
-- {"and"|"or"|"minus": [left, right]} an operator. &, | and - share one precedence and
-- associate to the left, as the audience operators do in SQL; parentheses group. Names are
-- bare words of letters, digits, _ . : or "double-quoted" ("" for a quote).
CREATE FUNCTION personalize.parse_audience(expression text)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tokens text[] := '{}';
    kinds text[] := '{}';
    starts integer[] := '{}';
    pos integer := 1;
    len integer;
    c text;
    m text;
    stack jsonb[] := '{}';       -- operands
    ops text[] := '{}';          -- pending operators and '('
    i integer;
    kind text;
    expect_operand boolean := true;
BEGIN
    IF expression IS NULL THEN
        RAISE EXCEPTION 'audience expression must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    len := length(expression);
    IF len > 10000 THEN
        RAISE EXCEPTION 'audience expression is too long' USING ERRCODE = 'program_limit_exceeded',
            DETAIL = format('It has %s characters; the limit is 10000.', len);
    END IF;
    -- tokens
    WHILE pos <= len LOOP
        c := substr(expression, pos, 1);
        IF c ~ '\s' THEN
            pos := pos + 1;
        ELSIF c IN ('&', '|', '-', '(', ')') THEN
            tokens := tokens || c; kinds := kinds || c; starts := starts || pos; pos := pos + 1;
        ELSIF c = '"' THEN
            m := substring(substr(expression, pos) FROM '^"((?:[^"]|"")*)"');
            IF m IS NULL THEN
                RAISE EXCEPTION 'unterminated quoted segment name in audience expression at character %', pos
                    USING ERRCODE = 'syntax_error', DETAIL = format('The expression is: %s', expression);
            END IF;
            tokens := tokens || replace(m, '""', '"'); kinds := kinds || 'name'::text; starts := starts || pos;
            pos := pos + length(m) + 2;
        ELSE
            m := substring(substr(expression, pos) FROM '^[A-Za-z0-9_.:]+');
            IF m IS NULL THEN
                RAISE EXCEPTION 'unexpected character "%" in audience expression at character %', c, pos
                    USING ERRCODE = 'syntax_error',
                          HINT = 'Write segment names, the operators & | - and parentheses; double-quote names with other characters.';
            END IF;
            tokens := tokens || m; kinds := kinds || 'name'::text; starts := starts || pos;
            pos := pos + length(m);
        END IF;
    END LOOP;
    IF cardinality(tokens) = 0 THEN
        RAISE EXCEPTION 'audience expression is empty' USING ERRCODE = 'syntax_error';
    END IF;
    -- shunting-yard with one precedence, left associative
    FOR i IN 1 .. cardinality(tokens) LOOP
        kind := kinds[i];
        IF kind IN ('name', '(') THEN
            IF NOT expect_operand THEN
                RAISE EXCEPTION 'expected an operator in audience expression at character %', starts[i]
                    USING ERRCODE = 'syntax_error';
            END IF;
            IF kind = 'name' THEN
                stack := stack || to_jsonb(tokens[i]);
                expect_operand := false;
            ELSE
                ops := ops || '('::text;
            END IF;
        ELSIF kind IN ('&', '|', '-') THEN
            IF expect_operand THEN
                RAISE EXCEPTION 'expected a segment name in audience expression at character %', starts[i]
                    USING ERRCODE = 'syntax_error';
            END IF;
            WHILE cardinality(ops) > 0 AND ops[cardinality(ops)] <> '(' LOOP
                stack := personalize._audience_reduce(stack, ops[cardinality(ops)]);
                ops := ops[1:cardinality(ops) - 1];
            END LOOP;
            ops := ops || kind;
            expect_operand := true;
        ELSE -- ')'
            IF expect_operand THEN
                RAISE EXCEPTION 'expected a segment name in audience expression at character %', starts[i]
                    USING ERRCODE = 'syntax_error';
            END IF;
            WHILE cardinality(ops) > 0 AND ops[cardinality(ops)] <> '(' LOOP
                stack := personalize._audience_reduce(stack, ops[cardinality(ops)]);
                ops := ops[1:cardinality(ops) - 1];
            END LOOP;
            IF cardinality(ops) = 0 THEN
                RAISE EXCEPTION 'unbalanced ")" in audience expression at character %', starts[i]
                    USING ERRCODE = 'syntax_error';
            END IF;
            ops := ops[1:cardinality(ops) - 1];
        END IF;
    END LOOP;
    IF expect_operand THEN
        RAISE EXCEPTION 'audience expression ends with an operator' USING ERRCODE = 'syntax_error';
    END IF;
    WHILE cardinality(ops) > 0 LOOP
        IF ops[cardinality(ops)] = '(' THEN
            RAISE EXCEPTION 'unbalanced "(" in audience expression' USING ERRCODE = 'syntax_error';
        END IF;
        stack := personalize._audience_reduce(stack, ops[cardinality(ops)]);
        ops := ops[1:cardinality(ops) - 1];
    END LOOP;
    RETURN stack[1];
END
$$;
COMMENT ON FUNCTION personalize.parse_audience(text) IS
'The JSON tree of an audience expression over segment names ("vip & subscribed - bought_7d"); 42601 with the position if it does not parse';

-- The segment names an audience tree reads, each once; 22023 for a tree of the wrong shape.
CREATE FUNCTION personalize._audience_segments(tree jsonb)
RETURNS text[]
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    op text;
    names text[] := '{}';
BEGIN
    IF jsonb_typeof(tree) = 'string' THEN
        RETURN ARRAY[tree #>> '{}'];
    END IF;
    IF jsonb_typeof(tree) <> 'object' OR (SELECT count(*) FROM jsonb_object_keys(tree)) <> 1 THEN
        RAISE EXCEPTION 'invalid audience tree' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Each node must be a segment name or an object with one key, and/or/minus: %s', left(tree::text, 200));
    END IF;
    op := (SELECT k FROM jsonb_object_keys(tree) k);
    IF op NOT IN ('and', 'or', 'minus') OR jsonb_typeof(tree -> op) <> 'array'
       OR jsonb_array_length(tree -> op) < 2 OR (op = 'minus' AND jsonb_array_length(tree -> op) <> 2) THEN
        RAISE EXCEPTION 'invalid audience tree' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Operators are and, or (two or more operands) and minus (two): %s', left(tree::text, 200));
    END IF;
    SELECT array_agg(DISTINCT n) INTO names
      FROM jsonb_array_elements(tree -> op) e, unnest(personalize._audience_segments(e)) n;
    RETURN names;
END
$$;
COMMENT ON FUNCTION personalize._audience_segments(jsonb) IS
'The segment names an audience tree reads; refuses a tree of the wrong shape (22023)';

-- The audience a tree denotes as of a time, from personalize.audience(segment, as_of).
CREATE FUNCTION personalize._audience_eval(tree jsonb, as_of timestamptz)
RETURNS personalize.audience
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    op text;
    result personalize.audience;
    e jsonb;
    first boolean := true;
BEGIN
    IF jsonb_typeof(tree) = 'string' THEN
        RETURN personalize.audience(tree #>> '{}', as_of);
    END IF;
    op := (SELECT k FROM jsonb_object_keys(tree) k);
    FOR e IN SELECT x FROM jsonb_array_elements(tree -> op) x LOOP
        IF first THEN
            result := personalize._audience_eval(e, as_of);
            first := false;
        ELSIF op = 'and' THEN
            result := result OPERATOR(personalize.&) personalize._audience_eval(e, as_of);
        ELSIF op = 'or' THEN
            result := result OPERATOR(personalize.|) personalize._audience_eval(e, as_of);
        ELSE
            result := result OPERATOR(personalize.-) personalize._audience_eval(e, as_of);
        END IF;
    END LOOP;
    RETURN result;
END
$$;
COMMENT ON FUNCTION personalize._audience_eval(jsonb, timestamptz) IS
'The profiles of an audience tree as of a time, combined with the audience operators';

-- Validates the parts of a campaign definition and returns its audience tree.
CREATE FUNCTION personalize._campaign_check(c personalize.campaigns)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tree jsonb;
    missing text;
BEGIN
    IF c.name IS NULL OR c.audience IS NULL OR c.template IS NULL THEN
        RAISE EXCEPTION 'campaign name, audience and template must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    tree := CASE WHEN left(ltrim(c.audience), 1) IN ('{', '[') THEN c.audience::jsonb
                 ELSE personalize.parse_audience(c.audience) END;
    SELECT n INTO missing FROM unnest(personalize._audience_segments(tree)) n
     WHERE NOT EXISTS (SELECT FROM personalize.segments s WHERE s.name = n) LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'segment "%" does not exist', missing USING ERRCODE = 'undefined_object',
            HINT = 'Create it with personalize.create_segment first.';
    END IF;
    PERFORM personalize._email_template(c.template);
    IF c.kind IS NULL OR c.kind NOT IN ('marketing', 'transactional') THEN
        RAISE EXCEPTION 'invalid send kind "%"', c.kind USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use marketing or transactional.';
    END IF;
    IF c.send_time IS NULL OR c.send_time NOT IN ('now', 'at', 'local_time')
       OR (c.send_time = 'at') <> (c.send_at IS NOT NULL) OR (c.send_time = 'local_time') <> (c.local_time IS NOT NULL) THEN
        RAISE EXCEPTION 'invalid send time' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Give send_at alone (send_time at), local_time alone (send_time local_time), or neither (send_time now).';
    END IF;
    IF c.send_at IS NOT NULL AND NOT isfinite(c.send_at) THEN
        RAISE EXCEPTION 'send_at must be a finite timestamp' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF c.holdout_percent IS NULL OR c.holdout_percent NOT BETWEEN 0 AND 100 THEN
        RAISE EXCEPTION 'holdout_percent must be between 0 and 100' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF c.utm IS NOT NULL AND (jsonb_typeof(c.utm) <> 'object' OR EXISTS (
           SELECT FROM jsonb_each(c.utm) e WHERE e.key NOT IN ('source', 'medium', 'campaign', 'content', 'term')
                                              OR jsonb_typeof(e.value) <> 'string')) THEN
        RAISE EXCEPTION 'invalid utm settings' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Give an object with string values for some of source, medium, campaign, content, term.';
    END IF;
    RETURN tree;
EXCEPTION WHEN invalid_text_representation THEN
    RAISE EXCEPTION 'audience is neither an expression nor valid JSON' USING ERRCODE = 'syntax_error',
        DETAIL = SQLERRM;
END
$$;
COMMENT ON FUNCTION personalize._campaign_check(personalize.campaigns) IS
'Refuses a campaign with an unknown segment or template, a bad audience, kind, send time or utm; returns the audience tree';

CREATE FUNCTION personalize.create_campaign(name text, audience text, template text, kind text DEFAULT 'marketing',
                                            priority integer DEFAULT 0, from_address text DEFAULT NULL,
                                            reply_to text DEFAULT NULL, send_at timestamptz DEFAULT NULL,
                                            local_time time DEFAULT NULL, holdout_percent numeric DEFAULT 0,
                                            drop_when_capped boolean DEFAULT false, utm jsonb DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c personalize.campaigns;
    id integer;
BEGIN
    c.name := name; c.audience := audience; c.template := template; c.kind := kind;
    c.priority := coalesce(priority, 0); c.from_address := from_address; c.reply_to := reply_to;
    c.send_time := CASE WHEN send_at IS NOT NULL THEN 'at' WHEN local_time IS NOT NULL THEN 'local_time' ELSE 'now' END;
    c.send_at := send_at; c.local_time := local_time; c.holdout_percent := holdout_percent;
    c.drop_when_capped := coalesce(drop_when_capped, false); c.utm := utm;
    IF send_at IS NOT NULL AND local_time IS NOT NULL THEN
        RAISE EXCEPTION 'give send_at or local_time, not both' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT FROM personalize.campaigns x WHERE x.name = create_campaign.name) THEN
        RAISE EXCEPTION 'campaign "%" already exists', name USING ERRCODE = 'duplicate_object';
    END IF;
    INSERT INTO personalize.campaigns (name, audience, audience_tree, template, kind, priority, from_address,
                                       reply_to, send_time, send_at, local_time, holdout_percent, drop_when_capped, utm)
    VALUES (c.name, c.audience, personalize._campaign_check(c), c.template, c.kind, c.priority, c.from_address,
            c.reply_to, c.send_time, c.send_at, c.local_time, c.holdout_percent, c.drop_when_capped, c.utm)
    RETURNING campaign_id INTO id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION personalize.create_campaign(text, text, text, text, integer, text, text, timestamptz, time, numeric, boolean, jsonb) IS
'Defines a campaign (status draft): audience is a segment name, an audience expression or its JSON tree; send now, at send_at, or at local_time in each profile''s zone';

-- The campaign of that name, locked; undefined_object if there is none.
CREATE FUNCTION personalize._campaign_for_update(name text)
RETURNS personalize.campaigns
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c personalize.campaigns;
BEGIN
    SELECT * INTO c FROM personalize.campaigns x WHERE x.name = _campaign_for_update.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'campaign "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    RETURN c;
END
$$;
COMMENT ON FUNCTION personalize._campaign_for_update(text) IS 'Locks the named campaign; 42704 if it does not exist';

CREATE FUNCTION personalize.alter_campaign(name text, changes jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c personalize.campaigns := personalize._campaign_for_update(name);
    bad text;
BEGIN
    IF changes IS NULL OR jsonb_typeof(changes) <> 'object' THEN
        RAISE EXCEPTION 'changes must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT k INTO bad FROM jsonb_object_keys(changes) k
     WHERE k NOT IN ('audience', 'template', 'kind', 'priority', 'from_address', 'reply_to', 'send_at', 'local_time',
                     'holdout_percent', 'drop_when_capped', 'utm', 'experiment') LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'campaign field "%" cannot be changed', bad USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Changeable: audience, template, kind, priority, from_address, reply_to, send_at, local_time, holdout_percent, drop_when_capped, utm, experiment.';
    END IF;
    IF c.status IN ('cancelled', 'done') THEN
        RAISE EXCEPTION 'campaign "%" is %', name, c.status USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    c := jsonb_populate_record(c, changes);
    c.send_time := CASE WHEN c.send_at IS NOT NULL THEN 'at' WHEN c.local_time IS NOT NULL THEN 'local_time' ELSE 'now' END;
    UPDATE personalize.campaigns x
       SET audience = c.audience, audience_tree = personalize._campaign_check(c), template = c.template, kind = c.kind,
           priority = coalesce(c.priority, 0), from_address = c.from_address, reply_to = c.reply_to,
           send_time = c.send_time, send_at = c.send_at, local_time = c.local_time,
           holdout_percent = c.holdout_percent, drop_when_capped = coalesce(c.drop_when_capped, false),
           utm = c.utm, experiment = c.experiment, updated_at = statement_timestamp()
     WHERE x.campaign_id = c.campaign_id;
END
$$;
COMMENT ON FUNCTION personalize.alter_campaign(text, jsonb) IS
'Changes fields of a campaign given as a JSON object ({"template": "...", "priority": 5}); checked as at creation';

-- Sets the status of a campaign, refusing a change out of a final status.
CREATE FUNCTION personalize._campaign_status(name text, status text)
RETURNS personalize.campaigns
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c personalize.campaigns := personalize._campaign_for_update(name);
BEGIN
    IF c.status = 'cancelled' THEN
        RAISE EXCEPTION 'campaign "%" is cancelled', name USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    UPDATE personalize.campaigns x SET status = _campaign_status.status, updated_at = statement_timestamp()
     WHERE x.campaign_id = c.campaign_id;
    c.status := status;
    RETURN c;
END
$$;
COMMENT ON FUNCTION personalize._campaign_status(text, text) IS 'Sets a campaign''s status unless it is cancelled';

CREATE FUNCTION personalize.pause_campaign(name text)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$ SELECT FROM personalize._campaign_status(name, 'paused') $$;
COMMENT ON FUNCTION personalize.pause_campaign(text) IS
'Pauses a campaign: its queued sends are not claimed and it cannot be launched until resume_campaign';

CREATE FUNCTION personalize.resume_campaign(name text)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT FROM personalize._campaign_status(name,
        (SELECT CASE WHEN c.schedule IS NOT NULL THEN 'scheduled' WHEN c.last_run IS NOT NULL THEN 'running' ELSE 'draft' END
           FROM personalize.campaigns c WHERE c.name = resume_campaign.name))
$$;
COMMENT ON FUNCTION personalize.resume_campaign(text) IS 'Resumes a paused campaign';

CREATE FUNCTION personalize.cancel_campaign(name text, as_of timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c personalize.campaigns;
    ids bigint[];
BEGIN
    PERFORM personalize._check_as_of(as_of);
    c := personalize._campaign_status(name, 'cancelled');
    IF c.schedule IS NOT NULL THEN
        PERFORM personalize.unschedule_campaign(name);
    END IF;
    -- leased sends are in a consumer's hands already; queued ones never go
    SELECT array_agg(s.send_id ORDER BY s.send_id) INTO ids FROM personalize.sends s
     WHERE s.campaign_id = c.campaign_id AND s.status = 'queued';
    RETURN coalesce(personalize._sends_finish(ids, 'cancelled', as_of, 'campaign cancelled'), 0);
END
$$;
COMMENT ON FUNCTION personalize.cancel_campaign(text, timestamptz) IS
'Cancels a campaign for good: its queued sends become cancelled, its schedule is removed; returns how many sends were cancelled';

-- When each profile's clock next shows local_time at or after as_of.
CREATE FUNCTION personalize._next_local_time(as_of timestamptz, tz text, local_time time)
RETURNS timestamptz
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN ((as_of AT TIME ZONE tz)::date + local_time) AT TIME ZONE tz >= as_of
                THEN ((as_of AT TIME ZONE tz)::date + local_time) AT TIME ZONE tz
                ELSE ((as_of AT TIME ZONE tz)::date + 1 + local_time) AT TIME ZONE tz END
$$;
COMMENT ON FUNCTION personalize._next_local_time(timestamptz, text, time) IS
'The first time at or after as_of at which the clock of zone tz shows local_time';

CREATE FUNCTION personalize.launch_campaign(name text, as_of timestamptz DEFAULT now(), run bigint DEFAULT NULL,
                                            OUT run_id bigint, OUT queued bigint, OUT deferred bigint,
                                            OUT suppressed bigint, OUT existing bigint)
RETURNS record
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c personalize.campaigns;
    cfg personalize.send_settings;
    ids bigint[];
    send_ats timestamptz[];
    r record;
BEGIN
    PERFORM personalize._check_as_of(as_of);
    -- one launch of a campaign at a time; a second waits and then finds the run's sends there
    c := personalize._campaign_for_update(name);
    IF c.status IN ('paused', 'cancelled') THEN
        RAISE EXCEPTION 'campaign "%" is %', name, c.status USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = CASE c.status WHEN 'paused' THEN 'Resume it with personalize.resume_campaign first.'
                        ELSE 'A cancelled campaign stays cancelled; create a new one.' END;
    END IF;
    SELECT * INTO cfg FROM personalize.send_settings;
    -- a one-off campaign has one run; a scheduled one a run per firing (the UTC minute of as_of)
    run_id := coalesce(run, CASE WHEN c.schedule IS NULL THEN 1 ELSE floor(extract(epoch FROM as_of) / 60)::bigint END);
    IF c.send_time = 'local_time' THEN
        SELECT array_agg(m.id ORDER BY m.id),
               array_agg(personalize._next_local_time(as_of, personalize._timezone_or(p.traits ->> 'timezone',
                                                                                     cfg.default_timezone), c.local_time)
                         ORDER BY m.id)
          INTO ids, send_ats
          FROM personalize.audience_members(personalize._audience_eval(c.audience_tree, as_of)) m(id)
          LEFT JOIN personalize.profiles p ON p.profile_id = m.id;
    ELSE
        -- audience_members gives the ids ascending, as _enqueue requires of a campaign run
        ids := ARRAY(SELECT personalize.audience_members(personalize._audience_eval(c.audience_tree, as_of)));
        send_ats := array_fill(c.send_at, ARRAY[cardinality(ids)]);
    END IF;
    IF c.experiment IS NOT NULL THEN
        -- variants, holdout and waiting members by the campaign's experiment (src/experiment/launch.sql)
        r := personalize._experiment_enqueue(c, run_id, coalesce(ids, '{}'), coalesce(send_ats, '{}'), as_of);
    ELSE
        -- no keys: each send's is derived from the run, which is unique under the lock held above
        r := personalize._enqueue(coalesce(ids, '{}'), NULL,
                                  array_fill('{}'::jsonb, ARRAY[coalesce(cardinality(ids), 0)]),
                                  coalesce(send_ats, '{}'), array_fill(NULL::text, ARRAY[coalesce(cardinality(ids), 0)]),
                                  c.template, c.kind, c.priority, c.campaign_id, run_id, as_of);
    END IF;
    queued := r.queued; deferred := r.deferred; suppressed := r.suppressed; existing := r.existing;
    INSERT INTO personalize.campaign_runs (campaign_id, run, launched_at, queued, deferred, suppressed)
    VALUES (c.campaign_id, run_id, as_of, queued, deferred, suppressed)
        ON CONFLICT ON CONSTRAINT campaign_runs_pkey DO UPDATE
       SET queued = campaign_runs.queued + excluded.queued, deferred = campaign_runs.deferred + excluded.deferred,
           suppressed = campaign_runs.suppressed + excluded.suppressed;
    UPDATE personalize.campaigns x
       SET status = CASE WHEN c.schedule IS NULL THEN 'running' ELSE 'scheduled' END,
           last_run = greatest(x.last_run, run_id), updated_at = statement_timestamp()
     WHERE x.campaign_id = c.campaign_id;
END
$$;
COMMENT ON FUNCTION personalize.launch_campaign(text, timestamptz, bigint) IS
'Enqueues the campaign''s template for every audience member through the send policy, in one statement; a run enqueues each profile once however often it is launched';

CREATE FUNCTION personalize.schedule_campaign(name text, cron_expression text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c personalize.campaigns := personalize._campaign_for_update(name);
    job bigint;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in this database'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database and run CREATE EXTENSION pg_cron; or call personalize.launch_campaign(name, now(), run) from your own scheduler.';
    END IF;
    IF cron_expression IS NULL THEN
        RAISE EXCEPTION 'cron expression must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF c.status = 'cancelled' THEN
        RAISE EXCEPTION 'campaign "%" is cancelled', name USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO job
      USING 'personalize-campaign-' || c.campaign_id, cron_expression,
            format('SELECT personalize.launch_campaign(%L)', c.name);
    UPDATE personalize.campaigns x SET schedule = cron_expression, status = 'scheduled', updated_at = statement_timestamp()
     WHERE x.campaign_id = c.campaign_id;
    RETURN job;
END
$$;
COMMENT ON FUNCTION personalize.schedule_campaign(text, text) IS
'Launches the campaign on a pg_cron schedule, a run per firing; 55000 with a hint when pg_cron is not installed';

CREATE FUNCTION personalize.unschedule_campaign(name text)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c personalize.campaigns := personalize._campaign_for_update(name);
    done boolean := false;
BEGIN
    IF c.schedule IS NULL THEN
        RETURN false;
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        EXECUTE 'SELECT cron.unschedule($1)' INTO done USING 'personalize-campaign-' || c.campaign_id;
    END IF;
    UPDATE personalize.campaigns x
       SET schedule = NULL, status = CASE WHEN x.status = 'scheduled' THEN 'done' ELSE x.status END,
           updated_at = statement_timestamp()
     WHERE x.campaign_id = c.campaign_id;
    RETURN true;
END
$$;
COMMENT ON FUNCTION personalize.unschedule_campaign(text) IS 'Removes the campaign''s pg_cron schedule; false if it had none';
