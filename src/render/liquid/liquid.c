/*
 * liquid.c - public entry points: liq_compile, liq_render and friends.
 * Owns: option defaults, arena lifetimes of templates and renders, and the
 * hand-off of the rendered output to the caller's allocator.
 */
#include "liquid.h"
#include "arena.h"
#include "ast.h"
#include "error.h"
#include "parser.h"
#include "render.h"
#include <string.h>

/* Compile src into an immutable template. */
int
liq_compile(const char *src, size_t len, const liq_compile_opts *opts, liq_template **out, liq_error *err)
{
	liq_error	  dummy;
	liq_arena	 *ar;
	liq_template *t;
	char		 *copy;
	int			  depth = opts && opts->max_nesting_depth > 0 ? opts->max_nesting_depth : 100;
	size_t		  maxmem = opts && opts->max_memory ? opts->max_memory : (size_t) 64 << 20;
	if (!err)
		err = &dummy;
	liq_clear_error(err);
	*out = NULL;
	if (!src)
		src = "";
	if (len >= UINT32_MAX)
	{
		liq_set_error(err, LIQ_ERR_LIMIT, NULL, 0, 0, "Template too large");
		return -1;
	}
	ar = liq_arena_new_limited(opts ? opts->allocator : NULL, maxmem);
	if (!ar)
	{
		liq_set_error(err, LIQ_ERR_LIMIT, NULL, 0, 0, "Out of memory");
		return -1;
	}
	t = liq_arena_calloc(ar, 1, sizeof *t);
	copy = liq_arena_strdup(ar, src, len);
	if (!t || !copy)
	{
		liq_arena_free(ar);
		liq_set_error(err, LIQ_ERR_LIMIT, NULL, 0, 0, "Memory limit exceeded while compiling");
		return -1;
	}
	t->arena = ar;
	t->src = copy;
	t->len = len;
	if (liq_parse(ar, copy, len, depth, &t->root, err) < 0)
	{
		liq_arena_free(ar);
		return -1;
	}
	*out = t;
	return 0;
}

/* Free a compiled template. */
void
liq_template_free(liq_template *t)
{
	if (t)
		liq_arena_free(t->arena);
}

/* Render a compiled template with a context value. */
int
liq_render(const liq_template *t, liq_value ctx, const liq_render_opts *opts_in, char **out, size_t *out_len,
		   liq_error *err)
{
	liq_error		dummy;
	liq_render_opts opts;
	liq_rs			rs;
	liq_buf			b;
	int				rc;
	*out = NULL;
	if (out_len)
		*out_len = 0;
	if (!err)
		err = &dummy;
	liq_clear_error(err);
	if (!t)
	{
		liq_set_error(err, LIQ_ERR_RENDER, NULL, 0, 0, "No template");
		return -1;
	}
	if (opts_in)
		opts = *opts_in;
	else
		memset(&opts, 0, sizeof opts);
	if (!opts.max_output)
		opts.max_output = (size_t) 16 << 20;
	if (!opts.max_iterations)
		opts.max_iterations = 1000000;
	if (opts.max_depth <= 0)
		opts.max_depth = 100;
	if (opts.max_partial_depth <= 0)
		opts.max_partial_depth = 16;
	if (!opts.max_memory)
		opts.max_memory = (size_t) 256 << 20;

	memset(&rs, 0, sizeof rs);
	rs.ar = liq_arena_new_limited(opts.allocator, opts.max_memory);
	if (!rs.ar)
	{
		liq_set_error(err, LIQ_ERR_LIMIT, NULL, 0, 0, "Out of memory");
		return -1;
	}
	rs.opts = &opts;
	rs.err = err;
	rs.src = t->src;
	rs.srclen = t->len;
	rs.max_output = opts.max_output;
	rs.root = ctx;
	rs.globals = liq_object_new(rs.ar, 8).u.o;
	rs.counters = liq_object_new(rs.ar, 0).u.o;
	rs.offsets = liq_object_new(rs.ar, 0).u.o;
	liq_buf_init(&b, rs.ar, opts.max_output);
	liq_buf_init(&rs.scratch, rs.ar, opts.max_output);
	rs.out = &b;
	if (!rs.globals || !rs.counters || !rs.offsets)
	{
		liq_arena_free(rs.ar);
		liq_set_error(err, LIQ_ERR_LIMIT, NULL, 0, 0, "Out of memory");
		return -1;
	}
	liq_buf_reserve(&b, t->len + 64 < opts.max_output ? t->len + 64 : opts.max_output); /* a guess, within the limit */
	rc = liq_render_body(&rs, &t->root);
	if (rc == 0 && b.failed)
		rc = liq_rs_fail(&rs, LIQ_ERR_LIMIT, "Output limit exceeded");
	if (rc == 0)
	{
		char *o = liq_sys_alloc(opts.allocator, b.len + 1);
		if (!o)
		{
			liq_set_error(err, LIQ_ERR_LIMIT, NULL, 0, 0, "Out of memory");
			rc = -1;
		}
		else
		{
			if (b.len)
				memcpy(o, b.data, b.len);
			o[b.len] = 0;
			*out = o;
			if (out_len)
				*out_len = b.len;
		}
	}
	if (rc != 0 && err->kind == LIQ_OK)
		liq_set_error(err, LIQ_ERR_RENDER, NULL, 0, 0, "Render failed");
	liq_arena_free(rs.ar);
	return rc;
}

/* Free an output buffer returned by liq_render. */
void
liq_output_free(const liq_render_opts *opts, char *out)
{
	liq_sys_free(opts ? opts->allocator : NULL, out);
}
