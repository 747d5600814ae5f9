/*
 * value.c - the value model: constructors, containers, comparisons and
 * Ruby-compatible string conversion.
 * Owns: everything about what a liq_value is and how it prints.
 */
#include "value.h"
#include "number.h"
#include <string.h>

/* nil value. */
liq_value
liq_nil(void)
{
	liq_value v;
	memset(&v, 0, sizeof v);
	return v;
}

/* Boolean value. */
liq_value
liq_bool(bool b)
{
	liq_value v = liq_nil();
	v.type = LIQ_BOOL;
	v.u.b = b;
	return v;
}

/* Integer value. */
liq_value
liq_int(int64_t i)
{
	liq_value v = liq_nil();
	v.type = LIQ_INT;
	v.u.i = i;
	return v;
}

/* Float value. */
liq_value
liq_float(double d)
{
	liq_value v = liq_nil();
	v.type = LIQ_FLOAT;
	v.u.f = d;
	return v;
}

/* Build a string value referencing s (no copy). */
liq_value
liq_str(const char *s, size_t n)
{
	liq_value v = liq_nil();
	v.type = LIQ_STRING;
	v.len = (uint32_t) n;
	v.u.s = s ? s : "";
	return v;
}

/* String referencing caller memory. */
liq_value
liq_string_ref(const char *s, size_t len)
{
	if (len >= UINT32_MAX)
		return liq_nil();
	return liq_str(s, len);
}

/* String copied into the arena. */
liq_value
liq_string(liq_arena *ar, const char *s, size_t len)
{
	char *p;
	if (len >= UINT32_MAX)
		return liq_nil();
	p = liq_arena_strdup(ar, s, len);
	if (!p)
		return liq_nil();
	return liq_str(p, len);
}

/* Wrap an internal drop (forloop). */
liq_value
liq_drop(const liq_loop *l)
{
	liq_value v = liq_nil();
	v.type = LIQ_DROP;
	v.u.p = l;
	return v;
}

/* New array value. */
liq_value
liq_array_new(liq_arena *ar, size_t cap)
{
	liq_value		  v = liq_nil();
	struct liq_array *a = liq_arena_alloc(ar, sizeof *a);
	if (!a)
		return v;
	a->len = 0;
	a->cap = cap;
	a->items = cap ? liq_arena_calloc(ar, cap, sizeof(liq_value)) : NULL;
	if (cap && !a->items)
		return v;
	v.type = LIQ_ARRAY;
	v.u.a = a;
	return v;
}

/* Build a new array value of len items (copied); LIQ_NIL on OOM. */
liq_value
liq_array_from(liq_arena *ar, const liq_value *items, size_t len)
{
	liq_value v = liq_array_new(ar, len);
	if (v.type != LIQ_ARRAY)
		return v;
	if (len)
		memcpy(v.u.a->items, items, len * sizeof *items);
	v.u.a->len = len;
	return v;
}

/* Append item to an array. */
bool
liq_array_push(liq_arena *ar, liq_value arr, liq_value item)
{
	struct liq_array *a;
	if (arr.type != LIQ_ARRAY)
		return false;
	a = arr.u.a;
	if (a->len == a->cap)
	{
		size_t	   ncap = a->cap ? a->cap * 2 : 4;
		liq_value *n = liq_arena_grow(ar, a->items, a->len, ncap, sizeof *n);
		if (!n)
			return false;
		a->items = n;
		a->cap = ncap;
	}
	a->items[a->len++] = item;
	return true;
}

/* New object value. */
liq_value
liq_object_new(liq_arena *ar, size_t cap)
{
	liq_value		   v = liq_nil();
	struct liq_object *o = liq_arena_calloc(ar, 1, sizeof *o);
	if (!o)
		return v;
	if (cap)
	{
		o->items = liq_arena_calloc(ar, cap, sizeof(liq_kv));
		if (!o->items)
			return v;
		o->cap = cap;
	}
	v.type = LIQ_OBJECT;
	v.u.o = o;
	return v;
}

