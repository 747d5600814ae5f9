/*
 * live_state.c: the one owner of a profile's live state (personalize.live_state): the purchase
 * counters, the engagement decayed to its latest event, the interests (per category, decayed to
 * the category's latest event) and the cart log with its cart. Two operations define it, here and
 * nowhere else:
 *   - the fold of events into a state (the aggregate personalize._live_fold), and
 *   - the combine of two states (personalize._live_combine, also the aggregate's combine).
 * Ingest folds a statement's events and combines the result with each profile's stored state;
 * the full recompute (_live_state_at, rebuild_scores) folds all of a profile's events; a merge
 * combines the two profiles' states. Where a state is stored (profiles columns, the rows of
 * profile_interests) is written once, in _live_read and _live_write (src/scoring/scoring.sql);
 * docs/scoring.md lists what adding a live score touches.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "common/hashfn.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "scoring/cart.h"
#include "scoring/interest.h"
#include "scoring/scoring.h"

PG_FUNCTION_INFO_V1(personalize_live_fold_trans);
PG_FUNCTION_INFO_V1(personalize_live_fold_final);
PG_FUNCTION_INFO_V1(personalize_live_fold_combine);
PG_FUNCTION_INFO_V1(personalize_live_fold_serialize);
PG_FUNCTION_INFO_V1(personalize_live_fold_deserialize);
PG_FUNCTION_INFO_V1(personalize_live_combine);

/* The fields of personalize.live_state, in its order. */
enum
{
	F_CART_LOG,
	F_CART,
	F_CART_UPDATED_AT,
	F_PURCHASE_COUNT,
	F_PURCHASE_TOTAL,
	F_FIRST_PURCHASE_AT,
	F_LAST_PURCHASE_AT,
	F_PURCHASES_IGNORED,
	F_ENGAGEMENT,
	F_ENGAGEMENT_AS_OF,
	F_INTERESTS,
	LIVE_NFIELDS
};

/* The fields of personalize.interest, in its order. */
enum
{
	I_CATEGORY,
	I_SCORE,
	I_AS_OF,
	INTEREST_NFIELDS
};

/* One category's interest: its score valued at as_of (the category's latest event). */
typedef struct InterestEntry
{
	char	   *category;
	uint32		hash;
	char		status;
	double		score;
	TimestampTz as_of;
} InterestEntry;

#define SH_PREFIX interests
#define SH_ELEMENT_TYPE InterestEntry
#define SH_KEY_TYPE char *
#define SH_KEY category
#define SH_HASH_KEY(tb, key) hash_bytes((const unsigned char *) (key), strlen(key))
#define SH_EQUAL(tb, a, b) (strcmp((a), (b)) == 0)
#define SH_SCOPE static inline
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) ((a)->hash)
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* A live state in memory. */
typedef struct LiveState
{
	int64			purchase_count;
	Numeric			purchase_total;
	bool			has_purchase; /* first_ and last_purchase_at are set */
	TimestampTz		first_purchase_at;
	TimestampTz		last_purchase_at;
	int64			purchases_ignored;
	bool			has_engagement; /* engagement_as_of is set */
	double			engagement;
	TimestampTz		engagement_as_of;
	bool			has_cart; /* a cart event or an order was folded in (else cart_log is NULL) */
	CartLog			cart;
	interests_hash *interests; /* NULL until a category's interest is folded in */
	/* the fold's settings, taken from the first row */
	char	  *purchase_event;
	ArrayType *amount_properties;
	text	  *category_property;
	double	   half_life; /* microseconds */
} LiveState;

/* An empty state. */
static void
live_init(LiveState *s)
{
	memset(s, 0, sizeof(*s));
	s->purchase_total = int64_to_numeric(0);
	s->half_life = (double) personalize_half_life_s * USECS_PER_SEC;
}

/* s * 2^(-(to - from) / h). */
static double
live_decay(double s, TimestampTz from, TimestampTz to, double h)
{
	return s * exp2(-((double) (to - from)) / h);
}

