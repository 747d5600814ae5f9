-- Campaign and experiment metrics (docs/experiments.md, "Metrics"): what happened to each send
-- (send_feedback and order_touches, kept by ingest in outcomes.sql; conversions attributed by last
-- touch or last send), counted per campaign, variant, day and segment with intervals, each
-- variant compared with the control (the holdout is measured in launch.sql, which keeps it).

-- The attribution model and window and the machine-open rule of each campaign: its
-- experiment's, else last touch within 7 days and machine opens excluded.
CREATE VIEW personalize.campaign_rules AS
SELECT c.campaign_id, c.name AS campaign, x.experiment_id, x.name AS experiment,
       coalesce(x.attribution_window, interval '7 days') AS attribution_window,
       coalesce(x.exclude_machine_opens, true) AS exclude_machine_opens,
       coalesce(x.primary_metric, 'click') AS primary_metric,
       coalesce(x.attribution, 'last_touch') AS attribution
  FROM personalize.campaigns c
  LEFT JOIN personalize.experiments x ON x.name = c.experiment;
COMMENT ON VIEW personalize.campaign_rules IS
'Per campaign: its experiment, attribution model and window, machine-open rule and primary metric (defaults last_touch, 7 days, excluded, click)';

-- Per credited send: the conversions attributed to it and their revenue. Each Order Completed
-- goes, under last_touch, to the send of the profile's latest human open or click at or before it
-- (order_touches), under last_send to the profile's latest marketing send sent (and not bounced)
-- at or before it; either way only when the order is within the campaign's attribution window of
-- that touch or send. Its revenue is purchase_amount().
CREATE VIEW personalize.send_conversions AS
WITH credited AS (
    -- each order with the send (and its campaign) each model credits and the time its window runs from
    SELECT o.touch_send_id AS send_id, o.touch_campaign_id AS campaign_id, 'last_touch' AS model,
           o.touch_at AS credited_at, o.occurred_at, o.revenue
      FROM personalize.order_touches o WHERE o.touch_campaign_id IS NOT NULL
    UNION ALL
    SELECT l.send_id, l.campaign_id, 'last_send', l.sent_at, o.occurred_at, o.revenue
      FROM personalize.order_touches o
      CROSS JOIN LATERAL (
          SELECT h.send_id, h.campaign_id, h.finished_at AS sent_at FROM personalize.send_history h
           WHERE h.profile_id = o.profile_id AND h.status = 'sent' AND h.finished_at <= o.occurred_at
             AND h.kind = 'marketing'
             AND NOT EXISTS (SELECT FROM personalize.send_feedback f WHERE f.send_id = h.send_id AND f.bounced_at IS NOT NULL)
           ORDER BY h.finished_at DESC, h.send_id DESC LIMIT 1) l
     -- computed only when some experiment asks for it
     WHERE EXISTS (SELECT FROM personalize.experiments x WHERE x.attribution = 'last_send')
)
SELECT c.send_id, c.campaign_id, count(*) AS conversions, sum(c.revenue) AS revenue,
       sum(c.revenue) * sum(c.revenue) AS revenue_squared, min(c.occurred_at) AS first_conversion_at
  FROM credited c JOIN personalize.campaign_rules r ON r.campaign_id = c.campaign_id AND r.attribution = c.model
 WHERE c.occurred_at - c.credited_at <= r.attribution_window
 GROUP BY c.send_id, c.campaign_id;
COMMENT ON VIEW personalize.send_conversions IS
'Per campaign send credited with conversions (last touch or last send within the campaign''s window): their count, revenue, its square, and when the first came';

