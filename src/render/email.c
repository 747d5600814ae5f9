/*
 * email.c: what a template sees of a profile and the e-mails rendered with it. Owns context()
 * (built here in C from one profile row and its few lookups, not assembled in SQL), render_email()
 * for one profile, and render_emails() for a batch: one statement fetches every profile of the
 * batch, the template is compiled once and each stored partial read once, and a failed render is
 * reported on its row (error = 'SQLSTATE: message') instead of aborting the batch.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "core/personalize.h"
#include "predict/clv_live.h"
#include "render/render.h"
#include "scoring/scoring.h"

PG_FUNCTION_INFO_V1(personalize_context);
PG_FUNCTION_INFO_V1(personalize_render_email);
PG_FUNCTION_INFO_V1(personalize_render_emails);

/* The recommendations a context carries (customer.recommendations). */
#define CONTEXT_RECOMMENDATIONS 5
#define CPP_STR_(x) #x
#define CPP_STR(x) CPP_STR_(x)

/*
 * The profiles of a batch ($1, in order, NULL where there is none) with what their context reads,
 * as of $2; their recommendations only when $3 (one statement for the batch: recommendations()),
 * and the latest CLV model, whose predictions are computed here from the purchase state. Live state is used when the profile holds no event after $2; otherwise the exact path
 * personalize._live_state_at() recomputes it from the events up to $2 (see docs/templates.md).
 */
#define CONTEXT_QUERY \
	"SELECT p.profile_id, p.user_id, p.email, p.traits, p.email_consent, p.lawful_basis, p.do_not_sell, " \
	"       p.consent_at, p.event_count, p.first_seen_at, p.last_seen_at, " \
	"       (s.st).cart OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('updated_at', (s.st).cart_updated_at), " \
	"       (s.st).purchase_count, (s.st).purchase_total, (s.st).first_purchase_at, " \
	"       (s.st).last_purchase_at, p.rfm_r, p.rfm_f, p.rfm_m, p.rfm_segment, " \
	"       CASE WHEN (s.st).engagement_as_of IS NULL THEN 0::pg_catalog.float8 " \
	"            ELSE personalize.decay((s.st).engagement, (s.st).engagement_as_of, $2, personalize.half_life()) END, " \
	"       CASE WHEN s.live THEN (SELECT pg_catalog.array_agg(t.category ORDER BY t.score DESC, t.category) " \
	"                                FROM (SELECT i.category, personalize.decay(i.score, i.as_of, $2, personalize.half_life()) AS score " \
	"                                        FROM personalize.profile_interests i " \
	"                                       WHERE i.profile_id OPERATOR(pg_catalog.=) p.profile_id " \
	"                                       ORDER BY 2 DESC, 1 LIMIT 5) t) " \
	"            ELSE personalize._interests_at(p.profile_id, 5, $2) END, " \
	"       (SELECT pg_catalog.array_agg(g.name ORDER BY g.name) FROM personalize.segment_members m " \
	"          JOIN personalize.segments g ON g.segment_id OPERATOR(pg_catalog.=) m.segment_id " \
	"         WHERE m.profile_id OPERATOR(pg_catalog.=) p.profile_id), " \
	"       cm.model_id, cm.r, cm.alpha, cm.a, cm.b, cm.p, cm.q, cm.v, cm.unit, rec.items " \
	"  FROM pg_catalog.unnest($1) WITH ORDINALITY AS x(id, ord) " \
	"  LEFT JOIN personalize.profiles p ON p.profile_id OPERATOR(pg_catalog.=) x.id " \
	"  LEFT JOIN (SELECT c.model_id, c.r, c.alpha, c.a, c.b, c.p, c.q, c.v, " \
	"                    pg_catalog.date_part('epoch', c.time_unit) AS unit " \
	"               FROM personalize.clv_models c ORDER BY c.model_id DESC LIMIT 1) cm ON true " \
	"  LEFT JOIN (SELECT r.profile_id, pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(" \
	"                    'item', r.item, 'score', r.score, 'reason', r.reason) ORDER BY r.rank) AS items " \
	"               FROM personalize.recommendations(CASE WHEN $3 THEN $1 END, " CPP_STR(CONTEXT_RECOMMENDATIONS) ", $2) r " \
																												  "              GROUP BY r.profile_id) rec ON rec.profile_id OPERATOR(pg_catalog.=) p.profile_id " \
																												  "  LEFT JOIN LATERAL (SELECT l.live, CASE WHEN l.live " \
																												  "                       THEN ROW(NULL, p.cart, p.cart_updated_at, p.purchase_count, p.purchase_total, " \
																												  "                                p.first_purchase_at, p.last_purchase_at, p.purchases_ignored, p.engagement, " \
																												  "                                p.engagement_as_of, NULL)::personalize.live_state " \
																												  "                       ELSE personalize._live_state_at(p.profile_id, $2) END AS st " \
																												  "                       FROM (SELECT p.last_seen_at IS NULL OR p.last_seen_at OPERATOR(pg_catalog.<=) $2 AS live) l " \
																												  "                     OFFSET 0) s ON true " \
																												  " ORDER BY x.ord"

