-- Experiments (docs/experiments.md, "Experiments"): A/B/n tests with a holdout, their variants,
-- and the deterministic assignment of profiles to variants by the salted SHA-256 bucket.

CREATE TABLE personalize.experiments (
    experiment_id       integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                text NOT NULL UNIQUE CHECK (name <> '' AND octet_length(name) <= 200),
    salt                text NOT NULL CHECK (salt <> ''),
    holdout_percent     numeric NOT NULL DEFAULT 0 CHECK (holdout_percent >= 0 AND holdout_percent < 100),
    primary_metric      text NOT NULL DEFAULT 'click' CHECK (primary_metric IN ('open', 'click', 'conversion', 'revenue')),
    attribution_window  interval NOT NULL DEFAULT '7 days' CHECK (attribution_window > '0'),
    attribution         text NOT NULL DEFAULT 'last_touch' CHECK (attribution IN ('last_touch', 'last_send')),
    allocation          text NOT NULL DEFAULT 'fixed' CHECK (allocation IN ('fixed', 'test_then_rollout', 'thompson')),
    test_percent        numeric CHECK (test_percent > 0 AND test_percent < 100),
    decide_after        interval CHECK (decide_after >= '0'),
    alpha               float8 NOT NULL DEFAULT 0.05 CHECK (alpha > 0 AND alpha < 1),
    tau                 float8 NOT NULL DEFAULT 0.01 CHECK (tau > 0 AND tau < 1),
    exclude_machine_opens boolean NOT NULL DEFAULT true,
    winner              text,
    decided_at          timestamptz,
    decision            text,
    created_at          timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp(),
    CHECK (CASE WHEN allocation = 'test_then_rollout' THEN test_percent IS NOT NULL AND decide_after IS NOT NULL
                ELSE test_percent IS NULL AND decide_after IS NULL END),
    CHECK (holdout_percent + coalesce(test_percent, 0) < 100)
);
COMMENT ON TABLE personalize.experiments IS
'Experiments: variants (experiment_variants), holdout share, primary metric, attribution window, allocation mode and the decision once made';

CREATE TABLE personalize.experiment_variants (
    experiment_id  integer NOT NULL REFERENCES personalize.experiments ON DELETE CASCADE,
    variant        text NOT NULL CHECK (variant ~ '^[A-Za-z0-9_.-]{1,64}$' AND variant <> 'holdout'),
    position       integer NOT NULL CHECK (position >= 1),
    weight         numeric NOT NULL CHECK (weight >= 1e-9 AND weight <= 1e9),
    is_control     boolean NOT NULL DEFAULT false,
    template       text,
    subject        text,
    send_offset    interval,
    PRIMARY KEY (experiment_id, variant),
    UNIQUE (experiment_id, position)
);
CREATE UNIQUE INDEX experiment_variants_control_idx ON personalize.experiment_variants (experiment_id) WHERE is_control;
COMMENT ON TABLE personalize.experiment_variants IS
'The variants of each experiment, in order: weight, whether it is the control, and what it changes (template, subject line, send-time offset)';

