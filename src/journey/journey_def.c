/*
 * journey_def.c: the journey definition checker. A definition is a JSON document
 * (docs/journeys.md): an entry (events with the rule DSL's "where" filters, entering a segment,
 * or a trait changing), an optional entry rule, exit rule, goal and re-entry policy, and a graph
 * of named steps. Checking it validates every node, refusing a bad one (or an unknown key) with
 * the JSON path of the node and what was expected there: unknown steps, unreachable steps,
 * steps with a missing exit, steps from which no exit step can be reached, cycles that do not
 * pass through a wait, durations that are not positive or longer than a year. Rules are checked
 * by the segment rule compiler. It says what the journey reads (event names for entry, waits and
 * goal) and names the templates, experiments and segments it refers to, with their paths, so
 * that create_journey can refuse the ones that do not exist.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "core/json_node.h"
#include "segment/segment.h"

PG_FUNCTION_INFO_V1(personalize_journey_check);

#define MAX_STEPS 200
#define MAX_ENTRY_EVENTS 20
#define MAX_NAME_BYTES 200
#define MAX_DURATION_DAYS 366

/* One step of the graph as the checker sees it. */
typedef struct Step
{
	char *name;
	char *path;
	char  kind;	 /* 'w' wait, 'f' wait_for, 'b' branch, 's' split, 'm' send, 'u' update, 'x' exit */
	List *next;	 /* names of the steps it can go to */
	List *paths; /* the JSON path of each of those references */
	int	  mark;	 /* for the graph walks */
} Step;

/* What a check gathers: the steps and the names the definition refers to. */
typedef struct JourneyCheck
{
	List *steps;
	List *entry_events;
	List *wait_events;
	List *goal_events;
	List *templates, *template_paths;
	List *experiments, *experiment_paths;
	List *segments, *segment_paths;
	char *entry_kind;
} JourneyCheck;

/* Raises the definition error for the node at path. */
#define bad_definition(path, expected) json_node_refuse("journey definition", path, expected)
/* Refuses a key of an object node that is not in allowed (NULL-terminated), naming its path. */
#define check_keys(obj, path, allowed) json_node_check_keys("journey definition", obj, path, allowed)

