/*
 * parser.c - Liquid parser: template tokens -> AST, compiled once.
 * Owns: the grammar of every supported tag, strict expression parsing
 * (paths, literals, ranges, filters with positional and keyword
 * arguments), right-associative and/or conditions, whitespace control and
 * Liquid's removal of whitespace from blank block bodies.
 */
#include "parser.h"
#include "lexer.h"
#include "error.h"
#include "value.h"
#include "number.h"
#include "filters.h"
#include "buf.h"
#include <string.h>

typedef struct parser
{
	liq_arena  *ar;
	const char *src;
	size_t		len;
	liq_error  *err;
	int			depth, max_depth; /* block nesting (the template's body is 0) */
	int			edepth;			  /* nesting inside one expression, same limit */
	/* expression token cursor */
	liq_etok *toks;
	int		  ntoks, pos;
	size_t	  tok_base; /* source offset of the markup being parsed */
	liq_etok *scratch;	/* reusable token buffer */
	int		  scratch_cap;
	/* whitespace control */
	liq_node *last_text;
	bool	  strip_next;
} parser;

static int		 parse_body(parser *P, liq_lexer *lx, liq_body *body, const char *const *ends, int nends,
							liq_token *endtok, const char *owner);
static liq_expr *parse_expr(parser *P);

/* Report a syntax error at source offset off. */
#define SYNERR(P, off, ...) liq_set_error((P)->err, LIQ_ERR_SYNTAX, (P)->src, (P)->len, (off), __VA_ARGS__)

/* Report out-of-memory at offset off; returns -1. */
static int
oom(parser *P, size_t off)
{
	liq_set_error(P->err, LIQ_ERR_LIMIT, P->src, P->len, off, "Memory limit exceeded while compiling");
	return -1;
}

/* Allocate a zeroed object in the compile arena. */
static void *
palloc0(parser *P, size_t n)
{
	void *p = liq_arena_calloc(P->ar, 1, n);
	if (!p)
		oom(P, 0);
	return p;
}

/* Source offset of a pointer into the source. */
static size_t
offs(parser *P, const char *p)
{
	if (p >= P->src && p <= P->src + P->len)
		return (size_t) (p - P->src);
	return P->tok_base;
}

/* Does the token text equal the NUL-terminated word w? */
static bool
word_eq(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && memcmp(s, w, n) == 0;
}

/* Grow an arena array that gains one element at a time: capacity doubles
 * whenever n is 0 or a power of two, so appends stay amortised O(1). */
static void *
grow1(parser *P, void *old, size_t n, size_t size)
{
	void *p;
	if (n && (n & (n - 1)) != 0)
		return old;
	p = liq_arena_grow(P->ar, old, n, n ? n * 2 : 1, size);
	if (!p)
		oom(P, P->tok_base);
	return p;
}

/* ------------------------------------------------------------------ */
/* expression tokens                                                   */
/* ------------------------------------------------------------------ */

/* Tokenize markup for expression parsing; returns -1 on error. */
static int
begin_markup(parser *P, const char *m, size_t n)
{
	const char *bad = NULL;
	int			need, k;
	/* count first so the token buffer is exactly as large as needed */
	need = liq_etokenize(m, n, NULL, 0, &bad);
	if (need < 0)
	{
		SYNERR(P, offs(P, bad), "Unexpected character %c in \"%.*s\"", bad && bad < m + n ? *bad : '?',
			   (int) (n > 120 ? 120 : n), m);
		return -1;
	}
	if (need > P->scratch_cap)
	{
		int cap = P->scratch_cap ? P->scratch_cap : 64;
		while (cap < need)
			cap *= 2;
		P->scratch = liq_arena_alloc(P->ar, (size_t) cap * sizeof(liq_etok));
		if (!P->scratch)
			return oom(P, offs(P, m));
		P->scratch_cap = cap;
	}
	k = liq_etokenize(m, n, P->scratch, P->scratch_cap, &bad);
	P->tok_base = offs(P, m);
	if (k < 0)
	{
		SYNERR(P, offs(P, bad), "Unexpected character %c in \"%.*s\"", bad && bad < m + n ? *bad : '?',
			   (int) (n > 120 ? 120 : n), m);
		return -1;
	}
	P->toks = P->scratch;
	P->ntoks = k;
	P->pos = 0;
	return 0;
}

/* Current token. */
static liq_etok *
cur(parser *P)
{
	return &P->toks[P->pos];
}

/* Token at lookahead i. */
static liq_etok *
peek(parser *P, int i)
{
	int k = P->pos + i;
	return &P->toks[k < P->ntoks ? k : P->ntoks - 1];
}

/* Consume a token of kind k if present. */
static bool
accept(parser *P, liq_etok_kind k)
{
	if (cur(P)->kind == k)
	{
		if (k != ET_EOS)
			P->pos++;
		return true;
	}
	return false;
}

/* Consume the identifier w if present. */
static bool
accept_id(parser *P, const char *w)
{
	if (cur(P)->kind == ET_ID && word_eq(cur(P)->s, cur(P)->len, w))
	{
		P->pos++;
		return true;
	}
	return false;
}

/* Human-readable token kind for messages. */
static const char *
etok_name(liq_etok_kind k)
{
	static const char *names[] = {"end_of_string", "id", "string", "number", "comparison", "dotdot", "dot",
								  "colon", "comma", "pipe", "open_square", "close_square", "open_round",
								  "close_round", "question", "dash", "unknown"};
	return names[k];
}

/* Require a token of kind k; error otherwise. */
static bool
expect(parser *P, liq_etok_kind k)
{
	if (accept(P, k))
		return true;
	SYNERR(P, offs(P, cur(P)->s), "Expected %s but found %s", etok_name(k), etok_name(cur(P)->kind));
	return false;
}

/* ------------------------------------------------------------------ */
/* expressions                                                         */
/* ------------------------------------------------------------------ */

/* Literal expression node. */
static liq_expr *
lit_expr(parser *P, liq_value v, size_t off)
{
	liq_expr *e = palloc0(P, sizeof *e);
	if (!e)
		return NULL;
	e->kind = EX_LIT;
	e->lit = v;
	e->off = (uint32_t) off;
	return e;
}

