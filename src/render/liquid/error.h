/*
 * error.h - error reporting helpers shared by parser and renderer.
 * Owns: filling liq_error (kind, message, line/column, excerpt).
 */
#ifndef LIQ_ERROR_H
#define LIQ_ERROR_H
#include "liquid.h"

/* Fill err with kind and a printf-style message; position from src/off
 * (src may be NULL when unknown). Does nothing if err already holds an error. */
void liq_set_error(liq_error *err, liq_error_kind kind, const char *src, size_t srclen,
				   size_t off, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 6, 7)))
#endif
	;
/* Reset err to "no error". */
void liq_clear_error(liq_error *err);
#endif
