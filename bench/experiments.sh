# bench/experiments.sh: experiment metrics for bench/run (sourced by it). EXPERIMENT_SENDS
# (default 1,000,000) finished campaign sends over 20 campaigns of two variants each, with about
# 1.8 events per send (delivered; opens, machine opens, clicks, a few bounces, unsubscribes and
# complaints; orders from 12% of the recipients over the next 10 days), then:
# (The events go in with the triggers off, and rebuild_send_outcomes() then computes the per-send
# outcomes that ingest keeps, timed once.)
#   experiment_metrics  SELECT * FROM personalize.variant_metrics against the straightforward SQL an
#                       analyst would write (joins, count(DISTINCT), the last touch of each order by
#                       the index on (profile_id, occurred_at)), after checking both give the same numbers (aim: 3x).
# Run alone with `BENCHMARKS=experiment_metrics make bench`.

# Once: the campaigns, sends (straight into send_history, as sent) and their feedback events.
prepare_experiment_history() {
  [ -n "${experiment_ready:-}" ] && return 0
  local n=${EXPERIMENT_SENDS:-1000000}
  psql_run -q <<SQL >/dev/null
SELECT personalize.maintain('2026-03-15', 2, 2);
SELECT setseed(0.25);
INSERT INTO personalize.templates (name, subject, html_body, text_body) VALUES ('b', 'B', '<p>b</p>', 'b');
INSERT INTO personalize.profiles (profile_id, user_id)
SELECT g, 'b' || g FROM generate_series(1, $n / 4) g;
SELECT personalize.create_segment('bench_all', '{"trait": "plan", "value": "x"}', '2026-03-01');
SELECT personalize.create_experiment('bench_' || c, '[{"name": "A"}, {"name": "B"}]') FROM generate_series(1, 20) c;
INSERT INTO personalize.campaigns (name, audience, audience_tree, template, experiment)
SELECT 'bench_' || c, 'bench_all', '"bench_all"', 'b', 'bench_' || c FROM generate_series(1, 20) c;
CREATE TEMP TABLE bench_sends AS
SELECT g AS send_id, 1 + (g % ($n / 4)) AS profile_id, 1 + g % 20 AS campaign_id, CASE WHEN random() < 0.5 THEN 'A' ELSE 'B' END AS variant,
       timestamptz '2026-03-01' + (g % 20) * interval '1 day' AS sent_at, random() AS r1, random() AS r2, random() AS r3
  FROM generate_series(1, $n) g;
INSERT INTO personalize.send_history (send_id, profile_id, campaign_id, campaign_run, template, variant, kind, priority,
                                      idempotency_key, status, attempts, available_at, created_at, sent_at, finished_at, extra)
SELECT send_id, profile_id, campaign_id, 1, 'b', variant, 'marketing', 0, 'bench:' || send_id, 'sent', 1, sent_at, sent_at,
       sent_at, sent_at, '{}' FROM bench_sends;
SELECT setval('personalize.send_id_seq', $n);
ALTER TABLE personalize.events DISABLE TRIGGER USER;
INSERT INTO personalize.events (profile_id, occurred_at, event, user_id, properties, message_id, event_id)
SELECT s.profile_id, s.sent_at + f.after, f.event, 'b' || s.profile_id, f.props || jsonb_build_object('send_id', s.send_id),
       'bench:' || f.event || ':' || s.send_id, nextval('personalize.event_id_seq')
  FROM bench_sends s,
       LATERAL (VALUES ('Email Delivered', interval '1 minute', '{}'::jsonb, s.r1 >= 0.02),
                       ('Email Bounced', interval '1 minute', '{"bounce_type": "soft"}', s.r1 < 0.02),
                       ('Email Opened', interval '2 hours' * s.r2, '{}', s.r1 >= 0.02 AND s.r2 < CASE s.variant WHEN 'A' THEN 0.50 ELSE 0.55 END),
                       ('Email Opened', interval '1 minute', '{"machine_open": true}', s.r1 BETWEEN 0.5 AND 0.55),
                       ('Email Clicked', interval '3 hours' * s.r2, '{}', s.r1 >= 0.02 AND s.r2 < 0.5 AND s.r3 < 0.30),
                       ('Unsubscribed', interval '5 hours', '{}', s.r1 > 0.998),
                       ('Email Marked as Spam', interval '5 hours', '{}', s.r1 BETWEEN 0.7 AND 0.7005)) f(event, after, props, happens)
 WHERE f.happens;
INSERT INTO personalize.events (profile_id, occurred_at, event, user_id, properties, message_id, event_id)
SELECT s.profile_id, s.sent_at + interval '1 day' * s.r3 * 10, 'Order Completed', 'b' || s.profile_id,
       jsonb_build_object('order_id', 'o' || s.send_id, 'revenue', round((10 + 90 * s.r2)::numeric, 2)), 'bench:order:' || s.send_id,
       nextval('personalize.event_id_seq')
  FROM bench_sends s WHERE s.r3 < 0.12;
ALTER TABLE personalize.events ENABLE TRIGGER USER;
VACUUM ANALYZE personalize.events;
VACUUM ANALYZE personalize.send_history;
SQL
  # the events went in with the triggers off: the per-send outcomes ingest keeps are computed once
  local t0=$(date +%s.%N)
  psql_run -q -c "SELECT personalize.rebuild_send_outcomes()" -c "VACUUM ANALYZE personalize.send_feedback, personalize.send_touches, personalize.order_touches" >/dev/null
  echo "  rebuild_send_outcomes over the history: $(echo "$(date +%s.%N) - $t0" | bc) s"
  experiment_ready=1
  psql_run -At -c "SELECT (SELECT count(*) FROM personalize.send_history), (SELECT count(*) FROM personalize.events)" |
    awk -F'|' '{printf "  experiment history: %s sends, %s events (feedback and orders)\n", $1, $2}'
}

