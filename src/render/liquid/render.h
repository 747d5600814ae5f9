/*
 * render.h - render state shared by the renderer and the filters.
 * Owns: the per-render context (scopes, assigns, counters, registers,
 * limits, output buffer) and the error helper filters use.
 */
#ifndef LIQ_RENDER_H
#define LIQ_RENDER_H
#include "ast.h"
#include "buf.h"
#include "value.h"

typedef struct liq_var
{
	liq_value name;
	uint32_t  hash;
	liq_value val;
} liq_var;

typedef struct liq_cycle_reg
{
	liq_value			  key;
	int64_t				  it;
	struct liq_cycle_reg *next;
} liq_cycle_reg;

typedef struct liq_partial_cache
{
	const char				 *name;
	size_t					  nlen;
	const char				 *src;
	size_t					  len;
	liq_body				  own;	/* body compiled during this render */
	const liq_body			 *body; /* own, or the root of a caller-provided template */
	struct liq_partial_cache *next;
} liq_partial_cache;

typedef struct liq_rs
{
	liq_arena			  *ar;
	const liq_render_opts *opts;
	liq_error			  *err;
	/* current template source (for error positions) */
	const char *src;
	size_t		srclen;
	const char *partial_name;
	size_t		err_off; /* offset of the node/filter being evaluated */
	liq_buf	   *out;
	liq_buf		scratch; /* for autoescape */
	/* scopes: vars[scope_base..nvars) are visible */
	liq_var			  *vars;
	size_t			   nvars, capvars, scope_base;
	struct liq_object *globals;	 /* assign / capture */
	struct liq_object *counters; /* increment / decrement */
	liq_value		   root;	 /* user data, nil inside {% render %} */
	const liq_loop	  *loop;	 /* innermost forloop */
	/* registers */
	liq_cycle_reg	  *cycles;
	struct liq_object *offsets; /* offset:continue positions */
	liq_value		   ifchanged;
	bool			   have_ifchanged;
	liq_partial_cache *partials;
	/* control */
	int		 interrupt; /* 0, 1 = break, 2 = continue */
	uint64_t iterations;
	int		 depth, partial_depth;
	bool	 in_render_tag;
	size_t	 max_output;
} liq_rs;

/* Record a render error at the current position; always returns -1. */
int liq_rs_fail(liq_rs *rs, liq_error_kind kind, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;
/* Check the arena after an allocation-heavy step; -1 if memory ran out. */
int liq_rs_check_mem(liq_rs *rs);
/* Render a whole template body into rs->out. */
int liq_render_body(liq_rs *rs, const liq_body *body);
#endif
