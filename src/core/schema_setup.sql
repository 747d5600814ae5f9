-- The schema itself and the helpers every module uses (src/personalize.c).

-- CREATE EXTENSION adopts a schema named personalize that already exists. Whoever could create
-- objects in it before the install could plant an overload or an operator that the owner's
-- SECURITY DEFINER functions would call, so the install refuses a schema it did not just create:
-- one owned by a non-superuser, holding any object, or where another role may create objects.
DO $$
DECLARE
    nsp pg_catalog.pg_namespace;
BEGIN
    SELECT * INTO nsp FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) 'personalize';
    IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) nsp.nspowner)
       OR EXISTS (SELECT FROM pg_catalog.pg_depend d
                   WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
                     AND d.refobjid OPERATOR(pg_catalog.=) nsp.oid
                     AND d.classid OPERATOR(pg_catalog.<>) 'pg_catalog.pg_extension'::pg_catalog.regclass)
       OR EXISTS (SELECT FROM pg_catalog.aclexplode(nsp.nspacl) a
                   WHERE a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
                     AND a.grantee OPERATOR(pg_catalog.<>) nsp.nspowner) THEN
        RAISE EXCEPTION 'schema "personalize" already exists and is not safe to install into'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.format('It is owned by %s, holds objects, or lets other roles create objects in it.',
                                             nsp.nspowner::pg_catalog.regrole),
                  HINT = 'Drop the schema (after checking what it holds) and run CREATE EXTENSION again: it creates the schema itself.';
    END IF;
END
$$;

REVOKE ALL ON SCHEMA personalize FROM PUBLIC;

CREATE FUNCTION personalize._invalidate(rel regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'personalize_invalidate'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION personalize._invalidate(regclass) IS
'Tells every backend to drop the caches it built on this relation (at commit)';
