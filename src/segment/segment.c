/*
 * segment.c: the server adapter of the segment rule compiler (the rules are in rule_core.c, pure
 * C): a stored rule (jsonb) to the core's tree, the profile field table, PostgreSQL's own
 * interval and timestamp parsers (literals re-printed in a canonical form, timestamps in UTC),
 * interrupts, and the one table from the core's error kinds to SQLSTATEs. The statement is never
 * stored: segment_exec.c builds it from the rule when it runs it, so no SQL text a role can write
 * is ever executed. Evaluation runs with TimeZone UTC (set on the SQL functions), so no answer
 * depends on the session's zone. Also here: the stable random bucket and the anniversary helper.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "core/hash.h"
#include "core/jsonb_jv.h"
#include "segment/segment.h"

PG_FUNCTION_INFO_V1(personalize_compile_rule);
PG_FUNCTION_INFO_V1(personalize_segment_compile);
PG_FUNCTION_INFO_V1(personalize_segment_fields);
PG_FUNCTION_INFO_V1(personalize_bucket);
PG_FUNCTION_INFO_V1(personalize_days_to_anniversary);

/* The longest "within" or "ago" a rule may use: longer ones leave the range of timestamps. */
#define MAX_RULE_INTERVAL_YEARS 100

/*
 * The one list of profile columns a "field" condition may compare: the compiler, its error
 * message, personalize._segment_fields() (checked against the view segment_profiles and
 * docs/segments.md by test/suites/segment_fields) all read it.
 */
static const rule_field field_specs[] = {
	{"event_count", 'n', "event_count", true},
	{"first_seen_at", 't', "first_seen_at", true},
	{"last_seen_at", 't', "last_seen_at", true},
	{"created_at", 't', "created_at", false},
	{"consent_at", 't', "consent", false},
	{"email_consent", 's', "consent", false},
	{"lawful_basis", 's', "consent", false},
	{"email", 's', "email", false},
	{"user_id", 's', "user_id", false},
	{"do_not_sell", 'b', "consent", false},
	{"purchase_count", 'n', "purchases", true},
	{"purchase_total", 'n', "purchases", true},
	{"first_purchase_at", 't', "purchases", true},
	{"last_purchase_at", 't', "purchases", true},
	{"rfm_r", 'n', "rfm", false},
	{"rfm_f", 'n', "rfm", false},
	{"rfm_m", 'n', "rfm", false},
	{"rfm_segment", 's', "rfm", false},
	{"p_alive", 'n', "clv", true, 'p'},
	{"churn_risk", 'n', "clv", true, 'c'},
	{"cluster", 'n', "cluster", false, 'k'},
	{NULL, 0, NULL, false}};

/*
 * Parses s with a type's input function inside a subtransaction, so that a malformed value
 * becomes a rule error (PostgreSQL 15 input functions have no soft errors).
 */
bool
segment_try_parse(PGFunction input, const char *s, Datum *result)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		*result = DirectFunctionCall3(input, CStringGetDatum(s), ObjectIdGetDatum(InvalidOid),
									  Int32GetDatum(-1));
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return ok;
}

/* The core's interval hook: a positive interval of at most 100 years, checked by PostgreSQL's own
 * parser and re-printed field by field, each with its sign (the same under any IntervalStyle). */
static const char *
interval_literal(void *ctx, const char *s, const char **expected)
{
	Interval  zero = {0};
	Interval  longest = {.month = MAX_RULE_INTERVAL_YEARS * MONTHS_PER_YEAR};
	Datum	  iv;
	Interval *i;
	int64	  t;

	if (!segment_try_parse(interval_in, s, &iv))
		return NULL; /* *expected stays "an interval such as ..." */
	if (DatumGetBool(DirectFunctionCall2(interval_le, iv, IntervalPGetDatum(&zero))) ||
		DatumGetBool(DirectFunctionCall2(interval_gt, iv, IntervalPGetDatum(&longest))))
	{
		*expected = "a positive interval of at most 100 years";
		return NULL;
	}
	i = DatumGetIntervalP(iv);
	t = i->time < 0 ? -i->time : i->time;
	return psprintf("'%+d mons %+d days %s" INT64_FORMAT ":%02d:%02d.%06d'::interval", i->month, i->day,
					i->time < 0 ? "-" : "+", t / USECS_PER_HOUR, (int) (t / USECS_PER_MINUTE % 60),
					(int) (t / USECS_PER_SEC % 60), (int) (t % USECS_PER_SEC));
}

/*
 * The core's timestamp hook: a timestamp in the years 1 to 9999 checked by PostgreSQL's own parser
 * (text without an offset is UTC: the rule functions run with TimeZone UTC), as a SQL literal in
 * UTC that reads the same under any TimeZone and DateStyle.
 */
