/*
 * jsonb_jv.h: the server side of jvalue.h: jsonb to a jv tree, in the current memory context.
 */
#ifndef PERSONALIZE_JSONB_JV_H
#define PERSONALIZE_JSONB_JV_H

#include "postgres.h"
#include "utils/jsonb.h"

#include "core/jvalue.h"

/* The jv_alloc that pallocs in the memory context current at each call. */
extern const jv_alloc jv_palloc;

/* The jv tree of a jsonb value (a raw scalar becomes that scalar). */
extern jv *jv_from_jsonb(Jsonb *j);

/* The jv tree of a jsonb container. */
extern jv *jv_from_container(JsonbContainer *c);

#endif
