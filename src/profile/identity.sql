-- Identity: identify(), alias(), merging profiles and finding the ones that look like one person.

CREATE FUNCTION personalize.merge_profiles(keep bigint, drop bigint, force boolean DEFAULT false,
                                           cause text DEFAULT 'manual', as_of timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k personalize.profiles;
    d personalize.profiles;
    moved bigint;
    merged_consent text;
BEGIN
    IF keep IS NULL OR drop IS NULL OR force IS NULL OR cause IS NULL THEN
        RAISE EXCEPTION '% must not be null', CASE WHEN keep IS NULL OR drop IS NULL THEN 'profile ids'
                                                   WHEN force IS NULL THEN 'force' ELSE 'cause' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM personalize._check_as_of(as_of);
    IF keep = drop THEN
        RAISE EXCEPTION 'cannot merge profile % into itself', keep USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM FROM personalize.profiles WHERE profile_id IN (keep, drop) ORDER BY profile_id FOR UPDATE;
    SELECT * INTO k FROM personalize.profiles WHERE profile_id = keep;
    SELECT * INTO d FROM personalize.profiles WHERE profile_id = drop;
    IF k.profile_id IS NULL OR d.profile_id IS NULL THEN
        RAISE EXCEPTION 'profile % does not exist', CASE WHEN k.profile_id IS NULL THEN keep ELSE drop END
            USING ERRCODE = 'no_data_found';
    END IF;
    IF NOT force AND k.email_consent <> 'unknown' AND d.email_consent <> 'unknown'
       AND k.email_consent <> d.email_consent THEN
        -- The states are not named: alias() reaches here for writers, who may not read consent.
        RAISE EXCEPTION 'profiles % and % have conflicting e-mail consent', keep, drop
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Resolve the consent first, or pass force => true: the later of the two consent actions then wins.';
    END IF;

    -- A known state beats unknown; between two, the later action wins (a tie keeps the opt-out).
    merged_consent := CASE
        WHEN k.email_consent = d.email_consent OR d.email_consent = 'unknown' THEN k.email_consent
        WHEN k.email_consent = 'unknown' THEN d.email_consent
        WHEN k.consent_at > d.consent_at OR d.consent_at IS NULL THEN k.email_consent
        WHEN d.consent_at > k.consent_at OR k.consent_at IS NULL THEN d.email_consent
        ELSE 'unsubscribed' END;
    IF merged_consent <> k.email_consent THEN
        INSERT INTO personalize.consent_log (profile_id, changed_at, email_consent, source)
        VALUES (keep, greatest(k.consent_at, d.consent_at, as_of), merged_consent,
                format('merge of profile %s', drop));
    END IF;
    UPDATE personalize.events SET profile_id = keep WHERE profile_id = drop;
    GET DIAGNOSTICS moved = ROW_COUNT;
    -- the live state of both profiles' events: drop's added to keep's (src/scoring/live_state.c);
    -- drop's interest rows go with its profile row. RFM waits for score_rfm.
    PERFORM personalize._live_add(ARRAY(SELECT ROW(keep, r.live)::personalize.profile_live
                                          FROM personalize._live_read(ARRAY[drop]) r));
    DELETE FROM personalize.profile_interests x WHERE x.profile_id = drop;
    UPDATE personalize.identities SET profile_id = keep WHERE profile_id = drop;
    UPDATE personalize.consent_log SET profile_id = keep WHERE profile_id = drop;
    UPDATE personalize.profiles p
       SET user_id = coalesce(k.user_id, d.user_id),
           email = coalesce(k.email, d.email),
           email_hash = coalesce(k.email_hash, d.email_hash),
           traits = d.traits || k.traits,
           email_consent = merged_consent,
           lawful_basis = coalesce(k.lawful_basis, d.lawful_basis),
           do_not_sell = k.do_not_sell OR d.do_not_sell,
           consent_at = greatest(k.consent_at, d.consent_at),
           event_count = k.event_count + d.event_count,
           first_seen_at = least(k.first_seen_at, d.first_seen_at),
           last_seen_at = greatest(k.last_seen_at, d.last_seen_at),
           created_at = least(k.created_at, d.created_at),
           rfm_r = NULL, rfm_f = NULL, rfm_m = NULL, rfm_segment = NULL,
           updated_at = statement_timestamp()
     WHERE p.profile_id = keep;
    -- queued sends, send history, decisions and suppressions follow the person (src/send/profile_data.sql)
    PERFORM personalize._merge_sends(keep, drop, as_of);
    -- journey runs and their log follow the person too (src/journey/profile_data.sql)
    PERFORM personalize._merge_journeys(keep, drop, as_of);
    DELETE FROM personalize.profiles WHERE profile_id = drop;
    WITH gone AS (DELETE FROM personalize.segment_members m WHERE m.profile_id = drop RETURNING m.segment_id)
    INSERT INTO personalize.segment_log (segment_id, profile_id, change, at, cause)
    SELECT segment_id, drop, 'exited', as_of, 'merge into ' || keep FROM gone;
    DELETE FROM personalize.segment_pending sp WHERE sp.profile_id = drop;
    IF cause NOT LIKE 'ingest:%' THEN      -- the ingest trigger re-evaluates the profiles it touched
        PERFORM personalize._segments_live(ARRAY[keep], '{}'::text[], '{*}'::text[], 'merge'::text);
    END IF;
    INSERT INTO personalize.merge_log (kept_profile, dropped_profile, cause, forced, events_moved, merged_at)
    VALUES (keep, drop, cause, force, moved, as_of);
    PERFORM personalize._invalidate('personalize.identities'::regclass);
    RETURN keep;
END
$$;
COMMENT ON FUNCTION personalize.merge_profiles(bigint, bigint, boolean, text, timestamptz) IS
'Moves everything of profile drop into keep (keep''s traits win) and logs it; refuses conflicting consent unless forced, then the later consent action wins';

-- The profile an identity resolves to, or NULL. SECURITY DEFINER: writers, who may not read
-- identities, learn the profile of an id they could identify() anyway.
CREATE FUNCTION personalize.resolve_identity(kind text, value text)
RETURNS bigint
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT i.profile_id FROM personalize.identities i WHERE i.kind = $1 AND i.value = $2 $$;

-- Attaches an identity to a profile, or returns the profile that already holds it.
CREATE FUNCTION personalize._claim_identity(kind text, value text, profile_id bigint)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO personalize.identities (kind, value, profile_id) VALUES ($1, $2, $3)
        ON CONFLICT DO NOTHING;
    RETURN personalize.resolve_identity($1, $2);
END
$$;

CREATE FUNCTION personalize.identify(user_id text, traits jsonb DEFAULT '{}', anonymous_id text DEFAULT NULL,
                                     as_of timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pid bigint;
    anon_pid bigint;
    email_norm text;
    hash text;
    created boolean := false;
BEGIN
    PERFORM personalize._check_id('user_id'::text, identify.user_id);
    PERFORM personalize._check_as_of(as_of);
    IF identify.anonymous_id IS NOT NULL THEN
        PERFORM personalize._check_id('anonymous_id'::text, identify.anonymous_id);
    END IF;
    identify.traits := coalesce(identify.traits, '{}');
    IF jsonb_typeof(identify.traits) <> 'object' THEN
        RAISE EXCEPTION 'traits must be a JSON object, not %', jsonb_typeof(identify.traits)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Traits are capped as event properties are (64 bytes is the setting's least value).
    IF pg_column_size(identify.traits) > 64 AND pg_column_size(identify.traits) >
       (SELECT s.setting::integer FROM pg_settings s WHERE s.name = 'personalize.max_event_bytes') THEN
        RAISE EXCEPTION 'the traits are too large' USING ERRCODE = 'program_limit_exceeded',
            DETAIL = format('They take %s bytes; personalize.max_event_bytes is %s.',
                            pg_column_size(identify.traits), current_setting('personalize.max_event_bytes'));
    END IF;
    IF identify.traits ? 'email' AND jsonb_typeof(identify.traits -> 'email') <> 'null' THEN
        IF jsonb_typeof(identify.traits -> 'email') <> 'string' THEN
            RAISE EXCEPTION 'the email trait must be a string' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        email_norm := personalize.normalize_email(identify.traits ->> 'email');
        hash := personalize.email_hash(email_norm);
    END IF;

    -- The profile is locked once found: a merge_profiles or forget that removes it and commits
    -- while this call waits for the lock sends it back to resolve the user_id anew (to the kept
    -- profile, or to none after an erasure), so that nothing is written to a removed profile.
    LOOP
        pid := personalize.resolve_identity('user_id'::text, identify.user_id);
        anon_pid := personalize.resolve_identity('anonymous_id'::text, identify.anonymous_id);
        IF pid IS NULL THEN
            -- A known anonymous visitor, or a profile known only by e-mail, becomes this user.
            pid := coalesce(
                (SELECT p.profile_id FROM personalize.profiles p WHERE p.profile_id = anon_pid AND p.user_id IS NULL
                    FOR UPDATE),
                (SELECT p.profile_id FROM personalize.profiles p
                  WHERE p.profile_id = personalize.resolve_identity('email_hash'::text, hash) AND p.user_id IS NULL
                    FOR UPDATE));
            IF pid IS NULL THEN
                INSERT INTO personalize.profiles (user_id, created_at) VALUES (identify.user_id, as_of)
                RETURNING profile_id INTO pid;
                created := true;
            END IF;
            pid := personalize._claim_identity('user_id'::text, identify.user_id, pid);
            UPDATE personalize.profiles p SET user_id = identify.user_id WHERE p.profile_id = pid AND p.user_id IS NULL;
            DELETE FROM personalize.profiles p WHERE p.profile_id <> pid AND p.user_id = identify.user_id
               AND NOT EXISTS (SELECT FROM personalize.identities i WHERE i.profile_id = p.profile_id);
        END IF;
        PERFORM FROM personalize.profiles p WHERE p.profile_id = pid FOR UPDATE;
        EXIT WHEN FOUND;
        -- what still names the removed profile (nothing after a committed merge or erasure; an
        -- identity left by a bug otherwise) goes, so that the loop ends
        DELETE FROM personalize.identities i WHERE i.profile_id = pid;
    END LOOP;
    IF identify.anonymous_id IS NOT NULL THEN
        anon_pid := personalize._claim_identity('anonymous_id'::text, identify.anonymous_id, pid);
        IF anon_pid <> pid AND EXISTS (SELECT FROM personalize.profiles p
                                        WHERE p.profile_id = anon_pid AND p.user_id IS NULL) THEN
            PERFORM personalize.merge_profiles(pid, anon_pid, force => true, cause => 'identify'::text, as_of => as_of);
        END IF;
    END IF;
    IF hash IS NOT NULL THEN
        PERFORM personalize._claim_identity('email_hash'::text, hash, pid);
    END IF;
    UPDATE personalize.profiles p
       SET traits = p.traits || identify.traits,
           email = coalesce(email_norm, p.email),
           email_hash = coalesce(hash, p.email_hash),
           updated_at = statement_timestamp()
     WHERE p.profile_id = pid;
    PERFORM personalize._segments_live(ARRAY[pid], '{}'::text[], CASE WHEN created THEN '{*}'::text[]
                                                            ELSE '{traits,email,user_id}'::text[] END, 'identify'::text);
    RETURN pid;
END
$$;
COMMENT ON FUNCTION personalize.identify(text, jsonb, text, timestamptz) IS
'Finds or creates the profile of user_id, merges in its anonymous activity, and records its traits';

CREATE FUNCTION personalize.alias(previous_id text, user_id text, as_of timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pid bigint;
    prev bigint;
BEGIN
    PERFORM personalize._check_id('previous_id'::text, alias.previous_id);
    PERFORM personalize._check_as_of(as_of);
    -- The profiles both ids resolve to now are locked first, in profile_id order as merge_profiles
    -- and ingest lock them: locking user_id's and then previous_id's could deadlock with a merge or
    -- another alias of the two taking them the other way round.
    PERFORM FROM personalize.profiles p
     WHERE p.profile_id IN (personalize.resolve_identity('user_id'::text, alias.user_id),
                            personalize.resolve_identity('user_id'::text, alias.previous_id),
                            personalize.resolve_identity('anonymous_id'::text, alias.previous_id))
     ORDER BY p.profile_id FOR UPDATE;
    pid := personalize.identify(alias.user_id, '{}'::jsonb, NULL::text, as_of);   -- locks pid
    -- previous_id's profile, locked; resolved anew if a merge or erasure removed it meanwhile
    LOOP
        prev := coalesce(personalize.resolve_identity('user_id'::text, alias.previous_id),
                         personalize.resolve_identity('anonymous_id'::text, alias.previous_id));
        EXIT WHEN prev IS NULL OR prev = pid;
        PERFORM FROM personalize.profiles p WHERE p.profile_id = prev FOR UPDATE;
        EXIT WHEN FOUND;
        DELETE FROM personalize.identities i WHERE i.profile_id = prev;   -- as in identify()
    END LOOP;
    IF prev IS NULL THEN
        -- An id never seen: whether it was anonymous or a former user id, events under it are
        -- this user's from now on.
        PERFORM personalize._claim_identity('anonymous_id'::text, alias.previous_id, pid);
        PERFORM personalize._claim_identity('user_id'::text, alias.previous_id, pid);
    ELSIF prev <> pid THEN
        PERFORM personalize.merge_profiles(pid, prev, cause => 'alias'::text, as_of => as_of);
    END IF;
    RETURN pid;
END
$$;
COMMENT ON FUNCTION personalize.alias(text, text, timestamptz) IS
'Declares previous_id (an anonymous or former user id) to be user_id; their profiles become one';

CREATE VIEW personalize.duplicate_profiles AS
SELECT email_hash, count(*) AS profiles, array_agg(profile_id ORDER BY profile_id) AS profile_ids
  FROM personalize.profiles
 WHERE email_hash IS NOT NULL
 GROUP BY email_hash
HAVING count(*) > 1;
COMMENT ON VIEW personalize.duplicate_profiles IS
'Profiles sharing a normalized e-mail address: candidates for merge_profiles()';
