-- Campaign and experiment metrics (docs/experiments.md, "Metrics"): what happened to each send
-- (feedback events carrying send_id, conversions attributed by last touch), counted per campaign
-- and per variant with intervals, and each variant compared with the control.

-- The attribution window and machine-open rule of each campaign: its experiment's, else
-- 7 days and machine opens excluded.
CREATE VIEW personalize.campaign_rules AS
SELECT c.campaign_id, c.name AS campaign, x.experiment_id, x.name AS experiment,
       coalesce(x.attribution_window, interval '7 days') AS attribution_window,
       coalesce(x.exclude_machine_opens, true) AS exclude_machine_opens,
       coalesce(x.primary_metric, 'click') AS primary_metric
  FROM personalize.campaigns c
  LEFT JOIN personalize.experiments x ON x.name = c.experiment;
COMMENT ON VIEW personalize.campaign_rules IS
'Per campaign: its experiment, attribution window, machine-open rule and primary metric (defaults 7 days, excluded, click)';

-- One row per finished or queued campaign send: what its feedback says and what it earned.
-- Feedback: Email Delivered, Email Bounced, Email Opened (opens with "machine_open": true, such
-- as Apple Mail Privacy Protection prefetches, count only where the campaign keeps them),
-- Email Clicked, Unsubscribed, Email Marked as Spam, each carrying send_id. A send that was sent
-- and did not bounce counts as delivered. Conversions: each Order Completed event goes to the
-- profile's latest human open or click of a campaign send at or before it (last touch), when
-- that touch is within the campaign's attribution window; its revenue is purchase_amount().
CREATE VIEW personalize.send_outcomes AS
WITH feedback AS (
    SELECT e.profile_id, e.occurred_at, e.event, (e.properties ->> 'send_id')::bigint AS send_id,
           e.event = 'Email Opened' AND coalesce(e.properties ->> 'machine_open' = 'true', false) AS machine
      FROM personalize.events e
     WHERE e.event IN ('Email Delivered', 'Email Bounced', 'Email Opened', 'Email Clicked', 'Unsubscribed',
                       'Email Marked as Spam')
       AND (e.properties ->> 'send_id') ~ '^[0-9]{1,18}$'
), campaign_sends AS (
    SELECT s.send_id, s.profile_id, s.campaign_id, s.campaign_run, s.variant, s.status, s.sent_at,
           r.attribution_window, r.exclude_machine_opens
      FROM personalize.sends_all s JOIN personalize.campaign_rules r USING (campaign_id)
), per_send AS (
    SELECT f.send_id,
           bool_or(f.event = 'Email Delivered') AS delivered_event,
           bool_or(f.event = 'Email Bounced') AS bounced,
           bool_or(f.event = 'Email Opened' AND NOT (f.machine AND cs.exclude_machine_opens)) AS opened,
           bool_or(f.machine) AS machine_opened,
           bool_or(f.event = 'Email Clicked') AS clicked,
           bool_or(f.event = 'Unsubscribed') AS unsubscribed,
           bool_or(f.event = 'Email Marked as Spam') AS complained,
           min(f.occurred_at) FILTER (WHERE f.event = 'Email Opened' AND NOT (f.machine AND cs.exclude_machine_opens)) AS first_open_at
      FROM feedback f JOIN campaign_sends cs USING (send_id)
     GROUP BY f.send_id
), timeline AS (
    -- human opens and clicks of campaign sends (touches), then orders, per profile in time order
    SELECT f.profile_id, f.occurred_at, f.send_id, NULL::numeric AS revenue, 0 AS is_order
      FROM feedback f JOIN campaign_sends cs USING (send_id)
     WHERE f.event = 'Email Clicked' OR (f.event = 'Email Opened' AND NOT (f.machine AND cs.exclude_machine_opens))
    UNION ALL
    SELECT e.profile_id, e.occurred_at, NULL, coalesce(personalize.purchase_amount(e.properties), 0), 1
      FROM personalize.events e WHERE e.event = 'Order Completed'
), numbered AS (
    -- touch_group: the number of touches so far, so an order shares it with its last touch
    SELECT t.*, count(t.send_id) OVER (PARTITION BY t.profile_id ORDER BY t.occurred_at, t.is_order
                                       ROWS UNBOUNDED PRECEDING) AS touch_group
      FROM timeline t
), attributed AS (
    SELECT n.*, first_value(n.send_id) OVER g AS touch_send, first_value(n.occurred_at) OVER g AS touch_at
      FROM numbered n
    WINDOW g AS (PARTITION BY n.profile_id, n.touch_group ORDER BY n.occurred_at, n.is_order)
), conversions AS (
    SELECT a.touch_send AS send_id, count(*) AS conversions, sum(a.revenue) AS revenue,
           min(a.occurred_at) AS first_conversion_at
      FROM attributed a JOIN campaign_sends cs ON cs.send_id = a.touch_send
     WHERE a.is_order = 1 AND a.occurred_at - a.touch_at <= cs.attribution_window
     GROUP BY a.touch_send
)
SELECT cs.send_id, cs.profile_id, cs.campaign_id, cs.campaign_run, cs.variant, cs.status, cs.sent_at,
       cs.status = 'sent' AS sent,
       cs.status = 'sent' AND NOT coalesce(p.bounced, false) AS delivered,
       coalesce(p.bounced, false) AS bounced,
       coalesce(p.opened, false) AS opened,
       coalesce(p.machine_opened, false) AS machine_opened,
       coalesce(p.clicked, false) AS clicked,
       coalesce(p.unsubscribed, false) AS unsubscribed,
       coalesce(p.complained, false) AS complained,
       p.first_open_at,
       coalesce(c.conversions, 0) AS conversions,
       coalesce(c.revenue, 0) AS revenue,
       c.first_conversion_at
  FROM campaign_sends cs
  LEFT JOIN per_send p USING (send_id)
  LEFT JOIN conversions c USING (send_id);
