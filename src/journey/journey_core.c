/*
 * journey_core.c: the journey definition checker in pure C. A definition is a JSON tree
 * (docs/journeys.md): an entry (events with the rule DSL's "where" filters, entering a segment,
 * or a trait changing), an optional entry rule, exit rule, goal and re-entry policy, and a graph
 * of named steps. Checking it validates every node, refusing a bad one (or an unknown key) with
 * the JSON path of the node and what was expected there: unknown steps, unreachable steps,
 * steps with a missing exit, steps from which no exit step can be reached, cycles that do not
 * pass through a wait, durations that are not positive or longer than a year. Rules are checked
 * by the segment rule compiler (rule_core.c). It says what the journey reads (event names for
 * entry, waits and goal) and names the templates, experiments and segments it refers to, with
 * their paths, so that create_journey can refuse the ones that do not exist. No PostgreSQL
 * types: the server's adapter is journey_def.c, a fuzz harness's is fuzz/journey_fuzz.c.
 */
#include "journey_core.h"

#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STEPS 200
#define MAX_SHARES 100
#define MAX_ENTRY_EVENTS 20
#define MAX_NAME_BYTES 200
#define MAX_STEP_NAME_BYTES 64
#define MAX_DURATION_DAYS 366
#define SECONDS_PER_DAY 86400.0
#define USECS_PER_DAY INT64_C(86400000000)

/* One step of the graph as the checker sees it. */
typedef struct Step
{
	const char	 *name;
	const char	 *path;
	char		  kind;	 /* 'w' wait, 'f' wait_for, 'b' branch, 's' split, 'm' send, 'u' update, 'x' exit */
	rule_names	  next;	 /* names of the steps it can go to */
	rule_names	  paths; /* the JSON path of each of those references */
	struct Step **to;	 /* the steps they name, once the references are checked */
	int			  mark;	 /* for the graph walks */
} Step;

/* What a check has gathered so far, and where a refusal jumps to. */
typedef struct JourneyChecker
{
	const journey_host *h;
	journey_error	   *err;
	journey_checked	   *out;
	jmp_buf				fail;
	Step				steps[MAX_STEPS];
	int					n_steps;
} JourneyChecker;

/* A formatted string in the check's memory. */
#define P(...) jv_sprintf(&jc->h->rule.alloc, __VA_ARGS__)

/* Refuses the definition: the bad node's path and what was expected there. */
static void refuse(JourneyChecker *jc, journey_error_kind kind, const char *path, const char *expected)
	__attribute__((noreturn));

static void
refuse(JourneyChecker *jc, journey_error_kind kind, const char *path, const char *expected)
{
	jc->err->kind = kind;
	jc->err->path = path;
	jc->err->expected = expected;
	longjmp(jc->fail, 1);
}

/* Refuses the node at path of the definition. */
#define bad_definition(path, expected) refuse(jc, JOURNEY_ERR_INVALID, (path), (expected))

/* True if the value is a JSON object. */
static bool
is_object(const jv *v)
{
	return v && v->type == JV_OBJECT;
}

/* Refuses the first key of an object node that is not in allowed (NULL-terminated), naming
 * its path: a misspelt key, or a node with two kinds' keys, is an error rather than ignored. */
static void
check_keys(JourneyChecker *jc, const jv *obj, const char *path, const char *const *allowed)
{
	const char *expected;
	const char *key = jv_unknown_key(obj, allowed, &jc->h->rule.alloc, &expected);

	if (key)
		bad_definition(P("%s.%s", path, key), expected);
}

/* A non-empty string of at most MAX_NAME_BYTES without NUL, or an error naming path. */
static const char *
name_at(JourneyChecker *jc, const jv *v, const char *path, const char *what)
{
	if (v == NULL || v->type != JV_STRING || v->len == 0 || v->len > MAX_NAME_BYTES || memchr(v->str, '\0', v->len))
		bad_definition(path, what);
	return v->str;
}

