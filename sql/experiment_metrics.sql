-- Experiments inside campaigns: assignment recorded on each send, holdouts kept out and on
-- record, the metrics views against the straightforward SQL an analyst would write, and the
-- automatic decisions: test then roll out (by experiment_tick) and Thompson sampling.
CREATE EXTENSION personalize;
\set VERBOSITY terse
\set QUIET on
\i test/experiment/campaign_fixture.sql
\set QUIET off

-- every member of the audience was either sent its assigned variant (with that variant's
-- template) or held out; nobody twice
SELECT coalesce(a.variant, '-') AS assigned, coalesce(s.variant, '(no send)') AS sent_variant, s.template,
       h.profile_id IS NOT NULL AS held_out, count(*)
  FROM personalize.segment_members m
  JOIN personalize.segments g ON g.segment_id = m.segment_id AND g.name = 'newsletter'
  JOIN personalize.assign_variants('spring subject', ARRAY(SELECT profile_id FROM personalize.profiles)) a USING (profile_id)
  LEFT JOIN personalize.sends_all s ON s.profile_id = m.profile_id AND s.campaign_id IS NOT NULL
  LEFT JOIN personalize.experiment_holdouts h ON h.profile_id = m.profile_id
 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2;
SELECT variant, extra FROM personalize.sends_all WHERE campaign_id IS NOT NULL GROUP BY 1, 2 ORDER BY 1;
-- the subject-line variant replaces the template's subject (neither template mentions it)
SELECT s.variant, c.subject, count(*) FROM fixture_claimed c JOIN personalize.sends_all s USING (send_id)
 GROUP BY 1, 2 ORDER BY 1;

-- the views against plain joins and count(DISTINCT), with the last touch found per order by a
-- correlated subquery (the latest human open or click of a campaign send at or before the order)
CREATE TEMP VIEW analyst AS
WITH s AS (
    SELECT * FROM personalize.sends_all WHERE campaign_id IS NOT NULL AND status = 'sent'
), fb AS (
    SELECT (properties ->> 'send_id')::bigint AS send_id, event, properties, occurred_at, profile_id
      FROM personalize.events WHERE properties ? 'send_id'
), touch AS (
    SELECT send_id, profile_id, occurred_at FROM fb
     WHERE event = 'Email Clicked' OR (event = 'Email Opened' AND (properties ->> 'machine_open') IS NULL)
), orders AS (
    SELECT o.profile_id, o.occurred_at, (o.properties ->> 'revenue')::numeric AS revenue,
           (SELECT t.send_id FROM touch t WHERE t.profile_id = o.profile_id AND t.occurred_at <= o.occurred_at
             ORDER BY t.occurred_at DESC LIMIT 1) AS send_id,
           (SELECT max(t.occurred_at) FROM touch t WHERE t.profile_id = o.profile_id AND t.occurred_at <= o.occurred_at) AS touch_at
      FROM personalize.events o WHERE o.event = 'Order Completed'
), attributed AS (
    SELECT * FROM orders WHERE send_id IS NOT NULL AND occurred_at - touch_at <= interval '7 days'
)
SELECT s.variant,
       count(DISTINCT s.send_id) AS sent,
       count(DISTINCT s.send_id) - count(DISTINCT b.send_id) AS delivered,
       count(DISTINCT b.send_id) AS bounced,
       count(DISTINCT op.send_id) FILTER (WHERE b.send_id IS NULL) AS unique_opens,
       count(DISTINCT ck.send_id) FILTER (WHERE b.send_id IS NULL) AS unique_clicks,
       count(DISTINCT un.send_id) AS unsubscribes,
       count(DISTINCT sp.send_id) AS complaints,
       count(DISTINCT at.send_id) AS converters,
       (SELECT count(*) FROM attributed a JOIN s s2 USING (send_id) WHERE s2.variant = s.variant) AS conversions,
       (SELECT coalesce(sum(a.revenue), 0) FROM attributed a JOIN s s2 USING (send_id) WHERE s2.variant = s.variant) AS revenue
  FROM s
  LEFT JOIN fb b ON b.send_id = s.send_id AND b.event = 'Email Bounced'
  LEFT JOIN fb op ON op.send_id = s.send_id AND op.event = 'Email Opened' AND (op.properties ->> 'machine_open') IS NULL
  LEFT JOIN fb ck ON ck.send_id = s.send_id AND ck.event = 'Email Clicked'
  LEFT JOIN fb un ON un.send_id = s.send_id AND un.event = 'Unsubscribed'
  LEFT JOIN fb sp ON sp.send_id = s.send_id AND sp.event = 'Email Marked as Spam'
  LEFT JOIN attributed at ON at.send_id = s.send_id
 GROUP BY s.variant;
