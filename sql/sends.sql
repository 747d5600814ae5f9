-- The outbox: enqueue (idempotent by key), claim (lease, render, headers), complete, fail with
-- backoff, dead letters, lease expiry on tick, requeue_dead, NOTIFY payloads, the sender role.
CREATE EXTENSION personalize;
\set VERBOSITY terse
SET timezone = 'UTC';
SELECT personalize.maintain('2026-03-15', 1, 1);
SELECT personalize.identify('ann', '{"name": "Ann"}', NULL, '2026-03-01') AS ann \gset
SELECT personalize.identify('bo', '{"name": "Bo"}', NULL, '2026-03-01') AS bo \gset
SELECT personalize.identify('cy', '{"name": "Cy"}', NULL, '2026-03-01') AS cy \gset
UPDATE personalize.profiles SET email = user_id || '@example.com';
INSERT INTO personalize.templates (name, subject, html_body, text_body) VALUES
  ('receipt', 'Order {{ order.id }} for {{ traits.name }}', '<p>{{ traits.name }}: {{ order.total }} <a href="{{ unsubscribe_url }}">x</a></p>',
   'Order {{ order.id }} (send {{ send.send_id }}, attempt {{ send.attempt }})'),
  ('fragile', 'Ratio {{ 1 | divided_by: traits.zero }}', '<p>ok</p>', 'ok');
UPDATE personalize.send_settings SET unsubscribe_base_url = 'https://mail.example/u?t=', message_id_domain = 'mail.example';
CREATE ROLE regress_sender IN ROLE personalize_sender;
CREATE ROLE regress_writer IN ROLE personalize_writer;

-- enqueue: one row (specs/sends_notify.spec checks its NOTIFY); the same key again is
-- the same send and enqueues nothing
SELECT personalize.enqueue_send('receipt', :ann, 'transactional', '{"order": {"id": "A-1", "total": 12.5}}',
                                'order:A-1', NULL, 0, '2026-03-10 10:00') AS s1 \gset
SELECT personalize.enqueue_send('receipt', :ann, 'transactional', '{"order": {"id": "A-1", "total": 99}}',
                                'order:A-1', NULL, 0, '2026-03-10 10:05') = :s1 AS same_send;
SELECT count(*) AS sends, count(*) FILTER (WHERE extra -> 'order' ->> 'total' = '12.5') AS first_extra_kept
  FROM personalize.sends_all;
