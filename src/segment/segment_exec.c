/*
 * segment_exec.c: runs a segment's evaluation statement. The statement is built by segment.c
 * from the segment's stored rule (or, for a SQL segment, from its condition in segment_sql,
 * which only superusers can write) every time it is needed, never read back from a column a
 * role can write. A per-backend cache keeps, under the rule's bytes, the two statement forms
 * and the prepared plan of the live form, so that a live update of a few profiles neither
 * compiles nor plans the same statement again on every event. A plan that a running evaluation
 * uses is marked in use and is never freed under it (an evaluation can start another one: a
 * trigger on segment_members that calls track()); when the cache is full, only unused entries
 * go. The plan cache replans a kept plan by itself when a table or function it uses changes.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "segment/segment.h"

PG_FUNCTION_INFO_V1(personalize_segment_execute);
PG_FUNCTION_INFO_V1(personalize_segment_run);
PG_FUNCTION_INFO_V1(personalize_segment_cache_stats);

#define MAX_CACHED_STATEMENTS 256
/* More profiles than this are planned for their ids, whose count a kept generic plan ignores. */
#define MAX_IDS_FOR_KEPT_PLAN 100

/* The compiled statements of one rule (or SQL condition), under the hash of its source. */
typedef struct CachedStatement
{
	uint64	   hash;
	char	  *source; /* 'r' or 's' followed by the rule's bytes or the condition */
	Size	   source_len;
	char	  *live;
	char	  *full;
	SPIPlanPtr live_plan; /* kept, prepared on first use */
	int		   in_use;	  /* running evaluations using live_plan */
} CachedStatement;

static HTAB			*statements = NULL;
static MemoryContext statements_cxt = NULL;
static uint64		 evictions = 0;

