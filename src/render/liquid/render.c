/*
 * render.c - the renderer: walks the AST with a context and writes output.
 * Owns: variable resolution (scopes -> assigns -> counters -> data),
 * condition evaluation (Liquid comparison rules), every tag's runtime
 * behaviour (loops, partials, cycle, counters...), filter dispatch,
 * autoescape, limits and the interrupt hook.
 */
#include "render.h"
#include "filters.h"
#include "number.h"
#include "error.h"
#include "parser.h"
#include "text.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int render_nodes(liq_rs *rs, const liq_body *body);
static int eval_expr(liq_rs *rs, const liq_expr *e, liq_value *out);

/* Record a render error at the current position; always returns -1. */
int
liq_rs_fail(liq_rs *rs, liq_error_kind kind, const char *fmt, ...)
{
	char	msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	liq_set_error(rs->err, kind, rs->src, rs->srclen, rs->err_off, "%s", msg);
	if (rs->partial_name && rs->err && !rs->err->partial[0])
		snprintf(rs->err->partial, sizeof rs->err->partial, "%s", rs->partial_name);
	return -1;
}

/* Check the arena after an allocation-heavy step; -1 if memory ran out. */
int
liq_rs_check_mem(liq_rs *rs)
{
	if (rs->ar->over)
		return liq_rs_fail(rs, LIQ_ERR_LIMIT, "Memory limit exceeded");
	return 0;
}

/* Check a buffer after writing; -1 if the output limit was hit. */
static int
check_buf(liq_rs *rs, liq_buf *b)
{
	if (b->failed)
	{
		if (rs->ar->over)
			return liq_rs_fail(rs, LIQ_ERR_LIMIT, "Memory limit exceeded");
		return liq_rs_fail(rs, LIQ_ERR_LIMIT, "Output limit exceeded (%zu bytes)", rs->max_output);
	}
	return 0;
}

/* Count one render step (a loop iteration or a partial rendered), enforce the
 * limit and poll for interrupts. */
static int
tick(liq_rs *rs)
{
	if (++rs->iterations > rs->opts->max_iterations)
		return liq_rs_fail(rs, LIQ_ERR_LIMIT, "Render step limit exceeded (%llu loop iterations and partials)",
						   (unsigned long long) rs->opts->max_iterations);
	if (rs->opts->check_interrupts)
		rs->opts->check_interrupts(rs->opts->interrupt_ud);
	return 0;
}

/* ------------------------------------------------------------------ */
/* scopes                                                              */
/* ------------------------------------------------------------------ */

/* Push a scope variable; returns its index or -1. */
static long
push_var(liq_rs *rs, liq_value name, uint32_t hash, liq_value val)
{
	if (rs->nvars == rs->capvars)
	{
		size_t	 ncap = rs->capvars ? rs->capvars * 2 : 16;
		liq_var *n = liq_arena_grow(rs->ar, rs->vars, rs->nvars, ncap, sizeof *n);
		if (!n)
			return liq_rs_check_mem(rs);
		rs->vars = n;
		rs->capvars = ncap;
	}
	rs->vars[rs->nvars].name = name;
	rs->vars[rs->nvars].hash = hash;
	rs->vars[rs->nvars].val = val;
	return (long) rs->nvars++;
}

/* Find a variable by name: scopes, assigns, counters, then the data. */
static bool
lookup_name(liq_rs *rs, const char *s, size_t n, uint32_t h, liq_value *out)
{
	size_t			 i;
	const liq_value *v;
	for (i = rs->nvars; i > rs->scope_base; i--)
	{
		const liq_var *var = &rs->vars[i - 1];
		if (var->hash == h && var->name.len == n && memcmp(var->name.u.s, s, n) == 0)
		{
			*out = var->val;
			return true;
		}
	}
	if ((v = liq_object_get_h(rs->globals, s, n, h)) != NULL ||
		(v = liq_object_get_h(rs->counters, s, n, h)) != NULL ||
		(rs->root.type == LIQ_OBJECT && (v = liq_object_get_h(rs->root.u.o, s, n, h)) != NULL) ||
		(rs->opts->static_env.type == LIQ_OBJECT &&
		 (v = liq_object_get_h(rs->opts->static_env.u.o, s, n, h)) != NULL))
	{
		*out = *v;
		return true;
	}
	*out = liq_nil();
	return false;
}

/* Set an assign-level (global) variable. */
static int
set_global(liq_rs *rs, liq_value name, uint32_t hash, liq_value val)
{
	if (!liq_object_set_h(rs->ar, rs->globals, name.u.s, name.len, hash, val))
		return liq_rs_fail(rs, LIQ_ERR_LIMIT, "Memory limit exceeded");
	return 0;
}

/* ------------------------------------------------------------------ */
/* expressions                                                         */
/* ------------------------------------------------------------------ */

/* Liquid RangeLookup#to_integer for range bounds. */
static int
range_bound(liq_rs *rs, liq_value v, int64_t *out)
{
	switch (v.type)
	{
		case LIQ_INT:
			*out = v.u.i;
			return 0;
		case LIQ_NIL:
			*out = 0;
			return 0;
		case LIQ_STRING:
			*out = liq_str_to_i(v.u.s, v.len, NULL);
			return 0;
		case LIQ_FLOAT:
			if (v.u.f != v.u.f || v.u.f > 9e18 || v.u.f < -9e18)
				return liq_rs_fail(rs, LIQ_ERR_RENDER, "invalid integer");
			*out = (int64_t) v.u.f;
			return 0;
		default:
			return liq_rs_fail(rs, LIQ_ERR_RENDER, "invalid integer");
	}
}