/* Append a path segment to a variable expression. */
static bool
add_seg(parser *P, liq_expr *e, liq_seg s)
{
	liq_seg *n = grow1(P, e->segs, e->nsegs, sizeof *n);
	if (!n)
		return false;
	n[e->nsegs++] = s;
	e->segs = n;
	return true;
}

/* Segment for a [bracket] expression: literal keys are resolved now. */
static liq_seg
bracket_seg(liq_expr *inner)
{
	liq_seg s;
	memset(&s, 0, sizeof s);
	if (inner->kind == EX_LIT && inner->lit.type == LIQ_STRING)
	{
		s.kind = SEG_NAME;
		s.lit = inner->lit;
		s.hash = liq_hash(inner->lit.u.s, inner->lit.len);
	}
	else if (inner->kind == EX_LIT)
	{
		s.kind = SEG_LIT;
		s.lit = inner->lit;
	}
	else
	{
		s.kind = SEG_EXPR;
		s.expr = inner;
	}
	return s;
}

/* Parse .name and [expr] lookups after a root. */
static bool
parse_lookups(parser *P, liq_expr *e)
{
	for (;;)
	{
		if (accept(P, ET_LBRACK))
		{
			liq_expr *inner = parse_expr(P);
			if (!inner || !expect(P, ET_RBRACK))
				return false;
			if (!add_seg(P, e, bracket_seg(inner)))
				return false;
		}
		else if (cur(P)->kind == ET_DOT)
		{
			liq_seg s;
			P->pos++;
			if (cur(P)->kind != ET_ID)
			{
				SYNERR(P, offs(P, cur(P)->s), "Expected id but found %s", etok_name(cur(P)->kind));
				return false;
			}
			memset(&s, 0, sizeof s);
			s.kind = SEG_NAME;
			s.dot = true;
			s.lit = liq_str(cur(P)->s, cur(P)->len);
			s.hash = liq_hash(cur(P)->s, cur(P)->len);
			P->pos++;
			if (!add_seg(P, e, s))
				return false;
		}
		else
		{
			return true;
		}
	}
}

/* Parse one expression: literal, range or variable path. */
static liq_expr *
parse_expr(parser *P)
{
	liq_etok *t = cur(P);
	size_t	  off = offs(P, t->s);
	liq_expr *e;
	if (++P->edepth > P->max_depth)
	{
		liq_set_error(P->err, LIQ_ERR_LIMIT, P->src, P->len, off, "Expression nesting too deep (max %d)", P->max_depth);
		return NULL;
	}
	switch (t->kind)
	{
		case ET_STRING:
			P->pos++;
			e = lit_expr(P, liq_str(t->s, t->len), off);
			break;
		case ET_NUMBER:
		{
			liq_value v;
			P->pos++;
			if (!liq_parse_number_literal(t->s, t->len, &v))
			{
				SYNERR(P, off, "Invalid number %.*s", (int) (t->len > 60 ? 60 : t->len), t->s);
				return NULL;
			}
			e = lit_expr(P, v, off);
			break;
		}
		case ET_LPAREN:
		{
			liq_expr *lo, *hi;
			P->pos++;
			lo = parse_expr(P);
			if (!lo || !expect(P, ET_DOTDOT))
				return NULL;
			hi = parse_expr(P);
			if (!hi || !expect(P, ET_RPAREN))
				return NULL;
			e = palloc0(P, sizeof *e);
			if (!e)
				return NULL;
			e->kind = EX_RANGE;
			e->lo = lo;
			e->hi = hi;
			e->off = (uint32_t) off;
			break;
		}
		case ET_ID:
		{
			liq_seg s;
			P->pos++;
			if (cur(P)->kind != ET_DOT && cur(P)->kind != ET_LBRACK)
			{
				if (word_eq(t->s, t->len, "nil") || word_eq(t->s, t->len, "null"))
				{
					e = lit_expr(P, liq_nil(), off);
					break;
				}
				if (word_eq(t->s, t->len, "true") || word_eq(t->s, t->len, "false"))
				{
					e = lit_expr(P, liq_bool(t->s[0] == 't'), off);
					break;
				}
				if (word_eq(t->s, t->len, "empty") || word_eq(t->s, t->len, "blank"))
				{
					liq_value v = liq_nil();
					v.type = t->s[0] == 'e' ? LIQ_EMPTY : LIQ_BLANK;
					e = lit_expr(P, v, off);
					break;
				}
			}
			e = palloc0(P, sizeof *e);
			if (!e)
				return NULL;
			e->kind = EX_VAR;
			e->off = (uint32_t) off;
			memset(&s, 0, sizeof s);
			s.kind = SEG_NAME;
			s.lit = liq_str(t->s, t->len);
			s.hash = liq_hash(t->s, t->len);
			if (!add_seg(P, e, s) || !parse_lookups(P, e))
				return NULL;
			break;
		}
		case ET_LBRACK:
		{
			liq_expr *inner;
			P->pos++;
			inner = parse_expr(P);
			if (!inner || !expect(P, ET_RBRACK))
				return NULL;
			e = palloc0(P, sizeof *e);
			if (!e)
				return NULL;
			e->kind = EX_VAR;
			e->off = (uint32_t) off;
			if (!add_seg(P, e, bracket_seg(inner)) || !parse_lookups(P, e))
				return NULL;
			break;
		}
		default:
			SYNERR(P, off, "%s is not a valid expression", t->kind == ET_EOS ? "end of markup" : etok_name(t->kind));
			return NULL;
	}
	P->edepth--;
	return e;
}