/* Creates the empty cache. */
static void
statements_init(void)
{
	HASHCTL ctl;

	if (statements_cxt == NULL)
		statements_cxt = AllocSetContextCreate(TopMemoryContext, "personalize segment statements",
											   ALLOCSET_DEFAULT_SIZES);
	ctl.keysize = sizeof(uint64);
	ctl.entrysize = sizeof(CachedStatement);
	ctl.hcxt = statements_cxt;
	statements = hash_create("personalize segment statements", 64, &ctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/* Frees the entries no running evaluation uses, to make room. */
static void
statements_evict(void)
{
	HASH_SEQ_STATUS	 scan;
	CachedStatement *s;

	hash_seq_init(&scan, statements);
	while ((s = hash_seq_search(&scan)) != NULL)
	{
		if (s->in_use > 0)
			continue;
		if (s->live_plan)
			SPI_freeplan(s->live_plan);
		pfree(s->source);
		pfree(s->live);
		pfree(s->full);
		hash_search(statements, &s->hash, HASH_REMOVE, NULL);
		evictions++;
	}
}

/*
 * The cache entry of a source (kind 'r': a rule's jsonb bytes; 's': a SQL condition), compiled
 * now if it is not there. A source whose hash collides with another's is compiled into a
 * transient entry (cached false) that the caller frees with SPI.
 */
static CachedStatement *
statement_for(char kind, const char *bytes, Size len, Jsonb *rule, CachedStatement *transient)
{
	Size			 source_len = len + 1;
	char			*source = palloc(source_len);
	uint64			 hash;
	CachedStatement *s;
	SegmentCompiled	 c;
	bool			 found;

	source[0] = kind;
	memcpy(source + 1, bytes, len);
	hash = hash_bytes_extended((const unsigned char *) source, source_len, 0);
	if (statements == NULL)
		statements_init();
	s = hash_search(statements, &hash, HASH_FIND, NULL);
	if (s && s->source_len == source_len && memcmp(s->source, source, source_len) == 0)
		return s;

	if (kind == 'r')
		segment_compile(rule, &c);
	else
		segment_compile_sql(pnstrdup(bytes, len), &c);
	if (s == NULL && hash_get_num_entries(statements) >= MAX_CACHED_STATEMENTS)
		statements_evict();
	if (s != NULL || hash_get_num_entries(statements) >= MAX_CACHED_STATEMENTS)
	{
		memset(transient, 0, sizeof(*transient));
		transient->live = c.live;
		transient->full = c.full;
		return transient;
	}
	s = hash_search(statements, &hash, HASH_ENTER, &found);
	s->source = MemoryContextAlloc(statements_cxt, source_len);
	memcpy(s->source, source, source_len);
	s->source_len = source_len;
	s->live = MemoryContextStrdup(statements_cxt, c.live);
	s->full = MemoryContextStrdup(statements_cxt, c.full);
	s->live_plan = NULL;
	s->in_use = 0;
	return s;
}

/*
 * SQL: personalize._segment_run(segment_id, rule, where_clause, ids, as_of, cause) →
 * (entered, exited, changed): evaluates a segment for the profiles ids (NULL: everyone) as of
 * as_of, from its rule (where_clause NULL) or its SQL condition. Declared with TimeZone UTC.
 */
Datum
personalize_segment_run(PG_FUNCTION_ARGS)
{
	static Oid		argtypes[4] = {TIMESTAMPTZOID, INT8ARRAYOID, INT4OID, TEXTOID};
	CachedStatement transient, *s;
	Datum			args[4];
	char			nulls[4];
	TupleDesc		desc;
	HeapTuple		result;
	bool			live = !PG_ARGISNULL(3);
	bool			kept;
	int				rc;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(4) || PG_ARGISNULL(5) || (PG_ARGISNULL(1) == PG_ARGISNULL(2)))
		elog(ERROR, "_segment_run needs a segment, one of a rule or a condition, a time and a cause");
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_segment_run must return a composite");
	if (!PG_ARGISNULL(1))
	{
		Jsonb *rule = PG_GETARG_JSONB_P(1);

		s = statement_for('r', (const char *) rule, VARSIZE(rule), rule, &transient);
	}
	else
	{
		text *clause = PG_GETARG_TEXT_PP(2);

		s = statement_for('s', VARDATA_ANY(clause), VARSIZE_ANY_EXHDR(clause), NULL, &transient);
	}
	args[0] = PG_GETARG_DATUM(4);
	args[1] = live ? PG_GETARG_DATUM(3) : (Datum) 0;
	args[2] = PG_GETARG_DATUM(0);
	args[3] = PG_GETARG_DATUM(5);
	for (int i = 0; i < 4; i++)
		nulls[i] = (i == 1 && !live) ? 'n' : ' ';
	kept = live && s != &transient &&
		   ArrayGetNItems(ARR_NDIM(PG_GETARG_ARRAYTYPE_P(3)), ARR_DIMS(PG_GETARG_ARRAYTYPE_P(3))) <= MAX_IDS_FOR_KEPT_PLAN;

	SPI_connect();
	if (kept)
	{
		if (s->live_plan == NULL)
		{
			SPIPlanPtr plan = SPI_prepare_cursor(s->live, 4, argtypes, CURSOR_OPT_GENERIC_PLAN);

			if (plan == NULL)
				elog(ERROR, "could not prepare a segment statement: %s", SPI_result_code_string(SPI_result));
			if (SPI_keepplan(plan) != 0)
				elog(ERROR, "could not keep a segment statement's plan");
			s->live_plan = plan;
		}
		/* in use until it returns, so that a nested evaluation never frees it */
		s->in_use++;
		PG_TRY();
		{
			rc = SPI_execute_plan(s->live_plan, args, nulls, false, 0);
		}
		PG_FINALLY();
		{
			s->in_use--;
		}
		PG_END_TRY();
	}
	else
		rc = SPI_execute_with_args(live ? s->live : s->full, 4, argtypes, args, nulls, false, 0);
	if (rc != SPI_OK_SELECT || SPI_processed != 1 || SPI_tuptable->tupdesc->natts != desc->natts)
		elog(ERROR, "a segment statement must return one row of (entered, exited, changed)");
	result = SPI_copytuple(SPI_tuptable->vals[0]); /* in the caller's context */
	SPI_finish();
	PG_RETURN_DATUM(heap_copy_tuple_as_datum(result, BlessTupleDesc(desc)));
}

/* SQL: personalize._segment_cache_stats() -> (entries, in_use, evictions), for tests. */
Datum
personalize_segment_cache_stats(PG_FUNCTION_ARGS)
{
	TupleDesc desc;
	Datum	  values[3];
	bool	  nulls[3] = {false, false, false};
	int64	  in_use = 0;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_segment_cache_stats must return a composite");
	if (statements)
	{
		HASH_SEQ_STATUS	 scan;
		CachedStatement *s;

		hash_seq_init(&scan, statements);
		while ((s = hash_seq_search(&scan)) != NULL)
			in_use += s->in_use > 0;
	}
	values[0] = Int64GetDatum(statements ? hash_get_num_entries(statements) : 0);
	values[1] = Int64GetDatum(in_use);
	values[2] = Int64GetDatum((int64) evictions);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/* 0.1's executor of a caller-given statement text: gone (statements are built from rules). */
Datum
personalize_segment_execute(PG_FUNCTION_ARGS)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("personalize._segment_execute is no longer supported"),
			 errhint("Update the extension: ALTER EXTENSION personalize UPDATE.")));
	PG_RETURN_NULL();
}
