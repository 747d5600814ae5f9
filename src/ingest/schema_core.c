/*
 * schema_core.c: the JSON Schema subset of personalize.event_schemas in pure C: type, required,
 * properties, additionalProperties, items, enum, minimum, maximum, minLength, maxLength and
 * format (email, date-time), plus description and title. A definition is checked once when it
 * is stored (every node, naming the path of a bad one); values are validated against checked
 * definitions. No PostgreSQL types: numbers are exact decimal text (jvalue.h).
 */
#include "schema_core.h"

#include <setjmp.h>
#include <string.h>

#define MAX_SCHEMA_DEPTH 32

static const char *const keywords[] = {
	"type", "required", "properties", "additionalProperties", "items", "enum",
	"minimum", "maximum", "minLength", "maxLength", "format", "description", "title", NULL};

static const char *const type_names[] = {
	"string", "number", "integer", "boolean", "object", "array", "null", NULL};

/* A definition check in progress: where a refusal jumps to. */
typedef struct checker
{
	const schema_host *h;
	schema_error	  *err;
	jmp_buf			   fail;
} checker;

/* Refuses the schema at path with a detail sentence (fmt with one %s). */
static void
bad_schema(checker *c, const char *path, const char *fmt, const char *arg)
{
	c->err->kind = SCHEMA_ERR_DEFINITION;
	c->err->path = path;
	c->err->detail = jv_sprintf(&c->h->alloc, fmt, arg);
	longjmp(c->fail, 1);
}

/* True if s (length len) is one of the NULL-terminated list of names. */
static bool
in_list(const char *const *list, const char *s, size_t len)
{
	for (int i = 0; list[i]; i++)
		if (strlen(list[i]) == len && memcmp(list[i], s, len) == 0)
			return true;
	return false;
}

/* True if v is the string s. */
static bool
is_string(const jv *v, const char *s)
{
	return v->type == JV_STRING && v->len == strlen(s) && memcmp(v->str, s, v->len) == 0;
}

/* Checks one schema node and its children, recursively. */
static void
check_node(checker *c, const jv *node, const char *path, int depth)
{
	const jv_alloc *a = &c->h->alloc;

	if (depth > MAX_SCHEMA_DEPTH)
		bad_schema(c, path, "Schemas nest at most %s levels deep.", "32");
	if (node->type != JV_OBJECT)
		bad_schema(c, path, "A schema must be a JSON object%s.", "");
	for (size_t i = 0; i < node->n; i++)
	{
		const jv   *k = &node->keys[i], *v = &node->items[i];
		const char *key = k->str;
		char	   *sub = jv_sprintf(a, "%s.%s", path, key);

		c->h->check_interrupts(c->h->ctx);
		if (!in_list(keywords, k->str, k->len) || strlen(key) != k->len)
			bad_schema(c, sub, "Unsupported keyword \"%s\"; supported are type, required, properties, "
							   "additionalProperties, items, enum, minimum, maximum, minLength, maxLength, "
							   "format, description and title.",
					   key);
		if (strcmp(key, "type") == 0)
		{
			if (v->type == JV_STRING)
			{
				if (!in_list(type_names, v->str, v->len))
					bad_schema(c, sub, "Unknown type \"%s\".", v->str);
			}
			else if (v->type == JV_ARRAY)
			{
				for (size_t j = 0; j < v->n; j++)
					if (v->items[j].type != JV_STRING || !in_list(type_names, v->items[j].str, v->items[j].len))
						bad_schema(c, sub, "Each type must be one of string, number, integer, boolean, object, array, null%s.", "");
			}
			else
				bad_schema(c, sub, "Expected a type name or an array of type names%s.", "");
		}
		else if (strcmp(key, "required") == 0)
		{
			if (v->type != JV_ARRAY)
				bad_schema(c, sub, "Expected an array of property names%s.", "");
			for (size_t j = 0; j < v->n; j++)
				if (v->items[j].type != JV_STRING)
					bad_schema(c, sub, "Expected an array of property names%s.", "");
		}
		else if (strcmp(key, "properties") == 0)
		{
			if (v->type != JV_OBJECT)
				bad_schema(c, sub, "Expected an object of property schemas%s.", "");
			for (size_t j = 0; j < v->n; j++)
			{
				char *ppath = jv_sprintf(a, "%s.%s", sub, v->keys[j].str);

				if (v->items[j].type != JV_OBJECT && v->items[j].type != JV_ARRAY)
					bad_schema(c, ppath, "A schema must be a JSON object%s.", "");
				check_node(c, &v->items[j], ppath, depth + 1);
			}
		}
		else if (strcmp(key, "items") == 0)
		{
			if (v->type != JV_OBJECT && v->type != JV_ARRAY)
				bad_schema(c, sub, "A schema must be a JSON object%s.", "");
			check_node(c, v, sub, depth + 1);
		}
		else if (strcmp(key, "additionalProperties") == 0)
		{
			if (v->type != JV_BOOL)
				bad_schema(c, sub, "Expected true or false%s.", "");
		}
		else if (strcmp(key, "enum") == 0)
		{
			if (v->type != JV_ARRAY)
				bad_schema(c, sub, "Expected an array of allowed values%s.", "");
		}
		else if (strcmp(key, "minimum") == 0 || strcmp(key, "maximum") == 0)
		{
			if (v->type != JV_NUMBER)
				bad_schema(c, sub, "Expected a number%s.", "");
		}
		else if (strcmp(key, "minLength") == 0 || strcmp(key, "maxLength") == 0)
		{
			/* an integer from 0 to 2^31 - 1, so that validation compares lengths without an error */
			if (v->type != JV_NUMBER || !jv_num_is_integral(v) || jv_num_cmp_text(v, "0") < 0 ||
				jv_num_cmp_text(v, "2147483647") > 0)
				bad_schema(c, sub, "Expected an integer from 0 to 2147483647%s.", "");
		}
		else if (strcmp(key, "format") == 0)
		{
			if (!is_string(v, "email") && !is_string(v, "date-time"))
				bad_schema(c, sub, "Supported formats are \"email\" and \"date-time\"%s.", "");
		}
		else if (v->type != JV_STRING) /* description, title */
			bad_schema(c, sub, "Expected a string%s.", "");
	}
}

