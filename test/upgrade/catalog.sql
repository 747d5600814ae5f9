-- A text description of everything the extension owns, for comparing an updated install with a
-- fresh one (test/suites/upgrade). One line per object or per detail of an object.
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'personalize'),
members AS (
  SELECT d.classid, d.objid
  FROM pg_depend d, ext
  WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
),
rels AS (
  SELECT c.oid, c.relname FROM pg_class c
  WHERE c.relnamespace = 'personalize'::regnamespace
)
SELECT 'member ' || pg_describe_object(classid, objid, 0) FROM members
UNION ALL
SELECT format('function %s(%s) returns %s lang=%s vol=%s par=%s strict=%s secdef=%s leak=%s cost=%s rows=%s config=%s acl=%s body=%s bin=%s',
              p.proname, pg_get_function_identity_arguments(p.oid), pg_get_function_result(p.oid),
              l.lanname, p.provolatile, p.proparallel, p.proisstrict, p.prosecdef, p.proleakproof,
              p.procost, p.prorows, p.proconfig, p.proacl, md5(p.prosrc), p.probin)
FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
WHERE p.pronamespace = 'personalize'::regnamespace
UNION ALL
SELECT format('function %s(%s) default %s', p.proname, pg_get_function_identity_arguments(p.oid),
              pg_get_expr(p.proargdefaults, 0))
FROM pg_proc p WHERE p.pronamespace = 'personalize'::regnamespace AND p.proargdefaults IS NOT NULL
UNION ALL
SELECT format('aggregate %s: %s', a.aggfnoid::regprocedure,
              row(a.aggkind, a.aggnumdirectargs, a.aggtransfn::regproc, a.aggfinalfn::regproc,
                  a.aggcombinefn::regproc, a.aggserialfn::regproc, a.aggdeserialfn::regproc,
                  a.aggfinalextra, a.aggfinalmodify, a.aggsortop, a.aggtranstype::regtype,
                  a.aggtransspace, a.agginitval))
FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
WHERE p.pronamespace = 'personalize'::regnamespace
UNION ALL
SELECT format('relation %s kind=%s persistence=%s options=%s acl=%s partbound=%s',
              c.relname, c.relkind, c.relpersistence, c.reloptions, c.relacl,
              pg_get_expr(c.relpartbound, c.oid))
FROM pg_class c WHERE c.relnamespace = 'personalize'::regnamespace
UNION ALL
SELECT format('column %s.%s %s notnull=%s default=%s generated=%s identity=%s collation=%s acl=%s',
              r.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
              pg_get_expr(ad.adbin, ad.adrelid), a.attgenerated, a.attidentity,
              a.attcollation::regcollation, a.attacl)
FROM rels r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
UNION ALL
SELECT 'index ' || pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN rels r ON r.oid = i.indrelid
UNION ALL
SELECT format('constraint %s on %s: %s', co.conname, r.relname, pg_get_constraintdef(co.oid))
FROM pg_constraint co JOIN rels r ON r.oid = co.conrelid
UNION ALL
SELECT format('trigger %s', pg_get_triggerdef(t.oid)) FROM pg_trigger t JOIN rels r ON r.oid = t.tgrelid
WHERE NOT t.tgisinternal
UNION ALL
SELECT format('view %s: %s', r.relname, md5(pg_get_viewdef(r.oid)))
FROM rels r JOIN pg_class c ON c.oid = r.oid WHERE c.relkind IN ('v', 'm')
UNION ALL
SELECT format('policy %s on %s: %s %s %s', po.polname, r.relname, po.polcmd,
              pg_get_expr(po.polqual, po.polrelid), pg_get_expr(po.polwithcheck, po.polrelid))
FROM pg_policy po JOIN rels r ON r.oid = po.polrelid
UNION ALL
SELECT format('type %s: %s acl=%s', t.typname, row(t.typtype, t.typlen, t.typbyval, t.typcategory,
              t.typinput::regproc, t.typoutput::regproc, t.typreceive::regproc, t.typsend::regproc,
              t.typalign, t.typstorage), t.typacl)
FROM pg_type t WHERE t.typnamespace = 'personalize'::regnamespace AND t.typrelid = 0
UNION ALL
SELECT format('enum %s: %s', e.enumtypid::regtype, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder))
FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid
WHERE t.typnamespace = 'personalize'::regnamespace GROUP BY e.enumtypid
UNION ALL
SELECT format('operator %s', o.oid::regoperator) FROM pg_operator o
WHERE o.oprnamespace = 'personalize'::regnamespace
UNION ALL
SELECT format('schema personalize owner-is-bootstrap=%s acl=%s', n.nspowner = 10, n.nspacl)
FROM pg_namespace n WHERE n.nspname = 'personalize'
UNION ALL
SELECT format('pg_dump keeps %s %s', x.rel::regclass, x.cond)
FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS x(rel, cond) WHERE e.extname = 'personalize'
ORDER BY 1;
