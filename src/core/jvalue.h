/*
 * jvalue.h: a plain JSON value tree in pure C (no PostgreSQL headers), with jsonb's semantics:
 * object keys unique (the last duplicate wins) and ordered as jsonb orders them (shorter first,
 * then bytewise), numbers kept as exact plain decimal text ("-12.50", never an exponent). The
 * pure-C cores of the JSON Schema validator (src/ingest/schema_core.c) and the segment rule
 * compiler (src/segment/rule_core.c) read it; in the server an adapter builds it from jsonb, in
 * a fuzz harness jv_parse builds it from text. Memory comes from a jv_alloc and is never freed
 * piecemeal (a memory context or an arena takes it back as a whole).
 */
#ifndef PERSONALIZE_JVALUE_H
#define PERSONALIZE_JVALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where a tree's memory comes from: alloc never returns NULL (it fails its own way). */
typedef struct jv_alloc
{
	void *(*alloc)(void *ctx, size_t size);
	void *ctx;
} jv_alloc;

typedef enum jv_type
{
	JV_NULL,
	JV_BOOL,
	JV_NUMBER,
	JV_STRING,
	JV_ARRAY,
	JV_OBJECT
} jv_type;

/* One JSON value. */
typedef struct jv
{
	jv_type		type;
	bool		boolean;
	const char *str; /* JV_STRING: the bytes (NUL-terminated copy); JV_NUMBER: plain decimal text */
	size_t		len;
	size_t		n;	   /* JV_ARRAY: elements; JV_OBJECT: key/value pairs */
	struct jv  *items; /* elements, or the values of an object */
	struct jv  *keys;  /* JV_OBJECT: the keys (JV_STRING), in jsonb order */
} jv;

/* A growable string in a jv_alloc. */
typedef struct jv_buf
{
	const jv_alloc *a;
	char		   *data;
	size_t			len, cap;
} jv_buf;

/* The value of key in an object; NULL when absent or when obj is not an object. */
extern const jv *jv_get(const jv *obj, const char *key);

/* Compares two JSON numbers exactly: <0, 0, >0. */
extern int jv_num_cmp(const char *a, size_t alen, const char *b, size_t blen);
/* Compares a JSON number with a decimal written in C (e.g. "1e300" is not allowed: plain digits). */
extern int jv_num_cmp_text(const jv *num, const char *decimal);
/* True if the number has no fractional part. */
extern bool jv_num_is_integral(const jv *num);
/* The number as an int64 if it is integral and fits, else false. */
extern bool jv_num_int64(const jv *num, int64_t *out);
/* The number without trailing fractional zeros ("1.50" -> "1.5"), as numeric_normalize prints it. */
extern const char *jv_num_normalize(const jv *num, const jv_alloc *a);

/* True if two values are equal as jsonb compares them (numbers by value, objects by keys). */
extern bool jv_equal(const jv *a, const jv *b);
/* Appends the value as jsonb prints it ({"a": 1, "b": [true, null]}). */
extern void jv_print(jv_buf *b, const jv *v);

/*
 * For the checkers of JSON documents (rules, journeys): the first key of an object not in
 * allowed (NULL-terminated), with what was expected there ("one of the keys a, b in this
 * node"); NULL when every key is allowed. A misspelt key is an error rather than ignored.
 */
extern const char *jv_unknown_key(const jv *obj, const char *const *allowed, const jv_alloc *a,
								  const char **expected);

/* Sorts an object's pairs into jsonb order and drops all but the last of duplicate keys. */
extern void jv_object_finish(jv *obj, const jv_alloc *a);

/* Allocates n bytes (zeroed). */
extern void *jv_calloc(const jv_alloc *a, size_t n);
/* Starts an empty buffer. */
extern void jv_buf_init(jv_buf *b, const jv_alloc *a);
/* Appends len bytes. */
extern void jv_buf_put(jv_buf *b, const char *s, size_t len);
/* Appends a NUL-terminated string. */
extern void jv_buf_puts(jv_buf *b, const char *s);
/* Appends a printf-formatted string. */
extern void jv_buf_printf(jv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A printf-formatted string in a's memory. */
extern char *jv_sprintf(const jv_alloc *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Parses JSON text as jsonb's input does (RFC 8259; no \u0000; numbers made plain decimal, at
 * most 131072 digits before the point and 16383 after; nesting at most max_depth). NULL and a
 * message in *error on malformed input.
 */
extern jv *jv_parse(const char *text, size_t len, int max_depth, const jv_alloc *a, const char **error);

#endif
