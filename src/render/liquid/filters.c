/*
 * filters.c - the standard Liquid filters plus the email helpers `money` and
 * `raw`, with Shopify Liquid 5.x semantics (InputIterator flattening,
 * Utils.to_number / to_integer coercions, Ruby string methods).
 * Owns: every filter except `date` (date.c) and the filter name table.
 *
 * money: locale-free currency formatting. The input is coerced like the
 * arithmetic filters (numbers, numeric strings; anything else is 0), rounded
 * half away from zero to 2 decimals using exact decimal arithmetic, printed
 * with ',' thousands separators and '.' decimals. An optional argument is a
 * prefix symbol placed after the minus sign: 1234.5 -> "1,234.50",
 * money: "€" -> "€1,234.50", -1234.5 -> "-1,234.50" / "-€1,234.50".
 * nil renders as "".
 */
#include "filters.h"
#include "render.h"
#include "number.h"
#include "text.h"
#include <string.h>
#include <stdio.h>
#include <math.h>

#define FILTER(name) static int name(liq_rs *rs, liq_value in, const liq_value *args, int nargs, \
									 const liq_value *kwn, const liq_value *kwv, int nkw, liq_value *out)
#define UNUSED_ARGS \
	(void) args; \
	(void) nargs; \
	(void) kwn; \
	(void) kwv; \
	(void) nkw

/* Positional argument i or nil. */
static liq_value
arg(const liq_value *args, int nargs, int i)
{
	return i < nargs ? args[i] : liq_nil();
}

/* Ruby to_s of a value as a string value. */
static liq_value
S(liq_rs *rs, liq_value v)
{
	return liq_stringify(rs->ar, v);
}

/* Start a string builder in the render arena. */
static void
sb(liq_rs *rs, liq_buf *b)
{
	liq_buf_init(b, rs->ar, 0);
}

/* Finish a string builder into a value. */
static liq_value
sb_done(liq_buf *b)
{
	return liq_str(b->data ? b->data : "", b->failed ? 0 : b->len);
}

/* Utils.to_integer: integers, or strings that are integers; else error. */
static int
to_integer(liq_rs *rs, liq_value v, int64_t *out)
{
	if (v.type == LIQ_INT)
	{
		*out = v.u.i;
		return 0;
	}
	if (v.type == LIQ_STRING)
	{
		const char *s = v.u.s;
		size_t		i = 0, n = v.len, j;
		bool		of, ok;
		while (i < n && liq_strip_space(s[i]))
			i++;
		while (n > i && liq_strip_space(s[n - 1]))
			n--;
		j = i + (i < n && (s[i] == '-' || s[i] == '+') ? 1 : 0);
		ok = j < n;
		for (; j < n; j++)
			if (!(s[j] >= '0' && s[j] <= '9') && !(s[j] == '_' && j > i && j + 1 < n))
				ok = false;
		if (ok)
		{
			*out = liq_str_to_i(s + i, n - i, &of);
			if (!of)
				return 0;
		}
	}
	return liq_rs_fail(rs, LIQ_ERR_RENDER, "invalid integer");
}

/* ------------------------------------------------------------------ */
/* sequences (InputIterator)                                           */
/* ------------------------------------------------------------------ */

typedef struct vec
{
	liq_value *v;
	size_t	   n, cap;
} vec;

/* Append to a vec; false on OOM. */
static bool
vpush(liq_rs *rs, vec *a, liq_value x)
{
	if (a->n == a->cap)
	{
		size_t	   nc = a->cap ? a->cap * 2 : 8;
		liq_value *nv = liq_arena_grow(rs->ar, a->v, a->n, nc, sizeof *nv);
		if (!nv)
			return false;
		a->v = nv;
		a->cap = nc;
	}
	a->v[a->n++] = x;
	return true;
}

/* Flatten nested arrays into a. */
static int
flatten_into(liq_rs *rs, vec *a, liq_value v, int depth)
{
	size_t i;
	if (depth > 100)
		return liq_rs_fail(rs, LIQ_ERR_LIMIT, "Nesting too deep");
	for (i = 0; i < v.u.a->len; i++)
	{
		liq_value x = v.u.a->items[i];
		if (x.type == LIQ_ARRAY)
		{
			if (flatten_into(rs, a, x, depth + 1) < 0)
				return -1;
		}
		else if (!vpush(rs, a, x))
		{
			return liq_rs_check_mem(rs);
		}
	}
	return 0;
}

/* InputIterator: arrays flattened, hash -> [hash], range expanded, nil -> []. */
static int
to_list(liq_rs *rs, liq_value v, vec *a)
{
	memset(a, 0, sizeof *a);
	switch (v.type)
	{
		case LIQ_NIL:
			return 0;
		case LIQ_ARRAY:
			return flatten_into(rs, a, v, 0);
		case LIQ_RANGE:
		{
			int64_t n = liq_seq_len(v), i;
			if ((uint64_t) n > rs->opts->max_iterations)
				return liq_rs_fail(rs, LIQ_ERR_LIMIT, "Range too large");
			for (i = 0; i < n; i++)
				if (!vpush(rs, a, liq_seq_at(v, i)))
					return liq_rs_check_mem(rs);
			return 0;
		}
		default:
			if (!vpush(rs, a, v))
				return liq_rs_check_mem(rs);
			return 0;
	}
}

/* Wrap a vec as an array value. */
static liq_value
vec_value(liq_rs *rs, vec *a)
{
	return liq_array_from(rs->ar, a->v, a->n);
}

/* ------------------------------------------------------------------ */
/* string filters                                                      */
/* ------------------------------------------------------------------ */

/* append: input.to_s + arg.to_s */
FILTER(f_append)
{
	liq_buf	  b;
	liq_value a = S(rs, in), c = S(rs, arg(args, nargs, 0));
	UNUSED_ARGS;
	sb(rs, &b);
	liq_buf_put(&b, a.u.s, a.len);
	liq_buf_put(&b, c.u.s, c.len);
	*out = sb_done(&b);
	return 0;
}

/* prepend: arg.to_s + input.to_s */
FILTER(f_prepend)
{
	liq_buf	  b;
	liq_value a = S(rs, in), c = S(rs, arg(args, nargs, 0));
	UNUSED_ARGS;
	sb(rs, &b);
	liq_buf_put(&b, c.u.s, c.len);
	liq_buf_put(&b, a.u.s, a.len);
	*out = sb_done(&b);
	return 0;
}

/* upcase / downcase / capitalize share this driver. */
static int
case_filter(liq_rs *rs, liq_value in, int mode, liq_value *out)
{
	liq_buf	  b;
	liq_value s = S(rs, in);
	sb(rs, &b);
	if (mode == 2)
		liq_capitalize(&b, s.u.s, s.len);
	else
		liq_case_map(&b, s.u.s, s.len, mode == 1);
	*out = sb_done(&b);
	return 0;
}

/* upcase */
FILTER(f_upcase)
{
	UNUSED_ARGS;
	return case_filter(rs, in, 1, out);
}
/* downcase */
FILTER(f_downcase)
{
	UNUSED_ARGS;
	return case_filter(rs, in, 0, out);
}
/* capitalize */
FILTER(f_capitalize)
{
	UNUSED_ARGS;
	return case_filter(rs, in, 2, out);
}

/* strip / lstrip / rstrip driver: which bit 1 = left, 2 = right. */
static int
strip_filter(liq_rs *rs, liq_value in, int which, liq_value *out)
{
	liq_value	s = S(rs, in);
	const char *p = s.u.s;
	size_t		n = s.len;
	if (which & 1)
		while (n && liq_strip_space(*p))
		{
			p++;
			n--;
		}
	if (which & 2)
		while (n && liq_strip_space(p[n - 1]))
			n--;
	*out = liq_str(p, n);
	return 0;
}

/* strip */
FILTER(f_strip)
{
	UNUSED_ARGS;
	return strip_filter(rs, in, 3, out);
}
/* lstrip */
FILTER(f_lstrip)
{
	UNUSED_ARGS;
	return strip_filter(rs, in, 1, out);
}
/* rstrip */
FILTER(f_rstrip)
{
	UNUSED_ARGS;
	return strip_filter(rs, in, 2, out);
}

