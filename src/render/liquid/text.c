/*
 * text.c - UTF-8 helpers: decoding/encoding, case mapping and searching.
 * Owns: the (deliberately partial) Unicode case tables and byte-level
 * substring search used by string filters.
 */
#define _GNU_SOURCE 1 /* memmem */
#include "text.h"
#include <string.h>

/* Decode one UTF-8 code point. */
uint32_t
liq_utf8_decode(const char *s, size_t n, size_t *len)
{
	const unsigned char *u = (const unsigned char *) s;
	if (u[0] < 0x80 || n < 2)
	{
		*len = 1;
		return u[0];
	}
	if ((u[0] & 0xE0) == 0xC0 && (u[1] & 0xC0) == 0x80)
	{
		*len = 2;
		return ((uint32_t) (u[0] & 0x1F) << 6) | (u[1] & 0x3F);
	}
	if (n >= 3 && (u[0] & 0xF0) == 0xE0 && (u[1] & 0xC0) == 0x80 && (u[2] & 0xC0) == 0x80)
	{
		*len = 3;
		return ((uint32_t) (u[0] & 0x0F) << 12) | ((uint32_t) (u[1] & 0x3F) << 6) | (u[2] & 0x3F);
	}
	if (n >= 4 && (u[0] & 0xF8) == 0xF0 && (u[1] & 0xC0) == 0x80 && (u[2] & 0xC0) == 0x80 && (u[3] & 0xC0) == 0x80)
	{
		*len = 4;
		return ((uint32_t) (u[0] & 0x07) << 18) | ((uint32_t) (u[1] & 0x3F) << 12) | ((uint32_t) (u[2] & 0x3F) << 6) |
			   (u[3] & 0x3F);
	}
	*len = 1;
	return 0x80000000u | u[0]; /* marker: raw invalid byte */
}

/* Append code point cp as UTF-8. */
void
liq_utf8_put(liq_buf *b, uint32_t cp)
{
	char o[4];
	if (cp & 0x80000000u)
	{
		liq_buf_putc(b, (char) (cp & 0xFF));
	}
	else if (cp < 0x80)
	{
		liq_buf_putc(b, (char) cp);
	}
	else if (cp < 0x800)
	{
		o[0] = (char) (0xC0 | (cp >> 6));
		o[1] = (char) (0x80 | (cp & 0x3F));
		liq_buf_put(b, o, 2);
	}
	else if (cp < 0x10000)
	{
		o[0] = (char) (0xE0 | (cp >> 12));
		o[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char) (0x80 | (cp & 0x3F));
		liq_buf_put(b, o, 3);
	}
	else
	{
		o[0] = (char) (0xF0 | (cp >> 18));
		o[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
		o[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
		o[3] = (char) (0x80 | (cp & 0x3F));
		liq_buf_put(b, o, 4);
	}
}

/* Upper-case one code point (common scripts only). */
static uint32_t
to_upper(uint32_t c)
{
	if (c >= 'a' && c <= 'z')
		return c - 32;
	if (c < 0x80)
		return c;
	if ((c >= 0xE0 && c <= 0xFE && c != 0xF7))
		return c - 32;
	if (c == 0xFF)
		return 0x178;
	if (c == 0xB5)
		return 0x39C;
	if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17F)
	{
		bool odd_lower = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
		if (odd_lower ? (c & 1) == 0 : (c & 1) == 1)
			return c - 1;
		return c;
	}
	if (c == 0x131)
		return 'I';
	if (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2)
		return c - 32;
	if (c == 0x3C2)
		return 0x3A3;
	if (c >= 0x3AC && c <= 0x3AF)
	{
		static const uint32_t m[] = {0x386, 0x388, 0x389, 0x38A};
		return m[c - 0x3AC];
	}
	if (c == 0x3CC)
		return 0x38C;
	if (c == 0x3CD || c == 0x3CE)
		return c - 0x3CD + 0x38E;
	if (c >= 0x430 && c <= 0x44F)
		return c - 32;
	if (c >= 0x450 && c <= 0x45F)
		return c - 80;
	if (c >= 0x460 && c <= 0x4FF && (c & 1))
		return c - 1;
	return c;
}

/* Lower-case one code point (common scripts only). */
static uint32_t
to_lower(uint32_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c + 32;
	if (c < 0x80)
		return c;
	if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
		return c + 32;
	if (c == 0x178)
		return 0xFF;
	if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17F)
	{
		bool odd_lower = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
		if (odd_lower ? (c & 1) == 1 : (c & 1) == 0)
			return c + 1;
		return c;
	}
	if (c == 0x130)
		return 'i';
	if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2)
		return c + 32;
	if (c == 0x386)
		return 0x3AC;
	if (c >= 0x388 && c <= 0x38A)
		return c - 0x388 + 0x3AD;
	if (c == 0x38C)
		return 0x3CC;
	if (c == 0x38E || c == 0x38F)
		return c - 0x38E + 0x3CD;
	if (c >= 0x410 && c <= 0x42F)
		return c + 32;
	if (c >= 0x400 && c <= 0x40F)
		return c + 80;
	if (c >= 0x460 && c <= 0x4FF && !(c & 1))
		return c + 1;
	return c;
}

/* Append the upper/lower mapping of one code point. */
static void
put_mapped(liq_buf *b, uint32_t cp, bool upper)
{
	if (upper && cp == 0xDF)
	{ /* ß -> SS */
		liq_buf_put(b, "SS", 2);
		return;
	}
	liq_utf8_put(b, (cp & 0x80000000u) ? cp : upper ? to_upper(cp)
													: to_lower(cp));
}

/* Append s with every character upper- or lower-cased. */
void
liq_case_map(liq_buf *b, const char *s, size_t n, bool upper)
{
	size_t i = 0, l;
	liq_buf_reserve(b, n);
	while (i < n)
	{
		uint32_t cp = liq_utf8_decode(s + i, n - i, &l);
		put_mapped(b, cp, upper);
		i += l;
	}
}

/* Ruby String#capitalize. */
void
liq_capitalize(liq_buf *b, const char *s, size_t n)
{
	size_t	 l;
	uint32_t cp;
	if (!n)
		return;
	cp = liq_utf8_decode(s, n, &l);
	if (cp == 0xDF)
		liq_buf_put(b, "Ss", 2);
	else
		put_mapped(b, cp, true);
	liq_case_map(b, s + l, n - l, false);
}

/* Find needle in hay from byte offset `from`; returns offset or -1. */
long
liq_find(const char *hay, size_t hn, const char *needle, size_t nn, size_t from)
{
	const char *p;
	if (from > hn)
		return -1;
	if (nn == 0)
		return (long) from;
	if (nn > hn - from)
		return -1;
	/* glibc memmem is linear (two-way), so hostile inputs cannot go quadratic */
	p = memmem(hay + from, hn - from, needle, nn);
	return p ? (long) (p - hay) : -1;
}

/* Find the last occurrence of needle; returns offset or -1. */
long
liq_rfind(const char *hay, size_t hn, const char *needle, size_t nn)
{
	size_t i;
	if (nn > hn)
		return -1;
	for (i = hn - nn + 1; i-- > 0;)
		if (memcmp(hay + i, needle, nn) == 0)
			return (long) i;
	return -1;
}

/* Ruby whitespace for strip (includes NUL). */
bool
liq_strip_space(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r') || c == 0;
}
