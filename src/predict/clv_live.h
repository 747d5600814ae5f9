/*
 * clv_live.h: CLV predictions read live from a profile's purchase state (count, total, first and
 * last purchase) and a stored model: what segment rules (p_alive, churn_risk) and the template
 * context (clv) see. src/predict/clv_live.c.
 */
#ifndef PERSONALIZE_CLV_LIVE_H
#define PERSONALIZE_CLV_LIVE_H

#include "postgres.h"

#include "datatype/timestamp.h"

#include "predict/clv_model.h"

/* A stored CLV model as the live readers use it. */
typedef struct ClvLiveModel
{
	int64	   model_id;
	BgNbd	   bg;
	bool	   has_spend; /* a Gamma-Gamma model was fitted */
	GammaGamma gg;
	double	   unit; /* seconds in the model's time unit */
} ClvLiveModel;

/* The context's horizon: 12 periods of 30 days, discounted 1% a period (clv_predictions' defaults). */
#define CLV_CONTEXT_PERIODS 12
#define CLV_CONTEXT_PERIOD_SECONDS (30.0 * 86400.0)
#define CLV_CONTEXT_RATE 0.01

/* What a profile's CLV looks like as of a time. */
typedef struct ClvLivePrediction
{
	double p_alive, expected_purchases, expected_spend, value;
} ClvLivePrediction;

/*
 * The BG/NBD summary of a purchase state as of as_of (x, t_x, T in model units); false when there
 * is no purchase before as_of.
 */
extern bool clv_live_summary(const ClvLiveModel *m, int64 purchases, TimestampTz first, TimestampTz last,
							 TimestampTz as_of, double *x, double *t_x, double *T);

/* The context's prediction for a purchase state (NaN where a series did not converge); false when there is none (no purchase yet). */
extern bool clv_live_predict(const ClvLiveModel *m, int64 purchases, double total, TimestampTz first,
							 TimestampTz last, TimestampTz as_of, ClvLivePrediction *out);

#endif
