/*
 * journey_match.c: what a journey asks of the rule compiler while it runs: which of a
 * statement's events meet an event condition of a definition (entry, wait_for, goal: the event
 * name and the rule DSL's "where" filters), and which profiles meet a rule (entry, branch and
 * exit rules) at a time. Both statements are built by the segment compiler from the stored
 * definition every time they run (never stored, so no SQL text a role can write is executed)
 * and read their input as arrays: one statement for a whole set of events or profiles.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "segment/segment.h"

PG_FUNCTION_INFO_V1(personalize_journey_event_matches);
PG_FUNCTION_INFO_V1(personalize_rule_matches);

/* A jsonb argument as a JsonbValue over its root container. */
static JsonbValue *
root_value(Jsonb *j)
{
	JsonbValue *v = palloc(sizeof(JsonbValue));

	v->type = jbvBinary;
	v->val.binary.data = &j->root;
	v->val.binary.len = VARSIZE(j) - VARHDRSZ;
	return v;
}

/* Runs a statement of two array parameters and returns its first column as a set. */
static Datum
run_into_set(FunctionCallInfo fcinfo, const char *sql, Oid *types, Datum *args)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	uint64		   i;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	SPI_connect();
	if (SPI_execute_with_args(sql, 2, types, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not run a journey match statement");
	for (i = 0; i < SPI_processed; i++)
	{
		bool  isnull;
		Datum v = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

		CHECK_FOR_INTERRUPTS();
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &v, &isnull);
	}
	SPI_finish();
	return (Datum) 0;
}

/*
 * SQL: personalize._journey_event_matches(condition jsonb, events text[], properties jsonb[])
 * -> SETOF integer: the positions (1-based) of the events that meet an event condition
 * {"event": name, "where": [...]} of a checked definition.
 */
Datum
personalize_journey_event_matches(PG_FUNCTION_ARGS)
{
	JsonbValue *cond = root_value(PG_GETARG_JSONB_P(0));
	JsonbValue *name, *where;
	Oid			types[2] = {TEXTARRAYOID, JSONBARRAYOID};
	Datum		args[2] = {PG_GETARG_DATUM(1), PG_GETARG_DATUM(2)};
	char	   *sql;

	if (JB_ROOT_IS_SCALAR(PG_GETARG_JSONB_P(0)) || !JsonContainerIsObject(cond->val.binary.data))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("an event condition must be an object")));
	name = getKeyJsonValueFromContainer(cond->val.binary.data, "event", 5, NULL);
	where = getKeyJsonValueFromContainer(cond->val.binary.data, "where", 5, NULL);
	if (name == NULL || name->type != jbvString)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("an event condition needs an event name")));
	sql = psprintf("SELECT e.i::integer FROM unnest($1, $2) WITH ORDINALITY AS e(event, properties, i)"
				   " WHERE e.event = %s%s",
				   quote_literal_cstr(pnstrdup(name->val.string.val, name->val.string.len)),
				   segment_event_filters(where, "$.where"));
	return run_into_set(fcinfo, sql, types, args);
}

/*
 * SQL: personalize._rule_matches(rule jsonb, profile_ids bigint[], as_of timestamptz)
 * -> SETOF bigint: the profiles of profile_ids for which a segment rule holds at as_of.
 */
Datum
personalize_rule_matches(PG_FUNCTION_ARGS)
{
	Oid	  types[2] = {TIMESTAMPTZOID, INT8ARRAYOID};
	Datum args[2] = {PG_GETARG_DATUM(2), PG_GETARG_DATUM(1)};

	return run_into_set(fcinfo, segment_match_statement(root_value(PG_GETARG_JSONB_P(0)), "$"), types, args);
}