SELECT * FROM analyst ORDER BY variant;
SELECT count(*) AS "variants where the view and the analyst differ"
  FROM analyst a FULL JOIN personalize.variant_metrics m USING (variant)
 WHERE (a.sent, a.delivered, a.bounced, a.unique_opens, a.unique_clicks, a.unsubscribes, a.complaints,
        a.converters, a.conversions, a.revenue)
       IS DISTINCT FROM (m.sent, m.delivered, m.bounced, m.unique_opens, m.unique_clicks, m.unsubscribes,
                         m.complaints, m.converters, m.conversions, m.revenue);
SELECT (SELECT (sum(sent), sum(unique_opens), sum(unique_clicks), sum(conversions), sum(revenue)) FROM analyst)
       = (sent::numeric, unique_opens::numeric, unique_clicks::numeric, conversions::numeric, revenue) AS "campaign = sum of its variants"
  FROM personalize.campaign_metrics;
-- the 20 orders on 25 March are 15 days after their profiles' last touch at most: none attributed
SELECT count(*) AS "late orders attributed" FROM personalize.send_outcomes WHERE revenue >= 999;

-- the per-campaign and per-variant counts (from the sends, send_feedback and send_conversions
-- apart) against the same counts over send_outcomes, one row per send: equal as seeded, with
-- feedback on sends that were not sent (failed, or still leased: only sent sends are delivered,
-- opened or clicked), and for a campaign without an experiment (variant NULL)
CREATE TEMP VIEW per_send_counts AS
SELECT o.campaign_id, o.variant, count(*) FILTER (WHERE o.sent) AS sent, count(*) FILTER (WHERE o.delivered) AS delivered,
       count(*) FILTER (WHERE o.bounced) AS bounced, count(*) FILTER (WHERE o.opened AND o.delivered) AS unique_opens,
       count(*) FILTER (WHERE o.machine_opened AND o.delivered) AS machine_opens,
       count(*) FILTER (WHERE o.clicked AND o.delivered) AS unique_clicks, count(*) FILTER (WHERE o.unsubscribed) AS unsubscribes,
       count(*) FILTER (WHERE o.complained) AS complaints, count(*) FILTER (WHERE o.conversions > 0 AND o.sent) AS converters,
       coalesce(sum(o.conversions) FILTER (WHERE o.sent), 0) AS conversions, coalesce(sum(o.revenue) FILTER (WHERE o.sent), 0) AS revenue,
       avg(o.revenue) FILTER (WHERE o.sent) AS revenue_per_recipient, var_samp(o.revenue) FILTER (WHERE o.sent) AS revenue_variance
  FROM personalize.send_outcomes o GROUP BY 1, 2;
CREATE TEMP VIEW counts_differing AS
SELECT count(*) AS variants,
       count(*) FILTER (WHERE (p.sent, p.delivered, p.bounced, p.unique_opens, p.machine_opens, p.unique_clicks, p.unsubscribes,
                               p.complaints, p.converters, p.conversions, p.revenue, p.revenue_per_recipient, p.revenue_variance)
                              IS DISTINCT FROM
                              (c.sent, c.delivered, c.bounced, c.unique_opens, c.machine_opens, c.unique_clicks, c.unsubscribes,
                               c.complaints, c.converters, c.conversions, c.revenue, c.revenue_per_recipient, c.revenue_variance))
           AS "variants where the counts differ",
       sum(p.sent) AS sent, sum(p.delivered) AS delivered, sum(p.unique_clicks) AS clicks, sum(p.converters) AS converters
  FROM per_send_counts p
  FULL JOIN (SELECT * FROM personalize._campaign_counts(false) WHERE breakdown = 'variant') c
         ON c.campaign_id = p.campaign_id AND c.variant IS NOT DISTINCT FROM p.variant;