/* The columns of CONTEXT_QUERY, 1-based. */
enum
{
	COL_PROFILE_ID = 1,
	COL_USER_ID,
	COL_EMAIL,
	COL_TRAITS,
	COL_CONSENT,
	COL_LAWFUL_BASIS,
	COL_DO_NOT_SELL,
	COL_CONSENT_AT,
	COL_EVENT_COUNT,
	COL_FIRST_SEEN,
	COL_LAST_SEEN,
	COL_CART,
	COL_PURCHASE_COUNT,
	COL_PURCHASE_TOTAL,
	COL_FIRST_PURCHASE,
	COL_LAST_PURCHASE,
	COL_RFM_R,
	COL_RFM_F,
	COL_RFM_M,
	COL_RFM_SEGMENT,
	COL_ENGAGEMENT,
	COL_TOP_INTERESTS,
	COL_SEGMENTS,
	COL_CLV_MODEL, /* then r, alpha, a, b, p, q, v, unit */
	COL_RECOMMENDATIONS = COL_CLV_MODEL + 9
};

static SPIPlanPtr context_plan = NULL;
static SPIPlanPtr template_plan = NULL;

/* Prepares (once per backend) and keeps a plan. */
static SPIPlanPtr
keep_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types)
{
	if (*plan == NULL)
	{
		/* generic: a custom plan for each batch would plan the statement again on every call */
		SPIPlanPtr p = SPI_prepare_cursor(sql, nargs, types, CURSOR_OPT_GENERIC_PLAN);

		if (p == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		*plan = p;
	}
	return *plan;
}

/* Pushes an object key. */
static void
push_key(JsonbParseState **ps, const char *key)
{
	JsonbValue k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(ps, WJB_KEY, &k);
}

/* Pushes a scalar value (or array element when elem). */
static void
push_scalar(JsonbParseState **ps, JsonbValue *v, bool elem)
{
	pushJsonbValue(ps, elem ? WJB_ELEM : WJB_VALUE, v);
}

/* Pushes null. */
static void
push_null(JsonbParseState **ps)
{
	JsonbValue v;

	v.type = jbvNull;
	push_scalar(ps, &v, false);
}

/* Pushes a string of len bytes. */
static void
push_string(JsonbParseState **ps, const char *s, int len, bool elem)
{
	JsonbValue v;

	v.type = jbvString;
	v.val.string.val = (char *) s;
	v.val.string.len = len;
	push_scalar(ps, &v, elem);
}

/* Pushes a numeric. */
static void
push_numeric(JsonbParseState **ps, Numeric n)
{
	JsonbValue v;

	v.type = jbvNumeric;
	v.val.numeric = n;
	push_scalar(ps, &v, false);
}

/* Pushes a float8 as to_jsonb() writes it: its shortest exact digits, non-finite as a string. */
static void
push_float8(JsonbParseState **ps, float8 x)
{
	char *s = float8out_internal(x);

	if (isnan(x) || isinf(x))
		push_string(ps, s, strlen(s), false);
	else
		push_numeric(ps, DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(s),
															 ObjectIdGetDatum(InvalidOid),
															 Int32GetDatum(-1))));
}

