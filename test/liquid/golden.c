/*
 * golden.c - standalone runner of the Golden Liquid conformance suite.
 * Owns: reading golden_liquid.json in place (never copied into the repo),
 * running every case through liq_compile/liq_render, and reporting
 * passed/failed/skipped overall and per tag.
 *
 * Suite location: $GOLDEN_LIQUID, else ../shared/peer/golden-liquid relative
 * to the current directory (the repository root), else
 * /work/shared/peer/golden-liquid. Usage: golden [-v] [name-substring]
 */
#include "liquid.h"
#include "value.h"
#include "json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tags of features this engine deliberately does not implement. */
static const char *const skipped_tags[] = {
	"strict2", /* Liquid >= 5.11 "strict2" parse mode; we implement strict (5.x) */
};

typedef struct tagstat
{
	char name[64];
	int	 pass, fail, skip;
} tagstat;

static tagstat stats[256];
static int	   nstats;

/* Find or add the stats row of a tag. */
static tagstat *
stat_for(const char *s, size_t n)
{
	int i;
	if (n > 63)
		n = 63;
	for (i = 0; i < nstats; i++)
		if (strlen(stats[i].name) == n && memcmp(stats[i].name, s, n) == 0)
			return &stats[i];
	if (nstats == 256)
		return &stats[255];
	memcpy(stats[nstats].name, s, n);
	stats[nstats].name[n] = 0;
	return &stats[nstats++];
}

/* Partial loader over the test case's "templates" object. */
static bool
load_partial(void *ud, const char *name, size_t len, const char **src, size_t *slen)
{
	const liq_value *tpls = ud, *v;
	if (!tpls || tpls->type != LIQ_OBJECT)
		return false;
	v = liq_object_get(*tpls, name, len);
	if (!v || v->type != LIQ_STRING)
		return false;
	*src = v->u.s;
	*slen = v->len;
	return true;
}

/* Does a string value equal the C buffer? */
static bool
str_eq(const liq_value *v, const char *s, size_t n)
{
	return v && v->type == LIQ_STRING && v->len == n && memcmp(v->u.s, s, n) == 0;
}

/* Open the suite file following the documented search order. */
static char *
load_suite(size_t *len, char *path, size_t psize)
{
	const char *env = getenv("GOLDEN_LIQUID");
	const char *dirs[3];
	int			i, nd = 0;
	if (env && *env)
		dirs[nd++] = env;
	dirs[nd++] = "../shared/peer/golden-liquid";
	dirs[nd++] = "/work/shared/peer/golden-liquid";
	for (i = 0; i < nd; i++)
	{
		char *buf;
		snprintf(path, psize, "%s/golden_liquid.json", dirs[i]);
		if ((buf = read_file(path, len)) != NULL)
			return buf;
	}
	return NULL;
}