/* A non-empty string of at most MAX_NAME_BYTES as a C string, or an error naming path. */
static char *
name_at(JsonbValue *v, const char *path, const char *what)
{
	if (v == NULL || v->type != jbvString || v->val.string.len == 0 || v->val.string.len > MAX_NAME_BYTES ||
		memchr(v->val.string.val, '\0', v->val.string.len) != NULL)
		bad_definition(path, what);
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* A duration: an interval above zero and at most MAX_DURATION_DAYS, or an error naming path. */
static void
duration_at(JsonbValue *v, const char *path)
{
	const char *expected = "a duration such as \"10 minutes\", above zero and at most 366 days";
	Datum		iv;
	Interval   *i;
	double		seconds;

	if (!segment_try_parse(interval_in, name_at(v, path, expected), &iv))
		bad_definition(path, expected);
	i = DatumGetIntervalP(iv);
	/* months as 30 days, as PostgreSQL compares intervals */
	seconds = (double) i->month * 30 * SECS_PER_DAY + (double) i->day * SECS_PER_DAY + (double) i->time / USECS_PER_SEC;
	if (!(seconds > 0) || seconds > (double) MAX_DURATION_DAYS * SECS_PER_DAY || i->month < 0 || i->day < 0 || i->time < 0)
		bad_definition(path, expected);
}

/* A local time of day "HH:MM" or "HH:MM:SS", or an error naming path. */
static void
time_of_day_at(JsonbValue *v, const char *path)
{
	const char *expected = "a local time of day such as \"09:00\"";
	char	   *s = name_at(v, path, expected);
	size_t		n = strlen(s);
	Datum		t;

	if ((n != 5 && n != 8) || s[2] != ':' || (n == 8 && s[5] != ':') || !segment_try_parse(time_in, s, &t) ||
		DatumGetTimeADT(t) >= USECS_PER_DAY)
		bad_definition(path, expected);
}

/* Remembers a name once (with the path of its first mention when paths is given). */
static void
add_name(List **names, List **paths, const char *name, const char *path)
{
	ListCell *lc;

	foreach (lc, *names)
		if (strcmp(lfirst(lc), name) == 0)
			return;
	*names = lappend(*names, pstrdup(name));
	if (paths)
		*paths = lappend(*paths, pstrdup(path));
}

/* Checks a rule of the segment DSL at path (the compiler names the bad node). */
static void
check_rule(JsonbValue *rule, const char *path)
{
	if (rule == NULL)
		bad_definition(path, "a rule of the segment DSL such as {\"consent\": \"subscribed\"}");
	(void) segment_match_statement(rule, path);
}

/* {"event": name, "where": [...]}: an event condition; its name goes to names. */
static void
check_event(JsonbValue *node, const char *path, List **names, const char *const *keys)
{
	if (!is_object(node))
		bad_definition(path, "an event condition such as {\"event\": \"Order Completed\"}");
	check_keys(node, path, keys);
	add_name(names, NULL, name_at(key_of(node, "event"), psprintf("%s.event", path), "an event name"), NULL);
	(void) segment_event_filters(key_of(node, "where"), psprintf("%s.where", path));
}

static const char *const event_keys[] = {"event", "where", NULL};

/* The entry: one event, a list of events, a segment, or a trait change. */
static void
check_entry(JourneyCheck *jc, JsonbValue *entry)
{
	static const char *const segment_keys[] = {"segment", NULL};
	static const char *const trait_keys[] = {"trait", "from", "to", NULL};
	static const char *const events_keys[] = {"events", NULL};

	if (!is_object(entry))
		bad_definition("$.entry", "an entry such as {\"event\": \"Product Added\"}, {\"events\": [...]}, "
								  "{\"segment\": \"vip\"} or {\"trait\": \"tier\", \"to\": \"gold\"}");
	if (key_of(entry, "event"))
	{
		jc->entry_kind = "event";
		check_event(entry, "$.entry", &jc->entry_events, event_keys);
	}
	else if (key_of(entry, "events"))
	{
		JsonbValue		  *list = key_of(entry, "events");
		JsonbIterator	  *it;
		JsonbValue		   e;
		JsonbIteratorToken tok;
		int				   n = 0;

		jc->entry_kind = "event";
		check_keys(entry, "$.entry", events_keys);
		if (!is_array(list))
			bad_definition("$.entry.events", "an array of event conditions");
		it = JsonbIteratorInit(list->val.binary.data);
		while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
			if (tok == WJB_ELEM)
			{
				if (n >= MAX_ENTRY_EVENTS)
					bad_definition("$.entry.events", "at most 20 event conditions");
				check_event(&e, psprintf("$.entry.events[%d]", n++), &jc->entry_events, event_keys);
			}
		if (n == 0)
			bad_definition("$.entry.events", "a non-empty array of event conditions");
	}
	else if (key_of(entry, "segment"))
	{
		jc->entry_kind = "segment";
		check_keys(entry, "$.entry", segment_keys);
		add_name(&jc->segments, &jc->segment_paths,
				 name_at(key_of(entry, "segment"), "$.entry.segment", "a segment name"), "$.entry.segment");
	}
	else if (key_of(entry, "trait"))
	{
		jc->entry_kind = "trait";
		check_keys(entry, "$.entry", trait_keys);
		(void) name_at(key_of(entry, "trait"), "$.entry.trait", "a trait name");
		for (int i = 0; i < 2; i++)
		{
			const char *k = i ? "to" : "from";
			JsonbValue *v = key_of(entry, k);

			if (v && v->type == jbvBinary)
				bad_definition(psprintf("$.entry.%s", k), "a string, number, boolean or null");
		}
	}
	else
		bad_definition("$.entry", "one of the keys event, events, segment, trait");
}

/* The re-entry policy: "once", "always" (whenever not already in the journey), {"after": duration}. */
static void
check_reentry(JsonbValue *v)
{
	static const char *const keys[] = {"after", NULL};
	const char				*expected = "\"once\", \"always\" or {\"after\": \"30 days\"}";

	if (v == NULL)
		return;
	if (v->type == jbvString)
	{
		char *s = name_at(v, "$.reentry", expected);

		if (strcmp(s, "once") != 0 && strcmp(s, "always") != 0)
			bad_definition("$.reentry", expected);
		return;
	}
	if (!is_object(v))
		bad_definition("$.reentry", expected);
	check_keys(v, "$.reentry", keys);
	duration_at(key_of(v, "after"), "$.reentry.after");
}

/* Records the step reference at key of a step node (required). */
static void
add_next(Step *s, JsonbValue *node, const char *key)
{
	char *path = psprintf("%s.%s", s->path, key);

	s->next = lappend(s->next, name_at(key_of(node, key), path, "the name of a step"));
	s->paths = lappend(s->paths, path);
}

/* {"send": {"template", "kind", "experiment", "priority"}, "next": step} */
static void
check_send(JourneyCheck *jc, Step *s, JsonbValue *send)
{
	static const char *const keys[] = {"template", "kind", "experiment", "priority", NULL};
	char					*path = psprintf("%s.send", s->path);
	JsonbValue				*kind, *priority;

	if (!is_object(send))
		bad_definition(path, "an object such as {\"template\": \"cart_reminder\", \"kind\": \"marketing\"}");
	check_keys(send, path, keys);
	add_name(&jc->templates, &jc->template_paths,
			 name_at(key_of(send, "template"), psprintf("%s.template", path), "a template name"),
			 psprintf("%s.template", path));
	if ((kind = key_of(send, "kind")) != NULL)
	{
		char *k = name_at(kind, psprintf("%s.kind", path), "marketing or transactional");

		if (strcmp(k, "marketing") != 0 && strcmp(k, "transactional") != 0)
			bad_definition(psprintf("%s.kind", path), "marketing or transactional");
	}
	if (key_of(send, "experiment"))
		add_name(&jc->experiments, &jc->experiment_paths,
				 name_at(key_of(send, "experiment"), psprintf("%s.experiment", path), "an experiment name"),
				 psprintf("%s.experiment", path));
	if ((priority = key_of(send, "priority")) != NULL)
	{
		if (priority->type != jbvNumeric ||
			!DatumGetBool(DirectFunctionCall2(numeric_eq, NumericGetDatum(priority->val.numeric),
											  DirectFunctionCall1(numeric_floor, NumericGetDatum(priority->val.numeric)))) ||
			DatumGetBool(DirectFunctionCall2(numeric_gt,
											 DirectFunctionCall1(numeric_abs, NumericGetDatum(priority->val.numeric)),
											 DirectFunctionCall1(int4_numeric, Int32GetDatum(1000)))))
			bad_definition(psprintf("%s.priority", path), "a whole number from -1000 to 1000");
	}
}

/* {"split": [{"percent": p, "next": step}, ...], "salt": s}: shares that add up to 100. */
static void
check_split(Step *s, JsonbValue *split)
{
	static const char *const keys[] = {"percent", "next", NULL};
	char					*path = psprintf("%s.split", s->path);
	JsonbIterator			*it;
	JsonbValue				 e;
	JsonbIteratorToken		 tok;
	int						 n = 0;
	double					 total = 0;

	if (!is_array(split))
		bad_definition(path, "an array of {\"percent\": 50, \"next\": \"step\"}");
	it = JsonbIteratorInit(split->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		char	   *epath;
		JsonbValue *p;
		double		pct;

		if (tok != WJB_ELEM)
			continue;
		epath = psprintf("%s[%d]", path, n++);
		if (!is_object(&e))
			bad_definition(epath, "{\"percent\": 50, \"next\": \"step\"}");
		check_keys(&e, epath, keys);
		p = key_of(&e, "percent");
		if (p == NULL || p->type != jbvNumeric)
			bad_definition(psprintf("%s.percent", epath), "a percentage above 0 and at most 100");
		pct = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(p->val.numeric)));
		if (!(pct > 0 && pct <= 100))
			bad_definition(psprintf("%s.percent", epath), "a percentage above 0 and at most 100");
		total += pct;
		s->next = lappend(s->next, name_at(key_of(&e, "next"), psprintf("%s.next", epath), "the name of a step"));
		s->paths = lappend(s->paths, psprintf("%s.next", epath));
		if (n > 100)
			bad_definition(path, "at most 100 shares");
	}
	if (n == 0 || total < 99.999999 || total > 100.000001)
		bad_definition(path, "shares whose percentages add up to 100");
}

