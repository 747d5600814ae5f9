/*
 * jvalue.c: the plain JSON value tree of jvalue.h (pure C): exact decimal comparison, jsonb
 * equality and printing, jsonb key order, and a JSON text parser with jsonb's rules.
 */
#include "jvalue.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Allocates n bytes (zeroed). */
void *
jv_calloc(const jv_alloc *a, size_t n)
{
	void *p = a->alloc(a->ctx, n ? n : 1);

	memset(p, 0, n ? n : 1);
	return p;
}

/* Starts an empty buffer. */
void
jv_buf_init(jv_buf *b, const jv_alloc *a)
{
	b->a = a;
	b->cap = 64;
	b->len = 0;
	b->data = jv_calloc(a, b->cap);
}

/* Appends len bytes. */
void
jv_buf_put(jv_buf *b, const char *s, size_t len)
{
	if (b->len + len + 1 > b->cap)
	{
		size_t cap = b->cap;
		char  *data;

		while (b->len + len + 1 > cap)
			cap *= 2;
		data = jv_calloc(b->a, cap);
		memcpy(data, b->data, b->len);
		b->data = data;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, len);
	b->len += len;
	b->data[b->len] = '\0';
}

/* Appends a NUL-terminated string. */
void
jv_buf_puts(jv_buf *b, const char *s)
{
	jv_buf_put(b, s, strlen(s));
}

