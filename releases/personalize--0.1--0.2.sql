-- personalize 0.1 → 0.2: the changes to objects that 0.1 created. The modules first shipped in
-- 0.2 (NEW_IN_0_2 in the Makefile) follow this file in the built upgrade script, created whole.
-- test/suites/upgrade installs 0.1, updates, and compares the catalog with a fresh 0.2 install.

-- ---- livestate (issue 13): context() and render_email() in C (src/render/email.c), the set form
-- render_emails(), and the exact path a context takes for a time before the live state.
-- What a profile's live state holds, as one value: the cart and the purchase and engagement state
-- (a context reads it from the profile row, or recomputes it as of a time: _live_state_at).
CREATE TYPE personalize.live_state AS (
    cart               jsonb,
    purchase_count     bigint,
    purchase_total     numeric,
    first_purchase_at  timestamptz,
    last_purchase_at   timestamptz,
    purchases_ignored  bigint,
    engagement         float8,
    engagement_as_of   timestamptz
);

-- The exact path: a profile's live state recomputed from its events up to as_of, for a time before
-- the live state (which holds every event folded in, including those after as_of).
CREATE FUNCTION personalize._live_state_at(profile_id bigint, as_of timestamptz)
RETURNS personalize.live_state
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH scored AS (
        SELECT e.occurred_at, w.engagement_weight, e.event = st.purchase_event AS purchase,
               CASE WHEN e.event = st.purchase_event
                    THEN personalize.purchase_amount(e.properties, st.amount_properties) END AS amount
          FROM personalize.events e
         CROSS JOIN personalize.scoring_settings st
          LEFT JOIN personalize.scoring_events w ON w.event = e.event
         WHERE e.profile_id = $1 AND e.occurred_at <= $2
           AND (w.engagement_weight <> 0 OR e.event = st.purchase_event)
    ), s AS (
        SELECT count(*) FILTER (WHERE s.amount >= 0 AND s.amount < 'Infinity') AS purchases,
               coalesce(sum(s.amount) FILTER (WHERE s.amount >= 0 AND s.amount < 'Infinity'), 0) AS total,
               min(s.occurred_at) FILTER (WHERE s.amount >= 0 AND s.amount < 'Infinity') AS first_at,
               max(s.occurred_at) FILTER (WHERE s.amount >= 0 AND s.amount < 'Infinity') AS last_at,
               count(*) FILTER (WHERE s.purchase AND NOT coalesce(s.amount >= 0 AND s.amount < 'Infinity', false)) AS ignored,
               personalize._engagement_state(s.occurred_at, s.engagement_weight, personalize.half_life())
                   FILTER (WHERE s.engagement_weight <> 0) AS engagement
          FROM scored s
    )
    SELECT ROW(personalize._cart($1, $2), s.purchases, s.total, s.first_at, s.last_at, s.ignored,
               coalesce((s.engagement).score, 0), (s.engagement).as_of)::personalize.live_state
      FROM s
$$;

-- The exact path of top interests: the n categories with the highest affinity as of as_of,
-- computed from the events up to as_of (best first, ties by name).
CREATE FUNCTION personalize._interests_at(profile_id bigint, n integer, as_of timestamptz)
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(array_agg(t.category ORDER BY t.score DESC, t.category), '{}')
      FROM (SELECT personalize.event_category(e.properties, st.category_property) AS category,
                   personalize.engagement(e.occurred_at, w.interest_weight, personalize.half_life(), $3) AS score
              FROM personalize.events e
             CROSS JOIN personalize.scoring_settings st
              JOIN personalize.scoring_events w ON w.event = e.event AND w.interest_weight > 0
             WHERE e.profile_id = $1 AND e.occurred_at <= $3
               AND personalize.event_category(e.properties, st.category_property) IS NOT NULL
             GROUP BY 1
             ORDER BY 2 DESC, 1
             LIMIT $2) t
$$;

DROP FUNCTION personalize.context(bigint, timestamptz);
CREATE FUNCTION personalize.context(profile_id bigint, as_of timestamptz DEFAULT now())
RETURNS jsonb
AS 'MODULE_PATHNAME', 'personalize_context'
LANGUAGE C STABLE;
COMMENT ON FUNCTION personalize.context(bigint, timestamptz) IS
'What a template sees of a profile as of as_of (src/render/email.c): ids, email, traits, consent, activity, cart, purchases, scores, segments; live state, or recomputed from the events up to as_of when the profile holds later ones';

