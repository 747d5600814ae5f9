/*
 * stat_input.h: checks of the inputs the experiment statistics share, and their result rows.
 */
#ifndef EXPERIMENT_STAT_INPUT_H
#define EXPERIMENT_STAT_INPUT_H

#include "fmgr.h"
#include "utils/array.h"

extern void	 check_counts(int64 successes, int64 trials, const char *arm);
extern void	 check_level(double value, const char *name);
extern int	 read_count_arrays(ArrayType *successes, ArrayType *trials, int64 **s, int64 **n);
extern Datum return_record(FunctionCallInfo fcinfo, Datum *values, bool *nulls);
extern Datum float8_or_null(double v, bool *null);

#endif
