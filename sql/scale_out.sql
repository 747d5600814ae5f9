-- Scale-out invariants (docs/scale-out.md): what lets the schema be distributed by profile_id on
-- Citus, checked on one node. A profile-keyed table is any table of the extension with a
-- profile_id column (tables added later are checked too). The rules:
--   not_null     profile_id is NOT NULL (a distribution column holds no NULL);
--   unique       every primary key and unique index includes profile_id (Citus enforces
--                uniqueness per shard);
--   foreign_key  a foreign key between two profile-keyed tables goes through profile_id =
--                profile_id (colocated), and no other table references a profile-keyed one (a
--                reference or local table cannot reference a distributed one).
-- The exceptions are listed below, each with its reason. Any other violation fails the test, and
-- so does an exception that no longer applies.
CREATE EXTENSION personalize;

CREATE TEMP TABLE exceptions (tab name, rule text, reason text NOT NULL, PRIMARY KEY (tab, rule));
INSERT INTO exceptions VALUES
  ('identities', 'unique',
   'keyed by the identity, read before the profile is known: a reference table on Citus'),
  ('segment_log', 'unique',
   'must change before distribution: primary key (log_id) to (profile_id, log_id)'),
  ('sends', 'unique',
   'must change before distribution: primary key (send_id) to (profile_id, send_id); a caller''s idempotency key is already unique in send_keys, a campaign send''s derived from its run'),
  ('send_decisions', 'unique',
   'must change before distribution: primary key (decision_id) to (profile_id, decision_id)'),
  ('send_feedback', 'unique',
   'keyed by send_id like sends, and must change with it: primary key (send_id) to (profile_id, send_id)');

CREATE TEMP VIEW profile_keyed AS
SELECT c.oid, c.relname AS tab, a.attnum AS profile_col, a.attnotnull
  FROM pg_class c
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'profile_id' AND NOT a.attisdropped
 WHERE c.relnamespace = 'personalize'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition;

CREATE TEMP VIEW violations AS
SELECT k.tab, 'not_null' AS rule, 'profile_id is nullable' AS what
  FROM profile_keyed k WHERE NOT k.attnotnull
UNION ALL
SELECT k.tab, 'unique', pg_get_indexdef(i.indexrelid)
  FROM profile_keyed k JOIN pg_index i ON i.indrelid = k.oid
 WHERE i.indisunique AND NOT k.profile_col = ANY (i.indkey::int2[])
UNION ALL
SELECT (SELECT r.relname FROM pg_class r WHERE r.oid = c.conrelid), 'foreign_key', pg_get_constraintdef(c.oid)
  FROM pg_constraint c
  JOIN profile_keyed target ON target.oid = c.confrelid
  LEFT JOIN profile_keyed source ON source.oid = c.conrelid
 WHERE c.contype = 'f'
   AND (source.oid IS NULL
        OR NOT EXISTS (SELECT FROM unnest(c.conkey, c.confkey) AS p(from_col, to_col)
                        WHERE p.from_col = source.profile_col AND p.to_col = target.profile_col));

-- The checker finds what it must: a table without a NOT NULL profile_id and with a unique key
-- without it, a reference to it by id, and one from a table without profile_id.
BEGIN;
CREATE TABLE personalize.regress_bad (id bigint PRIMARY KEY, profile_id bigint);
CREATE TABLE personalize.regress_bad_child (profile_id bigint NOT NULL, bad_id bigint REFERENCES personalize.regress_bad (id),
                                           PRIMARY KEY (profile_id, bad_id));
CREATE TABLE personalize.regress_good (profile_id bigint NOT NULL, k text, PRIMARY KEY (profile_id, k),
                                      FOREIGN KEY (profile_id) REFERENCES personalize.profiles (profile_id));
CREATE TABLE personalize.regress_unkeyed (p bigint, k text, FOREIGN KEY (p, k) REFERENCES personalize.regress_good (profile_id, k));
SELECT tab, rule FROM violations WHERE tab ~ 'regress_' ORDER BY 1, 2;
ROLLBACK;

-- How many profile-keyed tables there are (a floor: tables are added, rarely removed).
SELECT count(*) >= 9 AS profile_keyed_tables_checked FROM profile_keyed;

-- Violations that are not listed exceptions: none.
SELECT v.tab, v.rule, v.what
  FROM violations v LEFT JOIN exceptions e ON e.tab = v.tab AND e.rule = v.rule
 WHERE e.tab IS NULL ORDER BY 1, 2, 3;

-- Listed exceptions that no longer apply: none.
SELECT e.tab, e.rule FROM exceptions e
 WHERE NOT EXISTS (SELECT FROM violations v WHERE v.tab = e.tab AND v.rule = e.rule) ORDER BY 1, 2;

DROP EXTENSION personalize;
