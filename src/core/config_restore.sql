-- The configuration tables across pg_dump and restore (docs/limits.md, "Dump and restore"). CREATE
-- EXTENSION seeds built-in rows (event_schemas, scoring_events, rfm_segments) and one settings row
-- (scoring_settings, send_settings, recommendation_settings, tick_state); a restore then loads the dumped rows
-- on top. Two triggers make that exact, as PostgreSQL's documentation of extension configuration
-- tables suggests: an edit of a built-in row marks it as the user's (builtin = false), so the
-- dump's filter WHERE NOT builtin keeps it; and a loaded row whose key is a seeded row's replaces
-- that row instead of failing on the key. (Deleting a built-in row is not kept: the restore's
-- CREATE EXTENSION seeds it again.)

-- BEFORE UPDATE of a built-in row that changes it: the row becomes the user's, so it is dumped.
CREATE FUNCTION personalize._config_row_edited()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    NEW.builtin := false;
    RETURN NEW;
END
$$;

-- BEFORE INSERT: a row whose key (column TG_ARGV[0]) is a seeded row's replaces that row, all
-- columns, and is not inserted; a seeded row is a built-in one where TG_ARGV[1] names the flag
-- column (builtin), else the table's one row. Other rows insert as usual.
CREATE FUNCTION personalize._config_row_restore()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols text;
    vals text;
    replaced integer;
BEGIN
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum),
           string_agg(format('($1).%I', a.attname), ', ' ORDER BY a.attnum)
      INTO cols, vals
      FROM pg_attribute a WHERE a.attrelid = TG_RELID AND a.attnum > 0 AND NOT a.attisdropped;
    EXECUTE format('UPDATE %s t SET (%s) = ROW(%s) WHERE t.%I = ($1).%I%s', TG_RELID::regclass, cols, vals,
                   TG_ARGV[0], TG_ARGV[0], CASE WHEN TG_NARGS > 1 THEN format(' AND t.%I', TG_ARGV[1]) ELSE '' END)
      USING NEW;
    GET DIAGNOSTICS replaced = ROW_COUNT;
    RETURN CASE WHEN replaced = 0 THEN NEW END;
END
$$;

CREATE TRIGGER event_schemas_edited BEFORE UPDATE ON personalize.event_schemas
    FOR EACH ROW WHEN (OLD.builtin AND NEW.builtin AND OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION personalize._config_row_edited();
CREATE TRIGGER scoring_events_edited BEFORE UPDATE ON personalize.scoring_events
    FOR EACH ROW WHEN (OLD.builtin AND NEW.builtin AND OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION personalize._config_row_edited();
CREATE TRIGGER rfm_segments_edited BEFORE UPDATE ON personalize.rfm_segments
    FOR EACH ROW WHEN (OLD.builtin AND NEW.builtin AND OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION personalize._config_row_edited();

CREATE TRIGGER event_schemas_restore BEFORE INSERT ON personalize.event_schemas
    FOR EACH ROW EXECUTE FUNCTION personalize._config_row_restore('event', 'builtin');
CREATE TRIGGER scoring_events_restore BEFORE INSERT ON personalize.scoring_events
    FOR EACH ROW EXECUTE FUNCTION personalize._config_row_restore('event', 'builtin');
CREATE TRIGGER rfm_segments_restore BEFORE INSERT ON personalize.rfm_segments
    FOR EACH ROW EXECUTE FUNCTION personalize._config_row_restore('priority', 'builtin');
CREATE TRIGGER scoring_settings_restore BEFORE INSERT ON personalize.scoring_settings
    FOR EACH ROW EXECUTE FUNCTION personalize._config_row_restore('singleton');
CREATE TRIGGER send_settings_restore BEFORE INSERT ON personalize.send_settings
    FOR EACH ROW EXECUTE FUNCTION personalize._config_row_restore('singleton');
CREATE TRIGGER tick_state_restore BEFORE INSERT ON personalize.tick_state
    FOR EACH ROW EXECUTE FUNCTION personalize._config_row_restore('singleton');
CREATE TRIGGER recommendation_settings_restore BEFORE INSERT ON personalize.recommendation_settings
    FOR EACH ROW EXECUTE FUNCTION personalize._config_row_restore('singleton');

-- The scoring settings row is dumped whole (it was not dumped at all before 0.2).
SELECT pg_catalog.pg_extension_config_dump('personalize.scoring_settings', '');

REVOKE ALL ON FUNCTION personalize._config_row_edited(), personalize._config_row_restore() FROM PUBLIC;
