-- Experiments in campaigns (docs/experiments.md, "Running an experiment"): a campaign whose
-- experiment column names an experiment enqueues each member with its variant (template,
-- subject line, send-time offset), keeps its holdout out of the outbox but on record, lets the
-- rest of a test-then-roll-out audience wait for the decision that experiment_tick takes, and
-- allocates a Thompson-sampling campaign's later runs by each variant's probability of being
-- best; the holdout measured against the recipients (holdout_metrics).

-- The profiles an experiment kept from a campaign run: its holdout, measured against the sends.
CREATE TABLE personalize.experiment_holdouts (
    campaign_id  integer NOT NULL,
    campaign_run bigint NOT NULL,
    profile_id   bigint NOT NULL,
    held_at      timestamptz NOT NULL,
    PRIMARY KEY (campaign_id, campaign_run, profile_id)
);
CREATE INDEX experiment_holdouts_profile_idx ON personalize.experiment_holdouts (profile_id);
COMMENT ON TABLE personalize.experiment_holdouts IS
'Profiles of a campaign run that its experiment held out (no e-mail), so the holdout can be measured';
SELECT pg_catalog.pg_extension_config_dump('personalize.experiment_holdouts', '');

-- The weights of a campaign run's variants: their own, or for a Thompson-sampling experiment each
-- variant's posterior probability of being best on the primary rate so far (all equal at first).
CREATE FUNCTION personalize.experiment_weights(campaign_id integer)
RETURNS float8[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN x.allocation = 'thompson' THEN
                (SELECT (personalize.bayes_best(array_agg(coalesce(k.successes, 0) ORDER BY v.position),
                                                array_agg(coalesce(k.delivered, 0) ORDER BY v.position))).probability_best
                   FROM personalize.experiment_variants v
                   LEFT JOIN (SELECT c.variant, c.delivered,
                                     CASE x.primary_metric WHEN 'open' THEN c.unique_opens WHEN 'click' THEN c.unique_clicks
                                          ELSE c.converters END AS successes
                                FROM personalize._campaign_counts(false) c
                               WHERE c.campaign_id = experiment_weights.campaign_id AND c.breakdown = 'variant') k
                          USING (variant)
                  WHERE v.experiment_id = x.experiment_id)
           END
      FROM personalize.campaigns c JOIN personalize.experiments x ON x.name = c.experiment
     WHERE c.campaign_id = experiment_weights.campaign_id
$$;
COMMENT ON FUNCTION personalize.experiment_weights(integer) IS
'NULL (the variants'' own weights), or for a thompson experiment each variant''s probability of being best on the primary rate so far';

-- Enqueues a campaign run's members through its experiment: called by launch_campaign with the
-- members and send times (their keys are derived from the run); one _enqueue per variant (each has its own template).
CREATE FUNCTION personalize._experiment_enqueue(c personalize.campaigns, run_id bigint, ids bigint[],
                                                send_ats timestamptz[], as_of timestamptz,
                                                OUT queued bigint, OUT deferred bigint, OUT suppressed bigint,
                                                OUT existing bigint)
RETURNS record
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v record;
    r record;
    w float8[];
    vs text[];
    members bigint[];
    member_send_ats timestamptz[];
    n integer;
BEGIN
    queued := 0; deferred := 0; suppressed := 0; existing := 0;
    IF NOT EXISTS (SELECT FROM personalize.experiments x WHERE x.name = c.experiment) THEN
        RAISE EXCEPTION 'experiment "%" of campaign "%" does not exist', c.experiment, c.name
            USING ERRCODE = 'undefined_object';
    END IF;
    w := personalize.experiment_weights(c.campaign_id);
    -- the variant of each member, aligned with ids (a bandit's run re-salted by the run id)
    SELECT array_agg(a.variant ORDER BY m.ord) INTO vs
      FROM unnest(ids) WITH ORDINALITY AS m(profile_id, ord)
      JOIN personalize.assign_variants(c.experiment, ids, w, CASE WHEN w IS NOT NULL THEN run_id::text END) a
     USING (profile_id);
    INSERT INTO personalize.experiment_holdouts (campaign_id, campaign_run, profile_id, held_at)
    SELECT c.campaign_id, run_id, m.profile_id, as_of FROM unnest(ids, vs) AS m(profile_id, variant)
     WHERE m.variant = 'holdout'
        ON CONFLICT DO NOTHING;
    FOR v IN SELECT ev.variant, coalesce(ev.template, c.template) AS template, ev.subject, ev.send_offset
               FROM personalize.experiment_variants ev JOIN personalize.experiments x USING (experiment_id)
              WHERE x.name = c.experiment ORDER BY ev.position LOOP
        SELECT coalesce(array_agg(m.profile_id ORDER BY m.profile_id), '{}'),
               coalesce(array_agg(CASE WHEN v.send_offset IS NULL THEN m.send_at
                                       ELSE coalesce(m.send_at, as_of) + v.send_offset END ORDER BY m.profile_id), '{}')
          INTO members, member_send_ats
          FROM unnest(ids, send_ats, vs) AS m(profile_id, send_at, variant)
         WHERE m.variant = v.variant;
        n := cardinality(members);
        -- keys derived from the run (launch_campaign holds the campaign's lock)
        r := personalize._enqueue(members, NULL,
                                  array_fill(jsonb_build_object('experiment', jsonb_strip_nulls(jsonb_build_object(
                                      'name', c.experiment, 'variant', v.variant, 'subject', v.subject))), ARRAY[n]),
                                  member_send_ats, array_fill(v.variant, ARRAY[n]),
                                  v.template, c.kind, c.priority, c.campaign_id, run_id, as_of);
        queued := queued + r.queued; deferred := deferred + r.deferred;
        suppressed := suppressed + r.suppressed; existing := existing + r.existing;
    END LOOP;
END
$$;
COMMENT ON FUNCTION personalize._experiment_enqueue(personalize.campaigns, bigint, bigint[], timestamptz[], timestamptz) IS
'launch_campaign''s path for a campaign with an experiment: variants by assign_variants, holdouts recorded, one _enqueue per variant';

-- Decides test-then-roll-out experiments whose test has run for decide_after: the best variant
-- that the always-valid sequential test finds better than the control on the primary rate wins,
-- else the control; the campaign's last run is launched again so the waiting members get it.
CREATE FUNCTION personalize.experiment_tick(as_of timestamptz DEFAULT now())
RETURNS TABLE (experiment text, campaign text, winner text, decision text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d record;
BEGIN
    PERFORM personalize._check_as_of(as_of);
    FOR d IN
        SELECT x.experiment_id, x.name AS experiment, c.name AS campaign, c.last_run, ctl.variant AS control,
               (SELECT m.variant FROM personalize.variant_metrics m
                 WHERE m.campaign_id = c.campaign_id AND NOT m.is_control AND m.sequential_conclusive
                   AND m.difference > 0
                 ORDER BY m.difference DESC, m.variant LIMIT 1) AS better
          FROM personalize.experiments x
          JOIN personalize.campaigns c ON c.experiment = x.name
          JOIN personalize.experiment_variants ctl ON ctl.experiment_id = x.experiment_id AND ctl.is_control
          JOIN personalize.campaign_runs cr ON cr.campaign_id = c.campaign_id AND cr.run = c.last_run
         WHERE x.allocation = 'test_then_rollout' AND x.winner IS NULL AND x.primary_metric <> 'revenue'
           AND cr.launched_at + x.decide_after <= as_of AND c.status NOT IN ('paused', 'cancelled')
         ORDER BY x.experiment_id
           FOR UPDATE OF x
    LOOP
        UPDATE personalize.experiments x
           SET winner = coalesce(d.better, d.control), decided_at = as_of,
               decision = CASE WHEN d.better IS NOT NULL
                               THEN format('%s beats the control %s by the sequential test', d.better, d.control)
                               ELSE format('no variant conclusively beats the control %s: it goes to the rest', d.control) END
         WHERE x.experiment_id = d.experiment_id
        RETURNING x.name, x.winner, x.decision INTO experiment, winner, decision;
        campaign := d.campaign;
        PERFORM personalize.launch_campaign(d.campaign, as_of, d.last_run);
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION personalize.experiment_tick(timestamptz) IS
'Decides each test-then-roll-out experiment whose test ran decide_after: a variant the sequential test finds better than the control, else the control; the waiting members then get the winner';

-- The holdout measured: each campaign run's held-out members and its recipients (every send of
-- the run, whatever became of it: the intent to treat), each followed for the attribution window
-- from the moment of assignment (the launch: held_at, the send's created_at). A member converts
-- with any Order Completed in that window; revenue is what those orders sum to. Per campaign
-- (variant NULL: all variants together) and per variant, against the holdout: the conversion
-- rates with Wilson intervals, the lift (difference) with its Newcombe interval and the z-test's
-- p-value, the relative lift, and revenue per member with Welch's test.
CREATE VIEW personalize.holdout_metrics AS
WITH members AS (
    SELECT h.campaign_id, NULL::text AS variant, true AS held_out, h.profile_id, h.held_at AS assigned_at
      FROM personalize.experiment_holdouts h
    UNION ALL
    SELECT s.campaign_id, s.variant, false, s.profile_id, s.created_at
      FROM personalize.sends_all s
     WHERE s.campaign_id IN (SELECT h.campaign_id FROM personalize.experiment_holdouts h) AND s.variant IS NOT NULL
), followed AS (
    SELECT m.campaign_id, m.variant, m.held_out, coalesce(o.orders, 0) > 0 AS converted, coalesce(o.revenue, 0) AS revenue
      FROM members m
      JOIN personalize.campaign_rules ru USING (campaign_id)
      LEFT JOIN LATERAL (SELECT count(*) AS orders, sum(t.revenue) AS revenue FROM personalize.order_touches t
                          WHERE t.profile_id = m.profile_id AND t.occurred_at >= m.assigned_at
                            AND t.occurred_at <= m.assigned_at + ru.attribution_window) o ON true
), counts AS (
    SELECT f.campaign_id, f.variant, GROUPING(f.variant) = 1 AS all_variants,
           count(*) AS members, count(*) FILTER (WHERE f.converted) AS converters, sum(f.revenue) AS revenue,
           avg(f.revenue) AS revenue_per_member, coalesce(var_samp(f.revenue), 0) AS revenue_variance
      FROM followed f WHERE NOT f.held_out
     GROUP BY GROUPING SETS ((f.campaign_id), (f.campaign_id, f.variant))
), holdout AS (
    SELECT f.campaign_id, count(*) AS members, count(*) FILTER (WHERE f.converted) AS converters,
           sum(f.revenue) AS revenue, avg(f.revenue) AS revenue_per_member, coalesce(var_samp(f.revenue), 0) AS revenue_variance
      FROM followed f WHERE f.held_out GROUP BY f.campaign_id
)
SELECT c.name AS campaign, k.campaign_id, k.variant,
       k.members, k.converters, tr.rate AS conversion_rate, tr.lower AS conversion_rate_lower, tr.upper AS conversion_rate_upper,
       k.revenue, k.revenue_per_member,
       h.members AS holdout_members, h.converters AS holdout_converters,
       hr.rate AS holdout_conversion_rate, hr.lower AS holdout_conversion_rate_lower, hr.upper AS holdout_conversion_rate_upper,
       h.revenue AS holdout_revenue, h.revenue_per_member AS holdout_revenue_per_member,
       n.difference AS lift, n.lower AS lift_lower, n.upper AS lift_upper, z.p_value,
       tr.rate / nullif(hr.rate, 0) - 1 AS relative_lift,
       k.revenue_per_member - h.revenue_per_member AS revenue_lift, w.p_value AS revenue_p_value
  FROM counts k
  JOIN holdout h USING (campaign_id)
  JOIN personalize.campaigns c USING (campaign_id)
  CROSS JOIN LATERAL personalize.wilson_interval(k.converters, k.members) tr
  CROSS JOIN LATERAL personalize.wilson_interval(h.converters, h.members) hr
  CROSS JOIN LATERAL personalize.newcombe_interval(h.converters, h.members, k.converters, k.members) n
  CROSS JOIN LATERAL personalize.z_test(h.converters, h.members, k.converters, k.members) z
  LEFT JOIN LATERAL personalize.welch_test(h.members, h.revenue_per_member, h.revenue_variance,
                                           k.members, k.revenue_per_member, k.revenue_variance) w
         ON h.members > 1 AND k.members > 1;
COMMENT ON VIEW personalize.holdout_metrics IS
'Per campaign with a holdout (variant NULL: all recipients) and per variant: conversion within the attribution window of assignment against the holdout''s, the lift with its Newcombe interval and z-test p-value, revenue per member with Welch''s test';

REVOKE ALL ON FUNCTION personalize.experiment_weights(integer),
    personalize._experiment_enqueue(personalize.campaigns, bigint, bigint[], timestamptz[], timestamptz),
    personalize.experiment_tick(timestamptz) FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON personalize.experiment_holdouts TO personalize_admin;
GRANT SELECT ON personalize.experiment_holdouts TO personalize_analyst;
GRANT SELECT ON personalize.holdout_metrics TO personalize_admin, personalize_analyst;
GRANT EXECUTE ON FUNCTION personalize.experiment_weights(integer),
    personalize._experiment_enqueue(personalize.campaigns, bigint, bigint[], timestamptz[], timestamptz),
    personalize.experiment_tick(timestamptz) TO personalize_admin;
GRANT EXECUTE ON FUNCTION personalize.experiment_weights(integer) TO personalize_analyst;
