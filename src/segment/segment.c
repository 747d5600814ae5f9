/*
 * segment.c: the segment rule compiler. A rule is a JSON tree (docs/segments.md); compiling it
 * validates every node, refusing a bad one (or an unknown key) with the JSON path of the node
 * and what was expected there, and builds the whole evaluation statement of the segment:
 *   - a SQL predicate over a profile row "p" and the evaluation time $1,
 *   - a SQL expression for the next time the answer can change by the passing of time alone
 *     (recheck), or NULL,
 *   - the grouped event scans they join, restricted to the profiles $2 in the live form,
 * wrapped in the statement that compares the answer with segment_members/segment_pending and
 * writes only the changes. It also says what the rule reads (event names, profile fields, other
 * segments), so that a statement re-evaluates only the segments whose inputs it changed.
 * The statement is never stored: segment_exec.c builds it from the rule when it runs it, so no
 * SQL text a role can write is ever executed. Every literal is quoted with quote_literal, or
 * re-printed in a canonical form (timestamps in UTC); field names come from field_specs.
 * Evaluation runs with TimeZone UTC (set on the SQL functions), so no answer depends on the
 * session's zone. Also here: the stable random bucket and the anniversary helper.
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
#include "core/json_node.h"
#include "segment/segment.h"

PG_FUNCTION_INFO_V1(personalize_compile_rule);
PG_FUNCTION_INFO_V1(personalize_segment_compile);
PG_FUNCTION_INFO_V1(personalize_segment_fields);
PG_FUNCTION_INFO_V1(personalize_bucket);
PG_FUNCTION_INFO_V1(personalize_days_to_anniversary);

#define MAX_RULE_DEPTH 32
#define MAX_RULE_NODES 1000
#define MAX_LIST_ITEMS 10000
#define MAX_STRING_BYTES 1000

/* What a compilation has gathered so far. */
typedef struct RuleCompiler
{
	List		  *events;	 /* event names read (char *) */
	List		  *fields;	 /* profile fields read (char *) */
	List		  *segments; /* other segments read (char *) */
	List		  *rechecks; /* SQL expressions, each a time the answer may change */
	StringInfoData joins;	 /* FROM items the predicate and rechecks refer to */
	int			   n_joins;
	int			   nodes;
	bool		   live;		   /* restrict the event and member scans to the profiles $2 */
	bool		   as_of_fields;   /* reads a field that stored events stamped after $1 change */
	bool		   clv_joined;	   /* the latest CLV model is joined as "clv" */
	bool		   cluster_joined; /* profile_clusters is joined as "pcl" */
} RuleCompiler;

/* The longest "within" or "ago" a rule may use: longer ones leave the range of timestamps. */
#define MAX_RULE_INTERVAL_YEARS 100

/*
 * The one list of profile columns a "field" condition may compare: the compiler, its error
 * message, personalize._segment_fields() (checked against the view segment_profiles and
 * docs/segments.md by test/suites/segment_fields) all read it.
 */
typedef struct FieldSpec
{
	const char *name;
	char		kind;  /* 'n' number, 't' timestamp, 's' text, 'b' boolean */
	const char *group; /* the change it belongs to, for the dependency index */
	bool		as_of; /* folded from events: evaluated as of $1 (see AS_OF_SOURCE) */
	char		model; /* not a column: 'p' P(alive), 'c' churn risk, 'k' the cluster (compile_model_field) */
} FieldSpec;

static const FieldSpec field_specs[] = {
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
 * The latest CLV model (personalize.fit_clv), joined once per statement: no model, no p_alive
 * (every comparison with it is false).
 */
#define CLV_MODEL_JOIN \
	" LEFT JOIN (SELECT m.r, m.alpha, m.a, m.b, extract(epoch FROM m.time_unit)::float8 AS unit" \
	" FROM personalize.clv_models m ORDER BY m.model_id DESC LIMIT 1) clv ON true"

/* The model and the purchase state as of $1 (see AS_OF_SOURCE) that P(alive) is computed from. */
#define CLV_ARGS \
	"clv.r, clv.alpha, clv.a, clv.b, clv.unit," \
	" CASE WHEN p.last_seen_at > $1 THEN asof.purchase_count ELSE p.purchase_count END," \
	" CASE WHEN p.last_seen_at > $1 THEN asof.first_purchase_at ELSE p.first_purchase_at END," \
	" CASE WHEN p.last_seen_at > $1 THEN asof.last_purchase_at ELSE p.last_purchase_at END, $1"

/*
 * The fields folded from events, as they stood at $1: for a profile holding events stamped
 * after $1 (its last_seen_at is later), recounted from its events up to $1 with the live fold's
 * purchase rule (the purchase event, personalize._usable_amount of its amount); for every other
 * profile the stored columns are that state already. next_at is the first later event, when
 * the answer may change. (Not _live_state_at: it also rebuilds the cart, which costs more than
 * the whole evaluation.)
 */
#define AS_OF_SOURCE \
	" LEFT JOIN LATERAL (SELECT count(*) AS event_count, min(e.occurred_at) AS first_seen_at," \
	" max(e.occurred_at) AS last_seen_at, count(u.amount) AS purchase_count," \
	" coalesce(sum(u.amount), 0) AS purchase_total," \
	" min(e.occurred_at) FILTER (WHERE u.amount IS NOT NULL) AS first_purchase_at," \
	" max(e.occurred_at) FILTER (WHERE u.amount IS NOT NULL) AS last_purchase_at," \
	" (SELECT min(f.occurred_at) FROM personalize.events f WHERE f.profile_id = p.profile_id" \
	" AND f.occurred_at > $1) AS next_at" \
	" FROM personalize.events e CROSS JOIN personalize.scoring_settings st" \
	" CROSS JOIN LATERAL (SELECT CASE WHEN e.event = st.purchase_event THEN personalize._usable_amount(" \
	"personalize.purchase_amount(e.properties, st.amount_properties)) END AS amount) u" \
	" WHERE p.last_seen_at > $1 AND e.profile_id = p.profile_id AND e.occurred_at <= $1) asof ON true"

/* "one of a, b, c" over the field names, for the error of an unknown field. */
static char *
field_names_expected(void)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "one of ");
	for (const FieldSpec *f = field_specs; f->name; f++)
		appendStringInfo(&buf, "%s%s", f == field_specs ? "" : ", ", f->name);
	return buf.data;
}

