-- Experiment statistics: published reference values, edges where a statistic is undefined, and
-- bad input with its SQLSTATE. SciPy and statsmodels check some 500 further cases in
-- test/suites/statistics_reference (test/reference/statistics.py).
CREATE EXTENSION personalize;
\set VERBOSITY terse

-- R's ?power.prop.test examples (R 4.x documentation): power.prop.test(n = 50, p1 = .50,
-- p2 = .75) gives power 0.740; power.prop.test(p1 = .50, p2 = .75, power = .90) gives n = 76.7.
SELECT round(personalize.power_two_proportions(0.5, 0.75, 50)::numeric, 3) AS "0.740",
       round(personalize.sample_size_two_proportions(0.5, 0.75, 0.05, 0.9)::numeric, 1) AS "76.7";
-- Hand computation: p1 = 0.1, p2 = 0.2, pooled 0.15; sqrt(n) = (1.959964 * sqrt(0.3 * 0.85)
-- + 0.841621 * sqrt(0.09 + 0.16)) / 0.1 = (0.989733 + 0.420811) / 0.1 = 14.10544; n = 198.96
SELECT round(personalize.sample_size_two_proportions(0.1, 0.2)::numeric, 2) AS "198.96",
       round(personalize.cohen_h(0.5, 0.5)::numeric, 12) AS "0",
       round(personalize.cohen_h(1, 0)::numeric, 12) AS "pi = 3.141592653590";

-- z-test by hand: 100/1000 vs 130/1000, pooled 0.115, se = sqrt(0.115 * 0.885 * 0.002)
-- = 0.0142670, z = 0.03 / 0.0142670 = 2.10274; p = 2 * (1 - Phi(2.10274)) = 0.03549
SELECT round(z::numeric, 5) AS "2.10274", round(p_value::numeric, 5) AS "0.03549"
  FROM personalize.z_test(100, 1000, 130, 1000);
-- the chi-square of two proportions is the square of the pooled z, with the same p-value
SELECT round(chi_square::numeric, 8) = round((z * z)::numeric, 8) AS "chi2 = z^2",
       round(c.p_value::numeric, 10) = round(z.p_value::numeric, 10) AS "same p", df
  FROM personalize.chi_square_test('{100,130}', '{1000,1000}') c, personalize.z_test(100, 1000, 130, 1000) z;
-- Wilson at 0 of n: [0, z^2 / (n + z^2)] = [0, 3.841459 / 53.841459] = [0, 0.071348]
SELECT rate, lower, round(upper::numeric, 6) AS "0.071348" FROM personalize.wilson_interval(0, 50);
SELECT rate, round(lower::numeric, 6) AS "0.928652", upper FROM personalize.wilson_interval(50, 50);
-- equal rates: the Newcombe interval is symmetric around 0
SELECT difference, round((lower + upper)::numeric, 12) AS "symmetric" FROM personalize.newcombe_interval(30, 300, 30, 300);
-- Welch by hand: n 4 and 3, means 1 and 9, variances 4 and 1: se^2 = 1 + 1/3, t = 8 / 1.154701
-- = 6.928203; df = (4/3)^2 / (1/3 + (1/9)/2) = 1.777778 / 0.388889 = 4.571429
SELECT difference, round(t::numeric, 6) AS "6.928203", round(df::numeric, 6) AS "4.571429"
  FROM personalize.welch_test(4, 1, 4, 3, 9, 1);
-- t with 1 degree of freedom is Cauchy: P(T <= -1) = 1/4, P(T <= 1) = 3/4; with 2: P(T <= t) =
-- 1/2 + t / (2 sqrt(2 + t^2)), so P(T <= -2) = 1/2 - 1/sqrt(6) = 0.091752
SELECT round(personalize.student_t_cdf(-1, 1)::numeric, 12) AS "0.25",
       round(personalize.student_t_cdf(1, 1)::numeric, 12) AS "0.75",
       round(personalize.student_t_cdf(-2, 2)::numeric, 6) AS "0.091752",
       personalize.student_t_cdf(0, 7) AS "0.5";