/* Appends a string to a list. */
static void
names_push(JourneyChecker *jc, rule_names *list, const char *s)
{
	if (list->n == list->cap)
	{
		int			 cap = list->cap ? list->cap * 2 : 8;
		const char **items = jv_calloc(&jc->h->rule.alloc, sizeof(char *) * (size_t) cap);

		if (list->n)
			memcpy(items, list->items, sizeof(char *) * (size_t) list->n);
		list->items = items;
		list->cap = cap;
	}
	list->items[list->n++] = s;
}

/* Remembers a name once (with the path of its first mention when paths is given). */
static void
add_name(JourneyChecker *jc, rule_names *names, rule_names *paths, const char *name, const char *path)
{
	for (int i = 0; i < names->n; i++)
		if (strcmp(names->items[i], name) == 0)
			return;
	names_push(jc, names, name);
	if (paths)
		names_push(jc, paths, path);
}

/* A duration: an interval above zero and at most MAX_DURATION_DAYS, or an error naming path. */
static void
duration_at(JourneyChecker *jc, const jv *v, const char *path)
{
	const char *expected = "a duration such as \"10 minutes\", above zero and at most 366 days";
	int32_t		months, days;
	int64_t		usecs;
	double		seconds;

	if (!jc->h->interval(jc->h->rule.ctx, name_at(jc, v, path, expected), &months, &days, &usecs))
		bad_definition(path, expected);
	/* months as 30 days, as PostgreSQL compares intervals */
	seconds = (double) months * 30 * SECONDS_PER_DAY + (double) days * SECONDS_PER_DAY + (double) usecs / 1000000;
	if (!(seconds > 0) || seconds > MAX_DURATION_DAYS * SECONDS_PER_DAY || months < 0 || days < 0 || usecs < 0)
		bad_definition(path, expected);
}

/* A local time of day "HH:MM" or "HH:MM:SS", or an error naming path. */
static void
time_of_day_at(JourneyChecker *jc, const jv *v, const char *path)
{
	const char *expected = "a local time of day such as \"09:00\"";
	const char *s = name_at(jc, v, path, expected);
	size_t		n = strlen(s);
	int64_t		usecs;

	if ((n != 5 && n != 8) || s[2] != ':' || (n == 8 && s[5] != ':') ||
		!jc->h->time_of_day(jc->h->rule.ctx, s, &usecs) || usecs >= USECS_PER_DAY)
		bad_definition(path, expected);
}

/* Checks a rule of the segment DSL at path (the compiler names the bad node). */
static void
check_rule(JourneyChecker *jc, const jv *rule, const char *path)
{
	const char *statement;
	rule_error	e;

	if (rule == NULL)
		bad_definition(path, "a rule of the segment DSL such as {\"consent\": \"subscribed\"}");
	if (!rule_core_match_statement(rule, path, &jc->h->rule, &statement, &e))
		refuse(jc, JOURNEY_ERR_RULE, e.path, e.expected);
}

/* {"event": name, "where": [...]}: an event condition; its name goes to names. */
static void
check_event(JourneyChecker *jc, const jv *node, const char *path, rule_names *names, const char *const *keys)
{
	const char *filters;
	rule_error	e;
	const jv   *where;

	if (!is_object(node))
		bad_definition(path, "an event condition such as {\"event\": \"Order Completed\"}");
	check_keys(jc, node, path, keys);
	add_name(jc, names, NULL, name_at(jc, jv_get(node, "event"), P("%s.event", path), "an event name"), NULL);
	if ((where = jv_get(node, "where")) != NULL &&
		!rule_core_event_filters(where, P("%s.where", path), &jc->h->rule, &filters, &e))
		refuse(jc, JOURNEY_ERR_RULE, e.path, e.expected);
}

static const char *const event_keys[] = {"event", "where", NULL};