static char *compile_node(RuleCompiler *rc, JsonbValue *node, const char *path, int depth);

/* Raises the compile error for the node at path. */
#define bad_rule(path, expected) json_node_refuse("segment rule", path, expected)
/* Refuses a key of an object node that is not in allowed (NULL-terminated), naming its path. */
#define check_keys(obj, path, allowed) json_node_check_keys("segment rule", obj, path, allowed)

/* A string value as a palloc'd C string, or an error naming path. */
static char *
string_at(JsonbValue *v, const char *path, const char *what)
{
	if (v == NULL || v->type != jbvString || v->val.string.len == 0 || v->val.string.len > MAX_STRING_BYTES)
		bad_rule(path, what);
	if (memchr(v->val.string.val, '\0', v->val.string.len) != NULL)
		bad_rule(path, what);
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* A non-negative integer value, or an error naming path. */
static int64
count_at(JsonbValue *v, const char *path)
{
	Numeric n;
	int64	r;

	if (v == NULL || v->type != jbvNumeric)
		bad_rule(path, "a non-negative whole number");
	n = v->val.numeric;
	if (numeric_is_nan(n) || numeric_is_inf(n) ||
		!DatumGetBool(DirectFunctionCall2(numeric_eq, NumericGetDatum(n),
										  DirectFunctionCall1(numeric_floor, NumericGetDatum(n)))) ||
		DatumGetBool(DirectFunctionCall2(numeric_lt, NumericGetDatum(n),
										 DirectFunctionCall1(int4_numeric, Int32GetDatum(0)))) ||
		DatumGetBool(DirectFunctionCall2(numeric_gt, NumericGetDatum(n),
										 DirectFunctionCall1(int4_numeric, Int32GetDatum(1000000000)))))
		bad_rule(path, "a non-negative whole number up to 1000000000");
	r = DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(n)));
	return r;
}

/* A jsonb value as a SQL literal of type jsonb. */
static char *
jsonb_literal(JsonbValue *v)
{
	Jsonb *j = JsonbValueToJsonb(v);

	return psprintf("%s::jsonb", quote_literal_cstr(JsonbToCString(NULL, &j->root, VARSIZE(j))));
}

/*
 * Parses s with a type's input function inside a subtransaction, so that a malformed value is
 * a false return rather than an error (PostgreSQL 15 input functions have no soft errors).
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

/* Parses s with a type's input function; a malformed value is the rule error for path. */
static Datum
parse_or_refuse(PGFunction input, const char *s, const char *path, const char *expected)
{
	Datum result = (Datum) 0;

	if (!segment_try_parse(input, s, &result))
		bad_rule(path, expected);
	return result;
}

/* A positive interval literal checked by PostgreSQL's own parser; errors name path. */
static char *
interval_at(JsonbValue *v, const char *path)
{
	const char *expected = "an interval such as \"7 days\"";
	char	   *s = string_at(v, path, expected);
	Interval	zero = {0};
	Interval	longest = {.month = MAX_RULE_INTERVAL_YEARS * MONTHS_PER_YEAR};
	Datum		iv = parse_or_refuse(interval_in, s, path, expected);

	Interval *i;
	int64	  t;

	if (DatumGetBool(DirectFunctionCall2(interval_le, iv, IntervalPGetDatum(&zero))) ||
		DatumGetBool(DirectFunctionCall2(interval_gt, iv, IntervalPGetDatum(&longest))))
		bad_rule(path, "a positive interval of at most 100 years");
	/* re-printed field by field, each with its sign: the same under any IntervalStyle */
	i = DatumGetIntervalP(iv);
	t = i->time < 0 ? -i->time : i->time;
	return psprintf("'%+d mons %+d days %s" INT64_FORMAT ":%02d:%02d.%06d'::interval", i->month, i->day,
					i->time < 0 ? "-" : "+", t / USECS_PER_HOUR, (int) (t / USECS_PER_MINUTE % 60),
					(int) (t / USECS_PER_SEC % 60), (int) (t % USECS_PER_SEC));
}

/* A timestamp as a SQL literal in UTC that reads the same under any TimeZone and DateStyle. */
static char *
timestamp_literal(TimestampTz t)
{
	struct pg_tm tm;
	fsec_t		 fsec;

	if (timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0) /* UTC */
		elog(ERROR, "timestamp out of range");
	return psprintf("'%04d-%02d-%02d %02d:%02d:%02d.%06d+00'::timestamptz", tm.tm_year, tm.tm_mon,
					tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec);
}

/*
 * A timestamp checked by PostgreSQL's own parser (text without an offset is UTC: the rule
 * functions run with TimeZone UTC); errors name path.
 */
static TimestampTz
timestamp_at(JsonbValue *v, const char *path)
{
	const char	*expected = "a timestamp such as \"2026-01-31 00:00+00\"";
	char		*s = string_at(v, path, expected);
	TimestampTz	 t = DatumGetTimestampTz(parse_or_refuse(timestamptz_in, s, path, expected));
	struct pg_tm tm;
	fsec_t		 fsec;

	if (TIMESTAMP_NOT_FINITE(t) || timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0 ||
		tm.tm_year < 1 || tm.tm_year > 9999)
		bad_rule(path, "a timestamp in the years 1 to 9999");
	return t;
}

/* Remembers a name in a list once. */
static List *
add_name(List *list, const char *name)
{
	ListCell *lc;

	foreach (lc, list)
		if (strcmp(lfirst(lc), name) == 0)
			return list;
	return lappend(list, pstrdup(name));
}

/* A JSON path given as "a.b" or ["a", "b"], as a SQL text[] literal. */
static char *
path_literal(JsonbValue *v, const char *path)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "ARRAY[");
	if (v && v->type == jbvString)
	{
		char *s = string_at(v, path, "a trait name or path such as \"address.city\"");
		char *tok, *save = NULL;
		bool  first = true;

		for (tok = strtok_r(s, ".", &save); tok; tok = strtok_r(NULL, ".", &save))
		{
			appendStringInfo(&buf, "%s%s", first ? "" : ", ", quote_literal_cstr(tok));
			first = false;
		}
		if (first)
			bad_rule(path, "a trait name or path such as \"address.city\"");
	}
	else if (is_array(v))
	{
		JsonbIterator	  *it = JsonbIteratorInit(v->val.binary.data);
		JsonbValue		   e;
		JsonbIteratorToken tok;
		int				   n = 0;

		while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
			if (tok == WJB_ELEM)
				appendStringInfo(&buf, "%s%s", n++ ? ", " : "",
								 quote_literal_cstr(string_at(&e, path, "an array of key names")));
		if (n == 0 || n > MAX_RULE_DEPTH)
			bad_rule(path, "an array of 1 to 32 key names");
	}
	else
		bad_rule(path, "a trait name or path such as \"address.city\"");
	appendStringInfoString(&buf, "]::text[]");
	return buf.data;
}