/* Pushes a column of the row as its JSON value (NULL as null), by its type. */
static void
push_column(JsonbParseState **ps, HeapTuple tup, TupleDesc td, int col)
{
	bool	   isnull;
	Datum	   d = SPI_getbinval(tup, td, col, &isnull);
	Oid		   type = SPI_gettypeid(td, col);
	JsonbValue v;

	if (isnull)
	{
		push_null(ps);
		return;
	}
	switch (type)
	{
		case TEXTOID:
		{
			text *t = DatumGetTextPP(d);

			push_string(ps, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), false);
			break;
		}
		case BOOLOID:
			v.type = jbvBool;
			v.val.boolean = DatumGetBool(d);
			push_scalar(ps, &v, false);
			break;
		case INT2OID:
			push_numeric(ps, int64_to_numeric(DatumGetInt16(d)));
			break;
		case INT8OID:
			push_numeric(ps, int64_to_numeric(DatumGetInt64(d)));
			break;
		case NUMERICOID:
			push_numeric(ps, DatumGetNumeric(d));
			break;
		case FLOAT8OID:
			push_float8(ps, DatumGetFloat8(d));
			break;
		case TIMESTAMPTZOID:
		{
			char *s = JsonEncodeDateTime(NULL, d, TIMESTAMPTZOID, NULL);

			push_string(ps, s, strlen(s), false);
			break;
		}
		case JSONBOID:
		{
			Jsonb *j = DatumGetJsonbP(d);

			v.type = jbvBinary;
			v.val.binary.data = &j->root;
			v.val.binary.len = VARSIZE(j) - VARHDRSZ;
			pushJsonbValue(ps, WJB_VALUE, &v);
			break;
		}
		case TEXTARRAYOID:
		{
			ArrayType *a = DatumGetArrayTypeP(d);
			Datum	  *elems;
			bool	  *nulls;
			int		   n;

			deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
			pushJsonbValue(ps, WJB_BEGIN_ARRAY, NULL);
			for (int i = 0; i < n; i++)
			{
				if (nulls[i])
				{
					v.type = jbvNull;
					push_scalar(ps, &v, true);
				}
				else
				{
					text *t = DatumGetTextPP(elems[i]);

					push_string(ps, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), true);
				}
			}
			pushJsonbValue(ps, WJB_END_ARRAY, NULL);
			break;
		}
		default:
			elog(ERROR, "context column %d has unexpected type %u", col, type);
	}
}

/* Pushes key: column. */
static void
push_field(JsonbParseState **ps, const char *key, HeapTuple tup, TupleDesc td, int col)
{
	push_key(ps, key);
	push_column(ps, tup, td, col);
}

/* Pushes a text[] column as an array of strings (NULL: empty). */
static void
push_names(JsonbParseState **ps, HeapTuple tup, TupleDesc td, int col)
{
	bool isnull;

	(void) SPI_getbinval(tup, td, col, &isnull);
	if (!isnull)
	{
		push_column(ps, tup, td, col);
		return;
	}
	pushJsonbValue(ps, WJB_BEGIN_ARRAY, NULL);
	pushJsonbValue(ps, WJB_END_ARRAY, NULL);
}

/* True when the column is NULL. */
static bool
column_is_null(HeapTuple tup, TupleDesc td, int col)
{
	bool isnull;

	(void) SPI_getbinval(tup, td, col, &isnull);
	return isnull;
}

