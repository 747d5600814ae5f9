-- The set forms complete_sends and fail_sends (src/send/settle.sql), checked against the single
-- forms as the reference: two twin sets of sends (keys a:1..a:6 and b:1..b:6) go through the
-- same outcomes, a: one complete_send / fail_send per send, b: one set-form call per round; the
-- returned statuses and the rows must be equal, and each backoff equal to its formula.
CREATE EXTENSION personalize;
\set VERBOSITY terse
SET timezone = 'UTC';
SELECT personalize.maintain('2026-03-15', 1, 1);
SELECT personalize.identify('ann', '{"name": "Ann"}', NULL, '2026-03-01') AS ann \gset
UPDATE personalize.profiles SET email = 'ann@example.com';
INSERT INTO personalize.templates (name, subject, html_body, text_body) VALUES ('note', 'Hi {{ traits.name }}', '<p>hi</p>', 'hi');
UPDATE personalize.send_settings SET max_attempts = 2;
CREATE ROLE regress_settle_sender IN ROLE personalize_sender;
CREATE ROLE regress_settle_writer IN ROLE personalize_writer;
SELECT count(personalize.enqueue_send('note', :ann, 'transactional', '{}', x || ':' || i, NULL, 0, '2026-03-10 10:00'))
  FROM unnest(ARRAY['a', 'b']) x, generate_series(1, 6) i;
-- the send of each key, by name
CREATE FUNCTION pg_temp.id(k text) RETURNS bigint LANGUAGE sql AS
$$ SELECT send_id FROM personalize.sends_all WHERE idempotency_key = k $$;

-- round 1, 10:01: all twelve claimed (attempt 1). 1 and 5 sent, 2 refused for good, 3 to retry
-- after an hour, 4 and 6 to retry after their backoff
SELECT count(*) AS claimed FROM personalize.claim_sends('w1', 20, '5 min', '2026-03-10 10:01');
SELECT personalize.complete_send(pg_temp.id('a:1'), 'esp-1', '2026-03-10 10:02', 'relay') AS a1,
       personalize.fail_send(pg_temp.id('a:2'), '550 no such user', false, NULL, '2026-03-10 10:02') AS a2,
       personalize.fail_send(pg_temp.id('a:3'), '421 later', true, '1 hour', '2026-03-10 10:02') AS a3,
       personalize.fail_send(pg_temp.id('a:4'), NULL, true, NULL, '2026-03-10 10:02') AS a4,
       personalize.complete_send(pg_temp.id('a:5'), 'esp-5', '2026-03-10 10:02', 'relay') AS a5,
       personalize.fail_send(pg_temp.id('a:6'), '451 busy', true, '0 s', '2026-03-10 10:02') AS a6;
SELECT right(k.idempotency_key, 1) AS n, c.status
  FROM personalize.complete_sends(ARRAY[pg_temp.id('b:5'), pg_temp.id('b:1')], ARRAY['esp-5', 'esp-1'],
                                  '2026-03-10 10:02', ARRAY['relay', 'relay']) c
  JOIN personalize.sends_all k USING (send_id)
 UNION ALL
SELECT right(k.idempotency_key, 1), f.status
  FROM personalize.fail_sends(ARRAY[pg_temp.id('b:2'), pg_temp.id('b:3'), pg_temp.id('b:4'), pg_temp.id('b:6')],
                              ARRAY['550 no such user', '421 later', NULL, '451 busy'], ARRAY[false, true, true, true],
                              ARRAY[NULL, '1 hour', NULL, '0 s']::interval[], '2026-03-10 10:02') f
  JOIN personalize.sends_all k USING (send_id)
 ORDER BY 1;

-- round 2, 10:10: 4 and 6 are due again (attempt 2, the last). 4 sent; 6 fails retryably and is
-- dead; 5 completed again changes nothing; 2 failed again stays failed
SELECT count(*) AS claimed FROM personalize.claim_sends('w1', 20, '5 min', '2026-03-10 10:10');
SELECT personalize.complete_send(pg_temp.id('a:4'), 'esp-4', '2026-03-10 10:11', 'backup') AS a4,
       personalize.complete_send(pg_temp.id('a:5'), 'esp-5b', '2026-03-10 10:11', 'backup') AS a5,
       personalize.fail_send(pg_temp.id('a:6'), '451 still busy', true, NULL, '2026-03-10 10:11') AS a6,
       personalize.fail_send(pg_temp.id('a:2'), 'again', false, NULL, '2026-03-10 10:11') AS a2;
-- (an id given twice counts once, with its first element)
SELECT right(k.idempotency_key, 1) AS n, c.status
  FROM personalize.complete_sends(ARRAY[pg_temp.id('b:4'), pg_temp.id('b:5'), pg_temp.id('b:4')],
                                  ARRAY['esp-4', 'esp-5b', 'esp-other'], '2026-03-10 10:11',
                                  ARRAY['backup', 'backup', 'other']) c
  JOIN personalize.sends_all k USING (send_id)
 UNION ALL
