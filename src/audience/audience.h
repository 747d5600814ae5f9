/*
 * audience.h: helpers of the audience type (src/audience.c) for other C modules, e.g. the
 * function that builds an audience from a segment. None of them leaks CRoaring's malloc'd
 * memory when an ERROR is raised.
 */
#ifndef PERSONALIZE_AUDIENCE_H
#define PERSONALIZE_AUDIENCE_H

#include "postgres.h"

#include <roaring/roaring.h>

/* Builds an audience datum (palloc'd) from n profile numbers in any order, repeats allowed. */
extern bytea *personalize_audience_from_ids(const uint32 *ids, size_t n);

/* Checks that a bigint is a valid profile number (0..4294967295), else ERROR 22003. */
extern uint32 personalize_audience_id(int64 id);

/* Serializes a CRoaring bitmap into a palloc'd audience (run-optimizes rb; does not free it). */
extern bytea *personalize_audience_from_roaring(roaring_bitmap_t *rb);

/*
 * Deserializes an audience into a malloc'd CRoaring bitmap: the caller must free it on every
 * path, so call it inside PG_TRY with roaring_bitmap_free in PG_FINALLY.
 */
extern roaring_bitmap_t *personalize_audience_to_roaring(const bytea *a);

#endif
