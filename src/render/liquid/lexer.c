/*
 * lexer.c - template and expression tokenizers.
 * Owns: recognising {{ }}, {% %}, whitespace control markers, raw bodies,
 * {% liquid %} lines and the strict expression token set of Liquid.
 */
#include "lexer.h"
#include <string.h>

/* Ruby \s: space, \t \n \v \f \r. */
bool
liq_is_space(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Ruby \w: [A-Za-z0-9_]. */
bool
liq_is_word(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Start tokenizing src[0..len); base is the start of the full source. */
void
liq_lex_init(liq_lexer *lx, const char *base, const char *src, size_t len, bool liquid_mode)
{
	lx->src = base;
	lx->p = src;
	lx->end = src + len;
	lx->liquid_mode = liquid_mode;
	lx->raw_end_name = NULL;
	lx->raw_end_len = 0;
}

/* Ask for a verbatim body up to {% end<name> %}. */
void
liq_lex_raw(liq_lexer *lx, const char *end_name, size_t end_len)
{
	lx->raw_end_name = end_name;
	lx->raw_end_len = end_len;
}

/* Split a tag's inner markup into name and trimmed rest. */
static void
split_tag(liq_token *t, const char *s, const char *e)
{
	while (s < e && liq_is_space(*s))
		s++;
	while (e > s && liq_is_space(e[-1]))
		e--;
	t->name = s;
	if (s < e && *s == '#')
	{
		t->nlen = 1;
		s++;
	}
	else
	{
		while (s < e && liq_is_word(*s))
			s++;
		t->nlen = (size_t) (s - t->name);
	}
	while (s < e && liq_is_space(*s))
		s++;
	t->markup = s;
	t->mlen = (size_t) (e - s);
}

/* Find "{%-? end<name> -?%}" from p; returns its start or NULL; sets *after. */
static const char *
find_end_tag(const char *p, const char *end, const char *name, size_t nlen,
			 const char **after, bool *lstrip, bool *rstrip)
{
	for (; p + 1 < end; p++)
	{
		const char *q;
		if (p[0] != '{' || p[1] != '%')
			continue;
		q = p + 2;
		*lstrip = q < end && *q == '-';
		if (*lstrip)
			q++;
		while (q < end && liq_is_space(*q))
			q++;
		if ((size_t) (end - q) < 3 + nlen || memcmp(q, "end", 3) != 0 || memcmp(q + 3, name, nlen) != 0)
			continue;
		q += 3 + nlen;
		if (q < end && liq_is_word(*q))
			continue;
		while (q < end && liq_is_space(*q))
			q++;
		*rstrip = q < end && *q == '-';
		if (*rstrip)
			q++;
		if (q + 1 < end && q[0] == '%' && q[1] == '}')
		{
			*after = q + 2;
			return p;
		}
	}
	return NULL;
}

/* Produce the next token of a {% liquid %} body: one tag per line. */
static void
lex_liquid_line(liq_lexer *lx, liq_token *t)
{
	for (;;)
	{
		const char *s = lx->p, *e;
		if (s >= lx->end)
		{
			t->kind = TK_EOF;
			t->off = (size_t) (lx->end - lx->src);
			return;
		}
		e = memchr(s, '\n', (size_t) (lx->end - s));
		if (!e)
			e = lx->end;
		lx->p = e < lx->end ? e + 1 : e;
		while (s < e && liq_is_space(*s))
			s++;
		if (s == e)
			continue;
		t->kind = TK_TAG;
		t->lstrip = t->rstrip = false;
		t->text = s;
		t->len = (size_t) (e - s);
		t->off = (size_t) (s - lx->src);
		split_tag(t, s, e);
		return;
	}
}

/* Produce the next token. */
void
liq_lex_next(liq_lexer *lx, liq_token *t)
{
	const char *p = lx->p, *end = lx->end, *q;
	memset(t, 0, sizeof *t);
	if (lx->raw_end_name)
	{
		const char *after;
		bool		ls, rs;
		const char *st = find_end_tag(p, end, lx->raw_end_name, lx->raw_end_len, &after, &ls, &rs);
		lx->raw_end_name = NULL;
		if (!st)
		{
			t->kind = TK_ERROR;
			t->off = (size_t) (p - lx->src);
			t->errmsg = "was never closed";
			lx->p = end;
			return;
		}
		t->kind = TK_TEXT;
		t->text = p;
		t->len = (size_t) (st - p);
		t->off = (size_t) (p - lx->src);
		lx->p = st; /* the end tag is tokenized normally next */
		return;
	}
	if (lx->liquid_mode)
	{
		lex_liquid_line(lx, t);
		return;
	}
	if (p >= end)
	{
		t->kind = TK_EOF;
		t->off = (size_t) (end - lx->src);
		return;
	}
	t->off = (size_t) (p - lx->src);
	if (p + 1 < end && p[0] == '{' && (p[1] == '{' || p[1] == '%'))
	{
		const char *in = p + 2;
		if (p[1] == '{')
		{
			q = memchr(in, '}', (size_t) (end - in));
			if (!q || q + 1 >= end || q[1] != '}')
			{
				t->kind = TK_ERROR;
				t->errmsg = "Variable was not properly terminated with regexp: /\\}\\}/";
				lx->p = end;
				return;
			}
			lx->p = q + 2;
		}
		else
		{
			for (q = in; q + 1 < end; q++)
				if (q[0] == '%' && q[1] == '}')
					break;
			if (q + 1 >= end)
			{
				t->kind = TK_ERROR;
				t->errmsg = "Tag was not properly terminated with regexp: /\\%\\}/";
				lx->p = end;
				return;
			}
			lx->p = q + 2;
		}
		/* q points at the closing delimiter */
		if (q == in + 1 && *in == '-')
		{
			t->lstrip = t->rstrip = true; /* {{-}}: the one dash trims both sides, as in Ruby */
			in = q;
		}
		if (in < q && *in == '-')
		{
			t->lstrip = true;
			in++;
		}
		if (q > in && q[-1] == '-')
		{
			t->rstrip = true;
			q--;
		}
		if (p[1] == '{')
		{
			t->kind = TK_OUTPUT;
			t->text = in;
			t->len = (size_t) (q - in);
		}
		else
		{
			t->kind = TK_TAG;
			t->text = in;
			t->len = (size_t) (q - in);
			split_tag(t, in, q);
		}
		return;
	}
	/* text up to the next {{ or {% */
	for (q = p; q + 1 < end; q++)
		if (q[0] == '{' && (q[1] == '{' || q[1] == '%'))
			break;
	if (q + 1 >= end)
		q = end;
	t->kind = TK_TEXT;
	t->text = p;
	t->len = (size_t) (q - p);
	lx->p = q;
}

/* Is the text at s a comparison operator? returns its length or 0. */
static size_t
cmp_len(const char *s, const char *e)
{
	size_t n = (size_t) (e - s);
	if (n >= 2 && ((s[0] == '=' && s[1] == '=') || (s[0] == '!' && s[1] == '=') || (s[0] == '<' && s[1] == '>') ||
				   (s[0] == '<' && s[1] == '=') || (s[0] == '>' && s[1] == '=')))
		return 2;
	if (n >= 1 && (s[0] == '<' || s[0] == '>'))
		return 1;
	if (n >= 9 && memcmp(s, "contains", 8) == 0 && liq_is_space(s[8]))
		return 8;
	return 0;
}

/* Tokenize markup into at most max tokens (ET_EOS-terminated). */
int
liq_etokenize(const char *s, size_t n, liq_etok *toks, int max, const char **bad)
{
	const char *p = s, *e = s + n;
	int			k = 0;
	liq_etok	dummy;
	for (;;)
	{
		liq_etok *t;
		size_t	  l;
		while (p < e && liq_is_space(*p))
			p++;
		if (toks && k >= max)
		{
			*bad = p;
			return -1;
		}
		if (k == 0x7ffffff0)
		{
			*bad = p;
			return -1;
		}
		t = toks ? &toks[k] : &dummy; /* toks == NULL: count only */
		k++;
		t->s = p;
		t->len = 0;
		if (p >= e)
		{
			t->kind = ET_EOS;
			return k;
		}
		if ((l = cmp_len(p, e)) != 0)
		{
			t->kind = ET_CMP;
			t->len = l;
			p += l;
			continue;
		}
		if (*p == '\'' || *p == '"')
		{
			const char *q = memchr(p + 1, *p, (size_t) (e - p - 1));
			if (q)
			{
				t->kind = ET_STRING;
				t->s = p + 1;
				t->len = (size_t) (q - p - 1);
				p = q + 1;
				continue;
			}
			*bad = p;
			return -1;
		}
		if ((*p >= '0' && *p <= '9') || (*p == '-' && p + 1 < e && p[1] >= '0' && p[1] <= '9'))
		{
			const char *q = p + 1;
			while (q < e && *q >= '0' && *q <= '9')
				q++;
			if (q + 1 < e && *q == '.' && q[1] >= '0' && q[1] <= '9')
			{
				q++;
				while (q < e && *q >= '0' && *q <= '9')
					q++;
			}
			t->kind = ET_NUMBER;
			t->len = (size_t) (q - p);
			p = q;
			continue;
		}
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_')
		{
			const char *q = p + 1;
			while (q < e && (liq_is_word(*q) || *q == '-'))
				q++;
			if (q < e && *q == '?')
				q++;
			t->kind = ET_ID;
			t->len = (size_t) (q - p);
			p = q;
			continue;
		}
		if (p + 1 < e && p[0] == '.' && p[1] == '.')
		{
			t->kind = ET_DOTDOT;
			t->len = 2;
			p += 2;
			continue;
		}
		t->len = 1;
		switch (*p)
		{
			case '|':
				t->kind = ET_PIPE;
				break;
			case '.':
				t->kind = ET_DOT;
				break;
			case ':':
				t->kind = ET_COLON;
				break;
			case ',':
				t->kind = ET_COMMA;
				break;
			case '[':
				t->kind = ET_LBRACK;
				break;
			case ']':
				t->kind = ET_RBRACK;
				break;
			case '(':
				t->kind = ET_LPAREN;
				break;
			case ')':
				t->kind = ET_RPAREN;
				break;
			case '?':
				t->kind = ET_QUESTION;
				break;
			case '-':
				t->kind = ET_DASH;
				break;
			default:
				*bad = p;
				return -1;
		}
		p++;
	}
}
