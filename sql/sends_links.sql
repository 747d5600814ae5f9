-- Links and feedback: signed unsubscribe tokens (HMAC-SHA256, rotation, tampering, expiry),
-- one-click unsubscribe, UTM tagging of HTML links, delivery feedback events and suppressions.
CREATE EXTENSION personalize;
\set VERBOSITY terse
SET timezone = 'UTC';
SELECT personalize.maintain('2026-03-15', 1, 1);
SELECT array_agg(personalize.identify(u, jsonb_build_object('name', u), NULL, '2026-03-01') ORDER BY u) AS ids
  FROM unnest(ARRAY['ann', 'bo', 'cy']) u;
UPDATE personalize.profiles SET email = user_id || '@example.com';
SELECT count(*) FROM (SELECT personalize.set_consent(profile_id, 'subscribed', as_of => '2026-03-01') FROM personalize.profiles) x;
INSERT INTO personalize.templates (name, subject, html_body, text_body) VALUES
  ('news', 'News', '<a href="https://shop.example/sale">Sale</a> <a href="{{ unsubscribe_url }}">Unsubscribe</a>', '{{ unsubscribe_url }}');
CREATE ROLE regress_writer IN ROLE personalize_writer;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'no error'; EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;

-- HMAC-SHA256 against RFC 4231 test case 1 (key 20 x 0x0b, "Hi There")
SELECT encode(personalize._hmac_sha256(decode(repeat('0b', 20), 'hex'), 'Hi There'), 'hex')
     = 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7' AS rfc4231_case1;

-- a known signing key, so that tokens can be computed independently:
-- python3: hmac.new(bytes(range(32)), b'v1.1.1.1773136800', sha256).hexdigest()[:32]
--          == 'a8812492ccb488284ca24b7b0dd09f8e' (send 1 issued 2026-03-10 10:00 UTC = 1773136800)
INSERT INTO personalize.unsubscribe_secrets (key_id, secret)
SELECT 1, decode(string_agg(lpad(to_hex(i), 2, '0'), '' ORDER BY i), 'hex') FROM generate_series(0, 31) i;
UPDATE personalize.send_settings SET unsubscribe_base_url = 'https://mail.example/unsubscribe?token=';
SELECT personalize.enqueue_send('news', p, 'marketing', '{}', 'n:' || p, NULL, 0, '2026-03-10 10:00') FROM generate_series(1, 3) p;
SELECT send_id, headers ->> 'List-Unsubscribe' AS list_unsubscribe, text FROM personalize.claim_sends('w', 10, '5 min', '2026-03-10 10:00');

-- one-click unsubscribe: consent changes once, with the send as its source
SET ROLE regress_writer;
SELECT personalize.unsubscribe('v1.1.1.1773136800.a8812492ccb488284ca24b7b0dd09f8e', '2026-03-10 10:05');
SELECT personalize.unsubscribe('v1.1.1.1773136800.a8812492ccb488284ca24b7b0dd09f8e', '2026-03-10 10:06');
SELECT pg_temp.err($$SELECT * FROM personalize.unsubscribe_secrets$$);
RESET ROLE;
SELECT profile_id, changed_at, email_consent, source FROM personalize.consent_log WHERE source LIKE 'unsubscribe%';
SELECT user_id, email_consent FROM personalize.profiles ORDER BY 1;
-- tampered, malformed, unknown key, expired (valid for unsubscribe_token_ttl, 1 year): refused, nothing changes
SELECT pg_temp.err($$SELECT personalize.unsubscribe('v1.1.2.1773136800.a8812492ccb488284ca24b7b0dd09f8e', '2026-03-10 10:05')$$);
SELECT pg_temp.err($$SELECT personalize.unsubscribe('v1.1.2.1773136801.b528591c78e4045b84d550fd7b29289c', '2026-03-10 10:05')$$);
SELECT pg_temp.err($$SELECT personalize.unsubscribe('v1.1.2.1773136800.b528591c78e4045b84d550fd7b29289', '2026-03-10 10:05')$$);
SELECT pg_temp.err($$SELECT personalize.unsubscribe('v1.9.2.1773136800.b528591c78e4045b84d550fd7b29289c', '2026-03-10 10:05')$$);
SELECT pg_temp.err($$SELECT personalize.unsubscribe('v1.1.2.1773136800.b528591c78e4045b84d550fd7b29289c', '2027-03-10 10:00:01')$$);
SELECT pg_temp.err($$SELECT personalize.unsubscribe(NULL)$$);
SELECT user_id, email_consent FROM personalize.profiles ORDER BY 1;

