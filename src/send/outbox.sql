-- The outbox (docs/sends.md): the hot queue personalize.sends (queued and leased sends only),
-- personalize.send_history (finished sends, partitioned by month), the idempotency keys of
-- every send ever enqueued, the settings of the send path, and the NOTIFY of new work.

CREATE FUNCTION personalize._hmac_sha256(key bytea, message text)
RETURNS bytea
AS 'MODULE_PATHNAME', 'personalize_hmac_sha256'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize._hmac_sha256(bytea, text) IS
'HMAC-SHA256 of message under key (at least 16 bytes), 32 bytes';

CREATE FUNCTION personalize._bytes_equal(a bytea, b bytea)
RETURNS boolean
AS 'MODULE_PATHNAME', 'personalize_bytes_equal'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize._bytes_equal(bytea, bytea) IS
'Equality of two byte strings in time that depends on their lengths only (signature checks)';

CREATE FUNCTION personalize._random_bytes(n integer)
RETURNS bytea
AS 'MODULE_PATHNAME', 'personalize_random_bytes'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION personalize._random_bytes(integer) IS
'n bytes (1..1024) from the operating system''s strong random source';

CREATE FUNCTION personalize._timezone_or(name text, fallback text)
RETURNS text
AS 'MODULE_PATHNAME', 'personalize_timezone_or'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION personalize._timezone_or(text, text) IS
'name when it is a time zone the server knows (an IANA name such as Europe/Berlin), else fallback';

CREATE FUNCTION personalize._strictly_ascending(ids bigint[])
RETURNS boolean
AS 'MODULE_PATHNAME', 'personalize_strictly_ascending'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize._strictly_ascending(bigint[]) IS
'True when the ids rise strictly (no id twice, no NULL): the send policy then ranks no candidates against each other';

-- The settings of the send path: one row, edited by personalize_admin with UPDATE.
CREATE TABLE personalize.send_settings (
    singleton          boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    from_address       text NOT NULL DEFAULT 'no-reply@example.com',
    reply_to           text,
    message_id_domain  text NOT NULL DEFAULT 'personalize.invalid'
                       CHECK (message_id_domain ~ '^[A-Za-z0-9.-]+$'),
    unsubscribe_base_url text CHECK (unsubscribe_base_url ~ '^https?://'),
    unsubscribe_token_ttl interval NOT NULL DEFAULT '1 year' CHECK (unsubscribe_token_ttl > '0'),
    max_attempts       integer NOT NULL DEFAULT 5 CHECK (max_attempts BETWEEN 1 AND 100),
    backoff_base       interval NOT NULL DEFAULT '1 minute' CHECK (backoff_base > '0'),
    backoff_max        interval NOT NULL DEFAULT '6 hours' CHECK (backoff_max > '0'),
    default_timezone   text NOT NULL DEFAULT 'UTC' CHECK (personalize._timezone_or(default_timezone, NULL) IS NOT NULL),
    quiet_start        time,
    quiet_end          time,
    quiet_kinds        text[] NOT NULL DEFAULT '{marketing}' CHECK (quiet_kinds <@ '{marketing,transactional}'),
    control_percent    numeric NOT NULL DEFAULT 0 CHECK (control_percent BETWEEN 0 AND 100),
    control_salt       text NOT NULL DEFAULT 'control',
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL) AND (quiet_start IS NULL OR quiet_start <> quiet_end))
);
INSERT INTO personalize.send_settings DEFAULT VALUES;
COMMENT ON TABLE personalize.send_settings IS
'Settings of the send path (one row): addresses, retries, time zone, quiet hours, control group, unsubscribe links';

-- The caller's idempotency key of every send enqueued with one (enqueue_send, journeys): a retried
-- enqueue finds its key here whether the send is still queued or long finished. Campaign sends
-- have none: their key c:<campaign>:<run>:<profile> is derived, and a run is unique at run level
-- (_enqueue), so keys beginning with c: are reserved for them.
CREATE TABLE personalize.send_keys (
    idempotency_key  text COLLATE "C" PRIMARY KEY CHECK (octet_length(idempotency_key) BETWEEN 1 AND 400),
    send_id          bigint NOT NULL
);
COMMENT ON TABLE personalize.send_keys IS
'The caller''s idempotency key of every send enqueued with one (unique), with its send_id; campaign keys are derived, not stored here';

