/*
 * clv.c: the SQL side of the CLV models (src/predict/clv_model.c): the fitting aggregates
 * personalize.bgnbd_fit(x, t_x, T) and personalize.gamma_gamma_fit(x, mean_spend), parallel safe
 * (their state is the list of customers, combined by concatenation), and the per-customer
 * predictions as IMMUTABLE scalars taking the parameters explicitly.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "clv_model.h"

PG_FUNCTION_INFO_V1(personalize_bgnbd_trans);
PG_FUNCTION_INFO_V1(personalize_gamma_gamma_trans);
PG_FUNCTION_INFO_V1(personalize_clv_combine);
PG_FUNCTION_INFO_V1(personalize_clv_serialize);
PG_FUNCTION_INFO_V1(personalize_clv_deserialize);
PG_FUNCTION_INFO_V1(personalize_bgnbd_final);
PG_FUNCTION_INFO_V1(personalize_gamma_gamma_final);
PG_FUNCTION_INFO_V1(personalize_bgnbd_loglik);
PG_FUNCTION_INFO_V1(personalize_bgnbd_p_alive);
PG_FUNCTION_INFO_V1(personalize_bgnbd_expected_purchases);
PG_FUNCTION_INFO_V1(personalize_bgnbd_expected_purchases_new);
PG_FUNCTION_INFO_V1(personalize_bgnbd_prob_purchases);
PG_FUNCTION_INFO_V1(personalize_gamma_gamma_loglik);
PG_FUNCTION_INFO_V1(personalize_gamma_gamma_expected_spend);
PG_FUNCTION_INFO_V1(personalize_clv_value);

/* Values per row of the state: x, t_x, T for BG/NBD; x, mean spend and an unused 0 for spend. */
#define ROW_VALUES 3

/* The aggregate state: the customers seen, as rows of ROW_VALUES doubles. */
typedef struct ClvState
{
	int64	n;	 /* rows used */
	int64	cap; /* rows allocated */
	double *v;	 /* n * ROW_VALUES values, allocated in the aggregate context */
} ClvState;

/* The state of this call, created on the first row. */
static ClvState *
state_for(FunctionCallInfo fcinfo, MemoryContext *aggcontext)
{
	if (!AggCheckCallContext(fcinfo, aggcontext))
		elog(ERROR, "CLV fitting transition called in a non-aggregate context");
	if (PG_ARGISNULL(0))
		return MemoryContextAllocZero(*aggcontext, sizeof(ClvState));
	return (ClvState *) PG_GETARG_POINTER(0);
}

/* Appends one row of values, growing the state by doubling. */
static void
state_append(ClvState *s, MemoryContext cxt, const double *row)
{
	if (s->n == s->cap)
	{
		int64 cap = s->cap ? s->cap * 2 : 1024;
		Size  bytes = (Size) cap * ROW_VALUES * sizeof(double);

		s->v = s->v ? repalloc_huge(s->v, bytes) : MemoryContextAllocHuge(cxt, bytes);
		s->cap = cap;
	}
	memcpy(s->v + s->n * ROW_VALUES, row, ROW_VALUES * sizeof(double));
	s->n++;
}

/* Refuses an input row with what is wrong. */
static void
refuse_row(const char *model, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid customer summary for %s", model),
			 errdetail("%c%s.", pg_toupper((unsigned char) why[0]), why + 1)));
}

/* bgnbd_fit transition: one customer's repeat purchases x, recency t_x and age T. */
Datum
personalize_bgnbd_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	ClvState	 *s = state_for(fcinfo, &aggcontext);
	double		  row[ROW_VALUES];
	const char	 *why;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		PG_RETURN_POINTER(s);
	row[0] = PG_GETARG_FLOAT8(1);
	row[1] = PG_GETARG_FLOAT8(2);
	row[2] = PG_GETARG_FLOAT8(3);
	if ((why = bgnbd_check_customer(row[0], row[1], row[2])) != NULL)
		refuse_row("BG/NBD", why);
	state_append(s, aggcontext, row);
	PG_RETURN_POINTER(s);
}

/* gamma_gamma_fit transition: one customer's purchases x and mean spend. */
Datum
personalize_gamma_gamma_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	ClvState	 *s = state_for(fcinfo, &aggcontext);
	double		  row[ROW_VALUES] = {0, 0, 0};
	const char	 *why;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(s);
	row[0] = PG_GETARG_FLOAT8(1);
	row[1] = PG_GETARG_FLOAT8(2);
	if ((why = gamma_gamma_check_customer(row[0], row[1])) != NULL)
		refuse_row("Gamma-Gamma", why);
	state_append(s, aggcontext, row);
	PG_RETURN_POINTER(s);
}