COMMENT ON VIEW personalize.send_outcomes IS
'Per campaign send: sent, delivered, bounced, opened (human), clicked, unsubscribed, complained, and the conversions and revenue attributed to it by last touch within the window (and when the first came)';

-- The counts per campaign (variant NULL) and per campaign and variant, in one pass.
CREATE VIEW personalize.campaign_counts AS
SELECT o.campaign_id, o.variant, GROUPING(o.variant) = 1 AS whole_campaign,
       count(*) FILTER (WHERE o.sent) AS sent,
       count(*) FILTER (WHERE o.delivered) AS delivered,
       count(*) FILTER (WHERE o.bounced) AS bounced,
       count(*) FILTER (WHERE o.opened AND o.delivered) AS unique_opens,
       count(*) FILTER (WHERE o.machine_opened AND o.delivered) AS machine_opens,
       count(*) FILTER (WHERE o.clicked AND o.delivered) AS unique_clicks,
       count(*) FILTER (WHERE o.unsubscribed) AS unsubscribes,
       count(*) FILTER (WHERE o.complained) AS complaints,
       count(*) FILTER (WHERE o.conversions > 0 AND o.sent) AS converters,
       coalesce(sum(o.conversions) FILTER (WHERE o.sent), 0) AS conversions,
       coalesce(sum(o.revenue) FILTER (WHERE o.sent), 0) AS revenue,
       avg(o.revenue) FILTER (WHERE o.sent) AS revenue_per_recipient,
       var_samp(o.revenue) FILTER (WHERE o.sent) AS revenue_variance
  FROM personalize.send_outcomes o
 GROUP BY GROUPING SETS ((o.campaign_id), (o.campaign_id, o.variant));
COMMENT ON VIEW personalize.campaign_counts IS
'Counts per campaign (whole_campaign) and per campaign and variant: sent, delivered, bounced, unique opens and clicks, unsubscribes, complaints, converters, conversions, revenue';

-- Rates with 95% Wilson intervals from a row of campaign_counts.
CREATE VIEW personalize.campaign_rates AS
SELECT k.*,
       o.rate AS open_rate, o.lower AS open_rate_lower, o.upper AS open_rate_upper,
       c.rate AS ctr, c.lower AS ctr_lower, c.upper AS ctr_upper,
       t.rate AS click_to_open, t.lower AS click_to_open_lower, t.upper AS click_to_open_upper,
       v.rate AS conversion_rate, v.lower AS conversion_rate_lower, v.upper AS conversion_rate_upper
  FROM personalize.campaign_counts k,
       personalize.wilson_interval(k.unique_opens, k.delivered) o,
       personalize.wilson_interval(k.unique_clicks, k.delivered) c,
       personalize.wilson_interval(least(k.unique_clicks, k.unique_opens), k.unique_opens) t,
       personalize.wilson_interval(k.converters, k.delivered) v;

CREATE VIEW personalize.campaign_metrics AS
SELECT c.name AS campaign, r.* FROM personalize.campaign_rates r
  JOIN personalize.campaigns c USING (campaign_id) WHERE r.whole_campaign;
