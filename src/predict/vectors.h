/*
 * vectors.h: a profile's feature vector from its stored inputs (personalize.profile_vectors), the
 * one C definition of the features that change with time, shared by the lookalike scan
 * (lookalike.c) and personalize._vector_features (vectors.c).
 */
#ifndef PERSONALIZE_VECTORS_H
#define PERSONALIZE_VECTORS_H

#include "postgres.h"

#include "fmgr.h"
#include "utils/timestamp.h"

/* The features of a profile: LIVE_FEATURES from the live columns, then the interest shares. */
#define LIVE_FEATURES 5
/* The interest categories a feature vector has a share for (_feature_categories: the top 8). */
#define FEATURE_CATEGORIES 8

/*
 * The live features as of t from the stored columns, read as 6 consecutive SQL arguments from
 * position arg: last_purchase_at, purchases, spend, engagement, engagement_as_of, events (NULL
 * reads as none); x[0..LIVE_FEATURES) gets purchase recency 1 / (1 + days since the last purchase
 * / 30) (0 without one), ln(1 + purchases), ln(1 + spend), ln(1 + engagement decayed to t),
 * ln(1 + events): the formulas of personalize.profile_features.
 */
extern void vector_live_features(FunctionCallInfo fcinfo, int arg, TimestampTz t, double *x);

#endif
