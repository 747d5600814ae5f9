/*
 * journey_pass.c: the ingest statement's journey pass (docs/journeys.md, "Evaluation"). The
 * statement's matched events (entries, goals, wait_for completions, found by
 * _journeys_on_events in src/journey/run.sql) are applied to the runs of their profiles in
 * memory, in the waves that function describes (each profile's k-th matched event in the k-th
 * wave; in each wave wake-ups at the runs' own times, then goals, wait_for completions and
 * entries, each followed by the steps that happen at once). Waits, timeouts, goals, wait_for,
 * splits, exits and branches need no SQL: entry, exit and branch rules are evaluated once for
 * the statement's profiles at its as_of (nothing in the pass changes what they read), and the
 * send steps taken are sent when the pass ends (send_all: each send judged by the policy as
 * the SQL path judges it). Each run is then written once and the transitions in one INSERT, in
 * the order the SQL steps would have logged them. A statement with an update step in play (an
 * update changes the profile rules read, and can start runs through the trait trigger) is left
 * to the SQL path: the pass says so.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "core/personalize.h"
#include "segment/segment.h"

PG_FUNCTION_INFO_V1(personalize_journey_pass);

extern Datum personalize_bucket(PG_FUNCTION_ARGS);

#define MAX_ROUNDS 1000

/* One step of a version, its exits resolved to steps. */
typedef struct PStep
{
	const char	  *name;
	char		   kind; /* 'w' wait, 'f' wait_for, 'b' branch, 's' split, 'm' send, 'u' update, 'x' exit */
	const char	  *next_name[2];
	struct PStep  *next[2];	 /* next (or happened, yes), timed_out (or no) */
	Interval	  *duration; /* a wait's or a wait_for's timeout */
	const char	  *until;	 /* a wait until a time of day */
	const char	  *event;	 /* a wait_for's event */
	const char	  *as;		 /* where a wait_for puts its event's properties */
	int			   rule;	 /* a branch's rule */
	int			   shares;
	Datum		  *bound; /* a split: each share's cumulative percentage times 100 */
	const char	 **share_name;
	struct PStep **share;
	const char	  *salt;
	Jsonb		  *spec;  /* a send's spec */
	const char *template; /* a send's template */
} PStep;

/* One journey version in play. */
typedef struct PVersion
{
	int32		journey, version;
	const char *journey_name;
	bool		active; /* its journey is active: its runs wake */
	PStep	   *start;
	PStep	   *steps;
	int			n_steps;
	int			entry_rule, exit_rule; /* -1: none */
	char		reentry;			   /* 'a' whenever not in the journey, 'o' once, 'i' after an interval */
	Interval   *reentry_after;
	bool		has_update;
} PVersion;

/* One run, as loaded or started, with its state as the pass leaves it. */
typedef struct PRun
{
	int64		 run_id;
	PVersion	*v;
	int64		 profile;
	PStep		*step;
	char		 state; /* 'a' active, 'w' waiting, 'd' done */
	TimestampTz	 step_at, wake_at, entered_at, ended_at;
	bool		 waking; /* wake_at is set */
	const char	*waiting_for;
	Jsonb		*context;
	const char	*outcome;
	bool		 started, changed;
	int			 started_in;	  /* the entry group that started it (enter) */
	struct PRun *next_of_profile; /* the next run in flight of its profile */
} PRun;

/* When a profile last entered a journey (any run, in flight or not). */
typedef struct PEntered
{
	int32			 journey;
	TimestampTz		 at;
	struct PEntered *next;
} PEntered;

/* A profile of the statement: its runs in flight, its cart and time zone, its entries. */
typedef struct PProfile
{
	int64	  profile; /* the hash key */
	PRun	 *runs;
	Jsonb	 *cart; /* NULL: no cart */
	char	 *timezone;
	PEntered *entered;
} PProfile;

/* A rule's verdict for a profile, kept when it holds. */
typedef struct PRuleHit
{
	int	  rule;
	int64 profile;
} PRuleHit;

/* One matched event. */
typedef struct PMatch
{
	char		kind; /* 'e' entry, 'g' goal, 'w' wait_for */
	PVersion   *v;
	const char *step;
	int			event; /* 0-based position in the statement's events */
	int			wave;
	int			order; /* position among the matches */
} PMatch;

/* One logged transition. */
typedef struct PLog
{
	PRun	   *run;
	const char *from, *to, *cause;
	TimestampTz at;
} PLog;

/* A send step a run took: sent when the pass ends (send_all). */
typedef struct PSend
{
	PRun	   *run;
	PVersion   *v;
	PStep	   *step;
	Jsonb	   *context;
	TimestampTz at;
	int			seq;  /* in the order the steps were taken */
	int			turn; /* the profile's earlier sends of this step in the statement */
} PSend;

/* The whole pass. */
typedef struct Pass
{
	TimestampTz as_of;
	char	   *default_timezone;
	/* the statement's events */
	int			 n_events;
	int64		*ev_profile, *ev_id;
	char	   **ev_name;
	Jsonb	   **ev_props; /* NULL: SQL NULL */
	TimestampTz *ev_at;
	/* versions, rules, profiles, runs */
	PVersion  *versions;
	int		   n_versions;
	Jsonb	 **rules;
	int		   n_rules, cap_rules;
	HTAB	  *rule_hits;
	HTAB	  *profiles;
	int64	  *profile_ids;
	int		   n_profiles;
	PRun	 **runs;
	int		   n_runs, cap_runs;
	PLog	  *log;
	int		   n_log, cap_log;
	PSend	  *sends;
	int		   n_sends, cap_sends;
	int		   entries; /* entry groups so far */
	Oid		   run_seq;
	SPIPlanPtr send_plan, local_time_plan;
} Pass;

/* Grows an array of elements of size sz to hold n + 1. */
static void *
grow(void *p, int n, int *cap, Size sz)
{
	if (n < *cap)
		return p;
	*cap = *cap ? *cap * 2 : 64;
	return p ? repalloc_huge(p, (Size) *cap * sz) : palloc_extended((Size) *cap * sz, MCXT_ALLOC_HUGE);
}

/* The value at key in a jsonb container, or NULL. */
static JsonbValue *
get(JsonbContainer *c, const char *key)
{
	return c ? getKeyJsonValueFromContainer(c, key, strlen(key), NULL) : NULL;
}

/* A string value's text, or NULL when v is missing or not a string. */
static const char *
str(JsonbValue *v)
{
	return v && v->type == jbvString ? pnstrdup(v->val.string.val, v->val.string.len) : NULL;
}

/* The container of an object or array value, or NULL. */
static JsonbContainer *
container(JsonbValue *v)
{
	return v && v->type == jbvBinary ? v->val.binary.data : NULL;
}

/* A jsonb value as a Jsonb datum of its own. */
static Jsonb *
own_jsonb(JsonbValue *v)
{
	return JsonbValueToJsonb(v);
}

/* An interval from its text (a checked definition's duration). */
static Interval *
interval_of(const char *text)
{
	return DatumGetIntervalP(
		DirectFunctionCall3(interval_in, CStringGetDatum(text), ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
}

/* t + i, as SQL's timestamptz + interval. */
static TimestampTz
plus(TimestampTz t, Interval *i)
{
	return DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval, TimestampTzGetDatum(t), IntervalPGetDatum(i)));
}

