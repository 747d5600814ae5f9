/*
 * audience_format.h: the server-independent half of the audience type (no PostgreSQL or
 * CRoaring headers), so that the fuzz harness can call it: the text parser, and a reader of
 * CRoaring's portable serialization (validation, cardinality, membership, iteration) that
 * never allocates.
 */
#ifndef PERSONALIZE_AUDIENCE_FORMAT_H
#define PERSONALIZE_AUDIENCE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What went wrong in audience_parse_text. */
typedef enum AudienceParseStatus
{
	AUDIENCE_PARSE_OK = 0,
	AUDIENCE_PARSE_SYNTAX,		 /* unexpected character or end of input at pos */
	AUDIENCE_PARSE_OUT_OF_RANGE, /* number at pos (len bytes) is not in 0..4294967295 */
	AUDIENCE_PARSE_REVERSED		 /* range at pos (len bytes) has its bounds reversed */
} AudienceParseStatus;

/* Where and why the text was refused. */
typedef struct AudienceParseError
{
	AudienceParseStatus status;
	size_t				pos;	  /* byte offset into the input */
	size_t				len;	  /* bytes of the offending token (0 for syntax errors) */
	const char		   *expected; /* for syntax errors: what the parser wanted there */
} AudienceParseError;

/* Receives one closed range lo..hi (lo <= hi) of profile numbers. */
typedef void (*audience_range_fn)(void *arg, uint32_t lo, uint32_t hi);

/*
 * Parses "{1,2,5-9}" (white space allowed around every token, elements in any order, repeats
 * and overlaps allowed); calls fn for each element. Returns AUDIENCE_PARSE_OK or fills err.
 */
extern AudienceParseStatus audience_parse_text(const char *s, size_t len,
											   audience_range_fn fn, void *arg,
											   AudienceParseError *err);

/* A portable-format serialization, opened for reading; points into the caller's bytes. */
typedef struct AudienceView
{
	const uint8_t *buf;
	size_t		   len;
	uint32_t	   n;		 /* number of containers */
	const uint8_t *runflags; /* bitmap of run containers, NULL when there are none */
	const uint8_t *keycards; /* n pairs of (uint16 key, uint16 cardinality - 1) */
	const uint8_t *offsets;	 /* n uint32 offsets of the containers, or NULL */
	size_t		   data;	 /* offset of the first container */
} AudienceView;

/*
 * Opens buf for reading. With full = false only the structure is checked (every container lies
 * inside buf), which is enough for memory safety; full = true also checks everything CRoaring
 * trusts (sorted keys and arrays, runs inside their chunk and in order, bitset and header
 * cardinalities, offsets, no trailing bytes). Returns NULL, or a full sentence saying what is wrong.
 */
extern const char *audience_view_open(AudienceView *v, const void *buf, size_t len, bool full);

/* Number of profile numbers in the set (from the header, without reading the containers). */
extern uint64_t audience_view_cardinality(const AudienceView *v);

/* Whether x is in the set. */
extern bool audience_view_contains(const AudienceView *v, uint32_t x);

/* Walks the set in ascending order. */
typedef struct AudienceIter
{
	const AudienceView *v;
	uint32_t			ci;		  /* current container */
	size_t				coff;	  /* its offset */
	uint32_t			i;		  /* position inside it: array index, run index or bitset word */
	uint32_t			run_next; /* next value of the current run (relative to the chunk) */
	uint64_t			word;	  /* remaining bits of the current bitset word */
	bool				started;  /* i, run_next and word describe the current container */
} AudienceIter;

/* Starts a walk over v. */
extern void audience_iter_init(AudienceIter *it, const AudienceView *v);

/* Stores the next profile number in *out; false when the set is exhausted. */
extern bool audience_iter_next(AudienceIter *it, uint32_t *out);

/*
 * Stores the next stretch lo..hi of consecutive members (in one step a whole run of a run
 * container, or the consecutive members inside one 64-bit word of a bitset; else one value);
 * false when the set is exhausted. Adjacent stretches may touch.
 */
extern bool audience_iter_next_run(AudienceIter *it, uint32_t *lo, uint32_t *hi);

#endif
