-- The life of a send in the outbox (docs/sends.md, "The outbox"): enqueue (the one path that
-- campaigns, journeys and one-off sends share), claim with a lease, complete, fail with
-- backoff, lease expiry and due deferred sends on tick, and the operator's requeue of dead sends.

-- Enqueues one message of a template per element of the parallel arrays, through the policy,
-- in one statement; suppressed messages go straight to send_history, deferred ones are queued
-- for later; one NOTIFY for the statement. With keys, a key already taken (send_keys) enqueues
-- nothing. Without keys (a campaign run: profile_ids distinct), each send's key is derived,
-- c:<campaign>:<run>:<profile>, and stored in no send_keys row: the run is unique at run level,
-- under the campaign's row lock that the launch holds (a profile with a send of the run, queued
-- or finished, is skipped; a run with no send yet skips nobody).
CREATE FUNCTION personalize._enqueue(profile_ids bigint[], keys text[], extras jsonb[], send_ats timestamptz[],
                                     variants text[], template text, kind text, priority integer,
                                     campaign_id integer, campaign_run bigint, as_of timestamptz,
                                     origin_journey integer DEFAULT NULL, origin_runs bigint[] DEFAULT NULL,
                                     origin_step text DEFAULT NULL, OUT queued bigint, OUT deferred bigint, OUT suppressed bigint,
                                     OUT existing bigint)
RETURNS record
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
-- JIT compiling these statements costs seconds and saves nothing
SET jit = off
AS $$
DECLARE
    n integer := coalesce(cardinality(profile_ids), 0);
    derived boolean := keys IS NULL;
    version integer := (personalize._email_template(template)).version;
    earliest timestamptz;
