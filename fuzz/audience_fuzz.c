/*
 * audience_fuzz.c - libFuzzer harness for the server-independent half of the audience type
 * (src/audience/audience_format.c), checked differentially against CRoaring. The first input byte picks:
 *   0: text form. Parse; on success the set, serialized by CRoaring (with and without run
 *      containers), must pass the full validator and read back identically through the view
 *      (cardinality, walk, contains), and its text rendering must parse back to the same set.
 *   1: binary form. Open the bytes with the structural check and walk/probe them (memory
 *      safety on any bytes); when the full check accepts them, CRoaring must deserialize them,
 *      agree with the view on every value, and survive set operations and re-serialization.
 *   2: a set built from the bytes as (value, run length) pairs, so that array, bitset and run
 *      containers all occur; CRoaring's serialization must pass the full validator.
 * What one input costs is bounded by its length, never by the number of values in its set (one
 * range of the text form holds up to 2^32 of them, 65,536 containers): the view is compared with
 * CRoaring exactly by stretches (a run container's run is one step), value by value only for the
 * first WALK_LIMIT values; and in mode 0 each parsed range keeps only the chunks (2^16 values)
 * at its two ends, where its edges lie (CLIP_CHUNKS each), so that a range costs at most
 * 2 * CLIP_CHUNKS containers; the interior chunks it drops are full run containers like those
 * kept. A whole-universe set (65,536 containers) is checked through SQL by sql/audience.sql.
 * Build/run: fuzz/run audience [seconds] (or make fuzz-audience)
 */
#include "audience_format.h"

#include <roaring/roaring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Aborts with a message: libFuzzer records the input. */
static void
fail(const char *what)
{
	fprintf(stderr, "audience_fuzz: %s\n", what);
	abort();
}

/* Parser callback: adds a range to a CRoaring bitmap. */
static void
add_cb(void *arg, uint32_t lo, uint32_t hi)
{
	roaring_bitmap_add_range_closed((roaring_bitmap_t *) arg, lo, hi);
}

/* Chunks kept at each end of a parsed range (see the banner). */
#define CLIP_CHUNKS 2

/* Parser callback of mode 0: adds the range's first and last CLIP_CHUNKS chunks. */
static void
add_clipped_cb(void *arg, uint32_t lo, uint32_t hi)
{
	uint64_t head_end = (((uint64_t) lo >> 16) + CLIP_CHUNKS) << 16;		/* first value past the head */
	uint64_t tail_start = (uint64_t) (hi >> 16) << 16;						/* the tail's last chunk */
	uint64_t tail_lo = tail_start >= ((uint64_t) (CLIP_CHUNKS - 1) << 16) ? /* its first chunk */
						   tail_start - ((uint64_t) (CLIP_CHUNKS - 1) << 16)
																		  : 0;

	if (tail_lo <= head_end)
		add_cb(arg, lo, hi);
	else
	{
		add_cb(arg, lo, (uint32_t) (head_end - 1));
		add_cb(arg, (uint32_t) (tail_lo > lo ? tail_lo : lo), hi);
	}
}

/* Iterator callback state: compares CRoaring's walk with the view's. */
typedef struct
{
	AudienceIter it;
	bool		 ok;
	uint64_t	 seen; /* values compared; the walk stops after WALK_LIMIT */
} Cmp;

/* Values compared one by one per walk; the stretch walk covers the whole set. */
#define WALK_LIMIT 4096

/* One value of CRoaring's walk: the view must produce the same next value. */
static bool
cmp_cb(uint32_t value, void *arg)
{
	Cmp		*c = arg;
	uint32_t x;

	if (!audience_iter_next(&c->it, &x) || x != value)
		c->ok = false;
	return c->ok && ++c->seen < WALK_LIMIT;
}

/*
 * Checks that the view's stretch walk is exactly the set rb: ascending, disjoint stretches, each
 * inside rb, whose lengths add up to rb's cardinality (a subset of the same size is the set).
 * One step per run of a run container, so a range of 2^32 values costs one step.
 */
