-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION personalize" to load this file. \quit

-- ---- src/schema_setup.sql
-- The schema itself and the helpers every module uses (src/personalize.c).

REVOKE ALL ON SCHEMA personalize FROM PUBLIC;

CREATE FUNCTION personalize._invalidate(rel regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'personalize_invalidate'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION personalize._invalidate(regclass) IS
'Tells every backend to drop the caches it built on this relation (at commit)';

-- ---- src/hash.sql
-- Hashing and dedup helpers (src/hash.c).

CREATE FUNCTION personalize.normalize_email(email text, strip_plus boolean DEFAULT false,
                                            strip_dots boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'personalize_normalize_email'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.normalize_email(text, boolean, boolean) IS
'Trimmed, ASCII-lowercased address; strip_plus drops +tags, strip_dots drops dots of Gmail local parts';

CREATE FUNCTION personalize.email_hash(email text)
RETURNS text
AS 'MODULE_PATHNAME', 'personalize_email_hash'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.email_hash(text) IS
'Lowercase hex SHA-256 of normalize_email(email), the customer-matching convention';

CREATE FUNCTION personalize.fingerprint(value jsonb)
RETURNS bigint
AS 'MODULE_PATHNAME', 'personalize_fingerprint'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.fingerprint(jsonb) IS
'First 8 bytes (big-endian) of SHA-256 over the canonical encoding of the value';

-- ---- src/profile.sql
-- Profiles and the identities that resolve to them.

CREATE SEQUENCE personalize.profile_id_seq AS bigint;
COMMENT ON SEQUENCE personalize.profile_id_seq IS 'Dense profile numbers (audiences use them as bitmap positions)';

CREATE TABLE personalize.profiles (
    profile_id     bigint PRIMARY KEY DEFAULT pg_catalog.nextval('personalize.profile_id_seq'),
    user_id        text,
    email          text,
    email_hash     text,
    traits         jsonb NOT NULL DEFAULT '{}' CHECK (pg_catalog.jsonb_typeof(traits) = 'object'),
    email_consent  text NOT NULL DEFAULT 'unknown'
                   CHECK (email_consent IN ('subscribed', 'unsubscribed', 'unknown')),
    lawful_basis   text CHECK (lawful_basis IN ('consent', 'contract', 'legal_obligation',
                                                'vital_interests', 'public_task', 'legitimate_interests')),
    do_not_sell    boolean NOT NULL DEFAULT false,
    consent_at     timestamptz,
    event_count    bigint NOT NULL DEFAULT 0,
    first_seen_at  timestamptz,
    last_seen_at   timestamptz,
    created_at     timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp(),
    updated_at     timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp()
);
CREATE INDEX profiles_email_hash_idx ON personalize.profiles (email_hash) WHERE email_hash IS NOT NULL;
COMMENT ON TABLE personalize.profiles IS 'One unified profile per customer';

CREATE TABLE personalize.identities (
    kind        text NOT NULL CHECK (kind IN ('user_id', 'anonymous_id', 'email_hash')),
    value       text NOT NULL,
    profile_id  bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp(),
    PRIMARY KEY (kind, value)
);
CREATE INDEX identities_profile_idx ON personalize.identities (profile_id);
COMMENT ON TABLE personalize.identities IS 'Each user_id, anonymous_id and e-mail hash resolves to one profile';

CREATE TABLE personalize.merge_log (
    merge_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kept_profile    bigint NOT NULL,
    dropped_profile bigint NOT NULL,
    cause           text NOT NULL,
    forced          boolean NOT NULL,
    events_moved    bigint NOT NULL,
    merged_at       timestamptz NOT NULL
);
CREATE INDEX merge_log_kept_idx ON personalize.merge_log (kept_profile);
COMMENT ON TABLE personalize.merge_log IS 'Every profile merge: ids and counts only, no personal data';

SELECT pg_catalog.pg_extension_config_dump('personalize.profiles', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.identities', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.merge_log', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.profile_id_seq', '');

-- ---- src/consent.sql
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
    IF as_of IS NULL OR NOT isfinite(as_of) THEN
        RAISE EXCEPTION 'as_of must be a finite timestamp' USING ERRCODE = 'invalid_parameter_value';
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
    PERFORM personalize._segments_live(ARRAY[set_consent.profile_id], '{}', '{consent}', 'consent');
END
$$;
COMMENT ON FUNCTION personalize.set_consent(bigint, text, text, boolean, text, timestamptz) IS
'Changes a profile''s consent (NULL arguments keep the current value) and records the change';

SELECT pg_catalog.pg_extension_config_dump('personalize.consent_log', '');

-- ---- src/schema.sql
-- Event schemas: a JSON Schema subset per event name, checked in C (src/schema.c).

CREATE FUNCTION personalize._check_event_schema(schema jsonb)
RETURNS boolean
AS 'MODULE_PATHNAME', 'personalize_check_event_schema'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TABLE personalize.event_schemas (
    event       text PRIMARY KEY CHECK (event <> '' AND pg_catalog.octet_length(event) <= 200),
    schema      jsonb CHECK (personalize._check_event_schema(schema)),
    description text,
    builtin     boolean NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp()
);
COMMENT ON TABLE personalize.event_schemas IS
'Known event names; schema (NULL: any properties) validates properties on ingest';

-- Every backend caches the schemas; a change tells them all to reload at commit.
CREATE FUNCTION personalize._event_schemas_changed()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM personalize._invalidate('personalize.event_schemas'::regclass);
    RETURN NULL;
END
$$;
CREATE TRIGGER event_schemas_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON personalize.event_schemas
    FOR EACH STATEMENT EXECUTE FUNCTION personalize._event_schemas_changed();

INSERT INTO personalize.event_schemas (event, schema, description, builtin) VALUES
  ('Product Viewed', '{"type": "object", "properties": {"product_id": {"type": ["string", "integer"]},
     "price": {"type": "number", "minimum": 0}, "category": {"type": "string"}}}',
   'A product page was viewed', true),
  ('Product Added', '{"type": "object", "required": ["product_id"], "properties": {
     "product_id": {"type": ["string", "integer"]}, "price": {"type": "number", "minimum": 0},
     "quantity": {"type": "integer", "minimum": 1}, "category": {"type": "string"}}}',
   'A product was added to the cart', true),
  ('Checkout Started', '{"type": "object", "properties": {"total": {"type": "number", "minimum": 0}}}',
   'Checkout began', true),
  ('Order Completed', '{"type": "object", "required": ["order_id"], "properties": {
     "order_id": {"type": ["string", "integer"]}, "revenue": {"type": "number", "minimum": 0},
     "total": {"type": "number", "minimum": 0}, "products": {"type": "array"}}}',
   'An order was placed', true),
  ('Email Opened', '{"type": "object", "properties": {"campaign_id": {"type": ["string", "integer"]}}}',
   'A marketing e-mail was opened', true),
  ('Email Clicked', '{"type": "object", "properties": {"url": {"type": "string"}}}',
   'A link in a marketing e-mail was clicked', true),
  ('Subscribed', NULL, 'The customer opted in to marketing e-mail', true),
  ('Unsubscribed', NULL, 'The customer opted out of marketing e-mail', true),
  ('Email Marked as Spam', NULL, 'The customer reported an e-mail as spam (treated as an opt-out)', true);

-- pg_dump keeps the rows users add; the built-in rows come back with CREATE EXTENSION.
SELECT pg_catalog.pg_extension_config_dump('personalize.event_schemas', 'WHERE NOT builtin');

-- ---- src/ingest.sql
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
    event_id      bigint NOT NULL DEFAULT pg_catalog.nextval('personalize.event_id_seq'),
    received_at   timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp()
) PARTITION BY RANGE (occurred_at);
CREATE TABLE personalize.events_default PARTITION OF personalize.events DEFAULT;
CREATE INDEX events_profile_idx ON personalize.events (profile_id, occurred_at);
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

    -- The accepted events, each with what scoring takes from its properties (src/scoring.sql,
    -- src/interest.sql), so that the properties themselves are read once.
    WITH accepted AS MATERIALIZED (
        SELECT coalesce(r.to_id, e.profile_id) AS profile_id, e.occurred_at, e.event_id, e.event,
               w.engagement_weight, w.interest_weight, e.event = st.purchase_event AS purchase,
               CASE WHEN e.event = st.purchase_event
                    THEN personalize.purchase_amount(e.properties, st.amount_properties) END AS amount,
               CASE WHEN w.interest_weight > 0
                    THEN personalize.event_category(e.properties, st.category_property) END AS category
          FROM new_events e
          LEFT JOIN unnest(settled.redirect_from, settled.redirect_to) AS r(from_id, to_id)
                 ON r.from_id = e.profile_id
          LEFT JOIN personalize.scoring_events w ON w.event = e.event
         WHERE NOT EXISTS (SELECT FROM unnest(dropped) AS d(event_id) WHERE d.event_id = e.event_id)
    ), consent AS (
        SELECT DISTINCT ON (profile_id) profile_id, occurred_at,
               CASE event WHEN 'Subscribed' THEN 'subscribed' ELSE 'unsubscribed' END AS state
          FROM accepted
         WHERE event IN ('Subscribed', 'Unsubscribed', 'Email Marked as Spam')
         ORDER BY profile_id, occurred_at DESC, event_id DESC
    ), consent_logged AS (
        INSERT INTO personalize.consent_log (profile_id, changed_at, email_consent, source)
        SELECT profile_id, occurred_at,
               CASE event WHEN 'Subscribed' THEN 'subscribed' ELSE 'unsubscribed' END, 'event: ' || event
          FROM accepted
         WHERE event IN ('Subscribed', 'Unsubscribed', 'Email Marked as Spam')
    ), touched AS (
        SELECT profile_id, count(*) AS n, min(occurred_at) AS first_at, max(occurred_at) AS last_at
          FROM accepted GROUP BY profile_id
    ), locked AS MATERIALIZED (
        SELECT p.profile_id FROM personalize.profiles p JOIN touched t USING (profile_id)
         ORDER BY p.profile_id FOR UPDATE OF p
    -- ---- scoring (src/scoring.sql, src/interest.sql): purchases, engagement, interests
    ), scored AS (
        SELECT c.profile_id, c.occurred_at, c.engagement_weight, c.interest_weight, c.purchase, c.amount, c.category
          FROM accepted c
         WHERE c.engagement_weight <> 0 OR c.interest_weight > 0 OR c.purchase
    ), scores AS (
        SELECT s.profile_id,
               count(*) FILTER (WHERE s.amount >= 0 AND s.amount < 'Infinity') AS purchases,
               sum(s.amount) FILTER (WHERE s.amount >= 0 AND s.amount < 'Infinity') AS total,
               min(s.occurred_at) FILTER (WHERE s.amount >= 0 AND s.amount < 'Infinity') AS first_at,
               max(s.occurred_at) FILTER (WHERE s.amount >= 0 AND s.amount < 'Infinity') AS last_at,
               count(*) FILTER (WHERE s.purchase AND NOT coalesce(s.amount >= 0 AND s.amount < 'Infinity', false)) AS ignored,
               personalize._engagement_state(s.occurred_at, s.engagement_weight, personalize.half_life())
                   FILTER (WHERE s.engagement_weight <> 0) AS engagement
          FROM scored s GROUP BY s.profile_id
    ), interests AS (
        INSERT INTO personalize.profile_interests AS i (profile_id, category, score, as_of)
        SELECT x.profile_id, x.category, (x.st).score, (x.st).as_of
          FROM (SELECT s.profile_id, s.category,
                       personalize._engagement_state(s.occurred_at, s.interest_weight, personalize.half_life()) AS st
                  FROM scored s
                 WHERE s.category IS NOT NULL AND s.profile_id IN (SELECT profile_id FROM locked)
                 GROUP BY 1, 2) x
         ORDER BY 1, 2
            ON CONFLICT (profile_id, category) DO UPDATE
           SET score = personalize._decay_sum(i.score, i.as_of, ROW(excluded.score, excluded.as_of)::personalize.decayed,
                                                personalize.half_life()),
               as_of = greatest(i.as_of, excluded.as_of)
    -- ---- end of scoring
    ), counted AS (
    UPDATE personalize.profiles p
       SET event_count = p.event_count + t.n,
           first_seen_at = least(p.first_seen_at, t.first_at),
           last_seen_at = greatest(p.last_seen_at, t.last_at),
           email_consent = CASE WHEN c.state IS NOT NULL AND (p.consent_at IS NULL OR c.occurred_at >= p.consent_at)
                                THEN c.state ELSE p.email_consent END,
           consent_at = CASE WHEN c.state IS NOT NULL AND (p.consent_at IS NULL OR c.occurred_at >= p.consent_at)
                             THEN c.occurred_at ELSE p.consent_at END,
           -- scoring (src/scoring.sql)
           purchase_count = p.purchase_count + coalesce(s.purchases, 0),
           purchase_total = p.purchase_total + coalesce(s.total, 0),
           first_purchase_at = least(p.first_purchase_at, s.first_at),
           last_purchase_at = greatest(p.last_purchase_at, s.last_at),
           purchases_ignored = p.purchases_ignored + coalesce(s.ignored, 0),
           engagement = personalize._decay_sum(p.engagement, p.engagement_as_of, s.engagement, personalize.half_life()),
           engagement_as_of = greatest(p.engagement_as_of, (s.engagement).as_of),
           updated_at = statement_timestamp()
      FROM touched t LEFT JOIN consent c USING (profile_id) LEFT JOIN scores s USING (profile_id)
     WHERE p.profile_id = t.profile_id AND p.profile_id IN (SELECT profile_id FROM locked)
    RETURNING p.profile_id
    )
    -- what segments need to know (only gathered when there are segments)
    SELECT CASE WHEN live THEN (SELECT array_agg(profile_id) FROM counted) END,
           CASE WHEN live THEN (SELECT array_agg(DISTINCT event) FROM accepted) END,
           CASE WHEN live THEN EXISTS (SELECT FROM consent) END
      INTO ids, names, consent_changed;

    IF live THEN
        PERFORM personalize._segments_live(ids, names,
            CASE WHEN cardinality(settled.redirect_from) > 0 THEN '{*}'::text[]
                 ELSE ARRAY['event_count', 'first_seen_at', 'last_seen_at', 'purchases', 'engagement', 'interests']
                      || CASE WHEN consent_changed THEN '{consent}'::text[] ELSE '{}' END END,
            'ingest', settled.new_profiles);
    END IF;

    PERFORM personalize._ingest_end(n_rows - cardinality(dropped), cardinality(dropped)::bigint,
                                    cardinality(settled.redirect_from) > 0);
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

