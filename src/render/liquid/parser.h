/*
 * parser.h - compiles template source into the AST of ast.h.
 * Owns: tag grammar (strict mode), expressions, filters, conditions,
 * whitespace control and blank-body stripping.
 */
#ifndef LIQ_PARSER_H
#define LIQ_PARSER_H
#include "ast.h"

/* Parse src into body, allocating in ar. Returns 0 or -1 with err set.
 * src must stay alive as long as the body (text nodes point into it). */
int liq_parse(liq_arena *ar, const char *src, size_t len, int max_depth,
			  liq_body *body, liq_error *err);
#endif
