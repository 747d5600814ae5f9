-- Consent: per-profile e-mail consent, GDPR lawful basis and CCPA do-not-sell, with history.

CREATE TABLE personalize.consent_log (
    profile_id     bigint NOT NULL,
    changed_at     timestamptz NOT NULL,
    email_consent  text CHECK (email_consent IN ('subscribed', 'unsubscribed', 'unknown')),
    lawful_basis   text,
    do_not_sell    boolean,
    source         text NOT NULL,
    logged_at      timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp()
);
CREATE INDEX consent_log_profile_idx ON personalize.consent_log (profile_id, changed_at);
COMMENT ON TABLE personalize.consent_log IS 'Every consent change, from set_consent() or from events';

CREATE FUNCTION personalize.set_consent(profile_id bigint, email_consent text DEFAULT NULL,
                                        lawful_basis text DEFAULT NULL, do_not_sell boolean DEFAULT NULL,
                                        source text DEFAULT 'api', as_of timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF email_consent IS NOT NULL AND email_consent NOT IN ('subscribed', 'unsubscribed', 'unknown') THEN
        RAISE EXCEPTION 'invalid e-mail consent "%"', email_consent
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use subscribed, unsubscribed or unknown.';
    END IF;
    IF lawful_basis IS NOT NULL AND lawful_basis NOT IN ('consent', 'contract', 'legal_obligation',
            'vital_interests', 'public_task', 'legitimate_interests') THEN
        RAISE EXCEPTION 'invalid lawful basis "%"', lawful_basis
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use one of the six GDPR Article 6 bases: consent, contract, legal_obligation, vital_interests, public_task, legitimate_interests.';
    END IF;
    PERFORM personalize._check_as_of(as_of);
    IF email_consent IS NULL AND lawful_basis IS NULL AND do_not_sell IS NULL THEN
        RAISE EXCEPTION 'set_consent needs a change' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'email_consent, lawful_basis and do_not_sell are all null: there is nothing to record.';
    END IF;
    UPDATE personalize.profiles p
       SET email_consent = CASE WHEN set_consent.email_consent IS NOT NULL
                                     AND (p.consent_at IS NULL OR as_of >= p.consent_at)
                                THEN set_consent.email_consent ELSE p.email_consent END,
           lawful_basis = coalesce(set_consent.lawful_basis, p.lawful_basis),
           do_not_sell = coalesce(set_consent.do_not_sell, p.do_not_sell),
           consent_at = CASE WHEN set_consent.email_consent IS NULL THEN p.consent_at
                             ELSE greatest(p.consent_at, as_of) END,
           updated_at = statement_timestamp()
     WHERE p.profile_id = set_consent.profile_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'profile % does not exist', set_consent.profile_id USING ERRCODE = 'no_data_found';
    END IF;
    INSERT INTO personalize.consent_log (profile_id, changed_at, email_consent, lawful_basis, do_not_sell, source)
    VALUES (set_consent.profile_id, as_of, set_consent.email_consent, set_consent.lawful_basis,
            set_consent.do_not_sell, coalesce(source, 'api'));
    PERFORM personalize._segments_live(ARRAY[set_consent.profile_id], '{}'::text[], '{consent}'::text[], 'consent'::text);
END
$$;
COMMENT ON FUNCTION personalize.set_consent(bigint, text, text, boolean, text, timestamptz) IS
'Changes a profile''s consent (NULL arguments keep the current value) and records the change';

SELECT pg_catalog.pg_extension_config_dump('personalize.consent_log', '');
