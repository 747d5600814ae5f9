/*
 * segment.c: the segment rule compiler. A rule is a JSON tree (see README, "Segments");
 * compiling it validates every node, refusing a bad one with the JSON path of the node and
 * what was expected there, and emits three things the SQL side stores with the segment:
 *   - a SQL predicate over a profile row "p" and the evaluation time $1,
 *   - a SQL expression for the next time the answer can change by the passing of time alone
 *     (recheck), or NULL,
 *   - what the rule reads (event names, profile fields, other segments), so that a statement
 *     re-evaluates only the segments whose inputs it changed.
 * Every literal is quoted with quote_literal; field names come from a fixed list.
 * Also here: the stable random bucket and the anniversary helper rules use at evaluation.
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

PG_FUNCTION_INFO_V1(personalize_compile_rule);
PG_FUNCTION_INFO_V1(personalize_bucket);
PG_FUNCTION_INFO_V1(personalize_days_to_anniversary);

#define MAX_RULE_DEPTH 32
#define MAX_RULE_NODES 1000
#define MAX_LIST_ITEMS 10000
#define MAX_STRING_BYTES 1000

/* What a compilation has gathered so far. */
typedef struct RuleCompiler
{
	List	   *events;			/* event names read (char *) */
	List	   *fields;			/* profile fields read (char *) */
	List	   *segments;		/* other segments read (char *) */
	List	   *rechecks;		/* SQL expressions, each a time the answer may change */
	StringInfoData joins;		/* FROM items the predicate and rechecks refer to */
	int			n_joins;
	int			nodes;
} RuleCompiler;

/* The longest "within" or "ago" a rule may use: longer ones leave the range of timestamps. */
#define MAX_RULE_INTERVAL_YEARS 100

/* Where _segment_apply puts "AND e.profile_id = ANY ($2)" when it evaluates some profiles. */
#define IDS_PLACEHOLDER "/*ids*/" 

/* A profile column a "field" condition may compare, with its SQL type class. */
typedef struct FieldSpec
{
	const char *name;
	char		kind;			/* 'n' number, 't' timestamp, 's' text, 'b' boolean */
} FieldSpec;

static const FieldSpec field_specs[] = {
	{"event_count", 'n'}, {"first_seen_at", 't'}, {"last_seen_at", 't'}, {"created_at", 't'},
	{"consent_at", 't'}, {"email_consent", 's'}, {"lawful_basis", 's'}, {"email", 's'},
	{"user_id", 's'}, {"do_not_sell", 'b'}, {"purchase_count", 'n'}, {"purchase_total", 'n'},
	{"first_purchase_at", 't'}, {"last_purchase_at", 't'}, {"rfm_r", 'n'}, {"rfm_f", 'n'},
	{"rfm_m", 'n'}, {"rfm_segment", 's'}, {NULL, 0}
};

/* The change a field belongs to, for the dependency index: consent, purchases, rfm or itself. */
static const char *
field_group(const char *name)
{
	if (strcmp(name, "email_consent") == 0 || strcmp(name, "consent_at") == 0 ||
		strcmp(name, "lawful_basis") == 0 || strcmp(name, "do_not_sell") == 0)
		return "consent";
	if (strncmp(name, "purchase_", 9) == 0 || strcmp(name, "first_purchase_at") == 0 ||
		strcmp(name, "last_purchase_at") == 0)
		return "purchases";
	if (strncmp(name, "rfm_", 4) == 0)
		return "rfm";
	return name;
}

static char *compile_node(RuleCompiler *rc, JsonbValue *node, const char *path, int depth);

/* Raises the compile error for the node at path. */
static void
bad_rule(const char *path, const char *expected)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid segment rule at %s", path),
			 errdetail("Expected %s.", expected)));
}

/* Looks up key in an object node; NULL when absent. */
static JsonbValue *
key_of(JsonbValue *obj, const char *key)
{
	return getKeyJsonValueFromContainer(obj->val.binary.data, key, strlen(key), NULL);
}

/* True if the value is a JSON object. */
static bool
is_object(JsonbValue *v)
{
	return v && v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data);
}

/* True if the value is a JSON array. */
static bool
is_array(JsonbValue *v)
{
	return v && v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data);
}

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
	Numeric		n;
	int64		r;

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
	Jsonb	   *j = JsonbValueToJsonb(v);

	return psprintf("%s::jsonb", quote_literal_cstr(JsonbToCString(NULL, &j->root, VARSIZE(j))));
}

/*
 * Parses s with a type's input function inside a subtransaction, so that a malformed value
 * becomes the rule error for path (PostgreSQL 15 input functions have no soft errors).
 */
