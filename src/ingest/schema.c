/*
 * schema.c: validation of event properties against the JSON Schema subset of
 * personalize.event_schemas: type, required, properties, additionalProperties, items, enum,
 * minimum, maximum, minLength, maxLength and format (email, date-time).
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "core/hash.h"
#include "schema.h"

PG_FUNCTION_INFO_V1(personalize_check_event_schema);

#define MAX_SCHEMA_DEPTH 32

static const char *const keywords[] = {
	"type", "required", "properties", "additionalProperties", "items", "enum",
	"minimum", "maximum", "minLength", "maxLength", "format", "description", "title", NULL};

static const char *const type_names[] = {
	"string", "number", "integer", "boolean", "object", "array", "null", NULL};

/* Raises the error for a malformed schema at the given path. */
static void
bad_schema(const char *path, const char *fmt, const char *arg)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid event schema at %s", path),
			 errdetail(fmt, arg)));
}

/* Looks up a key in a jsonb object container; NULL when absent. */
static JsonbValue *
get_key(JsonbContainer *obj, const char *key)
{
	if (!JsonContainerIsObject(obj))
		return NULL;
	return getKeyJsonValueFromContainer(obj, key, strlen(key), NULL);
}

/* True if s (length len) is one of the NULL-terminated list of names. */
static bool
in_list(const char *const *list, const char *s, int len)
{
	for (int i = 0; list[i]; i++)
		if ((int) strlen(list[i]) == len && memcmp(list[i], s, len) == 0)
			return true;
	return false;
}

/* True if the numeric has no fractional part. */
static bool
numeric_is_integral(Numeric n)
{
	Datum f = DirectFunctionCall1(numeric_floor, NumericGetDatum(n));

	return DatumGetBool(DirectFunctionCall2(numeric_eq, f, NumericGetDatum(n)));
}