SELECT * FROM counts_differing;
BEGIN;
UPDATE personalize.send_history SET status = 'failed'
 WHERE send_id IN (SELECT send_id FROM personalize.send_feedback WHERE clicked_at IS NOT NULL ORDER BY send_id LIMIT 7)
    OR send_id IN (SELECT send_id FROM personalize.send_feedback WHERE bounced_at IS NOT NULL ORDER BY send_id LIMIT 2)
    OR send_id IN (SELECT touch_send_id FROM personalize.order_touches ORDER BY touch_send_id LIMIT 3);
WITH back AS (DELETE FROM personalize.send_history WHERE send_id IN (SELECT send_id FROM personalize.send_feedback
                                                                      WHERE opened_at IS NOT NULL ORDER BY send_id DESC LIMIT 4)
              RETURNING *)
INSERT INTO personalize.sends (send_id, profile_id, campaign_id, campaign_run, template, variant, kind, priority,
                               idempotency_key, status, attempts, available_at, lease_until, leased_by, created_at, extra)
SELECT send_id, profile_id, campaign_id, campaign_run, template, variant, kind, priority, idempotency_key, 'leased', attempts,
       available_at, '2026-03-10 10:00', 'w', created_at, extra FROM back;
SELECT status, count(*) FROM personalize.sends_all WHERE campaign_id = 1 GROUP BY 1 ORDER BY 1;
SELECT * FROM counts_differing;
UPDATE personalize.send_history SET variant = NULL WHERE variant = 'B';
UPDATE personalize.send_feedback SET variant = NULL WHERE variant = 'B';
SELECT * FROM counts_differing;
ROLLBACK;
DROP VIEW counts_differing, per_send_counts;

-- incremental equals full: the outcomes ingest kept equal those recomputed from all events
CREATE TEMP TABLE kept_feedback AS SELECT * FROM personalize.send_feedback;
CREATE TEMP TABLE kept_touches AS SELECT * FROM personalize.send_touches;
CREATE TEMP TABLE kept_orders AS SELECT * FROM personalize.order_touches;
CREATE FUNCTION pg_temp.outcomes_differ() RETURNS TABLE (feedback bigint, touches bigint, orders bigint) LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM ((TABLE kept_feedback EXCEPT TABLE personalize.send_feedback)
                                  UNION ALL (TABLE personalize.send_feedback EXCEPT TABLE kept_feedback)) d),
           (SELECT count(*) FROM ((TABLE kept_touches EXCEPT TABLE personalize.send_touches)
                                  UNION ALL (TABLE personalize.send_touches EXCEPT TABLE kept_touches)) d),
           (SELECT count(*) FROM ((TABLE kept_orders EXCEPT TABLE personalize.order_touches)
                                  UNION ALL (TABLE personalize.order_touches EXCEPT TABLE kept_orders)) d) $$;
SELECT * FROM personalize.rebuild_send_outcomes();
SELECT * FROM pg_temp.outcomes_differ();

-- events out of order: a profile's order arrives before the click that preceded it; a copy of
-- that click (same message_id, another time) is dropped by ingest and changes nothing; then an
-- anonymous profile with an order is merged into it: each time the kept state equals the full
-- recomputation
SELECT s.send_id AS late_send, p.user_id AS late_user, s.profile_id AS late_profile
  FROM personalize.sends_all s JOIN personalize.profiles p USING (profile_id)
 WHERE s.campaign_id IS NOT NULL AND s.status = 'sent'
   AND NOT EXISTS (SELECT FROM personalize.send_touches t WHERE t.profile_id = s.profile_id)
 ORDER BY s.send_id LIMIT 1 \gset
INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id) VALUES
  (:'late_user', 'Order Completed', '{"order_id": "late-1", "revenue": 55}', '2026-03-11 12:00', 'late:order');
SELECT touch_send_id IS NULL AS "no touch yet", revenue FROM personalize.order_touches WHERE message_id = 'late:order';
INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id) VALUES
  (:'late_user', 'Email Clicked', jsonb_build_object('send_id', :late_send), '2026-03-11 11:00', 'late:click');
INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id) VALUES
  (:'late_user', 'Email Clicked', jsonb_build_object('send_id', :late_send), '2026-03-11 11:30', 'late:click');