/* Combines two partial states (parallel aggregation) by appending the second's rows. */
Datum
personalize_clv_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	ClvState	 *a,
		*b;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "personalize_clv_combine called in a non-aggregate context");
	a = PG_ARGISNULL(0) ? NULL : (ClvState *) PG_GETARG_POINTER(0);
	b = PG_ARGISNULL(1) ? NULL : (ClvState *) PG_GETARG_POINTER(1);
	if (b == NULL || b->n == 0)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
		a = MemoryContextAllocZero(aggcontext, sizeof(ClvState));
	for (int64 i = 0; i < b->n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		state_append(a, aggcontext, b->v + i * ROW_VALUES);
	}
	PG_RETURN_POINTER(a);
}

/* Serializes a state: the row count, then the values, in network byte order. */
Datum
personalize_clv_serialize(PG_FUNCTION_ARGS)
{
	ClvState	  *s = (ClvState *) PG_GETARG_POINTER(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint64(&buf, s->n);
	for (int64 i = 0; i < s->n * ROW_VALUES; i++)
		pq_sendfloat8(&buf, s->v[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Reads a serialized state back, checking that its length matches its row count. */
Datum
personalize_clv_deserialize(PG_FUNCTION_ARGS)
{
	bytea		  *b = PG_GETARG_BYTEA_PP(0);
	MemoryContext  aggcontext;
	StringInfoData buf;
	ClvState	  *s;
	int64		   n;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "personalize_clv_deserialize called in a non-aggregate context");
	buf.data = VARDATA_ANY(b);
	buf.len = VARSIZE_ANY_EXHDR(b);
	buf.maxlen = buf.len;
	buf.cursor = 0;
	if (buf.len < (int) sizeof(int64))
		elog(ERROR, "CLV fitting state too short");
	n = pq_getmsgint64(&buf);
	if (n < 0 || (int64) (buf.len - buf.cursor) != n * ROW_VALUES * (int64) sizeof(double))
		elog(ERROR, "CLV fitting state of %lld rows has the wrong length", (long long) n);
	s = MemoryContextAllocZero(aggcontext, sizeof(ClvState));
	for (int64 i = 0; i < n; i++)
	{
		double row[ROW_VALUES];

		for (int k = 0; k < ROW_VALUES; k++)
			row[k] = pq_getmsgfloat8(&buf);
		state_append(s, aggcontext, row);
	}
	PG_RETURN_POINTER(s);
}

/* The optimizer's per-iteration call: lets statement_timeout and cancel work. */
static void
fit_tick(void *arg)
{
	CHECK_FOR_INTERRUPTS();
}

/* Refuses a fit whose data cannot identify the model, or whose search did not converge. */
static void
check_fit(const char *model, const ClvFit *fit)
{
	if (!fit->identified)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the data cannot identify the %s model", model),
				 errdetail("The likelihood keeps growing as a parameter runs off towards 0 or infinity (%.0f customers; the search stopped after %d iterations%s).",
						   fit->n, fit->search.iterations, fit->search.escaped ? ", when a parameter passed 1e10" : ""),
				 errhint("Fit on more customers over a longer time, with some who stopped buying and with spend that varies between customers.")));
	if (!fit->search.converged || !isfinite(fit->loglik))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the %s fit did not converge", model),
				 errdetail("The search stopped after %d iterations.", fit->search.iterations)));
}

/* Builds the result row of a fit: the parameters, then loglik, customers, iterations. */
static Datum
fit_tuple(FunctionCallInfo fcinfo, const double *params, int nparams, const ClvFit *fit)
{
	TupleDesc desc;
	Datum	  values[8];
	bool	  nulls[8] = {0};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "CLV fit must return a composite type");
	desc = BlessTupleDesc(desc);
	for (int i = 0; i < nparams; i++)
		values[i] = Float8GetDatum(params[i]);
	values[nparams] = Float8GetDatum(fit->loglik);
	values[nparams + 1] = Int64GetDatum((int64) fit->n);
	values[nparams + 2] = Int32GetDatum(fit->search.iterations);
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

/* bgnbd_fit final: fits the model by maximum likelihood. */
Datum
personalize_bgnbd_final(PG_FUNCTION_ARGS)
{
	ClvState	*s = PG_ARGISNULL(0) ? NULL : (ClvState *) PG_GETARG_POINTER(0);
	ClvCustomer *rows;
	bool		 repeat = false;
	BgNbd		 p;
	ClvFit		 fit;
	double		 params[4];

	if (s == NULL || s->n == 0)
		PG_RETURN_NULL();
	rows = palloc_extended(sizeof(ClvCustomer) * s->n, MCXT_ALLOC_HUGE);
	for (int64 i = 0; i < s->n; i++)
	{
		rows[i] = (ClvCustomer){s->v[i * 3], s->v[i * 3 + 1], s->v[i * 3 + 2], 1.0};
		repeat |= rows[i].x > 0;
	}
	if (!repeat)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("cannot fit BG/NBD: no customer made a repeat purchase"),
				 errdetail("%lld customers, each with x = 0.", (long long) s->n)));
	fit = bgnbd_fit(rows, s->n, fit_tick, NULL, &p);
	params[0] = p.r;
	params[1] = p.alpha;
	params[2] = p.a;
	params[3] = p.b;
	check_fit("BG/NBD", &fit);
	pfree(rows);
	PG_RETURN_DATUM(fit_tuple(fcinfo, params, 4, &fit));
}

