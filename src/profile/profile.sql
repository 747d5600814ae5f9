-- Profiles and the identities that resolve to them.

CREATE SEQUENCE personalize.profile_id_seq AS bigint;
COMMENT ON SEQUENCE personalize.profile_id_seq IS 'Dense profile numbers (audiences use them as bitmap positions)';

CREATE TABLE personalize.profiles (
    profile_id     bigint PRIMARY KEY DEFAULT pg_catalog.nextval('personalize.profile_id_seq'),
    user_id        text,
    email          text,
    email_hash     text,
    traits         jsonb NOT NULL DEFAULT '{}' CHECK (pg_catalog.jsonb_typeof(traits) = 'object'),
    email_consent  text NOT NULL DEFAULT 'unknown'
                   CHECK (email_consent IN ('subscribed', 'unsubscribed', 'unknown')),
    lawful_basis   text CHECK (lawful_basis IN ('consent', 'contract', 'legal_obligation',
                                                'vital_interests', 'public_task', 'legitimate_interests')),
    do_not_sell    boolean NOT NULL DEFAULT false,
    consent_at     timestamptz,
    event_count    bigint NOT NULL DEFAULT 0,
    first_seen_at  timestamptz,
    last_seen_at   timestamptz,
    created_at     timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp(),
    updated_at     timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp()
);
CREATE INDEX profiles_email_hash_idx ON personalize.profiles (email_hash) WHERE email_hash IS NOT NULL;
-- identify() looks a new user_id up here (a stale profile of the same user_id is removed)
CREATE INDEX profiles_user_id_idx ON personalize.profiles (user_id) WHERE user_id IS NOT NULL;
COMMENT ON TABLE personalize.profiles IS 'One unified profile per customer';

CREATE TABLE personalize.identities (
    kind        text NOT NULL CHECK (kind IN ('user_id', 'anonymous_id', 'email_hash')),
    value       text NOT NULL,
    profile_id  bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp(),
    PRIMARY KEY (kind, value)
);
CREATE INDEX identities_profile_idx ON personalize.identities (profile_id);
COMMENT ON TABLE personalize.identities IS 'Each user_id, anonymous_id and e-mail hash resolves to one profile';

CREATE TABLE personalize.merge_log (
    merge_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kept_profile    bigint NOT NULL,
    dropped_profile bigint NOT NULL,
    cause           text NOT NULL,
    forced          boolean NOT NULL,
    events_moved    bigint NOT NULL,
    merged_at       timestamptz NOT NULL
);
CREATE INDEX merge_log_kept_idx ON personalize.merge_log (kept_profile);
CREATE INDEX merge_log_dropped_idx ON personalize.merge_log (dropped_profile);   -- ingest follows merges forward
COMMENT ON TABLE personalize.merge_log IS 'Every profile merge: ids, counts, times and the caller''s cause (forget() erases the causes of the merges that made the erased profile)';

SELECT pg_catalog.pg_extension_config_dump('personalize.profiles', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.identities', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.merge_log', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.merge_log_merge_id_seq', '');   -- else a restore restarts the ids
SELECT pg_catalog.pg_extension_config_dump('personalize.profile_id_seq', '');
