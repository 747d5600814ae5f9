-- CLV and churn (src/predict): the purchase summary from live state and from events, fit_clv,
-- predictions from the stored model, explanations, and bad input.
CREATE EXTENSION personalize;
\set VERBOSITY terse
SELECT personalize.maintain('2026-01-15', 6, 1);
SET extra_float_digits = 0;
-- 300 customers simulated as the BG/NBD story goes (seeded): a first purchase in 2026-01-01 ..
-- 2026-04-30, exponential gaps with a mean of 5 to 65 days, a 10% to 60% chance of leaving after
-- each purchase; purchases up to 2026-05-31 (so some are after the as_of below), each of 0.5 to 1.5
-- times the customer's own typical amount (5 to 50).
SELECT setseed(0.42);
CREATE TEMP TABLE orders (user_id text, at timestamptz, revenue numeric);
DO $$
DECLARE
    at timestamptz;
    gap float8;
    typical float8;
    leave float8;
BEGIN
    FOR i IN 1..300 LOOP
        at := timestamptz '2026-01-01 00:00+00' + random() * interval '119 days';
        gap := 5 + 60 * random();
        typical := 5 + 45 * random();
        leave := 0.1 + 0.5 * random();
        LOOP
            INSERT INTO orders VALUES ('c' || i, at, round((typical * (0.5 + random()))::numeric, 2));
            EXIT WHEN random() < leave;
            at := at + (-ln(1 - random()) * gap) * interval '1 day';
            EXIT WHEN at > '2026-05-31 00:00+00';
        END LOOP;
    END LOOP;
END
$$;
SELECT count(*) AS tracked, count(DISTINCT user_id) AS customers FROM (
  SELECT o.user_id, personalize.track(o.user_id, 'Order Completed',
                           jsonb_build_object('order_id', o.user_id || '@' || o.at, 'revenue', o.revenue),
                           occurred_at => o.at, message_id => o.user_id || '@' || o.at)
  FROM orders o) t;

-- The summary as of 2026-05-01 equals the same numbers computed in plain SQL from the events.
CREATE TEMP TABLE plain AS
SELECT e.user_id, count(*) - 1 AS x,
       extract(epoch FROM max(e.occurred_at) - min(e.occurred_at)) / (7 * 86400) AS t_x,
       extract(epoch FROM timestamptz '2026-05-01 00:00+00' - min(e.occurred_at)) / (7 * 86400) AS big_t,
       avg((e.properties->>'revenue')::numeric)::float8 AS mean_spend
FROM personalize.events e
WHERE e.occurred_at <= '2026-05-01 00:00+00'
GROUP BY e.user_id;
SELECT count(*) AS profiles,
       count(*) FILTER (WHERE abs(s.x - p.x) < 1e-12 AND abs(s.t_x - p.t_x) < 1e-9
                          AND abs(s."T" - p.big_t) < 1e-9 AND abs(s.mean_spend - p.mean_spend) < 1e-9) AS equal
FROM personalize.purchase_summary('2026-05-01 00:00+00') s
JOIN personalize.profiles pr USING (profile_id)
JOIN plain p ON p.user_id = pr.user_id;
-- Profiles whose last purchase is after as_of are summarized exactly from their events.
SELECT count(*) AS late_profiles FROM personalize.profiles WHERE last_purchase_at > '2026-05-01 00:00+00';

-- fit_clv equals the aggregates over that summary, and stores the model.
SELECT m.model_id, m.time_unit, m.bgnbd_customers, m.gamma_gamma_customers,
       abs(m.r / (f).r - 1) < 1e-6 AS same_r, abs(m.alpha / (f).alpha - 1) < 1e-6 AS same_alpha,
       abs(m.bgnbd_loglik - (f).loglik) < 1e-9 AS same_loglik
FROM personalize.fit_clv('2026-05-01 00:00+00') m,
     (SELECT personalize.bgnbd_fit(x, t_x, big_t) AS f FROM plain) s;
SELECT abs(m.p / (g).p - 1) < 1e-6 AS same_p, abs(m.q / (g).q - 1) < 1e-6 AS same_q, abs(m.v / (g).v - 1) < 1e-6 AS same_v
FROM personalize.clv_models m,
     (SELECT personalize.gamma_gamma_fit(x + 1, mean_spend) AS g FROM plain WHERE x > 0) s;