/* gamma_gamma_fit final: fits the spend model by maximum likelihood. */
Datum
personalize_gamma_gamma_final(PG_FUNCTION_ARGS)
{
	ClvState	  *s = PG_ARGISNULL(0) ? NULL : (ClvState *) PG_GETARG_POINTER(0);
	SpendCustomer *rows;
	GammaGamma	   g;
	ClvFit		   fit;
	double		   params[3];

	if (s == NULL || s->n == 0)
		PG_RETURN_NULL();
	rows = palloc_extended(sizeof(SpendCustomer) * s->n, MCXT_ALLOC_HUGE);
	for (int64 i = 0; i < s->n; i++)
		rows[i] = (SpendCustomer){s->v[i * 3], s->v[i * 3 + 1], 1.0};
	fit = gamma_gamma_fit(rows, s->n, fit_tick, NULL, &g);
	params[0] = g.p;
	params[1] = g.q;
	params[2] = g.v;
	check_fit("Gamma-Gamma", &fit);
	pfree(rows);
	PG_RETURN_DATUM(fit_tuple(fcinfo, params, 3, &fit));
}

/* Reads and checks the four BG/NBD parameters from arguments 0..3. */
static BgNbd
bgnbd_args(FunctionCallInfo fcinfo)
{
	BgNbd p = {PG_GETARG_FLOAT8(0), PG_GETARG_FLOAT8(1), PG_GETARG_FLOAT8(2), PG_GETARG_FLOAT8(3)};

	if (!(p.r > 0 && p.alpha > 0 && p.a > 0 && p.b > 0) ||
		!isfinite(p.r + p.alpha + p.a + p.b))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("BG/NBD parameters must be positive and finite"),
				 errdetail("Got r = %g, alpha = %g, a = %g, b = %g.", p.r, p.alpha, p.a, p.b)));
	return p;
}

/* Reads and checks one customer (x, t_x, T) from arguments first..first+2. */
static void
customer_args(FunctionCallInfo fcinfo, int first, double *x, double *t_x, double *T)
{
	const char *why;

	*x = PG_GETARG_FLOAT8(first);
	*t_x = PG_GETARG_FLOAT8(first + 1);
	*T = PG_GETARG_FLOAT8(first + 2);
	if ((why = bgnbd_check_customer(*x, *t_x, *T)) != NULL)
		refuse_row("BG/NBD", why);
}

/* Reads and checks a horizon argument (a length of time, in the model's unit). */
static double
horizon_arg(FunctionCallInfo fcinfo, int i)
{
	double t = PG_GETARG_FLOAT8(i);

	if (!isfinite(t) || t < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the horizon must be a finite length of time of at least 0"),
				 errdetail("Got %g.", t)));
	return t;
}

/* Refuses a prediction whose series did not converge. */
static double
converged(double v, bool ok)
{
	if (!ok || !isfinite(v))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the BG/NBD expectation did not converge for these inputs"),
				 errhint("Use a shorter horizon.")));
	return v;
}

/* Calls a per-customer BG/NBD formula on (r, alpha, a, b, x, t_x, T) arguments. */
static Datum
bgnbd_customer_formula(FunctionCallInfo fcinfo,
					   double (*formula)(const BgNbd *, double, double, double))
{
	BgNbd  p = bgnbd_args(fcinfo);
	double x,
		t_x,
		T;

	customer_args(fcinfo, 4, &x, &t_x, &T);
	PG_RETURN_FLOAT8(formula(&p, x, t_x, T));
}

/* bgnbd_loglik(r, alpha, a, b, x, t_x, T): one customer's log-likelihood. */
Datum
personalize_bgnbd_loglik(PG_FUNCTION_ARGS)
{
	return bgnbd_customer_formula(fcinfo, bgnbd_loglik);
}

/* bgnbd_p_alive(r, alpha, a, b, x, t_x, T): the probability the customer is still active. */
Datum
personalize_bgnbd_p_alive(PG_FUNCTION_ARGS)
{
	return bgnbd_customer_formula(fcinfo, bgnbd_p_alive);
}

