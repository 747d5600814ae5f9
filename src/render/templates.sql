-- Stored e-mail templates (subject, HTML and text bodies, each a Liquid template; also the partials
-- of render/include) and render_email(), which renders one for a profile.

CREATE TABLE personalize.templates (
    name        text PRIMARY KEY CHECK (name <> ''),
    subject     text,
    html_body   text,
    text_body   text,
    version     integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp(),
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp()
);
COMMENT ON TABLE personalize.templates IS
'E-mail templates and partials; every part is a Liquid template, checked on insert and update';

-- Refuses a template that does not parse; an update of a part bumps the version.
CREATE FUNCTION personalize._templates_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM personalize._liquid_check(NEW.subject, format('subject of template %s', NEW.name)),
            personalize._liquid_check(NEW.html_body, format('html_body of template %s', NEW.name)),
            personalize._liquid_check(NEW.text_body, format('text_body of template %s', NEW.name));
    IF TG_OP = 'UPDATE' THEN
        NEW.created_at := OLD.created_at;
        IF (NEW.subject, NEW.html_body, NEW.text_body) IS DISTINCT FROM (OLD.subject, OLD.html_body, OLD.text_body)
           AND NEW.version = OLD.version THEN
            NEW.version := OLD.version + 1;
            NEW.updated_at := statement_timestamp();
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION personalize._templates_check() IS
'Trigger: refuses a template part that does not parse (42601, naming the part); bumps version on a change';
CREATE TRIGGER templates_check BEFORE INSERT OR UPDATE ON personalize.templates
    FOR EACH ROW EXECUTE FUNCTION personalize._templates_check();

SELECT pg_catalog.pg_extension_config_dump('personalize.templates', '');

-- The stored template named name, or an error saying it does not exist.
CREATE FUNCTION personalize._email_template(name text)
RETURNS personalize.templates
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t personalize.templates;
BEGIN
    SELECT * INTO t FROM personalize.templates x WHERE x.name = _email_template.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'template "%" does not exist', _email_template.name USING ERRCODE = 'undefined_object',
            HINT = 'Templates are rows of personalize.templates.';
    END IF;
    RETURN t;
END
$$;
COMMENT ON FUNCTION personalize._email_template(text) IS
'The stored template of that name; undefined_object (42704) if there is none';

CREATE FUNCTION personalize.render_email(template_name text, profile_id bigint, extra jsonb DEFAULT '{}',
                                         as_of timestamptz DEFAULT now(), strict boolean DEFAULT false,
                                         OUT subject text, OUT html text, OUT text text)
RETURNS record
AS 'MODULE_PATHNAME', 'personalize_render_email'
LANGUAGE C STABLE;
COMMENT ON FUNCTION personalize.render_email(text, bigint, jsonb, timestamptz, boolean) IS
'Subject, HTML body (every {{ }} HTML-escaped unless its last filter is raw) and text body of a stored '
'template for a profile: context(profile_id, as_of) with the keys of extra on top';

CREATE FUNCTION personalize.render_emails(template_name text, profile_ids bigint[], extras jsonb[] DEFAULT NULL,
                                          as_of timestamptz DEFAULT now(), strict boolean DEFAULT false)
RETURNS TABLE (ord integer, profile_id bigint, subject text, html text, text text, error text)
AS 'MODULE_PATHNAME', 'personalize_render_emails'
LANGUAGE C STABLE;
COMMENT ON FUNCTION personalize.render_emails(text, bigint[], jsonb[], timestamptz, boolean) IS
'render_email() for a batch: a row per position ord (1-based) of profile_ids, extras[ord] on top of its context; '
'the template compiled and each partial read once; a failed row has NULL parts and error ''SQLSTATE: message''';