/* The SQL comparison operator of a threshold op name, or NULL. */
static const char *
threshold_op(const char *op)
{
	if (strcmp(op, "lt") == 0)
		return "<";
	if (strcmp(op, "lte") == 0)
		return "<=";
	if (strcmp(op, "gt") == 0)
		return ">";
	if (strcmp(op, "gte") == 0)
		return ">=";
	return NULL;
}

/*
 * A comparison of the jsonb expression x (a trait or an event property) by op with value,
 * as a SQL boolean that is never NULL (a missing or mistyped value compares false, and "ne"
 * true).
 */
static char *
json_comparison(const char *x, const char *op, JsonbValue *value, const char *path)
{
	char	   *vpath = psprintf("%s.value", path);
	const char *sqlop = NULL;

	if (strcmp(op, "exists") == 0)
	{
		bool want = value == NULL || (value->type == jbvBool && value->val.boolean);

		if (value && value->type != jbvBool)
			bad_rule(vpath, "true or false");
		return psprintf("(%s(%s IS NOT NULL AND %s <> 'null'::jsonb))", want ? "" : "NOT ", x, x);
	}
	if (value == NULL)
		bad_rule(vpath, "a value to compare with");
	if (strcmp(op, "eq") == 0 || strcmp(op, "ne") == 0)
	{
		if (value->type == jbvBinary)
			bad_rule(vpath, "a string, number, boolean or null");
		return psprintf("(%scoalesce(%s = %s, false))", op[0] == 'n' ? "NOT " : "", x, jsonb_literal(value));
	}
	if ((sqlop = threshold_op(op)) != NULL)
	{
		if (value->type == jbvNumeric)
			return psprintf("coalesce(CASE WHEN jsonb_typeof(%s) = 'number' THEN (%s)::numeric %s %s END, false)",
							x, x, sqlop, numeric_normalize(value->val.numeric));
		if (value->type == jbvString)
			return psprintf("coalesce(CASE WHEN jsonb_typeof(%s) = 'string' THEN (%s #>> '{}') COLLATE \"C\" %s %s END, false)",
							x, x, sqlop, quote_literal_cstr(string_at(value, vpath, "a string or a number")));
		bad_rule(vpath, "a string or a number");
	}
	if (strcmp(op, "in") == 0)
	{
		JsonbIterator	  *it;
		JsonbValue		   e;
		JsonbIteratorToken tok;
		int				   n = 0;

		if (!is_array(value))
			bad_rule(vpath, "an array of values");
		it = JsonbIteratorInit(value->val.binary.data);
		while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
		{
			if (tok != WJB_ELEM)
				continue;
			if (e.type == jbvBinary)
				bad_rule(vpath, "an array of strings, numbers, booleans or nulls");
			if (++n > MAX_LIST_ITEMS)
				bad_rule(vpath, "at most 10000 values");
		}
		return psprintf("coalesce(jsonb_typeof(%s) NOT IN ('object', 'array') AND %s @> jsonb_build_array(%s), false)",
						x, jsonb_literal(value), x);
	}
	if (strcmp(op, "contains") == 0)
	{
		if (value->type == jbvString)
			return psprintf("coalesce(CASE jsonb_typeof(%s) WHEN 'string' THEN strpos(%s #>> '{}', %s) > 0 "
							"WHEN 'array' THEN %s @> jsonb_build_array(%s) END, false)",
							x, x, quote_literal_cstr(string_at(value, vpath, "a string")), x, jsonb_literal(value));
		if (value->type == jbvBinary)
			bad_rule(vpath, "a string, number or boolean");
		return psprintf("coalesce(jsonb_typeof(%s) = 'array' AND %s @> jsonb_build_array(%s), false)",
						x, x, jsonb_literal(value));
	}
	if (strcmp(op, "starts_with") == 0)
		return psprintf("coalesce(CASE WHEN jsonb_typeof(%s) = 'string' THEN starts_with(%s #>> '{}', %s) END, false)",
						x, x, quote_literal_cstr(string_at(value, vpath, "a string")));
	bad_rule(psprintf("%s.op", path), "one of eq, ne, lt, lte, gt, gte, in, contains, exists, starts_with");
	return NULL; /* keep the compiler quiet */
}

/* The operator name of a comparison node (default eq). */
static char *
op_of(JsonbValue *node, const char *path)
{
	JsonbValue *op = key_of(node, "op");

	return op ? string_at(op, psprintf("%s.op", path), "an operator name") : pstrdup("eq");
}

/* {"trait": path, "op": ..., "value": ...} */
static char *
compile_trait(RuleCompiler *rc, JsonbValue *node, const char *path)
{
	static const char *const keys[] = {"trait", "op", "value", NULL};
	char					*x;

	check_keys(node, path, keys);
	x = psprintf("(p.traits #> %s)", path_literal(key_of(node, "trait"), psprintf("%s.trait", path)));
	rc->fields = add_name(rc->fields, "traits");
	return json_comparison(x, op_of(node, path), key_of(node, "value"), path);
}

/* One value of a field's type as a SQL literal, or an error naming path. */
static char *
field_literal(const FieldSpec *f, JsonbValue *value, const char *path)
{
	switch (f->kind)
	{
		case 'n':
			if (value == NULL || value->type != jbvNumeric || numeric_is_nan(value->val.numeric) ||
				numeric_is_inf(value->val.numeric))
				bad_rule(path, "a number");
			return psprintf("%s::numeric", numeric_normalize(value->val.numeric));
		case 'b':
			if (value == NULL || value->type != jbvBool)
				bad_rule(path, "true or false");
			return value->val.boolean ? "true" : "false";
		case 's':
			return psprintf("%s COLLATE \"C\"", quote_literal_cstr(string_at(value, path, "a string")));
		default:
			return timestamp_literal(timestamp_at(value, path));
	}
}

