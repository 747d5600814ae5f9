/*
 * audience_format.c: the server-independent half of the audience type (see audience_format.h).
 *
 * Text form: "{}" or "{e,e,...}" where each element e is a profile number or a closed range
 * "lo-hi" of them, decimal, 0..4294967295. White space may surround every token.
 *
 * Binary form: CRoaring's portable serialization (RoaringFormatSpec):
 *   cookie 12346 (uint32), container count (uint32), n x (key, cardinality - 1) (uint16 pairs),
 *     n x offset (uint32), containers; or
 *   cookie 12347 | (n - 1) << 16 (uint32), run-container bitmap ((n + 7) / 8 bytes), the n
 *     key/cardinality pairs, n offsets only when n >= 4, containers.
 *   A container is a run container (uint16 count, then count x (start, length - 1)) when its
 *   bit is set, else an array of uint16 when cardinality <= 4096, else a 8192-byte bitset.
 * All integers are little-endian. Nothing here allocates.
 */
#include "audience_format.h"

#include <string.h>

#define COOKIE_NO_RUN 12346
#define COOKIE_RUN 12347
#define NO_OFFSET_THRESHOLD 4
#define ARRAY_MAX 4096
#define BITSET_BYTES 8192

/* Reads a little-endian uint16. */
static inline uint32_t
rd16(const uint8_t *p)
{
	return (uint32_t) p[0] | ((uint32_t) p[1] << 8);
}

/* Reads a little-endian uint32. */
static inline uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}

/* Reads a little-endian uint64. */
static inline uint64_t
rd64(const uint8_t *p)
{
	return (uint64_t) rd32(p) | ((uint64_t) rd32(p + 4) << 32);
}

/* True for the white space the text form allows between tokens. */
static inline bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Skips white space from *pos. */
static void
skip_space(const char *s, size_t len, size_t *pos)
{
	while (*pos < len && is_space(s[*pos]))
		(*pos)++;
}

/* Fills err for a syntax error at pos and returns its status. */
static AudienceParseStatus
syntax_error(AudienceParseError *err, size_t pos, const char *expected)
{
	err->status = AUDIENCE_PARSE_SYNTAX;
	err->pos = pos;
	err->len = 0;
	err->expected = expected;
	return err->status;
}

/*
 * Reads one unsigned decimal number at *pos (optionally preceded by '-', which makes it out of
 * range); advances *pos past it.
 */
static AudienceParseStatus
read_number(const char *s, size_t len, size_t *pos, uint32_t *out, AudienceParseError *err)
{
	size_t	 start = *pos;
	size_t	 p = start;
	bool	 negative = false;
	bool	 overflow = false;
	uint64_t v = 0;

	if (p < len && s[p] == '-')
	{
		negative = true;
		p++;
	}
	if (p >= len || s[p] < '0' || s[p] > '9')
		return syntax_error(err, start, "a profile number");
	while (p < len && s[p] >= '0' && s[p] <= '9')
	{
		if (!overflow)
		{
			v = v * 10 + (uint64_t) (s[p] - '0');
			if (v > UINT32_MAX)
				overflow = true;
		}
		p++;
	}
	*pos = p;
	if (negative && v == 0 && !overflow)
		negative = false; /* "-0" is zero */
	if (negative || overflow)
	{
		err->status = AUDIENCE_PARSE_OUT_OF_RANGE;
		err->pos = start;
		err->len = p - start;
		err->expected = NULL;
		return err->status;
	}
	*out = (uint32_t) v;
	return AUDIENCE_PARSE_OK;
}