static Datum
parse_or_refuse(PGFunction input, const char *s, const char *path, const char *expected)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	Datum		result = (Datum) 0;
	bool		ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		result = DirectFunctionCall3(input, CStringGetDatum(s), ObjectIdGetDatum(InvalidOid),
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
	if (!ok)
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

	if (DatumGetBool(DirectFunctionCall2(interval_le, iv, IntervalPGetDatum(&zero))) ||
		DatumGetBool(DirectFunctionCall2(interval_gt, iv, IntervalPGetDatum(&longest))))
		bad_rule(path, "a positive interval of at most 100 years");
	return psprintf("%s::interval", quote_literal_cstr(s));
}

/* A timestamp literal checked by PostgreSQL's own parser; errors name path. */
static char *
timestamp_at(JsonbValue *v, const char *path)
{
	const char *expected = "a timestamp such as \"2026-01-31 00:00+00\"";
	char	   *s = string_at(v, path, expected);

	if (TIMESTAMP_NOT_FINITE(DatumGetTimestampTz(parse_or_refuse(timestamptz_in, s, path, expected))))
		bad_rule(path, "a finite timestamp");
	return psprintf("%s::timestamptz", quote_literal_cstr(s));
}

/* Remembers a name in a list once. */
static List *
add_name(List *list, const char *name)
{
	ListCell   *lc;

	foreach(lc, list)
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
		char	   *s = string_at(v, path, "a trait name or path such as \"address.city\"");
		char	   *tok, *save = NULL;
		bool		first = true;

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
		JsonbIterator *it = JsonbIteratorInit(v->val.binary.data);
		JsonbValue	e;
		JsonbIteratorToken tok;
		int			n = 0;

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
		bool		want = value == NULL || (value->type == jbvBool && value->val.boolean);

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
		JsonbIterator *it;
		JsonbValue	e;
		JsonbIteratorToken tok;
		int			n = 0;

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
	return NULL;				/* keep the compiler quiet */
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
	char	   *x = psprintf("(p.traits #> %s)", path_literal(key_of(node, "trait"), psprintf("%s.trait", path)));

	rc->fields = add_name(rc->fields, "traits");
	return json_comparison(x, op_of(node, path), key_of(node, "value"), path);
}

/* {"field": name, "op": ..., "value": ...}: a profile column; timestamps accept {"ago": interval}. */
static char *
compile_field(RuleCompiler *rc, JsonbValue *node, const char *path)
{
	char	   *name = string_at(key_of(node, "field"), psprintf("%s.field", path), "a profile field name");
	char	   *op = op_of(node, path);
	JsonbValue *value = key_of(node, "value");
	char	   *vpath = psprintf("%s.value", path);
	const FieldSpec *f;
	const char *sqlop = NULL;
	char	   *lit;

	for (f = field_specs; f->name && strcmp(f->name, name) != 0; f++)
		;
	if (f->name == NULL)
		bad_rule(psprintf("%s.field", path), "one of event_count, first_seen_at, last_seen_at, created_at, consent_at, "
				 "email_consent, lawful_basis, email, user_id, do_not_sell, purchase_count, purchase_total, "
				 "first_purchase_at, last_purchase_at, rfm_r, rfm_f, rfm_m, rfm_segment");
	rc->fields = add_name(rc->fields, field_group(name));
	if (strcmp(op, "exists") == 0)
		return psprintf("(p.%s IS %sNULL)", name, value && value->type == jbvBool && !value->val.boolean ? "" : "NOT ");
	if (strcmp(op, "eq") == 0)
		sqlop = "=";
	else if (strcmp(op, "ne") == 0)
		sqlop = "<>";
	else if ((sqlop = threshold_op(op)) == NULL && strcmp(op, "in") != 0)
		bad_rule(psprintf("%s.op", path), "one of eq, ne, lt, lte, gt, gte, in, exists for a profile field");

	if (sqlop == NULL)			/* in */
	{
		if (!is_array(value))
			bad_rule(vpath, "an array of values");
		return psprintf("coalesce(%s @> jsonb_build_array(p.%s), false)", jsonb_literal(value), name);
	}
	if (value == NULL)
		bad_rule(vpath, "a value to compare with");
	switch (f->kind)
	{
		case 'n':
			if (value->type != jbvNumeric)
				bad_rule(vpath, "a number");
			lit = numeric_normalize(value->val.numeric);
			break;
		case 'b':
			if (value->type != jbvBool)
				bad_rule(vpath, "true or false");
			lit = value->val.boolean ? "true" : "false";
			break;
		case 's':
			lit = quote_literal_cstr(string_at(value, vpath, "a string"));
			return psprintf("coalesce(p.%s COLLATE \"C\" %s %s, false)", name, sqlop, lit);
		default:				/* timestamp: a literal or {"ago": interval} */
			if (is_object(value) && key_of(value, "ago"))
			{
				char	   *iv = interval_at(key_of(value, "ago"), psprintf("%s.ago", vpath));
				bool		strict = sqlop[0] != '=' && sqlop[1] != '=';

				/* p.f OP $1 - iv flips when $1 reaches p.f + iv (just past it for < and >) */
				rc->rechecks = lappend(rc->rechecks,
									   psprintf("CASE WHEN p.%s + %s%s > $1 THEN p.%s + %s%s END", name, iv,
												strict ? " + '1 microsecond'::interval" : "", name, iv,
												strict ? " + '1 microsecond'::interval" : ""));
				return psprintf("coalesce(p.%s %s $1 - %s, false)", name, sqlop, iv);
			}
			lit = timestamp_at(value, vpath);
			break;
	}
	return psprintf("coalesce(p.%s %s %s, false)", name, sqlop, lit);
}

