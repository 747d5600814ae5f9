/*
 * text.h - UTF-8 text helpers used by filters.
 * Owns: Unicode case mapping for common scripts (Latin-1, Latin
 * Extended-A, Greek, Cyrillic), substring search and Ruby whitespace rules.
 */
#ifndef LIQ_TEXT_H
#define LIQ_TEXT_H
#include "buf.h"

/* Decode one UTF-8 code point at s (n bytes left); sets *len (>= 1). Invalid
 * bytes decode as themselves with length 1. */
uint32_t liq_utf8_decode(const char *s, size_t n, size_t *len);
/* Append code point cp as UTF-8. */
void liq_utf8_put(liq_buf *b, uint32_t cp);
/* Append s with every character upper-cased (upper=true) or lower-cased. */
void liq_case_map(liq_buf *b, const char *s, size_t n, bool upper);
/* Ruby String#capitalize: first character upper, the rest lower. */
void liq_capitalize(liq_buf *b, const char *s, size_t n);
/* Find needle in hay from byte offset `from`; returns offset or -1. */
long liq_find(const char *hay, size_t hn, const char *needle, size_t nn, size_t from);
/* Find the last occurrence of needle; returns offset or -1. */
long liq_rfind(const char *hay, size_t hn, const char *needle, size_t nn);
/* Ruby whitespace for strip (includes NUL). */
bool liq_strip_space(char c);
#endif
