/*
 * cart.c: the live cart of a profile. Owns the cart log (the Product Added and Product Removed events
 * since the latest Order Completed, kept on the profile as jsonb) and the cart it replays to. A
 * cart is: since the latest Order Completed, in (occurred_at, event_id) order, each Product Added
 * adds its quantity (1 when not a number) to the line of its key (product_id, else sku, else name)
 * and makes its properties the line's; each Product Removed takes its quantity (all when not a
 * number) off that line, dropping it at zero; events without a key are left out; an event at the
 * time of the order counts as before it. Because the log keeps every event since the order,
 * events folded in out of time order give exactly the cart the events give (src/scoring/scoring.sql
 * holds the full recompute, personalize._cart_log_from_events).
 *
 * The log is bounded: it keeps the latest CART_LOG_MAX_OPS cart events since the order (in
 * (occurred_at, event_id) order), and the cart is the replay of those. Keeping the latest N of a
 * set commutes with adding to it and with dropping what an order ends, so the incremental fold
 * and the full recompute keep the same events, in any arrival order.
 *
 * The log: {"ordered_at": microseconds or null, "ops": [[microseconds, event_id, "A" or "R", props], ...]}
 * sorted by (microseconds, event_id).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "scoring/cart.h"

/* The most cart events a cart log keeps (docs/limits.md): older ones drop out of the cart. */
#define CART_LOG_MAX_OPS 1000

PG_FUNCTION_INFO_V1(personalize_cart_log_add);
PG_FUNCTION_INFO_V1(personalize_cart_of);
PG_FUNCTION_INFO_V1(personalize_cart_updated_at);

/* The value of an object's key, or NULL. */
static JsonbValue *
get_key(JsonbContainer *c, const char *key)
{
	JsonbValue k;

	if (!JsonContainerIsObject(c))
		return NULL;
	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(c, JB_FOBJECT, &k);
}

/* An int64 from a jsonb numeric. */
static int64
num_int64(JsonbValue *v)
{
	return DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(v->val.numeric)));
}

/* Appends an op. */
static void
log_push(CartLog *log, int64 at, int64 id, bool add, JsonbValue *props)
{
	if (log->n == log->cap)
	{
		log->cap = log->cap ? log->cap * 2 : 16;
		log->ops = log->ops ? repalloc(log->ops, sizeof(CartOp) * log->cap) : palloc(sizeof(CartOp) * log->cap);
	}
	log->ops[log->n].at = at;
	log->ops[log->n].id = id;
	log->ops[log->n].add = add;
	log->ops[log->n].props = *props;
	log->n++;
}

/* Reads a stored log (NULL: empty). */
void
cart_log_read(Jsonb *j, CartLog *log)
{
	JsonbValue *v;

	memset(log, 0, sizeof(*log));
	if (j == NULL)
		return;
	v = get_key(&j->root, "ordered_at");
	if (v && v->type == jbvNumeric)
	{
		log->has_order = true;
		log->ordered_at = num_int64(v);
	}
	v = get_key(&j->root, "ops");
	if (v && v->type == jbvBinary)
	{
		int n = JsonContainerSize(v->val.binary.data);

		for (int i = 0; i < n; i++)
		{
			JsonbValue *op = getIthJsonbValueFromContainer(v->val.binary.data, i);
			JsonbValue *at = getIthJsonbValueFromContainer(op->val.binary.data, 0);
			JsonbValue *id = getIthJsonbValueFromContainer(op->val.binary.data, 1);
			JsonbValue *kind = getIthJsonbValueFromContainer(op->val.binary.data, 2);
			JsonbValue *props = getIthJsonbValueFromContainer(op->val.binary.data, 3);

			log_push(log, num_int64(at), num_int64(id), kind->val.string.val[0] == 'A', props);
		}
	}
}

/* Orders ops by (occurred_at, event_id). */
static int
op_cmp(const void *a, const void *b)
{
	const CartOp *x = a, *y = b;

	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id ? 1
											  : 0;
}