/* Checks one schema node and its children, recursively. */
static void
check_node(JsonbContainer *node, const char *path, int depth)
{
	JsonbIterator	  *it;
	JsonbValue		   k, v;
	JsonbIteratorToken tok;

	check_stack_depth();
	if (depth > MAX_SCHEMA_DEPTH)
		bad_schema(path, "Schemas nest at most %s levels deep.", "32");
	if (!JsonContainerIsObject(node))
		bad_schema(path, "A schema must be a JSON object%s.", "");

	it = JsonbIteratorInit(node);
	tok = JsonbIteratorNext(&it, &k, true);
	while ((tok = JsonbIteratorNext(&it, &k, true)) == WJB_KEY)
	{
		char *key = pnstrdup(k.val.string.val, k.val.string.len);
		char *sub = psprintf("%s.%s", path, key);

		tok = JsonbIteratorNext(&it, &v, true);
		if (!in_list(keywords, k.val.string.val, k.val.string.len))
			bad_schema(sub, "Unsupported keyword \"%s\"; supported are type, required, properties, "
							"additionalProperties, items, enum, minimum, maximum, minLength, maxLength, "
							"format, description and title.",
					   key);
		if (strcmp(key, "type") == 0)
		{
			if (v.type == jbvString)
			{
				if (!in_list(type_names, v.val.string.val, v.val.string.len))
					bad_schema(sub, "Unknown type \"%s\".", pnstrdup(v.val.string.val, v.val.string.len));
			}
			else if (v.type == jbvBinary && JsonContainerIsArray(v.val.binary.data))
			{
				JsonbIterator *ti = JsonbIteratorInit(v.val.binary.data);
				JsonbValue	   t;

				JsonbIteratorToken tt;

				while ((tt = JsonbIteratorNext(&ti, &t, true)) != WJB_DONE)
					if (tt == WJB_ELEM && (t.type != jbvString ||
										   !in_list(type_names, t.val.string.val, t.val.string.len)))
						bad_schema(sub, "Each type must be one of string, number, integer, boolean, object, array, null%s.", "");
			}
			else
				bad_schema(sub, "Expected a type name or an array of type names%s.", "");
		}
		else if (strcmp(key, "required") == 0)
		{
			JsonbIterator *ri;
			JsonbValue	   r;

			if (v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
				bad_schema(sub, "Expected an array of property names%s.", "");
			ri = JsonbIteratorInit(v.val.binary.data);
			while ((tok = JsonbIteratorNext(&ri, &r, true)) != WJB_DONE)
				if (tok == WJB_ELEM && r.type != jbvString)
					bad_schema(sub, "Expected an array of property names%s.", "");
		}
		else if (strcmp(key, "properties") == 0)
		{
			JsonbIterator *pi;
			JsonbValue	   pk, pv;

			if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
				bad_schema(sub, "Expected an object of property schemas%s.", "");
			pi = JsonbIteratorInit(v.val.binary.data);
			JsonbIteratorNext(&pi, &pk, true);
			while (JsonbIteratorNext(&pi, &pk, true) == WJB_KEY)
			{
				char *ppath = psprintf("%s.%s", sub, pnstrdup(pk.val.string.val, pk.val.string.len));

				JsonbIteratorNext(&pi, &pv, true);
				if (pv.type != jbvBinary)
					bad_schema(ppath, "A schema must be a JSON object%s.", "");
				check_node(pv.val.binary.data, ppath, depth + 1);
			}
		}
		else if (strcmp(key, "items") == 0)
		{
			if (v.type != jbvBinary)
				bad_schema(sub, "A schema must be a JSON object%s.", "");
			check_node(v.val.binary.data, sub, depth + 1);
		}
		else if (strcmp(key, "additionalProperties") == 0)
		{
			if (v.type != jbvBool)
				bad_schema(sub, "Expected true or false%s.", "");
		}
		else if (strcmp(key, "enum") == 0)
		{
			if (v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
				bad_schema(sub, "Expected an array of allowed values%s.", "");
		}
		else if (strcmp(key, "minimum") == 0 || strcmp(key, "maximum") == 0)
		{
			if (v.type != jbvNumeric)
				bad_schema(sub, "Expected a number%s.", "");
		}
		else if (strcmp(key, "minLength") == 0 || strcmp(key, "maxLength") == 0)
		{
			/* an integer from 0 to 2^31 - 1, so that validation compares lengths without an error */
			if (v.type != jbvNumeric || !numeric_is_integral(v.val.numeric) ||
				DatumGetBool(DirectFunctionCall2(numeric_lt, NumericGetDatum(v.val.numeric),
												 DirectFunctionCall1(int4_numeric, Int32GetDatum(0)))) ||
				DatumGetBool(DirectFunctionCall2(numeric_gt, NumericGetDatum(v.val.numeric),
												 DirectFunctionCall1(int4_numeric, Int32GetDatum(PG_INT32_MAX)))))
				bad_schema(sub, "Expected an integer from 0 to 2147483647%s.", "");
		}
		else if (strcmp(key, "format") == 0)
		{
			if (v.type != jbvString ||
				!((v.val.string.len == 5 && memcmp(v.val.string.val, "email", 5) == 0) ||
				  (v.val.string.len == 9 && memcmp(v.val.string.val, "date-time", 9) == 0)))
				bad_schema(sub, "Supported formats are \"email\" and \"date-time\"%s.", "");
		}
		else if (v.type != jbvString) /* description, title */
			bad_schema(sub, "Expected a string%s.", "");
	}
}

/* Checks a whole schema definition; raises a clear error naming the path of the bad node. */
void
schema_check_definition(Jsonb *schema)
{
	check_node(&schema->root, "$", 0);
}

/* The JSON Schema type name of a jsonb value. */
static const char *
value_type(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "string";
		case jbvNumeric:
			return "number";
		case jbvBool:
			return "boolean";
		case jbvBinary:
			return JsonContainerIsArray(v->val.binary.data) ? "array" : "object";
		default:
			return "unknown";
	}
}

/* True if a value of type actual satisfies the schema type name t (length tlen). */
static bool
type_matches(JsonbValue *v, const char *t, int tlen)
{
	const char *actual = value_type(v);

	if (tlen == 7 && memcmp(t, "integer", 7) == 0)
		return v->type == jbvNumeric && numeric_is_integral(v->val.numeric);
	return (int) strlen(actual) == tlen && memcmp(actual, t, tlen) == 0;
}

/* Reads 'n' decimal digits from s into *out; false if any is not a digit. */
static bool
digits(const char *s, int n, int *out)
{
	*out = 0;
	for (int i = 0; i < n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		*out = *out * 10 + (s[i] - '0');
	}
	return true;
}

/* True for an RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM). */
static bool
is_date_time(const char *s, int len)
{
	int				 y, mo, d, h, mi, se, i = 19;
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (len < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
		!digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
		!digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
		!digits(s + 17, 2, &se))
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
		(mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) ||
		h > 23 || mi > 59 || se > 60)
		return false;
	if (i < len && s[i] == '.')
	{
		int start = ++i;

		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start)
			return false;
	}
	if (i < len && (s[i] == 'Z' || s[i] == 'z'))
		return i + 1 == len;
	if (i + 6 == len && (s[i] == '+' || s[i] == '-') && digits(s + i + 1, 2, &h) &&
		s[i + 3] == ':' && digits(s + i + 4, 2, &mi))
		return h <= 23 && mi <= 59;
	return false;
}