COMMENT ON VIEW personalize.campaign_metrics IS
'Per campaign: sent, delivered, bounced, unique opens, open rate, unique clicks, CTR, click-to-open, unsubscribes, complaints, conversions, conversion rate, revenue, revenue per recipient; rates over delivered with 95% Wilson intervals';

-- Per variant, with the comparison against the campaign's control on its primary metric: the
-- two-sided p-value (z-test for open, click and conversion rates, Welch for revenue per
-- recipient), the difference with its 95% Newcombe interval (rates), the always-valid
-- sequential test, and the probability that the variant is best among the campaign's variants.
CREATE VIEW personalize.variant_metrics AS
WITH rows AS (
    SELECT c.name AS campaign, r.*, ru.primary_metric, ru.experiment_id,
           CASE ru.primary_metric WHEN 'open' THEN r.unique_opens WHEN 'click' THEN r.unique_clicks
                ELSE r.converters END AS successes
      FROM personalize.campaign_rates r
      JOIN personalize.campaigns c USING (campaign_id)
      JOIN personalize.campaign_rules ru USING (campaign_id)
     WHERE NOT r.whole_campaign AND r.variant IS NOT NULL
), control AS (
    SELECT DISTINCT ON (rw.campaign_id) rw.campaign_id, rw.variant, rw.successes, rw.delivered, rw.sent,
           rw.revenue_per_recipient, rw.revenue_variance
      FROM rows rw
      LEFT JOIN personalize.experiment_variants ev ON ev.experiment_id = rw.experiment_id AND ev.variant = rw.variant
     ORDER BY rw.campaign_id, ev.is_control DESC NULLS LAST, ev.position, rw.variant
), best AS (
    SELECT rw.campaign_id, array_agg(rw.variant ORDER BY rw.variant) AS variants,
           (personalize.bayes_best(array_agg(rw.successes ORDER BY rw.variant),
                                   array_agg(rw.delivered ORDER BY rw.variant))).probability_best
      FROM rows rw GROUP BY rw.campaign_id HAVING count(*) BETWEEN 2 AND 32
)
SELECT rw.*, ctl.variant AS control, rw.variant = ctl.variant AS is_control,
       CASE WHEN rw.variant <> ctl.variant THEN
            CASE rw.primary_metric WHEN 'revenue' THEN w.p_value ELSE z.p_value END END AS p_value,
       CASE WHEN rw.variant <> ctl.variant AND rw.primary_metric <> 'revenue' THEN n.difference END AS difference,
       CASE WHEN rw.variant <> ctl.variant AND rw.primary_metric <> 'revenue' THEN n.lower END AS difference_lower,
       CASE WHEN rw.variant <> ctl.variant AND rw.primary_metric <> 'revenue' THEN n.upper END AS difference_upper,
       CASE WHEN rw.variant <> ctl.variant AND rw.primary_metric <> 'revenue' THEN q.conclusive END AS sequential_conclusive,
       b.probability_best[array_position(b.variants, rw.variant)] AS probability_best
  FROM rows rw
  JOIN control ctl USING (campaign_id)
  LEFT JOIN best b USING (campaign_id)
  LEFT JOIN personalize.experiments x ON x.experiment_id = rw.experiment_id
  CROSS JOIN LATERAL personalize.z_test(ctl.successes, ctl.delivered, rw.successes, rw.delivered) z
  CROSS JOIN LATERAL personalize.newcombe_interval(ctl.successes, ctl.delivered, rw.successes, rw.delivered) n
  CROSS JOIN LATERAL personalize.sequential_test(ctl.successes, ctl.delivered, rw.successes, rw.delivered,
                                                 coalesce(x.alpha, 0.05), coalesce(x.tau, 0.01)) q
  LEFT JOIN LATERAL personalize.welch_test(ctl.sent, ctl.revenue_per_recipient, coalesce(ctl.revenue_variance, 0),
                                           rw.sent, rw.revenue_per_recipient, coalesce(rw.revenue_variance, 0)) w
         ON ctl.sent > 0 AND rw.sent > 0;
COMMENT ON VIEW personalize.variant_metrics IS
'Per campaign and variant: the campaign_metrics columns, and against the control on the primary metric the p-value, the difference with its Newcombe interval, the sequential test''s verdict and the probability of being best';

GRANT SELECT ON personalize.campaign_rules, personalize.send_outcomes, personalize.campaign_counts,
    personalize.campaign_rates, personalize.campaign_metrics, personalize.variant_metrics
    TO personalize_admin, personalize_analyst;