/* Parse filters `| name: args` after a base expression into fe. */
static bool
parse_filters(parser *P, liq_fexpr *fe)
{
	while (accept(P, ET_PIPE))
	{
		liq_filter_call	 fc;
		liq_filter_call *nf;
		liq_etok		*t = cur(P);
		memset(&fc, 0, sizeof fc);
		if (t->kind != ET_ID)
		{
			SYNERR(P, offs(P, t->s), "Expected id but found %s", etok_name(t->kind));
			return false;
		}
		fc.name = t->s;
		fc.nlen = (uint32_t) t->len;
		fc.off = (uint32_t) offs(P, t->s);
		fc.def = liq_filter_lookup(t->s, t->len);
		P->pos++;
		if (accept(P, ET_COLON))
		{
			do
			{
				if (cur(P)->kind == ET_ID && peek(P, 1)->kind == ET_COLON)
				{
					liq_etok *k = cur(P);
					liq_expr *v;
					P->pos += 2;
					v = parse_expr(P);
					if (!v)
						return false;
					fc.kwnames = grow1(P, fc.kwnames, fc.nkw, sizeof(liq_value));
					fc.kwvals = grow1(P, fc.kwvals, fc.nkw, sizeof(liq_expr *));
					if (!fc.kwnames || !fc.kwvals || fc.nkw == UINT16_MAX)
						return oom(P, fc.off), false;
					fc.kwnames[fc.nkw] = liq_str(k->s, k->len);
					fc.kwvals[fc.nkw++] = v;
				}
				else
				{
					liq_expr *v = parse_expr(P);
					if (!v)
						return false;
					fc.args = grow1(P, fc.args, fc.nargs, sizeof(liq_expr *));
					if (!fc.args || fc.nargs == UINT16_MAX)
						return oom(P, fc.off), false;
					fc.args[fc.nargs++] = v;
				}
			} while (accept(P, ET_COMMA));
		}
		nf = grow1(P, fe->filters, fe->nfilters, sizeof *nf);
		if (!nf)
			return oom(P, fc.off), false;
		nf[fe->nfilters++] = fc;
		fe->filters = nf;
	}
	return true;
}

/* Parse `expr | filters` filling the whole markup. */
static bool
parse_fexpr(parser *P, const char *m, size_t n, liq_fexpr *fe)
{
	memset(fe, 0, sizeof *fe);
	if (begin_markup(P, m, n) < 0)
		return false;
	if (cur(P)->kind == ET_EOS)
		return true;
	fe->base = parse_expr(P);
	if (!fe->base || !parse_filters(P, fe))
		return false;
	if (cur(P)->kind != ET_EOS)
	{
		SYNERR(P, offs(P, cur(P)->s), "Expected end_of_string but found %s in \"%.*s\"", etok_name(cur(P)->kind),
			   (int) (n > 120 ? 120 : n), m);
		return false;
	}
	return true;
}

/* Parse a condition chain `a == b and c or d`. */
static liq_cond *
parse_condition(parser *P, const char *m, size_t n)
{
	liq_cond *first = NULL, *prev = NULL;
	if (begin_markup(P, m, n) < 0)
		return NULL;
	for (;;)
	{
		liq_cond *c = palloc0(P, sizeof *c);
		if (!c)
			return NULL;
		c->l = parse_expr(P);
		if (!c->l)
			return NULL;
		if (cur(P)->kind == ET_CMP)
		{
			liq_etok *t = cur(P);
			if (word_eq(t->s, t->len, "=="))
				c->op = OP_EQ;
			else if (word_eq(t->s, t->len, "!=") || word_eq(t->s, t->len, "<>"))
				c->op = OP_NE;
			else if (word_eq(t->s, t->len, "<"))
				c->op = OP_LT;
			else if (word_eq(t->s, t->len, ">"))
				c->op = OP_GT;
			else if (word_eq(t->s, t->len, "<="))
				c->op = OP_LE;
			else if (word_eq(t->s, t->len, ">="))
				c->op = OP_GE;
			else
				c->op = OP_CONTAINS;
			P->pos++;
			c->r = parse_expr(P);
			if (!c->r)
				return NULL;
		}
		if (prev)
			prev->next = c;
		else
			first = c;
		prev = c;
		if (accept_id(P, "and"))
			c->rel = REL_AND;
		else if (accept_id(P, "or"))
			c->rel = REL_OR;
		else
			break;
	}
	if (cur(P)->kind != ET_EOS)
	{
		SYNERR(P, offs(P, cur(P)->s), "Expected end_of_string but found %s in \"%.*s\"", etok_name(cur(P)->kind),
			   (int) (n > 120 ? 120 : n), m);
		return NULL;
	}
	return first;
}

/* ------------------------------------------------------------------ */
/* bodies                                                              */
/* ------------------------------------------------------------------ */

/* New node of the given kind at offset off. */
static liq_node *
new_node(parser *P, liq_node_kind k, size_t off)
{
	liq_node *n = palloc0(P, sizeof *n);
	if (!n)
		return NULL;
	n->kind = (uint8_t) k;
	n->off = (uint32_t) off;
	return n;
}

/* Append a node to a body. */
static void
body_add(liq_body *b, liq_node *n)
{
	if (b->last)
		b->last->next = n;
	else
		b->first = n;
	b->last = n;
}

/* Is every byte whitespace? */
static bool
all_space(const char *s, size_t n)
{
	size_t i;
	for (i = 0; i < n; i++)
		if (!liq_is_space(s[i]))
			return false;
	return true;
}

/* Liquid blank?: whitespace-only text and blank tags. */
static bool
node_blank(const liq_node *n)
{
	switch (n->kind)
	{
		case N_TEXT:
			return all_space(n->u.text.s, n->u.text.len);
		case N_ASSIGN:
		case N_CAPTURE:
			return true;
		case N_IF:
		{
			const liq_branch *b;
			for (b = n->u.iff.branches; b; b = b->next)
				if (!b->body.blank)
					return false;
			return true;
		}
		case N_CASE:
		{
			const liq_branch *b;
			for (b = n->u.cas.branches; b; b = b->next)
				if (!b->body.blank)
					return false;
			return true;
		}
		case N_FOR:
			return n->u.loop.body.blank && n->u.loop.els.blank;
		case N_TABLEROW:
			return n->u.loop.body.blank;
		case N_IFCHANGED:
		case N_BLOCK:
			return n->u.block.body.blank;
		default:
			return false;
	}
}