/*
 * The time at which "field + iv OP $1" flips as $1 passes t0 = field + iv: lt and gte change
 * just after t0, gt and lte at t0, eq and ne at both; NULL once past.
 */
static char *
ago_recheck(const char *t0, const char *op)
{
	const char *after = psprintf("(%s + '1 microsecond'::interval)", t0);

	if (strcmp(op, "lt") == 0 || strcmp(op, "gte") == 0)
		return psprintf("CASE WHEN %s > $1 THEN %s END", after, after);
	if (strcmp(op, "gt") == 0 || strcmp(op, "lte") == 0)
		return psprintf("CASE WHEN %s > $1 THEN %s END", t0, t0);
	return psprintf("CASE WHEN %s > $1 THEN %s WHEN %s > $1 THEN %s END", t0, t0, after, after);
}

/*
 * The value of a field that is not a column: the cluster of the latest kmeans() run, or P(alive)
 * (churn risk: 1 minus it) computed from the latest CLV model and the purchase state as of $1.
 */
static const char *
model_field_value(RuleCompiler *rc, const FieldSpec *f)
{
	if (f->model == 'k')
	{
		if (!rc->cluster_joined)
			appendStringInfoString(&rc->joins,
								   " LEFT JOIN personalize.profile_clusters pcl ON pcl.profile_id = p.profile_id");
		rc->cluster_joined = true;
		return "pcl.cluster";
	}
	rc->as_of_fields = true;
	rc->fields = add_name(rc->fields, "purchases"); /* a purchase changes it too */
	if (!rc->clv_joined)
		appendStringInfoString(&rc->joins, CLV_MODEL_JOIN);
	rc->clv_joined = true;
	return f->model == 'p' ? "personalize._p_alive_at(" CLV_ARGS ")" : "(1 - personalize._p_alive_at(" CLV_ARGS "))";
}

/*
 * A comparison of P(alive) or churn risk with a value changes as time passes without a purchase
 * (P(alive) falls): the recheck is the time it crosses the value.
 */
static void
model_field_recheck(RuleCompiler *rc, const FieldSpec *f, const char *literal)
{
	if (f->model == 'p' || f->model == 'c')
		rc->rechecks = lappend(rc->rechecks, psprintf("personalize._p_alive_crossing(" CLV_ARGS ", %s(%s)::float8)",
													  f->model == 'c' ? "1 - " : "", literal));
}

/*
 * {"field": name, "op": ..., "value": ...}: a profile column; timestamps accept {"ago": iv},
 * which reads as "field + iv OP evaluation time". Fields folded from events are taken as they
 * stood at the evaluation time (AS_OF_SOURCE), like event conditions.
 */
static char *
compile_field(RuleCompiler *rc, JsonbValue *node, const char *path)
{
	static const char *const keys[] = {"field", "op", "value", NULL};
	char					*name, *op, *x, *vpath = psprintf("%s.value", path);
	JsonbValue				*value = key_of(node, "value");
	const FieldSpec			*f;
	const char				*sqlop = NULL;

	check_keys(node, path, keys);
	name = string_at(key_of(node, "field"), psprintf("%s.field", path), "a profile field name");
	op = op_of(node, path);
	for (f = field_specs; f->name && strcmp(f->name, name) != 0; f++)
		;
	if (f->name == NULL)
		bad_rule(psprintf("%s.field", path), field_names_expected());
	rc->fields = add_name(rc->fields, f->group);
	if (f->model)
		x = (char *) model_field_value(rc, f);
	else if (f->as_of)
	{
		x = psprintf("(CASE WHEN p.last_seen_at > $1 THEN asof.%s ELSE p.%s END)", name, name);
		rc->as_of_fields = true;
	}
	else
		x = psprintf("p.%s", name);
	if (strcmp(op, "exists") == 0)
	{
		if (value && value->type != jbvBool)
			bad_rule(vpath, "true or false");
		return psprintf("(%s IS %sNULL)", x, value && !value->val.boolean ? "" : "NOT ");
	}
	if (strcmp(op, "eq") == 0)
		sqlop = "=";
	else if (strcmp(op, "ne") == 0)
		sqlop = "<>";
	else if ((sqlop = threshold_op(op)) == NULL && strcmp(op, "in") != 0)
		bad_rule(psprintf("%s.op", path), "one of eq, ne, lt, lte, gt, gte, in, exists for a profile field");

	if (sqlop == NULL) /* in: compared by the field's type, never as text */
	{
		StringInfoData	   buf;
		JsonbIterator	  *it;
		JsonbValue		   e;
		JsonbIteratorToken tok;
		int				   n = 0;

		if (!is_array(value))
			bad_rule(vpath, "an array of values");
		initStringInfo(&buf);
		it = JsonbIteratorInit(value->val.binary.data);
		while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
		{
			char *literal;

			if (tok != WJB_ELEM)
				continue;
			if (++n > MAX_LIST_ITEMS)
				bad_rule(vpath, "at most 10000 values");
			literal = field_literal(f, &e, psprintf("%s[%d]", vpath, n - 1));
			model_field_recheck(rc, f, literal);
			appendStringInfo(&buf, "%s%s", n > 1 ? ", " : "", literal);
		}
		if (n == 0)
			return "false";
		return psprintf("coalesce(%s%s IN (%s), false)", x, f->kind == 's' ? " COLLATE \"C\"" : "", buf.data);
	}
	if (value == NULL)
		bad_rule(vpath, "a value to compare with");
	if (f->kind == 't' && is_object(value) && key_of(value, "ago"))
	{
		static const char *const ago_keys[] = {"ago", NULL};
		char					*iv, *t0;

		check_keys(value, vpath, ago_keys);
		iv = interval_at(key_of(value, "ago"), psprintf("%s.ago", vpath));
		t0 = psprintf("(%s + %s)", x, iv);
		rc->rechecks = lappend(rc->rechecks, ago_recheck(t0, op));
		return psprintf("coalesce(%s %s $1, false)", t0, sqlop);
	}
	{
		char *literal = field_literal(f, value, vpath);

		model_field_recheck(rc, f, literal);
		return psprintf("coalesce(%s %s %s, false)", x, sqlop, literal);
	}
}

