/*
 * value.h - internal value model (layout of arrays, objects, ranges, drops).
 * Owns: container layout, hashed key lookup, truthiness, equality and
 * ordering, Ruby-style string conversion (to_s / inspect) and output.
 */
#ifndef LIQ_VALUE_H
#define LIQ_VALUE_H
#include "liquid.h"
#include "buf.h"

struct liq_array
{
	liq_value *items;
	size_t	   len, cap;
};

typedef struct liq_kv
{
	const char *key;
	uint32_t	klen;
	uint32_t	hash;
	liq_value	val;
} liq_kv;

struct liq_object
{
	liq_kv	*items;
	size_t	 len, cap;
	int32_t *index; /* open-addressing table of item positions, or NULL */
	size_t	 icap;	/* power of two */
};

struct liq_range
{
	int64_t lo, hi;
};

/* forloop / tablerowloop state exposed as a drop. */
typedef struct liq_loop
{
	int64_t				   index0, length;
	int64_t				   cols; /* tablerow: columns (0 = all in one row) */
	bool				   tablerow;
	liq_value			   name; /* forloop.name */
	const struct liq_loop *parent;
} liq_loop;

/* Hash a key (FNV-1a). */
uint32_t liq_hash(const char *s, size_t n);
/* Object lookup with a precomputed hash; NULL if absent. */
const liq_value *liq_object_get_h(const struct liq_object *o, const char *k, size_t n, uint32_t h);
/* Set with a precomputed hash; key is NOT copied. */
bool liq_object_set_h(liq_arena *ar, struct liq_object *o, const char *k, size_t n, uint32_t h, liq_value v);
/* Build a string value referencing s (no copy). */
liq_value liq_str(const char *s, size_t n);
/* Liquid truthiness: only nil and false are falsy. */
bool liq_truthy(liq_value v);
/* Number of elements of an array or range (0 otherwise). */
int64_t liq_seq_len(liq_value v);
/* Element i of an array or range. */
liq_value liq_seq_at(liq_value v, int64_t i);
/* Ruby == semantics (1 == 1.0, deep arrays/hashes). */
bool liq_equal(liq_value a, liq_value b);
/* Ruby <=> for numbers and strings; returns false if not comparable. */
bool liq_compare(liq_value a, liq_value b, int *res);
/* Is v a number (int or float)? */
bool liq_is_number(liq_value v);
/* Liquid `blank?`: nil, false, whitespace-only string, empty array/hash. */
bool liq_is_blank(liq_value v);
/* Liquid `empty?`: empty string/array/hash (false for everything else). */
bool liq_is_empty(liq_value v);
/* Ruby to_s: nil -> "", arrays and hashes -> inspect. */
bool liq_to_s(liq_buf *b, liq_value v);
/* Ruby inspect. */
bool liq_inspect(liq_buf *b, liq_value v);
/* Output rendering: like to_s but arrays are flattened and concatenated. */
bool liq_write_output(liq_buf *b, liq_value v);
/* Value as a string value (allocating in ar for non-strings); nil -> "". */
liq_value liq_stringify(liq_arena *ar, liq_value v);
/* Wrap an internal drop (forloop). */
liq_value liq_drop(const liq_loop *l);
/* Build a new array value of len items (copied); LIQ_NIL on OOM. */
liq_value liq_array_from(liq_arena *ar, const liq_value *items, size_t len);
/* Property/index lookup `v[key]` / `v.key` with Liquid semantics (hash
 * keys, array indexes, forloop fields, and with method (written `.name`)
 * size/first/last). *found tells whether a hash key existed (for strict
 * variables). */
liq_value liq_prop(liq_arena *ar, liq_value v, liq_value key, bool method, bool *found);
/* Number of UTF-8 characters in s. */
size_t liq_utf8_len(const char *s, size_t n);
/* Byte offset of the character number `chars` in s (clamped to n). */
size_t liq_utf8_offset(const char *s, size_t n, size_t chars);
#endif