/* Registers a rule for evaluation over the statement's profiles; returns its number. */
static int
add_rule(Pass *p, JsonbValue *rule)
{
	p->rules = grow(p->rules, p->n_rules, &p->cap_rules, sizeof(Jsonb *));
	p->rules[p->n_rules] = own_jsonb(rule);
	return p->n_rules++;
}

/* The step of a version by name, or NULL. */
static PStep *
step_named(PVersion *v, const char *name)
{
	if (name == NULL)
		return NULL;
	for (int i = 0; i < v->n_steps; i++)
		if (strcmp(v->steps[i].name, name) == 0)
			return &v->steps[i];
	return NULL;
}

/* Reads one step node of a checked definition. */
static void
read_step(Pass *p, PVersion *v, PStep *s, JsonbContainer *node)
{
	JsonbValue *x;

	if (get(node, "exit"))
		s->kind = 'x';
	else if ((x = get(node, "wait")) != NULL)
	{
		s->kind = 'w';
		if (x->type == jbvString)
			s->duration = interval_of(str(x));
		else
			s->until = str(get(container(x), "until"));
		s->next_name[0] = str(get(node, "next"));
	}
	else if ((x = get(node, "wait_for")) != NULL)
	{
		s->kind = 'f';
		s->event = str(get(container(x), "event"));
		s->duration = interval_of(str(get(container(x), "timeout")));
		s->as = str(get(container(x), "as"));
		s->next_name[0] = str(get(node, "happened"));
		s->next_name[1] = str(get(node, "timed_out"));
	}
	else if ((x = get(node, "branch")) != NULL)
	{
		s->kind = 'b';
		s->rule = add_rule(p, x);
		s->next_name[0] = str(get(node, "yes"));
		s->next_name[1] = str(get(node, "no"));
	}
	else if ((x = get(node, "split")) != NULL)
	{
		JsonbContainer *shares = container(x);
		Datum			sum = DirectFunctionCall1(int4_numeric, Int32GetDatum(0));
		Datum			hundred = DirectFunctionCall1(int4_numeric, Int32GetDatum(100));

		s->kind = 's';
		s->shares = JsonContainerSize(shares);
		s->bound = palloc(sizeof(Datum) * s->shares);
		s->share_name = palloc(sizeof(char *) * s->shares);
		s->share = palloc(sizeof(PStep *) * s->shares);
		for (int i = 0; i < s->shares; i++)
		{
			JsonbValue *e = getIthJsonbValueFromContainer(shares, i);
			JsonbValue *pct = get(container(e), "percent");

			/* sum((percent)::numeric) OVER (ORDER BY i) * 100, exactly as in SQL */
			sum = DirectFunctionCall2(numeric_add, sum, NumericGetDatum(pct->val.numeric));
			s->bound[i] = DirectFunctionCall2(numeric_mul, sum, hundred);
			s->share_name[i] = str(get(container(e), "next"));
		}
		s->salt = str(get(node, "salt"));
		if (s->salt == NULL)
			s->salt = psprintf("journey:%d:%s", v->journey, s->name);
	}
	else if ((x = get(node, "send")) != NULL)
	{
		s->kind = 'm';
		s->spec = own_jsonb(x);
		s->template = str(get(container(x), "template"));
		s->next_name[0] = str(get(node, "next"));
	}
	else if (get(node, "update"))
	{
		s->kind = 'u';
		v->has_update = true;
	}
	else
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("journey step \"%s\" has no kind", s->name)));
}

/* Reads a checked definition into a version. */
static void
read_version(Pass *p, PVersion *v, Jsonb *def)
{
	JsonbContainer	  *root = &def->root;
	JsonbContainer	  *steps = container(get(root, "steps"));
	JsonbValue		  *x;
	JsonbIterator	  *it;
	JsonbValue		   k, val;
	JsonbIteratorToken tok;
	int				   n = 0;

	v->entry_rule = (x = get(root, "rule")) != NULL ? add_rule(p, x) : -1;
	v->exit_rule = (x = get(root, "exit")) != NULL ? add_rule(p, x) : -1;
	v->reentry = 'a';
	if ((x = get(root, "reentry")) != NULL)
	{
		if (x->type == jbvString)
			v->reentry = strcmp(str(x), "once") == 0 ? 'o' : 'a';
		else
		{
			v->reentry = 'i';
			v->reentry_after = interval_of(str(get(container(x), "after")));
		}
	}
	v->n_steps = JsonContainerSize(steps);
	v->steps = palloc0(sizeof(PStep) * v->n_steps);
	it = JsonbIteratorInit(steps);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		if (tok != WJB_KEY)
			continue;
		tok = JsonbIteratorNext(&it, &val, true);
		v->steps[n].name = pnstrdup(k.val.string.val, k.val.string.len);
		read_step(p, v, &v->steps[n], container(&val));
		n++;
	}
	for (int i = 0; i < v->n_steps; i++)
	{
		PStep *s = &v->steps[i];

		s->next[0] = step_named(v, s->next_name[0]);
		s->next[1] = step_named(v, s->next_name[1]);
		for (int j = 0; j < s->shares; j++)
			s->share[j] = step_named(v, s->share_name[j]);
	}
	v->start = step_named(v, str(get(root, "start")));
}

/* The version (journey, version) among those loaded, or NULL. */
static PVersion *
version_of(Pass *p, int32 journey, int32 version)
{
	for (int i = 0; i < p->n_versions; i++)
		if (p->versions[i].journey == journey && p->versions[i].version == version)
			return &p->versions[i];
	return NULL;
}

/* The profile's entry in the pass (loaded for every profile of the statement). */
static PProfile *
profile_of(Pass *p, int64 id)
{
	PProfile *pr = hash_search(p->profiles, &id, HASH_FIND, NULL);

	if (pr == NULL)
		elog(ERROR, "journey pass: profile " INT64_FORMAT " was not loaded", id);
	return pr;
}

/* True when rule holds for the profile at the statement's as_of. */
static bool
rule_holds(Pass *p, int rule, int64 profile)
{
	PRuleHit key;

	memset(&key, 0, sizeof key);
	key.rule = rule;
	key.profile = profile;
	return hash_search(p->rule_hits, &key, HASH_FIND, NULL) != NULL;
}

/* Logs a transition of a run at a time. */
static void
log_transition(Pass *p, PRun *r, const char *from, const char *to, const char *cause, TimestampTz at)
{
	p->log = grow(p->log, p->n_log, &p->cap_log, sizeof(PLog));
	p->log[p->n_log++] = (PLog){r, from, to, cause, at};
}

/* Orders runs by run_id. */
static int
by_run_id(const void *a, const void *b)
{
	int64 x = (*(PRun *const *) a)->run_id, y = (*(PRun *const *) b)->run_id;

	return x < y ? -1 : x > y;
}

/* A list of runs, sorted by run_id and without repeats. */
typedef struct RunList
{
	PRun **runs;
	int	   n, cap;
} RunList;

/* Adds a run to a list. */
static void
runs_add(RunList *l, PRun *r)
{
	l->runs = grow(l->runs, l->n, &l->cap, sizeof(PRun *));
	l->runs[l->n++] = r;
}