/* Parses the text form; see the header. */
AudienceParseStatus
audience_parse_text(const char *s, size_t len, audience_range_fn fn, void *arg,
					AudienceParseError *err)
{
	size_t pos = 0;

	skip_space(s, len, &pos);
	if (pos >= len || s[pos] != '{')
		return syntax_error(err, pos, "\"{\"");
	pos++;
	skip_space(s, len, &pos);
	if (pos < len && s[pos] == '}')
		pos++;
	else
	{
		for (;;)
		{
			size_t	 start;
			uint32_t lo,
				hi;

			skip_space(s, len, &pos);
			start = pos;
			if (read_number(s, len, &pos, &lo, err) != AUDIENCE_PARSE_OK)
				return err->status;
			hi = lo;
			skip_space(s, len, &pos);
			if (pos < len && s[pos] == '-')
			{
				pos++;
				skip_space(s, len, &pos);
				if (read_number(s, len, &pos, &hi, err) != AUDIENCE_PARSE_OK)
					return err->status;
				if (hi < lo)
				{
					err->status = AUDIENCE_PARSE_REVERSED;
					err->pos = start;
					err->len = pos - start;
					err->expected = NULL;
					return err->status;
				}
				skip_space(s, len, &pos);
			}
			fn(arg, lo, hi);
			if (pos < len && s[pos] == ',')
			{
				pos++;
				continue;
			}
			if (pos < len && s[pos] == '}')
			{
				pos++;
				break;
			}
			return syntax_error(err, pos, "\",\", \"-\" or \"}\"");
		}
	}
	skip_space(s, len, &pos);
	if (pos != len)
		return syntax_error(err, pos, "the end of the input");
	err->status = AUDIENCE_PARSE_OK;
	return AUDIENCE_PARSE_OK;
}

/* Whether container i is a run container. */
static inline bool
is_run(const AudienceView *v, uint32_t i)
{
	return v->runflags != NULL && (v->runflags[i / 8] >> (i % 8)) & 1;
}

/* Cardinality that the header gives container i (1..65536). */
static inline uint32_t
header_card(const AudienceView *v, uint32_t i)
{
	return rd16(v->keycards + 4 * (size_t) i + 2) + 1;
}

/* Key (high 16 bits) of container i. */
static inline uint32_t
header_key(const AudienceView *v, uint32_t i)
{
	return rd16(v->keycards + 4 * (size_t) i);
}

/*
 * Byte size of container i starting at off, or 0 when it does not fit inside the buffer.
 */
static size_t
container_size(const AudienceView *v, uint32_t i, size_t off)
{
	size_t size;

	if (off > v->len)
		return 0;
	if (is_run(v, i))
	{
		if (v->len - off < 2)
			return 0;
		size = 2 + 4 * (size_t) rd16(v->buf + off);
	}
	else if (header_card(v, i) <= ARRAY_MAX)
		size = 2 * (size_t) header_card(v, i);
	else
		size = BITSET_BYTES;
	return size <= v->len - off ? size : 0;
}

/* Checks the contents of container i at off (size bytes) against what CRoaring assumes. */
static const char *
check_container(const AudienceView *v, uint32_t i, size_t off, size_t size)
{
	const uint8_t *p = v->buf + off;
	uint32_t	   card = header_card(v, i);

	if (is_run(v, i))
	{
		uint32_t nruns = rd16(p);
		uint32_t total = 0;
		int64_t	 prev_end = -1;

		if (nruns == 0)
			return "A run container has no runs.";
		for (uint32_t r = 0; r < nruns; r++)
		{
			uint32_t start = rd16(p + 2 + 4 * r);
			uint32_t length = rd16(p + 4 + 4 * r);

			if ((int64_t) start <= prev_end)
				return "The runs of a run container overlap or are out of order.";
			if (start + length > 0xFFFF)
				return "A run extends past the end of its 65536-value chunk.";
			prev_end = start + length;
			total += length + 1;
		}
		if (total != card)
			return "A run container's cardinality does not match its header.";
	}
	else if (card <= ARRAY_MAX)
	{
		for (uint32_t k = 1; k < card; k++)
			if (rd16(p + 2 * k) <= rd16(p + 2 * (k - 1)))
				return "An array container is not strictly increasing.";
	}
	else
	{
		uint32_t total = 0;

		for (size_t w = 0; w < BITSET_BYTES; w += 8)
			total += (uint32_t) __builtin_popcountll(rd64(p + w));
		if (total != card)
			return "A bitset container's cardinality does not match its header.";
	}
	(void) size;
	return NULL;
}

