-- Partition upkeep: maintain() creates monthly partitions and moves waiting rows out of default.
CREATE EXTENSION personalize;
\set VERBOSITY terse
SET timezone = 'UTC';
SELECT personalize.track('u', 'Email Opened', '{}', '2026-05-10', 'x1');
SELECT personalize.track('u', 'Email Opened', '{}', '2026-06-30 23:59:59.999999+00', 'x2');
SELECT personalize.track('u', 'Email Opened', '{}', '2026-07-01 00:00:00+00', 'x3');
SELECT tableoid::regclass, count(*) FROM personalize.events GROUP BY 1;
SELECT personalize.maintain('2026-06-15 12:00+00', months_ahead => 1, months_back => 1) AS created;
SELECT personalize.maintain('2026-06-15 12:00+00', months_ahead => 1, months_back => 1) AS created_again;
SELECT tableoid::regclass, message_id FROM personalize.events ORDER BY message_id;
SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'personalize.events'::regclass ORDER BY 1;
-- new partitions carry the triggers: validation and dedup still apply
SELECT personalize.track('u', 'Email Opened', '{}', '2026-06-02', 'x1');
SELECT personalize.track('u', 'Email Opened', '[]', '2026-06-02', 'x4');
SELECT personalize.track('u', 'Email Opened', '{}', '2026-06-02', 'x5');
SELECT tableoid::regclass, message_id FROM personalize.events WHERE message_id IN ('x4', 'x5');
SELECT personalize.maintain(NULL);
SELECT personalize.maintain('infinity');
SELECT personalize.maintain('2026-01-01', -1);
SELECT personalize.maintain('2026-01-01', 121);
DROP EXTENSION personalize;
