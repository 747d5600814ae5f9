/*
 * render.c: the SQL side of the Liquid engine (src/liquid): personalize.render() and the
 * validation of personalize.templates. Owns the adapter between PostgreSQL and the pure-C core:
 * jsonb to Liquid values, the core's allocator on palloc in a per-call memory context, the
 * interrupt hook, Liquid errors mapped to SQLSTATEs, the per-backend cache of compiled templates
 * (keyed by a hash of the source, LRU-bounded in entries and bytes) and the partial loader that
 * reads personalize.templates (once per partial per render).
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "datatype/timestamp.h"
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/ilist.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/jsonfuncs.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "core/personalize.h"
#include "render/liquid/liquid.h"
#include "render/render.h"

PG_FUNCTION_INFO_V1(personalize_render);
PG_FUNCTION_INFO_V1(personalize_render_json);
PG_FUNCTION_INFO_V1(personalize_liquid_check);
PG_FUNCTION_INFO_V1(personalize_liquid_cache_stats);

/* Settings (personalize.liquid_*). */
static int liquid_max_output = 16 * 1024 * 1024; /* bytes */
static int liquid_max_iterations = 1000000;
static int liquid_max_depth = 100;
static int liquid_max_partial_depth = 16;
static int liquid_max_memory = 256 * 1024; /* kB */
static int liquid_cache_entries = 256;
static int liquid_cache_memory = 64 * 1024; /* kB */

/* One compiled template in the per-backend cache. */
typedef struct CacheEntry
{
	uint64		  key; /* hash of source and compile options (the hash key) */
	dlist_node	  lru; /* most recently used first */
	char		 *src; /* copy of the source, to rule out hash collisions */
	Size		  srclen;
	int			  depth; /* max_nesting_depth it was compiled with */
	MemoryContext cxt;	 /* holds src and every byte of tmpl */
	liq_template *tmpl;
	Size		  bytes;
	uint64		  used_in_call; /* render call that last used it (never evicted during it) */
} CacheEntry;

static HTAB			*cache = NULL;
static MemoryContext cache_cxt = NULL;
static dlist_head	 cache_lru = DLIST_STATIC_INIT(cache_lru);
static Size			 cache_bytes = 0;
static uint64		 cache_hits = 0, cache_misses = 0, cache_evictions = 0;
static uint64		 render_call = 0;

/* Which body of a stored partial a render reads. */
typedef enum RenderPart
{
	PART_HTML = 'h',
	PART_TEXT = 't',
	PART_SUBJECT = 's'
} RenderPart;

/* State of the partial loader for one render call. */
typedef struct PartialLoader
{
	Jsonb			   *partials; /* explicit name -> source object, or NULL: personalize.templates */
	char				part;	  /* RenderPart */
	MemoryContext		cxt;	  /* the render's memory context */
	const char		   *last_src; /* source of the last partial load_template could not compile */
	size_t				last_len;
	struct RenderBatch *batch; /* a batch's partial sources, read once (NULL: read every time) */
} PartialLoader;

/* A partial's source as a batch remembers it (or that it has none), by part and name. */
typedef struct PartialMemo
{
	char   key[NAMEDATALEN * 2]; /* part, then the name (longer names are not memoized) */
	bool   found;
	char  *src;
	size_t len;
} PartialMemo;

/* A batch of renders (render_emails): the partials it read, in the batch's memory context. */
struct RenderBatch
{
	HTAB		 *memo;
	MemoryContext cxt;
};

static SPIPlanPtr partial_plan = NULL;

