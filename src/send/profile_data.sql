-- What the send path (and the experiments that run through it) keeps about a profile, for the
-- profile's own functions (docs/profiles-and-privacy.md): forget() erases it, export_profile()
-- exports it, merge_profiles() moves it to the kept profile. The tables: the outbox (sends,
-- send_history and the idempotency keys of those sends), send_decisions, suppressions and
-- experiment_holdouts. Each function runs inside its caller's SECURITY DEFINER function.

-- Erases a profile's sends (queued, leased and finished), their idempotency keys, its policy
-- decisions, suppressions and experiment holdouts; returns how many sends were erased.
CREATE FUNCTION personalize._forget_sends(profile_id bigint)
RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    WITH queued AS (
        DELETE FROM personalize.sends s WHERE s.profile_id = _forget_sends.profile_id
        RETURNING s.idempotency_key
    ), finished AS (
        DELETE FROM personalize.send_history h WHERE h.profile_id = _forget_sends.profile_id
        RETURNING h.idempotency_key
    ), erased AS (
        SELECT q.idempotency_key FROM queued q UNION ALL SELECT f.idempotency_key FROM finished f
    ), keys AS (
        -- a caller's key may carry personal data (an order number, an address): it goes too
        DELETE FROM personalize.send_keys k USING erased e WHERE k.idempotency_key = e.idempotency_key
    ), decisions AS (
        DELETE FROM personalize.send_decisions d WHERE d.profile_id = _forget_sends.profile_id
    ), suppressed AS (
        DELETE FROM personalize.suppressions x WHERE x.profile_id = _forget_sends.profile_id
    ), held AS (
        DELETE FROM personalize.experiment_holdouts x WHERE x.profile_id = _forget_sends.profile_id
    )
    SELECT count(*) FROM erased
$$;
COMMENT ON FUNCTION personalize._forget_sends(bigint) IS
'Erasure''s share of the send path: a profile''s sends, their idempotency keys, decisions, suppressions and holdouts; returns the sends erased';

-- A profile's sends, policy decisions, suppressions and experiment holdouts, as the keys of an
-- export_profile document (each an array, oldest first).
CREATE FUNCTION personalize._export_sends(profile_id bigint)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_build_object(
        'sends', coalesce((SELECT jsonb_agg(to_jsonb(s) - 'profile_id' ORDER BY s.created_at, s.send_id)
                             FROM personalize.sends_all s WHERE s.profile_id = _export_sends.profile_id), '[]'),
        'send_decisions', coalesce((SELECT jsonb_agg(to_jsonb(d) - 'profile_id' ORDER BY d.decided_at, d.decision_id)
                                      FROM personalize.send_decisions d
                                     WHERE d.profile_id = _export_sends.profile_id), '[]'),
        'suppressions', coalesce((SELECT jsonb_agg(to_jsonb(x) - 'profile_id' ORDER BY x.suppressed_at, x.reason)
                                    FROM personalize.suppressions x WHERE x.profile_id = _export_sends.profile_id), '[]'),
        'experiment_holdouts', coalesce((SELECT jsonb_agg(to_jsonb(x) - 'profile_id'
                                                          ORDER BY x.held_at, x.campaign_id, x.campaign_run)
                                           FROM personalize.experiment_holdouts x
                                          WHERE x.profile_id = _export_sends.profile_id), '[]'))
$$;
COMMENT ON FUNCTION personalize._export_sends(bigint) IS
'Right of access''s share of the send path: a profile''s sends, decisions, suppressions and holdouts as JSON arrays';

-- Moves the send path's rows of profile drop to profile keep (both locked by merge_profiles).
-- Where both have a send of one campaign run, the person gets one: a send already sent or
-- leased is kept, else keep's own (else the older); the other queued ones become cancelled,
-- with the kept send named in last_error. Leased sends are in a consumer's hands and stay.
-- Returns how many sends moved to keep.
CREATE FUNCTION personalize._merge_sends(keep bigint, drop bigint, as_of timestamptz)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    duplicates bigint[];
    moved bigint;
BEGIN
    WITH candidates AS (
        SELECT s.send_id, s.profile_id, s.campaign_id, s.campaign_run, s.status,
               CASE s.status WHEN 'leased' THEN 1 ELSE 2 END AS progress
          FROM personalize.sends s
         WHERE s.profile_id IN (keep, drop) AND s.campaign_id IS NOT NULL
        UNION ALL
        SELECT h.send_id, h.profile_id, h.campaign_id, h.campaign_run, h.status, 0
          FROM personalize.send_history h
         WHERE h.profile_id IN (keep, drop) AND h.campaign_id IS NOT NULL AND h.status = 'sent'
    ), ranked AS (
        SELECT c.*, first_value(c.send_id) OVER w AS kept_send, row_number() OVER w AS rank
          FROM candidates c
        WINDOW w AS (PARTITION BY c.campaign_id, c.campaign_run
                     ORDER BY c.progress, c.profile_id = keep DESC, c.send_id)
    ), marked AS (
        UPDATE personalize.sends s
           SET last_error = format('duplicate after merge of profile %s into %s: send %s of the same campaign run kept',
                                   drop, keep, r.kept_send)
          FROM ranked r
         WHERE s.send_id = r.send_id AND r.rank > 1 AND r.status = 'queued'
        RETURNING s.send_id
    )
    SELECT array_agg(m.send_id ORDER BY m.send_id) INTO duplicates FROM marked m;
    IF duplicates IS NOT NULL THEN
        PERFORM personalize._sends_finish(duplicates, 'cancelled', as_of);
    END IF;
    UPDATE personalize.sends s SET profile_id = keep WHERE s.profile_id = drop;
    GET DIAGNOSTICS moved = ROW_COUNT;
    -- the history moves too, so frequency caps count what the person was sent under either id
    UPDATE personalize.send_history h SET profile_id = keep WHERE h.profile_id = drop;
    UPDATE personalize.send_decisions d SET profile_id = keep WHERE d.profile_id = drop;
    INSERT INTO personalize.suppressions (profile_id, reason, source, send_id, suppressed_at)
    SELECT keep, x.reason, x.source, x.send_id, x.suppressed_at FROM personalize.suppressions x
     WHERE x.profile_id = drop ORDER BY x.reason
        ON CONFLICT (profile_id, reason) DO NOTHING;
    DELETE FROM personalize.suppressions x WHERE x.profile_id = drop;
    INSERT INTO personalize.experiment_holdouts (campaign_id, campaign_run, profile_id, held_at)
    SELECT x.campaign_id, x.campaign_run, keep, x.held_at FROM personalize.experiment_holdouts x
     WHERE x.profile_id = drop ORDER BY x.campaign_id, x.campaign_run
        ON CONFLICT (campaign_id, campaign_run, profile_id) DO NOTHING;
    DELETE FROM personalize.experiment_holdouts x WHERE x.profile_id = drop;
    RETURN moved;
END
$$;
COMMENT ON FUNCTION personalize._merge_sends(bigint, bigint, timestamptz) IS
'Merge''s share of the send path: drop''s sends, history, decisions, suppressions and holdouts move to keep; one send per campaign run stays queued';

REVOKE ALL ON FUNCTION personalize._forget_sends(bigint), personalize._export_sends(bigint),
    personalize._merge_sends(bigint, bigint, timestamptz) FROM PUBLIC;