-- Predictions equal the scalar formulas at the stored parameters.
SELECT count(*) AS predicted,
       count(*) FILTER (WHERE abs(c.p_alive - personalize.bgnbd_p_alive(m.r, m.alpha, m.a, m.b, s.x, s.t_x, s."T")) < 1e-12
                          AND abs(c.churn_risk + c.p_alive - 1) < 1e-12
                          AND abs(c.expected_purchases - personalize.bgnbd_expected_purchases(m.r, m.alpha, m.a, m.b, s.x, s.t_x, s."T", 12 * 30 / 7.0)) < 1e-9
                          AND abs(c.expected_spend - personalize.gamma_gamma_expected_spend(m.p, m.q, m.v, s.x + 1, s.mean_spend)) < 1e-9) AS equal
FROM personalize.clv_predictions('2026-05-01 00:00+00') c
JOIN personalize.purchase_summary('2026-05-01 00:00+00') s USING (profile_id), personalize.clv_models m;
-- A one-time buyer is "alive" (p_alive 1: no chance to leave observed yet); expected spend of a
-- customer lies between their own mean and the population mean.
SELECT c.p_alive, s.x FROM personalize.clv_predictions('2026-05-01 00:00+00') c
JOIN personalize.purchase_summary('2026-05-01 00:00+00') s USING (profile_id) WHERE s.x = 0 LIMIT 1;
SELECT bool_and(c.expected_spend BETWEEN least(s.mean_spend, m.p * m.v / (m.q - 1)) AND greatest(s.mean_spend, m.p * m.v / (m.q - 1))) AS shrunk
FROM personalize.clv_predictions('2026-05-01 00:00+00') c
JOIN personalize.purchase_summary('2026-05-01 00:00+00') s USING (profile_id), personalize.clv_models m;
SELECT item FROM personalize.explain_clv((SELECT profile_id FROM personalize.profiles WHERE user_id = 'c5'), '2026-05-01 00:00+00');

-- Hand-computed values: P(alive) for x = 1, t_x = 1, T = 2, r = alpha = a = b = 1 is
-- 1 / (1 + (1/1) * (3/2)^2) = 4/13; a new customer's P(X(1) = 0) with the same parameters is
-- B(1,1)/B(1,1) * (1/2)^1 = 0.5; E[spend] with p = 2, q = 3, v = 10, x = 2, m = 20 is
-- 2 * (10 + 40) / (4 + 2) = 16.667.
SELECT round(personalize.bgnbd_p_alive(1, 1, 1, 1, 1, 1, 2)::numeric, 12) AS p_alive, round(4/13.0, 12) AS by_hand;
SELECT personalize.bgnbd_prob_purchases(1, 1, 1, 1, 1, 0) AS p0;
SELECT round(personalize.gamma_gamma_expected_spend(2, 3, 10, 2, 20)::numeric, 3) AS spend;

-- Bad input: each a clear error.
SELECT personalize.bgnbd_p_alive(-1, 1, 1, 1, 1, 1, 2);
SELECT personalize.bgnbd_p_alive(1, 1, 1, 1, 1, 3, 2);
SELECT personalize.bgnbd_p_alive(1, 1, 1, 1, 1.5, 1, 2);
SELECT personalize.bgnbd_p_alive(1, 1, 1, 1, 0, 1, 2);
SELECT personalize.bgnbd_expected_purchases(1, 1, 2, 1, 1, 1, 2, 'Infinity');
SELECT personalize.bgnbd_prob_purchases(1, 1, 1, 1, 1, -1);
SELECT personalize.gamma_gamma_expected_spend(2, 1, 10, 2, 20);
SELECT personalize.gamma_gamma_fit(x, m) FROM (VALUES (2.0, -5.0)) v(x, m);
SELECT personalize.clv_value(1, 1, 2, 1, 1, 1, 2, 10, 100000, 1, 0);
SELECT personalize.bgnbd_fit(x, t_x, big_t) FROM (VALUES (0.0, 0.0, 5.0), (0, 0, 7)) v(x, t_x, big_t);
SELECT personalize.bgnbd_fit(x, t_x, big_t) FROM (VALUES (1.0, 2.0, 5.0)) v(x, t_x, big_t);
SELECT personalize.bgnbd_fit(x, t_x, big_t) FROM plain WHERE false;
SELECT personalize.fit_clv('2025-01-01 00:00+00');
SELECT personalize.fit_clv('2026-05-01 00:00+00', '0 days');
SELECT * FROM personalize.clv_predictions('2026-05-01 00:00+00', period => '-1 day');
SELECT * FROM personalize.explain_clv(-1, '2026-05-01 00:00+00');
-- Spend that does not vary between customers cannot identify the spend model: the purchase model
-- is stored without it, and predictions use each customer's own mean.
UPDATE personalize.events SET properties = properties || '{"revenue": 20}';
SELECT personalize.rebuild_scores() AS rebuilt_profiles;
SELECT m.p IS NULL AS no_spend_model, m.gamma_gamma_customers FROM personalize.fit_clv('2026-05-01 00:00+00') m;
SELECT bool_and(c.expected_spend = 20) AS own_mean FROM personalize.clv_predictions('2026-05-01 00:00+00') c;
-- Spend that never varies within a customer (each one's purchases all of one amount, the amounts
-- spread across customers, as in bench/predict_store.sql) sends p to infinity: the search stops
-- once a parameter passes 1e10 (before, it wandered for its 20,000 + 2 x 20,000 iterations: over
-- 20 minutes on 1M customers) and the fit is refused.
\set VERBOSITY default
SELECT personalize.gamma_gamma_fit(1 + i % 8, CASE i % 4 WHEN 0 THEN 50 WHEN 2 THEN 400 ELSE 30 END
                                                * (0.6 + 0.8 * ((i * 0.618034) % 1)))
  FROM generate_series(1, 400) i;