-- a writer enqueues too (the application's transactional mail); a later send_at is deferred
SET ROLE regress_writer;
SELECT personalize.enqueue_send('receipt', :bo, 'transactional', '{"order": {"id": "B-1", "total": 3}}',
                                'order:B-1', '2026-03-10 12:00', 0, '2026-03-10 10:00') AS s2 \gset
SELECT personalize.enqueue_send('fragile', :cy, 'transactional', '{}', 'fragile:C', NULL, 0, '2026-03-10 10:00') AS s3 \gset
RESET ROLE;
SELECT send_id, profile_id, kind, status, attempts, available_at, template_version FROM personalize.sends ORDER BY send_id;

-- the sender role claims, completes and fails, and can do nothing else
SET ROLE regress_sender;
SELECT count(*) FROM personalize.sends;
SELECT personalize.enqueue_send('receipt', 1, 'transactional', '{}', 'x', NULL, 0, '2026-03-10 10:00');
SELECT personalize.send_policy(1, 'marketing', NULL, '2026-03-10');
-- claim at 10:01: the receipt to ann renders; the fragile one fails alone (render error, final);
-- bo's is not due before 12:00
SELECT send_id = :s1 AS is_s1, attempt, to_address, from_address, reply_to, subject, text,
       html ~ '^<p>Ann: 12.5 <a href="https://mail.example/u\?t=v1\.1\.[0-9]+\.1773136860\.[0-9a-f]{32}">x</a></p>$' AS html_ok,
       headers - 'Message-ID' AS headers, message_id = headers ->> 'Message-ID' AS mid_in_headers,
       message_id ~ ('^<' || send_id || '\.[0-9a-f]{16}@mail\.example>$') AS mid_form
  FROM personalize.claim_sends('w1', 10, '5 min', '2026-03-10 10:01');
RESET ROLE;
SELECT send_id, status, attempts, lease_until, leased_by, last_error FROM personalize.sends_all ORDER BY send_id;
-- the Message-ID is <send_id.first 16 hex of SHA-256(idempotency key)@domain>, the same on every attempt
SELECT personalize._message_id(:s1, 'order:A-1', 'mail.example') = '<' || :s1 || '.' || left(encode(sha256('order:A-1'), 'hex'), 16) || '@mail.example>' AS mid_rule;

-- nothing more is due at 10:02; a second claim gets nothing
SELECT count(*) FROM personalize.claim_sends('w2', 10, '5 min', '2026-03-10 10:02');

-- fail (retryable) queues again after the backoff: attempt 1 of send s1 waits
-- 60 s * (0.5 + bucket(s1, 'retry:1') / 20000); bucket is SHA-256("retry:1:<s1>")'s first 16 hex digits mod 10000
-- (python3: int(sha256(b'retry:1:1').hexdigest()[:16], 16) % 10000 == 7627), so 60 * 0.88135 = 52.881 s
SELECT :s1 = 1 AS s1_is_1, personalize.send_backoff(1, 1) = interval '52.881 seconds' AS backoff_1;
-- a large attempt (max_attempts may be 100) or backoff_base never overflows the interval: attempt 38
-- raised 22008 "interval out of range" before; past backoff_max the delay is backoff_max * (0.5 + bucket / 20000)
SELECT a, personalize.send_backoff(1, a) = interval '6 hours' * (0.5 + personalize.bucket(1, 'retry:' || a) / 20000.0) AS capped
  FROM unnest(ARRAY[10, 38, 41, 100]) a;
BEGIN;
UPDATE personalize.send_settings SET backoff_base = '100 years', backoff_max = '150 years';
SELECT personalize.send_backoff(1, 3) = interval '150 years' * (0.5 + personalize.bucket(1, 'retry:3') / 20000.0) AS capped_long;
ROLLBACK;
SET ROLE regress_sender;
SELECT personalize.fail_send(:s1, '421 try later', true, NULL, '2026-03-10 10:02');
RESET ROLE;
SELECT status, attempts, available_at, lease_until, last_error FROM personalize.sends WHERE send_id = :s1;
-- a Retry-After longer than the backoff wins
SELECT count(*) FROM personalize.claim_sends('w1', 10, '5 min', '2026-03-10 10:03');
SELECT personalize.fail_send(:s1, '429', true, '10 minutes', '2026-03-10 10:03');
SELECT status, attempts, available_at FROM personalize.sends WHERE send_id = :s1;
-- the same Message-ID on the retry; the text says attempt 3
SELECT attempt, text, message_id = personalize._message_id(:s1, 'order:A-1', 'mail.example') AS same_mid
  FROM personalize.claim_sends('w1', 10, '5 min', '2026-03-10 10:13');
-- complete: sent, moved to history; completing again changes nothing; failing a sent send neither
SET ROLE regress_sender;
-- the consumer names the provider that accepted the message (personalize-sender's provider list)
SELECT personalize.complete_send(:s1, 'esp-123', '2026-03-10 10:14', 'relay');
SELECT personalize.complete_send(:s1, 'esp-999', '2026-03-10 10:15', 'other');
SELECT personalize.fail_send(:s1, 'late', false, NULL, '2026-03-10 10:16');
RESET ROLE;
SELECT send_id, status, attempts, sent_at, finished_at, provider_message_id, provider FROM personalize.send_history WHERE send_id = :s1;
SELECT count(*) AS in_queue FROM personalize.sends WHERE send_id = :s1;

-- dead after max_attempts retryable failures: max_attempts 2 here
UPDATE personalize.send_settings SET max_attempts = 2;
SELECT attempt FROM personalize.claim_sends('w1', 10, '5 min', '2026-03-10 12:00');
SELECT personalize.fail_send(:s2, '451', true, NULL, '2026-03-10 12:01');
SELECT count(*) AS claimed_nothing_yet FROM personalize.claim_sends('w1', 10, '5 min', '2026-03-10 12:01');
SELECT attempt FROM personalize.claim_sends('w1', 10, '5 min', '2026-03-10 13:00');
SELECT personalize.fail_send(:s2, '451 again', true, NULL, '2026-03-10 13:01');
SELECT send_id = :s2 AS is_s2, status, attempts, last_error FROM personalize.send_history WHERE status = 'dead';
-- an operator puts it back with its attempts reset
SELECT personalize.requeue_dead(ARRAY[:s2]::bigint[], '2026-03-10 14:00');
SELECT status, attempts, available_at FROM personalize.sends WHERE send_id = :s2;

-- a lease that expires counts as an attempt; tick queues it again (and announces it), and the
-- send dies when it was the last attempt
SELECT attempt FROM personalize.claim_sends('w1', 10, '1 min', '2026-03-10 14:00');
SELECT personalize.tick('2026-03-10 14:00:30');
SELECT status FROM personalize.sends WHERE send_id = :s2;
SELECT personalize.tick('2026-03-10 14:01');
SELECT status, attempts, available_at, last_error FROM personalize.sends WHERE send_id = :s2;
SELECT attempt FROM personalize.claim_sends('w1', 10, '1 min', '2026-03-10 14:02');
SELECT personalize.tick('2026-03-10 14:05');
SELECT status, attempts, last_error FROM personalize.send_history WHERE send_id = :s2;
-- a consumer that delivered it after all may still complete it
SELECT personalize.complete_send(:s2, 'esp-late', '2026-03-10 14:06');
SELECT status, sent_at FROM personalize.send_history WHERE send_id = :s2;

-- deferred sends that become due are announced by tick once, with their count
SELECT personalize.enqueue_send('receipt', :cy, 'transactional', '{"order": {"id": "C-1"}}', 'order:C-1',
                                '2026-03-10 15:00', 0, '2026-03-10 14:10') AS queued \gset
SELECT send_id = :queued AS returns_its_id FROM personalize.sends WHERE idempotency_key = 'order:C-1';
SELECT personalize.tick('2026-03-10 14:30');
SELECT personalize.tick('2026-03-10 15:00');
SELECT personalize.tick('2026-03-10 15:01');
-- a template dropped after enqueue fails its sends at claim (final, error kept), not the claim
INSERT INTO personalize.templates (name, subject, text_body) VALUES ('gone', 'x', 'y');
SELECT personalize.enqueue_send('gone', :ann, 'transactional', '{}', 'gone:1', NULL, 0, '2026-03-10 16:00') AS s4 \gset
DELETE FROM personalize.templates WHERE name = 'gone';
SELECT subject FROM personalize.claim_sends('w1', 10, '5 min', '2026-03-10 16:01');
SELECT status, attempts, last_error FROM personalize.send_history WHERE send_id = :s4;
-- the history is partitioned by month; tick made this month's and the next
SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'personalize.send_history'::regclass ORDER BY 1;
SELECT tableoid::regclass, count(*) FROM personalize.send_history GROUP BY 1;

-- bad input: each refused with a clear SQLSTATE
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'no error'; EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;
SELECT pg_temp.err(format($$SELECT personalize.enqueue_send('nope', %s, 'transactional', '{}', 'k1', NULL, 0, '2026-03-10')$$, :ann));
SELECT pg_temp.err($$SELECT personalize.enqueue_send('receipt', 424242, 'transactional', '{}', 'k1', NULL, 0, '2026-03-10')$$);
SELECT pg_temp.err($$SELECT personalize.enqueue_send('receipt', NULL, 'transactional', '{}', 'k1', NULL, 0, '2026-03-10')$$);
SELECT pg_temp.err(format($$SELECT personalize.enqueue_send('receipt', %s, 'bulk', '{}', 'k1', NULL, 0, '2026-03-10')$$, :ann));
SELECT pg_temp.err(format($$SELECT personalize.enqueue_send('receipt', %s, 'transactional', '[1]', 'k1', NULL, 0, '2026-03-10')$$, :ann));
SELECT pg_temp.err(format($$SELECT personalize.enqueue_send('receipt', %s, 'transactional', '{}', '', NULL, 0, '2026-03-10')$$, :ann));
SELECT pg_temp.err(format($$SELECT personalize.enqueue_send('receipt', %s, 'transactional', '{}', 'c:1:1:1', NULL, 0, '2026-03-10')$$, :ann));
SELECT pg_temp.err(format($$SELECT personalize.enqueue_send('receipt', %s, 'transactional', '{}', 'k1', 'infinity', 0, '2026-03-10')$$, :ann));
SELECT pg_temp.err(format($$SELECT personalize.enqueue_send('receipt', %s, 'transactional', '{}', 'k1', NULL, 0, NULL)$$, :ann));
SELECT pg_temp.err($$SELECT * FROM personalize.claim_sends(NULL)$$);
SELECT pg_temp.err($$SELECT * FROM personalize.claim_sends('w', 0)$$);
SELECT pg_temp.err($$SELECT * FROM personalize.claim_sends('w', 10, '0 s')$$);
SELECT pg_temp.err($$SELECT * FROM personalize.claim_sends('w', 10, '5 min', '-infinity')$$);
SELECT pg_temp.err($$SELECT personalize.complete_send(NULL)$$);
SELECT pg_temp.err($$SELECT personalize.complete_send(987654)$$);
SELECT pg_temp.err(format($$SELECT personalize.complete_send(%s, 'x', now(), repeat('p', 201))$$, :s1));
SELECT pg_temp.err($$SELECT personalize.fail_send(987654, 'x')$$);
SELECT pg_temp.err(format($$SELECT personalize.fail_send(%s, 'x', NULL)$$, :s1));
SELECT pg_temp.err(format($$SELECT personalize.fail_send(%s, 'x', true, '-1 minute')$$, :s1));
SELECT pg_temp.err($$UPDATE personalize.send_settings SET default_timezone = 'Mars/Olympus_Mons'$$);
SELECT pg_temp.err($$UPDATE personalize.send_settings SET max_attempts = 0$$);

DROP EXTENSION personalize;
DROP ROLE regress_sender, regress_writer;
