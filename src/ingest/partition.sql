-- Partition upkeep: one partition of personalize.events per UTC month, created ahead of time and,
-- under personalize.retention_months, dropped once the whole month is older than the window.

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
COMMENT ON FUNCTION personalize.maintain(timestamptz, integer, integer) IS
'Creates the monthly partitions of events from months_back before as_of to months_ahead after, and drops those older than personalize.retention_months (logged in retention_log); pg_cron calls it daily';
