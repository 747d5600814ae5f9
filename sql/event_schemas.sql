-- Event schemas: definitions are checked when saved; properties are validated on ingest.
CREATE EXTENSION personalize;
\set VERBOSITY terse
SELECT personalize.maintain('2026-03-15', 1, 2);

-- the built-in schemas
SELECT event, schema IS NOT NULL AS has_schema FROM personalize.event_schemas ORDER BY event;

-- a schema using every supported keyword
INSERT INTO personalize.event_schemas (event, schema) VALUES ('Signup', '{
  "type": "object",
  "required": ["plan", "email"],
  "additionalProperties": false,
  "properties": {
    "plan":    {"type": "string", "enum": ["free", "pro"]},
    "email":   {"type": "string", "format": "email"},
    "seats":   {"type": "integer", "minimum": 1, "maximum": 500},
    "code":    {"type": ["string", "null"], "minLength": 3, "maxLength": 8},
    "at":      {"type": "string", "format": "date-time"},
    "tags":    {"type": "array", "items": {"type": "string"}},
    "address": {"type": "object", "properties": {"zip": {"type": "string", "minLength": 5}}}
  }}');

-- malformed schemas are refused with the path of the bad node (SQLSTATE 22023)
INSERT INTO personalize.event_schemas VALUES ('Bad', '{"type": "strnig"}');
INSERT INTO personalize.event_schemas VALUES ('Bad', '{"properties": {"a": {"minimum": "1"}}}');
INSERT INTO personalize.event_schemas VALUES ('Bad', '{"properties": {"a": {"pattern": "^x"}}}');
INSERT INTO personalize.event_schemas VALUES ('Bad', '{"required": "a"}');
INSERT INTO personalize.event_schemas VALUES ('Bad', '{"format": "uri"}');
INSERT INTO personalize.event_schemas VALUES ('Bad', '{"minLength": -1}');
-- lengths are integers that fit: a schema fuzz finding, 1e30 was accepted and then failed every ingest with 22003
INSERT INTO personalize.event_schemas VALUES ('Bad', '{"properties": {"a": {"minLength": 1e30}}}');
INSERT INTO personalize.event_schemas VALUES ('Bad', '{"maxLength": 2.5}');
INSERT INTO personalize.event_schemas VALUES ('Fits', '{"properties": {"a": {"maxLength": 2147483647}}}');
INSERT INTO personalize.event_schemas VALUES ('Bad', '{"maxLength": 2147483648}');
INSERT INTO personalize.event_schemas VALUES ('Bad', '[1, 2]');
INSERT INTO personalize.event_schemas VALUES ('Bad', '{"items": 5}');
INSERT INTO personalize.event_schemas VALUES ('', NULL);
INSERT INTO personalize.event_schemas (event, schema)
SELECT 'Deep', (repeat('{"items": ', 40) || '{}' || repeat('}', 40))::jsonb;

-- each row below breaks one rule; the quarantine names the path and what was expected
CREATE TEMP TABLE cases (n int, props jsonb);
INSERT INTO cases VALUES
  (1, '{"plan": "pro", "email": "a@b.co", "seats": 3, "code": null, "at": "2026-02-03T04:05:06.5+01:00",
        "tags": ["x"], "address": {"zip": "12345"}}'),
  (2, '{"plan": "gold", "email": "a@b.co"}'),
  (3, '{"plan": "pro"}'),
  (4, '{"plan": "pro", "email": "not-an-address"}'),
  (5, '{"plan": "pro", "email": "a@b.co", "seats": 2.5}'),
  (6, '{"plan": "pro", "email": "a@b.co", "seats": 0}'),
  (7, '{"plan": "pro", "email": "a@b.co", "seats": 501}'),
  (8, '{"plan": "pro", "email": "a@b.co", "code": "ab"}'),
  (9, '{"plan": "pro", "email": "a@b.co", "code": "abcdefghi"}'),
  (10, '{"plan": "pro", "email": "a@b.co", "at": "2026-02-30T00:00:00Z"}'),
  (11, '{"plan": "pro", "email": "a@b.co", "tags": ["x", 1]}'),
  (12, '{"plan": "pro", "email": "a@b.co", "address": {"zip": "1"}}'),
  (13, '{"plan": "pro", "email": "a@b.co", "referrer": "x"}'),
  (14, '{"plan": "pro", "email": "a@b.co", "seats": 2.0, "code": "ÅÄÖ"}');
INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id)
SELECT 'u' || n, 'Signup', props, '2026-03-01', 'm' || n FROM cases;
SELECT * FROM personalize.last_ingest();
SELECT payload ->> 'message_id' AS msg, path, expected
  FROM personalize.rejected_events ORDER BY (payload ->> 'message_id')::text COLLATE "C";
SELECT message_id FROM personalize.events ORDER BY 1;

-- with on_invalid_event = 'error' the statement fails with SQLSTATE 23514 naming the path
SET personalize.on_invalid_event = 'error';
\set VERBOSITY default
INSERT INTO personalize.events (user_id, event, properties, occurred_at)
VALUES ('u1', 'Signup', '{"plan": "pro", "email": "a@b.co", "seats": "3"}', '2026-03-01');
\set VERBOSITY terse
DO $$
BEGIN
    PERFORM personalize.track('u1', 'Signup', '{"plan": "pro"}', '2026-03-01');
EXCEPTION WHEN check_violation THEN
    RAISE NOTICE 'sqlstate %: %', SQLSTATE, SQLERRM;
END $$;
RESET personalize.on_invalid_event;

-- schema changes take effect at once (each backend's cache is invalidated)
UPDATE personalize.event_schemas SET schema = '{"properties": {"seats": {"type": "integer"}}}' WHERE event = 'Signup';
SELECT personalize.track('u1', 'Signup', '{"seats": 4}', '2026-03-02');
DELETE FROM personalize.event_schemas WHERE event = 'Signup';
SELECT personalize.track('u1', 'Signup', '{"seats": "many"}', '2026-03-03');

-- strict_events: unknown names are quarantined
SET personalize.strict_events = on;
SELECT personalize.track('u1', 'Signup', '{}', '2026-03-04');
SELECT personalize.track('u1', 'Product Viewed', '{}', '2026-03-04');
RESET personalize.strict_events;
SELECT path, expected FROM personalize.rejected_events ORDER BY rejected_id DESC LIMIT 1;

DROP EXTENSION personalize;