/* The entry: one event, a list of events, a segment, or a trait change. */
static void
check_entry(JourneyChecker *jc, const jv *entry)
{
	static const char *const segment_keys[] = {"segment", NULL};
	static const char *const trait_keys[] = {"trait", "from", "to", NULL};
	static const char *const events_keys[] = {"events", NULL};
	journey_checked			*out = jc->out;

	if (!is_object(entry))
		bad_definition("$.entry", "an entry such as {\"event\": \"Product Added\"}, {\"events\": [...]}, "
								  "{\"segment\": \"vip\"} or {\"trait\": \"tier\", \"to\": \"gold\"}");
	if (jv_get(entry, "event"))
	{
		out->entry_kind = "event";
		check_event(jc, entry, "$.entry", &out->entry_events, event_keys);
	}
	else if (jv_get(entry, "events"))
	{
		const jv *list = jv_get(entry, "events");

		out->entry_kind = "event";
		check_keys(jc, entry, "$.entry", events_keys);
		if (list->type != JV_ARRAY)
			bad_definition("$.entry.events", "an array of event conditions");
		for (size_t i = 0; i < list->n; i++)
		{
			if (i >= MAX_ENTRY_EVENTS)
				bad_definition("$.entry.events", "at most 20 event conditions");
			check_event(jc, &list->items[i], P("$.entry.events[%zu]", i), &out->entry_events, event_keys);
		}
		if (list->n == 0)
			bad_definition("$.entry.events", "a non-empty array of event conditions");
	}
	else if (jv_get(entry, "segment"))
	{
		out->entry_kind = "segment";
		check_keys(jc, entry, "$.entry", segment_keys);
		add_name(jc, &out->segments, &out->segment_paths,
				 name_at(jc, jv_get(entry, "segment"), "$.entry.segment", "a segment name"), "$.entry.segment");
	}
	else if (jv_get(entry, "trait"))
	{
		out->entry_kind = "trait";
		check_keys(jc, entry, "$.entry", trait_keys);
		(void) name_at(jc, jv_get(entry, "trait"), "$.entry.trait", "a trait name");
		for (int i = 0; i < 2; i++)
		{
			const char *k = i ? "to" : "from";
			const jv   *v = jv_get(entry, k);

			if (v && (v->type == JV_OBJECT || v->type == JV_ARRAY))
				bad_definition(P("$.entry.%s", k), "a string, number, boolean or null");
		}
	}
	else
		bad_definition("$.entry", "one of the keys event, events, segment, trait");
}

/* The re-entry policy: "once", "always" (whenever not already in the journey), {"after": duration}. */
static void
check_reentry(JourneyChecker *jc, const jv *v)
{
	static const char *const keys[] = {"after", NULL};
	const char				*expected = "\"once\", \"always\" or {\"after\": \"30 days\"}";

	if (v == NULL)
		return;
	if (v->type == JV_STRING)
	{
		const char *s = name_at(jc, v, "$.reentry", expected);

		if (strcmp(s, "once") != 0 && strcmp(s, "always") != 0)
			bad_definition("$.reentry", expected);
		return;
	}
	if (!is_object(v))
		bad_definition("$.reentry", expected);
	check_keys(jc, v, "$.reentry", keys);
	duration_at(jc, jv_get(v, "after"), "$.reentry.after");
}

/* Records a reference to the step named at path. */
static void
add_reference(JourneyChecker *jc, Step *s, const jv *name, const char *path)
{
	names_push(jc, &s->next, name_at(jc, name, path, "the name of a step"));
	names_push(jc, &s->paths, path);
}

/* Records the step reference at key of a step node (required). */
static void
add_next(JourneyChecker *jc, Step *s, const jv *node, const char *key)
{
	add_reference(jc, s, jv_get(node, key), P("%s.%s", s->path, key));
}

