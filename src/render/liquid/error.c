/*
 * error.c - error reporting: message formatting, line/column computation and
 * source excerpts.
 * Owns: the liq_error contents and liq_error_kind_name().
 */
#include "error.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Reset err to "no error". */
void
liq_clear_error(liq_error *err)
{
	if (err)
		memset(err, 0, sizeof *err);
}

/* Static name of an error kind. */
const char *
liq_error_kind_name(liq_error_kind kind)
{
	switch (kind)
	{
		case LIQ_OK:
			return "ok";
		case LIQ_ERR_SYNTAX:
			return "syntax error";
		case LIQ_ERR_RENDER:
			return "render error";
		case LIQ_ERR_LIMIT:
			return "limit exceeded";
		case LIQ_ERR_UNDEFINED_VARIABLE:
			return "undefined variable";
		case LIQ_ERR_UNDEFINED_FILTER:
			return "undefined filter";
		case LIQ_ERR_RANGE:
			return "number out of range";
	}
	return "error";
}

/* Cut a truncated UTF-8 sequence off the end of a NUL-terminated string. */
static void
utf8_trim(char *s)
{
	size_t		  n = strlen(s), i = n, need;
	unsigned char c;
	while (i > 0 && ((unsigned char) s[i - 1] & 0xC0) == 0x80 && n - i < 4)
		i--;
	if (i == 0)
		return;
	c = (unsigned char) s[i - 1];
	if (c < 0x80)
		return;
	need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3
					   : c >= 0xC0	 ? 2
									 : 1;
	if (n - (i - 1) < need)
		s[i - 1] = 0;
}

/* Fill err with kind, message, position and excerpt. */
void
liq_set_error(liq_error *err, liq_error_kind kind, const char *src, size_t srclen,
			  size_t off, const char *fmt, ...)
{
	va_list ap;
	if (!err || err->kind != LIQ_OK)
		return;
	err->kind = kind;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	utf8_trim(err->message);
	err->line = err->column = 0;
	err->excerpt[0] = 0;
	if (src)
	{
		size_t i, ls = 0, le, n;
		int	   line = 1;
		if (off > srclen)
			off = srclen;
		for (i = 0; i < off; i++)
			if (src[i] == '\n')
			{
				line++;
				ls = i + 1;
			}
		err->line = line;
		err->column = (int) (off - ls) + 1;
		/* excerpt: from a bit before the column to the end of the line */
		if (off - ls > 40)
			ls = off - 40;
		while (ls < off && ((unsigned char) src[ls] & 0xC0) == 0x80)
			ls++; /* do not start inside a UTF-8 sequence */
		for (le = off; le < srclen && src[le] != '\n' && le - ls < sizeof err->excerpt - 1; le++)
			;
		while (le > ls && le < srclen && ((unsigned char) src[le] & 0xC0) == 0x80)
			le--; /* do not end inside a UTF-8 sequence */
		n = le - ls;
		memcpy(err->excerpt, src + ls, n);
		err->excerpt[n] = 0;
		for (i = 0; i < n; i++)
			if ((unsigned char) err->excerpt[i] < 32)
				err->excerpt[i] = ' ';
	}
}
