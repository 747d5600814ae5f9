-- Privileges: everything goes to the personalize_* roles, nothing to PUBLIC.
--   personalize_admin    reads and writes every table (never TRIGGER, TRUNCATE or REFERENCES: a
--                        trigger of theirs would fire inside the owner's SECURITY DEFINER functions)
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

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA personalize TO personalize_admin;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA personalize TO personalize_admin;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA personalize TO personalize_admin;

GRANT SELECT ON ALL TABLES IN SCHEMA personalize TO personalize_analyst;
GRANT EXECUTE ON FUNCTION personalize.normalize_email(text, boolean, boolean), personalize.email_hash(text),
    personalize.fingerprint(jsonb), personalize.resolve_identity(text, text), personalize.last_ingest()
    TO personalize_analyst, personalize_writer;

-- Writers name only the columns of an event: profile_id, event_id and received_at are the
-- pipeline's (the row trigger sets them whatever a caller supplies).
GRANT INSERT (user_id, anonymous_id, event, properties, occurred_at, message_id) ON personalize.events
    TO personalize_writer;
GRANT SELECT ON personalize.event_schemas TO personalize_writer;
GRANT EXECUTE ON FUNCTION personalize.track(text, text, jsonb, timestamptz, text, text),
    personalize.identify(text, jsonb, text, timestamptz), personalize.alias(text, text, timestamptz),
    personalize.set_consent(bigint, text, text, boolean, text, timestamptz)
    TO personalize_writer;

-- Audiences (src/audience.sql): analysts may use all of it. Type I/O, aggregate support and
-- cast functions are checked against the type's or aggregate's owner, not the caller; they are
-- granted anyway so that calling them by name behaves like the rest.
GRANT EXECUTE ON FUNCTION personalize.audience_in(cstring), personalize.audience_out(personalize.audience),
    personalize.audience_recv(internal), personalize.audience_send(personalize.audience),
    personalize.audience(bytea),
    personalize.audience_and(personalize.audience, personalize.audience),
    personalize.audience_or(personalize.audience, personalize.audience),
    personalize.audience_andnot(personalize.audience, personalize.audience),
    personalize.audience_eq(personalize.audience, personalize.audience),
    personalize.audience_ne(personalize.audience, personalize.audience),
    personalize.cardinality(personalize.audience),
    personalize.overlap(personalize.audience, personalize.audience),
    personalize.jaccard(personalize.audience, personalize.audience),
    personalize.contains(personalize.audience, bigint),
    personalize.audience_contained(bigint, personalize.audience),
    personalize.audience_members(personalize.audience),
    personalize.audience_from_array(bigint[]),
    personalize.audience_agg_trans(internal, bigint),
    personalize.audience_union_trans(internal, personalize.audience),
    personalize.audience_intersect_trans(internal, personalize.audience),
    personalize.audience_union_combine(internal, internal),
    personalize.audience_intersect_combine(internal, internal),
    personalize.audience_agg_final(internal),
    personalize.audience_agg_serialize(internal),
    personalize.audience_agg_deserialize(bytea, internal),
    personalize.audience_agg(bigint), personalize.audience_union_agg(personalize.audience),
    personalize.audience_intersect_agg(personalize.audience)
    TO personalize_analyst;

-- Segments: analysts define rule segments (compiled, never raw SQL) and read memberships;
-- SQL segments run arbitrary SQL and stay with admins.
GRANT EXECUTE ON FUNCTION personalize.create_segment(text, jsonb, timestamptz),
    personalize.alter_segment(text, jsonb, timestamptz), personalize.drop_segment(text),
    personalize._segment_drop(text),
    personalize.refresh_segment(text, timestamptz), personalize.refresh_segments(text[], timestamptz),
    personalize.tick(timestamptz),
    personalize.bucket(bigint, text), personalize.days_to_anniversary(text, timestamptz)
    TO personalize_analyst;
GRANT EXECUTE ON FUNCTION personalize.in_segment(text, bigint), personalize.segments_of(bigint)
    TO personalize_analyst;
-- The conditions of SQL segments run as the owner: no role may write them (superusers only).
REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON personalize.segment_sql FROM personalize_admin;

GRANT EXECUTE ON FUNCTION personalize.render(text, jsonb, boolean, timestamptz, jsonb, boolean),
    personalize.render_json(text, json, boolean, timestamptz, jsonb, boolean),
    personalize._render_part(text, jsonb, boolean, timestamptz, jsonb, boolean, "char"),
    personalize.context(bigint, timestamptz),
    personalize.render_email(text, bigint, jsonb, timestamptz, boolean), personalize._email_template(text),
    personalize.render_emails(text, bigint[], jsonb[], timestamptz, boolean),
    personalize._usable_amount(numeric), personalize._live_state_at(bigint, timestamptz), personalize._interests_at(bigint, integer, timestamptz),
    personalize._live_fold(timestamptz, bigint, text, jsonb, float8, float8, text, text[], text),
    personalize._cart_log_add(jsonb, text[], jsonb[], timestamptz[], bigint[]), personalize._cart_of(jsonb),
    personalize._cart_updated_at(jsonb), personalize._cart_log_from_events(bigint, timestamptz),
    personalize._engagement_from_events(bigint, timestamptz), personalize._engagement_recheck(bigint, timestamptz, float8),
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
GRANT EXECUTE ON FUNCTION personalize.audience(text, timestamptz) TO personalize_analyst;

-- Internal functions (named _*) are the owner's: SECURITY DEFINER functions and triggers call
-- them. No role may call them directly (a writer calling _ingest_end would forge last_ingest()),
-- except those that run in the caller's own context: the steps of render_email and context,
-- granted to analysts by name above (and kept for admins), the check of event_schemas (a CHECK
-- constraint, evaluated as the writer of the row), and the two helpers the template and
-- event-schema triggers call as that writer. sql/security.sql lists what stays granted.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT p.oid::pg_catalog.regprocedure FROM pg_catalog.pg_proc p
         WHERE p.pronamespace OPERATOR(pg_catalog.=) 'personalize'::pg_catalog.regnamespace
           AND p.proname OPERATOR(pg_catalog.~~) '\_%'
           AND NOT pg_catalog.has_function_privilege('personalize_analyst', p.oid, 'EXECUTE')
           AND p.proname OPERATOR(pg_catalog.<>) ALL (ARRAY['_check_event_schema', '_liquid_check', '_invalidate'])
    LOOP
        EXECUTE pg_catalog.format('REVOKE EXECUTE ON ROUTINE %s FROM personalize_admin, personalize_writer', f);
    END LOOP;
END
$$;
