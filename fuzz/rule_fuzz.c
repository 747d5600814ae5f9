/*
 * rule_fuzz.c: libFuzzer harness over the segment rule compiler's pure-C core (the code the
 * server runs: src/segment/rule_core.c) on a rule given as JSON text. A rule is refused with a
 * path and what was expected, or compiled into two statements whose quotes and parentheses
 * balance outside string literals (no rule text can escape its literal). The host is plain C
 * (rule_host.h).
 * Build/run: fuzz/run rule [seconds]
 */
#include <stdint.h>

#include "rule_host.h"

/* Aborts unless quotes and parentheses balance outside the string literals of sql. */
static void
check_balanced(const char *sql)
{
	bool   in_literal = false, in_ident = false;
	long   depth = 0;
	size_t len = strlen(sql);

	for (size_t i = 0; i < len; i++)
	{
		char c = sql[i];

		if (in_literal)
			in_literal = c != '\'';
		else if (in_ident)
			in_ident = c != '"';
		else if (c == '\'')
			in_literal = true;
		else if (c == '"')
			in_ident = true;
		else if (c == '(')
			depth++;
		else if (c == ')' && --depth < 0)
			abort();
		else if ((c == ';') || (c == '-' && sql[i + 1] == '-') || (c == '/' && sql[i + 1] == '*'))
			abort(); /* no statement separator or comment outside a literal */
	}
	if (in_literal || in_ident || depth != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input: a rule as JSON text. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	 *err = NULL;
	rule_host	  h = fuzz_rule_host;
	rule_compiled c;
	rule_error	  e;
	jv			 *rule = jv_parse((const char *) data, size, 200, &arena, &err);

	if (rule)
	{
		check_round_trip(rule);
		if (rule_core_compile(rule, &h, &c, &e))
		{
			check_balanced(c.live);
			check_balanced(c.full);
		}
		else if (e.kind != RULE_ERR_INVALID || e.path == NULL || e.path[0] != '$' || e.expected == NULL)
			abort();
	}
	arena_reset();
	return 0;
}