BEGIN
    existing := 0;
    IF derived THEN
        IF campaign_id IS NULL OR campaign_run IS NULL OR NOT personalize._strictly_ascending(profile_ids) THEN
            RAISE EXCEPTION 'derived keys need a campaign run and distinct profile ids in ascending order'
                USING ERRCODE = 'internal_error';
        END IF;
        IF EXISTS (SELECT FROM personalize.sends s
                    WHERE s.campaign_id = _enqueue.campaign_id AND s.campaign_run = _enqueue.campaign_run)
           OR EXISTS (SELECT FROM personalize.send_history h
                       WHERE h.campaign_id = _enqueue.campaign_id AND h.campaign_run = _enqueue.campaign_run) THEN
            -- launched before (a relaunch, a roll-out): only the members without a send of the run
            SELECT coalesce(array_agg(i.profile_id ORDER BY i.ord), '{}'), coalesce(array_agg(i.extra ORDER BY i.ord), '{}'),
                   coalesce(array_agg(i.send_at ORDER BY i.ord), '{}'), coalesce(array_agg(i.variant ORDER BY i.ord), '{}')
              INTO profile_ids, extras, send_ats, variants
              FROM unnest(profile_ids, extras, send_ats, variants) WITH ORDINALITY AS i(profile_id, extra, send_at, variant, ord)
             WHERE NOT EXISTS (SELECT FROM personalize.sends s
                                WHERE s.campaign_id = _enqueue.campaign_id AND s.campaign_run = _enqueue.campaign_run
                                  AND s.profile_id = i.profile_id)
               AND NOT EXISTS (SELECT FROM personalize.send_history h
                                WHERE h.campaign_id = _enqueue.campaign_id AND h.campaign_run = _enqueue.campaign_run
                                  AND h.profile_id = i.profile_id);
            existing := n - cardinality(profile_ids);
            n := cardinality(profile_ids);
        END IF;
    END IF;
    WITH input AS MATERIALIZED (
        SELECT i.profile_id, CASE WHEN derived THEN 'c:' || campaign_id || ':' || campaign_run || ':' || i.profile_id
                                  ELSE i.key END AS key,
               i.extra, i.send_at, i.variant, i.journey_run, i.ord,
               -- a campaign run's send ids follow its members' order
               CASE WHEN derived THEN nextval('personalize.send_id_seq') END AS send_id
          FROM unnest(profile_ids, keys, extras, send_ats, variants, origin_runs)
               WITH ORDINALITY AS i(profile_id, key, extra, send_at, variant, journey_run, ord)
    ), pol AS MATERIALIZED (
        SELECT * FROM personalize._policy(profile_ids, array_fill(kind, ARRAY[n]), array_fill(campaign_id, ARRAY[n]),
                                          array_fill(priority, ARRAY[n]), NULL, as_of)
    ), firsts AS MATERIALIZED (
        -- the first message of each caller's key, in key order; derived keys are distinct
        SELECT DISTINCT ON (i.key COLLATE "C") i.*, p.decision, p.not_before, p.reason
          FROM input i JOIN pol p USING (ord)
         WHERE NOT derived
         ORDER BY i.key COLLATE "C", i.ord
    ), numbered AS MATERIALIZED (
        SELECT f.profile_id, f.key, f.extra, f.send_at, f.variant, f.journey_run, f.ord, f.decision, f.not_before, f.reason,
               greatest(coalesce(f.send_at, as_of), f.not_before) AS available_at,
               coalesce(f.send_id, nextval('personalize.send_id_seq')) AS send_id
          FROM (SELECT * FROM firsts
                UNION ALL
                SELECT i.*, p.decision, p.not_before, p.reason FROM input i JOIN pol p USING (ord) WHERE derived) f
    ), claimed AS (
        -- keys in byte order, so that concurrent enqueues never deadlock
        INSERT INTO personalize.send_keys (idempotency_key, send_id)
        SELECT f.key, f.send_id FROM numbered f WHERE NOT derived ORDER BY f.key COLLATE "C"
            ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING send_id
    ), fresh AS MATERIALIZED (
        SELECT f.* FROM numbered f WHERE derived OR f.send_id IN (SELECT c.send_id FROM claimed c)
    ), into_queue AS (
        INSERT INTO personalize.sends (send_id, profile_id, campaign_id, campaign_run, journey_id, journey_run,
                                       journey_step, template, template_version, variant, kind, priority,
                                       idempotency_key, status, available_at, created_at, extra)
        SELECT f.send_id, f.profile_id, _enqueue.campaign_id, _enqueue.campaign_run, origin_journey, f.journey_run,
               origin_step, template, version, f.variant, kind, coalesce(priority, 0), f.key, 'queued', f.available_at,
               as_of, coalesce(f.extra, '{}')
          FROM fresh f WHERE f.decision <> 'suppress'
        RETURNING sends.available_at, sends.available_at > as_of AS later
    ), into_history AS (
        INSERT INTO personalize.send_history (send_id, profile_id, campaign_id, campaign_run, journey_id, journey_run,
                                              journey_step, template, template_version, variant, kind, priority,
                                              idempotency_key, status, available_at, created_at, last_error, extra,
                                              finished_at)
        SELECT f.send_id, f.profile_id, _enqueue.campaign_id, _enqueue.campaign_run, origin_journey, f.journey_run,
               origin_step, template, version, f.variant, kind, coalesce(priority, 0), f.key, 'suppressed',
               f.available_at, as_of, 'suppressed by policy: ' || f.reason, coalesce(f.extra, '{}'), as_of
          FROM fresh f WHERE f.decision = 'suppress'
        RETURNING 1
    ), logged AS (
        INSERT INTO personalize.send_decisions (send_id, profile_id, campaign_id, kind, stage, decision, reason,
                                                not_before, decided_at)
        SELECT f.send_id, f.profile_id, _enqueue.campaign_id, kind, 'enqueue', f.decision, f.reason, f.not_before, as_of
          FROM fresh f WHERE f.decision <> 'send'
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM into_queue WHERE NOT later), (SELECT count(*) FROM into_queue WHERE later),
           (SELECT count(*) FROM into_history), existing + n - (SELECT count(*) FROM fresh),
           (SELECT min(available_at) FROM into_queue)
      INTO queued, deferred, suppressed, existing, earliest;
    PERFORM personalize._sends_notify(queued + deferred, earliest, 'enqueue');
END
$$;
COMMENT ON FUNCTION personalize._enqueue(bigint[], text[], jsonb[], timestamptz[], text[], text, text, integer, integer, bigint, timestamptz, integer, bigint[], text) IS
'Enqueues a message per array element through the send policy, in one statement; caller''s keys already taken are skipped, and without keys (a campaign run) the profiles the run has a send for; a journey''s sends carry their journey, run and step';