/* Compares a jsonb numeric with a schema bound: <0, 0, >0 like strcmp. */
static int
numeric_cmp_values(Numeric a, Numeric b)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(a), NumericGetDatum(b)));
}

/* Fills the violation and returns false, for use in a return statement. */
static bool
violation(SchemaViolation *v, const char *path, const char *expected)
{
	resetStringInfo(&v->path);
	appendStringInfoString(&v->path, path);
	resetStringInfo(&v->expected);
	appendStringInfoString(&v->expected, expected);
	return false;
}

/* True if two jsonb values are equal (jsonb equality semantics). */
static bool
values_equal(JsonbValue *a, JsonbValue *b)
{
	Jsonb *ja = JsonbValueToJsonb(a), *jb = JsonbValueToJsonb(b);

	return compareJsonbContainers(&ja->root, &jb->root) == 0;
}

/* Formats a JSON path step: .name for identifier-like keys, ["name"] otherwise. */
static char *
path_step(const char *path, const char *key, int len)
{
	bool plain = len > 0;

	for (int i = 0; i < len && plain; i++)
		plain = (key[i] >= 'a' && key[i] <= 'z') || (key[i] >= 'A' && key[i] <= 'Z') ||
				(key[i] >= '0' && key[i] <= '9' && i > 0) || key[i] == '_';
	if (plain)
		return psprintf("%s.%.*s", path, len, key);
	return psprintf("%s[\"%.*s\"]", path, len, key);
}