/* Folds a usable purchase amount (NULL: a purchase without one) in. */
static void
live_purchase(LiveState *s, Numeric amount, TimestampTz at)
{
	if (amount == NULL)
	{
		s->purchases_ignored++;
		return;
	}
	s->purchase_count++;
	s->purchase_total = numeric_add_opt_error(s->purchase_total, amount, NULL);
	if (!s->has_purchase || at < s->first_purchase_at)
		s->first_purchase_at = at;
	if (!s->has_purchase || at > s->last_purchase_at)
		s->last_purchase_at = at;
	s->has_purchase = true;
}

/*
 * Adds score (valued at its time at) to a decayed sum (*sum valued at *sum_at; none yet unless
 * *has), valued at the later of the two times: the rule of the engagement and of each interest.
 */
static void
live_decayed_add(double *sum, TimestampTz *sum_at, bool *has, double score, TimestampTz at, double h)
{
	if (!*has)
	{
		*sum = score;
		*sum_at = at;
		*has = true;
	}
	else if (at > *sum_at)
	{
		*sum = live_decay(*sum, *sum_at, at, h) + score;
		*sum_at = at;
	}
	else
		*sum += live_decay(score, at, *sum_at, h);
}

/* Adds score (valued at its time at) to the engagement, valued at the later of the two times. */
static void
live_engagement(LiveState *s, double score, TimestampTz at)
{
	live_decayed_add(&s->engagement, &s->engagement_as_of, &s->has_engagement, score, at, s->half_life);
}

/* Adds score (valued at its time at) to the interest in category (copied when new). */
static void
live_interest(LiveState *s, const char *category, double score, TimestampTz at)
{
	InterestEntry *e;
	bool		   found;

	if (s->interests == NULL)
		s->interests = interests_create(CurrentMemoryContext, 8, NULL);
	e = interests_insert(s->interests, (char *) category, &found);
	if (!found)
		e->category = pstrdup(category);
	live_decayed_add(&e->score, &e->as_of, &found, score, at, s->half_life);
}

/* The usable amount of a purchase's properties, or NULL (src/scoring/rfm.c defines both steps). */
static Numeric
live_amount(Jsonb *props, ArrayType *keys)
{
	Datum amount;
	LOCAL_FCINFO(fc, 2);

	if (props == NULL)
		return NULL;
	InitFunctionCallInfoData(*fc, NULL, 2, InvalidOid, NULL, NULL);
	fc->args[0].value = JsonbPGetDatum(props);
	fc->args[0].isnull = false;
	fc->args[1].value = PointerGetDatum(keys);
	fc->args[1].isnull = false;
	amount = personalize_purchase_amount(fc);
	if (fc->isnull)
		return NULL;
	InitFunctionCallInfoData(*fc, NULL, 1, InvalidOid, NULL, NULL);
	fc->args[0].value = amount;
	fc->args[0].isnull = false;
	amount = personalize_usable_amount(fc);
	return fc->isnull ? NULL : DatumGetNumeric(amount);
}

/* Errors unless an event weight (what: engagement or interest) is a finite number. */
static void
live_check_weight(double weight, const char *what)
{
	if (isnan(weight) || isinf(weight))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s weight must be a finite number", what),
				 errdetail("A row has weight %g.", weight),
				 errhint("Check the weights in personalize.scoring_events.")));
}

/*
 * The fold of one event: a purchase (the settings' purchase event) counts with its usable
 * amount, or as ignored; an event with a non-zero weight adds to the engagement; an event with a
 * positive interest weight adds to the interest in its category (src/scoring/interest.c), if it
 * has one; a cart event or an order goes to the cart log. Events at an infinite time count for
 * nothing but the cart.
 */