/* Hash a key (FNV-1a). */
uint32_t
liq_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	size_t	 i;
	for (i = 0; i < n; i++)
	{
		h ^= (unsigned char) s[i];
		h *= 16777619u;
	}
	return h;
}

/* (Re)build the open-addressing index of an object. */
static bool
object_reindex(liq_arena *ar, struct liq_object *o)
{
	size_t icap = 16, i;
	while (icap < o->len * 2 + 2)
		icap *= 2;
	o->index = liq_arena_alloc(ar, icap * sizeof(int32_t));
	if (!o->index)
	{
		o->icap = 0;
		return false;
	}
	memset(o->index, 0xff, icap * sizeof(int32_t));
	o->icap = icap;
	for (i = 0; i < o->len; i++)
	{
		size_t p = o->items[i].hash & (icap - 1);
		while (o->index[p] >= 0)
			p = (p + 1) & (icap - 1);
		o->index[p] = (int32_t) i;
	}
	return true;
}

/* Position of a key in the object, or -1. */
static long
object_find(const struct liq_object *o, const char *k, size_t n, uint32_t h)
{
	size_t i;
	if (o->index)
	{
		size_t p = h & (o->icap - 1);
		while (o->index[p] >= 0)
		{
			const liq_kv *kv = &o->items[o->index[p]];
			if (kv->hash == h && kv->klen == n && memcmp(kv->key, k, n) == 0)
				return o->index[p];
			p = (p + 1) & (o->icap - 1);
		}
		return -1;
	}
	for (i = 0; i < o->len; i++)
	{
		const liq_kv *kv = &o->items[i];
		if (kv->hash == h && kv->klen == n && memcmp(kv->key, k, n) == 0)
			return (long) i;
	}
	return -1;
}

/* Object lookup with a precomputed hash; NULL if absent. */
const liq_value *
liq_object_get_h(const struct liq_object *o, const char *k, size_t n, uint32_t h)
{
	long i = object_find(o, k, n, h);
	return i < 0 ? NULL : &o->items[i].val;
}

/* Look up a key in an object value. */
const liq_value *
liq_object_get(liq_value obj, const char *key, size_t klen)
{
	if (obj.type != LIQ_OBJECT)
		return NULL;
	return liq_object_get_h(obj.u.o, key, klen, liq_hash(key, klen));
}

/* Set with a precomputed hash; key is NOT copied. */
bool
liq_object_set_h(liq_arena *ar, struct liq_object *o, const char *k, size_t n, uint32_t h, liq_value v)
{
	long i = object_find(o, k, n, h);
	if (i >= 0)
	{
		o->items[i].val = v;
		return true;
	}
	if (n >= UINT32_MAX || o->len >= 0x7fffffff)
		return false;
	if (o->len == o->cap)
	{
		size_t	ncap = o->cap ? o->cap * 2 : 4;
		liq_kv *ni = liq_arena_grow(ar, o->items, o->len, ncap, sizeof *ni);
		if (!ni)
			return false;
		o->items = ni;
		o->cap = ncap;
	}
	o->items[o->len].key = k;
	o->items[o->len].klen = (uint32_t) n;
	o->items[o->len].hash = h;
	o->items[o->len].val = v;
	o->len++;
	if (o->len > 8 && (!o->index || o->len * 2 > o->icap))
		return object_reindex(ar, o);
	if (o->index)
	{
		size_t p = h & (o->icap - 1);
		while (o->index[p] >= 0)
			p = (p + 1) & (o->icap - 1);
		o->index[p] = (int32_t) (o->len - 1);
	}
	return true;
}