SELECT right(k.idempotency_key, 1), f.status
  FROM personalize.fail_sends(ARRAY[pg_temp.id('b:6'), pg_temp.id('b:2')], ARRAY['451 still busy', 'again'],
                              ARRAY[true, false], NULL, '2026-03-10 10:11') f
  JOIN personalize.sends_all k USING (send_id)
 ORDER BY 1;

-- round 3, 10:20: the dead 6 delivered after all, and 3 (queued, not due) completed: both sent
SELECT personalize.complete_send(pg_temp.id('a:6'), 'esp-6', '2026-03-10 10:20') AS a6,
       personalize.complete_send(pg_temp.id('a:3'), 'esp-3', '2026-03-10 10:20') AS a3;
SELECT right(k.idempotency_key, 1) AS n, c.status
  FROM personalize.complete_sends(ARRAY[pg_temp.id('b:6'), pg_temp.id('b:3')], ARRAY['esp-6', 'esp-3'],
                                  '2026-03-10 10:20') c
  JOIN personalize.sends_all k USING (send_id)
 ORDER BY 1;

-- the twins are equal in every column but their ids, keys and due times (whose backoff jitter
-- depends on the id: checked against its formula below)
WITH t AS (
  SELECT right(idempotency_key, 1) AS n, left(idempotency_key, 1) AS side,
         row(status, attempts, lease_until, leased_by, sent_at, provider_message_id, provider, last_error,
             finished_at)::text AS r
    FROM personalize.sends_all)
SELECT a.n, a.r = b.r AS equal_twins, a.r
  FROM t a JOIN t b ON a.n = b.n AND a.side = 'a' AND b.side = 'b'
 ORDER BY 1;

-- a retry is due at as_of + greatest(send_backoff(send_id, attempts), retry_after): checked on a
-- fresh pair still queued after round 1
SELECT count(personalize.enqueue_send('note', :ann, 'transactional', '{}', 'r:' || i, NULL, 0, '2026-03-10 11:00'))
  FROM generate_series(1, 2) i;
SELECT count(*) AS claimed FROM personalize.claim_sends('w2', 20, '5 min', '2026-03-10 11:01');
SELECT status FROM personalize.fail_sends(ARRAY[pg_temp.id('r:1'), pg_temp.id('r:2')], ARRAY['x', 'y'], NULL,
                                          ARRAY['0 s', '30 days']::interval[], '2026-03-10 11:02') ORDER BY send_id;
SELECT right(idempotency_key, 1) AS n,
       available_at = '2026-03-10 11:02'::timestamptz + personalize.send_backoff(send_id, 1) AS backoff_due,
       available_at = '2026-03-10 11:02'::timestamptz + '30 days'::interval AS retry_after_due, last_error
  FROM personalize.sends WHERE idempotency_key LIKE 'r:%' ORDER BY 1;

-- bad input: a clear SQLSTATE, and nothing recorded (r:1 stays as it was)
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'no error'; EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;
SELECT pg_temp.err($$SELECT personalize.complete_sends(NULL)$$);
SELECT pg_temp.err($$SELECT personalize.complete_sends(ARRAY[1, NULL])$$);
SELECT pg_temp.err(format($$SELECT personalize.complete_sends(ARRAY[%s], ARRAY['a', 'b'])$$, pg_temp.id('r:1')));
SELECT pg_temp.err(format($$SELECT personalize.complete_sends(ARRAY[%s, 987654])$$, pg_temp.id('r:1')));
SELECT pg_temp.err(format($$SELECT personalize.complete_sends(ARRAY[%s], NULL, now(), ARRAY[repeat('p', 201)])$$, pg_temp.id('r:1')));
SELECT pg_temp.err(format($$SELECT personalize.complete_sends(ARRAY[%s], NULL, 'infinity')$$, pg_temp.id('r:1')));
SELECT pg_temp.err(format($$SELECT personalize.fail_sends(ARRAY[%s, 987654], ARRAY['x', 'y'])$$, pg_temp.id('r:1')));
SELECT pg_temp.err(format($$SELECT personalize.fail_sends(ARRAY[%s], ARRAY['x'], ARRAY[NULL]::boolean[])$$, pg_temp.id('r:1')));
SELECT pg_temp.err(format($$SELECT personalize.fail_sends(ARRAY[%s], ARRAY['x'], ARRAY[true, false])$$, pg_temp.id('r:1')));
SELECT pg_temp.err(format($$SELECT personalize.fail_sends(ARRAY[%s], ARRAY['x'], NULL, ARRAY['-1 minute']::interval[])$$, pg_temp.id('r:1')));
SELECT status, last_error, provider_message_id FROM personalize.sends WHERE send_id = pg_temp.id('r:1');
-- an empty set records nothing and returns nothing; only the sender and the admin may call them
SET ROLE regress_settle_sender;
SELECT count(*) AS rows FROM personalize.complete_sends('{}');
SELECT count(*) AS rows FROM personalize.fail_sends('{}', '{}');
SET ROLE regress_settle_writer;
SELECT pg_temp.err($$SELECT personalize.complete_sends('{}')$$);
SELECT pg_temp.err($$SELECT personalize.fail_sends('{}', '{}')$$);
RESET ROLE;

DROP EXTENSION personalize;
DROP ROLE regress_settle_sender, regress_settle_writer;
