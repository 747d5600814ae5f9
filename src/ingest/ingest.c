/*
 * ingest.c: the per-row half of the event pipeline. A BEFORE ROW trigger on personalize.events
 * validates each row (required columns, sizes, the event's JSON schema), fills a missing
 * message_id with a content fingerprint and resolves the row's profile through a backend-local
 * identity cache backed by direct index lookups: no SPI round trip per row. What needs a write
 * elsewhere (quarantined rows, identities seen for the first time) is stashed in a frame of the
 * current statement, which the statement-level AFTER trigger (ingest.sql) flushes set-at-a-time.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "dedup.h"
#include "core/hash.h"
#include "core/personalize.h"
#include "schema.h"

PG_FUNCTION_INFO_V1(personalize_events_before_row);
PG_FUNCTION_INFO_V1(personalize_events_before_statement);
PG_FUNCTION_INFO_V1(personalize_ingest_pending_rejects);
PG_FUNCTION_INFO_V1(personalize_ingest_pending_identities);
PG_FUNCTION_INFO_V1(personalize_ingest_pending_duplicates);
PG_FUNCTION_INFO_V1(personalize_ingest_pending_counts);
PG_FUNCTION_INFO_V1(personalize_ingest_end);
PG_FUNCTION_INFO_V1(personalize_last_ingest);

#define MAX_EVENT_NAME_BYTES 200
#define MAX_ID_BYTES 255
#define MAX_CACHED_IDENTITIES 1000000

/* An identity the statement saw that may not be in personalize.identities yet. */
typedef struct PendingIdentity
{
	const char *kind;
	char	   *value;
	int64		profile_id;
	bool		is_new; /* profile_id was allocated by this statement */
} PendingIdentity;

/* What one INSERT/COPY statement into personalize.events has stashed so far. */
typedef struct IngestFrame
{
	SubTransactionId subid;
	/*
	 * Rows that failed validation (payload, reason, path, expected), kept until the statement's
	 * AFTER trigger stores them: a tuplestore, so that a COPY of many bad rows spills to disk past
	 * work_mem instead of growing without bound in memory.
	 */
	Tuplestorestate *rejects;
	TupleDesc		 reject_desc;
	int64			 n_rejects;
	List			*identities;
	DedupSet		*keys; /* message ids accepted so far, to drop later copies */
	/*
	 * Pushed by the row trigger itself: the rows go into a partition directly, not through
	 * personalize.events (whose statement trigger pushes the frames), which only the owner can
	 * do, and which pg_restore does when it loads a dump.
	 */
	bool				direct;
	struct IngestFrame *parent;
} IngestFrame;

static IngestFrame *current_frame = NULL;

/* Counts of the last finished ingest statement of this backend, for last_ingest(). */
static int64 last_accepted = 0, last_duplicates = 0, last_rejected = 0;

/* Cached schema per event name; schema NULL marks a name known to have none. */
typedef struct SchemaEntry
{
	char name[MAX_EVENT_NAME_BYTES + 1];
	jv	*schema; /* schema_prepare's form */
} SchemaEntry;

static HTAB			*schema_cache = NULL;
static MemoryContext schema_cxt = NULL;

/* Cached identity -> profile mapping; the key is a hash, the value is kept to check it. */
typedef struct IdentityEntry
{
	uint64 key;
	char  *value;
	size_t len;
	int64  profile_id;
} IdentityEntry;

static HTAB			*identity_cache = NULL;
static MemoryContext identity_cxt = NULL;

/* Attribute numbers of the columns of one events partition. */
typedef struct EventColumns
{
	Oid relid;
	int profile_id, occurred_at, event, user_id, anonymous_id, properties, message_id;
	int event_id, received_at; /* the pipeline's own columns, never the caller's */
} EventColumns;

static EventColumns column_cache[64];
static int			n_column_cache = 0;

/* Drops the identity cache (after an abort, a merge, or when it grows past its bound). */
static void
identity_cache_reset(void)
{
	if (identity_cxt)
		MemoryContextReset(identity_cxt);
	identity_cache = NULL;
}