/* Raises the error of a profile id that has no profile. */
static void
report_no_profile(bool id_null, int64 id)
{
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 id_null ? errmsg("profile <NULL> does not exist") : errmsg("profile " INT64_FORMAT " does not exist", id),
			 errhint("Erased profiles are listed in personalize.erasure_log.")));
}

/* A float8 column of a row (NULL as 0). */
static double
float8_column(HeapTuple tup, TupleDesc td, int col)
{
	bool  isnull;
	Datum d = SPI_getbinval(tup, td, col, &isnull);

	return isnull ? 0 : DatumGetFloat8(d);
}

/* Pushes a key and a predicted number; one that is not finite (did not converge) as null. */
static void
push_prediction(JsonbParseState **ps, const char *key, double x)
{
	push_key(ps, key);
	if (isfinite(x))
		push_float8(ps, x);
	else
		push_null(ps);
}

/*
 * The context's clv: the latest CLV model's prediction for the purchase state as of as_of
 * (src/predict/clv_live.c), or null without a model or a purchase.
 */
static void
push_clv(JsonbParseState **ps, HeapTuple tup, TupleDesc td, TimestampTz as_of)
{
	ClvLiveModel	  m = {0};
	ClvLivePrediction pr;
	bool			  isnull;
	Datum			  total;

	push_key(ps, "clv");
	if (column_is_null(tup, td, COL_CLV_MODEL) || column_is_null(tup, td, COL_FIRST_PURCHASE) ||
		column_is_null(tup, td, COL_LAST_PURCHASE))
	{
		push_null(ps);
		return;
	}
	m.model_id = DatumGetInt64(SPI_getbinval(tup, td, COL_CLV_MODEL, &isnull));
	m.bg = (BgNbd){float8_column(tup, td, COL_CLV_MODEL + 1), float8_column(tup, td, COL_CLV_MODEL + 2),
				   float8_column(tup, td, COL_CLV_MODEL + 3), float8_column(tup, td, COL_CLV_MODEL + 4)};
	m.has_spend = !column_is_null(tup, td, COL_CLV_MODEL + 5);
	m.gg = (GammaGamma){float8_column(tup, td, COL_CLV_MODEL + 5), float8_column(tup, td, COL_CLV_MODEL + 6),
						float8_column(tup, td, COL_CLV_MODEL + 7)};
	m.unit = float8_column(tup, td, COL_CLV_MODEL + 8);
	total = SPI_getbinval(tup, td, COL_PURCHASE_TOTAL, &isnull);
	if (!clv_live_predict(&m, DatumGetInt64(SPI_getbinval(tup, td, COL_PURCHASE_COUNT, &isnull)),
						  DatumGetFloat8(DirectFunctionCall1(numeric_float8, total)),
						  DatumGetTimestampTz(SPI_getbinval(tup, td, COL_FIRST_PURCHASE, &isnull)),
						  DatumGetTimestampTz(SPI_getbinval(tup, td, COL_LAST_PURCHASE, &isnull)), as_of, &pr))
	{
		push_null(ps);
		return;
	}
	pushJsonbValue(ps, WJB_BEGIN_OBJECT, NULL);
	push_prediction(ps, "p_alive", pr.p_alive);
	push_prediction(ps, "churn_risk", 1 - pr.p_alive);
	push_prediction(ps, "expected_purchases", pr.expected_purchases);
	push_prediction(ps, "expected_spend", pr.expected_spend);
	push_prediction(ps, "value", pr.value);
	push_prediction(ps, "model_id", (double) m.model_id);
	pushJsonbValue(ps, WJB_END_OBJECT, NULL);
}

/*
 * The context of the profile in a row of CONTEXT_QUERY, as of as_of (the documented shape, see
 * docs/templates.md).
 */
