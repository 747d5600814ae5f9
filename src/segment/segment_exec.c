/*
 * segment_exec.c: runs a segment's evaluation statement (built by _segment_apply in
 * src/segment.sql) through a per-backend cache of prepared plans, so that a live update of a
 * few profiles does not parse and plan the same six-CTE statement again on every event. The
 * statement text is the key: a segment whose rule changes gets a new text, hence a new plan;
 * plans of dropped texts go when the cache is full. The plan cache replans a kept plan by
 * itself when a table or function it uses changes.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(personalize_segment_execute);

#define MAX_CACHED_STATEMENTS 256

/* One prepared statement, under the hash of its text (the text is kept to check it). */
typedef struct CachedStatement
{
	uint64		hash;
	char	   *sql;
	SPIPlanPtr	plan;
} CachedStatement;

static HTAB *statements = NULL;
static MemoryContext statements_cxt = NULL;

/* Frees every kept plan and empties the cache. */
static void
statements_reset(void)
{
	HASH_SEQ_STATUS scan;
	CachedStatement *s;

	if (statements == NULL)
		return;
	hash_seq_init(&scan, statements);
	while ((s = hash_seq_search(&scan)) != NULL)
		if (s->plan)
			SPI_freeplan(s->plan);
	MemoryContextReset(statements_cxt);
	statements = NULL;
}

/*
 * The kept plan of a statement with parameters (as_of, ids, segment_id, cause), prepared once,
 * generic: planning for each set of ids is the cost being saved.
 */
static SPIPlanPtr
statement_plan(const char *sql)
{
	static Oid	argtypes[4] = {TIMESTAMPTZOID, INT8ARRAYOID, INT4OID, TEXTOID};
	uint64		hash = hash_bytes_extended((const unsigned char *) sql, strlen(sql), 0);
	CachedStatement *s;
	SPIPlanPtr	plan;
	bool		found;

	if (statements_cxt == NULL)
		statements_cxt = AllocSetContextCreate(TopMemoryContext, "personalize segment statements",
											   ALLOCSET_DEFAULT_SIZES);
	if (statements && hash_get_num_entries(statements) >= MAX_CACHED_STATEMENTS)
		statements_reset();
	if (statements == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(uint64);
		ctl.entrysize = sizeof(CachedStatement);
		ctl.hcxt = statements_cxt;
		statements = hash_create("personalize segment statements", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	s = hash_search(statements, &hash, HASH_FIND, NULL);
	if (s && strcmp(s->sql, sql) == 0)
		return s->plan;

	plan = SPI_prepare_cursor(sql, 4, argtypes, CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "could not prepare a segment statement: %s", SPI_result_code_string(SPI_result));
	if (s != NULL)
		return plan;			/* another text with the same hash: not cached, freed with SPI */
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "could not keep a segment statement's plan");
	s = hash_search(statements, &hash, HASH_ENTER, &found);
	s->sql = MemoryContextStrdup(statements_cxt, sql);
	s->plan = plan;
	return plan;
}

/*
 * SQL: personalize._segment_execute(statement, as_of, ids, segment_id, cause) → (entered,
 * exited, changed): runs one evaluation statement of _segment_apply with a cached plan.
 */
Datum
personalize_segment_execute(PG_FUNCTION_ARGS)
{
	char	   *sql;
	Datum		args[4];
	char		nulls[4];
	TupleDesc	desc;
	HeapTuple	result;
	int			rc;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("the statement must not be null")));
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_segment_execute must return a composite");
	sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	for (int i = 0; i < 4; i++)
	{
		args[i] = PG_GETARG_DATUM(i + 1);
		nulls[i] = PG_ARGISNULL(i + 1) ? 'n' : ' ';
	}

	SPI_connect();
	rc = SPI_execute_plan(statement_plan(sql), args, nulls, false, 0);
	if (rc != SPI_OK_SELECT || SPI_processed != 1 || SPI_tuptable->tupdesc->natts != desc->natts)
		elog(ERROR, "a segment statement must return one row of (entered, exited, changed)");
	result = SPI_copytuple(SPI_tuptable->vals[0]);	/* in the caller's context */
	SPI_finish();
	PG_RETURN_DATUM(heap_copy_tuple_as_datum(result, BlessTupleDesc(desc)));
}
