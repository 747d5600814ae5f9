/*
 * ast.h - compiled template representation (the AST the parser builds once
 * and the renderer walks many times; immutable after compile).
 * Owns: node, expression, filter-call and condition layouts.
 */
#ifndef LIQ_AST_H
#define LIQ_AST_H
#include "liquid.h"
#include "arena.h"

struct liq_filter_def;

typedef enum
{
	EX_LIT,
	EX_VAR,
	EX_RANGE
} liq_expr_kind;
typedef enum
{
	SEG_NAME,
	SEG_LIT,
	SEG_EXPR
} liq_seg_kind;

typedef struct liq_expr liq_expr;

/* One step of a variable path: .name, [literal] or [expression]. */
typedef struct liq_seg
{
	uint8_t	  kind; /* liq_seg_kind */
	bool	  dot;	/* written .name: size/first/last are methods */
	uint32_t  hash; /* SEG_NAME */
	liq_value lit;	/* SEG_NAME (string) / SEG_LIT */
	liq_expr *expr; /* SEG_EXPR */
} liq_seg;

struct liq_expr
{
	uint8_t	  kind; /* liq_expr_kind */
	uint32_t  nsegs;
	liq_value lit;	   /* EX_LIT */
	liq_seg	 *segs;	   /* EX_VAR: segs[0] is the root name */
	liq_expr *lo, *hi; /* EX_RANGE */
	uint32_t  off;	   /* source offset for errors */
};

typedef struct liq_filter_call
{
	const struct liq_filter_def *def; /* NULL: unknown filter */
	const char					*name;
	uint32_t					 nlen;
	uint16_t					 nargs, nkw;
	liq_expr				   **args;
	liq_value					*kwnames; /* strings */
	liq_expr				   **kwvals;
	uint32_t					 off;
} liq_filter_call;

/* An expression followed by filters: `x | f: a, b | g`. */
typedef struct liq_fexpr
{
	liq_expr		*base; /* NULL for an empty {{ }} */
	liq_filter_call *filters;
	uint32_t		 nfilters;
} liq_fexpr;

typedef enum
{
	OP_NONE,
	OP_EQ,
	OP_NE,
	OP_LT,
	OP_GT,
	OP_LE,
	OP_GE,
	OP_CONTAINS
} liq_cmp_op;
typedef enum
{
	REL_NONE,
	REL_AND,
	REL_OR
} liq_rel;

/* A comparison chained right-associatively to `next` by `rel`. */
typedef struct liq_cond
{
	liq_expr		*l, *r;
	uint8_t			 op, rel;
	struct liq_cond *next;
} liq_cond;

typedef enum
{
	N_TEXT,
	N_OUTPUT,
	N_IF,
	N_CASE,
	N_FOR,
	N_TABLEROW,
	N_ASSIGN,
	N_CAPTURE,
	N_INCREMENT,
	N_DECREMENT,
	N_CYCLE,
	N_BREAK,
	N_CONTINUE,
	N_IFCHANGED,
	N_INCLUDE,
	N_RENDER,
	N_BLOCK
} liq_node_kind;

typedef struct liq_node liq_node;

typedef struct liq_body
{
	liq_node *first, *last;
	bool	  blank; /* only whitespace text and blank tags */
} liq_body;

/* if/elsif/else or case/when branch. */
typedef struct liq_branch
{
	liq_cond		  *cond; /* if: NULL means else */
	liq_expr		 **vals; /* case/when: values; NULL means else */
	uint32_t		   nvals;
	liq_body		   body;
	struct liq_branch *next;
} liq_branch;

typedef struct liq_param
{
	liq_value		  name; /* string */
	uint32_t		  hash;
	liq_expr		 *val;
	struct liq_param *next;
} liq_param;

struct liq_node
{
	uint8_t	  kind;
	uint32_t  off;
	liq_node *next;
	union
	{
		struct
		{
			const char *s;
			size_t		len;
		} text;
		struct
		{
			liq_fexpr fe;
		} out;
		struct
		{
			liq_branch *branches;
			bool		negate_first;
		} iff;
		struct
		{
			liq_expr   *subject;
			liq_branch *branches;
		} cas;
		struct
		{
			liq_value var;
			uint32_t  var_hash;
			liq_expr *coll;
			liq_expr *limit, *offset, *cols;
			bool	  reversed, offset_continue;
			liq_value loop_key; /* "var-collection" for offset:continue */
			liq_body  body, els;
		} loop;
		struct
		{
			liq_value name;
			uint32_t  hash;
			liq_fexpr fe;
		} assign;
		struct
		{
			liq_value name;
			uint32_t  hash;
			liq_body  body;
		} capture;
		struct
		{
			liq_value name;
			uint32_t  hash;
		} counter;
		struct
		{
			liq_expr  *group;
			liq_expr **vals;
			uint32_t   nvals;
			liq_value  key;
		} cycle;
		struct
		{
			liq_body body;
		} block; /* ifchanged, liquid tag bodies */
		struct
		{
			liq_expr  *name;
			liq_expr  *with; /* with/for expression or NULL */
			bool	   is_for;
			liq_value  alias; /* string or nil */
			liq_param *params;
		} partial;
	} u;
};

struct liq_template
{
	liq_arena  *arena;
	const char *src; /* copy of the source (text nodes point into it) */
	size_t		len;
	liq_body	root;
};
#endif
