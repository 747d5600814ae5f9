/*
 * schema_core.h: the JSON Schema subset of personalize.event_schemas in pure C (no PostgreSQL
 * headers): checking a schema definition and validating a value against it, over jvalue.h trees.
 * The server runs it through src/ingest/schema.c (the jsonb adapter); fuzz/schema_fuzz.c runs it
 * on JSON text.
 */
#ifndef PERSONALIZE_SCHEMA_CORE_H
#define PERSONALIZE_SCHEMA_CORE_H

#include "core/jvalue.h"

/* What the core asks of its host: memory, the server's notion of a character and an e-mail. */
typedef struct schema_host
{
	jv_alloc alloc;
	/* the number of characters of a string in the database encoding */
	long (*char_length)(void *ctx, const char *s, size_t len);
	/* true for a string personalize.normalize_email accepts */
	bool (*is_email)(void *ctx, const char *s, size_t len);
	/* called in every loop over a value's elements (statement_timeout, cancel) */
	void (*check_interrupts)(void *ctx);
	void *ctx;
} schema_host;

/* The kinds of error the core reports; the adapter maps each to a SQLSTATE in one table. */
typedef enum schema_error_kind
{
	SCHEMA_OK = 0,
	SCHEMA_ERR_DEFINITION /* a malformed schema (invalid_parameter_value) */
} schema_error_kind;

/* A refused schema (path, detail) or a value's violation (path, what was expected there). */
typedef struct schema_error
{
	schema_error_kind kind;
	const char		 *path;
	const char		 *detail;
} schema_error;

/* Checks that a schema uses only the supported keywords with well-typed arguments. */
extern bool schema_core_check(const jv *schema, const schema_host *h, schema_error *err);

/* Validates value against a checked schema; false with the path and what was expected. */
extern bool schema_core_validate(const jv *schema, const jv *value, const char *root_path, const schema_host *h,
								 schema_error *err);

#endif
