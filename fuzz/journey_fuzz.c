/*
 * journey_fuzz.c: libFuzzer harness over the journey definition checker's pure-C core (the code
 * the server runs: src/journey/journey_core.c, with the rule compiler's core for its rules and
 * "where" filters) on a definition given as JSON text. A definition is refused with a path and
 * what was expected, or accepted with an entry kind and names whose lists and paths agree.
 * The host is plain C: the rule host of rule_host.h; durations "[-]N unit" (the server uses
 * PostgreSQL's interval parser); times of day "HH:MM[:SS]" up to 24:00:00 (time_in's range).
 * Build/run: fuzz/run journey [seconds]
 */
#include <stdint.h>

#include "journey/journey_core.h"
#include "rule_host.h"

/* "[-]N unit" as months, days and microseconds (false when it leaves their range). */
static bool
interval_parts(void *ctx, const char *s, int32_t *months, int32_t *days, int64_t *usecs)
{
	int		sign = s[0] == '-' ? -1 : 1;
	long	n;
	int		u = read_interval(s + (sign < 0), &n);
	int64_t m, d;

	(void) ctx;
	if (u < 0)
		return false;
	m = (int64_t) sign * n * units[u].months;
	d = (int64_t) sign * n * units[u].days;
	if (m < INT32_MIN || m > INT32_MAX || d < INT32_MIN || d > INT32_MAX)
		return false;
	*months = (int32_t) m;
	*days = (int32_t) d;
	*usecs = (int64_t) sign * n * units[u].usecs;
	return true;
}

/* "HH:MM" or "HH:MM:SS" up to 24:00:00, as microseconds after midnight. */
static bool
time_of_day(void *ctx, const char *s, int64_t *usecs)
{
	int h = 0, m = 0, sec = 0, n = 0, k = 0;

	(void) ctx;
	if (sscanf(s, "%2d:%2d%n", &h, &m, &n) != 2)
		return false;
	if (s[n] == ':' && sscanf(s + n, ":%2d%n", &sec, &k) == 1)
		n += k;
	if (s[n] != '\0' || h < 0 || m < 0 || sec < 0 || m > 59 || sec > 59 || h * 3600 + m * 60 + sec > 86400)
		return false;
	*usecs = ((int64_t) h * 3600 + m * 60 + sec) * 1000000;
	return true;
}

/* Aborts unless a list of names holds n non-empty strings. */
static void
check_names(const rule_names *names, int n)
{
	if (names->n != n)
		abort();
	for (int i = 0; i < n; i++)
		if (names->items[i] == NULL || names->items[i][0] == '\0')
			abort();
}

/* Aborts unless each name has a path into the definition. */
static void
check_named(const rule_names *names, const rule_names *paths)
{
	check_names(names, names->n);
	check_names(paths, names->n);
	for (int i = 0; i < paths->n; i++)
		if (strncmp(paths->items[i], "$.", 2) != 0)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input: a journey definition as JSON text. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	   *err = NULL;
	journey_host	h = {fuzz_rule_host, interval_parts, time_of_day};
	journey_checked c;
	journey_error	e;
	jv			   *def = jv_parse((const char *) data, size, 200, &arena, &err);

	if (def)
	{
		check_round_trip(def);
		if (journey_core_check(def, &h, &c, &e))
		{
			if (c.entry_kind == NULL ||
				(strcmp(c.entry_kind, "event") != 0 && strcmp(c.entry_kind, "segment") != 0 &&
				 strcmp(c.entry_kind, "trait") != 0) ||
				(strcmp(c.entry_kind, "event") == 0) != (c.entry_events.n > 0) ||
				(strcmp(c.entry_kind, "segment") == 0) != (c.segments.n == 1))
				abort();
			check_names(&c.entry_events, c.entry_events.n);
			check_names(&c.wait_events, c.wait_events.n);
			check_names(&c.goal_events, c.goal_events.n);
			check_named(&c.templates, &c.template_paths);
			check_named(&c.experiments, &c.experiment_paths);
			check_named(&c.segments, &c.segment_paths);
		}
		else if ((e.kind != JOURNEY_ERR_INVALID && e.kind != JOURNEY_ERR_RULE) || e.path == NULL ||
				 e.path[0] != '$' || e.expected == NULL)
			abort();
	}
	arena_reset();
	return 0;
}
