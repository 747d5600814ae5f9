/*
 * dedup.h: the message ids one ingest statement has accepted, for dropping later copies early.
 */
#ifndef PERSONALIZE_DEDUP_H
#define PERSONALIZE_DEDUP_H

#include "postgres.h"

typedef struct DedupSet DedupSet;

/* Creates an empty set in its own memory context under parent. */
extern DedupSet *dedup_create(MemoryContext parent);

/* Frees the set (NULL is allowed). */
extern void dedup_free(DedupSet *s);

/* Records a key; true when the same key was recorded before (the row is a copy to drop). */
extern bool dedup_seen(DedupSet *s, const char *key, uint32 len);

/* How many copies the set made the statement drop (0 for NULL). */
extern int64 dedup_dropped(DedupSet *s);

/* Iterates over the keys that had copies dropped, with their counts; false at the end. */
extern bool dedup_next_copied(DedupSet *s, const char **key, uint32 *len, int64 *copies);

#endif