static void
live_fold_event(LiveState *s, TimestampTz at, int64 id, const char *event, Jsonb *props, bool has_weight,
				double weight, double interest_weight)
{
	if (strcmp(event, s->purchase_event) == 0)
		live_purchase(s, live_amount(props, s->amount_properties), at);
	if (has_weight && weight != 0)
	{
		live_check_weight(weight, "engagement");
		if (!TIMESTAMP_NOT_FINITE(at))
			live_engagement(s, weight, at);
	}
	if (interest_weight != 0)
		live_check_weight(interest_weight, "interest");
	if (interest_weight > 0 && props != NULL && !TIMESTAMP_NOT_FINITE(at))
	{
		char *category;

		category = event_category(props, s->category_property);
		if (category != NULL)
		{
			live_interest(s, category, interest_weight, at);
			pfree(category);
		}
	}
	if (strcmp(event, "Order Completed") == 0 || strcmp(event, "Product Added") == 0 ||
		strcmp(event, "Product Removed") == 0)
	{
		s->has_cart = true;
		cart_log_event(&s->cart, event, props, at, id);
	}
}

/* Combines b into a: counters add, times widen, engagements add at the later time, logs merge. */
static void
live_combine(LiveState *a, const LiveState *b)
{
	a->purchase_count += b->purchase_count;
	a->purchase_total = numeric_add_opt_error(a->purchase_total, b->purchase_total, NULL);
	if (b->has_purchase)
	{
		if (!a->has_purchase || b->first_purchase_at < a->first_purchase_at)
			a->first_purchase_at = b->first_purchase_at;
		if (!a->has_purchase || b->last_purchase_at > a->last_purchase_at)
			a->last_purchase_at = b->last_purchase_at;
		a->has_purchase = true;
	}
	a->purchases_ignored += b->purchases_ignored;
	if (b->has_engagement)
		live_engagement(a, b->engagement, b->engagement_as_of);
	if (b->has_cart)
	{
		a->has_cart = true;
		cart_log_combine(&a->cart, &b->cart);
	}
	if (b->interests != NULL)
	{
		interests_iterator it;
		InterestEntry	  *e;

		interests_start_iterate(b->interests, &it);
		while ((e = interests_iterate(b->interests, &it)) != NULL)
			live_interest(a, e->category, e->score, e->as_of);
	}
}

/* For qsort: interests by category, in byte order. */
static int
interest_cmp(const void *a, const void *b)
{
	return strcmp((*(InterestEntry *const *) a)->category, (*(InterestEntry *const *) b)->category);
}

/* The interests as a personalize.interest[] (by category), or NULL when there are none. */
static Datum
live_interests_to_datum(LiveState *s, TupleDesc desc, bool *isnull)
{
	Oid				   array_type = TupleDescAttr(desc, F_INTERESTS)->atttypid;
	Oid				   elem_type = get_element_type(array_type);
	TupleDesc		   idesc;
	InterestEntry	 **sorted;
	Datum			  *elems;
	interests_iterator it;
	InterestEntry	  *e;
	int				   n = 0;
	int16			   typlen;
	bool			   typbyval;
	char			   typalign;

	*isnull = s->interests == NULL || s->interests->members == 0;
	if (*isnull)
		return (Datum) 0;
	sorted = palloc(sizeof(InterestEntry *) * s->interests->members);
	interests_start_iterate(s->interests, &it);
	while ((e = interests_iterate(s->interests, &it)) != NULL)
		sorted[n++] = e;
	qsort(sorted, n, sizeof(InterestEntry *), interest_cmp);
	idesc = lookup_rowtype_tupdesc(elem_type, -1);
	elems = palloc(sizeof(Datum) * n);
	for (int i = 0; i < n; i++)
	{
		Datum v[INTEREST_NFIELDS];
		bool  nulls[INTEREST_NFIELDS] = {false, false, false};

		v[I_CATEGORY] = PointerGetDatum(cstring_to_text(sorted[i]->category));
		v[I_SCORE] = Float8GetDatum(sorted[i]->score);
		v[I_AS_OF] = TimestampTzGetDatum(sorted[i]->as_of);
		elems[i] = HeapTupleGetDatum(heap_form_tuple(idesc, v, nulls));
	}
	ReleaseTupleDesc(idesc);
	get_typlenbyvalalign(elem_type, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_array(elems, n, elem_type, typlen, typbyval, typalign));
}