/* Evaluate an expression. */
static int
eval_expr(liq_rs *rs, const liq_expr *e, liq_value *out)
{
	switch (e->kind)
	{
		case EX_LIT:
			*out = e->lit;
			return 0;
		case EX_RANGE:
		{
			liq_value		  lo, hi;
			struct liq_range *r;
			int64_t			  a, b;
			if (eval_expr(rs, e->lo, &lo) < 0 || eval_expr(rs, e->hi, &hi) < 0)
				return -1;
			rs->err_off = e->off;
			if (range_bound(rs, lo, &a) < 0 || range_bound(rs, hi, &b) < 0)
				return -1;
			r = liq_arena_alloc(rs->ar, sizeof *r);
			if (!r)
				return liq_rs_check_mem(rs);
			r->lo = a;
			r->hi = b;
			*out = liq_nil();
			out->type = LIQ_RANGE;
			out->u.r = r;
			return 0;
		}
		case EX_VAR:
		{
			uint32_t	   i;
			liq_value	   v, key;
			bool		   found;
			const liq_seg *s0 = &e->segs[0];
			if (s0->kind == SEG_NAME)
			{
				found = lookup_name(rs, s0->lit.u.s, s0->lit.len, s0->hash, &v);
				key = s0->lit;
			}
			else
			{
				if (s0->kind == SEG_LIT)
					key = s0->lit;
				else if (eval_expr(rs, s0->expr, &key) < 0)
					return -1;
				if (key.type == LIQ_STRING)
					found = lookup_name(rs, key.u.s, key.len, liq_hash(key.u.s, key.len), &v);
				else
				{
					v = liq_nil();
					found = false;
				}
			}
			if (!found && rs->opts->strict_variables)
			{
				rs->err_off = e->off;
				if (key.type == LIQ_STRING)
					return liq_rs_fail(rs, LIQ_ERR_UNDEFINED_VARIABLE, "Undefined variable '%.*s'", (int) (key.len > 80 ? 80 : key.len), key.u.s);
				return liq_rs_fail(rs, LIQ_ERR_UNDEFINED_VARIABLE, "Undefined variable");
			}
			for (i = 1; i < e->nsegs; i++)
			{
				const liq_seg *s = &e->segs[i];
				liq_value	   prev = v;
				if (s->kind == SEG_EXPR)
				{
					if (eval_expr(rs, s->expr, &key) < 0)
						return -1;
				}
				else
				{
					key = s->lit;
				}
				v = liq_prop(rs->ar, prev, key, s->dot, &found);
				if (!found && rs->opts->strict_variables && prev.type == LIQ_OBJECT)
				{
					rs->err_off = e->off;
					if (key.type == LIQ_STRING)
						return liq_rs_fail(rs, LIQ_ERR_UNDEFINED_VARIABLE, "Undefined variable '%.*s'", (int) (key.len > 80 ? 80 : key.len), key.u.s);
					return liq_rs_fail(rs, LIQ_ERR_UNDEFINED_VARIABLE, "Undefined variable");
				}
			}
			*out = v;
			return liq_rs_check_mem(rs);
		}
	}
	*out = liq_nil();
	return 0;
}

/* Convert the empty/blank literals to "" when they flow into filters. */
static liq_value
norm_arg(liq_value v)
{
	if (v.type == LIQ_EMPTY || v.type == LIQ_BLANK)
		return liq_str("", 0);
	return v;
}

/* Evaluate `expr | filters`; *last_raw tells whether the last filter was raw. */
static int
eval_fexpr(liq_rs *rs, const liq_fexpr *fe, liq_value *out, bool *last_raw)
{
	uint32_t  f;
	liq_value v = liq_nil();
	liq_value argbuf[8], kwbuf[8];
	if (last_raw)
		*last_raw = false;
	if (fe->base && eval_expr(rs, fe->base, &v) < 0)
		return -1;
	for (f = 0; f < fe->nfilters; f++)
	{
		const liq_filter_call *fc = &fe->filters[f];
		liq_value			  *args = argbuf, *kws = kwbuf, res;
		uint32_t			   i;
		if (fc->nargs > 8 || fc->nkw > 8)
		{
			args = liq_arena_calloc(rs->ar, fc->nargs + 1u, sizeof *args);
			kws = liq_arena_calloc(rs->ar, fc->nkw + 1u, sizeof *kws);
			if (!args || !kws)
				return liq_rs_check_mem(rs);
		}
		for (i = 0; i < fc->nargs; i++)
		{
			if (eval_expr(rs, fc->args[i], &args[i]) < 0)
				return -1;
			args[i] = norm_arg(args[i]);
		}
		for (i = 0; i < fc->nkw; i++)
		{
			if (eval_expr(rs, fc->kwvals[i], &kws[i]) < 0)
				return -1;
			kws[i] = norm_arg(kws[i]);
		}
		rs->err_off = fc->off;
		if (!fc->def)
		{
			if (rs->opts->strict_filters)
				return liq_rs_fail(rs, LIQ_ERR_UNDEFINED_FILTER, "Undefined filter '%.*s'", (int) (fc->nlen > 80 ? 80 : fc->nlen), fc->name);
			continue; /* lax: Liquid passes the input through */
		}
		{
			int given = fc->nargs + (fc->nkw ? 1 : 0);
			if (given < fc->def->min_args || (fc->def->max_args >= 0 && given > fc->def->max_args))
				return liq_rs_fail(rs, LIQ_ERR_RENDER, "wrong number of arguments (given %d, expected %d%s) for filter '%s'",
								   given + 1, fc->def->min_args + 1, fc->def->max_args != fc->def->min_args ? "+" : "",
								   fc->def->name);
		}
		if (fc->def->fn(rs, norm_arg(v), args, fc->nargs, fc->kwnames, kws, fc->nkw, &res) < 0)
			return -1;
		if (liq_rs_check_mem(rs) < 0)
			return -1;
		v = res;
		if (last_raw)
			*last_raw = fc->def->is_raw;
	}
	*out = v;
	return 0;
}