/* The core's allocator over palloc: NULL (not an error) when out of memory, the core says so. */
static void *
liq_palloc(void *ud, size_t size)
{
	return MemoryContextAllocExtended((MemoryContext) ud, size, MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
}

/* The core's free over pfree. */
static void
liq_pfree(void *ud, void *ptr)
{
	if (ptr)
		pfree(ptr);
}

/* The core's interrupt hook: lets statement_timeout and cancel stop a runaway template. */
static void
liq_check_interrupts(void *ud)
{
	CHECK_FOR_INTERRUPTS();
}

/*
 * The SQLSTATE and label of each Liquid error kind: the one place they are decided (the Liquid
 * README and docs/templates.md describe this table).
 */
static const struct
{
	liq_error_kind kind;
	int			   sqlstate;
	const char	  *label; /* "liquid <label> at line ..." */
} liquid_errors[] =
	{
		{LIQ_ERR_SYNTAX, ERRCODE_SYNTAX_ERROR, "syntax error"},
		{LIQ_ERR_RENDER, ERRCODE_INVALID_PARAMETER_VALUE, "render error"},
		{LIQ_ERR_LIMIT, ERRCODE_PROGRAM_LIMIT_EXCEEDED, "limit exceeded"},
		{LIQ_ERR_UNDEFINED_VARIABLE, ERRCODE_UNDEFINED_COLUMN, "strict mode error"},
		{LIQ_ERR_UNDEFINED_FILTER, ERRCODE_UNDEFINED_FUNCTION, "strict mode error"},
		{LIQ_ERR_RANGE, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, "render error"},
};

/* Reports a Liquid error as a PostgreSQL error with the SQLSTATE of its kind; what names the source. */
static void
report_liquid_error(const liq_error *err, const char *what)
{
	int			code = ERRCODE_INTERNAL_ERROR;
	const char *kind = "error";
	char		msg[sizeof(err->message)];

	for (int i = 0; i < lengthof(liquid_errors); i++)
		if (liquid_errors[i].kind == err->kind)
		{
			code = liquid_errors[i].sqlstate;
			kind = liquid_errors[i].label;
		}
	strlcpy(msg, err->message, sizeof(msg));
	/* house style: messages start in lowercase (the core writes Ruby-like capitalized ones) */
	if (msg[0] >= 'A' && msg[0] <= 'Z' && !(msg[1] >= 'A' && msg[1] <= 'Z'))
		msg[0] += 'a' - 'A';
	ereport(ERROR,
			(errcode(code),
			 err->line > 0 ? errmsg("liquid %s at line %d, column %d: %s", kind, err->line, err->column, msg) : errmsg("liquid %s: %s", kind, msg),
			 err->excerpt[0] ? errdetail("The template reads \"%s\" at that point.", err->excerpt) : 0,
			 err->partial[0] ? errcontext("partial \"%s\"", err->partial) : what ? errcontext("%s", what)
																				 : 0,
			 err->kind == LIQ_ERR_LIMIT ? errhint("The limits are the settings personalize.liquid_max_output, liquid_max_iterations, "
												  "liquid_max_depth, liquid_max_partial_depth and liquid_max_memory.")
										: 0));
}

/* Unlinks and frees one cache entry. */
static void
cache_evict(CacheEntry *e)
{
	dlist_delete(&e->lru);
	cache_bytes -= e->bytes;
	MemoryContextDelete(e->cxt);
	hash_search(cache, &e->key, HASH_REMOVE, NULL);
	cache_evictions++;
}

/* Evicts least recently used entries until the cache is within its settings. */
static void
cache_trim(void)
{
	while (!dlist_is_empty(&cache_lru) &&
		   (hash_get_num_entries(cache) > liquid_cache_entries ||
			cache_bytes > (Size) liquid_cache_memory * 1024))
	{
		CacheEntry *e = dlist_container(CacheEntry, lru, dlist_tail_node(&cache_lru));

		if (e->used_in_call == render_call)
			break; /* everything left is in use by this render */
		cache_evict(e);
	}
}

/*
 * Returns the compiled template for src, from the cache or freshly compiled into it. On a syntax
 * error returns NULL and fills *err (the caller reports it, or lets the core report it).
 */
static const liq_template *
compile_cached(const char *src, size_t len, liq_error *err)
{
	uint64			 key;
	CacheEntry		*e;
	bool			 found;
	MemoryContext	 cxt;
	liq_allocator	 alloc;
	liq_compile_opts co;
	liq_template	*tmpl;

	if (cache == NULL)
	{
		HASHCTL ctl;

		cache_cxt = AllocSetContextCreate(TopMemoryContext, "personalize liquid cache",
										  ALLOCSET_SMALL_SIZES);
		ctl.keysize = sizeof(uint64);
		ctl.entrysize = sizeof(CacheEntry);
		ctl.hcxt = cache_cxt;
		cache = hash_create("personalize liquid templates", 64, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	key = hash_bytes_extended((const unsigned char *) src, len, (uint64) liquid_max_depth);
	e = hash_search(cache, &key, HASH_FIND, &found);
	if (found)
	{
		if (e->srclen == len && e->depth == liquid_max_depth && memcmp(e->src, src, len) == 0)
		{
			dlist_move_head(&cache_lru, &e->lru);
			e->used_in_call = render_call;
			cache_hits++;
			return e->tmpl;
		}
		cache_evict(e); /* a 64-bit collision: the newer source wins */
	}
	cache_misses++;

	/* compile in a context under the caller's, so an error leaves nothing in the cache */
	cxt = AllocSetContextCreate(CurrentMemoryContext, "personalize liquid template",
								ALLOCSET_DEFAULT_SIZES);
	alloc.alloc = liq_palloc;
	alloc.free = liq_pfree;
	alloc.ud = cxt;
	memset(&co, 0, sizeof(co));
	co.allocator = &alloc;
	co.max_nesting_depth = liquid_max_depth;
	co.max_memory = (size_t) liquid_max_memory * 1024;
	if (liq_compile(src, len, &co, &tmpl, err) != 0)
	{
		MemoryContextDelete(cxt);
		return NULL;
	}
	MemoryContextSetParent(cxt, cache_cxt);
	e = hash_search(cache, &key, HASH_ENTER, &found);
	e->src = MemoryContextAlloc(cxt, len + 1);
	memcpy(e->src, src, len);
	e->src[len] = '\0';
	e->srclen = len;
	e->depth = liquid_max_depth;
	e->cxt = cxt;
	e->tmpl = tmpl;
	e->bytes = MemoryContextMemAllocated(cxt, true);
	e->used_in_call = render_call;
	dlist_push_head(&cache_lru, &e->lru);
	cache_bytes += e->bytes;
	cache_trim();
	return tmpl;
}

/* Converts one jsonb scalar to a Liquid value; strings point into the jsonb datum (no copy). */
static liq_value
scalar_to_liq(JsonbValue *v)
{
	liq_value out;

	switch (v->type)
	{
		case jbvString:
			return liq_string_ref(v->val.string.val, v->val.string.len);
		case jbvBool:
			return liq_bool(v->val.boolean);
		case jbvNumeric:
		{
			/* numeric keeps its scale: 3 is an integer, 3.0 a float, as in Liquid */
			char *s = DatumGetCString(DirectFunctionCall1(numeric_out,
														  NumericGetDatum(v->val.numeric)));

			if (!liq_number_from_text(s, strlen(s), &out))
				out = liq_nil();
			if (out.type != LIQ_STRING) /* an integer beyond 64 bits keeps pointing at its digits */
				pfree(s);
			return out;
		}
		default:
			return liq_nil();
	}
}

/* Converts a jsonb container (object or array) into Liquid values allocated in the arena. */
static liq_value
container_to_liq(liq_arena *ar, JsonbContainer *c)
{
	JsonbIterator	  *it = JsonbIteratorInit(c);
	JsonbValue		   v;
	JsonbIteratorToken tok;
	liq_value		   res = liq_nil();
	const char		  *key = NULL;
	int				   klen = 0;

	check_stack_depth();
	tok = JsonbIteratorNext(&it, &v, true);
	if (tok == WJB_BEGIN_ARRAY && v.val.array.rawScalar)
	{
		tok = JsonbIteratorNext(&it, &v, true);
		res = scalar_to_liq(&v);
		while (JsonbIteratorNext(&it, &v, true) != WJB_DONE)
			;
		return res;
	}
	if (tok == WJB_BEGIN_ARRAY)
		res = liq_array_new(ar, v.val.array.nElems);
	else if (tok == WJB_BEGIN_OBJECT)
		res = liq_object_new(ar, v.val.object.nPairs);
	if (res.type == LIQ_NIL)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("out of memory converting the liquid context"),
						errhint("Raise personalize.liquid_max_memory.")));
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		liq_value item;
		bool	  ok = true;

		CHECK_FOR_INTERRUPTS();
		if (tok == WJB_KEY)
		{
			key = v.val.string.val;
			klen = v.val.string.len;
			continue;
		}
		if (tok != WJB_VALUE && tok != WJB_ELEM)
			continue;
		item = v.type == jbvBinary ? container_to_liq(ar, v.val.binary.data) : scalar_to_liq(&v);
		if (tok == WJB_VALUE)
			ok = liq_object_set(ar, res, key, klen, item);
		else
			ok = liq_array_push(ar, res, item);
		if (!ok)
			ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
							errmsg("out of memory converting the liquid context"),
							errhint("Raise personalize.liquid_max_memory.")));
	}
	return res;
}

