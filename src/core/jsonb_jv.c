/*
 * jsonb_jv.c: builds the plain JSON trees of jvalue.h (read by the pure-C cores of the schema
 * validator and the rule compiler) from jsonb: keys already in jsonb order, numbers printed by
 * numeric_out (exact plain decimal), in the current memory context.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

#include "core/jsonb_jv.h"

/* palloc for jv_alloc: the current memory context, which errors rather than return NULL. */
static void *
palloc_for_jv(void *ctx, size_t size)
{
	return palloc(size);
}

const jv_alloc jv_palloc = {palloc_for_jv, NULL};

/* Fills out from one jsonb scalar or container value. */
static void
fill(jv *out, JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			out->type = JV_NULL;
			break;
		case jbvBool:
			out->type = JV_BOOL;
			out->boolean = v->val.boolean;
			break;
		case jbvNumeric:
			out->type = JV_NUMBER;
			out->str = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
			out->len = strlen(out->str);
			break;
		case jbvString:
			out->type = JV_STRING;
			out->str = pnstrdup(v->val.string.val, v->val.string.len);
			out->len = v->val.string.len;
			break;
		case jbvBinary:
			*out = *jv_from_container(v->val.binary.data);
			break;
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
}

/* The jv tree of a jsonb container. */
jv *
jv_from_container(JsonbContainer *c)
{
	jv				  *out = palloc0(sizeof(jv));
	JsonbIterator	  *it;
	JsonbValue		   v;
	JsonbIteratorToken tok;
	size_t			   n = 0, size = JsonContainerSize(c);

	check_stack_depth();
	out->type = JsonContainerIsObject(c) ? JV_OBJECT : JV_ARRAY;
	out->items = palloc0(sizeof(jv) * (size ? size : 1));
	if (out->type == JV_OBJECT)
		out->keys = palloc0(sizeof(jv) * (size ? size : 1));
	it = JsonbIteratorInit(c);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		CHECK_FOR_INTERRUPTS();
		if (tok == WJB_KEY)
			fill(&out->keys[n], &v);
		else if (tok == WJB_VALUE || tok == WJB_ELEM)
			fill(&out->items[n++], &v);
	}
	out->n = n;
	return out;
}

/* The jv tree of a jsonb value (a raw scalar becomes that scalar). */
jv *
jv_from_jsonb(Jsonb *j)
{
	jv *root = jv_from_container(&j->root);

	if (JB_ROOT_IS_SCALAR(j))
		return &root->items[0];
	return root;
}
