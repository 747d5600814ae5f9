/*
 * decay.c: exponential decay of scores and the engagement aggregate. A score halves every
 * half-life: decay(s, from, to, h) = s * 2^(-(to - from) / h). The aggregate
 * personalize.engagement(occurred_at, weight, half_life, as_of) is the sum of
 * weight * 2^(-(as_of - occurred_at) / h); personalize._engagement_state(occurred_at, weight,
 * half_life) is its twin without as_of, valued at the latest event, which the ingest pipeline
 * folds into the live (score, as_of) pair of a profile. Both run in parallel plans (combine,
 * serialize, deserialize). This file also owns the half-life setting and the session's counters
 * of ignored aggregate input rows.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "core/personalize.h"
#include "scoring.h"

PG_FUNCTION_INFO_V1(personalize_decay);
PG_FUNCTION_INFO_V1(personalize_half_life);
PG_FUNCTION_INFO_V1(personalize_engagement_trans);
PG_FUNCTION_INFO_V1(personalize_engagement_state_trans);
PG_FUNCTION_INFO_V1(personalize_engagement_combine);
PG_FUNCTION_INFO_V1(personalize_engagement_serialize);
PG_FUNCTION_INFO_V1(personalize_engagement_deserialize);
PG_FUNCTION_INFO_V1(personalize_engagement_final);
PG_FUNCTION_INFO_V1(personalize_engagement_state_final);
PG_FUNCTION_INFO_V1(personalize_ignored_rows);
PG_FUNCTION_INFO_V1(personalize_reset_ignored_rows);
PG_FUNCTION_INFO_V1(personalize_decay_sum);

/* personalize.half_life, in seconds: the half-life of the live engagement and interest scores. */
int personalize_half_life_s = 14 * 86400;

static int64 ignored_totals[AGG_NAGGS][IGNORED_NREASONS];

static const char *const agg_names[AGG_NAGGS] = {"engagement", "rfm_agg"};
static const char *const reason_names[IGNORED_NREASONS] = {
	"null", "infinite occurred_at", "after as_of", "negative amount", "NaN or infinite amount"};

/* The running state of engagement() and _engagement_state(). */
typedef struct EngagementState
{
	double		score;	   /* sum of weight * 2^(-(ref - t) / half_life) */
	double		half_life; /* microseconds */
	TimestampTz ref;	   /* the time score is valued at */
	int64		rows;	   /* rows folded in */
	int64		ignored[IGNORED_NREASONS];
	bool		has_ref; /* ref is set (fixed: from the first row; else: a row was folded) */
	bool		fixed;	 /* ref is the as_of argument (engagement), else the latest event */
} EngagementState;

/* Defines the half-life setting; called from _PG_init. */
void
scoring_init(void)
{
	DefineCustomIntVariable("personalize.half_life",
							"Half-life of the live engagement and interest scores.",
							"Scores stored on profiles assume one value: after a change, run personalize.rebuild_scores().",
							&personalize_half_life_s, 14 * 86400, 1, INT_MAX,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
}

/* Adds counts of one aggregate group's ignored rows to the session's totals. */
void
scoring_note_ignored(ScoringAgg agg, const int64 *counts)
{
	for (int i = 0; i < IGNORED_NREASONS; i++)
		ignored_totals[agg][i] += counts[i];
}

/* A half-life interval as microseconds (a month counts 30 days); errors unless positive. */
double
scoring_half_life_usecs(Interval *half_life)
{
	double us = (double) half_life->time + (double) half_life->day * USECS_PER_DAY +
				(double) half_life->month * DAYS_PER_MONTH * USECS_PER_DAY;

	if (!(us > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("half-life must be positive"),
				 errdetail("A score halves once per half-life, so it must be a positive interval."),
				 errhint("Pass an interval such as '14 days'.")));
	return us;
}

/* Errors unless ts is finite (name says which argument it is). */
void
scoring_check_finite(TimestampTz ts, const char *name)
{
	if (TIMESTAMP_NOT_FINITE(ts))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite time", name),
				 errdetail("Scores are valued at a point in time; infinity and -infinity are not one.")));
}

