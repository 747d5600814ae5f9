-- Event schemas: a JSON Schema subset per event name, checked in C (src/ingest/schema_core.c, through the adapter src/ingest/schema.c).

CREATE FUNCTION personalize._check_event_schema(schema jsonb)
RETURNS boolean
AS 'MODULE_PATHNAME', 'personalize_check_event_schema'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TABLE personalize.event_schemas (
    event       text PRIMARY KEY CHECK (event <> '' AND pg_catalog.octet_length(event) <= 200),
    schema      jsonb CHECK (personalize._check_event_schema(schema)),
    description text,
    builtin     boolean NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp()
);
COMMENT ON TABLE personalize.event_schemas IS
'Known event names; schema (NULL: any properties) validates properties on ingest';

-- Every backend caches the schemas; a change tells them all to reload at commit.
CREATE FUNCTION personalize._event_schemas_changed()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM personalize._invalidate('personalize.event_schemas'::regclass);
    RETURN NULL;
END
$$;
CREATE TRIGGER event_schemas_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON personalize.event_schemas
    FOR EACH STATEMENT EXECUTE FUNCTION personalize._event_schemas_changed();

INSERT INTO personalize.event_schemas (event, schema, description, builtin) VALUES
  ('Product Viewed', '{"type": "object", "properties": {"product_id": {"type": ["string", "integer"]},
     "price": {"type": "number", "minimum": 0}, "category": {"type": "string"}}}',
   'A product page was viewed', true),
  ('Product Added', '{"type": "object", "required": ["product_id"], "properties": {
     "product_id": {"type": ["string", "integer"]}, "price": {"type": "number", "minimum": 0},
     "quantity": {"type": "integer", "minimum": 1}, "category": {"type": "string"}}}',
   'A product was added to the cart', true),
  ('Checkout Started', '{"type": "object", "properties": {"total": {"type": "number", "minimum": 0}}}',
   'Checkout began', true),
  ('Order Completed', '{"type": "object", "required": ["order_id"], "properties": {
     "order_id": {"type": ["string", "integer"]}, "revenue": {"type": "number", "minimum": 0},
     "total": {"type": "number", "minimum": 0}, "products": {"type": "array"}}}',
   'An order was placed', true),
  ('Email Opened', '{"type": "object", "properties": {"campaign_id": {"type": ["string", "integer"]}}}',
   'A marketing e-mail was opened', true),
  ('Email Clicked', '{"type": "object", "properties": {"url": {"type": "string"}}}',
   'A link in a marketing e-mail was clicked', true),
  ('Subscribed', NULL, 'The customer opted in to marketing e-mail', true),
  ('Unsubscribed', NULL, 'The customer opted out of marketing e-mail', true),
  ('Email Marked as Spam', NULL, 'The customer reported an e-mail as spam (treated as an opt-out)', true);

-- pg_dump keeps the rows users add; the built-in rows come back with CREATE EXTENSION.
SELECT pg_catalog.pg_extension_config_dump('personalize.event_schemas', 'WHERE NOT builtin');
