/*
 * schema.c: the server adapter of the JSON Schema subset (the rules are in schema_core.c, pure
 * C): jsonb to the core's trees, the database encoding's character count, normalize_email's
 * notion of an address, interrupts, and the one table from the core's error kinds to SQLSTATEs.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "core/hash.h"
#include "core/jsonb_jv.h"
#include "schema.h"
#include "schema_core.h"

PG_FUNCTION_INFO_V1(personalize_check_event_schema);

/* The SQLSTATE of each kind of error the core reports: the one place they are decided. */
static const struct
{
	schema_error_kind kind;
	int				  sqlstate;
} schema_errors[] = {
	{SCHEMA_ERR_DEFINITION, ERRCODE_INVALID_PARAMETER_VALUE},
};

/* The number of characters of a string in the database encoding. */
static long
char_length(void *ctx, const char *s, size_t len)
{
	return pg_mbstrlen_with_len(s, (int) len);
}

/* True for a string personalize.normalize_email accepts. */
static bool
is_email(void *ctx, const char *s, size_t len)
{
	const char *why;

	return normalize_email_cstring(s, len, false, false, &why) != NULL;
}

/* The core's interrupt hook. */
static void
check_interrupts(void *ctx)
{
	CHECK_FOR_INTERRUPTS();
}

static const schema_host host = {{NULL, NULL}, char_length, is_email, check_interrupts, NULL};

/* The host with the palloc allocator (jv_palloc is not a constant expression in C). */
static schema_host
server_host(void)
{
	schema_host h = host;

	h.alloc = jv_palloc;
	return h;
}

/* Checks a whole schema definition; raises a clear error naming the path of the bad node. */
void
schema_check_definition(Jsonb *schema)
{
	schema_host	 h = server_host();
	schema_error err;
	int			 code = ERRCODE_INTERNAL_ERROR;

	check_stack_depth();
	if (schema_core_check(jv_from_jsonb(schema), &h, &err))
		return;
	for (int i = 0; i < lengthof(schema_errors); i++)
		if (schema_errors[i].kind == err.kind)
			code = schema_errors[i].sqlstate;
	ereport(ERROR,
			(errcode(code),
			 errmsg("invalid event schema at %s", err.path),
			 errdetail("%s", err.detail)));
}

/* A stored (checked) schema as the validator reads it, in the current memory context. */
jv *
schema_prepare(Jsonb *schema)
{
	return jv_from_jsonb(schema);
}

/* Validates value against a prepared schema; on failure fills *v (path starting at root_path). */
bool
schema_validate(const jv *schema, Jsonb *value, const char *root_path, SchemaViolation *v)
{
	schema_host	 h = server_host();
	schema_error err;

	if (schema_core_validate(schema, jv_from_jsonb(value), root_path, &h, &err))
		return true;
	resetStringInfo(&v->path);
	appendStringInfoString(&v->path, err.path);
	resetStringInfo(&v->expected);
	appendStringInfoString(&v->expected, err.detail);
	return false;
}

/* SQL: personalize._check_event_schema(jsonb) -> true, or a clear error naming the bad node */
Datum
personalize_check_event_schema(PG_FUNCTION_ARGS)
{
	schema_check_definition(PG_GETARG_JSONB_P(0));
	PG_RETURN_BOOL(true);
}