/* {"send": {"template", "kind", "experiment", "priority"}, "next": step} */
static void
check_send(JourneyChecker *jc, Step *s, const jv *send)
{
	static const char *const keys[] = {"template", "kind", "experiment", "priority", NULL};
	const char				*path = P("%s.send", s->path);
	const jv				*kind, *priority;
	journey_checked			*out = jc->out;

	if (!is_object(send))
		bad_definition(path, "an object such as {\"template\": \"cart_reminder\", \"kind\": \"marketing\"}");
	check_keys(jc, send, path, keys);
	add_name(jc, &out->templates, &out->template_paths,
			 name_at(jc, jv_get(send, "template"), P("%s.template", path), "a template name"), P("%s.template", path));
	if ((kind = jv_get(send, "kind")) != NULL)
	{
		const char *k = name_at(jc, kind, P("%s.kind", path), "marketing or transactional");

		if (strcmp(k, "marketing") != 0 && strcmp(k, "transactional") != 0)
			bad_definition(P("%s.kind", path), "marketing or transactional");
	}
	if (jv_get(send, "experiment"))
		add_name(jc, &out->experiments, &out->experiment_paths,
				 name_at(jc, jv_get(send, "experiment"), P("%s.experiment", path), "an experiment name"),
				 P("%s.experiment", path));
	if ((priority = jv_get(send, "priority")) != NULL &&
		(priority->type != JV_NUMBER || !jv_num_is_integral(priority) || jv_num_cmp_text(priority, "1000") > 0 ||
		 jv_num_cmp_text(priority, "-1000") < 0))
		bad_definition(P("%s.priority", path), "a whole number from -1000 to 1000");
}

/* {"split": [{"percent": p, "next": step}, ...], "salt": s}: shares that add up to 100. */
static void
check_split(JourneyChecker *jc, Step *s, const jv *split)
{
	static const char *const keys[] = {"percent", "next", NULL};
	const char				*path = P("%s.split", s->path);
	double					 total = 0;

	if (split->type != JV_ARRAY)
		bad_definition(path, "an array of {\"percent\": 50, \"next\": \"step\"}");
	for (size_t i = 0; i < split->n; i++)
	{
		const jv   *e = &split->items[i];
		const char *epath = P("%s[%zu]", path, i);
		const jv   *p;
		double		pct;

		if (!is_object(e))
			bad_definition(epath, "{\"percent\": 50, \"next\": \"step\"}");
		check_keys(jc, e, epath, keys);
		p = jv_get(e, "percent");
		if (p == NULL || p->type != JV_NUMBER)
			bad_definition(P("%s.percent", epath), "a percentage above 0 and at most 100");
		/* the plain decimal as the nearest double; beyond the doubles' range it is infinite or 0 */
		pct = strtod(p->str, NULL);
		if (!(pct > 0 && pct <= 100))
			bad_definition(P("%s.percent", epath), "a percentage above 0 and at most 100");
		total += pct;
		add_reference(jc, s, jv_get(e, "next"), P("%s.next", epath));
		if (i + 1 > MAX_SHARES)
			bad_definition(path, "at most 100 shares");
	}
	if (split->n == 0 || total < 99.999999 || total > 100.000001)
		bad_definition(path, "shares whose percentages add up to 100");
}

