/*
 * lexer.h - tokenizers.
 * Owns: splitting template source into text / {{ output }} / {% tag %}
 * tokens (with whitespace-control flags and raw/doc bodies), splitting the
 * body of a {% liquid %} tag into tag lines, and the strict-mode expression
 * tokenizer used inside output and tag markup.
 */
#ifndef LIQ_LEXER_H
#define LIQ_LEXER_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef enum
{
	TK_EOF,
	TK_TEXT,
	TK_OUTPUT,
	TK_TAG,
	TK_ERROR
} liq_tok_kind;

typedef struct liq_token
{
	liq_tok_kind kind;
	bool		 lstrip, rstrip; /* {{- / -}} whitespace control */
	const char	*text;			 /* TEXT: the text; OUTPUT: inner markup */
	size_t		 len;
	const char	*name; /* TAG: tag name */
	size_t		 nlen;
	const char	*markup; /* TAG: markup after the name (trimmed) */
	size_t		 mlen;
	size_t		 off;	 /* byte offset of the token in the source */
	const char	*errmsg; /* TK_ERROR */
} liq_token;

/* Template tokenizer state (pull-based). In liquid-tag mode it yields one
 * TAG token per non-empty line of the tag's markup. */
typedef struct liq_lexer
{
	const char *src; /* start of the whole source (for offsets) */
	const char *p, *end;
	bool		liquid_mode;
	const char *raw_end_name; /* pending raw body: name of the end tag */
	size_t		raw_end_len;
} liq_lexer;

/* Start tokenizing src[0..len); base is the start of the full source. */
void liq_lex_init(liq_lexer *lx, const char *base, const char *src, size_t len, bool liquid_mode);
/* Produce the next token. */
void liq_lex_next(liq_lexer *lx, liq_token *t);
/* Ask the lexer to return everything up to {% end<name> %} verbatim as one
 * TEXT token followed by the end TAG token (used by raw and doc). */
void liq_lex_raw(liq_lexer *lx, const char *end_name, size_t end_len);

/* ---------------- expression tokens ---------------- */
typedef enum
{
	ET_EOS,
	ET_ID,
	ET_STRING,
	ET_NUMBER,
	ET_CMP,
	ET_DOTDOT,
	ET_DOT,
	ET_COLON,
	ET_COMMA,
	ET_PIPE,
	ET_LBRACK,
	ET_RBRACK,
	ET_LPAREN,
	ET_RPAREN,
	ET_QUESTION,
	ET_DASH,
	ET_BAD
} liq_etok_kind;

typedef struct liq_etok
{
	liq_etok_kind kind;
	const char	 *s; /* token text (strings: without quotes) */
	size_t		  len;
} liq_etok;

/* Tokenize markup into at most max tokens (ET_EOS-terminated); returns the
 * count including EOS, or -1 (with *bad set) on an unexpected character or
 * too many tokens. With toks == NULL it only counts the tokens. */
int liq_etokenize(const char *s, size_t n, liq_etok *toks, int max, const char **bad);
/* Ruby \s: space, \t \n \v \f \r. */
bool liq_is_space(char c);
/* Ruby \w: [A-Za-z0-9_]. */
bool liq_is_word(char c);
#endif
