-- Evaluation of personalize.lookalike() on the planted personas of test/predict/lookalike_store.sql:
-- for each persona, half its customers (those with c / 4 even) seed a lookalike of n = the other
-- half's size, and precision is the share of the n returned that are of the persona. Baselines:
-- popularity (the n non-seed customers with the highest purchase total, the "best customers"
-- list) and random (the persona's share of the non-seed customers, the expected precision of a
-- random pick). One line per persona: "persona <p> <lookalike> <popularity> <random>".
CREATE TEMP TABLE eval_seeds AS
SELECT p.profile_id, s.persona, (s.c / 4) % 2 = 0 AS seed
  FROM store_personas s JOIN personalize.profiles p ON p.user_id = 'l' || s.c;
SELECT 'persona', g.persona,
       round((SELECT count(*) FROM personalize.lookalike(
                  personalize.audience_from_array(ARRAY(SELECT profile_id FROM eval_seeds WHERE persona = g.persona AND seed)),
                  g.n, '2026-06-30 00:00+00') l
                JOIN eval_seeds s USING (profile_id) WHERE s.persona = g.persona)::numeric / g.n, 3),
       round((SELECT count(*) FROM (SELECT s.profile_id, s.persona FROM eval_seeds s JOIN personalize.profiles p USING (profile_id)
                                     WHERE NOT s.seed ORDER BY p.purchase_total DESC, p.profile_id LIMIT g.n) x
               WHERE x.persona = g.persona)::numeric / g.n, 3),
       round(g.n::numeric / (SELECT count(*) FROM eval_seeds WHERE NOT seed), 3)
  FROM (SELECT persona, count(*) FILTER (WHERE NOT seed)::int AS n FROM eval_seeds GROUP BY persona) g
 ORDER BY g.persona;