static Jsonb *
context_from_row(HeapTuple tup, TupleDesc td, TimestampTz as_of)
{
	JsonbParseState *ps = NULL;
	JsonbValue		*res;
	bool			 isnull;
	Datum			 last;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	push_field(&ps, "profile_id", tup, td, COL_PROFILE_ID);
	push_field(&ps, "user_id", tup, td, COL_USER_ID);
	push_field(&ps, "email", tup, td, COL_EMAIL);
	push_field(&ps, "traits", tup, td, COL_TRAITS);

	push_key(&ps, "consent");
	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	push_field(&ps, "email", tup, td, COL_CONSENT);
	push_field(&ps, "lawful_basis", tup, td, COL_LAWFUL_BASIS);
	push_field(&ps, "do_not_sell", tup, td, COL_DO_NOT_SELL);
	push_field(&ps, "changed_at", tup, td, COL_CONSENT_AT);
	pushJsonbValue(&ps, WJB_END_OBJECT, NULL);

	push_key(&ps, "activity");
	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	push_field(&ps, "event_count", tup, td, COL_EVENT_COUNT);
	push_field(&ps, "first_seen_at", tup, td, COL_FIRST_SEEN);
	push_field(&ps, "last_seen_at", tup, td, COL_LAST_SEEN);
	pushJsonbValue(&ps, WJB_END_OBJECT, NULL);

	push_field(&ps, "cart", tup, td, COL_CART);

	push_key(&ps, "purchases");
	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	push_field(&ps, "count", tup, td, COL_PURCHASE_COUNT);
	push_field(&ps, "total", tup, td, COL_PURCHASE_TOTAL);
	push_field(&ps, "first_at", tup, td, COL_FIRST_PURCHASE);
	push_field(&ps, "last_at", tup, td, COL_LAST_PURCHASE);
	/* recency_days: personalize.recency_days(last_at, as_of), days as a float (src/scoring/rfm.c) */
	push_key(&ps, "recency_days");
	last = SPI_getbinval(tup, td, COL_LAST_PURCHASE, &isnull);
	if (isnull || DatumGetTimestampTz(last) > as_of)
		push_null(&ps);
	else
		push_float8(&ps, DatumGetFloat8(DirectFunctionCall2(personalize_recency_days, last,
															TimestampTzGetDatum(as_of))));
	pushJsonbValue(&ps, WJB_END_OBJECT, NULL);

	push_key(&ps, "rfm");
	if (column_is_null(tup, td, COL_RFM_R))
		push_null(&ps);
	else
	{
		pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
		push_field(&ps, "r", tup, td, COL_RFM_R);
		push_field(&ps, "f", tup, td, COL_RFM_F);
		push_field(&ps, "m", tup, td, COL_RFM_M);
		push_field(&ps, "segment", tup, td, COL_RFM_SEGMENT);
		pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	}
	push_field(&ps, "segment", tup, td, COL_RFM_SEGMENT);
	push_field(&ps, "engagement_score", tup, td, COL_ENGAGEMENT);
	push_key(&ps, "top_interests");
	push_names(&ps, tup, td, COL_TOP_INTERESTS);
	push_key(&ps, "segments");
	push_names(&ps, tup, td, COL_SEGMENTS);
	push_clv(&ps, tup, td, as_of);
	/* recommendations: [] when none (or when the template does not read them) */
	push_key(&ps, "recommendations");
	if (column_is_null(tup, td, COL_RECOMMENDATIONS))
	{
		pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
		pushJsonbValue(&ps, WJB_END_ARRAY, NULL);
	}
	else
		push_column(&ps, tup, td, COL_RECOMMENDATIONS);
	push_key(&ps, "as_of");
	{
		char *s = JsonEncodeDateTime(NULL, TimestampTzGetDatum(as_of), TIMESTAMPTZOID, NULL);

		push_string(&ps, s, strlen(s), false);
	}
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/* Errors unless as_of is given. */
static TimestampTz
as_of_arg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("as_of must not be null"),
				 errdetail("A context is the state of a profile as of a time."),
				 errhint("Leave as_of out for now().")));
	personalize_check_as_of(PG_GETARG_TIMESTAMPTZ(argno));
	return PG_GETARG_TIMESTAMPTZ(argno);
}

