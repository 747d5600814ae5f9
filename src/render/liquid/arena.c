/*
 * arena.c - arena (bump) allocator over a pluggable liq_allocator.
 * Owns: chunk management, limits, and the malloc default allocator.
 * Freeing an arena is O(number of chunks); individual objects are never
 * freed, which makes longjmp out of a render (PostgreSQL interrupts) safe.
 */
#include "arena.h"
#include <stdlib.h>
#include <string.h>

#define LIQ_CHUNK_MIN 8192
#define LIQ_HDR ((sizeof(liq_chunk) + 15) & ~(size_t) 15)

/* Default allocator: malloc. */
static void *
default_alloc(void *ud, size_t n)
{
	(void) ud;
	return malloc(n);
}
/* Default allocator: free. */
static void
default_free(void *ud, void *p)
{
	(void) ud;
	free(p);
}

/* Allocate raw bytes from the underlying allocator (not the arena). */
void *
liq_sys_alloc(const liq_allocator *a, size_t n)
{
	if (!a || !a->alloc)
		return malloc(n ? n : 1);
	return a->alloc(a->ud, n ? n : 1);
}

/* Release bytes obtained with liq_sys_alloc. */
void
liq_sys_free(const liq_allocator *a, void *p)
{
	if (!p)
		return;
	if (!a || !a->alloc)
	{
		free(p);
		return;
	}
	if (a->free)
		a->free(a->ud, p);
}

/* Create an arena that refuses to grow past limit bytes (0 = unlimited). */
liq_arena *
liq_arena_new_limited(const liq_allocator *a, size_t limit)
{
	liq_allocator al;
	liq_arena	 *ar;
	if (a && a->alloc)
	{
		al = *a;
	}
	else
	{
		al.alloc = default_alloc;
		al.free = default_free;
		al.ud = NULL;
	}
	ar = al.alloc(al.ud, sizeof(*ar));
	if (!ar)
		return NULL;
	ar->a = al;
	ar->head = NULL;
	ar->total = 0;
	ar->limit = limit;
	ar->over = false;
	return ar;
}

/* Create an arena (NULL allocator = malloc). */
liq_arena *
liq_arena_new(const liq_allocator *a)
{
	return liq_arena_new_limited(a, 0);
}

/* Release every chunk of the arena and the arena itself. */
void
liq_arena_free(liq_arena *ar)
{
	liq_chunk *c, *n;
	if (!ar)
		return;
	for (c = ar->head; c; c = n)
	{
		n = c->next;
		if (ar->a.free)
			ar->a.free(ar->a.ud, c);
	}
	if (ar->a.free)
		ar->a.free(ar->a.ud, ar);
}

/* Allocate size bytes (16-byte aligned) from the arena; NULL on OOM. */
void *
liq_arena_alloc(liq_arena *ar, size_t size)
{
	liq_chunk *c = ar->head;
	size_t	   need = (size + 15) & ~(size_t) 15;
	if (size > ((size_t) 1 << 40))
	{
		ar->over = true;
		return NULL;
	}
	if (!c || c->size - c->used < need)
	{
		size_t csize = LIQ_CHUNK_MIN;
		if (c && c->size < ((size_t) 1 << 20))
			csize = c->size * 2; /* geometric growth up to 1 MiB chunks */
		else if (c)
			csize = c->size;
		if (csize < need + LIQ_HDR)
			csize = need + LIQ_HDR;
		if (ar->limit && ar->total + csize > ar->limit)
		{
			ar->over = true;
			return NULL;
		}
		c = ar->a.alloc(ar->a.ud, csize);
		if (!c)
		{
			ar->over = true;
			return NULL;
		}
		c->size = csize;
		c->used = LIQ_HDR;
		ar->total += csize;
		if (ar->head && need + LIQ_HDR == csize && ar->head->size - ar->head->used > 256)
		{
			/* big one-off block: keep the current chunk as head for small allocs */
			c->next = ar->head->next;
			ar->head->next = c;
			c->used = csize;
			return (char *) c + LIQ_HDR;
		}
		c->next = ar->head;
		ar->head = c;
	}
	{
		void *p = (char *) c + c->used;
		c->used += need;
		return p;
	}
}

/* Copy len bytes into the arena (NUL-terminated); NULL on OOM. */
char *
liq_arena_strdup(liq_arena *ar, const char *s, size_t len)
{
	char *p = liq_arena_alloc(ar, len + 1);
	if (!p)
		return NULL;
	if (len)
		memcpy(p, s, len);
	p[len] = 0;
	return p;
}

/* Allocate n * size bytes with overflow check; NULL on OOM. */
void *
liq_arena_calloc(liq_arena *ar, size_t n, size_t size)
{
	void *p;
	if (size && n > ((size_t) 1 << 40) / size)
	{
		ar->over = true;
		return NULL;
	}
	p = liq_arena_alloc(ar, n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

/* Grow an arena array from old_n to new_n elements (copying); NULL on OOM. */
void *
liq_arena_grow(liq_arena *ar, void *old, size_t old_n, size_t new_n, size_t size)
{
	void *p;
	if (size && new_n > ((size_t) 1 << 40) / size)
	{
		ar->over = true;
		return NULL;
	}
	p = liq_arena_alloc(ar, new_n * size);
	if (p && old && old_n)
		memcpy(p, old, old_n * size);
	return p;
}