/* Set key (copied) to val. */
bool
liq_object_set(liq_arena *ar, liq_value obj, const char *key, size_t klen, liq_value val)
{
	char	*k;
	uint32_t h;
	if (obj.type != LIQ_OBJECT || klen >= UINT32_MAX)
		return false;
	h = liq_hash(key, klen);
	if (object_find(obj.u.o, key, klen, h) < 0)
	{
		k = liq_arena_strdup(ar, key, klen);
		if (!k)
			return false;
	}
	else
	{
		k = (char *) key; /* existing entry keeps its own key */
	}
	return liq_object_set_h(ar, obj.u.o, k, klen, h, val);
}

/* Element count of an array/object. */
size_t
liq_value_count(liq_value v)
{
	if (v.type == LIQ_ARRAY)
		return v.u.a->len;
	if (v.type == LIQ_OBJECT)
		return v.u.o->len;
	return 0;
}

/* Liquid truthiness: only nil and false are falsy. */
bool
liq_truthy(liq_value v)
{
	return !(v.type == LIQ_NIL || (v.type == LIQ_BOOL && !v.u.b));
}

/* Number of elements of an array or range (0 otherwise). */
int64_t
liq_seq_len(liq_value v)
{
	if (v.type == LIQ_ARRAY)
		return (int64_t) v.u.a->len;
	if (v.type == LIQ_RANGE)
	{
		uint64_t span; /* hi - lo, exact in unsigned arithmetic since hi >= lo */
		if (v.u.r->hi < v.u.r->lo)
			return 0;
		span = (uint64_t) v.u.r->hi - (uint64_t) v.u.r->lo;
		return span >= (uint64_t) INT64_MAX ? INT64_MAX : (int64_t) span + 1;
	}
	return 0;
}

/* Element i of an array or range. */
liq_value
liq_seq_at(liq_value v, int64_t i)
{
	if (v.type == LIQ_ARRAY)
		return v.u.a->items[i];
	return liq_int(v.u.r->lo + i);
}

/* Is v a number (int or float)? */
bool
liq_is_number(liq_value v)
{
	return v.type == LIQ_INT || v.type == LIQ_FLOAT;
}

/* Ruby == semantics. */
bool
liq_equal(liq_value a, liq_value b)
{
	if (liq_is_number(a) && liq_is_number(b))
	{
		if (a.type == LIQ_INT && b.type == LIQ_INT)
			return a.u.i == b.u.i;
		return liq_num_cmp(liq_to_num(a), liq_to_num(b)) == 0 &&
			   (a.type == LIQ_INT ? (double) a.u.i : a.u.f) == (b.type == LIQ_INT ? (double) b.u.i : b.u.f);
	}
	if (a.type != b.type)
		return false;
	switch (a.type)
	{
		case LIQ_NIL:
			return true;
		case LIQ_BOOL:
			return a.u.b == b.u.b;
		case LIQ_STRING:
			return a.len == b.len && memcmp(a.u.s, b.u.s, a.len) == 0;
		case LIQ_ARRAY:
		{
			size_t i;
			if (a.u.a->len != b.u.a->len)
				return false;
			for (i = 0; i < a.u.a->len; i++)
				if (!liq_equal(a.u.a->items[i], b.u.a->items[i]))
					return false;
			return true;
		}
		case LIQ_OBJECT:
		{
			size_t i;
			if (a.u.o->len != b.u.o->len)
				return false;
			for (i = 0; i < a.u.o->len; i++)
			{
				const liq_kv	*kv = &a.u.o->items[i];
				const liq_value *o = liq_object_get_h(b.u.o, kv->key, kv->klen, kv->hash);
				if (!o || !liq_equal(kv->val, *o))
					return false;
			}
			return true;
		}
		case LIQ_RANGE:
			return a.u.r->lo == b.u.r->lo && a.u.r->hi == b.u.r->hi;
		case LIQ_DROP:
			return a.u.p == b.u.p;
		default:
			return true; /* empty == empty, blank == blank */
	}
}

