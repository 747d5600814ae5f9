/*
 * strbuf.h: growable byte buffers of the sender (malloc'd; out of memory ends the process,
 * as a daemon that cannot allocate cannot deliver either).
 */
#ifndef SENDER_STRBUF_H
#define SENDER_STRBUF_H

#include <stddef.h>

typedef struct strbuf
{
	char  *data;
	size_t len;
	size_t cap;
} strbuf;

/* An empty buffer (data is always NUL-terminated once anything was added). */
void sb_init(strbuf *sb);
/* Frees the buffer's memory and empties it. */
void sb_free(strbuf *sb);
/* Empties the buffer, keeping its memory. */
void sb_reset(strbuf *sb);
/* Appends n bytes. */
void sb_add(strbuf *sb, const char *p, size_t n);
/* Appends a NUL-terminated string. */
void sb_adds(strbuf *sb, const char *s);
/* Appends one byte. */
void sb_addc(strbuf *sb, char c);
/* Appends printf-formatted text. */
void sb_printf(strbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* malloc that ends the process when memory is exhausted. */
void *xmalloc(size_t n);
/* strdup that ends the process when memory is exhausted; NULL stays NULL. */
char *xstrdup(const char *s);

#endif