-- One row per campaign send: what its feedback says (send_feedback, kept by ingest) and what it
-- earned (send_conversions). A send that was sent and did not bounce counts as delivered; opens
-- flagged "machine_open": true (Apple Mail Privacy Protection style prefetches) count only where
-- the campaign keeps them.
CREATE VIEW personalize.send_outcomes AS
SELECT s.send_id, s.profile_id, s.campaign_id, s.campaign_run, s.variant, s.status, s.sent_at,
       s.status = 'sent' AS sent,
       s.status = 'sent' AND f.bounced_at IS NULL AS delivered,
       f.bounced_at IS NOT NULL AS bounced,
       f.opened_at IS NOT NULL OR (f.machine_opened_at IS NOT NULL AND NOT r.exclude_machine_opens) AS opened,
       f.machine_opened_at IS NOT NULL AS machine_opened,
       f.clicked_at IS NOT NULL AS clicked,
       f.unsubscribed_at IS NOT NULL AS unsubscribed,
       f.complained_at IS NOT NULL AS complained,
       least(f.opened_at, CASE WHEN NOT r.exclude_machine_opens THEN f.machine_opened_at END) AS first_open_at,
       coalesce(c.conversions, 0) AS conversions,
       coalesce(c.revenue, 0) AS revenue,
       c.first_conversion_at,
       f.clicked_at AS first_click_at
  FROM personalize.sends_all s
  JOIN personalize.campaign_rules r USING (campaign_id)
  LEFT JOIN personalize.send_feedback f USING (send_id)
  LEFT JOIN personalize.send_conversions c USING (send_id);
COMMENT ON VIEW personalize.send_outcomes IS
'Per campaign send: sent, delivered, bounced, opened (human), clicked, unsubscribed, complained, and the conversions and revenue attributed to it (last touch or last send within the window) and when the first came';

-- A row of counts (campaign_counts) and a row of counts with rates (campaign_rates).
CREATE TYPE personalize.campaign_count AS (
    campaign_id integer, part text, breakdown text, segment text, sent_day date, variant text, whole_campaign boolean,
    sent bigint, delivered bigint, bounced bigint, unique_opens bigint, machine_opens bigint, unique_clicks bigint,
    unsubscribes bigint, complaints bigint, converters bigint, conversions numeric, revenue numeric,
    revenue_per_recipient numeric, revenue_variance numeric);
CREATE TYPE personalize.campaign_rate AS (
    campaign_id integer, part text, breakdown text, segment text, sent_day date, variant text, whole_campaign boolean,
    sent bigint, delivered bigint, bounced bigint, unique_opens bigint, machine_opens bigint, unique_clicks bigint,
    unsubscribes bigint, complaints bigint, converters bigint, conversions numeric, revenue numeric,
    revenue_per_recipient numeric, revenue_variance numeric,
    open_rate float8, open_rate_lower float8, open_rate_upper float8, ctr float8, ctr_lower float8, ctr_upper float8,
    click_to_open float8, click_to_open_lower float8, click_to_open_upper float8,
    conversion_rate float8, conversion_rate_lower float8, conversion_rate_upper float8);