CREATE SEQUENCE personalize.send_id_seq AS bigint;

-- The hot queue: queued and leased sends. Finished sends move to send_history. Every index here
-- is written by each enqueue (a launch writes a million rows), so there are four: the primary key,
-- the due queue (claim_sends; tick counts what became due through it, priority by priority), the
-- profile (policy, merge, forget) and the campaign run (run-level idempotency, cancel, done). The
-- lease index is partial on leased sends, which an enqueue never writes.
CREATE TABLE personalize.sends (
    send_id              bigint PRIMARY KEY,
    profile_id           bigint NOT NULL,
    campaign_id          integer,
    campaign_run         bigint,
    journey_id           integer,
    journey_run          bigint,
    journey_step         text,
    template             text NOT NULL,
    template_version     integer,
    variant              text,
    kind                 text NOT NULL CHECK (kind IN ('marketing', 'transactional')),
    priority             integer NOT NULL DEFAULT 0,
    idempotency_key      text COLLATE "C" NOT NULL,   -- unique: a caller's in send_keys, a campaign run's derived
    status               text NOT NULL CHECK (status IN ('queued', 'leased')),
    attempts             integer NOT NULL DEFAULT 0,
    available_at         timestamptz NOT NULL,
    lease_until          timestamptz,
    leased_by            text,
    created_at           timestamptz NOT NULL,
    sent_at              timestamptz,
    provider_message_id  text,
    provider             text,
    last_error           text,
    extra                jsonb NOT NULL DEFAULT '{}' CHECK (pg_catalog.jsonb_typeof(extra) = 'object')
);
CREATE INDEX sends_due_idx ON personalize.sends (priority DESC, available_at, send_id) WHERE status = 'queued';
CREATE INDEX sends_lease_idx ON personalize.sends (lease_until) WHERE status = 'leased';
CREATE INDEX sends_profile_idx ON personalize.sends (profile_id);
CREATE INDEX sends_campaign_idx ON personalize.sends (campaign_id, campaign_run) WHERE campaign_id IS NOT NULL;
COMMENT ON TABLE personalize.sends IS
'The outbox queue: sends queued or leased by a worker; finished sends move to send_history';

-- Finished sends (sent, failed, dead, suppressed, cancelled), partitioned by the month they
-- finished in (UTC); tick creates the partitions of this month and the next.
CREATE TABLE personalize.send_history (
    LIKE personalize.sends INCLUDING DEFAULTS,
    finished_at  timestamptz NOT NULL,
    CHECK (status IN ('sent', 'failed', 'dead', 'suppressed', 'cancelled'))
) PARTITION BY RANGE (finished_at);
CREATE TABLE personalize.send_history_default PARTITION OF personalize.send_history DEFAULT;
-- The indexes live on each partition, as those of events do (src/ingest/ingest.sql): the default
-- partition carries them and _send_history_partitions copies them to each monthly partition.
CREATE INDEX send_history_default_send_id_idx ON personalize.send_history_default (send_id);
CREATE INDEX send_history_default_profile_id_finished_at_idx ON personalize.send_history_default (profile_id, finished_at)
    WHERE status = 'sent';
-- every finished send of a profile, whatever its status: forget and merge_profiles find them here
CREATE INDEX send_history_default_profile_id_idx ON personalize.send_history_default (profile_id);
CREATE INDEX send_history_default_campaign_id_campaign_run_idx ON personalize.send_history_default (campaign_id, campaign_run)
    WHERE campaign_id IS NOT NULL;
COMMENT ON TABLE personalize.send_history IS
'Finished sends, partitioned by UTC month of finished_at (sent_at for sent ones)';

CREATE VIEW personalize.sends_all AS
SELECT s.*, NULL::timestamptz AS finished_at FROM personalize.sends s
UNION ALL
SELECT h.* FROM personalize.send_history h;
COMMENT ON VIEW personalize.sends_all IS 'Every send, queued, leased or finished';

