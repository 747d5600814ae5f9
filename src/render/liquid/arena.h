/*
 * arena.h - internal view of the arena allocator (see liquid.h for the API).
 * Owns: chunked bump allocation on top of a pluggable liq_allocator, with an
 * optional byte limit so a render cannot consume unbounded memory.
 */
#ifndef LIQ_ARENA_H
#define LIQ_ARENA_H
#include "liquid.h"

typedef struct liq_chunk
{
	struct liq_chunk *next;
	size_t			  size;
	size_t			  used;
	/* data follows, 16-byte aligned */
} liq_chunk;

struct liq_arena
{
	liq_allocator a;
	liq_chunk	 *head;
	size_t		  total; /* bytes obtained from the allocator */
	size_t		  limit; /* 0 = unlimited */
	bool		  over;	 /* set once an allocation failed (OOM or limit) */
};

/* Allocate raw bytes from the underlying allocator (not the arena). */
void *liq_sys_alloc(const liq_allocator *a, size_t n);
/* Release bytes obtained with liq_sys_alloc. */
void liq_sys_free(const liq_allocator *a, void *p);
/* Create an arena that refuses to grow past limit bytes (0 = unlimited). */
liq_arena *liq_arena_new_limited(const liq_allocator *a, size_t limit);
/* Copy len bytes into the arena (NUL-terminated); NULL on OOM. */
char *liq_arena_strdup(liq_arena *ar, const char *s, size_t len);
/* Allocate n * size bytes with overflow check; NULL on OOM. */
void *liq_arena_calloc(liq_arena *ar, size_t n, size_t size);
/* Grow an arena array from old_n to new_n elements (copying); NULL on OOM. */
void *liq_arena_grow(liq_arena *ar, void *old, size_t old_n, size_t new_n, size_t size);

#endif