-- The sample variance of values given their number, sum and sum of squares: what var_samp
-- computes (numeric, exact), so that it can be computed from partial sums.
CREATE FUNCTION personalize._sample_variance(n numeric, total numeric, squares numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN n > 1 THEN CASE WHEN n * squares - total * total <= 0 THEN 0
                                     ELSE (n * squares - total * total) / (n * (n - 1)) END END
$$;
COMMENT ON FUNCTION personalize._sample_variance(numeric, numeric, numeric) IS
'var_samp of n values from their count, sum and sum of squares (NULL below two values)';

-- The counts of campaign sends: per campaign and per variant, and, when breakdowns is true, per
-- UTC day of sending and per day and variant (part 'all'), and the same four per segment the
-- recipient belongs to and had entered when the send went (part 'segment'); breakdown names the
-- grouping ('campaign', 'variant', 'day', 'day variant', 'segment', 'segment variant', ...).
-- Partial counts (per_variant, and per campaign, part, segment, day and variant over
-- send_outcomes, one row per send, for the breakdowns) rolled up by grouping sets. A function, so
-- that the per-campaign and per-variant views skip the per-send rows (a filter cannot reach below
-- grouping sets).
CREATE FUNCTION personalize._campaign_counts(breakdowns boolean)
RETURNS SETOF personalize.campaign_count
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
-- JIT compiling this query costs seconds (its never-run last_send branch looks costly) and saves nothing
SET jit = off
AS $$
    -- per campaign and variant, without a join per send: the sends counted by campaign, variant
    -- and status; send_feedback (which carries each send's campaign and variant) counted as if
    -- every send with feedback had been sent, less the feedback of the sends that were not (few:
    -- queued, leased, failed, suppressed...); the credited sends (send_conversions) with their status
    WITH sends AS (
        SELECT s.campaign_id, s.variant, count(*) FILTER (WHERE s.status = 'sent') AS sent
          FROM personalize.sends_all s WHERE s.campaign_id IS NOT NULL GROUP BY 1, 2
    ), feedback AS (
        -- each count twice: of all sends with feedback, and of those not sent (subtracted)
        SELECT f.campaign_id, f.variant, f.unsent,
               count(*) FILTER (WHERE f.bounced_at IS NOT NULL) AS bounced,
               count(*) FILTER (WHERE f.opened_at IS NOT NULL AND f.bounced_at IS NULL) AS human_opens,
               count(*) FILTER (WHERE (f.opened_at IS NOT NULL OR f.machine_opened_at IS NOT NULL)
                                  AND f.bounced_at IS NULL) AS any_opens,
               count(*) FILTER (WHERE f.machine_opened_at IS NOT NULL AND f.bounced_at IS NULL) AS machine_opens,
               count(*) FILTER (WHERE f.clicked_at IS NOT NULL AND f.bounced_at IS NULL) AS clicks,
               count(*) FILTER (WHERE f.unsubscribed_at IS NOT NULL) AS unsubscribes,
               count(*) FILTER (WHERE f.complained_at IS NOT NULL) AS complaints
          FROM (SELECT false AS unsent, f.* FROM personalize.send_feedback f WHERE f.campaign_id IS NOT NULL
                UNION ALL
                SELECT true, f.* FROM personalize.sends_all s JOIN personalize.send_feedback f USING (send_id)
                 WHERE s.status <> 'sent' AND s.campaign_id IS NOT NULL) f
         GROUP BY 1, 2, 3
    ), sent_feedback AS (
        SELECT fb.campaign_id, fb.variant,
               sum(CASE WHEN fb.unsent THEN -fb.bounced ELSE fb.bounced END) AS sent_bounced,
               sum(fb.bounced) FILTER (WHERE NOT fb.unsent) AS bounced,
               sum(CASE WHEN fb.unsent THEN -fb.human_opens ELSE fb.human_opens END) AS human_opens,
               sum(CASE WHEN fb.unsent THEN -fb.any_opens ELSE fb.any_opens END) AS any_opens,
               sum(CASE WHEN fb.unsent THEN -fb.machine_opens ELSE fb.machine_opens END) AS machine_opens,
               sum(CASE WHEN fb.unsent THEN -fb.clicks ELSE fb.clicks END) AS clicks,
               sum(fb.unsubscribes) FILTER (WHERE NOT fb.unsent) AS unsubscribes,
               sum(fb.complaints) FILTER (WHERE NOT fb.unsent) AS complaints
          FROM feedback fb GROUP BY 1, 2
    ), conversions AS (
        SELECT s.campaign_id, s.variant, count(*) AS converters, sum(c.conversions) AS conversions,
               sum(c.revenue) AS revenue, sum(c.revenue_squared) AS revenue_squares
          FROM personalize.send_conversions c JOIN personalize.sends_all s USING (send_id)
         WHERE s.status = 'sent' AND c.conversions > 0
         GROUP BY 1, 2
    ), per_variant AS (
        SELECT s.campaign_id, 'all' AS part, NULL::text AS segment, NULL::date AS sent_day, s.variant,
               false AS per_send, s.sent,
               s.sent - coalesce(f.sent_bounced, 0) AS delivered,
               coalesce(f.bounced, 0) AS bounced,
               coalesce(CASE WHEN r.exclude_machine_opens THEN f.human_opens ELSE f.any_opens END, 0) AS unique_opens,
               coalesce(f.machine_opens, 0) AS machine_opens, coalesce(f.clicks, 0) AS unique_clicks,
               coalesce(f.unsubscribes, 0) AS unsubscribes, coalesce(f.complaints, 0) AS complaints,
               coalesce(c.converters, 0) AS converters, c.conversions, c.revenue, c.revenue_squares
          FROM sends s
          JOIN personalize.campaign_rules r USING (campaign_id)
          -- (a campaign without an experiment has the variant NULL)
          LEFT JOIN sent_feedback f ON f.campaign_id = s.campaign_id AND f.variant IS NOT DISTINCT FROM s.variant
          LEFT JOIN conversions c ON c.campaign_id = s.campaign_id AND c.variant IS NOT DISTINCT FROM s.variant
    ), partial AS (
        SELECT * FROM per_variant
        UNION ALL
        SELECT o.campaign_id, o.part, o.segment, o.sent_day, o.variant, true,
               count(*) FILTER (WHERE o.sent),
               count(*) FILTER (WHERE o.delivered),
               count(*) FILTER (WHERE o.bounced),
               count(*) FILTER (WHERE o.opened AND o.delivered),
               count(*) FILTER (WHERE o.machine_opened AND o.delivered),
               count(*) FILTER (WHERE o.clicked AND o.delivered),
               count(*) FILTER (WHERE o.unsubscribed),
               count(*) FILTER (WHERE o.complained),
               count(*) FILTER (WHERE o.conversions > 0 AND o.sent),
               sum(o.conversions) FILTER (WHERE o.sent AND o.conversions > 0),
               sum(o.revenue) FILTER (WHERE o.sent AND o.conversions > 0),
               sum(o.revenue * o.revenue) FILTER (WHERE o.sent AND o.conversions > 0)
          FROM (SELECT 'all' AS part, NULL::text AS segment, (x.sent_at AT TIME ZONE 'UTC')::date AS sent_day, x.*
                  FROM personalize.send_outcomes x
                 WHERE breakdowns
                UNION ALL
                SELECT 'segment', s.name, (x.sent_at AT TIME ZONE 'UTC')::date, x.*
                  FROM personalize.send_outcomes x
                  JOIN personalize.segment_members m ON m.profile_id = x.profile_id AND m.entered_at <= x.sent_at
                  JOIN personalize.segments s ON s.segment_id = m.segment_id
                 WHERE breakdowns) o
         GROUP BY o.campaign_id, o.part, o.segment, o.sent_day, o.variant
    )
    SELECT g.campaign_id, g.part,
           coalesce(nullif(concat_ws(' ', CASE WHEN g.part = 'segment' THEN 'segment' END,
                                     CASE WHEN GROUPING(g.sent_day) = 0 THEN 'day' END,
                                     CASE WHEN GROUPING(g.variant) = 0 THEN 'variant' END), ''), 'campaign'),
           g.segment, g.sent_day, g.variant, g.part = 'all' AND GROUPING(g.variant, g.sent_day) = 3,
           sum(g.sent)::bigint, sum(g.delivered)::bigint, sum(g.bounced)::bigint, sum(g.unique_opens)::bigint,
           sum(g.machine_opens)::bigint, sum(g.unique_clicks)::bigint, sum(g.unsubscribes)::bigint,
           sum(g.complaints)::bigint, sum(g.converters)::bigint,
           coalesce(sum(g.conversions), 0), coalesce(sum(g.revenue), 0),
           CASE WHEN sum(g.sent) > 0 THEN coalesce(sum(g.revenue), 0) / sum(g.sent) END,
           personalize._sample_variance(sum(g.sent), coalesce(sum(g.revenue), 0), coalesce(sum(g.revenue_squares), 0))
      FROM partial g
     GROUP BY GROUPING SETS ((g.campaign_id, g.part, g.segment, g.per_send), (g.campaign_id, g.part, g.segment, g.per_send, g.variant),
                             (g.campaign_id, g.part, g.segment, g.per_send, g.sent_day),
                             (g.campaign_id, g.part, g.segment, g.per_send, g.sent_day, g.variant))
    -- per campaign and per variant from per_variant; the per-send rows for the rest
    HAVING CASE WHEN g.per_send THEN g.part = 'segment' OR GROUPING(g.sent_day) = 0 ELSE GROUPING(g.sent_day) = 1 END
$$;
COMMENT ON FUNCTION personalize._campaign_counts(boolean) IS
'Counts of campaign sends per campaign and variant, and (when breakdowns) per UTC day of sending and segment of the recipient';

-- _campaign_counts with the rates and their 95% Wilson intervals: open rate, CTR and conversion
-- rate over delivered, click-to-open over opens.
CREATE FUNCTION personalize._campaign_rates(breakdowns boolean)
RETURNS SETOF personalize.campaign_rate
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
-- JIT compiling this query costs seconds (its never-run last_send branch looks costly) and saves nothing
SET jit = off
AS $$
    SELECT k.*, o.rate, o.lower, o.upper, c.rate, c.lower, c.upper, t.rate, t.lower, t.upper, v.rate, v.lower, v.upper
      FROM personalize._campaign_counts(breakdowns) k,
           personalize.wilson_interval(k.unique_opens, k.delivered) o,
           personalize.wilson_interval(k.unique_clicks, k.delivered) c,
           personalize.wilson_interval(least(k.unique_clicks, k.unique_opens), k.unique_opens) t,
           personalize.wilson_interval(k.converters, k.delivered) v
$$;
COMMENT ON FUNCTION personalize._campaign_rates(boolean) IS
'_campaign_counts with open rate, CTR, click-to-open and conversion rate, each with its 95% Wilson interval';

CREATE VIEW personalize.campaign_counts AS SELECT * FROM personalize._campaign_counts(true);
COMMENT ON VIEW personalize.campaign_counts IS
'Counts per campaign, variant, UTC day of sending and segment (breakdown says which): sent, delivered, bounced, unique opens and clicks, unsubscribes, complaints, converters, conversions, revenue';

CREATE VIEW personalize.campaign_rates AS SELECT * FROM personalize._campaign_rates(true);
COMMENT ON VIEW personalize.campaign_rates IS
'campaign_counts with open rate, CTR, click-to-open and conversion rate, each with its 95% Wilson interval';

CREATE VIEW personalize.campaign_metrics AS
SELECT c.name AS campaign, r.* FROM personalize._campaign_rates(false) r
  JOIN personalize.campaigns c USING (campaign_id) WHERE r.breakdown = 'campaign';
COMMENT ON VIEW personalize.campaign_metrics IS
'Per campaign: sent, delivered, bounced, unique opens, open rate, unique clicks, CTR, click-to-open, unsubscribes, complaints, conversions, conversion rate, revenue, revenue per recipient; rates over delivered with 95% Wilson intervals';

-- The comparison of a variant's row with its control's on a primary metric: the successes of
-- each, the two-sided p-value (pooled z-test on the rate of open, click or conversion over
-- delivered; Welch's t-test on revenue per recipient) and, for rates, the difference with its
-- 95% Newcombe interval.
CREATE FUNCTION personalize._versus_control(metric text, ctl personalize.campaign_rate, v personalize.campaign_rate,
                                            OUT successes_control bigint, OUT successes bigint, OUT p_value float8,
                                            OUT difference float8, OUT difference_lower float8, OUT difference_upper float8)
RETURNS record
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.a, s.b,
           CASE WHEN metric = 'revenue' THEN w.p_value ELSE z.p_value END,
           CASE WHEN metric <> 'revenue' THEN n.difference END,
           CASE WHEN metric <> 'revenue' THEN n.lower END,
           CASE WHEN metric <> 'revenue' THEN n.upper END
      FROM (SELECT CASE metric WHEN 'open' THEN ctl.unique_opens WHEN 'click' THEN ctl.unique_clicks ELSE ctl.converters END AS a,
                   CASE metric WHEN 'open' THEN v.unique_opens WHEN 'click' THEN v.unique_clicks ELSE v.converters END AS b) s
      CROSS JOIN LATERAL personalize.z_test(s.a, ctl.delivered, s.b, v.delivered) z
      CROSS JOIN LATERAL personalize.newcombe_interval(s.a, ctl.delivered, s.b, v.delivered) n
      LEFT JOIN LATERAL personalize.welch_test(ctl.sent, ctl.revenue_per_recipient, coalesce(ctl.revenue_variance, 0),
                                               v.sent, v.revenue_per_recipient, coalesce(v.revenue_variance, 0)) w
             ON ctl.sent > 0 AND v.sent > 0
$$;
COMMENT ON FUNCTION personalize._versus_control(text, personalize.campaign_rate, personalize.campaign_rate) IS
'A variant''s row against its control''s on a primary metric: successes of each, p-value (z-test, or Welch for revenue) and the rate difference with its Newcombe interval';

-- Per variant, with the comparison against the campaign's control on its primary metric
-- (_versus_control), the always-valid sequential test, and the probability that the variant is
-- best among the campaign's variants.
CREATE VIEW personalize.variant_metrics AS
WITH rows AS MATERIALIZED (
    SELECT r AS counts, c.name AS campaign, r.campaign_id, r.variant, ru.primary_metric, ru.experiment_id,
           CASE ru.primary_metric WHEN 'open' THEN r.unique_opens WHEN 'click' THEN r.unique_clicks
                ELSE r.converters END AS successes
      FROM personalize._campaign_rates(false) r
      JOIN personalize.campaigns c USING (campaign_id)
      JOIN personalize.campaign_rules ru USING (campaign_id)
     WHERE r.breakdown = 'variant' AND r.variant IS NOT NULL
), control AS (
    SELECT DISTINCT ON (rw.campaign_id) rw.*
      FROM rows rw
      LEFT JOIN personalize.experiment_variants ev ON ev.experiment_id = rw.experiment_id AND ev.variant = rw.variant
     ORDER BY rw.campaign_id, ev.is_control DESC NULLS LAST, ev.position, rw.variant
), best AS (
    SELECT rw.campaign_id, array_agg(rw.variant ORDER BY rw.variant) AS variants,
           (personalize.bayes_best(array_agg(rw.successes ORDER BY rw.variant),
                                   array_agg((rw.counts).delivered ORDER BY rw.variant))).probability_best
      FROM rows rw GROUP BY rw.campaign_id HAVING count(*) BETWEEN 2 AND 32
)
SELECT rw.campaign, (rw.counts).*, rw.primary_metric, rw.experiment_id, rw.successes,
       ctl.variant AS control, rw.variant = ctl.variant AS is_control,
       x.p_value, x.difference, x.difference_lower, x.difference_upper,
       CASE WHEN rw.variant <> ctl.variant AND rw.primary_metric <> 'revenue' THEN q.conclusive END AS sequential_conclusive,
       b.probability_best[array_position(b.variants, rw.variant)] AS probability_best
  FROM rows rw
  JOIN control ctl USING (campaign_id)
  LEFT JOIN best b USING (campaign_id)
  LEFT JOIN personalize.experiments x0 ON x0.experiment_id = rw.experiment_id
  LEFT JOIN LATERAL personalize._versus_control(rw.primary_metric, ctl.counts, rw.counts) x ON rw.variant <> ctl.variant
  CROSS JOIN LATERAL personalize.sequential_test(ctl.successes, (ctl.counts).delivered, rw.successes, (rw.counts).delivered,
                                                 coalesce(x0.alpha, 0.05), coalesce(x0.tau, 0.01)) q;
COMMENT ON VIEW personalize.variant_metrics IS
'Per campaign and variant: the campaign_metrics columns, and against the control on the primary metric the p-value, the difference with its Newcombe interval, the sequential test''s verdict and the probability of being best';

-- Per campaign and UTC day of sending, per day and variant, per segment of the recipient (one
-- the recipient had entered when the send went and still belongs to) and per segment and
-- variant: the counts and rates with their intervals, and for a variant's row the comparison
-- with the control's row of the same day or segment on the campaign's primary metric.
CREATE VIEW personalize.breakdown_metrics AS
WITH r AS MATERIALIZED (
    SELECT k AS counts, k.campaign_id, k.breakdown, k.segment, k.sent_day, k.variant
      FROM personalize._campaign_rates(true) k WHERE k.breakdown NOT IN ('campaign', 'variant')
), ctl AS (
    SELECT DISTINCT ON (r.campaign_id, r.breakdown, r.segment, r.sent_day) r.*
      FROM r JOIN personalize.campaign_rules ru USING (campaign_id)
      LEFT JOIN personalize.experiment_variants ev ON ev.experiment_id = ru.experiment_id AND ev.variant = r.variant
     WHERE r.variant IS NOT NULL
     ORDER BY r.campaign_id, r.breakdown, r.segment, r.sent_day, ev.is_control DESC NULLS LAST, ev.position, r.variant
), best AS (
    -- the probability of being best on the primary rate among the variants of the same day or segment
    SELECT r.campaign_id, r.breakdown, r.segment, r.sent_day, array_agg(r.variant ORDER BY r.variant) AS variants,
           (personalize.bayes_best(array_agg(CASE ru.primary_metric WHEN 'open' THEN (r.counts).unique_opens
                                                 WHEN 'click' THEN (r.counts).unique_clicks ELSE (r.counts).converters END
                                             ORDER BY r.variant),
                                   array_agg((r.counts).delivered ORDER BY r.variant))).probability_best
      FROM r JOIN personalize.campaign_rules ru USING (campaign_id)
     WHERE r.variant IS NOT NULL
     GROUP BY r.campaign_id, r.breakdown, r.segment, r.sent_day HAVING count(*) BETWEEN 2 AND 32
)
SELECT c.name AS campaign, (r.counts).*, ru.primary_metric, ctl.variant AS control,
       x.p_value, x.difference, x.difference_lower, x.difference_upper,
       b.probability_best[array_position(b.variants, r.variant)] AS probability_best
  FROM r
  JOIN personalize.campaigns c USING (campaign_id)
  JOIN personalize.campaign_rules ru USING (campaign_id)
  LEFT JOIN ctl ON r.variant IS NOT NULL AND ctl.campaign_id = r.campaign_id AND ctl.breakdown = r.breakdown
                AND ctl.segment IS NOT DISTINCT FROM r.segment AND ctl.sent_day IS NOT DISTINCT FROM r.sent_day
  LEFT JOIN best b ON r.variant IS NOT NULL AND b.campaign_id = r.campaign_id AND b.breakdown = r.breakdown
                 AND b.segment IS NOT DISTINCT FROM r.segment AND b.sent_day IS NOT DISTINCT FROM r.sent_day
  LEFT JOIN LATERAL personalize._versus_control(ru.primary_metric, ctl.counts, r.counts) x ON r.variant <> ctl.variant;
COMMENT ON VIEW personalize.breakdown_metrics IS
'Per campaign and day of sending, segment of the recipient, and either with variant: counts, rates with 95% Wilson intervals, a variant against the control of its day or segment, and its probability of being best there';

CREATE VIEW personalize.daily_metrics AS
SELECT * FROM personalize.breakdown_metrics WHERE part = 'all' AND breakdown IN ('day', 'day variant');
COMMENT ON VIEW personalize.daily_metrics IS
'Per campaign and UTC day of sending (variant NULL) and per day and variant: counts, rates with intervals, each variant against the control of that day';

CREATE VIEW personalize.segment_metrics AS
SELECT * FROM personalize.breakdown_metrics WHERE breakdown IN ('segment', 'segment variant');
COMMENT ON VIEW personalize.segment_metrics IS
'Per campaign and segment of the recipient (variant NULL) and per segment and variant: counts, rates with intervals, each variant against the control within the segment';

REVOKE ALL ON FUNCTION personalize._sample_variance(numeric, numeric, numeric),
    personalize._campaign_counts(boolean), personalize._campaign_rates(boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION personalize._sample_variance(numeric, numeric, numeric),
    personalize._campaign_counts(boolean), personalize._campaign_rates(boolean)
    TO personalize_admin, personalize_analyst;
REVOKE ALL ON FUNCTION personalize._versus_control(text, personalize.campaign_rate, personalize.campaign_rate) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION personalize._versus_control(text, personalize.campaign_rate, personalize.campaign_rate)
    TO personalize_admin, personalize_analyst;
GRANT SELECT ON personalize.campaign_rules, personalize.send_conversions, personalize.send_outcomes, personalize.campaign_counts,
    personalize.campaign_rates, personalize.campaign_metrics, personalize.variant_metrics,
    personalize.breakdown_metrics, personalize.daily_metrics, personalize.segment_metrics
    TO personalize_admin, personalize_analyst;
