-- The event pipeline: the events table, its triggers, and track() (src/ingest.c).

CREATE SEQUENCE personalize.event_id_seq AS bigint;

CREATE TABLE personalize.events (
    profile_id    bigint NOT NULL,
    occurred_at   timestamptz NOT NULL,
    event         text NOT NULL,
    user_id       text,
    anonymous_id  text,
    properties    jsonb NOT NULL DEFAULT '{}',
    message_id    text COLLATE "C" NOT NULL,
    event_id      bigint NOT NULL,    -- set by the row trigger from event_id_seq, never by a caller
    received_at   timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp()
) PARTITION BY RANGE (occurred_at);
CREATE TABLE personalize.events_default PARTITION OF personalize.events DEFAULT;
-- The index lives on each partition, not on the parent: the default partition carries it, and
-- maintain() copies it to each monthly partition (LIKE ... INCLUDING INDEXES). An index on the
-- parent, a member of the extension, would be created again by pg_restore's ATTACH of each
-- monthly partition, before the dump's own CREATE INDEX of it fails (docs/limits.md).
CREATE INDEX events_default_profile_id_occurred_at_idx ON personalize.events_default (profile_id, occurred_at);
COMMENT ON TABLE personalize.events IS
'Every accepted event, partitioned by UTC month; INSERT and COPY take the same path as track()';