-- rotation: a new key signs from now on; the old one verifies until it is retired
SELECT personalize.rotate_unsubscribe_secret();
SELECT personalize._unsubscribe_token(3, '2026-03-10 10:00') ~ '^v1\.2\.3\.1773136800\.[0-9a-f]{32}$' AS new_key_signs;
SELECT personalize.rotate_unsubscribe_secret((SELECT created_at FROM personalize.unsubscribe_secrets WHERE key_id = 2));
SELECT key_id, retired_at IS NOT NULL AS retired FROM personalize.unsubscribe_secrets ORDER BY 1;
SELECT pg_temp.err($$SELECT personalize.unsubscribe('v1.1.2.1773136800.b528591c78e4045b84d550fd7b29289c', '2026-03-10 10:05')$$);

-- UTM tagging: http(s) links get the parameters after their query, before their fragment;
-- mailto:, anchors, relative links and links already tagged are left as they are
SELECT personalize.utm_tag(
  '<a href="https://a.example/">1</a> <a HREF = ''http://b.example/p?x=1&amp;y=2#frag''>2</a> '
  '<a href="mailto:hi@example.com">3</a> <a href="#top">4</a> <a href="/relative">5</a> '
  '<a href="https://c.example/?utm_source=own">6</a> <a href="https://d.example/q?">7</a>',
  '{"source": "newsletter", "medium": "email", "campaign": "Frühling 2026"}');
SELECT personalize.utm_tag('<p>no links</p>', '{"source": "x"}'), personalize.utm_tag(NULL, '{"source": "x"}'),
       personalize.utm_tag('<a href="https://a.example/">1</a>', NULL);

-- feedback events carry send_id; a hard bounce or a complaint suppresses the send's profile
SET ROLE regress_writer;
SELECT personalize.record_delivery(2, 'delivered', '{}', '2026-03-10 10:01');
SELECT personalize.record_delivery(2, 'delivered', '{}', '2026-03-10 10:02');
SELECT personalize.record_delivery(2, 'opened', '{"machine": true}', '2026-03-10 11:00');
SELECT personalize.record_delivery(2, 'opened', '{}', '2026-03-10 12:00');
SELECT personalize.record_delivery(2, 'clicked', '{"url": "https://shop.example/sale"}', '2026-03-10 12:01');
SELECT personalize.record_delivery(2, 'bounced', '{"bounce_type": "soft"}', '2026-03-10 12:02');
RESET ROLE;
SELECT count(*) AS suppressions FROM personalize.suppressions;
SELECT personalize.record_delivery(2, 'bounced', '{"bounce_type": "hard", "code": "550"}', '2026-03-10 12:03');
-- a complaint sent straight to the events table, as an ESP webhook might
INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id)
VALUES ('cy', 'Email Marked as Spam', '{"send_id": 3}', '2026-03-10 12:04', 'esp-complaint-1');
-- a copy of an event already recorded (same message_id) is dropped by ingest and suppresses nothing
INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id)
VALUES ('ann', 'Email Bounced', '{"send_id": 1, "bounce_type": "soft"}', '2026-03-10 12:05', 'esp-bounce-1');
INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id)
VALUES ('ann', 'Email Bounced', '{"send_id": 1, "bounce_type": "hard"}', '2026-03-10 12:06', 'esp-bounce-1');
SELECT profile_id, reason, source, send_id, suppressed_at FROM personalize.suppressions ORDER BY 1, 2;
SELECT event, properties - 'campaign_id' - 'template' - 'variant' AS properties, occurred_at
  FROM personalize.events WHERE event LIKE 'Email%' ORDER BY occurred_at;
SELECT user_id, email_consent FROM personalize.profiles ORDER BY 1;
-- the suppressed profiles get nothing, transactional mail included
SELECT p.* FROM personalize.send_policies(ARRAY[2, 3], 'transactional', NULL, '2026-03-11') p;

-- bad input
SELECT pg_temp.err($$SELECT personalize.record_delivery(2, 'exploded')$$);
SELECT pg_temp.err($$SELECT personalize.record_delivery(2, 'bounced')$$);
SELECT pg_temp.err($$SELECT personalize.record_delivery(2, 'opened', '[]')$$);
SELECT pg_temp.err($$SELECT personalize.record_delivery(424242, 'opened')$$);
SELECT pg_temp.err($$SELECT personalize._hmac_sha256('short', 'x')$$);
SELECT pg_temp.err($$SELECT personalize._random_bytes(0)$$);

DROP EXTENSION personalize;
DROP ROLE regress_writer;
