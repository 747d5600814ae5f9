-- The user_id forms of the profile-taking functions (src/profile/by_user_id.sql): each answers
-- what the profile_id form answers for the profile the user_id resolves to.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS personalize CASCADE;   -- a file run before this one may leave it installed
RESET client_min_messages;
CREATE EXTENSION personalize;
\set VERBOSITY terse
SELECT personalize.maintain('2026-02-15', 1, 1);
SELECT personalize.identify('ann', '{"email": "ann@example.com", "first_name": "Ann"}', as_of => '2026-02-01') AS ann \gset
SELECT personalize.identify('bob', as_of => '2026-02-01') AS bob \gset
SELECT personalize.track('ann', 'Email Opened', '{}', '2026-02-02');
INSERT INTO personalize.templates (name, subject, text_body)
VALUES ('hello', 'Hi {{ user_id }}', '{{ email }}');
SELECT personalize.create_segment('openers', '{"event": "Email Opened", "min": 1}', '2026-02-03') AS members;

SELECT personalize.profile_of('ann') = :ann AS resolves;
SELECT personalize.set_consent('ann', 'subscribed', as_of => '2026-02-03');
SELECT email_consent FROM personalize.profiles WHERE profile_id = :ann;
SELECT personalize.render_email('hello', 'ann', as_of => '2026-02-04')
       = personalize.render_email('hello', :ann, as_of => '2026-02-04') AS same_email,
       (personalize.render_email('hello', 'ann', as_of => '2026-02-04')).subject;
SELECT personalize.context('ann', '2026-02-04') = personalize.context(:ann, '2026-02-04') AS same_context;
SELECT personalize.segments_of('ann'), personalize.segments_of('bob');
SELECT personalize.in_segment('openers', 'ann') AS ann_in, personalize.in_segment('openers', 'bob') AS bob_in;
SELECT personalize.engagement_score('ann', '2026-02-04') = personalize.engagement_score(:ann, '2026-02-04') AS same_score;
SELECT personalize.export_profile('ann') = personalize.export_profile(:ann) AS same_export;

-- which form a call picks: an integer is a profile_id, a quoted literal a user_id
SELECT personalize.render_email('hello', 999999);
SELECT personalize.render_email('hello', '999999');
SELECT personalize.profile_of('nobody');
SELECT personalize.segments_of('nobody');

-- the roles of each form are those of its profile_id form
CREATE ROLE regress_uw IN ROLE personalize_writer;
CREATE ROLE regress_ua IN ROLE personalize_analyst;
SET ROLE regress_uw;
SELECT personalize.set_consent('bob', 'unsubscribed', as_of => '2026-02-03');
SELECT personalize.profile_of('bob') = :bob AS writer_resolves;
SELECT personalize.export_profile('bob');
RESET ROLE;
SET ROLE regress_ua;
SELECT personalize.in_segment('openers', 'ann') AS analyst_reads;
SELECT personalize.forget('bob');
RESET ROLE;

SELECT personalize.forget('ann', '2026-02-05');
SELECT count(*) AS ann_left FROM personalize.profiles WHERE user_id = 'ann';
SELECT personalize.forget('ann');

DROP EXTENSION personalize;
DROP ROLE regress_uw, regress_ua;
