/*
 * message.c: builds the RFC 5322 message of a claimed send (message.h): header folding at
 * 78 columns, RFC 2047 "B" encoded words for non-ASCII text, display names quoted or encoded,
 * bodies in canonical CRLF form encoded quoted-printable (76 columns) or base64 (whichever is
 * shorter), and a multipart/alternative boundary that neither encoding can produce.
 */
#include "message.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LINE_SOFT 78 /* RFC 5322 2.1.1: SHOULD not exceed */
#define QP_LINE 76	 /* RFC 2045 6.7 (5) */
#define WORD_MAX 75	 /* RFC 2047 2: an encoded word's length */

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void
base64_encode(strbuf *out, const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i + 2 < n; i += 3)
	{
		sb_addc(out, b64chars[p[i] >> 2]);
		sb_addc(out, b64chars[((p[i] & 3) << 4) | (p[i + 1] >> 4)]);
		sb_addc(out, b64chars[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)]);
		sb_addc(out, b64chars[p[i + 2] & 63]);
	}
	if (n - i == 1)
	{
		sb_addc(out, b64chars[p[i] >> 2]);
		sb_addc(out, b64chars[(p[i] & 3) << 4]);
		sb_adds(out, "==");
	}
	else if (n - i == 2)
	{
		sb_addc(out, b64chars[p[i] >> 2]);
		sb_addc(out, b64chars[((p[i] & 3) << 4) | (p[i + 1] >> 4)]);
		sb_addc(out, b64chars[(p[i + 1] & 15) << 2]);
		sb_addc(out, '=');
	}
}

/* A header value with CR, LF and other controls (but TAB) turned into spaces: a rendered
 * subject or a campaign name can never add a header line. The caller frees it. */
static char *
header_clean(const char *s)
{
	char *c = xstrdup(s ? s : "");

	for (unsigned char *p = (unsigned char *) c; *p; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7F)
			*p = ' ';
	return c;
}

/* Whether an unstructured value must be sent as encoded words: non-ASCII, or something that
 * plain folding would not carry through exactly (edge or doubled white space, "=?", a word
 * too long for any line). */
static bool
needs_words(const char *s)
{
	size_t len = strlen(s),
		   word = 0;

	if (len && (s[0] == ' ' || s[0] == '\t' || s[len - 1] == ' ' || s[len - 1] == '\t'))
		return true;
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		if (*p >= 0x80 || *p == '\t')
			return true;
		if (p[0] == ' ' && p[1] == ' ')
			return true;
		if (p[0] == '=' && p[1] == '?')
			return true;
		word = (*p == ' ') ? 0 : word + 1;
		if (word > 900)
			return true;
	}
	return false;
}

/* The writer of one folded header: the column of the current line. */
typedef struct hdr
{
	strbuf *out;
	size_t	col;
	size_t	start; /* the column right after "Name:" */
} hdr;

/* Starts a header line "Name:". */
static void
hdr_begin(hdr *h, strbuf *out, const char *name)
{
	h->out = out;
	sb_adds(out, name);
	sb_addc(out, ':');
	h->col = h->start = strlen(name) + 1;
}

/* Adds " token", folding before the space when the line would pass 78 columns. */
static void
hdr_token(hdr *h, const char *tok, size_t n)
{
	if (h->col > h->start && h->col + 1 + n > LINE_SOFT)
	{
		sb_adds(h->out, "\r\n");
		h->col = 0;
	}
	sb_addc(h->out, ' ');
	sb_add(h->out, tok, n);
	h->col += 1 + n;
}

/* Ends the header line. */
static void
hdr_end(hdr *h)
{
	sb_adds(h->out, "\r\n");
}

/* Adds s as RFC 2047 encoded words ("=?UTF-8?B?...?="), each within 75 characters and the
 * line, never splitting a UTF-8 sequence between two words. */
