-- Privileges: writers ingest, analysts read, nobody else gets anything.
CREATE EXTENSION personalize;
\set VERBOSITY terse
SELECT rolname FROM pg_roles WHERE rolname LIKE 'personalize\_%' ORDER BY 1;
CREATE ROLE regress_writer IN ROLE personalize_writer;
CREATE ROLE regress_analyst IN ROLE personalize_analyst;
CREATE ROLE regress_nobody;
SELECT personalize.maintain('2026-02-15', 1, 1);

SET ROLE regress_writer;
SELECT personalize.track('w1', 'Product Viewed', '{}', '2026-02-01', 'r1');
COPY personalize.events (user_id, event, properties, occurred_at, message_id) FROM stdin;
w2	Product Viewed	{}	2026-02-01	r2
w2	Product Viewed	{}	2026-02-01	r2
w2	Product Viewed	[]	2026-02-01	r3
\.
SELECT * FROM personalize.last_ingest();
SELECT personalize.identify('w3', '{"email": "w3@example.com"}') AS w3 \gset
SELECT count(*) FROM personalize.profiles;
DELETE FROM personalize.events;
SELECT personalize.forget(1);
RESET ROLE;

SET ROLE regress_analyst;
SELECT profile_id = :w3 AS identify_returned_w3 FROM personalize.profiles WHERE user_id = 'w3';
SELECT count(*) AS events FROM personalize.events;
SELECT count(*) AS rejected FROM personalize.rejected_events;
SELECT personalize.email_hash('w3@example.com') = email_hash FROM personalize.profiles WHERE user_id = 'w3';
SELECT personalize.track('a1', 'Product Viewed');
INSERT INTO personalize.events (user_id, event, occurred_at) VALUES ('a1', 'x', now());
SELECT personalize.export_profile(1);
RESET ROLE;

SET ROLE regress_nobody;
SELECT count(*) FROM personalize.profiles;
SELECT personalize.email_hash('a@b.c');
SELECT personalize.track('n1', 'Product Viewed');
RESET ROLE;

-- nothing in the schema is granted to PUBLIC
SELECT count(*) AS public_grants
  FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
 WHERE c.relnamespace = 'personalize'::regnamespace AND a.grantee = 0;
SELECT count(*) AS public_function_grants
  FROM pg_proc p CROSS JOIN LATERAL aclexplode(p.proacl) a
 WHERE p.pronamespace = 'personalize'::regnamespace AND a.grantee = 0;
-- every SQL-language and PL/pgSQL function pins search_path
SELECT proname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
 WHERE p.pronamespace = 'personalize'::regnamespace AND l.lanname IN ('sql', 'plpgsql')
   AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%');

DROP EXTENSION personalize;
DROP ROLE regress_writer, regress_analyst, regress_nobody;
