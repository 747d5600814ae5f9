-- Security: each path from a personalize role to the owner's rights, tried as that role, must fail;
-- writers cannot lose stored events; policy settings are the superuser's (docs/security.md).
\set VERBOSITY terse
CREATE ROLE regress_planter;
-- DROP EXTENSION leaves the (empty) schema behind; run alone there is none: no NOTICE either way
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS personalize;
RESET client_min_messages;
DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO regress_planter', current_database()); END $$;

-- Path 4: a role with CREATE on the database pre-creates the schema with an overload that the
-- owner's alias() would call. The install refuses any schema it did not create itself.
SET ROLE regress_planter;
CREATE SCHEMA personalize;
CREATE FUNCTION personalize.identify(text, text, text, timestamptz) RETURNS bigint
    LANGUAGE sql AS 'SELECT 0::bigint';
RESET ROLE;
CREATE EXTENSION personalize;
SET ROLE regress_planter;
DROP FUNCTION personalize.identify(text, text, text, timestamptz);
RESET ROLE;
CREATE EXTENSION personalize;                 -- empty, but owned by the planter
DROP SCHEMA personalize;
CREATE SCHEMA personalize;
GRANT CREATE ON SCHEMA personalize TO regress_planter;
CREATE EXTENSION personalize;                 -- a superuser's, but others may create in it
DROP SCHEMA personalize;
CREATE SCHEMA personalize;
CREATE TABLE personalize.planted (x int);
CREATE EXTENSION personalize;                 -- a superuser's, holding an object
DROP SCHEMA personalize CASCADE;
CREATE EXTENSION personalize;
CREATE ROLE regress_admin IN ROLE personalize_admin;
CREATE ROLE regress_writer IN ROLE personalize_writer;
CREATE ROLE regress_analyst IN ROLE personalize_analyst;
SELECT personalize.maintain('2026-02-15', 1, 1);

-- Internal calls are typed: an overload that an untyped literal would prefer (even one only a
-- superuser could add now) is never called by alias().
CREATE FUNCTION personalize.identify(text, text, text, timestamptz) RETURNS bigint
    LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'planted overload called'; END $$;
SET ROLE regress_writer;
SELECT personalize.alias('anon-1', 'typed-1', '2026-02-01') > 0 AS aliased;
RESET ROLE;
DROP FUNCTION personalize.identify(text, text, text, timestamptz);

-- Path 3: an admin cannot create a trigger that the owner's functions would fire, nor truncate
-- or reference the extension's tables.
SET ROLE regress_admin;
CREATE FUNCTION pg_temp.evil() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER evil BEFORE UPDATE ON personalize.profiles FOR EACH ROW EXECUTE FUNCTION pg_temp.evil();
TRUNCATE personalize.events;
DROP FUNCTION pg_temp.evil();
RESET ROLE;
-- no role holds TRIGGER, TRUNCATE or REFERENCES on anything of the extension
SELECT count(*) AS forbidden_grants
  FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
 WHERE c.relnamespace = 'personalize'::regnamespace AND a.privilege_type IN ('TRIGGER', 'TRUNCATE', 'REFERENCES')
   AND a.grantee <> c.relowner;
-- internal functions: only those that run in the caller's own context are granted, and to whom
SELECT p.proname, array_agg(DISTINCT a.grantee::regrole::text ORDER BY a.grantee::regrole::text) AS roles
  FROM pg_proc p CROSS JOIN LATERAL aclexplode(p.proacl) a
 WHERE p.pronamespace = 'personalize'::regnamespace AND p.proname LIKE '\_%' AND a.grantee <> p.proowner
 GROUP BY 1 ORDER BY 1;
-- every SECURITY DEFINER function pins search_path
SELECT p.proname FROM pg_proc p
 WHERE p.pronamespace = 'personalize'::regnamespace AND p.prosecdef
   AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=pg\_catalog, pg\_temp%');

