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