/* One open object or array while a json context is converted. */
typedef struct JsonFrame
{
	liq_value container;
	char	 *key; /* the pending field name of an object */
} JsonFrame;

/* State of the json (text, ordered) to Liquid conversion. */
typedef struct JsonBuild
{
	liq_arena *ar;
	JsonFrame *stack;
	int		   depth;
	int		   size;
	liq_value  root;
} JsonBuild;

/* Fails the conversion when the arena is out of memory. */
static void
json_oom(void)
{
	ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					errmsg("out of memory converting the liquid context"),
					errhint("Raise personalize.liquid_max_memory.")));
}

/* Adds a finished value to the open container, or makes it the root. */
static void
json_add(JsonBuild *b, liq_value v)
{
	JsonFrame *f;

	CHECK_FOR_INTERRUPTS();
	if (b->depth == 0)
	{
		b->root = v;
		return;
	}
	f = &b->stack[b->depth - 1];
	if (f->container.type == LIQ_OBJECT)
	{
		if (!liq_object_set(b->ar, f->container, f->key, strlen(f->key), v))
			json_oom();
	}
	else if (!liq_array_push(b->ar, f->container, v))
		json_oom();
}

/* Opens an object or array. */
static void
json_push(JsonBuild *b, liq_value container)
{
	if (container.type == LIQ_NIL)
		json_oom();
	if (b->depth == b->size)
	{
		b->size = b->size ? b->size * 2 : 16;
		b->stack = b->stack ? repalloc(b->stack, sizeof(JsonFrame) * b->size) : palloc(sizeof(JsonFrame) * b->size);
	}
	b->stack[b->depth].container = container;
	b->stack[b->depth].key = NULL;
	b->depth++;
}