SELECT pg_catalog.pg_extension_config_dump('personalize.experiments', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.experiment_variants', '');

-- Raises 22023 with a message and a detail.
CREATE FUNCTION personalize._experiment_refuse(message text, detail text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION '%', message USING ERRCODE = 'invalid_parameter_value', DETAIL = coalesce(detail, '');
END
$$;

CREATE FUNCTION personalize.create_experiment(name text, variants jsonb, holdout_percent numeric DEFAULT 0,
                                              primary_metric text DEFAULT 'click',
                                              attribution_window interval DEFAULT '7 days',
                                              allocation text DEFAULT 'fixed', test_percent numeric DEFAULT NULL,
                                              decide_after interval DEFAULT NULL, alpha float8 DEFAULT 0.05,
                                              tau float8 DEFAULT 0.01, salt text DEFAULT NULL,
                                              exclude_machine_opens boolean DEFAULT true,
                                              attribution text DEFAULT 'last_touch')
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id integer;
    v jsonb;
    pos integer := 0;
    controls integer;
BEGIN
    IF name IS NULL OR variants IS NULL OR holdout_percent IS NULL OR primary_metric IS NULL
       OR attribution_window IS NULL OR allocation IS NULL OR alpha IS NULL OR tau IS NULL
       OR exclude_machine_opens IS NULL OR attribution IS NULL THEN
        RAISE EXCEPTION 'only test_percent, decide_after and salt may be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF jsonb_typeof(variants) <> 'array' OR jsonb_array_length(variants) < 2 OR jsonb_array_length(variants) > 32 THEN
        PERFORM personalize._experiment_refuse('variants must be a JSON array of 2 to 32 objects',
            format('Got %s.', left(variants::text, 200)));
    END IF;
    IF primary_metric NOT IN ('open', 'click', 'conversion', 'revenue') THEN
        PERFORM personalize._experiment_refuse(format('unknown primary metric "%s"', primary_metric),
            'Use open, click, conversion or revenue.');
    END IF;
    IF attribution NOT IN ('last_touch', 'last_send') THEN
        PERFORM personalize._experiment_refuse(format('unknown attribution "%s"', attribution),
            'Use last_touch (the last send opened or clicked within the window) or last_send (the last send within the window).');
    END IF;
    IF allocation NOT IN ('fixed', 'test_then_rollout', 'thompson') THEN
        PERFORM personalize._experiment_refuse(format('unknown allocation "%s"', allocation),
            'Use fixed, test_then_rollout or thompson.');
    END IF;
    IF (CASE WHEN allocation = 'test_then_rollout' THEN test_percent IS NULL OR decide_after IS NULL
             ELSE test_percent IS NOT NULL OR decide_after IS NOT NULL END) THEN
        PERFORM personalize._experiment_refuse('test_percent and decide_after go with allocation test_then_rollout, and only with it');
    END IF;
    IF NOT (holdout_percent >= 0 AND holdout_percent + coalesce(test_percent, 0) < 100)
       OR NOT coalesce(test_percent > 0, true) THEN
        PERFORM personalize._experiment_refuse('holdout_percent and test_percent must leave room for the rest',
            format('Got holdout %s%% and test %s%%; both at least 0, test above 0, together under 100.',
                   holdout_percent, coalesce(test_percent::text, 'none')));
    END IF;
    IF NOT (alpha > 0 AND alpha < 1) OR NOT (tau > 0 AND tau < 1) OR attribution_window <= '0' THEN
        PERFORM personalize._experiment_refuse('alpha and tau must be between 0 and 1, and the attribution window positive');
    END IF;
    IF EXISTS (SELECT FROM personalize.experiments x WHERE x.name = create_experiment.name) THEN
        RAISE EXCEPTION 'experiment "%" already exists', name USING ERRCODE = 'duplicate_object';
    END IF;
    INSERT INTO personalize.experiments (name, salt, holdout_percent, primary_metric, attribution_window, allocation,
                                         test_percent, decide_after, alpha, tau, exclude_machine_opens, attribution)
    VALUES (name, coalesce(salt, 'experiment:' || name), holdout_percent, primary_metric, attribution_window,
            allocation, test_percent, decide_after, alpha, tau, exclude_machine_opens, attribution)
    RETURNING experiment_id INTO id;
    FOR v IN SELECT value FROM jsonb_array_elements(variants) LOOP
        pos := pos + 1;
        IF jsonb_typeof(v) <> 'object' OR NOT (v ? 'name') OR jsonb_typeof(v -> 'name') <> 'string'
           OR EXISTS (SELECT FROM jsonb_object_keys(v) k
                       WHERE k NOT IN ('name', 'weight', 'control', 'template', 'subject', 'send_offset')) THEN
            PERFORM personalize._experiment_refuse(format('variant %s must be an object with a name', pos),
                'Keys: name (required), weight, control, template, subject, send_offset.');
        END IF;
        -- weights are used as float8 (a sum of them too): one that underflows or overflows it
        -- would make every later assignment fail, so the range is refused here
        IF (v ? 'weight') AND (jsonb_typeof(v -> 'weight') <> 'number' OR (v ->> 'weight')::numeric < 1e-9
                               OR (v ->> 'weight')::numeric > 1e9) THEN
            PERFORM personalize._experiment_refuse(format('variant %s: weight must be a number from 1e-9 to 1e9', pos));
        END IF;
        IF (v ->> 'name') !~ '^[A-Za-z0-9_.-]{1,64}$' OR v ->> 'name' = 'holdout' THEN
            PERFORM personalize._experiment_refuse(format('variant %s: invalid name', pos),
                'A name is 1 to 64 letters, digits, "_", "." or "-", and not "holdout".');
        END IF;
        BEGIN
            INSERT INTO personalize.experiment_variants (experiment_id, variant, position, weight, is_control,
                                                         template, subject, send_offset)
            VALUES (id, v ->> 'name', pos, coalesce((v ->> 'weight')::numeric, 1), coalesce((v ->> 'control')::boolean, false),
                    v ->> 'template', v ->> 'subject', (v ->> 'send_offset')::interval);
        EXCEPTION
            WHEN unique_violation THEN
                PERFORM personalize._experiment_refuse('variant names must be unique, and only one variant the control',
                    format('Variant %s is "%s".', pos, v ->> 'name'));
            WHEN invalid_datetime_format OR datatype_mismatch OR invalid_text_representation THEN
                PERFORM personalize._experiment_refuse(format('variant %s: send_offset must be an interval and control a boolean', pos));
        END;
    END LOOP;
    SELECT count(*) FILTER (WHERE is_control) INTO controls FROM personalize.experiment_variants WHERE experiment_id = id;
    IF controls = 0 THEN
        UPDATE personalize.experiment_variants SET is_control = true WHERE experiment_id = id AND position = 1;
    END IF;
    RETURN id;
END
$$;
COMMENT ON FUNCTION personalize.create_experiment(text, jsonb, numeric, text, interval, text, numeric, interval, float8, float8, text, boolean, text) IS
'Creates an experiment from [{"name", "weight", "control", "template", "subject", "send_offset"}, ...] (the first variant is the control unless one says so); returns its id';

-- The variant of each profile, by its salted bucket u = bucket(profile_id, salt) in 0..9999:
-- u < 100 * holdout_percent is the holdout; then, for test_then_rollout, the next
-- 100 * test_percent buckets are the test group and the rest wait for the winner (NULL until
-- it is decided); the buckets of the (test) group are spread over the variants in order in
-- proportion to their weights (or to the weights given, for a bandit's later batch, whose
-- buckets are then salted with the batch too: salt || ':' || batch).
CREATE FUNCTION personalize.assign_variants(experiment text, profile_ids bigint[], weights float8[] DEFAULT NULL,
                                            batch text DEFAULT NULL)
RETURNS TABLE (profile_id bigint, variant text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e personalize.experiments;
    names text[];
    cum float8[];
    total float8;
BEGIN
    SELECT * INTO e FROM personalize.experiments x WHERE x.name = experiment;
    IF e.experiment_id IS NULL THEN
        RAISE EXCEPTION 'experiment "%" does not exist', experiment USING ERRCODE = 'undefined_object';
    END IF;
    SELECT array_agg(w.variant ORDER BY w.position), array_agg(w.running ORDER BY w.position), max(w.total)
      INTO names, cum, total
      FROM (SELECT v.variant, v.position,
                   sum(coalesce(weights[v.position], v.weight::float8)) OVER (ORDER BY v.position) AS running,
                   sum(coalesce(weights[v.position], v.weight::float8)) OVER () AS total
              FROM personalize.experiment_variants v WHERE v.experiment_id = e.experiment_id) w;
    IF weights IS NOT NULL AND (cardinality(weights) <> cardinality(names)
                                OR EXISTS (SELECT FROM unnest(weights) x WHERE NOT (x >= 0)) OR NOT (total > 0)) THEN
        PERFORM personalize._experiment_refuse('weights must give each variant a weight of at least 0, not all 0',
            format('The experiment has %s variants; got %s.', cardinality(names), weights::text));
    END IF;
    RETURN QUERY
    SELECT b.id,
           CASE WHEN b.u < 100 * e.holdout_percent THEN 'holdout'
                WHEN b.u >= 100 * (e.holdout_percent + coalesce(e.test_percent, 100 - e.holdout_percent)) THEN e.winner
                ELSE (SELECT names[min(j)] FROM generate_subscripts(cum, 1) j
                       WHERE (b.u - 100 * e.holdout_percent)::float8
                             / (100 * coalesce(e.test_percent, 100 - e.holdout_percent))::float8 < cum[j] / total)
           END
      FROM (SELECT i.id, personalize.bucket(i.id, e.salt || coalesce(':' || batch, '')) AS u
              FROM unnest(profile_ids) AS i(id)) b;
END
$$;
COMMENT ON FUNCTION personalize.assign_variants(text, bigint[], float8[], text) IS
'The variant of each profile: holdout, a variant by weight, or for test_then_rollout outside the test group the winner (NULL until decided); stable by the experiment''s salt';

-- Admins define experiments; analysts read them and may compute assignments.
REVOKE ALL ON FUNCTION personalize._experiment_refuse(text, text),
    personalize.create_experiment(text, jsonb, numeric, text, interval, text, numeric, interval, float8, float8, text, boolean, text),
    personalize.assign_variants(text, bigint[], float8[], text) FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON personalize.experiments, personalize.experiment_variants TO personalize_admin;
GRANT SELECT ON personalize.experiments, personalize.experiment_variants TO personalize_analyst;
GRANT EXECUTE ON FUNCTION personalize._experiment_refuse(text, text),
    personalize.create_experiment(text, jsonb, numeric, text, interval, text, numeric, interval, float8, float8, text, boolean, text),
    personalize.assign_variants(text, bigint[], float8[], text) TO personalize_admin;
GRANT EXECUTE ON FUNCTION personalize.assign_variants(text, bigint[], float8[], text) TO personalize_analyst;
