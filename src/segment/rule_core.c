/*
 * rule_core.c: the segment rule compiler in pure C. A rule is a JSON tree (docs/segments.md);
 * compiling it validates every node, refusing a bad one (or an unknown key) with the JSON path of
 * the node and what was expected there, and builds the whole evaluation statement of the segment:
 *   - a SQL predicate over a profile row "p" and the evaluation time $1,
 *   - a SQL expression for the next time the answer can change by the passing of time alone
 *     (recheck), or NULL,
 *   - the grouped event scans they join, restricted to the profiles $2 in the live form,
 * wrapped in the statement that compares the answer with segment_members/segment_pending and
 * writes only the changes. It also says what the rule reads (event names, profile fields, other
 * segments), so that a statement re-evaluates only the segments whose inputs it changed.
 * Every literal is quoted (rule_quote_literal) or re-printed in a canonical form by the host
 * (intervals, timestamps in UTC); field names come from the host's field table. No PostgreSQL
 * types: the server's adapter is segment.c, a fuzz harness's is fuzz/rule_fuzz.c.
 */
#include "rule_core.h"

#include <setjmp.h>
#include <string.h>

#define MAX_RULE_DEPTH 32
#define MAX_RULE_NODES 1000
#define MAX_LIST_ITEMS 10000
#define MAX_STRING_BYTES 1000
/* 10^300: the score is a float8, and a threshold past its range would fail at every evaluation */
#define LIMIT_1E300 "1000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"

/* What a compilation has gathered so far, and where a refusal jumps to. */
typedef struct RuleCompiler
{
	const rule_host *h;
	rule_error		*err;
	jmp_buf			 fail;
	rule_names		 events;   /* event names read */
	rule_names		 fields;   /* profile fields read */
	rule_names		 segments; /* other segments read */
	rule_names		 rechecks; /* SQL expressions, each a time the answer may change */
	jv_buf			 joins;	   /* FROM items the predicate and rechecks refer to */
	int				 n_joins;
	int				 nodes;
	bool			 live;			 /* restrict the event and member scans to the profiles $2 */
	bool			 as_of_fields;	 /* reads a field that stored events stamped after $1 change */
	bool			 clv_joined;	 /* the latest CLV model is joined as "clv" */
	bool			 cluster_joined; /* profile_clusters is joined as "pcl" */
} RuleCompiler;

/* A formatted string in the compilation's memory. */
#define P(...) jv_sprintf(&rc->h->alloc, __VA_ARGS__)
/* A string as a SQL literal. */
#define Q(s) rule_quote_literal(&rc->h->alloc, (s))

/* A string as a SQL literal, as PostgreSQL's quote_literal_cstr writes it: quotes (and
 * backslashes) doubled, and E'' syntax when there is a backslash. */
char *
rule_quote_literal(const jv_alloc *a, const char *s)
{
	jv_buf b;

	jv_buf_init(&b, a);
	if (strchr(s, '\\') != NULL)
		jv_buf_puts(&b, "E");
	jv_buf_puts(&b, "'");
	for (; *s; s++)
	{
		if (*s == '\'' || *s == '\\')
			jv_buf_put(&b, s, 1);
		jv_buf_put(&b, s, 1);
	}
	jv_buf_puts(&b, "'");
	return b.data;
}

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
field_names_expected(RuleCompiler *rc)
{
	jv_buf buf;

	jv_buf_init(&buf, &rc->h->alloc);
	jv_buf_puts(&buf, "one of ");
	for (const rule_field *f = rc->h->fields; f->name; f++)
		jv_buf_printf(&buf, "%s%s", f == rc->h->fields ? "" : ", ", f->name);
	return buf.data;
}

static char *compile_node(RuleCompiler *rc, const jv *node, const char *path, int depth);

/* Refuses the rule: the bad node's path and what was expected there. */
static void bad_rule(RuleCompiler *rc, const char *path, const char *expected) __attribute__((noreturn));

static void
bad_rule(RuleCompiler *rc, const char *path, const char *expected)
{
	rc->err->kind = RULE_ERR_INVALID;
	rc->err->path = path;
	rc->err->expected = expected;
	longjmp(rc->fail, 1);
}

/* True if the value is a JSON object. */
static bool
is_object(const jv *v)
{
	return v && v->type == JV_OBJECT;
}

/* True if the value is a JSON array. */
static bool
is_array(const jv *v)
{
	return v && v->type == JV_ARRAY;
}

/*
 * Refuses any key of an object node that is not in allowed (NULL-terminated), naming the JSON
 * path of the key: a misspelt "mni" or a node with both "all" and "any" is an error, not ignored.
 */
static void
check_keys(RuleCompiler *rc, const jv *obj, const char *path, const char *const *allowed)
{
	const char *expected;
	const char *key = jv_unknown_key(obj, allowed, &rc->h->alloc, &expected);

	if (key)
		bad_rule(rc, P("%s.%s", path, key), expected);
}