-- Bayes: two identical posteriors are each best half the time; Beta(1,1) against Beta(2,1):
-- P(Y > X) for X uniform and Y with density 2y is int 2y * y dy = 2/3
SELECT probability_best FROM personalize.bayes_best('{10,10}', '{100,100}');
SELECT round(probability_best[2]::numeric, 12) AS "2/3" FROM personalize.bayes_best('{0,1}', '{0,1}');
-- three uniform posteriors: each best 1/3; E[max of 3 uniforms] = 3/4, so each loses 1/4
SELECT round(p::numeric, 9) AS "1/3", round(l::numeric, 9) AS "1/4"
  FROM personalize.bayes_best('{0,0,0}', '{0,0,0}') b, unnest(b.probability_best, b.expected_loss) AS u(p, l);
-- mSPRT: no difference gives likelihood ratio sqrt(V / (V + tau^2)) < 1 and never concludes
SELECT difference, likelihood_ratio < 1 AS "below 1", p_value, conclusive
  FROM personalize.sequential_test(100, 1000, 100, 1000);
SELECT conclusive, p_value < 0.05 AS "p below alpha" FROM personalize.sequential_test(1000, 10000, 1300, 10000);

-- undefined, not errors: no trials, a pooled rate of 0 or 1, groups too small
SELECT * FROM personalize.z_test(0, 0, 5, 10);
SELECT * FROM personalize.z_test(0, 10, 0, 10);
SELECT * FROM personalize.chi_square_test('{10,10,0}', '{10,10,10}');
SELECT * FROM personalize.chi_square_test('{1,2,0}', '{10,10,0}');
SELECT * FROM personalize.wilson_interval(0, 0);
SELECT * FROM personalize.newcombe_interval(1, 10, 0, 0);
SELECT * FROM personalize.welch_test(1, 5, 0, 10, 3, 2);
SELECT * FROM personalize.welch_test(5, 5, 0, 10, 3, 0);
SELECT * FROM personalize.sequential_test(0, 0, 0, 0);
SELECT * FROM personalize.sequential_test(0, 100, 0, 100);
SELECT personalize.z_test(NULL, 1, 1, 1) IS NULL AS "strict";

