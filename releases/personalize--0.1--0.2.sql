-- personalize 0.1 → 0.2: the changes to objects that 0.1 created. The modules first shipped in
-- 0.2 (NEW_IN_0_2 in the Makefile) follow this file in the built upgrade script, created whole.
-- test/suites/upgrade installs 0.1, updates, and compares the catalog with a fresh 0.2 install.
-- CREATE OR REPLACE appears here only for functions 0.1 created (extension members already),
-- the one use PostgreSQL's "Security Considerations for Extension Scripts" allows; PostgreSQL
-- also refuses to replace a function that is not a member. 0.1's GRANT ALL to personalize_admin
-- (releases/personalize--0.1.sql, frozen) is narrowed under "Privileges" below.

-- ---- livestate (issues 9, 11, 13): the live cart kept by ingest (src/scoring/cart.c), back-filled
-- from the events; context() and render_email() in C (src/render/email.c), the set form
-- render_emails(), and the exact path a context takes for a time before the live state.
-- The amount a purchase counts with: zero or more and finite, else NULL (the purchase is then
-- counted in purchases_ignored). The one definition of a usable amount (src/scoring/rfm.c).
CREATE FUNCTION personalize._usable_amount(amount numeric)
RETURNS numeric
AS 'MODULE_PATHNAME', 'personalize_usable_amount'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- The live cart (src/scoring/cart.c): the log of cart events since the latest order, and its cart.
ALTER TABLE personalize.profiles
    ADD COLUMN cart_log         jsonb,
    ADD COLUMN cart             jsonb NOT NULL DEFAULT '{"items": [], "total": 0, "item_count": 0}',
    ADD COLUMN cart_updated_at  timestamptz;
COMMENT ON COLUMN personalize.profiles.cart_log IS
'Product Added and Product Removed events since the latest Order Completed (src/scoring/cart.c): events folded in out of time order give the exact cart';
COMMENT ON COLUMN personalize.profiles.cart IS
'The cart cart_log replays to: items (latest Product Added properties, net quantity), item_count, total';

CREATE FUNCTION personalize._cart_log_add(log jsonb, events text[], properties jsonb[],
                                          occurred_at timestamptz[], event_ids bigint[])
RETURNS jsonb
AS 'MODULE_PATHNAME', 'personalize_cart_log_add'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION personalize._cart_log_add(jsonb, text[], jsonb[], timestamptz[], bigint[]) IS
'The cart log with these events folded in, in any time order (each event_id once)';

CREATE FUNCTION personalize._cart_of(log jsonb)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'personalize_cart_of'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION personalize._cart_of(jsonb) IS 'The cart a cart log replays to: items, item_count, total';

CREATE FUNCTION personalize._cart_updated_at(log jsonb)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'personalize_cart_updated_at'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION personalize._cart_updated_at(jsonb) IS 'The time of the latest event of a cart log';

-- The full recompute of a profile's cart log from its events up to as_of: what rebuild, merge and
-- the exact path of context() use, and what the ingest fold must always equal.
CREATE FUNCTION personalize._cart_log_from_events(profile_id bigint, as_of timestamptz DEFAULT 'infinity')
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT personalize._cart_log_add(NULL, array_agg(e.event), array_agg(e.properties), array_agg(e.occurred_at),
                                     array_agg(e.event_id))
      FROM personalize.events e
     WHERE e.profile_id = $1 AND e.occurred_at <= $2
       AND e.event IN ('Product Added', 'Product Removed', 'Order Completed')
$$;

UPDATE personalize.profiles p
   SET cart_log = c.log, cart = personalize._cart_of(c.log), cart_updated_at = personalize._cart_updated_at(c.log)
  FROM (SELECT q.profile_id, personalize._cart_log_from_events(q.profile_id) AS log FROM personalize.profiles q) c
 WHERE p.profile_id = c.profile_id;

-- A profile's interest in a category: its score valued at as_of, the category's latest event.
CREATE TYPE personalize.interest AS (category text, score float8, as_of timestamptz);

-- What a profile's live state holds, as one value: the cart, the purchase and engagement state and
-- the interests (NULL: none), by category in byte order. _live_read and _live_write below are the
-- one place that knows where it is stored: profiles columns and profile_interests rows.
CREATE TYPE personalize.live_state AS (
    cart_log           jsonb,
    cart               jsonb,
    cart_updated_at    timestamptz,
    purchase_count     bigint,
    purchase_total     numeric,
    first_purchase_at  timestamptz,
    last_purchase_at   timestamptz,
    purchases_ignored  bigint,
    engagement         float8,
    engagement_as_of   timestamptz,
    interests          personalize.interest[]
);

-- A profile's live state, as the readers and writers of stored states pass them.
CREATE TYPE personalize.profile_live AS (profile_id bigint, live personalize.live_state);

-- The live-state fold (src/scoring/live_state.c), the one definition of how events change a
-- profile's live state (_live_fold) and how two states add up (_live_combine): ingest folds a
-- statement's events and combines them with each profile's state, the full recompute folds all of
-- a profile's events (_live_state_at, rebuild_scores), a merge combines the two profiles' states.
CREATE FUNCTION personalize._live_fold_trans(internal, timestamptz, bigint, text, jsonb, float8, float8, text, text[],
                                             text)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_live_fold_trans'
LANGUAGE C PARALLEL SAFE;

CREATE FUNCTION personalize._live_fold_final(internal)
RETURNS personalize.live_state
AS 'MODULE_PATHNAME', 'personalize_live_fold_final'
LANGUAGE C PARALLEL SAFE;

CREATE FUNCTION personalize._live_fold_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_live_fold_combine'
LANGUAGE C PARALLEL SAFE;

CREATE FUNCTION personalize._live_fold_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'personalize_live_fold_serialize'
LANGUAGE C STRICT PARALLEL SAFE;

CREATE FUNCTION personalize._live_fold_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_live_fold_deserialize'
LANGUAGE C STRICT PARALLEL SAFE;