-- ---- src/decay.sql
-- Decay and engagement (src/decay.c): scores that halve every half-life, the engagement
-- aggregate, the half-life setting and the counters of ignored aggregate input rows.

CREATE FUNCTION personalize.decay(score float8, from_ts timestamptz, to_ts timestamptz, half_life interval)
RETURNS float8
AS 'MODULE_PATHNAME', 'personalize_decay'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.decay(float8, timestamptz, timestamptz, interval) IS
'score valued at from_ts, valued at to_ts: halved once per half_life (a month counts 30 days); to_ts before from_ts is an error';

CREATE FUNCTION personalize.half_life()
RETURNS interval
AS 'MODULE_PATHNAME', 'personalize_half_life'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION personalize.half_life() IS
'The personalize.half_life setting (default 14 days): the half-life of the live engagement and interest scores';

-- A score and the time it is valued at.
CREATE TYPE personalize.decayed AS (score float8, as_of timestamptz);

CREATE FUNCTION personalize._decay_sum(score float8, as_of timestamptz, add personalize.decayed, half_life interval)
RETURNS float8
AS 'MODULE_PATHNAME', 'personalize_decay_sum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION personalize._engagement_trans(internal, timestamptz, float8, interval, timestamptz)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_engagement_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION personalize._engagement_state_trans(internal, timestamptz, float8, interval)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_engagement_state_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION personalize._engagement_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_engagement_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION personalize._engagement_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'personalize_engagement_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION personalize._engagement_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_engagement_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION personalize._engagement_final(internal)
RETURNS float8
AS 'MODULE_PATHNAME', 'personalize_engagement_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION personalize._engagement_state_final(internal)
RETURNS personalize.decayed
AS 'MODULE_PATHNAME', 'personalize_engagement_state_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE personalize.engagement(occurred_at timestamptz, weight float8, half_life interval,
                                        as_of timestamptz) (
    SFUNC = personalize._engagement_trans,
    STYPE = internal,
    SSPACE = 128,    -- the EngagementState of src/decay.c as allocated; the planner assumes 1 kB
    FINALFUNC = personalize._engagement_final,
    COMBINEFUNC = personalize._engagement_combine,
    SERIALFUNC = personalize._engagement_serialize,
    DESERIALFUNC = personalize._engagement_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE personalize.engagement(timestamptz, float8, interval, timestamptz) IS
'Sum of weight * 2^(-(as_of - occurred_at) / half_life); rows with a NULL or infinite occurred_at, a NULL weight, or occurred_at after as_of are left out (see ignored_rows()); 0 when none counts';

-- The same sum valued at the latest event instead of as_of: what profiles store.
CREATE AGGREGATE personalize._engagement_state(occurred_at timestamptz, weight float8, half_life interval) (
    SFUNC = personalize._engagement_state_trans,
    STYPE = internal,
    SSPACE = 128,
    FINALFUNC = personalize._engagement_state_final,
    COMBINEFUNC = personalize._engagement_combine,
    SERIALFUNC = personalize._engagement_serialize,
    DESERIALFUNC = personalize._engagement_deserialize,
    PARALLEL = SAFE
);

CREATE FUNCTION personalize.ignored_rows(OUT aggregate text, OUT reason text, OUT rows bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'personalize_ignored_rows'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION personalize.ignored_rows() IS
'Input rows the scoring aggregates (engagement, rfm_agg) left out in this session, by reason';

CREATE FUNCTION personalize.reset_ignored_rows()
RETURNS void
AS 'MODULE_PATHNAME', 'personalize_reset_ignored_rows'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION personalize.reset_ignored_rows() IS 'Sets the counters of ignored_rows() back to zero';

-- ---- src/rfm.sql
-- RFM (src/rfm.c): the rfm_agg aggregate, scores against population quantiles, named segments
-- from an editable rule table, and score_rfm(), which rescores every profile from live state.

CREATE TYPE personalize.rfm AS (
    recency_days    float8,
    frequency       bigint,
    monetary        numeric,
    first_purchase  timestamptz,
    last_purchase   timestamptz,
    ignored         bigint
);
COMMENT ON TYPE personalize.rfm IS
'recency_days: days from last_purchase to as_of (NULL without purchases); frequency: purchases; monetary: their total; ignored: input rows left out';

CREATE FUNCTION personalize._rfm_trans(internal, timestamptz, numeric, timestamptz)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_rfm_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION personalize._rfm_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_rfm_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION personalize._rfm_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'personalize_rfm_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION personalize._rfm_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_rfm_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION personalize._rfm_final(internal)
RETURNS personalize.rfm
AS 'MODULE_PATHNAME', 'personalize_rfm_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE personalize.rfm_agg(occurred_at timestamptz, amount numeric, as_of timestamptz) (
    SFUNC = personalize._rfm_trans,
    STYPE = internal,
    FINALFUNC = personalize._rfm_final,
    COMBINEFUNC = personalize._rfm_combine,
    SERIALFUNC = personalize._rfm_serialize,
    DESERIALFUNC = personalize._rfm_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE personalize.rfm_agg(timestamptz, numeric, timestamptz) IS
'Recency (days as of as_of), frequency, monetary total, first and last purchase; rows with a NULL, negative, NaN or infinite amount, a NULL or infinite occurred_at, or occurred_at after as_of are left out and counted in ignored';

CREATE FUNCTION personalize.purchase_amount(properties jsonb, keys text[] DEFAULT '{revenue,total}')
RETURNS numeric
AS 'MODULE_PATHNAME', 'personalize_purchase_amount'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.purchase_amount(jsonb, text[]) IS
'The first of keys present in properties (and not null), if it is a JSON number; NULL otherwise';

CREATE FUNCTION personalize.rfm_score(value float8, breakpoints float8[], reverse boolean DEFAULT false)
RETURNS integer
AS 'MODULE_PATHNAME', 'personalize_rfm_score'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.rfm_score(float8, float8[], boolean) IS
'The bin of value: 1 + the number of breakpoints <= value (bins [lower, upper)); reversed: the lowest values score highest';

CREATE FUNCTION personalize.recency_days(last_purchase timestamptz, as_of timestamptz)
RETURNS float8
AS 'MODULE_PATHNAME', 'personalize_recency_days'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.recency_days(timestamptz, timestamptz) IS
'Days from last_purchase to as_of (fractional; negative when as_of is earlier), as rfm_agg reports recency';

-- The segment rules, first match wins (lowest priority number first). Scores run from 1 to 5.
CREATE TABLE personalize.rfm_segments (
    priority  integer PRIMARY KEY,
    segment   text NOT NULL CHECK (segment <> ''),
    r_min     smallint NOT NULL,
    r_max     smallint NOT NULL,
    f_min     smallint NOT NULL,
    f_max     smallint NOT NULL,
    m_min     smallint NOT NULL,
    m_max     smallint NOT NULL,
    builtin   boolean NOT NULL DEFAULT false,
    CHECK (1 <= r_min AND r_min <= r_max AND r_max <= 5),
    CHECK (1 <= f_min AND f_min <= f_max AND f_max <= 5),
    CHECK (1 <= m_min AND m_min <= m_max AND m_max <= 5)
);
COMMENT ON TABLE personalize.rfm_segments IS
'Named RFM segments as score ranges (inclusive); the first matching rule by priority wins, no match is Others';
INSERT INTO personalize.rfm_segments (priority, segment, r_min, r_max, f_min, f_max, m_min, m_max, builtin) VALUES
  (10, 'Champions',          4, 5, 4, 5, 4, 5, true),
  (20, 'Loyal Customers',    2, 5, 3, 5, 3, 5, true),
  (30, 'Potential Loyalist', 3, 5, 1, 3, 1, 3, true),
  (40, 'New Customers',      4, 5, 1, 1, 1, 1, true),
  (50, 'Promising',          3, 4, 1, 1, 1, 1, true),
  (60, 'Need Attention',     2, 3, 2, 3, 2, 3, true),
  (70, 'About To Sleep',     2, 3, 1, 2, 1, 2, true),
  (80, 'At Risk',            1, 2, 2, 5, 2, 5, true),
  (90, 'Can''t Lose Them',   1, 1, 4, 5, 4, 5, true),
  (100, 'Hibernating',       1, 2, 1, 2, 1, 2, true),
  (110, 'Lost',              1, 2, 1, 2, 1, 2, true);
SELECT pg_catalog.pg_extension_config_dump('personalize.rfm_segments', 'WHERE NOT builtin');

CREATE FUNCTION personalize.rfm_segment(r integer, f integer, m integer)
RETURNS text
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF r NOT BETWEEN 1 AND 5 OR f NOT BETWEEN 1 AND 5 OR m NOT BETWEEN 1 AND 5 THEN
        RAISE EXCEPTION 'RFM scores run from 1 to 5, not (%, %, %)', r, f, m
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN coalesce((SELECT s.segment FROM personalize.rfm_segments s
                      WHERE r BETWEEN s.r_min AND s.r_max AND f BETWEEN s.f_min AND s.f_max
                        AND m BETWEEN s.m_min AND s.m_max
                      ORDER BY s.priority LIMIT 1), 'Others');
END
$$;
COMMENT ON FUNCTION personalize.rfm_segment(integer, integer, integer) IS
'The named segment of scores (r, f, m) by the rules in personalize.rfm_segments; Others when none matches';

-- Every run of score_rfm: when, how many bins, the breakpoints used, what changed.
CREATE TABLE personalize.rfm_runs (
    run_id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    as_of             timestamptz NOT NULL,
    bins              integer NOT NULL,
    recency_breaks    float8[],
    frequency_breaks  float8[],
    monetary_breaks   float8[],
    profiles          bigint NOT NULL,
    changed           bigint NOT NULL,
    ran_at            timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp()
);
COMMENT ON TABLE personalize.rfm_runs IS 'Every run of score_rfm(), with the breakpoints it used';
SELECT pg_catalog.pg_extension_config_dump('personalize.rfm_runs', '');

-- Breakpoints between bins of values: the type 7 quantiles (R's default, = percentile_cont) at
-- 1/bins, ..., (bins-1)/bins, plus 1 (the R package rfm's convention); bins [lower, upper).
CREATE FUNCTION personalize.rfm_breakpoints(sorted_quantiles float8[])
RETURNS float8[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT array_agg(q + 1 ORDER BY i) FROM unnest(sorted_quantiles) WITH ORDINALITY AS u(q, i) $$;
COMMENT ON FUNCTION personalize.rfm_breakpoints(float8[]) IS
'Quantiles to breakpoints: each plus 1, as the R package rfm does';

-- The probabilities 1/bins .. (bins-1)/bins.
CREATE FUNCTION personalize._rfm_probs(bins integer)
RETURNS float8[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT array_agg(k::float8 / bins ORDER BY k) FROM generate_series(1, bins - 1) k $$;

CREATE FUNCTION personalize.score_rfm(as_of timestamptz DEFAULT now(), bins integer DEFAULT 5)
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
    IF as_of IS NULL OR NOT isfinite(as_of) THEN
        RAISE EXCEPTION 'as_of must be a finite time' USING ERRCODE = 'invalid_parameter_value';
    END IF;
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
    PERFORM personalize._segments_refresh_reading('rfm', as_of, 'score_rfm');
    RETURN n_changed;
END
$$;
COMMENT ON FUNCTION personalize.score_rfm(timestamptz, integer) IS
'Scores every purchaser 1..bins on recency (reversed), frequency and monetary against population quantiles, stores r, f, m and the segment on the profile; returns how many profiles changed segment';

-- ---- src/scoring.sql
-- Live scoring state: the configuration of what scores (event weights, the purchase event and
-- its amount, the interest category), the state each profile keeps (purchase counters,
-- engagement as a (score, as_of) pair, RFM scores), reading it as of a time, and rebuilding it
-- from the events. The ingest pipeline folds each statement's events in (src/ingest.sql).

CREATE TABLE personalize.scoring_events (
    event              text PRIMARY KEY,
    engagement_weight  float8 NOT NULL DEFAULT 0
                       CHECK (engagement_weight > '-Infinity' AND engagement_weight < 'Infinity'),
    interest_weight    float8 NOT NULL DEFAULT 0
                       CHECK (interest_weight >= 0 AND interest_weight < 'Infinity'),
    builtin            boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE personalize.scoring_events IS
'Weight of each event name in the engagement score and in interest affinity (0: not counted); after a change, run personalize.rebuild_scores()';
INSERT INTO personalize.scoring_events (event, engagement_weight, interest_weight, builtin) VALUES
  ('Email Opened', 1, 0, true),
  ('Email Clicked', 3, 0, true),
  ('Product Viewed', 0.5, 0.5, true),
  ('Product Added', 2, 2, true),
  ('Checkout Started', 3, 0, true),
  ('Order Completed', 5, 5, true);
SELECT pg_catalog.pg_extension_config_dump('personalize.scoring_events', 'WHERE NOT builtin');

CREATE TABLE personalize.scoring_settings (
    singleton          boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    purchase_event     text NOT NULL DEFAULT 'Order Completed',
    amount_properties  text[] NOT NULL DEFAULT '{revenue,total}'
                       CHECK (pg_catalog.cardinality(amount_properties) > 0
                              AND pg_catalog.array_position(amount_properties, NULL) IS NULL),
    category_property  text NOT NULL DEFAULT 'category'
);
COMMENT ON TABLE personalize.scoring_settings IS
'One row: the event that is a purchase, the properties holding its amount (the first present wins), the property holding a product category; after a change, run personalize.rebuild_scores()';
INSERT INTO personalize.scoring_settings DEFAULT VALUES;

-- The settings row must stay: without it nothing would be scored.
CREATE FUNCTION personalize._scoring_settings_keep()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'personalize.scoring_settings must keep its one row'
        USING ERRCODE = 'restrict_violation', HINT = 'Change the settings with UPDATE.';
END
$$;
CREATE TRIGGER scoring_settings_keep BEFORE DELETE OR TRUNCATE ON personalize.scoring_settings
    FOR EACH STATEMENT EXECUTE FUNCTION personalize._scoring_settings_keep();

ALTER TABLE personalize.profiles
    ADD COLUMN purchase_count     bigint NOT NULL DEFAULT 0,
    ADD COLUMN purchase_total     numeric NOT NULL DEFAULT 0,
    ADD COLUMN first_purchase_at  timestamptz,
    ADD COLUMN last_purchase_at   timestamptz,
    ADD COLUMN purchases_ignored  bigint NOT NULL DEFAULT 0,
    ADD COLUMN engagement         float8 NOT NULL DEFAULT 0,
    ADD COLUMN engagement_as_of   timestamptz,
    ADD COLUMN rfm_r              smallint,
    ADD COLUMN rfm_f              smallint,
    ADD COLUMN rfm_m              smallint,
    ADD COLUMN rfm_segment        text;
COMMENT ON COLUMN personalize.profiles.purchases_ignored IS
'Purchase events without a usable amount (missing, not a number, negative): not counted in purchase_count';
COMMENT ON COLUMN personalize.profiles.engagement IS
'Engagement valued at engagement_as_of (the latest scored event); read it with engagement_score(profile_id, as_of)';

CREATE FUNCTION personalize.engagement_score(profile_id bigint, as_of timestamptz DEFAULT now())
RETURNS float8
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    score float8;
    at timestamptz;
BEGIN
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
COMMENT ON FUNCTION personalize.engagement_score(bigint, timestamptz) IS
'The live engagement of a profile valued at as_of; an error if the profile holds events after as_of';

CREATE FUNCTION personalize.engagement_scores(as_of timestamptz DEFAULT now())
RETURNS TABLE (profile_id bigint, score float8)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
SELECT p.profile_id,
       CASE WHEN p.engagement_as_of IS NULL THEN 0
            WHEN p.engagement_as_of <= as_of
            THEN personalize.decay(p.engagement, p.engagement_as_of, as_of, personalize.half_life()) END
  FROM personalize.profiles p
$$;
COMMENT ON FUNCTION personalize.engagement_scores(timestamptz) IS
'The live engagement of every profile valued at as_of, in one pass; NULL for a profile holding events after as_of';

CREATE FUNCTION personalize.rebuild_scores()
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM FROM personalize.profiles p ORDER BY p.profile_id FOR UPDATE;
    WITH scored AS (
        SELECT e.profile_id, e.occurred_at, w.engagement_weight, e.event = st.purchase_event AS purchase,
               CASE WHEN e.event = st.purchase_event
                    THEN personalize.purchase_amount(e.properties, st.amount_properties) END AS amount
          FROM personalize.events e
         CROSS JOIN personalize.scoring_settings st
          LEFT JOIN personalize.scoring_events w ON w.event = e.event
         WHERE w.engagement_weight <> 0 OR e.event = st.purchase_event
    ), per_profile AS (
        SELECT s.profile_id,
               count(*) FILTER (WHERE s.amount >= 0 AND s.amount < 'Infinity') AS purchases,
               coalesce(sum(s.amount) FILTER (WHERE s.amount >= 0 AND s.amount < 'Infinity'), 0) AS total,
               min(s.occurred_at) FILTER (WHERE s.amount >= 0 AND s.amount < 'Infinity') AS first_at,
               max(s.occurred_at) FILTER (WHERE s.amount >= 0 AND s.amount < 'Infinity') AS last_at,
               count(*) FILTER (WHERE s.purchase AND NOT coalesce(s.amount >= 0 AND s.amount < 'Infinity', false)) AS ignored,
               personalize._engagement_state(s.occurred_at, s.engagement_weight, personalize.half_life())
                   FILTER (WHERE s.engagement_weight <> 0) AS engagement
          FROM scored s GROUP BY s.profile_id
    )
    UPDATE personalize.profiles p
       SET purchase_count = coalesce(x.purchases, 0),
           purchase_total = coalesce(x.total, 0),
           first_purchase_at = x.first_at,
           last_purchase_at = x.last_at,
           purchases_ignored = coalesce(x.ignored, 0),
           engagement = coalesce((x.engagement).score, 0),
           engagement_as_of = (x.engagement).as_of
      FROM personalize.profiles q LEFT JOIN per_profile x USING (profile_id)
     WHERE p.profile_id = q.profile_id;
    GET DIAGNOSTICS n = ROW_COUNT;

    DELETE FROM personalize.profile_interests;
    INSERT INTO personalize.profile_interests (profile_id, category, score, as_of)
    SELECT x.profile_id, x.category, (x.s).score, (x.s).as_of
      FROM (SELECT e.profile_id, personalize.event_category(e.properties, st.category_property) AS category,
                   personalize._engagement_state(e.occurred_at, w.interest_weight, personalize.half_life()) AS s
              FROM personalize.events e
             CROSS JOIN personalize.scoring_settings st
              JOIN personalize.scoring_events w ON w.event = e.event AND w.interest_weight > 0
             WHERE personalize.event_category(e.properties, st.category_property) IS NOT NULL
             GROUP BY 1, 2) x
     ORDER BY 1, 2;
    RETURN n;
END
$$;
COMMENT ON FUNCTION personalize.rebuild_scores() IS
'Recomputes every profile''s live scoring state (purchases, engagement, interests) from its events: after changing weights, settings or personalize.half_life';

-- ---- src/interest.sql
-- Interest affinity (src/interest.c): per profile and product category, a decayed score of
-- the events about that category (weights: personalize.scoring_events.interest_weight), kept
-- live by the ingest pipeline as a (score, as_of) pair like engagement.

CREATE FUNCTION personalize.event_category(properties jsonb, key text DEFAULT 'category')
RETURNS text
AS 'MODULE_PATHNAME', 'personalize_event_category'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.event_category(jsonb, text) IS
'properties ->> key when it is a JSON string of 1 to 200 bytes, else NULL: the category an event counts for';

CREATE TABLE personalize.profile_interests (
    profile_id  bigint NOT NULL,
    category    text NOT NULL,
    score       float8 NOT NULL,
    as_of       timestamptz NOT NULL,
    PRIMARY KEY (profile_id, category)
);
COMMENT ON TABLE personalize.profile_interests IS
'Affinity of each profile to each category: score valued at as_of (its latest event); read it with top_interests()';
SELECT pg_catalog.pg_extension_config_dump('personalize.profile_interests', '');

CREATE FUNCTION personalize.top_interests(profile_id bigint, n integer DEFAULT 3, as_of timestamptz DEFAULT now())
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
COMMENT ON FUNCTION personalize.top_interests(bigint, integer, timestamptz) IS
'The n categories with the highest decayed affinity as of as_of, best first (ties by name); empty when none';

-- ---- src/identity.sql
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
    IF keep IS NULL OR drop IS NULL THEN
        RAISE EXCEPTION 'profile ids must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
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
        RAISE EXCEPTION 'profiles % and % have conflicting e-mail consent (% and %)',
                        keep, drop, k.email_consent, d.email_consent
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
           -- scoring: counters add up, decayed scores add up at the later time, RFM waits for score_rfm
           purchase_count = k.purchase_count + d.purchase_count,
           purchase_total = k.purchase_total + d.purchase_total,
           first_purchase_at = least(k.first_purchase_at, d.first_purchase_at),
           last_purchase_at = greatest(k.last_purchase_at, d.last_purchase_at),
           purchases_ignored = k.purchases_ignored + d.purchases_ignored,
           engagement = personalize._decay_sum(k.engagement, k.engagement_as_of,
                                               CASE WHEN d.engagement_as_of IS NOT NULL
                                                    THEN ROW(d.engagement, d.engagement_as_of)::personalize.decayed END,
                                               personalize.half_life()),
           engagement_as_of = greatest(k.engagement_as_of, d.engagement_as_of),
           rfm_r = NULL, rfm_f = NULL, rfm_m = NULL, rfm_segment = NULL,
           updated_at = statement_timestamp()
     WHERE p.profile_id = keep;
    INSERT INTO personalize.profile_interests AS i (profile_id, category, score, as_of)
    SELECT keep, x.category, x.score, x.as_of FROM personalize.profile_interests x
     WHERE x.profile_id = drop ORDER BY x.category
        ON CONFLICT (profile_id, category) DO UPDATE
       SET score = personalize._decay_sum(i.score, i.as_of, ROW(excluded.score, excluded.as_of)::personalize.decayed,
                                          personalize.half_life()),
           as_of = greatest(i.as_of, excluded.as_of);
    DELETE FROM personalize.profile_interests x WHERE x.profile_id = drop;
    DELETE FROM personalize.profiles WHERE profile_id = drop;
    WITH gone AS (DELETE FROM personalize.segment_members m WHERE m.profile_id = drop RETURNING m.segment_id)
    INSERT INTO personalize.segment_log (segment_id, profile_id, change, at, cause)
    SELECT segment_id, drop, 'exited', as_of, 'merge into ' || keep FROM gone;
    DELETE FROM personalize.segment_pending sp WHERE sp.profile_id = drop;
    IF cause NOT LIKE 'ingest:%' THEN      -- the ingest trigger re-evaluates the profiles it touched
        PERFORM personalize._segments_live(ARRAY[keep], '{}', '{*}', 'merge');
    END IF;
    INSERT INTO personalize.merge_log (kept_profile, dropped_profile, cause, forced, events_moved, merged_at)
    VALUES (keep, drop, coalesce(cause, 'manual'), force, moved, as_of);
    PERFORM personalize._invalidate('personalize.identities'::regclass);
    RETURN keep;
END
$$;
COMMENT ON FUNCTION personalize.merge_profiles(bigint, bigint, boolean, text, timestamptz) IS
'Moves everything of profile drop into keep (keep''s traits win) and logs it; refuses conflicting consent unless forced, then the later consent action wins';

-- Validates an external identifier argument: not null, 1 to 255 bytes, no control characters.
CREATE FUNCTION personalize._check_id(name text, value text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF value IS NULL OR value = '' THEN
        RAISE EXCEPTION '% must not be empty', name USING ERRCODE = 'null_value_not_allowed';
    ELSIF octet_length(value) > 255 OR value ~ '[\x01-\x1f\x7f]' THEN
        RAISE EXCEPTION 'invalid %: "%"', name, left(value, 40)
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Identifiers are 1 to 255 bytes without control characters.';
    END IF;
END
$$;

-- The profile an identity resolves to, or NULL.
CREATE FUNCTION personalize.resolve_identity(kind text, value text)
RETURNS bigint
LANGUAGE sql STABLE
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
    PERFORM personalize._check_id('user_id', identify.user_id);
    IF identify.anonymous_id IS NOT NULL THEN
        PERFORM personalize._check_id('anonymous_id', identify.anonymous_id);
    END IF;
    identify.traits := coalesce(identify.traits, '{}');
    IF jsonb_typeof(identify.traits) <> 'object' THEN
        RAISE EXCEPTION 'traits must be a JSON object, not %', jsonb_typeof(identify.traits)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF identify.traits ? 'email' AND jsonb_typeof(identify.traits -> 'email') <> 'null' THEN
        IF jsonb_typeof(identify.traits -> 'email') <> 'string' THEN
            RAISE EXCEPTION 'the email trait must be a string' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        email_norm := personalize.normalize_email(identify.traits ->> 'email');
        hash := personalize.email_hash(email_norm);
    END IF;

    pid := personalize.resolve_identity('user_id', identify.user_id);
    anon_pid := personalize.resolve_identity('anonymous_id', identify.anonymous_id);
    IF pid IS NULL THEN
        -- A known anonymous visitor, or a profile known only by e-mail, becomes this user.
        pid := coalesce(
            (SELECT p.profile_id FROM personalize.profiles p WHERE p.profile_id = anon_pid AND p.user_id IS NULL),
            (SELECT p.profile_id FROM personalize.profiles p
              WHERE p.profile_id = personalize.resolve_identity('email_hash', hash) AND p.user_id IS NULL));
        IF pid IS NULL THEN
            INSERT INTO personalize.profiles (user_id, created_at) VALUES (identify.user_id, as_of)
            RETURNING profile_id INTO pid;
            created := true;
        END IF;
        pid := personalize._claim_identity('user_id', identify.user_id, pid);
        UPDATE personalize.profiles p SET user_id = identify.user_id WHERE p.profile_id = pid AND p.user_id IS NULL;
        DELETE FROM personalize.profiles p WHERE p.profile_id <> pid AND p.user_id = identify.user_id
           AND NOT EXISTS (SELECT FROM personalize.identities i WHERE i.profile_id = p.profile_id);
    END IF;
    IF identify.anonymous_id IS NOT NULL THEN
        anon_pid := personalize._claim_identity('anonymous_id', identify.anonymous_id, pid);
        IF anon_pid <> pid AND EXISTS (SELECT FROM personalize.profiles p
                                        WHERE p.profile_id = anon_pid AND p.user_id IS NULL) THEN
            PERFORM personalize.merge_profiles(pid, anon_pid, force => true, cause => 'identify', as_of => as_of);
        END IF;
    END IF;
    IF hash IS NOT NULL THEN
        PERFORM personalize._claim_identity('email_hash', hash, pid);
    END IF;
    UPDATE personalize.profiles p
       SET traits = p.traits || identify.traits,
           email = coalesce(email_norm, p.email),
           email_hash = coalesce(hash, p.email_hash),
           updated_at = statement_timestamp()
     WHERE p.profile_id = pid;
    PERFORM personalize._segments_live(ARRAY[pid], '{}', CASE WHEN created THEN '{*}'::text[]
                                                            ELSE '{traits,email,user_id}' END, 'identify');
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
    PERFORM personalize._check_id('previous_id', alias.previous_id);
    pid := personalize.identify(alias.user_id, '{}', NULL, as_of);
    prev := coalesce(personalize.resolve_identity('user_id', alias.previous_id),
                     personalize.resolve_identity('anonymous_id', alias.previous_id));
    IF prev IS NULL THEN
        PERFORM personalize._claim_identity('anonymous_id', alias.previous_id, pid);
    ELSIF prev <> pid THEN
        PERFORM personalize.merge_profiles(pid, prev, cause => 'alias', as_of => as_of);
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

-- ---- src/privacy.sql
-- Privacy: the right to erasure (forget) and the right of access (export_profile).

CREATE TABLE personalize.erasure_log (
    profile_id          bigint PRIMARY KEY,
    erased_at           timestamptz NOT NULL,
    events_deleted      bigint NOT NULL,
    identities_deleted  bigint NOT NULL,
    rejected_deleted    bigint NOT NULL,
    requested_by        text NOT NULL
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
    ids text[];
BEGIN
    PERFORM FROM personalize.profiles p WHERE p.profile_id = forget.profile_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'profile % does not exist', forget.profile_id USING ERRCODE = 'no_data_found',
            HINT = 'Erased profiles are listed in personalize.erasure_log.';
    END IF;
    SELECT array_agg(i.value) INTO ids FROM personalize.identities i
     WHERE i.profile_id = forget.profile_id AND i.kind IN ('user_id', 'anonymous_id');
    DELETE FROM personalize.events e WHERE e.profile_id = forget.profile_id;
    GET DIAGNOSTICS n_events = ROW_COUNT;
    DELETE FROM personalize.rejected_events r
     WHERE r.payload ->> 'user_id' = ANY (ids) OR r.payload ->> 'anonymous_id' = ANY (ids);
    GET DIAGNOSTICS n_rejected = ROW_COUNT;
    DELETE FROM personalize.identities i WHERE i.profile_id = forget.profile_id;
    GET DIAGNOSTICS n_identities = ROW_COUNT;
    DELETE FROM personalize.consent_log c WHERE c.profile_id = forget.profile_id;
    DELETE FROM personalize.profile_interests x WHERE x.profile_id = forget.profile_id;
    DELETE FROM personalize.segment_members m WHERE m.profile_id = forget.profile_id;
    DELETE FROM personalize.segment_pending sp WHERE sp.profile_id = forget.profile_id;
    DELETE FROM personalize.segment_log l WHERE l.profile_id = forget.profile_id;
    DELETE FROM personalize.profiles p WHERE p.profile_id = forget.profile_id;
    INSERT INTO personalize.erasure_log VALUES (forget.profile_id, as_of, n_events, n_identities, n_rejected,
                                                session_user);
    PERFORM personalize._invalidate('personalize.identities'::regclass);
    RETURN n_events;
END
$$;
COMMENT ON FUNCTION personalize.forget(bigint, timestamptz) IS
'Right to erasure: deletes the profile, its identities, consent history, events and quarantined events; logs the fact';

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

-- ---- src/render.sql
-- Liquid templates rendered in C (src/render.c over the engine in src/liquid/), and the context
-- of a profile that e-mail templates are rendered with.

CREATE FUNCTION personalize.render(template text, context jsonb DEFAULT '{}', strict boolean DEFAULT false,
                                   as_of timestamptz DEFAULT now(), partials jsonb DEFAULT NULL,
                                   autoescape boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'personalize_render'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION personalize.render(text, jsonb, boolean, timestamptz, jsonb, boolean) IS
'Shopify Liquid 5 template rendered with a jsonb context; strict: unknown variables and filters are errors; '
'partials from the given object, else from personalize.templates; as_of is what date: "now" means';

CREATE FUNCTION personalize.render_json(template text, context json DEFAULT '{}', strict boolean DEFAULT false,
                                        as_of timestamptz DEFAULT now(), partials jsonb DEFAULT NULL,
                                        autoescape boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'personalize_render_json'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION personalize.render_json(text, json, boolean, timestamptz, jsonb, boolean) IS
'render() with a json context: object keys keep the order they are written in (jsonb sorts them), '
'numbers keep their written form (1e2 is a float)';

CREATE FUNCTION personalize._render_part(template text, context jsonb, strict boolean, as_of timestamptz,
                                         partials jsonb, autoescape boolean, part "char")
RETURNS text
AS 'MODULE_PATHNAME', 'personalize_render'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION personalize._render_part(text, jsonb, boolean, timestamptz, jsonb, boolean, "char") IS
'render() of one part of an e-mail: partials read html_body (h) or text_body, else html_body (t, s)';

CREATE FUNCTION personalize._liquid_check(source text, what text)
RETURNS void
AS 'MODULE_PATHNAME', 'personalize_liquid_check'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION personalize._liquid_check(text, text) IS
'Raises the syntax error of a Liquid template (SQLSTATE 42601, line, column, excerpt), if it has one';

CREATE FUNCTION personalize.liquid_cache_stats(OUT entries bigint, OUT bytes bigint, OUT hits bigint,
                                               OUT misses bigint, OUT evictions bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'personalize_liquid_cache_stats'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION personalize.liquid_cache_stats() IS
'This backend''s cache of compiled templates: entries, bytes, hits, misses, evictions';

-- The cart of a profile as of a time: Product Added events since its last Order Completed,
-- less Product Removed (all of the product when no quantity is given), one line per product.
CREATE FUNCTION personalize._cart(profile_id bigint, as_of timestamptz)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ordered_at timestamptz;
    ev record;
    k text;
    qty numeric;
    lines jsonb := '{}';
    keys text[] := '{}';
    items jsonb := '[]';
    item jsonb;
    n numeric := 0;
    total numeric := 0;
    updated timestamptz;
BEGIN
    SELECT max(e.occurred_at) INTO ordered_at FROM personalize.events e
     WHERE e.profile_id = _cart.profile_id AND e.event = 'Order Completed' AND e.occurred_at <= as_of;
    FOR ev IN
        SELECT e.event, e.properties, e.occurred_at FROM personalize.events e
         WHERE e.profile_id = _cart.profile_id AND e.event IN ('Product Added', 'Product Removed')
           AND e.occurred_at <= as_of AND (ordered_at IS NULL OR e.occurred_at > ordered_at)
         ORDER BY e.occurred_at, e.event_id
    LOOP
        k := coalesce(ev.properties ->> 'product_id', ev.properties ->> 'sku', ev.properties ->> 'name');
        CONTINUE WHEN k IS NULL;
        qty := CASE WHEN jsonb_typeof(ev.properties -> 'quantity') = 'number'
                    THEN (ev.properties ->> 'quantity')::numeric END;
        updated := ev.occurred_at;
        IF ev.event = 'Product Added' THEN
            qty := coalesce(qty, 1) + coalesce((lines -> k ->> 'quantity')::numeric, 0);
            IF NOT lines ? k THEN
                keys := keys || k;
            END IF;
            lines := jsonb_set(lines, ARRAY[k], ev.properties || jsonb_build_object('quantity', qty));
        ELSIF lines ? k THEN
            qty := (lines -> k ->> 'quantity')::numeric - coalesce(qty, (lines -> k ->> 'quantity')::numeric);
            IF qty > 0 THEN
                lines := jsonb_set(lines, ARRAY[k, 'quantity'], to_jsonb(qty));
            ELSE
                lines := lines - k;
                keys := array_remove(keys, k);
            END IF;
        END IF;
    END LOOP;
    FOREACH k IN ARRAY keys LOOP
        item := lines -> k;
        items := items || jsonb_build_array(item);
        n := n + (item ->> 'quantity')::numeric;
        IF jsonb_typeof(item -> 'price') = 'number' THEN
            total := total + (item ->> 'price')::numeric * (item ->> 'quantity')::numeric;
        END IF;
    END LOOP;
    RETURN jsonb_build_object('items', items, 'item_count', n, 'total', total, 'updated_at', updated);
END
$$;
COMMENT ON FUNCTION personalize._cart(bigint, timestamptz) IS
'Cart lines (latest Product Added properties, net quantity) since the last Order Completed before as_of';

CREATE FUNCTION personalize.context(profile_id bigint, as_of timestamptz DEFAULT now())
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result jsonb;
BEGIN
    SELECT jsonb_build_object(
        'profile_id', p.profile_id,
        'user_id', p.user_id,
        'email', p.email,
        'traits', p.traits,
        'consent', jsonb_build_object('email', p.email_consent, 'lawful_basis', p.lawful_basis,
                                      'do_not_sell', p.do_not_sell, 'changed_at', p.consent_at),
        'activity', jsonb_build_object('event_count', p.event_count, 'first_seen_at', p.first_seen_at,
                                       'last_seen_at', p.last_seen_at),
        'cart', personalize._cart(p.profile_id, as_of),
        'purchases', jsonb_build_object('count', p.purchase_count, 'total', p.purchase_total,
                                        'first_at', p.first_purchase_at, 'last_at', p.last_purchase_at,
                                        'recency_days', CASE WHEN p.last_purchase_at <= as_of
                                            THEN floor(extract(epoch FROM as_of - p.last_purchase_at) / 86400) END),
        'rfm', CASE WHEN p.rfm_r IS NOT NULL THEN
                   jsonb_build_object('r', p.rfm_r, 'f', p.rfm_f, 'm', p.rfm_m, 'segment', p.rfm_segment) END,
        'segment', p.rfm_segment,
        -- live state folded from events after as_of has no value as of as_of: null then
        'engagement_score', CASE WHEN p.engagement_as_of IS NULL THEN 0
                                 WHEN p.engagement_as_of <= as_of
                                 THEN personalize.decay(p.engagement, p.engagement_as_of, as_of, personalize.half_life()) END,
        'top_interests', CASE WHEN NOT EXISTS (SELECT FROM personalize.profile_interests i
                                                WHERE i.profile_id = p.profile_id AND i.as_of > context.as_of)
                              THEN to_jsonb(personalize.top_interests(p.profile_id, 5, as_of)) END,
        'segments', to_jsonb(personalize.segments_of(p.profile_id)),
        'as_of', as_of)
      INTO result
      FROM personalize.profiles p WHERE p.profile_id = context.profile_id;
    IF result IS NULL THEN
        RAISE EXCEPTION 'profile % does not exist', context.profile_id USING ERRCODE = 'no_data_found',
            HINT = 'Erased profiles are listed in personalize.erasure_log.';
    END IF;
    RETURN result;
END
$$;
COMMENT ON FUNCTION personalize.context(bigint, timestamptz) IS
'What a template sees of a profile: ids, email, traits, consent, activity, cart as of as_of, and the scores of issue 3';

-- ---- src/templates.sql
-- Stored e-mail templates (subject, HTML and text bodies, each a Liquid template; also the partials
-- of render/include) and render_email(), which renders one for a profile.

CREATE TABLE personalize.templates (
    name        text PRIMARY KEY CHECK (name <> ''),
    subject     text,
    html_body   text,
    text_body   text,
    version     integer NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp(),
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp()
);
COMMENT ON TABLE personalize.templates IS
'E-mail templates and partials; every part is a Liquid template, checked on insert and update';

-- Refuses a template that does not parse; an update of a part bumps the version.
CREATE FUNCTION personalize._templates_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM personalize._liquid_check(NEW.subject, format('subject of template %s', NEW.name)),
            personalize._liquid_check(NEW.html_body, format('html_body of template %s', NEW.name)),
            personalize._liquid_check(NEW.text_body, format('text_body of template %s', NEW.name));
    IF TG_OP = 'UPDATE' THEN
        NEW.created_at := OLD.created_at;
        IF (NEW.subject, NEW.html_body, NEW.text_body) IS DISTINCT FROM (OLD.subject, OLD.html_body, OLD.text_body)
           AND NEW.version = OLD.version THEN
            NEW.version := OLD.version + 1;
            NEW.updated_at := statement_timestamp();
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION personalize._templates_check() IS
'Trigger: refuses a template part that does not parse (42601, naming the part); bumps version on a change';
CREATE TRIGGER templates_check BEFORE INSERT OR UPDATE ON personalize.templates
    FOR EACH ROW EXECUTE FUNCTION personalize._templates_check();

SELECT pg_catalog.pg_extension_config_dump('personalize.templates', '');

-- The stored template named name, or an error saying it does not exist.
CREATE FUNCTION personalize._email_template(name text)
RETURNS personalize.templates
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t personalize.templates;
BEGIN
    SELECT * INTO t FROM personalize.templates x WHERE x.name = _email_template.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'template "%" does not exist', _email_template.name USING ERRCODE = 'undefined_object',
            HINT = 'Templates are rows of personalize.templates.';
    END IF;
    RETURN t;
END
$$;
COMMENT ON FUNCTION personalize._email_template(text) IS
'The stored template of that name; undefined_object (42704) if there is none';

CREATE FUNCTION personalize.render_email(template_name text, profile_id bigint, extra jsonb DEFAULT '{}',
                                         as_of timestamptz DEFAULT now(), strict boolean DEFAULT false,
                                         OUT subject text, OUT html text, OUT text text)
RETURNS record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT personalize._render_part(t.subject, c.ctx, strict, as_of, NULL, false, 's'),
           personalize._render_part(t.html_body, c.ctx, strict, as_of, NULL, true, 'h'),
           personalize._render_part(t.text_body, c.ctx, strict, as_of, NULL, false, 't')
      FROM personalize._email_template(template_name) t,
           LATERAL (SELECT personalize.context(profile_id, as_of)
                           OPERATOR(pg_catalog.||) coalesce(extra, '{}'::jsonb) AS ctx) c
$$;
COMMENT ON FUNCTION personalize.render_email(text, bigint, jsonb, timestamptz, boolean) IS
'Subject, HTML body (every {{ }} HTML-escaped unless its last filter is raw) and text body of a stored '
'template for a profile: context(profile_id, as_of) with the keys of extra on top';

-- ---- src/partition.sql
-- Partition upkeep: one partition of personalize.events per UTC month.

CREATE FUNCTION personalize.maintain(as_of timestamptz DEFAULT now(), months_ahead integer DEFAULT 3,
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
BEGIN
    IF as_of IS NULL OR NOT isfinite(as_of) THEN
        RAISE EXCEPTION 'as_of must be a finite timestamp' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF months_ahead NOT BETWEEN 0 AND 120 OR months_back NOT BETWEEN 0 AND 1200 THEN
        RAISE EXCEPTION 'months_ahead must be 0..120 and months_back 0..1200'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    first_month := date_trunc('month', as_of AT TIME ZONE 'UTC') - make_interval(months => months_back);
    FOR i IN 0 .. months_back + months_ahead LOOP
        lo := (first_month + make_interval(months => i)) AT TIME ZONE 'UTC';
        hi := (first_month + make_interval(months => i + 1)) AT TIME ZONE 'UTC';
        part := format('events_y%sm%s', to_char(lo AT TIME ZONE 'UTC', 'YYYY'), to_char(lo AT TIME ZONE 'UTC', 'MM'));
        CONTINUE WHEN to_regclass(format('personalize.%I', part)) IS NOT NULL;
        -- Rows that waited in the default partition move into the new one before it is attached.
        EXECUTE format('CREATE TABLE personalize.%I (LIKE personalize.events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
        EXECUTE format('WITH moved AS (DELETE FROM personalize.events_default WHERE occurred_at >= %L AND occurred_at < %L RETURNING *)
                        INSERT INTO personalize.%I SELECT * FROM moved', lo, hi, part);
        EXECUTE format('ALTER TABLE personalize.events ATTACH PARTITION personalize.%I FOR VALUES FROM (%L) TO (%L)',
                       part, lo, hi);
        created := created + 1;
    END LOOP;
    RETURN created;
END
$$;
COMMENT ON FUNCTION personalize.maintain(timestamptz, integer, integer) IS
'Creates the monthly partitions of events from months_back before as_of to months_ahead after; pg_cron calls it daily';

-- ---- src/audience.sql
-- Audiences (src/audience.c): personalize.audience, a compressed bitmap of 32-bit profile
-- numbers stored as a CRoaring portable serialization; set operators, aggregates, rows.

CREATE TYPE personalize.audience;

CREATE FUNCTION personalize.audience_in(cstring)
RETURNS personalize.audience
AS 'MODULE_PATHNAME', 'personalize_audience_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION personalize.audience_out(personalize.audience)
RETURNS cstring
AS 'MODULE_PATHNAME', 'personalize_audience_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION personalize.audience_recv(internal)
RETURNS personalize.audience
AS 'MODULE_PATHNAME', 'personalize_audience_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION personalize.audience_send(personalize.audience)
RETURNS bytea
AS 'MODULE_PATHNAME', 'personalize_audience_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE personalize.audience (
    INPUT = personalize.audience_in,
    OUTPUT = personalize.audience_out,
    RECEIVE = personalize.audience_recv,
    SEND = personalize.audience_send,
    INTERNALLENGTH = VARIABLE,
    STORAGE = extended
);
COMMENT ON TYPE personalize.audience IS
'Set of profile numbers (0..4294967295), a CRoaring bitmap; text form {} or {1,2,5-9}';

-- bytea casts: the portable serialization, validated in full on the way in
CREATE FUNCTION personalize.audience(bytea)
RETURNS personalize.audience
AS 'MODULE_PATHNAME', 'personalize_audience_from_bytea'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.audience(bytea) IS
'Audience from a CRoaring portable serialization (validated)';
CREATE CAST (bytea AS personalize.audience) WITH FUNCTION personalize.audience(bytea);
CREATE CAST (personalize.audience AS bytea) WITHOUT FUNCTION;

-- set operations
CREATE FUNCTION personalize.audience_and(personalize.audience, personalize.audience)
RETURNS personalize.audience
AS 'MODULE_PATHNAME', 'personalize_audience_and'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION personalize.audience_or(personalize.audience, personalize.audience)
RETURNS personalize.audience
AS 'MODULE_PATHNAME', 'personalize_audience_or'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION personalize.audience_andnot(personalize.audience, personalize.audience)
RETURNS personalize.audience
AS 'MODULE_PATHNAME', 'personalize_audience_andnot'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION personalize.audience_eq(personalize.audience, personalize.audience)
RETURNS boolean
AS 'MODULE_PATHNAME', 'personalize_audience_eq'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION personalize.audience_ne(personalize.audience, personalize.audience)
RETURNS boolean
AS 'MODULE_PATHNAME', 'personalize_audience_ne'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION personalize.cardinality(personalize.audience)
RETURNS bigint
AS 'MODULE_PATHNAME', 'personalize_audience_cardinality'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.cardinality(personalize.audience) IS 'Number of profiles in the audience';

CREATE FUNCTION personalize.overlap(personalize.audience, personalize.audience)
RETURNS bigint
AS 'MODULE_PATHNAME', 'personalize_audience_overlap'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.overlap(personalize.audience, personalize.audience) IS
'cardinality(a & b), counted without building the intersection';

CREATE FUNCTION personalize.jaccard(personalize.audience, personalize.audience)
RETURNS double precision
AS 'MODULE_PATHNAME', 'personalize_audience_jaccard'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.jaccard(personalize.audience, personalize.audience) IS
'Jaccard index |a & b| / |a | b|; 1 when both are empty';

CREATE FUNCTION personalize.contains(personalize.audience, bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'personalize_audience_contains'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.contains(personalize.audience, bigint) IS
'Whether the profile belongs to the audience (operator @>)';
CREATE FUNCTION personalize.audience_contained(bigint, personalize.audience)
RETURNS boolean
AS 'MODULE_PATHNAME', 'personalize_audience_contained'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION personalize.audience_members(personalize.audience)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'personalize_audience_members'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION personalize.audience_members(personalize.audience) IS
'The profile numbers of the audience as rows, ascending';

CREATE FUNCTION personalize.audience_from_array(bigint[])
RETURNS personalize.audience
AS 'MODULE_PATHNAME', 'personalize_audience_from_array'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.audience_from_array(bigint[]) IS
'Audience of the array''s profile numbers (NULL elements are skipped)';

CREATE OPERATOR personalize.& (
    LEFTARG = personalize.audience, RIGHTARG = personalize.audience,
    FUNCTION = personalize.audience_and, COMMUTATOR = OPERATOR(personalize.&)
);
CREATE OPERATOR personalize.| (
    LEFTARG = personalize.audience, RIGHTARG = personalize.audience,
    FUNCTION = personalize.audience_or, COMMUTATOR = OPERATOR(personalize.|)
);
CREATE OPERATOR personalize.- (
    LEFTARG = personalize.audience, RIGHTARG = personalize.audience,
    FUNCTION = personalize.audience_andnot
);
CREATE OPERATOR personalize.= (
    LEFTARG = personalize.audience, RIGHTARG = personalize.audience,
    FUNCTION = personalize.audience_eq, COMMUTATOR = OPERATOR(personalize.=),
    NEGATOR = OPERATOR(personalize.<>), RESTRICT = eqsel, JOIN = eqjoinsel
);
CREATE OPERATOR personalize.<> (
    LEFTARG = personalize.audience, RIGHTARG = personalize.audience,
    FUNCTION = personalize.audience_ne, COMMUTATOR = OPERATOR(personalize.<>),
    NEGATOR = OPERATOR(personalize.=), RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR personalize.@> (
    LEFTARG = personalize.audience, RIGHTARG = bigint,
    FUNCTION = personalize.contains, COMMUTATOR = OPERATOR(personalize.<@)
);
CREATE OPERATOR personalize.<@ (
    LEFTARG = bigint, RIGHTARG = personalize.audience,
    FUNCTION = personalize.audience_contained, COMMUTATOR = OPERATOR(personalize.@>)
);

-- aggregates: internal state (a CRoaring bitmap freed with the aggregate's memory context)
CREATE FUNCTION personalize.audience_agg_trans(internal, bigint)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_audience_agg_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION personalize.audience_union_trans(internal, personalize.audience)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_audience_union_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION personalize.audience_intersect_trans(internal, personalize.audience)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_audience_intersect_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION personalize.audience_union_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_audience_union_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION personalize.audience_intersect_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_audience_intersect_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION personalize.audience_agg_final(internal)
RETURNS personalize.audience
AS 'MODULE_PATHNAME', 'personalize_audience_agg_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION personalize.audience_agg_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'personalize_audience_agg_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION personalize.audience_agg_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_audience_agg_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE AGGREGATE personalize.audience_agg(bigint) (
    SFUNC = personalize.audience_agg_trans, STYPE = internal,
    FINALFUNC = personalize.audience_agg_final,
    COMBINEFUNC = personalize.audience_union_combine,
    SERIALFUNC = personalize.audience_agg_serialize,
    DESERIALFUNC = personalize.audience_agg_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE personalize.audience_agg(bigint) IS
'Audience of the non-NULL profile numbers; NULL when there are none';

CREATE AGGREGATE personalize.audience_union_agg(personalize.audience) (
    SFUNC = personalize.audience_union_trans, STYPE = internal,
    FINALFUNC = personalize.audience_agg_final,
    COMBINEFUNC = personalize.audience_union_combine,
    SERIALFUNC = personalize.audience_agg_serialize,
    DESERIALFUNC = personalize.audience_agg_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE personalize.audience_union_agg(personalize.audience) IS
'Union of the non-NULL audiences; NULL when there are none';

CREATE AGGREGATE personalize.audience_intersect_agg(personalize.audience) (
    SFUNC = personalize.audience_intersect_trans, STYPE = internal,
    FINALFUNC = personalize.audience_agg_final,
    COMBINEFUNC = personalize.audience_intersect_combine,
    SERIALFUNC = personalize.audience_agg_serialize,
    DESERIALFUNC = personalize.audience_agg_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE personalize.audience_intersect_agg(personalize.audience) IS
'Intersection of the non-NULL audiences; NULL when there are none';

-- ---- src/segment.sql
-- Segments: rules compiled in C (src/segment.c), membership kept in the same transaction as
-- the events that change it, time-driven rechecks for tick(), and NOTIFY of what changed.

CREATE FUNCTION personalize._compile_rule(rule jsonb, OUT predicate text, OUT recheck text,
                                          OUT events text[], OUT fields text[], OUT segments text[],
                                          OUT joins text)
AS 'MODULE_PATHNAME', 'personalize_compile_rule'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION personalize.bucket(profile_id bigint, salt text DEFAULT '')
RETURNS integer
AS 'MODULE_PATHNAME', 'personalize_bucket'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.bucket(bigint, text) IS
'Stable random bucket 0..9999: first 8 bytes of SHA-256(salt:profile_id), big-endian, mod 10000';

CREATE FUNCTION personalize.days_to_anniversary(date_text text, as_of timestamptz)
RETURNS integer
AS 'MODULE_PATHNAME', 'personalize_days_to_anniversary'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.days_to_anniversary(text, timestamptz) IS
'Days from as_of (UTC date) to the next anniversary of a YYYY-MM-DD date; NULL if not a date';

-- The evaluation time of live updates: personalize.clock if set (tests, replays), else the
-- statement's time.
CREATE FUNCTION personalize._clock()
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'personalize_clock_now'
LANGUAGE C STABLE;

CREATE TABLE personalize.segments (
    segment_id      integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (name <> '' AND octet_length(name) <= 200),
    kind            text NOT NULL CHECK (kind IN ('rule', 'sql')),
    rule            jsonb,
    where_clause    text,
    predicate       text NOT NULL,
    recheck         text,
    joins           text NOT NULL DEFAULT '',
    reads_events    text[] NOT NULL DEFAULT '{}',
    reads_fields    text[] NOT NULL DEFAULT '{}',
    reads_segments  text[] NOT NULL DEFAULT '{}',
    eval_order      integer NOT NULL DEFAULT 0,
    refreshed_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp()
);
COMMENT ON TABLE personalize.segments IS 'Segment definitions with their compiled predicate and what they read';

-- No foreign keys on the member tables: their per-row checks were a third of the cost of
-- filling a segment; drop_segment deletes the rows itself.
CREATE TABLE personalize.segment_members (
    segment_id  integer NOT NULL,
    profile_id  bigint NOT NULL,
    entered_at  timestamptz NOT NULL,
    recheck_at  timestamptz,
    PRIMARY KEY (segment_id, profile_id)
);
CREATE INDEX segment_members_profile_idx ON personalize.segment_members (profile_id);
CREATE INDEX segment_members_recheck_idx ON personalize.segment_members (recheck_at) WHERE recheck_at IS NOT NULL;
COMMENT ON TABLE personalize.segment_members IS
'Current members; recheck_at is when the passing of time alone may change the answer';

CREATE TABLE personalize.segment_pending (
    segment_id  integer NOT NULL,
    profile_id  bigint NOT NULL,
    recheck_at  timestamptz NOT NULL,
    PRIMARY KEY (segment_id, profile_id)
);
CREATE INDEX segment_pending_recheck_idx ON personalize.segment_pending (recheck_at);
COMMENT ON TABLE personalize.segment_pending IS
'Non-members that the passing of time alone may turn into members, and when';

CREATE TABLE personalize.segment_log (
    log_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    segment_id  integer NOT NULL,
    profile_id  bigint NOT NULL,
    change      text NOT NULL CHECK (change IN ('entered', 'exited')),
    at          timestamptz NOT NULL,
    cause       text NOT NULL
);
CREATE INDEX segment_log_segment_idx ON personalize.segment_log (segment_id, log_id);
CREATE INDEX segment_log_profile_idx ON personalize.segment_log (profile_id);
COMMENT ON TABLE personalize.segment_log IS 'Every entry into and exit from a segment, with its cause';

SELECT pg_catalog.pg_extension_config_dump('personalize.segments', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.segment_members', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.segment_pending', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.segment_log', '');

CREATE VIEW personalize.segment_profiles AS
SELECT profile_id, user_id, email, traits, email_consent, lawful_basis, do_not_sell, consent_at,
       event_count, first_seen_at, last_seen_at, created_at, updated_at,
       purchase_count, purchase_total, first_purchase_at, last_purchase_at,
       engagement, engagement_as_of, rfm_r, rfm_f, rfm_m, rfm_segment
  FROM personalize.profiles;
COMMENT ON VIEW personalize.segment_profiles IS
'What SQL segments (create_sql_segment) may read, one row per profile, as "p"';

-- Orders segments so that each comes after the segments it reads; refuses unknown
-- references and cycles.
CREATE FUNCTION personalize._segments_sort()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    missing text;
    changed integer;
    rounds integer := 0;
    cycle text;
BEGIN
    SELECT r INTO missing FROM personalize.segments s, unnest(s.reads_segments) r
     WHERE NOT EXISTS (SELECT FROM personalize.segments t WHERE t.name = r) LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'segment "%" does not exist', missing USING ERRCODE = 'undefined_object';
    END IF;
    UPDATE personalize.segments SET eval_order = 0 WHERE eval_order <> 0;
    LOOP
        UPDATE personalize.segments s SET eval_order = d.o
          FROM (SELECT s2.segment_id, 1 + max(t.eval_order) AS o
                  FROM personalize.segments s2, unnest(s2.reads_segments) r
                  JOIN personalize.segments t ON t.name = r
                 GROUP BY s2.segment_id) d
         WHERE s.segment_id = d.segment_id AND s.eval_order <> d.o;
        GET DIAGNOSTICS changed = ROW_COUNT;
        EXIT WHEN changed = 0;
        rounds := rounds + 1;
        IF rounds > (SELECT count(*) FROM personalize.segments) THEN
            SELECT string_agg(name, ', ' ORDER BY name) INTO cycle FROM personalize.segments
             WHERE eval_order > (SELECT count(*) FROM personalize.segments) - 1;
            RAISE EXCEPTION 'segment rules refer to each other in a cycle'
                USING ERRCODE = 'invalid_recursion', DETAIL = format('Segments involved: %s.', cycle);
        END IF;
    END LOOP;
END
$$;

-- Refuses an evaluation time outside the years 1 to 9999: rules reach up to 100 years back and
-- ahead of it, which must stay inside the range of timestamps.
CREATE FUNCTION personalize._check_as_of(as_of timestamptz)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF as_of IS NULL OR NOT isfinite(as_of)
       OR as_of < '0001-01-01 00:00+00' OR as_of >= '10000-01-01 00:00+00' THEN
        RAISE EXCEPTION 'as_of must be a finite timestamp in the years 1 to 9999'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;

-- Runs one evaluation statement of _segment_apply (parameters as_of, ids, segment_id, cause)
-- with a plan kept per backend for its text (src/segment_exec.c).
CREATE FUNCTION personalize._segment_execute(statement text, as_of timestamptz, ids bigint[],
                                             segment_id integer, cause text,
                                             OUT entered bigint, OUT exited bigint, OUT changed bigint[])
AS 'MODULE_PATHNAME', 'personalize_segment_execute'
LANGUAGE C VOLATILE;

-- Re-evaluates one segment for the given profiles (NULL: every profile) as of as_of, stores
-- the answer, logs entries and exits with cause, and returns how many entered and exited.
CREATE FUNCTION personalize._segment_apply(seg personalize.segments, ids bigint[], as_of timestamptz,
                                           cause text, OUT entered bigint, OUT exited bigint,
                                           OUT changed bigint[])
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off    -- the generated statement's estimates are defaults: JIT would compile every call
AS $$
DECLARE
    stmt text;
BEGIN
    -- Live updates share a segment; a full refresh or a tick has it alone, so that neither
    -- computes from a snapshot that misses what the other is committing.
    IF ids IS NOT NULL AND cause NOT IN ('tick', 'refresh', 'create', 'alter') THEN
        PERFORM pg_advisory_xact_lock_shared(1885692786, seg.segment_id);
    ELSE
        PERFORM pg_advisory_xact_lock(1885692786, seg.segment_id);
    END IF;
    IF ids IS NULL AND seg.recheck IS NULL THEN
        -- a rule that no longer changes with time (altered) leaves no pending rows behind
        DELETE FROM personalize.segment_pending sp WHERE sp.segment_id = seg.segment_id;
    END IF;
    -- A profile is a member (M), pending (P: not a member, but time alone may make it one) or
    -- neither. The statement compares the answer with what is stored and writes only the changes,
    -- with plain INSERTs: a live update holds the row locks of its profiles (whoever changed them
    -- updated them first) and a refresh or tick holds the segment alone.
    stmt := format($q$
        WITH cand AS MATERIALIZED (
            SELECT p.profile_id, (%1$s) AS member, %2$s AS recheck
              FROM personalize.segment_profiles p %6$s %3$s
        ), answer AS (
            SELECT c.profile_id, CASE WHEN c.member THEN 'M' ELSE 'P' END AS state, c.recheck
              FROM cand c WHERE c.member OR (NOT c.member AND c.recheck IS NOT NULL)
        ), stored AS (
            SELECT m.profile_id, 'M' AS state, m.recheck_at AS recheck
              FROM personalize.segment_members m WHERE m.segment_id = $3 %4$s %5$s
        ), diff AS MATERIALIZED (
            SELECT coalesce(n.profile_id, w.profile_id) AS profile_id, n.state AS now, n.recheck, w.state AS was
              FROM answer n FULL JOIN stored w ON w.profile_id = n.profile_id
             WHERE n.state IS DISTINCT FROM w.state OR n.recheck IS DISTINCT FROM w.recheck
        ), ins AS (
            INSERT INTO personalize.segment_members (segment_id, profile_id, entered_at, recheck_at)
            SELECT $3, d.profile_id, $1, d.recheck FROM diff d WHERE d.now = 'M' AND d.was IS DISTINCT FROM 'M'
            RETURNING profile_id
        ), upd AS (
            UPDATE personalize.segment_members m SET recheck_at = d.recheck
              FROM diff d WHERE d.now = 'M' AND d.was = 'M' AND m.segment_id = $3 AND m.profile_id = d.profile_id
        ), del AS (
            DELETE FROM personalize.segment_members m
             USING diff d WHERE d.was = 'M' AND d.now IS DISTINCT FROM 'M' AND m.segment_id = $3
               AND m.profile_id = d.profile_id
            RETURNING m.profile_id
        ) %7$s, logged AS (
            INSERT INTO personalize.segment_log (segment_id, profile_id, change, at, cause)
            SELECT $3, profile_id, 'entered', $1, $4 FROM ins
            UNION ALL
            SELECT $3, profile_id, 'exited', $1, $4 FROM del
        )
        SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM del),
               ARRAY(SELECT profile_id FROM ins UNION ALL SELECT profile_id FROM del)$q$,
        seg.predicate, coalesce(seg.recheck, 'NULL::timestamptz'),
        CASE WHEN ids IS NULL THEN '' ELSE 'WHERE p.profile_id = ANY ($2)' END,
        CASE WHEN ids IS NULL THEN '' ELSE 'AND m.profile_id = ANY ($2)' END,
        -- pending rows exist only for rules that change with time (a recheck expression)
        CASE WHEN seg.recheck IS NOT NULL THEN format($p$
            UNION ALL
            SELECT sp.profile_id, 'P', sp.recheck_at
              FROM personalize.segment_pending sp WHERE sp.segment_id = $3 %s$p$,
            CASE WHEN ids IS NULL THEN '' ELSE 'AND sp.profile_id = ANY ($2)' END) ELSE '' END,
        replace(seg.joins, '/*ids*/', CASE WHEN ids IS NULL THEN '' ELSE 'AND e.profile_id = ANY ($2)' END),
        CASE WHEN seg.recheck IS NOT NULL THEN $p$, pend AS (
            INSERT INTO personalize.segment_pending (segment_id, profile_id, recheck_at)
            SELECT $3, d.profile_id, d.recheck FROM diff d WHERE d.now = 'P' AND d.was IS DISTINCT FROM 'P'
        ), repend AS (
            UPDATE personalize.segment_pending sp SET recheck_at = d.recheck
              FROM diff d WHERE d.now = 'P' AND d.was = 'P' AND sp.segment_id = $3 AND sp.profile_id = d.profile_id
        ), unpend AS (
            DELETE FROM personalize.segment_pending sp
             USING diff d WHERE d.was = 'P' AND d.now IS DISTINCT FROM 'P' AND sp.segment_id = $3
               AND sp.profile_id = d.profile_id
        )$p$ ELSE '' END);
    -- A few profiles (a live update): the plan kept for this text. Many: planned for these ids,
    -- whose count a kept generic plan would not know.
    IF cardinality(ids) <= 100 THEN
        SELECT x.entered, x.exited, x.changed INTO entered, exited, changed
          FROM personalize._segment_execute(stmt, as_of, ids, seg.segment_id, cause) x;
    ELSE
        EXECUTE stmt INTO entered, exited, changed USING as_of, ids, seg.segment_id, cause;
    END IF;
END
$$;

-- Re-evaluates, in dependency order, the rule segments that read any of the given events or
-- fields ('*': everything), or a segment this pass changed, for the given profiles; profiles
-- new_ids (just created) are evaluated for every segment. Returns a summary
-- [{"id", "entered", "exited"}] of the segments that changed.
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
            r := personalize._segment_apply(seg, ids, as_of, cause);
        ELSIF coalesce(cardinality(new_ids), 0) > 0 THEN
            r := personalize._segment_apply(seg, new_ids, as_of, cause);
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

-- Sends the one NOTIFY of a statement on channel personalize_segments: segment ids and
-- counts, never profile data, kept under the 8000-byte payload limit.
CREATE FUNCTION personalize._segments_notify(summary jsonb, cause text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    payload text;
    n integer := jsonb_array_length(summary);
BEGIN
    IF n = 0 THEN
        RETURN;
    END IF;
    payload := jsonb_build_object('cause', cause, 'segments', summary)::text;
    WHILE octet_length(payload) > 7900 LOOP
        n := n / 2;
        payload := jsonb_build_object('cause', cause, 'truncated', true,
                                      'segments', (SELECT jsonb_agg(e) FROM jsonb_array_elements(summary)
                                                     WITH ORDINALITY AS t(e, i) WHERE i <= n))::text;
    END LOOP;
    PERFORM pg_notify('personalize_segments', payload);
END
$$;

-- Live updates after a change to some profiles: re-evaluates the segments that read what
-- changed, as of personalize.clock, and sends the statement's one NOTIFY.
CREATE FUNCTION personalize._segments_live(ids bigint[], events text[], fields text[], cause text,
                                           new_ids bigint[] DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT FROM personalize.segments WHERE kind = 'rule') THEN
        PERFORM personalize._segments_notify(
            personalize._segments_on_change(ids, events, fields, personalize._clock(), cause, new_ids), cause);
    END IF;
END
$$;

-- Compiles a rule, refusing a bad one with the JSON path of the bad node.
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
    c := personalize._compile_rule(rule);
    s.name := name;
    s.kind := 'rule';
    s.rule := rule;
    s.predicate := c.predicate;
    s.recheck := c.recheck;
    s.reads_events := c.events;
    s.reads_fields := c.fields;
    s.reads_segments := c.segments;
    s.joins := c.joins;
    RETURN s;
END
$$;

-- Re-evaluates the segments named in roots for everyone, then the segments that read them,
-- in order; sends one NOTIFY. Returns [{"id", "entered", "exited"}] for every segment it ran.
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
        r := personalize._segment_apply(seg, NULL, as_of, cause);
        UPDATE personalize.segments SET refreshed_at = as_of WHERE segment_id = seg.segment_id;
        touched := touched || seg.name;
        summary := summary || jsonb_build_object('id', seg.segment_id, 'entered', r.entered, 'exited', r.exited);
    END LOOP;
    PERFORM personalize._segments_notify(
        (SELECT coalesce(jsonb_agg(e), '[]') FROM jsonb_array_elements(summary) e
          WHERE (e ->> 'entered')::bigint + (e ->> 'exited')::bigint > 0), cause);
    RETURN summary;
END
$$;

-- Refreshes every rule segment that reads a field group (e.g. rfm after score_rfm).
CREATE FUNCTION personalize._segments_refresh_reading(field text, as_of timestamptz, cause text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    roots text[] := ARRAY(SELECT s.name FROM personalize.segments s
                           WHERE s.kind = 'rule' AND field = ANY (s.reads_fields));
BEGIN
    IF cardinality(roots) > 0 THEN
        PERFORM personalize._segments_refresh(roots, as_of, cause);
    END IF;
END
$$;

-- Compiles a rule and stores it as a new segment or over an existing one, orders the
-- segments, and fills it (and the segments that read it) as of as_of.
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
        INSERT INTO personalize.segments (name, kind, rule, predicate, recheck, joins, reads_events,
                                          reads_fields, reads_segments)
        VALUES (s.name, 'rule', s.rule, s.predicate, s.recheck, s.joins, s.reads_events, s.reads_fields,
                s.reads_segments)
        RETURNING segment_id INTO id;
    ELSE
        UPDATE personalize.segments g
           SET rule = s.rule, predicate = s.predicate, recheck = s.recheck, joins = s.joins,
               reads_events = s.reads_events, reads_fields = s.reads_fields, reads_segments = s.reads_segments,
               updated_at = statement_timestamp()
         WHERE g.name = _segment_define.name AND g.kind = 'rule'
        RETURNING segment_id INTO id;
        IF id IS NULL THEN
            RAISE EXCEPTION 'rule segment "%" does not exist', name USING ERRCODE = 'undefined_object';
        END IF;
    END IF;
    PERFORM personalize._segments_sort();
    PERFORM personalize._segments_refresh(ARRAY[name], as_of, CASE WHEN is_new THEN 'create' ELSE 'alter' END);
    RETURN id;
END
$$;

CREATE FUNCTION personalize.create_segment(name text, rule jsonb, as_of timestamptz DEFAULT now())
RETURNS integer
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT personalize._segment_define(name, rule, as_of, true) $$;
COMMENT ON FUNCTION personalize.create_segment(text, jsonb, timestamptz) IS
'Defines a segment by a JSON rule (compiled and checked now) and fills it as of as_of';

CREATE FUNCTION personalize.alter_segment(name text, rule jsonb, as_of timestamptz DEFAULT now())
RETURNS integer
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT personalize._segment_define(name, rule, as_of, false) $$;
COMMENT ON FUNCTION personalize.alter_segment(text, jsonb, timestamptz) IS
'Replaces a rule segment''s rule and recomputes it (and the segments that read it) as of as_of';

CREATE FUNCTION personalize.drop_segment(name text)
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
     WHERE drop_segment.name = ANY (s.reads_segments);
    IF users IS NOT NULL THEN
        RAISE EXCEPTION 'segment "%" is used by other segments', name
            USING ERRCODE = 'dependent_objects_still_exist', DETAIL = format('Used by: %s.', users),
                  HINT = 'Alter or drop those segments first.';
    END IF;
    DELETE FROM personalize.segments s WHERE s.name = drop_segment.name RETURNING segment_id INTO gone;
    IF gone IS NULL THEN
        RAISE EXCEPTION 'segment "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    DELETE FROM personalize.segment_members m WHERE m.segment_id = gone;
    DELETE FROM personalize.segment_pending sp WHERE sp.segment_id = gone;
END
$$;

CREATE FUNCTION personalize.create_sql_segment(name text, where_clause text, as_of timestamptz DEFAULT now())
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id integer;
BEGIN
    IF where_clause IS NULL OR btrim(where_clause) = '' OR position(';' IN where_clause) > 0 THEN
        RAISE EXCEPTION 'invalid where clause for SQL segment "%"', name USING ERRCODE = 'syntax_error',
            DETAIL = 'A SQL segment is one boolean expression over personalize.segment_profiles p, without semicolons.';
    END IF;
    EXECUTE format('SELECT count(*) FROM (SELECT FROM personalize.segment_profiles p WHERE (%s) LIMIT 0) x',
                   where_clause);
    INSERT INTO personalize.segments (name, kind, where_clause, predicate, recheck)
    VALUES (name, 'sql', where_clause, format('(%s)', where_clause), NULL)
    RETURNING segment_id INTO id;
    PERFORM personalize._segments_refresh(ARRAY[name], as_of, 'create');
    RETURN id;
END
$$;
COMMENT ON FUNCTION personalize.create_sql_segment(text, text, timestamptz) IS
'A segment defined by a SQL condition on personalize.segment_profiles p; refreshed in batch only (refresh_segment)';

CREATE FUNCTION personalize.refresh_segment(name text, as_of timestamptz DEFAULT now(),
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
    summary := personalize._segments_refresh(ARRAY[name], as_of, 'refresh');
    entered := (summary -> 0 ->> 'entered')::bigint;
    exited := (summary -> 0 ->> 'exited')::bigint;
END
$$;
COMMENT ON FUNCTION personalize.refresh_segment(text, timestamptz) IS
'Recomputes a segment from scratch as of as_of (then the segments that read it); returns its entries and exits';

CREATE FUNCTION personalize.refresh_segments(names text[] DEFAULT NULL, as_of timestamptz DEFAULT now())
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
      FROM jsonb_array_elements(personalize._segments_refresh(roots, as_of, 'refresh')) WITH ORDINALITY AS t(e, i)
      JOIN personalize.segments s ON s.segment_id = (t.e ->> 'id')::integer
     ORDER BY t.i;
END
$$;
COMMENT ON FUNCTION personalize.refresh_segments(text[], timestamptz) IS
'Recomputes the named segments (NULL: all) as of as_of, and the segments that read them, each once, in dependency order; one row per segment';

CREATE FUNCTION personalize.tick(as_of timestamptz DEFAULT now())
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
    RETURN total;
END
$$;
COMMENT ON FUNCTION personalize.tick(timestamptz) IS
'Re-evaluates the memberships whose answer may have changed with time by as_of; pg_cron calls it every minute';

CREATE FUNCTION personalize.in_segment(name text, profile_id bigint)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT FROM personalize.segment_members m JOIN personalize.segments s USING (segment_id)
                    WHERE s.name = $1 AND m.profile_id = $2)
$$;

CREATE FUNCTION personalize.segments_of(profile_id bigint)
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(array_agg(s.name ORDER BY s.name), '{}')
      FROM personalize.segment_members m JOIN personalize.segments s USING (segment_id)
     WHERE m.profile_id = $1
$$;

CREATE FUNCTION personalize.install_schedule(tick_schedule text DEFAULT '* * * * *',
                                             maintain_schedule text DEFAULT '17 3 * * *')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in this database'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database and run CREATE EXTENSION pg_cron; or call personalize.tick() every minute and personalize.maintain() daily from your own scheduler.';
    END IF;
    EXECUTE 'SELECT cron.schedule($1, $2, $3)' USING 'personalize-tick', tick_schedule, 'SELECT personalize.tick()';
    EXECUTE 'SELECT cron.schedule($1, $2, $3)' USING 'personalize-maintain', maintain_schedule, 'SELECT personalize.maintain()';
END
$$;
COMMENT ON FUNCTION personalize.install_schedule(text, text) IS
'Registers tick() (every minute) and maintain() (daily) with pg_cron';

CREATE FUNCTION personalize.audience(segment_name text, as_of timestamptz)
RETURNS personalize.audience
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    seg integer;
    latest timestamptz;
    result personalize.audience;
BEGIN
    SELECT s.segment_id INTO seg FROM personalize.segments s WHERE s.name = segment_name;
    IF seg IS NULL THEN
        RAISE EXCEPTION 'segment "%" does not exist', segment_name USING ERRCODE = 'undefined_object';
    END IF;
    IF as_of IS NULL OR NOT isfinite(as_of) THEN
        RAISE EXCEPTION 'as_of must be a finite timestamp' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT max(l.at) INTO latest FROM personalize.segment_log l WHERE l.segment_id = seg;
    IF latest IS NULL OR as_of >= latest THEN
        SELECT personalize.audience_agg(m.profile_id) INTO result
          FROM personalize.segment_members m WHERE m.segment_id = seg;
    ELSE
        -- the membership at an earlier time, replayed from the log of entries and exits
        SELECT personalize.audience_agg(l.profile_id) INTO result
          FROM (SELECT DISTINCT ON (x.profile_id) x.profile_id, x.change
                  FROM personalize.segment_log x
                 WHERE x.segment_id = seg AND x.at <= as_of
                 ORDER BY x.profile_id, x.at DESC, x.log_id DESC) l
         WHERE l.change = 'entered';
    END IF;
    RETURN coalesce(result, personalize.audience_from_array('{}'));
END
$$;
COMMENT ON FUNCTION personalize.audience(text, timestamptz) IS
'The members of a segment as an audience bitmap: current ones, or as of an earlier time from segment_log';

-- ---- src/roles.sql
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
    personalize._ingest_pending_rejects(), personalize._ingest_pending_identities(),
    personalize._ingest_pending_duplicates(), personalize._ingest_pending_counts()
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
    personalize.refresh_segment(text, timestamptz), personalize.refresh_segments(text[], timestamptz),
    personalize.tick(timestamptz),
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
GRANT EXECUTE ON FUNCTION personalize.audience(text, timestamptz) TO personalize_analyst;