/* A personalize.interest[] into the state's interests (NULL elements and fields: an error). */
static void
live_interests_from_datum(LiveState *s, ArrayType *arr)
{
	Datum *elems;
	bool  *nulls;
	int	   n;
	int16  typlen;
	bool   typbyval;
	char   typalign;

	get_typlenbyvalalign(ARR_ELEMTYPE(arr), &typlen, &typbyval, &typalign);
	deconstruct_array(arr, ARR_ELEMTYPE(arr), typlen, typbyval, typalign, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		HeapTupleHeader t;
		Datum			c, sc, at;
		bool			cn, sn, an;
		char		   *category;

		CHECK_FOR_INTERRUPTS();
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a live state's interest must not be null")));
		t = DatumGetHeapTupleHeader(elems[i]);
		c = GetAttributeByNum(t, I_CATEGORY + 1, &cn);
		sc = GetAttributeByNum(t, I_SCORE + 1, &sn);
		at = GetAttributeByNum(t, I_AS_OF + 1, &an);
		if (cn || sn || an)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a live state's interest must have a category, a score and a time")));
		category = TextDatumGetCString(c);
		live_interest(s, category, DatumGetFloat8(sc), DatumGetTimestampTz(at));
		pfree(category);
	}
}

/* The tuple descriptor of personalize.live_state (the extension's schema is always personalize). */
static TupleDesc
live_desc(void)
{
	Oid nsp = get_namespace_oid("personalize", false);
	Oid type = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid, CStringGetDatum("live_state"),
							   ObjectIdGetDatum(nsp));

	if (!OidIsValid(type))
		elog(ERROR, "type personalize.live_state does not exist");
	return lookup_rowtype_tupdesc_copy(type, -1);
}

/*
 * A state as a personalize.live_state value: the cart log normalized and replayed, or the cart
 * fields of cart_from as they are (when only that side of a combine has a cart).
 */
static Datum
live_to_datum(LiveState *s, TupleDesc desc, HeapTupleHeader cart_from)
{
	Datum v[LIVE_NFIELDS];
	bool  n[LIVE_NFIELDS];

	memset(n, true, sizeof(n));
	if (cart_from)
	{
		for (int f = F_CART_LOG; f <= F_CART_UPDATED_AT; f++)
			v[f] = GetAttributeByNum(cart_from, f + 1, &n[f]);
	}
	else if (s->has_cart)
	{
		cart_log_normalize(&s->cart);
		v[F_CART_LOG] = JsonbPGetDatum(cart_log_write(&s->cart));
		n[F_CART_LOG] = false;
		if (s->cart.n > 0)
		{
			v[F_CART_UPDATED_AT] = TimestampTzGetDatum(s->cart.ops[s->cart.n - 1].at);
			n[F_CART_UPDATED_AT] = false;
		}
	}
	if (!cart_from)
	{
		v[F_CART] = JsonbPGetDatum(cart_replay(&s->cart));
		n[F_CART] = false;
	}
	v[F_PURCHASE_COUNT] = Int64GetDatum(s->purchase_count);
	v[F_PURCHASE_TOTAL] = NumericGetDatum(s->purchase_total);
	v[F_PURCHASES_IGNORED] = Int64GetDatum(s->purchases_ignored);
	v[F_ENGAGEMENT] = Float8GetDatum(s->has_engagement ? s->engagement : 0);
	n[F_PURCHASE_COUNT] = n[F_PURCHASE_TOTAL] = n[F_PURCHASES_IGNORED] = n[F_ENGAGEMENT] = false;
	if (s->has_purchase)
	{
		v[F_FIRST_PURCHASE_AT] = TimestampTzGetDatum(s->first_purchase_at);
		v[F_LAST_PURCHASE_AT] = TimestampTzGetDatum(s->last_purchase_at);
		n[F_FIRST_PURCHASE_AT] = n[F_LAST_PURCHASE_AT] = false;
	}
	if (s->has_engagement)
	{
		v[F_ENGAGEMENT_AS_OF] = TimestampTzGetDatum(s->engagement_as_of);
		n[F_ENGAGEMENT_AS_OF] = false;
	}
	v[F_INTERESTS] = live_interests_to_datum(s, desc, &n[F_INTERESTS]);
	return HeapTupleGetDatum(heap_form_tuple(desc, v, n));
}