static void
hdr_words(hdr *h, const char *s)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t				 left = strlen(s);
	strbuf				 w;

	sb_init(&w);
	while (left > 0)
	{
		size_t room = LINE_SOFT - (h->col > h->start ? 1 : h->col + 1) - 12;
		size_t chars,
			take;

		if (h->col > h->start || room < 8)
			room = LINE_SOFT - 1 - 12;
		chars = room / 4 * 4;
		if (chars > WORD_MAX - 12)
			chars = (WORD_MAX - 12) / 4 * 4;
		take = chars / 4 * 3;
		if (take >= left)
			take = left;
		else
			while (take > 0 && (p[take] & 0xC0) == 0x80)
				take--;
		if (take == 0) /* not UTF-8: take the bytes as they are */
			take = left < 3 ? left : 3;
		sb_reset(&w);
		sb_adds(&w, "=?UTF-8?B?");
		base64_encode(&w, p, take);
		sb_adds(&w, "?=");
		hdr_token(h, w.data, w.len);
		p += take;
		left -= take;
	}
	sb_free(&w);
}

/* Adds an unstructured header (Subject, X-...), folded, or as encoded words when needed. */
static void
add_unstructured(strbuf *out, const char *name, const char *value)
{
	char *v = header_clean(value);
	hdr	  h;

	hdr_begin(&h, out, name);
	if (needs_words(v))
		hdr_words(&h, v);
	else
	{
		const char *p = v;

		do
		{
			const char *sp = strchr(p, ' ');
			size_t		n = sp ? (size_t) (sp - p) : strlen(p);

			hdr_token(&h, p, n);
			p = sp ? sp + 1 : NULL;
		} while (p);
	}
	hdr_end(&h);
	free(v);
}

/* Splits an address field into its display name and address (both trimmed, into the
 * buffers); returns 0, or -1 when the address is missing or not plain ASCII. */