CREATE FUNCTION personalize.enqueue_send(template text, profile_id bigint, kind text DEFAULT 'transactional',
                                         extra jsonb DEFAULT '{}', idempotency_key text DEFAULT NULL,
                                         send_at timestamptz DEFAULT NULL, priority integer DEFAULT 0,
                                         as_of timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    key text := coalesce(idempotency_key, 'u:' || gen_random_uuid());
    id bigint;
BEGIN
    PERFORM personalize._policy_args(kind, NULL, as_of);
    IF template IS NULL THEN
        RAISE EXCEPTION 'template must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF enqueue_send.profile_id IS NULL THEN
        RAISE EXCEPTION 'profile_id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT FROM personalize.profiles p WHERE p.profile_id = enqueue_send.profile_id) THEN
        RAISE EXCEPTION 'profile % does not exist', enqueue_send.profile_id USING ERRCODE = 'no_data_found';
    END IF;
    IF extra IS NOT NULL AND jsonb_typeof(extra) <> 'object' THEN
        RAISE EXCEPTION 'extra must be a JSON object' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('The value given is a %s.', jsonb_typeof(extra));
    END IF;
    IF key = '' OR octet_length(key) > 400 THEN
        RAISE EXCEPTION 'idempotency key must have 1 to 400 bytes' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF starts_with(key, 'c:') THEN
        RAISE EXCEPTION 'idempotency keys beginning with "c:" are reserved for campaign sends'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A campaign send''s key c:<campaign>:<run>:<profile> is derived from its run, not stored.',
                  HINT = 'Choose another prefix, such as order: or reset:.';
    END IF;
    IF send_at IS NOT NULL AND NOT isfinite(send_at) THEN
        RAISE EXCEPTION 'send_at must be a finite timestamp or NULL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM personalize._enqueue(ARRAY[enqueue_send.profile_id], ARRAY[key], ARRAY[coalesce(extra, '{}')],
                                 ARRAY[send_at], ARRAY[NULL::text], template, kind, priority, NULL, NULL, as_of);
    SELECT k.send_id INTO id FROM personalize.send_keys k WHERE k.idempotency_key = key;
    RETURN id;
END
$$;
COMMENT ON FUNCTION personalize.enqueue_send(text, bigint, text, jsonb, text, timestamptz, integer, timestamptz) IS
'Enqueues one message (transactional by default) through the send policy; returns its send_id, the same one again for a key already used';