/* A personalize.live_state value as a state (NULL fields: none of that part); the cart log is read when asked. */
static void
live_from_datum(HeapTupleHeader t, LiveState *s, bool read_cart)
{
	bool  isnull;
	Datum d;

	live_init(s);
	d = GetAttributeByNum(t, F_CART_LOG + 1, &isnull);
	if (!isnull && read_cart)
	{
		s->has_cart = true;
		cart_log_read(DatumGetJsonbP(d), &s->cart);
	}
	d = GetAttributeByNum(t, F_PURCHASE_COUNT + 1, &isnull);
	s->purchase_count = isnull ? 0 : DatumGetInt64(d);
	d = GetAttributeByNum(t, F_PURCHASE_TOTAL + 1, &isnull);
	if (!isnull)
		s->purchase_total = DatumGetNumeric(d);
	d = GetAttributeByNum(t, F_FIRST_PURCHASE_AT + 1, &isnull);
	if (!isnull)
	{
		s->has_purchase = true;
		s->first_purchase_at = DatumGetTimestampTz(d);
		d = GetAttributeByNum(t, F_LAST_PURCHASE_AT + 1, &isnull);
		s->last_purchase_at = isnull ? s->first_purchase_at : DatumGetTimestampTz(d);
	}
	d = GetAttributeByNum(t, F_PURCHASES_IGNORED + 1, &isnull);
	s->purchases_ignored = isnull ? 0 : DatumGetInt64(d);
	d = GetAttributeByNum(t, F_ENGAGEMENT_AS_OF + 1, &isnull);
	if (!isnull)
	{
		s->has_engagement = true;
		s->engagement_as_of = DatumGetTimestampTz(d);
		d = GetAttributeByNum(t, F_ENGAGEMENT + 1, &isnull);
		s->engagement = isnull ? 0 : DatumGetFloat8(d);
	}
	d = GetAttributeByNum(t, F_INTERESTS + 1, &isnull);
	if (!isnull)
		live_interests_from_datum(s, DatumGetArrayTypeP(d));
}

/* The aggregate's state, created in the aggregate context. */
static LiveState *
live_agg_state(FunctionCallInfo fcinfo, MemoryContext *aggcontext)
{
	LiveState	 *s;
	MemoryContext old;

	if (!AggCheckCallContext(fcinfo, aggcontext))
		elog(ERROR, "live-state fold called in non-aggregate context");
	if (!PG_ARGISNULL(0))
		return (LiveState *) PG_GETARG_POINTER(0);
	old = MemoryContextSwitchTo(*aggcontext);
	s = palloc(sizeof(LiveState));
	live_init(s);
	if (PG_ARGISNULL(7) || PG_ARGISNULL(8) || PG_ARGISNULL(9))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the purchase event, its amount properties and the category property must not be null")));
	s->purchase_event = text_to_cstring(PG_GETARG_TEXT_PP(7));
	s->amount_properties = PG_GETARG_ARRAYTYPE_P_COPY(8);
	s->category_property = PG_GETARG_TEXT_P_COPY(9);
	MemoryContextSwitchTo(old);
	return s;
}

/*
 * Transition of _live_fold(occurred_at, event_id, event, properties, engagement_weight,
 * interest_weight, purchase_event, amount_properties, category_property): one event folded in.
 */
