-- A seeded campaign with an A/B experiment and a 10% holdout, sent to 3,000 subscribers on
-- 2026-03-10 09:00 UTC, with feedback and orders drawn from fixed rates by setseed():
-- A (control) opens 20%, B 26%; a human opener clicks 30% (A) or 40% (B); 3% of all opens are
-- machine opens (Apple MPP style, "machine_open": true); a clicker orders 25% of the time within
-- 2 days (revenue 20 to 120), and 20 more orders come 10 days later (outside the 7-day window).
-- Used by sql/experiment_metrics.sql and test/suites/campaign_report.
SET timezone = 'UTC';
SELECT personalize.maintain('2026-03-15', 1, 1) >= 0 AS partitions;
SELECT count(personalize.identify('u' || g, jsonb_build_object('plan', 'news'), NULL, '2026-03-01')) AS profiles
  FROM generate_series(1, 3000) g;
UPDATE personalize.profiles SET email = user_id || '@example.com';
SELECT count(personalize.set_consent(profile_id, 'subscribed', NULL, NULL, 'fixture', '2026-03-01')) AS subscribed
  FROM personalize.profiles;
SELECT personalize.create_segment('newsletter', '{"trait": "plan", "value": "news"}', '2026-03-01') > 0 AS segment;
INSERT INTO personalize.templates (name, subject, html_body, text_body) VALUES
  ('spring_a', 'Spring sale', '<p>Spring sale, {{ traits.plan }}</p>', 'Spring sale'),
  ('spring_b', 'Spring sale', '<p>Spring sale: 20% off</p>', 'Spring sale: 20% off');
SELECT personalize.create_experiment('spring subject', '[
    {"name": "A", "template": "spring_a", "control": true},
    {"name": "B", "template": "spring_b", "subject": "20% off everything, today only"}]',
    holdout_percent => 10, primary_metric => 'click') AS experiment_id;
SELECT personalize.create_campaign('spring', 'newsletter', 'spring_a') AS campaign_id;
SELECT personalize.alter_campaign('spring', '{"experiment": "spring subject"}') IS NOT NULL AS altered;
SELECT run_id, queued, deferred, suppressed, existing FROM personalize.launch_campaign('spring', '2026-03-10 09:00');
CREATE TEMP TABLE fixture_claimed AS SELECT * FROM personalize.claim_sends('fixture', 10000, '1 hour', '2026-03-10 09:00');
SELECT count(*) AS claimed FROM fixture_claimed;
SELECT count(personalize.complete_send(send_id, 'esp-' || send_id, '2026-03-10 09:01')) AS completed
  FROM personalize.sends WHERE status = 'leased';

-- feedback, drawn in send_id order from one seed
SELECT setseed(0.5);
CREATE TEMP TABLE fixture_draws AS
SELECT s.send_id, s.profile_id, s.variant, p.user_id, random() AS r_open, random() AS r_machine, random() AS r_click,
       random() AS r_order, random() AS r_amount, random() AS r_bounce
  FROM personalize.sends_all s JOIN personalize.profiles p USING (profile_id)
 WHERE s.campaign_id IS NOT NULL AND s.status = 'sent' ORDER BY s.send_id;
INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id)
SELECT d.user_id, f.event,
       f.properties || CASE WHEN f.event = 'Order Completed' THEN jsonb_build_object('order_id', 'o-' || d.send_id)
                            ELSE jsonb_build_object('send_id', d.send_id, 'variant', d.variant) END,
       f.at, 'fixture:' || f.event || ':' || d.send_id
  FROM fixture_draws d,
       LATERAL (VALUES
         ('Email Bounced', '{"bounce_type": "soft"}'::jsonb, timestamptz '2026-03-10 09:02', d.r_bounce < 0.02),
         ('Email Delivered', '{}', '2026-03-10 09:02', d.r_bounce >= 0.02),
         ('Email Opened', '{"machine_open": true}', '2026-03-10 09:03', d.r_bounce >= 0.02 AND d.r_machine < 0.03),
         ('Email Opened', '{}', '2026-03-10 10:00'::timestamptz + (d.r_open * 100) * interval '1 hour',
          d.r_bounce >= 0.02 AND d.r_open < CASE d.variant WHEN 'A' THEN 0.20 ELSE 0.26 END),
         ('Email Clicked', '{}', '2026-03-10 10:05'::timestamptz + (d.r_open * 100) * interval '1 hour',
          d.r_bounce >= 0.02 AND d.r_open < CASE d.variant WHEN 'A' THEN 0.20 ELSE 0.26 END
          AND d.r_click < CASE d.variant WHEN 'A' THEN 0.30 ELSE 0.40 END),
         ('Order Completed', jsonb_build_object('revenue', round((20 + d.r_amount * 100)::numeric, 2)),
          '2026-03-10 11:00'::timestamptz + (d.r_open * 100) * interval '1 hour',
          d.r_bounce >= 0.02 AND d.r_open < CASE d.variant WHEN 'A' THEN 0.20 ELSE 0.26 END
          AND d.r_click < CASE d.variant WHEN 'A' THEN 0.30 ELSE 0.40 END AND d.r_order < 0.25),
         ('Unsubscribed', '{}', '2026-03-10 12:00', d.r_bounce >= 0.02 AND d.r_machine > 0.995),
         ('Email Marked as Spam', '{}', '2026-03-10 12:00', d.r_bounce >= 0.02 AND d.r_machine BETWEEN 0.5 AND 0.502)
       ) AS f(event, properties, at, happens)
 WHERE f.happens;
-- orders long after the window, from profiles who clicked: never attributed
INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id)
SELECT p.user_id, 'Order Completed', jsonb_build_object('order_id', 'late-' || p.user_id, 'revenue', 999), '2026-03-25',
       'fixture:late:' || p.user_id
  FROM personalize.profiles p ORDER BY p.profile_id LIMIT 20;