/* Sorts a list by run_id and drops repeats. */
static void
runs_sort(RunList *l)
{
	int k = 0;

	if (l->n > 1)
		qsort(l->runs, l->n, sizeof(PRun *), by_run_id);
	for (int i = 0; i < l->n; i++)
		if (k == 0 || l->runs[k - 1] != l->runs[i])
			l->runs[k++] = l->runs[i];
	l->n = k;
}

/* Ends a run in flight with an outcome at a time (NULL at: its own time). */
static void
end_run(Pass *p, PRun *r, const TimestampTz *at, const char *outcome, const char *cause)
{
	if (r->state == 'd')
		return;
	r->ended_at = at ? *at : r->step_at;
	r->step_at = r->ended_at;
	r->state = 'd';
	r->outcome = outcome;
	r->waking = false;
	r->waiting_for = NULL;
	r->changed = true;
	log_transition(p, r, r->step->name, NULL, cause, r->ended_at);
	/* its profile's list keeps the runs in flight only (one per journey at most) */
	for (PRun **at = &profile_of(p, r->profile)->runs; *at; at = &(*at)->next_of_profile)
		if (*at == r)
		{
			*at = r->next_of_profile;
			break;
		}
}

/* Moves a run in flight to a step, logged at its own time. */
static void
move_run(Pass *p, PRun *r, PStep *to, const char *cause)
{
	const char *from = r->step->name;

	if (r->state == 'd')
		return;
	if (to == NULL)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("journey run " INT64_FORMAT " has no next step", r->run_id)));
	r->step = to;
	r->state = 'a';
	r->waking = false;
	r->waiting_for = NULL;
	r->changed = true;
	log_transition(p, r, from, to->name, cause, r->step_at);
}

/* When a wait until a time of day ends for a run: _next_local_time in the profile's zone. */
static TimestampTz
local_wake(Pass *p, PRun *r)
{
	PProfile *pr = profile_of(p, r->profile);
	Datum	  args[4];
	char	  nulls[4] = {' ', pr->timezone ? ' ' : 'n', ' ', ' '};
	bool	  isnull;

	if (p->local_time_plan == NULL)
	{
		Oid types[4] = {TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID};

		p->local_time_plan = SPI_prepare("SELECT personalize._next_local_time($1 + interval '1 microsecond',"
										 " personalize._timezone_or($2, $3), $4::time)",
										 4, types);
		if (p->local_time_plan == NULL)
			elog(ERROR, "journey pass: could not prepare the local time statement");
	}
	args[0] = TimestampTzGetDatum(r->step_at);
	args[1] = pr->timezone ? CStringGetTextDatum(pr->timezone) : (Datum) 0;
	args[2] = CStringGetTextDatum(p->default_timezone);
	args[3] = CStringGetTextDatum(r->step->until);
	if (SPI_execute_plan(p->local_time_plan, args, nulls, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "journey pass: could not compute a local wake-up time");
	return DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* The share of a split a run's profile falls in (personalize.bucket, as in SQL). */
static PStep *
split_share(PRun *r)
{
	PStep *s = r->step;
	int32  b = DatumGetInt32(DirectFunctionCall2(personalize_bucket, Int64GetDatum(r->profile), CStringGetTextDatum(s->salt)));
	Datum  bucket = DirectFunctionCall1(int4_numeric, Int32GetDatum(b));

	for (int i = 0; i < s->shares; i++)
		if (DatumGetBool(DirectFunctionCall2(numeric_lt, bucket, s->bound[i])))
			return s->share[i];
	return s->share[s->shares - 1];
}

/* Orders sends by journey, step name and version (one _journey_send each, as in SQL), then by
 * the profile's turn (a profile is in a call at most once), then as they came. */
static int
by_send_call(const void *a, const void *b)
{
	const PSend *x = a, *y = b;
	int			 c;

	if (x->step != y->step)
	{
		if (x->v->journey != y->v->journey)
			return x->v->journey < y->v->journey ? -1 : 1;
		if ((c = strcmp(x->step->name, y->step->name)) != 0)
			return c;
		if (x->v->version != y->v->version)
			return x->v->version < y->v->version ? -1 : 1;
	}
	if (x->turn != y->turn)
		return x->turn - y->turn;
	return x->seq - y->seq;
}

/* Orders sends by step, profile, then as they came: to count each profile's turns. */
static int
by_step_profile(const void *a, const void *b)
{
	const PSend *x = a, *y = b;

	if (x->step != y->step)
		return x->step < y->step ? -1 : 1;
	if (x->run->profile != y->run->profile)
		return x->run->profile < y->run->profile ? -1 : 1;
	return x->seq - y->seq;
}

/* Builds a one-dimensional array from n datums of a type (nulls may be NULL). */
static Datum
array_of(Datum *values, bool *nulls, int n, Oid type)
{
	int	  dims[1] = {n}, lbs[1] = {1};
	int16 len;
	bool  byval;
	char  align;

	get_typlenbyvalalign(type, &len, &byval, &align);
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs, type, len, byval, align));
}

/* Notes a run's send step, with the run's context and time as they are now. */
static void
note_send(Pass *p, PRun *r)
{
	p->sends = grow(p->sends, p->n_sends, &p->cap_sends, sizeof(PSend));
	p->sends[p->n_sends] = (PSend){r, r->v, r->step, r->context, r->step_at, p->n_sends, 0};
	p->n_sends++;
}

/*
 * Sends what the pass's send steps noted, through the send policy and the outbox: one
 * _journey_send per journey, step and turn, where a profile's k-th send of a step in the
 * statement is in its k-th turn. The policy judges each call on its own (what it counts is sent
 * or leased, never queued), and a call never holds a profile twice, as a round's call in SQL
 * never does, so each send is judged as the SQL path judges it; only the order of send_ids
 * differs.
 */
