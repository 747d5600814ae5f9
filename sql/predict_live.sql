-- Predictions read live (src/predict/clv_live.c, cluster.sql, the segment fields p_alive,
-- churn_risk and cluster, the template context's clv and recommendations): each against values
-- computed independently here, from the formulas.
CREATE EXTENSION personalize;
\set VERBOSITY terse
SELECT personalize.maintain('2026-01-15', 6, 1);
SET extra_float_digits = 0;
-- Three customers: a buys 100 on 1 March and views shoes on 10 March; b buys 40 three times
-- (1 February, 1 March, and 15 April, after the evaluation time of 31 March) and views books on
-- 20 March; c only opens e-mails; d views both products on 25 March (so that they are similar);
-- e buys 40 on 1 February and 1 March, and nothing after.
SELECT count(*) FROM (
  SELECT personalize.track(u, e, p::jsonb, occurred_at => t::timestamptz, message_id => m)
  FROM (VALUES ('a', 'Order Completed', '{"order_id": "a1", "revenue": 100}', '2026-03-01 00:00+00', 'a1'),
               ('a', 'Product Viewed', '{"product_id": "s1", "category": "shoes"}', '2026-03-10 00:00+00', 'a2'),
               ('b', 'Order Completed', '{"order_id": "b1", "revenue": 40}', '2026-02-01 00:00+00', 'b1'),
               ('b', 'Order Completed', '{"order_id": "b2", "revenue": 40}', '2026-03-01 00:00+00', 'b2'),
               ('b', 'Product Viewed', '{"product_id": "k1", "category": "books"}', '2026-03-20 00:00+00', 'b3'),
               ('b', 'Order Completed', '{"order_id": "b3", "revenue": 40}', '2026-04-15 00:00+00', 'b4'),
               ('c', 'Email Opened', '{}', '2026-03-05 00:00+00', 'c1'),
               ('c', 'Email Opened', '{}', '2026-03-25 00:00+00', 'c2'),
               ('d', 'Product Viewed', '{"product_id": "s1", "category": "shoes"}', '2026-03-25 00:00+00', 'd1'),
               ('d', 'Product Viewed', '{"product_id": "k1", "category": "books"}', '2026-03-25 00:00+00', 'd2'),
               ('e', 'Order Completed', '{"order_id": "e1", "revenue": 40}', '2026-02-01 00:00+00', 'e1'),
               ('e', 'Order Completed', '{"order_id": "e2", "revenue": 40}', '2026-03-01 00:00+00', 'e2')) v(u, e, p, t, m)) x;

-- Features as of 31 March against the documented formulas: recency 1 / (1 + days / 30),
-- ln(1 + purchases), ln(1 + spend), ln(1 + engagement decayed to 31 March), ln(1 + events),
-- interest shares; b's April order is after the time, so b counts two orders and 4 events.
WITH hl AS (SELECT extract(epoch FROM personalize.half_life()) / 86400 AS days),
expected(user_id, f) AS (
  SELECT 'a', ARRAY[1 / (1 + 30 / 30.0), ln(2), ln(101),
                    ln(1 + 5 * 2 ^ (-30 / hl.days) + 0.5 * 2 ^ (-21 / hl.days)), ln(3), 0, 1]
    FROM hl
  UNION ALL
  SELECT 'b', ARRAY[1 / (1 + 30 / 30.0), ln(3), ln(81),
                    ln(1 + 5 * 2 ^ (-58 / hl.days) + 5 * 2 ^ (-30 / hl.days) + 0.5 * 2 ^ (-11 / hl.days)), ln(4), 1, 0]
    FROM hl
  UNION ALL
  SELECT 'c', ARRAY[0, 0, 0, ln(1 + 2 ^ (-26 / hl.days) + 2 ^ (-6 / hl.days)), ln(3), 0, 0]
    FROM hl)
SELECT p.user_id, n.names[1:5] || n.names[6:7] AS names,
       (SELECT bool_and(abs(g - w) < 1e-12)
          FROM unnest(f.features[1:5] || f.features[6:7], e.f) u(g, w)) AS as_formula,
       f.features[8:13] = '{0,0,0,0,0,0}' AS rest_zero
  FROM personalize.profile_features('2026-03-31 00:00+00') f
  JOIN personalize.profiles p USING (profile_id)
  JOIN expected e USING (user_id),
       (SELECT personalize.feature_names('2026-03-31 00:00+00') AS names) n
 ORDER BY 1;

-- feature_moments: the count, means and population standard deviations
SELECT m.n, (SELECT bool_and(abs(x.mean - a.mean) < 1e-12 AND abs(x.sd - a.sd) < 1e-12)
               FROM unnest(m.mean, m.sd) WITH ORDINALITY x(mean, sd, j)
               JOIN (SELECT j, avg(f.features[j]) AS mean, stddev_pop(f.features[j]) AS sd
                       FROM personalize.profile_features('2026-03-31 00:00+00') f, generate_series(1, 13) j GROUP BY j) a
               USING (j)) AS as_sql
  FROM (SELECT (personalize.feature_moments(features)).* FROM personalize.profile_features('2026-03-31 00:00+00')) m;

-- lookalike_similarity by hand: sd 2 and 1, seed mean 1 and 0, seed sd 0 and 1:
-- d2 = mean of ((3 - 1) / 2)^2 / (0 + 0.1) and ((1 - 0) / 1)^2 / (1 + 0.1) = (10 + 1 / 1.1) / 2
SELECT abs(personalize.lookalike_similarity('{3, 1}', '{2, 1}', '{1, 0}', '{0, 1}') - 1 / (1 + (10 + 1 / 1.1) / 2)) < 1e-15 AS as_formula,
       personalize.lookalike_similarity('{3, 1}', '{0, 1}', '{1, 1}', '{0, 1}') AS constant_dimension_left_out;

-- Clusters of 5 profiles, k = 5: each its own; k = 6 is more than the profiles
SELECT cluster, size FROM personalize.kmeans(5, '2026-03-31 00:00+00', 1) ORDER BY cluster;
SELECT count(DISTINCT cluster) FROM personalize.profile_clusters;
SELECT personalize.kmeans(6, '2026-03-31 00:00+00', 1);
-- the segment field "cluster" reads the latest run; kmeans() refreshes the segments reading it
SELECT personalize.create_segment('cluster_of_a', jsonb_build_object('field', 'cluster', 'value',
         (SELECT pc.cluster FROM personalize.profile_clusters pc JOIN personalize.profiles p USING (profile_id) WHERE p.user_id = 'a')),
         '2026-03-31 00:00+00');
SELECT p.user_id FROM personalize.segment_members m JOIN personalize.profiles p USING (profile_id)
 JOIN personalize.segments s USING (segment_id) WHERE s.name = 'cluster_of_a';
SELECT reads_fields FROM personalize.segments WHERE name = 'cluster_of_a';

-- lookalike of a, by a segment: the other four, each with a score in (0, 1] and a reason
SELECT personalize.create_segment('just_a', '{"field": "user_id", "op": "eq", "value": "a"}', '2026-03-31 00:00+00') > 0 AS made;
SELECT p.user_id, l.score > 0 AND l.score <= 1 AS in_range, l.reason IS NOT NULL AS has_reason
  FROM personalize.lookalike('just_a', 5, '2026-03-31 00:00+00') l JOIN personalize.profiles p USING (profile_id)
 ORDER BY l.score DESC, 1;
SELECT count(*) FROM personalize.lookalike('just_a', 0, '2026-03-31 00:00+00');
SELECT personalize.lookalike('no such segment', 5, '2026-03-31 00:00+00');
SELECT personalize.lookalike(personalize.audience_from_array('{}'), 5, '2026-03-31 00:00+00');

-- p_alive without a model: nobody matches, and the context has no clv
SELECT personalize.create_segment('leaving', '{"field": "p_alive", "op": "lt", "value": 0.5}', '2026-03-31 00:00+00') > 0 AS made;
SELECT count(*) FROM personalize.segment_members m JOIN personalize.segments s USING (segment_id) WHERE s.name = 'leaving';
SELECT personalize.context(p.profile_id, '2026-03-31 00:00+00') -> 'clv' AS clv,
       personalize.context(p.profile_id, '2026-03-31 00:00+00') -> 'recommendations' AS recommendations
  FROM personalize.profiles p WHERE p.user_id = 'b';

-- A model (stored by hand, as fit_clv would: r, alpha in weeks, a, b), then p_alive as the
-- formula gives it: e as of 31 March has x = 1, t_x = 4 weeks, T = 8.285714 weeks.
INSERT INTO personalize.clv_models (as_of, time_unit, r, alpha, a, b, bgnbd_loglik, bgnbd_customers, gamma_gamma_customers)
VALUES ('2026-03-31 00:00+00', '7 days', 0.5, 3, 1.2, 4, -1, 3, 0);
SELECT personalize.refresh_segment('leaving', '2026-03-31 00:00+00');
-- P(alive) = 1 / (1 + a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x))
SELECT abs(personalize._p_alive_at(0.5, 3, 1.2, 4, 604800, 2, '2026-02-01 00:00+00', '2026-03-01 00:00+00', '2026-03-31 00:00+00')
           - 1 / (1 + 1.2 / 4.0 * ((3 + 58 / 7.0) / (3 + 4.0)) ^ 1.5)) < 1e-15 AS p_alive_as_formula;
