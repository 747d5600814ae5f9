/*
 * bench.c - render-throughput benchmark: compiles a template once and
 * renders it N times with one context. Usage:
 *   bench TEMPLATE DATA.json [PARTIALS_DIR] [N]
 * Prints microseconds per render (compare with test/liquid/bench_liquidjs.js).
 */
#include "liquid.h"
#include "json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct pdir
{
	const char	 *dir;
	char		  names[32][64];
	liq_template *tmpls[32];
	int			  n;
} pdir;

/* Precompiled-partial loader: compiles DIR/<name>.liquid once and caches it
 * (this is what the PostgreSQL adapter does per backend). */
static bool
load_template(void *ud, const char *name, size_t len, const liq_template **out)
{
	pdir	 *p = ud;
	char	  path[2048];
	char	 *b;
	size_t	  sl;
	liq_error err;
	int		  i;
	if (!p->dir || len > 60)
		return false;
	for (i = 0; i < p->n; i++)
		if (strlen(p->names[i]) == len && memcmp(p->names[i], name, len) == 0)
		{
			*out = p->tmpls[i];
			return true;
		}
	if (p->n == 32)
		return false;
	snprintf(path, sizeof path, "%s/%.*s.liquid", p->dir, (int) len, name);
	b = read_file(path, &sl);
	if (!b)
		return false;
	if (liq_compile(b, sl, NULL, &p->tmpls[p->n], &err) != 0)
	{
		free(b);
		return false;
	}
	free(b);
	memcpy(p->names[p->n], name, len);
	p->names[p->n][len] = 0;
	*out = p->tmpls[p->n++];
	return true;
}

/* Entry point. */
int
main(int argc, char **argv)
{
	size_t			tl, dl, len;
	char		   *tsrc, *dsrc, *out;
	liq_arena	   *ar = liq_arena_new(NULL);
	liq_value		ctx;
	liq_template   *t;
	liq_error		err;
	liq_render_opts ro;
	pdir			pd;
	long			n = argc > 4 ? atol(argv[4]) : 100000, i;
	struct timespec a, b;
	double			us;
	if (argc < 3)
		return 2;
	tsrc = read_file(argv[1], &tl);
	dsrc = read_file(argv[2], &dl);
	if (!tsrc || !dsrc || json_parse(ar, dsrc, dl, &ctx) < 0)
		return 2;
	memset(&pd, 0, sizeof pd);
	pd.dir = argc > 3 ? argv[3] : NULL;
	memset(&ro, 0, sizeof ro);
	ro.load_template = load_template;
	ro.partial_ud = &pd;
	ro.now = 1700000000;
	if (liq_compile(tsrc, tl, NULL, &t, &err) != 0)
	{
		fprintf(stderr, "compile: %s\n", err.message);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < n; i++)
	{
		if (liq_render(t, ctx, &ro, &out, &len, &err) != 0)
		{
			fprintf(stderr, "render: %s\n", err.message);
			return 1;
		}
		liq_output_free(&ro, out);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	us = ((double) (b.tv_sec - a.tv_sec) * 1e9 + (double) (b.tv_nsec - a.tv_nsec)) / 1e3 / (double) n;
	printf("C engine: %.2f us/render (%ld renders, %zu bytes output)\n", us, n, len);
	liq_template_free(t);
	for (i = 0; i < pd.n; i++)
		liq_template_free(pd.tmpls[i]);
	liq_arena_free(ar);
	free(tsrc);
	free(dsrc);
	return 0;
}
