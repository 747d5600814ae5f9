-- The send policy (docs/sends.md, "The send policy"): the one place that decides whether a
-- message may go to a profile now (send), later (defer, with the time), or not at all
-- (suppress), with the suppression list, frequency caps and the decisions log it reads and
-- writes. Campaign launch, enqueue_send and claim_sends all decide through _policy.

CREATE TABLE personalize.suppressions (
    profile_id     bigint NOT NULL,
    reason         text NOT NULL CHECK (reason IN ('hard_bounce', 'complaint', 'manual')),
    source         text NOT NULL,
    send_id        bigint,
    suppressed_at  timestamptz NOT NULL,
    PRIMARY KEY (profile_id, reason)
);
COMMENT ON TABLE personalize.suppressions IS
'Profiles that get no e-mail at all, transactional included: hard bounces, spam complaints, manual entries';

CREATE TABLE personalize.frequency_caps (
    cap_id         integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kinds          text[] NOT NULL DEFAULT '{marketing}'
                   CHECK (kinds <> '{}' AND kinds <@ '{marketing,transactional}'),
    max_sends      integer NOT NULL CHECK (max_sends > 0),
    window_length  interval NOT NULL CHECK (window_length > '0' AND window_length <= '366 days')
);
COMMENT ON TABLE personalize.frequency_caps IS
'At most max_sends e-mails of these kinds per profile in any window_length, counted from sends actually sent';

CREATE TABLE personalize.send_decisions (
    decision_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    send_id      bigint,
    profile_id   bigint NOT NULL,
    campaign_id  integer,
    kind         text NOT NULL,
    stage        text NOT NULL CHECK (stage IN ('enqueue', 'claim')),
    decision     text NOT NULL CHECK (decision IN ('defer', 'suppress')),
    reason       text NOT NULL,
    not_before   timestamptz,
    decided_at   timestamptz NOT NULL
);
CREATE INDEX send_decisions_send_idx ON personalize.send_decisions (send_id);
CREATE INDEX send_decisions_profile_idx ON personalize.send_decisions (profile_id);
CREATE INDEX send_decisions_campaign_idx ON personalize.send_decisions (campaign_id) WHERE campaign_id IS NOT NULL;
COMMENT ON TABLE personalize.send_decisions IS
'Every policy decision other than send, at enqueue or at claim, with its reason';