SELECT touch_send_id = :late_send AS "the late click has it", touch_at FROM personalize.order_touches WHERE message_id = 'late:order';
SELECT clicked_at FROM personalize.send_feedback WHERE send_id = :late_send;
SELECT conversions, revenue FROM personalize.send_outcomes WHERE send_id = :late_send;
DELETE FROM kept_feedback; INSERT INTO kept_feedback SELECT * FROM personalize.send_feedback;
DELETE FROM kept_touches; INSERT INTO kept_touches SELECT * FROM personalize.send_touches;
DELETE FROM kept_orders; INSERT INTO kept_orders SELECT * FROM personalize.order_touches;
SELECT * FROM personalize.rebuild_send_outcomes();
SELECT * FROM pg_temp.outcomes_differ();
-- an anonymous visitor orders; merged into the late profile, the order takes its latest touch
INSERT INTO personalize.events (anonymous_id, event, properties, occurred_at, message_id) VALUES
  ('anon-late', 'Order Completed', '{"order_id": "late-2", "revenue": 7}', '2026-03-11 13:00', 'late:order2');
SELECT touch_send_id IS NULL AS "no touch before the merge" FROM personalize.order_touches WHERE message_id = 'late:order2';
SELECT personalize.merge_profiles(:late_profile, personalize.resolve_identity('anonymous_id', 'anon-late'), true,
                                  'manual', '2026-03-11 14:00') = :late_profile AS merged;
SELECT profile_id = :late_profile AS moved, touch_send_id = :late_send AS "its touch" FROM personalize.order_touches
 WHERE message_id = 'late:order2';
DELETE FROM kept_feedback; INSERT INTO kept_feedback SELECT * FROM personalize.send_feedback;
DELETE FROM kept_touches; INSERT INTO kept_touches SELECT * FROM personalize.send_touches;
DELETE FROM kept_orders; INSERT INTO kept_orders SELECT * FROM personalize.order_touches;
SELECT * FROM personalize.rebuild_send_outcomes();
SELECT * FROM pg_temp.outcomes_differ();

-- last send within the window instead of last touch: each order goes to the profile's latest
-- campaign send sent and not bounced at or before it, if within 7 days (plain SQL beside the view)
UPDATE personalize.experiments SET attribution = 'last_send' WHERE name = 'spring subject';
WITH orders AS (
    SELECT o.occurred_at, personalize.purchase_amount(o.properties) AS revenue,
           (SELECT s.send_id FROM personalize.sends_all s
             WHERE s.profile_id = o.profile_id AND s.status = 'sent' AND s.sent_at <= o.occurred_at
               AND NOT EXISTS (SELECT FROM personalize.events b WHERE b.event = 'Email Bounced'
                                  AND b.properties ->> 'send_id' = s.send_id::text)
             ORDER BY s.sent_at DESC, s.send_id DESC LIMIT 1) AS send_id
      FROM personalize.events o WHERE o.event = 'Order Completed'
), analyst AS (
    SELECT s.variant, count(*) AS conversions, count(DISTINCT o.send_id) AS converters, sum(o.revenue) AS revenue
      FROM orders o JOIN personalize.sends_all s USING (send_id)
     WHERE o.occurred_at - s.sent_at <= interval '7 days' AND s.campaign_id = 1
     GROUP BY s.variant
)
SELECT a.variant, a.conversions, a.converters, a.revenue,
       (a.conversions, a.converters, a.revenue) = (m.conversions, m.converters, m.revenue) AS "view agrees"
  FROM analyst a JOIN personalize.variant_metrics m ON m.campaign = 'spring' AND m.variant = a.variant ORDER BY 1;
UPDATE personalize.experiments SET attribution = 'last_touch' WHERE name = 'spring subject';

