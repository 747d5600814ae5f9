/*
 * schema.h: the JSON Schema subset that event_schemas holds: the server's entry points to the
 * pure-C core (schema_core.c).
 */
#ifndef PERSONALIZE_SCHEMA_H
#define PERSONALIZE_SCHEMA_H

#include "postgres.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "core/jvalue.h"

/* Where a value failed its schema: a JSON path and what was expected there. */
typedef struct SchemaViolation
{
	StringInfoData path;
	StringInfoData expected;
} SchemaViolation;

/* Checks that a schema uses only the supported keywords with well-typed arguments; errors if not. */
extern void schema_check_definition(Jsonb *schema);

/* A stored (checked) schema as the validator reads it, in the current memory context. */
extern jv *schema_prepare(Jsonb *schema);

/* Validates value against a prepared schema; on failure fills *v (path starting at root_path). */
extern bool schema_validate(const jv *schema, Jsonb *value, const char *root_path, SchemaViolation *v);

#endif
