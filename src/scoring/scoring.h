/*
 * scoring.h: what the scoring modules (decay.c, rfm.c) share: the session's counters of
 * aggregate input rows that were ignored, by aggregate and reason.
 */
#ifndef SCORING_H
#define SCORING_H

#include "postgres.h"
#include "datatype/timestamp.h"
#include "fmgr.h"

/* Why an aggregate input row was left out. */
typedef enum ScoringIgnored
{
	IGNORED_NULL,			 /* NULL timestamp, weight or amount */
	IGNORED_INFINITE_TIME,	 /* occurred_at is infinity or -infinity */
	IGNORED_FUTURE,			 /* occurred_at after as_of */
	IGNORED_NEGATIVE_AMOUNT, /* amount below zero */
	IGNORED_NAN_AMOUNT,		 /* amount NaN or +-Infinity */
	IGNORED_NREASONS
} ScoringIgnored;

/* Which aggregate counted it. */
typedef enum ScoringAgg
{
	AGG_ENGAGEMENT,
	AGG_RFM,
	AGG_NAGGS
} ScoringAgg;

/* Adds counts of one aggregate group's ignored rows to the session's totals. */
extern void scoring_note_ignored(ScoringAgg agg, const int64 *counts);

/* A half-life interval as microseconds; errors unless it is positive and finite. */
extern double scoring_half_life_usecs(Interval *half_life);

/* Errors unless ts is finite (name says which argument it is). */
extern void scoring_check_finite(TimestampTz ts, const char *name);

/* personalize.half_life, in seconds (decay.c). */
extern int personalize_half_life_s;

/* SQL: personalize.purchase_amount(properties, keys) and _usable_amount(amount) (rfm.c). */
extern Datum personalize_purchase_amount(PG_FUNCTION_ARGS);
extern Datum personalize_usable_amount(PG_FUNCTION_ARGS);

/* SQL: personalize.recency_days(last_purchase, as_of): the one definition of recency (rfm.c). */
extern Datum personalize_recency_days(PG_FUNCTION_ARGS);

#endif