/* Ruby <=> for numbers and strings; returns false if not comparable. */
bool
liq_compare(liq_value a, liq_value b, int *res)
{
	if (liq_is_number(a) && liq_is_number(b))
	{
		if (a.type == LIQ_INT && b.type == LIQ_INT)
			*res = a.u.i < b.u.i ? -1 : a.u.i > b.u.i;
		else
		{
			double x = a.type == LIQ_INT ? (double) a.u.i : a.u.f;
			double y = b.type == LIQ_INT ? (double) b.u.i : b.u.f;
			if (x != x || y != y)
				return false;
			*res = x < y ? -1 : x > y;
		}
		return true;
	}
	if (a.type == LIQ_STRING && b.type == LIQ_STRING)
	{
		size_t n = a.len < b.len ? a.len : b.len;
		int	   c = n ? memcmp(a.u.s, b.u.s, n) : 0;
		if (c == 0)
			c = a.len < b.len ? -1 : a.len > b.len;
		*res = c < 0 ? -1 : c > 0;
		return true;
	}
	return false;
}

/* Liquid `blank?`. */
bool
liq_is_blank(liq_value v)
{
	size_t i;
	switch (v.type)
	{
		case LIQ_NIL:
			return true;
		case LIQ_BOOL:
			return !v.u.b;
		case LIQ_STRING:
			for (i = 0; i < v.len; i++)
			{
				char c = v.u.s[i];
				if (!(c == ' ' || (c >= '\t' && c <= '\r') || c == 0))
					return false;
			}
			return true;
		case LIQ_ARRAY:
			return v.u.a->len == 0;
		case LIQ_OBJECT:
			return v.u.o->len == 0;
		default:
			return false;
	}
}

/* Liquid `empty?`. */
bool
liq_is_empty(liq_value v)
{
	switch (v.type)
	{
		case LIQ_STRING:
			return v.len == 0;
		case LIQ_ARRAY:
			return v.u.a->len == 0;
		case LIQ_OBJECT:
			return v.u.o->len == 0;
		default:
			return false;
	}
}

/* Append a Ruby-inspected string literal. */
static bool
inspect_string(liq_buf *b, const char *s, size_t n)
{
	size_t			  i;
	static const char hex[] = "0123456789ABCDEF";
	liq_buf_putc(b, '"');
	for (i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) s[i];
		switch (c)
		{
			case '"':
				liq_buf_put(b, "\\\"", 2);
				break;
			case '\\':
				liq_buf_put(b, "\\\\", 2);
				break;
			case '\n':
				liq_buf_put(b, "\\n", 2);
				break;
			case '\t':
				liq_buf_put(b, "\\t", 2);
				break;
			case '\r':
				liq_buf_put(b, "\\r", 2);
				break;
			case '\f':
				liq_buf_put(b, "\\f", 2);
				break;
			case '\v':
				liq_buf_put(b, "\\v", 2);
				break;
			case '\a':
				liq_buf_put(b, "\\a", 2);
				break;
			case '\b':
				liq_buf_put(b, "\\b", 2);
				break;
			case 27:
				liq_buf_put(b, "\\e", 2);
				break;
			case '#':
				if (i + 1 < n && (s[i + 1] == '{' || s[i + 1] == '$' || s[i + 1] == '@'))
					liq_buf_put(b, "\\#", 2);
				else
					liq_buf_putc(b, '#');
				break;
			default:
				if (c < 32 || c == 127)
				{
					char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
					liq_buf_put(b, e, 4);
				}
				else
				{
					liq_buf_putc(b, (char) c);
				}
		}
	}
	return liq_buf_putc(b, '"');
}

/* Append a scalar's to_s. */
static bool
scalar_to_s(liq_buf *b, liq_value v)
{
	char num[LIQ_NUMBUF];
	switch (v.type)
	{
		case LIQ_BOOL:
			return liq_buf_puts(b, v.u.b ? "true" : "false");
		case LIQ_INT:
			return liq_buf_put(b, num, liq_fmt_int(num, v.u.i));
		case LIQ_FLOAT:
			return liq_buf_put(b, num, liq_fmt_float(num, v.u.f));
		case LIQ_STRING:
			return liq_buf_put(b, v.u.s, v.len);
		case LIQ_RANGE:
		{
			size_t n = liq_fmt_int(num, v.u.r->lo);
			liq_buf_put(b, num, n);
			liq_buf_put(b, "..", 2);
			return liq_buf_put(b, num, liq_fmt_int(num, v.u.r->hi));
		}
		default:
			return !b->failed;
	}
}