-- when e drops below 0.5: solved independently by bisection on bgnbd_p_alive (weeks from 1 February)
CREATE TEMP TABLE crossing AS
WITH RECURSIVE bis(lo, hi, k) AS (
  SELECT 8.0::float8, 1000.0::float8, 0
  UNION ALL
  SELECT CASE WHEN personalize.bgnbd_p_alive(0.5, 3, 1.2, 4, 1, 4, (lo + hi) / 2) >= 0.5 THEN (lo + hi) / 2 ELSE lo END,
         CASE WHEN personalize.bgnbd_p_alive(0.5, 3, 1.2, 4, 1, 4, (lo + hi) / 2) >= 0.5 THEN hi ELSE (lo + hi) / 2 END, k + 1
    FROM bis WHERE k < 80)
SELECT timestamptz '2026-02-01 00:00+00' + hi * 604800 * interval '1 second' AS at FROM bis WHERE k = 80;
-- e waits for that moment; b for its next order (15 April), which changes its purchases
SELECT p.user_id, m.profile_id IS NOT NULL AS member,
       CASE WHEN p.user_id = 'e' THEN pe.recheck_at - (SELECT at FROM crossing) BETWEEN interval '0' AND interval '2 milliseconds'
            ELSE pe.recheck_at = '2026-04-15 00:00+00' END AS recheck_as_expected
  FROM personalize.profiles p
  CROSS JOIN (SELECT segment_id FROM personalize.segments WHERE name = 'leaving') s
  LEFT JOIN personalize.segment_members m ON m.profile_id = p.profile_id AND m.segment_id = s.segment_id
  LEFT JOIN personalize.segment_pending pe ON pe.profile_id = p.profile_id AND pe.segment_id = s.segment_id
 WHERE p.user_id IN ('a', 'b', 'e') ORDER BY 1;
