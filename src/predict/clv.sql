-- Customer lifetime value and churn (src/predict/clv.c over src/predict/clv_model.c): the BG/NBD
-- purchase model and the Gamma-Gamma spend model fitted by maximum likelihood over the per-profile
-- purchase summary, the fitted models in personalize.clv_models, and per-profile predictions read
-- from the profiles' live purchase state.

CREATE TYPE personalize.bgnbd_fit_result AS (
    r           float8,
    alpha       float8,
    a           float8,
    b           float8,
    loglik      float8,
    customers   bigint,
    iterations  integer
);
COMMENT ON TYPE personalize.bgnbd_fit_result IS
'A BG/NBD fit: purchase rates ~ Gamma(r, alpha) (alpha in the time unit of the data), drop-out probability ~ Beta(a, b); the maximized log-likelihood, the customers and the optimizer''s iterations';

CREATE TYPE personalize.gamma_gamma_fit_result AS (
    p           float8,
    q           float8,
    v           float8,
    loglik      float8,
    customers   bigint,
    iterations  integer
);
COMMENT ON TYPE personalize.gamma_gamma_fit_result IS
'A Gamma-Gamma fit: the amount of a purchase ~ Gamma(p, nu), nu ~ Gamma(q, v) across customers; the maximized log-likelihood, the customers and the optimizer''s iterations';

CREATE FUNCTION personalize._bgnbd_trans(internal, float8, float8, float8)
RETURNS internal AS 'MODULE_PATHNAME', 'personalize_bgnbd_trans' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION personalize._gamma_gamma_trans(internal, float8, float8)
RETURNS internal AS 'MODULE_PATHNAME', 'personalize_gamma_gamma_trans' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION personalize._clv_combine(internal, internal)
RETURNS internal AS 'MODULE_PATHNAME', 'personalize_clv_combine' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION personalize._clv_serialize(internal)
RETURNS bytea AS 'MODULE_PATHNAME', 'personalize_clv_serialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION personalize._clv_deserialize(bytea, internal)
RETURNS internal AS 'MODULE_PATHNAME', 'personalize_clv_deserialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION personalize._bgnbd_final(internal)
RETURNS personalize.bgnbd_fit_result AS 'MODULE_PATHNAME', 'personalize_bgnbd_final' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION personalize._gamma_gamma_final(internal)
RETURNS personalize.gamma_gamma_fit_result AS 'MODULE_PATHNAME', 'personalize_gamma_gamma_final' LANGUAGE C PARALLEL SAFE;