/* Checks one step node and records its kind and exits. */
static void
check_step(JourneyCheck *jc, Step *s, JsonbValue *node)
{
	JsonbValue *v;

	CHECK_FOR_INTERRUPTS();
	if (!is_object(node))
		bad_definition(s->path, "a step such as {\"wait\": \"1 day\", \"next\": \"...\"}");
	if ((v = key_of(node, "wait")) != NULL)
	{
		static const char *const keys[] = {"wait", "next", NULL};
		static const char *const until_keys[] = {"until", NULL};

		s->kind = 'w';
		check_keys(node, s->path, keys);
		if (is_object(v))
		{
			check_keys(v, psprintf("%s.wait", s->path), until_keys);
			time_of_day_at(key_of(v, "until"), psprintf("%s.wait.until", s->path));
		}
		else
			duration_at(v, psprintf("%s.wait", s->path));
		add_next(s, node, "next");
	}
	else if ((v = key_of(node, "wait_for")) != NULL)
	{
		static const char *const keys[] = {"wait_for", "happened", "timed_out", NULL};
		static const char *const wf_keys[] = {"event", "where", "timeout", "as", NULL};
		char					*path = psprintf("%s.wait_for", s->path);

		s->kind = 'f';
		check_keys(node, s->path, keys);
		check_event(v, path, &jc->wait_events, wf_keys);
		duration_at(key_of(v, "timeout"), psprintf("%s.timeout", path));
		if (key_of(v, "as"))
			(void) name_at(key_of(v, "as"), psprintf("%s.as", path), "a context key");
		add_next(s, node, "happened");
		add_next(s, node, "timed_out");
	}
	else if ((v = key_of(node, "branch")) != NULL)
	{
		static const char *const keys[] = {"branch", "yes", "no", NULL};

		s->kind = 'b';
		check_keys(node, s->path, keys);
		check_rule(v, psprintf("%s.branch", s->path));
		add_next(s, node, "yes");
		add_next(s, node, "no");
	}
	else if ((v = key_of(node, "split")) != NULL)
	{
		static const char *const keys[] = {"split", "salt", NULL};

		s->kind = 's';
		check_keys(node, s->path, keys);
		if (key_of(node, "salt"))
			(void) name_at(key_of(node, "salt"), psprintf("%s.salt", s->path), "a salt string");
		check_split(s, v);
	}
	else if ((v = key_of(node, "send")) != NULL)
	{
		static const char *const keys[] = {"send", "next", NULL};

		s->kind = 'm';
		check_keys(node, s->path, keys);
		check_send(jc, s, v);
		add_next(s, node, "next");
	}
	else if ((v = key_of(node, "update")) != NULL)
	{
		static const char *const keys[] = {"update", "next", NULL};
		static const char *const u_keys[] = {"trait", "value", NULL};
		char					*path = psprintf("%s.update", s->path);

		s->kind = 'u';
		check_keys(node, s->path, keys);
		if (!is_object(v))
			bad_definition(path, "an object such as {\"trait\": \"cart_reminded\", \"value\": true}");
		check_keys(v, path, u_keys);
		(void) name_at(key_of(v, "trait"), psprintf("%s.trait", path), "a trait name");
		if (key_of(v, "value") == NULL)
			bad_definition(psprintf("%s.value", path), "the value to set");
		add_next(s, node, "next");
	}
	else if ((v = key_of(node, "exit")) != NULL)
	{
		static const char *const keys[] = {"exit", NULL};

		s->kind = 'x';
		check_keys(node, s->path, keys);
		if (v->type != jbvBool || !v->val.boolean)
			bad_definition(psprintf("%s.exit", s->path), "true");
	}
	else
		bad_definition(s->path, "a step with one of the keys wait, wait_for, branch, split, send, update, exit");
}