/* Replace occurrences of `from` by `to`: mode 0 all, 1 first, 2 last. */
static liq_value
replace_impl(liq_rs *rs, liq_value s, liq_value from, liq_value to, int mode)
{
	liq_buf b;
	long	pos;
	size_t	i = 0;
	sb(rs, &b);
	if (mode == 2)
	{
		pos = liq_rfind(s.u.s, s.len, from.u.s, from.len);
		if (pos < 0)
			return s;
		liq_buf_put(&b, s.u.s, (size_t) pos);
		liq_buf_put(&b, to.u.s, to.len);
		liq_buf_put(&b, s.u.s + pos + from.len, s.len - (size_t) pos - from.len);
		return sb_done(&b);
	}
	if (from.len == 0 && mode == 0)
	{
		/* Ruby gsub("") inserts between every character */
		size_t l;
		liq_buf_put(&b, to.u.s, to.len);
		while (i < s.len)
		{
			liq_utf8_decode(s.u.s + i, s.len - i, &l);
			liq_buf_put(&b, s.u.s + i, l);
			liq_buf_put(&b, to.u.s, to.len);
			i += l;
		}
		return sb_done(&b);
	}
	for (;;)
	{
		pos = liq_find(s.u.s, s.len, from.u.s, from.len, i);
		if (pos < 0)
			break;
		liq_buf_put(&b, s.u.s + i, (size_t) pos - i);
		liq_buf_put(&b, to.u.s, to.len);
		i = (size_t) pos + from.len;
		if (mode == 1 || b.failed)
			break;
	}
	liq_buf_put(&b, s.u.s + i, s.len - i);
	return sb_done(&b);
}

/* replace: all occurrences */
FILTER(f_replace)
{
	UNUSED_ARGS;
	*out = replace_impl(rs, S(rs, in), S(rs, arg(args, nargs, 0)), S(rs, arg(args, nargs, 1)), 0);
	return 0;
}

/* replace_first */
FILTER(f_replace_first)
{
	UNUSED_ARGS;
	*out = replace_impl(rs, S(rs, in), S(rs, arg(args, nargs, 0)), S(rs, arg(args, nargs, 1)), 1);
	return 0;
}

/* replace_last */
FILTER(f_replace_last)
{
	UNUSED_ARGS;
	*out = replace_impl(rs, S(rs, in), S(rs, arg(args, nargs, 0)), S(rs, arg(args, nargs, 1)), 2);
	return 0;
}

/* remove: all occurrences */
FILTER(f_remove)
{
	UNUSED_ARGS;
	*out = replace_impl(rs, S(rs, in), S(rs, arg(args, nargs, 0)), liq_str("", 0), 0);
	return 0;
}

/* remove_first */
FILTER(f_remove_first)
{
	UNUSED_ARGS;
	*out = replace_impl(rs, S(rs, in), S(rs, arg(args, nargs, 0)), liq_str("", 0), 1);
	return 0;
}

/* remove_last */
FILTER(f_remove_last)
{
	UNUSED_ARGS;
	*out = replace_impl(rs, S(rs, in), S(rs, arg(args, nargs, 0)), liq_str("", 0), 2);
	return 0;
}

