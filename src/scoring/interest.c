/*
 * interest.c: the category an event is about, for interest affinity: a JSON string property
 * (personalize.scoring_settings.category_property) of 1 to 200 bytes.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

PG_FUNCTION_INFO_V1(personalize_event_category);

#define MAX_CATEGORY_BYTES 200

/* SQL: personalize.event_category(properties, key): properties->>key if a string of 1 to 200 bytes, else NULL. */
Datum
personalize_event_category(PG_FUNCTION_ARGS)
{
	Jsonb	   *props = PG_GETARG_JSONB_P(0);
	text	   *key = PG_GETARG_TEXT_PP(1);
	JsonbValue *v;

	if (!JB_ROOT_IS_OBJECT(props))
		PG_RETURN_NULL();
	v = getKeyJsonValueFromContainer(&props->root, VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), NULL);
	if (v == NULL || v->type != jbvString || v->val.string.len < 1 || v->val.string.len > MAX_CATEGORY_BYTES)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(v->val.string.val, v->val.string.len));
}