/* Parser callback: an object starts. */
static void
json_object_start(void *state)
{
	JsonBuild *b = state;

	json_push(b, liq_object_new(b->ar, 8));
}

/* Parser callback: an array starts. */
static void
json_array_start(void *state)
{
	JsonBuild *b = state;

	json_push(b, liq_array_new(b->ar, 8));
}

/* Parser callback: an object or array ends. */
static void
json_container_end(void *state)
{
	JsonBuild *b = state;

	b->depth--;
	json_add(b, b->stack[b->depth].container);
}

/* Parser callback: the name of the next field. */
static void
json_field_start(void *state, char *fname, bool isnull)
{
	JsonBuild *b = state;

	b->stack[b->depth - 1].key = fname;
}

/* Parser callback: a scalar; numbers are converted from their text, as written. */
static void
json_scalar(void *state, char *token, JsonTokenType tokentype)
{
	JsonBuild *b = state;
	liq_value  v = liq_nil();

	switch (tokentype)
	{
		case JSON_TOKEN_STRING:
			v = liq_string_ref(token, strlen(token));
			break;
		case JSON_TOKEN_NUMBER:
			if (!liq_number_from_text(token, strlen(token), &v))
				v = liq_nil();
			break;
		case JSON_TOKEN_TRUE:
			v = liq_bool(true);
			break;
		case JSON_TOKEN_FALSE:
			v = liq_bool(false);
			break;
		default:
			break;
	}
	json_add(b, v);
}