/* Opens a serialization; see the header. */
const char *
audience_view_open(AudienceView *v, const void *buf, size_t len, bool full)
{
	const uint8_t *b = buf;
	uint32_t	   cookie;
	size_t		   pos;
	size_t		   off;

	memset(v, 0, sizeof(*v));
	v->buf = b;
	v->len = len;
	if (len < 4)
		return "The data is shorter than a header.";
	cookie = rd32(b);
	if ((cookie & 0xFFFF) == COOKIE_RUN)
	{
		v->n = (cookie >> 16) + 1;
		pos = 4;
		if (len - pos < (v->n + 7) / 8)
			return "The run-container bitmap is truncated.";
		v->runflags = b + pos;
		pos += (v->n + 7) / 8;
	}
	else if (cookie == COOKIE_NO_RUN)
	{
		if (len < 8)
			return "The container count is truncated.";
		v->n = rd32(b + 4);
		if (v->n > 65536)
			return "The container count is larger than 65536.";
		pos = 8;
	}
	else
		return "The data does not start with a portable Roaring cookie.";

	if (len - pos < 4 * (size_t) v->n)
		return "The container headers are truncated.";
	v->keycards = b + pos;
	pos += 4 * (size_t) v->n;
	if (v->runflags == NULL || v->n >= NO_OFFSET_THRESHOLD)
	{
		if (len - pos < 4 * (size_t) v->n)
			return "The container offsets are truncated.";
		v->offsets = b + pos;
		pos += 4 * (size_t) v->n;
	}
	v->data = pos;

	off = pos;
	for (uint32_t i = 0; i < v->n; i++)
	{
		size_t		size = container_size(v, i, off);
		const char *msg;

		if (size == 0)
			return "A container is truncated.";
		if (full)
		{
			if (i > 0 && header_key(v, i) <= header_key(v, i - 1))
				return "The container keys are not strictly increasing.";
			if (v->offsets != NULL && rd32(v->offsets + 4 * (size_t) i) != off)
				return "A container offset does not match the container's position.";
			if ((msg = check_container(v, i, off, size)) != NULL)
				return msg;
		}
		off += size;
	}
	if (full && off != len)
		return "There are bytes after the last container.";
	return NULL;
}

/* Sum of the header cardinalities. */
uint64_t
audience_view_cardinality(const AudienceView *v)
{
	uint64_t total = 0;

	for (uint32_t i = 0; i < v->n; i++)
		total += header_card(v, i);
	return total;
}

/* Offset of container i, or 0 when it cannot be found inside the buffer. */
static size_t
container_offset(const AudienceView *v, uint32_t i, size_t *size)
{
	size_t off;

	if (v->offsets != NULL)
		off = rd32(v->offsets + 4 * (size_t) i);
	else
	{
		off = v->data;
		for (uint32_t k = 0; k < i; k++)
		{
			size_t s = container_size(v, k, off);

			if (s == 0)
				return 0;
			off += s;
		}
	}
	*size = container_size(v, i, off);
	return *size == 0 ? 0 : off;
}