/* Pushes a numeric value. */
static void
push_num(JsonbParseState **ps, JsonbIteratorToken tok, Numeric n)
{
	JsonbValue v;

	v.type = jbvNumeric;
	v.val.numeric = n;
	pushJsonbValue(ps, tok, &v);
}

/* Pushes a string value. */
static void
push_str(JsonbParseState **ps, JsonbIteratorToken tok, const char *s)
{
	JsonbValue v;

	v.type = jbvString;
	v.val.string.val = (char *) s;
	v.val.string.len = strlen(s);
	pushJsonbValue(ps, tok, &v);
}

/* Writes a log as jsonb. */
Jsonb *
cart_log_write(CartLog *log)
{
	JsonbParseState *ps = NULL;
	JsonbValue		*res;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	push_str(&ps, WJB_KEY, "ordered_at");
	if (log->has_order)
		push_num(&ps, WJB_VALUE, int64_to_numeric(log->ordered_at));
	else
	{
		JsonbValue nul;

		nul.type = jbvNull;
		pushJsonbValue(&ps, WJB_VALUE, &nul);
	}
	push_str(&ps, WJB_KEY, "ops");
	pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < log->n; i++)
	{
		pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
		push_num(&ps, WJB_ELEM, int64_to_numeric(log->ops[i].at));
		push_num(&ps, WJB_ELEM, int64_to_numeric(log->ops[i].id));
		push_str(&ps, WJB_ELEM, log->ops[i].add ? "A" : "R");
		pushJsonbValue(&ps, WJB_ELEM, &log->ops[i].props);
		pushJsonbValue(&ps, WJB_END_ARRAY, NULL);
	}
	pushJsonbValue(&ps, WJB_END_ARRAY, NULL);
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/* The text of a property as ->> gives it (NULL for a missing key or JSON null). */
static char *
prop_text(JsonbContainer *props, const char *key)
{
	JsonbValue *v = get_key(props, key);

	if (v == NULL || v->type == jbvNull)
		return NULL;
	switch (v->type)
	{
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		case jbvBinary:
			return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
		default:
			return NULL;
	}
}

/* The line key of an event's properties: product_id, else sku, else name (NULL: none). */
static char *
cart_key(JsonbContainer *props)
{
	char *k = prop_text(props, "product_id");

	if (k == NULL)
		k = prop_text(props, "sku");
	if (k == NULL)
		k = prop_text(props, "name");
	return k;
}

/* A property's numeric value when it is a JSON number, else NULL. */
static Numeric
prop_number(JsonbContainer *props, const char *key)
{
	JsonbValue *v = get_key(props, key);

	return v && v->type == jbvNumeric ? v->val.numeric : NULL;
}

/* Folds one event into a log: an order moves its time on, a cart event with a line key is kept. */
void
cart_log_event(CartLog *log, const char *event, Jsonb *props, TimestampTz at, int64 id)
{
	JsonbValue pv;

	if (strcmp(event, "Order Completed") == 0)
	{
		if (!log->has_order || at > log->ordered_at)
		{
			log->has_order = true;
			log->ordered_at = at;
		}
		return;
	}
	if (strcmp(event, "Product Added") != 0 && strcmp(event, "Product Removed") != 0)
		return;
	if (props == NULL || cart_key(&props->root) == NULL)
		return; /* no line to change, and not an update of the cart */
	pv.type = jbvBinary;
	pv.val.binary.data = &props->root;
	pv.val.binary.len = VARSIZE(props) - VARHDRSZ;
	log_push(log, at, id, event[8] == 'A', &pv);
}