/* Drops the schema, identity and column caches (an invalidation of one of our tables). */
void
ingest_invalidate(void)
{
	if (schema_cxt)
		MemoryContextReset(schema_cxt);
	schema_cache = NULL;
	identity_cache_reset();
	n_column_cache = 0;
}

/* Transaction end: frames live in TopTransactionContext and go with it; aborts void the cache. */
static void
ingest_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		identity_cache_reset();
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PREPARE)
		current_frame = NULL;
}

/* Subtransaction abort: pops the frames its statements pushed, voids the identity cache. */
static void
ingest_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	while (current_frame && current_frame->subid == mySubid)
		current_frame = current_frame->parent;
	identity_cache_reset();
}

/* Registers the transaction callbacks; called from _PG_init. */
void
ingest_init(void)
{
	RegisterXactCallback(ingest_xact_callback, NULL);
	RegisterSubXactCallback(ingest_subxact_callback, NULL);
}

/* Pushes a new frame for a statement that starts inserting into personalize.events. */
static IngestFrame *
push_frame(void)
{
	IngestFrame *f = MemoryContextAllocZero(TopTransactionContext, sizeof(IngestFrame));

	f->subid = GetCurrentSubTransactionId();
	f->keys = dedup_create(TopTransactionContext);
	f->parent = current_frame;
	current_frame = f;
	return f;
}