/* The step of that name, or NULL. */
static Step *
step_named(JourneyCheck *jc, const char *name)
{
	ListCell *lc;

	foreach (lc, jc->steps)
		if (strcmp(((Step *) lfirst(lc))->name, name) == 0)
			return lfirst(lc);
	return NULL;
}

/* Marks (mark = 1) every step reachable from s. */
static void
mark_reachable(JourneyCheck *jc, Step *s)
{
	ListCell *lc;

	check_stack_depth();
	if (s->mark)
		return;
	s->mark = 1;
	foreach (lc, s->next)
		mark_reachable(jc, step_named(jc, lfirst(lc)));
}

/*
 * Refuses a cycle of steps that run at once (every step but wait and wait_for): one would move
 * a run around it for ever without time passing. Depth-first, 1 = on the path, 2 = done.
 */
static void
refuse_instant_cycle(JourneyCheck *jc, Step *s)
{
	ListCell *lc;

	check_stack_depth();
	if (s->mark == 2 || s->kind == 'w' || s->kind == 'f')
		return;
	if (s->mark == 1)
		bad_definition(s->path, "no cycle of steps without a wait or wait_for on it");
	s->mark = 1;
	foreach (lc, s->next)
		refuse_instant_cycle(jc, step_named(jc, lfirst(lc)));
	s->mark = 2;
}

