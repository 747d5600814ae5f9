/*
 * clv_live.c: CLV predictions read live from a profile's purchase state and the latest model:
 * personalize._p_alive_at() (the segment field p_alive; churn_risk is 1 minus it), the time at
 * which p_alive crosses a threshold (the recheck of such a rule: p_alive falls as time passes
 * without a purchase), and the clv block of a template context (src/render/email.c).
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "utils/timestamp.h"

#include "predict/clv_live.h"

PG_FUNCTION_INFO_V1(personalize_p_alive_at);
PG_FUNCTION_INFO_V1(personalize_p_alive_crossing);

/* x, t_x and T of a purchase state as of as_of; false without a purchase before as_of. */
bool
clv_live_summary(const ClvLiveModel *m, int64 purchases, TimestampTz first, TimestampTz last, TimestampTz as_of,
				 double *x, double *t_x, double *T)
{
	if (purchases < 1 || first >= as_of || last > as_of || last < first || !(m->unit > 0))
		return false;
	*x = (double) (purchases - 1);
	*t_x = (double) (last - first) / USECS_PER_SEC / m->unit;
	*T = (double) (as_of - first) / USECS_PER_SEC / m->unit;
	if (*x == 0)
		*t_x = 0;
	return true;
}

/*
 * p_alive, expected purchases, expected spend and discounted value over the context's horizon;
 * a value whose series did not converge for this model is NaN (the context shows null).
 */
bool
clv_live_predict(const ClvLiveModel *m, int64 purchases, double total, TimestampTz first, TimestampTz last,
				 TimestampTz as_of, ClvLivePrediction *out)
{
	double x, t_x, T, period = CLV_CONTEXT_PERIOD_SECONDS / m->unit, mean;
	bool   ok;

	if (!clv_live_summary(m, purchases, first, last, as_of, &x, &t_x, &T))
		return false;
	mean = total / purchases;
	out->p_alive = bgnbd_p_alive(&m->bg, x, t_x, T);
	out->expected_purchases =
		bgnbd_expected_purchases(&m->bg, x, t_x, T, CLV_CONTEXT_PERIODS * period, &ok);
	if (!ok || !isfinite(out->expected_purchases))
		out->expected_purchases = NAN;
	out->expected_spend = m->has_spend ? gamma_gamma_expected_spend(&m->gg, (double) purchases, mean) : mean;
	out->value = clv_value(&m->bg, x, t_x, T, out->expected_spend, CLV_CONTEXT_PERIODS, period,
						   CLV_CONTEXT_RATE, &ok);
	if (!ok || !isfinite(out->value))
		out->value = NAN;
	return true;
}

/* The model of the first five arguments (r, alpha, a, b, seconds per time unit). */
static ClvLiveModel
model_args(FunctionCallInfo fcinfo)
{
	ClvLiveModel m = {0};

	m.bg.r = PG_GETARG_FLOAT8(0);
	m.bg.alpha = PG_GETARG_FLOAT8(1);
	m.bg.a = PG_GETARG_FLOAT8(2);
	m.bg.b = PG_GETARG_FLOAT8(3);
	m.unit = PG_GETARG_FLOAT8(4);
	return m;
}

/*
 * SQL: personalize._p_alive_at(r, alpha, a, b, unit_seconds, purchases, first_at, last_at, as_of):
 * P(alive) of a purchase state as of as_of; NULL without a purchase before as_of.
 */
Datum
personalize_p_alive_at(PG_FUNCTION_ARGS)
{
	ClvLiveModel m = model_args(fcinfo);
	double		 x, t_x, T;

	if (!clv_live_summary(&m, PG_GETARG_INT64(5), PG_GETARG_TIMESTAMPTZ(6), PG_GETARG_TIMESTAMPTZ(7),
						  PG_GETARG_TIMESTAMPTZ(8), &x, &t_x, &T))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(bgnbd_p_alive(&m.bg, x, t_x, T));
}

/*
 * SQL: personalize._p_alive_crossing(r, alpha, a, b, unit_seconds, purchases, first_at, last_at,
 * as_of, threshold): the first time after as_of at which p_alive, falling while no purchase comes,
 * drops below threshold, a millisecond late so that the rounding of the age cannot leave it just
 * short; NULL when it never will (no repeat purchase: p_alive stays 1; a threshold outside
 * (0, 1)) or already has. Solves 1 / (1 + a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x))
 * = threshold for T.
 */
Datum
personalize_p_alive_crossing(PG_FUNCTION_ARGS)
{
	ClvLiveModel m = model_args(fcinfo);
	TimestampTz	 first = PG_GETARG_TIMESTAMPTZ(6), as_of = PG_GETARG_TIMESTAMPTZ(8);
	double		 c = PG_GETARG_FLOAT8(9), x, t_x, T, T_cross, usecs;

	if (!clv_live_summary(&m, PG_GETARG_INT64(5), first, PG_GETARG_TIMESTAMPTZ(7), as_of, &x, &t_x, &T) || x == 0 ||
		!(c > 0 && c < 1))
		PG_RETURN_NULL();
	T_cross = (m.bg.alpha + t_x) * exp((log(1 / c - 1) + log(m.bg.b + x - 1) - log(m.bg.a)) / (m.bg.r + x)) - m.bg.alpha;
	if (!(T_cross > T))
		PG_RETURN_NULL();
	usecs = ceil(T_cross * m.unit * USECS_PER_SEC) + 1000;
	/* past the end of timestamps (9999-12-31): it never comes */
	if (!(usecs < (double) (END_TIMESTAMP - first)))
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(first + (TimestampTz) usecs);
}