SELECT pg_catalog.pg_extension_config_dump('personalize.suppressions', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.frequency_caps', '');
SELECT pg_catalog.pg_extension_config_dump('personalize.send_decisions', '');

-- The policy for a set of candidate messages (parallel arrays, one element per message):
-- the decision for each (ord is its place in the arrays, rows come in no particular order), in
-- the documented order of the rules. send_ids are the queued sends being claimed (NULL at
-- enqueue): other due sends of the same profiles then compete by priority. Every rule is a join
-- over the whole set: the profiles and suppressions joined once, quiet hours computed once per
-- zone name, caps counted by one grouped scan of the window and ranked only where a profile can
-- reach one.
CREATE FUNCTION personalize._policy(profile_ids bigint[], kinds text[], campaign_ids integer[],
                                    priorities integer[], send_ids bigint[], as_of timestamptz)
RETURNS TABLE (ord bigint, profile_id bigint, decision text, not_before timestamptz, reason text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
-- JIT compiling these statements costs seconds and saves nothing
SET jit = off
AS $$
DECLARE
    cfg personalize.send_settings;
    any_caps boolean := EXISTS (SELECT FROM personalize.frequency_caps);
    claiming boolean := send_ids IS NOT NULL;
    -- a launch passes its members in profile_id order: no profile twice, nothing to rank
    distinct_profiles boolean := coalesce(personalize._strictly_ascending(profile_ids), true);
BEGIN
    SELECT * INTO cfg FROM personalize.send_settings;
    RETURN QUERY
    WITH cand AS MATERIALIZED (
        SELECT c.ord, c.profile_id, c.kind, c.campaign_id, coalesce(c.priority, 0) AS priority
          FROM unnest(profile_ids, kinds, campaign_ids, priorities)
               WITH ORDINALITY AS c(profile_id, kind, campaign_id, priority, ord)
    ), facts AS MATERIALIZED (
        SELECT c.*, p.profile_id IS NOT NULL AS known, p.email, p.email_consent,
               -- the zone as the profile names it ('' for none): checked once per name, in zones below
               CASE WHEN cfg.quiet_start IS NOT NULL AND c.kind = ANY (cfg.quiet_kinds)
                    THEN coalesce(p.traits ->> 'timezone', '') END AS tz_name,
               EXISTS (SELECT FROM personalize.suppressions x WHERE x.profile_id = c.profile_id) AS suppressed,
               coalesce(k.holdout_percent, 0) AS holdout_percent, coalesce(k.drop_when_capped, false) AS drop_when_capped
          FROM cand c
          LEFT JOIN personalize.profiles p ON p.profile_id = c.profile_id
          LEFT JOIN personalize.campaigns k ON k.campaign_id = c.campaign_id
    ), zones AS MATERIALIZED (
        -- each zone name once, and the zone it stands for (the default when missing or unknown)
        SELECT n.tz_name, personalize._timezone_or(nullif(n.tz_name, ''), cfg.default_timezone) AS tz
          FROM (SELECT DISTINCT f.tz_name FROM facts f WHERE f.tz_name IS NOT NULL) n
    ), quiet AS MATERIALIZED (
        -- per zone name: when the quiet window that as_of falls in ends (no row outside one)
        SELECT z.tz_name,
               ((l.d + CASE WHEN cfg.quiet_start > cfg.quiet_end AND l.t >= cfg.quiet_start THEN 1 ELSE 0 END)
                + cfg.quiet_end) AT TIME ZONE z.tz AS quiet_until
          FROM zones z,
               LATERAL (SELECT (as_of AT TIME ZONE z.tz)::time AS t, (as_of AT TIME ZONE z.tz)::date AS d) l
         WHERE CASE WHEN cfg.quiet_start < cfg.quiet_end
                    THEN l.t >= cfg.quiet_start AND l.t < cfg.quiet_end
                    ELSE l.t >= cfg.quiet_start OR l.t < cfg.quiet_end END
    ), counted AS MATERIALIZED (
        -- per cap and profile: the sends sent in the window, plus those leased right now
        SELECT x.cap_id, x.profile_id, sum(x.n) AS n
          FROM (SELECT fc.cap_id, h.profile_id, count(*) AS n
                  FROM personalize.frequency_caps fc
                  JOIN personalize.send_history h
                    ON h.status = 'sent' AND h.kind = ANY (fc.kinds)
                   AND h.finished_at > as_of - fc.window_length AND h.finished_at <= as_of
                 WHERE any_caps AND EXISTS (SELECT FROM cand c WHERE c.profile_id = h.profile_id)
                 GROUP BY 1, 2
                UNION ALL
                SELECT fc.cap_id, s.profile_id, count(*)
                  FROM personalize.frequency_caps fc
                  JOIN personalize.sends s ON s.status = 'leased' AND s.kind = ANY (fc.kinds)
                 WHERE any_caps AND EXISTS (SELECT FROM cand c WHERE c.profile_id = s.profile_id)
                   AND NOT s.send_id = ANY (coalesce(send_ids, '{}'))
                 GROUP BY 1, 2) x
         GROUP BY 1, 2
    ), contested AS MATERIALIZED (
        -- the profiles a cap can hold back: with sends counted in a window, with more than one
        -- candidate (none when the ids rise strictly), or (at claim) with other due sends; a lone
        -- candidate of any other profile ranks first under every cap, and no cap allows fewer than one
        SELECT k.profile_id FROM counted k
         UNION
        SELECT c.profile_id FROM cand c WHERE any_caps AND (claiming OR NOT distinct_profiles)
         GROUP BY c.profile_id HAVING count(*) > 1 OR claiming
    ), held AS MATERIALIZED (
        -- the candidates of those profiles that a cap applies to (few, as a rule)
        SELECT f.* FROM contested t JOIN facts f ON f.profile_id = t.profile_id
         WHERE f.known AND NOT f.suppressed AND f.email IS NOT NULL
    ), cap_rank AS MATERIALIZED (
        -- per candidate and applicable cap: sends counted in the window (n) and the candidate's
        -- place among the due messages of that profile the cap covers (r)
        SELECT f.ord, fc.cap_id, fc.max_sends, fc.window_length, f.profile_id, coalesce(k.n, 0) AS n,
               row_number() OVER (PARTITION BY f.profile_id, fc.cap_id ORDER BY f.priority DESC, f.ord)
             + CASE WHEN NOT claiming THEN 0 ELSE
                   (SELECT count(*) FROM personalize.sends s
                     WHERE s.profile_id = f.profile_id AND s.status = 'queued' AND s.available_at <= as_of
                       AND s.kind = ANY (fc.kinds) AND s.priority > f.priority
                       AND NOT s.send_id = ANY (coalesce(send_ids, '{}'))) END AS r
          FROM held f JOIN personalize.frequency_caps fc ON f.kind = ANY (fc.kinds)
          LEFT JOIN counted k ON k.cap_id = fc.cap_id AND k.profile_id = f.profile_id
    ), capped AS MATERIALIZED (
        -- a blocked message may go when the (n + r - max)-th oldest counted send leaves the window
        SELECT c.ord,
               max(coalesce((SELECT h.finished_at FROM personalize.send_history h
                              WHERE h.profile_id = c.profile_id AND h.status = 'sent'
                                AND h.kind = ANY (fc.kinds)
                                AND h.finished_at > as_of - c.window_length AND h.finished_at <= as_of
                              ORDER BY h.finished_at
                             OFFSET c.n + c.r - c.max_sends - 1 LIMIT 1), as_of) + c.window_length) AS free_at
          FROM cap_rank c JOIN personalize.frequency_caps fc USING (cap_id)
         WHERE c.n + c.r > c.max_sends
         GROUP BY c.ord
    ), judged AS (
        SELECT f.ord, f.profile_id, f.kind, f.drop_when_capped, cp.free_at,
               CASE WHEN NOT f.known THEN 'no_profile'
                    WHEN f.suppressed THEN 'suppressed'
                    WHEN f.email IS NULL OR f.email = '' THEN 'no_address'
                    WHEN f.kind = 'marketing' AND f.email_consent <> 'subscribed' THEN 'no_consent'
                    WHEN cp.free_at IS NOT NULL THEN 'frequency_cap'
                    WHEN q.quiet_until IS NOT NULL THEN 'quiet_hours'
                    WHEN f.kind = 'marketing' AND cfg.control_percent > 0
                         AND personalize.bucket(f.profile_id, cfg.control_salt) < cfg.control_percent * 100 THEN 'control_group'
                    WHEN f.kind = 'marketing' AND f.holdout_percent > 0
                         AND personalize.bucket(f.profile_id, 'holdout:' || f.campaign_id) < f.holdout_percent * 100 THEN 'holdout'
               END AS reason,
               q.quiet_until
          FROM facts f
          LEFT JOIN capped cp ON cp.ord = f.ord
          LEFT JOIN quiet q ON q.tz_name = f.tz_name
    )
    SELECT j.ord, j.profile_id,
           CASE WHEN j.reason IS NULL THEN 'send'
                WHEN j.reason = 'frequency_cap' AND NOT j.drop_when_capped THEN 'defer'
                WHEN j.reason = 'quiet_hours' THEN 'defer'
                ELSE 'suppress' END,
           CASE WHEN j.reason = 'frequency_cap' AND NOT j.drop_when_capped THEN j.free_at
                WHEN j.reason = 'quiet_hours' THEN j.quiet_until END,
           j.reason
      FROM judged j;
END
$$;
COMMENT ON FUNCTION personalize._policy(bigint[], text[], integer[], integer[], bigint[], timestamptz) IS
'The send policy over a set of messages (parallel arrays): decision, not_before and reason for each, with its place in the arrays (ord)';

-- Checks the arguments every public policy entry point shares.
CREATE FUNCTION personalize._policy_args(kind text, campaign text, as_of timestamptz)
RETURNS integer
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id integer;
BEGIN
    IF kind IS NULL OR kind NOT IN ('marketing', 'transactional') THEN
        RAISE EXCEPTION 'invalid send kind "%"', kind USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use marketing or transactional.';
    END IF;
    IF as_of IS NULL OR NOT isfinite(as_of) THEN
        RAISE EXCEPTION 'as_of must be a finite timestamp' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF campaign IS NOT NULL THEN
        SELECT c.campaign_id INTO id FROM personalize.campaigns c WHERE c.name = campaign;
        IF id IS NULL THEN
            RAISE EXCEPTION 'campaign "%" does not exist', campaign USING ERRCODE = 'undefined_object';
        END IF;
    END IF;
    RETURN id;
END
$$;
COMMENT ON FUNCTION personalize._policy_args(text, text, timestamptz) IS
'Validates kind and as_of, and returns the id of the named campaign (NULL for none); errors name what is wrong';

CREATE FUNCTION personalize.send_policies(profile_ids bigint[], kind text, campaign text DEFAULT NULL,
                                          as_of timestamptz DEFAULT now())
RETURNS TABLE (profile_id bigint, decision text, not_before timestamptz, reason text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id integer := personalize._policy_args(kind, campaign, as_of);
    n integer := coalesce(cardinality(profile_ids), 0);
BEGIN
    RETURN QUERY
    SELECT p.profile_id, p.decision, p.not_before, p.reason
      FROM personalize._policy(profile_ids, array_fill(kind, ARRAY[n]), array_fill(id, ARRAY[n]),
                               NULL, NULL, as_of) p
     ORDER BY p.ord;
END
$$;
COMMENT ON FUNCTION personalize.send_policies(bigint[], text, text, timestamptz) IS
'The send policy for one message of a kind (and campaign) to each of the profiles, in input order';

CREATE FUNCTION personalize.send_policy(profile_id bigint, kind text, campaign text DEFAULT NULL,
                                        as_of timestamptz DEFAULT now(),
                                        OUT decision text, OUT not_before timestamptz, OUT reason text)
RETURNS record
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF send_policy.profile_id IS NULL THEN
        RAISE EXCEPTION 'profile_id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT p.decision, p.not_before, p.reason INTO decision, not_before, reason
      FROM personalize.send_policies(ARRAY[send_policy.profile_id], kind, campaign, as_of) p;
END
$$;
COMMENT ON FUNCTION personalize.send_policy(bigint, text, text, timestamptz) IS
'send, defer (with not_before) or suppress, and the reason, for one message of a kind (and campaign) to a profile';
