/*
 * rule_core.h: the segment rule compiler in pure C (no PostgreSQL headers): a rule (a jvalue.h
 * tree) to the two evaluation statements of its segment and what it reads. The server runs it
 * through src/segment/segment.c (the jsonb adapter, which also supplies the profile field table
 * and PostgreSQL's own interval and timestamp parsers); fuzz/rule_fuzz.c runs it on JSON text.
 */
#ifndef PERSONALIZE_RULE_CORE_H
#define PERSONALIZE_RULE_CORE_H

#include "core/jvalue.h"

/* A profile column a "field" condition may compare (the table is the adapter's). */
typedef struct rule_field
{
	const char *name;
	char		kind;  /* 'n' number, 't' timestamp, 's' text, 'b' boolean */
	const char *group; /* the change it belongs to, for the dependency index */
	bool		as_of; /* folded from events: evaluated as of $1 */
	char		model; /* not a column: 'p' P(alive), 'c' churn risk, 'k' the cluster (model_field_value) */
} rule_field;

/* What the core asks of its host. */
typedef struct rule_host
{
	jv_alloc		  alloc;
	const rule_field *fields; /* ends with a NULL name */
	/* a positive interval of at most 100 years as a SQL literal, or NULL and what was expected */
	const char *(*interval_literal)(void *ctx, const char *text, const char **expected);
	/* a timestamp in the years 1 to 9999 as a SQL literal in UTC and *usecs (to order two), or
	 * NULL and what was expected */
	const char *(*timestamp_literal)(void *ctx, const char *text, int64_t *usecs, const char **expected);
	/* called at every rule node (statement_timeout, cancel) */
	void (*check_interrupts)(void *ctx);
	void *ctx;
} rule_host;

/* The kinds of error the core reports; the adapter maps each to a SQLSTATE in one table. */
typedef enum rule_error_kind
{
	RULE_OK = 0,
	RULE_ERR_INVALID /* a bad node: its JSON path and what was expected there */
} rule_error_kind;

/* A refused rule. */
typedef struct rule_error
{
	rule_error_kind kind;
	const char	   *path;
	const char	   *expected;
} rule_error;

/* A list of names. */
typedef struct rule_names
{
	const char **items;
	int			 n, cap;
} rule_names;

/* A compiled rule: both statement forms and what the rule reads. */
typedef struct rule_compiled
{
	const char *live;			/* the statement for the profiles in $2 */
	const char *full;			/* the statement for every profile */
	bool		time_dependent; /* the answer may change with time alone (a recheck) */
	rule_names	events;			/* event names read */
	rule_names	fields;			/* profile field groups read */
	rule_names	segments;		/* other segments read */
} rule_compiled;

/* Compiles a rule; false with the path of the bad node and what was expected there. */
extern bool rule_core_compile(const jv *rule, const rule_host *h, rule_compiled *out, rule_error *err);

/* The statements of a SQL segment whose condition is where_clause (superuser-written). */
extern void rule_core_compile_sql(const char *where_clause, const rule_host *h, rule_compiled *out);

/* The statement selecting the profiles of $2 that a rule node holds for at $1 (errors name root). */
extern bool rule_core_match_statement(const jv *rule, const char *root, const rule_host *h, const char **out,
									  rule_error *err);

/* An event condition's "where" filters as SQL over an event row "e" ("" for none). */
extern bool rule_core_event_filters(const jv *where, const char *path, const rule_host *h, const char **out,
									rule_error *err);

/* A string as a SQL literal, as PostgreSQL's quote_literal_cstr writes it. */
extern char *rule_quote_literal(const jv_alloc *a, const char *s);

#endif