static int
split_address(const char *field, strbuf *name, strbuf *addr)
{
	char *f = header_clean(field);
	char *lt = strrchr(f, '<');
	char *a = f,
		 *end;
	int rc = 0;

	if (lt && (end = strchr(lt, '>')) != NULL)
	{
		char *nb = f,
			 *ne = lt;

		while (*nb == ' ' || *nb == '\t')
			nb++;
		while (ne > nb && (ne[-1] == ' ' || ne[-1] == '\t'))
			ne--;
		if (ne - nb >= 2 && *nb == '"' && ne[-1] == '"')
		{
			/* a quoted display name: drop the quotes and backslash escapes */
			for (char *q = nb + 1; q < ne - 1; q++)
			{
				if (*q == '\\' && q + 1 < ne - 1)
					q++;
				sb_addc(name, *q);
			}
		}
		else
			sb_add(name, nb, (size_t) (ne - nb));
		a = lt + 1;
		*end = '\0';
	}
	while (*a == ' ' || *a == '\t')
		a++;
	end = a + strlen(a);
	while (end > a && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	sb_add(addr, a, (size_t) (end - a));
	if (addr->len == 0 || !strchr(addr->data, '@'))
		rc = -1;
	for (size_t i = 0; i < addr->len; i++)
	{
		unsigned char c = (unsigned char) addr->data[i];

		if (c >= 0x80 || c <= ' ' || c == '<' || c == '>' || c == ',')
			rc = -1;
	}
	free(f);
	return rc;
}

int
mail_address(const char *field, char *out, size_t n)
{
	strbuf name,
		addr;
	int rc;

	sb_init(&name);
	sb_init(&addr);
	rc = split_address(field, &name, &addr);
	if (rc == 0 && addr.len < n)
		memcpy(out, addr.data, addr.len + 1);
	else
		rc = -1;
	sb_free(&name);
	sb_free(&addr);
	return rc;
}

/* Adds an address header: the display name as an atom sequence, a quoted string, or encoded
 * words, then "<address>". Returns -1 when the field holds no usable address. */
static int
add_address(strbuf *out, const char *header, const char *field)
{
	strbuf name,
		addr,
		tmp;
	hdr h;
	int rc;

	sb_init(&name);
	sb_init(&addr);
	sb_init(&tmp);
	rc = split_address(field, &name, &addr);
	if (rc == 0)
	{
		hdr_begin(&h, out, header);
		if (name.len > 0)
		{
			bool plain = !needs_words(name.data);
			bool atoms = plain;

			for (size_t i = 0; i < name.len && atoms; i++)
				if (strchr("()<>[]:;@\\,.\"", name.data[i]))
					atoms = false;
			if (!plain)
				hdr_words(&h, name.data);
			else if (atoms)
			{
				const char *p = name.data;

				do
				{
					const char *sp = strchr(p, ' ');
					size_t		n = sp ? (size_t) (sp - p) : strlen(p);

					hdr_token(&h, p, n);
					p = sp ? sp + 1 : NULL;
				} while (p);
			}
			else
			{
				sb_addc(&tmp, '"');
				for (size_t i = 0; i < name.len; i++)
				{
					if (name.data[i] == '"' || name.data[i] == '\\')
						sb_addc(&tmp, '\\');
					sb_addc(&tmp, name.data[i]);
				}
				sb_addc(&tmp, '"');
				hdr_token(&h, tmp.data, tmp.len);
			}
			sb_reset(&tmp);
			sb_printf(&tmp, "<%s>", addr.data);
			hdr_token(&h, tmp.data, tmp.len);
		}
		else
			hdr_token(&h, addr.data, addr.len);
		hdr_end(&h);
	}
	sb_free(&name);
	sb_free(&addr);
	sb_free(&tmp);
	return rc;
}

/* The body in canonical form: every line break (CRLF, LF or CR) as CRLF. */
static void
canonical_lines(strbuf *out, const char *s)
{
	for (const char *p = s; *p; p++)
	{
		if (*p == '\r')
		{
			sb_adds(out, "\r\n");
			if (p[1] == '\n')
				p++;
		}
		else if (*p == '\n')
			sb_adds(out, "\r\n");
		else
			sb_addc(out, *p);
	}
}

/* Whether byte c at a line's position must be written =XX in quoted-printable. */
static bool
qp_escaped(unsigned char c)
{
	return c == '=' || c >= 0x7F || (c < 0x20 && c != '\t');
}

/* Appends the quoted-printable encoding of a canonical (CRLF) body: hard line breaks for its
 * CRLFs, soft breaks ("=" CRLF) to keep lines within 76 columns, white space before a line
 * break and a '.' starting a line encoded. */
static void
qp_encode(strbuf *out, const char *s, size_t n)
{
	size_t col = 0;

	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) s[i];
		char		  enc[4];
		size_t		  len;
		bool		  at_eol;

		if (c == '\r' && i + 1 < n && s[i + 1] == '\n')
		{
			sb_adds(out, "\r\n");
			col = 0;
			i++;
			continue;
		}
		at_eol = (i + 1 == n) || (s[i + 1] == '\r' && i + 2 < n && s[i + 2] == '\n');
		if (qp_escaped(c) || ((c == ' ' || c == '\t') && at_eol) || (c == '.' && col == 0))
		{
			snprintf(enc, sizeof(enc), "=%02X", c);
			len = 3;
		}
		else
		{
			enc[0] = (char) c;
			enc[1] = '\0';
			len = 1;
		}
		/* keep room for the soft break's "=" unless this is the line's last character */
		if (col + len > QP_LINE - (at_eol ? 0 : 1))
		{
			sb_adds(out, "=\r\n");
			col = 0;
			if (c == '.')
			{
				snprintf(enc, sizeof(enc), "=%02X", c);
				len = 3;
			}
		}
		sb_add(out, enc, len);
		col += len;
	}
}

/* Appends base64 of a body in lines of 76 characters. */
static void
b64_lines(strbuf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i += 57)
	{
		base64_encode(out, (const unsigned char *) s + i, n - i < 57 ? n - i : 57);
		sb_adds(out, "\r\n");
	}
}

/* Appends one body part: its Content-Type and Content-Transfer-Encoding headers, a blank
 * line, and the body encoded as quoted-printable or, when that is longer, base64. */