-- bad input: the SQLSTATE and message of each refusal
CREATE FUNCTION pg_temp.refusal(query text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE query;
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT q AS query, pg_temp.refusal(q) FROM (VALUES
    ($q$SELECT * FROM personalize.z_test(-1, 10, 1, 10)$q$),
    ($q$SELECT * FROM personalize.z_test(1, 10, 11, 10)$q$),
    ($q$SELECT * FROM personalize.chi_square_test('{1}', '{10}')$q$),
    ($q$SELECT * FROM personalize.chi_square_test('{1,2}', '{10}')$q$),
    ($q$SELECT * FROM personalize.chi_square_test('{1,NULL}', '{10,10}')$q$),
    ($q$SELECT * FROM personalize.chi_square_test('{{1,2},{3,4}}', '{{10,10},{10,10}}')$q$),
    ($q$SELECT * FROM personalize.chi_square_test('{1,2}', '{10,-10}')$q$),
    ($q$SELECT * FROM personalize.wilson_interval(1, 10, 1)$q$),
    ($q$SELECT * FROM personalize.wilson_interval(1, 10, 0)$q$),
    ($q$SELECT * FROM personalize.wilson_interval(1, 10, 'NaN')$q$),
    ($q$SELECT * FROM personalize.newcombe_interval(5, 4, 1, 10)$q$),
    ($q$SELECT * FROM personalize.welch_test(-1, 5, 1, 10, 3, 2)$q$),
    ($q$SELECT * FROM personalize.welch_test(10, 5, -1, 10, 3, 2)$q$),
    ($q$SELECT * FROM personalize.welch_test(10, 'Infinity', 1, 10, 3, 2)$q$),
    ($q$SELECT personalize.student_t_cdf(1, 0)$q$),
    ($q$SELECT personalize.student_t_cdf('NaN', 3)$q$),
    ($q$SELECT personalize.cohen_h(1.5, 0.5)$q$),
    ($q$SELECT personalize.sample_size_two_proportions(0.1, 0.1)$q$),
    ($q$SELECT personalize.sample_size_two_proportions(0, 0.1)$q$),
    ($q$SELECT personalize.sample_size_two_proportions(0.1, 0.2, 1.5)$q$),
    ($q$SELECT personalize.sample_size_two_proportions(0.1, 0.2, 0.05, 1)$q$),
    ($q$SELECT personalize.sample_size_two_proportions(0.1, 0.2, 0.05, 0.01)$q$),
    ($q$SELECT personalize.sample_size_two_proportions(0.1, 0.2, 0.05, 0.8, 'exact')$q$),
    ($q$SELECT personalize.power_two_proportions(0.1, 0.2, -5)$q$),
    ($q$SELECT personalize.power_two_proportions(0.1, 0.2, 'Infinity')$q$),
    ($q$SELECT * FROM personalize.bayes_best('{1}', '{2}')$q$),
    ($q$SELECT * FROM personalize.bayes_best('{3,1}', '{2,2}')$q$),
    ($q$SELECT * FROM personalize.bayes_best('{1,1}', '{2,2}', 0, 1)$q$),
    ($q$SELECT * FROM personalize.bayes_best(array_fill(1::bigint, '{33}'), array_fill(2::bigint, '{33}'))$q$),
    ($q$SELECT * FROM personalize.sequential_test(1, 10, 1, 10, 0)$q$),
    ($q$SELECT * FROM personalize.sequential_test(1, 10, 1, 10, 0.05, 0)$q$),
    ($q$SELECT * FROM personalize.sequential_test(1, 10, 1, 10, 0.05, 'NaN')$q$)
) AS t(q);
\set VERBOSITY default
SELECT * FROM personalize.z_test(5, 3, 1, 10);
SELECT personalize.sample_size_two_proportions(0.1, 0.2, 0.05, 0.8, 'exact');

-- all IMMUTABLE and PARALLEL SAFE; callable by analysts, not by PUBLIC
SELECT p.proname, p.provolatile, p.proparallel,
       has_function_privilege('personalize_analyst', p.oid, 'EXECUTE') AS analyst,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public
  FROM pg_proc p
 WHERE p.pronamespace = 'personalize'::regnamespace
   AND p.proname IN ('student_t_cdf', 'z_test', 'chi_square_test', 'wilson_interval', 'newcombe_interval',
                     'welch_test', 'cohen_h', 'sample_size_two_proportions', 'power_two_proportions',
                     'bayes_best', 'sequential_test')
 ORDER BY 1;
-- parallel plans: the same answers from parallel workers as from the leader alone
CREATE TABLE arms AS SELECT g, (g % 97)::bigint AS s, (100 + g % 89)::bigint AS n FROM generate_series(1, 20000) g;
SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0; SET force_parallel_mode = on;
EXPLAIN (COSTS OFF) SELECT sum((personalize.z_test(s, n, n - s, n)).p_value) FROM arms;
CREATE TABLE parallel_answer AS
SELECT count(*), round(sum((personalize.z_test(s, n, n - s, n)).p_value)::numeric, 6) AS z,
       round(sum((personalize.bayes_best(ARRAY[s, n - s], ARRAY[n, n])).probability_best[1])::numeric, 6) AS bayes
  FROM arms;
RESET force_parallel_mode; SET max_parallel_workers_per_gather = 0;
SELECT p, p = (SELECT parallel_answer FROM parallel_answer) AS "same as parallel"
  FROM (SELECT count(*), round(sum((personalize.z_test(s, n, n - s, n)).p_value)::numeric, 6) AS z,
               round(sum((personalize.bayes_best(ARRAY[s, n - s], ARRAY[n, n])).probability_best[1])::numeric, 6) AS bayes
          FROM arms) p;

DROP TABLE arms, parallel_answer;
DROP EXTENSION personalize;
