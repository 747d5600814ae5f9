/*
 * liquid.h - public API of the personalize Liquid template engine core.
 *
 * Pure C99, no PostgreSQL headers. The engine implements Shopify Liquid 5.x
 * semantics (strict parse mode) and is meant to be wrapped by a thin adapter
 * (personalize.render(template text, context jsonb) -> text).
 *
 * Contract for the adapter:
 *   - Memory: every byte the engine allocates goes through a liq_allocator
 *     (alloc/free function pointers + user data).  Compile and render each
 *     use their own arena built on that allocator, so freeing is O(chunks)
 *     and, inside PostgreSQL, palloc'd chunks in a memory context are
 *     reclaimed with the context even if check_interrupts() longjmps.
 *   - Errors are returned in a liq_error (kind, message, line, column,
 *     excerpt); the engine never aborts, exits or longjmps itself.
 *   - Compile once, render many: a liq_template is immutable after
 *     liq_compile() and may be rendered any number of times (one render at a
 *     time per thread; renders never modify it).
 *   - Time is an argument (liq_render_opts.now); the engine never reads the
 *     clock.
 *
 * Typical use:
 *   liq_template *t; liq_error err;
 *   if (liq_compile(src, len, NULL, &t, &err) != 0) report(err);
 *   liq_arena *ctx_arena = liq_arena_new(NULL);
 *   liq_value ctx = liq_object_new(ctx_arena, 4);
 *   liq_object_set(ctx_arena, ctx, "name", 4, liq_string(ctx_arena, "Ann", 3));
 *   char *out; size_t out_len;
 *   if (liq_render(t, ctx, NULL, &out, &out_len, &err) == 0) { use(out); liq_output_free(NULL, out); }
 *   liq_arena_free(ctx_arena); liq_template_free(t);
 */
