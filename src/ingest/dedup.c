/*
 * dedup.c: the message ids one ingest statement has accepted so far, so that the row trigger
 * can drop a later copy of a key before it is stored. It is an exact but partial filter: a
 * copy it lets through (a 64-bit hash shared by two different keys, or a set that reached its
 * bound) is still caught by the statement's claim on personalize.event_keys, which stays the
 * authority on what is a duplicate.
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "utils/memutils.h"

#include "dedup.h"

/*
 * At most this many keys per statement (about 100 bytes each with the table's slack, so some
 * 200 MB at the bound); later keys are not filtered here.
 */
#define MAX_STATEMENT_KEYS 2000000

/* Key bytes are appended to blocks of this size rather than palloc'd one by one. */
#define KEY_BLOCK_BYTES (1024 * 1024)

/* One accepted key: its hash, its bytes, and how many later copies were dropped. */
typedef struct DedupEntry
{
	uint64		hash;
	const char *key;
	uint32		len;
	char		status; /* simplehash's slot state */
	int64		copies;
} DedupEntry;

/* An open-addressing table keyed by the 64-bit hash (one cache miss per lookup, not three). */
#define SH_PREFIX dedup_keys
#define SH_ELEMENT_TYPE DedupEntry
#define SH_KEY_TYPE uint64
#define SH_KEY hash
#define SH_HASH_KEY(tb, key) ((uint32) (key))
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* A statement's set: the table, the blocks holding the key bytes, and the count of copies. */
struct DedupSet
{
	MemoryContext		cxt;
	dedup_keys_hash	   *keys;
	char			   *block; /* free space of the current key block */
	Size				block_free;
	int64				dropped; /* copies dropped, all keys together */
	dedup_keys_iterator scan;	 /* for dedup_next_copied */
	bool				scanning;
};

/* Creates an empty set in its own context under parent. */
DedupSet *
dedup_create(MemoryContext parent)
{
	MemoryContext cxt = AllocSetContextCreate(parent, "personalize statement keys",
											  ALLOCSET_DEFAULT_SIZES);
	DedupSet	 *s = MemoryContextAllocZero(cxt, sizeof(DedupSet));

	s->cxt = cxt;
	s->keys = dedup_keys_create(cxt, 1024, NULL);
	return s;
}

/* Frees the set and everything in it. */
void
dedup_free(DedupSet *s)
{
	if (s)
		MemoryContextDelete(s->cxt);
}

/* Copies a key's bytes into the current block, starting a new block when it is full. */
static const char *
store_key(DedupSet *s, const char *key, uint32 len)
{
	char *p;

	if (s->block_free < len)
	{
		s->block_free = Max(KEY_BLOCK_BYTES, len);
		s->block = MemoryContextAlloc(s->cxt, s->block_free);
	}
	p = s->block;
	memcpy(p, key, len);
	s->block += len;
	s->block_free -= len;
	return p;
}

/*
 * Records a key the statement is about to accept; returns true when the very same key was
 * accepted before in this statement (the caller drops the row), counting the copy.
 */
bool
dedup_seen(DedupSet *s, const char *key, uint32 len)
{
	uint64		hash = hash_bytes_extended((const unsigned char *) key, len, 0);
	DedupEntry *e;
	bool		found;

	if (s->keys->members >= MAX_STATEMENT_KEYS)
	{
		e = dedup_keys_lookup(s->keys, hash);
		found = e != NULL;
	}
	else
		e = dedup_keys_insert(s->keys, hash, &found);
	if (e == NULL)
		return false;
	if (!found)
	{
		e->key = store_key(s, key, len);
		e->len = len;
		e->copies = 0;
		return false;
	}
	if (e->len != len || memcmp(e->key, key, len) != 0)
		return false; /* another key with the same hash: left to the claim */
	e->copies++;
	s->dropped++;
	return true;
}

/* How many copies the set made the statement drop. */
int64
dedup_dropped(DedupSet *s)
{
	return s ? s->dropped : 0;
}

/*
 * Iterates over the keys that had copies dropped: returns false at the end. Each call sets
 * *key, *len and *copies.
 */
bool
dedup_next_copied(DedupSet *s, const char **key, uint32 *len, int64 *copies)
{
	DedupEntry *e;

	if (s == NULL || s->dropped == 0)
		return false;
	if (!s->scanning)
	{
		dedup_keys_start_iterate(s->keys, &s->scan);
		s->scanning = true;
	}
	while ((e = dedup_keys_iterate(s->keys, &s->scan)) != NULL)
	{
		if (e->copies > 0)
		{
			*key = e->key;
			*len = e->len;
			*copies = e->copies;
			return true;
		}
	}
	s->scanning = false;
	return false;
}
