/*
 * jv_arena.h: the memory of one fuzz input for the jvalue.h cores: malloc'd blocks on a list,
 * all freed when the input is done (the server's memory contexts do the same job).
 */
#ifndef FUZZ_JV_ARENA_H
#define FUZZ_JV_ARENA_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/jvalue.h"

/* One allocation, linked to the previous one. */
typedef struct block
{
	struct block *next;
	long double	  data[]; /* aligned for anything */
} block;

static block *blocks;

/* jv_alloc's alloc: a block on the list (aborts on out of memory, as palloc errors). */
static void *
arena_alloc(void *ctx, size_t size)
{
	block *b = malloc(sizeof(block) + size);

	(void) ctx;
	if (b == NULL)
		abort();
	b->next = blocks;
	blocks = b;
	return b->data;
}

/* Frees every block of the input. */
static void
arena_reset(void)
{
	while (blocks)
	{
		block *next = blocks->next;

		free(blocks);
		blocks = next;
	}
}

static const jv_alloc arena = {arena_alloc, NULL};

/* Checks the parser's own contract on a parsed value: printing and parsing again gives an equal
 * value that prints the same. */
static void
check_round_trip(const jv *v)
{
	jv_buf		b1, b2;
	const char *err = NULL;
	jv		   *again;

	jv_buf_init(&b1, &arena);
	jv_print(&b1, v);
	again = jv_parse(b1.data, b1.len, 10000, &arena, &err);
	if (again == NULL || !jv_equal(v, again))
		abort();
	jv_buf_init(&b2, &arena);
	jv_print(&b2, again);
	if (b1.len != b2.len || memcmp(b1.data, b2.data, b1.len) != 0)
		abort();
}

#endif