/* Ruby inspect. */
bool
liq_inspect(liq_buf *b, liq_value v)
{
	size_t i;
	switch (v.type)
	{
		case LIQ_NIL:
			return liq_buf_puts(b, "nil");
		case LIQ_STRING:
			return inspect_string(b, v.u.s, v.len);
		case LIQ_ARRAY:
			liq_buf_putc(b, '[');
			for (i = 0; i < v.u.a->len && !b->failed; i++)
			{
				if (i)
					liq_buf_put(b, ", ", 2);
				liq_inspect(b, v.u.a->items[i]);
			}
			return liq_buf_putc(b, ']');
		case LIQ_OBJECT:
			liq_buf_putc(b, '{');
			for (i = 0; i < v.u.o->len && !b->failed; i++)
			{
				if (i)
					liq_buf_put(b, ", ", 2);
				inspect_string(b, v.u.o->items[i].key, v.u.o->items[i].klen);
				liq_buf_put(b, "=>", 2);
				liq_inspect(b, v.u.o->items[i].val);
			}
			return liq_buf_putc(b, '}');
		case LIQ_EMPTY:
		case LIQ_BLANK:
			return liq_buf_put(b, "\"\"", 2);
		default:
			return scalar_to_s(b, v);
	}
}

/* Ruby to_s: nil -> "", arrays and hashes -> inspect. */
bool
liq_to_s(liq_buf *b, liq_value v)
{
	if (v.type == LIQ_ARRAY || v.type == LIQ_OBJECT)
		return liq_inspect(b, v);
	return scalar_to_s(b, v);
}

/* Output rendering: arrays are flattened and concatenated. */
bool
liq_write_output(liq_buf *b, liq_value v)
{
	size_t i;
	if (v.type == LIQ_ARRAY)
	{
		for (i = 0; i < v.u.a->len && !b->failed; i++)
			liq_write_output(b, v.u.a->items[i]);
		return !b->failed;
	}
	return liq_to_s(b, v);
}

/* Value as a string value; nil -> "". */
liq_value
liq_stringify(liq_arena *ar, liq_value v)
{
	liq_buf b;
	if (v.type == LIQ_STRING)
		return v;
	if (v.type == LIQ_NIL || v.type == LIQ_EMPTY || v.type == LIQ_BLANK || v.type == LIQ_DROP)
		return liq_str("", 0);
	liq_buf_init(&b, ar, 0);
	liq_to_s(&b, v);
	if (b.failed)
		return liq_str("", 0);
	return liq_str(b.data ? b.data : "", b.len);
}

/* Number of UTF-8 characters in s. */
size_t
liq_utf8_len(const char *s, size_t n)
{
	size_t i, c = 0;
	for (i = 0; i < n; i++)
		if (((unsigned char) s[i] & 0xC0) != 0x80)
			c++;
	return c;
}

/* Byte offset of the character number `chars` in s (clamped to n). */
size_t
liq_utf8_offset(const char *s, size_t n, size_t chars)
{
	size_t i = 0, c = 0;
	while (i < n)
	{
		if (((unsigned char) s[i] & 0xC0) != 0x80)
		{
			if (c == chars)
				return i;
			c++;
		}
		i++;
	}
	return n;
}

/* Is the string value equal to the C word w? */
static bool
key_is(liq_value k, const char *w)
{
	size_t n = strlen(w);
	return k.len == n && memcmp(k.u.s, w, n) == 0;
}