static void
send_all(Pass *p)
{
	PSend *s = p->sends;
	int	   n = p->n_sends, i = 0;

	if (n == 0)
		return;
	qsort(s, n, sizeof(PSend), by_step_profile);
	for (int k = 1; k < n; k++)
		if (s[k].step == s[k - 1].step && s[k].run->profile == s[k - 1].run->profile)
			s[k].turn = s[k - 1].turn + 1;
	qsort(s, n, sizeof(PSend), by_send_call);
	while (i < n)
	{
		int	   j = i;
		Datum *ids, *pids, *ctxs, *ats, args[9];

		while (j < n && s[j].step == s[i].step && s[j].turn == s[i].turn)
			j++;
		ids = palloc(sizeof(Datum) * (j - i));
		pids = palloc(sizeof(Datum) * (j - i));
		ctxs = palloc(sizeof(Datum) * (j - i));
		ats = palloc(sizeof(Datum) * (j - i));
		for (int k = i; k < j; k++)
		{
			ids[k - i] = Int64GetDatum(s[k].run->run_id);
			pids[k - i] = Int64GetDatum(s[k].run->profile);
			ctxs[k - i] = JsonbPGetDatum(s[k].context);
			ats[k - i] = TimestampTzGetDatum(s[k].at);
		}
		if (p->send_plan == NULL)
		{
			Oid types[9] = {INT4OID, TEXTOID, TEXTOID, JSONBOID, INT8ARRAYOID, INT8ARRAYOID, JSONBARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZOID};

			p->send_plan = SPI_prepare("SELECT personalize._journey_send($1, $2, $3, $4, $5, $6, $7, $8, $9)", 9, types);
			if (p->send_plan == NULL)
				elog(ERROR, "journey pass: could not prepare the send statement");
		}
		args[0] = Int32GetDatum(s[i].v->journey);
		args[1] = CStringGetTextDatum(s[i].v->journey_name);
		args[2] = CStringGetTextDatum(s[i].step->name);
		args[3] = JsonbPGetDatum(s[i].step->spec);
		args[4] = array_of(ids, NULL, j - i, INT8OID);
		args[5] = array_of(pids, NULL, j - i, INT8OID);
		args[6] = array_of(ctxs, NULL, j - i, JSONBOID);
		args[7] = array_of(ats, NULL, j - i, TIMESTAMPTZOID);
		args[8] = TimestampTzGetDatum(p->as_of);
		if (SPI_execute_plan(p->send_plan, args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "journey pass: could not send");
		i = j;
	}
}

/*
 * Runs the steps that happen at once for the runs of list, round by round, until each waits
 * or has ended, as _journey_advance does: exit rules first, then exit steps, waits, sends (by
 * _journey_send), and the moves of branches, splits and sends, each round's moves logged in
 * run_id order.
 */
static void
advance(Pass *p, RunList *list)
{
	RunList cur = *list, moves = {0};
	int		rounds = 0;

	for (;;)
	{
		int k = 0;

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < cur.n; i++)
			if (cur.runs[i]->state == 'a')
				cur.runs[k++] = cur.runs[i];
		cur.n = k;
		runs_sort(&cur);
		if (cur.n == 0)
			break;
		if (++rounds > MAX_ROUNDS)
			ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED), errmsg("journey runs did not come to a wait after 1000 steps")));
		for (int i = 0; i < cur.n; i++)
		{
			PRun *r = cur.runs[i];

			if (r->v->exit_rule >= 0 && rule_holds(p, r->v->exit_rule, r->profile))
				end_run(p, r, NULL, "exited", "exit rule");
		}
		for (int i = 0; i < cur.n; i++)
			if (cur.runs[i]->state == 'a' && cur.runs[i]->step->kind == 'x')
				end_run(p, cur.runs[i], NULL, "completed", "exit step");
		moves.n = 0;
		for (int i = 0; i < cur.n; i++)
		{
			PRun  *r = cur.runs[i];
			PStep *s = r->step;

			if (r->state != 'a')
				continue;
			switch (s->kind)
			{
				case 'w':
				case 'f':
					r->state = 'w';
					r->waiting_for = s->kind == 'f' ? s->event : NULL;
					r->wake_at = s->duration ? plus(r->step_at, s->duration) : local_wake(p, r);
					r->waking = true;
					r->changed = true;
					break;
				case 'm':
					note_send(p, r);
					/* fall through */
				case 'b':
				case 's':
					runs_add(&moves, r);
					break;
				case 'u':
					ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("journey pass: update steps take the SQL path")));
			}
		}
		for (int i = 0; i < moves.n; i++)
		{
			PRun  *r = moves.runs[i];
			PStep *s = r->step;

			if (s->kind == 'b')
				move_run(p, r, s->next[rule_holds(p, s->rule, r->profile) ? 0 : 1],
						 rule_holds(p, s->rule, r->profile) ? "branch: yes" : "branch: no");
			else if (s->kind == 's')
				move_run(p, r, split_share(r), "split");
			else
				move_run(p, r, s->next[0], psprintf("send: %s", s->template));
		}
	}
}

/* Wakes runs (sorted) at their wake_at: a wait goes on to next, a wait_for to timed_out; then on. */
static void
wake(Pass *p, RunList *due)
{
	for (int i = 0; i < due->n; i++)
	{
		PRun *r = due->runs[i];

		r->step_at = r->wake_at;
		move_run(p, r, r->step->kind == 'f' ? r->step->next[1] : r->step->next[0], r->step->kind == 'f' ? "timed out" : "waited");
	}
	advance(p, due);
}

/* The run in flight of a journey for a profile, or NULL. */
static PRun *
run_in_flight(PProfile *pr, int32 journey)
{
	for (PRun *r = pr->runs; r; r = r->next_of_profile)
		if (r->v->journey == journey && r->state != 'd')
			return r;
	return NULL;
}

/* Adds a run to the pass and to its profile. */
static PRun *
add_run(Pass *p, PRun *r)
{
	PProfile *pr = profile_of(p, r->profile);

	p->runs = grow(p->runs, p->n_runs, &p->cap_runs, sizeof(PRun *));
	p->runs[p->n_runs++] = r;
	r->next_of_profile = pr->runs;
	pr->runs = r;
	return r;
}

/* When the profile last entered the journey, or NULL. */
static PEntered *
entered_of(PProfile *pr, int32 journey)
{
	for (PEntered *e = pr->entered; e; e = e->next)
		if (e->journey == journey)
			return e;
	return NULL;
}

/* Notes an entry of a profile into a journey at a time. */
static void
note_entered(PProfile *pr, int32 journey, TimestampTz at)
{
	PEntered *e = entered_of(pr, journey);

	if (e == NULL)
	{
		e = palloc0(sizeof(PEntered));
		e->journey = journey;
		e->at = at;
		e->next = pr->entered;
		pr->entered = e;
	}
	else if (at > e->at)
		e->at = at;
}

/* base || {key: value} (value NULL: JSON null), as SQL's jsonb || jsonb_build_object. */
static Jsonb *
with_key(Jsonb *base, const char *key, Jsonb *value)
{
	JsonbParseState *st = NULL;
	JsonbValue		 k, v;
	JsonbValue		*obj;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(&st, WJB_KEY, &k);
	if (value == NULL)
	{
		v.type = jbvNull;
		pushJsonbValue(&st, WJB_VALUE, &v);
	}
	else if (JB_ROOT_IS_SCALAR(value))
	{
		JsonbExtractScalar(&value->root, &v);
		pushJsonbValue(&st, WJB_VALUE, &v);
	}
	else
	{
		v.type = jbvBinary;
		v.val.binary.data = &value->root;
		v.val.binary.len = VARSIZE(value) - VARHDRSZ;
		pushJsonbValue(&st, WJB_VALUE, &v);
	}
	obj = pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	if (base == NULL)
		return JsonbValueToJsonb(obj);
	return DatumGetJsonbP(DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(base), JsonbPGetDatum(JsonbValueToJsonb(obj))));
}

/* A JSON string as a jsonb. */
static Jsonb *
text_jsonb(const char *text)
{
	JsonbValue v;

	v.type = jbvString;
	v.val.string.val = (char *) text;
	v.val.string.len = strlen(text);
	return JsonbValueToJsonb(&v);
}

/* Orders entry matches by journey, version, then profile, then time, then position. */
static int
by_entry(const void *a, const void *b, void *arg)
{
	const PMatch *x = a, *y = b;
	Pass		 *p = arg;
	int64		  px = p->ev_profile[x->event], py = p->ev_profile[y->event];

	if (x->v != y->v)
		return x->v->journey != y->v->journey ? (x->v->journey < y->v->journey ? -1 : 1)
											  : (x->v->version < y->v->version ? -1 : 1);
	if (px != py)
		return px < py ? -1 : 1;
	if (p->ev_at[x->event] != p->ev_at[y->event])
		return p->ev_at[x->event] < p->ev_at[y->event] ? -1 : 1;
	return x->order - y->order;
}

