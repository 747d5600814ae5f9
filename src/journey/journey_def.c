/*
 * journey_def.c: the server adapter of the journey definition checker (the checks are in
 * journey_core.c, pure C): a stored definition (jsonb) to the core's tree, PostgreSQL's own
 * interval and time parsers, the rule compiler's server host, and the one table from the
 * core's error kinds to messages and SQLSTATEs. personalize._journey_check returns what the
 * definition reads and names, so that create_journey can refuse names that do not exist.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "core/jsonb_jv.h"
#include "journey/journey_core.h"
#include "segment/segment.h"

PG_FUNCTION_INFO_V1(personalize_journey_check);

/* The core's interval hook: PostgreSQL's interval parser, its months, days and microseconds. */
static bool
interval_parts(void *ctx, const char *text, int32_t *months, int32_t *days, int64_t *usecs)
{
	Datum	  iv;
	Interval *i;

	if (!segment_try_parse(interval_in, text, &iv))
		return false;
	i = DatumGetIntervalP(iv);
	*months = i->month;
	*days = i->day;
	*usecs = i->time;
	return true;
}

/* The core's time-of-day hook: PostgreSQL's time parser, as microseconds after midnight. */
static bool
time_of_day(void *ctx, const char *text, int64_t *usecs)
{
	Datum t;

	if (!segment_try_parse(time_in, text, &t))
		return false;
	*usecs = DatumGetTimeADT(t);
	return true;
}

/* The message and SQLSTATE of each kind of error the core reports: the one place they are decided. */
static const struct
{
	journey_error_kind kind;
	const char		  *document;
	int				   sqlstate;
} journey_errors[] = {
	{JOURNEY_ERR_INVALID, "journey definition", ERRCODE_INVALID_PARAMETER_VALUE},
	{JOURNEY_ERR_RULE, "segment rule", ERRCODE_INVALID_PARAMETER_VALUE},
};

/* Raises a core refusal as the PostgreSQL error of its kind. */
static void
report_journey_error(const journey_error *err)
{
	for (int i = 0; i < lengthof(journey_errors); i++)
		if (journey_errors[i].kind == err->kind)
			ereport(ERROR,
					(errcode(journey_errors[i].sqlstate),
					 errmsg("invalid %s at %s", journey_errors[i].document, err->path),
					 errdetail("Expected %s.", err->expected)));
	elog(ERROR, "journey definition refused with an unknown error kind %d", (int) err->kind);
}

/* A list of names as a text[] datum. */
static Datum
names_array(const rule_names *names)
{
	Datum *d = palloc(sizeof(Datum) * (names->n + 1));

	for (int i = 0; i < names->n; i++)
		d[i] = CStringGetTextDatum(names->items[i]);
	return PointerGetDatum(construct_array(d, names->n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * SQL: personalize._journey_check(definition) -> (entry_kind, entry_events, wait_events,
 * goal_events, templates, template_paths, experiments, experiment_paths, segments,
 * segment_paths): checks a definition, refusing a bad node with its JSON path (22023).
 */
Datum
personalize_journey_check(PG_FUNCTION_ARGS)
{
	journey_host	h = {segment_rule_host(), interval_parts, time_of_day};
	journey_checked c;
	journey_error	err;
	TupleDesc		desc;
	Datum			values[10];
	bool			nulls[10] = {0};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_journey_check must return a composite");
	check_stack_depth();
	if (!journey_core_check(jv_from_jsonb(PG_GETARG_JSONB_P(0)), &h, &c, &err))
		report_journey_error(&err);
	values[0] = CStringGetTextDatum(c.entry_kind);
	values[1] = names_array(&c.entry_events);
	values[2] = names_array(&c.wait_events);
	values[3] = names_array(&c.goal_events);
	values[4] = names_array(&c.templates);
	values[5] = names_array(&c.template_paths);
	values[6] = names_array(&c.experiments);
	values[7] = names_array(&c.experiment_paths);
	values[8] = names_array(&c.segments);
	values[9] = names_array(&c.segment_paths);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