-- per day and per segment: a SQL segment of the odd profile ids (entered before the send) next
-- to plain counts; the newsletter segment (everybody, entered 1 March) and the one day of sending
-- equal the variants; a variant's p-value is the z-test of its row against the control's
SELECT personalize.create_sql_segment('odd', 'p.profile_id % 2 = 1', '2026-03-09') > 0 AS odd_segment;
SELECT m.variant, m.sent, m.delivered, m.unique_clicks, m.converters,
       (m.sent, m.delivered, m.unique_clicks) = (SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (
                                                     SELECT FROM personalize.events b WHERE b.event = 'Email Bounced'
                                                        AND b.properties ->> 'send_id' = s.send_id::text)),
                                                        count(*) FILTER (WHERE EXISTS (
                                                     SELECT FROM personalize.events c WHERE c.event = 'Email Clicked'
                                                        AND c.properties ->> 'send_id' = s.send_id::text)
                                                        AND NOT EXISTS (
                                                     SELECT FROM personalize.events b WHERE b.event = 'Email Bounced'
                                                        AND b.properties ->> 'send_id' = s.send_id::text))
                                                  FROM personalize.sends_all s
                                                 WHERE s.campaign_id = 1 AND s.status = 'sent' AND s.profile_id % 2 = 1
                                                   AND (m.variant IS NULL OR s.variant = m.variant)) AS "plain SQL agrees",
       round(m.p_value::numeric, 12) = round((personalize.z_test(c.unique_clicks, c.delivered, m.unique_clicks, m.delivered)).p_value::numeric, 12) AS z
  FROM personalize.segment_metrics m
  LEFT JOIN personalize.segment_metrics c ON c.segment = 'odd' AND c.variant = 'A'
 WHERE m.campaign = 'spring' AND m.segment = 'odd' ORDER BY m.variant NULLS FIRST;
SELECT d.breakdown, d.segment, d.sent_day, d.variant,
       (d.sent, d.delivered, d.bounced, d.unique_opens, d.machine_opens, d.unique_clicks, d.unsubscribes, d.complaints,
        d.converters, d.conversions, d.revenue, d.revenue_per_recipient, d.revenue_variance, d.ctr_lower, d.p_value)
       IS NOT DISTINCT FROM (v.sent, v.delivered, v.bounced, v.unique_opens, v.machine_opens, v.unique_clicks, v.unsubscribes,
                             v.complaints, v.converters, v.conversions, v.revenue, v.revenue_per_recipient, v.revenue_variance,
                             v.ctr_lower, v.p_value)
       AND d.probability_best IS NOT DISTINCT FROM v.probability_best
       AS "equals variant_metrics"
  FROM personalize.breakdown_metrics d
  JOIN personalize.variant_metrics v ON v.campaign = d.campaign AND v.variant = d.variant
 WHERE d.campaign = 'spring' AND (d.segment = 'newsletter' OR d.segment IS NULL)
 ORDER BY 1, 2, 3, 4;
SELECT breakdown, sent_day, variant, sent FROM personalize.daily_metrics WHERE campaign = 'spring' ORDER BY 1, 2, 3;

-- the holdout measured: 10 held-out members order within the 7 days after the launch, 5 after
-- them; the recipients count when they order within 7 days of their send's creation
INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id)
SELECT p.user_id, 'Order Completed', jsonb_build_object('order_id', 'h-' || h.profile_id, 'revenue', 40),
       CASE WHEN h.n <= 10 THEN timestamptz '2026-03-12 10:00' ELSE '2026-03-18 10:00' END, 'holdout:' || h.profile_id
  FROM (SELECT profile_id, row_number() OVER (ORDER BY profile_id) AS n FROM personalize.experiment_holdouts) h
  JOIN personalize.profiles p USING (profile_id) WHERE h.n <= 15;