/* Checks that a schema uses only the supported keywords with well-typed arguments. */
bool
schema_core_check(const jv *schema, const schema_host *h, schema_error *err)
{
	checker c = {.h = h, .err = err};

	err->kind = SCHEMA_OK;
	if (setjmp(c.fail) != 0)
		return false;
	check_node(&c, schema, "$", 0);
	return true;
}

/* The JSON Schema type name of a value. */
static const char *
value_type(const jv *v)
{
	static const char *const names[] = {"null", "boolean", "number", "string", "array", "object"};

	return names[v->type];
}

/* True if the value satisfies the schema type name t. */
static bool
type_matches(const jv *v, const jv *t)
{
	if (is_string(t, "integer"))
		return v->type == JV_NUMBER && jv_num_is_integral(v);
	return is_string(t, value_type(v));
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
is_date_time(const char *s, size_t len)
{
	int				 y, mo, d, h, mi, se;
	size_t			 i = 19;
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
		size_t start = ++i;

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

/* Fills the violation and returns false, for use in a return statement. */
static bool
violation(schema_error *err, const char *path, const char *expected)
{
	err->path = path;
	err->detail = expected;
	return false;
}

/* Formats a JSON path step: .name for identifier-like keys, ["name"] otherwise. */
static char *
path_step(const jv_alloc *a, const char *path, const char *key, size_t len)
{
	bool plain = len > 0;

	for (size_t i = 0; i < len && plain; i++)
		plain = (key[i] >= 'a' && key[i] <= 'z') || (key[i] >= 'A' && key[i] <= 'Z') ||
				(key[i] >= '0' && key[i] <= '9' && i > 0) || key[i] == '_';
	if (plain)
		return jv_sprintf(a, "%s.%.*s", path, (int) len, key);
	return jv_sprintf(a, "%s[\"%.*s\"]", path, (int) len, key);
}

/* Validates value against a schema node; see schema_core_validate. */
static bool
validate_node(const jv *schema, const jv *value, const char *path, const schema_host *h, schema_error *err)
{
	const jv_alloc *a = &h->alloc;
	const jv	   *kw;

	if ((kw = jv_get(schema, "type")) != NULL)
	{
		bool   ok = false;
		jv_buf want;

		jv_buf_init(&want, a);
		if (kw->type == JV_STRING)
		{
			ok = type_matches(value, kw);
			jv_buf_put(&want, kw->str, kw->len);
		}
		else
			for (size_t i = 0; i < kw->n; i++)
			{
				ok |= type_matches(value, &kw->items[i]);
				if (want.len)
					jv_buf_puts(&want, " or ");
				jv_buf_put(&want, kw->items[i].str, kw->items[i].len);
			}
		if (!ok)
			return violation(err, path, jv_sprintf(a, "%s, got %s", want.data, value_type(value)));
	}
	if ((kw = jv_get(schema, "enum")) != NULL)
	{
		bool   found = false;
		jv_buf list;

		for (size_t i = 0; i < kw->n && !found; i++)
			found = jv_equal(&kw->items[i], value);
		if (!found)
		{
			jv_buf_init(&list, a);
			jv_buf_puts(&list, "one of ");
			jv_print(&list, kw);
			return violation(err, path, list.data);
		}
	}
	if (value->type == JV_NUMBER)
	{
		if ((kw = jv_get(schema, "minimum")) != NULL && jv_num_cmp(value->str, value->len, kw->str, kw->len) < 0)
			return violation(err, path, jv_sprintf(a, "a number >= %s", jv_num_normalize(kw, a)));
		if ((kw = jv_get(schema, "maximum")) != NULL && jv_num_cmp(value->str, value->len, kw->str, kw->len) > 0)
			return violation(err, path, jv_sprintf(a, "a number <= %s", jv_num_normalize(kw, a)));
	}
	if (value->type == JV_STRING)
	{
		long	chars = h->char_length(h->ctx, value->str, value->len);
		int64_t bound;

		if ((kw = jv_get(schema, "minLength")) != NULL && jv_num_int64(kw, &bound) && chars < bound)
			return violation(err, path, jv_sprintf(a, "a string of at least %s characters", jv_num_normalize(kw, a)));
		if ((kw = jv_get(schema, "maxLength")) != NULL && jv_num_int64(kw, &bound) && chars > bound)
			return violation(err, path, jv_sprintf(a, "a string of at most %s characters", jv_num_normalize(kw, a)));
		if ((kw = jv_get(schema, "format")) != NULL)
		{
			if (is_string(kw, "email") && !h->is_email(h->ctx, value->str, value->len))
				return violation(err, path, "an e-mail address");
			if (is_string(kw, "date-time") && !is_date_time(value->str, value->len))
				return violation(err, path, "an RFC 3339 date-time");
		}
	}
	if (value->type == JV_OBJECT)
	{
		const jv *props = jv_get(schema, "properties");
		bool	  closed;

		if ((kw = jv_get(schema, "required")) != NULL)
			for (size_t i = 0; i < kw->n; i++)
				if (jv_get(value, kw->items[i].str) == NULL || strlen(kw->items[i].str) != kw->items[i].len)
					return violation(err, path_step(a, path, kw->items[i].str, kw->items[i].len), "a required property");
		closed = (kw = jv_get(schema, "additionalProperties")) != NULL && !kw->boolean;
		if (props != NULL || closed)
			for (size_t i = 0; i < value->n; i++)
			{
				const jv *ps = props ? jv_get(props, value->keys[i].str) : NULL;
				char	 *sub = path_step(a, path, value->keys[i].str, value->keys[i].len);

				h->check_interrupts(h->ctx);
				if (ps == NULL && closed)
					return violation(err, sub, "no such property (additionalProperties is false)");
				if (ps != NULL && !validate_node(ps, &value->items[i], sub, h, err))
					return false;
			}
	}
	if (value->type == JV_ARRAY && (kw = jv_get(schema, "items")) != NULL)
		for (size_t i = 0; i < value->n; i++)
		{
			h->check_interrupts(h->ctx);
			if (!validate_node(kw, &value->items[i], jv_sprintf(a, "%s[%d]", path, (int) i), h, err))
				return false;
		}
	return true;
}

/* Validates value against a checked schema; false with the path and what was expected. */
bool
schema_core_validate(const jv *schema, const jv *value, const char *root_path, const schema_host *h,
					 schema_error *err)
{
	err->kind = SCHEMA_OK;
	return validate_node(schema, value, root_path, h, err);
}