/* Compute body->blank. */
static void
body_finish(liq_body *b)
{
	const liq_node *n;
	b->blank = true;
	for (n = b->first; n; n = n->next)
		if (!node_blank(n))
		{
			b->blank = false;
			return;
		}
}

/* Drop text nodes from a blank body (Liquid's remove_blank_strings). */
static void
body_strip(liq_body *b)
{
	liq_node **pp = &b->first, *last = NULL;
	while (*pp)
	{
		if ((*pp)->kind == N_TEXT)
		{
			*pp = (*pp)->next;
		}
		else
		{
			last = *pp;
			pp = &(*pp)->next;
		}
	}
	b->last = last;
}

/* Is the tag name one of ends[]? */
static bool
is_end(const liq_token *t, const char *const *ends, int nends)
{
	int i;
	for (i = 0; i < nends; i++)
		if (word_eq(t->name, t->nlen, ends[i]))
			return true;
	return false;
}

/* Skip tokens up to the matching {% endcomment %} (nesting aware). */
static int
parse_comment(parser *P, liq_lexer *lx, size_t off)
{
	int		  level = 1;
	liq_token t;
	for (;;)
	{
		liq_lex_next(lx, &t);
		if (t.kind == TK_ERROR)
		{
			SYNERR(P, t.off, "%s", t.errmsg);
			return -1;
		}
		if (t.kind == TK_EOF)
		{
			SYNERR(P, off, "'comment' tag was never closed");
			return -1;
		}
		if (t.kind != TK_TAG)
			continue;
		if (word_eq(t.name, t.nlen, "comment"))
			level++;
		else if (word_eq(t.name, t.nlen, "endcomment"))
		{
			if (--level == 0)
			{
				P->strip_next = t.rstrip;
				return 0;
			}
		}
		else if (word_eq(t.name, t.nlen, "raw") && !lx->liquid_mode)
		{
			liq_lex_raw(lx, "raw", 3);
			liq_lex_next(lx, &t);
			if (t.kind == TK_ERROR)
			{
				SYNERR(P, t.off, "'raw' tag was never closed");
				return -1;
			}
			liq_lex_next(lx, &t); /* the endraw tag */
		}
	}
}

/* Parse a raw or doc body: verbatim text up to the end tag. */
static int
parse_verbatim(parser *P, liq_lexer *lx, const char *name, size_t nlen, size_t off, liq_token *text)
{
	liq_token end;
	liq_lex_raw(lx, name, nlen);
	liq_lex_next(lx, text);
	if (text->kind != TK_TEXT)
	{
		SYNERR(P, off, "'%s' tag was never closed", name);
		return -1;
	}
	liq_lex_next(lx, &end);
	P->strip_next = end.rstrip;
	P->last_text = NULL;
	return 0;
}

/* Parse the name of an assign/capture/counter target. */
static bool
parse_target(parser *P, const char *m, size_t n, size_t off, bool quotes_ok, liq_value *name,
			 uint32_t *hash)
{
	size_t i = 0;
	while (i < n && liq_is_space(m[i]))
		i++;
	if (quotes_ok && i < n && (m[i] == '\'' || m[i] == '"'))
	{
		const char *q = memchr(m + i + 1, m[i], n - i - 1);
		if (q)
		{
			*name = liq_str(m + i + 1, (size_t) (q - m - i - 1));
			*hash = liq_hash(name->u.s, name->len);
			return true;
		}
	}
	{
		size_t st = i;
		while (i < n && (liq_is_word(m[i]) || m[i] == '-' || m[i] == '.' || m[i] == '[' || m[i] == ']'))
			i++;
		if (i == st || m[st] == '-')
		{
			SYNERR(P, off, "Invalid variable name in \"%.*s\"", (int) (n > 80 ? 80 : n), m);
			return false;
		}
		*name = liq_str(m + st, i - st);
		*hash = liq_hash(m + st, i - st);
	}
	return true;
}

/* {% assign name = expr | filters %} */
static liq_node *
parse_assign(parser *P, const liq_token *t)
{
	const char *m = t->markup, *eq;
	size_t		n = t->mlen, i;
	liq_node   *node = new_node(P, N_ASSIGN, t->off);
	if (!node)
		return NULL;
	eq = memchr(m, '=', n);
	if (!eq)
	{
		SYNERR(P, t->off, "Syntax Error in 'assign' - Valid syntax: assign [var] = [source]");
		return NULL;
	}
	for (i = 0; m + i < eq; i++)
		if (!(liq_is_word(m[i]) || m[i] == '-' || m[i] == '.' || m[i] == '[' || m[i] == ']' || liq_is_space(m[i])))
		{
			SYNERR(P, t->off, "Syntax Error in 'assign' - Valid syntax: assign [var] = [source]");
			return NULL;
		}
	if (!parse_target(P, m, (size_t) (eq - m), t->off, false, &node->u.assign.name, &node->u.assign.hash))
		return NULL;
	{
		/* nothing but spaces between the name and '=' */
		const char *p = node->u.assign.name.u.s + node->u.assign.name.len;
		while (p < eq && liq_is_space(*p))
			p++;
		if (p != eq)
		{
			SYNERR(P, t->off, "Syntax Error in 'assign' - Valid syntax: assign [var] = [source]");
			return NULL;
		}
	}
	if (!parse_fexpr(P, eq + 1, n - (size_t) (eq + 1 - m), &node->u.assign.fe))
		return NULL;
	if (!node->u.assign.fe.base)
	{
		SYNERR(P, t->off, "Syntax Error in 'assign' - Valid syntax: assign [var] = [source]");
		return NULL;
	}
	return node;
}