/* Membership test: binary search of the keys, then of the container. */
bool
audience_view_contains(const AudienceView *v, uint32_t x)
{
	uint32_t key = x >> 16;
	uint32_t low = x & 0xFFFF;
	uint32_t lo = 0,
			 hi = v->n;
	size_t off,
		size;
	const uint8_t *p;

	while (lo < hi)
	{
		uint32_t mid = lo + (hi - lo) / 2;

		if (header_key(v, mid) < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo >= v->n || header_key(v, lo) != key)
		return false;
	off = container_offset(v, lo, &size);
	if (off == 0)
		return false;
	p = v->buf + off;
	if (is_run(v, lo))
	{
		uint32_t a = 0,
				 b = rd16(p);

		/* last run whose start <= low */
		while (a < b)
		{
			uint32_t mid = a + (b - a) / 2;

			if (rd16(p + 2 + 4 * mid) <= low)
				a = mid + 1;
			else
				b = mid;
		}
		if (a == 0)
			return false;
		return low <= rd16(p + 2 + 4 * (a - 1)) + rd16(p + 4 + 4 * (a - 1));
	}
	else if (header_card(v, lo) <= ARRAY_MAX)
	{
		uint32_t a = 0,
				 b = header_card(v, lo);

		while (a < b)
		{
			uint32_t mid = a + (b - a) / 2;
			uint32_t val = rd16(p + 2 * mid);

			if (val == low)
				return true;
			if (val < low)
				a = mid + 1;
			else
				b = mid;
		}
		return false;
	}
	return (p[low / 8] >> (low % 8)) & 1;
}

static bool iter_step(AudienceIter *it, uint32_t *out, uint32_t *out_hi, bool whole_runs);

/* Starts a walk. */
void
audience_iter_init(AudienceIter *it, const AudienceView *v)
{
	memset(it, 0, sizeof(*it));
	it->v = v;
	it->coff = v->data;
}

/* Next value of the walk. */
bool
audience_iter_next(AudienceIter *it, uint32_t *out)
{
	uint32_t hi;

	return iter_step(it, out, &hi, false);
}

/* Next stretch of consecutive values of the walk. */
bool
audience_iter_next_run(AudienceIter *it, uint32_t *lo, uint32_t *hi)
{
	return iter_step(it, lo, hi, true);
}

/* One step of the walk: a value, or with whole_runs the rest of the current run. */
static bool
iter_step(AudienceIter *it, uint32_t *out, uint32_t *out_hi, bool whole_runs)
{
	const AudienceView *v = it->v;

	while (it->ci < v->n)
	{
		size_t		   size = container_size(v, it->ci, it->coff);
		const uint8_t *p = v->buf + it->coff;
		uint32_t	   base = header_key(v, it->ci) << 16;

		if (size == 0)
			return false; /* only possible for data that failed a full check */
		if (is_run(v, it->ci))
		{
			uint32_t nruns = rd16(p);

			if (!it->started)
			{
				it->started = true;
				it->i = 0;
				it->run_next = nruns > 0 ? rd16(p + 2) : 0;
			}
			while (it->i < nruns)
			{
				uint32_t end = rd16(p + 2 + 4 * it->i) + rd16(p + 4 + 4 * it->i);

				if (end > 0xFFFF)
					end = 0xFFFF; /* only in data that failed a full check */
				if (it->run_next <= end)
				{
					*out = base | it->run_next;
					*out_hi = whole_runs ? (base | end) : *out;
					it->run_next = whole_runs ? end + 1 : it->run_next + 1;
					return true;
				}
				it->i++;
				if (it->i < nruns)
					it->run_next = rd16(p + 2 + 4 * it->i);
			}
		}
		else if (header_card(v, it->ci) <= ARRAY_MAX)
		{
			if (!it->started)
			{
				it->started = true;
				it->i = 0;
			}
			if (it->i < header_card(v, it->ci))
			{
				*out = *out_hi = base | rd16(p + 2 * it->i++);
				return true;
			}
		}
		else
		{
			if (!it->started)
			{
				it->started = true;
				it->i = 0;
				it->word = rd64(p);
			}
			for (;;)
			{
				if (it->word != 0)
				{
					uint32_t bit = (uint32_t) __builtin_ctzll(it->word);
					uint64_t rest = ~(it->word >> bit); /* zero at the set bits from bit on */
					uint32_t len = whole_runs ? (rest == 0 ? 64 : (uint32_t) __builtin_ctzll(rest)) : 1;

					/* clear the len bits from bit on (a whole word when len is 64) */
					it->word &= len == 64 ? 0 : ~(((UINT64_C(1) << len) - 1) << bit);
					*out = base | (it->i * 64 + bit);
					*out_hi = *out + (len - 1);
					return true;
				}
				if (++it->i >= BITSET_BYTES / 8)
					break;
				it->word = rd64(p + 8 * (size_t) it->i);
			}
		}
		it->coff += size;
		it->ci++;
		it->started = false;
	}
	return false;
}