/* Checks the graph: references, reachability, a way out from every step, no instant cycle. */
static void
check_graph(JourneyCheck *jc, JsonbValue *start)
{
	ListCell *lc, *lc2;
	Step	 *first;
	bool	  grew = true;

	foreach (lc, jc->steps)
	{
		Step	 *s = lfirst(lc);
		ListCell *n, *p;

		forboth(n, s->next, p, s->paths) if (step_named(jc, lfirst(n)) == NULL)
			bad_definition(lfirst(p), "the name of a step of $.steps");
	}
	first = step_named(jc, name_at(start, "$.start", "the name of the first step"));
	if (first == NULL)
		bad_definition("$.start", "the name of a step of $.steps");
	mark_reachable(jc, first);
	foreach (lc, jc->steps)
	{
		Step *s = lfirst(lc);

		if (!s->mark)
			bad_definition(s->path, "a step that can be reached from $.start");
		s->mark = s->kind == 'x'; /* now: can reach an exit step */
	}
	while (grew)
	{
		grew = false;
		foreach (lc, jc->steps)
		{
			Step *s = lfirst(lc);

			if (s->mark)
				continue;
			foreach (lc2, s->next)
				if (step_named(jc, lfirst(lc2))->mark)
				{
					s->mark = 1;
					grew = true;
					break;
				}
		}
	}
	foreach (lc, jc->steps)
	{
		Step *s = lfirst(lc);

		if (!s->mark)
			bad_definition(s->path, "a step from which an exit step can be reached");
		s->mark = 0;
	}
	foreach (lc, jc->steps)
		refuse_instant_cycle(jc, lfirst(lc));
}

/* Checks a whole definition. */
static void
check_definition(JourneyCheck *jc, Jsonb *def)
{
	static const char *const keys[] = {"description", "entry", "rule", "reentry", "goal", "exit", "start", "steps", NULL};
	JsonbValue				 root, *steps;
	JsonbIterator			*it;
	JsonbValue				 k, v;
	JsonbIteratorToken		 tok;

	if (JB_ROOT_IS_SCALAR(def) || !JB_ROOT_IS_OBJECT(def))
		bad_definition("$", "a journey object with entry, start and steps");
	root.type = jbvBinary;
	root.val.binary.data = &def->root;
	root.val.binary.len = VARSIZE(def) - VARHDRSZ;
	check_keys(&root, "$", keys);
	if (key_of(&root, "description") && key_of(&root, "description")->type != jbvString)
		bad_definition("$.description", "a string");
	check_entry(jc, key_of(&root, "entry"));
	if (key_of(&root, "rule"))
		check_rule(key_of(&root, "rule"), "$.rule");
	if (key_of(&root, "exit"))
		check_rule(key_of(&root, "exit"), "$.exit");
	if (key_of(&root, "goal"))
		check_event(key_of(&root, "goal"), "$.goal", &jc->goal_events, event_keys);
	check_reentry(key_of(&root, "reentry"));

	steps = key_of(&root, "steps");
	if (!is_object(steps))
		bad_definition("$.steps", "an object of named steps");
	it = JsonbIteratorInit(steps->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &k, false)) != WJB_DONE)
	{
		Step *s;

		if (tok != WJB_KEY)
			continue;
		s = palloc0(sizeof(Step));
		s->name = pnstrdup(k.val.string.val, k.val.string.len);
		s->path = psprintf("$.steps.%s", s->name);
		if (k.val.string.len == 0 || k.val.string.len > 64 || strspn(s->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != strlen(s->name))
			bad_definition(s->path, "a step name of 1 to 64 letters, digits, _ or -");
		if (list_length(jc->steps) >= MAX_STEPS)
			bad_definition("$.steps", "at most 200 steps");
		tok = JsonbIteratorNext(&it, &v, true);
		check_step(jc, s, &v);
		jc->steps = lappend(jc->steps, s);
	}
	if (jc->steps == NIL)
		bad_definition("$.steps", "at least one step");
	check_graph(jc, key_of(&root, "start"));
}

/*
 * SQL: personalize._journey_check(definition) -> (entry_kind, entry_events, wait_events,
 * goal_events, templates, template_paths, experiments, experiment_paths, segments,
 * segment_paths): checks a definition, refusing a bad node with its JSON path (22023).
 */
Datum
personalize_journey_check(PG_FUNCTION_ARGS)
{
	JourneyCheck jc = {0};
	TupleDesc	 desc;
	Datum		 values[10];
	bool		 nulls[10] = {0};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_journey_check must return a composite");
	check_definition(&jc, PG_GETARG_JSONB_P(0));
	values[0] = CStringGetTextDatum(jc.entry_kind);
	values[1] = segment_names_array(jc.entry_events);
	values[2] = segment_names_array(jc.wait_events);
	values[3] = segment_names_array(jc.goal_events);
	values[4] = segment_names_array(jc.templates);
	values[5] = segment_names_array(jc.template_paths);
	values[6] = segment_names_array(jc.experiments);
	values[7] = segment_names_array(jc.experiment_paths);
	values[8] = segment_names_array(jc.segments);
	values[9] = segment_names_array(jc.segment_paths);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
