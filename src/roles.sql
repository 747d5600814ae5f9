-- Privileges: everything goes to the personalize_* roles, nothing to PUBLIC.
--   personalize_admin    everything
--   personalize_writer   ingestion: INSERT/COPY into events, track, identify, alias, set_consent
--   personalize_analyst  reads every table and view, manages rule segments
-- Roles are cluster-wide, so a second database installing the extension reuses them.

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['personalize_admin', 'personalize_writer', 'personalize_analyst'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END
$$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA personalize FROM PUBLIC;
GRANT USAGE ON SCHEMA personalize TO personalize_admin, personalize_writer, personalize_analyst;

GRANT ALL ON ALL TABLES IN SCHEMA personalize TO personalize_admin;
GRANT ALL ON ALL SEQUENCES IN SCHEMA personalize TO personalize_admin;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA personalize TO personalize_admin;

GRANT SELECT ON ALL TABLES IN SCHEMA personalize TO personalize_analyst;
GRANT EXECUTE ON FUNCTION personalize.normalize_email(text, boolean, boolean), personalize.email_hash(text),
    personalize.fingerprint(jsonb), personalize.resolve_identity(text, text), personalize.last_ingest()
    TO personalize_analyst, personalize_writer;

GRANT INSERT ON personalize.events TO personalize_writer;
GRANT USAGE ON SEQUENCE personalize.event_id_seq TO personalize_writer;
GRANT SELECT ON personalize.event_schemas TO personalize_writer;
GRANT EXECUTE ON FUNCTION personalize.track(text, text, jsonb, timestamptz, text, text),
    personalize.identify(text, jsonb, text, timestamptz), personalize.alias(text, text, timestamptz),
    personalize.set_consent(bigint, text, text, boolean, text, timestamptz),
    personalize._events_before_statement(), personalize._events_before_row(),
    personalize._events_after_insert(), personalize._ingest_end(bigint, bigint, boolean),
    personalize._ingest_pending_rejects(), personalize._ingest_pending_identities()
    TO personalize_writer;

-- Segments: analysts define rule segments (compiled, never raw SQL) and read memberships;
-- SQL segments run arbitrary SQL and stay with admins.
GRANT EXECUTE ON FUNCTION personalize.create_segment(text, jsonb, timestamptz),
    personalize.alter_segment(text, jsonb, timestamptz), personalize.drop_segment(text),
    personalize.refresh_segment(text, timestamptz), personalize.tick(timestamptz),
    personalize.bucket(bigint, text), personalize.days_to_anniversary(text, timestamptz)
    TO personalize_analyst;
GRANT EXECUTE ON FUNCTION personalize.in_segment(text, bigint), personalize.segments_of(bigint)
    TO personalize_analyst, personalize_writer;

GRANT EXECUTE ON FUNCTION personalize.render(text, jsonb, boolean, timestamptz, jsonb, boolean),
    personalize.render_json(text, json, boolean, timestamptz, jsonb, boolean),
    personalize._render_part(text, jsonb, boolean, timestamptz, jsonb, boolean, "char"),
    personalize.context(bigint, timestamptz), personalize._cart(bigint, timestamptz),
    personalize.render_email(text, bigint, jsonb, timestamptz, boolean), personalize._email_template(text),
    personalize.liquid_cache_stats()
    TO personalize_analyst;

-- Scoring: analysts read and compute scores and edit the segment rules; score_rfm and
-- rebuild_scores write every profile and stay with personalize_admin.
GRANT EXECUTE ON FUNCTION personalize.decay(float8, timestamptz, timestamptz, interval), personalize.half_life(),
    personalize.engagement(timestamptz, float8, interval, timestamptz),
    personalize.rfm_agg(timestamptz, numeric, timestamptz), personalize.purchase_amount(jsonb, text[]),
    personalize.rfm_score(float8, float8[], boolean), personalize.rfm_breakpoints(float8[]),
    personalize.recency_days(timestamptz, timestamptz),
    personalize.rfm_segment(integer, integer, integer), personalize.event_category(jsonb, text),
    personalize.engagement_score(bigint, timestamptz), personalize.engagement_scores(timestamptz),
    personalize.top_interests(bigint, integer, timestamptz),
    personalize.ignored_rows(), personalize.reset_ignored_rows()
    TO personalize_analyst;
GRANT INSERT, UPDATE, DELETE ON personalize.rfm_segments TO personalize_analyst;
