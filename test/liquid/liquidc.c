/*
 * liquidc.c - command-line renderer used by the differential test and for
 * manual checks: liquidc TEMPLATE_FILE [DATA_JSON_FILE] [PARTIALS_DIR]
 * Renders with `now` = 1700000000 and UTC; prints output or "ERROR: ..."
 * (exit 1). Partials are read from PARTIALS_DIR/<name>.liquid.
 */
#include "liquid.h"
#include "json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pdir
{
	const char *dir;
	char	   *bufs[64];
	int			n;
} pdir;

/* Partial loader reading DIR/<name>.liquid. */
static bool
load_partial(void *ud, const char *name, size_t len, const char **src, size_t *slen)
{
	pdir  *p = ud;
	char   path[2048];
	size_t i;
	char  *b;
	if (!p->dir || len > 200 || p->n >= 64)
		return false;
	for (i = 0; i < len; i++)
		if (name[i] == '.' || name[i] == 0)
			return false;
	snprintf(path, sizeof path, "%s/%.*s.liquid", p->dir, (int) len, name);
	b = read_file(path, slen);
	if (!b)
		return false;
	p->bufs[p->n++] = b;
	*src = b;
	return true;
}

/* Entry point. */
int
main(int argc, char **argv)
{
	size_t			tl, dl = 0, out_len;
	char		   *tsrc, *dsrc = NULL, *out;
	liq_arena	   *ar = liq_arena_new(NULL);
	liq_value		ctx = liq_nil();
	liq_template   *t;
	liq_error		err;
	liq_render_opts ro;
	pdir			pd;
	int				i, rc;
	if (argc < 2)
	{
		fprintf(stderr, "usage: liquidc TEMPLATE [DATA.json] [PARTIALS_DIR]\n");
		return 2;
	}
	tsrc = read_file(argv[1], &tl);
	if (!tsrc)
		return 2;
	if (argc > 2 && strcmp(argv[2], "-") != 0)
	{
		dsrc = read_file(argv[2], &dl);
		if (!dsrc || json_parse(ar, dsrc, dl, &ctx) < 0)
		{
			fprintf(stderr, "bad data file\n");
			return 2;
		}
	}
	memset(&pd, 0, sizeof pd);
	pd.dir = argc > 3 ? argv[3] : NULL;
	memset(&ro, 0, sizeof ro);
	ro.now = 1700000000;
	ro.load_partial = load_partial;
	ro.partial_ud = &pd;
	ro.autoescape = getenv("LIQ_AUTOESCAPE") != NULL;
	ro.strict_variables = getenv("LIQ_STRICT") != NULL;
	ro.strict_filters = getenv("LIQ_STRICT") != NULL;
	rc = liq_compile(tsrc, tl, NULL, &t, &err);
	if (rc == 0)
	{
		rc = liq_render(t, ctx, &ro, &out, &out_len, &err);
		liq_template_free(t);
	}
	if (rc != 0)
	{
		printf("ERROR: %s: %s (line %d, column %d) near \"%s\"\n", liq_error_kind_name(err.kind), err.message, err.line,
			   err.column, err.excerpt);
	}
	else
	{
		fwrite(out, 1, out_len, stdout);
		liq_output_free(&ro, out);
	}
	for (i = 0; i < pd.n; i++)
		free(pd.bufs[i]);
	free(tsrc);
	free(dsrc);
	liq_arena_free(ar);
	return rc ? 1 : 0;
}