/* Entries of one wave (matches m[0..n), sorted by by_entry), as _journey_start then advance. */
static void
enter(Pass *p, PMatch *m, int n)
{
	RunList started = {0};
	int		i = 0;

	while (i < n)
	{
		PVersion *v = m[i].v;
		int		  j = i;
		RunList	  now = {0};

		while (j < n && m[j].v == v)
			j++;
		p->entries++; /* the runs this group starts are marked with it */
		/* one candidate per profile, the earliest; started in profile order */
		for (int k = i; k < j; k++)
		{
			int			e = m[k].event;
			int64		pid = p->ev_profile[e];
			TimestampTz at = p->ev_at[e];
			PProfile   *pr;
			PEntered   *last;
			PRun	   *r;
			Jsonb	   *ctx;

			if (k > i && p->ev_profile[m[k - 1].event] == pid)
				continue;
			if (v->entry_rule >= 0 && !rule_holds(p, v->entry_rule, pid))
				continue;
			pr = profile_of(p, pid);
			if (run_in_flight(pr, v->journey))
				continue;
			last = entered_of(pr, v->journey);
			if (last && (v->reentry == 'o' || (v->reentry == 'i' && last->at > DatumGetTimestampTz(DirectFunctionCall2(
																				   timestamptz_mi_interval, TimestampTzGetDatum(at),
																				   IntervalPGetDatum(v->reentry_after))))))
				continue;
			ctx = with_key(NULL, "event", text_jsonb(p->ev_name[e]));
			ctx = with_key(ctx, "properties", p->ev_props[e]);
			ctx = with_key(ctx, "cart", pr->cart);
			r = palloc0(sizeof(PRun));
			r->run_id = nextval_internal(p->run_seq, false);
			r->v = v;
			r->profile = pid;
			r->step = v->start;
			r->state = 'a';
			r->step_at = r->entered_at = at;
			r->context = ctx;
			r->started = r->changed = true;
			r->started_in = p->entries;
			add_run(p, r);
			note_entered(pr, v->journey, at);
			runs_add(&now, r);
			log_transition(p, r, NULL, v->start->name, psprintf("entry: %s", p->ev_name[e]), at);
		}
		/* a run already in flight keeps going, with the profile's cart as it is now */
		for (int k = i; k < j; k++)
		{
			PProfile *pr = profile_of(p, p->ev_profile[m[k].event]);
			PRun	 *r = run_in_flight(pr, v->journey);

			if (r && r->started_in != p->entries)
			{
				r->context = with_key(r->context, "cart", pr->cart);
				r->changed = true;
			}
		}
		for (int k = 0; k < now.n; k++)
			runs_add(&started, now.runs[k]);
		i = j;
	}
	if (started.n > 0)
		advance(p, &started);
}

/* Orders matches by wave, then position. */
static int
by_wave(const void *a, const void *b)
{
	const PMatch *x = a, *y = b;

	return x->wave != y->wave ? x->wave - y->wave : x->order - y->order;
}

/* Orders goal matches by event name (one group per name, as SQL's GROUP BY), then position. */
static int
by_goal(const void *a, const void *b, void *arg)
{
	const PMatch *x = a, *y = b;
	Pass		 *p = arg;
	int			  c = strcmp(p->ev_name[x->event], p->ev_name[y->event]);

	return c != 0 ? c : x->order - y->order;
}

/* The run in flight of a match's version for its event's profile, or NULL. */
static PRun *
matched_run(Pass *p, PMatch *m)
{
	PRun *r = run_in_flight(profile_of(p, p->ev_profile[m->event]), m->v->journey);

	return r && r->v == m->v ? r : NULL;
}

/* One wave (matches m[0..n)): wake-ups to the events' times, goals, wait_for completions, entries. */
static void
run_wave(Pass *p, PMatch *m, int n)
{
	RunList list = {0};
	int		k = 0;

	/* the runs of the wave's profiles wake up to the event's time, at their own times */
	for (;;)
	{
		list.n = 0;
		for (int i = 0; i < n; i++)
		{
			int64		pid = p->ev_profile[m[i].event];
			TimestampTz at = p->ev_at[m[i].event];

			if (i > 0 && p->ev_profile[m[i - 1].event] == pid && m[i - 1].event == m[i].event)
				continue;
			for (PRun *r = profile_of(p, pid)->runs; r; r = r->next_of_profile)
				if (r->state == 'w' && r->v->active && r->waking && r->wake_at <= at)
					runs_add(&list, r);
		}
		runs_sort(&list);
		if (list.n == 0)
			break;
		wake(p, &list);
	}

	/* goals end the runs in flight wherever they are */
	{
		PMatch *g = palloc(sizeof(PMatch) * n);
		int		ng = 0, i = 0;

		for (int j = 0; j < n; j++)
			if (m[j].kind == 'g')
				g[ng++] = m[j];
		qsort_arg(g, ng, sizeof(PMatch), by_goal, p);
		while (i < ng)
		{
			int j = i;

			list.n = 0;
			while (j < ng && strcmp(p->ev_name[g[j].event], p->ev_name[g[i].event]) == 0)
			{
				PRun *r = matched_run(p, &g[j]);

				if (r)
				{
					runs_add(&list, r);
					r->ended_at = p->ev_at[g[j].event]; /* the goal's time, read back below */
				}
				j++;
			}
			runs_sort(&list);
			for (int x = 0; x < list.n; x++)
			{
				TimestampTz at = list.runs[x]->ended_at;

				end_run(p, list.runs[x], &at, "converted", psprintf("goal: %s", p->ev_name[g[i].event]));
			}
			i = j;
		}
	}

	/* wait_for steps whose event came: its properties join the context, on to happened */
	list.n = 0;
	for (int i = 0; i < n; i++)
	{
		PRun *r;

		if (m[i].kind != 'w' || (r = matched_run(p, &m[i])) == NULL || r->state != 'w' || strcmp(r->step->name, m[i].step) != 0)
			continue;
		r->step_at = p->ev_at[m[i].event];
		r->state = 'a';
		r->context = with_key(r->context, r->step->as ? r->step->as : r->step->name, p->ev_props[m[i].event]);
		r->changed = true;
		r->waiting_for = (const char *) p->ev_name[m[i].event]; /* the cause, read back below */
		runs_add(&list, r);
	}
	runs_sort(&list);
	if (list.n > 0)
	{
		RunList came = {0};

		for (int i = 0; i < list.n; i++)
		{
			PRun *r = list.runs[i];

			move_run(p, r, r->step->next[0], psprintf("happened: %s", r->waiting_for));
			runs_add(&came, r);
		}
		advance(p, &came);
	}

	/* entries, journey by journey; the runs started then run their first steps together */
	for (int i = 0; i < n; i++)
		if (m[i].kind == 'e')
			m[k++] = m[i];
	qsort_arg(m, k, sizeof(PMatch), by_entry, p);
	enter(p, m, k);
}