static void
add_part(strbuf *out, const char *type, const char *body)
{
	strbuf canon;
	size_t escaped = 0;

	sb_init(&canon);
	canonical_lines(&canon, body ? body : "");
	for (size_t i = 0; i < canon.len; i++)
		if (qp_escaped((unsigned char) canon.data[i]) && canon.data[i] != '\r' && canon.data[i] != '\n')
			escaped++;
	sb_printf(out, "Content-Type: %s; charset=UTF-8\r\n", type);
	if (escaped * 6 > canon.len)
	{
		sb_adds(out, "Content-Transfer-Encoding: base64\r\n\r\n");
		b64_lines(out, canon.data ? canon.data : "", canon.len);
	}
	else
	{
		sb_adds(out, "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
		qp_encode(out, canon.data ? canon.data : "", canon.len);
		sb_adds(out, "\r\n");
	}
	sb_free(&canon);
}

/* A header name that may be written as given: printable ASCII without ':' or space. */
static bool
valid_header_name(const char *s)
{
	if (!*s)
		return false;
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
		if (*p <= ' ' || *p >= 0x7F || *p == ':')
			return false;
	return true;
}

/* Whether a header is one the builder writes itself. */
static bool
own_header(const char *name)
{
	static const char *const own[] = {"Message-ID", "Date", "From", "To", "Reply-To", "Subject",
									  "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Bcc", "Cc", "Sender", NULL};

	for (int i = 0; own[i]; i++)
		if (strcasecmp(own[i], name) == 0)
			return true;
	return false;
}

/* A boundary from the Message-ID's FNV-1a hash: "=_" can occur in neither encoding. */
static void
boundary_of(const char *message_id, char *out, size_t n)
{
	uint64_t h = 14695981039346656037ULL;

	for (const unsigned char *p = (const unsigned char *) message_id; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	snprintf(out, n, "=_personalize_%016llx", (unsigned long long) h);
}

const char *
build_message(const mail *m, time_t date, strbuf *out)
{
	char when[64],
		boundary[64];
	struct tm tm;
	char	 *mid = header_clean(m->message_id);

	if (!m->message_id || mid[0] != '<' || !strchr(mid, '@') || mid[strlen(mid) - 1] != '>' || strchr(mid, ' '))
	{
		free(mid);
		return "the Message-ID is not of the form <id@domain>";
	}
	gmtime_r(&date, &tm);
	strftime(when, sizeof(when), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	sb_printf(out, "Date: %s\r\n", when);
	if (add_address(out, "From", m->from) < 0)
	{
		free(mid);
		return "the From address is missing or not plain ASCII";
	}
	if (add_address(out, "To", m->to) < 0)
	{
		free(mid);
		return "the To address is missing or not plain ASCII";
	}
	if (m->reply_to && *m->reply_to && add_address(out, "Reply-To", m->reply_to) < 0)
	{
		free(mid);
		return "the Reply-To address is not plain ASCII";
	}
	add_unstructured(out, "Subject", m->subject);
	sb_printf(out, "Message-ID: %s\r\n", mid);
	for (int i = 0; i < m->nheaders; i++)
		if (m->headers[i].value && valid_header_name(m->headers[i].name) && !own_header(m->headers[i].name))
			add_unstructured(out, m->headers[i].name, m->headers[i].value);
	sb_adds(out, "MIME-Version: 1.0\r\n");
	if (m->text && m->html)
	{
		boundary_of(mid, boundary, sizeof(boundary));
		sb_printf(out, "Content-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n\r\n", boundary);
		sb_printf(out, "--%s\r\n", boundary);
		add_part(out, "text/plain", m->text);
		sb_printf(out, "--%s\r\n", boundary);
		add_part(out, "text/html", m->html);
		sb_printf(out, "--%s--\r\n", boundary);
	}
	else if (m->html)
		add_part(out, "text/html", m->html);
	else
		add_part(out, "text/plain", m->text ? m->text : "");
	free(mid);
	return NULL;
}
