-- campaign_report(campaign) (docs/experiments.md, "The report"): one self-contained HTML page,
-- no scripts and no external assets: headline numbers, the funnel, each variant's rates with
-- their 95% intervals and cumulative conversions as inline SVG, and the verdict in words. Every
-- number comes from campaign_metrics, variant_metrics and holdout_metrics and carries its exact value in a
-- data-value attribute beside the rounded text, so a test can check the page against the views.

-- Text made safe for HTML element content and attribute values.
CREATE FUNCTION personalize._html(value text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT replace(replace(replace(replace(replace(value, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&#39;')
$$;

-- A number for the page: an element (span, or tspan inside SVG text) with the exact value in
-- data-value and the shown text.
CREATE FUNCTION personalize._report_number(metric text, variant text, value numeric, shown text, tag text DEFAULT 'span')
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('<%5$s class="num" data-metric="%1$s"%2$s data-value="%3$s">%4$s</%5$s>', personalize._html(metric),
                  CASE WHEN variant IS NOT NULL THEN format(' data-variant="%s"', personalize._html(variant)) ELSE '' END,
                  coalesce(value::text, ''), personalize._html(coalesce(shown, 'n/a')), tag)
$$;

-- A rate as a percentage with one decimal ("12.3%"), NULL as n/a.
CREATE FUNCTION personalize._report_percent(rate float8)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(to_char(round((rate * 100)::numeric, 1), 'FM9990.0') || '%', 'n/a')
$$;

CREATE FUNCTION personalize.campaign_report(campaign text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c personalize.campaign_metrics;
    ru personalize.campaign_rules;
    v record;
    html text;
    funnel text := '';
    rates text := '';
    curves text := '';
    verdicts text := '';
    holdout text := '';
    kpis text;
    y integer;
    x_max float8;
    t0 timestamptz;
    t1 timestamptz;
    n_max bigint;
    colours text[] := '{#1f77b4,#d62728,#2ca02c,#9467bd,#ff7f0e,#8c564b,#e377c2,#17becf}';
    i integer := 0;
    metric_word text;
BEGIN
    SELECT * INTO ru FROM personalize.campaign_rules r WHERE r.campaign = campaign_report.campaign;
    IF ru.campaign_id IS NULL THEN
        RAISE EXCEPTION 'campaign "%" does not exist', campaign USING ERRCODE = 'undefined_object';
    END IF;
    SELECT * INTO c FROM personalize.campaign_metrics m WHERE m.campaign_id = ru.campaign_id;
    metric_word := CASE ru.primary_metric WHEN 'open' THEN 'opens' WHEN 'click' THEN 'clicks'
                        WHEN 'conversion' THEN 'conversions' ELSE 'revenue per recipient' END;

    kpis := format('<div class="kpis">%s</div>', concat_ws('',
        format('<div class="kpi"><div class="label">Sent</div>%s</div>', personalize._report_number('sent', NULL, c.sent, c.sent::text)),
        format('<div class="kpi"><div class="label">Delivered</div>%s</div>', personalize._report_number('delivered', NULL, c.delivered, c.delivered::text)),
        format('<div class="kpi"><div class="label">Open rate</div>%s</div>', personalize._report_number('open_rate', NULL, c.open_rate::numeric, personalize._report_percent(c.open_rate))),
        format('<div class="kpi"><div class="label">Click rate</div>%s</div>', personalize._report_number('ctr', NULL, c.ctr::numeric, personalize._report_percent(c.ctr))),
        format('<div class="kpi"><div class="label">Conversions</div>%s</div>', personalize._report_number('conversions', NULL, c.conversions, c.conversions::text)),
        format('<div class="kpi"><div class="label">Revenue</div>%s</div>', personalize._report_number('revenue', NULL, c.revenue, to_char(c.revenue, 'FM999G999G999G990D00'))),
        format('<div class="kpi"><div class="label">Revenue per recipient</div>%s</div>',
               personalize._report_number('revenue_per_recipient', NULL, c.revenue_per_recipient, to_char(round(c.revenue_per_recipient, 2), 'FM999G990D00')))));

    -- the funnel: one bar per stage, its width the share of sent
    y := 0;
    FOR v IN SELECT * FROM (VALUES (1, 'Sent', 'sent', c.sent), (2, 'Delivered', 'delivered', c.delivered),
                                   (3, 'Opened', 'unique_opens', c.unique_opens), (4, 'Clicked', 'unique_clicks', c.unique_clicks),
                                   (5, 'Converted', 'converters', c.converters)) s(ord, label, metric, n) ORDER BY ord LOOP
        funnel := funnel || format('<text x="0" y="%s" class="lbl">%s</text><rect x="110" y="%s" width="%s" height="20" fill="#4e79a7"/>'
                                   '<text x="%s" y="%s" class="lbl">%s</text>',
                                   y + 15, v.label, y, round(500.0 * coalesce(v.n, 0) / greatest(c.sent, 1), 1),
                                   round(115 + 500.0 * coalesce(v.n, 0) / greatest(c.sent, 1), 1), y + 15,
                                   personalize._report_number(v.metric, 'funnel', v.n, v.n::text, 'tspan'));
        y := y + 28;
    END LOOP;
    funnel := format('<svg xmlns="http://www.w3.org/2000/svg" width="720" height="%s" role="img" aria-label="Funnel">%s</svg>', y, funnel);

    -- rates per variant with interval bars, on one scale per rate
    SELECT greatest(max(open_rate_upper), 0.01) INTO x_max FROM personalize.variant_metrics m WHERE m.campaign_id = ru.campaign_id;
    y := 20;
    FOR v IN SELECT m.*, r.label, r.rate, r.lower, r.upper, r.metric, r.ord
               FROM personalize.variant_metrics m,
                    LATERAL (VALUES (1, 'Open rate', 'open_rate', m.open_rate, m.open_rate_lower, m.open_rate_upper),
                                    (2, 'Click rate', 'ctr', m.ctr, m.ctr_lower, m.ctr_upper),
                                    (3, 'Conversion rate', 'conversion_rate', m.conversion_rate, m.conversion_rate_lower, m.conversion_rate_upper))
                            AS r(ord, label, metric, rate, lower, upper)
              WHERE m.campaign_id = ru.campaign_id ORDER BY r.ord, m.variant LOOP
        rates := rates || format('<text x="0" y="%s" class="lbl">%s %s</text>', y + 4, v.label, personalize._html(v.variant));
        IF v.rate IS NOT NULL THEN
            rates := rates || format('<line x1="%s" x2="%s" y1="%s" y2="%s" stroke="#555" stroke-width="2"/>'
                                     '<circle cx="%s" cy="%s" r="5" fill="#e15759"/><text x="%s" y="%s" class="lbl">%s (%s to %s)</text>',
                                     round((200 + 400 * v.lower / x_max)::numeric, 1), round((200 + 400 * v.upper / x_max)::numeric, 1), y, y,
                                     round((200 + 400 * v.rate / x_max)::numeric, 1), y, 610, y + 4,
                                     personalize._report_number(v.metric, v.variant, v.rate::numeric, personalize._report_percent(v.rate), 'tspan'),
                                     personalize._report_percent(v.lower), personalize._report_percent(v.upper));
        END IF;
        y := y + 24;
    END LOOP;
    rates := format('<svg xmlns="http://www.w3.org/2000/svg" width="900" height="%s" role="img" aria-label="Rates per variant with 95%% intervals">%s</svg>', y, rates);

    -- cumulative converting recipients over time, one line per variant
    SELECT min(o.sent_at), max(o.first_conversion_at), max(n) INTO t0, t1, n_max
      FROM personalize.send_outcomes o
      LEFT JOIN (SELECT variant, count(*) AS n FROM personalize.send_outcomes
                  WHERE campaign_id = ru.campaign_id AND first_conversion_at IS NOT NULL GROUP BY variant) k USING (variant)
     WHERE o.campaign_id = ru.campaign_id;
    IF t1 IS NOT NULL AND t1 > t0 THEN
        FOR v IN SELECT o.variant, string_agg(format('%s,%s',
                        round((60 + 600 * extract(epoch FROM o.first_conversion_at - t0) / extract(epoch FROM t1 - t0))::numeric, 1),
                        round((210 - 200.0 * o.k / n_max)::numeric, 1)), ' ' ORDER BY o.k) AS points, max(o.k) AS total
                   FROM (SELECT variant, first_conversion_at, row_number() OVER (PARTITION BY variant ORDER BY first_conversion_at, send_id) AS k
                           FROM personalize.send_outcomes WHERE campaign_id = ru.campaign_id AND first_conversion_at IS NOT NULL) o
                  GROUP BY o.variant ORDER BY o.variant LOOP
            i := i + 1;
            curves := curves || format('<polyline fill="none" stroke="%s" stroke-width="2" points="60,210 %s"/>'
                                       '<text x="670" y="%s" class="lbl" fill="%s">%s: %s</text>',
                                       colours[1 + (i - 1) % 8], v.points, 20 * i, colours[1 + (i - 1) % 8],
                                       personalize._html(coalesce(v.variant, '(none)')),
                                       personalize._report_number('converters', v.variant, v.total, v.total::text, 'tspan'));
        END LOOP;
        curves := format('<svg xmlns="http://www.w3.org/2000/svg" width="900" height="240" role="img" aria-label="Cumulative conversions">'
                         '<line x1="60" y1="210" x2="660" y2="210" stroke="#999"/><line x1="60" y1="10" x2="60" y2="210" stroke="#999"/>'
                         '<text x="60" y="232" class="lbl">%s</text><text x="560" y="232" class="lbl">%s</text>%s</svg>',
                         to_char(t0 AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC', to_char(t1 AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC', curves);
    ELSE
        curves := '<p>No conversions yet.</p>';
    END IF;

    -- the verdict per variant against the control, in words
    FOR v IN SELECT * FROM personalize.variant_metrics m WHERE m.campaign_id = ru.campaign_id AND NOT m.is_control ORDER BY m.variant LOOP
        verdicts := verdicts || '<p class="verdict">' ||
            CASE WHEN ru.primary_metric = 'revenue' THEN
                     format('%s against %s on revenue per recipient: %s (p = %s).', personalize._html(v.variant), personalize._html(v.control),
                            personalize._report_number('revenue_per_recipient', v.variant, v.revenue_per_recipient, to_char(round(v.revenue_per_recipient, 2), 'FM999G990D00')),
                            coalesce(to_char(v.p_value, 'FM0.0000'), 'n/a'))
                 WHEN v.difference IS NULL THEN
                     format('%s against %s on %s: not enough data yet.', personalize._html(v.variant), personalize._html(v.control), metric_word)
                 ELSE
                     format('%s %s %s on %s: %s%s pp, 95%% interval %s to %s pp, p %s, probability best %s%s.',
                            personalize._html(v.variant),
                            CASE WHEN v.p_value < coalesce((SELECT alpha FROM personalize.experiments WHERE experiment_id = ru.experiment_id), 0.05)
                                 THEN CASE WHEN v.difference > 0 THEN 'beats' ELSE 'loses to' END
                                 ELSE 'shows no significant difference from' END,
                            personalize._html(v.control), metric_word,
                            CASE WHEN v.difference >= 0 THEN '+' ELSE '' END,
                            personalize._report_number('difference', v.variant, v.difference::numeric, to_char(round((v.difference * 100)::numeric, 1), 'FM990.0')),
                            to_char(round((v.difference_lower * 100)::numeric, 1), 'FM990.0'), to_char(round((v.difference_upper * 100)::numeric, 1), 'FM990.0'),
                            personalize._report_number('p_value', v.variant, v.p_value::numeric,
                                CASE WHEN v.p_value < 0.0001 THEN 'below 0.0001' ELSE '= ' || to_char(v.p_value, 'FM0.0000') END),
                            personalize._report_number('probability_best', v.variant, v.probability_best::numeric,
                                CASE WHEN v.probability_best > 0.999 THEN 'above 99.9%' WHEN v.probability_best < 0.001 THEN 'below 0.1%'
                                     ELSE personalize._report_percent(v.probability_best) END),
                            CASE WHEN v.sequential_conclusive THEN '; conclusive by the always-valid sequential test'
                                 ELSE '; not yet conclusive by the always-valid sequential test' END)
            END || '</p>';
    END LOOP;

    -- the recipients against the holdout (holdout_metrics), when the experiment held members out
    FOR v IN SELECT * FROM personalize.holdout_metrics h WHERE h.campaign_id = ru.campaign_id AND h.variant IS NULL LOOP
        holdout := format('<h2>Against the holdout</h2><p class="verdict">%s held-out members got no e-mail. Followed for %s from '
                          'assignment, %s of the recipients ordered against %s of the holdout: a lift of %s%s pp, 95%% '
                          'interval %s to %s pp, p %s.</p>',
                          personalize._report_number('holdout_members', 'holdout', v.holdout_members, v.holdout_members::text),
                          ru.attribution_window::text,
                          personalize._report_number('conversion_rate', 'holdout', v.conversion_rate::numeric, personalize._report_percent(v.conversion_rate)),
                          personalize._report_number('holdout_conversion_rate', 'holdout', v.holdout_conversion_rate::numeric,
                                                     personalize._report_percent(v.holdout_conversion_rate)),
                          CASE WHEN v.lift >= 0 THEN '+' ELSE '' END,
                          personalize._report_number('lift', 'holdout', v.lift::numeric, to_char(round((v.lift * 100)::numeric, 1), 'FM990.0')),
                          to_char(round((v.lift_lower * 100)::numeric, 1), 'FM990.0'), to_char(round((v.lift_upper * 100)::numeric, 1), 'FM990.0'),
                          personalize._report_number('p_value', 'holdout', v.p_value::numeric,
                              CASE WHEN v.p_value < 0.0001 THEN 'below 0.0001' ELSE '= ' || to_char(v.p_value, 'FM0.0000') END));
    END LOOP;

    html := format($page$<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Campaign report: %1$s</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
.kpis { display: flex; flex-wrap: wrap; gap: 12px; }
.kpi { border: 1px solid #ddd; border-radius: 6px; padding: 10px 14px; min-width: 120px; }
.kpi .label { color: #666; font-size: 12px; } .kpi .num { font-size: 20px; font-weight: 600; }
.lbl { font-size: 12px; } .verdict { font-size: 15px; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: 4px 8px; text-align: right; }
</style></head>
<body>
<h1>Campaign report: %1$s</h1>
<p>Experiment: %2$s. Primary metric: %3$s. Attribution: %12$s within %4$s. Machine opens %5$s.</p>
%6$s
<h2>Funnel</h2>
%7$s
<h2>Rates per variant (95%% Wilson intervals)</h2>
%8$s
<h2>Cumulative converting recipients</h2>
%9$s
<h2>Verdict</h2>
%10$s
%11$s
</body></html>
$page$, personalize._html(campaign), personalize._html(coalesce(ru.experiment, 'none')), ru.primary_metric,
        ru.attribution_window::text, CASE WHEN ru.exclude_machine_opens THEN 'excluded' ELSE 'counted' END,
        kpis, funnel, rates, curves, coalesce(nullif(verdicts, ''), '<p class="verdict">No variants to compare.</p>'), holdout,
        CASE ru.attribution WHEN 'last_send' THEN 'last send' ELSE 'last open or click' END);
    RETURN html;
END
$$;
COMMENT ON FUNCTION personalize.campaign_report(text) IS
'A self-contained HTML page (inline SVG, no scripts or external assets) with the campaign''s headline numbers, funnel, rates per variant with intervals, cumulative conversions and the verdict in words';

REVOKE ALL ON FUNCTION personalize._html(text), personalize._report_number(text, text, numeric, text, text),
    personalize._report_percent(float8), personalize.campaign_report(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION personalize._html(text), personalize._report_number(text, text, numeric, text, text),
    personalize._report_percent(float8), personalize.campaign_report(text) TO personalize_admin, personalize_analyst;