/* Loads every event schema into the backend cache (once, until event_schemas changes). */
static void
load_schemas(void)
{
	HASHCTL		  ctl;
	MemoryContext old;

	(void) personalize_relid("event_schemas"); /* so that invalidations of it are noticed */
	if (schema_cxt == NULL)
		schema_cxt = AllocSetContextCreate(CacheMemoryContext, "personalize event schemas",
										   ALLOCSET_SMALL_SIZES);
	MemoryContextReset(schema_cxt);
	ctl.keysize = MAX_EVENT_NAME_BYTES + 1;
	ctl.entrysize = sizeof(SchemaEntry);
	ctl.hcxt = schema_cxt;
	schema_cache = hash_create("personalize event schemas", 64, &ctl,
							   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);

	SPI_connect();
	if (SPI_execute("SELECT event, schema FROM personalize.event_schemas", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read personalize.event_schemas");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		 isnull;
		char		*name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		Datum		 d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);
		SchemaEntry *e;

		if (name == NULL || strlen(name) > MAX_EVENT_NAME_BYTES)
			continue;
		e = hash_search(schema_cache, name, HASH_ENTER, NULL);
		old = MemoryContextSwitchTo(schema_cxt);
		e->schema = isnull ? NULL : schema_prepare(DatumGetJsonbP(d));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
}

/* Finds the schema of an event; *known says whether the name is registered at all. */
static const jv *
find_schema(const char *name, bool *known)
{
	SchemaEntry *e;

	if (schema_cache == NULL)
		load_schemas();
	e = hash_search(schema_cache, name, HASH_FIND, NULL);
	*known = e != NULL;
	return e ? e->schema : NULL;
}

/* The cache key of an identity: a 64-bit hash of its kind and value. */
static uint64
identity_key(const char *kind, const char *value, size_t len)
{
	return hash_bytes_extended((const unsigned char *) value, len, (uint64) kind[0]);
}

/* Looks an identity up in the cache; returns 0 when absent. */
static int64
identity_cache_get(const char *kind, const char *value, size_t len)
{
	uint64		   key = identity_key(kind, value, len);
	IdentityEntry *e;

	if (identity_cache == NULL)
		return 0;
	e = hash_search(identity_cache, &key, HASH_FIND, NULL);
	if (e == NULL || e->len != len || memcmp(e->value, value, len) != 0)
		return 0;
	return e->profile_id;
}

/* Remembers an identity's profile in the cache (bounded: reset when full). */
static void
identity_cache_put(const char *kind, const char *value, size_t len, int64 profile_id)
{
	uint64		   key = identity_key(kind, value, len);
	IdentityEntry *e;
	bool		   found;

	if (identity_cxt == NULL)
		identity_cxt = AllocSetContextCreate(CacheMemoryContext, "personalize identity cache",
											 ALLOCSET_DEFAULT_SIZES);
	if (identity_cache && hash_get_num_entries(identity_cache) >= MAX_CACHED_IDENTITIES)
		identity_cache_reset();
	if (identity_cache == NULL)
	{
		HASHCTL ctl;

		ctl.keysize = sizeof(uint64);
		ctl.entrysize = sizeof(IdentityEntry);
		ctl.hcxt = identity_cxt;
		identity_cache = hash_create("personalize identities", 4096, &ctl,
									 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	e = hash_search(identity_cache, &key, HASH_ENTER, &found);
	if (found && (e->len != len || memcmp(e->value, value, len) != 0))
		return; /* a hash collision: keep the first, look the other up each time */
	if (!found)
	{
		e->value = MemoryContextAlloc(identity_cxt, len);
		memcpy(e->value, value, len);
		e->len = len;
	}
	e->profile_id = profile_id;
}

/* Looks an identity up in personalize.identities through its primary key index. */
static int64
identity_index_lookup(const char *kind, const char *value, size_t len)
{
	Oid				relid = personalize_relid("identities");
	Oid				idxid = personalize_relid("identities_pkey");
	Relation		rel, idx;
	IndexScanDesc	scan;
	TupleTableSlot *slot;
	ScanKeyData		keys[2];
	int64			profile_id = 0;
	Snapshot		snap;

	if (!OidIsValid(relid) || !OidIsValid(idxid))
		elog(ERROR, "personalize.identities is missing");
	rel = table_open(relid, AccessShareLock);
	idx = index_open(idxid, AccessShareLock);
	ScanKeyEntryInitialize(&keys[0], 0, 1, BTEqualStrategyNumber, InvalidOid, DEFAULT_COLLATION_OID,
						   F_TEXTEQ, PointerGetDatum(cstring_to_text(kind)));
	ScanKeyEntryInitialize(&keys[1], 0, 2, BTEqualStrategyNumber, InvalidOid, DEFAULT_COLLATION_OID,
						   F_TEXTEQ, PointerGetDatum(cstring_to_text_with_len(value, len)));
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = index_beginscan(rel, idx, snap, 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	slot = table_slot_create(rel, NULL);
	if (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool  isnull;
		Datum d = slot_getattr(slot, 3, &isnull);

		if (!isnull)
			profile_id = DatumGetInt64(d);
	}
	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
	UnregisterSnapshot(snap);
	index_close(idx, AccessShareLock);
	table_close(rel, AccessShareLock);
	return profile_id;
}

/* The profile of an identity, from the cache or the index; 0 when unknown. */
static int64
identity_resolve(const char *kind, const char *value, size_t len)
{
	int64 pid = identity_cache_get(kind, value, len);

	if (pid == 0 && (pid = identity_index_lookup(kind, value, len)) != 0)
		identity_cache_put(kind, value, len, pid);
	return pid;
}

/* Records that the statement saw an identity the AFTER trigger must make sure of. */
static void
add_pending_identity(IngestFrame *f, const char *kind, const char *value, size_t len,
					 int64 profile_id, bool is_new)
{
	MemoryContext	 old = MemoryContextSwitchTo(TopTransactionContext);
	PendingIdentity *p = palloc(sizeof(PendingIdentity));

	p->kind = kind;
	p->value = pnstrdup(value, len);
	p->profile_id = profile_id;
	p->is_new = is_new;
	f->identities = lappend(f->identities, p);
	MemoryContextSwitchTo(old);
	identity_cache_put(kind, value, len, profile_id);
}

/*
 * Finds or allocates the profile of an event from its user_id and anonymous_id. A user_id
 * wins over an anonymous_id; what links the two is left for the AFTER trigger to record.
 */
static int64
resolve_profile(IngestFrame *f, text *user_id, text *anonymous_id)
{
	int64		upid = 0, apid = 0, pid;
	const char *u = user_id ? VARDATA_ANY(user_id) : NULL;
	const char *a = anonymous_id ? VARDATA_ANY(anonymous_id) : NULL;
	size_t		ulen = user_id ? VARSIZE_ANY_EXHDR(user_id) : 0;
	size_t		alen = anonymous_id ? VARSIZE_ANY_EXHDR(anonymous_id) : 0;

	if (u)
		upid = identity_resolve("user_id", u, ulen);
	if (a)
		apid = identity_resolve("anonymous_id", a, alen);
	if (upid != 0)
	{
		if (a && apid != upid)
			add_pending_identity(f, "anonymous_id", a, alen, upid, false);
		return upid;
	}
	if (apid != 0)
	{
		if (u)
			add_pending_identity(f, "user_id", u, ulen, apid, false);
		return apid;
	}
	pid = nextval_internal(personalize_relid("profile_id_seq"), false);
	if (u)
		add_pending_identity(f, "user_id", u, ulen, pid, true);
	if (a)
		add_pending_identity(f, "anonymous_id", a, alen, pid, true);
	return pid;
}

/* Attribute numbers of the event columns in this partition (cached per relation). */
static EventColumns *
event_columns(Relation rel)
{
	TupleDesc	  desc = RelationGetDescr(rel);
	EventColumns *c;

	for (int i = 0; i < n_column_cache; i++)
		if (column_cache[i].relid == RelationGetRelid(rel))
			return &column_cache[i];
	if (n_column_cache == lengthof(column_cache))
		n_column_cache = 0;
	c = &column_cache[n_column_cache];
	memset(c, 0, sizeof(*c));
	c->relid = RelationGetRelid(rel);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		const char		 *n = NameStr(att->attname);

		if (att->attisdropped)
			continue;
#define COL(x) \
	do \
	{ \
		if (strcmp(n, #x) == 0) \
			c->x = i + 1; \
	} while (0)
		COL(profile_id);
		COL(occurred_at);
		COL(event);
		COL(user_id);
		COL(anonymous_id);
		COL(properties);
		COL(message_id);
		COL(event_id);
		COL(received_at);
#undef COL
	}
	if (!c->profile_id || !c->occurred_at || !c->event || !c->user_id || !c->anonymous_id ||
		!c->properties || !c->message_id || !c->event_id || !c->received_at)
		elog(ERROR, "relation \"%s\" lacks a column of personalize.events", RelationGetRelationName(rel));
	n_column_cache++;
	return c;
}

/* Adds "key": text to a jsonb being built (JSON null for SQL NULL). */
static void
push_text(JsonbParseState **st, const char *key, bool isnull, Datum d)
{
	JsonbValue k, v;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(st, WJB_KEY, &k);
	if (isnull)
		v.type = jbvNull;
	else
	{
		text *t = DatumGetTextPP(d);

		v.type = jbvString;
		v.val.string.val = VARDATA_ANY(t);
		v.val.string.len = VARSIZE_ANY_EXHDR(t);
	}
	pushJsonbValue(st, WJB_VALUE, &v);
}

/* The full payload of a rejected row as jsonb, so nothing about it is lost. */
static Jsonb *
row_payload(EventColumns *c, Datum *values, bool *nulls)
{
	JsonbParseState *st = NULL;
	JsonbValue		 k, v, *res;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	push_text(&st, "user_id", nulls[c->user_id - 1], values[c->user_id - 1]);
	push_text(&st, "anonymous_id", nulls[c->anonymous_id - 1], values[c->anonymous_id - 1]);
	push_text(&st, "event", nulls[c->event - 1], values[c->event - 1]);
	push_text(&st, "message_id", nulls[c->message_id - 1], values[c->message_id - 1]);
	k.type = jbvString;
	k.val.string.val = "occurred_at";
	k.val.string.len = strlen("occurred_at");
	pushJsonbValue(&st, WJB_KEY, &k);
	if (nulls[c->occurred_at - 1])
		v.type = jbvNull;
	else
	{
		v.type = jbvString;
		v.val.string.val = JsonEncodeDateTime(NULL, values[c->occurred_at - 1], TIMESTAMPTZOID, NULL);
		v.val.string.len = strlen(v.val.string.val);
	}
	pushJsonbValue(&st, WJB_VALUE, &v);
	k.val.string.val = "properties";
	k.val.string.len = strlen("properties");
	pushJsonbValue(&st, WJB_KEY, &k);
	if (nulls[c->properties - 1])
	{
		v.type = jbvNull;
		pushJsonbValue(&st, WJB_VALUE, &v);
	}
	else
	{
		Jsonb *p = DatumGetJsonbP(values[c->properties - 1]);

		v.type = jbvBinary;
		v.val.binary.data = &p->root;
		v.val.binary.len = VARSIZE(p) - VARHDRSZ;
		pushJsonbValue(&st, WJB_VALUE, &v);
	}
	res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/* Quarantines the row, or raises the error when personalize.on_invalid_event = 'error'. */
static void
invalid_event(IngestFrame *f, EventColumns *c, Datum *values, bool *nulls, int sqlstate,
			  const char *reason, const char *path, const char *expected)
{
	MemoryContext old;
	const char	 *name = nulls[c->event - 1] ? "(null)" : TextDatumGetCString(values[c->event - 1]);
	Datum		  v[4];
	bool		  n[4] = {false, false, false, false};

	if (personalize_on_invalid_event == INVALID_EVENT_ERROR)
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg("invalid event \"%s\" at %s: %s", name, path, reason),
				 errdetail("Expected %s.", expected),
				 errhint("With personalize.on_invalid_event = 'quarantine' the event is kept in personalize.rejected_events instead.")));
	if (f->rejects == NULL)
	{
		old = MemoryContextSwitchTo(TopTransactionContext);
		f->reject_desc = CreateTemplateTupleDesc(4);
		TupleDescInitEntry(f->reject_desc, 1, "payload", JSONBOID, -1, 0);
		TupleDescInitEntry(f->reject_desc, 2, "reason", TEXTOID, -1, 0);
		TupleDescInitEntry(f->reject_desc, 3, "path", TEXTOID, -1, 0);
		TupleDescInitEntry(f->reject_desc, 4, "expected", TEXTOID, -1, 0);
		f->rejects = tuplestore_begin_heap(false, false, work_mem);
		MemoryContextSwitchTo(old);
	}
	v[0] = JsonbPGetDatum(row_payload(c, values, nulls));
	v[1] = CStringGetTextDatum(reason);
	v[2] = CStringGetTextDatum(path);
	v[3] = CStringGetTextDatum(expected);
	tuplestore_putvalues(f->rejects, f->reject_desc, v, n); /* copies them into its own memory */
	f->n_rejects++;
}

/* Checks an identifier column: at most MAX_ID_BYTES, not empty, no control characters. */
static const char *
check_id(text *t)
{
	size_t		len = VARSIZE_ANY_EXHDR(t);
	const char *s = VARDATA_ANY(t);

	if (len == 0)
		return "is empty";
	if (len > MAX_ID_BYTES)
		return "is longer than 255 bytes";
	for (size_t i = 0; i < len; i++)
		if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
			return "contains control characters";
	return NULL;
}

/* The message_id that stands in for a missing one: "fp:" and 32 hex digits of the content hash. */
static text *
content_message_id(text *user_id, text *anonymous_id, text *event, TimestampTz at, Jsonb *props)
{
	CanonicalHasher	  h;
	uint8			  digest[32];
	char			  buf[3 + 32 + 1] = "fp:";
	static const char hex[] = "0123456789abcdef";
	char			  ts[8];

	canonical_begin(&h);
	if (user_id)
		canonical_add_bytes(&h, 'u', VARDATA_ANY(user_id), VARSIZE_ANY_EXHDR(user_id));
	else
		canonical_add_bytes(&h, 'a', VARDATA_ANY(anonymous_id), VARSIZE_ANY_EXHDR(anonymous_id));
	canonical_add_bytes(&h, 'e', VARDATA_ANY(event), VARSIZE_ANY_EXHDR(event));
	for (int i = 0; i < 8; i++)
		ts[i] = (char) ((uint64) at >> (56 - 8 * i));
	canonical_add_bytes(&h, 't', ts, 8);
	canonical_add_jsonb(&h, &props->root);
	canonical_finish_digest(&h, digest);
	for (int i = 0; i < 16; i++)
	{
		buf[3 + 2 * i] = hex[digest[i] >> 4];
		buf[4 + 2 * i] = hex[digest[i] & 15];
	}
	buf[35] = '\0';
	return cstring_to_text(buf);
}

/* Trigger: BEFORE INSERT FOR EACH ROW on personalize.events (validate, dedup key, profile). */
Datum
personalize_events_before_row(PG_FUNCTION_ARGS)
{
	TriggerData	 *td = (TriggerData *) fcinfo->context;
	TupleDesc	  desc;
	EventColumns *c;
	Datum		 *values;
	bool		 *nulls, *repl;
	IngestFrame	 *f;
	text		 *user_id = NULL, *anonymous_id = NULL, *event;
	Jsonb		 *props;
	const char	 *why;
	char		 *name;
	const jv	 *schema;
	bool		  known;
	HeapTuple	  result;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) || !TRIGGER_FIRED_BY_INSERT(td->tg_event))
		elog(ERROR, "personalize_events_before_row must be a BEFORE INSERT FOR EACH ROW trigger");
	if (current_frame == NULL)
	{
		f = push_frame();
		f->direct = true;
	}
	else
		f = current_frame;
	desc = RelationGetDescr(td->tg_relation);
	c = event_columns(td->tg_relation);
	values = palloc(desc->natts * sizeof(Datum));
	nulls = palloc(desc->natts * sizeof(bool));
	repl = palloc0(desc->natts * sizeof(bool));
	heap_deform_tuple(td->tg_trigtuple, desc, values, nulls);

#define REJECT(code, reason, path, expected) \
	do \
	{ \
		invalid_event(f, c, values, nulls, code, reason, path, expected); \
		return PointerGetDatum(NULL); \
	} while (0)

	if (nulls[c->event - 1] || VARSIZE_ANY_EXHDR(DatumGetTextPP(values[c->event - 1])) == 0)
		REJECT(ERRCODE_NOT_NULL_VIOLATION, "the event name is missing", "$.event", "a non-empty event name");
	event = DatumGetTextPP(values[c->event - 1]);
	if (VARSIZE_ANY_EXHDR(event) > MAX_EVENT_NAME_BYTES)
		REJECT(ERRCODE_STRING_DATA_RIGHT_TRUNCATION, "the event name is too long", "$.event",
			   "an event name of at most 200 bytes");
	if (!nulls[c->user_id - 1])
	{
		user_id = DatumGetTextPP(values[c->user_id - 1]);
		if ((why = check_id(user_id)) != NULL)
			REJECT(ERRCODE_INVALID_PARAMETER_VALUE, psprintf("the user_id %s", why), "$.user_id",
				   "1 to 255 bytes without control characters");
	}
	if (!nulls[c->anonymous_id - 1])
	{
		anonymous_id = DatumGetTextPP(values[c->anonymous_id - 1]);
		if ((why = check_id(anonymous_id)) != NULL)
			REJECT(ERRCODE_INVALID_PARAMETER_VALUE, psprintf("the anonymous_id %s", why), "$.anonymous_id",
				   "1 to 255 bytes without control characters");
	}
	if (user_id == NULL && anonymous_id == NULL)
		REJECT(ERRCODE_NOT_NULL_VIOLATION, "the event has neither user_id nor anonymous_id", "$.user_id",
			   "a user_id or an anonymous_id");
	if (!nulls[c->message_id - 1] && (why = check_id(DatumGetTextPP(values[c->message_id - 1]))) != NULL)
		REJECT(ERRCODE_INVALID_PARAMETER_VALUE, psprintf("the message_id %s", why), "$.message_id",
			   "1 to 255 bytes without control characters");
	if (nulls[c->occurred_at - 1])
		REJECT(ERRCODE_NOT_NULL_VIOLATION, "the event has no timestamp", "$.occurred_at", "a timestamp");
	if (TIMESTAMP_NOT_FINITE(DatumGetTimestampTz(values[c->occurred_at - 1])))
		REJECT(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE, "the timestamp is infinite", "$.occurred_at",
			   "a finite timestamp");
	/* The years 1 to 9999 (UTC), so that the time arithmetic of scores and segment rechecks (up
	 * to 100 years ahead) stays inside the range of timestamps. */
	if (!personalize_time_in_range(DatumGetTimestampTz(values[c->occurred_at - 1])))
	{
		if (DatumGetTimestampTz(values[c->occurred_at - 1]) > 0)
			REJECT(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE, "the timestamp is after the year 9999", "$.occurred_at",
				   "a timestamp before 10000-01-01 00:00 UTC");
		REJECT(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE, "the timestamp is before the year 1", "$.occurred_at",
			   "a timestamp from 0001-01-01 00:00 UTC on");
	}
	if (nulls[c->properties - 1])
	{
		values[c->properties - 1] = DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
		nulls[c->properties - 1] = false;
		repl[c->properties - 1] = true;
	}
	props = DatumGetJsonbP(values[c->properties - 1]);
	if (!JB_ROOT_IS_OBJECT(props))
		REJECT(ERRCODE_CHECK_VIOLATION, "the properties are not a JSON object", "$.properties", "an object");
	if (VARSIZE(props) > (Size) personalize_max_event_bytes)
		REJECT(ERRCODE_PROGRAM_LIMIT_EXCEEDED, "the properties are too large", "$.properties",
			   psprintf("at most %d bytes (personalize.max_event_bytes)", personalize_max_event_bytes));

	name = text_to_cstring(event);
	schema = find_schema(name, &known);
	if (!known && personalize_strict_events)
		REJECT(ERRCODE_CHECK_VIOLATION, "the event name is not registered", "$.event",
			   "an event named in personalize.event_schemas (personalize.strict_events is on)");
	if (schema != NULL)
	{
		SchemaViolation sv;

		initStringInfo(&sv.path);
		initStringInfo(&sv.expected);
		if (!schema_validate(schema, props, "$.properties", &sv))
			REJECT(ERRCODE_CHECK_VIOLATION, "the properties do not match the event's schema",
				   sv.path.data, sv.expected.data);
	}
#undef REJECT

	if (nulls[c->message_id - 1])
	{
		values[c->message_id - 1] = PointerGetDatum(content_message_id(user_id, anonymous_id, event,
																	   DatumGetTimestampTz(values[c->occurred_at - 1]),
																	   props));
		nulls[c->message_id - 1] = false;
		repl[c->message_id - 1] = true;
	}
	{
		text *mid = DatumGetTextPP(values[c->message_id - 1]);

		if (dedup_seen(f->keys, VARDATA_ANY(mid), VARSIZE_ANY_EXHDR(mid)))
			return PointerGetDatum(NULL); /* a later copy of a key this statement accepted */
	}
	/*
	 * A dumped row loaded into its partition by pg_restore keeps its profile, identity and
	 * arrival: resolving its user_id again would allocate new profile ids (the identities may not
	 * be loaded yet), and the restored event_keys name the dumped event_id.
	 */
	if (f->direct && !nulls[c->profile_id - 1] && !nulls[c->event_id - 1] && !nulls[c->received_at - 1])
		return PointerGetDatum(heap_modify_tuple(td->tg_trigtuple, desc, values, nulls, repl));
	values[c->profile_id - 1] = Int64GetDatum(resolve_profile(f, user_id, anonymous_id));
	nulls[c->profile_id - 1] = false;
	repl[c->profile_id - 1] = true;
	/*
	 * The event's identity and arrival are the pipeline's whatever the caller supplied: duplicates
	 * are later found by message_id and deleted by event_id, so a caller choosing event_id (a copy
	 * of stored rows, or another profile's) would make that delete hit the original.
	 */
	values[c->event_id - 1] = Int64GetDatum(nextval_internal(personalize_relid("event_id_seq"), false));
	nulls[c->event_id - 1] = false;
	repl[c->event_id - 1] = true;
	values[c->received_at - 1] = TimestampTzGetDatum(GetCurrentStatementStartTimestamp());
	nulls[c->received_at - 1] = false;
	repl[c->received_at - 1] = true;

	result = heap_modify_tuple(td->tg_trigtuple, desc, values, nulls, repl);
	return PointerGetDatum(result);
}

/* Trigger: BEFORE INSERT FOR EACH STATEMENT on personalize.events (opens the statement's frame). */
Datum
personalize_events_before_statement(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "personalize_events_before_statement must be called as a trigger");
	push_frame();
	return PointerGetDatum(NULL);
}

/* SQL: personalize._ingest_pending_rejects(): the rows the current statement quarantined. */
Datum
personalize_ingest_pending_rejects(PG_FUNCTION_ARGS)
{
	ReturnSetInfo  *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleTableSlot *slot;

	InitMaterializedSRF(fcinfo, 0);
	if (current_frame == NULL || current_frame->rejects == NULL)
		return (Datum) 0;
	slot = MakeSingleTupleTableSlot(current_frame->reject_desc, &TTSOpsMinimalTuple);
	tuplestore_rescan(current_frame->rejects);
	while (tuplestore_gettupleslot(current_frame->rejects, true, false, slot))
	{
		CHECK_FOR_INTERRUPTS();
		slot_getallattrs(slot);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, slot->tts_values, slot->tts_isnull);
	}
	ExecDropSingleTupleTableSlot(slot);
	return (Datum) 0;
}