Datum
personalize_live_fold_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	LiveState	 *s = live_agg_state(fcinfo, &aggcontext);
	Jsonb		 *props = NULL;
	char		 *event;
	double		  interest_weight = PG_ARGISNULL(6) ? 0 : PG_GETARG_FLOAT8(6);
	bool		  cart_event;
	MemoryContext old;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		PG_RETURN_POINTER(s); /* not an event */
	event = text_to_cstring(PG_GETARG_TEXT_PP(3));
	cart_event = strcmp(event, "Product Added") == 0 || strcmp(event, "Product Removed") == 0;
	/*
	 * Read only when the fold needs them: a cart event's line stays in the state (copied into the
	 * aggregate context); a purchase's amount and an event's category are taken at once (read in
	 * the per-row context, not copied).
	 */
	if (!PG_ARGISNULL(4))
	{
		if (cart_event)
		{
			old = MemoryContextSwitchTo(aggcontext);
			props = PG_GETARG_JSONB_P_COPY(4);
			MemoryContextSwitchTo(old);
		}
		else if (strcmp(event, s->purchase_event) == 0 || interest_weight > 0)
			props = PG_GETARG_JSONB_P(4);
	}
	old = MemoryContextSwitchTo(aggcontext);
	live_fold_event(s, PG_GETARG_TIMESTAMPTZ(1), PG_GETARG_INT64(2), event, props, !PG_ARGISNULL(5),
					PG_ARGISNULL(5) ? 0 : PG_GETARG_FLOAT8(5), interest_weight);
	pfree(event);
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(s);
}

/* Final of _live_fold: the state as a personalize.live_state (no events: the empty state). */
Datum
personalize_live_fold_final(PG_FUNCTION_ARGS)
{
	LiveState  empty;
	LiveState *s;

	if (PG_ARGISNULL(0))
	{
		live_init(&empty);
		s = &empty;
	}
	else
		s = (LiveState *) PG_GETARG_POINTER(0);
	PG_RETURN_DATUM(live_to_datum(s, live_desc(), NULL));
}

/* Copies what b points to (its total, its cart events' properties) into the current context. */
static void
live_copy_into(LiveState *b)
{
	b->purchase_total = DatumGetNumeric(datumCopy(NumericGetDatum(b->purchase_total), false, -1));
	for (int i = 0; i < b->cart.n; i++)
	{
		Jsonb *j = JsonbValueToJsonb(&b->cart.ops[i].props);

		b->cart.ops[i].props.val.binary.data = &j->root;
		b->cart.ops[i].props.val.binary.len = VARSIZE(j) - VARHDRSZ;
	}
}

/* Combine of _live_fold: two partial states as one (the same rule as _live_combine). */
Datum
personalize_live_fold_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext, old;
	LiveState	 *a = PG_ARGISNULL(0) ? NULL : (LiveState *) PG_GETARG_POINTER(0);
	LiveState	 *b = PG_ARGISNULL(1) ? NULL : (LiveState *) PG_GETARG_POINTER(1);
	LiveState	  copy;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "live-state combine called in non-aggregate context");
	if (b == NULL)
		PG_RETURN_POINTER(a);
	old = MemoryContextSwitchTo(aggcontext);
	/* b may live in a shorter context (a deserialized state): what a keeps of it is copied */
	copy = *b;
	live_copy_into(&copy);
	if (a == NULL)
	{
		a = palloc(sizeof(LiveState));
		live_init(a);
		a->purchase_event = pstrdup(b->purchase_event);
		a->amount_properties = (ArrayType *) PG_DETOAST_DATUM_COPY(PointerGetDatum(b->amount_properties));
		a->category_property = (text *) PG_DETOAST_DATUM_COPY(PointerGetDatum(b->category_property));
	}
	live_combine(a, &copy);
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(a);
}

/*
 * Serialize of _live_fold: the state as its personalize.live_state value, then the settings
 * (purchase event and category property as C strings, then the amount properties array);
 * the bytes are the composite datum (workers run the same binary and catalog).
 */