/* Appends a printf-formatted string (the va_list form). */
static void buf_vprintf(jv_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void
buf_vprintf(jv_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int		n;
	char   *tmp;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	tmp = jv_calloc(b->a, (size_t) n + 1);
	vsnprintf(tmp, (size_t) n + 1, fmt, ap);
	jv_buf_put(b, tmp, (size_t) n);
}

/* Appends a printf-formatted string. */
void
jv_buf_printf(jv_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

/* A printf-formatted string in a's memory. */
char *
jv_sprintf(const jv_alloc *a, const char *fmt, ...)
{
	jv_buf	b;
	va_list ap;

	jv_buf_init(&b, a);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return b.data;
}

/* The first key of obj not in allowed, with what was expected there; NULL when all are. */
const char *
jv_unknown_key(const jv *obj, const char *const *allowed, const jv_alloc *a, const char **expected)
{
	for (size_t n = 0; n < obj->n; n++)
	{
		const char *key = obj->keys[n].str;
		int			i;
		jv_buf		b;

		for (i = 0; allowed[i] && strcmp(allowed[i], key) != 0; i++)
			;
		if (allowed[i])
			continue;
		jv_buf_init(&b, a);
		jv_buf_puts(&b, allowed[1] ? "one of the keys " : "only the key ");
		for (i = 0; allowed[i]; i++)
			jv_buf_printf(&b, "%s%s", i ? ", " : "", allowed[i]);
		jv_buf_puts(&b, " in this node");
		*expected = b.data;
		return key;
	}
	return NULL;
}

/* jsonb's key order: shorter first, then bytewise. */
static int
key_cmp(const jv *a, const jv *b)
{
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return memcmp(a->str, b->str, a->len);
}

/* The value of key in an object (binary search over the jsonb order). */
const jv *
jv_get(const jv *obj, const char *key)
{
	jv	   k = {.type = JV_STRING, .str = key, .len = strlen(key)};
	size_t lo = 0, hi;

	if (obj == NULL || obj->type != JV_OBJECT)
		return NULL;
	hi = obj->n;
	while (lo < hi)
	{
		size_t mid = lo + (hi - lo) / 2;
		int	   c = key_cmp(&obj->keys[mid], &k);

		if (c == 0)
			return &obj->items[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* A plain decimal split into sign, integer digits without leading zeros and fraction digits
 * without trailing zeros. */
typedef struct dec
{
	bool		neg;
	const char *ip, *fp;
	size_t		il, fl;
} dec;

/* Splits "-?digits(.digits)?" into a dec. */
static void
dec_split(const char *s, size_t len, dec *d)
{
	size_t i = 0, start;

	d->neg = len > 0 && s[0] == '-';
	i = d->neg ? 1 : 0;
	while (i < len && s[i] == '0')
		i++;
	start = i;
	while (i < len && s[i] != '.')
		i++;
	d->ip = s + start;
	d->il = i - start;
	d->fp = s + (i < len ? i + 1 : len);
	d->fl = i < len ? len - i - 1 : 0;
	while (d->fl > 0 && d->fp[d->fl - 1] == '0')
		d->fl--;
	if (d->il == 0 && d->fl == 0)
		d->neg = false; /* zero has no sign */
}

/* Compares two JSON numbers exactly: <0, 0, >0. */
int
jv_num_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	dec	   x, y;
	int	   c;
	size_t n;

	dec_split(a, alen, &x);
	dec_split(b, blen, &y);
	if (x.neg != y.neg)
		return x.neg ? -1 : 1;
	if (x.il != y.il)
		c = x.il < y.il ? -1 : 1;
	else if ((c = memcmp(x.ip, y.ip, x.il)) == 0)
	{
		n = x.fl < y.fl ? x.fl : y.fl;
		if ((c = memcmp(x.fp, y.fp, n)) == 0)
			c = (x.fl > y.fl) - (x.fl < y.fl);
	}
	c = c < 0 ? -1 : c > 0;
	return x.neg ? -c : c;
}

/* Compares a JSON number with a plain decimal written in C. */
int
jv_num_cmp_text(const jv *num, const char *decimal)
{
	return jv_num_cmp(num->str, num->len, decimal, strlen(decimal));
}

/* True if the number has no fractional part. */
bool
jv_num_is_integral(const jv *num)
{
	dec d;

	dec_split(num->str, num->len, &d);
	return d.fl == 0;
}

/* The number as an int64 if it is integral and fits, else false. */
bool
jv_num_int64(const jv *num, int64_t *out)
{
	dec		 d;
	uint64_t v = 0;

	dec_split(num->str, num->len, &d);
	if (d.fl != 0 || d.il > 19)
		return false;
	for (size_t i = 0; i < d.il; i++)
	{
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t) (d.ip[i] - '0');
	}
	if (d.neg ? v > (uint64_t) INT64_MAX + 1 : v > (uint64_t) INT64_MAX)
		return false;
	*out = d.neg ? (int64_t) (0 - v) : (int64_t) v;
	return true;
}

/* The number without trailing fractional zeros, as numeric_normalize prints it. */
const char *
jv_num_normalize(const jv *num, const jv_alloc *a)
{
	char  *s = jv_calloc(a, num->len + 1);
	size_t last;

	memcpy(s, num->str, num->len);
	if (memchr(s, '.', num->len) != NULL)
	{
		last = num->len - 1;
		while (s[last] == '0')
			last--;
		if (s[last] == '.')
			last--;
		s[last + 1] = '\0';
	}
	return s;
}

/* True if two values are equal as jsonb compares them. */
bool
jv_equal(const jv *a, const jv *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type)
	{
		case JV_NULL:
			return true;
		case JV_BOOL:
			return a->boolean == b->boolean;
		case JV_NUMBER:
			return jv_num_cmp(a->str, a->len, b->str, b->len) == 0;
		case JV_STRING:
			return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
		case JV_ARRAY:
		case JV_OBJECT:
			if (a->n != b->n)
				return false;
			for (size_t i = 0; i < a->n; i++)
				if ((a->type == JV_OBJECT && !jv_equal(&a->keys[i], &b->keys[i])) ||
					!jv_equal(&a->items[i], &b->items[i]))
					return false;
			return true;
	}
	return false;
}

/* Appends a string as a JSON string literal, escaped as jsonb's output escapes it. */
static void
print_string(jv_buf *b, const char *s, size_t len)
{
	jv_buf_put(b, "\"", 1);
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		switch (c)
		{
			case '\b':
				jv_buf_puts(b, "\\b");
				break;
			case '\f':
				jv_buf_puts(b, "\\f");
				break;
			case '\n':
				jv_buf_puts(b, "\\n");
				break;
			case '\r':
				jv_buf_puts(b, "\\r");
				break;
			case '\t':
				jv_buf_puts(b, "\\t");
				break;
			case '"':
				jv_buf_puts(b, "\\\"");
				break;
			case '\\':
				jv_buf_puts(b, "\\\\");
				break;
			default:
				if (c < ' ')
					jv_buf_printf(b, "\\u%04x", c);
				else
					jv_buf_put(b, (const char *) &s[i], 1);
		}
	}
	jv_buf_put(b, "\"", 1);
}

/* Appends the value as jsonb prints it. */
void
jv_print(jv_buf *b, const jv *v)
{
	switch (v->type)
	{
		case JV_NULL:
			jv_buf_puts(b, "null");
			break;
		case JV_BOOL:
			jv_buf_puts(b, v->boolean ? "true" : "false");
			break;
		case JV_NUMBER:
			jv_buf_put(b, v->str, v->len);
			break;
		case JV_STRING:
			print_string(b, v->str, v->len);
			break;
		case JV_ARRAY:
		case JV_OBJECT:
			jv_buf_puts(b, v->type == JV_ARRAY ? "[" : "{");
			for (size_t i = 0; i < v->n; i++)
			{
				if (i)
					jv_buf_puts(b, ", ");
				if (v->type == JV_OBJECT)
				{
					print_string(b, v->keys[i].str, v->keys[i].len);
					jv_buf_puts(b, ": ");
				}
				jv_print(b, &v->items[i]);
			}
			jv_buf_puts(b, v->type == JV_ARRAY ? "]" : "}");
			break;
	}
}

/* A key/value pair being ordered, with its position so that the last duplicate wins. */
typedef struct pair
{
	jv	   key, value;
	size_t pos;
} pair;

/* qsort order of pairs: jsonb key order, then position. */
static int
pair_cmp(const void *x, const void *y)
{
	const pair *a = x, *b = y;
	int			c = key_cmp(&a->key, &b->key);

	if (c != 0)
		return c;
	return (a->pos > b->pos) - (a->pos < b->pos);
}

/* Sorts an object's pairs into jsonb order and drops all but the last of duplicate keys. */
void
jv_object_finish(jv *obj, const jv_alloc *a)
{
	pair  *p;
	size_t n = 0;

	if (obj->n < 2)
		return;
	p = jv_calloc(a, sizeof(pair) * obj->n);
	for (size_t i = 0; i < obj->n; i++)
		p[i] = (pair){obj->keys[i], obj->items[i], i};
	qsort(p, obj->n, sizeof(pair), pair_cmp);
	for (size_t i = 0; i < obj->n; i++)
	{
		if (i + 1 < obj->n && key_cmp(&p[i].key, &p[i + 1].key) == 0)
			continue; /* a later duplicate follows */
		obj->keys[n] = p[i].key;
		obj->items[n] = p[i].value;
		n++;
	}
	obj->n = n;
}

/* ---- the text parser ---- */

/* Parser state. */
typedef struct parser
{
	const char	   *s, *end;
	const jv_alloc *a;
	int				max_depth;
	const char	   *error;
} parser;

/* Skips JSON white space. */
static void
skip_ws(parser *p)
{
	while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
		p->s++;
}

/* Records the first error; returns false for use in a return statement. */
static bool
fail(parser *p, const char *msg)
{
	if (p->error == NULL)
		p->error = msg;
	return false;
}

/* Appends a code point as UTF-8. */
static void
put_utf8(jv_buf *b, uint32_t c)
{
	char   u[4];
	size_t n;

	if (c < 0x80)
		u[0] = (char) c, n = 1;
	else if (c < 0x800)
		u[0] = (char) (0xC0 | (c >> 6)), u[1] = (char) (0x80 | (c & 0x3F)), n = 2;
	else if (c < 0x10000)
		u[0] = (char) (0xE0 | (c >> 12)), u[1] = (char) (0x80 | ((c >> 6) & 0x3F)),
		u[2] = (char) (0x80 | (c & 0x3F)), n = 3;
	else
		u[0] = (char) (0xF0 | (c >> 18)), u[1] = (char) (0x80 | ((c >> 12) & 0x3F)),
		u[2] = (char) (0x80 | ((c >> 6) & 0x3F)), u[3] = (char) (0x80 | (c & 0x3F)), n = 4;
	jv_buf_put(b, u, n);
}

/* Reads 4 hex digits. */
static bool
hex4(parser *p, uint32_t *out)
{
	*out = 0;
	if (p->end - p->s < 4)
		return fail(p, "a \\u escape needs four hex digits");
	for (int i = 0; i < 4; i++)
	{
		char c = *p->s++;

		*out <<= 4;
		if (c >= '0' && c <= '9')
			*out |= (uint32_t) (c - '0');
		else if (c >= 'a' && c <= 'f')
			*out |= (uint32_t) (c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*out |= (uint32_t) (c - 'A' + 10);
		else
			return fail(p, "a \\u escape needs four hex digits");
	}
	return true;
}

/* Length of a valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	size_t	 len, i;
	uint32_t c;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		len = 2, c = s[0] & 0x1F;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		len = 3, c = s[0] & 0x0F;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		len = 4, c = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++)
	{
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if ((len == 3 && (c < 0x800 || (c >= 0xD800 && c <= 0xDFFF))) || (len == 4 && (c < 0x10000 || c > 0x10FFFF)))
		return 0;
	return len;
}

/* Parses a string literal (at the opening quote) into out. */
static bool
parse_string(parser *p, jv *out)
{
	jv_buf b;

	jv_buf_init(&b, p->a);
	p->s++;
	for (;;)
	{
		unsigned char c;

		if (p->s >= p->end)
			return fail(p, "unterminated string");
		c = (unsigned char) *p->s;
		if (c == '"')
		{
			p->s++;
			break;
		}
		if (c < 0x20)
			return fail(p, "control character in a string");
		if (c == '\\')
		{
			uint32_t u, lo;

			if (++p->s >= p->end)
				return fail(p, "unterminated string");
			switch (*p->s++)
			{
				case '"':
					jv_buf_put(&b, "\"", 1);
					break;
				case '\\':
					jv_buf_put(&b, "\\", 1);
					break;
				case '/':
					jv_buf_put(&b, "/", 1);
					break;
				case 'b':
					jv_buf_put(&b, "\b", 1);
					break;
				case 'f':
					jv_buf_put(&b, "\f", 1);
					break;
				case 'n':
					jv_buf_put(&b, "\n", 1);
					break;
				case 'r':
					jv_buf_put(&b, "\r", 1);
					break;
				case 't':
					jv_buf_put(&b, "\t", 1);
					break;
				case 'u':
					if (!hex4(p, &u))
						return false;
					if (u == 0)
						return fail(p, "\\u0000 cannot be stored");
					if (u >= 0xDC00 && u <= 0xDFFF)
						return fail(p, "a lone low surrogate");
					if (u >= 0xD800 && u <= 0xDBFF)
					{
						if (p->end - p->s < 2 || p->s[0] != '\\' || p->s[1] != 'u')
							return fail(p, "a high surrogate without its low half");
						p->s += 2;
						if (!hex4(p, &lo))
							return false;
						if (lo < 0xDC00 || lo > 0xDFFF)
							return fail(p, "a high surrogate without its low half");
						u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
					}
					put_utf8(&b, u);
					break;
				default:
					return fail(p, "unknown escape");
			}
		}
		else
		{
			size_t n = utf8_seq((const unsigned char *) p->s, (size_t) (p->end - p->s));

			if (n == 0)
				return fail(p, "invalid UTF-8");
			jv_buf_put(&b, p->s, n);
			p->s += n;
		}
	}
	out->type = JV_STRING;
	out->str = b.data;
	out->len = b.len;
	return true;
}

#define MAX_INT_DIGITS 131072 /* numeric's limits */
#define MAX_FRAC_DIGITS 16383

/* Parses a number into plain decimal text, as numeric's input makes it. */
static bool
parse_number(parser *p, jv *out)
{
	const char *s = p->s, *ip, *fp = NULL;
	size_t		il, fl = 0, ndig;
	long		exp = 0;
	bool		neg = false;
	long		point, nfrac, k;
	char	   *digits;
	jv_buf		b;

	if (s < p->end && *s == '-')
		neg = true, s++;
	ip = s;
	if (s < p->end && *s == '0')
		s++;
	else if (s < p->end && *s >= '1' && *s <= '9')
		while (s < p->end && *s >= '0' && *s <= '9')
			s++;
	else
		return fail(p, "invalid number");
	il = (size_t) (s - ip);
	if (s < p->end && *s == '.')
	{
		fp = ++s;
		while (s < p->end && *s >= '0' && *s <= '9')
			s++;
		fl = (size_t) (s - fp);
		if (fl == 0)
			return fail(p, "invalid number");
	}
	if (s < p->end && (*s == 'e' || *s == 'E'))
	{
		bool eneg = false;

		s++;
		if (s < p->end && (*s == '+' || *s == '-'))
			eneg = *s++ == '-';
		if (s >= p->end || *s < '0' || *s > '9')
			return fail(p, "invalid number");
		while (s < p->end && *s >= '0' && *s <= '9')
		{
			if (exp < 100000000)
				exp = exp * 10 + (*s - '0');
			s++;
		}
		if (eneg)
			exp = -exp;
	}
	p->s = s;
	/* all digits, the point after 'point' of them */
	ndig = il + fl;
	digits = jv_calloc(p->a, ndig + 1);
	memcpy(digits, ip, il);
	if (fl)
		memcpy(digits + il, fp, fl);
	point = (long) il + exp;
	nfrac = (long) fl - exp;
	if (nfrac > MAX_FRAC_DIGITS || point > MAX_INT_DIGITS + (long) ndig)
		return fail(p, "number out of numeric's range");
	jv_buf_init(&b, p->a);
	if (neg)
		jv_buf_put(&b, "-", 1);
	if (point <= 0)
		jv_buf_put(&b, "0", 1);
	for (k = 0; k < point; k++)
		jv_buf_put(&b, k < (long) ndig ? &digits[k] : "0", 1);
	if (nfrac > 0)
	{
		jv_buf_put(&b, ".", 1);
		for (k = point; k < (long) ndig; k++)
			jv_buf_put(&b, k < 0 ? "0" : &digits[k], 1);
	}
	/* strip leading zeros of the integer part, and the sign of zero */
	{
		char	   *t = b.data + (neg ? 1 : 0);
		size_t		lead = 0;
		const char *dot;
		dec			d;

		while (t[lead] == '0' && t[lead + 1] >= '0' && t[lead + 1] <= '9')
			lead++;
		memmove(t, t + lead, strlen(t + lead) + 1);
		b.len -= lead;
		dot = strchr(t, '.');
		if ((size_t) ((dot ? dot : t + strlen(t)) - t) > MAX_INT_DIGITS)
			return fail(p, "number out of numeric's range");
		dec_split(b.data, b.len, &d);
		if (neg && !d.neg)
		{
			memmove(b.data, b.data + 1, b.len);
			b.len--;
		}
	}
	out->type = JV_NUMBER;
	out->str = b.data;
	out->len = b.len;
	return true;
}

static bool parse_value(parser *p, jv *out, int depth);

/* Parses an array or an object (at its opening bracket). */
static bool
parse_container(parser *p, jv *out, int depth)
{
	bool   object = *p->s == '{';
	char   close = object ? '}' : ']';
	size_t cap = 4;

	if (depth >= p->max_depth)
		return fail(p, "nested too deeply");
	p->s++;
	out->type = object ? JV_OBJECT : JV_ARRAY;
	out->items = jv_calloc(p->a, sizeof(jv) * cap);
	if (object)
		out->keys = jv_calloc(p->a, sizeof(jv) * cap);
	skip_ws(p);
	if (p->s < p->end && *p->s == close)
	{
		p->s++;
		return true;
	}
	for (;;)
	{
		if (out->n == cap)
		{
			jv *items = jv_calloc(p->a, sizeof(jv) * cap * 2);

			memcpy(items, out->items, sizeof(jv) * cap);
			out->items = items;
			if (object)
			{
				jv *keys = jv_calloc(p->a, sizeof(jv) * cap * 2);

				memcpy(keys, out->keys, sizeof(jv) * cap);
				out->keys = keys;
			}
			cap *= 2;
		}
		skip_ws(p);
		if (object)
		{
			if (p->s >= p->end || *p->s != '"')
				return fail(p, "expected a key");
			if (!parse_string(p, &out->keys[out->n]))
				return false;
			skip_ws(p);
			if (p->s >= p->end || *p->s != ':')
				return fail(p, "expected ':'");
			p->s++;
		}
		if (!parse_value(p, &out->items[out->n], depth + 1))
			return false;
		out->n++;
		skip_ws(p);
		if (p->s < p->end && *p->s == ',')
		{
			p->s++;
			continue;
		}
		if (p->s < p->end && *p->s == close)
		{
			p->s++;
			break;
		}
		return fail(p, "expected ',' or a closing bracket");
	}
	if (object)
		jv_object_finish(out, p->a);
	return true;
}

/* Parses one value. */
static bool
parse_value(parser *p, jv *out, int depth)
{
	skip_ws(p);
	if (p->s >= p->end)
		return fail(p, "unexpected end of input");
	switch (*p->s)
	{
		case '{':
		case '[':
			return parse_container(p, out, depth);
		case '"':
			return parse_string(p, out);
		case 't':
		case 'f':
		case 'n':
		{
			static const char *const words[] = {"true", "false", "null"};

			for (int i = 0; i < 3; i++)
			{
				size_t n = strlen(words[i]);

				if ((size_t) (p->end - p->s) >= n && memcmp(p->s, words[i], n) == 0)
				{
					p->s += n;
					out->type = i == 2 ? JV_NULL : JV_BOOL;
					out->boolean = i == 0;
					return true;
				}
			}
			return fail(p, "invalid literal");
		}
		default:
			return parse_number(p, out);
	}
}

/* Parses JSON text as jsonb's input does; NULL and a message in *error on malformed input. */
jv *
jv_parse(const char *text, size_t len, int max_depth, const jv_alloc *a, const char **error)
{
	parser p = {.s = text, .end = text + len, .a = a, .max_depth = max_depth};
	jv	  *out = jv_calloc(a, sizeof(jv));

	if (parse_value(&p, out, 0))
	{
		skip_ws(&p);
		if (p.s == p.end)
			return out;
		fail(&p, "trailing characters after the value");
	}
	*error = p.error;
	return NULL;
}
