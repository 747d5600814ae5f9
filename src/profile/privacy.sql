-- Privacy: the right to erasure (forget) and the right of access (export_profile).

CREATE TABLE personalize.erasure_log (
    profile_id          bigint PRIMARY KEY,
    erased_at           timestamptz NOT NULL,
    events_deleted      bigint NOT NULL,
    identities_deleted  bigint NOT NULL,
    rejected_deleted    bigint NOT NULL,
    requested_by        text NOT NULL,
    sends_deleted       bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE personalize.erasure_log IS 'That an erasure happened, with counts; nothing about the person';

CREATE FUNCTION personalize.forget(profile_id bigint, as_of timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n_events bigint;
    n_identities bigint;
    n_rejected bigint;
    n_sends bigint;
    ids text[];
BEGIN
    PERFORM personalize._check_as_of(as_of);
    PERFORM FROM personalize.profiles p WHERE p.profile_id = forget.profile_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'profile % does not exist', forget.profile_id USING ERRCODE = 'no_data_found',
            HINT = 'Erased profiles are listed in personalize.erasure_log.';
    END IF;
    SELECT array_agg(i.value) INTO ids FROM personalize.identities i
     WHERE i.profile_id = forget.profile_id AND i.kind IN ('user_id', 'anonymous_id');
    -- The events go with the keys that held their message_ids (or content hashes), so that the
    -- erased person leaves no trace and a message re-sent after the erasure is a new event.
    WITH gone AS (
        DELETE FROM personalize.events e WHERE e.profile_id = forget.profile_id
        RETURNING e.message_id, e.event_id
    ), keys AS (
        -- by message_id alone: a stored event holds its key, and a data-only restore through the
        -- row trigger numbers events anew
        DELETE FROM personalize.event_keys k USING gone g WHERE k.message_id = g.message_id
    )
    SELECT count(*) INTO n_events FROM gone;
    DELETE FROM personalize.rejected_events r
     WHERE r.payload ->> 'user_id' = ANY (ids) OR r.payload ->> 'anonymous_id' = ANY (ids);
    GET DIAGNOSTICS n_rejected = ROW_COUNT;
    DELETE FROM personalize.identities i WHERE i.profile_id = forget.profile_id;
    GET DIAGNOSTICS n_identities = ROW_COUNT;
    DELETE FROM personalize.consent_log c WHERE c.profile_id = forget.profile_id;
    -- the causes of the merges that made this profile (the caller's text: it may name the person)
    -- are erased; their ids, counts and times stay, as in erasure_log
    WITH RECURSIVE made(profile_id, depth) AS (
        SELECT forget.profile_id, 0
        UNION ALL
        SELECT m.dropped_profile, d.depth + 1
          FROM made d JOIN personalize.merge_log m ON m.kept_profile = d.profile_id
         WHERE d.depth < 1000
    )
    UPDATE personalize.merge_log m SET cause = 'erased'
      FROM (SELECT DISTINCT d.profile_id FROM made d) d
     WHERE m.kept_profile = d.profile_id;
    DELETE FROM personalize.profile_interests x WHERE x.profile_id = forget.profile_id;
    DELETE FROM personalize.segment_members m WHERE m.profile_id = forget.profile_id;
    DELETE FROM personalize.segment_pending sp WHERE sp.profile_id = forget.profile_id;
    DELETE FROM personalize.segment_log l WHERE l.profile_id = forget.profile_id;
    -- the outbox and its history (a send's extra may hold personal data), decisions, suppressions
    n_sends := personalize._forget_sends(forget.profile_id);
    -- journey runs and their log (a run's context holds event properties and the cart)
    PERFORM personalize._forget_journeys(forget.profile_id);
    -- the profile's cluster and its items in the stored recommendation state
    PERFORM personalize._forget_predictions(forget.profile_id);
    DELETE FROM personalize.profiles p WHERE p.profile_id = forget.profile_id;
    INSERT INTO personalize.erasure_log VALUES (forget.profile_id, as_of, n_events, n_identities, n_rejected,
                                                session_user, n_sends);
    PERFORM personalize._invalidate('personalize.identities'::regclass);
    RETURN n_events;
END
$$;
COMMENT ON FUNCTION personalize.forget(bigint, timestamptz) IS
'Right to erasure: deletes the profile, its identities, consent history, events, quarantined events, sends, journey runs, cluster and recommendation items; logs the fact';

CREATE FUNCTION personalize.export_profile(profile_id bigint)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result jsonb;
BEGIN
    SELECT jsonb_build_object(
        'profile', to_jsonb(p),
        'identities', coalesce((SELECT jsonb_agg(jsonb_build_object('kind', i.kind, 'value', i.value,
                                                                    'created_at', i.created_at)
                                                 ORDER BY i.kind, i.value)
                                  FROM personalize.identities i WHERE i.profile_id = p.profile_id), '[]'),
        'consent_history', coalesce((SELECT jsonb_agg(to_jsonb(c) - 'profile_id' ORDER BY c.changed_at, c.logged_at)
                                       FROM personalize.consent_log c WHERE c.profile_id = p.profile_id), '[]'),
        'events', coalesce((SELECT jsonb_agg(to_jsonb(e) - 'profile_id' ORDER BY e.occurred_at, e.event_id)
                              FROM personalize.events e WHERE e.profile_id = p.profile_id), '[]'),
        'interests', coalesce((SELECT jsonb_agg(to_jsonb(x) - 'profile_id' ORDER BY x.category)
                                 FROM personalize.profile_interests x WHERE x.profile_id = p.profile_id), '[]'),
        'merges', coalesce((SELECT jsonb_agg(to_jsonb(m) ORDER BY m.merge_id)
                              FROM personalize.merge_log m WHERE m.kept_profile = p.profile_id), '[]'))
           || personalize._export_sends(p.profile_id)
           || personalize._export_journeys(p.profile_id)
      INTO result
      FROM personalize.profiles p
     WHERE p.profile_id = export_profile.profile_id;
    IF result IS NULL THEN
        RAISE EXCEPTION 'profile % does not exist', export_profile.profile_id USING ERRCODE = 'no_data_found';
    END IF;
    RETURN result;
END
$$;
COMMENT ON FUNCTION personalize.export_profile(bigint) IS
'Right of access: everything stored about a profile as one JSON document';

SELECT pg_catalog.pg_extension_config_dump('personalize.erasure_log', '');
