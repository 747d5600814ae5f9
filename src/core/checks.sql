-- Argument checks shared by every module: one wording and one SQLSTATE for each kind of bad input.

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