/* Validates value against a schema node; see schema_validate. */
static bool
validate_node(JsonbContainer *schema, JsonbValue *value, const char *path, SchemaViolation *sv)
{
	JsonbValue *kw;

	check_stack_depth();
	if ((kw = get_key(schema, "type")) != NULL)
	{
		bool		   ok = false;
		StringInfoData want;

		initStringInfo(&want);
		if (kw->type == jbvString)
		{
			ok = type_matches(value, kw->val.string.val, kw->val.string.len);
			appendBinaryStringInfo(&want, kw->val.string.val, kw->val.string.len);
		}
		else
		{
			JsonbIterator *ti = JsonbIteratorInit(kw->val.binary.data);
			JsonbValue	   t;

			while (JsonbIteratorNext(&ti, &t, true) != WJB_DONE)
				if (t.type == jbvString) /* only elements carry strings */
				{
					ok |= type_matches(value, t.val.string.val, t.val.string.len);
					appendStringInfo(&want, "%s%.*s", want.len ? " or " : "", t.val.string.len, t.val.string.val);
				}
		}
		if (!ok)
			return violation(sv, path, psprintf("%s, got %s", want.data, value_type(value)));
	}
	if ((kw = get_key(schema, "enum")) != NULL)
	{
		JsonbIterator *ei = JsonbIteratorInit(kw->val.binary.data);
		JsonbValue	   e;
		bool		   found = false;

		JsonbIteratorToken et;

		while ((et = JsonbIteratorNext(&ei, &e, true)) != WJB_DONE)
			if (et == WJB_ELEM && !found && (e.type == jbvBinary || e.type == value->type))
				found = values_equal(&e, value);
		if (!found)
		{
			Jsonb *j = JsonbValueToJsonb(kw);

			return violation(sv, path, psprintf("one of %s", JsonbToCString(NULL, &j->root, VARSIZE(j))));
		}
	}
	if (value->type == jbvNumeric)
	{
		if ((kw = get_key(schema, "minimum")) != NULL && numeric_cmp_values(value->val.numeric, kw->val.numeric) < 0)
			return violation(sv, path, psprintf("a number >= %s", numeric_normalize(kw->val.numeric)));
		if ((kw = get_key(schema, "maximum")) != NULL && numeric_cmp_values(value->val.numeric, kw->val.numeric) > 0)
			return violation(sv, path, psprintf("a number <= %s", numeric_normalize(kw->val.numeric)));
	}
	if (value->type == jbvString)
	{
		int chars = pg_mbstrlen_with_len(value->val.string.val, value->val.string.len);

		if ((kw = get_key(schema, "minLength")) != NULL &&
			chars < DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(kw->val.numeric))))
			return violation(sv, path, psprintf("a string of at least %s characters", numeric_normalize(kw->val.numeric)));
		if ((kw = get_key(schema, "maxLength")) != NULL &&
			chars > DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(kw->val.numeric))))
			return violation(sv, path, psprintf("a string of at most %s characters", numeric_normalize(kw->val.numeric)));
		if ((kw = get_key(schema, "format")) != NULL)
		{
			const char *why;

			if (kw->val.string.len == 5 &&
				normalize_email_cstring(value->val.string.val, value->val.string.len, false, false, &why) == NULL)
				return violation(sv, path, "an e-mail address");
			if (kw->val.string.len == 9 && !is_date_time(value->val.string.val, value->val.string.len))
				return violation(sv, path, "an RFC 3339 date-time");
		}
	}
	if (value->type == jbvBinary && JsonContainerIsObject(value->val.binary.data))
	{
		JsonbContainer *obj = value->val.binary.data;
		JsonbValue	   *props = get_key(schema, "properties");

		if ((kw = get_key(schema, "required")) != NULL)
		{
			JsonbIterator *ri = JsonbIteratorInit(kw->val.binary.data);
			JsonbValue	   r;

			JsonbIteratorToken rt;

			while ((rt = JsonbIteratorNext(&ri, &r, true)) != WJB_DONE)
				if (rt == WJB_ELEM && r.type == jbvString &&
					getKeyJsonValueFromContainer(obj, r.val.string.val, r.val.string.len, NULL) == NULL)
					return violation(sv, path_step(path, r.val.string.val, r.val.string.len), "a required property");
		}
		if (props != NULL || ((kw = get_key(schema, "additionalProperties")) != NULL && !kw->val.boolean))
		{
			bool		   closed = (kw = get_key(schema, "additionalProperties")) != NULL && !kw->val.boolean;
			JsonbIterator *oi = JsonbIteratorInit(obj);
			JsonbValue	   k, v;

			JsonbIteratorNext(&oi, &k, true);
			while (JsonbIteratorNext(&oi, &k, true) == WJB_KEY)
			{
				JsonbValue *ps = props ? getKeyJsonValueFromContainer(props->val.binary.data, k.val.string.val,
																	  k.val.string.len, NULL)
									   : NULL;
				char	   *sub = path_step(path, k.val.string.val, k.val.string.len);

				JsonbIteratorNext(&oi, &v, true);
				CHECK_FOR_INTERRUPTS();
				if (ps == NULL && closed)
					return violation(sv, sub, "no such property (additionalProperties is false)");
				if (ps != NULL && !validate_node(ps->val.binary.data, &v, sub, sv))
					return false;
			}
		}
	}
	if (value->type == jbvBinary && JsonContainerIsArray(value->val.binary.data) &&
		(kw = get_key(schema, "items")) != NULL)
	{
		JsonbIterator *ai = JsonbIteratorInit(value->val.binary.data);
		JsonbValue	   e;
		int			   i = 0;

		JsonbIteratorToken at;

		while ((at = JsonbIteratorNext(&ai, &e, true)) != WJB_DONE)
		{
			if (at != WJB_ELEM)
				continue;
			CHECK_FOR_INTERRUPTS();
			if (!validate_node(kw->val.binary.data, &e, psprintf("%s[%d]", path, i), sv))
				return false;
			i++;
		}
	}
	return true;
}

/* Validates value against a compiled-in-place schema; fills *v on failure. */
bool
schema_validate(JsonbContainer *schema, JsonbValue *value, const char *root_path, SchemaViolation *v)
{
	return validate_node(schema, value, root_path, v);
}

/* SQL: personalize._check_event_schema(jsonb) -> true, or a clear error naming the bad node */
Datum
personalize_check_event_schema(PG_FUNCTION_ARGS)
{
	schema_check_definition(PG_GETARG_JSONB_P(0));
	PG_RETURN_BOOL(true);
}