/* HTML-escape s into b; once = keep existing entities. */
static void
escape_into(liq_buf *b, const char *s, size_t n, bool once)
{
	size_t i;
	for (i = 0; i < n; i++)
	{
		switch (s[i])
		{
			case '<':
				liq_buf_put(b, "&lt;", 4);
				break;
			case '>':
				liq_buf_put(b, "&gt;", 4);
				break;
			case '"':
				liq_buf_put(b, "&quot;", 6);
				break;
			case '\'':
				liq_buf_put(b, "&#39;", 5);
				break;
			case '&':
				if (once)
				{
					/* &name; or &#digits; are kept */
					size_t j = i + 1;
					if (j < n && s[j] == '#')
					{
						j++;
						while (j < n && s[j] >= '0' && s[j] <= '9')
							j++;
						if (j > i + 2 && j < n && s[j] == ';')
						{
							liq_buf_putc(b, '&');
							break;
						}
					}
					else
					{
						while (j < n && ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z')))
							j++;
						if (j > i + 1 && j < n && s[j] == ';')
						{
							liq_buf_putc(b, '&');
							break;
						}
					}
				}
				liq_buf_put(b, "&amp;", 5);
				break;
			default:
				liq_buf_putc(b, s[i]);
		}
	}
}

/* escape (nil stays nil) */
FILTER(f_escape)
{
	liq_buf	  b;
	liq_value s;
	UNUSED_ARGS;
	if (in.type == LIQ_NIL)
	{
		*out = in;
		return 0;
	}
	s = S(rs, in);
	sb(rs, &b);
	escape_into(&b, s.u.s, s.len, false);
	*out = sb_done(&b);
	return 0;
}

/* escape_once */
FILTER(f_escape_once)
{
	liq_buf	  b;
	liq_value s = S(rs, in);
	UNUSED_ARGS;
	sb(rs, &b);
	escape_into(&b, s.u.s, s.len, true);
	*out = sb_done(&b);
	return 0;
}

/* newline_to_br: \r?\n -> <br />\n */
FILTER(f_newline_to_br)
{
	liq_buf	  b;
	liq_value s = S(rs, in);
	size_t	  i;
	UNUSED_ARGS;
	sb(rs, &b);
	for (i = 0; i < s.len; i++)
	{
		if (s.u.s[i] == '\n')
			liq_buf_put(&b, "<br />\n", 7);
		else if (s.u.s[i] == '\r' && i + 1 < s.len && s.u.s[i + 1] == '\n')
		{
			liq_buf_put(&b, "<br />\n", 7);
			i++;
		}
		else
			liq_buf_putc(&b, s.u.s[i]);
	}
	*out = sb_done(&b);
	return 0;
}

/* strip_newlines: remove \r?\n */
FILTER(f_strip_newlines)
{
	liq_buf	  b;
	liq_value s = S(rs, in);
	size_t	  i;
	UNUSED_ARGS;
	sb(rs, &b);
	for (i = 0; i < s.len; i++)
	{
		if (s.u.s[i] == '\n')
			continue;
		if (s.u.s[i] == '\r' && i + 1 < s.len && s.u.s[i + 1] == '\n')
			continue;
		liq_buf_putc(&b, s.u.s[i]);
	}
	*out = sb_done(&b);
	return 0;
}

/* strip_html, as Liquid's two gsubs: first every <script...</script>, <!--...--> and
 * <style...</style> block (case-sensitive, leftmost first, shortest match), then every <...>
 * in what remains; a '<' with no closer stays. Two passes, so `<<<script>x</script>` leaves
 * "<<" as Ruby does. */
FILTER(f_strip_html)
{
	static const struct
	{
		const char *open, *close;
	} blocks[] = {
		{"<script", "</script>"}, {"<!--", "-->"}, {"<style", "</style>"}};
	liq_buf		b1, b2;
	liq_value	s = S(rs, in);
	const char *p;
	size_t		i = 0, n, k;
	UNUSED_ARGS;
	sb(rs, &b1);
	while (i < s.len)
	{
		long e = -1;
		if (s.u.s[i] == '<')
			for (k = 0; k < 3 && e < 0; k++)
			{
				size_t ol = strlen(blocks[k].open), cl = strlen(blocks[k].close);
				if (s.len - i >= ol && memcmp(s.u.s + i, blocks[k].open, ol) == 0)
				{
					e = liq_find(s.u.s, s.len, blocks[k].close, cl, i + ol);
					if (e >= 0)
						e += (long) cl;
				}
			}
		if (e >= 0)
		{
			i = (size_t) e;
			continue;
		}
		liq_buf_putc(&b1, s.u.s[i]);
		i++;
	}
	p = b1.data ? b1.data : "";
	n = b1.failed ? 0 : b1.len;
	sb(rs, &b2);
	for (i = 0; i < n;)
	{
		const char *gt = p[i] == '<' && i + 1 < n ? memchr(p + i + 1, '>', n - i - 1) : NULL;
		if (gt)
		{
			i = (size_t) (gt - p) + 1;
			continue;
		}
		liq_buf_putc(&b2, p[i]);
		i++;
	}
	if (b1.failed || b2.failed)
		return liq_rs_fail(rs, LIQ_ERR_LIMIT, "Memory limit exceeded");
	*out = sb_done(&b2);
	return 0;
}

/* Ruby String#split(" ") (awk mode) with an optional limit (0 = none). */
static int
split_awk(liq_rs *rs, const char *s, size_t n, size_t limit, vec *a)
{
	size_t i = 0;
	memset(a, 0, sizeof *a);
	for (;;)
	{
		size_t st;
		while (i < n && liq_strip_space(s[i]))
			i++;
		if (i >= n)
			break;
		if (limit && a->n + 1 == limit)
		{
			if (!vpush(rs, a, liq_str(s + i, n - i)))
				return liq_rs_check_mem(rs);
			break;
		}
		st = i;
		while (i < n && !liq_strip_space(s[i]))
			i++;
		if (!vpush(rs, a, liq_str(s + st, i - st)))
			return liq_rs_check_mem(rs);
	}
	return 0;
}

/* split */
FILTER(f_split)
{
	liq_value s = S(rs, in), sep = S(rs, arg(args, nargs, 0));
	vec		  a;
	size_t	  i = 0;
	UNUSED_ARGS;
	memset(&a, 0, sizeof a);
	if (sep.len == 1 && sep.u.s[0] == ' ')
	{
		if (split_awk(rs, s.u.s, s.len, 0, &a) < 0)
			return -1;
	}
	else if (sep.len == 0)
	{
		size_t l;
		while (i < s.len)
		{
			liq_utf8_decode(s.u.s + i, s.len - i, &l);
			if (!vpush(rs, &a, liq_str(s.u.s + i, l)))
				return liq_rs_check_mem(rs);
			i += l;
		}
	}
	else
	{
		for (;;)
		{
			long   pos = liq_find(s.u.s, s.len, sep.u.s, sep.len, i);
			size_t e = pos < 0 ? s.len : (size_t) pos;
			if (!vpush(rs, &a, liq_str(s.u.s + i, e - i)))
				return liq_rs_check_mem(rs);
			if (pos < 0)
				break;
			i = e + sep.len;
		}
		while (a.n && a.v[a.n - 1].len == 0)
			a.n--; /* Ruby drops trailing empty fields */
	}
	*out = vec_value(rs, &a);
	return 0;
}

/* truncate: length in characters including the ellipsis. */
FILTER(f_truncate)
{
	int64_t	  len = 50, l;
	liq_value s, ell = liq_str("...", 3);
	liq_buf	  b;
	size_t	  chars;
	UNUSED_ARGS;
	if (in.type == LIQ_NIL)
	{
		*out = in;
		return 0;
	}
	s = S(rs, in);
	if (nargs > 0 && to_integer(rs, args[0], &len) < 0)
		return -1;
	if (nargs > 1)
		ell = S(rs, args[1]);
	chars = liq_utf8_len(s.u.s, s.len);
	if (len >= 0 && (uint64_t) chars <= (uint64_t) len)
	{
		*out = s;
		return 0;
	}
	/* Ruby: input[0...max(length - ellipsis length, 0)] + ellipsis, in bignums: no wrap near -2^63 */
	{
		int64_t ell_chars = (int64_t) liq_utf8_len(ell.u.s, ell.len);
		l = len < ell_chars ? 0 : len - ell_chars;
	}
	sb(rs, &b);
	liq_buf_put(&b, s.u.s, liq_utf8_offset(s.u.s, s.len, (size_t) l));
	liq_buf_put(&b, ell.u.s, ell.len);
	*out = sb_done(&b);
	return 0;
}

/* truncatewords */
FILTER(f_truncatewords)
{
	int64_t	  words = 15;
	liq_value s, ell = liq_str("...", 3);
	liq_buf	  b;
	vec		  a;
	size_t	  i;
	UNUSED_ARGS;
	if (in.type == LIQ_NIL)
	{
		*out = in;
		return 0;
	}
	s = S(rs, in);
	if (nargs > 0 && to_integer(rs, args[0], &words) < 0)
		return -1;
	if (nargs > 1)
		ell = S(rs, args[1]);
	if (words == INT64_MAX) /* Ruby's split limit words + 1 does not fit a long */
		return liq_rs_fail(rs, LIQ_ERR_RENDER, "integer %lld too big for truncatewords", (long long) words);
	if (words <= 0)
		words = 1;
	if (words > 0x7ffffffe)
		words = 0x7ffffffe;
	if (split_awk(rs, s.u.s, s.len, (size_t) words + 1, &a) < 0)
		return -1;
	if (a.n <= (size_t) words)
	{
		*out = s;
		return 0;
	}
	sb(rs, &b);
	for (i = 0; i < (size_t) words; i++)
	{
		if (i)
			liq_buf_putc(&b, ' ');
		liq_buf_put(&b, a.v[i].u.s, a.v[i].len);
	}
	liq_buf_put(&b, ell.u.s, ell.len);
	*out = sb_done(&b);
	return 0;
}

/* Is c an unreserved character for CGI.escape? */
static bool
url_safe(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		   c == '-' || c == '~' || c == '*';
}

/* url_encode: CGI.escape (nil stays nil) */
FILTER(f_url_encode)
{
	static const char hex[] = "0123456789ABCDEF";
	liq_buf			  b;
	liq_value		  s;
	size_t			  i;
	UNUSED_ARGS;
	if (in.type == LIQ_NIL)
	{
		*out = in;
		return 0;
	}
	s = S(rs, in);
	sb(rs, &b);
	for (i = 0; i < s.len; i++)
	{
		unsigned char c = (unsigned char) s.u.s[i];
		if (c == ' ')
			liq_buf_putc(&b, '+');
		else if (url_safe(c) && c != '*')
			liq_buf_putc(&b, (char) c);
		else
		{
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			liq_buf_put(&b, e, 3);
		}
	}
	*out = sb_done(&b);
	return 0;
}

/* Hex digit value or -1. */
static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* url_decode: CGI.unescape (nil stays nil) */
FILTER(f_url_decode)
{
	liq_buf	  b;
	liq_value s;
	size_t	  i;
	UNUSED_ARGS;
	if (in.type == LIQ_NIL)
	{
		*out = in;
		return 0;
	}
	s = S(rs, in);
	sb(rs, &b);
	for (i = 0; i < s.len; i++)
	{
		char c = s.u.s[i];
		if (c == '+')
			liq_buf_putc(&b, ' ');
		else if (c == '%' && i + 2 < s.len + 0 && hexval(s.u.s[i + 1]) >= 0 && hexval(s.u.s[i + 2]) >= 0)
		{
			liq_buf_putc(&b, (char) (hexval(s.u.s[i + 1]) * 16 + hexval(s.u.s[i + 2])));
			i += 2;
		}
		else
			liq_buf_putc(&b, c);
	}
	*out = sb_done(&b);
	return 0;
}

/* base64 encode with the standard or URL-safe alphabet. */
static int
b64enc(liq_rs *rs, liq_value in, bool url, liq_value *out)
{
	static const char	 std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	static const char	 urls[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const char			*al = url ? urls : std;
	liq_value			 s = S(rs, in);
	const unsigned char *p = (const unsigned char *) s.u.s;
	liq_buf				 b;
	size_t				 i;
	sb(rs, &b);
	for (i = 0; i + 2 < s.len; i += 3)
	{
		char o[4] = {al[p[i] >> 2], al[((p[i] & 3) << 4) | (p[i + 1] >> 4)], al[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)],
					 al[p[i + 2] & 63]};
		liq_buf_put(&b, o, 4);
	}
	if (s.len - i == 1)
	{
		char o[4] = {al[p[i] >> 2], al[(p[i] & 3) << 4], '=', '='};
		liq_buf_put(&b, o, 4);
	}
	else if (s.len - i == 2)
	{
		char o[4] = {al[p[i] >> 2], al[((p[i] & 3) << 4) | (p[i + 1] >> 4)], al[(p[i + 1] & 15) << 2], '='};
		liq_buf_put(&b, o, 4);
	}
	*out = sb_done(&b);
	return 0;
}

/* Value of a base64 character or -1. */
static int
b64val(char c, bool url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

/* base64 decode (strict; URL-safe variant accepts missing padding). */
static int
b64dec(liq_rs *rs, liq_value in, bool url, liq_value *out)
{
	liq_value s;
	liq_buf	  b;
	size_t	  i, n;
	uint32_t  acc = 0;
	int		  bits = 0;
	if (in.type == LIQ_NIL)
	{
		*out = liq_str("", 0);
		return 0;
	}
	if (in.type != LIQ_STRING)
		return liq_rs_fail(rs, LIQ_ERR_RENDER, "invalid base64 provided to base64_decode");
	s = in;
	n = s.len;
	if (!url && n % 4)
		return liq_rs_fail(rs, LIQ_ERR_RENDER, "invalid base64 provided to base64_decode");
	while (n && s.u.s[n - 1] == '=')
		n--;
	if (s.len - n > 2 || (url && s.len != n && s.len % 4))
		return liq_rs_fail(rs, LIQ_ERR_RENDER, "invalid base64 provided to base64_decode");
	sb(rs, &b);
	for (i = 0; i < n; i++)
	{
		int v = b64val(s.u.s[i], url);
		if (v < 0)
			return liq_rs_fail(rs, LIQ_ERR_RENDER, "invalid base64 provided to base64_decode");
		acc = (acc << 6) | (uint32_t) v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			liq_buf_putc(&b, (char) ((acc >> bits) & 0xFF));
		}
	}
	if (n % 4 == 1)
		return liq_rs_fail(rs, LIQ_ERR_RENDER, "invalid base64 provided to base64_decode");
	*out = sb_done(&b);
	return 0;
}

/* base64_encode */
FILTER(f_base64_encode)
{
	UNUSED_ARGS;
	return b64enc(rs, in, false, out);
}
/* base64_decode */
FILTER(f_base64_decode)
{
	UNUSED_ARGS;
	return b64dec(rs, in, false, out);
}
/* base64_url_safe_encode */
FILTER(f_base64_url_safe_encode)
{
	UNUSED_ARGS;
	return b64enc(rs, in, true, out);
}
/* base64_url_safe_decode */
FILTER(f_base64_url_safe_decode)
{
	UNUSED_ARGS;
	return b64dec(rs, in, true, out);
}

/* slice: string (characters) or array slice. */
FILTER(f_slice)
{
	int64_t off, len = 1, n;
	UNUSED_ARGS;
	if (to_integer(rs, arg(args, nargs, 0), &off) < 0)
		return -1;
	if (nargs > 1 && args[1].type != LIQ_NIL && to_integer(rs, args[1], &len) < 0)
		return -1;
	if (in.type == LIQ_ARRAY)
	{
		n = (int64_t) in.u.a->len;
		if (off < 0)
			off += n;
		if (off < 0 || off > n || len < 0)
		{
			*out = liq_array_new(rs->ar, 0);
			return 0;
		}
		if (len > n - off)
			len = n - off;
		if (len == 0) /* an empty array may have no items at all: nothing to point into */
		{
			*out = liq_array_new(rs->ar, 0);
			return 0;
		}
		*out = liq_array_from(rs->ar, in.u.a->items + off, (size_t) len);
		return 0;
	}
	{
		liq_value s = S(rs, in);
		size_t	  bo, be;
		n = (int64_t) liq_utf8_len(s.u.s, s.len);
		if (off < 0)
			off += n;
		if (off < 0 || off > n || len < 0)
		{
			*out = liq_str("", 0);
			return 0;
		}
		if (len > n - off)
			len = n - off;
		bo = liq_utf8_offset(s.u.s, s.len, (size_t) off);
		be = liq_utf8_offset(s.u.s, s.len, (size_t) (off + len));
		*out = liq_str(s.u.s + bo, be - bo);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* math filters                                                        */
/* ------------------------------------------------------------------ */

/*
 * A math filter's result as a value, or the refusal of an integer beyond 64 bits: Ruby keeps such
 * integers exact, this engine's are 64-bit, and a float would print a different number.
 */
static int
num_result(liq_rs *rs, const char *filter, liq_num n, liq_value *out)
{
	if (n.big)
		return liq_rs_fail(rs, LIQ_ERR_RANGE, "%s: integer beyond 64 bits (Liquid integers here are 64-bit; "
											  "Ruby would keep it exact)",
						   filter);
	*out = liq_num_value(n);
	return 0;
}

/* plus / minus / times / divided_by / modulo driver. */
static int
arith(liq_rs *rs, liq_value a, liq_value b, liq_arith_op op, liq_value *out)
{
	liq_num r;
	if (!liq_num_arith(liq_to_num(a), liq_to_num(b), op, &r))
		return liq_rs_fail(rs, LIQ_ERR_RENDER, "divided by 0");
	return num_result(rs, (const char *[]){"plus", "minus", "times", "divided_by", "modulo"}[op], r, out);
}

/* plus */
FILTER(f_plus)
{
	UNUSED_ARGS;
	return arith(rs, in, arg(args, nargs, 0), LIQ_OP_ADD, out);
}
/* minus */
FILTER(f_minus)
{
	UNUSED_ARGS;
	return arith(rs, in, arg(args, nargs, 0), LIQ_OP_SUB, out);
}
/* times */
FILTER(f_times)
{
	UNUSED_ARGS;
	return arith(rs, in, arg(args, nargs, 0), LIQ_OP_MUL, out);
}
/* divided_by */
FILTER(f_divided_by)
{
	UNUSED_ARGS;
	return arith(rs, in, arg(args, nargs, 0), LIQ_OP_DIV, out);
}
/* modulo */
FILTER(f_modulo)
{
	UNUSED_ARGS;
	return arith(rs, in, arg(args, nargs, 0), LIQ_OP_MOD, out);
}

/* abs */
FILTER(f_abs)
{
	UNUSED_ARGS;
	return num_result(rs, "abs", liq_num_abs(liq_to_num(in)), out);
}

/* ceil (dir > 0) or floor (dir < 0) to an integer: Ruby's is exact, so one beyond 64 bits is refused. */
static int
floor_ceil(liq_rs *rs, const char *filter, liq_num n, int dir, liq_value *out)
{
	if (n.big)
		return num_result(rs, filter, n, out);
	if (!liq_num_floor_ceil(n, dir, out))
		return liq_rs_fail(rs, LIQ_ERR_RENDER, "Infinity");
	if (out->type == LIQ_FLOAT)
	{
		n.big = true;
		return num_result(rs, filter, n, out);
	}
	return 0;
}

/* ceil */
FILTER(f_ceil)
{
	UNUSED_ARGS;
	return floor_ceil(rs, "ceil", liq_to_num(in), 1, out);
}

/* floor */
FILTER(f_floor)
{
	UNUSED_ARGS;
	return floor_ceil(rs, "floor", liq_to_num(in), -1, out);
}

/* round: half away from zero; 0 digits -> integer */
FILTER(f_round)
{
	liq_num n = liq_to_num(in), d = liq_to_num(arg(args, nargs, 0)), r;
	int64_t digits;
	UNUSED_ARGS;
	if (d.kind == LIQ_NUM_INT)
		digits = d.i;
	else
	{
		liq_value dv;
		liq_num_floor_ceil(d, -1, &dv);
		digits = dv.type == LIQ_INT ? dv.u.i : 0;
	}
	if (n.big)
		return num_result(rs, "round", n, out);
	r = liq_num_round(n, digits);
	if (r.kind == LIQ_NUM_DBL && r.d != r.d)
		return liq_rs_fail(rs, LIQ_ERR_RENDER, "NaN");
	if (digits <= 0 && r.kind != LIQ_NUM_INT && !r.big)
	{
		if (!liq_num_floor_ceil(r, -1, out))
		{
			*out = liq_num_value(r);
		}
		else if (out->type == LIQ_FLOAT && isfinite(out->u.f))
		{
			r.big = true; /* Ruby's Float#round(0) is an exact Integer */
			return num_result(rs, "round", r, out);
		}
		return 0;
	}
	return num_result(rs, "round", r, out);
}

/* at_least / at_most driver (Ruby [a, b].max / min). */
static int
clamp(liq_rs *rs, liq_value in, liq_value b, bool least, liq_value *out)
{
	liq_num x = liq_to_num(in), y = liq_to_num(b);
	int		c = liq_num_cmp(x, y);
	liq_num r = (least ? c < 0 : c > 0) ? y : x; /* refused only when the answer is beyond 64 bits */

	return num_result(rs, least ? "at_least" : "at_most", r, out);
}

/* at_least */
FILTER(f_at_least)
{
	UNUSED_ARGS;
	return clamp(rs, in, arg(args, nargs, 0), true, out);
}
/* at_most */
FILTER(f_at_most)
{
	UNUSED_ARGS;
	return clamp(rs, in, arg(args, nargs, 0), false, out);
}

/* The exact decimal a money input stands for, as Utils.to_number reads it:
 * sign, integer digits (into ip) and the first three fraction digits (frac,
 * zero-padded; more are not needed to round half away from zero to cents).
 * -1 (LIQ_ERR_RANGE) for a float that has no exact amount: not finite, or
 * 2^53 or more, where the double no longer tells its integers apart. */
static int
money_digits(liq_rs *rs, liq_value in, bool *neg, liq_buf *ip, char frac[3])
{
	char		tmp[LIQ_NUMBUF];
	const char *s = tmp;
	size_t		n = 0, i = 0, b, e;
	bool		decimal = false;
	memset(frac, '0', 3);
	*neg = false;
	if (in.type == LIQ_INT)
	{
		n = liq_fmt_int(tmp, in.u.i);
	}
	else if (in.type == LIQ_FLOAT)
	{
		liq_num d;
		int64_t k;
		size_t	nd;
		if (!(in.u.f > -9007199254740992.0 && in.u.f < 9007199254740992.0))
		{
			liq_value txt = S(rs, in);
			return liq_rs_fail(rs, LIQ_ERR_RANGE, "money: %.*s has no exact amount (a float of 2^53 or more); "
												  "pass it as an integer or a decimal string",
							   (int) txt.len, txt.u.s);
		}
		d = liq_to_num(in); /* the float's shortest decimal, as Ruby's BigDecimal(f.to_s) */
		*neg = d.m < 0;
		nd = liq_fmt_int(tmp, (int64_t) (d.m < 0 ? -d.m : d.m));
		if (d.e >= 0)
		{
			liq_buf_put(ip, tmp, nd);
			for (k = 0; k < d.e; k++)
				liq_buf_putc(ip, '0');
			return 0;
		}
		for (k = 0; k < 3; k++)
		{ /* fraction digit k sits at position nd + e + k of tmp */
			int64_t at = (int64_t) nd + d.e + k;
			if (at >= 0 && at < (int64_t) nd)
				frac[k] = tmp[at];
		}
		if ((int64_t) nd + d.e > 0)
			liq_buf_put(ip, tmp, (size_t) ((int64_t) nd + d.e));
		return 0;
	}
	else if (in.type == LIQ_STRING)
	{
		s = in.u.s;
		n = in.len;
		decimal = liq_is_decimal_text(s, n, &b, &e);
		if (decimal)
		{
			i = b;
			n = e;
		}
	}
	else
	{
		return 0; /* anything else is 0 */
	}
	/* integer text as String#to_i reads it (leading space, sign, digits with _), or a decimal */
	while (i < n && liq_strip_space(s[i]))
		i++;
	if (i < n && (s[i] == '-' || s[i] == '+'))
		*neg = s[i++] == '-';
	for (; i < n; i++)
	{
		if (s[i] == '_' && !decimal && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9' && i > 0 &&
			s[i - 1] >= '0' && s[i - 1] <= '9')
			continue;
		if (s[i] < '0' || s[i] > '9')
			break;
		liq_buf_putc(ip, s[i]);
	}
	if (decimal && i < n && s[i] == '.')
		for (i++, b = 0; i < n && b < 3; i++, b++)
			frac[b] = s[i];
	return 0;
}

/* money: see the banner comment. */
FILTER(f_money)
{
	liq_value	sym = liq_str("", 0);
	liq_buf		ip, o;
	char		frac[3];
	const char *d;
	size_t		nd, i;
	bool		neg, carry;
	int			cents;
	UNUSED_ARGS;
	if (in.type == LIQ_NIL)
	{
		*out = in;
		return 0;
	}
	if (nargs > 0 && args[0].type != LIQ_NIL)
		sym = S(rs, args[0]);
	sb(rs, &ip);
	if (money_digits(rs, in, &neg, &ip, frac) < 0)
		return -1;
	if (ip.failed)
		return liq_rs_fail(rs, LIQ_ERR_LIMIT, "Memory limit exceeded");
	d = ip.data ? ip.data : "";
	nd = ip.len;
	while (nd > 1 && d[0] == '0')
	{
		d++;
		nd--;
	}
	/* round half away from zero to cents; a carry past the cents adds one to the integer digits */
	cents = (frac[0] - '0') * 10 + (frac[1] - '0') + (frac[2] >= '5');
	carry = cents == 100;
	if (carry)
		cents = 0;
	sb(rs, &o);
	if (neg && (nd > 1 || (nd == 1 && d[0] != '0') || cents || carry))
		liq_buf_putc(&o, '-');
	liq_buf_put(&o, sym.u.s, sym.len);
	{
		/* the integer digits plus the carry, most significant first, with ',' every three */
		char  *sum = liq_arena_alloc(rs->ar, nd + 2);
		size_t len = nd ? nd : 1, k;
		if (!sum)
			return liq_rs_check_mem(rs);
		sum[0] = '0';
		memcpy(sum + 1, nd ? d : "0", len);
		for (k = len; carry && k > 0; k--)
		{
			if (sum[k] == '9')
			{
				sum[k] = '0';
			}
			else
			{
				sum[k]++;
				carry = false;
			}
		}
		if (carry)
			sum[0] = '1';
		i = sum[0] == '1' ? 0 : 1;
		for (k = i; k <= len; k++)
		{
			liq_buf_putc(&o, sum[k]);
			if (k < len && (len - k) % 3 == 0)
				liq_buf_putc(&o, ',');
		}
	}
	liq_buf_putc(&o, '.');
	liq_buf_putc(&o, (char) ('0' + cents / 10));
	liq_buf_putc(&o, (char) ('0' + cents % 10));
	if (o.failed)
		return liq_rs_fail(rs, LIQ_ERR_LIMIT, "Memory limit exceeded");
	*out = sb_done(&o);
	return 0;
}

/* ------------------------------------------------------------------ */
/* misc                                                                */
/* ------------------------------------------------------------------ */

/* default: fallback for nil, false, empty (allow_false keeps false). */
FILTER(f_default)
{
	bool allow_false = false, use_default;
	int	 i;
	(void) nargs;
	for (i = 0; i < nkw; i++)
		if (kwn[i].len == 11 && memcmp(kwn[i].u.s, "allow_false", 11) == 0)
			allow_false = liq_truthy(kwv[i]);
	if (allow_false)
		use_default = in.type == LIQ_NIL;
	else
		use_default = !liq_truthy(in);
	if (!use_default && liq_is_empty(in))
		use_default = true;
	(void) rs;
	*out = nargs > 0 ? args[0] : liq_str("", 0);
	if (!use_default)
		*out = in;
	return 0;
}

/* size: length of strings (characters), arrays, hashes; Integer#size is 8. */
FILTER(f_size)
{
	UNUSED_ARGS;
	switch (in.type)
	{
		case LIQ_STRING:
			*out = liq_int((int64_t) liq_utf8_len(in.u.s, in.len));
			break;
		case LIQ_ARRAY:
			*out = liq_int((int64_t) in.u.a->len);
			break;
		case LIQ_OBJECT:
			*out = liq_int((int64_t) in.u.o->len);
			break;
		case LIQ_RANGE:
			/* a range of 2^63 values or more has no 64-bit size (liq_seq_len clamps) */
			if (in.u.r->hi >= in.u.r->lo && (uint64_t) in.u.r->hi - (uint64_t) in.u.r->lo >= (uint64_t) INT64_MAX)
				return liq_rs_fail(rs, LIQ_ERR_RANGE, "size: the range has 2^63 values or more");
			*out = liq_int(liq_seq_len(in));
			break;
		case LIQ_INT:
			*out = liq_int(8);
			break;
		default:
			*out = liq_int(0);
			break;
	}
	return 0;
}

/* raw: identity; marks output as safe when autoescape is on. */
FILTER(f_raw)
{
	UNUSED_ARGS;
	(void) rs;
	*out = in;
	return 0;
}

/* first: arrays, ranges, first [key, value] pair of a hash. */
FILTER(f_first)
{
	bool found;
	UNUSED_ARGS;
	if (in.type == LIQ_ARRAY || in.type == LIQ_RANGE || in.type == LIQ_OBJECT)
	{
		if (in.type == LIQ_OBJECT && liq_object_get(in, "first", 5))
		{
			/* a hash with a "first" key: Hash#first still returns the pair */
			if (!in.u.o->len)
			{
				*out = liq_nil();
				return 0;
			}
			{
				liq_value pair[2];
				pair[0] = liq_str(in.u.o->items[0].key, in.u.o->items[0].klen);
				pair[1] = in.u.o->items[0].val;
				*out = liq_array_from(rs->ar, pair, 2);
				return 0;
			}
		}
		*out = liq_prop(rs->ar, in, liq_str("first", 5), true, &found);
		return 0;
	}
	*out = liq_nil();
	return 0;
}

/* last: arrays and ranges only. */
FILTER(f_last)
{
	bool found;
	UNUSED_ARGS;
	if (in.type == LIQ_ARRAY || in.type == LIQ_RANGE)
	{
		*out = liq_prop(rs->ar, in, liq_str("last", 4), true, &found);
		return 0;
	}
	*out = liq_nil();
	return 0;
}

/* join: flattened items joined with glue (default " "). */
FILTER(f_join)
{
	vec		  a;
	liq_buf	  b;
	liq_value glue = nargs > 0 ? S(rs, args[0]) : liq_str(" ", 1);
	size_t	  i;
	UNUSED_ARGS;
	if (to_list(rs, in, &a) < 0)
		return -1;
	sb(rs, &b);
	for (i = 0; i < a.n && !b.failed; i++)
	{
		if (i)
			liq_buf_put(&b, glue.u.s, glue.len);
		liq_to_s(&b, a.v[i]);
	}
	*out = sb_done(&b);
	return 0;
}

/* reverse */
FILTER(f_reverse)
{
	vec	   a;
	size_t i;
	UNUSED_ARGS;
	if (to_list(rs, in, &a) < 0)
		return -1;
	for (i = 0; i < a.n / 2; i++)
	{
		liq_value t = a.v[i];
		a.v[i] = a.v[a.n - 1 - i];
		a.v[a.n - 1 - i] = t;
	}
	*out = vec_value(rs, &a);
	return 0;
}

/* concat: flattened input followed by the (array) argument. */
FILTER(f_concat)
{
	vec		  a;
	size_t	  i;
	liq_value other = arg(args, nargs, 0);
	UNUSED_ARGS;
	if (other.type != LIQ_ARRAY)
		return liq_rs_fail(rs, LIQ_ERR_RENDER, "concat filter requires an array argument");
	if (to_list(rs, in, &a) < 0)
		return -1;
	for (i = 0; i < other.u.a->len; i++)
		if (!vpush(rs, &a, other.u.a->items[i]))
			return liq_rs_check_mem(rs);
	*out = vec_value(rs, &a);
	return 0;
}

/* Ruby eql?-style equality used by uniq (1 and 1.0 differ). */
static bool
eql(liq_value a, liq_value b)
{
	if (a.type != b.type)
		return false;
	if (a.type == LIQ_ARRAY)
	{
		size_t i;
		if (a.u.a->len != b.u.a->len)
			return false;
		for (i = 0; i < a.u.a->len; i++)
			if (!eql(a.u.a->items[i], b.u.a->items[i]))
				return false;
		return true;
	}
	return liq_equal(a, b);
}

/* Outcome of looking up a property on an item (item[property]). */
typedef enum
{
	ITEM_OK,
	ITEM_NIL_RESULT,
	ITEM_ERROR
} item_rc;

/* item[prop] as Ruby would do it for hashes, strings and integers. */
static item_rc
item_prop(liq_rs *rs, liq_value item, liq_value prop, liq_value *out)
{
	bool found;
	*out = liq_nil();
	switch (item.type)
	{
		case LIQ_OBJECT:
			if (prop.type == LIQ_STRING)
				*out = liq_prop(rs->ar, item, prop, true, &found);
			if (prop.type == LIQ_STRING && !found)
				*out = liq_nil();
			return ITEM_OK;
		case LIQ_STRING:
			if (prop.type == LIQ_STRING)
			{
				if (liq_find(item.u.s, item.len, prop.u.s, prop.len, 0) >= 0)
					*out = prop;
				return ITEM_OK;
			}
			return ITEM_NIL_RESULT;
		case LIQ_INT:
			if (prop.type == LIQ_INT)
			{
				*out = liq_int(prop.u.i >= 0 && prop.u.i < 63 ? (item.u.i >> prop.u.i) & 1 : item.u.i < 0);
				return ITEM_OK;
			}
			liq_rs_fail(rs, LIQ_ERR_RENDER, "no implicit conversion of %s into Integer",
						prop.type == LIQ_STRING ? "String" : "nil");
			return ITEM_ERROR;
		case LIQ_DROP:
			if (prop.type == LIQ_STRING)
				*out = liq_prop(rs->ar, item, prop, true, &found);
			return ITEM_OK;
		default:
			return ITEM_NIL_RESULT;
	}
}

/* Hash of a value consistent with eql(). */
static uint32_t
value_hash(liq_value v, int depth)
{
	uint32_t h = 2166136261u ^ v.type;
	size_t	 i;
	switch (v.type)
	{
		case LIQ_BOOL:
			return h ^ (uint32_t) v.u.b;
		case LIQ_INT:
			return h ^ (uint32_t) (v.u.i ^ (v.u.i >> 32));
		case LIQ_FLOAT:
		{
			uint64_t bits;
			double	 d = v.u.f == 0 ? 0.0 : v.u.f; /* -0.0 == 0.0 */
			memcpy(&bits, &d, sizeof bits);
			return h ^ (uint32_t) (bits ^ (bits >> 32));
		}
		case LIQ_STRING:
			return liq_hash(v.u.s, v.len);
		case LIQ_ARRAY:
			if (depth > 8)
				return h;
			for (i = 0; i < v.u.a->len && i < 16; i++)
				h = (h ^ value_hash(v.u.a->items[i], depth + 1)) * 16777619u;
			return h ^ (uint32_t) v.u.a->len;
		case LIQ_OBJECT:
			return h ^ (uint32_t) v.u.o->len;
		case LIQ_RANGE:
			return h ^ (uint32_t) ((uint64_t) v.u.r->lo * 31u + (uint64_t) v.u.r->hi);
		default:
			return h;
	}
}

/* uniq (optionally by property), hashed so large inputs stay linear */
FILTER(f_uniq)
{
	vec		   a, r;
	size_t	   i, cap = 16;
	int64_t	  *slots;
	liq_value *keys;
	liq_value  prop = arg(args, nargs, 0);
	UNUSED_ARGS;
	if (to_list(rs, in, &a) < 0)
		return -1;
	memset(&r, 0, sizeof r);
	while (cap < a.n * 2 + 2)
		cap *= 2;
	slots = liq_arena_alloc(rs->ar, cap * sizeof *slots);
	keys = liq_arena_calloc(rs->ar, a.n + 1, sizeof *keys);
	if (!slots || !keys)
		return liq_rs_check_mem(rs);
	memset(slots, 0xff, cap * sizeof *slots);
	for (i = 0; i < a.n; i++)
	{
		liq_value k = a.v[i];
		size_t	  pos;
		bool	  dup = false;
		if (nargs > 0 && prop.type != LIQ_NIL && item_prop(rs, a.v[i], prop, &k) == ITEM_ERROR)
			return -1;
		keys[i] = k;
		pos = value_hash(k, 0) & (cap - 1);
		while (slots[pos] >= 0)
		{
			if (eql(keys[slots[pos]], k))
			{
				dup = true;
				break;
			}
			pos = (pos + 1) & (cap - 1);
		}
		if (dup)
			continue;
		slots[pos] = (int64_t) i;
		if (!vpush(rs, &r, a.v[i]))
			return liq_rs_check_mem(rs);
	}
	*out = vec_value(rs, &r);
	return 0;
}

/* compact (optionally by property) */
FILTER(f_compact)
{
	vec		  a, r;
	size_t	  i;
	liq_value prop = arg(args, nargs, 0);
	UNUSED_ARGS;
	if (to_list(rs, in, &a) < 0)
		return -1;
	memset(&r, 0, sizeof r);
	for (i = 0; i < a.n; i++)
	{
		liq_value v = a.v[i];
		if (nargs > 0 && prop.type != LIQ_NIL && item_prop(rs, a.v[i], prop, &v) == ITEM_ERROR)
			return -1;
		if (v.type != LIQ_NIL && !vpush(rs, &r, a.v[i]))
			return liq_rs_check_mem(rs);
	}
	*out = vec_value(rs, &r);
	return 0;
}

/* map: item[property] for each item. */
FILTER(f_map)
{
	vec		  a, r;
	size_t	  i;
	liq_value prop = arg(args, nargs, 0);
	UNUSED_ARGS;
	if (to_list(rs, in, &a) < 0)
		return -1;
	memset(&r, 0, sizeof r);
	for (i = 0; i < a.n; i++)
	{
		liq_value v;
		item_rc	  rc = item_prop(rs, a.v[i], prop, &v);
		if (rc == ITEM_ERROR)
			return -1;
		if (rc == ITEM_NIL_RESULT)
			v = liq_nil();
		if (!vpush(rs, &r, v))
			return liq_rs_check_mem(rs);
	}
	*out = vec_value(rs, &r);
	return 0;
}

/* Does item match (property, optional target)? rc tells about errors. */
static item_rc
item_match(liq_rs *rs, liq_value item, liq_value prop, bool has_target, liq_value target, bool *m)
{
	liq_value v;
	item_rc	  rc = item_prop(rs, item, prop, &v);
	*m = false;
	if (rc != ITEM_OK)
		return rc;
	if (has_target && target.type != LIQ_NIL)
		*m = liq_equal(v, target) && (liq_is_number(v) == liq_is_number(target));
	else
		*m = liq_truthy(v);
	return ITEM_OK;
}

/* where / reject driver. */
static int
select_impl(liq_rs *rs, liq_value in, const liq_value *args, int nargs, bool keep, liq_value *out)
{
	vec		  a, r;
	size_t	  i;
	liq_value prop = arg(args, nargs, 0), target = arg(args, nargs, 1);
	if (to_list(rs, in, &a) < 0)
		return -1;
	memset(&r, 0, sizeof r);
	for (i = 0; i < a.n; i++)
	{
		bool	m;
		item_rc rc = item_match(rs, a.v[i], prop, nargs > 1, target, &m);
		if (rc == ITEM_ERROR)
			return -1;
		if (rc == ITEM_NIL_RESULT)
		{
			if (keep)
				continue;
			*out = liq_nil();
			return 0;
		}
		if (m == keep && !vpush(rs, &r, a.v[i]))
			return liq_rs_check_mem(rs);
	}
	*out = vec_value(rs, &r);
	return 0;
}

/* where */
FILTER(f_where)
{
	UNUSED_ARGS;
	return select_impl(rs, in, args, nargs, true, out);
}
/* reject */
FILTER(f_reject)
{
	UNUSED_ARGS;
	return select_impl(rs, in, args, nargs, false, out);
}

/* find / find_index / has driver: mode 0 find, 1 index, 2 has. */
static int
find_impl(liq_rs *rs, liq_value in, const liq_value *args, int nargs, int mode, liq_value *out)
{
	vec		  a;
	size_t	  i;
	liq_value prop = arg(args, nargs, 0), target = arg(args, nargs, 1);
	if (to_list(rs, in, &a) < 0)
		return -1;
	for (i = 0; i < a.n; i++)
	{
		bool	m;
		item_rc rc = item_match(rs, a.v[i], prop, nargs > 1, target, &m);
		if (rc == ITEM_ERROR)
			return -1;
		if (rc == ITEM_NIL_RESULT)
		{
			*out = liq_nil();
			return 0;
		}
		if (m)
		{
			*out = mode == 0 ? a.v[i] : mode == 1 ? liq_int((int64_t) i)
												  : liq_bool(true);
			return 0;
		}
	}
	*out = mode == 2 ? liq_bool(false) : liq_nil();
	return 0;
}

/* find */
FILTER(f_find)
{
	UNUSED_ARGS;
	return find_impl(rs, in, args, nargs, 0, out);
}
/* find_index */
FILTER(f_find_index)
{
	UNUSED_ARGS;
	return find_impl(rs, in, args, nargs, 1, out);
}
/* has */
FILTER(f_has)
{
	UNUSED_ARGS;
	return find_impl(rs, in, args, nargs, 2, out);
}

/* sum (optionally by property) */
FILTER(f_sum)
{
	vec		  a;
	size_t	  i;
	liq_num	  total;
	liq_value prop = arg(args, nargs, 0);
	UNUSED_ARGS;
	memset(&total, 0, sizeof total);
	total.kind = LIQ_NUM_INT;
	if (to_list(rs, in, &a) < 0)
		return -1;
	for (i = 0; i < a.n; i++)
	{
		liq_value v = a.v[i];
		if (nargs > 0 && prop.type != LIQ_NIL)
		{
			item_rc rc = item_prop(rs, a.v[i], prop, &v);
			if (rc == ITEM_ERROR)
				return -1;
			if (rc == ITEM_NIL_RESULT)
				v = liq_int(0);
		}
		if (!liq_num_arith(total, liq_to_num(v), LIQ_OP_ADD, &total))
			return liq_rs_fail(rs, LIQ_ERR_RENDER, "sum failed");
	}
	return num_result(rs, "sum", total, out);
}

/* ------------------------------------------------------------------ */
/* sorting                                                             */
/* ------------------------------------------------------------------ */

typedef struct sort_ctx
{
	liq_rs *rs;
	bool	natural;
	bool	failed;
} sort_ctx;

/* Ruby <=> between two values; false if incomparable. */
static bool
spaceship(liq_value a, liq_value b, int *r)
{
	if (liq_compare(a, b, r))
		return true;
	if (a.type == LIQ_ARRAY && b.type == LIQ_ARRAY)
	{
		size_t i;
		for (i = 0; i < a.u.a->len && i < b.u.a->len; i++)
		{
			if (!spaceship(a.u.a->items[i], b.u.a->items[i], r))
				return false;
			if (*r)
				return true;
		}
		*r = a.u.a->len < b.u.a->len ? -1 : a.u.a->len > b.u.a->len;
		return true;
	}
	if (a.type == b.type && liq_equal(a, b))
	{
		*r = 0;
		return true;
	}
	return false;
}

/* ASCII case-insensitive comparison of two strings. */
static int
casecmp(liq_value a, liq_value b)
{
	size_t i, n = a.len < b.len ? a.len : b.len;
	for (i = 0; i < n; i++)
	{
		unsigned char x = (unsigned char) a.u.s[i], y = (unsigned char) b.u.s[i];
		if (x >= 'A' && x <= 'Z')
			x = (unsigned char) (x + 32);
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char) (y + 32);
		if (x != y)
			return x < y ? -1 : 1;
	}
	return a.len < b.len ? -1 : a.len > b.len;
}

/* Comparator: nil sorts last; natural = case-insensitive string compare. */
static int
sort_cmp(sort_ctx *c, liq_value a, liq_value b)
{
	int r;
	if (c->natural)
	{
		if (a.type != LIQ_NIL && b.type != LIQ_NIL)
			return casecmp(liq_stringify(c->rs->ar, a), liq_stringify(c->rs->ar, b));
		return a.type == LIQ_NIL ? 1 : -1;
	}
	if (spaceship(a, b, &r))
		return r;
	if (a.type == LIQ_NIL)
		return 1;
	if (b.type == LIQ_NIL)
		return -1;
	if (!c->failed)
		liq_rs_fail(c->rs, LIQ_ERR_RENDER, "cannot sort values of incompatible types");
	c->failed = true;
	return 0;
}

/* Stable merge sort of items by keys. */
static void
merge_sort(sort_ctx *c, liq_value *items, liq_value *keys, liq_value *ti, liq_value *tk, size_t n)
{
	size_t mid, i, j, k;
	if (n < 2 || c->failed)
		return;
	mid = n / 2;
	merge_sort(c, items, keys, ti, tk, mid);
	merge_sort(c, items + mid, keys + mid, ti, tk, n - mid);
	memcpy(ti, items, n * sizeof *ti);
	memcpy(tk, keys, n * sizeof *tk);
	i = 0;
	j = mid;
	k = 0;
	while (i < mid && j < n)
	{
		if (sort_cmp(c, tk[j], tk[i]) < 0)
		{
			items[k] = ti[j];
			keys[k++] = tk[j++];
		}
		else
		{
			items[k] = ti[i];
			keys[k++] = tk[i++];
		}
	}
	while (i < mid)
	{
		items[k] = ti[i];
		keys[k++] = tk[i++];
	}
	while (j < n)
	{
		items[k] = ti[j];
		keys[k++] = tk[j++];
	}
}

/* sort / sort_natural driver. */
static int
sort_impl(liq_rs *rs, liq_value in, const liq_value *args, int nargs, bool natural, liq_value *out)
{
	vec		   a;
	liq_value *keys, *ti, *tk;
	size_t	   i;
	sort_ctx   c;
	liq_value  prop = arg(args, nargs, 0);
	if (to_list(rs, in, &a) < 0)
		return -1;
	keys = liq_arena_calloc(rs->ar, a.n + 1, sizeof *keys);
	ti = liq_arena_calloc(rs->ar, a.n + 1, sizeof *ti);
	tk = liq_arena_calloc(rs->ar, a.n + 1, sizeof *tk);
	if (!keys || !ti || !tk)
		return liq_rs_check_mem(rs);
	for (i = 0; i < a.n; i++)
	{
		keys[i] = a.v[i];
		if (nargs > 0 && prop.type != LIQ_NIL)
		{
			item_rc rc = item_prop(rs, a.v[i], prop, &keys[i]);
			if (rc == ITEM_ERROR)
				return -1;
			if (rc == ITEM_NIL_RESULT)
				keys[i] = liq_nil();
		}
	}
	c.rs = rs;
	c.natural = natural;
	c.failed = false;
	merge_sort(&c, a.v, keys, ti, tk, a.n);
	if (c.failed)
		return -1;
	*out = vec_value(rs, &a);
	return 0;
}

/* sort */
FILTER(f_sort)
{
	UNUSED_ARGS;
	return sort_impl(rs, in, args, nargs, false, out);
}
/* sort_natural */
FILTER(f_sort_natural)
{
	UNUSED_ARGS;
	return sort_impl(rs, in, args, nargs, true, out);
}

/* ------------------------------------------------------------------ */
/* registry                                                            */
/* ------------------------------------------------------------------ */

/* Sorted by name for binary search. */
static const liq_filter_def filter_table[] = {
	{"abs", f_abs, 0, 0, false},
	{"append", f_append, 1, 1, false},
	{"at_least", f_at_least, 1, 1, false},
	{"at_most", f_at_most, 1, 1, false},
	{"base64_decode", f_base64_decode, 0, 0, false},
	{"base64_encode", f_base64_encode, 0, 0, false},
	{"base64_url_safe_decode", f_base64_url_safe_decode, 0, 0, false},
	{"base64_url_safe_encode", f_base64_url_safe_encode, 0, 0, false},
	{"capitalize", f_capitalize, 0, 0, false},
	{"ceil", f_ceil, 0, 0, false},
	{"compact", f_compact, 0, 1, false},
	{"concat", f_concat, 1, 1, false},
	{"date", liq_filter_date, 1, 1, false},
	{"default", f_default, 0, 2, false},
	{"divided_by", f_divided_by, 1, 1, false},
	{"downcase", f_downcase, 0, 0, false},
	{"escape", f_escape, 0, 0, true},
	{"escape_once", f_escape_once, 0, 0, true},
	{"find", f_find, 1, 2, false},
	{"find_index", f_find_index, 1, 2, false},
	{"first", f_first, 0, 0, false},
	{"floor", f_floor, 0, 0, false},
	{"h", f_escape, 0, 0, true},
	{"has", f_has, 1, 2, false},
	{"join", f_join, 0, 1, false},
	{"last", f_last, 0, 0, false},
	{"lstrip", f_lstrip, 0, 0, false},
	{"map", f_map, 1, 1, false},
	{"minus", f_minus, 1, 1, false},
	{"modulo", f_modulo, 1, 1, false},
	{"money", f_money, 0, 1, false},
	{"newline_to_br", f_newline_to_br, 0, 0, false},
	{"plus", f_plus, 1, 1, false},
	{"prepend", f_prepend, 1, 1, false},
	{"raw", f_raw, 0, 0, true},
	{"reject", f_reject, 1, 2, false},
	{"remove", f_remove, 1, 1, false},
	{"remove_first", f_remove_first, 1, 1, false},
	{"remove_last", f_remove_last, 1, 1, false},
	{"replace", f_replace, 1, 2, false},
	{"replace_first", f_replace_first, 1, 2, false},
	{"replace_last", f_replace_last, 2, 2, false},
	{"reverse", f_reverse, 0, 0, false},
	{"round", f_round, 0, 1, false},
	{"rstrip", f_rstrip, 0, 0, false},
	{"size", f_size, 0, 0, false},
	{"slice", f_slice, 1, 2, false},
	{"sort", f_sort, 0, 1, false},
	{"sort_natural", f_sort_natural, 0, 1, false},
	{"split", f_split, 1, 1, false},
	{"strip", f_strip, 0, 0, false},
	{"strip_html", f_strip_html, 0, 0, false},
	{"strip_newlines", f_strip_newlines, 0, 0, false},
	{"sum", f_sum, 0, 1, false},
	{"times", f_times, 1, 1, false},
	{"truncate", f_truncate, 0, 2, false},
	{"truncatewords", f_truncatewords, 0, 2, false},
	{"uniq", f_uniq, 0, 1, false},
	{"upcase", f_upcase, 0, 0, false},
	{"url_decode", f_url_decode, 0, 0, false},
	{"url_encode", f_url_encode, 0, 0, false},
	{"where", f_where, 1, 2, false},
};

/* Look up a filter by name; NULL if unknown. */
const liq_filter_def *
liq_filter_lookup(const char *name, size_t len)
{
	size_t lo = 0, hi = sizeof filter_table / sizeof filter_table[0];
	while (lo < hi)
	{
		size_t		mid = (lo + hi) / 2;
		const char *k = filter_table[mid].name;
		size_t		kl = strlen(k);
		int			c = memcmp(name, k, len < kl ? len : kl);
		if (c == 0)
			c = len < kl ? -1 : len > kl;
		if (c == 0)
			return &filter_table[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}