/* Runs CONTEXT_QUERY for the ids (SPI connected); one row per id, in order. */
static SPITupleTable *
fetch_contexts(ArrayType *ids, TimestampTz as_of, bool recommendations)
{
	Oid	  types[3] = {INT8ARRAYOID, TIMESTAMPTZOID, BOOLOID};
	Datum args[3] = {PointerGetDatum(ids), TimestampTzGetDatum(as_of), BoolGetDatum(recommendations)};
	int	  rc;

	rc = SPI_execute_plan(keep_plan(&context_plan, CONTEXT_QUERY, 3, types), args, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	return SPI_tuptable;
}

/* The context of row i of a fetched batch (the profile of id), or the error of a missing profile. */
static Jsonb *
context_of(SPITupleTable *tt, uint64 i, bool id_null, int64 id, TimestampTz as_of)
{
	if (column_is_null(tt->vals[i], tt->tupdesc, COL_PROFILE_ID))
		report_no_profile(id_null, id);
	return context_from_row(tt->vals[i], tt->tupdesc, as_of);
}

/* A one-element bigint array of the id argument argno (NULL kept). */
static ArrayType *
id_array(FunctionCallInfo fcinfo, int argno)
{
	Datum id = PG_ARGISNULL(argno) ? (Datum) 0 : PG_GETARG_DATUM(argno);
	bool  idnull = PG_ARGISNULL(argno);
	int	  dims[1] = {1}, lbs[1] = {1};

	return construct_md_array(&id, &idnull, 1, dims, lbs, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

/*
 * SQL: personalize.context(profile_id, as_of): what a template sees of a profile as of as_of.
 */
Datum
personalize_context(PG_FUNCTION_ARGS)
{
	TimestampTz	   as_of = as_of_arg(fcinfo, 1);
	ArrayType	  *ids = id_array(fcinfo, 0);
	MemoryContext  caller = CurrentMemoryContext;
	SPITupleTable *tt;
	Jsonb		  *result, *copy;

	SPI_connect();
	tt = fetch_contexts(ids, as_of, true);
	result = context_of(tt, 0, PG_ARGISNULL(0), PG_ARGISNULL(0) ? 0 : PG_GETARG_INT64(0), as_of);
	copy = MemoryContextAlloc(caller, VARSIZE(result));
	memcpy(copy, result, VARSIZE(result));
	SPI_finish();
	PG_RETURN_JSONB_P(copy);
}

/* A stored e-mail template: its three parts compiled (NULL where the part is NULL). */
typedef struct EmailTemplate
{
	const liq_template *part[3];		 /* subject, html, text */
	bool				recommendations; /* it, or a partial it may use, reads recommendations */
} EmailTemplate;

static const char email_parts[3] = {RENDER_PART_SUBJECT, RENDER_PART_HTML, RENDER_PART_TEXT};

/*
 * A stored template's parts, and whether its context needs recommendations: the template names
 * them, or it uses partials ({% render %}, {% include %}) and some other template names them.
 */
#define TEMPLATE_QUERY \
	"SELECT t.subject, t.html_body, t.text_body, " \
	"       pg_catalog.strpos(pg_catalog.concat(t.subject, t.html_body, t.text_body), 'recommendations') " \
	"         OPERATOR(pg_catalog.>) 0 " \
	"       OR (pg_catalog.concat(t.subject, t.html_body, t.text_body) OPERATOR(pg_catalog.~) '\\{%-?\\s*(render|include)' " \
	"           AND EXISTS (SELECT FROM personalize.templates o WHERE o.name OPERATOR(pg_catalog.<>) t.name " \
	"                          AND pg_catalog.strpos(pg_catalog.concat(o.subject, o.html_body, o.text_body), " \
	"                                                'recommendations') OPERATOR(pg_catalog.>) 0)) " \
	"  FROM personalize.templates t WHERE t.name OPERATOR(pg_catalog.=) $1"

/* Looks the template up (SPI connected) and compiles its parts; 42704 when there is none. */
static void
load_email_template(text *name, bool name_null, EmailTemplate *t)
{
	Oid	  type = TEXTOID;
	Datum arg = PointerGetDatum(name);
	int	  rc;
	bool  isnull;

	if (!name_null)
	{
		rc = SPI_execute_plan(keep_plan(&template_plan,
										TEMPLATE_QUERY,
										1, &type),
							  &arg, NULL, true, 1);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	}
	if (name_null || SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("template \"%s\" does not exist", name_null ? "<NULL>" : text_to_cstring(name)),
				 errhint("Templates are rows of personalize.templates.")));
	for (int i = 0; i < 3; i++)
	{
		Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &isnull);

		t->part[i] = NULL;
		if (!isnull)
		{
			text *src = DatumGetTextPP(d);

			t->part[i] = render_compile(VARDATA_ANY(src), VARSIZE_ANY_EXHDR(src), NULL);
		}
	}
	t->recommendations = !column_is_null(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4) &&
						 DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull));
}