WITH members AS (
    SELECT s.variant, EXISTS (SELECT FROM personalize.events o WHERE o.profile_id = s.profile_id AND o.event = 'Order Completed'
                                 AND o.occurred_at BETWEEN s.created_at AND s.created_at + interval '7 days') AS converted
      FROM personalize.sends_all s WHERE s.campaign_id = 1
    UNION ALL
    SELECT 'holdout', EXISTS (SELECT FROM personalize.events o WHERE o.profile_id = h.profile_id AND o.event = 'Order Completed'
                                 AND o.occurred_at BETWEEN h.held_at AND h.held_at + interval '7 days')
      FROM personalize.experiment_holdouts h WHERE h.campaign_id = 1
)
SELECT variant, count(*) AS members, count(*) FILTER (WHERE converted) AS converters FROM members GROUP BY variant ORDER BY 1;
-- against the holdout, with the values statsmodels 0.13 and SciPy 1.10 give for the same members
-- (proportions_ztest; confint_proportions_2indep(method='newcomb'); ttest_ind(equal_var=False)
-- on each member's revenue in the window), computed by /usr/bin/python3 from a psql export
SELECT coalesce(h.variant, '(all)') AS variant, h.members, h.converters, h.holdout_members, h.holdout_converters,
       round(h.lift::numeric, 6) AS lift, round(h.p_value::numeric, 6) AS p_value,
       abs(h.lift_lower - r.lower) < 5e-7 AND abs(h.lift_upper - r.upper) < 5e-7 AND abs(h.p_value - r.p) < 5e-7
       AND abs(h.relative_lift - r.rel) < 5e-5 AND abs(h.revenue_lift - r.revlift) < 5e-5
       AND abs(h.revenue_p_value - r.revp) < 5e-7 AS "as statsmodels and SciPy"
  FROM personalize.holdout_metrics h
  JOIN (VALUES ('(all)', -0.039520, 0.004893, 0.205554, -0.3457, 0.1884, 0.690518),
               ('A', -0.046606, -0.001454, 0.029772, -0.5530, -0.3360, 0.487641),
               ('B', -0.032804, 0.014349, 0.695140, -0.1277, 0.7395, 0.182491)) r(variant, lower, upper, p, rel, revlift, revp)
    ON r.variant = coalesce(h.variant, '(all)')
 WHERE h.campaign = 'spring' ORDER BY h.variant NULLS FIRST;

-- rates and comparisons: each the statistic of the counts (checked against SciPy elsewhere)
SELECT m.variant, m.is_control, round(m.ctr::numeric, 6) AS ctr,
       round(m.ctr_lower::numeric, 6) = round((personalize.wilson_interval(m.unique_clicks, m.delivered)).lower::numeric, 6) AS wilson,
       round(m.click_to_open::numeric, 6) = round(m.unique_clicks::numeric / m.unique_opens, 6) AS cto,
       round(m.p_value::numeric, 12) = round((personalize.z_test(c.unique_clicks, c.delivered, m.unique_clicks, m.delivered)).p_value::numeric, 12) AS z,
       round(m.difference::numeric, 6) AS difference, m.sequential_conclusive,
       round(m.probability_best::numeric, 6) AS probability_best
  FROM personalize.variant_metrics m JOIN personalize.variant_metrics c ON c.variant = 'A'
 ORDER BY m.variant;

-- test then roll out: 20% test, decided a day after the launch; B is clearly better in the test
SELECT personalize.create_experiment('rollout', '[{"name": "A", "template": "spring_a"}, {"name": "B", "template": "spring_b"}]',
    allocation => 'test_then_rollout', test_percent => 20, decide_after => '1 day', tau => 0.05) AS experiment_id;
SELECT personalize.create_campaign('summer', 'newsletter', 'spring_a') AS campaign_id;
SELECT personalize.alter_campaign('summer', '{"experiment": "rollout"}') IS NOT NULL AS altered;
SELECT queued FROM personalize.launch_campaign('summer', '2026-03-12 09:00');
SELECT variant, count(*) FROM personalize.sends_all s JOIN personalize.campaigns c USING (campaign_id)
 WHERE c.name = 'summer' GROUP BY 1 ORDER BY 1;
SELECT count(*) AS claimed FROM personalize.claim_sends('t', 10000, '1 hour', '2026-03-12 09:00');
SELECT count(personalize.complete_send(send_id, NULL, '2026-03-12 09:01')) AS completed FROM personalize.sends WHERE status = 'leased';
-- A's recipients click 5%, B's 30% (by send_id)
INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id)
SELECT p.user_id, 'Email Clicked', jsonb_build_object('send_id', s.send_id), '2026-03-12 10:00', 'rollout:' || s.send_id
  FROM personalize.sends_all s JOIN personalize.profiles p USING (profile_id) JOIN personalize.campaigns c USING (campaign_id)
 WHERE c.name = 'summer' AND s.send_id % 20 < CASE s.variant WHEN 'A' THEN 1 ELSE 6 END;