static const char *
timestamp_literal(void *ctx, const char *s, int64_t *usecs, const char **expected)
{
	Datum		 d;
	TimestampTz	 t;
	struct pg_tm tm;
	fsec_t		 fsec;

	if (!segment_try_parse(timestamptz_in, s, &d))
		return NULL; /* *expected stays "a timestamp such as ..." */
	t = DatumGetTimestampTz(d);
	if (TIMESTAMP_NOT_FINITE(t) || timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0 || /* UTC */
		tm.tm_year < 1 || tm.tm_year > 9999)
	{
		*expected = "a timestamp in the years 1 to 9999";
		return NULL;
	}
	*usecs = t;
	return psprintf("'%04d-%02d-%02d %02d:%02d:%02d.%06d+00'::timestamptz", tm.tm_year, tm.tm_mon,
					tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec);
}

/* The core's interrupt hook (called at every rule node). */
static void
check_interrupts(void *ctx)
{
	CHECK_FOR_INTERRUPTS();
}

/* The SQLSTATE of each kind of error the core reports: the one place they are decided. */
static const struct
{
	rule_error_kind kind;
	int				sqlstate;
} rule_errors[] = {
	{RULE_ERR_INVALID, ERRCODE_INVALID_PARAMETER_VALUE},
};

/* The host the core compiles with: palloc, the field table, PostgreSQL's parsers. */
rule_host
segment_rule_host(void)
{
	rule_host h = {jv_palloc, field_specs, interval_literal, timestamp_literal, check_interrupts, NULL};

	return h;
}

/* A list of names as a List of C strings. */
static List *
names_list(const rule_names *names)
{
	List *l = NIL;

	for (int i = 0; i < names->n; i++)
		l = lappend(l, pstrdup(names->items[i]));
	return l;
}

/* Copies a core compilation into the executor's form. */
static void
to_compiled(const rule_compiled *c, SegmentCompiled *out)
{
	out->live = pstrdup(c->live);
	out->full = pstrdup(c->full);
	out->time_dependent = c->time_dependent;
	out->events = names_list(&c->events);
	out->fields = names_list(&c->fields);
	out->segments = names_list(&c->segments);
}

/* Raises a core refusal as the PostgreSQL error of its kind. */
void
segment_report_rule_error(const rule_error *err)
{
	int code = ERRCODE_INTERNAL_ERROR;

	for (int i = 0; i < lengthof(rule_errors); i++)
		if (rule_errors[i].kind == err->kind)
			code = rule_errors[i].sqlstate;
	ereport(ERROR,
			(errcode(code),
			 errmsg("invalid segment rule at %s", err->path),
			 errdetail("Expected %s.", err->expected)));
	pg_unreachable();
}

/* A jsonb value (a container or a scalar) as a core tree. */
static jv *
jv_from_value(JsonbValue *v)
{
	Jsonb *j;

	if (v->type == jbvBinary)
		return jv_from_container(v->val.binary.data);
	j = JsonbValueToJsonb(v);
	return jv_from_jsonb(j);
}

/* Compiles a rule into both statement forms and what it reads; bad rules are refused. */
void
segment_compile(Jsonb *rule, SegmentCompiled *out)
{
	rule_host	  h = segment_rule_host();
	rule_compiled c;
	rule_error	  err;

	check_stack_depth();
	if (!rule_core_compile(jv_from_jsonb(rule), &h, &c, &err))
		segment_report_rule_error(&err);
	to_compiled(&c, out);
}

/* The statement selecting the profiles of $2 that a rule node holds for at $1 (errors name root). */
char *
segment_match_statement(JsonbValue *rule, const char *root)
{
	rule_host	h = segment_rule_host();
	rule_error	err;
	const char *out;

	check_stack_depth();
	if (!rule_core_match_statement(jv_from_value(rule), root, &h, &out, &err))
		segment_report_rule_error(&err);
	return pstrdup(out);
}

/* An event condition's "where" filters as SQL over an event row "e" ("" for none). */
char *
segment_event_filters(JsonbValue *where, const char *path)
{
	rule_host	h = segment_rule_host();
	rule_error	err;
	const char *out;

	if (where == NULL)
		return pstrdup("");
	if (!rule_core_event_filters(jv_from_value(where), path, &h, &out, &err))
		segment_report_rule_error(&err);
	return pstrdup(out);
}

/* The statements of a SQL segment: its condition over segment_profiles p, as stored. */
void
segment_compile_sql(const char *where_clause, SegmentCompiled *out)
{
	rule_host	  h = segment_rule_host();
	rule_compiled c;

	rule_core_compile_sql(where_clause, &h, &c);
	to_compiled(&c, out);
}

