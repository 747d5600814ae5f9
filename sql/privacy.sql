-- Consent history, the right to erasure and the right of access.
CREATE EXTENSION personalize;
\set VERBOSITY terse
SELECT personalize.maintain('2026-02-15', 1, 1);
SELECT personalize.identify('dana', '{"email": "dana@example.com", "name": "Dana"}', 'anon-d', '2026-02-01') AS dana \gset
SELECT personalize.track('dana', 'Product Viewed', '{"product_id": "p1"}', '2026-02-02', 'd1');
SELECT personalize.track('dana', 'Order Completed', '{"order_id": 7, "revenue": 12.5}', '2026-02-03', 'd2');
SELECT personalize.track('dana', 'Order Completed', '{"revenue": 1}', '2026-02-03', 'd3');
SELECT personalize.identify('eve', '{"name": "Eve"}') AS eve \gset

-- set_consent changes only what it is given, keeps history, and an older change never wins
SELECT personalize.set_consent(:dana, 'subscribed', 'consent', false, 'signup form', '2026-02-01');
SELECT personalize.set_consent(:dana, do_not_sell => true, source => 'ccpa request', as_of => '2026-02-05');
SELECT personalize.set_consent(:dana, 'unsubscribed', source => 'late import', as_of => '2026-01-01');
SELECT email_consent, lawful_basis, do_not_sell, consent_at FROM personalize.profiles WHERE profile_id = :dana;
SELECT changed_at, email_consent, lawful_basis, do_not_sell, source FROM personalize.consent_log ORDER BY logged_at, changed_at;
SELECT personalize.set_consent(:dana, 'maybe');
SELECT personalize.set_consent(:dana, lawful_basis => 'because');
SELECT personalize.set_consent(999999, 'subscribed');
SELECT personalize.set_consent(:dana, 'subscribed', as_of => 'infinity');

-- export_profile: everything stored about Dana
SELECT jsonb_object_keys(personalize.export_profile(:dana)) ORDER BY 1;
SELECT x -> 'profile' ->> 'email' AS email, jsonb_array_length(x -> 'events') AS events,
       jsonb_array_length(x -> 'identities') AS identities, jsonb_array_length(x -> 'consent_history') AS consent_changes,
       x -> 'events' -> 1 -> 'properties' AS second_event
  FROM personalize.export_profile(:dana) x;
SELECT personalize.export_profile(999999);

-- merges that made Dana, with causes naming her (x1 into dana-old, then dana-old into Dana), and
-- one that is Eve's
SELECT personalize.identify('dana-old', '{}', NULL, '2026-02-06') AS dana_old \gset
SELECT personalize.identify('x1', '{}', NULL, '2026-02-06') AS x1 \gset
SELECT personalize.identify('eve-2', '{}', NULL, '2026-02-06') AS eve2 \gset
SELECT personalize.merge_profiles(:dana_old, :x1, cause => 'same phone +47 555 0101', as_of => '2026-02-07') = :dana_old AS merged;
SELECT personalize.merge_profiles(:dana, :dana_old, cause => 'dana@example.com matched', as_of => '2026-02-08') = :dana AS merged;
SELECT personalize.merge_profiles(:eve, :eve2, cause => 'eve ticket 12', as_of => '2026-02-09') = :eve AS merged;
-- forget: personal data and events go, a record that it happened stays
SELECT personalize.forget(:dana, '2026-03-01') AS events_deleted;
-- the causes of the merges that made Dana are erased; their ids, counts and times stay
SELECT kept_profile = :dana AS into_dana, dropped_profile = :dana_old AS dana_old, cause, events_moved, merged_at
  FROM personalize.merge_log ORDER BY merge_id;
SELECT count(*) FROM personalize.profiles WHERE profile_id = :dana;
SELECT count(*) FROM personalize.identities WHERE profile_id = :dana;
SELECT count(*) FROM personalize.events WHERE profile_id = :dana;
SELECT count(*) FROM personalize.consent_log WHERE profile_id = :dana;
SELECT count(*) AS rejected_left FROM personalize.rejected_events;
SELECT erased_at, events_deleted, identities_deleted, rejected_deleted FROM personalize.erasure_log;
SELECT personalize.forget(:dana);
SELECT personalize.export_profile(:dana);
-- Eve is untouched; a returning Dana starts afresh
SELECT count(*) FROM personalize.profiles WHERE profile_id = :eve;
SELECT personalize.track('dana', 'Product Viewed', '{}', '2026-03-02', 'd4');
SELECT event_count FROM personalize.profiles WHERE user_id = 'dana';

DROP EXTENSION personalize;
