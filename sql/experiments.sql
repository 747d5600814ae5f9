-- Experiments: creation and its refusals, and the deterministic assignment by salted bucket
-- (stable, proportional to the weights, holdout first, independent across experiments).
CREATE EXTENSION personalize;
\set VERBOSITY terse

SELECT personalize.create_experiment('subject line', '[{"name": "A", "subject": "Your cart misses you"},
    {"name": "B", "subject": "Still thinking it over?", "weight": 3}]', holdout_percent => 10) AS id;
SELECT variant, position, weight, is_control, subject, send_offset
  FROM personalize.experiment_variants v JOIN personalize.experiments e USING (experiment_id)
 WHERE e.name = 'subject line' ORDER BY position;
SELECT name, salt, holdout_percent, primary_metric, attribution_window, allocation FROM personalize.experiments;

-- 20,000 profiles: holdout 10%, then A:B = 1:3 of the remaining 90% (22.5% and 67.5%); each
-- share within 1 point (a binomial standard error here is at most 0.35 points)
CREATE TABLE ids AS SELECT array_agg(g::bigint) AS ids FROM generate_series(1, 20000) g;
SELECT variant, abs(count(*) / 200.0 - CASE variant WHEN 'holdout' THEN 10 WHEN 'A' THEN 22.5 ELSE 67.5 END) < 1 AS "share as weighted"
  FROM personalize.assign_variants('subject line', (SELECT ids FROM ids)) GROUP BY 1 ORDER BY 1;
-- the documented rule, computed here from bucket(): u < 1000 holdout; (u - 1000) / 9000 < 1/4 A; else B
SELECT count(*) AS "profiles where the rule and assign_variants differ"
  FROM personalize.assign_variants('subject line', (SELECT ids FROM ids)) a,
       LATERAL (SELECT personalize.bucket(a.profile_id, 'experiment:subject line') AS u) b
 WHERE a.variant IS DISTINCT FROM CASE WHEN u < 1000 THEN 'holdout' WHEN (u - 1000) / 9000.0 < 0.25 THEN 'A' ELSE 'B' END;
-- stable: the same profiles get the same variants whatever the order or batch they come in
SELECT count(*) AS "changed between calls"
  FROM personalize.assign_variants('subject line', (SELECT ids FROM ids)) a
  JOIN personalize.assign_variants('subject line', ARRAY(SELECT g::bigint FROM generate_series(20000, 1, -1) g)) b USING (profile_id)
 WHERE a.variant IS DISTINCT FROM b.variant;

-- independent across experiments: a second experiment (another salt) splits each variant of the
-- first 50:50; Pearson's chi-square of the 3 x 2 table (personalize.chi_square_test, checked
-- against SciPy) finds no dependence at the 0.1% level
SELECT personalize.create_experiment('send time', '[{"name": "morning", "send_offset": "0 hours"},
    {"name": "evening", "send_offset": "10 hours"}]', primary_metric => 'open') AS id;
SELECT t.p_value > 0.001 AS independent, t.df
  FROM (SELECT array_agg(morning ORDER BY v) AS s, array_agg(n ORDER BY v) AS n
          FROM (SELECT a.variant AS v, count(*) FILTER (WHERE b.variant = 'morning') AS morning, count(*) AS n
                  FROM personalize.assign_variants('subject line', (SELECT ids FROM ids)) a
                  JOIN personalize.assign_variants('send time', (SELECT ids FROM ids)) b USING (profile_id)
                 GROUP BY a.variant) x) c,
       personalize.chi_square_test(c.s, c.n) t;

-- test then roll out: 20% test group split by weight, the rest waits (NULL) until a winner is set
SELECT personalize.create_experiment('rollout', '[{"name": "A"}, {"name": "B", "control": true}]',
    allocation => 'test_then_rollout', test_percent => 20, decide_after => '1 day') AS id;
SELECT variant, is_control FROM personalize.experiment_variants WHERE experiment_id = 3 ORDER BY position;
SELECT coalesce(variant, '(waiting)') AS variant, round(count(*) / 200.0) AS "percent"
  FROM personalize.assign_variants('rollout', (SELECT ids FROM ids)) GROUP BY 1 ORDER BY 1;
UPDATE personalize.experiments SET winner = 'A' WHERE name = 'rollout';
SELECT coalesce(variant, '(waiting)') AS variant, round(count(*) / 200.0) AS "percent"
  FROM personalize.assign_variants('rollout', (SELECT ids FROM ids)) GROUP BY 1 ORDER BY 1;
-- a bandit's later batch: weights given per variant (here all to B)
SELECT variant, count(*) FROM personalize.assign_variants('subject line', (SELECT ids FROM ids), '{0,1}') GROUP BY 1 ORDER BY 1;