# The analyst's query: per campaign and variant, the counts of variant_metrics.
experiment_analyst_sql() {
  cat <<'SQL'
WITH s AS (
    SELECT * FROM personalize.send_history WHERE campaign_id IS NOT NULL AND status = 'sent'
), fb AS (
    SELECT (properties ->> 'send_id')::bigint AS send_id, event, properties, occurred_at, profile_id
      FROM personalize.events WHERE properties ? 'send_id'
), orders AS (
    SELECT o.profile_id, o.occurred_at, (o.properties ->> 'revenue')::numeric AS revenue, t.send_id, t.touch_at
      FROM personalize.events o
      LEFT JOIN LATERAL (
          SELECT (e.properties ->> 'send_id')::bigint AS send_id, e.occurred_at AS touch_at
            FROM personalize.events e
           WHERE e.profile_id = o.profile_id AND e.occurred_at <= o.occurred_at AND e.properties ? 'send_id'
             AND (e.event = 'Email Clicked' OR (e.event = 'Email Opened' AND (e.properties ->> 'machine_open') IS NULL))
           ORDER BY e.occurred_at DESC LIMIT 1) t ON true
     WHERE o.event = 'Order Completed'
), attributed AS (
    SELECT * FROM orders WHERE send_id IS NOT NULL AND occurred_at - touch_at <= interval '7 days'
), conv AS (
    SELECT s.campaign_id, s.variant, count(*) AS conversions, count(DISTINCT a.send_id) AS converters, sum(a.revenue) AS revenue
      FROM attributed a JOIN s USING (send_id) GROUP BY 1, 2
), counts AS (
    SELECT s.campaign_id, s.variant,
           count(DISTINCT s.send_id) AS sent,
           count(DISTINCT s.send_id) - count(DISTINCT b.send_id) AS delivered,
           count(DISTINCT b.send_id) AS bounced,
           count(DISTINCT op.send_id) FILTER (WHERE b.send_id IS NULL) AS unique_opens,
           count(DISTINCT ck.send_id) FILTER (WHERE b.send_id IS NULL) AS unique_clicks,
           count(DISTINCT un.send_id) AS unsubscribes,
           count(DISTINCT sp.send_id) AS complaints
      FROM s
      LEFT JOIN fb b ON b.send_id = s.send_id AND b.event = 'Email Bounced'
      LEFT JOIN fb op ON op.send_id = s.send_id AND op.event = 'Email Opened' AND (op.properties ->> 'machine_open') IS NULL
      LEFT JOIN fb ck ON ck.send_id = s.send_id AND ck.event = 'Email Clicked'
      LEFT JOIN fb un ON un.send_id = s.send_id AND un.event = 'Unsubscribed'
      LEFT JOIN fb sp ON sp.send_id = s.send_id AND sp.event = 'Email Marked as Spam'
     GROUP BY 1, 2
)
SELECT c.*, coalesce(v.converters, 0) AS converters, coalesce(v.conversions, 0) AS conversions, coalesce(v.revenue, 0) AS revenue
  FROM counts c LEFT JOIN conv v USING (campaign_id, variant)
SQL
}

bench_experiment_metrics() {
  prepare_experiment_history
  local rows view base same
  rows=$(psql_run -At -c "SELECT count(*) FROM personalize.send_history")
  same=$(psql_run -At <<SQL
SET max_parallel_workers_per_gather = 0; SET work_mem = '64MB';
SELECT count(*) FROM ($(experiment_analyst_sql)) a
  FULL JOIN personalize.variant_metrics m USING (campaign_id, variant)
 WHERE (a.sent, a.delivered, a.bounced, a.unique_opens, a.unique_clicks, a.unsubscribes, a.complaints, a.converters, a.conversions, a.revenue)
       IS DISTINCT FROM (m.sent, m.delivered, m.bounced, m.unique_opens, m.unique_clicks, m.unsubscribes, m.complaints, m.converters, m.conversions, m.revenue);
SQL
)
  view=$(time_query "SELECT * FROM personalize.variant_metrics")
  base=$(time_query "$(experiment_analyst_sql)")
  echo "  experiment_metrics: variant_metrics (counts, intervals, tests, P(best)) vs the analyst's counts alone; rows differing: $(echo "$same" | tail -1) (aim: 0 and 3x)"
  print_figure experiment_metrics "$rows" "$view" "$base"
}