/* Parse an if/unless tag including its branches. */
static liq_node *
parse_if(parser *P, liq_lexer *lx, const liq_token *t, bool unless)
{
	static const char *const if_ends[] = {"elsif", "else", "endif"};
	static const char *const unless_ends[] = {"elsif", "else", "endunless"};
	const char *const		*ends = unless ? unless_ends : if_ends;
	const char				*endname = unless ? "endunless" : "endif";
	liq_node				*node = new_node(P, N_IF, t->off);
	liq_branch				*br, *last = NULL;
	liq_token				 et;
	bool					 seen_else = false, blank = true;
	if (!node)
		return NULL;
	node->u.iff.negate_first = unless;
	br = palloc0(P, sizeof *br);
	if (!br || !(br->cond = parse_condition(P, t->markup, t->mlen)))
		return NULL;
	for (;;)
	{
		if (parse_body(P, lx, &br->body, ends, 3, &et, unless ? "unless" : "if") < 0)
			return NULL;
		blank = blank && br->body.blank;
		if (!seen_else)
		{
			/* branches after the first else are parsed but never rendered */
			if (last)
				last->next = br;
			else
				node->u.iff.branches = br;
			last = br;
			seen_else = br->cond == NULL;
		}
		if (word_eq(et.name, et.nlen, endname))
			break;
		br = palloc0(P, sizeof *br);
		if (!br)
			return NULL;
		if (word_eq(et.name, et.nlen, "elsif") && !(br->cond = parse_condition(P, et.markup, et.mlen)))
			return NULL;
	}
	if (blank)
		for (br = node->u.iff.branches; br; br = br->next)
			body_strip(&br->body);
	return node;
}

/* Parse the comma/or separated values of a {% when %}. */
static bool
parse_when(parser *P, liq_branch *br, const liq_token *t)
{
	const char *bad = NULL;
	size_t		n = t->mlen;
	/* Liquid 5 reads each value as a quoted fragment and ignores what follows the last one
	 * (`when "foo"=>bar`): tokenize only up to a character expressions do not use */
	if (liq_etokenize(t->markup, n, NULL, 0, &bad) < 0 && bad && bad > t->markup && bad < t->markup + n)
		n = (size_t) (bad - t->markup);
	if (begin_markup(P, t->markup, n) < 0)
		return false;
	if (cur(P)->kind == ET_EOS)
	{
		SYNERR(P, t->off, "Syntax Error in tag 'case' - Valid when condition: {%% when [condition] [or condition2...] %%}");
		return false;
	}
	do
	{
		liq_expr  *e = parse_expr(P);
		liq_expr **nv;
		if (!e)
			return false;
		nv = grow1(P, br->vals, br->nvals, sizeof *nv);
		if (!nv)
			return oom(P, t->off), false;
		nv[br->nvals++] = e;
		br->vals = nv;
	} while (accept(P, ET_COMMA) || accept_id(P, "or"));
	return true;
}

/* Parse a case tag with its when/else branches. */
static liq_node *
parse_case(parser *P, liq_lexer *lx, const liq_token *t)
{
	static const char *const ends[] = {"when", "else", "endcase"};
	liq_node				*node = new_node(P, N_CASE, t->off);
	liq_branch				*last = NULL, *br;
	liq_body				 junk;
	liq_token				 et;
	bool					 blank = true;
	if (!node)
		return NULL;
	if (begin_markup(P, t->markup, t->mlen) < 0 || !(node->u.cas.subject = parse_expr(P)))
		return NULL;
	if (cur(P)->kind != ET_EOS)
	{
		SYNERR(P, t->off, "Syntax Error in tag 'case' - Valid syntax: case [condition]");
		return NULL;
	}
	memset(&junk, 0, sizeof junk);
	if (parse_body(P, lx, &junk, ends, 3, &et, "case") < 0)
		return NULL;
	while (!word_eq(et.name, et.nlen, "endcase"))
	{
		br = palloc0(P, sizeof *br);
		if (!br)
			return NULL;
		if (word_eq(et.name, et.nlen, "when"))
		{
			if (!parse_when(P, br, &et))
				return NULL;
		}
		if (parse_body(P, lx, &br->body, ends, 3, &et, "case") < 0)
			return NULL;
		blank = blank && br->body.blank;
		if (last)
			last->next = br;
		else
			node->u.cas.branches = br;
		last = br;
	}
	if (blank)
		for (br = node->u.cas.branches; br; br = br->next)
			body_strip(&br->body);
	return node;
}

/* Parse for/tablerow markup: `var in collection reversed limit: n offset: n cols: n`. */
static bool
parse_loop_head(parser *P, liq_node *node, const liq_token *t, bool tablerow)
{
	liq_etok *v;
	int		  cstart_pos;
	if (begin_markup(P, t->markup, t->mlen) < 0)
		return false;
	v = cur(P);
	if (v->kind != ET_ID)
	{
		SYNERR(P, t->off, "Syntax Error in 'for loop' - Valid syntax: for [item] in [collection]");
		return false;
	}
	node->u.loop.var = liq_str(v->s, v->len);
	node->u.loop.var_hash = liq_hash(v->s, v->len);
	P->pos++;
	if (!accept_id(P, "in"))
	{
		SYNERR(P, t->off, "For loops require an 'in' clause");
		return false;
	}
	cstart_pos = P->pos;
	if (!(node->u.loop.coll = parse_expr(P)))
		return false;
	{
		/* forloop.name / offset:continue key: "var-" + collection tokens */
		liq_buf kb;
		int		i;
		liq_buf_init(&kb, P->ar, 0);
		liq_buf_put(&kb, v->s, v->len);
		liq_buf_putc(&kb, '-');
		for (i = cstart_pos; i < P->pos; i++)
		{
			liq_etok *k = &P->toks[i];
			if (k->kind == ET_STRING)
				liq_buf_put(&kb, k->s - 1, k->len + 2);
			else
				liq_buf_put(&kb, k->s, k->len);
		}
		if (kb.failed)
			return oom(P, t->off), false;
		node->u.loop.loop_key = liq_str(kb.data, kb.len);
	}
	if (accept_id(P, "reversed"))
		node->u.loop.reversed = true;
	while (cur(P)->kind == ET_COMMA || cur(P)->kind == ET_ID)
	{
		liq_etok *a;
		accept(P, ET_COMMA);
		a = cur(P);
		if (a->kind == ET_EOS)
			break; /* trailing comma */
		if (a->kind == ET_ID && tablerow && word_eq(a->s, a->len, "reversed"))
		{
			P->pos++;
			continue;
		}
		if (tablerow && a->kind == ET_ID && !(word_eq(a->s, a->len, "limit") || word_eq(a->s, a->len, "offset") || word_eq(a->s, a->len, "cols")))
		{
			/* Ruby's tablerow scans key: value attributes and ignores the ones it does not know */
			P->pos++;
			if (!expect(P, ET_COLON) || !parse_expr(P))
				return false;
			continue;
		}
		if (a->kind != ET_ID || !(word_eq(a->s, a->len, "limit") || word_eq(a->s, a->len, "offset") ||
								  (tablerow && word_eq(a->s, a->len, "cols"))))
		{
			SYNERR(P, offs(P, a->s), "Invalid attribute in for loop. Valid attributes are limit and offset");
			return false;
		}
		P->pos++;
		if (!expect(P, ET_COLON))
			return false;
		if (word_eq(a->s, a->len, "offset") && cur(P)->kind == ET_ID &&
			word_eq(cur(P)->s, cur(P)->len, "continue") && peek(P, 1)->kind != ET_DOT &&
			peek(P, 1)->kind != ET_LBRACK)
		{
			P->pos++;
			node->u.loop.offset_continue = true;
			node->u.loop.offset = NULL;
			continue;
		}
		{
			liq_expr *e = parse_expr(P);
			if (!e)
				return false;
			if (a->s[0] == 'l')
				node->u.loop.limit = e;
			else if (a->s[0] == 'o')
			{
				node->u.loop.offset = e;
				node->u.loop.offset_continue = false;
			}
			else
				node->u.loop.cols = e;
		}
	}
	if (cur(P)->kind != ET_EOS)
	{
		SYNERR(P, offs(P, cur(P)->s), "Expected end_of_string but found %s", etok_name(cur(P)->kind));
		return false;
	}
	return true;
}

