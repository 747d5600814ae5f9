/*
 * personalize.c: module entry point, settings (GUCs) and the cache of the extension's own
 * relation OIDs, which relcache invalidations keep current.
 */
#include "postgres.h"

#include "fmgr.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "personalize.h"

PG_MODULE_MAGIC;

void _PG_init(void);

PG_FUNCTION_INFO_V1(personalize_invalidate);
PG_FUNCTION_INFO_V1(personalize_clock_now);
PG_FUNCTION_INFO_V1(personalize_retention_months);

int		   personalize_on_invalid_event = INVALID_EVENT_QUARANTINE;
bool	   personalize_strict_events = false;
int		   personalize_max_event_bytes = 65536;
char	  *personalize_clock = NULL;
static int retention_months = 0;

static const struct config_enum_entry invalid_event_options[] = {
	{"quarantine", INVALID_EVENT_QUARANTINE, false},
	{"error", INVALID_EVENT_ERROR, false},
	{NULL, 0, false}};

#define MAX_CACHED_RELS 16
static struct
{
	char name[NAMEDATALEN];
	Oid	 relid;
} cached_rels[MAX_CACHED_RELS];
static int n_cached_rels = 0;

/* Returns the OID of personalize.<name>, looked up once and cached until invalidated. */
Oid
personalize_relid(const char *name)
{
	Oid nsp, relid;

	for (int i = 0; i < n_cached_rels; i++)
		if (strcmp(cached_rels[i].name, name) == 0)
			return cached_rels[i].relid;
	nsp = get_namespace_oid("personalize", true);
	relid = OidIsValid(nsp) ? get_relname_relid(name, nsp) : InvalidOid;
	if (OidIsValid(relid) && n_cached_rels < MAX_CACHED_RELS)
	{
		strlcpy(cached_rels[n_cached_rels].name, name, NAMEDATALEN);
		cached_rels[n_cached_rels++].relid = relid;
	}
	return relid;
}

/*
 * Relcache callback: an invalidation of any of our relations (a schema change, a merge, a
 * dropped extension) drops every cache of ours, OIDs included; they are cheap to rebuild.
 */
static void
relcache_callback(Datum arg, Oid relid)
{
	bool ours = !OidIsValid(relid);

	for (int i = 0; i < n_cached_rels && !ours; i++)
		ours = cached_rels[i].relid == relid;
	if (!ours)
		return;
	ingest_invalidate();
	n_cached_rels = 0;
}

/* SQL: personalize._invalidate(regclass): tells every backend to drop caches built on it. */
Datum
personalize_invalidate(PG_FUNCTION_ARGS)
{
	CacheInvalidateRelcacheByRelid(PG_GETARG_OID(0));
	PG_RETURN_VOID();
}

/* The first instant of year 1 and of year 10000, UTC: every time the extension accepts lies between. */
#define FIRST_TIME ((TimestampTz) (date2j(1, 1, 1) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY)
#define END_OF_TIME ((TimestampTz) (date2j(10000, 1, 1) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY)

/* Whether t is a finite time in the years 1 to 9999 (UTC), the range as_of and events must lie in. */
bool
personalize_time_in_range(TimestampTz t)
{
	return !TIMESTAMP_NOT_FINITE(t) && t >= FIRST_TIME && t < END_OF_TIME;
}

/* Raises 22023 unless as_of is in range: the C side of personalize._check_as_of, same wording. */
void
personalize_check_as_of(TimestampTz as_of)
{
	if (!personalize_time_in_range(as_of))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be a finite timestamp in the years 1 to 9999")));
}

/*
 * Check hook of personalize.clock: empty, or a timestamp in the years 1 to 9999, refused at SET
 * time rather than by every later track() that reads it. Parsed without raising (a check hook
 * must not), in the session's TimeZone as _clock() will.
 */
static bool
check_clock(char **newval, void **extra, GucSource source)
{
	char		 workbuf[MAXDATELEN + MAXDATEFIELDS];
	char		*field[MAXDATEFIELDS];
	int			 ftype[MAXDATEFIELDS];
	int			 nf, dtype, tz = 0;
	struct pg_tm tt;
	fsec_t		 fsec;
	TimestampTz	 t;

	if (*newval == NULL || (*newval)[0] == '\0' || session_timezone == NULL)
		return true;
	if (strlen(*newval) >= MAXDATELEN ||
		ParseDateTime(*newval, workbuf, sizeof(workbuf), field, ftype, MAXDATEFIELDS, &nf) != 0 ||
		DecodeDateTime(field, ftype, nf, &dtype, &tt, &fsec, &tz) != 0 || dtype != DTK_DATE ||
		tm2timestamp(&tt, fsec, &tz, &t) != 0 || !personalize_time_in_range(t))
	{
		GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
		GUC_check_errdetail("personalize.clock is empty (the statement's time) or a timestamp in the years 1 to 9999, such as '2026-06-01 00:00+00'.");
		return false;
	}
	return true;
}

/*
 * Module load: defines the settings and registers the invalidation callback. Settings that act as
 * policy (what is accepted, what time live segments see) are PGC_SUSET: a superuser sets them, for
 * a role or a database too (ALTER ROLE ... SET); the roles of the extension cannot change them.
 */
void
_PG_init(void)
{
	DefineCustomEnumVariable("personalize.on_invalid_event",
							 "What happens to an event that fails validation.",
							 "quarantine stores it in personalize.rejected_events; error fails the statement.",
							 &personalize_on_invalid_event, INVALID_EVENT_QUARANTINE,
							 invalid_event_options, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("personalize.strict_events",
							 "Rejects events whose name has no row in personalize.event_schemas.",
							 NULL, &personalize_strict_events, false, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("personalize.max_event_bytes",
							"Largest accepted event properties, in bytes.",
							NULL, &personalize_max_event_bytes, 65536, 64, 100 * 1024 * 1024,
							PGC_SUSET, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomStringVariable("personalize.clock",
							   "The time live segment updates are evaluated at (empty: the statement's time).",
							   "Set it to replay history or to test time-dependent segments; tick() takes its own as_of.",
							   &personalize_clock, "", PGC_SUSET, 0, check_clock, NULL, NULL);
	DefineCustomIntVariable("personalize.retention_months",
							"Months of events maintain() keeps (0: all).",
							"maintain(as_of) detaches and drops each monthly partition of personalize.events that ends "
							"this many months or more before the month of as_of.",
							&retention_months, 0, 0, 1200, PGC_SUSET, 0, NULL, NULL, NULL);
	scoring_init();
	MarkGUCPrefixReserved("personalize");
	CacheRegisterRelcacheCallback(relcache_callback, (Datum) 0);
	ingest_init();
	render_init();
}

/* SQL: personalize._clock(): personalize.clock if set (tests, replays), else the statement's time. */
Datum
personalize_clock_now(PG_FUNCTION_ARGS)
{
	if (personalize_clock == NULL || personalize_clock[0] == '\0')
		PG_RETURN_TIMESTAMPTZ(GetCurrentStatementStartTimestamp());
	return DirectFunctionCall3(timestamptz_in, CStringGetDatum(personalize_clock),
							   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

/* SQL: personalize._retention_months(): personalize.retention_months, for maintain(). */
Datum
personalize_retention_months(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(retention_months);
}
