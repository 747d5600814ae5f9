-- The send path's data about a person (src/send/profile_data.sql): forget() erases the profile's
-- sends (queued, leased, finished; their extra may hold personal data), idempotency keys,
-- decisions, suppressions and holdouts; export_profile() exports them; merge_profiles() moves
-- them to the kept profile, with one send per campaign run.
CREATE EXTENSION personalize;
\set VERBOSITY terse
SET timezone = 'UTC';
SELECT personalize.maintain('2026-03-15', 1, 1);
SELECT personalize.identify('ann', '{"name": "Ann", "club": "yes"}', NULL, '2026-03-01') AS ann \gset
SELECT personalize.identify('bo', '{"name": "Bo", "club": "yes"}', NULL, '2026-03-01') AS bo \gset
UPDATE personalize.profiles SET email = user_id || '@example.com';
SELECT personalize.set_consent(:bo, 'subscribed', as_of => '2026-03-01');
INSERT INTO personalize.templates (name, subject, text_body) VALUES
  ('receipt', 'Order {{ order.id }}', 'Ship to {{ order.address }}'),
  ('news', 'News for {{ traits.name }}', 'Hello');
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'no error'; EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;
-- rows per table of the extension that has a profile_id column, for one profile (every such
-- table, so a new one shows up here and its erasure and merge must be thought about)
CREATE FUNCTION pg_temp.rows_of(id bigint) RETURNS TABLE (tbl name, n bigint) LANGUAGE plpgsql AS $$
DECLARE t name;
BEGIN
    FOR t IN SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
              WHERE c.relnamespace = 'personalize'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                AND a.attname = 'profile_id' AND NOT a.attisdropped ORDER BY 1
    LOOP
        tbl := t;
        EXECUTE format('SELECT count(*) FROM personalize.%I WHERE profile_id = $1', t) INTO n USING id;
        RETURN NEXT;
    END LOOP;
END $$;

-- Ann's sends: a receipt that was sent, one queued for later (its extra holds her address),
-- one leased by a worker, and a newsletter the policy suppressed (no marketing consent)
SELECT personalize.enqueue_send('receipt', :ann, 'transactional', '{"order": {"id": "A-1", "address": "1 Lane"}}',
                                'order:A-1:ann@example.com', NULL, 0, '2026-03-10 10:00') AS a1 \gset
SELECT count(*) FROM personalize.claim_sends('w1', 10, '5 min', '2026-03-10 10:01');
SELECT personalize.complete_send(:a1, 'esp-1', '2026-03-10 10:02');
SELECT personalize.enqueue_send('receipt', :ann, 'transactional', '{"order": {"id": "A-2", "address": "1 Lane"}}',
                                'order:A-2:ann@example.com', NULL, 0, '2026-03-10 10:03') AS a2 \gset
SELECT count(*) FROM personalize.claim_sends('w1', 10, '5 min', '2026-03-10 10:04');
SELECT personalize.enqueue_send('receipt', :ann, 'transactional', '{"order": {"id": "A-3", "address": "1 Lane"}}',
                                'order:A-3:ann@example.com', '2026-03-20', 0, '2026-03-10 10:05') AS a3 \gset
SELECT personalize.enqueue_send('news', :ann, 'marketing', '{}', 'news:ann', NULL, 0, '2026-03-10 10:06') AS a4 \gset
-- Bo's send, which stays
SELECT personalize.enqueue_send('receipt', :bo, 'transactional', '{"order": {"id": "B-1", "address": "2 Road"}}',
                                'order:B-1', NULL, 0, '2026-03-10 10:07') AS b1 \gset
INSERT INTO personalize.suppressions VALUES (:ann, 'manual', 'support ticket', NULL, '2026-03-10 10:08');
INSERT INTO personalize.experiment_holdouts VALUES (1, 1, :ann, '2026-03-10 10:09');
SELECT send_id = :a1 AS a1, send_id = :a2 AS a2, send_id = :a3 AS a3, send_id = :a4 AS a4, status
  FROM personalize.sends_all WHERE profile_id = :ann ORDER BY send_id;