/*
 * Renders the three parts of an e-mail for a context with extra's keys on top (extra NULL: none);
 * out[i] NULL where the template part is NULL. Errors are raised.
 */
static void
render_one(RenderBatch *batch, const EmailTemplate *t, Jsonb *ctx, Jsonb *extra, TimestampTz as_of,
		   bool strict, text **out)
{
	liq_arena *ar = render_arena_new();
	liq_value  c = render_jsonb_to_liq(ar, ctx);

	if (extra != NULL)
	{
		if (!JB_ROOT_IS_OBJECT(extra) || JB_ROOT_IS_SCALAR(extra))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("liquid context must be a json object"),
					 errdetail("The context given is an array.")));
		render_jsonb_merge(ar, c, extra);
	}
	for (int i = 0; i < 3; i++)
		out[i] = t->part[i] ? render_part(batch, t->part[i], c, strict, as_of, email_parts[i]) : NULL;
}

/* Copies a text into a memory context (NULL stays NULL). */
static text *
text_copy_to(MemoryContext cxt, text *t)
{
	text *c;

	if (t == NULL)
		return NULL;
	c = MemoryContextAlloc(cxt, VARSIZE_ANY(t));
	memcpy(c, t, VARSIZE_ANY(t));
	return c;
}

/*
 * SQL: personalize.render_email(template_name, profile_id, extra, as_of, strict): subject, html and
 * text of a stored template for one profile; every error is raised.
 */
Datum
personalize_render_email(PG_FUNCTION_ARGS)
{
	TimestampTz	   as_of = as_of_arg(fcinfo, 3);
	bool		   strict = !PG_ARGISNULL(4) && PG_GETARG_BOOL(4);
	Jsonb		  *extra = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	ArrayType	  *ids = id_array(fcinfo, 1);
	MemoryContext  caller = CurrentMemoryContext;
	TupleDesc	   rtd;
	EmailTemplate  t;
	SPITupleTable *tt;
	Jsonb		  *ctx;
	text		  *out[3];
	Datum		   values[3];
	bool		   nulls[3];

	if (get_call_result_type(fcinfo, NULL, &rtd) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	rtd = BlessTupleDesc(rtd);
	SPI_connect();
	load_email_template(PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0), PG_ARGISNULL(0), &t);
	tt = fetch_contexts(ids, as_of, t.recommendations);
	ctx = context_of(tt, 0, PG_ARGISNULL(1), PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1), as_of);
	/* a batch of one: a partial the three parts share is read once */
	render_one(render_batch_begin(), &t, ctx, extra, as_of, strict, out);
	for (int i = 0; i < 3; i++)
	{
		out[i] = text_copy_to(caller, out[i]);
		values[i] = PointerGetDatum(out[i]);
		nulls[i] = out[i] == NULL;
	}
	SPI_finish();
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(rtd, values, nulls)));
}

