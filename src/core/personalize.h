/*
 * personalize.h: settings and caches shared by the modules.
 */
#ifndef PERSONALIZE_H
#define PERSONALIZE_H

#include "postgres.h"

#include "datatype/timestamp.h"

typedef enum InvalidEventAction
{
	INVALID_EVENT_QUARANTINE,
	INVALID_EVENT_ERROR
} InvalidEventAction;

extern int	personalize_on_invalid_event;
extern bool personalize_strict_events;
extern int	personalize_max_event_bytes;

/* Whether t is a finite time in the years 1 to 9999 (UTC): the range of as_of and of events. */
extern bool personalize_time_in_range(TimestampTz t);

/* Raises 22023 unless as_of is in that range (the check every as_of-taking function makes). */
extern void personalize_check_as_of(TimestampTz as_of);

/* The OID of a relation in the personalize schema, cached; InvalidOid if it does not exist. */
extern Oid personalize_relid(const char *name);

/* ingest.c: drops the caches built on the extension's tables. */
extern void ingest_invalidate(void);
extern void ingest_init(void);

/* render.c: defines the personalize.liquid_* settings. */
extern void render_init(void);

/* decay.c: defines the scoring settings. */
extern void scoring_init(void);

#endif
