/*
 * journey_core.h: the journey definition checker in pure C (no PostgreSQL headers): a
 * definition (a jvalue.h tree) checked node by node, and what it reads and names. The server
 * runs it through src/journey/journey_def.c (the jsonb adapter, which also supplies
 * PostgreSQL's own interval and time parsers and the rule compiler's host); fuzz/journey_fuzz.c
 * runs it on JSON text.
 */
#ifndef PERSONALIZE_JOURNEY_CORE_H
#define PERSONALIZE_JOURNEY_CORE_H

#include "core/jvalue.h"
#include "segment/rule_core.h"

/* What the core asks of its host: the rule compiler's host (memory and interrupts too), and
 * the server's reading of a duration and of a time of day. */
typedef struct journey_host
{
	rule_host rule;
	/* an interval's months, days and microseconds; false when text is not an interval */
	bool (*interval)(void *ctx, const char *text, int32_t *months, int32_t *days, int64_t *usecs);
	/* a time of day as microseconds after midnight (24:00 is a whole day); false when not one */
	bool (*time_of_day)(void *ctx, const char *text, int64_t *usecs);
} journey_host;

/* The kinds of error the core reports; the adapter maps each to a message and a SQLSTATE. */
typedef enum journey_error_kind
{
	JOURNEY_OK = 0,
	JOURNEY_ERR_INVALID, /* a bad node of the definition: its JSON path and what was expected */
	JOURNEY_ERR_RULE	 /* a bad node of a rule inside it, as the rule compiler reports it */
} journey_error_kind;

/* A refused definition. */
typedef struct journey_error
{
	journey_error_kind kind;
	const char		  *path;
	const char		  *expected;
} journey_error;

/* What a checked definition reads and names (each name once, in order of first mention). */
typedef struct journey_checked
{
	const char *entry_kind; /* event, segment or trait */
	rule_names	entry_events, wait_events, goal_events;
	rule_names	templates, template_paths; /* each name with the JSON path of its first mention */
	rule_names	experiments, experiment_paths;
	rule_names	segments, segment_paths;
} journey_checked;

/* Checks a definition; false with the path of the bad node and what was expected there. */
extern bool journey_core_check(const jv *def, const journey_host *h, journey_checked *out, journey_error *err);

#endif