/* The property filters of an event condition, as SQL on "e" (empty string for none). */
char *
segment_event_filters(JsonbValue *where, const char *path)
{
	static const char *const keys[] = {"property", "op", "value", NULL};
	StringInfoData			 buf;
	JsonbIterator			*it;
	JsonbValue				 f;
	JsonbIteratorToken		 tok;
	int						 i = 0;

	initStringInfo(&buf);
	if (where == NULL)
		return buf.data;
	if (!is_array(where))
		bad_rule(path, "an array of property conditions");
	it = JsonbIteratorInit(where->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &f, true)) != WJB_DONE)
	{
		char *fpath;

		if (tok != WJB_ELEM)
			continue;
		fpath = psprintf("%s[%d]", path, i++);
		if (!is_object(&f))
			bad_rule(fpath, "a property condition such as {\"property\": \"category\", \"op\": \"eq\", \"value\": \"shoes\"}");
		check_keys(&f, fpath, keys);
		appendStringInfo(&buf, " AND %s",
						 json_comparison(psprintf("(e.properties #> %s)",
												  path_literal(key_of(&f, "property"), psprintf("%s.property", fpath))),
										 op_of(&f, fpath), key_of(&f, "value"), fpath));
		if (i > MAX_RULE_NODES)
			bad_rule(path, "at most 1000 property conditions");
	}
	return buf.data;
}

/*
 * {"event": name, "min"|"max"|"exactly": n, "within": interval | "between": [from, to],
 *  "where": [property conditions]}: the count of matching events up to $1 compared with n.
 * An event at occurred_at is inside "within" from occurred_at until occurred_at + within
 * (excluded), and counts from the moment $1 reaches its time.
 */
static char *
compile_event(RuleCompiler *rc, JsonbValue *node, const char *path)
{
	static const char *const keys[] = {"event", "min", "max", "exactly", "within", "between", "where", NULL};
	char					*name, *filters, *window = "", *count, *alias, *iv = NULL;
	JsonbValue				*within = key_of(node, "within"), *between = key_of(node, "between");
	JsonbValue				*vmin = key_of(node, "min"), *vmax = key_of(node, "max"), *vexact = key_of(node, "exactly");
	int64					 lo = 1, hi = -1;

	check_keys(node, path, keys);
	name = string_at(key_of(node, "event"), psprintf("%s.event", path), "an event name");
	filters = segment_event_filters(key_of(node, "where"), psprintf("%s.where", path));
	if (strlen(name) > 200)
		bad_rule(psprintf("%s.event", path), "an event name of at most 200 bytes");
	rc->events = add_name(rc->events, name);
	if (within && between)
		bad_rule(path, "either \"within\" or \"between\", not both");
	if (vexact && (vmin || vmax))
		bad_rule(path, "either \"exactly\" or \"min\"/\"max\"");
	if (vexact)
		lo = hi = count_at(vexact, psprintf("%s.exactly", path));
	else
	{
		if (vmin)
			lo = count_at(vmin, psprintf("%s.min", path));
		else if (vmax)
			lo = 0;
		if (vmax)
			hi = count_at(vmax, psprintf("%s.max", path));
		if (hi >= 0 && hi < lo)
			bad_rule(path, "\"min\" not greater than \"max\"");
	}
	if (within)
		window = psprintf(" AND e.occurred_at + %s > $1", (iv = interval_at(within, psprintf("%s.within", path))));
	else if (between)
	{
		JsonbIterator	  *it;
		JsonbValue		   e;
		JsonbIteratorToken tok;
		TimestampTz		   bounds[2];
		int				   n = 0;

		if (!is_array(between))
			bad_rule(psprintf("%s.between", path), "an array of two timestamps [from, to)");
		it = JsonbIteratorInit(between->val.binary.data);
		while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
			if (tok == WJB_ELEM)
			{
				if (n == 2)
					bad_rule(psprintf("%s.between", path), "an array of two timestamps [from, to)");
				bounds[n] = timestamp_at(&e, psprintf("%s.between[%d]", path, n));
				n++;
			}
		if (n != 2)
			bad_rule(psprintf("%s.between", path), "an array of two timestamps [from, to)");
		if (bounds[0] >= bounds[1])
			bad_rule(psprintf("%s.between", path), "[from, to) with from before to");
		window = psprintf(" AND e.occurred_at >= %s AND e.occurred_at < %s", timestamp_literal(bounds[0]),
						  timestamp_literal(bounds[1]));
	}

	/*
	 * One grouped scan of the matching events gives, per profile, the count up to $1, the
	 * oldest event in a "within" window (it leaves the window at occurred_at + within) and the
	 * first event stamped after $1 (it starts to count when $1 reaches it).
	 */
	alias = psprintf("ev%d", ++rc->n_joins);
	appendStringInfo(&rc->joins,
					 " LEFT JOIN (SELECT e.profile_id, count(*) FILTER (WHERE e.occurred_at <= $1) AS n,"
					 " min(e.occurred_at) FILTER (WHERE e.occurred_at <= $1) AS first_in,"
					 " min(e.occurred_at) FILTER (WHERE e.occurred_at > $1) AS next"
					 " FROM personalize.events e WHERE e.event = %s%s%s%s"
					 " GROUP BY e.profile_id) %s ON %s.profile_id = p.profile_id",
					 quote_literal_cstr(name), filters, window,
					 rc->live ? " AND e.profile_id = ANY ($2)" : "", alias, alias);
	if (within)
		rc->rechecks = lappend(rc->rechecks, psprintf("%s.first_in + %s", alias, iv));
	rc->rechecks = lappend(rc->rechecks, psprintf("%s.next", alias));
	count = psprintf("coalesce(%s.n, 0)", alias);
	if (hi < 0)
		return psprintf("(%s >= %lld)", count, (long long) lo);
	if (lo == hi)
		return psprintf("(%s = %lld)", count, (long long) lo);
	return psprintf("(%s BETWEEN %lld AND %lld)", count, (long long) lo, (long long) hi);
}

/*
 * {"segment": NAME}: one scan of that segment's members joined to the profiles (set-at-a-time,
 * unlike a correlated EXISTS per profile); the name is looked up once per statement.
 */
