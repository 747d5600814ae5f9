-- Identity: identify(), alias(), merge_profiles() and duplicate_profiles.
CREATE EXTENSION personalize;
\set VERBOSITY terse
SELECT personalize.maintain('2026-02-15', 1, 1);

-- anonymous browsing, then the visitor signs up: one profile, nothing lost
SELECT personalize.track(NULL, 'Product Viewed', '{"product_id": "p1"}', '2026-02-01', 'e1', anonymous_id => 'anon-a');
SELECT personalize.track(NULL, 'Product Added', '{"product_id": "p1"}', '2026-02-01 00:05', 'e2', anonymous_id => 'anon-a');
SELECT personalize.identify('alice', '{"email": " Alice@Example.com", "first_name": "Alice"}', 'anon-a', '2026-02-02')
     = personalize.resolve_identity('anonymous_id', 'anon-a') AS adopted_anonymous_profile;
SELECT user_id, email, email_hash = personalize.email_hash('alice@example.com') AS hash_ok, traits, event_count
  FROM personalize.profiles;
SELECT kind, value = coalesce(personalize.email_hash('alice@example.com'), '') OR kind <> 'email_hash' AS ok
  FROM personalize.identities ORDER BY kind;

-- a known user later seen with another anonymous id: that id's profile merges into hers
SELECT personalize.track(NULL, 'Product Viewed', '{}', '2026-02-03', 'e3', anonymous_id => 'anon-b');
SELECT personalize.identify('alice', '{"plan": "pro"}', 'anon-b', '2026-02-04') = personalize.resolve_identity('user_id', 'alice');
SELECT count(*) AS profiles, sum(event_count) AS events FROM personalize.profiles;
SELECT traits FROM personalize.profiles WHERE user_id = 'alice';
SELECT cause, events_moved FROM personalize.merge_log ORDER BY merge_id;

-- alias: an old id becomes the new one. Each check reads the identities in a statement of its
-- own: resolve_identity is STABLE, so beside alias() in one statement it sees the state before it.
SELECT personalize.identify('bob-old', '{"city": "Oslo"}', NULL, '2026-02-01') AS bob_old \gset
SELECT personalize.track('bob-old', 'Order Completed', '{"order_id": 1, "revenue": 20}', '2026-02-05', 'e4');
SELECT personalize.resolve_identity('user_id', 'bob') IS NULL AS bob_unknown_before;
SELECT personalize.alias('bob-old', 'bob', '2026-02-06') AS bob \gset
SELECT personalize.resolve_identity('user_id', 'bob') = :bob AS bob_is_the_returned_profile,
       personalize.resolve_identity('user_id', 'bob-old') = :bob AS old_id_now_bob,
       :bob <> :bob_old AS bob_got_a_new_profile,
       NOT EXISTS (SELECT FROM personalize.profiles WHERE profile_id = :bob_old) AS old_profile_merged_away;
SELECT user_id, traits, event_count FROM personalize.profiles WHERE profile_id = :bob;
SELECT cause, kept_profile = :bob AS kept_bob, dropped_profile = :bob_old AS dropped_old, events_moved
  FROM personalize.merge_log ORDER BY merge_id DESC LIMIT 1;
-- an unseen id aliased to a known user is attached to that user's profile
SELECT personalize.resolve_identity('anonymous_id', 'device-7') IS NULL AS device_unknown_before;
SELECT personalize.alias('device-7', 'bob') = :bob AS returns_bob;
SELECT personalize.resolve_identity('anonymous_id', 'device-7') = :bob AS new_id_attached;
SELECT count(*) AS profiles_for_bob FROM personalize.profiles WHERE user_id = 'bob';

-- duplicate_profiles: two accounts with one address
SELECT personalize.identify('carol-1', '{"email": "carol@example.com"}');
SELECT personalize.identify('carol-2', '{"email": "CAROL@example.com "}');
SELECT profiles, cardinality(profile_ids) FROM personalize.duplicate_profiles;

-- consent conflicts refuse a merge unless forced; a forced merge keeps the later action (here the opt-out)
SELECT personalize.set_consent(personalize.resolve_identity('user_id', 'carol-1'), 'subscribed', 'consent', as_of => '2026-02-01');
SELECT personalize.set_consent(personalize.resolve_identity('user_id', 'carol-2'), 'unsubscribed', as_of => '2026-02-02');
SELECT personalize.merge_profiles(personalize.resolve_identity('user_id', 'carol-1'), personalize.resolve_identity('user_id', 'carol-2'));
DO $$
BEGIN
    PERFORM personalize.merge_profiles(personalize.resolve_identity('user_id', 'carol-1'),
                                       personalize.resolve_identity('user_id', 'carol-2'));