/* Parse a for loop (with optional else). */
static liq_node *
parse_for(parser *P, liq_lexer *lx, const liq_token *t)
{
	static const char *const ends[] = {"else", "endfor"};
	static const char *const ends2[] = {"endfor"};
	liq_node				*node = new_node(P, N_FOR, t->off);
	liq_token				 et;
	if (!node || !parse_loop_head(P, node, t, false))
		return NULL;
	if (parse_body(P, lx, &node->u.loop.body, ends, 2, &et, "for") < 0)
		return NULL;
	if (word_eq(et.name, et.nlen, "else") && parse_body(P, lx, &node->u.loop.els, ends2, 1, &et, "for") < 0)
		return NULL;
	body_finish(&node->u.loop.els);
	if (node->u.loop.body.blank && node->u.loop.els.blank)
	{
		body_strip(&node->u.loop.body);
		body_strip(&node->u.loop.els);
	}
	return node;
}

/* Parse a tablerow loop. */
static liq_node *
parse_tablerow(parser *P, liq_lexer *lx, const liq_token *t)
{
	static const char *const ends[] = {"endtablerow"};
	liq_node				*node = new_node(P, N_TABLEROW, t->off);
	liq_token				 et;
	if (!node || !parse_loop_head(P, node, t, true))
		return NULL;
	if (parse_body(P, lx, &node->u.loop.body, ends, 1, &et, "tablerow") < 0)
		return NULL;
	return node;
}

/* Parse {% cycle [group:] v1, v2 %}. */
static liq_node *
parse_cycle(parser *P, const liq_token *t)
{
	liq_node *node = new_node(P, N_CYCLE, t->off);
	if (!node || begin_markup(P, t->markup, t->mlen) < 0)
		return NULL;
	if (cur(P)->kind == ET_EOS)
	{
		SYNERR(P, t->off, "Syntax Error in 'cycle' - Valid syntax: cycle [name :] var [, var2, var3 ...]");
		return NULL;
	}
	{
		int		  save = P->pos;
		liq_expr *g = parse_expr(P);
		if (!g)
			return NULL;
		if (accept(P, ET_COLON))
			node->u.cycle.group = g;
		else
			P->pos = save;
	}
	do
	{
		liq_expr  *e;
		liq_expr **nv;
		if (node->u.cycle.nvals > 0 && cur(P)->kind == ET_EOS)
			break; /* a trailing comma, as Liquid 5 accepts */
		e = parse_expr(P);
		if (!e)
			return NULL;
		nv = grow1(P, node->u.cycle.vals, node->u.cycle.nvals, sizeof *nv);
		if (!nv)
			return oom(P, t->off), NULL;
		nv[node->u.cycle.nvals++] = e;
		node->u.cycle.vals = nv;
	} while (accept(P, ET_COMMA));
	if (cur(P)->kind != ET_EOS)
	{
		SYNERR(P, offs(P, cur(P)->s), "Expected end_of_string but found %s", etok_name(cur(P)->kind));
		return NULL;
	}
	if (!node->u.cycle.group)
	{
		/* unnamed cycles share a counter when their literal values are the same (Ruby keys them by
		 * the inspected value list); a list with a variable is keyed by the tag itself, as Ruby's
		 * key then holds the object's identity */
		liq_buf kb;
		int		i;
		bool	literal = true;
		liq_buf_init(&kb, P->ar, 0);
		liq_buf_putc(&kb, '\x01');
		for (i = 0; i < (int) node->u.cycle.nvals && literal; i++)
		{
			literal = node->u.cycle.vals[i]->kind == EX_LIT;
			if (literal)
			{
				liq_inspect(&kb, node->u.cycle.vals[i]->lit);
				liq_buf_putc(&kb, '\0');
			}
		}
		if (!literal)
		{
			kb.len = 0;
			liq_buf_putc(&kb, '\x02');
			liq_buf_put(&kb, (const char *) &node, sizeof node);
		}
		if (kb.failed)
			return oom(P, t->off), NULL;
		node->u.cycle.key = liq_str(kb.data, kb.len);
	}
	return node;
}

