/*
 * json.c: JSON string literals out, and the top level of a JSON object in (json.h).
 */
#include "json.h"

#include <stdlib.h>
#include <string.h>

void
json_string(strbuf *out, const char *s)
{
	const unsigned char *p = (const unsigned char *) (s ? s : "");

	sb_addc(out, '"');
	for (; *p; p++)
	{
		switch (*p)
		{
			case '"':
				sb_adds(out, "\\\"");
				break;
			case '\\':
				sb_adds(out, "\\\\");
				break;
			case '\n':
				sb_adds(out, "\\n");
				break;
			case '\r':
				sb_adds(out, "\\r");
				break;
			case '\t':
				sb_adds(out, "\\t");
				break;
			default:
				if (*p < 0x20)
					sb_printf(out, "\\u%04x", *p);
				else
					sb_addc(out, (char) *p);
		}
	}
	sb_addc(out, '"');
}

/* Skips JSON white space. */
static const char *
skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/* Appends code point cp as UTF-8. */
static void
put_utf8(strbuf *out, unsigned cp)
{
	if (cp < 0x80)
		sb_addc(out, (char) cp);
	else if (cp < 0x800)
	{
		sb_addc(out, (char) (0xC0 | (cp >> 6)));
		sb_addc(out, (char) (0x80 | (cp & 0x3F)));
	}
	else if (cp < 0x10000)
	{
		sb_addc(out, (char) (0xE0 | (cp >> 12)));
		sb_addc(out, (char) (0x80 | ((cp >> 6) & 0x3F)));
		sb_addc(out, (char) (0x80 | (cp & 0x3F)));
	}
	else
	{
		sb_addc(out, (char) (0xF0 | (cp >> 18)));
		sb_addc(out, (char) (0x80 | ((cp >> 12) & 0x3F)));
		sb_addc(out, (char) (0x80 | ((cp >> 6) & 0x3F)));
		sb_addc(out, (char) (0x80 | (cp & 0x3F)));
	}
}

/* Four hex digits at p, or -1. */
static long
hex4(const char *p)
{
	long v = 0;

	for (int i = 0; i < 4; i++)
	{
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* Reads the string literal at p (at its opening quote) into out; returns the position after
 * it, or NULL when it is malformed. */
static const char *
read_string(const char *p, strbuf *out)
{
	p++;
	while (*p && *p != '"')
	{
		if (*p != '\\')
		{
			sb_addc(out, *p++);
			continue;
		}
		p++;
		switch (*p)
		{
			case '"':
			case '\\':
			case '/':
				sb_addc(out, *p);
				break;
			case 'b':
				sb_addc(out, '\b');
				break;
			case 'f':
				sb_addc(out, '\f');
				break;
			case 'n':
				sb_addc(out, '\n');
				break;
			case 'r':
				sb_addc(out, '\r');
				break;
			case 't':
				sb_addc(out, '\t');
				break;
			case 'u':
			{
				long cp = hex4(p + 1);

				if (cp < 0)
					return NULL;
				p += 4;
				if (cp >= 0xD800 && cp < 0xDC00 && p[1] == '\\' && p[2] == 'u')
				{
					long lo = hex4(p + 3);

					if (lo >= 0xDC00 && lo < 0xE000)
					{
						cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
						p += 6;
					}
				}
				put_utf8(out, (unsigned) cp);
				break;
			}
			default:
				return NULL;
		}
		p++;
	}
	return *p == '"' ? p + 1 : NULL;
}

/* Skips the value at p (any JSON value); returns the position after it, or NULL. */
static const char *
skip_value(const char *p)
{
	int depth = 0;

	do
	{
		p = skip_ws(p);
		if (*p == '"')
		{
			strbuf tmp;

			sb_init(&tmp);
			p = read_string(p, &tmp);
			sb_free(&tmp);
			if (!p)
				return NULL;
		}
		else if (*p == '{' || *p == '[')
			depth++, p++;
		else if (*p == '}' || *p == ']')
		{
			if (depth == 0)
				return NULL;
			depth--, p++;
		}
		else if (*p == ',' || *p == ':')
		{
			if (depth == 0)
				return NULL;
			p++;
		}
		else if (*p)
		{
			const char *start = p;

			while (*p && !strchr(",:{}[]\" \t\r\n", *p))
				p++;
			if (p == start)
				return NULL;
		}
		else
			return NULL;
	} while (depth > 0);
	return p;
}

int
json_object_pairs(const char *text, json_pair **pairs)
{
	const char *p = skip_ws(text ? text : "");
	int			n = 0,
		cap = 8;
	json_pair *v = xmalloc(sizeof(json_pair) * cap);

	*pairs = NULL;
	if (*p++ != '{')
		goto bad;
	p = skip_ws(p);
	if (*p == '}')
		goto done;
	for (;;)
	{
		strbuf name,
			value;
		const char *start;

		if (*p != '"')
			goto bad;
		sb_init(&name);
		sb_init(&value);
		p = read_string(p, &name);
		if (!p || *(p = skip_ws(p)) != ':')
		{
			sb_free(&name);
			goto bad;
		}
		p = skip_ws(p + 1);
		start = p;
		if (*p == '"')
			p = read_string(p, &value);
		else
		{
			p = skip_value(p);
			if (p && *start != '{' && *start != '[')
				sb_add(&value, start, (size_t) (p - start));
		}
		if (!p)
		{
			sb_free(&name);
			sb_free(&value);
			goto bad;
		}
		if (n == cap)
		{
			json_pair *w = xmalloc(sizeof(json_pair) * cap * 2);

			memcpy(w, v, sizeof(json_pair) * n);
			free(v);
			v = w;
			cap *= 2;
		}
		v[n].name = name.data ? name.data : xstrdup("");
		v[n].value = (*start == '{' || *start == '[') ? NULL : (value.data ? value.data : xstrdup(""));
		if (!v[n].value)
			sb_free(&value);
		n++;
		p = skip_ws(p);
		if (*p == ',')
		{
			p = skip_ws(p + 1);
			continue;
		}
		if (*p == '}')
			break;
		goto bad;
	}
done:
	if (*skip_ws(p + 1) != '\0')
		goto bad;
	*pairs = v;
	return n;
bad:
	json_pairs_free(v, n);
	return -1;
}

void
json_pairs_free(json_pair *pairs, int n)
{
	if (!pairs)
		return;
	for (int i = 0; i < n; i++)
	{
		free(pairs[i].name);
		free(pairs[i].value);
	}
	free(pairs);
}

const char *
json_pairs_get(const json_pair *pairs, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(pairs[i].name, name) == 0)
			return pairs[i].value;
	return NULL;
}