SELECT pg_catalog.pg_extension_config_dump('personalize.send_settings', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.send_keys', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.sends', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.send_history_default', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.send_id_seq', '');

-- Creates the monthly partitions of send_history for the months of as_of and the next one.
CREATE FUNCTION personalize._send_history_partitions(as_of timestamptz)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    lo timestamptz;
    hi timestamptz;
    part text;
    created integer := 0;
BEGIN
    FOR i IN 0 .. 1 LOOP
        lo := (date_trunc('month', as_of AT TIME ZONE 'UTC') + make_interval(months => i)) AT TIME ZONE 'UTC';
        hi := (date_trunc('month', as_of AT TIME ZONE 'UTC') + make_interval(months => i + 1)) AT TIME ZONE 'UTC';
        part := format('send_history_y%sm%s', to_char(lo AT TIME ZONE 'UTC', 'YYYY'), to_char(lo AT TIME ZONE 'UTC', 'MM'));
        CONTINUE WHEN to_regclass(format('personalize.%I', part)) IS NOT NULL;
        -- no send may finish into the history until the new partition is attached: a writer
        -- that had already routed its row to the default partition would break the default
        -- partition's new constraint once it got the lock (specs/sends_history_partition.spec);
        -- waiting on the parent, it routes the row afresh. Readers are not held up.
        LOCK TABLE personalize.send_history IN SHARE ROW EXCLUSIVE MODE;
        LOCK TABLE personalize.send_history_default IN ACCESS EXCLUSIVE MODE;
        EXECUTE format('CREATE TABLE personalize.%I (LIKE personalize.send_history_default INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)', part);
        EXECUTE format('WITH moved AS (DELETE FROM personalize.send_history_default WHERE finished_at >= %L AND finished_at < %L RETURNING *)
                        INSERT INTO personalize.%I SELECT * FROM moved', lo, hi, part);
        EXECUTE format('ALTER TABLE personalize.send_history ATTACH PARTITION personalize.%I FOR VALUES FROM (%L) TO (%L)',
                       part, lo, hi);
        created := created + 1;
    END LOOP;
    RETURN created;
END
$$;
COMMENT ON FUNCTION personalize._send_history_partitions(timestamptz) IS
'Creates the send_history partitions of as_of''s UTC month and the next (rows waiting in the default partition move in)';

-- Announces new work on channel personalize_sends: a count and the earliest available_at,
-- never a send id list or anything about the recipients.
CREATE FUNCTION personalize._sends_notify(n bigint, earliest timestamptz, cause text)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.pg_notify('personalize_sends',
               pg_catalog.jsonb_build_object('cause', cause, 'count', n, 'available_at',
                   pg_catalog.to_char(earliest AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text)
     WHERE n > 0
$$;
COMMENT ON FUNCTION personalize._sends_notify(bigint, timestamptz, text) IS
'One NOTIFY personalize_sends with a count and the earliest available_at (no personal data)';

-- Moves sends from the queue to send_history with a final status; returns how many moved.
CREATE FUNCTION personalize._sends_finish(ids bigint[], final_status text, as_of timestamptz,
                                          error text DEFAULT NULL)
RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    WITH moved AS (
        DELETE FROM personalize.sends s WHERE s.send_id = ANY (ids) RETURNING s.*
    ), ins AS (
        INSERT INTO personalize.send_history
        SELECT m.send_id, m.profile_id, m.campaign_id, m.campaign_run, m.journey_id, m.journey_run,
               m.journey_step, m.template, m.template_version, m.variant, m.kind, m.priority,
               m.idempotency_key, final_status, m.attempts, m.available_at,
               NULL, m.leased_by, m.created_at,
               CASE WHEN final_status = 'sent' THEN as_of END, m.provider_message_id, m.provider,
               coalesce(error, m.last_error), m.extra, as_of
          FROM moved m
        RETURNING 1
    )
    SELECT count(*) FROM ins
$$;
COMMENT ON FUNCTION personalize._sends_finish(bigint[], text, timestamptz, text) IS
'Moves the given sends out of the queue into send_history with a final status (and an error, if given)';