/* bgnbd_expected_purchases(r, alpha, a, b, x, t_x, T, t): expected purchases in the next t. */
Datum
personalize_bgnbd_expected_purchases(PG_FUNCTION_ARGS)
{
	BgNbd  p = bgnbd_args(fcinfo);
	double x,
		t_x,
		T,
		t = horizon_arg(fcinfo, 7);
	bool   ok;
	double v;

	customer_args(fcinfo, 4, &x, &t_x, &T);
	v = bgnbd_expected_purchases(&p, x, t_x, T, t, &ok);
	PG_RETURN_FLOAT8(converged(v, ok));
}

/* bgnbd_expected_purchases_new(r, alpha, a, b, t): E[X(t)] for a customer just acquired. */
Datum
personalize_bgnbd_expected_purchases_new(PG_FUNCTION_ARGS)
{
	BgNbd  p = bgnbd_args(fcinfo);
	double t = horizon_arg(fcinfo, 4);
	bool   ok;
	double v = bgnbd_expected_purchases_new(&p, t, &ok);

	PG_RETURN_FLOAT8(converged(v, ok));
}

/* bgnbd_prob_purchases(r, alpha, a, b, t, n): P(exactly n purchases in t) for a new customer. */
Datum
personalize_bgnbd_prob_purchases(PG_FUNCTION_ARGS)
{
	BgNbd  p = bgnbd_args(fcinfo);
	double t = horizon_arg(fcinfo, 4);
	int32  n = PG_GETARG_INT32(5);

	if (n < 0 || n > 100000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the number of purchases must be between 0 and 100000"),
				 errdetail("Got %d.", n)));
	PG_RETURN_FLOAT8(bgnbd_prob_purchases(&p, t, n));
}

/* Reads and checks the three Gamma-Gamma parameters from arguments 0..2. */
static GammaGamma
gamma_gamma_args(FunctionCallInfo fcinfo)
{
	GammaGamma g = {PG_GETARG_FLOAT8(0), PG_GETARG_FLOAT8(1), PG_GETARG_FLOAT8(2)};

	if (!(g.p > 0 && g.q > 0 && g.v > 0) || !isfinite(g.p + g.q + g.v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("Gamma-Gamma parameters must be positive and finite"),
				 errdetail("Got p = %g, q = %g, v = %g.", g.p, g.q, g.v)));
	return g;
}

/* gamma_gamma_loglik(p, q, v, x, mean_spend): one customer's log-likelihood. */
Datum
personalize_gamma_gamma_loglik(PG_FUNCTION_ARGS)
{
	GammaGamma g = gamma_gamma_args(fcinfo);
	double	   x = PG_GETARG_FLOAT8(3),
		   m = PG_GETARG_FLOAT8(4);
	const char *why;

	if ((why = gamma_gamma_check_customer(x, m)) != NULL)
		refuse_row("Gamma-Gamma", why);
	PG_RETURN_FLOAT8(gamma_gamma_loglik(&g, x, m));
}

/* gamma_gamma_expected_spend(p, q, v, x, mean_spend): the expected spend per purchase. */
Datum
personalize_gamma_gamma_expected_spend(PG_FUNCTION_ARGS)
{
	GammaGamma g = gamma_gamma_args(fcinfo);
	double	   x = PG_GETARG_FLOAT8(3),
		   m = PG_GETARG_FLOAT8(4);
	const char *why;

	if (g.q <= 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the Gamma-Gamma expected spend needs q > 1"),
				 errdetail("Got q = %g: the mean of the spend distribution does not exist.", g.q)));
	if (x != 0 && (why = gamma_gamma_check_customer(x, m)) != NULL)
		refuse_row("Gamma-Gamma", why);
	PG_RETURN_FLOAT8(gamma_gamma_expected_spend(&g, x, m));
}

/*
 * clv_value(r, alpha, a, b, x, t_x, T, spend, periods, period, rate): the discounted value of the
 * expected purchases over `periods` periods of length `period`.
 */
Datum
personalize_clv_value(PG_FUNCTION_ARGS)
{
	BgNbd  p = bgnbd_args(fcinfo);
	double x,
		t_x,
		T,
		spend = PG_GETARG_FLOAT8(7),
		period = horizon_arg(fcinfo, 9),
		rate = PG_GETARG_FLOAT8(10);
	int32  periods = PG_GETARG_INT32(8);
	bool   ok;
	double v;

	customer_args(fcinfo, 4, &x, &t_x, &T);
	if (periods < 0 || periods > 10000 || !isfinite(spend) || spend < 0 || !isfinite(rate) ||
		rate <= -1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid CLV horizon, spend or discount rate"),
				 errdetail("Periods must be 0 to 10000, spend finite and at least 0, the rate finite and above -1.")));
	v = clv_value(&p, x, t_x, T, spend, periods, period, rate, &ok);
	PG_RETURN_FLOAT8(converged(v, ok));
}
