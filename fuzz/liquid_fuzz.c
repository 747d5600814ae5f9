/*
 * liquid_fuzz.c - libFuzzer harness over the whole engine: lexer, parser
 * and renderer (with every filter and tag reachable) on a fixed small
 * context. The first input byte selects render options (strict, autoescape)
 * and the rest is the template source. Partials: "self" renders the input
 * itself (recursion is bounded by max_partial_depth), "p" is fixed.
 * Build/run: fuzz/run liquid [seconds] (or make fuzz FUZZ_SECONDS=300)
 */
#include "liquid.h"
#include <stdint.h>
#include <stddef.h>
#include <string.h>

static const char *g_src;
static size_t	   g_len;

/* Partial loader for the harness. */
static bool
load(void *ud, const char *name, size_t len, const char **src, size_t *slen)
{
	(void) ud;
	if (len == 4 && memcmp(name, "self", 4) == 0)
	{
		*src = g_src;
		*slen = g_len;
		return true;
	}
	if (len == 1 && name[0] == 'p')
	{
		static const char p[] = "{{ p | upcase }}{% for x in arr %}{{ forloop.index }}{{ x }}{% endfor %}{% cycle 1, 2 %}";
		*src = p;
		*slen = sizeof p - 1;
		return true;
	}
	return false;
}

/* Interrupt hook: nothing to do, but it must be callable in every loop. */
static void
interrupts(void *ud)
{
	(void) ud;
}

/* Build the fixed context. */
static liq_value
make_ctx(liq_arena *ar)
{
	liq_value		  ctx = liq_object_new(ar, 8), arr = liq_array_new(ar, 4), obj = liq_object_new(ar, 4), num;
	liq_value		  items = liq_array_new(ar, 3);
	int				  i;
	static const char greeting[] = "Hello, World <b>&amp;</b> caf\xc3\xa9";
	liq_object_set(ar, ctx, "s", 1, liq_string(ar, greeting, sizeof greeting - 1));
	liq_object_set(ar, ctx, "n", 1, liq_int(42));
	liq_object_set(ar, ctx, "neg", 3, liq_int(-7));
	liq_object_set(ar, ctx, "f", 1, liq_float(19.9));
	liq_object_set(ar, ctx, "big", 3, liq_float(1e20));
	liq_number_from_text("1234.50", 7, &num);
	liq_object_set(ar, ctx, "price", 5, num);
	liq_object_set(ar, ctx, "t", 1, liq_bool(true));
	liq_object_set(ar, ctx, "z", 1, liq_nil());
	liq_object_set(ar, ctx, "date", 4, liq_string(ar, "2024-03-14T10:20:30Z", 20));
	liq_array_push(ar, arr, liq_int(3));
	liq_array_push(ar, arr, liq_string(ar, "b", 1));
	liq_array_push(ar, arr, liq_float(2.5));
	liq_array_push(ar, arr, liq_nil());
	liq_object_set(ar, ctx, "arr", 3, arr);
	liq_object_set(ar, obj, "title", 5, liq_string(ar, "Shoes", 5));
	liq_object_set(ar, obj, "price", 5, liq_int(100));
	liq_object_set(ar, obj, "tags", 4, arr);
	liq_object_set(ar, ctx, "obj", 3, obj);
	for (i = 0; i < 3; i++)
	{
		liq_value it = liq_object_new(ar, 2);
		liq_object_set(ar, it, "title", 5, liq_string(ar, i == 1 ? "b" : "a", 1));
		liq_object_set(ar, it, "qty", 3, liq_int(i));
		liq_array_push(ar, items, it);
	}
	liq_object_set(ar, ctx, "items", 5, items);
	return ctx;
}

/* libFuzzer entry point. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	liq_arena		*ar;
	liq_template	*t;
	liq_error		 err;
	liq_render_opts	 ro;
	liq_compile_opts co;
	char			*out;
	size_t			 out_len;
	uint8_t			 flags;
	if (size < 1)
		return 0;
	flags = data[0];
	g_src = (const char *) data + 1;
	g_len = size - 1;
	memset(&co, 0, sizeof co);
	co.max_memory = 32 << 20;
	if (liq_compile(g_src, g_len, &co, &t, &err) != 0)
		return 0;
	ar = liq_arena_new(NULL);
	memset(&ro, 0, sizeof ro);
	ro.strict_variables = flags & 1;
	ro.strict_filters = flags & 2;
	ro.autoescape = flags & 4;
	ro.max_output = 1 << 16;
	ro.max_iterations = 20000;
	ro.max_memory = 32 << 20;
	ro.max_partial_depth = 4;
	ro.check_interrupts = interrupts;
	ro.load_partial = load;
	ro.now = 1700000000;
	ro.tz_offset = (flags & 8) ? 3600 : 0;
	if (liq_render(t, make_ctx(ar), &ro, &out, &out_len, &err) == 0)
	{
		/* rendering twice must give the same bytes: templates are immutable */
		char  *out2;
		size_t len2;
		if (liq_render(t, make_ctx(ar), &ro, &out2, &len2, &err) == 0)
		{
			if (len2 != out_len || memcmp(out, out2, out_len) != 0)
				__builtin_trap();
			liq_output_free(&ro, out2);
		}
		liq_output_free(&ro, out);
	}
	liq_arena_free(ar);
	liq_template_free(t);
	return 0;
}