/* forloop / tablerowloop fields. */
static liq_value
loop_prop(const liq_loop *l, liq_value key, bool *found)
{
	int64_t cols = l->cols > 0 ? l->cols : l->length;
	*found = true;
	if (key_is(key, "index"))
		return liq_int(l->index0 + 1);
	if (key_is(key, "index0"))
		return liq_int(l->index0);
	if (key_is(key, "rindex"))
		return liq_int(l->length - l->index0);
	if (key_is(key, "rindex0"))
		return liq_int(l->length - l->index0 - 1);
	if (key_is(key, "first"))
		return liq_bool(l->index0 == 0);
	if (key_is(key, "last"))
		return liq_bool(l->index0 == l->length - 1);
	if (key_is(key, "length"))
		return liq_int(l->length);
	if (!l->tablerow)
	{
		if (key_is(key, "name"))
			return l->name;
		if (key_is(key, "parentloop"))
			return l->parent ? liq_drop(l->parent) : liq_nil();
	}
	else if (cols > 0)
	{
		int64_t col0 = l->index0 % cols;
		if (key_is(key, "col"))
			return liq_int(col0 + 1);
		if (key_is(key, "col0"))
			return liq_int(col0);
		if (key_is(key, "col_first"))
			return liq_bool(col0 == 0);
		if (key_is(key, "col_last"))
			return liq_bool(col0 + 1 == cols);
		if (key_is(key, "row"))
			return liq_int(l->index0 / cols + 1);
	}
	*found = false;
	return liq_nil();
}

/* Property/index lookup with Liquid semantics; method: the lookup was written `.name`, so
 * size/first/last are the methods they are in Ruby (a `["name"]` lookup is a plain key lookup). */
liq_value
liq_prop(liq_arena *ar, liq_value v, liq_value key, bool method, bool *found)
{
	*found = true;
	if (!method && key.type == LIQ_STRING && v.type != LIQ_OBJECT && v.type != LIQ_DROP)
		return liq_nil(); /* only hashes have string keys */
	switch (v.type)
	{
		case LIQ_OBJECT:
			if (key.type == LIQ_STRING)
			{
				const liq_value *r = liq_object_get_h(v.u.o, key.u.s, key.len, liq_hash(key.u.s, key.len));
				if (r)
					return *r;
				if (!method)
				{
					*found = false;
					return liq_nil();
				}
				if (key_is(key, "size"))
					return liq_int((int64_t) v.u.o->len);
				if (key_is(key, "first"))
				{
					liq_value pair[2];
					if (!v.u.o->len)
						return liq_nil();
					pair[0] = liq_str(v.u.o->items[0].key, v.u.o->items[0].klen);
					pair[1] = v.u.o->items[0].val;
					return liq_array_from(ar, pair, 2);
				}
			}
			*found = false;
			return liq_nil();
		case LIQ_ARRAY:
		case LIQ_RANGE:
		{
			int64_t n = liq_seq_len(v);
			if (key.type == LIQ_INT)
			{
				int64_t i = key.u.i;
				if (i < 0)
					i += n;
				if (i < 0 || i >= n)
					return liq_nil();
				return liq_seq_at(v, i);
			}
			if (key.type == LIQ_STRING)
			{
				if (key_is(key, "size"))
					return liq_int(n);
				if (key_is(key, "first"))
					return n ? liq_seq_at(v, 0) : liq_nil();
				if (key_is(key, "last"))
					return n ? liq_seq_at(v, n - 1) : liq_nil();
			}
			return liq_nil();
		}
		case LIQ_STRING:
			if (key.type == LIQ_STRING && key_is(key, "size"))
				return liq_int((int64_t) liq_utf8_len(v.u.s, v.len));
			return liq_nil();
		case LIQ_INT:
			if (key.type == LIQ_STRING && key_is(key, "size"))
				return liq_int(8); /* Ruby Integer#size */
			return liq_nil();
		case LIQ_DROP:
			if (key.type == LIQ_STRING)
				return loop_prop((const liq_loop *) v.u.p, key, found);
			return liq_nil();
		default:
			return liq_nil();
	}
}
