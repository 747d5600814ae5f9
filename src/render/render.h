/*
 * render.h: what render.c offers the rest of the extension (email.c): compiled templates from the
 * per-backend cache, jsonb as Liquid values, and renders of e-mail parts in batches that read
 * each stored partial once.
 */
#ifndef RENDER_H
#define RENDER_H

#include "postgres.h"
#include "datatype/timestamp.h"
#include "utils/jsonb.h"

#include "render/liquid/liquid.h"

/* Which body of a stored partial a render reads: an HTML render is also autoescaped. */
#define RENDER_PART_HTML 'h'
#define RENDER_PART_TEXT 't'
#define RENDER_PART_SUBJECT 's'

typedef struct RenderBatch RenderBatch;

/* The compiled template of a source, cached; a syntax error is raised (what: its context line). */
extern const liq_template *render_compile(const char *src, size_t len, const char *what);

/* A new Liquid arena allocating in the current memory context. */
extern liq_arena *render_arena_new(void);

/* A jsonb value as a Liquid value allocated in the arena. */
extern liq_value render_jsonb_to_liq(liq_arena *ar, Jsonb *j);

/* Sets each top-level key of a jsonb object on a Liquid object, replacing the keys it has. */
extern void render_jsonb_merge(liq_arena *ar, liq_value obj, Jsonb *extra);

/* Starts a batch of renders (in the current memory context) that reads each stored partial once. */
extern RenderBatch *render_batch_begin(void);

/*
 * One part of an e-mail rendered with a context, in the caller's memory context; errors are raised.
 * The context is visible inside {% render %} partials too (Shopify's static environment).
 */
extern text *render_part(RenderBatch *batch, const liq_template *tmpl, liq_value ctx, bool strict,
						 TimestampTz as_of, char part);

#endif