/* s * 2^(-(to - from) / h), h and the difference in microseconds. */
static inline double
decay_by(double s, TimestampTz from, TimestampTz to, double h)
{
	if (from == to || s == 0)
		return s;
	return s * exp2(-((double) (to - from)) / h);
}

/* SQL: personalize.decay(score, from_ts, to_ts, half_life): score halved every half_life from from_ts to to_ts. */
Datum
personalize_decay(PG_FUNCTION_ARGS)
{
	float8		score = PG_GETARG_FLOAT8(0);
	TimestampTz from = PG_GETARG_TIMESTAMPTZ(1);
	TimestampTz to = PG_GETARG_TIMESTAMPTZ(2);
	double		h = scoring_half_life_usecs(PG_GETARG_INTERVAL_P(3));

	if (isnan(score) || isinf(score))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("score must be a finite number"),
				 errdetail("The score is %g.", score)));
	scoring_check_finite(from, "from_ts");
	scoring_check_finite(to, "to_ts");
	if (to < from)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot decay a score backwards in time"),
				 errdetail("to_ts (%s) is before from_ts (%s).",
						   pstrdup(timestamptz_to_str(to)), pstrdup(timestamptz_to_str(from))),
				 errhint("A score valued at a time reflects events up to then; recompute it from the events to value it earlier.")));
	PG_RETURN_FLOAT8(decay_by(score, from, to, h));
}

/* SQL: personalize.half_life(): the personalize.half_life setting as an interval. */
Datum
personalize_half_life(PG_FUNCTION_ARGS)
{
	Interval *result = palloc0(sizeof(Interval));

	result->day = personalize_half_life_s / 86400;
	result->time = (int64) (personalize_half_life_s % 86400) * USECS_PER_SEC;
	PG_RETURN_INTERVAL_P(result);
}

/* The state of the current group, created in the aggregate context on its first row. */
static EngagementState *
engagement_state(FunctionCallInfo fcinfo, bool fixed)
{
	MemoryContext	 aggcontext;
	EngagementState *state;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "engagement transition called in non-aggregate context");
	if (!PG_ARGISNULL(0))
		return (EngagementState *) PG_GETARG_POINTER(0);
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("half-life must not be null")));
	if (fixed && PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("as_of must not be null"),
				 errhint("Pass the time to value the scores at, such as now().")));
	state = MemoryContextAllocZero(aggcontext, sizeof(EngagementState));
	state->half_life = scoring_half_life_usecs(PG_GETARG_INTERVAL_P(3));
	state->fixed = fixed;
	if (fixed)
	{
		state->ref = PG_GETARG_TIMESTAMPTZ(4);
		scoring_check_finite(state->ref, "as_of");
		state->has_ref = true;
	}
	return state;
}

/*
 * Folds one (occurred_at, weight, half_life) row into a state; the shared part of both
 * transitions. The half-life must be the state's.
 */
static void
engagement_fold_row(FunctionCallInfo fcinfo, EngagementState *state)
{
	TimestampTz t;
	double		w;

	if (PG_ARGISNULL(3) ||
		scoring_half_life_usecs(PG_GETARG_INTERVAL_P(3)) != state->half_life)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("half-life must be the same for every row of a group")));
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		state->ignored[IGNORED_NULL]++;
		return;
	}
	t = PG_GETARG_TIMESTAMPTZ(1);
	w = PG_GETARG_FLOAT8(2);
	if (isnan(w) || isinf(w))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("engagement weight must be a finite number"),
				 errdetail("A row has weight %g.", w),
				 errhint("Check the weights in personalize.scoring_events.")));
	if (TIMESTAMP_NOT_FINITE(t))
	{
		state->ignored[IGNORED_INFINITE_TIME]++;
		return;
	}
	if (state->fixed)
	{
		if (t > state->ref)
		{
			state->ignored[IGNORED_FUTURE]++;
			return;
		}
		state->score += decay_by(w, t, state->ref, state->half_life);
	}
	else if (!state->has_ref || t > state->ref)
	{
		/* a later event: the sum so far is revalued at the new reference time */
		state->score = (state->has_ref ? decay_by(state->score, state->ref, t, state->half_life) : 0) + w;
		state->ref = t;
		state->has_ref = true;
	}
	else
		state->score += decay_by(w, t, state->ref, state->half_life);
	state->rows++;
}