/* A string value as a palloc'd C string, or an error naming path. */
static char *
string_at(RuleCompiler *rc, const jv *v, const char *path, const char *what)
{
	char *s;

	if (v == NULL || v->type != JV_STRING || v->len == 0 || v->len > MAX_STRING_BYTES)
		bad_rule(rc, path, what);
	if (memchr(v->str, '\0', v->len) != NULL)
		bad_rule(rc, path, what);
	s = jv_calloc(&rc->h->alloc, v->len + 1);
	memcpy(s, v->str, v->len);
	return s;
}

/* A non-negative integer value, or an error naming path. */
static int64_t
count_at(RuleCompiler *rc, const jv *v, const char *path)
{
	int64_t r;

	if (v == NULL || v->type != JV_NUMBER)
		bad_rule(rc, path, "a non-negative whole number");
	if (!jv_num_is_integral(v) || jv_num_cmp_text(v, "0") < 0 || jv_num_cmp_text(v, "1000000000") > 0 ||
		!jv_num_int64(v, &r))
		bad_rule(rc, path, "a non-negative whole number up to 1000000000");
	return r;
}

/* A jsonb value as a SQL literal of type jsonb. */
static char *
jsonb_literal(RuleCompiler *rc, const jv *v)
{
	jv_buf b;

	jv_buf_init(&b, &rc->h->alloc);
	jv_print(&b, v);
	return P("%s::jsonb", Q(b.data));
}

/* A positive interval of at most 100 years as a SQL literal (the host parses it); errors name path. */
static const char *
interval_at(RuleCompiler *rc, const jv *v, const char *path)
{
	const char *expected = "an interval such as \"7 days\"";
	char	   *s = string_at(rc, v, path, expected);
	const char *literal = rc->h->interval_literal(rc->h->ctx, s, &expected);

	if (literal == NULL)
		bad_rule(rc, path, expected);
	return literal;
}

/*
 * A timestamp in the years 1 to 9999 as a SQL literal in UTC and its microseconds (the host
 * parses it); errors name path.
 */
static const char *
timestamp_at(RuleCompiler *rc, const jv *v, const char *path, int64_t *usecs)
{
	const char *expected = "a timestamp such as \"2026-01-31 00:00+00\"";
	char	   *s = string_at(rc, v, path, expected);
	int64_t		ignored;
	const char *literal = rc->h->timestamp_literal(rc->h->ctx, s, usecs ? usecs : &ignored, &expected);

	if (literal == NULL)
		bad_rule(rc, path, expected);
	return literal;
}

/* Appends a string to a list. */
static void
names_push(RuleCompiler *rc, rule_names *list, const char *s)
{
	if (list->n == list->cap)
	{
		const char **items = jv_calloc(&rc->h->alloc, sizeof(char *) * (list->cap ? list->cap * 2 : 8));

		if (list->n)
			memcpy(items, list->items, sizeof(char *) * list->n);
		list->items = items;
		list->cap = list->cap ? list->cap * 2 : 8;
	}
	list->items[list->n++] = s;
}

/* Remembers a name in a list once. */
static void
add_name(RuleCompiler *rc, rule_names *list, const char *name)
{
	for (int i = 0; i < list->n; i++)
		if (strcmp(list->items[i], name) == 0)
			return;
	names_push(rc, list, P("%s", name));
}

/* Remembers a time at which the answer may change. */
static void
add_recheck(RuleCompiler *rc, const char *sql)
{
	names_push(rc, &rc->rechecks, sql);
}