/* Orders event positions by profile, time, event_id. */
static int
by_profile_time(const void *a, const void *b, void *arg)
{
	Pass *p = arg;
	int	  x = *(const int *) a, y = *(const int *) b;

	if (p->ev_profile[x] != p->ev_profile[y])
		return p->ev_profile[x] < p->ev_profile[y] ? -1 : 1;
	if (p->ev_at[x] != p->ev_at[y])
		return p->ev_at[x] < p->ev_at[y] ? -1 : 1;
	return p->ev_id[x] < p->ev_id[y] ? -1 : p->ev_id[x] > p->ev_id[y];
}

/* Runs a statement with arguments; ERROR unless it returns expect. */
static void
run_sql(const char *sql, int nargs, Oid *types, Datum *args, const char *nulls, int expect)
{
	if (SPI_execute_with_args(sql, nargs, types, args, nulls, false, 0) != expect)
		elog(ERROR, "journey pass: a statement failed: %s", sql);
}

/* A column of the current SPI result: the datum (copied) of row i, column c; isnull set. */
static Datum
col(int i, int c, bool *isnull)
{
	Datum d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, c, isnull);

	if (*isnull)
		return (Datum) 0;
	return SPI_datumTransfer(d, TupleDescAttr(SPI_tuptable->tupdesc, c - 1)->attbyval,
							 TupleDescAttr(SPI_tuptable->tupdesc, c - 1)->attlen);
}

