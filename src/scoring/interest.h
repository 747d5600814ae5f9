/*
 * interest.h: the category an event is about (interest.c), for the live-state fold.
 */
#ifndef INTEREST_H
#define INTEREST_H

#include "postgres.h"
#include "utils/jsonb.h"

/* properties ->> key as a palloc'd C string when a JSON string of 1 to 200 bytes, else NULL. */
extern char *event_category(Jsonb *props, text *key);

#endif