static void
check_stretches(const AudienceView *v, const roaring_bitmap_t *rb)
{
	AudienceIter it;
	uint32_t	 lo, hi, prev_hi = 0;
	uint64_t	 total = 0;
	bool		 have = false;

	audience_iter_init(&it, v);
	while (audience_iter_next_run(&it, &lo, &hi))
	{
		if (lo > hi || (have && lo <= prev_hi))
			fail("stretches out of order");
		if (!roaring_bitmap_contains_range(rb, lo, (uint64_t) hi + 1))
			fail("stretch outside the set");
		total += (uint64_t) hi - lo + 1;
		prev_hi = hi;
		have = true;
	}
	if (total != roaring_bitmap_get_cardinality(rb))
		fail("stretches do not cover the set");
}

/* Checks that the serialization buf agrees with rb in every way the view can be read. */
static void
check_view_matches(const char *buf, size_t len, const roaring_bitmap_t *rb)
{
	AudienceView v;
	Cmp			 c;
	uint32_t	 x;
	const char	*why = audience_view_open(&v, buf, len, true);

	if (why != NULL)
	{
		fprintf(stderr, "validator refused CRoaring's own output: %s\n", why);
		fail("validator too strict");
	}
	if (audience_view_cardinality(&v) != roaring_bitmap_get_cardinality(rb))
		fail("cardinality differs");
	audience_iter_init(&c.it, &v);
	c.ok = true;
	c.seen = 0;
	roaring_iterate(rb, cmp_cb, &c);
	if (!c.ok || (c.seen < WALK_LIMIT && audience_iter_next(&c.it, &x)))
		fail("walk differs");
	check_stretches(&v, rb);
	/* probe members, their neighbours and a few fixed values */
	for (uint32_t k = 0, card = (uint32_t) (roaring_bitmap_get_cardinality(rb) + 1); k < 64; k++)
	{
		uint32_t probe = 0;
		uint32_t r[2];

		if (roaring_bitmap_select(rb, k * 7919u % card, &probe))
		{
			r[0] = probe;
			r[1] = probe + 1;
		}
		else
		{
			r[0] = k * 0x9E3779B9u;
			r[1] = k;
		}
		for (int j = 0; j < 2; j++)
			if (audience_view_contains(&v, r[j]) != roaring_bitmap_contains(rb, r[j]))
				fail("contains differs");
	}
}

/* Serializes rb (as it is, then run-optimized) and checks both serializations. */
static void
check_serializations(roaring_bitmap_t *rb)
{
	for (int pass = 0; pass < 2; pass++)
	{
		size_t size;
		char  *buf;

		if (pass == 1)
			roaring_bitmap_run_optimize(rb);
		size = roaring_bitmap_portable_size_in_bytes(rb);
		buf = malloc(size);
		if (roaring_bitmap_portable_serialize(rb, buf) != size)
			fail("serialize size");
		check_view_matches(buf, size, rb);
		free(buf);
	}
}

/* Text rendering callback state. */
typedef struct
{
	char  *s;
	size_t len,
		cap;
} Out;

/* Appends a string to out. */
static void
out_add(Out *o, const char *s)
{
	size_t n = strlen(s);

	if (o->len + n + 1 > o->cap)
	{
		o->cap = (o->len + n + 1) * 2;
		o->s = realloc(o->s, o->cap);
	}
	memcpy(o->s + o->len, s, n + 1);
	o->len += n;
}

/* Renders a serialization as text the way audience_out does (runs of three or more as lo-hi). */
static void
render(const AudienceView *v, Out *o)
{
	AudienceIter it;
	uint32_t	 x,
		xhi = 0,
		lo = 0,
		hi = 0;
	bool have = false;
	char tmp[32];

	out_add(o, "{");
	audience_iter_init(&it, v);
	for (;;)
	{
		bool more = audience_iter_next_run(&it, &x, &xhi);

		if (more && (x > xhi || (have && x <= hi)))
			fail("stretches out of order");
		if (more && have && hi != UINT32_MAX && x == hi + 1)
		{
			hi = xhi;
			continue;
		}
		if (have)
		{
			if (o->len > 1)
				out_add(o, ",");
			if (lo == hi)
				snprintf(tmp, sizeof tmp, "%u", lo);
			else if (hi == lo + 1)
				snprintf(tmp, sizeof tmp, "%u,%u", lo, hi);
			else
				snprintf(tmp, sizeof tmp, "%u-%u", lo, hi);
			out_add(o, tmp);
		}
		if (!more)
			break;
		lo = x;
		hi = xhi;
		have = true;
	}
	out_add(o, "}");
}