static char *
compile_segment_ref(RuleCompiler *rc, const char *name)
{
	char *alias = psprintf("sg%d", ++rc->n_joins);

	appendStringInfo(&rc->joins,
					 " LEFT JOIN (SELECT e.profile_id FROM personalize.segment_members e"
					 " WHERE e.segment_id = (SELECT s.segment_id FROM personalize.segments s WHERE s.name = %s)%s"
					 ") %s ON %s.profile_id = p.profile_id",
					 quote_literal_cstr(name), rc->live ? " AND e.profile_id = ANY ($2)" : "", alias, alias);
	return psprintf("(%s.profile_id IS NOT NULL)", alias);
}

/* {"all": [...]} or {"any": [...]} */
static char *
compile_list(RuleCompiler *rc, JsonbValue *list, const char *path, const char *joiner, int depth)
{
	StringInfoData	   buf;
	JsonbIterator	  *it;
	JsonbValue		   e;
	JsonbIteratorToken tok;
	int				   i = 0;

	if (!is_array(list))
		bad_rule(path, "an array of rules");
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '(');
	it = JsonbIteratorInit(list->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		appendStringInfo(&buf, "%s%s", i ? joiner : "",
						 compile_node(rc, &e, psprintf("%s[%d]", path, i), depth + 1));
		i++;
	}
	if (i == 0)
		bad_rule(path, "a non-empty array of rules");
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/* {"bucket": {"salt": s, "from": a, "to": b}}: a stable random bucket 0..9999 in [a, b]. */
static char *
compile_bucket(JsonbValue *spec, const char *path)
{
	char *salt;
	int64 from, to;

	static const char *const keys[] = {"salt", "from", "to", NULL};

	if (!is_object(spec))
		bad_rule(path, "an object {\"salt\": ..., \"from\": 0, \"to\": 9999}");
	check_keys(spec, path, keys);
	salt = key_of(spec, "salt") ? string_at(key_of(spec, "salt"), psprintf("%s.salt", path), "a string") : "";
	from = key_of(spec, "from") ? count_at(key_of(spec, "from"), psprintf("%s.from", path)) : 0;
	to = key_of(spec, "to") ? count_at(key_of(spec, "to"), psprintf("%s.to", path)) : 9999;
	if (to > 9999 || from > to)
		bad_rule(path, "0 <= from <= to <= 9999");
	return psprintf("(personalize.bucket(p.profile_id, %s) BETWEEN %lld AND %lld)",
					quote_literal_cstr(salt), (long long) from, (long long) to);
}

/* {"date_trait": path, "within_next": days}: the date's next anniversary is within days. */
static char *
compile_date_trait(RuleCompiler *rc, JsonbValue *node, const char *path)
{
	static const char *const keys[] = {"date_trait", "within_next", NULL};
	char					*x;
	int64					 days;

	check_keys(node, path, keys);
	x = psprintf("personalize.days_to_anniversary(p.traits #>> %s, $1)",
				 path_literal(key_of(node, "date_trait"), psprintf("%s.date_trait", path)));
	days = count_at(key_of(node, "within_next"), psprintf("%s.within_next", path));

	if (days > 366)
		bad_rule(psprintf("%s.within_next", path), "a number of days up to 366");
	rc->fields = add_name(rc->fields, "traits");
	/* the answer can only change at the next UTC midnight */
	rc->rechecks = lappend(rc->rechecks,
						   psprintf("CASE WHEN %s IS NOT NULL THEN (date_trunc('day', $1 AT TIME ZONE 'UTC') "
									"+ interval '1 day') AT TIME ZONE 'UTC' END",
									x));
	return psprintf("coalesce(%s <= %lld, false)", x, (long long) days);
}

/*
 * {"engagement": {"op": "gt", "value": 10}}: the live engagement score decayed to $1. A score only
 * decays between events, so the answer flips when E·2^(-(t-a)/h) reaches the threshold:
 * t = a + h·log2(E/v), plus a microsecond so the recheck lands on the far side. State valued after
 * $1 (events stamped after it) is not raised back in time: the score as of $1 comes from the events
 * up to $1 (personalize._engagement_from_events, src/scoring/scoring.sql), and the rule is
 * rechecked at the next scored event (personalize._engagement_recheck).
 */
static char *
compile_engagement(RuleCompiler *rc, JsonbValue *spec, const char *path)
{
	static const char *const keys[] = {"op", "value", NULL};
	char					*op, *v;
	const char				*sqlop;
	JsonbValue				*value;

	if (!is_object(spec))
		bad_rule(path, "an object {\"op\": \"gt\", \"value\": 10}");
	check_keys(spec, path, keys);
	op = op_of(spec, path);
	if ((sqlop = threshold_op(op)) == NULL)
		bad_rule(psprintf("%s.op", path), "one of lt, lte, gt, gte");
	value = key_of(spec, "value");
	if (value == NULL || value->type != jbvNumeric || numeric_is_nan(value->val.numeric) ||
		numeric_is_inf(value->val.numeric))
		bad_rule(psprintf("%s.value", path), "a number");
	/* the score is a float8: a threshold past its range would fail at every evaluation */
	if (DatumGetBool(DirectFunctionCall2(numeric_gt,
										 DirectFunctionCall1(numeric_abs, NumericGetDatum(value->val.numeric)),
										 DirectFunctionCall3(numeric_in, CStringGetDatum("1e300"),
															 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)))))
		bad_rule(psprintf("%s.value", path), "a number between -1e300 and 1e300");
	v = numeric_normalize(value->val.numeric);
	rc->fields = add_name(rc->fields, "engagement");
	rc->rechecks = lappend(rc->rechecks,
						   psprintf("CASE WHEN p.engagement_as_of > $1 THEN personalize._engagement_recheck(p.profile_id, $1, %s) "
									"WHEN p.engagement > %s AND %s > 0 AND p.engagement_as_of + personalize.half_life() "
									"* (ln(p.engagement / %s) / ln(2)) > $1 THEN p.engagement_as_of + personalize.half_life() "
									"* (ln(p.engagement / %s) / ln(2)) + '1 microsecond'::interval END",
									v, v, v, v, v));
	return psprintf("coalesce(CASE WHEN p.engagement_as_of IS NULL THEN 0::float8 "
					"WHEN p.engagement_as_of > $1 THEN personalize._engagement_from_events(p.profile_id, $1) "
					"ELSE p.engagement * power(2::float8, "
					"greatest(-1000, extract(epoch FROM p.engagement_as_of - $1) / "
					"extract(epoch FROM personalize.half_life()))::float8) END %s %s, false)",
					sqlop, v);
}

