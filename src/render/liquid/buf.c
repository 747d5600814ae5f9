/*
 * buf.c - growable byte buffer (amortised doubling) living in an arena.
 * Owns: output accumulation and string building without quadratic copies.
 */
#include "buf.h"
#include <string.h>

/* Initialise an empty buffer allocating from ar, capped at max bytes. */
void
liq_buf_init(liq_buf *b, liq_arena *ar, size_t max)
{
	b->ar = ar;
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max ? max : ((size_t) 1 << 30);
	b->failed = false;
}

/* Make sure n more bytes (plus a NUL) fit; returns false on OOM / cap. */
bool
liq_buf_reserve(liq_buf *b, size_t n)
{
	size_t need, ncap;
	char  *nd;
	if (b->failed)
		return false;
	if (n > b->max || b->len > b->max - n)
	{
		b->failed = true;
		return false;
	}
	need = b->len + n + 1;
	if (need <= b->cap)
		return true;
	ncap = b->cap ? b->cap * 2 : 64;
	while (ncap < need)
		ncap *= 2;
	nd = liq_arena_alloc(b->ar, ncap);
	if (!nd)
	{
		b->failed = true;
		return false;
	}
	if (b->len)
		memcpy(nd, b->data, b->len);
	b->data = nd;
	b->cap = ncap;
	return true;
}

/* Append n bytes; returns false (and sets failed) on OOM / cap. */
bool
liq_buf_put(liq_buf *b, const char *s, size_t n)
{
	if (!n)
		return !b->failed;
	if (!liq_buf_reserve(b, n))
		return false;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	return true;
}

/* Append one byte. */
bool
liq_buf_putc(liq_buf *b, char c)
{
	return liq_buf_put(b, &c, 1);
}

/* Append a NUL-terminated string. */
bool
liq_buf_puts(liq_buf *b, const char *s)
{
	return liq_buf_put(b, s, strlen(s));
}