CREATE AGGREGATE personalize._live_fold(occurred_at timestamptz, event_id bigint, event text, properties jsonb,
                                         engagement_weight float8, interest_weight float8, purchase_event text,
                                         amount_properties text[], category_property text) (
    SFUNC = personalize._live_fold_trans,
    STYPE = internal,
    FINALFUNC = personalize._live_fold_final,
    COMBINEFUNC = personalize._live_fold_combine,
    SERIALFUNC = personalize._live_fold_serialize,
    DESERIALFUNC = personalize._live_fold_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE personalize._live_fold(timestamptz, bigint, text, jsonb, float8, float8, text, text[], text) IS
'The live state that these events give (purchases, engagement valued at the latest scored event, interests per category, cart log), in any order';

CREATE FUNCTION personalize._live_combine(a personalize.live_state, b personalize.live_state)
RETURNS personalize.live_state
AS 'MODULE_PATHNAME', 'personalize_live_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION personalize._live_combine(personalize.live_state, personalize.live_state) IS
'The live state of the events of both: counters add up, times widen, engagements and each category''s interest add up at the later time, cart logs merge';

-- The stored live state of these profiles (those that exist): the one list of where each field of
-- a live state is kept, read side. Interests in byte order, as the fold gives them.
CREATE FUNCTION personalize._live_read(profile_ids bigint[])
RETURNS SETOF personalize.profile_live
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p.profile_id,
           ROW(p.cart_log, p.cart, p.cart_updated_at, p.purchase_count, p.purchase_total, p.first_purchase_at,
               p.last_purchase_at, p.purchases_ignored, p.engagement, p.engagement_as_of,
               (SELECT array_agg(ROW(i.category, i.score, i.as_of)::personalize.interest ORDER BY i.category COLLATE "C")
                  FROM personalize.profile_interests i WHERE i.profile_id = p.profile_id))::personalize.live_state
      FROM personalize.profiles p
     WHERE p.profile_id = ANY ($1)
$$;

-- Stores these live states as these profiles' (the caller holds their locks): the one list of
-- where each field is kept, write side. Interests the state no longer has are removed; rows
-- that did not change are not written.
CREATE FUNCTION personalize._live_write(states personalize.profile_live[])
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE personalize.profiles p
       SET cart_log = (s.live).cart_log, cart = (s.live).cart, cart_updated_at = (s.live).cart_updated_at,
           purchase_count = (s.live).purchase_count, purchase_total = (s.live).purchase_total,
           first_purchase_at = (s.live).first_purchase_at, last_purchase_at = (s.live).last_purchase_at,
           purchases_ignored = (s.live).purchases_ignored, engagement = (s.live).engagement,
           engagement_as_of = (s.live).engagement_as_of
      FROM unnest($1) s
     WHERE p.profile_id = s.profile_id;
    DELETE FROM personalize.profile_interests i
     USING unnest($1) s
     WHERE i.profile_id = s.profile_id
       AND NOT EXISTS (SELECT FROM unnest((s.live).interests) x WHERE x.category = i.category);
    INSERT INTO personalize.profile_interests AS i (profile_id, category, score, as_of)
    SELECT s.profile_id, x.category, x.score, x.as_of
      FROM unnest($1) s
     CROSS JOIN LATERAL unnest((s.live).interests) x
     ORDER BY 1, 2
        ON CONFLICT (profile_id, category) DO UPDATE SET score = excluded.score, as_of = excluded.as_of
     WHERE (i.score, i.as_of) IS DISTINCT FROM (excluded.score, excluded.as_of);
$$;

-- Adds these live states (a statement's events, a merged profile's state) to these profiles'
-- stored ones (the caller holds their locks): ingest and merge_profiles store through here.
CREATE FUNCTION personalize._live_add(states personalize.profile_live[])
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT personalize._live_write(array_agg(ROW(r.profile_id, personalize._live_combine(r.live, d.live))::personalize.profile_live))
      FROM personalize._live_read(ARRAY(SELECT d.profile_id FROM unnest($1) d)) r
      JOIN unnest($1) d ON d.profile_id = r.profile_id
    HAVING count(*) > 0;
$$;

-- The exact path: a profile's live state recomputed from its events up to as_of, for a time before
-- the live state (which holds every event folded in, including those after as_of).
CREATE FUNCTION personalize._live_state_at(profile_id bigint, as_of timestamptz)
RETURNS personalize.live_state
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT personalize._live_fold(e.occurred_at, e.event_id, e.event, e.properties, w.engagement_weight,
                                  w.interest_weight, st.purchase_event, st.amount_properties, st.category_property)
      FROM personalize.events e
     CROSS JOIN personalize.scoring_settings st
      LEFT JOIN personalize.scoring_events w ON w.event = e.event
     WHERE e.profile_id = $1 AND e.occurred_at <= $2
$$;

-- The exact path of top interests: the n categories with the highest affinity as of as_of,
-- computed from the events up to as_of (best first, ties by name).
CREATE FUNCTION personalize._interests_at(profile_id bigint, n integer, as_of timestamptz)
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(array_agg(t.category ORDER BY t.score DESC, t.category), '{}')
      FROM (SELECT i.category, personalize.decay(i.score, i.as_of, $3, personalize.half_life()) AS score
              FROM unnest((personalize._live_state_at($1, $3)).interests) i
             ORDER BY 2 DESC, 1
             LIMIT $2) t
$$;

-- The engagement of a profile as of a time before its live state (which is valued at its latest
-- scored event): recomputed from the events up to as_of, so that an event stamped after as_of
-- counts only once it has happened. Readers of the live state use it when engagement_as_of > as_of.
CREATE FUNCTION personalize._engagement_from_events(profile_id bigint, as_of timestamptz)
RETURNS float8
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT personalize.engagement(e.occurred_at, w.engagement_weight, personalize.half_life(), $2)
      FROM personalize.events e
      JOIN personalize.scoring_events w ON w.event = e.event AND w.engagement_weight <> 0
     WHERE e.profile_id = $1 AND e.occurred_at <= $2
$$;

-- When an engagement threshold rule may next change its answer for a profile whose live state is
-- valued after as_of: at its next scored event, or earlier when the score as of as_of decays
-- through the threshold first.
CREATE FUNCTION personalize._engagement_recheck(profile_id bigint, as_of timestamptz, threshold float8)
RETURNS timestamptz
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT least((SELECT min(e.occurred_at) FROM personalize.events e
                    JOIN personalize.scoring_events w ON w.event = e.event AND w.engagement_weight <> 0
                   WHERE e.profile_id = $1 AND e.occurred_at > $2),
                 CASE WHEN s.score > $3 AND $3 > 0
                      THEN $2 + personalize.half_life() * (ln(s.score / $3) / ln(2)) + interval '1 microsecond' END)
      FROM (SELECT personalize._engagement_from_events($1, $2) AS score) s
$$;


-- merge_profiles' description (its body is replaced once, in the identity section below)
COMMENT ON FUNCTION personalize.merge_profiles(bigint, bigint, boolean, text, timestamptz) IS
'Moves everything of profile drop into keep (keep''s traits win) and logs it; refuses conflicting consent unless forced, then the later consent action wins';

CREATE OR REPLACE FUNCTION personalize.rebuild_scores()
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint := 0;
    batch bigint[];
BEGIN
    PERFORM FROM personalize.profiles p ORDER BY p.profile_id FOR UPDATE;
    -- each profile's live state recomputed from all its events (the full recompute of the fold)
    -- and stored by the one writer, 10,000 profiles at a time
    FOR batch IN SELECT array_agg(p.profile_id ORDER BY p.profile_id) FROM personalize.profiles p
                  GROUP BY p.profile_id / 10000 ORDER BY p.profile_id / 10000 LOOP
        PERFORM personalize._live_write(ARRAY(
            SELECT ROW(b.profile_id, personalize._live_state_at(b.profile_id, 'infinity'))::personalize.profile_live
              FROM unnest(batch) AS b(profile_id)));
        n := n + cardinality(batch);
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION personalize.rebuild_scores() IS
'Recomputes every profile''s live scoring state (purchases, engagement, interests, cart) from its events: after changing weights, settings or personalize.half_life';

-- rule segments reading engagement: compiled again (an event stamped after the evaluation time no
-- longer raises the score; src/segment/segment.c)
UPDATE personalize.segments s SET predicate = c.predicate, recheck = c.recheck
  FROM personalize.segments q, LATERAL personalize._compile_rule(q.rule) c
 WHERE s.segment_id = q.segment_id AND q.kind = 'rule' AND 'engagement' = ANY (q.reads_fields);

DROP FUNCTION personalize._cart(bigint, timestamptz);
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

REVOKE ALL ON FUNCTION personalize._usable_amount(numeric), 
    personalize._live_state_at(bigint, timestamptz), 
    personalize._interests_at(bigint, integer, timestamptz), 
    personalize._cart_log_add(jsonb, text[], jsonb[], timestamptz[], bigint[]), 
    personalize._cart_of(jsonb), 
    personalize._cart_updated_at(jsonb), 
    personalize._cart_log_from_events(bigint, timestamptz), 
    personalize._engagement_from_events(bigint, timestamptz), 
    personalize._engagement_recheck(bigint, timestamptz, float8), 
    personalize.context(bigint, timestamptz), 
    personalize.render_email(text, bigint, jsonb, timestamptz, boolean), 
    personalize.render_emails(text, bigint[], jsonb[], timestamptz, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION personalize._usable_amount(numeric), 
    personalize._live_state_at(bigint, timestamptz), 
    personalize._interests_at(bigint, integer, timestamptz), 
    personalize._cart_log_add(jsonb, text[], jsonb[], timestamptz[], bigint[]), 
    personalize._cart_of(jsonb), 
    personalize._cart_updated_at(jsonb), 
    personalize._cart_log_from_events(bigint, timestamptz), 
    personalize._engagement_from_events(bigint, timestamptz), 
    personalize._engagement_recheck(bigint, timestamptz, float8), 
    personalize.context(bigint, timestamptz), 
    personalize.render_email(text, bigint, jsonb, timestamptz, boolean), 
    personalize.render_emails(text, bigint[], jsonb[], timestamptz, boolean) TO personalize_admin, personalize_analyst;
-- ---- harness (issue 11): the identity sequences of tables pg_dump keeps are kept too, so that
-- a restored database does not hand out ids its restored rows already hold.
SELECT pg_catalog.pg_extension_config_dump('personalize.rejected_events_rejected_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.merge_log_merge_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.rfm_runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.segments_segment_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.segment_log_log_id_seq', '');

-- ---- segments: compiled SQL is no longer stored (issue 10, privilege paths 1 and 2); the
-- statement is built in C from the rule at evaluation; SQL segment conditions move to the
-- superuser-only table segment_sql; evaluation in UTC; as_of defaults to personalize.clock.
DROP FUNCTION personalize._compile_rule(jsonb);
DROP FUNCTION personalize._segment_execute(text, timestamptz, bigint[], integer, text);
DROP FUNCTION personalize._segment_apply(personalize.segments, bigint[], timestamptz, text);
DROP FUNCTION personalize._segment_row(text, jsonb);
DROP FUNCTION personalize._segments_refresh(text[], timestamptz, text);
DROP FUNCTION personalize._segment_define(text, jsonb, timestamptz, boolean);
DROP FUNCTION personalize.create_segment(text, jsonb, timestamptz);
DROP FUNCTION personalize.alter_segment(text, jsonb, timestamptz);
DROP FUNCTION personalize.drop_segment(text);
DROP FUNCTION personalize.create_sql_segment(text, text, timestamptz);
DROP FUNCTION personalize.refresh_segment(text, timestamptz);
DROP FUNCTION personalize.refresh_segments(text[], timestamptz);
DROP FUNCTION personalize.tick(timestamptz);   -- created once, whole, in the experiments section below
DROP FUNCTION personalize._segments_on_change(bigint[], text[], text[], timestamptz, text, bigint[]);

CREATE TABLE personalize.segment_sql (
    segment_id      integer PRIMARY KEY,
    where_clause    text NOT NULL,
    defined_by      name NOT NULL DEFAULT CURRENT_USER
);
COMMENT ON TABLE personalize.segment_sql IS
'The SQL condition of each SQL segment; written by superusers only (create_sql_segment)';
-- SQL segments defined before 0.2 keep their condition (review them: any admin could write them).
INSERT INTO personalize.segment_sql (segment_id, where_clause, defined_by)
SELECT s.segment_id, s.where_clause, 'personalize 0.1' FROM personalize.segments s WHERE s.kind = 'sql';
SELECT pg_catalog.pg_extension_config_dump('personalize.segment_sql', '');
ALTER TABLE personalize.segments DROP COLUMN where_clause, DROP COLUMN predicate, DROP COLUMN recheck,
    DROP COLUMN joins, ADD COLUMN evaluated_at timestamptz;
COMMENT ON TABLE personalize.segments IS 'Segment definitions (rules, never compiled SQL) and what they read';
COMMENT ON COLUMN personalize.segments.evaluated_at IS
'The latest time the whole segment was evaluated at (refresh or tick); a refresh before it is refused';

CREATE FUNCTION personalize._segment_compile(rule jsonb, OUT time_dependent boolean, OUT events text[],
                                             OUT fields text[], OUT segments text[],
                                             OUT live_statement text, OUT full_statement text)
AS 'MODULE_PATHNAME', 'personalize_segment_compile'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres';

CREATE FUNCTION personalize._segment_fields()
RETURNS TABLE (name text, kind text, reads text, as_of boolean)
AS 'MODULE_PATHNAME', 'personalize_segment_fields'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION personalize._segment_run(segment_id integer, rule jsonb, where_clause text, ids bigint[],
                                         as_of timestamptz, cause text,
                                         OUT entered bigint, OUT exited bigint, OUT changed bigint[])
AS 'MODULE_PATHNAME', 'personalize_segment_run'
LANGUAGE C VOLATILE
SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
SET jit = off;

CREATE FUNCTION personalize._segment_cache_stats(OUT entries bigint, OUT in_use bigint, OUT evictions bigint)
AS 'MODULE_PATHNAME', 'personalize_segment_cache_stats'
LANGUAGE C VOLATILE;

CREATE FUNCTION personalize._segment_apply(seg personalize.segments, ids bigint[], as_of timestamptz,
                                           cause text, exclusive boolean, OUT entered bigint,
                                           OUT exited bigint, OUT changed bigint[])
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    clause text;
BEGIN
    IF exclusive THEN
        PERFORM pg_advisory_xact_lock(1885692786, seg.segment_id);
    ELSE
        PERFORM pg_advisory_xact_lock_shared(1885692786, seg.segment_id);
    END IF;
    IF seg.kind = 'sql' THEN
        SELECT q.where_clause INTO STRICT clause FROM personalize.segment_sql q WHERE q.segment_id = seg.segment_id;
    END IF;
    SELECT x.entered, x.exited, x.changed INTO entered, exited, changed
      FROM personalize._segment_run(seg.segment_id, CASE WHEN seg.kind = 'rule' THEN seg.rule END, clause,
                                    ids, as_of, cause) x;
END
$$;

CREATE FUNCTION personalize._segments_on_change(ids bigint[], events text[], fields text[],
                                                as_of timestamptz, cause text, new_ids bigint[])
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    seg personalize.segments;
    r record;
    changed text[] := '{}';
    summary jsonb := '[]';
BEGIN
    IF coalesce(cardinality(ids), 0) + coalesce(cardinality(new_ids), 0) = 0 THEN
        RETURN summary;
    END IF;
    PERFORM personalize._check_as_of(as_of);
    FOR seg IN
        SELECT * FROM personalize.segments s
         WHERE s.kind = 'rule'
         ORDER BY s.eval_order, s.segment_id
    LOOP
        IF '*' = ANY (fields) OR seg.reads_events && events OR seg.reads_fields && fields
           OR seg.reads_segments && changed THEN
            r := personalize._segment_apply(seg, ids, as_of, cause, false);
        ELSIF coalesce(cardinality(new_ids), 0) > 0 THEN
            r := personalize._segment_apply(seg, new_ids, as_of, cause, false);
        ELSE
            CONTINUE;
        END IF;
        IF r.entered + r.exited > 0 THEN
            changed := changed || seg.name;
            summary := summary || jsonb_build_object('id', seg.segment_id, 'entered', r.entered, 'exited', r.exited);
        END IF;
    END LOOP;
    RETURN summary;
END
$$;

CREATE FUNCTION personalize._segment_row(name text, rule jsonb)
RETURNS personalize.segments
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c record;
    s personalize.segments;
BEGIN
    IF rule IS NULL THEN
        RAISE EXCEPTION 'a segment rule must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    c := personalize._segment_compile(rule);
    s.name := name;
    s.kind := 'rule';
    s.rule := rule;
    s.reads_events := c.events;
    s.reads_fields := c.fields;
    s.reads_segments := c.segments;
    RETURN s;
END
$$;

CREATE FUNCTION personalize._segments_refresh(roots text[], as_of timestamptz, cause text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    seg personalize.segments;
    r record;
    touched text[] := roots;
    summary jsonb := '[]';
BEGIN
    PERFORM personalize._check_as_of(as_of);
    FOR seg IN SELECT * FROM personalize.segments ORDER BY eval_order, segment_id LOOP
        CONTINUE WHEN NOT (seg.name = ANY (roots) OR seg.reads_segments && touched);
        IF cause IN ('refresh', 'alter') AND seg.evaluated_at > as_of THEN
            RAISE EXCEPTION 'segment "%" was evaluated at a later time than %', seg.name, as_of
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = format('It was evaluated at %s; evaluating it at an earlier time would put back members that have left since.',
                                      seg.evaluated_at),
                      HINT = 'Evaluate at that time or later; personalize.audience(name, as_of) gives the membership at an earlier time.';
        END IF;
        r := personalize._segment_apply(seg, NULL, as_of, cause, true);
        UPDATE personalize.segments SET refreshed_at = as_of, evaluated_at = as_of WHERE segment_id = seg.segment_id;
        touched := touched || seg.name;
        summary := summary || jsonb_build_object('id', seg.segment_id, 'entered', r.entered, 'exited', r.exited);
    END LOOP;
    PERFORM personalize._segments_notify(
        (SELECT coalesce(jsonb_agg(e), '[]') FROM jsonb_array_elements(summary) e
          WHERE (e ->> 'entered')::bigint + (e ->> 'exited')::bigint > 0), cause);
    RETURN summary;
END
$$;

CREATE FUNCTION personalize._segment_define(name text, rule jsonb, as_of timestamptz, is_new boolean)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s personalize.segments;
    id integer;
BEGIN
    s := personalize._segment_row(name, rule);
    IF is_new THEN
        INSERT INTO personalize.segments (name, kind, rule, reads_events, reads_fields, reads_segments)
        VALUES (s.name, 'rule', s.rule, s.reads_events, s.reads_fields, s.reads_segments)
        RETURNING segment_id INTO id;
    ELSE
        UPDATE personalize.segments g
           SET rule = s.rule, reads_events = s.reads_events, reads_fields = s.reads_fields,
               reads_segments = s.reads_segments, updated_at = statement_timestamp()
         WHERE g.name = _segment_define.name AND g.kind = 'rule'
        RETURNING segment_id INTO id;
        IF id IS NULL THEN
            RAISE EXCEPTION 'rule segment "%" does not exist', name USING ERRCODE = 'undefined_object';
        END IF;
    END IF;
    PERFORM personalize._segments_sort();
    PERFORM personalize._segments_refresh(ARRAY[name], coalesce(as_of, personalize._clock()),
                                          CASE WHEN is_new THEN 'create' ELSE 'alter' END);
    RETURN id;
END
$$;

CREATE FUNCTION personalize.create_segment(name text, rule jsonb, as_of timestamptz DEFAULT NULL)
RETURNS integer
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT personalize._segment_define(name, rule, as_of, true) $$;
COMMENT ON FUNCTION personalize.create_segment(text, jsonb, timestamptz) IS
'Defines a segment by a JSON rule (compiled and checked now) and fills it as of as_of (default: personalize.clock, else now)';

CREATE FUNCTION personalize.alter_segment(name text, rule jsonb, as_of timestamptz DEFAULT NULL)
RETURNS integer
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT personalize._segment_define(name, rule, as_of, false) $$;
COMMENT ON FUNCTION personalize.alter_segment(text, jsonb, timestamptz) IS
'Replaces a rule segment''s rule and recomputes it (and the segments that read it) as of as_of (default: personalize.clock, else now)';

CREATE FUNCTION personalize._segment_drop(name text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    users text;
    gone integer;
BEGIN
    SELECT string_agg(s.name, ', ' ORDER BY s.name) INTO users FROM personalize.segments s
     WHERE _segment_drop.name = ANY (s.reads_segments);
    IF users IS NOT NULL THEN
        RAISE EXCEPTION 'segment "%" is used by other segments', name
            USING ERRCODE = 'dependent_objects_still_exist', DETAIL = format('Used by: %s.', users),
                  HINT = 'Alter or drop those segments first.';
    END IF;
    IF EXISTS (SELECT FROM personalize.segments s JOIN personalize.segment_sql q USING (segment_id)
                WHERE s.name = _segment_drop.name) THEN
        RAISE EXCEPTION 'permission denied to drop SQL segment "%"', name
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'SQL segments are created and dropped by superusers only.';
    END IF;
    DELETE FROM personalize.segments s WHERE s.name = _segment_drop.name RETURNING segment_id INTO gone;
    IF gone IS NULL THEN
        RAISE EXCEPTION 'segment "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    DELETE FROM personalize.segment_members m WHERE m.segment_id = gone;
    DELETE FROM personalize.segment_pending sp WHERE sp.segment_id = gone;
END
$$;

CREATE FUNCTION personalize.drop_segment(name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT FROM personalize.segments s WHERE s.name = drop_segment.name AND s.kind = 'sql') THEN
        IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
            RAISE EXCEPTION 'permission denied to drop SQL segment "%"', name
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = 'SQL segments are created and dropped by superusers only.';
        END IF;
        DELETE FROM personalize.segment_sql q
         USING personalize.segments s WHERE s.segment_id = q.segment_id AND s.name = drop_segment.name;
    END IF;
    PERFORM personalize._segment_drop(name);
END
$$;
COMMENT ON FUNCTION personalize.drop_segment(text) IS
'Drops a segment nothing reads; SQL segments only by a superuser';

CREATE FUNCTION personalize.create_sql_segment(name text, where_clause text, as_of timestamptz DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id integer;
BEGIN
    IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
        RAISE EXCEPTION 'permission denied to create SQL segment "%"', name
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A SQL segment''s condition runs as the extension''s owner, so only superusers may define one.',
                  HINT = 'Use create_segment with a JSON rule.';
    END IF;
    IF where_clause IS NULL OR btrim(where_clause) = '' OR position(';' IN where_clause) > 0 THEN
        RAISE EXCEPTION 'invalid where clause for SQL segment "%"', name USING ERRCODE = 'syntax_error',
            DETAIL = 'A SQL segment is one boolean expression over personalize.segment_profiles p, without semicolons.';
    END IF;
    EXECUTE format('SELECT count(*) FROM (SELECT FROM personalize.segment_profiles p WHERE (%s) LIMIT 0) x',
                   where_clause);
    INSERT INTO personalize.segments (name, kind) VALUES (name, 'sql') RETURNING segment_id INTO id;
    INSERT INTO personalize.segment_sql (segment_id, where_clause) VALUES (id, where_clause);
    PERFORM personalize._segments_refresh(ARRAY[name], coalesce(as_of, personalize._clock()), 'create');
    RETURN id;
END
$$;
COMMENT ON FUNCTION personalize.create_sql_segment(text, text, timestamptz) IS
'A segment defined by a SQL condition on personalize.segment_profiles p (superusers only); refreshed in batch only (refresh_segment)';

CREATE FUNCTION personalize.refresh_segment(name text, as_of timestamptz DEFAULT NULL,
                                            OUT entered bigint, OUT exited bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    summary jsonb;
BEGIN
    IF NOT EXISTS (SELECT FROM personalize.segments s WHERE s.name = refresh_segment.name) THEN
        RAISE EXCEPTION 'segment "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    summary := personalize._segments_refresh(ARRAY[name], coalesce(as_of, personalize._clock()), 'refresh');
    entered := (summary -> 0 ->> 'entered')::bigint;
    exited := (summary -> 0 ->> 'exited')::bigint;
END
$$;
COMMENT ON FUNCTION personalize.refresh_segment(text, timestamptz) IS
'Recomputes a segment from scratch as of as_of (then the segments that read it); returns its entries and exits';

CREATE FUNCTION personalize.refresh_segments(names text[] DEFAULT NULL, as_of timestamptz DEFAULT NULL)
RETURNS TABLE (segment text, entered bigint, exited bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    roots text[] := coalesce(names, ARRAY(SELECT s.name FROM personalize.segments s));
    missing text;
BEGIN
    SELECT n INTO missing FROM unnest(roots) n
     WHERE NOT EXISTS (SELECT FROM personalize.segments s WHERE s.name = n) LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'segment "%" does not exist', missing USING ERRCODE = 'undefined_object';
    END IF;
    RETURN QUERY
    SELECT s.name, (t.e ->> 'entered')::bigint, (t.e ->> 'exited')::bigint
      FROM jsonb_array_elements(personalize._segments_refresh(roots, coalesce(as_of, personalize._clock()), 'refresh')) WITH ORDINALITY AS t(e, i)
      JOIN personalize.segments s ON s.segment_id = (t.e ->> 'id')::integer
     ORDER BY t.i;
END
$$;
COMMENT ON FUNCTION personalize.refresh_segments(text[], timestamptz) IS
'Recomputes the named segments (NULL: all) as of as_of, and the segments that read them, each once, in dependency order; one row per segment';

REVOKE ALL ON FUNCTION personalize._segment_compile(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION personalize._segment_fields() FROM PUBLIC;
REVOKE ALL ON FUNCTION personalize._segment_run(integer, jsonb, text, bigint[], timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION personalize._segment_cache_stats() FROM PUBLIC;
REVOKE ALL ON FUNCTION personalize._segment_apply(personalize.segments, bigint[], timestamptz, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION personalize._segments_on_change(bigint[], text[], text[], timestamptz, text, bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION personalize._segment_row(text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION personalize._segments_refresh(text[], timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION personalize._segment_define(text, jsonb, timestamptz, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION personalize.create_segment(text, jsonb, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION personalize.alter_segment(text, jsonb, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION personalize._segment_drop(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION personalize.drop_segment(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION personalize.create_sql_segment(text, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION personalize.refresh_segment(text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION personalize.refresh_segments(text[], timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION personalize._segment_compile(jsonb) TO personalize_admin;
GRANT EXECUTE ON FUNCTION personalize._segment_fields() TO personalize_admin;
GRANT EXECUTE ON FUNCTION personalize._segment_run(integer, jsonb, text, bigint[], timestamptz, text) TO personalize_admin;
GRANT EXECUTE ON FUNCTION personalize._segment_cache_stats() TO personalize_admin;
GRANT EXECUTE ON FUNCTION personalize._segment_apply(personalize.segments, bigint[], timestamptz, text, boolean) TO personalize_admin;
GRANT EXECUTE ON FUNCTION personalize._segments_on_change(bigint[], text[], text[], timestamptz, text, bigint[]) TO personalize_admin;
GRANT EXECUTE ON FUNCTION personalize._segment_row(text, jsonb) TO personalize_admin;
GRANT EXECUTE ON FUNCTION personalize._segments_refresh(text[], timestamptz, text) TO personalize_admin;
GRANT EXECUTE ON FUNCTION personalize._segment_define(text, jsonb, timestamptz, boolean) TO personalize_admin;
GRANT EXECUTE ON FUNCTION personalize.create_segment(text, jsonb, timestamptz) TO personalize_admin;
GRANT EXECUTE ON FUNCTION personalize.alter_segment(text, jsonb, timestamptz) TO personalize_admin;
GRANT EXECUTE ON FUNCTION personalize._segment_drop(text) TO personalize_admin;
GRANT EXECUTE ON FUNCTION personalize.drop_segment(text) TO personalize_admin;
GRANT EXECUTE ON FUNCTION personalize.create_sql_segment(text, text, timestamptz) TO personalize_admin;
GRANT EXECUTE ON FUNCTION personalize.refresh_segment(text, timestamptz) TO personalize_admin;
GRANT EXECUTE ON FUNCTION personalize.refresh_segments(text[], timestamptz) TO personalize_admin;
GRANT EXECUTE ON FUNCTION personalize.create_segment(text, jsonb, timestamptz) TO personalize_analyst;
GRANT EXECUTE ON FUNCTION personalize.alter_segment(text, jsonb, timestamptz) TO personalize_analyst;
GRANT EXECUTE ON FUNCTION personalize.drop_segment(text) TO personalize_analyst;
GRANT EXECUTE ON FUNCTION personalize._segment_drop(text) TO personalize_analyst;
GRANT EXECUTE ON FUNCTION personalize.refresh_segment(text, timestamptz) TO personalize_analyst;
GRANT EXECUTE ON FUNCTION personalize.refresh_segments(text[], timestamptz) TO personalize_analyst;
GRANT SELECT ON personalize.segment_sql TO personalize_admin, personalize_analyst;

-- ---- security (issue 10): no path from a personalize role to the owner's rights, writers never
-- choose event_id, one as_of check, internal functions not callable by the roles.

-- Callers never choose event_id: the row trigger assigns it (src/ingest/ingest.c).
ALTER TABLE personalize.events ALTER COLUMN event_id DROP DEFAULT;

-- Functions whose bodies changed, with the same signatures: replaced in place (the ingest
-- trigger function once, here, with the livestate, harness and security changes together).
CREATE OR REPLACE FUNCTION personalize._events_after_insert()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off    -- transition-table estimates are defaults: JIT would compile for a second on every COPY
AS $$
DECLARE
    pending record := personalize._ingest_pending_counts();
    settled record;
    n_rows bigint;
    claimed boolean := false;
    kept bigint[];
    dropped bigint[] := '{}';
    dropped_profiles bigint[];
    dropped_at timestamptz[];
    dropped_keys text[] := '{}';
    dup_keys text[];
    dup_counts bigint[];
    live boolean := EXISTS (SELECT FROM personalize.segments WHERE kind = 'rule');
    ids bigint[];
    names text[];
    consent_changed boolean;
    st personalize.scoring_settings;
    live_states personalize.profile_live[];
    redirect_from bigint[];
    redirect_to bigint[];
    new_profiles bigint[];
    redo bigint[];          -- NULL: every accepted event; else the events still to fold (event_ids)
    vanished bigint[];
    all_vanished bigint[] := '{}';
    counted_ids bigint[];
    owners bigint[];
    kinds text[];
    vals text[];
    rehomed record;
BEGIN
    -- The one settings row, as a variable: joined, its unknown row count inflates every estimate.
    SELECT * INTO st FROM personalize.scoring_settings;
    -- What the row trigger stashed; a one-event statement of a known user stashed nothing.
    IF pending.rejects > 0 THEN
        INSERT INTO personalize.rejected_events (payload, reason, path, expected)
        SELECT payload, reason, path, expected FROM personalize._ingest_pending_rejects();
    END IF;
    IF pending.identities > 0 THEN
        settled := personalize._settle_identities();
    ELSE
        SELECT '{}'::bigint[] AS redirect_from, '{}'::bigint[] AS redirect_to, '{}'::bigint[] AS new_profiles
          INTO settled;
    END IF;

    -- Claim each message_id. The row trigger dropped later copies of a key within the statement,
    -- so a bulk statement claims with one plain INSERT, in byte order against deadlocks. A key held
    -- before (by an earlier statement, or a concurrent one that commits first) makes it fail;
    -- then, as for small statements (no subtransaction, hence no second transaction id per
    -- event), the claim goes key by key, and the events whose keys are held are dropped.
    SELECT count(*) INTO n_rows FROM new_events;
    IF n_rows > 100 THEN
        BEGIN
            INSERT INTO personalize.event_keys (message_id, event_id)
            SELECT message_id, event_id FROM new_events ORDER BY message_id;
            claimed := true;
        EXCEPTION WHEN unique_violation THEN
            claimed := false;
        END;
    END IF;
    IF NOT claimed THEN
        WITH claimed_keys AS (
            INSERT INTO personalize.event_keys (message_id, event_id)
            SELECT message_id, event_id FROM new_events ORDER BY message_id, event_id
                ON CONFLICT (message_id) DO NOTHING
            RETURNING event_id
        )
        SELECT array_agg(event_id) INTO kept FROM claimed_keys;
        IF coalesce(cardinality(kept), 0) < n_rows THEN
            SELECT coalesce(array_agg(e.event_id), '{}'), coalesce(array_agg(coalesce(r.to_id, e.profile_id)), '{}'),
                   coalesce(array_agg(e.occurred_at), '{}'), coalesce(array_agg(e.message_id), '{}')
              INTO dropped, dropped_profiles, dropped_at, dropped_keys
              FROM new_events e
              LEFT JOIN unnest(settled.redirect_from, settled.redirect_to) AS r(from_id, to_id)
                     ON r.from_id = e.profile_id
             WHERE NOT EXISTS (SELECT FROM unnest(kept) AS k(event_id) WHERE k.event_id = e.event_id);
            DELETE FROM personalize.events d
             USING unnest(dropped_profiles, dropped_at, dropped) AS x(profile_id, occurred_at, event_id)
             WHERE d.profile_id = x.profile_id AND d.occurred_at = x.occurred_at AND d.event_id = x.event_id;
        END IF;
    END IF;

    -- Count the copies dropped, by the row trigger or just above, on their keys (locked in order).
    -- Most statements have none: then nothing is read.
    IF pending.duplicates > 0 OR cardinality(dropped_keys) > 0 THEN
        SELECT array_agg(message_id ORDER BY message_id), array_agg(n ORDER BY message_id)
          INTO dup_keys, dup_counts
          FROM (SELECT message_id, sum(n)::bigint AS n
                  FROM (SELECT message_id, copies FROM personalize._ingest_pending_duplicates()
                        UNION ALL
                        SELECT unnest(dropped_keys), 1) x(message_id, n)
                 GROUP BY message_id) d;
        UPDATE personalize.event_keys k SET duplicates = k.duplicates + d.n
          FROM (SELECT k2.message_id, d.n
                  FROM unnest(dup_keys, dup_counts) AS d(message_id, n)
                  JOIN personalize.event_keys k2 USING (message_id)
                 ORDER BY k2.message_id FOR UPDATE OF k2) d
         WHERE k.message_id = d.message_id;
    END IF;

    redirect_from := settled.redirect_from;
    redirect_to := settled.redirect_to;
    new_profiles := settled.new_profiles;
    -- Folds the accepted events into their profiles. A profile that a merge_profiles or forget
    -- removed while this statement waited for its lock is not locked (nor anything written for it):
    -- its events go to the profile that survives it (_rehome_vanished), and are folded in again.
    LOOP
    -- The accepted events, each with, for the events whose properties the live-state fold reads
    -- (a purchase's amount, an interest's category, a cart line), those.
    WITH accepted AS MATERIALIZED (
        SELECT coalesce(r.to_id, e.profile_id) AS profile_id, e.occurred_at, e.event_id, e.event,
               w.engagement_weight, w.interest_weight,
               CASE WHEN e.event = st.purchase_event OR e.event IN ('Product Added', 'Product Removed')
                         OR w.interest_weight > 0
                    THEN e.properties END AS live_properties
          FROM new_events e
          LEFT JOIN unnest(redirect_from, redirect_to) AS r(from_id, to_id)
                 ON r.from_id = e.profile_id
          LEFT JOIN personalize.scoring_events w ON w.event = e.event
         WHERE NOT EXISTS (SELECT FROM unnest(dropped) AS d(event_id) WHERE d.event_id = e.event_id)
           AND (redo IS NULL OR e.event_id IN (SELECT unnest(redo)))
    ), consent AS (
        SELECT DISTINCT ON (profile_id) profile_id, occurred_at,
               CASE event WHEN 'Subscribed' THEN 'subscribed' ELSE 'unsubscribed' END AS state
          FROM accepted
         WHERE event IN ('Subscribed', 'Unsubscribed', 'Email Marked as Spam')
         ORDER BY profile_id, occurred_at DESC, event_id DESC
    ), touched AS (
        -- what the statement's events add to each profile: counts and times, and their live state
        -- (src/scoring/live_state.c)
        SELECT profile_id, count(*) AS n, min(occurred_at) AS first_at, max(occurred_at) AS last_at,
               personalize._live_fold(occurred_at, event_id, event, live_properties, engagement_weight,
                                      interest_weight, st.purchase_event, st.amount_properties,
                                      st.category_property) AS live
          FROM accepted GROUP BY profile_id
    ), locked AS MATERIALIZED (
        SELECT p.profile_id
          FROM personalize.profiles p JOIN touched t USING (profile_id)
         ORDER BY p.profile_id FOR UPDATE OF p
    ), consent_logged AS (
        INSERT INTO personalize.consent_log (profile_id, changed_at, email_consent, source)
        SELECT profile_id, occurred_at,
               CASE event WHEN 'Subscribed' THEN 'subscribed' ELSE 'unsubscribed' END, 'event: ' || event
          FROM accepted
         WHERE event IN ('Subscribed', 'Unsubscribed', 'Email Marked as Spam')
           AND profile_id IN (SELECT profile_id FROM locked)
    ), counted AS (
    UPDATE personalize.profiles p
       SET event_count = p.event_count + t.n,
           first_seen_at = least(p.first_seen_at, t.first_at),
           last_seen_at = greatest(p.last_seen_at, t.last_at),
           email_consent = CASE WHEN c.state IS NOT NULL AND (p.consent_at IS NULL OR c.occurred_at >= p.consent_at)
                                THEN c.state ELSE p.email_consent END,
           consent_at = CASE WHEN c.state IS NOT NULL AND (p.consent_at IS NULL OR c.occurred_at >= p.consent_at)
                             THEN c.occurred_at ELSE p.consent_at END,
           updated_at = statement_timestamp()
      FROM touched t
      JOIN locked l ON l.profile_id = t.profile_id
      LEFT JOIN consent c ON c.profile_id = t.profile_id
     WHERE p.profile_id = t.profile_id
    RETURNING p.profile_id
    )
    -- what segments need to know (only gathered when there are segments), the profiles removed,
    -- and the live state the statement's events add to each locked profile
    SELECT CASE WHEN live THEN (SELECT array_agg(profile_id) FROM counted) END,
           coalesce(names, CASE WHEN live THEN (SELECT array_agg(DISTINCT event) FROM accepted) END),
           coalesce(consent_changed, CASE WHEN live THEN EXISTS (SELECT FROM consent) END),
           (SELECT array_agg(t.profile_id ORDER BY t.profile_id) FROM touched t
             WHERE t.profile_id NOT IN (SELECT profile_id FROM locked)),
           (SELECT array_agg(ROW(t.profile_id, t.live)::personalize.profile_live) FROM touched t
             WHERE t.profile_id IN (SELECT profile_id FROM locked))
      INTO counted_ids, names, consent_changed, vanished, live_states;
    ids := coalesce(ids || counted_ids, counted_ids);
    -- the live state: each profile's and the statement's combined (src/scoring/live_state.c), in
    -- a statement of its own so that it reads the state stored under the locks just taken
    PERFORM personalize._live_add(live_states);
    EXIT WHEN vanished IS NULL;

    -- The events of the removed profiles, folded again once they have a profile to go to.
    SELECT array_agg(e.event_id) INTO redo
      FROM new_events e
      LEFT JOIN unnest(redirect_from, redirect_to) AS r(from_id, to_id) ON r.from_id = e.profile_id
     WHERE coalesce(r.to_id, e.profile_id) = ANY (vanished)
       AND NOT EXISTS (SELECT FROM unnest(dropped) AS d(event_id) WHERE d.event_id = e.event_id);
    SELECT array_agg(x.owner), array_agg(x.kind), array_agg(x.value) INTO owners, kinds, vals
      FROM new_events e
      LEFT JOIN unnest(redirect_from, redirect_to) AS r(from_id, to_id) ON r.from_id = e.profile_id
     CROSS JOIN LATERAL (VALUES (coalesce(r.to_id, e.profile_id), 'user_id', e.user_id),
                                (coalesce(r.to_id, e.profile_id), 'anonymous_id', e.anonymous_id)) x(owner, kind, value)
     WHERE x.owner = ANY (vanished) AND x.value IS NOT NULL
       AND e.event_id IN (SELECT unnest(redo));
    IF vanished && all_vanished THEN   -- each pass needs another removal committed meanwhile
        RAISE EXCEPTION 'profile % was found removed twice in one statement', vanished
            USING ERRCODE = 'internal_error';
    END IF;
    all_vanished := all_vanished || vanished;
    rehomed := personalize._rehome_vanished(vanished, owners, kinds, vals);
    SELECT coalesce(array_agg(coalesce(h.to_id, t.to_id) ORDER BY t.n), '{}') INTO redirect_to
      FROM unnest(redirect_to) WITH ORDINALITY AS t(to_id, n)
      LEFT JOIN unnest(rehomed.redirect_from, rehomed.redirect_to) AS h(from_id, to_id) ON h.from_id = t.to_id;
    redirect_from := redirect_from || rehomed.redirect_from;
    redirect_to := redirect_to || rehomed.redirect_to;
    new_profiles := new_profiles || rehomed.new_profiles;
    END LOOP;

    IF live THEN
        PERFORM personalize._segments_live(ids, names,
            CASE WHEN cardinality(redirect_from) > 0 THEN '{*}'::text[]
                 ELSE ARRAY['event_count', 'first_seen_at', 'last_seen_at', 'purchases', 'engagement', 'interests']
                      || CASE WHEN consent_changed THEN '{consent}'::text[] ELSE '{}' END END,
            'ingest'::text, new_profiles);
    END IF;

    -- journeys (src/journey/run.sql): entries, wait_for completions and goals, from the accepted
    -- events whose names a live journey reads (none read when there is no journey)
    PERFORM personalize._journeys_on_events(array_agg(coalesce(r.to_id, e.profile_id)), array_agg(e.event),
                                            array_agg(e.properties), array_agg(e.occurred_at), array_agg(e.event_id))
       FROM new_events e
       LEFT JOIN unnest(redirect_from, redirect_to) AS r(from_id, to_id) ON r.from_id = e.profile_id
      WHERE EXISTS (SELECT FROM personalize.journeys) AND e.event = ANY ((SELECT personalize._journey_event_names())::text[])
        AND NOT e.event_id = ANY (dropped);

    PERFORM personalize._ingest_end(n_rows - cardinality(dropped), cardinality(dropped)::bigint,
                                    cardinality(redirect_from) > 0);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION personalize.merge_profiles(keep bigint, drop bigint, force boolean DEFAULT false,
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

CREATE OR REPLACE FUNCTION personalize.resolve_identity(kind text, value text)
RETURNS bigint
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT i.profile_id FROM personalize.identities i WHERE i.kind = $1 AND i.value = $2 $$;

CREATE OR REPLACE FUNCTION personalize.identify(user_id text, traits jsonb DEFAULT '{}', anonymous_id text DEFAULT NULL,
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

CREATE OR REPLACE FUNCTION personalize.alias(previous_id text, user_id text, as_of timestamptz DEFAULT now())
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

CREATE OR REPLACE FUNCTION personalize.set_consent(profile_id bigint, email_consent text DEFAULT NULL,
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

CREATE OR REPLACE FUNCTION personalize.forget(profile_id bigint, as_of timestamptz DEFAULT now())
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

CREATE OR REPLACE FUNCTION personalize.maintain(as_of timestamptz DEFAULT now(), months_ahead integer DEFAULT 3,
                                     months_back integer DEFAULT 0)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    first_month timestamp;
    lo timestamptz;
    hi timestamptz;
    part text;
    created integer := 0;
    months_kept integer := personalize._retention_months();
    cutoff timestamptz;     -- partitions ending at or before it are dropped (NULL: none)
    n bigint;
BEGIN
    PERFORM personalize._check_as_of(as_of);
    IF months_ahead NOT BETWEEN 0 AND 120 OR months_back NOT BETWEEN 0 AND 1200 THEN
        RAISE EXCEPTION 'months_ahead must be 0..120 and months_back 0..1200'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF months_kept > 0 THEN
        cutoff := (date_trunc('month', as_of AT TIME ZONE 'UTC') - make_interval(months => months_kept)) AT TIME ZONE 'UTC';
    END IF;
    first_month := date_trunc('month', as_of AT TIME ZONE 'UTC') - make_interval(months => months_back);
    FOR i IN 0 .. months_back + months_ahead LOOP
        lo := (first_month + make_interval(months => i)) AT TIME ZONE 'UTC';
        hi := (first_month + make_interval(months => i + 1)) AT TIME ZONE 'UTC';
        part := format('events_y%sm%s', to_char(lo AT TIME ZONE 'UTC', 'YYYY'), to_char(lo AT TIME ZONE 'UTC', 'MM'));
        CONTINUE WHEN to_regclass(format('personalize.%I', part)) IS NOT NULL OR hi <= cutoff;
        -- Rows that waited in the default partition move into the new one before it is attached.
        -- the indexes of the default partition are those of every partition (src/ingest/ingest.sql)
        EXECUTE format('CREATE TABLE personalize.%I (LIKE personalize.events_default INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)', part);
        EXECUTE format('WITH moved AS (DELETE FROM personalize.events_default WHERE occurred_at >= %L AND occurred_at < %L RETURNING *)
                        INSERT INTO personalize.%I SELECT * FROM moved', lo, hi, part);
        EXECUTE format('ALTER TABLE personalize.events ATTACH PARTITION personalize.%I FOR VALUES FROM (%L) TO (%L)',
                       part, lo, hi);
        created := created + 1;
    END LOOP;

    -- Retention: whole months only. Live state (profile counters, scores, interests) and segment
    -- membership were folded in when the events arrived and stay; event_keys keep the message ids,
    -- so a replay of a dropped event is still a duplicate; the default partition is left alone.
    FOR part, lo IN
        SELECT c.relname, make_timestamptz(substr(c.relname, 9, 4)::integer, substr(c.relname, 14, 2)::integer, 1, 0, 0, 0, 'UTC')
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'personalize.events'::regclass AND c.relname ~ '^events_y[0-9]{4}m[0-9]{2}$'
           AND cutoff IS NOT NULL
         ORDER BY c.relname
    LOOP
        hi := ((lo AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
        CONTINUE WHEN hi > cutoff;
        EXECUTE format('SELECT count(*) FROM personalize.%I', part) INTO n;
        EXECUTE format('ALTER TABLE personalize.events DETACH PARTITION personalize.%I', part);
        EXECUTE format('DROP TABLE personalize.%I', part);
        INSERT INTO personalize.retention_log (partition, range_from, range_to, events_dropped, retention_months, as_of)
        VALUES (part, lo, hi, n, months_kept, as_of);
    END LOOP;
    RETURN created;
END
$$;

CREATE OR REPLACE FUNCTION personalize.score_rfm(as_of timestamptz DEFAULT now(), bins integer DEFAULT 5)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    probs float8[];
    rb float8[];
    fb float8[];
    mb float8[];
    latest timestamptz;
    n_profiles bigint;
    n_changed bigint;
BEGIN
    PERFORM personalize._check_as_of(as_of);
    IF bins IS NULL OR bins NOT IN (3, 4, 5) THEN
        RAISE EXCEPTION 'bins must be 3, 4 or 5, not %', bins USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'The segment rules in personalize.rfm_segments use scores from 1 to 5.';
    END IF;
    probs := personalize._rfm_probs(bins);
    -- One pass over the purchasers for all three sets of quantiles.
    SELECT personalize.rfm_breakpoints(percentile_cont(probs) WITHIN GROUP (ORDER BY personalize.recency_days(p.last_purchase_at, score_rfm.as_of))),
           personalize.rfm_breakpoints(percentile_cont(probs) WITHIN GROUP (ORDER BY p.purchase_count::float8)),
           personalize.rfm_breakpoints(percentile_cont(probs) WITHIN GROUP (ORDER BY p.purchase_total::float8)),
           max(p.last_purchase_at), count(*)
      INTO rb, fb, mb, latest, n_profiles
      FROM personalize.profiles p
     WHERE p.purchase_count > 0;
    IF latest > as_of THEN
        RAISE EXCEPTION 'cannot score RFM as of %: profiles hold purchases up to %', as_of, latest
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Live state includes every purchase folded in, so recency would be negative.',
                  HINT = 'Score a past date from the events with personalize.rfm_agg(occurred_at, amount, as_of), which leaves later purchases out.';
    END IF;

    -- The segment of every score combination, evaluated once; then one pass over the profiles.
    WITH combos AS (
        SELECT DISTINCT ON (g.r, g.f, g.m) g.r, g.f, g.m, coalesce(s.segment, 'Others') AS segment
          FROM (SELECT r, f, m FROM generate_series(1, bins) r, generate_series(1, bins) f,
                                    generate_series(1, bins) m) g
          LEFT JOIN personalize.rfm_segments s
                 ON g.r BETWEEN s.r_min AND s.r_max AND g.f BETWEEN s.f_min AND s.f_max
                AND g.m BETWEEN s.m_min AND s.m_max
         ORDER BY g.r, g.f, g.m, s.priority
    ), scored AS (
        SELECT p.profile_id,
               personalize.rfm_score(personalize.recency_days(p.last_purchase_at, score_rfm.as_of), rb, true) AS r,
               personalize.rfm_score(p.purchase_count::float8, fb) AS f,
               personalize.rfm_score(p.purchase_total::float8, mb) AS m,
               p.rfm_r AS old_r, p.rfm_f AS old_f, p.rfm_m AS old_m, p.rfm_segment AS old_segment
          FROM personalize.profiles p
         WHERE p.purchase_count > 0 OR p.rfm_segment IS NOT NULL
    ), target AS (
        SELECT s.profile_id, s.r, s.f, s.m, c.segment, s.old_segment
          FROM scored s LEFT JOIN combos c ON (c.r, c.f, c.m) = (s.r, s.f, s.m)
         WHERE (s.r, s.f, s.m, c.segment) IS DISTINCT FROM (s.old_r, s.old_f, s.old_m, s.old_segment)
    ), locked AS MATERIALIZED (
        SELECT p.profile_id FROM personalize.profiles p JOIN target t USING (profile_id)
         ORDER BY p.profile_id FOR UPDATE OF p
    ), updated AS (
        UPDATE personalize.profiles p
           SET rfm_r = t.r, rfm_f = t.f, rfm_m = t.m, rfm_segment = t.segment
          FROM target t
         WHERE p.profile_id = t.profile_id AND p.profile_id IN (SELECT profile_id FROM locked)
        RETURNING t.segment IS DISTINCT FROM t.old_segment AS changed
    )
    SELECT count(*) FILTER (WHERE changed) INTO n_changed FROM updated;

    INSERT INTO personalize.rfm_runs (as_of, bins, recency_breaks, frequency_breaks, monetary_breaks, profiles, changed)
    VALUES (as_of, bins, rb, fb, mb, n_profiles, n_changed);
    PERFORM personalize._segments_refresh_reading('rfm'::text, as_of, 'score_rfm'::text);
    RETURN n_changed;
END
$$;

CREATE OR REPLACE FUNCTION personalize.engagement_score(profile_id bigint, as_of timestamptz DEFAULT now())
RETURNS float8
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    score float8;
    at timestamptz;
BEGIN
    PERFORM personalize._check_as_of(as_of);
    SELECT p.engagement, p.engagement_as_of INTO score, at
      FROM personalize.profiles p WHERE p.profile_id = engagement_score.profile_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'profile % does not exist', engagement_score.profile_id USING ERRCODE = 'no_data_found';
    END IF;
    IF at IS NULL THEN
        RETURN 0;
    ELSIF at > as_of THEN
        RAISE EXCEPTION 'the engagement of profile % is valued at %, after as_of %', engagement_score.profile_id, at, as_of
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Live state holds every event folded in, including those after as_of.',
                  HINT = 'Compute it from the events with personalize.engagement(occurred_at, weight, half_life, as_of), which leaves later events out.';
    END IF;
    RETURN personalize.decay(score, at, as_of, personalize.half_life());
END
$$;

CREATE OR REPLACE FUNCTION personalize.top_interests(profile_id bigint, n integer DEFAULT 3, as_of timestamptz DEFAULT now())
RETURNS text[]
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    latest timestamptz;
    result text[];
BEGIN
    IF n IS NULL OR n < 0 THEN
        RAISE EXCEPTION 'n must be zero or more, not %', coalesce(n::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM personalize._check_as_of(top_interests.as_of);
    IF NOT EXISTS (SELECT FROM personalize.profiles p WHERE p.profile_id = top_interests.profile_id) THEN
        RAISE EXCEPTION 'profile % does not exist', top_interests.profile_id USING ERRCODE = 'no_data_found';
    END IF;
    SELECT max(i.as_of) INTO latest FROM personalize.profile_interests i
     WHERE i.profile_id = top_interests.profile_id;
    IF latest > top_interests.as_of THEN
        RAISE EXCEPTION 'the interests of profile % are valued at %, after as_of %',
                        top_interests.profile_id, latest, top_interests.as_of
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Live state holds every event folded in, including those after as_of.';
    END IF;
    SELECT coalesce(array_agg(t.category ORDER BY t.score DESC, t.category), '{}') INTO result
      FROM (SELECT i.category,
                   personalize.decay(i.score, i.as_of, top_interests.as_of, personalize.half_life()) AS score
              FROM personalize.profile_interests i
             WHERE i.profile_id = top_interests.profile_id
             ORDER BY 2 DESC, 1
             LIMIT n) t;
    RETURN result;
END
$$;

-- A template's version counts from 1.
ALTER TABLE personalize.templates ADD CONSTRAINT templates_version_check CHECK (version >= 1);

COMMENT ON FUNCTION personalize.maintain(timestamptz, integer, integer) IS
'Creates the monthly partitions of events from months_back before as_of to months_ahead after, and drops those older than personalize.retention_months (logged in retention_log); pg_cron calls it daily';

-- Privileges (src/core/roles.sql): no TRIGGER, TRUNCATE or REFERENCES for anyone; writers insert
-- only the caller's columns of an event; segment reads stay with analysts; internal functions are
-- the owner's.
REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA personalize FROM personalize_admin;
REVOKE UPDATE ON ALL SEQUENCES IN SCHEMA personalize FROM personalize_admin;
REVOKE INSERT ON personalize.events FROM personalize_writer;
REVOKE USAGE ON SEQUENCE personalize.event_id_seq FROM personalize_writer;
GRANT INSERT (user_id, anonymous_id, event, properties, occurred_at, message_id) ON personalize.events
    TO personalize_writer;
REVOKE EXECUTE ON FUNCTION personalize.in_segment(text, bigint), personalize.segments_of(bigint)
    FROM personalize_writer;
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
-- ---- end of security

-- ---- privacy (issue 12): forget() erases a profile's sends, decisions, suppressions and holdouts
-- (src/send/profile_data.sql, created after this script's hand-written part), export_profile()
-- exports them, merge_profiles() moves them; erasure_log counts the sends erased. forget and
-- merge_profiles are replaced in the security section above (one copy each, from src/).
ALTER TABLE personalize.erasure_log ADD COLUMN sends_deleted bigint NOT NULL DEFAULT 0;
COMMENT ON FUNCTION personalize.forget(bigint, timestamptz) IS
'Right to erasure: deletes the profile, its identities, consent history, events, quarantined events, sends, journey runs, cluster and recommendation items; logs the fact';

CREATE OR REPLACE FUNCTION personalize.export_profile(profile_id bigint)
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

-- identify() looks a new user_id up in profiles: without an index each call scanned the table
CREATE INDEX profiles_user_id_idx ON personalize.profiles (user_id) WHERE user_id IS NOT NULL;
-- ---- end of privacy

-- ---- dump and restore (issue 11): the index of events lives on each partition, not on the
-- parent (pg_restore's ATTACH of a monthly partition created it again before the dump's CREATE
-- INDEX of it failed); the default partition carries it and maintain() copies it to each new
-- partition (replaced in the security section above). Existing partitions get theirs anew. The
-- triggers that keep edited built-in rows and settings rows across a restore are in
-- src/core/config_restore.sql, a module run after this script's hand-written part.
DROP INDEX personalize.events_profile_idx;
CREATE INDEX events_default_profile_id_occurred_at_idx ON personalize.events_default (profile_id, occurred_at);
DO $$
DECLARE
    part regclass;
BEGIN
    FOR part IN
        SELECT i.inhrelid::pg_catalog.regclass FROM pg_catalog.pg_inherits i
         WHERE i.inhparent OPERATOR(pg_catalog.=) 'personalize.events'::pg_catalog.regclass
           AND i.inhrelid OPERATOR(pg_catalog.<>) 'personalize.events_default'::pg_catalog.regclass
    LOOP
        EXECUTE pg_catalog.format('CREATE INDEX ON %s (profile_id, occurred_at)', part);
    END LOOP;
END
$$;
-- ---- end of dump and restore

-- ---- livefold (issues 9 and 11): ingestion, identify and alias racing a merge_profiles or forget
-- that removes their profile re-resolve to the profile that survives it (the bodies of
-- _events_after_insert, identify and alias above are src's).
CREATE INDEX merge_log_dropped_idx ON personalize.merge_log (dropped_profile);   -- ingest follows merges forward
-- The live-state fold (src/scoring/live_state.c, created with the livestate section above):
-- _live_state_at folds with it, so analysts (context, segments) may call it.
GRANT EXECUTE ON FUNCTION personalize._live_fold(timestamptz, bigint, text, jsonb, float8, float8, text, text[], text)
    TO personalize_admin, personalize_analyst;

-- The profiles that take over a statement's events whose profile was removed while the statement
-- waited for its lock (a merge_profiles or forget that committed in between): the profile the
-- removed one was merged into (following merge_log to the one that still exists); after an
-- erasure, the profile one of the events' identities now resolves to, else a new profile with
-- those identities, as for an event arriving after the erasure (docs/profiles-and-privacy.md).
-- Moves the events, and identities this statement attached, onto the survivor. The identities
-- are given as (owner, kind, value): owner is the removed profile the events were stored with.
CREATE FUNCTION personalize._rehome_vanished(vanished bigint[], owners bigint[], kinds text[], vals text[],
                                             OUT redirect_from bigint[], OUT redirect_to bigint[],
                                             OUT new_profiles bigint[])
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    gone bigint;
    survivor bigint;
    fresh bigint;
    uid text;
BEGIN
    redirect_from := '{}';
    redirect_to := '{}';
    new_profiles := '{}';
    FOREACH gone IN ARRAY vanished LOOP
        -- merged: the kept profile, or the one it was merged into later (each drop is logged once)
        WITH RECURSIVE chain(profile_id, depth) AS (
            SELECT gone, 0
            UNION ALL
            SELECT m.kept_profile, c.depth + 1
              FROM chain c JOIN personalize.merge_log m ON m.dropped_profile = c.profile_id
             WHERE c.depth < 1000
        )
        SELECT c.profile_id INTO survivor FROM chain c JOIN personalize.profiles p USING (profile_id)
         ORDER BY c.depth DESC LIMIT 1;
        IF survivor IS NULL THEN
            -- erased (or merged into a profile erased since): a new profile claims the events' ids,
            -- unless another one (created after the erasure, maybe concurrently) already holds one
            SELECT min(x.value) INTO uid FROM unnest(owners, kinds, vals) AS x(owner, kind, value)
             WHERE x.owner = gone AND x.kind = 'user_id';
            INSERT INTO personalize.profiles (user_id) VALUES (uid) RETURNING profile_id INTO fresh;
            INSERT INTO personalize.identities (kind, value, profile_id)
            SELECT DISTINCT x.kind, x.value, fresh FROM unnest(owners, kinds, vals) AS x(owner, kind, value)
             WHERE x.owner = gone ORDER BY 1, 2
                ON CONFLICT (kind, value) DO NOTHING;
            SELECT i.profile_id INTO survivor
              FROM unnest(owners, kinds, vals) AS x(owner, kind, value)
              JOIN personalize.identities i USING (kind, value)
              JOIN personalize.profiles p ON p.profile_id = i.profile_id
             WHERE x.owner = gone
             ORDER BY i.profile_id = fresh, x.kind DESC, x.value LIMIT 1;
            IF survivor IS NULL OR survivor = fresh THEN
                survivor := fresh;
                new_profiles := new_profiles || fresh;
            ELSE
                UPDATE personalize.identities SET profile_id = survivor WHERE profile_id = fresh;
                DELETE FROM personalize.profiles WHERE profile_id = fresh;
            END IF;
        END IF;
        UPDATE personalize.events SET profile_id = survivor WHERE profile_id = gone;
        UPDATE personalize.identities SET profile_id = survivor WHERE profile_id = gone;
        redirect_from := redirect_from || gone;
        redirect_to := redirect_to || survivor;
    END LOOP;
END
$$;
-- ---- end of livefold

-- ---- experiments (issue 16): tick() also takes the experiments' due decisions, experiment_tick
-- (created with the experiment modules below; PL/pgSQL resolves it when tick runs). This is the
-- one body of tick() in this script (the segments section dropped 0.1's): it equals src/.
CREATE FUNCTION personalize.tick(as_of timestamptz DEFAULT NULL)
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
    as_of := coalesce(as_of, personalize._clock());
    PERFORM personalize._check_as_of(as_of);
    PERFORM personalize._tick_advance(as_of);     -- never back in time
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
        r := personalize._segment_apply(seg, ids, as_of, 'tick', true);
        IF r.entered + r.exited > 0 THEN
            changed := changed || seg.name;
            changed_ids := changed_ids || r.changed;
            total := total + r.entered + r.exited;
            summary := summary || jsonb_build_object('id', seg.segment_id, 'entered', r.entered, 'exited', r.exited);
        END IF;
    END LOOP;
    UPDATE personalize.segments s SET evaluated_at = as_of
     WHERE s.kind = 'rule' AND (s.evaluated_at IS NULL OR s.evaluated_at < as_of);
    PERFORM personalize._segments_notify(summary, 'tick');
    -- the journeys' share: the runs due by as_of (src/journey/run.sql)
    PERFORM personalize._journeys_tick(as_of);
    -- the outbox's share of the clock (src/send/queue.sql)
    PERFORM personalize._sends_tick(as_of);
    -- experiments' share: test-then-roll-out decisions that are due (src/experiment/launch.sql)
    PERFORM personalize.experiment_tick(as_of);
    RETURN total;
END
$$;
COMMENT ON FUNCTION personalize.tick(timestamptz) IS
'Re-evaluates the memberships whose answer may have changed with time by as_of, advances the journey runs due, then the outbox''s leases and due sends, then the experiments'' due decisions; pg_cron calls it every minute';
REVOKE ALL ON FUNCTION personalize.tick(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION personalize.tick(timestamptz) TO personalize_admin;
GRANT EXECUTE ON FUNCTION personalize.tick(timestamptz) TO personalize_analyst;
-- ---- end of experiments

-- ---- journeys (issue 15): tick() advances the journey runs that are due (_journeys_tick) and the
-- ingest trigger passes the events journeys read to _journeys_on_events; both calls are in the
-- last copy of each function above. The journey modules (src/journey/) follow, created whole.

-- ---- tick (issue 10): tick() refuses an as_of earlier than its last run or the latest refresh
-- (22023, as refresh_segment does); tick_state keeps its clock. tick() is created, with
-- its _tick_advance call, in the experiments section above.
-- The clock of tick(): the time it last ran at. Dumped, so a restored database keeps it.
CREATE TABLE personalize.tick_state (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_tick  timestamptz
);
INSERT INTO personalize.tick_state DEFAULT VALUES;
COMMENT ON TABLE personalize.tick_state IS 'The time tick() last ran at (it refuses an earlier one)';
SELECT pg_catalog.pg_extension_config_dump('personalize.tick_state', '');

-- Moves the clock of tick() to as_of, or refuses an as_of earlier than the last tick or than the
-- latest evaluation of a rule segment (a refresh), as refresh_segment refuses one: evaluating at
-- an earlier time would put back members that have left since. Concurrent ticks run one at a time.
CREATE FUNCTION personalize._tick_advance(as_of timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    last timestamptz;
BEGIN
    SELECT t.last_tick INTO last FROM personalize.tick_state t FOR UPDATE;
    SELECT greatest(last, max(s.evaluated_at)) INTO last FROM personalize.segments s WHERE s.kind = 'rule';
    IF last > as_of THEN
        RAISE EXCEPTION 'cannot tick at %: the clock is already at %', as_of, last
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Segments and the outbox were evaluated at the later time; evaluating them at an earlier time would put back members that have left since.',
                  HINT = 'Tick at that time or later; personalize.audience(name, as_of) gives the membership at an earlier time.';
    END IF;
    UPDATE personalize.tick_state SET last_tick = as_of;
END
$$;
GRANT SELECT, INSERT, UPDATE, DELETE ON personalize.tick_state TO personalize_admin;
GRANT SELECT ON personalize.tick_state TO personalize_analyst;
REVOKE ALL ON FUNCTION personalize._tick_advance(timestamptz) FROM PUBLIC;
-- ---- end of tick

-- ---- house (issue 9): forget() erases the causes of the merges that made the erased profile
-- (its body above is src's); merge_log's comment says so.
COMMENT ON TABLE personalize.merge_log IS 'Every profile merge: ids, counts, times and the caller''s cause (forget() erases the causes of the merges that made the erased profile)';
-- ---- end of house