/*
 * {"interest": "shoes", "top": 3}: the category is among the profile's n strongest interests.
 * Every category decays at the same rate, so the ranking does not change with time alone: it is
 * ordered by ln(score) + as_of·ln2/h, the log of the score carried to a common instant.
 */
static char *
compile_interest(RuleCompiler *rc, JsonbValue *node, const char *path)
{
	static const char *const keys[] = {"interest", "top", NULL};
	char					*category;
	int64					 top;

	check_keys(node, path, keys);
	category = string_at(key_of(node, "interest"), psprintf("%s.interest", path), "a category name");
	top = key_of(node, "top") ? count_at(key_of(node, "top"), psprintf("%s.top", path)) : 3;

	if (top < 1 || top > 100)
		bad_rule(psprintf("%s.top", path), "a number from 1 to 100");
	rc->fields = add_name(rc->fields, "interests");
	return psprintf("(%s IN (SELECT i.category FROM personalize.profile_interests i WHERE i.profile_id = p.profile_id "
					"AND i.score > 0 ORDER BY ln(i.score) + extract(epoch FROM i.as_of) * ln(2) / "
					"extract(epoch FROM personalize.half_life()) DESC, i.category LIMIT %lld))",
					quote_literal_cstr(category), (long long) top);
}

/* The node kinds a rule is made of: the key that names each, and the keys it may carry. */
typedef struct NodeKind
{
	const char		  *key;
	const char *const *keys;
} NodeKind;

#define KEYS(...) ((const char *const[]){__VA_ARGS__, NULL})
static const NodeKind node_kinds[] = {
	{"all", KEYS("all")}, {"any", KEYS("any")}, {"not", KEYS("not")}, {"trait", NULL}, {"field", NULL}, {"event", NULL}, /* their compilers check their keys */
	{"consent", KEYS("consent")},
	{"segment", KEYS("segment")},
	{"bucket", KEYS("bucket")},
	{"date_trait", NULL},
	{"engagement", KEYS("engagement")},
	{"interest", NULL},
	{NULL, NULL}};

/* Compiles one rule node into a SQL boolean expression. */
static char *
compile_node(RuleCompiler *rc, JsonbValue *node, const char *path, int depth)
{
	const NodeKind *k;
	JsonbValue	   *v;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	if (depth > MAX_RULE_DEPTH)
		bad_rule(path, "rules nested at most 32 deep");
	if (++rc->nodes > MAX_RULE_NODES)
		bad_rule(path, "at most 1000 rule nodes");
	if (!is_object(node))
		bad_rule(path, "a rule object such as {\"all\": [...]}, {\"trait\": ...}, {\"event\": ...}");
	for (k = node_kinds; k->key && key_of(node, k->key) == NULL; k++)
		;
	if (k->key == NULL)
		bad_rule(path, "a rule with one of the keys all, any, not, trait, field, event, consent, segment, "
					   "bucket, date_trait, engagement, interest");
	if (k->keys)
		check_keys(node, path, k->keys);
	v = key_of(node, k->key);
	if (strcmp(k->key, "all") == 0)
		return compile_list(rc, v, psprintf("%s.all", path), " AND ", depth);
	if (strcmp(k->key, "any") == 0)
		return compile_list(rc, v, psprintf("%s.any", path), " OR ", depth);
	if (strcmp(k->key, "not") == 0)
		return psprintf("(NOT %s)", compile_node(rc, v, psprintf("%s.not", path), depth + 1));
	if (strcmp(k->key, "trait") == 0)
		return compile_trait(rc, node, path);
	if (strcmp(k->key, "field") == 0)
		return compile_field(rc, node, path);
	if (strcmp(k->key, "event") == 0)
		return compile_event(rc, node, path);
	if (strcmp(k->key, "consent") == 0)
	{
		char *c = string_at(v, psprintf("%s.consent", path), "subscribed, unsubscribed or unknown");

		if (strcmp(c, "subscribed") != 0 && strcmp(c, "unsubscribed") != 0 && strcmp(c, "unknown") != 0)
			bad_rule(psprintf("%s.consent", path), "subscribed, unsubscribed or unknown");
		rc->fields = add_name(rc->fields, "consent");
		return psprintf("(p.email_consent = %s)", quote_literal_cstr(c));
	}
	if (strcmp(k->key, "segment") == 0)
	{
		char *s = string_at(v, psprintf("%s.segment", path), "a segment name");

		rc->segments = add_name(rc->segments, s);
		return compile_segment_ref(rc, s);
	}
	if (strcmp(k->key, "bucket") == 0)
		return compile_bucket(v, psprintf("%s.bucket", path));
	if (strcmp(k->key, "date_trait") == 0)
		return compile_date_trait(rc, node, path);
	if (strcmp(k->key, "engagement") == 0)
		return compile_engagement(rc, v, psprintf("%s.engagement", path));
	return compile_interest(rc, node, path);
}

/*
 * The evaluation statement of a segment, with parameters $1 as_of, $2 ids (live form only),
 * $3 segment_id, $4 cause. A profile is a member (M), pending (P: not a member, but time alone
 * may make it one) or neither. The statement compares the answer with what is stored and writes
 * only the changes, with plain INSERTs: a live update holds the row locks of its profiles
 * (whoever changed them updated them first) and a refresh or tick holds the segment alone.
 * Pending rows exist only for rules that change with time (a recheck expression); the full form
 * of a rule that does not removes any left by an earlier version of the rule.
 */
