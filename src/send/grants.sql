-- Privileges of the send path (docs/sends.md, "Roles"). The role personalize_sender may call
-- claim_sends, complete_send and fail_send (and their set forms, granted in src/send/settle.sql)
-- and nothing else: it reads no table. Writers enqueue one-off sends, record feedback and serve
-- one-click unsubscribes; analysts read the outbox and check the policy; admins run campaigns and
-- edit settings, caps and suppressions. Nobody but the extension's owner reads
-- personalize.unsubscribe_secrets.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'personalize_sender') THEN
        CREATE ROLE personalize_sender NOLOGIN;
    END IF;
END
$$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA personalize FROM PUBLIC;
GRANT USAGE ON SCHEMA personalize TO personalize_sender;

GRANT EXECUTE ON FUNCTION personalize.claim_sends(text, integer, interval, timestamptz),
    personalize.complete_send(bigint, text, timestamptz, text),
    personalize.fail_send(bigint, text, boolean, interval, timestamptz)
    TO personalize_sender, personalize_admin;

GRANT EXECUTE ON FUNCTION personalize.enqueue_send(text, bigint, text, jsonb, text, timestamptz, integer, timestamptz),
    personalize.record_delivery(bigint, text, jsonb, timestamptz),
    personalize.unsubscribe(text, timestamptz)
    TO personalize_writer, personalize_admin;

GRANT EXECUTE ON FUNCTION personalize.send_policy(bigint, text, text, timestamptz),
    personalize.send_policies(bigint[], text, text, timestamptz),
    personalize.send_backoff(bigint, integer),
    personalize.parse_audience(text),
    personalize.utm_tag(text, jsonb)
    TO personalize_analyst, personalize_admin;

-- what the policy and campaign functions called by analysts and admins run as the caller
GRANT EXECUTE ON FUNCTION personalize._policy(bigint[], text[], integer[], integer[], bigint[], timestamptz),
    personalize._policy_args(text, text, timestamptz),
    personalize._timezone_or(text, text), personalize._strictly_ascending(bigint[]),
    personalize._audience_segments(jsonb), personalize._audience_reduce(jsonb[], text),
    personalize._url_encode(text)
    TO personalize_analyst, personalize_admin;

GRANT EXECUTE ON FUNCTION personalize.create_campaign(text, text, text, text, integer, text, text, timestamptz, time, numeric, boolean, jsonb),
    personalize.alter_campaign(text, jsonb), personalize.pause_campaign(text), personalize.resume_campaign(text),
    personalize.cancel_campaign(text, timestamptz), personalize.launch_campaign(text, timestamptz, bigint),
    personalize.schedule_campaign(text, text), personalize.unschedule_campaign(text),
    personalize.requeue_dead(bigint[], timestamptz),
    personalize._enqueue(bigint[], text[], jsonb[], timestamptz[], text[], text, text, integer, integer, bigint, timestamptz,
                         integer, bigint[], text),
    personalize._sends_notify(bigint, timestamptz, text), personalize._sends_finish(bigint[], text, timestamptz, text),
    personalize._audience_eval(jsonb, timestamptz), personalize._campaign_check(personalize.campaigns),
    personalize._campaign_for_update(text), personalize._campaign_status(text, text),
    personalize._next_local_time(timestamptz, text, time)
    TO personalize_admin;

GRANT SELECT ON personalize.sends, personalize.send_history, personalize.sends_all, personalize.send_keys,
    personalize.send_settings, personalize.suppressions, personalize.frequency_caps, personalize.send_decisions,
    personalize.campaigns, personalize.campaign_runs, personalize.send_tick_state
    TO personalize_analyst, personalize_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON personalize.sends, personalize.send_history, personalize.send_keys,
    personalize.suppressions, personalize.frequency_caps, personalize.send_decisions,
    personalize.campaigns, personalize.campaign_runs, personalize.send_tick_state
    TO personalize_admin;
GRANT UPDATE ON personalize.send_settings TO personalize_admin;
GRANT USAGE ON SEQUENCE personalize.send_id_seq TO personalize_admin;