/* Parse {% include/render 'name' [with|for expr] [as alias] [, k: v ...] %}. */
static liq_node *
parse_partial(parser *P, const liq_token *t, bool render)
{
	liq_node   *node = new_node(P, render ? N_RENDER : N_INCLUDE, t->off);
	liq_param **tail;
	if (!node || begin_markup(P, t->markup, t->mlen) < 0)
		return NULL;
	if (render && cur(P)->kind != ET_STRING)
	{
		SYNERR(P, t->off, "Syntax error in tag 'render' - Template name must be a quoted string");
		return NULL;
	}
	if (!(node->u.partial.name = parse_expr(P)))
		return NULL;
	if (cur(P)->kind == ET_ID && (word_eq(cur(P)->s, cur(P)->len, "with") || word_eq(cur(P)->s, cur(P)->len, "for")) &&
		peek(P, 1)->kind != ET_COLON)
	{
		node->u.partial.is_for = cur(P)->s[0] == 'f';
		P->pos++;
		if (!(node->u.partial.with = parse_expr(P)))
			return NULL;
	}
	if (cur(P)->kind == ET_ID && word_eq(cur(P)->s, cur(P)->len, "as") && peek(P, 1)->kind == ET_ID)
	{
		node->u.partial.alias = liq_str(peek(P, 1)->s, peek(P, 1)->len);
		P->pos += 2;
	}
	tail = &node->u.partial.params;
	for (;;)
	{
		liq_param *pa;
		accept(P, ET_COMMA);
		if (cur(P)->kind == ET_EOS)
			break;
		if (cur(P)->kind != ET_ID || peek(P, 1)->kind != ET_COLON)
		{
			SYNERR(P, offs(P, cur(P)->s), "Expected end_of_string but found %s", etok_name(cur(P)->kind));
			return NULL;
		}
		pa = palloc0(P, sizeof *pa);
		if (!pa)
			return NULL;
		pa->name = liq_str(cur(P)->s, cur(P)->len);
		pa->hash = liq_hash(cur(P)->s, cur(P)->len);
		P->pos += 2;
		if (!(pa->val = parse_expr(P)))
			return NULL;
		*tail = pa;
		tail = &pa->next;
	}
	return node;
}

/* Validate an inline comment: every line must start with '#'. */
static bool
check_inline_comment(parser *P, const liq_token *t)
{
	const char *p = t->markup, *e = t->markup + t->mlen;
	for (; p < e; p++)
	{
		if (*p == '\n')
		{
			const char *q = p + 1;
			while (q < e && liq_is_space(*q))
				q++;
			if (q < e && *q != '#')
			{
				SYNERR(P, t->off, "Syntax error in tag '#' - Each line of comments must be prefixed by the '#' character");
				return false;
			}
		}
	}
	return true;
}

/* Parse the {% liquid %} tag: one tag per line. */
static liq_node *
parse_liquid_tag(parser *P, const liq_token *t)
{
	liq_lexer sub;
	liq_token et;
	liq_node *node = new_node(P, N_BLOCK, t->off);
	liq_node *save_text = P->last_text;
	bool	  save_strip = P->strip_next;
	if (!node)
		return NULL;
	liq_lex_init(&sub, P->src, t->markup, t->mlen, true);
	if (parse_body(P, &sub, &node->u.block.body, NULL, 0, &et, NULL) < 0)
		return NULL;
	P->last_text = save_text;
	P->strip_next = save_strip;
	return node;
}

/* Parse one tag token (not an end tag of the enclosing block). */
static int
parse_tag(parser *P, liq_lexer *lx, liq_token *t, liq_body *body)
{
	liq_node   *node = NULL;
	const char *nm = t->name;
	size_t		nl = t->nlen;
	if (word_eq(nm, nl, "if") || word_eq(nm, nl, "unless"))
	{
		node = parse_if(P, lx, t, nm[0] == 'u');
	}
	else if (word_eq(nm, nl, "for"))
	{
		node = parse_for(P, lx, t);
	}
	else if (word_eq(nm, nl, "assign"))
	{
		node = parse_assign(P, t);
	}
	else if (word_eq(nm, nl, "echo"))
	{
		node = new_node(P, N_OUTPUT, t->off);
		if (node && !parse_fexpr(P, t->markup, t->mlen, &node->u.out.fe))
			return -1;
	}
	else if (word_eq(nm, nl, "case"))
	{
		node = parse_case(P, lx, t);
	}
	else if (word_eq(nm, nl, "capture"))
	{
		static const char *const ends[] = {"endcapture"};
		liq_token				 et;
		node = new_node(P, N_CAPTURE, t->off);
		if (!node || !parse_target(P, t->markup, t->mlen, t->off, true, &node->u.capture.name, &node->u.capture.hash))
			return -1;
		if (parse_body(P, lx, &node->u.capture.body, ends, 1, &et, "capture") < 0)
			return -1;
	}
	else if (word_eq(nm, nl, "increment") || word_eq(nm, nl, "decrement"))
	{
		node = new_node(P, nm[0] == 'i' ? N_INCREMENT : N_DECREMENT, t->off);
		if (!node || !parse_target(P, t->markup, t->mlen, t->off, false, &node->u.counter.name, &node->u.counter.hash))
			return -1;
	}
	else if (word_eq(nm, nl, "cycle"))
	{
		node = parse_cycle(P, t);
	}
	else if (word_eq(nm, nl, "break") || word_eq(nm, nl, "continue"))
	{
		node = new_node(P, nm[0] == 'b' ? N_BREAK : N_CONTINUE, t->off);
	}
	else if (word_eq(nm, nl, "comment"))
	{
		return parse_comment(P, lx, t->off);
	}
	else if (word_eq(nm, nl, "#"))
	{
		return check_inline_comment(P, t) ? 0 : -1;
	}
	else if (word_eq(nm, nl, "raw"))
	{
		liq_token txt;
		if (lx->liquid_mode)
		{
			SYNERR(P, t->off, "raw is not supported inside a liquid tag");
			return -1;
		}
		if (parse_verbatim(P, lx, "raw", 3, t->off, &txt) < 0)
			return -1;
		node = new_node(P, N_TEXT, t->off);
		if (node)
		{
			node->u.text.s = txt.text;
			node->u.text.len = txt.len;
			if (txt.len == 0)
			{
				body_add(body, node);
				return 0;
			}
			/* non-empty raw is never blank: mark by wrapping in a block */
			{
				liq_node *blk = new_node(P, N_BLOCK, t->off);
				if (!blk)
					return -1;
				blk->u.block.body.first = blk->u.block.body.last = node;
				blk->u.block.body.blank = false;
				node = blk;
			}
		}
	}
	else if (word_eq(nm, nl, "doc"))
	{
		liq_token txt;
		if (t->mlen)
		{
			SYNERR(P, t->off, "Syntax Error in 'doc' - Valid syntax: {%% doc %%}...{%% enddoc %%}");
			return -1;
		}
		if (lx->liquid_mode)
		{
			SYNERR(P, t->off, "doc is not supported inside a liquid tag");
			return -1;
		}
		if (parse_verbatim(P, lx, "doc", 3, t->off, &txt) < 0)
			return -1;
		{
			liq_lexer chk;
			liq_token ct;
			/* nested docs are not allowed */
			const char *p;
			for (p = txt.text; p + 1 < txt.text + txt.len; p++)
			{
				if (p[0] == '{' && p[1] == '%')
				{
					liq_lex_init(&chk, P->src, p, (size_t) (txt.text + txt.len - p), false);
					liq_lex_next(&chk, &ct);
					if (ct.kind == TK_TAG && word_eq(ct.name, ct.nlen, "doc"))
					{
						SYNERR(P, ct.off, "Syntax Error in 'doc' - Nested doc tags are not allowed");
						return -1;
					}
				}
			}
		}
		return 0;
	}
	else if (word_eq(nm, nl, "ifchanged"))
	{
		static const char *const ends[] = {"endifchanged"};
		liq_token				 et;
		node = new_node(P, N_IFCHANGED, t->off);
		if (!node || parse_body(P, lx, &node->u.block.body, ends, 1, &et, "ifchanged") < 0)
			return -1;
	}
	else if (word_eq(nm, nl, "tablerow"))
	{
		node = parse_tablerow(P, lx, t);
	}
	else if (word_eq(nm, nl, "include") || word_eq(nm, nl, "render"))
	{
		node = parse_partial(P, t, nm[0] == 'r');
	}
	else if (word_eq(nm, nl, "liquid"))
	{
		node = parse_liquid_tag(P, t);
	}
	else
	{
		if (nl == 0)
			SYNERR(P, t->off, "Tag '{%%%.*s%%}' was not properly terminated", (int) (t->len > 60 ? 60 : t->len), t->text);
		else
			SYNERR(P, t->off, "Unknown tag '%.*s'", (int) (nl > 60 ? 60 : nl), nm);
		return -1;
	}
	if (!node)
		return -1;
	body_add(body, node);
	return 0;
}