EXCEPTION WHEN object_not_in_prerequisite_state THEN
    RAISE NOTICE 'refused with sqlstate %', SQLSTATE;
END $$;
SELECT personalize.merge_profiles(personalize.resolve_identity('user_id', 'carol-1'),
                                  personalize.resolve_identity('user_id', 'carol-2'), force => true, cause => 'support ticket 42',
                                  as_of => '2026-02-06');
SELECT email_consent, lawful_basis FROM personalize.profiles WHERE profile_id = personalize.resolve_identity('user_id', 'carol-2');
SELECT count(*) FROM personalize.duplicate_profiles;
SELECT cause, forced FROM personalize.merge_log ORDER BY merge_id DESC LIMIT 1;
SELECT changed_at, email_consent, source ~ '^merge of profile' AS from_merge FROM personalize.consent_log
 WHERE profile_id = personalize.resolve_identity('user_id', 'carol-2') ORDER BY logged_at, changed_at;
-- the other way round: an older opt-out and a newer opt-in end subscribed
SELECT personalize.identify('dora', '{}', NULL, '2026-01-01');
SELECT personalize.track('dora', 'Unsubscribed', '{}', '2026-01-02', 'u-d1');
SELECT personalize.track(NULL, 'Subscribed', '{}', '2026-02-01', 'u-d2', anonymous_id => 'anon-dora');
SELECT personalize.identify('dora', '{}', 'anon-dora', '2026-02-02');
SELECT email_consent, consent_at FROM personalize.profiles WHERE user_id = 'dora';
SELECT changed_at, email_consent, source ~ '^(merge of profile|event: )' AS sourced FROM personalize.consent_log
 WHERE profile_id = personalize.resolve_identity('user_id', 'dora') ORDER BY changed_at, logged_at;
-- after the merge, new events for either id land on the kept profile (caches were invalidated)
SELECT personalize.track('carol-2', 'Email Opened', '{}', '2026-02-07', 'e5');
SELECT user_id, event_count FROM personalize.profiles WHERE profile_id = personalize.resolve_identity('user_id', 'carol-2');

-- bad input
SELECT personalize.identify(NULL, '{}');
SELECT personalize.identify('', '{}');
SELECT personalize.identify(repeat('u', 300), '{}');
SELECT personalize.identify('x', '[1]');
SELECT personalize.identify('x', '{"email": 5}');
SELECT personalize.identify('x', '{"email": "not an address"}');
SELECT personalize.identify('x', '{}', E'bad\nanon');
SELECT personalize.alias(NULL, 'bob');
SELECT personalize.merge_profiles(1, 1);
SELECT personalize.merge_profiles(1, 999999);
SELECT personalize.merge_profiles(NULL, 1);
SELECT count(*) AS no_profile_for_x FROM personalize.identities WHERE value = 'x';

-- identify() of a new user on a big store looks its user_id up in profiles through
-- profiles_user_id_idx and never scans the table (this backend's statistics counters)
INSERT INTO personalize.profiles (user_id) SELECT 'bulk-' || g FROM generate_series(1, 20000) g;
ANALYZE personalize.profiles;
EXPLAIN (COSTS OFF) SELECT profile_id FROM personalize.profiles WHERE user_id = 'bulk-7';
SELECT pg_stat_force_next_flush();
SELECT t.seq_scan AS seq_before, i.idx_scan AS idx_before
  FROM pg_stat_user_tables t, pg_stat_user_indexes i
 WHERE t.relid = 'personalize.profiles'::regclass AND i.indexrelid = 'personalize.profiles_user_id_idx'::regclass \gset
SELECT personalize.identify('brand-new', '{"plan": "free"}', NULL, '2026-03-01') AS brand_new \gset
SELECT pg_stat_force_next_flush();
SELECT t.seq_scan - :seq_before AS profile_seq_scans, i.idx_scan - :idx_before > 0 AS user_id_index_used,
       personalize.resolve_identity('user_id', 'brand-new') = :brand_new AS identified
  FROM pg_stat_user_tables t, pg_stat_user_indexes i
 WHERE t.relid = 'personalize.profiles'::regclass AND i.indexrelid = 'personalize.profiles_user_id_idx'::regclass;

DROP EXTENSION personalize;