#ifndef LIQUID_H
#define LIQUID_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C"
{
#endif

	/* ------------------------------------------------------------------ */
	/* Allocation                                                          */
	/* ------------------------------------------------------------------ */

	/* Pluggable allocator. alloc may return NULL (treated as out of memory,
	 * reported as LIQ_ERR_LIMIT). free may be NULL (e.g. a memory context that
	 * is reset as a whole). NULL liq_allocator pointers mean malloc/free. */
	typedef struct liq_allocator
	{
		void *(*alloc)(void *ud, size_t size);
		void (*free)(void *ud, void *ptr);
		void *ud;
	} liq_allocator;

	/* An arena: bump allocator over chunks obtained from a liq_allocator. */
	typedef struct liq_arena liq_arena;

	/* Create an arena (NULL allocator = malloc). Returns NULL on OOM. */
	liq_arena *liq_arena_new(const liq_allocator *a);
	/* Release every chunk of the arena and the arena itself. */
	void liq_arena_free(liq_arena *arena);
	/* Allocate size bytes (8-byte aligned) from the arena; NULL on OOM. */
	void *liq_arena_alloc(liq_arena *arena, size_t size);

	/* ------------------------------------------------------------------ */
	/* Values (context data)                                               */
	/* ------------------------------------------------------------------ */

	typedef enum liq_type
	{
		LIQ_NIL = 0,
		LIQ_BOOL,
		LIQ_INT,	/* int64 */
		LIQ_FLOAT,	/* double, rendered like Ruby Float#to_s */
		LIQ_STRING, /* bytes + length, may contain NUL, UTF-8 expected */
		LIQ_ARRAY,
		LIQ_OBJECT, /* ordered keys, hashed lookup */
		LIQ_RANGE,	/* (lo..hi) integer range */
		/* internal kinds, never built by the adapter */
		LIQ_EMPTY, /* the `empty` literal */
		LIQ_BLANK, /* the `blank` literal */
		LIQ_DROP   /* forloop / tablerowloop objects */
	} liq_type;

	struct liq_array;
	struct liq_object;
	struct liq_range;

	/* A value is a small tagged struct passed by value. Strings and containers
	 * point into an arena; values are immutable once handed to liq_render. */
	typedef struct liq_value
	{
		uint8_t	 type; /* liq_type */
		uint32_t len;  /* string length in bytes (LIQ_STRING) */
		union
		{
			bool			   b;
			int64_t			   i;
			double			   f;
			const char		  *s;
			struct liq_array  *a;
			struct liq_object *o;
			struct liq_range  *r;
			const void		  *p;
		} u;
	} liq_value;

	/* Scalar constructors (no allocation). */
	liq_value liq_nil(void);
	liq_value liq_bool(bool b);
	liq_value liq_int(int64_t i);
	liq_value liq_float(double d);
	/* String: copies len bytes into the arena. Type is LIQ_NIL on OOM or if
	 * len >= 4 GiB. */
	liq_value liq_string(liq_arena *arena, const char *s, size_t len);
	/* String referencing caller memory that outlives every render using it. */
	liq_value liq_string_ref(const char *s, size_t len);
	/* Number from decimal text as in JSON/jsonb numeric: "367" -> LIQ_INT 367,
	 * "367.0" -> LIQ_FLOAT 367.0, "19.90" -> LIQ_FLOAT 19.9, "1e3" -> LIQ_FLOAT.
	 * An integer that does not fit int64 becomes a string of its exact digits
	 * that references s (the caller keeps s alive): it prints exactly, and the
	 * math filters refuse it (README, "Numbers"). Returns false (and *out =
	 * nil) if the text is not a number. */
	bool liq_number_from_text(const char *s, size_t len, liq_value *out);
	/* Array with initial capacity; returns LIQ_NIL on OOM. */
	liq_value liq_array_new(liq_arena *arena, size_t cap);
	/* Append item to an array value; false on OOM or if arr is not an array. */
	bool liq_array_push(liq_arena *arena, liq_value arr, liq_value item);
	/* Object with initial capacity; returns LIQ_NIL on OOM. */
	liq_value liq_object_new(liq_arena *arena, size_t cap);
	/* Set key (copied) to val; replaces an existing key in place (keeps order).
	 * false on OOM or if obj is not an object. */
	bool liq_object_set(liq_arena *arena, liq_value obj, const char *key, size_t klen, liq_value val);
	/* Look up a key; returns NULL if absent. */
	const liq_value *liq_object_get(liq_value obj, const char *key, size_t klen);
	/* Element count of an array/object (0 for other types). */
	size_t liq_value_count(liq_value v);

	/* ------------------------------------------------------------------ */
	/* Errors                                                              */
	/* ------------------------------------------------------------------ */

	typedef enum liq_error_kind
	{
		LIQ_OK = 0,
		LIQ_ERR_SYNTAX,				/* template does not parse                         */
		LIQ_ERR_RENDER,				/* runtime error: bad filter argument,
									   division by zero, missing partial...            */
		LIQ_ERR_LIMIT,				/* output/step/depth/memory limit                  */
		LIQ_ERR_UNDEFINED_VARIABLE, /* strict mode: unknown variable or key    */
		LIQ_ERR_UNDEFINED_FILTER,	/* strict mode: unknown filter             */
		LIQ_ERR_RANGE				/* a number the filter cannot give exactly
									   (money past 35 digits, a float too large)       */
	} liq_error_kind;
	/* the PostgreSQL adapter maps each kind of liq_error_kind to one SQLSTATE (src/render/render.c) */

	typedef struct liq_error
	{
		liq_error_kind kind;
		int			   line;		 /* 1-based line in the template (0 if unknown) */
		int			   column;		 /* 1-based column (0 if unknown) */
		char		   message[256]; /* NUL-terminated, human readable */
		char		   excerpt[96];	 /* source around the error, NUL-terminated */
		char		   partial[64];	 /* name of the partial the error is in, or "" */
	} liq_error;

	/* Static, NUL-terminated name for an error kind ("syntax error", ...). */
	const char *liq_error_kind_name(liq_error_kind kind);

	/* ------------------------------------------------------------------ */
	/* Compile                                                             */
	/* ------------------------------------------------------------------ */

	typedef struct liq_compile_opts
	{
		const liq_allocator *allocator;			/* NULL = malloc */
		int					 max_nesting_depth; /* block/expression nesting; 0 = 100 */
		size_t				 max_memory;		/* bytes for the compiled template; 0 = 64 MiB */
	} liq_compile_opts;

	typedef struct liq_template liq_template;

	/* Compile src[0..len) into *out. Returns 0 on success; on failure returns
	 * -1, fills *err (kind LIQ_ERR_SYNTAX or LIQ_ERR_LIMIT) and sets *out=NULL.
	 * opts may be NULL. */
	int liq_compile(const char *src, size_t len, const liq_compile_opts *opts,
					liq_template **out, liq_error *err);
	/* Free a compiled template (all of its memory is in one arena). */
	void liq_template_free(liq_template *t);

	/* ------------------------------------------------------------------ */
	/* Render                                                              */
	/* ------------------------------------------------------------------ */

	/* Partial loader for {% render %} / {% include %}: set *src and *len to the
	 * source of partial `name` and return true, or return false if it does not
	 * exist (-> LIQ_ERR_RENDER). The returned source must stay valid until
	 * liq_render returns. */
	typedef bool (*liq_partial_loader)(void *ud, const char *name, size_t name_len,
									   const char **src, size_t *len);

	/* Optional faster partial loader: return a template compiled with
	 * liq_compile (owned by the caller, e.g. a per-backend cache) for `name`.
	 * Consulted before load_partial; returning false falls back to it. */
	typedef bool (*liq_template_loader)(void *ud, const char *name, size_t name_len,
										const liq_template **tmpl);

	typedef struct liq_render_opts
	{
		const liq_allocator *allocator;		   /* NULL = malloc; also used for *out */
		bool				 strict_variables; /* unknown variable/key -> LIQ_ERR_UNDEFINED_VARIABLE */
		bool				 strict_filters;   /* unknown filter -> LIQ_ERR_UNDEFINED_FILTER
												  (lax: the input passes through, as Liquid) */
		bool autoescape;					   /* HTML-escape every {{ }} unless the last filter is raw
												  or already escapes (escape, escape_once, h) */
		size_t	 max_output;				   /* bytes; 0 = 16 MiB */
		uint64_t max_iterations;			   /* total loop iterations; 0 = 1,000,000 */
		int		 max_depth;					   /* nesting of blocks/partials at render; 0 = 100 */
		int		 max_partial_depth;			   /* nested render/include; 0 = 16 */
		size_t	 max_memory;				   /* render arena bytes; 0 = 256 MiB */
		void (*check_interrupts)(void *ud);	   /* called in every loop iteration; may longjmp */
		void			  *interrupt_ud;
		liq_partial_loader load_partial;   /* NULL = no partials; sources are
											  compiled once per render */
		liq_template_loader load_template; /* optional precompiled partials */
		void			   *partial_ud;	   /* passed to both loaders */
		liq_value			static_env;	   /* an object read after the context, also inside {% render %}
											  (Shopify's static environment); nil (zeroed opts) = none.
											  increment/decrement never read it */
		int64_t now;					   /* unix seconds for date: 'now' / 'today' */
		int32_t tz_offset;				   /* seconds east of UTC used by `date`; 0 = UTC */
	} liq_render_opts;

	/* Render template t with context ctx (an object, or nil for none).
	 * On success returns 0 and sets *out to a NUL-terminated buffer of *out_len
	 * bytes allocated with opts->allocator (free with liq_output_free or the
	 * allocator's free). On error returns -1, fills *err, *out = NULL.
	 * opts may be NULL (lax, no partials, now = 0). */
	int liq_render(const liq_template *t, liq_value ctx, const liq_render_opts *opts,
				   char **out, size_t *out_len, liq_error *err);
	/* Free an output buffer returned by liq_render with the same opts allocator. */
	void liq_output_free(const liq_render_opts *opts, char *out);

#ifdef __cplusplus
}
#endif
#endif /* LIQUID_H */