/* Checks one step node and records its kind and exits. */
static void
check_step(JourneyChecker *jc, Step *s, const jv *node)
{
	const jv *v;

	jc->h->rule.check_interrupts(jc->h->rule.ctx);
	if (!is_object(node))
		bad_definition(s->path, "a step such as {\"wait\": \"1 day\", \"next\": \"...\"}");
	if ((v = jv_get(node, "wait")) != NULL)
	{
		static const char *const keys[] = {"wait", "next", NULL};
		static const char *const until_keys[] = {"until", NULL};

		s->kind = 'w';
		check_keys(jc, node, s->path, keys);
		if (is_object(v))
		{
			check_keys(jc, v, P("%s.wait", s->path), until_keys);
			time_of_day_at(jc, jv_get(v, "until"), P("%s.wait.until", s->path));
		}
		else
			duration_at(jc, v, P("%s.wait", s->path));
		add_next(jc, s, node, "next");
	}
	else if ((v = jv_get(node, "wait_for")) != NULL)
	{
		static const char *const keys[] = {"wait_for", "happened", "timed_out", NULL};
		static const char *const wf_keys[] = {"event", "where", "timeout", "as", NULL};
		const char				*path = P("%s.wait_for", s->path);

		s->kind = 'f';
		check_keys(jc, node, s->path, keys);
		check_event(jc, v, path, &jc->out->wait_events, wf_keys);
		duration_at(jc, jv_get(v, "timeout"), P("%s.timeout", path));
		if (jv_get(v, "as"))
			(void) name_at(jc, jv_get(v, "as"), P("%s.as", path), "a context key");
		add_next(jc, s, node, "happened");
		add_next(jc, s, node, "timed_out");
	}
	else if ((v = jv_get(node, "branch")) != NULL)
	{
		static const char *const keys[] = {"branch", "yes", "no", NULL};

		s->kind = 'b';
		check_keys(jc, node, s->path, keys);
		check_rule(jc, v, P("%s.branch", s->path));
		add_next(jc, s, node, "yes");
		add_next(jc, s, node, "no");
	}
	else if ((v = jv_get(node, "split")) != NULL)
	{
		static const char *const keys[] = {"split", "salt", NULL};

		s->kind = 's';
		check_keys(jc, node, s->path, keys);
		if (jv_get(node, "salt"))
			(void) name_at(jc, jv_get(node, "salt"), P("%s.salt", s->path), "a salt string");
		check_split(jc, s, v);
	}
	else if ((v = jv_get(node, "send")) != NULL)
	{
		static const char *const keys[] = {"send", "next", NULL};

		s->kind = 'm';
		check_keys(jc, node, s->path, keys);
		check_send(jc, s, v);
		add_next(jc, s, node, "next");
	}
	else if ((v = jv_get(node, "update")) != NULL)
	{
		static const char *const keys[] = {"update", "next", NULL};
		static const char *const u_keys[] = {"trait", "value", NULL};
		const char				*path = P("%s.update", s->path);

		s->kind = 'u';
		check_keys(jc, node, s->path, keys);
		if (!is_object(v))
			bad_definition(path, "an object such as {\"trait\": \"cart_reminded\", \"value\": true}");
		check_keys(jc, v, path, u_keys);
		(void) name_at(jc, jv_get(v, "trait"), P("%s.trait", path), "a trait name");
		if (jv_get(v, "value") == NULL)
			bad_definition(P("%s.value", path), "the value to set");
		add_next(jc, s, node, "next");
	}
	else if ((v = jv_get(node, "exit")) != NULL)
	{
		static const char *const keys[] = {"exit", NULL};

		s->kind = 'x';
		check_keys(jc, node, s->path, keys);
		if (v->type != JV_BOOL || !v->boolean)
			bad_definition(P("%s.exit", s->path), "true");
	}
	else
		bad_definition(s->path, "a step with one of the keys wait, wait_for, branch, split, send, update, exit");
}

/* The step of that name, or NULL. */
static Step *
step_named(JourneyChecker *jc, const char *name)
{
	for (int i = 0; i < jc->n_steps; i++)
		if (strcmp(jc->steps[i].name, name) == 0)
			return &jc->steps[i];
	return NULL;
}

/* Marks (mark = 1) every step reachable from s (the depth is at most MAX_STEPS). */
static void
mark_reachable(Step *s)
{
	if (s->mark)
		return;
	s->mark = 1;
	for (int i = 0; i < s->next.n; i++)
		mark_reachable(s->to[i]);
}

/*
 * Refuses a cycle of steps that run at once (every step but wait and wait_for): one would move
 * a run around it for ever without time passing. Depth-first, 1 = on the path, 2 = done.
 */
static void
refuse_instant_cycle(JourneyChecker *jc, Step *s)
{
	if (s->mark == 2 || s->kind == 'w' || s->kind == 'f')
		return;
	if (s->mark == 1)
		bad_definition(s->path, "no cycle of steps without a wait or wait_for on it");
	s->mark = 1;
	for (int i = 0; i < s->next.n; i++)
		refuse_instant_cycle(jc, s->to[i]);
	s->mark = 2;
}