/* Converts a json (text) context into Liquid values, keeping the order of object keys. */
static liq_value
json_to_liq(liq_arena *ar, text *json)
{
	JsonBuild		b;
	JsonSemAction	sem;
	JsonLexContext *lex = makeJsonLexContext(json, true);

	memset(&b, 0, sizeof(b));
	b.ar = ar;
	b.root = liq_nil();
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &b;
	sem.object_start = json_object_start;
	sem.object_end = json_container_end;
	sem.array_start = json_array_start;
	sem.array_end = json_container_end;
	sem.object_field_start = json_field_start;
	sem.scalar = json_scalar;
	pg_parse_json_or_ereport(lex, &sem);
	return b.root;
}

/* Looks a partial's source up in the explicit partials object or in personalize.templates. */
static bool
partial_source(PartialLoader *pl, const char *name, size_t name_len, const char **src, size_t *len)
{
	if (pl->partials)
	{
		JsonbValue k, *v;

		if (!JB_ROOT_IS_OBJECT(pl->partials))
			return false;
		k.type = jbvString;
		k.val.string.val = (char *) name;
		k.val.string.len = name_len;
		v = findJsonbValueFromContainer(&pl->partials->root, JB_FOBJECT, &k);
		if (v == NULL || v->type != jbvString)
			return false;
		*src = v->val.string.val;
		*len = v->val.string.len;
		return true;
	}
	else
	{
		Datum		  arg;
		bool		  found = false;
		MemoryContext old;
		int			  rc;
		PartialMemo	 *memo = NULL;

		if (pl->batch && name_len < NAMEDATALEN * 2 - 2)
		{
			char key[NAMEDATALEN * 2];
			bool hit;

			memset(key, 0, sizeof(key));
			key[0] = pl->part == PART_HTML ? PART_HTML : PART_TEXT;
			memcpy(key + 1, name, name_len);
			memo = hash_search(pl->batch->memo, key, HASH_ENTER, &hit);
			if (hit)
			{
				*src = memo->src;
				*len = memo->len;
				return memo->found;
			}
			memo->found = false;
		}
		SPI_connect();
		if (partial_plan == NULL)
		{
			Oid		   argtype = TEXTOID;
			SPIPlanPtr p = SPI_prepare("SELECT t.html_body, t.text_body, t.subject FROM personalize.templates t "
									   "WHERE t.name OPERATOR(pg_catalog.=) $1",
									   1, &argtype);

			if (p == NULL)
				elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
			SPI_keepplan(p);
			partial_plan = p;
		}
		arg = PointerGetDatum(cstring_to_text_with_len(name, name_len));
		rc = SPI_execute_plan(partial_plan, &arg, NULL, true, 1);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
		if (SPI_processed == 1)
		{
			/* a text or subject render reads the partial's text body, else its HTML body */
			bool  isnull = true;
			Datum d = (Datum) 0;

			if (pl->part != PART_HTML)
				d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
			if (isnull)
				d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
			if (!isnull)
			{
				text *t;

				old = MemoryContextSwitchTo(memo ? pl->batch->cxt : pl->cxt);
				t = DatumGetTextPCopy(d);
				MemoryContextSwitchTo(old);
				*src = VARDATA_ANY(t);
				*len = VARSIZE_ANY_EXHDR(t);
				found = true;
			}
		}
		SPI_finish();
		if (memo)
		{
			memo->found = found;
			memo->src = found ? (char *) *src : NULL;
			memo->len = found ? *len : 0;
		}
		return found;
	}
}