-- export_profile: the sends (with their extra), the decision, the suppression, the holdout
SELECT jsonb_object_keys(personalize.export_profile(:ann)) ORDER BY 1;
SELECT s ->> 'idempotency_key' AS key, s ->> 'status' AS status, s -> 'extra' -> 'order' ->> 'address' AS address,
       s ? 'profile_id' AS has_profile_id
  FROM jsonb_array_elements(personalize.export_profile(:ann) -> 'sends') s;
SELECT x -> 'send_decisions' -> 0 ->> 'reason' AS decision, x -> 'suppressions' -> 0 ->> 'source' AS suppression,
       jsonb_array_length(x -> 'send_decisions') AS decisions, jsonb_array_length(x -> 'experiment_holdouts') AS holdouts
  FROM personalize.export_profile(:ann) x;
SELECT jsonb_array_length(personalize.export_profile(:bo) -> 'sends') AS bo_sends;

-- forget: every table with a profile_id holds nothing of Ann's; her keys are gone, Bo's stay
SELECT * FROM pg_temp.rows_of(:ann) WHERE n > 0;
SELECT personalize.forget(:ann, '2026-03-11') AS events_deleted;
SELECT * FROM pg_temp.rows_of(:ann) WHERE n > 0;
SELECT events_deleted, identities_deleted, sends_deleted FROM personalize.erasure_log;
SELECT idempotency_key FROM personalize.send_keys ORDER BY 1;
SELECT count(*) AS extras_with_her_address FROM personalize.sends_all WHERE extra::text LIKE '%1 Lane%';
SELECT profile_id = :bo AS bo, status FROM personalize.sends_all;
-- the worker that held her leased send learns it is gone (no_data_found) and has nothing to retry
SELECT pg_temp.err(format('SELECT personalize.complete_send(%s, %L, %L)', :a2, 'esp-2', '2026-03-11 00:01'));
-- a retried enqueue with her old key, for a new profile, is a new send
SELECT personalize.identify('ann', '{"name": "Ann"}', NULL, '2026-03-12') AS ann2 \gset
SELECT personalize.enqueue_send('receipt', :ann2, 'transactional', '{"order": {"id": "A-2"}}',
                                'order:A-2:ann@example.com', NULL, 0, '2026-03-12 00:01') <> :a2 AS new_send;

-- merge_profiles: Kim (kept) and Dee (dropped) each got a send of three runs of one campaign.
-- run 3: Kim's was sent, Dee's failed once and is queued again;
-- run 2: both claimed, Kim's failed once and is queued again, Dee's still leased;
-- run 1: both queued.
SELECT personalize.identify('kim', '{"name": "Kim", "club": "yes"}', NULL, '2026-03-01') AS kim \gset
SELECT personalize.identify('dee', '{"name": "Dee", "club": "yes"}', NULL, '2026-03-01') AS dee \gset
UPDATE personalize.profiles SET email = user_id || '@example.com' WHERE profile_id IN (:kim, :dee);
SELECT personalize.set_consent(:kim, 'subscribed', as_of => '2026-03-01');
SELECT personalize.set_consent(:dee, 'subscribed', as_of => '2026-03-01');
SELECT personalize.forget(:bo, '2026-03-12'), personalize.forget(:ann2, '2026-03-12');
SELECT personalize.create_segment('club', '{"trait": "club", "value": "yes"}', '2026-03-12');
SELECT personalize.create_campaign('digest', 'club', 'news');
SELECT run_id, queued FROM personalize.launch_campaign('digest', '2026-03-12 09:00', 3);
SELECT count(*) FROM personalize.claim_sends('w1', 10, '5 min', '2026-03-12 09:01');
SELECT send_id AS k3 FROM personalize.sends WHERE profile_id = :kim AND campaign_run = 3 \gset
SELECT send_id AS d3 FROM personalize.sends WHERE profile_id = :dee AND campaign_run = 3 \gset
SELECT personalize.complete_send(:k3, 'esp-k3', '2026-03-12 09:02'),
       personalize.fail_send(:d3, '421', true, '1 day', '2026-03-12 09:02');