\set VERBOSITY terse
-- clv_models is read by segment evaluation: a model that would break it cannot be stored, even by
-- an admin writing the row by hand (non-finite or non-positive parameters, q <= 1, half a spend
-- model, a time unit under a second), and an analyst stores a model only by fitting it.
INSERT INTO personalize.clv_models (as_of, time_unit, r, alpha, a, b, bgnbd_loglik, bgnbd_customers, gamma_gamma_customers)
VALUES ('2026-05-01 00:00+00', '7 days', 0.5, 'NaN', 1, 4, -1, 3, 0);
INSERT INTO personalize.clv_models (as_of, time_unit, r, alpha, a, b, bgnbd_loglik, bgnbd_customers, gamma_gamma_customers)
VALUES ('2026-05-01 00:00+00', '7 days', 0.5, 3, -1, 4, -1, 3, 0);
INSERT INTO personalize.clv_models (as_of, time_unit, r, alpha, a, b, bgnbd_loglik, bgnbd_customers, gamma_gamma_customers)
VALUES ('2026-05-01 00:00+00', '7 days', 'Infinity', 3, 1, 4, -1, 3, 0);
INSERT INTO personalize.clv_models (as_of, time_unit, r, alpha, a, b, bgnbd_loglik, bgnbd_customers, gamma_gamma_customers)
VALUES ('2026-05-01 00:00+00', '-7 days', 0.5, 3, 1, 4, -1, 3, 0);
INSERT INTO personalize.clv_models (as_of, time_unit, r, alpha, a, b, bgnbd_loglik, bgnbd_customers,
                                    p, q, v, gamma_gamma_loglik, gamma_gamma_customers)
VALUES ('2026-05-01 00:00+00', '7 days', 0.5, 3, 1, 4, -1, 3, 6, 1, 15, -1, 3);
INSERT INTO personalize.clv_models (as_of, time_unit, r, alpha, a, b, bgnbd_loglik, bgnbd_customers,
                                    p, gamma_gamma_customers)
VALUES ('2026-05-01 00:00+00', '7 days', 0.5, 3, 1, 4, -1, 3, 6, 3);
CREATE ROLE regress_clv_analyst IN ROLE personalize_analyst;
SET ROLE regress_clv_analyst;
INSERT INTO personalize.clv_models (as_of, time_unit, r, alpha, a, b, bgnbd_loglik, bgnbd_customers, gamma_gamma_customers)
VALUES ('2026-05-01 00:00+00', '7 days', 0.5, 3, 1, 4, -1, 3, 0);
SELECT m.bgnbd_customers, m.r = f.r AND m.alpha = f.alpha AND m.a = f.a AND m.b = f.b AS the_fit
  FROM personalize.fit_clv('2026-05-01 00:00+00') m,
       (SELECT (personalize.bgnbd_fit(s.x, s.t_x, s."T")).* FROM personalize.purchase_summary('2026-05-01 00:00+00') s) f;
RESET ROLE;
DROP ROLE regress_clv_analyst;
DELETE FROM personalize.clv_models;
SELECT * FROM personalize.clv_predictions('2026-05-01 00:00+00');
DROP EXTENSION personalize;