/* Transition of engagement(occurred_at, weight, half_life, as_of). */
Datum
personalize_engagement_trans(PG_FUNCTION_ARGS)
{
	EngagementState *state = engagement_state(fcinfo, true);

	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("as_of must not be null")));
	if (PG_GETARG_TIMESTAMPTZ(4) != state->ref)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be the same for every row of a group")));
	engagement_fold_row(fcinfo, state);
	PG_RETURN_POINTER(state);
}

/* Transition of _engagement_state(occurred_at, weight, half_life): valued at the latest event. */
Datum
personalize_engagement_state_trans(PG_FUNCTION_ARGS)
{
	EngagementState *state = engagement_state(fcinfo, false);

	engagement_fold_row(fcinfo, state);
	PG_RETURN_POINTER(state);
}

/* Combine: the sum of two partial states, valued at the later of their reference times. */
Datum
personalize_engagement_combine(PG_FUNCTION_ARGS)
{
	MemoryContext	 aggcontext;
	EngagementState *a = PG_ARGISNULL(0) ? NULL : (EngagementState *) PG_GETARG_POINTER(0);
	EngagementState *b = PG_ARGISNULL(1) ? NULL : (EngagementState *) PG_GETARG_POINTER(1);

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "engagement combine called in non-aggregate context");
	if (b == NULL)
		PG_RETURN_POINTER(a);
	if (a == NULL)
	{
		a = MemoryContextAlloc(aggcontext, sizeof(EngagementState));
		memcpy(a, b, sizeof(EngagementState));
		PG_RETURN_POINTER(a);
	}
	if (a->half_life != b->half_life)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("half-life must be the same for every row of a group")));
	if (a->fixed != b->fixed)
		elog(ERROR, "cannot combine engagement states of different kinds");
	if (a->fixed && a->ref != b->ref)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be the same for every row of a group")));
	if (!a->has_ref)
	{
		a->score = b->score;
		a->ref = b->ref;
		a->has_ref = b->has_ref;
	}
	else if (b->has_ref)
	{
		TimestampTz ref = Max(a->ref, b->ref);

		a->score = decay_by(a->score, a->ref, ref, a->half_life) +
				   decay_by(b->score, b->ref, ref, a->half_life);
		a->ref = ref;
	}
	a->rows += b->rows;
	for (int i = 0; i < IGNORED_NREASONS; i++)
		a->ignored[i] += b->ignored[i];
	PG_RETURN_POINTER(a);
}

/* Serialize: the state's bytes (parallel workers run the same binary). */
Datum
personalize_engagement_serialize(PG_FUNCTION_ARGS)
{
	EngagementState *state = (EngagementState *) PG_GETARG_POINTER(0);
	bytea			*result;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "engagement serialize called in non-aggregate context");
	result = palloc(VARHDRSZ + sizeof(EngagementState));
	SET_VARSIZE(result, VARHDRSZ + sizeof(EngagementState));
	memcpy(VARDATA(result), state, sizeof(EngagementState));
	PG_RETURN_BYTEA_P(result);
}

/* Deserialize: checks the length, then copies the bytes into a new state. */
Datum
personalize_engagement_deserialize(PG_FUNCTION_ARGS)
{
	bytea			*data = PG_GETARG_BYTEA_PP(0);
	EngagementState *state;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "engagement deserialize called in non-aggregate context");
	if (VARSIZE_ANY_EXHDR(data) != sizeof(EngagementState))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid engagement aggregate state"),
				 errdetail("The state is %zu bytes, expected %zu.",
						   (size_t) VARSIZE_ANY_EXHDR(data), sizeof(EngagementState))));
	state = palloc(sizeof(EngagementState));
	memcpy(state, VARDATA_ANY(data), sizeof(EngagementState));
	PG_RETURN_POINTER(state);
}

