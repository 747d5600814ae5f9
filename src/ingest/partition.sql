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
    PERFORM personalize._check_as_of(as_of);
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
