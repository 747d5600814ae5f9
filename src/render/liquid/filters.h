/*
 * filters.h - the filter registry.
 * Owns: filter signatures, arity metadata and lookup by name.
 */
#ifndef LIQ_FILTERS_H
#define LIQ_FILTERS_H
#include "liquid.h"

struct liq_rs;

/* A filter: input, positional args, keyword args -> *out; -1 on error
 * (after calling liq_rs_fail). */
typedef int (*liq_filter_fn)(struct liq_rs *rs, liq_value in, const liq_value *args, int nargs,
							 const liq_value *kwnames, const liq_value *kwvals, int nkw, liq_value *out);

typedef struct liq_filter_def
{
	const char	 *name;
	liq_filter_fn fn;
	int8_t		  min_args; /* positional (+1 if keywords given) */
	int8_t		  max_args; /* -1 = unlimited */
	bool		  is_raw;	/* output is HTML-safe (raw, escape, escape_once, h): no autoescape */
} liq_filter_def;

/* Look up a filter by name; NULL if unknown. */
const liq_filter_def *liq_filter_lookup(const char *name, size_t len);
/* The `date` filter (date.c). */
int liq_filter_date(struct liq_rs *rs, liq_value in, const liq_value *args, int nargs,
					const liq_value *kwnames, const liq_value *kwvals, int nkw, liq_value *out);
#endif
