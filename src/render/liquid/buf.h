/*
 * buf.h - growable byte buffer used for output and string building.
 * Owns: amortised O(1) appends inside an arena, with a hard byte cap.
 */
#ifndef LIQ_BUF_H
#define LIQ_BUF_H
#include "arena.h"

typedef struct liq_buf
{
	liq_arena *ar;
	char	  *data;
	size_t	   len, cap;
	size_t	   max;	   /* hard cap on len (0 = 1 GiB) */
	bool	   failed; /* OOM or cap exceeded: further appends are ignored */
} liq_buf;

/* Initialise an empty buffer allocating from ar, capped at max bytes. */
void liq_buf_init(liq_buf *b, liq_arena *ar, size_t max);
/* Append n bytes; returns false (and sets failed) on OOM / cap. */
bool liq_buf_put(liq_buf *b, const char *s, size_t n);
/* Append one byte. */
bool liq_buf_putc(liq_buf *b, char c);
/* Append a NUL-terminated string. */
bool liq_buf_puts(liq_buf *b, const char *s);
/* Make sure n more bytes fit; returns false on OOM / cap. */
bool liq_buf_reserve(liq_buf *b, size_t n);
#endif
