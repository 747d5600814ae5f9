/*
 * schema.h: the JSON Schema subset that event_schemas holds, checked in C.
 */
#ifndef PERSONALIZE_SCHEMA_H
#define PERSONALIZE_SCHEMA_H

#include "postgres.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"

/* Where a value failed its schema: a JSON path and what was expected there. */
typedef struct SchemaViolation
{
	StringInfoData path;
	StringInfoData expected;
} SchemaViolation;

/* Checks that a schema uses only the supported keywords with well-typed arguments; errors if not. */
extern void schema_check_definition(Jsonb *schema);

/* Validates value against schema; on failure fills *v (path starting at root_path) and returns false. */
extern bool schema_validate(JsonbContainer *schema, JsonbValue *value, const char *root_path,
							SchemaViolation *v);

#endif