/* The property filters of an event condition, as SQL on "e" (empty string for none). */
static char *
event_filters(JsonbValue *where, const char *path)
{
	StringInfoData buf;
	JsonbIterator *it;
	JsonbValue	f;
	JsonbIteratorToken tok;
	int			i = 0;

	initStringInfo(&buf);
	if (where == NULL)
		return buf.data;
	if (!is_array(where))
		bad_rule(path, "an array of property conditions");
	it = JsonbIteratorInit(where->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &f, true)) != WJB_DONE)
	{
		char	   *fpath;

		if (tok != WJB_ELEM)
			continue;
		fpath = psprintf("%s[%d]", path, i++);
		if (!is_object(&f))
			bad_rule(fpath, "a property condition such as {\"property\": \"category\", \"op\": \"eq\", \"value\": \"shoes\"}");
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
 */
static char *
compile_event(RuleCompiler *rc, JsonbValue *node, const char *path)
{
	char	   *name = string_at(key_of(node, "event"), psprintf("%s.event", path), "an event name");
	JsonbValue *within = key_of(node, "within"), *between = key_of(node, "between");
	JsonbValue *vmin = key_of(node, "min"), *vmax = key_of(node, "max"), *vexact = key_of(node, "exactly");
	char	   *filters = event_filters(key_of(node, "where"), psprintf("%s.where", path));
	char	   *window = "", *count, *alias, *iv = NULL;
	int64		lo = 1, hi = -1;

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
		window = psprintf(" AND e.occurred_at > $1 - %s", (iv = interval_at(within, psprintf("%s.within", path))));
	else if (between)
	{
		JsonbIterator *it;
		JsonbValue	e;
		JsonbIteratorToken tok;
		char	   *bounds[2];
		int			n = 0;

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
		window = psprintf(" AND e.occurred_at >= %s AND e.occurred_at < %s", bounds[0], bounds[1]);
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
					 " FROM personalize.events e WHERE e.event = %s%s%s " IDS_PLACEHOLDER
					 " GROUP BY e.profile_id) %s ON %s.profile_id = p.profile_id",
					 quote_literal_cstr(name), filters, window, alias, alias);
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
	char	   *alias = psprintf("sg%d", ++rc->n_joins);

	appendStringInfo(&rc->joins,
					 " LEFT JOIN (SELECT e.profile_id FROM personalize.segment_members e"
					 " WHERE e.segment_id = (SELECT s.segment_id FROM personalize.segments s WHERE s.name = %s) "
					 IDS_PLACEHOLDER ") %s ON %s.profile_id = p.profile_id",
					 quote_literal_cstr(name), alias, alias);
	return psprintf("(%s.profile_id IS NOT NULL)", alias);
}

/* {"all": [...]} or {"any": [...]} */
static char *
compile_list(RuleCompiler *rc, JsonbValue *list, const char *path, const char *joiner, int depth)
{
	StringInfoData buf;
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	int			i = 0;

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
	char	   *salt;
	int64		from, to;

	if (!is_object(spec))
		bad_rule(path, "an object {\"salt\": ..., \"from\": 0, \"to\": 9999}");
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
	char	   *x = psprintf("personalize.days_to_anniversary(p.traits #>> %s, $1)",
							 path_literal(key_of(node, "date_trait"), psprintf("%s.date_trait", path)));
	int64		days = count_at(key_of(node, "within_next"), psprintf("%s.within_next", path));

	if (days > 366)
		bad_rule(psprintf("%s.within_next", path), "a number of days up to 366");
	rc->fields = add_name(rc->fields, "traits");
	/* the answer can only change at the next UTC midnight */
	rc->rechecks = lappend(rc->rechecks,
						   psprintf("CASE WHEN %s IS NOT NULL THEN (date_trunc('day', $1 AT TIME ZONE 'UTC') "
									"+ interval '1 day') AT TIME ZONE 'UTC' END", x));
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
	char	   *op, *v;
	const char *sqlop;
	JsonbValue *value;

	if (!is_object(spec))
		bad_rule(path, "an object {\"op\": \"gt\", \"value\": 10}");
	op = op_of(spec, path);
	if ((sqlop = threshold_op(op)) == NULL)
		bad_rule(psprintf("%s.op", path), "one of lt, lte, gt, gte");
	value = key_of(spec, "value");
	if (value == NULL || value->type != jbvNumeric || numeric_is_nan(value->val.numeric) ||
		numeric_is_inf(value->val.numeric))
		bad_rule(psprintf("%s.value", path), "a number");
	v = numeric_normalize(value->val.numeric);
	rc->fields = add_name(rc->fields, "engagement");
	rc->rechecks = lappend(rc->rechecks,
						   psprintf("CASE WHEN p.engagement_as_of > $1 THEN personalize._engagement_recheck(p.profile_id, $1, %s) "
									"WHEN p.engagement > %s AND %s > 0 AND p.engagement_as_of + personalize.half_life() "
									"* (ln(p.engagement / %s) / ln(2)) > $1 THEN p.engagement_as_of + personalize.half_life() "
									"* (ln(p.engagement / %s) / ln(2)) + '1 microsecond'::interval END", v, v, v, v, v));
	return psprintf("coalesce(CASE WHEN p.engagement_as_of IS NULL THEN 0::float8 "
					"WHEN p.engagement_as_of > $1 THEN personalize._engagement_from_events(p.profile_id, $1) "
					"ELSE p.engagement * power(2::float8, "
					"greatest(-1000, extract(epoch FROM p.engagement_as_of - $1) / "
					"extract(epoch FROM personalize.half_life()))::float8) END %s %s, false)", sqlop, v);
}

/*
 * {"interest": "shoes", "top": 3}: the category is among the profile's n strongest interests.
 * Every category decays at the same rate, so the ranking does not change with time alone: it is
 * ordered by ln(score) + as_of·ln2/h, the log of the score carried to a common instant.
 */
static char *
compile_interest(RuleCompiler *rc, JsonbValue *node, const char *path)
{
	char	   *category = string_at(key_of(node, "interest"), psprintf("%s.interest", path), "a category name");
	int64		top = key_of(node, "top") ? count_at(key_of(node, "top"), psprintf("%s.top", path)) : 3;

	if (top < 1 || top > 100)
		bad_rule(psprintf("%s.top", path), "a number from 1 to 100");
	rc->fields = add_name(rc->fields, "interests");
	return psprintf("(%s IN (SELECT i.category FROM personalize.profile_interests i WHERE i.profile_id = p.profile_id "
					"AND i.score > 0 ORDER BY ln(i.score) + extract(epoch FROM i.as_of) * ln(2) / "
					"extract(epoch FROM personalize.half_life()) DESC, i.category LIMIT %lld))",
					quote_literal_cstr(category), (long long) top);
}

/* Compiles one rule node into a SQL boolean expression. */
static char *
compile_node(RuleCompiler *rc, JsonbValue *node, const char *path, int depth)
{
	JsonbValue *v;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	if (depth > MAX_RULE_DEPTH)
		bad_rule(path, "rules nested at most 32 deep");
	if (++rc->nodes > MAX_RULE_NODES)
		bad_rule(path, "at most 1000 rule nodes");
	if (!is_object(node))
		bad_rule(path, "a rule object such as {\"all\": [...]}, {\"trait\": ...}, {\"event\": ...}");
	if ((v = key_of(node, "all")) != NULL)
		return compile_list(rc, v, psprintf("%s.all", path), " AND ", depth);
	if ((v = key_of(node, "any")) != NULL)
		return compile_list(rc, v, psprintf("%s.any", path), " OR ", depth);
	if ((v = key_of(node, "not")) != NULL)
		return psprintf("(NOT %s)", compile_node(rc, v, psprintf("%s.not", path), depth + 1));
	if (key_of(node, "trait"))
		return compile_trait(rc, node, path);
	if (key_of(node, "field"))
		return compile_field(rc, node, path);
	if (key_of(node, "event"))
		return compile_event(rc, node, path);
	if ((v = key_of(node, "consent")) != NULL)
	{
		char	   *c = string_at(v, psprintf("%s.consent", path), "subscribed, unsubscribed or unknown");

		if (strcmp(c, "subscribed") != 0 && strcmp(c, "unsubscribed") != 0 && strcmp(c, "unknown") != 0)
			bad_rule(psprintf("%s.consent", path), "subscribed, unsubscribed or unknown");
		rc->fields = add_name(rc->fields, "consent");
		return psprintf("(p.email_consent = %s)", quote_literal_cstr(c));
	}
	if ((v = key_of(node, "segment")) != NULL)
	{
		char	   *s = string_at(v, psprintf("%s.segment", path), "a segment name");

		rc->segments = add_name(rc->segments, s);
		return compile_segment_ref(rc, s);
	}
	if ((v = key_of(node, "bucket")) != NULL)
		return compile_bucket(v, psprintf("%s.bucket", path));
	if (key_of(node, "date_trait"))
		return compile_date_trait(rc, node, path);
	if ((v = key_of(node, "engagement")) != NULL)
		return compile_engagement(rc, v, psprintf("%s.engagement", path));
	if (key_of(node, "interest"))
		return compile_interest(rc, node, path);
	bad_rule(path, "a rule with one of the keys all, any, not, trait, field, event, consent, segment, "
			 "bucket, date_trait, engagement, interest");
	return NULL;
}

/* A list of C strings as a text[] datum. */
static Datum
names_array(List *names)
{
	Datum	   *d = palloc(sizeof(Datum) * (list_length(names) + 1));
	ListCell   *lc;
	int			i = 0;

	foreach(lc, names)
		d[i++] = CStringGetTextDatum(lfirst(lc));
	return PointerGetDatum(construct_array(d, i, TEXTOID, -1, false, TYPALIGN_INT));
}

/* SQL: personalize._compile_rule(rule) -> (predicate, recheck, events, fields, segments, joins) */
Datum
personalize_compile_rule(PG_FUNCTION_ARGS)
{
	Jsonb	   *rule = PG_GETARG_JSONB_P(0);
	RuleCompiler rc = {0};
	JsonbValue	root;
	TupleDesc	desc;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};
	char	   *pred;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_compile_rule must return a composite");
	if (JB_ROOT_IS_SCALAR(rule))
		bad_rule("$", "a rule object such as {\"all\": [...]}");
	root.type = jbvBinary;
	root.val.binary.data = &rule->root;
	root.val.binary.len = VARSIZE(rule) - VARHDRSZ;
	initStringInfo(&rc.joins);
	pred = compile_node(&rc, &root, "$", 0);

	values[0] = CStringGetTextDatum(pred);
	if (rc.rechecks == NIL)
		nulls[1] = true;
	else
	{
		StringInfoData buf;
		ListCell   *lc;

		initStringInfo(&buf);
		appendStringInfoString(&buf, "LEAST(");
		foreach(lc, rc.rechecks)
			appendStringInfo(&buf, "%s%s", foreach_current_index(lc) ? ", " : "", (char *) lfirst(lc));
		appendStringInfoChar(&buf, ')');
		values[1] = CStringGetTextDatum(buf.data);
	}
	values[2] = names_array(rc.events);
	values[3] = names_array(rc.fields);
	values[4] = names_array(rc.segments);
	values[5] = CStringGetTextDatum(rc.joins.data);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/*
 * SQL: personalize.bucket(profile_id, salt) -> 0..9999: the first 8 bytes of
 * SHA-256(salt || ':' || profile_id in decimal), big-endian, modulo 10000. Stable everywhere.
 */
Datum
personalize_bucket(PG_FUNCTION_ARGS)
{
	int64		id = PG_GETARG_INT64(0);
	text	   *salt = PG_GETARG_TEXT_PP(1);
	char	   *msg = psprintf("%.*s:" INT64_FORMAT, (int) VARSIZE_ANY_EXHDR(salt), VARDATA_ANY(salt), id);
	char		hex[65];
	uint64		v = 0;

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
	text	   *t = PG_GETARG_TEXT_PP(0);
	TimestampTz as_of = PG_GETARG_TIMESTAMPTZ(1);
	const char *s = VARDATA_ANY(t);
	int			y, m, d, today, year, dd, next;
	struct pg_tm tm;
	fsec_t		fsec;

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
	if (timestamp2tm(as_of, NULL, &tm, &fsec, NULL, NULL) != 0)	/* UTC */
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
