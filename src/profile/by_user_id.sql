-- The user_id forms of the profile-taking functions: each resolves a user_id with profile_of()
-- and calls the profile_id form, whose rights and errors it keeps. A quoted literal
-- ('ann') picks these forms and an integer (42) the profile_id ones; a profile_id written as
-- a quoted string ('42') is read as a user_id.

-- The profile of a user_id; no_data_found (P0002), as for an unknown profile_id, if none.
-- SECURITY DEFINER: the caller learns a profile number, not what identities hold.
CREATE FUNCTION personalize.profile_of(user_id text)
RETURNS bigint
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pid bigint := personalize.resolve_identity('user_id'::text, profile_of.user_id);
BEGIN
    IF pid IS NULL THEN
        RAISE EXCEPTION 'no profile has user_id "%"', left(profile_of.user_id, 255) USING ERRCODE = 'no_data_found',
            HINT = 'identify() or an event creates the profile of a user_id.';
    END IF;
    RETURN pid;
END
$$;
COMMENT ON FUNCTION personalize.profile_of(text) IS
'The profile_id a user_id resolves to; P0002 if none (the user_id forms of profile functions use it)';

CREATE FUNCTION personalize.render_email(template_name text, user_id text, extra jsonb DEFAULT '{}',
                                         as_of timestamptz DEFAULT now(), strict boolean DEFAULT false,
                                         OUT subject text, OUT html text, OUT text text)
RETURNS record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM personalize.render_email($1, personalize.profile_of($2), $3, $4, $5) $$;
COMMENT ON FUNCTION personalize.render_email(text, text, jsonb, timestamptz, boolean) IS
'render_email for the profile of a user_id';

CREATE FUNCTION personalize.context(user_id text, as_of timestamptz DEFAULT now())
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT personalize.context(personalize.profile_of($1), $2) $$;
COMMENT ON FUNCTION personalize.context(text, timestamptz) IS 'context for the profile of a user_id';

CREATE FUNCTION personalize.set_consent(user_id text, email_consent text DEFAULT NULL,
                                        lawful_basis text DEFAULT NULL, do_not_sell boolean DEFAULT NULL,
                                        source text DEFAULT 'api', as_of timestamptz DEFAULT now())
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$ SELECT personalize.set_consent(personalize.profile_of($1), $2, $3, $4, $5, $6) $$;
COMMENT ON FUNCTION personalize.set_consent(text, text, text, boolean, text, timestamptz) IS
'set_consent for the profile of a user_id';

CREATE FUNCTION personalize.segments_of(user_id text)
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT personalize.segments_of(personalize.profile_of($1)) $$;
COMMENT ON FUNCTION personalize.segments_of(text) IS 'segments_of the profile of a user_id';

CREATE FUNCTION personalize.in_segment(name text, user_id text)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT personalize.in_segment($1, personalize.profile_of($2)) $$;
COMMENT ON FUNCTION personalize.in_segment(text, text) IS 'in_segment for the profile of a user_id';

CREATE FUNCTION personalize.engagement_score(user_id text, as_of timestamptz DEFAULT now())
RETURNS float8
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT personalize.engagement_score(personalize.profile_of($1), $2) $$;
COMMENT ON FUNCTION personalize.engagement_score(text, timestamptz) IS
'engagement_score of the profile of a user_id';

CREATE FUNCTION personalize.export_profile(user_id text)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT personalize.export_profile(personalize.profile_of($1)) $$;
COMMENT ON FUNCTION personalize.export_profile(text) IS 'export_profile of the profile of a user_id';

CREATE FUNCTION personalize.forget(user_id text, as_of timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$ SELECT personalize.forget(personalize.profile_of($1), $2) $$;
COMMENT ON FUNCTION personalize.forget(text, timestamptz) IS 'forget the profile of a user_id';

-- Each form goes to the roles of its profile_id form (src/core/roles.sql).
REVOKE ALL ON FUNCTION personalize.profile_of(text), personalize.render_email(text, text, jsonb, timestamptz, boolean),
    personalize.context(text, timestamptz), personalize.set_consent(text, text, text, boolean, text, timestamptz),
    personalize.segments_of(text), personalize.in_segment(text, text), personalize.engagement_score(text, timestamptz),
    personalize.export_profile(text), personalize.forget(text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION personalize.profile_of(text), personalize.render_email(text, text, jsonb, timestamptz, boolean),
    personalize.context(text, timestamptz), personalize.set_consent(text, text, text, boolean, text, timestamptz),
    personalize.segments_of(text), personalize.in_segment(text, text), personalize.engagement_score(text, timestamptz),
    personalize.export_profile(text), personalize.forget(text, timestamptz)
    TO personalize_admin;
GRANT EXECUTE ON FUNCTION personalize.profile_of(text) TO personalize_writer, personalize_analyst;
GRANT EXECUTE ON FUNCTION personalize.set_consent(text, text, text, boolean, text, timestamptz) TO personalize_writer;
GRANT EXECUTE ON FUNCTION personalize.render_email(text, text, jsonb, timestamptz, boolean),
    personalize.context(text, timestamptz), personalize.segments_of(text), personalize.in_segment(text, text),
    personalize.engagement_score(text, timestamptz)
    TO personalize_analyst;