-- bad input: the SQLSTATE and message of each refusal
CREATE FUNCTION pg_temp.refusal(query text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE query;
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT q AS query, pg_temp.refusal(q) FROM (VALUES
    ($q$SELECT personalize.create_experiment('x', '[{"name": "A"}]')$q$),
    ($q$SELECT personalize.create_experiment('x', '{"name": "A"}')$q$),
    ($q$SELECT personalize.create_experiment('x', '[{"name": "A"}, {"weight": 2}]')$q$),
    ($q$SELECT personalize.create_experiment('x', '[{"name": "A"}, {"name": "A"}]')$q$),
    ($q$SELECT personalize.create_experiment('x', '[{"name": "A", "control": true}, {"name": "B", "control": true}]')$q$),
    ($q$SELECT personalize.create_experiment('x', '[{"name": "A"}, {"name": "holdout"}]')$q$),
    ($q$SELECT personalize.create_experiment('x', '[{"name": "A"}, {"name": "B c"}]')$q$),
    ($q$SELECT personalize.create_experiment('x', '[{"name": "A"}, {"name": "B", "weight": 0}]')$q$),
    ($q$SELECT personalize.create_experiment('x', '[{"name": "A"}, {"name": "B", "weight": "2"}]')$q$),
    -- weights that float8 cannot carry were accepted, then failed every assignment with 22003
    ($q$SELECT personalize.create_experiment('x', '[{"name": "A"}, {"name": "B", "weight": 1e-400}]')$q$),
    ($q$SELECT personalize.create_experiment('x', '[{"name": "A", "weight": 1e308}, {"name": "B", "weight": 1e308}]')$q$),
    ($q$SELECT personalize.create_experiment('x', '[{"name": "A"}, {"name": "B", "colour": "red"}]')$q$),
    ($q$SELECT personalize.create_experiment('x', '[{"name": "A"}, {"name": "B", "send_offset": "soon"}]')$q$),
    ($q$SELECT personalize.create_experiment('x', '[{"name": "A"}, {"name": "B"}]', holdout_percent => 100)$q$),
    ($q$SELECT personalize.create_experiment('x', '[{"name": "A"}, {"name": "B"}]', holdout_percent => -1)$q$),
    ($q$SELECT personalize.create_experiment('x', '[{"name": "A"}, {"name": "B"}]', primary_metric => 'likes')$q$),
    ($q$SELECT personalize.create_experiment('x', '[{"name": "A"}, {"name": "B"}]', allocation => 'random')$q$),
    ($q$SELECT personalize.create_experiment('x', '[{"name": "A"}, {"name": "B"}]', allocation => 'test_then_rollout')$q$),
    ($q$SELECT personalize.create_experiment('x', '[{"name": "A"}, {"name": "B"}]', test_percent => 10)$q$),
    ($q$SELECT personalize.create_experiment('x', '[{"name": "A"}, {"name": "B"}]', allocation => 'test_then_rollout', test_percent => 95, holdout_percent => 5, decide_after => '1 day')$q$),
    ($q$SELECT personalize.create_experiment('x', '[{"name": "A"}, {"name": "B"}]', alpha => 1)$q$),
    ($q$SELECT personalize.create_experiment('x', '[{"name": "A"}, {"name": "B"}]', attribution_window => '0')$q$),
    ($q$SELECT personalize.create_experiment('x', NULL)$q$),
    ($q$SELECT personalize.create_experiment('subject line', '[{"name": "A"}, {"name": "B"}]')$q$),
    ($q$SELECT * FROM personalize.assign_variants('nope', '{1}')$q$),
    ($q$SELECT * FROM personalize.assign_variants('subject line', '{1}', '{1}')$q$),
    ($q$SELECT * FROM personalize.assign_variants('subject line', '{1}', '{0,0}')$q$),
    ($q$SELECT * FROM personalize.assign_variants('subject line', '{1}', '{-1,2}')$q$)
) AS t(q);
SELECT count(*) AS "experiments left by the refusals" FROM personalize.experiments WHERE name = 'x';

-- privileges: analysts read and assign, only admins create
SELECT has_function_privilege('personalize_analyst', 'personalize.create_experiment(text, jsonb, numeric, text, interval, text, numeric, interval, float8, float8, text, boolean, text)', 'EXECUTE') AS analyst_creates,
       has_function_privilege('personalize_analyst', 'personalize.assign_variants(text, bigint[], float8[], text)', 'EXECUTE') AS analyst_assigns,
       has_table_privilege('personalize_analyst', 'personalize.experiments', 'SELECT') AS analyst_reads,
       has_table_privilege('personalize_analyst', 'personalize.experiments', 'UPDATE') AS analyst_updates,
       has_function_privilege('public', 'personalize.assign_variants(text, bigint[], float8[], text)', 'EXECUTE') AS public_assigns;

DROP TABLE ids;
DROP EXTENSION personalize;
