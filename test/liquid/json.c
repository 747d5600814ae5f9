/*
 * json.c - minimal recursive-descent JSON reader producing liq_values.
 * Owns: JSON syntax, string escapes (incl. surrogate pairs) and the
 * int/float distinction used by the test runners.
 */
#include "json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct jp
{
	const char *p, *end;
	liq_arena  *ar;
	int			depth;
} jp;

static int parse_value(jp *j, liq_value *out);

/* Skip JSON whitespace. */
static void
ws(jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

/* Append a code point as UTF-8 to dst; returns bytes written. */
static int
put_utf8(char *dst, unsigned cp)
{
	if (cp < 0x80)
	{
		dst[0] = (char) cp;
		return 1;
	}
	if (cp < 0x800)
	{
		dst[0] = (char) (0xC0 | (cp >> 6));
		dst[1] = (char) (0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000)
	{
		dst[0] = (char) (0xE0 | (cp >> 12));
		dst[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
		dst[2] = (char) (0x80 | (cp & 0x3F));
		return 3;
	}
	dst[0] = (char) (0xF0 | (cp >> 18));
	dst[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
	dst[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
	dst[3] = (char) (0x80 | (cp & 0x3F));
	return 4;
}

/* Parse 4 hex digits. */
static int
hex4(const char *p, unsigned *v)
{
	int i;
	*v = 0;
	for (i = 0; i < 4; i++)
	{
		char c = p[i];
		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (unsigned) (c - '0');
		else if (c >= 'a' && c <= 'f')
			*v |= (unsigned) (c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v |= (unsigned) (c - 'A' + 10);
		else
			return -1;
	}
	return 0;
}

/* Parse a JSON string (after the opening quote) into arena memory. */
static int
parse_string(jp *j, const char **s, size_t *n)
{
	const char *st = j->p;
	char	   *buf, *o;
	size_t		cap = 0;
	while (st + cap < j->end && st[cap] != '"')
	{
		if (st[cap] == '\\')
			cap++;
		cap++;
	}
	buf = liq_arena_alloc(j->ar, cap + 1);
	if (!buf)
		return -1;
	o = buf;
	while (j->p < j->end && *j->p != '"')
	{
		char c = *j->p++;
		if (c != '\\')
		{
			*o++ = c;
			continue;
		}
		if (j->p >= j->end)
			return -1;
		c = *j->p++;
		switch (c)
		{
			case 'n':
				*o++ = '\n';
				break;
			case 't':
				*o++ = '\t';
				break;
			case 'r':
				*o++ = '\r';
				break;
			case 'b':
				*o++ = '\b';
				break;
			case 'f':
				*o++ = '\f';
				break;
			case 'u':
			{
				unsigned cp, lo;
				if (j->end - j->p < 4 || hex4(j->p, &cp))
					return -1;
				j->p += 4;
				if (cp >= 0xD800 && cp < 0xDC00 && j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u' &&
					!hex4(j->p + 2, &lo) && lo >= 0xDC00 && lo < 0xE000)
				{
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					j->p += 6;
				}
				o += put_utf8(o, cp);
				break;
			}
			default:
				*o++ = c;
				break;
		}
	}
	if (j->p >= j->end)
		return -1;
	j->p++;
	*o = 0;
	*s = buf;
	*n = (size_t) (o - buf);
	return 0;
}

/* Parse any JSON value. */
static int
parse_value(jp *j, liq_value *out)
{
	ws(j);
	if (j->p >= j->end || ++j->depth > 500)
		return -1;
	switch (*j->p)
	{
		case '{':
		{
			*out = liq_object_new(j->ar, 4);
			j->p++;
			ws(j);
			if (j->p < j->end && *j->p == '}')
			{
				j->p++;
				break;
			}
			for (;;)
			{
				const char *k;
				size_t		kn;
				liq_value	v;
				ws(j);
				if (j->p >= j->end || *j->p != '"')
					return -1;
				j->p++;
				if (parse_string(j, &k, &kn) < 0)
					return -1;
				ws(j);
				if (j->p >= j->end || *j->p != ':')
					return -1;
				j->p++;
				if (parse_value(j, &v) < 0 || !liq_object_set(j->ar, *out, k, kn, v))
					return -1;
				ws(j);
				if (j->p < j->end && *j->p == ',')
				{
					j->p++;
					continue;
				}
				if (j->p < j->end && *j->p == '}')
				{
					j->p++;
					break;
				}
				return -1;
			}
			break;
		}
		case '[':
		{
			*out = liq_array_new(j->ar, 4);
			j->p++;
			ws(j);
			if (j->p < j->end && *j->p == ']')
			{
				j->p++;
				break;
			}
			for (;;)
			{
				liq_value v;
				if (parse_value(j, &v) < 0 || !liq_array_push(j->ar, *out, v))
					return -1;
				ws(j);
				if (j->p < j->end && *j->p == ',')
				{
					j->p++;
					continue;
				}
				if (j->p < j->end && *j->p == ']')
				{
					j->p++;
					break;
				}
				return -1;
			}
			break;
		}
		case '"':
		{
			const char *s;
			size_t		n;
			j->p++;
			if (parse_string(j, &s, &n) < 0)
				return -1;
			*out = liq_string_ref(s, n);
			break;
		}
		case 't':
			if (j->end - j->p < 4 || memcmp(j->p, "true", 4))
				return -1;
			j->p += 4;
			*out = liq_bool(true);
			break;
		case 'f':
			if (j->end - j->p < 5 || memcmp(j->p, "false", 5))
				return -1;
			j->p += 5;
			*out = liq_bool(false);
			break;
		case 'n':
			if (j->end - j->p < 4 || memcmp(j->p, "null", 4))
				return -1;
			j->p += 4;
			*out = liq_nil();
			break;
		default:
		{
			const char *st = j->p;
			while (j->p < j->end && strchr("+-0123456789.eE", *j->p))
				j->p++;
			if (!liq_number_from_text(st, (size_t) (j->p - st), out))
				return -1;
		}
	}
	j->depth--;
	return 0;
}

/* Parse JSON text into *out allocating in ar. */
int
json_parse(liq_arena *ar, const char *s, size_t n, liq_value *out)
{
	jp j;
	j.p = s;
	j.end = s + n;
	j.ar = ar;
	j.depth = 0;
	if (parse_value(&j, out) < 0)
		return -1;
	ws(&j);
	return j.p == j.end ? 0 : -1;
}

/* Read a whole file into a malloc'd NUL-terminated buffer. */
char *
read_file(const char *path, size_t *len)
{
	FILE  *f = fopen(path, "rb");
	char  *buf = NULL;
	size_t cap = 0, n = 0;
	if (!f)
		return NULL;
	for (;;)
	{
		size_t r;
		if (n + 4096 + 1 > cap)
		{
			char *nb;
			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap);
			if (!nb)
			{
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	fclose(f);
	buf[n] = 0;
	*len = n;
	return buf;
}
