/*
 * strbuf.c: growable byte buffers and allocation helpers of the sender.
 */
#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Ends the process: the sender cannot work without memory. */
static void
out_of_memory(void)
{
	fputs("personalize-sender: out of memory\n", stderr);
	abort();
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		out_of_memory();
	return p;
}

char *
xstrdup(const char *s)
{
	char *p;

	if (!s)
		return NULL;
	p = strdup(s);
	if (!p)
		out_of_memory();
	return p;
}

void
sb_init(strbuf *sb)
{
	sb->data = NULL;
	sb->len = 0;
	sb->cap = 0;
}

void
sb_free(strbuf *sb)
{
	free(sb->data);
	sb_init(sb);
}

void
sb_reset(strbuf *sb)
{
	sb->len = 0;
	if (sb->data)
		sb->data[0] = '\0';
}

/* Makes room for n more bytes and the terminating NUL. */
static void
sb_grow(strbuf *sb, size_t n)
{
	size_t need = sb->len + n + 1;
	char  *p;

	if (need <= sb->cap)
		return;
	if (sb->cap == 0)
		sb->cap = 256;
	while (sb->cap < need)
		sb->cap *= 2;
	p = realloc(sb->data, sb->cap);
	if (!p)
		out_of_memory();
	sb->data = p;
}

void
sb_add(strbuf *sb, const char *p, size_t n)
{
	sb_grow(sb, n);
	if (n)
		memcpy(sb->data + sb->len, p, n);
	sb->len += n;
	sb->data[sb->len] = '\0';
}

void
sb_adds(strbuf *sb, const char *s)
{
	sb_add(sb, s, strlen(s));
}

void
sb_addc(strbuf *sb, char c)
{
	sb_add(sb, &c, 1);
}

void
sb_printf(strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int		n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	sb_grow(sb, (size_t) n);
	va_start(ap, fmt);
	vsnprintf(sb->data + sb->len, (size_t) n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t) n;
}
