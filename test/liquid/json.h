/*
 * json.h - minimal JSON reader for the standalone test tools.
 * Owns: parsing JSON text into liq_value trees (ints stay ints, numbers
 * with a fraction or exponent become floats, like jsonb numeric scale).
 */
#ifndef LIQ_TEST_JSON_H
#define LIQ_TEST_JSON_H
#include "liquid.h"

/* Parse JSON text into *out allocating in ar; returns 0 or -1. */
int json_parse(liq_arena *ar, const char *s, size_t n, liq_value *out);
/* Read a whole file into a malloc'd NUL-terminated buffer; NULL on error. */
char *read_file(const char *path, size_t *len);
#endif