/*
 * SQL: personalize.render_emails(template_name, profile_ids, extras, as_of, strict): one row per
 * position of profile_ids (ord, 1-based), extras[ord] on top of that profile's context. A row whose
 * render fails has NULL parts and error 'SQLSTATE: message'; the batch goes on.
 */
Datum
personalize_render_emails(PG_FUNCTION_ARGS)
{
	TimestampTz	   as_of = as_of_arg(fcinfo, 3);
	bool		   strict = !PG_ARGISNULL(4) && PG_GETARG_BOOL(4);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ArrayType	  *ids;
	Datum		  *id_values;
	bool		  *id_nulls;
	int			   n_ids;
	Datum		  *extras = NULL;
	bool		  *extra_nulls = NULL;
	int			   n_extras = 0;
	EmailTemplate  t;
	SPITupleTable *tt;
	RenderBatch	  *batch;
	MemoryContext  batch_cxt, row_cxt, old;
	ResourceOwner  owner = CurrentResourceOwner;
	text		 **out;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	ids = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(ids) > 1)
		ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
						errmsg("profile_ids must be a one-dimensional array")));
	deconstruct_array(ids, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &id_values, &id_nulls, &n_ids);
	if (!PG_ARGISNULL(2))
	{
		ArrayType *ex = PG_GETARG_ARRAYTYPE_P(2);

		if (ARR_NDIM(ex) > 1)
			ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
							errmsg("extras must be a one-dimensional array")));
		deconstruct_array(ex, JSONBOID, -1, false, TYPALIGN_INT, &extras, &extra_nulls, &n_extras);
	}

	batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "personalize render_emails", ALLOCSET_DEFAULT_SIZES);
	row_cxt = AllocSetContextCreate(batch_cxt, "personalize render_emails row", ALLOCSET_DEFAULT_SIZES);
	SPI_connect();
	load_email_template(PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0), PG_ARGISNULL(0), &t);
	tt = fetch_contexts(ids, as_of, t.recommendations);
	old = MemoryContextSwitchTo(batch_cxt);
	batch = render_batch_begin();
	out = palloc0(3 * sizeof(text *));
	MemoryContextSwitchTo(old);

	for (uint64 i = 0; i < tt->numvals; i++)
	{
		Datum values[6];
		bool  nulls[6] = {false, false, false, false, false, false};
		char *volatile error = NULL;
		Jsonb *volatile extra = i < (uint64) n_extras && !extra_nulls[i] ? DatumGetJsonbP(extras[i]) : NULL;
		MemoryContext spi_cxt = CurrentMemoryContext;

		CHECK_FOR_INTERRUPTS();
		out[0] = out[1] = out[2] = NULL;
		/* each row in a subtransaction, so that any error it raises is its own */
		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(row_cxt);
		PG_TRY();
		{
			Jsonb *ctx = context_of(tt, i, id_nulls[i], id_nulls[i] ? 0 : DatumGetInt64(id_values[i]), as_of);

			render_one(batch, &t, ctx, extra, as_of, strict, out);
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(spi_cxt);
			CurrentResourceOwner = owner;
		}
		PG_CATCH();
		{
			ErrorData *edata;

			MemoryContextSwitchTo(row_cxt);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(spi_cxt);
			CurrentResourceOwner = owner;
			error = psprintf("%s: %s", unpack_sql_state(edata->sqlerrcode), edata->message);
			out[0] = out[1] = out[2] = NULL;
		}
		PG_END_TRY();

		values[0] = Int32GetDatum((int32) (i + 1));
		values[1] = id_values[i];
		nulls[1] = id_nulls[i];
		for (int k = 0; k < 3; k++)
		{
			values[2 + k] = PointerGetDatum(out[k]);
			nulls[2 + k] = out[k] == NULL;
		}
		values[5] = error ? CStringGetTextDatum(error) : (Datum) 0;
		nulls[5] = error == NULL;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextReset(row_cxt);
	}
	SPI_finish();
	MemoryContextDelete(batch_cxt);
	PG_RETURN_NULL();
}