SELECT variant, unique_clicks, delivered, sequential_conclusive FROM personalize.variant_metrics WHERE campaign = 'summer' ORDER BY 1;
-- before decide_after nothing happens; after it, B wins and the waiting 80% get B
-- (tick, the one clock, takes the decision: experiment_tick itself returns what it decided)
SELECT personalize.tick('2026-03-13 08:59') >= 0 AS ticked;
SELECT winner FROM personalize.experiments WHERE name = 'rollout';
SELECT * FROM personalize.experiment_tick('2026-03-13 08:59');
SELECT personalize.tick('2026-03-13 09:00') >= 0 AS ticked;
SELECT * FROM personalize.experiment_tick('2026-03-13 09:01');
SELECT winner, decided_at, decision FROM personalize.experiments WHERE name = 'rollout';
SELECT s.variant, count(*), count(*) FILTER (WHERE a.variant = s.variant OR a.variant IS NULL) AS as_assigned
  FROM personalize.sends_all s JOIN personalize.campaigns c USING (campaign_id)
  JOIN personalize.assign_variants('rollout', ARRAY(SELECT profile_id FROM personalize.profiles)) a USING (profile_id)
 WHERE c.name = 'summer' GROUP BY 1 ORDER BY 1;

-- Thompson sampling: run 1 splits by P(best) with no data (1/2 each); after run 1's clicks say
-- B is better, run 2 goes to each variant in proportion to its probability of being best
SELECT personalize.create_experiment('bandit', '[{"name": "A"}, {"name": "B"}]', allocation => 'thompson') AS experiment_id;
SELECT personalize.create_campaign('weekly', 'newsletter', 'spring_a') AS campaign_id;
SELECT personalize.alter_campaign('weekly', '{"experiment": "bandit"}') IS NOT NULL AS altered;
SELECT personalize.experiment_weights(campaign_id) FROM personalize.campaigns WHERE name = 'weekly';
SELECT queued FROM personalize.launch_campaign('weekly', '2026-03-16 09:00', 1);
SELECT count(*) AS claimed FROM personalize.claim_sends('t', 10000, '1 hour', '2026-03-16 09:00');
SELECT count(personalize.complete_send(send_id, NULL, '2026-03-16 09:01')) AS completed FROM personalize.sends WHERE status = 'leased';
INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id)
SELECT p.user_id, 'Email Clicked', jsonb_build_object('send_id', s.send_id), '2026-03-16 10:00', 'bandit:' || s.send_id
  FROM personalize.sends_all s JOIN personalize.profiles p USING (profile_id) JOIN personalize.campaigns c USING (campaign_id)
 WHERE c.name = 'weekly' AND s.send_id % 100 < CASE s.variant WHEN 'A' THEN 10 ELSE 12 END;
SELECT variant, unique_clicks, delivered, round(probability_best::numeric, 4) AS probability_best
  FROM personalize.variant_metrics WHERE campaign = 'weekly' ORDER BY 1;
SELECT round(w::numeric, 4) AS weight FROM personalize.campaigns c, unnest(personalize.experiment_weights(c.campaign_id)) w
 WHERE c.name = 'weekly';
SELECT queued FROM personalize.launch_campaign('weekly', '2026-03-23 09:00', 2);
-- run 2's split equals the weights within 2.5 points (binomial standard error under 1 point)
SELECT s.variant, abs(count(*)::numeric / sum(count(*)) OVER () - w.w) < 0.025 AS "share as P(best)"
  FROM personalize.sends_all s JOIN personalize.campaigns c USING (campaign_id)
  JOIN (SELECT v.variant, (personalize.bayes_best(ARRAY[k.a, k.b], ARRAY[k.na, k.nb])).probability_best[v.i] AS w
          FROM (SELECT max(unique_clicks) FILTER (WHERE variant = 'A') AS a, max(delivered) FILTER (WHERE variant = 'A') AS na,
                       max(unique_clicks) FILTER (WHERE variant = 'B') AS b, max(delivered) FILTER (WHERE variant = 'B') AS nb
                  FROM personalize.variant_metrics WHERE campaign = 'weekly') k,
               (VALUES ('A', 1), ('B', 2)) v(variant, i)) w ON w.variant = s.variant
 WHERE c.name = 'weekly' AND s.campaign_run = 2 GROUP BY s.variant, w.w ORDER BY 1;

-- a campaign naming an experiment that does not exist cannot launch
SELECT personalize.create_campaign('broken', 'newsletter', 'spring_a') AS campaign_id;
SELECT personalize.alter_campaign('broken', '{"experiment": "missing"}') IS NOT NULL AS altered;
SELECT * FROM personalize.launch_campaign('broken', '2026-03-12 09:00');

DROP VIEW analyst;
DROP EXTENSION personalize;
