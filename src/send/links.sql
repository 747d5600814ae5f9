-- Links of a sent e-mail (docs/sends.md, "Links and unsubscribe"): the signed one-click
-- unsubscribe token of each send (HMAC-SHA256 under a secret only the extension's owner can
-- read), unsubscribe() that verifies it, and UTM tagging of the HTML body's links.

-- No privileges on this table for any role: only its owner (the superuser who created the
-- extension) and the SECURITY DEFINER functions below read it.
CREATE TABLE personalize.unsubscribe_secrets (
    key_id      integer PRIMARY KEY CHECK (key_id > 0),
    secret      bytea NOT NULL CHECK (octet_length(secret) >= 16),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp(),
    retired_at  timestamptz
);
COMMENT ON TABLE personalize.unsubscribe_secrets IS
'Signing keys of unsubscribe tokens: the newest unretired one signs, every unretired one verifies (superuser only)';

CREATE FUNCTION personalize.rotate_unsubscribe_secret(retire_before timestamptz DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id integer;
BEGIN
    INSERT INTO personalize.unsubscribe_secrets (key_id, secret)
    SELECT coalesce(max(key_id), 0) + 1, personalize._random_bytes(32) FROM personalize.unsubscribe_secrets
    RETURNING key_id INTO id;
    -- keys created before retire_before stop verifying: their tokens become invalid
    UPDATE personalize.unsubscribe_secrets SET retired_at = statement_timestamp()
     WHERE retire_before IS NOT NULL AND created_at < retire_before AND retired_at IS NULL AND key_id <> id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION personalize.rotate_unsubscribe_secret(timestamptz) IS
'Adds a new random signing key (used from now on); keys created before retire_before are retired; returns the new key_id';

-- The signing key in use: the newest unretired one, made on first use (key 1).
CREATE FUNCTION personalize._unsubscribe_key()
RETURNS personalize.unsubscribe_secrets
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k personalize.unsubscribe_secrets;
BEGIN
    SELECT * INTO k FROM personalize.unsubscribe_secrets WHERE retired_at IS NULL ORDER BY key_id DESC LIMIT 1;
    IF NOT FOUND THEN
        -- concurrent first claims agree on key 1
        INSERT INTO personalize.unsubscribe_secrets (key_id, secret)
        VALUES (1, personalize._random_bytes(32)) ON CONFLICT (key_id) DO NOTHING;
        SELECT * INTO k FROM personalize.unsubscribe_secrets WHERE retired_at IS NULL ORDER BY key_id DESC LIMIT 1;
    END IF;
    RETURN k;
END
$$;
COMMENT ON FUNCTION personalize._unsubscribe_key() IS
'The newest unretired unsubscribe signing key; the first one is created on first use';

-- The token of a send issued at as_of: v1.<key>.<send_id>.<issued, unix seconds>.<MAC>, MAC the
-- first 16 bytes (hex) of HMAC-SHA256(secret, "v1.<key>.<send_id>.<issued>").
CREATE FUNCTION personalize._sign_token(key_id integer, secret bytea, send_id bigint, as_of timestamptz)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p || '.' || encode(substr(personalize._hmac_sha256(secret, p), 1, 16), 'hex')
      FROM (SELECT format('v1.%s.%s.%s', key_id, send_id, floor(extract(epoch FROM as_of))::bigint) AS p) x
$$;
COMMENT ON FUNCTION personalize._sign_token(integer, bytea, bigint, timestamptz) IS
'The signed unsubscribe token v1.key.send_id.issued.mac of a send under a key';

-- The signed token of a send issued at as_of, under the signing key in use.
CREATE FUNCTION personalize._unsubscribe_token(send_id bigint, as_of timestamptz)
RETURNS text
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT personalize._sign_token(k.key_id, k.secret, send_id, as_of) FROM personalize._unsubscribe_key() k
$$;
COMMENT ON FUNCTION personalize._unsubscribe_token(bigint, timestamptz) IS
'The signed unsubscribe token of a send, under the newest unretired key';

-- The send a token names, after checking its form, key, signature and age; errors say which failed.
CREATE FUNCTION personalize._unsubscribe_verify(token text, as_of timestamptz)
RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m text[] := regexp_match(token, '^v1\.([0-9]{1,9})\.([0-9]{1,18})\.([0-9]{1,12})\.([0-9a-f]{32})$');
    k personalize.unsubscribe_secrets;
    ttl interval := (SELECT s.unsubscribe_token_ttl FROM personalize.send_settings s);
BEGIN
    IF token IS NULL THEN
        RAISE EXCEPTION 'unsubscribe token must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF m IS NULL THEN
        RAISE EXCEPTION 'malformed unsubscribe token' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'A token has the form v1.<key>.<send>.<issued>.<32 hex digits>.';
    END IF;
    SELECT * INTO k FROM personalize.unsubscribe_secrets s WHERE s.key_id = m[1]::integer AND s.retired_at IS NULL;
    IF NOT FOUND OR NOT personalize._bytes_equal(
            convert_to(personalize._sign_token(k.key_id, k.secret, m[2]::bigint, to_timestamp(m[3]::bigint)), 'UTF8'),
            convert_to(token, 'UTF8')) THEN
        RAISE EXCEPTION 'invalid unsubscribe token' USING ERRCODE = 'invalid_authorization_specification',
            DETAIL = 'The signature does not match, or its key was retired.';
    END IF;
    IF to_timestamp(m[3]::bigint) + ttl < as_of THEN
        RAISE EXCEPTION 'unsubscribe token has expired' USING ERRCODE = 'invalid_authorization_specification',
            DETAIL = format('It was issued at %s and was valid for %s.', to_timestamp(m[3]::bigint), ttl);
    END IF;
    RETURN m[2]::bigint;
END
$$;
COMMENT ON FUNCTION personalize._unsubscribe_verify(text, timestamptz) IS
'The send_id of a valid token; 22023 if malformed, 28000 if the signature fails, its key is retired or it expired';

CREATE FUNCTION personalize.unsubscribe(token text, as_of timestamptz DEFAULT now())
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
    profile bigint;
    src text;
BEGIN
    PERFORM personalize._check_as_of(as_of);
    id := personalize._unsubscribe_verify(token, as_of);
    src := 'unsubscribe: send ' || id;
    SELECT s.profile_id INTO profile FROM personalize.sends_all s WHERE s.send_id = id;
    -- a send or profile erased since: nothing left to unsubscribe
    IF profile IS NULL OR NOT EXISTS (SELECT FROM personalize.profiles p WHERE p.profile_id = profile) THEN
        RETURN false;
    END IF;
    PERFORM FROM personalize.profiles p WHERE p.profile_id = profile FOR UPDATE;
    IF EXISTS (SELECT FROM personalize.consent_log l WHERE l.profile_id = profile AND l.source = src) THEN
        RETURN false;
    END IF;
    PERFORM personalize.set_consent(profile, 'unsubscribed', NULL, NULL, src, as_of);
    RETURN true;
END
$$;
COMMENT ON FUNCTION personalize.unsubscribe(text, timestamptz) IS
'One-click unsubscribe (RFC 8058): verifies the token and sets e-mail consent to unsubscribed, the send as source; true if it changed anything';

-- A value percent-encoded for a URL query (RFC 3986 unreserved characters kept).
CREATE FUNCTION personalize._url_encode(value text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(string_agg(CASE WHEN ch ~ '^[A-Za-z0-9._~-]$' THEN ch
                                    ELSE upper(regexp_replace(encode(convert_to(ch, 'UTF8'), 'hex'), '(..)', '%\1', 'g')) END,
                               '' ORDER BY i), '')
      FROM regexp_split_to_table(value, '') WITH ORDINALITY AS t(ch, i)
$$;
COMMENT ON FUNCTION personalize._url_encode(text) IS 'Percent-encoding of a URL query value (UTF-8 bytes)';

CREATE FUNCTION personalize.utm_tag(html text, utm jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH q AS (
        SELECT string_agg('utm_' || k || '=' || personalize._url_encode(utm ->> k), '&amp;' ORDER BY o) AS query,
               array_agg('utm_' || k) AS names
          FROM unnest(ARRAY['source', 'medium', 'campaign', 'content', 'term']) WITH ORDINALITY u(k, o)
         WHERE jsonb_typeof(utm -> k) = 'string'
    ), links AS (
        SELECT i, m[1] AS prefix, left(m[2], 1) AS quote, substr(m[2], 2, length(m[2]) - 2) AS url
          FROM regexp_matches(html, '(\mhref\s*=\s*)("[^"]*"|''[^'']*'')', 'gi') WITH ORDINALITY AS x(m, i)
    ), tagged AS (
        SELECT l.i, l.prefix || l.quote ||
               CASE WHEN l.url !~* '^https?://' OR q.query IS NULL THEN l.url
                    WHEN EXISTS (SELECT FROM unnest(q.names) n WHERE split_part(l.url, '#', 1) ~ ('[?&;]' || n || '=')) THEN l.url
                    ELSE split_part(l.url, '#', 1)
                         || CASE WHEN split_part(l.url, '#', 1) !~ '\?' THEN '?'
                                 WHEN split_part(l.url, '#', 1) ~ '[?&;]$' THEN '' ELSE '&amp;' END
                         || q.query
                         || CASE WHEN strpos(l.url, '#') > 0 THEN substr(l.url, strpos(l.url, '#')) ELSE '' END
               END || l.quote AS link
          FROM links l, q
    ), pieces AS (
        SELECT p.piece, p.i FROM unnest(regexp_split_to_array(html, '\mhref\s*=\s*("[^"]*"|''[^'']*'')', 'i'))
                                 WITH ORDINALITY AS p(piece, i)
    )
    SELECT CASE WHEN html IS NULL OR utm IS NULL THEN html ELSE
           (SELECT string_agg(p.piece || coalesce(t.link, ''), '' ORDER BY p.i)
              FROM pieces p LEFT JOIN tagged t ON t.i = p.i) END
$$;
COMMENT ON FUNCTION personalize.utm_tag(text, jsonb) IS
'HTML with utm_source/medium/campaign/content/term (the string keys of utm) added to every http(s) href; '
'existing queries kept, fragments kept last, mailto:, anchors and links already tagged left alone';