/* Adds the ops of log b to log a (each log read whole, in any time order). */
void
cart_log_combine(CartLog *a, const CartLog *b)
{
	if (b->has_order && (!a->has_order || b->ordered_at > a->ordered_at))
	{
		a->has_order = true;
		a->ordered_at = b->ordered_at;
	}
	for (int i = 0; i < b->n; i++)
		log_push(a, b->ops[i].at, b->ops[i].id, b->ops[i].add, &b->ops[i].props);
}

/*
 * Puts a log in its stored form: the events at or before the latest order dropped, the rest in
 * (occurred_at, event_id) order, an event folded in twice (a merge met it, then a statement's fold)
 * counted once, and the latest CART_LOG_MAX_OPS of them kept.
 */
void
cart_log_normalize(CartLog *log)
{
	int keep = 0;

	for (int i = 0; i < log->n; i++)
		if (!log->has_order || log->ops[i].at > log->ordered_at)
			log->ops[keep++] = log->ops[i];
	log->n = keep;
	if (log->n > 1)
		qsort(log->ops, log->n, sizeof(CartOp), op_cmp);
	keep = 0;
	for (int i = 0; i < log->n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (keep == 0 || log->ops[i].id != log->ops[keep - 1].id || log->ops[i].at != log->ops[keep - 1].at)
			log->ops[keep++] = log->ops[i];
	}
	log->n = keep;
	/* the latest CART_LOG_MAX_OPS only */
	if (log->n > CART_LOG_MAX_OPS)
	{
		memmove(log->ops, log->ops + (log->n - CART_LOG_MAX_OPS), sizeof(CartOp) * CART_LOG_MAX_OPS);
		log->n = CART_LOG_MAX_OPS;
	}
}

/*
 * SQL: personalize._cart_log_add(log, events text[], properties jsonb[], occurred_at timestamptz[],
 * event_ids bigint[]): the log with the cart events among them folded in, in any time order.
 */
Datum
personalize_cart_log_add(PG_FUNCTION_ARGS)
{
	CartLog log;
	Datum  *ev, *pr, *at, *id;
	bool   *evn, *prn, *atn, *idn;
	int		n, n2, n3, n4;

	cart_log_read(PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0), &log);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3) || PG_ARGISNULL(4))
		PG_RETURN_JSONB_P(cart_log_write(&log));
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), TEXTOID, -1, false, TYPALIGN_INT, &ev, &evn, &n);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(2), JSONBOID, -1, false, TYPALIGN_INT, &pr, &prn, &n2);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(3), TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &at, &atn, &n3);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(4), INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &id, &idn, &n4);
	if (n2 != n || n3 != n || n4 != n)
		ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
						errmsg("the event arrays of a cart fold must have the same length")));
	for (int i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (evn[i] || prn[i] || atn[i] || idn[i])
			continue;
		cart_log_event(&log, text_to_cstring(DatumGetTextPP(ev[i])), DatumGetJsonbP(pr[i]),
					   DatumGetTimestampTz(at[i]), DatumGetInt64(id[i]));
	}
	cart_log_normalize(&log);
	PG_RETURN_JSONB_P(cart_log_write(&log));
}

/* One line of a cart being replayed. */
typedef struct CartLine
{
	char	   *key;
	JsonbValue *props; /* the latest Product Added's properties */
	Numeric		qty;
	bool		live;
} CartLine;

/* The line of key, or -1. */
static int
line_find(CartLine *lines, int n, const char *key)
{
	for (int i = 0; i < n; i++)
		if (lines[i].live && strcmp(lines[i].key, key) == 0)
			return i;
	return -1;
}

/* props || {"quantity": qty} as a jsonb value. */
static void
push_line(JsonbParseState **ps, CartLine *l)
{
	JsonbParseState	  *lp = NULL;
	JsonbIterator	  *it = JsonbIteratorInit(l->props->val.binary.data);
	JsonbValue		   v, *res;
	JsonbIteratorToken tok;
	Jsonb			  *line;

	res = NULL;
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_END_OBJECT)
		{
			push_str(&lp, WJB_KEY, "quantity");
			push_num(&lp, WJB_VALUE, l->qty);
		}
		res = pushJsonbValue(&lp, tok, tok < WJB_BEGIN_ARRAY ? &v : NULL);
	}
	line = JsonbValueToJsonb(res);
	v.type = jbvBinary;
	v.val.binary.data = &line->root;
	v.val.binary.len = VARSIZE(line) - VARHDRSZ;
	pushJsonbValue(ps, WJB_ELEM, &v);
}