/* Run the suite. */
int
main(int argc, char **argv)
{
	char			 path[1024];
	size_t			 len, i;
	char			*buf;
	liq_arena		*ar;
	liq_value		 root;
	const liq_value *tests;
	int				 verbose = 0, pass = 0, fail = 0, skip = 0, a;
	const char		*only = NULL;
	for (a = 1; a < argc; a++)
	{
		if (strcmp(argv[a], "-v") == 0)
			verbose = 1;
		else
			only = argv[a];
	}
	buf = load_suite(&len, path, sizeof path);
	if (!buf)
	{
		printf("golden-liquid: suite not found (set GOLDEN_LIQUID); SKIPPED\n");
		printf("0 passed, 0 failed, 0 skipped\n");
		return 0;
	}
	ar = liq_arena_new(NULL);
	if (json_parse(ar, buf, len, &root) < 0 || !(tests = liq_object_get(root, "tests", 5)) || tests->type != LIQ_ARRAY)
	{
		fprintf(stderr, "golden-liquid: cannot parse %s\n", path);
		return 2;
	}
	printf("golden-liquid: %s\n", path);
	for (i = 0; i < tests->u.a->len; i++)
	{
		liq_value		 tc = tests->u.a->items[i];
		const liq_value *name = liq_object_get(tc, "name", 4), *tpl = liq_object_get(tc, "template", 8);
		const liq_value *data = liq_object_get(tc, "data", 4), *tags = liq_object_get(tc, "tags", 4);
		const liq_value *result = liq_object_get(tc, "result", 6), *results = liq_object_get(tc, "results", 7);
		const liq_value *invalid = liq_object_get(tc, "invalid", 7), *tpls = liq_object_get(tc, "templates", 9);
		bool			 is_invalid = invalid && invalid->type == LIQ_BOOL && invalid->u.b, skipped = false, ok = false;
		size_t			 t;
		liq_template	*tmpl = NULL;
		liq_error		 err;
		char			*out = NULL;
		size_t			 out_len = 0;
		int				 rc;
		if (!name || !tpl || tpl->type != LIQ_STRING)
			continue;
		if (only && !strstr(name->u.s, only))
			continue;
		if (tags && tags->type == LIQ_ARRAY)
			for (t = 0; t < tags->u.a->len; t++)
			{
				size_t k;
				for (k = 0; k < sizeof skipped_tags / sizeof skipped_tags[0]; k++)
					if (str_eq(&tags->u.a->items[t], skipped_tags[k], strlen(skipped_tags[k])))
						skipped = true;
			}
		if (!skipped)
		{
			liq_render_opts ro;
			memset(&ro, 0, sizeof ro);
			ro.load_partial = load_partial;
			ro.partial_ud = (void *) tpls;
			ro.now = 1700000000;
			rc = liq_compile(tpl->u.s, tpl->len, NULL, &tmpl, &err);
			if (rc == 0)
			{
				rc = liq_render(tmpl, data ? *data : liq_nil(), &ro, &out, &out_len, &err);
				liq_template_free(tmpl);
			}
			if (is_invalid)
			{
				ok = rc != 0;
			}
			else if (rc == 0)
			{
				if (result)
					ok = str_eq(result, out, out_len);
				if (results && results->type == LIQ_ARRAY)
					for (t = 0; t < results->u.a->len; t++)
						ok = ok || str_eq(&results->u.a->items[t], out, out_len);
			}
			if (!ok && verbose)
			{
				printf("FAIL: %s\n  template: %.*s\n", name->u.s, (int) tpl->len, tpl->u.s);
				if (is_invalid)
					printf("  expected an error, got: \"%.*s\"\n", (int) out_len, out ? out : "");
				else if (rc == 0)
					printf("  expected: \"%.*s\"\n  got:      \"%.*s\"\n", result ? (int) result->len : 0,
						   result ? result->u.s : "(see results)", (int) out_len, out);
				else
					printf("  expected: \"%.*s\"\n  error:    %s: %s (line %d col %d)\n", result ? (int) result->len : 0,
						   result ? result->u.s : "(see results)", liq_error_kind_name(err.kind), err.message,
						   err.line, err.column);
			}
			liq_output_free(NULL, out);
		}
		if (skipped)
			skip++;
		else if (ok)
			pass++;
		else
			fail++;
		if (tags && tags->type == LIQ_ARRAY)
			for (t = 0; t < tags->u.a->len; t++)
			{
				tagstat *st;
				if (tags->u.a->items[t].type != LIQ_STRING)
					continue;
				st = stat_for(tags->u.a->items[t].u.s, tags->u.a->items[t].len);
				if (skipped)
					st->skip++;
				else if (ok)
					st->pass++;
				else
					st->fail++;
			}
	}
	printf("\nper tag (passed/failed/skipped):\n");
	for (a = 0; a < nstats; a++)
		printf("  %-28s %4d %4d %4d%s\n", stats[a].name, stats[a].pass, stats[a].fail, stats[a].skip,
			   stats[a].fail ? "  <-- failures" : "");
	printf("\ngolden-liquid: %d passed, %d failed, %d skipped\n", pass, fail, skip);
	printf("%d passed, %d failed, %d skipped\n", pass, fail, skip);
	liq_arena_free(ar);
	free(buf);
	return fail ? 1 : 0;
}
