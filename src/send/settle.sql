-- The set forms of complete_send and fail_send (docs/sends.md, "Consumers"): a consumer records
-- the outcomes of many deliveries in one call, each step one statement over the whole set (lock,
-- update, move to send_history) in place of a call per send. Every element means exactly what
-- the single form means for its send; an id given twice counts once (its first element).

-- Checks the arguments the set forms share: no NULL id, and each parallel array (its
-- cardinality in lengths, NULL when the array was not given) as long as send_ids.
CREATE FUNCTION personalize._settle_check(send_ids bigint[], lengths integer[])
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF send_ids IS NULL OR array_position(send_ids, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'send_ids must not be null or contain null'
              USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF EXISTS (SELECT FROM unnest(lengths) l WHERE l IS DISTINCT FROM cardinality(send_ids) AND l IS NOT NULL) THEN
        RAISE EXCEPTION 'the arrays must be as long as send_ids'
              USING ERRCODE = 'array_subscript_error',
                    DETAIL = format('send_ids has %s elements; the other arrays have %s.',
                                    cardinality(send_ids), array_to_string(lengths, ', ', 'none'));
    END IF;
END
$$;
COMMENT ON FUNCTION personalize._settle_check(bigint[], integer[]) IS
'Checks the arguments of complete_sends and fail_sends: no null id, parallel arrays as long as send_ids';

-- Locks the queued or leased sends among ids (in id order, so two callers cannot deadlock) and
-- returns them; raises no_data_found for an id that is neither queued nor finished.
CREATE FUNCTION personalize._sends_for_update(ids bigint[])
RETURNS SETOF personalize.sends
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    missing bigint;
BEGIN
    RETURN QUERY SELECT s.* FROM personalize.sends s WHERE s.send_id = ANY (ids) ORDER BY s.send_id FOR UPDATE;
    SELECT min(i) INTO missing FROM unnest(ids) i
     WHERE NOT EXISTS (SELECT FROM personalize.sends s WHERE s.send_id = i)
       AND NOT EXISTS (SELECT FROM personalize.send_history h WHERE h.send_id = i);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'send % does not exist', missing USING ERRCODE = 'no_data_found';
    END IF;
END
$$;
COMMENT ON FUNCTION personalize._sends_for_update(bigint[]) IS
'Locks the sends of the queue among ids, in id order; no_data_found if one of ids is no send at all';

CREATE FUNCTION personalize.complete_sends(send_ids bigint[], provider_message_ids text[] DEFAULT NULL,
                                           as_of timestamptz DEFAULT now(), providers text[] DEFAULT NULL)
RETURNS TABLE (send_id bigint, status text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ids bigint[];
    pids text[];
    provs text[];
    queued bigint[];
    revived bigint[];
BEGIN
    PERFORM personalize._check_as_of(as_of);
    PERFORM personalize._settle_check(send_ids, ARRAY[cardinality(provider_message_ids), cardinality(providers)]);
    IF EXISTS (SELECT FROM unnest(providers) p WHERE octet_length(p) > 200) THEN
        RAISE EXCEPTION 'provider name is too long'
              USING ERRCODE = 'string_data_right_truncation',
                    DETAIL = 'A provider name has at most 200 bytes.';
    END IF;
    SELECT array_agg(d.id ORDER BY d.id), array_agg(d.pid ORDER BY d.id), array_agg(d.prov ORDER BY d.id)
      INTO ids, pids, provs
      FROM (SELECT DISTINCT ON (u.id) u.id, u.pid, u.prov
              FROM unnest(send_ids, provider_message_ids, providers) WITH ORDINALITY AS u(id, pid, prov, ord)
             ORDER BY u.id, u.ord) d;
    SELECT array_agg(l.send_id) INTO queued FROM personalize._sends_for_update(send_ids) l;
    -- delivered after all, by consumers whose leases had run out too often
    WITH r AS (
        UPDATE personalize.send_history h
           SET status = 'sent', sent_at = as_of, finished_at = as_of, provider_message_id = i.pid, provider = i.prov
          FROM unnest(ids, pids, provs) AS i(id, pid, prov)
         WHERE h.send_id = i.id AND h.status = 'dead'
        RETURNING h.send_id
    )
    SELECT array_agg(r.send_id) INTO revived FROM r;
    UPDATE personalize.sends s SET provider_message_id = i.pid, provider = i.prov, last_error = NULL
      FROM unnest(ids, pids, provs) AS i(id, pid, prov)
     WHERE s.send_id = i.id AND s.send_id = ANY (queued);
    PERFORM personalize._sends_finish(queued, 'sent', as_of);
    RETURN QUERY
    SELECT i.id, CASE WHEN i.id = ANY (queued) OR i.id = ANY (revived) THEN 'sent'
                      ELSE (SELECT h.status FROM personalize.send_history h WHERE h.send_id = i.id) END
      FROM unnest(ids) AS i(id) ORDER BY i.id;
END
$$;
COMMENT ON FUNCTION personalize.complete_sends(bigint[], text[], timestamptz, text[]) IS
'complete_send for many sends at once (parallel arrays; NULL arrays mean NULL for every send): one row per distinct send with what complete_send would return';

CREATE FUNCTION personalize.fail_sends(send_ids bigint[], errors text[], retryable boolean[] DEFAULT NULL,
                                       retry_afters interval[] DEFAULT NULL, as_of timestamptz DEFAULT now())
RETURNS TABLE (send_id bigint, status text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    max_attempts integer := (SELECT x.max_attempts FROM personalize.send_settings x);
    ids bigint[];
    errs text[];
    retries boolean[];
    afters interval[];
    queued bigint[];
    failed bigint[];
    dead bigint[];
BEGIN
    PERFORM personalize._check_as_of(as_of);
    PERFORM personalize._settle_check(send_ids, ARRAY[cardinality(errors), cardinality(retryable),
                                                      cardinality(retry_afters)]);
    IF array_position(retryable, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'retryable must not contain null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF EXISTS (SELECT FROM unnest(retry_afters) a WHERE a < '0' OR a > '30 days') THEN
        RAISE EXCEPTION 'retry_after must be between 0 and 30 days' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT array_agg(d.id ORDER BY d.id), array_agg(d.err ORDER BY d.id), array_agg(d.retry ORDER BY d.id),
           array_agg(d.after ORDER BY d.id)
      INTO ids, errs, retries, afters
      FROM (SELECT DISTINCT ON (u.id) u.id, left(coalesce(u.err, 'unknown error'), 2000) AS err,
                   coalesce(u.retry, true) AS retry, u.after
              FROM unnest(send_ids, errors, retryable, retry_afters) WITH ORDINALITY AS u(id, err, retry, after, ord)
             ORDER BY u.id, u.ord) d;
    SELECT array_agg(l.send_id) INTO queued FROM personalize._sends_for_update(send_ids) l;
    -- the final ones: refused for good, or out of attempts (dead)
    WITH f AS (
        UPDATE personalize.sends s SET last_error = i.err
          FROM unnest(ids, errs, retries) AS i(id, err, retry)
         WHERE s.send_id = i.id AND s.send_id = ANY (queued) AND (NOT i.retry OR s.attempts >= max_attempts)
        RETURNING s.send_id, i.retry
    )
    SELECT array_agg(f.send_id) FILTER (WHERE NOT f.retry), array_agg(f.send_id) FILTER (WHERE f.retry)
      INTO failed, dead FROM f;
    PERFORM personalize._sends_finish(failed, 'failed', as_of) WHERE failed IS NOT NULL;
    PERFORM personalize._sends_finish(dead, 'dead', as_of) WHERE dead IS NOT NULL;
    UPDATE personalize.sends s
       SET status = 'queued', lease_until = NULL, leased_by = NULL, last_error = i.err,
           available_at = as_of + greatest(personalize.send_backoff(s.send_id, s.attempts), coalesce(i.after, '0'))
      FROM unnest(ids, errs, afters) AS i(id, err, after)
     WHERE s.send_id = i.id AND s.send_id = ANY (queued);
    RETURN QUERY
    SELECT i.id, CASE WHEN i.id = ANY (failed) THEN 'failed' WHEN i.id = ANY (dead) THEN 'dead'
                      WHEN i.id = ANY (queued) THEN 'queued'
                      ELSE (SELECT h.status FROM personalize.send_history h WHERE h.send_id = i.id) END
      FROM unnest(ids) AS i(id) ORDER BY i.id;
END
$$;
COMMENT ON FUNCTION personalize.fail_sends(bigint[], text[], boolean[], interval[], timestamptz) IS
'fail_send for many sends at once (parallel arrays; retryable NULL means all retryable): one row per distinct send with what fail_send would return';

REVOKE ALL ON FUNCTION personalize._settle_check(bigint[], integer[]), personalize._sends_for_update(bigint[]),
    personalize.complete_sends(bigint[], text[], timestamptz, text[]),
    personalize.fail_sends(bigint[], text[], boolean[], interval[], timestamptz)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION personalize.complete_sends(bigint[], text[], timestamptz, text[]),
    personalize.fail_sends(bigint[], text[], boolean[], interval[], timestamptz)
    TO personalize_sender, personalize_admin;
