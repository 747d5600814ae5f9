-- Delivery feedback (docs/sends.md, "Feedback"): events about sends (Email Delivered, Email
-- Bounced, Email Opened, Email Clicked, Email Marked as Spam, Unsubscribed) carrying send_id,
-- ingested like any event; a hard bounce or a complaint adds a suppression, in the statement.

-- Statement trigger on events: hard bounces and spam complaints suppress the profile of
-- their send (or the event's profile when the event names no send we know).
CREATE FUNCTION personalize._events_feedback()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO personalize.suppressions AS x (profile_id, reason, source, send_id, suppressed_at)
    SELECT DISTINCT ON (coalesce(s.profile_id, e.profile_id), f.reason)
           coalesce(s.profile_id, e.profile_id), f.reason, 'event: ' || e.event, s.send_id, e.occurred_at
      FROM new_events e
      CROSS JOIN LATERAL (SELECT CASE WHEN e.event = 'Email Marked as Spam' THEN 'complaint' ELSE 'hard_bounce' END AS reason) f
      LEFT JOIN LATERAL (SELECT a.send_id, a.profile_id FROM personalize.sends_all a
                          WHERE (e.properties ->> 'send_id') ~ '^[0-9]{1,18}$'
                            AND a.send_id = (e.properties ->> 'send_id')::bigint) s ON true
     WHERE (e.event = 'Email Marked as Spam'
            OR (e.event = 'Email Bounced' AND lower(e.properties ->> 'bounce_type') = 'hard'))
       -- a copy of an event already recorded (dropped by the ingest trigger before this one) counts once
       AND EXISTS (SELECT FROM personalize.event_keys k WHERE k.message_id = e.message_id AND k.event_id = e.event_id)
     ORDER BY coalesce(s.profile_id, e.profile_id), f.reason, e.occurred_at
        ON CONFLICT (profile_id, reason) DO NOTHING;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION personalize._events_feedback() IS
'Trigger: a hard Email Bounced or an Email Marked as Spam adds a suppression for the send''s profile';

-- Named to fire after events_after_statement (same-event triggers fire in name order), whose
-- event_keys tell which rows of the statement were kept.
CREATE TRIGGER events_feedback AFTER INSERT ON personalize.events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION personalize._events_feedback();

CREATE FUNCTION personalize.record_delivery(send_id bigint, kind text, properties jsonb DEFAULT '{}',
                                            as_of timestamptz DEFAULT now())
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s record;
    event text;
    uid text;
    anon text;
BEGIN
    PERFORM personalize._check_as_of(as_of);
    event := CASE kind WHEN 'delivered' THEN 'Email Delivered' WHEN 'bounced' THEN 'Email Bounced'
                       WHEN 'opened' THEN 'Email Opened' WHEN 'clicked' THEN 'Email Clicked'
                       WHEN 'complained' THEN 'Email Marked as Spam' WHEN 'unsubscribed' THEN 'Unsubscribed' END;
    IF event IS NULL THEN
        RAISE EXCEPTION 'invalid delivery kind "%"', kind USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use delivered, bounced, opened, clicked, complained or unsubscribed.';
    END IF;
    IF properties IS NULL OR jsonb_typeof(properties) <> 'object' THEN
        RAISE EXCEPTION 'properties must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF kind = 'bounced' AND coalesce(lower(properties ->> 'bounce_type'), '') NOT IN ('hard', 'soft') THEN
        RAISE EXCEPTION 'a bounce needs bounce_type hard or soft' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT a.send_id, a.profile_id, a.campaign_id, a.variant, a.template INTO s
      FROM personalize.sends_all a WHERE a.send_id = record_delivery.send_id;
    IF s.send_id IS NULL THEN
        RAISE EXCEPTION 'send % does not exist', send_id USING ERRCODE = 'no_data_found';
    END IF;
    SELECT p.user_id INTO uid FROM personalize.profiles p WHERE p.profile_id = s.profile_id;
    IF uid IS NULL THEN
        SELECT i.value INTO anon FROM personalize.identities i
         WHERE i.profile_id = s.profile_id AND i.kind = 'anonymous_id' ORDER BY i.value LIMIT 1;
    END IF;
    IF uid IS NULL AND anon IS NULL THEN
        RAISE EXCEPTION 'the profile of send % has no user_id or anonymous_id to record events with', send_id
            USING ERRCODE = 'no_data_found';
    END IF;
    -- once per send for delivered, complained, unsubscribed; opens, clicks and bounces once per instant
    RETURN personalize.track(uid, event,
        properties || jsonb_strip_nulls(jsonb_build_object('send_id', s.send_id, 'campaign_id', s.campaign_id,
                                                           'variant', s.variant, 'template', s.template)),
        as_of,
        'personalize:' || kind || ':' || s.send_id
            || CASE WHEN kind IN ('opened', 'clicked', 'bounced') THEN ':' || (extract(epoch FROM as_of) * 1000000)::bigint ELSE '' END,
        anon);
END
$$;
COMMENT ON FUNCTION personalize.record_delivery(bigint, text, jsonb, timestamptz) IS
'Records feedback about a send as an event (delivered, bounced, opened, clicked, complained, unsubscribed) carrying send_id, campaign_id, variant and template';