/* ------------------------------------------------------------------ */
/* conditions                                                          */
/* ------------------------------------------------------------------ */

/* Ruby class name for comparison error messages. */
static const char *
ruby_class(liq_value v)
{
	switch (v.type)
	{
		case LIQ_NIL:
			return "nil";
		case LIQ_BOOL:
			return v.u.b ? "true" : "false";
		case LIQ_INT:
			return "Integer";
		case LIQ_FLOAT:
			return "Float";
		case LIQ_STRING:
			return "String";
		case LIQ_ARRAY:
			return "Array";
		case LIQ_OBJECT:
			return "Hash";
		case LIQ_RANGE:
			return "Range";
		default:
			return "Object";
	}
}

/* `l contains r`. */
static bool
contains(liq_rs *rs, liq_value l, liq_value r)
{
	if (!liq_truthy(l) || !liq_truthy(r))
		return false;
	if (l.type == LIQ_STRING)
	{
		liq_value needle = liq_stringify(rs->ar, norm_arg(r));
		return liq_find(l.u.s, l.len, needle.u.s, needle.len, 0) >= 0;
	}
	if (l.type == LIQ_ARRAY)
	{
		size_t i;
		for (i = 0; i < l.u.a->len; i++)
			if (liq_equal(l.u.a->items[i], r))
				return true;
		return false;
	}
	if (l.type == LIQ_OBJECT)
		return r.type == LIQ_STRING && liq_object_get_h(l.u.o, r.u.s, r.len, liq_hash(r.u.s, r.len)) != NULL;
	if (l.type == LIQ_RANGE)
	{
		if (r.type == LIQ_INT)
			return r.u.i >= l.u.r->lo && r.u.i <= l.u.r->hi;
		if (r.type == LIQ_FLOAT)
			return r.u.f >= (double) l.u.r->lo && r.u.f <= (double) l.u.r->hi;
	}
	return false;
}

/* `l == r` including the empty/blank literals. */
static bool
equals(liq_value l, liq_value r)
{
	bool ls = l.type == LIQ_EMPTY || l.type == LIQ_BLANK;
	bool rsp = r.type == LIQ_EMPTY || r.type == LIQ_BLANK;
	if (ls && rsp)
		return false;
	if (rsp)
		return r.type == LIQ_EMPTY ? liq_is_empty(l) : liq_is_blank(l);
	if (ls)
		return l.type == LIQ_EMPTY ? liq_is_empty(r) : liq_is_blank(r);
	return liq_equal(l, r);
}

/* Evaluate one comparison. */
static int
compare(liq_rs *rs, liq_value l, int op, liq_value r, bool *res)
{
	int c;
	switch (op)
	{
		case OP_EQ:
			*res = equals(l, r);
			return 0;
		case OP_NE:
			*res = !equals(l, r);
			return 0;
		case OP_CONTAINS:
			*res = contains(rs, l, r);
			return 0;
		default:
			break;
	}
	if (liq_compare(l, r, &c))
	{
		switch (op)
		{
			case OP_LT:
				*res = c < 0;
				break;
			case OP_GT:
				*res = c > 0;
				break;
			case OP_LE:
				*res = c <= 0;
				break;
			default:
				*res = c >= 0;
				break;
		}
		return 0;
	}
	if ((l.type == LIQ_STRING && liq_is_number(r)) || (liq_is_number(l) && r.type == LIQ_STRING))
	{
		char	  num[LIQ_NUMBUF];
		liq_value other = l.type == LIQ_STRING ? r : l;
		if (other.type == LIQ_INT)
			liq_fmt_int(num, other.u.i);
		else
			liq_fmt_float(num, other.u.f);
		if (l.type == LIQ_STRING)
			return liq_rs_fail(rs, LIQ_ERR_RENDER, "comparison of String with %s failed", num);
		return liq_rs_fail(rs, LIQ_ERR_RENDER, "comparison of %s with String failed", ruby_class(l));
	}
	*res = false;
	return 0;
}

/* Evaluate a right-associative condition chain (a and (b or (c ...))).
 * Iterative with short-circuit, so long chains cannot exhaust the stack. */
static int
eval_cond(liq_rs *rs, const liq_cond *c, bool *res)
{
	for (;;)
	{
		liq_value l, r;
		bool	  v = false;
		if (eval_expr(rs, c->l, &l) < 0)
			return -1;
		if (c->op == OP_NONE)
		{
			v = liq_truthy(l);
		}
		else
		{
			if (eval_expr(rs, c->r, &r) < 0)
				return -1;
			rs->err_off = c->l->off;
			if (compare(rs, l, c->op, r, &v) < 0)
				return -1;
		}
		if (!c->next || (c->rel == REL_AND && !v) || (c->rel == REL_OR && v))
		{
			*res = v;
			return 0;
		}
		c = c->next;
	}
}

/* ------------------------------------------------------------------ */
/* output                                                              */
/* ------------------------------------------------------------------ */