/* Checks the graph: references, reachability, a way out from every step, no instant cycle. */
static void
check_graph(JourneyChecker *jc, const jv *start)
{
	Step *first;
	bool  grew = true;

	for (int i = 0; i < jc->n_steps; i++)
	{
		Step *s = &jc->steps[i];

		s->to = jv_calloc(&jc->h->rule.alloc, sizeof(Step *) * (size_t) (s->next.n + 1));
		for (int j = 0; j < s->next.n; j++)
			if ((s->to[j] = step_named(jc, s->next.items[j])) == NULL)
				bad_definition(s->paths.items[j], "the name of a step of $.steps");
	}
	first = step_named(jc, name_at(jc, start, "$.start", "the name of the first step"));
	if (first == NULL)
		bad_definition("$.start", "the name of a step of $.steps");
	mark_reachable(first);
	for (int i = 0; i < jc->n_steps; i++)
	{
		Step *s = &jc->steps[i];

		if (!s->mark)
			bad_definition(s->path, "a step that can be reached from $.start");
		s->mark = s->kind == 'x'; /* now: can reach an exit step */
	}
	while (grew)
	{
		grew = false;
		jc->h->rule.check_interrupts(jc->h->rule.ctx);
		for (int i = 0; i < jc->n_steps; i++)
		{
			Step *s = &jc->steps[i];

			for (int j = 0; !s->mark && j < s->next.n; j++)
				if (s->to[j]->mark)
					s->mark = 1, grew = true;
		}
	}
	for (int i = 0; i < jc->n_steps; i++)
	{
		Step *s = &jc->steps[i];

		if (!s->mark)
			bad_definition(s->path, "a step from which an exit step can be reached");
		s->mark = 0;
	}
	for (int i = 0; i < jc->n_steps; i++)
		refuse_instant_cycle(jc, &jc->steps[i]);
}

/* Checks a whole definition. */
static void
check_definition(JourneyChecker *jc, const jv *def)
{
	static const char *const keys[] = {"description", "entry", "rule", "reentry", "goal", "exit", "start", "steps", NULL};
	static const char		 step_name_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
	const jv				*steps;

	if (!is_object(def))
		bad_definition("$", "a journey object with entry, start and steps");
	check_keys(jc, def, "$", keys);
	if (jv_get(def, "description") && jv_get(def, "description")->type != JV_STRING)
		bad_definition("$.description", "a string");
	check_entry(jc, jv_get(def, "entry"));
	if (jv_get(def, "rule"))
		check_rule(jc, jv_get(def, "rule"), "$.rule");
	if (jv_get(def, "exit"))
		check_rule(jc, jv_get(def, "exit"), "$.exit");
	if (jv_get(def, "goal"))
		check_event(jc, jv_get(def, "goal"), "$.goal", &jc->out->goal_events, event_keys);
	check_reentry(jc, jv_get(def, "reentry"));

	steps = jv_get(def, "steps");
	if (!is_object(steps))
		bad_definition("$.steps", "an object of named steps");
	for (size_t i = 0; i < steps->n; i++)
	{
		const jv *k = &steps->keys[i];
		Step	 *s = &jc->steps[jc->n_steps];
		Step	  named = {.name = k->str, .path = P("$.steps.%s", k->str)};

		if (k->len == 0 || k->len > MAX_STEP_NAME_BYTES || strspn(k->str, step_name_chars) != k->len)
			bad_definition(named.path, "a step name of 1 to 64 letters, digits, _ or -");
		if (jc->n_steps >= MAX_STEPS)
			bad_definition("$.steps", "at most 200 steps");
		*s = named;
		check_step(jc, s, &steps->items[i]);
		jc->n_steps++;
	}
	if (jc->n_steps == 0)
		bad_definition("$.steps", "at least one step");
	check_graph(jc, jv_get(def, "start"));
}

/* Checks a definition; false with the path of the bad node and what was expected there. */
bool
journey_core_check(const jv *def, const journey_host *h, journey_checked *out, journey_error *err)
{
	JourneyChecker *jc = jv_calloc(&h->rule.alloc, sizeof(JourneyChecker));

	memset(out, 0, sizeof(*out));
	err->kind = JOURNEY_OK;
	jc->h = h;
	jc->err = err;
	jc->out = out;
	if (setjmp(jc->fail) != 0)
		return false;
	check_definition(jc, def);
	return true;
}
