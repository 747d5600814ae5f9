/*
 * rule_fuzz.c: libFuzzer harness over the segment rule compiler's pure-C core (the code the
 * server runs: src/segment/rule_core.c) on a rule given as JSON text. A rule is refused with a
 * path and what was expected, or compiled into two statements whose quotes and parentheses
 * balance outside string literals (no rule text can escape its literal). The host is plain C: a
 * field table with every kind, intervals "N unit" (N > 0, at most 100 years) and timestamps
 * "YYYY-MM-DD[ HH:MM[:SS]]" in the years 1 to 9999 (the server uses PostgreSQL's own parsers).
 * Build/run: fuzz/run rule [seconds]
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "segment/rule_core.h"
#include "jv_arena.h"

static const rule_field fields[] = {
	{"event_count", 'n', "event_count", true, 0},
	{"last_seen_at", 't', "last_seen_at", true, 0},
	{"created_at", 't', "created_at", false, 0},
	{"email", 's', "email", false, 0},
	{"do_not_sell", 'b', "consent", false, 0},
	{"p_alive", 'n', "clv", true, 'p'},
	{"cluster", 'n', "cluster", false, 'k'},
	{NULL, 0, NULL, false, 0}};

/* "N unit" with N > 0 and at most 100 years, as a literal. */
static const char *
interval_literal(void *ctx, const char *s, const char **expected)
{
	static const struct
	{
		const char *unit;
		long		per_year; /* how many fit in a year (roughly, for the bound) */
	} units[] = {{"seconds", 31536000}, {"minutes", 525600}, {"hours", 8760}, {"days", 365}, {"weeks", 52}, {"mons", 12}, {"years", 1}};
	long n = 0;
	int	 i = 0;

	(void) ctx;
	while (s[i] >= '0' && s[i] <= '9' && n < 100000000)
		n = n * 10 + (s[i++] - '0');
	if (i == 0 || s[i++] != ' ')
		return NULL;
	for (size_t u = 0; u < sizeof units / sizeof units[0]; u++)
		if (strcmp(s + i, units[u].unit) == 0 || strncmp(s + i, units[u].unit, strlen(units[u].unit) - 1) == 0)
		{
			if (n == 0 || n > 100 * units[u].per_year)
			{
				*expected = "a positive interval of at most 100 years";
				return NULL;
			}
			return jv_sprintf(&arena, "'%ld %s'::interval", n, units[u].unit);
		}
	return NULL;
}

/* "YYYY-MM-DD[ HH:MM[:SS]]" in the years 1 to 9999, as a literal and microseconds. */
static const char *
timestamp_literal(void *ctx, const char *s, int64_t *usecs, const char **expected)
{
	int	 y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0, n = 0;
	long days;

	(void) ctx;
	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 ||
		(s[n] != '\0' && sscanf(s + n, " %2d:%2d%n", &h, &mi, &n) < 2 && (n = -1) < 0))
		return NULL;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59)
		return NULL;
	if (y < 1 || y > 9999)
	{
		*expected = "a timestamp in the years 1 to 9999";
		return NULL;
	}
	days = (long) y * 372 + mo * 31 + d; /* orders dates; not a calendar */
	*usecs = ((int64_t) days * 86400 + h * 3600 + mi * 60 + se) * 1000000;
	return jv_sprintf(&arena, "'%04d-%02d-%02d %02d:%02d:%02d+00'::timestamptz", y, mo, d, h, mi, se);
}

/* Nothing to interrupt here. */
static void
no_interrupts(void *ctx)
{
	(void) ctx;
}

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
	rule_host	  h = {arena, fields, interval_literal, timestamp_literal, no_interrupts, NULL};
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