CREATE AGGREGATE personalize.bgnbd_fit(x float8, t_x float8, "T" float8) (
    SFUNC = personalize._bgnbd_trans,
    STYPE = internal,
    FINALFUNC = personalize._bgnbd_final,
    COMBINEFUNC = personalize._clv_combine,
    SERIALFUNC = personalize._clv_serialize,
    DESERIALFUNC = personalize._clv_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE personalize.bgnbd_fit(float8, float8, float8) IS
'Fits BG/NBD by maximum likelihood: x repeat purchases, t_x the time of the last one and T the age, both since the first purchase, in one time unit; NULL over no rows';

CREATE AGGREGATE personalize.gamma_gamma_fit(x float8, mean_spend float8) (
    SFUNC = personalize._gamma_gamma_trans,
    STYPE = internal,
    FINALFUNC = personalize._gamma_gamma_final,
    COMBINEFUNC = personalize._clv_combine,
    SERIALFUNC = personalize._clv_serialize,
    DESERIALFUNC = personalize._clv_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE personalize.gamma_gamma_fit(float8, float8) IS
'Fits the Gamma-Gamma spend model by maximum likelihood: x purchases (at least 1) of mean amount mean_spend; NULL over no rows';

CREATE FUNCTION personalize.bgnbd_loglik(r float8, alpha float8, a float8, b float8,
                                         x float8, t_x float8, "T" float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'personalize_bgnbd_loglik' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.bgnbd_loglik(float8, float8, float8, float8, float8, float8, float8) IS
'One customer''s BG/NBD log-likelihood, computed in log space';

CREATE FUNCTION personalize.bgnbd_p_alive(r float8, alpha float8, a float8, b float8,
                                          x float8, t_x float8, "T" float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'personalize_bgnbd_p_alive' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.bgnbd_p_alive(float8, float8, float8, float8, float8, float8, float8) IS
'The probability that a customer with this history is still active (1 for x = 0)';

CREATE FUNCTION personalize.bgnbd_expected_purchases(r float8, alpha float8, a float8, b float8,
                                                     x float8, t_x float8, "T" float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'personalize_bgnbd_expected_purchases' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.bgnbd_expected_purchases(float8, float8, float8, float8, float8, float8, float8, float8) IS
'Expected purchases in the next t time units of a customer with this history (the paper''s equation 10)';

CREATE FUNCTION personalize.bgnbd_expected_purchases_new(r float8, alpha float8, a float8, b float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'personalize_bgnbd_expected_purchases_new' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.bgnbd_expected_purchases_new(float8, float8, float8, float8, float8) IS
'Expected purchases in the first t time units of a new customer (the paper''s equation 9)';

CREATE FUNCTION personalize.bgnbd_prob_purchases(r float8, alpha float8, a float8, b float8, t float8, n integer)
RETURNS float8 AS 'MODULE_PATHNAME', 'personalize_bgnbd_prob_purchases' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.bgnbd_prob_purchases(float8, float8, float8, float8, float8, integer) IS
'The probability that a new customer makes exactly n purchases in t time units (the paper''s equation 8)';

CREATE FUNCTION personalize.gamma_gamma_loglik(p float8, q float8, v float8, x float8, mean_spend float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'personalize_gamma_gamma_loglik' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.gamma_gamma_loglik(float8, float8, float8, float8, float8) IS
'One customer''s Gamma-Gamma log-likelihood for x purchases of mean amount mean_spend';

CREATE FUNCTION personalize.gamma_gamma_expected_spend(p float8, q float8, v float8, x float8, mean_spend float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'personalize_gamma_gamma_expected_spend' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.gamma_gamma_expected_spend(float8, float8, float8, float8, float8) IS
'The expected amount of a purchase of a customer with x purchases of mean mean_spend: a weighted mean of theirs and the population''s (x = 0: the population''s)';

CREATE FUNCTION personalize.clv_value(r float8, alpha float8, a float8, b float8,
                                      x float8, t_x float8, "T" float8, spend float8,
                                      periods integer, period float8, discount_rate float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'personalize_clv_value' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.clv_value(float8, float8, float8, float8, float8, float8, float8, float8, integer, float8, float8) IS
'Lifetime value over periods periods of length period: spend times the expected purchases in each period, discounted by (1 + discount_rate)^i';

CREATE TABLE personalize.clv_models (
    model_id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    as_of                 timestamptz NOT NULL CHECK (pg_catalog.isfinite(as_of)),
    time_unit             interval NOT NULL CHECK (time_unit >= interval '1 second' AND time_unit <= interval '3660 days'),
    r                     float8 NOT NULL CHECK (r > 0 AND r < 'Infinity'),
    alpha                 float8 NOT NULL CHECK (alpha > 0 AND alpha < 'Infinity'),
    a                     float8 NOT NULL CHECK (a > 0 AND a < 'Infinity'),
    b                     float8 NOT NULL CHECK (b > 0 AND b < 'Infinity'),
    bgnbd_loglik          float8 NOT NULL CHECK (bgnbd_loglik > '-Infinity' AND bgnbd_loglik < 'Infinity'),
    bgnbd_customers       bigint NOT NULL CHECK (bgnbd_customers >= 0),
    p                     float8 CHECK (p > 0 AND p < 'Infinity'),
    q                     float8 CHECK (q > 1 AND q < 'Infinity'),
    v                     float8 CHECK (v > 0 AND v < 'Infinity'),
    gamma_gamma_loglik    float8 CHECK (gamma_gamma_loglik > '-Infinity' AND gamma_gamma_loglik < 'Infinity'),
    gamma_gamma_customers bigint NOT NULL CHECK (gamma_gamma_customers >= 0),
    fitted_at             timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp(),
    -- a spend model is whole or absent
    CONSTRAINT clv_models_spend_model_whole CHECK ((p IS NULL) = (q IS NULL) AND (p IS NULL) = (v IS NULL) AND (p IS NULL) = (gamma_gamma_loglik IS NULL))
);
COMMENT ON TABLE personalize.clv_models IS
'Every CLV fit (personalize.fit_clv): BG/NBD parameters (alpha in time_unit), Gamma-Gamma parameters (NULL when fewer than 10 repeat buyers, or when spend does not vary between customers), log-likelihoods and sample sizes; predictions and segment rules use the latest. Parameters are checked finite and positive (q > 1, so that the population''s mean spend exists); only admins write rows directly, analysts store fits through fit_clv';
SELECT pg_catalog.pg_extension_config_dump('personalize.clv_models', '');

CREATE FUNCTION personalize._check_time_unit(time_unit interval)
RETURNS float8
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF time_unit IS NULL OR extract(epoch FROM time_unit) <= 0 THEN
        RAISE EXCEPTION 'the CLV time unit must be a positive interval'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got %s.', time_unit);
    END IF;
    RETURN extract(epoch FROM time_unit);
END
$$;
COMMENT ON FUNCTION personalize._check_time_unit(interval) IS 'The seconds in a CLV time unit, refusing one that is not positive';

-- The purchase summary the models read: x repeat purchases, t_x and T in time units since the first
-- purchase, the mean amount over all purchases. From the live profile columns, except for profiles
-- with a purchase after as_of, which are summarized exactly from their events.
CREATE FUNCTION personalize.purchase_summary(as_of timestamptz DEFAULT now(), time_unit interval DEFAULT '7 days',
                                             profile_ids bigint[] DEFAULT NULL)
RETURNS TABLE (profile_id bigint, x float8, t_x float8, "T" float8, mean_spend float8, purchases bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    unit float8 := personalize._check_time_unit(time_unit);
    st personalize.scoring_settings;
BEGIN
    IF as_of IS NULL OR NOT isfinite(as_of) THEN
        RAISE EXCEPTION 'as_of must be a finite time' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO st FROM personalize.scoring_settings;
    RETURN QUERY
    WITH live AS (
        SELECT p.profile_id, p.purchase_count AS n, p.purchase_total AS total,
               p.first_purchase_at AS first_at, p.last_purchase_at AS last_at
        FROM personalize.profiles p
        WHERE p.purchase_count > 0 AND p.last_purchase_at <= as_of
          AND (profile_ids IS NULL OR p.profile_id = ANY (profile_ids))
    ), exact AS (
        SELECT e.profile_id, (personalize.rfm_agg(e.occurred_at, personalize.purchase_amount(e.properties, st.amount_properties), as_of)).*
        FROM personalize.events e
        WHERE e.event = st.purchase_event AND e.occurred_at <= as_of
          AND e.profile_id IN (SELECT p.profile_id FROM personalize.profiles p
                               WHERE p.last_purchase_at > as_of
                                 AND (profile_ids IS NULL OR p.profile_id = ANY (profile_ids)))
        GROUP BY e.profile_id
    ), summary AS (
        SELECT l.profile_id, l.n, l.total, l.first_at, l.last_at FROM live l
        UNION ALL
        SELECT x.profile_id, x.frequency, x.monetary, x.first_purchase, x.last_purchase
        FROM exact x WHERE x.frequency > 0
    )
    SELECT s.profile_id, (s.n - 1)::float8,
           extract(epoch FROM s.last_at - s.first_at)::float8 / unit,
           extract(epoch FROM as_of - s.first_at)::float8 / unit,
           (s.total / s.n)::float8, s.n
    FROM summary s
    WHERE s.first_at < as_of;
END
$$;
COMMENT ON FUNCTION personalize.purchase_summary(timestamptz, interval, bigint[]) IS
'Per purchasing profile as of a time: repeat purchases x, recency t_x and age T in time units since the first purchase, mean amount; profiles whose first purchase is not before as_of are left out';

-- Fits both models as of a time and stores them: the fit itself, run as the extension's owner so
-- that an analyst can store a model only by fitting it on the purchase data (clv_models is not
-- theirs to write: segment rules read it).
CREATE FUNCTION personalize._clv_fit_and_store(as_of timestamptz, time_unit interval)
RETURNS personalize.clv_models
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fits record;
    gg personalize.gamma_gamma_fit_result;
    m personalize.clv_models;
BEGIN
    -- one read of the purchase summary: the purchase model's fit, and the repeat buyers' purchases
    -- and mean spends kept for the spend model's
    SELECT personalize.bgnbd_fit(s.x, s.t_x, s."T") AS bg,
           array_agg(s.purchases::float8) FILTER (WHERE s.x > 0 AND s.mean_spend > 0) AS purchases,
           array_agg(s.mean_spend) FILTER (WHERE s.x > 0 AND s.mean_spend > 0) AS spends
      INTO fits
      FROM personalize.purchase_summary(as_of, time_unit) s;
    IF fits.bg IS NULL THEN
        RAISE EXCEPTION 'cannot fit the CLV models: no profile has a purchase before %', as_of
            USING ERRCODE = 'no_data_found', HINT = 'Purchases are the events named in personalize.scoring_settings.purchase_event.';
    END IF;
    -- the spend model on the repeat buyers, when there are enough of them
    -- (when spend does not vary between customers the model cannot be identified: no spend model)
    IF coalesce(cardinality(fits.purchases), 0) >= 10 THEN
        BEGIN
            SELECT (f.fit).* INTO gg
              FROM (SELECT personalize.gamma_gamma_fit(u.purchases, u.mean_spend) AS fit
                      FROM unnest(fits.purchases, fits.spends) u(purchases, mean_spend)) f;
        EXCEPTION WHEN SQLSTATE '22000' THEN  -- the fit's own "cannot identify" error, nothing else
            RAISE NOTICE 'no spend model: %', SQLERRM
                USING DETAIL = 'Predictions use each customer''s own mean spend.';
            gg := NULL;
        END;
    END IF;
    INSERT INTO personalize.clv_models (as_of, time_unit, r, alpha, a, b, bgnbd_loglik, bgnbd_customers,
                                        p, q, v, gamma_gamma_loglik, gamma_gamma_customers)
    VALUES (as_of, time_unit, (fits.bg).r, (fits.bg).alpha, (fits.bg).a, (fits.bg).b, (fits.bg).loglik, (fits.bg).customers,
            gg.p, gg.q, gg.v, gg.loglik, coalesce(gg.customers, 0))
    RETURNING * INTO m;
    RETURN m;
END
$$;
COMMENT ON FUNCTION personalize._clv_fit_and_store(timestamptz, interval) IS
'fit_clv''s fit and its row in clv_models, as the extension''s owner: the only way an analyst stores a model';

-- Fits both models as of a time and stores them; refreshes the segments that read them.
CREATE FUNCTION personalize.fit_clv(as_of timestamptz DEFAULT now(), time_unit interval DEFAULT '7 days')
RETURNS personalize.clv_models
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m personalize.clv_models;
BEGIN
    PERFORM personalize._check_time_unit(time_unit);
    IF as_of IS NULL OR NOT isfinite(as_of) THEN
        RAISE EXCEPTION 'as_of must be a finite time' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    m := personalize._clv_fit_and_store(as_of, time_unit);
    -- segment rules on p_alive and churn_risk read the latest model: refreshed when the caller
    -- may write segments (an admin); an analyst is told
    IF EXISTS (SELECT FROM personalize.segments s WHERE s.kind = 'rule' AND 'clv' = ANY (s.reads_fields)) THEN
        IF has_function_privilege('personalize._segments_refresh_reading(text, timestamptz, text)', 'EXECUTE') THEN
            PERFORM personalize._segments_refresh_reading('clv'::text, as_of, 'fit_clv'::text);
        ELSE
            RAISE NOTICE 'segments that read p_alive or churn_risk were not refreshed'
                USING HINT = 'An admin''s personalize.refresh_segment(name) brings them up to date.';
        END IF;
    END IF;
    RETURN m;
END
$$;
-- The latest model, or the one asked for; refuses when there is none.
CREATE FUNCTION personalize._clv_model(model_id bigint)
RETURNS personalize.clv_models
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m personalize.clv_models;
BEGIN
    SELECT * INTO m FROM personalize.clv_models c
     WHERE _clv_model.model_id IS NULL OR c.model_id = _clv_model.model_id
     ORDER BY c.model_id DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no CLV model%', coalesce(' ' || model_id, '')
            USING ERRCODE = 'undefined_object', HINT = 'Fit one with personalize.fit_clv(as_of).';
    END IF;
    RETURN m;
END
$$;
COMMENT ON FUNCTION personalize._clv_model(bigint) IS 'The CLV model with this id, or the latest when NULL';

-- Per purchasing profile: how likely it is still a customer, what it will buy and what it is worth.
CREATE FUNCTION personalize.clv_predictions(as_of timestamptz DEFAULT now(), periods integer DEFAULT 12,
                                            period interval DEFAULT '30 days', discount_rate float8 DEFAULT 0.01,
                                            profile_ids bigint[] DEFAULT NULL, model_id bigint DEFAULT NULL)
RETURNS TABLE (profile_id bigint, p_alive float8, churn_risk float8, expected_purchases float8,
               expected_spend float8, clv float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m personalize.clv_models := personalize._clv_model(model_id);
    len float8 := extract(epoch FROM period) / personalize._check_time_unit(m.time_unit);
BEGIN
    IF len IS NULL OR len <= 0 THEN
        RAISE EXCEPTION 'the CLV period must be a positive interval' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    SELECT s.profile_id, pa, 1 - pa,
           personalize.bgnbd_expected_purchases(m.r, m.alpha, m.a, m.b, s.x, s.t_x, s."T", periods * len),
           sp,
           personalize.clv_value(m.r, m.alpha, m.a, m.b, s.x, s.t_x, s."T", sp, periods, len, discount_rate)
    FROM personalize.purchase_summary(as_of, m.time_unit, profile_ids) s,
         LATERAL (SELECT personalize.bgnbd_p_alive(m.r, m.alpha, m.a, m.b, s.x, s.t_x, s."T") AS pa,
                         CASE WHEN m.p IS NULL THEN s.mean_spend
                              ELSE personalize.gamma_gamma_expected_spend(m.p, m.q, m.v, s.purchases, s.mean_spend)
                         END AS sp) k;
END
$$;
COMMENT ON FUNCTION personalize.clv_predictions(timestamptz, integer, interval, float8, bigint[], bigint) IS
'Per purchasing profile, from the latest (or the given) CLV model: p_alive, churn_risk = 1 - p_alive, expected purchases and the discounted lifetime value over periods periods, the expected amount of a purchase';

-- A prediction explained: the inputs, the model and what each term does, in words.
CREATE FUNCTION personalize.explain_clv(profile_id bigint, as_of timestamptz DEFAULT now(),
                                        periods integer DEFAULT 12, period interval DEFAULT '30 days',
                                        discount_rate float8 DEFAULT 0.01)
RETURNS TABLE (item text, value float8, explanation text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m personalize.clv_models := personalize._clv_model(NULL);
    s record;
    pr record;
    unit text := m.time_unit::text;
BEGIN
    SELECT * INTO s FROM personalize.purchase_summary(as_of, m.time_unit, ARRAY[explain_clv.profile_id]);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'profile % has no purchase before %', explain_clv.profile_id, as_of
            USING ERRCODE = 'no_data_found', HINT = 'CLV predictions start at a profile''s first purchase.';
    END IF;
    SELECT * INTO pr FROM personalize.clv_predictions(as_of, periods, period, discount_rate,
                                                      ARRAY[explain_clv.profile_id], m.model_id);
    item := 'repeat purchases (x)'; value := s.x;
    explanation := format('%s purchases in all; the first starts the clock, so %s count as repeats.', s.purchases, s.x);
    RETURN NEXT;
    item := 'recency (t_x)'; value := s.t_x;
    explanation := format('The last purchase came %s units of %s after the first.', round(s.t_x::numeric, 2), unit);
    RETURN NEXT;
    item := 'age (T)'; value := s."T";
    explanation := format('The first purchase was %s units of %s before %s; %s units have passed since the last.',
                          round(s."T"::numeric, 2), unit, as_of, round((s."T" - s.t_x)::numeric, 2));
    RETURN NEXT;
    item := 'mean spend'; value := s.mean_spend;
    explanation := 'The average amount of this customer''s purchases.';
    RETURN NEXT;
    item := 'purchase rate (r / alpha)'; value := m.r / m.alpha;
    explanation := format('Across customers, %s purchases per unit of %s on average while active (rates vary as Gamma(r = %s, alpha = %s)).',
                          round((m.r / m.alpha)::numeric, 4), unit, round(m.r::numeric, 4), round(m.alpha::numeric, 4));
    RETURN NEXT;
    item := 'drop-out chance per purchase (a / (a + b))'; value := m.a / (m.a + m.b);
    explanation := format('After each purchase a customer leaves for good with probability %s on average (Beta(a = %s, b = %s)).',
                          round((m.a / (m.a + m.b))::numeric, 4), round(m.a::numeric, 4), round(m.b::numeric, 4));
    RETURN NEXT;
    item := 'p_alive'; value := pr.p_alive;
    explanation := CASE WHEN s.x = 0
        THEN 'With no repeat purchase the model has seen no chance to leave yet, so it counts the customer as active (1).'
        ELSE format('%s%% likely still a customer: %s repeat purchases make leaving less likely, and %s quiet units since the last purchase make it more likely.',
                    round((100 * pr.p_alive)::numeric, 1), s.x, round((s."T" - s.t_x)::numeric, 2)) END;
    RETURN NEXT;
    item := 'churn_risk'; value := pr.churn_risk;
    explanation := '1 - p_alive.';
    RETURN NEXT;
    item := 'expected purchases'; value := pr.expected_purchases;
    explanation := format('Expected purchases in the next %s periods of %s, weighted by p_alive.', periods, period);
    RETURN NEXT;
    item := 'expected spend'; value := pr.expected_spend;
    explanation := CASE WHEN m.p IS NULL
        THEN 'The customer''s own mean (no spend model was fitted: fewer than 10 repeat buyers).'
        ELSE format('The customer''s mean %s pulled towards the population mean %s; the more purchases, the more weight on their own (Gamma-Gamma p = %s, q = %s, v = %s).',
                    round(s.mean_spend::numeric, 2), round((m.p * m.v / (m.q - 1))::numeric, 2),
                    round(m.p::numeric, 4), round(m.q::numeric, 4), round(m.v::numeric, 4)) END;
    RETURN NEXT;
    item := 'clv'; value := pr.clv;
    explanation := format('Expected spend times the expected purchases of each of the %s periods, discounted by %s%% a period.',
                          periods, round((100 * discount_rate)::numeric, 2));
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION personalize.explain_clv(bigint, timestamptz, integer, interval, float8) IS
'A profile''s CLV prediction explained: its purchase summary, the model''s parameters and each term, in words';

-- Live predictions (src/predict/clv_live.c): what segment rules read as p_alive and churn_risk.
CREATE FUNCTION personalize._p_alive_at(r float8, alpha float8, a float8, b float8, unit_seconds float8,
                                        purchases bigint, first_at timestamptz, last_at timestamptz, as_of timestamptz)
RETURNS float8 AS 'MODULE_PATHNAME', 'personalize_p_alive_at' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize._p_alive_at(float8, float8, float8, float8, float8, bigint, timestamptz, timestamptz, timestamptz) IS
'P(alive) of a purchase state (count, first and last purchase) as of a time under a BG/NBD model; NULL without a purchase before as_of';

CREATE FUNCTION personalize._p_alive_crossing(r float8, alpha float8, a float8, b float8, unit_seconds float8,
                                              purchases bigint, first_at timestamptz, last_at timestamptz,
                                              as_of timestamptz, threshold float8)
RETURNS timestamptz AS 'MODULE_PATHNAME', 'personalize_p_alive_crossing' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize._p_alive_crossing(float8, float8, float8, float8, float8, bigint, timestamptz, timestamptz, timestamptz, float8) IS
'When p_alive of a purchase state, falling while no purchase comes, drops below threshold (1 ms late); NULL if never or already';

-- Privileges: analysts and admins fit and read models; nothing for PUBLIC.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA personalize FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    personalize.bgnbd_fit(float8, float8, float8), personalize.gamma_gamma_fit(float8, float8),
    personalize.bgnbd_loglik(float8, float8, float8, float8, float8, float8, float8),
    personalize.bgnbd_p_alive(float8, float8, float8, float8, float8, float8, float8),
    personalize.bgnbd_expected_purchases(float8, float8, float8, float8, float8, float8, float8, float8),
    personalize.bgnbd_expected_purchases_new(float8, float8, float8, float8, float8),
    personalize.bgnbd_prob_purchases(float8, float8, float8, float8, float8, integer),
    personalize.gamma_gamma_loglik(float8, float8, float8, float8, float8),
    personalize.gamma_gamma_expected_spend(float8, float8, float8, float8, float8),
    personalize.clv_value(float8, float8, float8, float8, float8, float8, float8, float8, integer, float8, float8),
    personalize.purchase_summary(timestamptz, interval, bigint[]), personalize.fit_clv(timestamptz, interval),
    personalize.clv_predictions(timestamptz, integer, interval, float8, bigint[], bigint),
    personalize.explain_clv(bigint, timestamptz, integer, interval, float8),
    personalize._check_time_unit(interval), personalize._clv_model(bigint), personalize._clv_fit_and_store(timestamptz, interval),
    personalize._p_alive_at(float8, float8, float8, float8, float8, bigint, timestamptz, timestamptz, timestamptz),
    personalize._p_alive_crossing(float8, float8, float8, float8, float8, bigint, timestamptz, timestamptz, timestamptz, float8)
TO personalize_admin, personalize_analyst;
GRANT SELECT ON personalize.clv_models TO personalize_admin, personalize_analyst;
GRANT INSERT, DELETE ON personalize.clv_models TO personalize_admin;