/* A list of C strings as a text[] datum. */
Datum
segment_names_array(List *names)
{
	Datum	 *d = palloc(sizeof(Datum) * (list_length(names) + 1));
	ListCell *lc;
	int		  i = 0;

	foreach (lc, names)
		d[i++] = CStringGetTextDatum(lfirst(lc));
	return PointerGetDatum(construct_array(d, i, TEXTOID, -1, false, TYPALIGN_INT));
}

/* 0.1's compiler entry, whose output was stored where roles could rewrite it: gone. */
Datum
personalize_compile_rule(PG_FUNCTION_ARGS)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("personalize._compile_rule is no longer supported"),
			 errhint("Update the extension: ALTER EXTENSION personalize UPDATE.")));
	PG_RETURN_NULL();
}

/*
 * SQL: personalize._segment_compile(rule) -> (time_dependent, events, fields, segments,
 * live_statement, full_statement): checks a rule and says what it reads; the statements are
 * for inspection only (evaluation compiles the stored rule again, see segment_exec.c).
 */
Datum
personalize_segment_compile(PG_FUNCTION_ARGS)
{
	SegmentCompiled c;
	TupleDesc		desc;
	Datum			values[6];
	bool			nulls[6] = {false, false, false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_segment_compile must return a composite");
	segment_compile(PG_GETARG_JSONB_P(0), &c);
	values[0] = BoolGetDatum(c.time_dependent);
	values[1] = segment_names_array(c.events);
	values[2] = segment_names_array(c.fields);
	values[3] = segment_names_array(c.segments);
	values[4] = CStringGetTextDatum(c.live);
	values[5] = CStringGetTextDatum(c.full);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/* SQL: personalize._segment_fields() -> (name, kind, reads, as_of): the field table. */
Datum
personalize_segment_fields(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (const rule_field *f = field_specs; f->name; f++)
	{
		Datum values[4];
		bool  nulls[4] = {false, false, false, false};

		values[0] = CStringGetTextDatum(f->name);
		values[1] = CStringGetTextDatum(f->kind == 'n' ? "number" : f->kind == 't' ? "timestamp"
																: f->kind == 's'   ? "text"
																				   : "boolean");
		values[2] = CStringGetTextDatum(f->group);
		values[3] = BoolGetDatum(f->as_of);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * SQL: personalize.bucket(profile_id, salt) -> 0..9999: the first 8 bytes of
 * SHA-256(salt || ':' || profile_id in decimal), big-endian, modulo 10000. Stable everywhere.
 */
Datum
personalize_bucket(PG_FUNCTION_ARGS)
{
	int64  id = PG_GETARG_INT64(0);
	text  *salt = PG_GETARG_TEXT_PP(1);
	char  *msg = psprintf("%.*s:" INT64_FORMAT, (int) VARSIZE_ANY_EXHDR(salt), VARDATA_ANY(salt), id);
	char   hex[65];
	uint64 v = 0;

	sha256_hex(msg, strlen(msg), hex);
	for (int i = 0; i < 16; i++)
		v = (v << 4) | (uint64) (hex[i] <= '9' ? hex[i] - '0' : hex[i] - 'a' + 10);
	PG_RETURN_INT32((int32) (v % 10000));
}

/*
 * SQL: personalize.days_to_anniversary(date_text, as_of) -> int: days from as_of's UTC date
 * to the next anniversary of a 'YYYY-MM-DD' date (0 on the day itself; 29 February is kept on
 * 28 February in other years); NULL for anything that is not a valid date.
 */
Datum
personalize_days_to_anniversary(PG_FUNCTION_ARGS)
{
	text		*t = PG_GETARG_TEXT_PP(0);
	TimestampTz	 as_of = PG_GETARG_TIMESTAMPTZ(1);
	const char	*s = VARDATA_ANY(t);
	int			 y, m, d, today, year, dd, next;
	struct pg_tm tm;
	fsec_t		 fsec;

	if (VARSIZE_ANY_EXHDR(t) != 10 || s[4] != '-' || s[7] != '-' || TIMESTAMP_NOT_FINITE(as_of))
		PG_RETURN_NULL();
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			PG_RETURN_NULL();
	y = atoi(pnstrdup(s, 4));
	m = atoi(pnstrdup(s + 5, 2));
	d = atoi(pnstrdup(s + 8, 2));
	if (m < 1 || m > 12 || d < 1 || d > day_tab[isleap(y)][m - 1])
		PG_RETURN_NULL();
	if (timestamp2tm(as_of, NULL, &tm, &fsec, NULL, NULL) != 0) /* UTC */
		PG_RETURN_NULL();
	today = date2j(tm.tm_year, tm.tm_mon, tm.tm_mday);
	for (year = tm.tm_year;; year++)
	{
		dd = (m == 2 && d == 29 && !isleap(year)) ? 28 : d;
		next = date2j(year, m, dd);
		if (next >= today)
			break;
	}
	PG_RETURN_INT32(next - today);
}