/* SQL: personalize._ingest_pending_identities(): identities the current statement relies on. */
Datum
personalize_ingest_pending_identities(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ListCell	  *lc;

	InitMaterializedSRF(fcinfo, 0);
	if (current_frame == NULL)
		return (Datum) 0;
	foreach (lc, current_frame->identities)
	{
		PendingIdentity *p = lfirst(lc);
		Datum			 v[4] = {CStringGetTextDatum(p->kind), CStringGetTextDatum(p->value),
								 Int64GetDatum(p->profile_id), BoolGetDatum(p->is_new)};
		bool			 n[4] = {false, false, false, false};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, n);
	}
	return (Datum) 0;
}

/* SQL: personalize._ingest_pending_duplicates(): keys with copies the row trigger dropped. */
Datum
personalize_ingest_pending_duplicates(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const char	  *key;
	uint32		   len;
	int64		   copies;

	InitMaterializedSRF(fcinfo, 0);
	if (current_frame == NULL)
		return (Datum) 0;
	while (dedup_next_copied(current_frame->keys, &key, &len, &copies))
	{
		Datum v[2] = {PointerGetDatum(cstring_to_text_with_len(key, len)), Int64GetDatum(copies)};
		bool  n[2] = {false, false};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, n);
	}
	return (Datum) 0;
}