Datum
personalize_live_fold_serialize(PG_FUNCTION_ARGS)
{
	LiveState *s = (LiveState *) PG_GETARG_POINTER(0);
	Datum	   d = live_to_datum(s, live_desc(), NULL);
	Size	   len = VARSIZE(DatumGetPointer(d));
	Size	   ev = strlen(s->purchase_event) + 1;
	char	  *category_property = text_to_cstring(s->category_property);
	Size	   cp = strlen(category_property) + 1;
	Size	   keys = VARSIZE(s->amount_properties);
	bytea	  *out = palloc(VARHDRSZ + len + ev + cp + keys);
	char	  *p = VARDATA(out);

	SET_VARSIZE(out, VARHDRSZ + len + ev + cp + keys);
	memcpy(p, DatumGetPointer(d), len);
	memcpy(p + len, s->purchase_event, ev);
	memcpy(p + len + ev, category_property, cp);
	memcpy(p + len + ev + cp, s->amount_properties, keys);
	PG_RETURN_BYTEA_P(out);
}

/* Deserialize of _live_fold: checks each length, then reads the state back. */
Datum
personalize_live_fold_deserialize(PG_FUNCTION_ARGS)
{
	bytea		   *in = PG_GETARG_BYTEA_PP(0);
	char		   *p = VARDATA_ANY(in);
	Size			total = VARSIZE_ANY_EXHDR(in), len, ev, cp, keys;
	HeapTupleHeader t;
	LiveState	   *s;
	MemoryContext	aggcontext;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "live-state deserialize called in non-aggregate context");
	if (total < VARHDRSZ + sizeof(HeapTupleHeaderData))
		elog(ERROR, "invalid live-state serialization: %zu bytes", total);
	t = (HeapTupleHeader) palloc(total);
	memcpy(t, p, total);
	len = VARSIZE(t);
	if (len > total || len < sizeof(HeapTupleHeaderData))
		elog(ERROR, "invalid live-state serialization: a state of %zu bytes in %zu", len, total);
	ev = strnlen(p + len, total - len) + 1;
	if (len + ev > total)
		elog(ERROR, "invalid live-state serialization: bad settings");
	cp = strnlen(p + len + ev, total - len - ev) + 1;
	if (len + ev + cp > total || total - len - ev - cp < VARHDRSZ)
		elog(ERROR, "invalid live-state serialization: bad settings");
	keys = total - len - ev - cp;
	s = palloc(sizeof(LiveState));
	live_from_datum(t, s, true);
	s->purchase_event = pstrdup((char *) t + len);
	s->category_property = cstring_to_text((char *) t + len + ev);
	s->amount_properties = palloc(keys); /* aligned */
	memcpy(s->amount_properties, (char *) t + len + ev + cp, keys);
	if (VARSIZE(s->amount_properties) != keys)
		elog(ERROR, "invalid live-state serialization: bad settings");
	PG_RETURN_POINTER(s);
}

/*
 * SQL: personalize._live_combine(a live_state, b live_state): the live state of a profile holding
 * the events of both (a merge, or a profile's stored state and a statement's new events). A side
 * without cart events passes the other's cart through untouched.
 */
Datum
personalize_live_combine(PG_FUNCTION_ARGS)
{
	LiveState		a, b;
	HeapTupleHeader ta, tb, cart_from = NULL;
	bool			a_cart, b_cart;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	if (PG_ARGISNULL(0))
		PG_RETURN_DATUM(PG_GETARG_DATUM(1));
	ta = PG_GETARG_HEAPTUPLEHEADER(0);
	tb = PG_GETARG_HEAPTUPLEHEADER(1);
	GetAttributeByNum(ta, F_CART_LOG + 1, &a_cart);
	GetAttributeByNum(tb, F_CART_LOG + 1, &b_cart);
	a_cart = !a_cart;
	b_cart = !b_cart;
	if (!(a_cart && b_cart))
		cart_from = b_cart ? tb : ta;
	live_from_datum(ta, &a, cart_from == NULL);
	live_from_datum(tb, &b, cart_from == NULL);
	live_combine(&a, &b);
	PG_RETURN_DATUM(live_to_datum(&a, live_desc(), cart_from));
}