/* Strip leading whitespace of a text node. */
static void
lstrip_text(liq_node *n)
{
	while (n->u.text.len && (liq_is_space(*n->u.text.s) || *n->u.text.s == 0))
	{
		n->u.text.s++;
		n->u.text.len--;
	}
}

/* Strip trailing whitespace of a text node. */
static void
rstrip_text(liq_node *n)
{
	while (n->u.text.len && (liq_is_space(n->u.text.s[n->u.text.len - 1]) || n->u.text.s[n->u.text.len - 1] == 0))
		n->u.text.len--;
}

/* Parse tokens into body until one of ends[] (or EOF when nends == 0). */
static int
parse_body(parser *P, liq_lexer *lx, liq_body *body, const char *const *ends, int nends,
		   liq_token *endtok, const char *owner)
{
	liq_token t;
	int		  rc = 0;
	memset(body, 0, sizeof *body);
	if (++P->depth > P->max_depth)
	{
		liq_set_error(P->err, LIQ_ERR_LIMIT, P->src, P->len, (size_t) (lx->p - P->src), "Nesting too deep (max %d)", P->max_depth);
		return -1;
	}
	for (;;)
	{
		liq_lex_next(lx, &t);
		if (t.kind == TK_ERROR)
		{
			SYNERR(P, t.off, "%s", t.errmsg);
			rc = -1;
			break;
		}
		if (t.kind == TK_EOF)
		{
			if (nends)
			{
				SYNERR(P, t.off, "'%s' tag was never closed", owner);
				rc = -1;
			}
			*endtok = t;
			break;
		}
		if (t.kind == TK_TEXT)
		{
			liq_node *n = new_node(P, N_TEXT, t.off);
			if (!n)
			{
				rc = -1;
				break;
			}
			n->u.text.s = t.text;
			n->u.text.len = t.len;
			if (P->strip_next)
				lstrip_text(n);
			P->strip_next = false;
			body_add(body, n);
			P->last_text = n;
			continue;
		}
		if (t.lstrip && P->last_text)
			rstrip_text(P->last_text);
		P->last_text = NULL;
		P->strip_next = t.rstrip;
		if (t.kind == TK_OUTPUT)
		{
			liq_node *n = new_node(P, N_OUTPUT, t.off);
			if (!n || !parse_fexpr(P, t.text, t.len, &n->u.out.fe))
			{
				rc = -1;
				break;
			}
			body_add(body, n);
			continue;
		}
		if (nends && is_end(&t, ends, nends))
		{
			*endtok = t;
			break;
		}
		if (parse_tag(P, lx, &t, body) < 0)
		{
			rc = -1;
			break;
		}
	}
	P->depth--;
	body_finish(body);
	return rc;
}

/* Parse src into body. */
int
liq_parse(liq_arena *ar, const char *src, size_t len, int max_depth, liq_body *body, liq_error *err)
{
	parser	  P;
	liq_lexer lx;
	liq_token et;
	memset(&P, 0, sizeof P);
	P.ar = ar;
	P.src = src;
	P.len = len;
	P.err = err;
	P.max_depth = max_depth;
	P.depth = -1; /* the template's own body is level 0: max_depth counts nested blocks, as Ruby's MAX_DEPTH */
	liq_lex_init(&lx, src, src, len, false);
	if (parse_body(&P, &lx, body, NULL, 0, &et, NULL) < 0)
		return -1;
	if (err->kind != LIQ_OK)
		return -1;
	return 0;
}