/* A text column of the current SPI result as a C string, or NULL. */
static char *
col_text(int i, int c)
{
	bool  isnull;
	Datum d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, c, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* Loads the statement's profiles' carts and zones, and when each last entered each journey. */
static void
load_profiles(Pass *p, Datum pids)
{
	Oid	  t[1] = {INT8ARRAYOID};
	Datum a[1] = {pids};

	run_sql("SELECT p.profile_id, p.cart, p.traits ->> 'timezone' FROM personalize.profiles p"
			" WHERE p.profile_id = ANY ($1)",
			1, t, a, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool	  isnull;
		int64	  id = DatumGetInt64(col(i, 1, &isnull));
		PProfile *pr = profile_of(p, id);
		Datum	  cart = col(i, 2, &isnull);

		pr->cart = isnull ? NULL : DatumGetJsonbP(cart);
		pr->timezone = col_text(i, 3);
	}
	run_sql("SELECT r.journey_id, r.profile_id, max(r.entered_at) FROM personalize.journey_runs r"
			" WHERE r.profile_id = ANY ($1) GROUP BY 1, 2",
			1, t, a, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool  isnull;
		int32 j = DatumGetInt32(col(i, 1, &isnull));
		int64 id = DatumGetInt64(col(i, 2, &isnull));

		note_entered(profile_of(p, id), j, DatumGetTimestampTz(col(i, 3, &isnull)));
	}
}

/* Evaluates every rule in play once for all the statement's profiles (pids) at its as_of. */
static void
evaluate_rules(Pass *p, Datum pids)
{
	for (int i = 0; i < p->n_rules; i++)
	{
		JsonbValue root;
		Oid		   t[2] = {TIMESTAMPTZOID, INT8ARRAYOID};
		Datum	   a[2] = {TimestampTzGetDatum(p->as_of), pids};

		root.type = jbvBinary;
		root.val.binary.data = &p->rules[i]->root;
		root.val.binary.len = VARSIZE(p->rules[i]) - VARHDRSZ;
		run_sql(segment_match_statement(&root, "$"), 2, t, a, NULL, SPI_OK_SELECT);
		for (uint64 k = 0; k < SPI_processed; k++)
		{
			PRuleHit key;
			bool	 isnull;

			memset(&key, 0, sizeof key);
			key.rule = i;
			key.profile = DatumGetInt64(col(k, 1, &isnull));
			(void) hash_search(p->rule_hits, &key, HASH_ENTER, NULL);
		}
	}
}

/* Loads the runs in flight of the statement's profiles and the versions in play, then the
 * profiles and the rules; false (nothing more loaded) when a version in play has an update step. */
static bool
load(Pass *p, PMatch *m, int n_matches, Datum only_journey, bool only_null)
{
	Datum  pids = array_of((Datum *) p->profile_ids, NULL, p->n_profiles, INT8OID);
	Oid	   t2[2] = {INT8ARRAYOID, INT4OID};
	Datum  a2[2] = {pids, only_journey};
	char   n2[2] = {' ', only_null ? 'n' : ' '};
	int	   n_runs;
	Datum *run_j, *run_v;
	char **steps;
	int	   nv = 0;
	PRun  *loaded;

	/* runs in flight; their versions and the matches' versions */
	run_sql("SELECT r.run_id, r.journey_id, r.version, r.profile_id, r.step, r.state, r.step_at, r.wake_at,"
			" r.waiting_for, r.context, r.entered_at FROM personalize.journey_runs r"
			" WHERE r.profile_id = ANY ($1) AND r.state <> 'done' AND ($2 IS NULL OR r.journey_id = $2)"
			" ORDER BY r.run_id",
			2, t2, a2, n2, SPI_OK_SELECT);
	n_runs = (int) SPI_processed;
	loaded = palloc0(sizeof(PRun) * (n_runs + 1));
	run_j = palloc(sizeof(Datum) * (n_runs + n_matches + 1));
	run_v = palloc(sizeof(Datum) * (n_runs + n_matches + 1));
	steps = palloc(sizeof(char *) * (n_runs + 1));
	for (int i = 0; i < n_runs; i++)
	{
		PRun *r = &loaded[i];
		bool  isnull;
		char *state = col_text(i, 6);

		r->run_id = DatumGetInt64(col(i, 1, &isnull));
		run_j[i] = col(i, 2, &isnull);
		run_v[i] = col(i, 3, &isnull);
		r->profile = DatumGetInt64(col(i, 4, &isnull));
		steps[i] = col_text(i, 5);
		r->state = state[0] == 'w' ? 'w' : 'a';
		r->step_at = DatumGetTimestampTz(col(i, 7, &isnull));
		r->wake_at = DatumGetTimestampTz(col(i, 8, &isnull));
		r->waking = !isnull;
		r->waiting_for = col_text(i, 9);
		r->context = DatumGetJsonbP(col(i, 10, &isnull));
		r->entered_at = DatumGetTimestampTz(col(i, 11, &isnull));
	}
	for (int i = 0; i < n_matches; i++)
	{
		run_j[n_runs + i] = Int32GetDatum(m[i].v->journey);
		run_v[n_runs + i] = Int32GetDatum(m[i].v->version);
	}
	{
		Oid	  t[2] = {INT4ARRAYOID, INT4ARRAYOID};
		Datum a[2] = {array_of(run_j, NULL, n_runs + n_matches, INT4OID), array_of(run_v, NULL, n_runs + n_matches, INT4OID)};

		run_sql("SELECT v.journey_id, v.version, j.name, j.status = 'active', v.definition"
				" FROM personalize.journey_versions v JOIN personalize.journeys j USING (journey_id)"
				" WHERE (v.journey_id, v.version) IN (SELECT * FROM unnest($1, $2)) ORDER BY 1, 2",
				2, t, a, NULL, SPI_OK_SELECT);
	}
	nv = (int) SPI_processed;
	{
		PVersion *vs = palloc0(sizeof(PVersion) * (nv + 1));
		Jsonb	**defs = palloc(sizeof(Jsonb *) * (nv + 1));

		for (int i = 0; i < nv; i++)
		{
			bool isnull;

			vs[i].journey = DatumGetInt32(col(i, 1, &isnull));
			vs[i].version = DatumGetInt32(col(i, 2, &isnull));
			vs[i].journey_name = col_text(i, 3);
			vs[i].active = DatumGetBool(col(i, 4, &isnull));
			defs[i] = DatumGetJsonbP(col(i, 5, &isnull));
		}
		/* the matches point at placeholder versions: point them at the loaded ones */
		for (int i = 0; i < n_matches; i++)
		{
			int32 j = m[i].v->journey, v = m[i].v->version;

			m[i].v = NULL;
			for (int x = 0; x < nv; x++)
				if (vs[x].journey == j && vs[x].version == v)
					m[i].v = &vs[x];
			if (m[i].v == NULL)
				elog(ERROR, "journey pass: version %d of journey %d is gone", v, j);
		}
		p->versions = vs;
		p->n_versions = nv;
		for (int i = 0; i < nv; i++)
		{
			read_version(p, &vs[i], defs[i]);
			if (vs[i].has_update)
				return false;
		}
	}
	for (int i = 0; i < n_runs; i++)
	{
		PRun	 *r = &loaded[i];
		PVersion *v = version_of(p, DatumGetInt32(run_j[i]), DatumGetInt32(run_v[i]));

		if (v == NULL)
			elog(ERROR, "journey pass: the version of run " INT64_FORMAT " is gone", r->run_id);
		r->v = v;
		r->step = step_named(v, steps[i]);
		if (r->step == NULL)
			elog(ERROR, "journey pass: run " INT64_FORMAT " is at an unknown step", r->run_id);
		add_run(p, r);
	}

	load_profiles(p, pids);
	evaluate_rules(p, pids);
	run_sql("SELECT coalesce((SELECT s.default_timezone FROM personalize.send_settings s), 'UTC')", 0, NULL, NULL, NULL,
			SPI_OK_SELECT);
	p->default_timezone = col_text(0, 1);
	return true;
}

/* The text of a run's state. */
static const char *
state_text(char state)
{
	return state == 'a' ? "active" : state == 'w' ? "waiting"
												  : "done";
}

/* Writes every run the pass started or changed, once, and the transitions in order. */
static void
write_back(Pass *p)
{
	int	   n = p->n_runs, nl = p->n_log;
	Datum *c[13];
	bool  *z[13];

	for (int k = 0; k < 13; k++)
	{
		c[k] = palloc(sizeof(Datum) * (Max(n, nl) + 1));
		z[k] = palloc0(sizeof(bool) * (Max(n, nl) + 1));
	}
	/* the runs changed first (a run that ended frees its journey for a run started after it),
	 * then the runs started, each in its final state */
	for (int pass = 1; pass >= 0; pass--)
	{
		int cnt = 0;

		for (int i = 0; i < n; i++)
		{
			PRun *r = p->runs[i];

			if (pass == 0 ? !r->started : (r->started || !r->changed))
				continue;
			c[0][cnt] = Int64GetDatum(r->run_id);
			c[1][cnt] = Int32GetDatum(r->v->journey);
			c[2][cnt] = Int32GetDatum(r->v->version);
			c[3][cnt] = Int64GetDatum(r->profile);
			c[4][cnt] = CStringGetTextDatum(r->step->name);
			c[5][cnt] = CStringGetTextDatum(state_text(r->state));
			c[6][cnt] = TimestampTzGetDatum(r->step_at);
			c[7][cnt] = TimestampTzGetDatum(r->wake_at);
			z[7][cnt] = !(r->state == 'w' && r->waking);
			c[8][cnt] = r->waiting_for && r->state == 'w' ? CStringGetTextDatum(r->waiting_for) : (Datum) 0;
			z[8][cnt] = !(r->waiting_for && r->state == 'w');
			c[9][cnt] = JsonbPGetDatum(r->context);
			c[10][cnt] = TimestampTzGetDatum(r->entered_at);
			c[11][cnt] = TimestampTzGetDatum(r->ended_at);
			z[11][cnt] = r->state != 'd';
			c[12][cnt] = r->outcome ? CStringGetTextDatum(r->outcome) : (Datum) 0;
			z[12][cnt] = r->outcome == NULL;
			cnt++;
		}
		if (cnt == 0)
			continue;
		{
			static const Oid elem[13] = {INT8OID, INT4OID, INT4OID, INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID,
										 TIMESTAMPTZOID, TEXTOID, JSONBOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID};
			Oid				 t[13];
			Datum			 a[13];

			for (int k = 0; k < 13; k++)
			{
				t[k] = get_array_type(elem[k]);
				a[k] = array_of(c[k], z[k], cnt, elem[k]);
			}
			if (pass == 0)
			{
				run_sql("INSERT INTO personalize.journey_runs (run_id, journey_id, version, profile_id, step, state, step_at,"
						" wake_at, waiting_for, context, entered_at, ended_at, outcome) OVERRIDING SYSTEM VALUE"
						" SELECT * FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ORDER BY 4, 1",
						13, t, a, NULL, SPI_OK_INSERT);
			}
			else
			{
				run_sql("UPDATE personalize.journey_runs r SET step = x.step, state = x.state, step_at = x.step_at,"
						" wake_at = x.wake_at, waiting_for = x.waiting_for, context = x.context, ended_at = x.ended_at,"
						" outcome = x.outcome"
						" FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
						" AS x(run_id, journey_id, version, profile_id, step, state, step_at, wake_at, waiting_for, context,"
						" entered_at, ended_at, outcome)"
						" WHERE r.profile_id = x.profile_id AND r.run_id = x.run_id AND r.state <> 'done'",
						13, t, a, NULL, SPI_OK_UPDATE);
				if ((int) SPI_processed != cnt)
					elog(ERROR, "journey pass: %d runs changed meanwhile", cnt - (int) SPI_processed);
			}
		}
	}
	if (nl == 0)
		return;
	for (int i = 0; i < nl; i++)
	{
		PLog *l = &p->log[i];

		c[0][i] = Int64GetDatum(l->run->run_id);
		c[1][i] = Int32GetDatum(l->run->v->journey);
		c[2][i] = Int32GetDatum(l->run->v->version);
		c[3][i] = Int64GetDatum(l->run->profile);
		c[4][i] = l->from ? CStringGetTextDatum(l->from) : (Datum) 0;
		z[4][i] = l->from == NULL;
		c[5][i] = l->to ? CStringGetTextDatum(l->to) : (Datum) 0;
		z[5][i] = l->to == NULL;
		c[6][i] = CStringGetTextDatum(l->cause);
		c[7][i] = TimestampTzGetDatum(l->at);
	}
	{
		static const Oid elem[8] = {INT8OID, INT4OID, INT4OID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID};
		Oid				 t[8];
		Datum			 a[8];

		for (int k = 0; k < 8; k++)
		{
			t[k] = get_array_type(elem[k]);
			a[k] = array_of(c[k], k == 4 || k == 5 ? z[k] : NULL, nl, elem[k]);
		}
		run_sql("INSERT INTO personalize.journey_log (run_id, journey_id, version, profile_id, from_step, to_step, cause, at)"
				" SELECT x.run_id, x.journey_id, x.version, x.profile_id, x.from_step, x.to_step, x.cause, x.at"
				" FROM unnest($1, $2, $3, $4, $5, $6, $7, $8) WITH ORDINALITY"
				" AS x(run_id, journey_id, version, profile_id, from_step, to_step, cause, at, ord) ORDER BY x.ord",
				8, t, a, NULL, SPI_OK_INSERT);
	}
}

/* The elements of an array argument (no nulls expected but tolerated as NULL datums). */
static int
elements(ArrayType *a, Oid type, Datum **values, bool **nulls)
{
	int16 len;
	bool  byval;
	char  align;
	int	  n;

	get_typlenbyvalalign(type, &len, &byval, &align);
	deconstruct_array(a, type, len, byval, align, values, nulls, &n);
	return n;
}

/*
 * SQL: personalize._journey_pass(pids bigint[], names text[], props jsonb[], ats timestamptz[],
 * eids bigint[], m_kind text[], m_journey integer[], m_version integer[], m_step text[],
 * m_ord integer[], only_journey integer, as_of timestamptz) -> boolean: applies the statement's
 * matched events (m_*: kind entry, goal or wait, the version, a wait_for's step, the event's
 * 1-based position) to the runs of their profiles and writes the result; false (nothing done)
 * when a version in play has an update step, which the SQL path then takes.
 */
Datum
personalize_journey_pass(PG_FUNCTION_ARGS)
{
	Pass	  p;
	Datum	 *d, *mk, *mj, *mv, *ms, *mo;
	bool	 *dn, *msn, *x;
	int		  n_matches, *order;
	PMatch	 *m;
	PVersion *placeholders;
	HASHCTL	  ctl;
	bool	  done;

	memset(&p, 0, sizeof p);
	p.as_of = PG_GETARG_TIMESTAMPTZ(11);
	p.n_events = elements(PG_GETARG_ARRAYTYPE_P(0), INT8OID, &d, &dn);
	p.ev_profile = palloc(sizeof(int64) * p.n_events);
	for (int i = 0; i < p.n_events; i++)
		p.ev_profile[i] = DatumGetInt64(d[i]);
	elements(PG_GETARG_ARRAYTYPE_P(1), TEXTOID, &d, &dn);
	p.ev_name = palloc(sizeof(char *) * p.n_events);
	for (int i = 0; i < p.n_events; i++)
		p.ev_name[i] = TextDatumGetCString(d[i]);
	elements(PG_GETARG_ARRAYTYPE_P(2), JSONBOID, &d, &dn);
	p.ev_props = palloc(sizeof(Jsonb *) * p.n_events);
	for (int i = 0; i < p.n_events; i++)
		p.ev_props[i] = dn[i] ? NULL : DatumGetJsonbP(d[i]);
	elements(PG_GETARG_ARRAYTYPE_P(3), TIMESTAMPTZOID, &d, &dn);
	p.ev_at = palloc(sizeof(TimestampTz) * p.n_events);
	for (int i = 0; i < p.n_events; i++)
		p.ev_at[i] = DatumGetTimestampTz(d[i]);
	elements(PG_GETARG_ARRAYTYPE_P(4), INT8OID, &d, &dn);
	p.ev_id = palloc(sizeof(int64) * p.n_events);
	for (int i = 0; i < p.n_events; i++)
		p.ev_id[i] = DatumGetInt64(d[i]);

	n_matches = elements(PG_GETARG_ARRAYTYPE_P(5), TEXTOID, &mk, &x);
	elements(PG_GETARG_ARRAYTYPE_P(6), INT4OID, &mj, &x);
	elements(PG_GETARG_ARRAYTYPE_P(7), INT4OID, &mv, &x);
	elements(PG_GETARG_ARRAYTYPE_P(8), TEXTOID, &ms, &msn);
	elements(PG_GETARG_ARRAYTYPE_P(9), INT4OID, &mo, &x);
	m = palloc0(sizeof(PMatch) * (n_matches + 1));
	placeholders = palloc0(sizeof(PVersion) * (n_matches + 1));
	for (int i = 0; i < n_matches; i++)
	{
		char *kind = TextDatumGetCString(mk[i]);

		m[i].kind = kind[0] == 'e' ? 'e' : kind[0] == 'g' ? 'g'
														  : 'w';
		placeholders[i].journey = DatumGetInt32(mj[i]);
		placeholders[i].version = DatumGetInt32(mv[i]);
		m[i].v = &placeholders[i];
		m[i].step = msn[i] ? NULL : TextDatumGetCString(ms[i]);
		m[i].event = DatumGetInt32(mo[i]) - 1;
		m[i].order = i;
		if (m[i].event < 0 || m[i].event >= p.n_events)
			elog(ERROR, "journey pass: a match names no event");
	}

	/* wave k holds each profile's k-th matched event (by time, then event_id) */
	order = palloc(sizeof(int) * (n_matches + 1));
	{
		int *wave = palloc0(sizeof(int) * (p.n_events + 1));
		int	 n = 0;

		for (int i = 0; i < n_matches; i++)
			if (wave[m[i].event] == 0)
			{
				wave[m[i].event] = -1;
				order[n++] = m[i].event;
			}
		qsort_arg(order, n, sizeof(int), by_profile_time, &p);
		p.profile_ids = palloc(sizeof(int64) * (n + 1));
		for (int i = 0; i < n; i++)
		{
			bool same = i > 0 && p.ev_profile[order[i]] == p.ev_profile[order[i - 1]];

			wave[order[i]] = same ? wave[order[i - 1]] + 1 : 1;
			if (!same)
				p.profile_ids[p.n_profiles++] = p.ev_profile[order[i]];
		}
		for (int i = 0; i < n_matches; i++)
			m[i].wave = wave[m[i].event];
	}

	memset(&ctl, 0, sizeof ctl);
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(PProfile);
	ctl.hcxt = CurrentMemoryContext;
	p.profiles = hash_create("journey pass profiles", Max(p.n_profiles, 16), &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	for (int i = 0; i < p.n_profiles; i++)
	{
		PProfile *pr = hash_search(p.profiles, &p.profile_ids[i], HASH_ENTER, NULL);

		memset(pr, 0, sizeof(PProfile));
		pr->profile = p.profile_ids[i];
	}
	memset(&ctl, 0, sizeof ctl);
	ctl.keysize = sizeof(PRuleHit);
	ctl.entrysize = sizeof(PRuleHit);
	ctl.hcxt = CurrentMemoryContext;
	p.rule_hits = hash_create("journey pass rules", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	p.run_seq = personalize_relid("journey_runs_run_id_seq");

	SPI_connect();
	done = load(&p, m, n_matches, PG_ARGISNULL(10) ? (Datum) 0 : PG_GETARG_DATUM(10), PG_ARGISNULL(10));
	if (done)
	{
		int i = 0;

		qsort(m, n_matches, sizeof(PMatch), by_wave);
		while (i < n_matches)
		{
			int j = i;

			while (j < n_matches && m[j].wave == m[i].wave)
				j++;
			run_wave(&p, m + i, j - i);
			i = j;
		}
		send_all(&p);
		write_back(&p);
	}
	SPI_finish();
	PG_RETURN_BOOL(done);
}