-- A writer cannot forge last_ingest() nor call the pipeline's steps.
SET ROLE regress_writer;
SELECT personalize.track('w1', 'Product Viewed', '{}', '2026-02-01', 'k1');
SELECT personalize._ingest_end(1000, 0, false);
SELECT * FROM personalize.last_ingest();
-- what is granted to writers works for them
SELECT personalize.resolve_identity('user_id', 'w1') = personalize.identify('w1') AS resolves;
RESET ROLE;

-- Policy settings: only a superuser sets them; personalize.clock refuses bad values at SET time.
SET ROLE regress_writer;
SET personalize.clock = '2020-01-01 00:00+00';
SET personalize.strict_events = off;
SET personalize.on_invalid_event = 'error';
SET personalize.max_event_bytes = '1GB';
SET personalize.liquid_max_iterations = 2000000000;
SET personalize.liquid_max_output = '1GB';
RESET ROLE;
SET personalize.clock = 'garbage';
SET personalize.clock = 'infinity';
SET personalize.clock = '0001-12-31 23:59+00 BC';
SET personalize.clock = '10000-01-01 00:00+00';
SET personalize.clock = '2026-02-03 04:05+00';
SELECT personalize._clock() = '2026-02-03 04:05+00' AS clock_set;
RESET personalize.clock;
SELECT name FROM pg_settings WHERE name LIKE 'personalize.%' AND context <> 'superuser' ORDER BY 1;
-- a value a writer set before the module was loaded (a new session) is discarded when it loads
\c -
SET ROLE regress_writer;
SET personalize.clock = '2020-01-01 00:00+00';
SELECT personalize.track('w1', 'Product Viewed', '{}', '2026-02-01', 'k0');
SHOW personalize.clock;
RESET ROLE;
\set VERBOSITY terse

-- Data loss: callers never choose event_id. A writer cannot name it; an admin who copies stored
-- rows back (with their event_ids) or supplies another profile's event_id and occurred_at gets
-- duplicates dropped, and the stored events stay.
SET ROLE regress_writer;
SELECT personalize.track('victim', 'Order Completed', '{"order_id": "o1", "total": 5}', '2026-02-02', 'v1');
INSERT INTO personalize.events (event_id, user_id, event, occurred_at, message_id)
VALUES (1, 'w1', 'Product Viewed', '2026-02-02', 'k2');
RESET ROLE;
CREATE TEMP TABLE stored AS SELECT * FROM personalize.events;
GRANT SELECT ON stored TO regress_admin;
SET ROLE regress_admin;
INSERT INTO personalize.events SELECT * FROM stored;
SELECT * FROM personalize.last_ingest();
INSERT INTO personalize.events (profile_id, event_id, occurred_at, user_id, event, message_id, received_at)
SELECT s.profile_id, s.event_id, s.occurred_at, 'attacker', 'Product Viewed', 'v1', '2000-01-01'
  FROM stored s WHERE s.message_id = 'v1';
RESET ROLE;
SELECT e.message_id, e.event_id = s.event_id AS same_event, e.received_at = s.received_at AS same_arrival
  FROM personalize.events e FULL JOIN stored s USING (message_id) ORDER BY 1;
DROP TABLE stored;

-- alias() of another user's id names no consent in its error.
SELECT personalize.set_consent(personalize.identify('victim'), 'unsubscribed', as_of => '2026-02-01');
SELECT personalize.set_consent(personalize.identify('probe'), 'subscribed', as_of => '2026-02-01');
SET ROLE regress_writer;
\set VERBOSITY default
SELECT personalize.alias('victim', 'probe', '2026-02-03');
\set VERBOSITY terse
RESET ROLE;

-- forget() erases the keys of the erased events: the same message sent again is a new event.
SELECT personalize.forget(personalize.identify('victim'), '2026-02-04');
SELECT count(*) AS keys_left FROM personalize.event_keys WHERE message_id = 'v1';
SET ROLE regress_writer;
SELECT personalize.track('victim', 'Order Completed', '{"order_id": "o1", "total": 5}', '2026-02-02', 'v1');
RESET ROLE;

DROP EXTENSION personalize;
DO $$ BEGIN EXECUTE format('REVOKE CREATE ON DATABASE %I FROM regress_planter', current_database()); END $$;
DROP ROLE regress_planter, regress_admin, regress_writer, regress_analyst;