DROP FUNCTION personalize.render_email(text, bigint, jsonb, timestamptz, boolean);
CREATE FUNCTION personalize.render_email(template_name text, profile_id bigint, extra jsonb DEFAULT '{}',
                                         as_of timestamptz DEFAULT now(), strict boolean DEFAULT false,
                                         OUT subject text, OUT html text, OUT text text)
RETURNS record
AS 'MODULE_PATHNAME', 'personalize_render_email'
LANGUAGE C STABLE;
COMMENT ON FUNCTION personalize.render_email(text, bigint, jsonb, timestamptz, boolean) IS
'Subject, HTML body (every {{ }} HTML-escaped unless its last filter is raw) and text body of a stored '
'template for a profile: context(profile_id, as_of) with the keys of extra on top';

CREATE FUNCTION personalize.render_emails(template_name text, profile_ids bigint[], extras jsonb[] DEFAULT NULL,
                                          as_of timestamptz DEFAULT now(), strict boolean DEFAULT false)
RETURNS TABLE (ord integer, profile_id bigint, subject text, html text, text text, error text)
AS 'MODULE_PATHNAME', 'personalize_render_emails'
LANGUAGE C STABLE;
COMMENT ON FUNCTION personalize.render_emails(text, bigint[], jsonb[], timestamptz, boolean) IS
'render_email() for a batch: a row per position ord (1-based) of profile_ids, extras[ord] on top of its context; '
'the template compiled and each partial read once; a failed row has NULL parts and error ''SQLSTATE: message''';

REVOKE ALL ON FUNCTION personalize._live_state_at(bigint, timestamptz), personalize._interests_at(bigint, integer, timestamptz),
    personalize.context(bigint, timestamptz), personalize.render_email(text, bigint, jsonb, timestamptz, boolean),
    personalize.render_emails(text, bigint[], jsonb[], timestamptz, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION personalize._live_state_at(bigint, timestamptz), personalize._interests_at(bigint, integer, timestamptz),
    personalize.context(bigint, timestamptz), personalize.render_email(text, bigint, jsonb, timestamptz, boolean),
    personalize.render_emails(text, bigint[], jsonb[], timestamptz, boolean) TO personalize_admin, personalize_analyst;
-- ---- sends (src/send/): tick() also runs the outbox's share of the clock, _sends_tick (created
-- with the send modules below; PL/pgSQL resolves it when tick runs).
CREATE OR REPLACE FUNCTION personalize.tick(as_of timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    seg personalize.segments;
    ids bigint[];
    r record;
    changed text[] := '{}';
    changed_ids bigint[] := '{}';
    summary jsonb := '[]';
    total bigint := 0;
BEGIN
    PERFORM personalize._check_as_of(as_of);
    FOR seg IN SELECT * FROM personalize.segments WHERE kind = 'rule' ORDER BY eval_order, segment_id LOOP
        SELECT array_agg(profile_id) INTO ids FROM (
            SELECT m.profile_id FROM personalize.segment_members m
             WHERE m.segment_id = seg.segment_id AND m.recheck_at <= as_of
            UNION
            SELECT sp.profile_id FROM personalize.segment_pending sp
             WHERE sp.segment_id = seg.segment_id AND sp.recheck_at <= as_of
            UNION
            -- profiles whose membership of a segment this one reads changed in this tick
            SELECT unnest(changed_ids) WHERE seg.reads_segments && changed) due;
        CONTINUE WHEN ids IS NULL;
        r := personalize._segment_apply(seg, ids, as_of, 'tick');
        IF r.entered + r.exited > 0 THEN
            changed := changed || seg.name;
            changed_ids := changed_ids || r.changed;
            total := total + r.entered + r.exited;
            summary := summary || jsonb_build_object('id', seg.segment_id, 'entered', r.entered, 'exited', r.exited);
        END IF;
    END LOOP;
    PERFORM personalize._segments_notify(summary, 'tick');
    -- the outbox's share of the clock (src/send/queue.sql)
    PERFORM personalize._sends_tick(as_of);
    RETURN total;
END
$$;
COMMENT ON FUNCTION personalize.tick(timestamptz) IS
'Re-evaluates the memberships whose answer may have changed with time by as_of, then the outbox''s leases and due sends; pg_cron calls it every minute';