/* Append s HTML-escaped (& < > " '). */
static void
html_escape_into(liq_buf *b, const char *s, size_t n)
{
	size_t i, start = 0;
	for (i = 0; i < n; i++)
	{
		const char *rep = NULL;
		switch (s[i])
		{
			case '&':
				rep = "&amp;";
				break;
			case '<':
				rep = "&lt;";
				break;
			case '>':
				rep = "&gt;";
				break;
			case '"':
				rep = "&quot;";
				break;
			case '\'':
				rep = "&#39;";
				break;
			default:
				continue;
		}
		liq_buf_put(b, s + start, i - start);
		liq_buf_puts(b, rep);
		start = i + 1;
	}
	liq_buf_put(b, s + start, n - start);
}

/* Write a value to the output, honouring autoescape. */
static int
emit_value(liq_rs *rs, liq_value v, bool raw)
{
	if (v.type == LIQ_EMPTY || v.type == LIQ_BLANK || v.type == LIQ_NIL || v.type == LIQ_DROP)
		return 0;
	if (rs->opts->autoescape && !raw)
	{
		if (v.type == LIQ_STRING)
		{
			html_escape_into(rs->out, v.u.s, v.len);
		}
		else if (v.type == LIQ_INT || v.type == LIQ_FLOAT || v.type == LIQ_BOOL)
		{
			liq_write_output(rs->out, v);
		}
		else
		{
			rs->scratch.len = 0;
			rs->scratch.failed = false;
			liq_write_output(&rs->scratch, v);
			if (check_buf(rs, &rs->scratch) < 0)
				return -1;
			html_escape_into(rs->out, rs->scratch.data ? rs->scratch.data : "", rs->scratch.len);
		}
	}
	else
	{
		liq_write_output(rs->out, v);
	}
	return check_buf(rs, rs->out);
}

/* ------------------------------------------------------------------ */
/* loops                                                               */
/* ------------------------------------------------------------------ */