-- a second before the crossing e is still out; at its recheck it is in. At each time the members
-- are those clv_predictions() (the purchase summary from the events up to then) puts below 0.5.
SELECT (SELECT at FROM crossing) - interval '1 second' AS before_crossing,
       (SELECT pe.recheck_at FROM personalize.segment_pending pe JOIN personalize.profiles p USING (profile_id)
         WHERE p.user_id = 'e' AND pe.segment_id = (SELECT segment_id FROM personalize.segments WHERE name = 'leaving')) AS at_recheck
\gset
CREATE TEMP VIEW leaving_now AS
SELECT (SELECT array_agg(p.user_id ORDER BY p.user_id) FROM personalize.segment_members m JOIN personalize.profiles p USING (profile_id)
         WHERE m.segment_id = (SELECT segment_id FROM personalize.segments WHERE name = 'leaving')) AS members;
SELECT personalize.tick(:'before_crossing') >= 0 AS ticked;
SELECT l.members, (SELECT array_agg(p.user_id ORDER BY p.user_id) FROM personalize.clv_predictions(:'before_crossing') c
                     JOIN personalize.profiles p USING (profile_id) WHERE c.p_alive < 0.5) AS by_formula
  FROM leaving_now l;
SELECT personalize.tick(:'at_recheck') >= 0 AS ticked;
SELECT l.members, (SELECT array_agg(p.user_id ORDER BY p.user_id) FROM personalize.clv_predictions(:'at_recheck') c
                     JOIN personalize.profiles p USING (profile_id) WHERE c.p_alive < 0.5) AS by_formula
  FROM leaving_now l;
-- churn_risk is 1 - p_alive: the same members for gt 0.5
SELECT personalize.create_segment('churning', '{"field": "churn_risk", "op": "gt", "value": 0.5}', :'at_recheck') > 0 AS made;
SELECT s.name, (SELECT array_agg(profile_id ORDER BY profile_id) FROM personalize.segment_members WHERE segment_id = s.segment_id) AS members
  FROM personalize.segments s WHERE s.name IN ('leaving', 'churning') ORDER BY s.name;
