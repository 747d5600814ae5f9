-- Retention: personalize.retention_months (a superuser's setting, 0 = keep everything) and the
-- log of the event partitions maintain() dropped for it (src/ingest/partition.sql).

CREATE TABLE personalize.retention_log (
    partition         text NOT NULL,
    range_from        timestamptz NOT NULL,
    range_to          timestamptz NOT NULL,
    events_dropped    bigint NOT NULL,
    retention_months  integer NOT NULL,
    as_of             timestamptz NOT NULL,
    logged_at         timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp()
);
COMMENT ON TABLE personalize.retention_log IS
'Each event partition maintain() detached and dropped under personalize.retention_months: its range and row count';
SELECT pg_catalog.pg_extension_config_dump('personalize.retention_log', '');

-- The setting as the module defines it (calling C loads the module, so that a value a
-- non-superuser set before the load has been refused).
CREATE FUNCTION personalize._retention_months()
RETURNS integer
AS 'MODULE_PATHNAME', 'personalize_retention_months'
LANGUAGE C STABLE STRICT;

REVOKE ALL ON FUNCTION personalize._retention_months() FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON personalize.retention_log TO personalize_admin;
GRANT SELECT ON personalize.retention_log TO personalize_analyst;