/* The cart a log replays to: {"items", "item_count", "total"}. */
Jsonb *
cart_replay(CartLog *log_in)
{
	CartLog			 log = *log_in;
	CartLine		*lines;
	int				 nl = 0;
	Numeric			 count = int64_to_numeric(0), total = int64_to_numeric(0);
	JsonbParseState *ps = NULL;
	JsonbValue		*res;

	lines = palloc0(sizeof(CartLine) * (log.n + 1));
	for (int i = 0; i < log.n; i++)
	{
		CartOp		   *op = &log.ops[i];
		JsonbContainer *props = op->props.val.binary.data;
		char		   *key = cart_key(props);
		Numeric			q = prop_number(props, "quantity");
		int				l;

		CHECK_FOR_INTERRUPTS();
		if (key == NULL)
			continue;
		l = line_find(lines, nl, key);
		if (op->add)
		{
			Numeric add = q ? q : int64_to_numeric(1);

			if (l < 0)
			{
				l = nl++;
				lines[l].key = key;
				lines[l].qty = int64_to_numeric(0);
				lines[l].live = true;
			}
			lines[l].qty = DatumGetNumeric(DirectFunctionCall2(numeric_add, NumericGetDatum(add),
															   NumericGetDatum(lines[l].qty)));
			lines[l].props = &op->props;
		}
		else if (l >= 0)
		{
			Numeric left = q ? DatumGetNumeric(DirectFunctionCall2(numeric_sub, NumericGetDatum(lines[l].qty),
																   NumericGetDatum(q)))
							 : int64_to_numeric(0);

			if (DatumGetBool(DirectFunctionCall2(numeric_gt, NumericGetDatum(left),
												 NumericGetDatum(int64_to_numeric(0)))))
				lines[l].qty = left;
			else
				lines[l].live = false; /* a later add starts a new line at the end */
		}
	}

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	push_str(&ps, WJB_KEY, "items");
	pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < nl; i++)
	{
		Numeric price;

		if (!lines[i].live)
			continue;
		push_line(&ps, &lines[i]);
		count = DatumGetNumeric(DirectFunctionCall2(numeric_add, NumericGetDatum(count),
													NumericGetDatum(lines[i].qty)));
		price = prop_number(lines[i].props->val.binary.data, "price");
		if (price)
			total = DatumGetNumeric(DirectFunctionCall2(numeric_add, NumericGetDatum(total),
														DirectFunctionCall2(numeric_mul, NumericGetDatum(price),
																			NumericGetDatum(lines[i].qty))));
	}
	pushJsonbValue(&ps, WJB_END_ARRAY, NULL);
	push_str(&ps, WJB_KEY, "item_count");
	push_num(&ps, WJB_VALUE, count);
	push_str(&ps, WJB_KEY, "total");
	push_num(&ps, WJB_VALUE, total);
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/* SQL: personalize._cart_of(log): the cart the log replays to: {"items", "item_count", "total"}. */
Datum
personalize_cart_of(PG_FUNCTION_ARGS)
{
	CartLog log;

	cart_log_read(PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0), &log);
	PG_RETURN_JSONB_P(cart_replay(&log));
}

/* SQL: personalize._cart_updated_at(log): the time of the latest event in the cart log, or NULL. */
Datum
personalize_cart_updated_at(PG_FUNCTION_ARGS)
{
	CartLog log;

	cart_log_read(PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0), &log);
	if (log.n == 0)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(log.ops[log.n - 1].at);
}
