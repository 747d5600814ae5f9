/*
 * interest.c: the category an event is about, for interest affinity: a JSON string property
 * (personalize.scoring_settings.category_property) of 1 to 200 bytes; the live-state fold
 * (live_state.c) and SQL (event_category) read it here.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "scoring/interest.h"

PG_FUNCTION_INFO_V1(personalize_event_category);

#define MAX_CATEGORY_BYTES 200

/* properties ->> key as a palloc'd C string when a JSON string of 1 to 200 bytes, else NULL. */
char *
event_category(Jsonb *props, text *key)
{
	JsonbValue *v;

	if (!JB_ROOT_IS_OBJECT(props))
		return NULL;
	v = getKeyJsonValueFromContainer(&props->root, VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), NULL);
	if (v == NULL || v->type != jbvString || v->val.string.len < 1 || v->val.string.len > MAX_CATEGORY_BYTES)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* SQL: personalize.event_category(properties, key): properties->>key if a string of 1 to 200 bytes, else NULL. */
Datum
personalize_event_category(PG_FUNCTION_ARGS)
{
	char *category = event_category(PG_GETARG_JSONB_P(0), PG_GETARG_TEXT_PP(1));

	if (category == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(category));
}