/* A JSON path given as "a.b" or ["a", "b"], as a SQL text[] literal. */
static char *
path_literal(RuleCompiler *rc, const jv *v, const char *path)
{
	jv_buf buf;

	jv_buf_init(&buf, &rc->h->alloc);
	jv_buf_puts(&buf, "ARRAY[");
	if (v && v->type == JV_STRING)
	{
		char *s = string_at(rc, v, path, "a trait name or path such as \"address.city\"");
		char *tok, *save = NULL;
		bool  first = true;

		for (tok = strtok_r(s, ".", &save); tok; tok = strtok_r(NULL, ".", &save))
		{
			jv_buf_printf(&buf, "%s%s", first ? "" : ", ", Q(tok));
			first = false;
		}
		if (first)
			bad_rule(rc, path, "a trait name or path such as \"address.city\"");
	}
	else if (is_array(v))
	{
		size_t n = 0;

		for (n = 0; n < v->n; n++)
			jv_buf_printf(&buf, "%s%s", n ? ", " : "", Q(string_at(rc, &v->items[n], path, "an array of key names")));
		if (n == 0 || n > MAX_RULE_DEPTH)
			bad_rule(rc, path, "an array of 1 to 32 key names");
	}
	else
		bad_rule(rc, path, "a trait name or path such as \"address.city\"");
	jv_buf_puts(&buf, "]::text[]");
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
json_comparison(RuleCompiler *rc, const char *x, const char *op, const jv *value, const char *path)
{
	char	   *vpath = P("%s.value", path);
	const char *sqlop = NULL;

	if (strcmp(op, "exists") == 0)
	{
		bool want = value == NULL || (value->type == JV_BOOL && value->boolean);

		if (value && value->type != JV_BOOL)
			bad_rule(rc, vpath, "true or false");
		return P("(%s(%s IS NOT NULL AND %s <> 'null'::jsonb))", want ? "" : "NOT ", x, x);
	}
	if (value == NULL)
		bad_rule(rc, vpath, "a value to compare with");
	if (strcmp(op, "eq") == 0 || strcmp(op, "ne") == 0)
	{
		if ((value->type == JV_ARRAY || value->type == JV_OBJECT))
			bad_rule(rc, vpath, "a string, number, boolean or null");
		return P("(%scoalesce(%s = %s, false))", op[0] == 'n' ? "NOT " : "", x, jsonb_literal(rc, value));
	}
	if ((sqlop = threshold_op(op)) != NULL)
	{
		if (value->type == JV_NUMBER)
			return P("coalesce(CASE WHEN jsonb_typeof(%s) = 'number' THEN (%s)::numeric %s %s END, false)",
					 x, x, sqlop, jv_num_normalize(value, &rc->h->alloc));
		if (value->type == JV_STRING)
			return P("coalesce(CASE WHEN jsonb_typeof(%s) = 'string' THEN (%s #>> '{}') COLLATE \"C\" %s %s END, false)",
					 x, x, sqlop, Q(string_at(rc, value, vpath, "a string or a number")));
		bad_rule(rc, vpath, "a string or a number");
	}
	if (strcmp(op, "in") == 0)
	{
		int n = 0;

		if (!is_array(value))
			bad_rule(rc, vpath, "an array of values");
		for (size_t j = 0; j < value->n; j++)
		{
			if (value->items[j].type == JV_ARRAY || value->items[j].type == JV_OBJECT)
				bad_rule(rc, vpath, "an array of strings, numbers, booleans or nulls");
			if (++n > MAX_LIST_ITEMS)
				bad_rule(rc, vpath, "at most 10000 values");
		}
		return P("coalesce(jsonb_typeof(%s) NOT IN ('object', 'array') AND %s @> jsonb_build_array(%s), false)",
				 x, jsonb_literal(rc, value), x);
	}
	if (strcmp(op, "contains") == 0)
	{
		if (value->type == JV_STRING)
			return P("coalesce(CASE jsonb_typeof(%s) WHEN 'string' THEN strpos(%s #>> '{}', %s) > 0 "
					 "WHEN 'array' THEN %s @> jsonb_build_array(%s) END, false)",
					 x, x, Q(string_at(rc, value, vpath, "a string")), x, jsonb_literal(rc, value));
		if ((value->type == JV_ARRAY || value->type == JV_OBJECT))
			bad_rule(rc, vpath, "a string, number or boolean");
		return P("coalesce(jsonb_typeof(%s) = 'array' AND %s @> jsonb_build_array(%s), false)",
				 x, x, jsonb_literal(rc, value));
	}
	if (strcmp(op, "starts_with") == 0)
		return P("coalesce(CASE WHEN jsonb_typeof(%s) = 'string' THEN starts_with(%s #>> '{}', %s) END, false)",
				 x, x, Q(string_at(rc, value, vpath, "a string")));
	bad_rule(rc, P("%s.op", path), "one of eq, ne, lt, lte, gt, gte, in, contains, exists, starts_with");
	return NULL; /* keep the compiler quiet */
}

/* The operator name of a comparison node (default eq). */
static char *
op_of(RuleCompiler *rc, const jv *node, const char *path)
{
	const jv *op = jv_get(node, "op");

	return op ? string_at(rc, op, P("%s.op", path), "an operator name") : P("eq");
}

/* {"trait": path, "op": ..., "value": ...} */
static char *
compile_trait(RuleCompiler *rc, const jv *node, const char *path)
{
	static const char *const keys[] = {"trait", "op", "value", NULL};
	char					*x;

	check_keys(rc, node, path, keys);
	x = P("(p.traits #> %s)", path_literal(rc, jv_get(node, "trait"), P("%s.trait", path)));
	add_name(rc, &rc->fields, "traits");
	return json_comparison(rc, x, op_of(rc, node, path), jv_get(node, "value"), path);
}

/* One value of a field's type as a SQL literal, or an error naming path. */
static char *
field_literal(RuleCompiler *rc, const rule_field *f, const jv *value, const char *path)
{
	switch (f->kind)
	{
		case 'n':
			if (value == NULL || value->type != JV_NUMBER)
				bad_rule(rc, path, "a number");
			return P("%s::numeric", jv_num_normalize(value, &rc->h->alloc));
		case 'b':
			if (value == NULL || value->type != JV_BOOL)
				bad_rule(rc, path, "true or false");
			return value->boolean ? "true" : "false";
		case 's':
			return P("%s COLLATE \"C\"", Q(string_at(rc, value, path, "a string")));
		default:
			return (char *) timestamp_at(rc, value, path, NULL);
	}
}

/*
 * The time at which "field + iv OP $1" flips as $1 passes t0 = field + iv: lt and gte change
 * just after t0, gt and lte at t0, eq and ne at both; NULL once past.
 */
static char *
ago_recheck(RuleCompiler *rc, const char *t0, const char *op)
{
	const char *after = P("(%s + '1 microsecond'::interval)", t0);

	if (strcmp(op, "lt") == 0 || strcmp(op, "gte") == 0)
		return P("CASE WHEN %s > $1 THEN %s END", after, after);
	if (strcmp(op, "gt") == 0 || strcmp(op, "lte") == 0)
		return P("CASE WHEN %s > $1 THEN %s END", t0, t0);
	return P("CASE WHEN %s > $1 THEN %s WHEN %s > $1 THEN %s END", t0, t0, after, after);
}

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
 * The value of a field that is not a column: the cluster of the latest kmeans() run, or P(alive)
 * (churn risk: 1 minus it) computed from the latest CLV model and the purchase state as of $1.
 */
static const char *
model_field_value(RuleCompiler *rc, const rule_field *f)
{
	if (f->model == 'k')
	{
		if (!rc->cluster_joined)
			jv_buf_puts(&rc->joins, " LEFT JOIN personalize.profile_clusters pcl ON pcl.profile_id = p.profile_id");
		rc->cluster_joined = true;
		return "pcl.cluster";
	}
	rc->as_of_fields = true;
	add_name(rc, &rc->fields, "purchases"); /* a purchase changes it too */
	if (!rc->clv_joined)
		jv_buf_puts(&rc->joins, CLV_MODEL_JOIN);
	rc->clv_joined = true;
	return f->model == 'p' ? "personalize._p_alive_at(" CLV_ARGS ")" : "(1 - personalize._p_alive_at(" CLV_ARGS "))";
}

/*
 * A comparison of P(alive) or churn risk with a value changes as time passes without a purchase
 * (P(alive) falls): the recheck is the time it crosses the value.
 */
static void
model_field_recheck(RuleCompiler *rc, const rule_field *f, const char *literal)
{
	if (f->model == 'p' || f->model == 'c')
		add_recheck(rc, P("personalize._p_alive_crossing(" CLV_ARGS ", %s(%s)::float8)", f->model == 'c' ? "1 - " : "",
						  literal));
}

/*
 * {"field": name, "op": ..., "value": ...}: a profile column; timestamps accept {"ago": iv},
 * which reads as "field + iv OP evaluation time". Fields folded from events are taken as they
 * stood at the evaluation time (AS_OF_SOURCE), like event conditions.
 */
static char *
compile_field(RuleCompiler *rc, const jv *node, const char *path)
{
	static const char *const keys[] = {"field", "op", "value", NULL};
	char					*name, *op, *x, *vpath = P("%s.value", path);
	const jv				*value = jv_get(node, "value");
	const rule_field		*f;
	const char				*sqlop = NULL;

	check_keys(rc, node, path, keys);
	name = string_at(rc, jv_get(node, "field"), P("%s.field", path), "a profile field name");
	op = op_of(rc, node, path);
	for (f = rc->h->fields; f->name && strcmp(f->name, name) != 0; f++)
		;
	if (f->name == NULL)
		bad_rule(rc, P("%s.field", path), field_names_expected(rc));
	add_name(rc, &rc->fields, f->group);
	if (f->model)
		x = (char *) model_field_value(rc, f);
	else if (f->as_of)
	{
		x = P("(CASE WHEN p.last_seen_at > $1 THEN asof.%s ELSE p.%s END)", name, name);
		rc->as_of_fields = true;
	}
	else
		x = P("p.%s", name);
	if (strcmp(op, "exists") == 0)
	{
		if (value && value->type != JV_BOOL)
			bad_rule(rc, vpath, "true or false");
		return P("(%s IS %sNULL)", x, value && !value->boolean ? "" : "NOT ");
	}
	if (strcmp(op, "eq") == 0)
		sqlop = "=";
	else if (strcmp(op, "ne") == 0)
		sqlop = "<>";
	else if ((sqlop = threshold_op(op)) == NULL && strcmp(op, "in") != 0)
		bad_rule(rc, P("%s.op", path), "one of eq, ne, lt, lte, gt, gte, in, exists for a profile field");

	if (sqlop == NULL) /* in: compared by the field's type, never as text */
	{
		jv_buf buf;
		int	   n = 0;

		if (!is_array(value))
			bad_rule(rc, vpath, "an array of values");
		jv_buf_init(&buf, &rc->h->alloc);
		for (size_t j = 0; j < value->n; j++)
		{
			char *literal;

			if (++n > MAX_LIST_ITEMS)
				bad_rule(rc, vpath, "at most 10000 values");
			literal = field_literal(rc, f, &value->items[j], P("%s[%d]", vpath, n - 1));
			model_field_recheck(rc, f, literal);
			jv_buf_printf(&buf, "%s%s", n > 1 ? ", " : "", literal);
		}
		if (n == 0)
			return "false";
		return P("coalesce(%s%s IN (%s), false)", x, f->kind == 's' ? " COLLATE \"C\"" : "", buf.data);
	}
	if (value == NULL)
		bad_rule(rc, vpath, "a value to compare with");
	if (f->kind == 't' && is_object(value) && jv_get(value, "ago"))
	{
		static const char *const ago_keys[] = {"ago", NULL};
		const char				*iv;
		char					*t0;

		check_keys(rc, value, vpath, ago_keys);
		iv = interval_at(rc, jv_get(value, "ago"), P("%s.ago", vpath));
		t0 = P("(%s + %s)", x, iv);
		add_recheck(rc, ago_recheck(rc, t0, op));
		return P("coalesce(%s %s $1, false)", t0, sqlop);
	}
	{
		char *literal = field_literal(rc, f, value, vpath);

		model_field_recheck(rc, f, literal);
		return P("coalesce(%s %s %s, false)", x, sqlop, literal);
	}
}

/* The property filters of an event condition, as SQL on "e" (empty string for none). */
static char *
event_filters(RuleCompiler *rc, const jv *where, const char *path)
{
	static const char *const keys[] = {"property", "op", "value", NULL};
	jv_buf					 buf;
	int						 i = 0;

	jv_buf_init(&buf, &rc->h->alloc);
	if (where == NULL)
		return buf.data;
	if (!is_array(where))
		bad_rule(rc, path, "an array of property conditions");
	for (size_t j = 0; j < where->n; j++)
	{
		const jv *f = &where->items[j];
		char	 *fpath;

		fpath = P("%s[%d]", path, i++);
		if (!is_object(f))
			bad_rule(rc, fpath, "a property condition such as {\"property\": \"category\", \"op\": \"eq\", \"value\": \"shoes\"}");
		check_keys(rc, f, fpath, keys);
		jv_buf_printf(&buf, " AND %s",
					  json_comparison(rc, P("(e.properties #> %s)", path_literal(rc, jv_get(f, "property"), P("%s.property", fpath))),
									  op_of(rc, f, fpath), jv_get(f, "value"), fpath));
		if (i > MAX_RULE_NODES)
			bad_rule(rc, path, "at most 1000 property conditions");
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
compile_event(RuleCompiler *rc, const jv *node, const char *path)
{
	static const char *const keys[] = {"event", "min", "max", "exactly", "within", "between", "where", NULL};
	char					*name, *filters, *window = "", *count, *alias;
	const char				*iv = NULL;
	const jv				*within = jv_get(node, "within"), *between = jv_get(node, "between");
	const jv				*vmin = jv_get(node, "min"), *vmax = jv_get(node, "max"), *vexact = jv_get(node, "exactly");
	int64_t					 lo = 1, hi = -1;

	check_keys(rc, node, path, keys);
	name = string_at(rc, jv_get(node, "event"), P("%s.event", path), "an event name");
	filters = event_filters(rc, jv_get(node, "where"), P("%s.where", path));
	if (strlen(name) > 200)
		bad_rule(rc, P("%s.event", path), "an event name of at most 200 bytes");
	add_name(rc, &rc->events, name);
	if (within && between)
		bad_rule(rc, path, "either \"within\" or \"between\", not both");
	if (vexact && (vmin || vmax))
		bad_rule(rc, path, "either \"exactly\" or \"min\"/\"max\"");
	if (vexact)
		lo = hi = count_at(rc, vexact, P("%s.exactly", path));
	else
	{
		if (vmin)
			lo = count_at(rc, vmin, P("%s.min", path));
		else if (vmax)
			lo = 0;
		if (vmax)
			hi = count_at(rc, vmax, P("%s.max", path));
		if (hi >= 0 && hi < lo)
			bad_rule(rc, path, "\"min\" not greater than \"max\"");
	}
	if (within)
		window = P(" AND e.occurred_at + %s > $1", (iv = interval_at(rc, within, P("%s.within", path))));
	else if (between)
	{
		int64_t		bounds[2];
		const char *literals[2];
		int			n = 0;

		if (!is_array(between))
			bad_rule(rc, P("%s.between", path), "an array of two timestamps [from, to)");
		for (size_t j = 0; j < between->n; j++)
		{
			if (n == 2)
				bad_rule(rc, P("%s.between", path), "an array of two timestamps [from, to)");
			literals[n] = timestamp_at(rc, &between->items[j], P("%s.between[%d]", path, n), &bounds[n]);
			n++;
		}
		if (n != 2)
			bad_rule(rc, P("%s.between", path), "an array of two timestamps [from, to)");
		if (bounds[0] >= bounds[1])
			bad_rule(rc, P("%s.between", path), "[from, to) with from before to");
		window = P(" AND e.occurred_at >= %s AND e.occurred_at < %s", literals[0], literals[1]);
	}

	/*
	 * One grouped scan of the matching events gives, per profile, the count up to $1, the
	 * oldest event in a "within" window (it leaves the window at occurred_at + within) and the
	 * first event stamped after $1 (it starts to count when $1 reaches it).
	 */
	alias = P("ev%d", ++rc->n_joins);
	jv_buf_printf(&rc->joins,
				  " LEFT JOIN (SELECT e.profile_id, count(*) FILTER (WHERE e.occurred_at <= $1) AS n,"
				  " min(e.occurred_at) FILTER (WHERE e.occurred_at <= $1) AS first_in,"
				  " min(e.occurred_at) FILTER (WHERE e.occurred_at > $1) AS next"
				  " FROM personalize.events e WHERE e.event = %s%s%s%s"
				  " GROUP BY e.profile_id) %s ON %s.profile_id = p.profile_id",
				  Q(name), filters, window,
				  rc->live ? " AND e.profile_id = ANY ($2)" : "", alias, alias);
	if (within)
		add_recheck(rc, P("%s.first_in + %s", alias, iv));
	add_recheck(rc, P("%s.next", alias));
	count = P("coalesce(%s.n, 0)", alias);
	if (hi < 0)
		return P("(%s >= %lld)", count, (long long) lo);
	if (lo == hi)
		return P("(%s = %lld)", count, (long long) lo);
	return P("(%s BETWEEN %lld AND %lld)", count, (long long) lo, (long long) hi);
}

/*
 * {"segment": NAME}: one scan of that segment's members joined to the profiles (set-at-a-time,
 * unlike a correlated EXISTS per profile); the name is looked up once per statement.
 */
static char *
compile_segment_ref(RuleCompiler *rc, const char *name)
{
	char *alias = P("sg%d", ++rc->n_joins);

	jv_buf_printf(&rc->joins,
				  " LEFT JOIN (SELECT e.profile_id FROM personalize.segment_members e"
				  " WHERE e.segment_id = (SELECT s.segment_id FROM personalize.segments s WHERE s.name = %s)%s"
				  ") %s ON %s.profile_id = p.profile_id",
				  Q(name), rc->live ? " AND e.profile_id = ANY ($2)" : "", alias, alias);
	return P("(%s.profile_id IS NOT NULL)", alias);
}

/* {"all": [...]} or {"any": [...]} */
static char *
compile_list(RuleCompiler *rc, const jv *list, const char *path, const char *joiner, int depth)
{
	jv_buf buf;
	size_t i;

	if (!is_array(list))
		bad_rule(rc, path, "an array of rules");
	jv_buf_init(&buf, &rc->h->alloc);
	jv_buf_puts(&buf, "(");
	for (i = 0; i < list->n; i++)
		jv_buf_printf(&buf, "%s%s", i ? joiner : "", compile_node(rc, &list->items[i], P("%s[%d]", path, (int) i), depth + 1));
	if (i == 0)
		bad_rule(rc, path, "a non-empty array of rules");
	jv_buf_puts(&buf, ")");
	return buf.data;
}

/* {"bucket": {"salt": s, "from": a, "to": b}}: a stable random bucket 0..9999 in [a, b]. */
static char *
compile_bucket(RuleCompiler *rc, const jv *spec, const char *path)
{
	char   *salt;
	int64_t from, to;

	static const char *const keys[] = {"salt", "from", "to", NULL};

	if (!is_object(spec))
		bad_rule(rc, path, "an object {\"salt\": ..., \"from\": 0, \"to\": 9999}");
	check_keys(rc, spec, path, keys);
	salt = jv_get(spec, "salt") ? string_at(rc, jv_get(spec, "salt"), P("%s.salt", path), "a string") : "";
	from = jv_get(spec, "from") ? count_at(rc, jv_get(spec, "from"), P("%s.from", path)) : 0;
	to = jv_get(spec, "to") ? count_at(rc, jv_get(spec, "to"), P("%s.to", path)) : 9999;
	if (to > 9999 || from > to)
		bad_rule(rc, path, "0 <= from <= to <= 9999");
	return P("(personalize.bucket(p.profile_id, %s) BETWEEN %lld AND %lld)",
			 Q(salt), (long long) from, (long long) to);
}

/* {"date_trait": path, "within_next": days}: the date's next anniversary is within days. */
static char *
compile_date_trait(RuleCompiler *rc, const jv *node, const char *path)
{
	static const char *const keys[] = {"date_trait", "within_next", NULL};
	char					*x;
	int64_t					 days;

	check_keys(rc, node, path, keys);
	x = P("personalize.days_to_anniversary(p.traits #>> %s, $1)",
		  path_literal(rc, jv_get(node, "date_trait"), P("%s.date_trait", path)));
	days = count_at(rc, jv_get(node, "within_next"), P("%s.within_next", path));

	if (days > 366)
		bad_rule(rc, P("%s.within_next", path), "a number of days up to 366");
	add_name(rc, &rc->fields, "traits");
	/* the answer can only change at the next UTC midnight */
	add_recheck(rc,
				P("CASE WHEN %s IS NOT NULL THEN (date_trunc('day', $1 AT TIME ZONE 'UTC') "
				  "+ interval '1 day') AT TIME ZONE 'UTC' END",
				  x));
	return P("coalesce(%s <= %lld, false)", x, (long long) days);
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
compile_engagement(RuleCompiler *rc, const jv *spec, const char *path)
{
	static const char *const keys[] = {"op", "value", NULL};
	char					*op;
	const char				*v;
	const char				*sqlop;
	const jv				*value;

	if (!is_object(spec))
		bad_rule(rc, path, "an object {\"op\": \"gt\", \"value\": 10}");
	check_keys(rc, spec, path, keys);
	op = op_of(rc, spec, path);
	if ((sqlop = threshold_op(op)) == NULL)
		bad_rule(rc, P("%s.op", path), "one of lt, lte, gt, gte");
	value = jv_get(spec, "value");
	if (value == NULL || value->type != JV_NUMBER)
		bad_rule(rc, P("%s.value", path), "a number");
	/* the score is a float8: a threshold past its range would fail at every evaluation */
	if (jv_num_cmp_text(value, LIMIT_1E300) > 0 || jv_num_cmp_text(value, "-" LIMIT_1E300) < 0)
		bad_rule(rc, P("%s.value", path), "a number between -1e300 and 1e300");
	v = jv_num_normalize(value, &rc->h->alloc);
	add_name(rc, &rc->fields, "engagement");
	add_recheck(rc,
				P("CASE WHEN p.engagement_as_of > $1 THEN personalize._engagement_recheck(p.profile_id, $1, %s) "
				  "WHEN p.engagement > %s AND %s > 0 AND p.engagement_as_of + personalize.half_life() "
				  "* (ln(p.engagement / %s) / ln(2)) > $1 THEN p.engagement_as_of + personalize.half_life() "
				  "* (ln(p.engagement / %s) / ln(2)) + '1 microsecond'::interval END",
				  v, v, v, v, v));
	return P("coalesce(CASE WHEN p.engagement_as_of IS NULL THEN 0::float8 "
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
compile_interest(RuleCompiler *rc, const jv *node, const char *path)
{
	static const char *const keys[] = {"interest", "top", NULL};
	char					*category;
	int64_t					 top;

	check_keys(rc, node, path, keys);
	category = string_at(rc, jv_get(node, "interest"), P("%s.interest", path), "a category name");
	top = jv_get(node, "top") ? count_at(rc, jv_get(node, "top"), P("%s.top", path)) : 3;

	if (top < 1 || top > 100)
		bad_rule(rc, P("%s.top", path), "a number from 1 to 100");
	add_name(rc, &rc->fields, "interests");
	return P("(%s IN (SELECT i.category FROM personalize.profile_interests i WHERE i.profile_id = p.profile_id "
			 "AND i.score > 0 ORDER BY ln(i.score) + extract(epoch FROM i.as_of) * ln(2) / "
			 "extract(epoch FROM personalize.half_life()) DESC, i.category LIMIT %lld))",
			 Q(category), (long long) top);
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
compile_node(RuleCompiler *rc, const jv *node, const char *path, int depth)
{
	const NodeKind *k;
	const jv	   *v;

	rc->h->check_interrupts(rc->h->ctx);
	if (depth > MAX_RULE_DEPTH)
		bad_rule(rc, path, "rules nested at most 32 deep");
	if (++rc->nodes > MAX_RULE_NODES)
		bad_rule(rc, path, "at most 1000 rule nodes");
	if (!is_object(node))
		bad_rule(rc, path, "a rule object such as {\"all\": [...]}, {\"trait\": ...}, {\"event\": ...}");
	for (k = node_kinds; k->key && jv_get(node, k->key) == NULL; k++)
		;
	if (k->key == NULL)
		bad_rule(rc, path, "a rule with one of the keys all, any, not, trait, field, event, consent, segment, "
						   "bucket, date_trait, engagement, interest");
	if (k->keys)
		check_keys(rc, node, path, k->keys);
	v = jv_get(node, k->key);
	if (strcmp(k->key, "all") == 0)
		return compile_list(rc, v, P("%s.all", path), " AND ", depth);
	if (strcmp(k->key, "any") == 0)
		return compile_list(rc, v, P("%s.any", path), " OR ", depth);
	if (strcmp(k->key, "not") == 0)
		return P("(NOT %s)", compile_node(rc, v, P("%s.not", path), depth + 1));
	if (strcmp(k->key, "trait") == 0)
		return compile_trait(rc, node, path);
	if (strcmp(k->key, "field") == 0)
		return compile_field(rc, node, path);
	if (strcmp(k->key, "event") == 0)
		return compile_event(rc, node, path);
	if (strcmp(k->key, "consent") == 0)
	{
		char *c = string_at(rc, v, P("%s.consent", path), "subscribed, unsubscribed or unknown");

		if (strcmp(c, "subscribed") != 0 && strcmp(c, "unsubscribed") != 0 && strcmp(c, "unknown") != 0)
			bad_rule(rc, P("%s.consent", path), "subscribed, unsubscribed or unknown");
		add_name(rc, &rc->fields, "consent");
		return P("(p.email_consent = %s)", Q(c));
	}
	if (strcmp(k->key, "segment") == 0)
	{
		char *s = string_at(rc, v, P("%s.segment", path), "a segment name");

		add_name(rc, &rc->segments, s);
		return compile_segment_ref(rc, s);
	}
	if (strcmp(k->key, "bucket") == 0)
		return compile_bucket(rc, v, P("%s.bucket", path));
	if (strcmp(k->key, "date_trait") == 0)
		return compile_date_trait(rc, node, path);
	if (strcmp(k->key, "engagement") == 0)
		return compile_engagement(rc, v, P("%s.engagement", path));
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
build_statement(RuleCompiler *rc, const char *predicate, const char *recheck, const char *joins, bool as_of_fields, bool live)
{
	const char *ids = live ? " AND %s.profile_id = ANY ($2)" : "";
	jv_buf		buf;

	jv_buf_init(&buf, &rc->h->alloc);
	jv_buf_printf(&buf,
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
				  joins, live ? " WHERE p.profile_id = ANY ($2)" : "", P(ids, "m"));
	if (recheck)
		jv_buf_printf(&buf,
					  " UNION ALL SELECT sp.profile_id, 'P', sp.recheck_at"
					  " FROM personalize.segment_pending sp WHERE sp.segment_id = $3%s",
					  P(ids, "sp"));
	jv_buf_puts(&buf,
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
		jv_buf_puts(&buf,
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
		jv_buf_puts(&buf,
					", unpend AS (DELETE FROM personalize.segment_pending sp WHERE sp.segment_id = $3)");
	jv_buf_puts(&buf,
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
static const char *
compile_form(RuleCompiler *rc, const jv *rule, bool live, rule_compiled *out)
{
	char  *pred;
	jv_buf recheck;

	rc->events = rc->fields = rc->segments = rc->rechecks = (rule_names){0};
	rc->n_joins = rc->nodes = 0;
	rc->as_of_fields = rc->clv_joined = rc->cluster_joined = false;
	if (rule->type != JV_OBJECT && rule->type != JV_ARRAY)
		bad_rule(rc, "$", "a rule object such as {\"all\": [...]}");
	jv_buf_init(&rc->joins, &rc->h->alloc);
	rc->live = live;
	pred = compile_node(rc, rule, "$", 0);
	if (rc->as_of_fields)
		add_recheck(rc, "(CASE WHEN p.last_seen_at > $1 THEN asof.next_at END)");

	jv_buf_init(&recheck, &rc->h->alloc);
	for (int i = 0; i < rc->rechecks.n; i++)
		jv_buf_printf(&recheck, "%s%s", i ? ", " : "LEAST(", rc->rechecks.items[i]);
	if (rc->rechecks.n)
		jv_buf_puts(&recheck, ")");
	out->time_dependent = rc->rechecks.n > 0;
	out->events = rc->events;
	out->fields = rc->fields;
	out->segments = rc->segments;
	return build_statement(rc, pred, rc->rechecks.n ? recheck.data : NULL, rc->joins.data, rc->as_of_fields, live);
}

/* Compiles a rule; false with the path of the bad node and what was expected there. */
bool
rule_core_compile(const jv *rule, const rule_host *h, rule_compiled *out, rule_error *err)
{
	RuleCompiler rc = {.h = h, .err = err};

	memset(out, 0, sizeof(*out));
	err->kind = RULE_OK;
	if (setjmp(rc.fail) != 0)
		return false;
	out->live = compile_form(&rc, rule, true, out);
	out->full = compile_form(&rc, rule, false, out);
	return true;
}

/* The statements of a SQL segment: its condition over segment_profiles p, as stored. */
void
rule_core_compile_sql(const char *where_clause, const rule_host *h, rule_compiled *out)
{
	RuleCompiler rc = {.h = h};
	char		*pred = jv_sprintf(&h->alloc, "(%s)", where_clause);

	memset(out, 0, sizeof(*out));
	out->live = build_statement(&rc, pred, NULL, "", false, true);
	out->full = build_statement(&rc, pred, NULL, "", false, false);
}

/* The statement selecting the profiles of $2 that a rule node holds for at $1: journeys' entry,
 * branch and exit rules (errors name root). Built when it runs, never stored. */
bool
rule_core_match_statement(const jv *rule, const char *root, const rule_host *h, const char **out, rule_error *err)
{
	RuleCompiler rc = {.h = h, .err = err};
	char		*pred;

	err->kind = RULE_OK;
	if (setjmp(rc.fail) != 0)
		return false;
	jv_buf_init(&rc.joins, &h->alloc);
	rc.live = true;
	pred = compile_node(&rc, rule, root, 0);
	*out = jv_sprintf(&h->alloc,
					  "SELECT p.profile_id FROM personalize.segment_profiles p%s%s"
					  " WHERE p.profile_id = ANY ($2) AND (%s)",
					  rc.as_of_fields ? AS_OF_SOURCE : "", rc.joins.data, pred);
	return true;
}

/* An event condition's "where" filters as SQL over an event row "e" ("" for none). */
bool
rule_core_event_filters(const jv *where, const char *path, const rule_host *h, const char **out, rule_error *err)
{
	RuleCompiler rc = {.h = h, .err = err};

	err->kind = RULE_OK;
	if (setjmp(rc.fail) != 0)
		return false;
	*out = event_filters(&rc, where, path);
	return true;
}