/* Mode 0: the text parser. */
static void
fuzz_text(const uint8_t *data, size_t size)
{
	roaring_bitmap_t  *rb = roaring_bitmap_create();
	AudienceParseError err;

	if (audience_parse_text((const char *) data, size, add_clipped_cb, rb, &err) == AUDIENCE_PARSE_OK)
	{
		size_t			  len;
		char			 *buf;
		AudienceView	  v;
		Out				  o = {0};
		roaring_bitmap_t *back = roaring_bitmap_create();

		check_serializations(rb);
		len = roaring_bitmap_portable_size_in_bytes(rb);
		buf = malloc(len);
		roaring_bitmap_portable_serialize(rb, buf);
		if (audience_view_open(&v, buf, len, true) != NULL)
			fail("open");
		render(&v, &o);
		if (audience_parse_text(o.s, o.len, add_cb, back, &err) != AUDIENCE_PARSE_OK)
			fail("rendered text does not parse");
		if (!roaring_bitmap_equals(rb, back))
			fail("text round trip differs");
		roaring_bitmap_free(back);
		free(o.s);
		free(buf);
	}
	else if (err.pos > size || err.len > size - err.pos ||
			 (err.status == AUDIENCE_PARSE_SYNTAX && err.expected == NULL))
		fail("error position out of bounds");
	roaring_bitmap_free(rb);
}

/* Mode 1: arbitrary bytes as a serialization. */
static void
fuzz_binary(const uint8_t *data, size_t size)
{
	AudienceView v;
	AudienceIter it;
	uint32_t	 x;
	uint64_t	 n = 0;

	/* the structural check alone must make every read safe */
	if (audience_view_open(&v, data, size, false) == NULL)
	{
		(void) audience_view_cardinality(&v);
		uint32_t hi;

		audience_iter_init(&it, &v);
		while (n++ < WALK_LIMIT && audience_iter_next(&it, &x))
			(void) audience_view_contains(&v, x ^ 1);
		audience_iter_init(&it, &v);
		while (audience_iter_next_run(&it, &x, &hi))
			(void) (audience_view_contains(&v, x) && audience_view_contains(&v, hi) && audience_view_contains(&v, hi + 1));
		(void) audience_view_contains(&v, 0);
		(void) audience_view_contains(&v, UINT32_MAX);
	}
	if (audience_view_open(&v, data, size, true) == NULL)
	{
		roaring_bitmap_t *rb = roaring_bitmap_portable_deserialize_safe((const char *) data, size);
		roaring_bitmap_t *other;

		if (rb == NULL)
			fail("validated bytes refused by CRoaring");
		if (roaring_bitmap_portable_deserialize_size((const char *) data, size) != size)
			fail("CRoaring reads a different length");
		check_view_matches((const char *) data, size, rb);
		/* CRoaring must be able to work on what the validator let through */
		other = roaring_bitmap_from_range(0, 200000, 3);
		roaring_bitmap_or_inplace(other, rb);
		roaring_bitmap_and_inplace(other, rb);
		if (!roaring_bitmap_equals(other, rb))
			fail("(x | y) & x != x");
		roaring_bitmap_andnot_inplace(other, rb);
		if (!roaring_bitmap_is_empty(other))
			fail("x - x not empty");
		roaring_bitmap_free(other);
		check_serializations(rb);
		roaring_bitmap_free(rb);
	}
}

/* Mode 2: CRoaring's own serializations of varied sets. */
static void
fuzz_built(const uint8_t *data, size_t size)
{
	roaring_bitmap_t *rb = roaring_bitmap_create();

	for (size_t i = 0; i + 6 <= size; i += 6)
	{
		uint32_t v;
		uint32_t run;

		memcpy(&v, data + i, 4);
		run = (uint32_t) data[i + 4] | ((uint32_t) data[i + 5] << 8);
		v &= 0x0003FFFFu; /* few chunks, so containers fill up */
		if (run % 4 == 0)
			roaring_bitmap_add(rb, v);
		else
			roaring_bitmap_add_range_closed(rb, v, v + (run % 9000));
	}
	check_serializations(rb);
	roaring_bitmap_free(rb);
}

/* libFuzzer entry point. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 3)
	{
		case 0:
			fuzz_text(data + 1, size - 1);
			break;
		case 1:
			fuzz_binary(data + 1, size - 1);
			break;
		default:
			fuzz_built(data + 1, size - 1);
			break;
	}
	return 0;
}