/*
 * SQL: personalize._ingest_pending_counts() → (rejects, identities, duplicates): how much of
 * each the current statement stashed, so that the AFTER trigger skips what has nothing to do.
 */
Datum
personalize_ingest_pending_counts(PG_FUNCTION_ARGS)
{
	TupleDesc	 desc;
	IngestFrame *f = current_frame;
	Datum		 v[3] = {Int64GetDatum(f ? f->n_rejects : 0),
						 Int64GetDatum(f ? list_length(f->identities) : 0),
						 Int64GetDatum(f ? dedup_dropped(f->keys) : 0)};
	bool		 n[3] = {false, false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_ingest_pending_counts must return a composite");
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), v, n)));
}

/*
 * SQL: personalize._ingest_end(accepted, duplicates, identity_conflicts): closes the frame;
 * the duplicates the row trigger dropped are added to the count given.
 */
Datum
personalize_ingest_end(PG_FUNCTION_ARGS)
{
	IngestFrame *f = current_frame;

	last_accepted = PG_GETARG_INT64(0);
	last_duplicates = PG_GETARG_INT64(1) + (f ? dedup_dropped(f->keys) : 0);
	last_rejected = f ? f->n_rejects : 0;
	if (PG_GETARG_BOOL(2))
		identity_cache_reset();
	if (f)
	{
		current_frame = f->parent;
		dedup_free(f->keys);
		if (f->rejects)
			tuplestore_end(f->rejects);
	}
	PG_RETURN_VOID();
}

/* SQL: personalize.last_ingest(): what this session's last INSERT/COPY into events did. */
Datum
personalize_last_ingest(PG_FUNCTION_ARGS)
{
	TupleDesc desc;
	Datum	  v[3] = {Int64GetDatum(last_accepted), Int64GetDatum(last_duplicates),
					  Int64GetDatum(last_rejected)};
	bool	  n[3] = {false, false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "last_ingest must return a composite");
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), v, n)));
}