/* The core's precompiled-partial hook: the partial's source, compiled through the cache. */
static bool
load_template(void *ud, const char *name, size_t name_len, const liq_template **tmpl)
{
	PartialLoader *pl = ud;
	const char	  *src;
	size_t		   len;
	liq_error	   err;

	pl->last_src = NULL;
	if (!partial_source(pl, name, name_len, &src, &len))
		return false;
	*tmpl = compile_cached(src, len, &err);
	if (*tmpl == NULL)
	{
		/* hand the source to load_partial: the core then reports the error with the partial's name */
		pl->last_src = src;
		pl->last_len = len;
		return false;
	}
	return true;
}

/* The core's source partial hook, used only for a partial that did not compile. */
static bool
load_partial(void *ud, const char *name, size_t name_len, const char **src, size_t *len)
{
	PartialLoader *pl = ud;

	if (pl->last_src == NULL)
		return false;
	*src = pl->last_src;
	*len = pl->last_len;
	return true;
}

/* Fails when the arena cannot be created. */
static liq_arena *
arena_new(liq_allocator *alloc, MemoryContext cxt)
{
	liq_arena *ar;

	alloc->alloc = liq_palloc;
	alloc->free = liq_pfree;
	alloc->ud = cxt;
	ar = liq_arena_new(alloc);
	if (ar == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	return ar;
}

/*
 * Renders a compiled template with a context under the personalize.liquid_* limits; the result is
 * allocated in the caller's memory context, everything else in a context freed on return.
 */
static text *
render_with(const liq_template *tmpl, liq_value ctx, bool strict, TimestampTz as_of, Jsonb *partials,
			char part, bool autoescape, RenderBatch *batch, bool ctx_in_partials)
{
	MemoryContext	cxt, old;
	liq_allocator	alloc;
	liq_render_opts ro;
	PartialLoader	pl;
	liq_error		err;
	char		   *out;
	size_t			out_len;
	text		   *result;

	cxt = AllocSetContextCreate(CurrentMemoryContext, "personalize render", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	alloc.alloc = liq_palloc;
	alloc.free = liq_pfree;
	alloc.ud = cxt;
	memset(&pl, 0, sizeof(pl));
	pl.partials = partials;
	pl.part = part;
	pl.cxt = cxt;
	pl.batch = batch;

	memset(&ro, 0, sizeof(ro));
	ro.allocator = &alloc;
	ro.strict_variables = strict;
	ro.strict_filters = strict;
	ro.autoescape = autoescape;
	ro.max_output = (size_t) liquid_max_output;
	ro.max_iterations = (uint64_t) liquid_max_iterations;
	ro.max_depth = liquid_max_depth;
	ro.max_partial_depth = liquid_max_partial_depth;
	ro.max_memory = (size_t) liquid_max_memory * 1024;
	ro.check_interrupts = liq_check_interrupts;
	ro.load_template = load_template;
	ro.load_partial = load_partial;
	ro.partial_ud = &pl;
	if (ctx_in_partials)
		ro.static_env = ctx; /* the e-mail's context is Shopify's static environment: {% render %} sees it */
	/* time is an argument: as_of, in unix seconds, is what 'now' and 'today' mean to date */
	ro.now = (int64_t) (as_of / USECS_PER_SEC) +
			 (int64_t) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
	ro.tz_offset = 0;

	if (liq_render(tmpl, ctx, &ro, &out, &out_len, &err) != 0)
		report_liquid_error(&err, NULL);
	MemoryContextSwitchTo(old);
	result = cstring_to_text_with_len(out, out_len);
	MemoryContextDelete(cxt);
	return result;
}

/*
 * render() and render_json(): the template rendered with the context (jsonb, or json whose object
 * keys keep their order). NULL template gives NULL; NULL context is empty.
 */
static Datum
render_common(FunctionCallInfo fcinfo, bool ctx_is_json)
{
	text			   *tsrc;
	bool				strict = PG_NARGS() > 2 && !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
	TimestampTz			as_of = PG_NARGS() > 3 && !PG_ARGISNULL(3) ? PG_GETARG_TIMESTAMPTZ(3) : GetCurrentTransactionStartTimestamp();
	bool				autoescape = PG_NARGS() > 5 && !PG_ARGISNULL(5) && PG_GETARG_BOOL(5);
	Jsonb			   *partials = PG_NARGS() > 4 && !PG_ARGISNULL(4) ? PG_GETARG_JSONB_P(4) : NULL;
	char				part = PG_NARGS() > 6 && !PG_ARGISNULL(6) ? PG_GETARG_CHAR(6) : PART_HTML;
	MemoryContext		cxt, old;
	liq_allocator		alloc;
	const liq_template *tmpl;
	liq_arena		   *ar;
	liq_value			ctx = liq_nil();
	text			   *result;

	personalize_check_as_of(as_of);
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	tsrc = PG_GETARG_TEXT_PP(0);
	render_call++;
	tmpl = render_compile(VARDATA_ANY(tsrc), VARSIZE_ANY_EXHDR(tsrc), NULL);

	/* the context lives here; an error (or a cancel) frees it with its parent */
	cxt = AllocSetContextCreate(CurrentMemoryContext, "personalize render context", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	ar = arena_new(&alloc, cxt);
	if (ctx_is_json && !PG_ARGISNULL(1))
		ctx = json_to_liq(ar, PG_GETARG_TEXT_P(1));
	else if (!PG_ARGISNULL(1))
		ctx = render_jsonb_to_liq(ar, PG_GETARG_JSONB_P(1));
	if (ctx.type != LIQ_OBJECT && ctx.type != LIQ_NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("liquid context must be a json object"),
				 errdetail("The context given is a%s.", ctx.type == LIQ_ARRAY ? "n array" : " scalar")));
	MemoryContextSwitchTo(old);
	result = render_with(tmpl, ctx, strict, as_of, partials, part, autoescape, NULL, false);
	MemoryContextDelete(cxt);
	PG_RETURN_TEXT_P(result);
}

/* The compiled template of a source, from this backend's cache; a syntax error is raised (what: context). */
const liq_template *
render_compile(const char *src, size_t len, const char *what)
{
	liq_error			err;
	const liq_template *tmpl = compile_cached(src, len, &err);

	if (tmpl == NULL)
		report_liquid_error(&err, what);
	return tmpl;
}

/* A jsonb value as a Liquid value in the arena: objects and arrays converted, a scalar as its kind. */
liq_value
render_jsonb_to_liq(liq_arena *ar, Jsonb *j)
{
	liq_value v = liq_nil();

	if (JB_ROOT_IS_SCALAR(j))
		v.type = LIQ_STRING;
	else
		v = container_to_liq(ar, &j->root);
	return v;
}

/* Sets each top-level key of a jsonb object on a Liquid object (replacing keys it has), as jsonb || would. */
void
render_jsonb_merge(liq_arena *ar, liq_value obj, Jsonb *extra)
{
	JsonbIterator	  *it = JsonbIteratorInit(&extra->root);
	JsonbValue		   v;
	JsonbIteratorToken tok;
	const char		  *key = NULL;
	int				   klen = 0;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		liq_value item;

		if (tok == WJB_KEY)
		{
			key = v.val.string.val;
			klen = v.val.string.len;
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		item = v.type == jbvBinary ? container_to_liq(ar, v.val.binary.data) : scalar_to_liq(&v);
		if (!liq_object_set(ar, obj, key, klen, item))
			json_oom();
	}
}

/* A new arena allocating in the current memory context. */
liq_arena *
render_arena_new(void)
{
	liq_allocator *alloc = palloc(sizeof(liq_allocator));

	return arena_new(alloc, CurrentMemoryContext);
}

/* Starts a batch of renders that reads each stored partial once; lives in the current memory context. */
RenderBatch *
render_batch_begin(void)
{
	RenderBatch *b = palloc(sizeof(RenderBatch));
	HASHCTL		 ctl;

	render_call++; /* the batch's templates stay cached until it ends */
	b->cxt = CurrentMemoryContext;
	ctl.keysize = NAMEDATALEN * 2;
	ctl.entrysize = sizeof(PartialMemo);
	ctl.hcxt = b->cxt;
	b->memo = hash_create("personalize render batch partials", 16, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	return b;
}

/*
 * One part of an e-mail (RENDER_PART_*) rendered with a context; errors are raised. The context
 * (profile, cart, the caller's extra such as unsubscribe_url) is also the static environment of
 * every {% render %} partial, as Shopify's is; increment/decrement counters stay per partial.
 */
text *
render_part(RenderBatch *batch, const liq_template *tmpl, liq_value ctx, bool strict, TimestampTz as_of,
			char part)
{
	return render_with(tmpl, ctx, strict, as_of, NULL, part, part == PART_HTML, batch, true);
}

/* SQL: personalize.render(template, context jsonb, strict, as_of, partials, autoescape[, part]). */
Datum
personalize_render(PG_FUNCTION_ARGS)
{
	return render_common(fcinfo, false);
}

/* SQL: personalize.render_json(template, context json, strict, as_of, partials, autoescape). */
Datum
personalize_render_json(PG_FUNCTION_ARGS)
{
	return render_common(fcinfo, true);
}

/*
 * SQL: personalize._liquid_check(source, what): raises the template's syntax error, if any,
 * with what (e.g. "html_body of template \"welcome\"") as context; NULL passes.
 */
Datum
personalize_liquid_check(PG_FUNCTION_ARGS)
{
	text *src;

	if (PG_ARGISNULL(0))
		PG_RETURN_VOID();
	src = PG_GETARG_TEXT_PP(0);
	render_compile(VARDATA_ANY(src), VARSIZE_ANY_EXHDR(src),
				   PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1)));
	PG_RETURN_VOID();
}

/* SQL: personalize.liquid_cache_stats(): entries, bytes, hits, misses and evictions of this backend's cache. */
Datum
personalize_liquid_cache_stats(PG_FUNCTION_ARGS)
{
	TupleDesc tupdesc;
	Datum	  values[5];
	bool	  nulls[5] = {false, false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = Int64GetDatum(cache ? hash_get_num_entries(cache) : 0);
	values[1] = Int64GetDatum((int64) cache_bytes);
	values[2] = Int64GetDatum((int64) cache_hits);
	values[3] = Int64GetDatum((int64) cache_misses);
	values[4] = Int64GetDatum((int64) cache_evictions);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

/* Module load: defines the personalize.liquid_* settings (PGC_SUSET: limits are policy, docs/security.md). */
void
render_init(void)
{
	DefineCustomIntVariable("personalize.liquid_max_output",
							"Largest output of one Liquid render.", NULL,
							&liquid_max_output, 16 * 1024 * 1024, 1024, MaxAllocSize / 2,
							PGC_SUSET, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("personalize.liquid_max_iterations",
							"Most loop iterations (all loops together) in one Liquid render.", NULL,
							&liquid_max_iterations, 1000000, 1, INT_MAX,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("personalize.liquid_max_depth",
							"Deepest nesting of blocks and expressions in a Liquid template.", NULL,
							&liquid_max_depth, 100, 1, 1000, /* the engine recurses per level: 1000 stay well within max_stack_depth */
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("personalize.liquid_max_partial_depth",
							"Deepest nesting of render and include partials in a Liquid render.", NULL,
							&liquid_max_partial_depth, 16, 1, 1000,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("personalize.liquid_max_memory",
							"Most memory one Liquid compile or render may use.", NULL,
							&liquid_max_memory, 256 * 1024, 64, MaxAllocSize / 1024,
							PGC_SUSET, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomIntVariable("personalize.liquid_cache_entries",
							"Most compiled Liquid templates kept per backend.", NULL,
							&liquid_cache_entries, 256, 0, 1000000,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("personalize.liquid_cache_memory",
							"Most memory the compiled Liquid templates of one backend may use.", NULL,
							&liquid_cache_memory, 64 * 1024, 0, MAX_KILOBYTES,
							PGC_SUSET, GUC_UNIT_KB, NULL, NULL, NULL);
}
