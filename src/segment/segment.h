/*
 * segment.h: what the rule compiler (segment.c) gives the statement executor (segment_exec.c):
 * the whole evaluation statement of a segment, built in C from its rule (or, for a SQL segment,
 * from its owner-written condition), in a live form (restricted to the profiles in $2) and a
 * full form (every profile).
 */
#ifndef PERSONALIZE_SEGMENT_H
#define PERSONALIZE_SEGMENT_H

#include "fmgr.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#include "segment/rule_core.h"

/* A compiled rule: both statement forms and what the rule reads. */
typedef struct SegmentCompiled
{
	char *live;			  /* the statement for the profiles in $2 */
	char *full;			  /* the statement for every profile */
	bool  time_dependent; /* the answer may change with time alone (a recheck) */
	List *events;		  /* event names read (char *) */
	List *fields;		  /* profile field groups read (char *) */
	List *segments;		  /* other segments read (char *) */
} SegmentCompiled;

/* Compiles a rule, refusing a bad node with its JSON path (SQLSTATE 22023). */
extern void segment_compile(Jsonb *rule, SegmentCompiled *out);

/* The statements of a SQL segment whose condition is where_clause (superuser-written). */
extern void segment_compile_sql(const char *where_clause, SegmentCompiled *out);

/* The statement selecting the profiles of $2 that a rule node holds for at $1 (errors name root). */
extern char *segment_match_statement(JsonbValue *rule, const char *root);

/* An event condition's "where" filters as SQL over an event row "e" ("" for none). */
extern char *segment_event_filters(JsonbValue *where, const char *path);

/* The rule compiler's host in the server: palloc, the profile field table, PostgreSQL's parsers. */
extern rule_host segment_rule_host(void);

/* Raises a rule compiler refusal as the PostgreSQL error of its kind. */
extern void segment_report_rule_error(const rule_error *err) pg_attribute_noreturn();

/* Parses s with a type's input function; false (no error) when it is malformed. */
extern bool segment_try_parse(PGFunction input, const char *s, Datum *result);

/* A list of C strings as a text[] datum. */
extern Datum segment_names_array(List *names);

#endif