-- a purchase brings e back at once (live, evaluated at the clock: an hour after the recheck)
SELECT set_config('personalize.clock', (:'at_recheck'::timestamptz + interval '1 hour')::text, false) IS NOT NULL AS clock_set;
SELECT personalize.track('e', 'Order Completed', '{"order_id": "e3", "revenue": 40}',
                         occurred_at => :'at_recheck'::timestamptz + interval '1 hour', message_id => 'e3') IS NOT NULL AS tracked;
SELECT count(*) AS e_leaving FROM personalize.segment_members m JOIN personalize.profiles p USING (profile_id)
 WHERE p.user_id = 'e' AND m.segment_id = (SELECT segment_id FROM personalize.segments WHERE name = 'leaving');
RESET personalize.clock;

-- the context's clv equals clv_predictions() with its defaults (12 periods of 30 days, 1%)
SELECT (SELECT bool_and(abs((c ->> k)::float8 - v) < 1e-9)
          FROM (VALUES ('p_alive', pr.p_alive), ('churn_risk', pr.churn_risk), ('expected_purchases', pr.expected_purchases),
                       ('expected_spend', pr.expected_spend), ('value', pr.clv)) kv(k, v)) AS as_clv_predictions
  FROM personalize.profiles p,
       LATERAL personalize.clv_predictions('2026-03-31 00:00+00', profile_ids => ARRAY[p.profile_id]) pr,
       LATERAL (SELECT personalize.context(p.profile_id, '2026-03-31 00:00+00') -> 'clv' AS c) x
 WHERE p.user_id IN ('b', 'e');
SELECT personalize.context(p.profile_id, '2026-03-31 00:00+00') -> 'clv' AS no_purchase FROM personalize.profiles p WHERE p.user_id = 'c';

-- recommendations in the context and in an e-mail that reads them (recommend()'s own answer)
SELECT * FROM personalize.refresh_recommendations('2026-03-31 00:00+00');
SELECT personalize.context(p.profile_id, '2026-03-31 00:00+00') -> 'recommendations'
       = (SELECT jsonb_agg(jsonb_build_object('item', r.item, 'score', r.score, 'reason', r.reason))
            FROM personalize.recommend(p.profile_id, 5, '2026-03-31 00:00+00') r) AS as_recommend
  FROM personalize.profiles p WHERE p.user_id = 'a';
INSERT INTO personalize.templates (name, subject, html_body, text_body)
VALUES ('picks', 'For you', NULL, '{% for r in recommendations %}{{ r.item }} ({{ r.reason }}){% endfor %}');
SELECT e.text FROM personalize.render_emails('picks', ARRAY(SELECT profile_id FROM personalize.profiles ORDER BY profile_id),
                                             as_of => '2026-03-31 00:00+00') e ORDER BY e.ord;
-- the set form: one statement for many profiles gives each the answer it gets alone
SELECT p.user_id, count(*) AS items,
       bool_and(r.item = q.item AND r.score IS NOT DISTINCT FROM q.score AND r.reason = q.reason) AS as_recommend
  FROM personalize.profiles p
  JOIN personalize.recommendations(ARRAY(SELECT profile_id FROM personalize.profiles), 3, '2026-03-31 00:00+00') r USING (profile_id)
  JOIN LATERAL (SELECT x.*, row_number() OVER () AS rank FROM personalize.recommend(p.profile_id, 3, '2026-03-31 00:00+00') x) q
    ON q.rank = r.rank
 GROUP BY 1 ORDER BY 1;
SELECT count(*) FROM personalize.recommendations(NULL, 3, '2026-03-31 00:00+00');
SELECT personalize.recommendations('{1}', -1, '2026-03-31 00:00+00');
-- forget erases what the predictions keep of the person: the cluster of the latest kmeans() run
-- (and the stored feature vector, which goes with the profile row)
SELECT personalize.refresh_profile_vectors() IS NOT NULL AS refreshed;
SELECT profile_id AS b_id FROM personalize.profiles WHERE user_id = 'b' \gset
SELECT (SELECT count(*) FROM personalize.profile_clusters WHERE profile_id = :b_id) AS clusters_before,
       (SELECT count(*) FROM personalize.profile_vectors WHERE profile_id = :b_id) AS vectors_before;
SELECT personalize.forget(:b_id, '2026-03-31 00:00+00') IS NOT NULL AS forgotten;
SELECT (SELECT count(*) FROM personalize.profile_clusters WHERE profile_id = :b_id) AS clusters_after,
       (SELECT count(*) FROM personalize.profile_vectors WHERE profile_id = :b_id) AS vectors_after,
       (SELECT count(*) FROM personalize.profile_clusters) AS clusters_left;
DROP VIEW leaving_now;
DROP EXTENSION personalize;
