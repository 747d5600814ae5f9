/*
 * rule_host.h: the rule compiler's host in plain C for the fuzz harnesses that compile rules
 * (rule_fuzz.c, journey_fuzz.c): a field table with every kind, intervals "N unit" (N > 0, at
 * most 100 years) and timestamps "YYYY-MM-DD[ HH:MM[:SS]]" in the years 1 to 9999 (the server
 * uses PostgreSQL's own parsers).
 */
#ifndef FUZZ_RULE_HOST_H
#define FUZZ_RULE_HOST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jv_arena.h"
#include "segment/rule_core.h"

/* The profile field table: a field of every kind, as-of and model fields among them. */
static const rule_field fields[] = {
	{"event_count", 'n', "event_count", true, 0},
	{"last_seen_at", 't', "last_seen_at", true, 0},
	{"created_at", 't', "created_at", false, 0},
	{"email", 's', "email", false, 0},
	{"do_not_sell", 'b', "consent", false, 0},
	{"p_alive", 'n', "clv", true, 'p'},
	{"cluster", 'n', "cluster", false, 'k'},
	{NULL, 0, NULL, false, 0}};

/* The units of "N unit", with how many fit in a year (roughly, for the bound) and their size. */
static const struct
{
	const char *unit;
	long		per_year;
	int			months, days;
	int64_t		usecs;
} units[] = {{"seconds", 31536000, 0, 0, 1000000},
			 {"minutes", 525600, 0, 0, 60000000},
			 {"hours", 8760, 0, 0, 3600000000},
			 {"days", 365, 0, 1, 0},
			 {"weeks", 52, 0, 7, 0},
			 {"mons", 12, 1, 0, 0},
			 {"years", 1, 12, 0, 0}};

/* Reads "N unit" (the unit in full or without its last letter): the unit's index, or -1. */
static int
read_interval(const char *s, long *n)
{
	int i = 0;

	*n = 0;
	while (s[i] >= '0' && s[i] <= '9' && *n < 100000000)
		*n = *n * 10 + (s[i++] - '0');
	if (i == 0 || s[i++] != ' ')
		return -1;
	for (size_t u = 0; u < sizeof units / sizeof units[0]; u++)
		if (strcmp(s + i, units[u].unit) == 0 || strncmp(s + i, units[u].unit, strlen(units[u].unit) - 1) == 0)
			return (int) u;
	return -1;
}

/* "N unit" with N > 0 and at most 100 years, as a literal. */
static const char *
interval_literal(void *ctx, const char *s, const char **expected)
{
	long n;
	int	 u = read_interval(s, &n);

	(void) ctx;
	if (u < 0)
		return NULL;
	if (n == 0 || n > 100 * units[u].per_year)
	{
		*expected = "a positive interval of at most 100 years";
		return NULL;
	}
	return jv_sprintf(&arena, "'%ld %s'::interval", n, units[u].unit);
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

/* The host both harnesses compile rules with. */
static const rule_host fuzz_rule_host = {{arena_alloc, NULL}, fields, interval_literal, timestamp_literal, no_interrupts, NULL};

#endif