-- The Message-ID of a send: its id and a hash of its idempotency key, the same on every attempt.
CREATE FUNCTION personalize._message_id(send_id bigint, idempotency_key text, domain text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT '<' || send_id || '.' || left(encode(sha256(convert_to(idempotency_key, 'UTF8')), 'hex'), 16)
           || '@' || domain || '>'
$$;
COMMENT ON FUNCTION personalize._message_id(bigint, text, text) IS
'<send_id.first 16 hex digits of SHA-256(idempotency_key)@domain>: stable across the retries of a send';

CREATE FUNCTION personalize.send_backoff(send_id bigint, attempt integer)
RETURNS interval
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    -- the doubling is compared with backoff_max in seconds first, so that a large attempt or
    -- backoff_base never overflows the interval (max_attempts may be up to 100)
    SELECT CASE WHEN extract(epoch FROM s.backoff_base) * power(2::float8, least(greatest(attempt, 1) - 1, 40))
                     >= extract(epoch FROM s.backoff_max)
                THEN s.backoff_max
                ELSE s.backoff_base * power(2, least(greatest(attempt, 1) - 1, 40)) END
           * (0.5 + personalize.bucket(send_id, 'retry:' || attempt) / 20000.0)
      FROM personalize.send_settings s
$$;
COMMENT ON FUNCTION personalize.send_backoff(bigint, integer) IS
'Delay before retry number attempt + 1: least(backoff_max, backoff_base * 2^(attempt-1)) * (0.5 + bucket(send_id, ''retry:<attempt>'') / 20000)';

-- Takes, without waiting, the transaction-scoped advisory lock by which claims serialize on a
-- profile with capped sends; false if another transaction holds it. The key pair is 'psnd'
-- (0x70736e64) xor the id's high 32 bits, and its low 32 bits (as a signed integer).
CREATE FUNCTION personalize._claim_lock(profile_id bigint)
RETURNS boolean
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.pg_try_advisory_xact_lock(1886613092 # (profile_id >> 32)::integer,
                                                ((profile_id & 4294967295) - 2147483648)::integer)
$$;
COMMENT ON FUNCTION personalize._claim_lock(bigint) IS
'Tries the advisory lock a claim holds per profile with a capped send; false when another claim holds it';

CREATE FUNCTION personalize.claim_sends(worker text, max integer DEFAULT 100, lease interval DEFAULT '5 min',
                                        as_of timestamptz DEFAULT now())
RETURNS TABLE (send_id bigint, attempt integer, to_address text, from_address text, reply_to text,
               subject text, html text, text text, headers jsonb, message_id text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- JIT compiling these statements costs seconds and saves nothing
SET jit = off
AS $$
DECLARE
    cfg personalize.send_settings;
    locked bigint[];
    busy bigint[];
    pids bigint[];
    kinds text[];
    camps integer[];
    prios integer[];
    allowed bigint[];
    held bigint[];
    decisions text[];
    reasons text[];
    not_befores timestamptz[];
    failed bigint[] := '{}';
    errors text[] := '{}';
    r record;
    signer personalize.unsubscribe_secrets;
BEGIN
    IF worker IS NULL OR worker = '' OR octet_length(worker) > 200 THEN
        RAISE EXCEPTION 'worker must be a name of 1 to 200 bytes' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF max IS NULL OR max NOT BETWEEN 1 AND 10000 THEN
        RAISE EXCEPTION 'max must be between 1 and 10000' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('The value given was %s.', coalesce(max::text, 'NULL'));
    END IF;
    IF lease IS NULL OR lease <= '0' OR lease > '1 day' THEN
        RAISE EXCEPTION 'lease must be positive and at most one day' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM personalize._check_as_of(as_of);
    -- the per-profile cap lock below works because the policy then reads what the previous
    -- holder committed; a repeatable-read snapshot taken before that commit would not see it
    IF current_setting('transaction_isolation') = 'repeatable read' THEN
        RAISE EXCEPTION 'claim_sends cannot run in a repeatable read transaction'
            USING ERRCODE = 'invalid_transaction_state',
                  DETAIL = 'Its snapshot could miss the leases of a claim that committed since, and pass a frequency cap twice.',
                  HINT = 'Claim in read committed (the default) or serializable.';
    END IF;
    SELECT * INTO cfg FROM personalize.send_settings;

    -- Lock what is due, most urgent first; sends other claimers hold are skipped.
    SELECT array_agg(d.send_id) INTO locked
      FROM (SELECT s.send_id FROM personalize.sends s
             WHERE s.status = 'queued' AND s.available_at <= as_of
               AND (s.campaign_id IS NULL OR NOT EXISTS (
                       SELECT FROM personalize.campaigns k WHERE k.campaign_id = s.campaign_id AND k.status = 'paused'))
             ORDER BY s.priority DESC, s.available_at, s.send_id
             LIMIT max FOR UPDATE OF s SKIP LOCKED) d;
    IF locked IS NULL THEN
        RETURN;
    END IF;

    -- The policy again: consent, suppressions and caps may have changed since enqueue.
    SELECT array_agg(s.profile_id ORDER BY u.ord), array_agg(s.kind ORDER BY u.ord),
           array_agg(s.campaign_id ORDER BY u.ord), array_agg(s.priority ORDER BY u.ord),
           array_agg(s.send_id ORDER BY u.ord)
      INTO pids, kinds, camps, prios, locked
      FROM personalize.sends s JOIN unnest(locked) WITH ORDINALITY u(id, ord) ON s.send_id = u.id;

    -- Two claims holding different sends of one profile would each see only the other's
    -- committed leases, and both could pass a cap. So a claim takes, without waiting, a
    -- transaction-scoped lock per profile with a capped send in its batch (in profile_id order);
    -- the sends of a profile that another claim holds stay queued for a later claim, which then
    -- counts that claim's leases. No claim ever waits for another: no deadlock.
    IF EXISTS (SELECT FROM personalize.frequency_caps) THEN
        SELECT array_agg(b.pid) INTO busy
          FROM (SELECT DISTINCT u.pid FROM unnest(pids, kinds) AS u(pid, kind)
                 WHERE EXISTS (SELECT FROM personalize.frequency_caps fc WHERE u.kind = ANY (fc.kinds))
                 ORDER BY u.pid) b
         WHERE NOT personalize._claim_lock(b.pid);
        IF busy IS NOT NULL THEN
            SELECT array_agg(u.pid ORDER BY u.ord), array_agg(u.kind ORDER BY u.ord), array_agg(u.camp ORDER BY u.ord),
                   array_agg(u.prio ORDER BY u.ord), array_agg(u.id ORDER BY u.ord)
              INTO pids, kinds, camps, prios, locked
              FROM unnest(pids, kinds, camps, prios, locked) WITH ORDINALITY AS u(pid, kind, camp, prio, id, ord)
             WHERE NOT u.pid = ANY (busy);
            IF locked IS NULL THEN
                RETURN;
            END IF;
        END IF;
    END IF;
    SELECT array_agg(locked[p.ord]) FILTER (WHERE p.decision = 'send'),
           array_agg(locked[p.ord]) FILTER (WHERE p.decision <> 'send'),
           array_agg(p.decision) FILTER (WHERE p.decision <> 'send'),
           array_agg(p.reason) FILTER (WHERE p.decision <> 'send'),
           array_agg(p.not_before) FILTER (WHERE p.decision <> 'send')
      INTO allowed, held, decisions, reasons, not_befores
      FROM personalize._policy(pids, kinds, camps, prios, locked, as_of) p;
    IF held IS NOT NULL THEN
        INSERT INTO personalize.send_decisions (send_id, profile_id, campaign_id, kind, stage, decision, reason,
                                                not_before, decided_at)
        SELECT s.send_id, s.profile_id, s.campaign_id, s.kind, 'claim', d.decision, d.reason, d.not_before, as_of
          FROM unnest(held, decisions, reasons, not_befores) AS d(send_id, decision, reason, not_before)
          JOIN personalize.sends s ON s.send_id = d.send_id;
        UPDATE personalize.sends s
           SET available_at = CASE WHEN d.decision = 'defer' THEN d.not_before ELSE s.available_at END,
               last_error = CASE WHEN d.decision = 'suppress' THEN 'suppressed by policy: ' || d.reason ELSE s.last_error END
          FROM unnest(held, decisions, reasons, not_befores) AS d(send_id, decision, reason, not_before)
         WHERE s.send_id = d.send_id;
        PERFORM personalize._sends_finish(array_agg(d.send_id), 'suppressed', as_of)
           FROM unnest(held, decisions) AS d(send_id, decision) WHERE d.decision = 'suppress' HAVING count(*) > 0;
    END IF;
    IF allowed IS NULL THEN
        RETURN;
    END IF;

    -- Render the allowed sends, a render_emails call per template; a send whose render fails
    -- (or whose template was dropped since) fails alone.
    IF cfg.unsubscribe_base_url IS NOT NULL THEN
        signer := personalize._unsubscribe_key();
    END IF;
    FOR r IN
        WITH c AS MATERIALIZED (
            SELECT s.send_id, s.profile_id, s.template, s.kind, s.variant, s.attempts, s.idempotency_key, s.extra,
                   s.priority, s.available_at, p.email, k.name AS campaign, k.from_address, k.reply_to, k.utm,
                   cfg.unsubscribe_base_url || personalize._sign_token(signer.key_id, signer.secret, s.send_id, as_of) AS url,
                   EXISTS (SELECT FROM personalize.templates t WHERE t.name = s.template) AS has_template
              FROM personalize.sends s
              JOIN personalize.profiles p USING (profile_id)
              LEFT JOIN personalize.campaigns k ON k.campaign_id = s.campaign_id
             WHERE s.send_id = ANY (allowed)
        ), batch AS (
            SELECT c.template, array_agg(c.send_id ORDER BY c.send_id) AS ids,
                   array_agg(c.profile_id ORDER BY c.send_id) AS pids,
                   array_agg(c.extra || jsonb_build_object('unsubscribe_url', c.url,
                       'send', jsonb_build_object('send_id', c.send_id, 'kind', c.kind, 'campaign', c.campaign,
                                                  'variant', c.variant, 'attempt', c.attempts + 1))
                             ORDER BY c.send_id) AS ctxs
              FROM c WHERE c.has_template GROUP BY c.template
        ), rendered AS (
            SELECT b.ids[e.ord] AS send_id, e.subject, e.html, e.text, e.error
              FROM batch b CROSS JOIN LATERAL personalize.render_emails(b.template, b.pids, b.ctxs, as_of) e
        )
        SELECT c.*, x.subject, x.html, x.text,
               CASE WHEN c.has_template THEN x.error
                    ELSE format('42704: template "%s" does not exist', c.template) END AS error
          FROM c LEFT JOIN rendered x USING (send_id)
         ORDER BY c.priority DESC, c.available_at, c.send_id
    LOOP
        IF r.error IS NOT NULL THEN
            failed := failed || r.send_id;
            errors := errors || r.error;
            CONTINUE;
        END IF;
        send_id := r.send_id;
        attempt := r.attempts + 1;
        to_address := r.email;
        from_address := coalesce(r.from_address, cfg.from_address);
        reply_to := coalesce(r.reply_to, cfg.reply_to);
        -- an experiment's subject-line variant replaces the template's subject (src/experiment/launch.sql)
        subject := coalesce(r.extra #>> '{experiment,subject}', r.subject);
        html := CASE WHEN r.utm IS NOT NULL AND r.html IS NOT NULL
                     THEN personalize.utm_tag(r.html, r.utm || jsonb_build_object(
                              'campaign', coalesce(r.utm ->> 'campaign', r.campaign),
                              'content', coalesce(r.utm ->> 'content', r.variant)))
                     ELSE r.html END;
        text := r.text;
        message_id := personalize._message_id(r.send_id, r.idempotency_key, cfg.message_id_domain);
        headers := jsonb_build_object('Message-ID', message_id, 'X-Personalize-Send-Id', r.send_id::text)
                   || CASE WHEN r.campaign IS NOT NULL
                           THEN jsonb_build_object('X-Personalize-Campaign', r.campaign) ELSE '{}' END
                   || CASE WHEN r.kind = 'marketing' AND r.url IS NOT NULL
                           THEN jsonb_build_object('List-Unsubscribe', '<' || r.url || '>',
                                                   'List-Unsubscribe-Post', 'List-Unsubscribe=One-Click')
                           ELSE '{}' END;
        RETURN NEXT;
    END LOOP;

    -- A render failure is final: retrying the same template on the same data fails the same way.
    IF cardinality(failed) > 0 THEN
        UPDATE personalize.sends s SET last_error = f.error, attempts = s.attempts + 1
          FROM unnest(failed, errors) AS f(send_id, error) WHERE s.send_id = f.send_id;
        PERFORM personalize._sends_finish(failed, 'failed', as_of);
    END IF;
    UPDATE personalize.sends s
       SET status = 'leased', attempts = s.attempts + 1, lease_until = as_of + lease, leased_by = worker
     WHERE s.send_id = ANY (allowed) AND NOT s.send_id = ANY (failed);
END
$$;
COMMENT ON FUNCTION personalize.claim_sends(text, integer, interval, timestamptz) IS
'Leases up to max due sends to worker: re-checks the policy, renders each, and returns all a consumer needs to deliver';

-- The queued or leased send, locked, or NULL; an error if it does not exist anywhere.
CREATE FUNCTION personalize._send_for_update(id bigint, OUT s personalize.sends, OUT finished_status text)
RETURNS record
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF id IS NULL THEN
        RAISE EXCEPTION 'send_id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO s FROM personalize.sends x WHERE x.send_id = id FOR UPDATE;
    IF s.send_id IS NULL THEN
        SELECT h.status INTO finished_status FROM personalize.send_history h WHERE h.send_id = id;
        IF finished_status IS NULL THEN
            RAISE EXCEPTION 'send % does not exist', id USING ERRCODE = 'no_data_found';
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION personalize._send_for_update(bigint) IS
'Locks a send of the queue; else the status it finished with; no_data_found if there is no such send';

CREATE FUNCTION personalize.complete_send(send_id bigint, provider_message_id text DEFAULT NULL,
                                          as_of timestamptz DEFAULT now(), provider text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f record;
BEGIN
    PERFORM personalize._check_as_of(as_of);
    IF octet_length(complete_send.provider) > 200 THEN
        RAISE EXCEPTION 'provider name is too long'
              USING ERRCODE = 'string_data_right_truncation',
                    DETAIL = 'A provider name has at most 200 bytes.';
    END IF;
    f := personalize._send_for_update(complete_send.send_id);
    IF f.finished_status = 'dead' THEN
        -- delivered after all, by a consumer whose lease had run out too often
        UPDATE personalize.send_history h
           SET status = 'sent', sent_at = as_of, finished_at = as_of,
               provider_message_id = complete_send.provider_message_id, provider = complete_send.provider
         WHERE h.send_id = complete_send.send_id;
        RETURN 'sent';
    ELSIF f.finished_status IS NOT NULL THEN
        RETURN f.finished_status;
    END IF;
    UPDATE personalize.sends s SET provider_message_id = complete_send.provider_message_id,
                                   provider = complete_send.provider, last_error = NULL
     WHERE s.send_id = complete_send.send_id;
    PERFORM personalize._sends_finish(ARRAY[complete_send.send_id], 'sent', as_of);
    RETURN 'sent';
END
$$;
COMMENT ON FUNCTION personalize.complete_send(bigint, text, timestamptz, text) IS
'Marks a send as sent (the provider, named by the consumer, accepted it) and moves it to send_history; repeating it changes nothing';

CREATE FUNCTION personalize.fail_send(send_id bigint, error text, retryable boolean DEFAULT true,
                                      retry_after interval DEFAULT NULL, as_of timestamptz DEFAULT now())
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f record;
    max_attempts integer := (SELECT x.max_attempts FROM personalize.send_settings x);
    err text := left(coalesce(error, 'unknown error'), 2000);
BEGIN
    PERFORM personalize._check_as_of(as_of);
    IF retryable IS NULL THEN
        RAISE EXCEPTION 'retryable must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF retry_after IS NOT NULL AND (retry_after < '0' OR retry_after > '30 days') THEN
        RAISE EXCEPTION 'retry_after must be between 0 and 30 days' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    f := personalize._send_for_update(fail_send.send_id);
    IF f.finished_status IS NOT NULL THEN
        RETURN f.finished_status;
    END IF;
    IF NOT retryable OR (f.s).attempts >= max_attempts THEN
        UPDATE personalize.sends s SET last_error = err WHERE s.send_id = fail_send.send_id;
        PERFORM personalize._sends_finish(ARRAY[fail_send.send_id], CASE WHEN retryable THEN 'dead' ELSE 'failed' END, as_of);
        RETURN CASE WHEN retryable THEN 'dead' ELSE 'failed' END;
    END IF;
    UPDATE personalize.sends s
       SET status = 'queued', lease_until = NULL, leased_by = NULL, last_error = err,
           available_at = as_of + greatest(personalize.send_backoff(s.send_id, s.attempts), coalesce(retry_after, '0'))
     WHERE s.send_id = fail_send.send_id;
    RETURN 'queued';
END
$$;
COMMENT ON FUNCTION personalize.fail_send(bigint, text, boolean, interval, timestamptz) IS
'Records a failed delivery: retryable ones are queued again after send_backoff (or retry_after), dead after max_attempts; others fail for good';

-- The send half of tick(): expired leases queued again (or dead), history partitions, and one
-- NOTIFY for the deferred sends that became due since the last tick.
CREATE TABLE personalize.send_tick_state (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_tick  timestamptz
);
INSERT INTO personalize.send_tick_state DEFAULT VALUES;
COMMENT ON TABLE personalize.send_tick_state IS 'When tick last announced due sends';

CREATE FUNCTION personalize._sends_tick(as_of timestamptz)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
-- JIT compiling these statements costs seconds and saves nothing
SET jit = off
AS $$
DECLARE
    max_attempts integer := (SELECT x.max_attempts FROM personalize.send_settings x);
    expired bigint[];
    dead bigint[];
    last timestamptz;
    n bigint;
    earliest timestamptz;
BEGIN
    PERFORM personalize._send_history_partitions(as_of);
    WITH e AS (
        SELECT s.send_id, s.attempts FROM personalize.sends s
         WHERE s.status = 'leased' AND s.lease_until <= as_of
         ORDER BY s.send_id FOR UPDATE SKIP LOCKED
    )
    SELECT array_agg(e.send_id) FILTER (WHERE e.attempts < max_attempts),
           array_agg(e.send_id) FILTER (WHERE e.attempts >= max_attempts)
      INTO expired, dead FROM e;
    UPDATE personalize.sends s
       SET status = 'queued', lease_until = NULL, leased_by = NULL, available_at = as_of,
           last_error = 'lease expired (attempt ' || s.attempts || ')'
     WHERE s.send_id = ANY (coalesce(expired, '{}') || coalesce(dead, '{}'));
    IF dead IS NOT NULL THEN
        PERFORM personalize._sends_finish(dead, 'dead', as_of);
    END IF;
    SELECT t.last_tick INTO last FROM personalize.send_tick_state t FOR UPDATE;
    -- the sends that became due since the last tick, counted in the due queue's index priority by
    -- priority (a loose scan over its few distinct priorities, then a range of available_at each)
    WITH RECURSIVE prios AS (
        (SELECT s.priority FROM personalize.sends s WHERE s.status = 'queued' ORDER BY s.priority DESC LIMIT 1)
        UNION ALL
        SELECT (SELECT s.priority FROM personalize.sends s WHERE s.status = 'queued' AND s.priority < p.priority
                 ORDER BY s.priority DESC LIMIT 1)
          FROM prios p WHERE p.priority IS NOT NULL
    )
    SELECT count(*), min(s.available_at) INTO n, earliest
      FROM prios p JOIN personalize.sends s
        ON s.status = 'queued' AND s.priority = p.priority
       AND s.available_at <= as_of AND s.available_at > coalesce(last, '-infinity');
    UPDATE personalize.send_tick_state SET last_tick = greatest(last, as_of);
    -- one-off campaigns whose sends have all finished are done
    UPDATE personalize.campaigns k SET status = 'done', updated_at = statement_timestamp()
     WHERE k.status = 'running' AND k.schedule IS NULL
       AND NOT EXISTS (SELECT FROM personalize.sends s WHERE s.campaign_id = k.campaign_id);
    PERFORM personalize._sends_notify(n, earliest, 'tick');
    RETURN coalesce(cardinality(expired), 0) + coalesce(cardinality(dead), 0);
END
$$;
COMMENT ON FUNCTION personalize._sends_tick(timestamptz) IS
'tick() for sends: expired leases queued again (dead after max_attempts), history partitions, NOTIFY of sends now due';

CREATE FUNCTION personalize.requeue_dead(send_ids bigint[] DEFAULT NULL, as_of timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
    earliest timestamptz;
BEGIN
    PERFORM personalize._check_as_of(as_of);
    WITH moved AS (
        DELETE FROM personalize.send_history h
         WHERE h.status = 'dead' AND (send_ids IS NULL OR h.send_id = ANY (send_ids))
        RETURNING h.*
    ), back AS (
        INSERT INTO personalize.sends (send_id, profile_id, campaign_id, campaign_run, journey_id, journey_run,
                                       journey_step, template, template_version, variant, kind, priority,
                                       idempotency_key, status, attempts, available_at, created_at, last_error, extra)
        SELECT m.send_id, m.profile_id, m.campaign_id, m.campaign_run, m.journey_id, m.journey_run,
               m.journey_step, m.template, m.template_version, m.variant, m.kind, m.priority,
               m.idempotency_key, 'queued', 0, as_of, m.created_at, m.last_error, m.extra
          FROM moved m
        RETURNING 1
    )
    SELECT count(*) INTO n FROM back;
    PERFORM personalize._sends_notify(n, as_of, 'requeue');
    RETURN n;
END
$$;
COMMENT ON FUNCTION personalize.requeue_dead(bigint[], timestamptz) IS
'Puts dead sends (those listed, or all) back in the queue with their attempts reset; for an operator';