/* Final of engagement(): the sum valued at as_of; 0 when no row counted. */
Datum
personalize_engagement_final(PG_FUNCTION_ARGS)
{
	EngagementState *state = PG_ARGISNULL(0) ? NULL : (EngagementState *) PG_GETARG_POINTER(0);

	if (state == NULL)
		PG_RETURN_FLOAT8(0);
	scoring_note_ignored(AGG_ENGAGEMENT, state->ignored);
	PG_RETURN_FLOAT8(state->score);
}

/* Final of _engagement_state(): (score, as_of) valued at the latest event; NULL when none counted. */
Datum
personalize_engagement_state_final(PG_FUNCTION_ARGS)
{
	EngagementState *state = PG_ARGISNULL(0) ? NULL : (EngagementState *) PG_GETARG_POINTER(0);
	TupleDesc		 tupdesc;
	Datum			 values[2];
	bool			 nulls[2] = {false, false};

	if (state == NULL || !state->has_ref)
		PG_RETURN_NULL();
	scoring_note_ignored(AGG_ENGAGEMENT, state->ignored);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_engagement_state must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = Float8GetDatum(state->score);
	values[1] = TimestampTzGetDatum(state->ref);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* SQL: personalize.ignored_rows(): rows the scoring aggregates left out in this session, by reason. */
Datum
personalize_ignored_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int a = 0; a < AGG_NAGGS; a++)
		for (int r = 0; r < IGNORED_NREASONS; r++)
		{
			Datum values[3];
			bool  nulls[3] = {false, false, false};

			if (ignored_totals[a][r] == 0)
				continue;
			values[0] = CStringGetTextDatum(agg_names[a]);
			values[1] = CStringGetTextDatum(reason_names[r]);
			values[2] = Int64GetDatum(ignored_totals[a][r]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	return (Datum) 0;
}

/* SQL: personalize.reset_ignored_rows(): sets the session's counters back to zero. */
Datum
personalize_reset_ignored_rows(PG_FUNCTION_ARGS)
{
	memset(ignored_totals, 0, sizeof(ignored_totals));
	PG_RETURN_VOID();
}

/*
 * SQL: personalize._decay_sum(score, as_of, add, half_life): score valued at as_of plus the
 * (score, as_of) pair add, valued at the later of the two times; either side may be NULL.
 * This is how the ingest pipeline and merges fold new events into a stored score exactly,
 * whatever order the events arrive in.
 */
Datum
personalize_decay_sum(PG_FUNCTION_ARGS)
{
	HeapTupleHeader add;
	bool			isnull1,
		isnull2;
	Datum add_score,
		add_at;
	double		h;
	float8		score;
	TimestampTz at,
		ref;

	if (PG_ARGISNULL(2))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_FLOAT8(PG_GETARG_FLOAT8(0));
	}
	add = PG_GETARG_HEAPTUPLEHEADER(2);
	add_score = GetAttributeByNum(add, 1, &isnull1);
	add_at = GetAttributeByNum(add, 2, &isnull2);
	if (isnull1 || isnull2)
		elog(ERROR, "_decay_sum: the added score and its time must not be null");
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_DATUM(add_score);
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("half-life must not be null")));
	h = scoring_half_life_usecs(PG_GETARG_INTERVAL_P(3));
	score = PG_GETARG_FLOAT8(0);
	at = PG_GETARG_TIMESTAMPTZ(1);
	ref = Max(at, DatumGetTimestampTz(add_at));
	PG_RETURN_FLOAT8(decay_by(score, at, ref, h) +
					 decay_by(DatumGetFloat8(add_score), DatumGetTimestampTz(add_at), ref, h));
}