static char *
build_statement(const char *predicate, const char *recheck, const char *joins, bool as_of_fields, bool live)
{
	const char	  *ids = live ? " AND %s.profile_id = ANY ($2)" : "";
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf,
					 "WITH cand AS MATERIALIZED ("
					 " SELECT p.profile_id, (%s) AS member, %s AS recheck"
					 " FROM personalize.segment_profiles p%s%s%s"
					 "), answer AS ("
					 " SELECT c.profile_id, CASE WHEN c.member THEN 'M' ELSE 'P' END AS state, c.recheck"
					 " FROM cand c WHERE c.member OR (NOT c.member AND c.recheck IS NOT NULL)"
					 "), stored AS ("
					 " SELECT m.profile_id, 'M' AS state, m.recheck_at AS recheck"
					 " FROM personalize.segment_members m WHERE m.segment_id = $3%s",
					 predicate, recheck ? recheck : "NULL::timestamptz", as_of_fields ? AS_OF_SOURCE : "",
					 joins, live ? " WHERE p.profile_id = ANY ($2)" : "", psprintf(ids, "m"));
	if (recheck)
		appendStringInfo(&buf,
						 " UNION ALL SELECT sp.profile_id, 'P', sp.recheck_at"
						 " FROM personalize.segment_pending sp WHERE sp.segment_id = $3%s",
						 psprintf(ids, "sp"));
	appendStringInfoString(&buf,
						   "), diff AS MATERIALIZED ("
						   " SELECT coalesce(n.profile_id, w.profile_id) AS profile_id, n.state AS now, n.recheck, w.state AS was"
						   " FROM answer n FULL JOIN stored w ON w.profile_id = n.profile_id"
						   " WHERE n.state IS DISTINCT FROM w.state OR n.recheck IS DISTINCT FROM w.recheck"
						   "), ins AS ("
						   " INSERT INTO personalize.segment_members (segment_id, profile_id, entered_at, recheck_at)"
						   " SELECT $3, d.profile_id, $1, d.recheck FROM diff d WHERE d.now = 'M' AND d.was IS DISTINCT FROM 'M'"
						   " RETURNING profile_id"
						   "), upd AS ("
						   " UPDATE personalize.segment_members m SET recheck_at = d.recheck"
						   " FROM diff d WHERE d.now = 'M' AND d.was = 'M' AND m.segment_id = $3 AND m.profile_id = d.profile_id"
						   "), del AS ("
						   " DELETE FROM personalize.segment_members m"
						   " USING diff d WHERE d.was = 'M' AND d.now IS DISTINCT FROM 'M' AND m.segment_id = $3"
						   " AND m.profile_id = d.profile_id"
						   " RETURNING m.profile_id)");
	if (recheck)
		appendStringInfoString(&buf,
							   ", pend AS ("
							   " INSERT INTO personalize.segment_pending (segment_id, profile_id, recheck_at)"
							   " SELECT $3, d.profile_id, d.recheck FROM diff d WHERE d.now = 'P' AND d.was IS DISTINCT FROM 'P'"
							   "), repend AS ("
							   " UPDATE personalize.segment_pending sp SET recheck_at = d.recheck"
							   " FROM diff d WHERE d.now = 'P' AND d.was = 'P' AND sp.segment_id = $3 AND sp.profile_id = d.profile_id"
							   "), unpend AS ("
							   " DELETE FROM personalize.segment_pending sp"
							   " USING diff d WHERE d.was = 'P' AND d.now IS DISTINCT FROM 'P' AND sp.segment_id = $3"
							   " AND sp.profile_id = d.profile_id)");
	else if (!live)
		appendStringInfoString(&buf,
							   ", unpend AS (DELETE FROM personalize.segment_pending sp WHERE sp.segment_id = $3)");
	appendStringInfoString(&buf,
						   ", logged AS ("
						   " INSERT INTO personalize.segment_log (segment_id, profile_id, change, at, cause)"
						   " SELECT $3, profile_id, 'entered', $1, $4 FROM ins"
						   " UNION ALL"
						   " SELECT $3, profile_id, 'exited', $1, $4 FROM del)"
						   " SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM del),"
						   " ARRAY(SELECT profile_id FROM ins UNION ALL SELECT profile_id FROM del)");
	return buf.data;
}

/* Compiles a rule in one form: the predicate and rechecks, with the scans restricted or not. */
static char *
compile_form(Jsonb *rule, bool live, SegmentCompiled *out)
{
	RuleCompiler   rc = {0};
	JsonbValue	   root;
	char		  *pred;
	StringInfoData recheck;
	ListCell	  *lc;

	if (JB_ROOT_IS_SCALAR(rule))
		bad_rule("$", "a rule object such as {\"all\": [...]}");
	root.type = jbvBinary;
	root.val.binary.data = &rule->root;
	root.val.binary.len = VARSIZE(rule) - VARHDRSZ;
	initStringInfo(&rc.joins);
	rc.live = live;
	pred = compile_node(&rc, &root, "$", 0);
	if (rc.as_of_fields)
		rc.rechecks = lappend(rc.rechecks, "(CASE WHEN p.last_seen_at > $1 THEN asof.next_at END)");

	initStringInfo(&recheck);
	foreach (lc, rc.rechecks)
		appendStringInfo(&recheck, "%s%s", foreach_current_index(lc) ? ", " : "LEAST(", (char *) lfirst(lc));
	if (rc.rechecks != NIL)
		appendStringInfoChar(&recheck, ')');
	out->time_dependent = rc.rechecks != NIL;
	out->events = rc.events;
	out->fields = rc.fields;
	out->segments = rc.segments;
	return build_statement(pred, rc.rechecks != NIL ? recheck.data : NULL, rc.joins.data, rc.as_of_fields, live);
}

/*
 * The statement that selects, of the profiles $2, those for which the rule (a node at path
 * root of a larger document, for the errors) holds at $1: journeys' entry, branch and exit
 * rules. Built when it runs, like the segment statements, never stored.
 */
char *
segment_match_statement(JsonbValue *rule, const char *root)
{
	RuleCompiler rc = {0};
	char		*pred;

	initStringInfo(&rc.joins);
	rc.live = true;
	pred = compile_node(&rc, rule, root, 0);
	return psprintf("SELECT p.profile_id FROM personalize.segment_profiles p%s%s"
					" WHERE p.profile_id = ANY ($2) AND (%s)",
					rc.as_of_fields ? AS_OF_SOURCE : "", rc.joins.data, pred);
}

/* Compiles a rule into both statement forms and what it reads; bad rules are refused. */
void
segment_compile(Jsonb *rule, SegmentCompiled *out)
{
	out->live = compile_form(rule, true, out);
	out->full = compile_form(rule, false, out);
}

/* The statements of a SQL segment: its condition over segment_profiles p, as stored. */
void
segment_compile_sql(const char *where_clause, SegmentCompiled *out)
{
	char *pred = psprintf("(%s)", where_clause);

	memset(out, 0, sizeof(*out));
	out->live = build_statement(pred, NULL, "", false, true);
	out->full = build_statement(pred, NULL, "", false, false);
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
	for (const FieldSpec *f = field_specs; f->name; f++)
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