-- Keys are opaque: byte order (COLLATE "C") is all uniqueness needs, and much cheaper to keep.
CREATE TABLE personalize.event_keys (
    message_id  text COLLATE "C" PRIMARY KEY,
    event_id    bigint NOT NULL,
    duplicates  bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE personalize.event_keys IS
'One row per message_id ever accepted (whatever its month): the event_id that holds it and the count of duplicates dropped';

CREATE TABLE personalize.rejected_events (
    rejected_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payload      jsonb NOT NULL,
    reason       text NOT NULL,
    path         text NOT NULL,
    expected     text NOT NULL,
    rejected_at  timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp()
);
COMMENT ON TABLE personalize.rejected_events IS
'Quarantine: each event that failed validation, with its full payload and the JSON path at fault';

SELECT pg_catalog.pg_extension_config_dump('personalize.events_default', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.event_keys', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.rejected_events', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.rejected_events_rejected_id_seq', '');   -- else a restore restarts the ids
SELECT pg_catalog.pg_extension_config_dump('personalize.event_id_seq', '');

CREATE FUNCTION personalize._events_before_statement()
RETURNS trigger
AS 'MODULE_PATHNAME', 'personalize_events_before_statement'
LANGUAGE C;

CREATE FUNCTION personalize._events_before_row()
RETURNS trigger
AS 'MODULE_PATHNAME', 'personalize_events_before_row'
LANGUAGE C;

CREATE FUNCTION personalize._ingest_pending_rejects(
    OUT payload jsonb, OUT reason text, OUT path text, OUT expected text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'personalize_ingest_pending_rejects'
LANGUAGE C VOLATILE;

CREATE FUNCTION personalize._ingest_pending_identities(
    OUT kind text, OUT value text, OUT profile_id bigint, OUT is_new boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'personalize_ingest_pending_identities'
LANGUAGE C VOLATILE;

CREATE FUNCTION personalize._ingest_pending_duplicates(OUT message_id text, OUT copies bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'personalize_ingest_pending_duplicates'
LANGUAGE C VOLATILE;

CREATE FUNCTION personalize._ingest_pending_counts(OUT rejects bigint, OUT identities bigint,
                                                   OUT duplicates bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'personalize_ingest_pending_counts'
LANGUAGE C VOLATILE;

CREATE FUNCTION personalize._ingest_end(accepted bigint, duplicates bigint, identities_changed boolean)
RETURNS void
AS 'MODULE_PATHNAME', 'personalize_ingest_end'
LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION personalize.last_ingest(OUT accepted bigint, OUT duplicates bigint, OUT rejected bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'personalize_last_ingest'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION personalize.last_ingest() IS
'What the last INSERT or COPY into personalize.events of this session accepted, dropped as duplicate and quarantined';

-- Settles the identities a statement relied on. Returns the profiles merged away as
-- (from, to) pairs: rare races (two sessions meeting a new user at once) and anonymous
-- activity that turns out to belong to a known user.
CREATE FUNCTION personalize._settle_identities(OUT redirect_from bigint[], OUT redirect_to bigint[],
                                               OUT new_profiles bigint[])
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c record;
    mine bigint;
    theirs bigint;
    keep bigint;
    gone bigint;
BEGIN
    redirect_from := '{}';
    redirect_to := '{}';
    WITH created AS (
        INSERT INTO personalize.profiles (profile_id, user_id)
        SELECT p.profile_id, max(p.value) FILTER (WHERE p.kind = 'user_id')
          FROM personalize._ingest_pending_identities() p
         WHERE p.is_new
         GROUP BY p.profile_id
        RETURNING profile_id
    )
    SELECT coalesce(array_agg(profile_id), '{}') INTO new_profiles FROM created;
    INSERT INTO personalize.identities (kind, value, profile_id)
    SELECT DISTINCT ON (p.kind, p.value) p.kind, p.value, p.profile_id
      FROM personalize._ingest_pending_identities() p
     ORDER BY p.kind, p.value, p.is_new
        ON CONFLICT (kind, value) DO NOTHING;
    UPDATE personalize.profiles pr SET user_id = p.value
      FROM personalize._ingest_pending_identities() p
     WHERE p.kind = 'user_id' AND NOT p.is_new AND pr.profile_id = p.profile_id AND pr.user_id IS NULL;

    FOR c IN
        SELECT p.kind, p.value, p.profile_id, p.is_new
          FROM personalize._ingest_pending_identities() p
          JOIN personalize.identities i USING (kind, value)
         WHERE i.profile_id <> p.profile_id
         ORDER BY p.is_new DESC, p.kind DESC, p.value
    LOOP
        mine := coalesce(redirect_to[array_position(redirect_from, c.profile_id)], c.profile_id);
        SELECT i.profile_id INTO theirs FROM personalize.identities i
         WHERE i.kind = c.kind AND i.value = c.value;
        CONTINUE WHEN theirs IS NULL OR theirs = mine;
        keep := NULL;
        IF c.is_new OR c.kind = 'user_id' THEN
            -- Our profile met an identity that already belongs to another: it joins that one,
            -- unless it is itself a different known user.
            IF NOT EXISTS (SELECT FROM personalize.profiles WHERE profile_id = mine
                             AND user_id IS NOT NULL AND user_id IS DISTINCT FROM
                                 (SELECT user_id FROM personalize.profiles WHERE profile_id = theirs)) THEN
                keep := theirs; gone := mine;
            END IF;
        ELSIF NOT EXISTS (SELECT FROM personalize.profiles WHERE profile_id = theirs AND user_id IS NOT NULL) THEN
            -- An anonymous visitor's earlier activity belongs to the known user now seen with it.
            keep := mine; gone := theirs;
        END IF;
        CONTINUE WHEN keep IS NULL;
        PERFORM personalize.merge_profiles(keep, gone, force => true, cause => 'ingest: ' || c.kind);
        redirect_to := array_replace(redirect_to, gone, keep);
        redirect_from := redirect_from || gone;
        redirect_to := redirect_to || keep;
    END LOOP;
END
$$;

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

-- AFTER INSERT FOR EACH STATEMENT: stores quarantined rows, settles identities, drops
-- duplicates (message_id seen before, in this statement or any other), and updates each
-- touched profile once, locking profiles in profile_id order. The row trigger already dropped
-- copies within the statement, so the common case claims the keys with one plain INSERT; only
-- a statement meeting a key held before pays for finding and deleting its events.
CREATE FUNCTION personalize._events_after_insert()
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

CREATE TRIGGER events_before_statement BEFORE INSERT ON personalize.events
    FOR EACH STATEMENT EXECUTE FUNCTION personalize._events_before_statement();
CREATE TRIGGER events_before_row BEFORE INSERT ON personalize.events
    FOR EACH ROW EXECUTE FUNCTION personalize._events_before_row();
CREATE TRIGGER events_after_statement AFTER INSERT ON personalize.events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION personalize._events_after_insert();

CREATE FUNCTION personalize.track(user_id text, event text, properties jsonb DEFAULT '{}',
                                  occurred_at timestamptz DEFAULT now(), message_id text DEFAULT NULL,
                                  anonymous_id text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
BEGIN
    INSERT INTO personalize.events (user_id, anonymous_id, event, properties, occurred_at, message_id)
    VALUES (track.user_id, track.anonymous_id, track.event, track.properties, track.occurred_at,
            track.message_id);
    r := personalize.last_ingest();
    RETURN CASE WHEN r.accepted > 0 THEN 'accepted' WHEN r.duplicates > 0 THEN 'duplicate' ELSE 'rejected' END;
END
$$;
COMMENT ON FUNCTION personalize.track(text, text, jsonb, timestamptz, text, text) IS
'Records one event; returns accepted, duplicate or rejected (see personalize.rejected_events)';

CREATE VIEW personalize.ingest_stats AS
SELECT (SELECT count(*) FROM personalize.events) AS events,
       (SELECT coalesce(sum(duplicates), 0) FROM personalize.event_keys)::bigint AS duplicates_dropped,
       (SELECT count(*) FROM personalize.rejected_events) AS rejected,
       (SELECT count(*) FROM personalize.profiles) AS profiles;
