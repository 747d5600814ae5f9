/*
 * json.h: the little JSON the sender needs: writing strings, and reading the top level of an
 * object (claim_sends' headers, an HTTP provider's reply) as name/value pairs.
 */
#ifndef SENDER_JSON_H
#define SENDER_JSON_H

#include "strbuf.h"

typedef struct json_pair
{
	char *name;
	char *value; /* strings decoded, other scalars as written; NULL for
				  * objects and arrays */
} json_pair;

/* Appends s as a JSON string literal (quoted, escaped). */
void json_string(strbuf *out, const char *s);
/* Reads the members of a top-level object; returns their count, or -1 when the text is not
 * a JSON object. The caller frees the pairs with json_pairs_free. */
int json_object_pairs(const char *text, json_pair **pairs);
/* Frees what json_object_pairs returned. */
void json_pairs_free(json_pair *pairs, int n);
/* The value of the first member named name, or NULL. */
const char *json_pairs_get(const json_pair *pairs, int n, const char *name);

#endif
