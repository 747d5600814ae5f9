-- The schema itself and the helpers every module uses (src/personalize.c).

REVOKE ALL ON SCHEMA personalize FROM PUBLIC;

CREATE FUNCTION personalize._invalidate(rel regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'personalize_invalidate'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION personalize._invalidate(regclass) IS
'Tells every backend to drop the caches it built on this relation (at commit)';
