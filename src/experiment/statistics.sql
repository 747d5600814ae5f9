-- Experiment statistics (src/experiment/*.c): tests, intervals, power, Bayesian comparison and the
-- always-valid sequential test, all pure functions of counts or summary statistics. Counts are
-- checked (22023 for negative counts, more successes than trials, a level outside (0, 1), fewer
-- than two variants); a statistic the data leave undefined (no trials yet) is NULL.

CREATE FUNCTION personalize.student_t_cdf(t float8, df float8)
RETURNS float8
AS 'MODULE_PATHNAME', 'personalize_student_t_cdf'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.student_t_cdf(float8, float8) IS
'P(T <= t) for Student''s t distribution with df > 0 degrees of freedom (regularized incomplete beta; accurate in the tails)';

CREATE FUNCTION personalize.z_test(successes_a bigint, trials_a bigint, successes_b bigint, trials_b bigint,
                                   OUT z float8, OUT p_value float8)
AS 'MODULE_PATHNAME', 'personalize_z_test'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.z_test(bigint, bigint, bigint, bigint) IS
'Two-sided two-proportion z-test with pooled variance; z > 0 when b''s rate is the higher; NULL when undefined';

CREATE FUNCTION personalize.chi_square_test(successes bigint[], trials bigint[],
                                            OUT chi_square float8, OUT df integer, OUT p_value float8)
AS 'MODULE_PATHNAME', 'personalize_chi_square_test'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.chi_square_test(bigint[], bigint[]) IS
'Pearson''s chi-square test that k >= 2 variants share one rate (2 x k table, no continuity correction)';

CREATE FUNCTION personalize.wilson_interval(successes bigint, trials bigint, confidence float8 DEFAULT 0.95,
                                            OUT rate float8, OUT lower float8, OUT upper float8)
AS 'MODULE_PATHNAME', 'personalize_wilson_interval'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.wilson_interval(bigint, bigint, float8) IS
'A rate and its Wilson score interval at this confidence; NULL without trials';

CREATE FUNCTION personalize.newcombe_interval(successes_a bigint, trials_a bigint, successes_b bigint, trials_b bigint,
                                              confidence float8 DEFAULT 0.95,
                                              OUT difference float8, OUT lower float8, OUT upper float8)
AS 'MODULE_PATHNAME', 'personalize_newcombe_interval'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.newcombe_interval(bigint, bigint, bigint, bigint, float8) IS
'rate_b - rate_a with Newcombe''s hybrid score interval (method 10, from the two Wilson intervals)';

CREATE FUNCTION personalize.welch_test(n_a bigint, mean_a float8, variance_a float8,
                                       n_b bigint, mean_b float8, variance_b float8,
                                       OUT difference float8, OUT t float8, OUT df float8, OUT p_value float8)
AS 'MODULE_PATHNAME', 'personalize_welch_test'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.welch_test(bigint, float8, float8, bigint, float8, float8) IS
'Welch''s two-sided t-test of mean_b - mean_a from group sizes, means and sample variances (var_samp)';

CREATE FUNCTION personalize.cohen_h(p1 float8, p2 float8)
RETURNS float8
AS 'MODULE_PATHNAME', 'personalize_cohen_h'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.cohen_h(float8, float8) IS
'Cohen''s effect size h = 2 asin(sqrt(p1)) - 2 asin(sqrt(p2))';

CREATE FUNCTION personalize.sample_size_two_proportions(p1 float8, p2 float8, alpha float8 DEFAULT 0.05,
                                                        power float8 DEFAULT 0.8, method text DEFAULT 'normal')
RETURNS float8
AS 'MODULE_PATHNAME', 'personalize_sample_size_two_proportions'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.sample_size_two_proportions(float8, float8, float8, float8, text) IS
'Recipients per variant (round up) for a two-sided test of p1 against p2: method normal (R''s power.prop.test) or cohen_h';

CREATE FUNCTION personalize.power_two_proportions(p1 float8, p2 float8, n float8, alpha float8 DEFAULT 0.05,
                                                  method text DEFAULT 'normal')
RETURNS float8
AS 'MODULE_PATHNAME', 'personalize_power_two_proportions'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.power_two_proportions(float8, float8, float8, float8, text) IS
'Power of a two-sided test of p1 against p2 with n recipients per variant: method normal (R''s power.prop.test) or cohen_h';

CREATE FUNCTION personalize.bayes_best(successes bigint[], trials bigint[], prior_alpha integer DEFAULT 1,
                                       prior_beta integer DEFAULT 1,
                                       OUT probability_best float8[], OUT expected_loss float8[])
AS 'MODULE_PATHNAME', 'personalize_bayes_best'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.bayes_best(bigint[], bigint[], integer, integer) IS
'Per variant, with Beta(prior_alpha + successes, prior_beta + failures) posteriors: P(its rate is the highest) and the expected loss of choosing it; exact for 2 variants, deterministic quadrature for up to 32';

CREATE FUNCTION personalize.sequential_test(successes_a bigint, trials_a bigint, successes_b bigint, trials_b bigint,
                                            alpha float8 DEFAULT 0.05, tau float8 DEFAULT 0.01,
                                            OUT difference float8, OUT likelihood_ratio float8,
                                            OUT p_value float8, OUT conclusive boolean)
AS 'MODULE_PATHNAME', 'personalize_sequential_test'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.sequential_test(bigint, bigint, bigint, bigint, float8, float8) IS
'Always-valid mixture SPRT (Johari, Pekelis, Walsh) of rate_b - rate_a with a N(0, tau^2) mixture: conclusive once the likelihood ratio reaches 1/alpha, safe to check at every look';

-- Pure functions of their arguments: analysts and admins may call them all, PUBLIC none.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p
              WHERE p.pronamespace = 'personalize'::regnamespace
                AND p.proname = ANY (ARRAY['student_t_cdf', 'z_test', 'chi_square_test', 'wilson_interval',
                                           'newcombe_interval', 'welch_test', 'cohen_h', 'sample_size_two_proportions',
                                           'power_two_proportions', 'bayes_best', 'sequential_test'])
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO personalize_admin, personalize_analyst', f);
    END LOOP;
END
$$;