SELECT run_id, queued FROM personalize.launch_campaign('digest', '2026-03-12 10:00', 2);
SELECT count(*) FROM personalize.claim_sends('w1', 10, '5 min', '2026-03-12 10:01');
SELECT send_id AS k2 FROM personalize.sends WHERE profile_id = :kim AND campaign_run = 2 \gset
SELECT send_id AS d2 FROM personalize.sends WHERE profile_id = :dee AND campaign_run = 2 \gset
SELECT personalize.fail_send(:k2, '421', true, '1 day', '2026-03-12 10:02');
SELECT run_id, queued FROM personalize.launch_campaign('digest', '2026-03-12 11:00', 1);
SELECT send_id AS k1 FROM personalize.sends WHERE profile_id = :kim AND campaign_run = 1 \gset
SELECT send_id AS d1 FROM personalize.sends WHERE profile_id = :dee AND campaign_run = 1 \gset
-- Dee also has a receipt queued, a suppressed send with its decision (a complaint), a manual
-- suppression that Kim has too, and a holdout
SELECT personalize.enqueue_send('receipt', :dee, 'transactional', '{"order": {"id": "D-1"}}', 'order:D-1', NULL, 0,
                                '2026-03-12 11:01') AS dr \gset
INSERT INTO personalize.suppressions VALUES (:kim, 'manual', 'kim asked', NULL, '2026-03-12 11:02'),
                                            (:dee, 'manual', 'dee asked', NULL, '2026-03-12 11:02'),
                                            (:dee, 'complaint', 'feedback loop', NULL, '2026-03-12 11:03');
SELECT personalize.enqueue_send('news', :dee, 'marketing', '{}', 'news:dee', NULL, 0, '2026-03-12 11:04') AS ds \gset
INSERT INTO personalize.experiment_holdouts VALUES (9, 1, :dee, '2026-03-12 11:05');
SELECT count(*) AS dee_decisions FROM personalize.send_decisions WHERE profile_id = :dee;
SELECT campaign_run, profile_id = :kim AS kim, status FROM personalize.sends_all WHERE campaign_id IS NOT NULL
 ORDER BY campaign_run, profile_id = :kim DESC;

SELECT personalize.merge_profiles(:kim, :dee, as_of => '2026-03-12 12:00') = :kim AS merged;
-- one send per run for the person: run 3 keeps Kim's sent one, run 2 Dee's leased one (in a
-- consumer's hands), run 1 Kim's own; each cancelled one names the kept send
SELECT campaign_run, CASE send_id WHEN :k1 THEN 'k1' WHEN :k2 THEN 'k2' WHEN :k3 THEN 'k3'
                                  WHEN :d1 THEN 'd1' WHEN :d2 THEN 'd2' WHEN :d3 THEN 'd3' END AS send,
       profile_id = :kim AS on_kim, status, finished_at,
       last_error = format('duplicate after merge of profile %s into %s: send %s of the same campaign run kept',
                           :dee, :kim, CASE campaign_run WHEN 1 THEN :k1 WHEN 2 THEN :d2 ELSE :k3 END) AS names_kept
  FROM personalize.sends_all WHERE campaign_id IS NOT NULL ORDER BY campaign_run, send_id;
-- the receipt, the suppressed send, its decision, the complaint and the holdout are Kim's now;
-- Kim keeps her own manual suppression; of Dee only her segment history is left (entered, and
-- exited by the merge), as for any merge
SELECT send_id = :dr AS receipt, send_id = :ds AS suppressed_send, status, profile_id = :kim AS on_kim
  FROM personalize.sends_all WHERE campaign_id IS NULL ORDER BY send_id;
SELECT stage, decision, reason, profile_id = :kim AS on_kim FROM personalize.send_decisions WHERE send_id = :ds;
SELECT reason, source, profile_id = :kim AS on_kim FROM personalize.suppressions ORDER BY reason;
SELECT campaign_id, profile_id = :kim AS on_kim FROM personalize.experiment_holdouts;
SELECT * FROM pg_temp.rows_of(:dee) WHERE n > 0;
-- the complaint now suppresses all mail to the person; once an operator lifts the suppressions,
-- a worker gets the queued ones (run 1's and the receipt; run 2's is still leased), for Kim
DELETE FROM personalize.suppressions;
SELECT to_address, subject FROM personalize.claim_sends('w2', 10, '5 min', '2026-03-14') ORDER BY subject;

DROP EXTENSION personalize;