/* Utils.to_integer for loop attributes: ints and integer strings only. */
static int
loop_int(liq_rs *rs, liq_value v, const char *what, int64_t *out)
{
	if (v.type == LIQ_INT)
	{
		*out = v.u.i;
		return 0;
	}
	if (v.type == LIQ_STRING)
	{
		size_t		i = 0, n = v.len;
		bool		of;
		const char *s = v.u.s;
		while (i < n && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r')))
			i++;
		while (n > i && (s[n - 1] == ' ' || (s[n - 1] >= '\t' && s[n - 1] <= '\r')))
			n--;
		if (i < n)
		{
			size_t j = i + ((s[i] == '-' || s[i] == '+') ? 1 : 0);
			bool   ok = j < n;
			for (; j < n; j++)
				if (s[j] < '0' || s[j] > '9')
					ok = false;
			if (ok)
			{
				*out = liq_str_to_i(s + i, n - i, &of);
				if (!of)
					return 0;
			}
		}
	}
	if (v.type == LIQ_FLOAT && v.u.f == v.u.f && v.u.f < 9e18 && v.u.f > -9e18)
	{
		*out = (int64_t) v.u.f;
		return 0;
	}
	return liq_rs_fail(rs, LIQ_ERR_RENDER, "invalid integer for %s", what);
}

/* A materialised loop segment: either a slice of a sequence or a string/hash view. */
typedef struct seg
{
	liq_value coll; /* array, range, or object (pairs built lazily) */
	int64_t	  start, len;
	bool	  single; /* non-enumerable value iterated once (strings) */
	liq_value one;
} seg;

/* Item i of a segment. */
static liq_value
seg_at(liq_rs *rs, const seg *s, int64_t i, bool reversed)
{
	int64_t k = reversed ? s->len - 1 - i : i;
	if (s->single)
		return s->one;
	if (s->coll.type == LIQ_OBJECT)
	{
		const liq_kv *kv = &s->coll.u.o->items[s->start + k];
		liq_value	  pair[2];
		pair[0] = liq_str(kv->key, kv->klen);
		pair[1] = kv->val;
		return liq_array_from(rs->ar, pair, 2);
	}
	return liq_seq_at(s->coll, s->start + k);
}

/* Compute the segment of a collection for offset/limit (Utils.slice_collection). */
static void
make_seg(liq_value coll, int64_t from, bool has_limit, int64_t limit, seg *s)
{
	int64_t n, to;
	memset(s, 0, sizeof *s);
	s->coll = coll;
	if (coll.type == LIQ_STRING)
	{
		if (coll.len)
		{
			s->single = true;
			s->one = coll;
			s->len = 1;
		}
		return;
	}
	if (coll.type == LIQ_ARRAY || coll.type == LIQ_RANGE)
		n = liq_seq_len(coll);
	else if (coll.type == LIQ_OBJECT)
		n = (int64_t) coll.u.o->len;
	else
		return;
	if (from < 0)
		from = 0;
	if (from > n)
		from = n;
	to = n;
	if (has_limit)
	{
		if (limit < 0)
			limit = 0;
		if (limit < n - from)
			to = from + limit;
	}
	s->start = from;
	s->len = to - from;
}

/* Render a for loop. */
static int
render_for(liq_rs *rs, const liq_node *n)
{
	liq_value		coll, lv;
	int64_t			from = 0, limit = 0, i;
	bool			has_limit = false;
	seg				s;
	liq_loop		loop;
	long			vi, li;
	const liq_loop *saved_loop = rs->loop;
	size_t			saved_nvars = rs->nvars;
	int				rc = 0;
	if (eval_expr(rs, n->u.loop.coll, &coll) < 0)
		return -1;
	rs->err_off = n->off;
	if (n->u.loop.offset_continue)
	{
		const liq_value *o = liq_object_get_h(rs->offsets, n->u.loop.loop_key.u.s, n->u.loop.loop_key.len,
											  liq_hash(n->u.loop.loop_key.u.s, n->u.loop.loop_key.len));
		from = o ? o->u.i : 0;
	}
	else if (n->u.loop.offset)
	{
		if (eval_expr(rs, n->u.loop.offset, &lv) < 0)
			return -1;
		rs->err_off = n->off;
		if (lv.type != LIQ_NIL && loop_int(rs, lv, "offset", &from) < 0)
			return -1;
	}
	if (n->u.loop.limit)
	{
		if (eval_expr(rs, n->u.loop.limit, &lv) < 0)
			return -1;
		rs->err_off = n->off;
		if (lv.type != LIQ_NIL)
		{
			if (loop_int(rs, lv, "limit", &limit) < 0)
				return -1;
			has_limit = true;
		}
	}
	make_seg(coll, from, has_limit, limit, &s);
	{
		int64_t next = (s.single ? from : s.start) + s.len;
		if (!liq_object_set_h(rs->ar, rs->offsets, n->u.loop.loop_key.u.s, n->u.loop.loop_key.len,
							  liq_hash(n->u.loop.loop_key.u.s, n->u.loop.loop_key.len), liq_int(next)))
			return liq_rs_check_mem(rs);
	}
	if (s.len == 0)
		return render_nodes(rs, &n->u.loop.els);
	memset(&loop, 0, sizeof loop);
	loop.length = s.len;
	loop.parent = rs->loop;
	loop.name = n->u.loop.loop_key;
	li = push_var(rs, liq_str("forloop", 7), liq_hash("forloop", 7), liq_drop(&loop));
	vi = push_var(rs, n->u.loop.var, n->u.loop.var_hash, liq_nil());
	if (li < 0 || vi < 0)
		return -1;
	rs->loop = &loop;
	for (i = 0; i < s.len; i++)
	{
		if (tick(rs) < 0)
		{
			rc = -1;
			break;
		}
		loop.index0 = i;
		rs->vars[vi].val = seg_at(rs, &s, i, n->u.loop.reversed);
		if (render_nodes(rs, &n->u.loop.body) < 0)
		{
			rc = -1;
			break;
		}
		if (rs->interrupt)
		{
			int what = rs->interrupt;
			rs->interrupt = 0;
			if (what == 1)
				break;
		}
	}
	rs->loop = saved_loop;
	rs->nvars = saved_nvars;
	return rc;
}

/* A tablerow attribute as Liquid 5.4 reads it, Ruby's to_i: integers, floats (truncated),
 * strings (leading integer, else 0) and nil (0); anything else has no to_i and is an error. */
static int
tablerow_int(liq_rs *rs, liq_value v, const char *what, int64_t *out)
{
	*out = 0;
	if (v.type == LIQ_INT)
		*out = v.u.i;
	else if (v.type == LIQ_FLOAT && v.u.f == v.u.f && v.u.f < 9e18 && v.u.f > -9e18)
		*out = (int64_t) v.u.f;
	else if (v.type == LIQ_STRING)
		*out = liq_str_to_i(v.u.s, v.len, NULL);
	else if (v.type != LIQ_NIL)
		return liq_rs_fail(rs, LIQ_ERR_RENDER, "invalid integer for %s", what);
	return 0;
}

/* Render a tablerow loop. */
static int
render_tablerow(liq_rs *rs, const liq_node *n)
{
	liq_value coll, lv;
	int64_t	  from = 0, limit = 0, cols = 0, i;
	bool	  has_limit = false;
	seg		  s;
	liq_loop  loop;
	long	  vi, li;
	size_t	  saved_nvars = rs->nvars;
	char	  num[LIQ_NUMBUF];
	int		  rc = 0;
	if (eval_expr(rs, n->u.loop.coll, &coll) < 0)
		return -1;
	rs->err_off = n->off;
	if (coll.type == LIQ_NIL || (coll.type == LIQ_BOOL && !coll.u.b))
		return 0; /* Ruby: a nil or false collection renders nothing, not even the row */
	if (n->u.loop.offset)
	{
		if (eval_expr(rs, n->u.loop.offset, &lv) < 0 || tablerow_int(rs, lv, "offset", &from) < 0)
			return -1;
	}
	if (n->u.loop.limit)
	{
		if (eval_expr(rs, n->u.loop.limit, &lv) < 0 || tablerow_int(rs, lv, "limit", &limit) < 0)
			return -1;
		has_limit = true;
	}
	if (n->u.loop.cols)
	{
		if (eval_expr(rs, n->u.loop.cols, &lv) < 0 || tablerow_int(rs, lv, "cols", &cols) < 0)
			return -1;
	}
	make_seg(coll, from, has_limit, limit, &s);
	memset(&loop, 0, sizeof loop);
	loop.length = s.len;
	loop.cols = cols > 0 ? cols : s.len;
	loop.tablerow = true;
	li = push_var(rs, liq_str("tablerowloop", 12), liq_hash("tablerowloop", 12), liq_drop(&loop));
	vi = push_var(rs, n->u.loop.var, n->u.loop.var_hash, liq_nil());
	if (li < 0 || vi < 0)
		return -1;
	liq_buf_puts(rs->out, "<tr class=\"row1\">\n");
	for (i = 0; i < s.len; i++)
	{
		int64_t c = loop.cols > 0 ? loop.cols : 1;
		if (tick(rs) < 0)
		{
			rc = -1;
			break;
		}
		loop.index0 = i;
		rs->vars[vi].val = seg_at(rs, &s, i, n->u.loop.reversed);
		liq_buf_puts(rs->out, "<td class=\"col");
		liq_buf_put(rs->out, num, liq_fmt_int(num, i % c + 1));
		liq_buf_puts(rs->out, "\">");
		if (render_nodes(rs, &n->u.loop.body) < 0)
		{
			rc = -1;
			break;
		}
		liq_buf_puts(rs->out, "</td>");
		if (rs->interrupt)
		{
			int what = rs->interrupt;
			rs->interrupt = 0;
			if (what == 1)
				break;
		}
		if ((i % c) + 1 == c && i != s.len - 1)
		{
			liq_buf_puts(rs->out, "</tr>\n<tr class=\"row");
			liq_buf_put(rs->out, num, liq_fmt_int(num, i / c + 2));
			liq_buf_puts(rs->out, "\">");
		}
		if (check_buf(rs, rs->out) < 0)
		{
			rc = -1;
			break;
		}
	}
	rs->nvars = saved_nvars;
	if (rc == 0)
	{
		liq_buf_puts(rs->out, "</tr>\n");
		rc = check_buf(rs, rs->out);
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* partials                                                            */
/* ------------------------------------------------------------------ */

/* Load and compile (once per render) a partial by name. */
static int
load_partial(liq_rs *rs, liq_value name, liq_partial_cache **out)
{
	liq_partial_cache *pc = NULL;
	const char		  *src;
	size_t			   len;
	char			  *copy;
	for (pc = rs->partials; pc; pc = pc->next)
		if (pc->nlen == name.len && memcmp(pc->name, name.u.s, name.len) == 0)
		{
			*out = pc;
			return 0;
		}
	pc = liq_arena_calloc(rs->ar, 1, sizeof *pc);
	if (!pc)
		return liq_rs_check_mem(rs);
	pc->name = liq_arena_strdup(rs->ar, name.u.s, name.len);
	if (!pc->name)
		return liq_rs_check_mem(rs);
	pc->nlen = name.len;
	if (rs->opts->load_template)
	{
		const liq_template *tp = NULL;
		if (rs->opts->load_template(rs->opts->partial_ud, name.u.s, name.len, &tp) && tp)
		{
			pc->src = tp->src;
			pc->len = tp->len;
			pc->body = &tp->root;
			goto done;
		}
	}
	if (!rs->opts->load_partial || !rs->opts->load_partial(rs->opts->partial_ud, name.u.s, name.len, &src, &len))
		return liq_rs_fail(rs, LIQ_ERR_RENDER, "Could not find partial '%.*s'", (int) (name.len > 60 ? 60 : name.len), name.u.s);
	copy = liq_arena_strdup(rs->ar, src, len);
	if (!copy)
		return liq_rs_check_mem(rs);
	pc->src = copy;
	pc->len = len;
	if (liq_parse(rs->ar, copy, len, rs->opts->max_depth, &pc->own, rs->err) < 0)
	{
		if (rs->err && !rs->err->partial[0])
			snprintf(rs->err->partial, sizeof rs->err->partial, "%.*s", (int) (name.len > 60 ? 60 : name.len), name.u.s);
		return -1;
	}
	pc->body = &pc->own;
done:
	pc->next = rs->partials;
	rs->partials = pc;
	*out = pc;
	return 0;
}

/* Render {% include %} or {% render %}. */
static int
render_partial(liq_rs *rs, const liq_node *n)
{
	liq_value		   name, val = liq_nil(), varname;
	liq_partial_cache *pc = NULL;
	const liq_param	  *pa;
	bool			   render = n->kind == N_RENDER, have_val = false;
	liq_rs			   saved = *rs;
	size_t			   base = rs->nvars;
	int				   rc = 0;
	long			   vi = -1;

	if (render == false && rs->in_render_tag)
		return liq_rs_fail(rs, LIQ_ERR_RENDER, "include usage is not allowed in this context");
	if (eval_expr(rs, n->u.partial.name, &name) < 0)
		return -1;
	rs->err_off = n->off;
	if (name.type != LIQ_STRING)
		return liq_rs_fail(rs, LIQ_ERR_RENDER, "Argument error in tag 'include' - Illegal template name");
	if (rs->partial_depth >= rs->opts->max_partial_depth)
		return liq_rs_fail(rs, LIQ_ERR_LIMIT, "Partial nesting too deep (max %d)", rs->opts->max_partial_depth);
	if (tick(rs) < 0) /* each partial rendered is a step: nested fan-out is bounded too */
		return -1;
	if (load_partial(rs, name, &pc) < 0)
		return -1;
	/* variable name: alias, or the last path segment of the template name */
	if (n->u.partial.alias.type == LIQ_STRING)
	{
		varname = n->u.partial.alias;
	}
	else
	{
		const char *sl = name.u.s + name.len;
		while (sl > name.u.s && sl[-1] != '/')
			sl--;
		varname = liq_str(sl, (size_t) (name.u.s + name.len - sl));
	}
	if (n->u.partial.with)
	{
		if (eval_expr(rs, n->u.partial.with, &val) < 0)
			return -1;
		have_val = true;
	}
	else if (!render)
	{
		lookup_name(rs, name.u.s, name.len, liq_hash(name.u.s, name.len), &val);
		have_val = true;
	}
	/* evaluate parameters in the caller's context: include binds them in
	 * a new scope, render makes them the isolated context's assigns */
	{
		struct liq_object *inner = render ? liq_object_new(rs->ar, 4).u.o : NULL;
		if (render && !inner)
			return liq_rs_check_mem(rs);
		for (pa = n->u.partial.params; pa; pa = pa->next)
		{
			liq_value pv;
			if (eval_expr(rs, pa->val, &pv) < 0)
				return -1;
			if (render)
			{
				if (!liq_object_set_h(rs->ar, inner, pa->name.u.s, pa->name.len, pa->hash, pv))
					return liq_rs_check_mem(rs);
			}
			else if (push_var(rs, pa->name, pa->hash, pv) < 0)
			{
				return -1;
			}
		}
		if (render)
		{
			rs->scope_base = base;
			rs->globals = inner;
			rs->cycles = NULL; /* render's registers are its own: cycle state is separate, as Ruby's */
			rs->counters = liq_object_new(rs->ar, 0).u.o;
			rs->root = liq_nil();
			rs->loop = NULL;
			rs->in_render_tag = true;
			if (!rs->counters)
			{
				*rs = saved;
				return liq_rs_check_mem(rs);
			}
		}
	}
	rs->partial_depth++;
	rs->src = pc->src;
	rs->srclen = pc->len;
	rs->partial_name = pc->name;
	if (have_val)
	{
		vi = push_var(rs, varname, liq_hash(varname.u.s, varname.len), val);
		if (vi < 0)
			rc = -1;
	}
	if (rc == 0 && vi >= 0 && n->u.partial.is_for && (val.type == LIQ_ARRAY || val.type == LIQ_RANGE))
	{
		int64_t	 i, len = liq_seq_len(val);
		liq_loop loop;
		memset(&loop, 0, sizeof loop);
		loop.length = len;
		loop.name = varname;
		if (render)
		{
			/* render's forloop is visible but is not a parentloop of inner loops */
			if (push_var(rs, liq_str("forloop", 7), liq_hash("forloop", 7), liq_drop(&loop)) < 0)
				rc = -1;
		}
		for (i = 0; i < len && rc == 0; i++)
		{
			if (tick(rs) < 0)
			{
				rc = -1;
				break;
			}
			loop.index0 = i;
			rs->vars[vi].val = liq_seq_at(val, i);
			rc = render_nodes(rs, pc->body);
			if (render)
				rs->interrupt = 0;
			else if (rs->interrupt)
				break;
		}
	}
	else if (rc == 0)
	{
		rc = render_nodes(rs, pc->body);
	}
	/* restore the caller's context (assigns made by include persist) */
	{
		liq_error		  *err = rs->err;
		liq_buf			  *out = rs->out;
		struct liq_object *globals = rs->globals, *counters = rs->counters;
		liq_cycle_reg	  *cycles = rs->cycles;
		liq_partial_cache *partials = rs->partials;
		uint64_t		   iters = rs->iterations;
		int				   interrupt = rs->interrupt;
		liq_value		   ifc = rs->ifchanged;
		bool			   have_ifc = rs->have_ifchanged;
		liq_var			  *vars = rs->vars;
		size_t			   capvars = rs->capvars;
		liq_buf			   scratch = rs->scratch;
		*rs = saved;
		rs->err = err;
		rs->out = out;
		if (!render)
			rs->cycles = cycles;
		rs->partials = partials;
		rs->iterations = iters;
		rs->ifchanged = ifc;
		rs->have_ifchanged = have_ifc;
		rs->vars = vars;
		rs->capvars = capvars;
		rs->scratch = scratch;
		rs->nvars = base;
		if (!render)
		{
			rs->globals = globals;
			rs->counters = counters;
			rs->interrupt = interrupt;
		}
		else
		{
			rs->interrupt = 0;
		}
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* nodes                                                               */
/* ------------------------------------------------------------------ */

/* Find or create the cycle register for key. */
static liq_cycle_reg *
cycle_reg(liq_rs *rs, liq_value key)
{
	liq_cycle_reg *c;
	for (c = rs->cycles; c; c = c->next)
		if (c->key.type == key.type && liq_equal(c->key, key))
			return c;
	c = liq_arena_calloc(rs->ar, 1, sizeof *c);
	if (!c)
		return NULL;
	c->key = key;
	c->next = rs->cycles;
	rs->cycles = c;
	return c;
}

/* Render a capture body into a new string and assign it. */
static int
render_capture(liq_rs *rs, const liq_node *n)
{
	liq_buf b, *saved = rs->out;
	int		rc;
	liq_buf_init(&b, rs->ar, rs->max_output);
	rs->out = &b;
	rc = render_nodes(rs, &n->u.capture.body);
	rs->out = saved;
	if (rc < 0)
		return -1;
	if (check_buf(rs, &b) < 0)
		return -1;
	return set_global(rs, n->u.capture.name, n->u.capture.hash, liq_str(b.data ? b.data : "", b.len));
}

/* Increment / decrement a named counter and output its value. */
static int
render_counter(liq_rs *rs, const liq_node *n)
{
	const liq_value *cur = liq_object_get_h(rs->counters, n->u.counter.name.u.s, n->u.counter.name.len, n->u.counter.hash);
	int64_t			 v = 0;
	char			 num[LIQ_NUMBUF];
	if (!cur && rs->root.type == LIQ_OBJECT)
		cur = liq_object_get_h(rs->root.u.o, n->u.counter.name.u.s, n->u.counter.name.len, n->u.counter.hash);
	if (cur && cur->type == LIQ_INT)
		v = cur->u.i;
	if (n->kind == N_INCREMENT)
	{
		liq_buf_put(rs->out, num, liq_fmt_int(num, v));
		if (v < INT64_MAX)
			v++;
	}
	else
	{
		if (v > INT64_MIN)
			v--;
		liq_buf_put(rs->out, num, liq_fmt_int(num, v));
	}
	if (!liq_object_set_h(rs->ar, rs->counters, n->u.counter.name.u.s, n->u.counter.name.len, n->u.counter.hash, liq_int(v)))
		return liq_rs_check_mem(rs);
	return check_buf(rs, rs->out);
}

/* Render one node. */
static int
render_node(liq_rs *rs, const liq_node *n)
{
	rs->err_off = n->off;
	switch (n->kind)
	{
		case N_TEXT:
			liq_buf_put(rs->out, n->u.text.s, n->u.text.len);
			return check_buf(rs, rs->out);
		case N_OUTPUT:
		{
			liq_value v;
			bool	  raw;
			if (eval_fexpr(rs, &n->u.out.fe, &v, &raw) < 0)
				return -1;
			return emit_value(rs, v, raw);
		}
		case N_IF:
		{
			const liq_branch *b;
			bool			  first = true;
			for (b = n->u.iff.branches; b; b = b->next, first = false)
			{
				bool ok = true;
				if (b->cond)
				{
					if (eval_cond(rs, b->cond, &ok) < 0)
						return -1;
					if (first && n->u.iff.negate_first)
						ok = !ok;
				}
				if (ok)
					return render_nodes(rs, &b->body);
			}
			return 0;
		}
		case N_CASE:
		{
			liq_value		  subj;
			const liq_branch *b;
			bool			  matched = false;
			if (eval_expr(rs, n->u.cas.subject, &subj) < 0)
				return -1;
			for (b = n->u.cas.branches; b; b = b->next)
			{
				uint32_t i;
				bool	 hit = false;
				if (!b->vals)
				{
					if (!matched && render_nodes(rs, &b->body) < 0)
						return -1;
					continue;
				}
				/* every matching value renders the block (Liquid semantics) */
				for (i = 0; i < b->nvals; i++)
				{
					liq_value w;
					if (eval_expr(rs, b->vals[i], &w) < 0)
						return -1;
					hit = equals(w, subj);
					if (hit)
					{
						matched = true;
						if (render_nodes(rs, &b->body) < 0)
							return -1;
					}
					if (rs->interrupt)
						return 0;
				}
			}
			return 0;
		}
		case N_FOR:
			return render_for(rs, n);
		case N_TABLEROW:
			return render_tablerow(rs, n);
		case N_ASSIGN:
		{
			liq_value v;
			if (eval_fexpr(rs, &n->u.assign.fe, &v, NULL) < 0)
				return -1;
			return set_global(rs, n->u.assign.name, n->u.assign.hash, v);
		}
		case N_CAPTURE:
			return render_capture(rs, n);
		case N_INCREMENT:
		case N_DECREMENT:
			return render_counter(rs, n);
		case N_CYCLE:
		{
			liq_value	   key, v;
			liq_cycle_reg *c;
			if (n->u.cycle.group)
			{
				if (eval_expr(rs, n->u.cycle.group, &key) < 0)
					return -1;
			}
			else
			{
				key = n->u.cycle.key;
			}
			c = cycle_reg(rs, key);
			if (!c)
				return liq_rs_check_mem(rs);
			v = liq_nil(); /* a shorter list than the counter renders nothing */
			if (c->it < (int64_t) n->u.cycle.nvals && eval_expr(rs, n->u.cycle.vals[c->it], &v) < 0)
				return -1;
			c->it++;
			if (c->it >= (int64_t) n->u.cycle.nvals)
				c->it = 0;
			return emit_value(rs, norm_arg(v), false);
		}
		case N_BREAK:
			rs->interrupt = 1;
			return 0;
		case N_CONTINUE:
			rs->interrupt = 2;
			return 0;
		case N_IFCHANGED:
		{
			liq_buf	  b, *saved = rs->out;
			liq_value s;
			int		  rc;
			liq_buf_init(&b, rs->ar, rs->max_output);
			rs->out = &b;
			rc = render_nodes(rs, &n->u.block.body);
			rs->out = saved;
			if (rc < 0 || check_buf(rs, &b) < 0)
				return -1;
			s = liq_str(b.data ? b.data : "", b.len);
			if (!rs->have_ifchanged || !liq_equal(s, rs->ifchanged))
			{
				rs->have_ifchanged = true;
				rs->ifchanged = s;
				liq_buf_put(rs->out, s.u.s, s.len);
				return check_buf(rs, rs->out);
			}
			return 0;
		}
		case N_INCLUDE:
		case N_RENDER:
			return render_partial(rs, n);
		case N_BLOCK:
			return render_nodes(rs, &n->u.block.body);
	}
	return 0;
}

/* Render a list of nodes, stopping at break/continue. */
static int
render_nodes(liq_rs *rs, const liq_body *body)
{
	const liq_node *n;
	if (++rs->depth > rs->opts->max_depth)
	{
		rs->depth--;
		return liq_rs_fail(rs, LIQ_ERR_LIMIT, "Nesting too deep (max %d)", rs->opts->max_depth);
	}
	for (n = body->first; n; n = n->next)
	{
		if (render_node(rs, n) < 0)
		{
			rs->depth--;
			return -1;
		}
		if (rs->interrupt)
			break;
	}
	rs->depth--;
	return 0;
}

/* Render a whole template body into rs->out. */
int
liq_render_body(liq_rs *rs, const liq_body *body)
{
	int rc;
	rs->depth = -1; /* the template's own body is level 0: max_depth counts nested blocks */
	rc = render_nodes(rs, body);
	rs->interrupt = 0;
	return rc;
}
