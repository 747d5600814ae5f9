/*
 * cart.h: the cart log in memory (cart.c owns it): what the live-state fold (live_state.c) uses to
 * fold cart events in, combine two profiles' logs and replay a log to its cart.
 */
#ifndef CART_H
#define CART_H

#include "postgres.h"
#include "datatype/timestamp.h"
#include "utils/jsonb.h"

/* One cart event of the log. */
typedef struct CartOp
{
	int64	   at;	  /* occurred_at */
	int64	   id;	  /* event_id */
	bool	   add;	  /* Product Added, else Product Removed */
	JsonbValue props; /* its properties (jbvBinary) */
} CartOp;

/* A cart log in memory. */
typedef struct CartLog
{
	bool	has_order;
	int64	ordered_at;
	CartOp *ops;
	int		n;
	int		cap;
} CartLog;

/* Reads a stored log (NULL: empty). */
extern void cart_log_read(Jsonb *j, CartLog *log);

/* Writes a log as jsonb. */
extern Jsonb *cart_log_write(CartLog *log);

/* Folds one event in (props must live as long as the log). */
extern void cart_log_event(CartLog *log, const char *event, Jsonb *props, TimestampTz at, int64 id);

/* Adds the ops and order of b to a. */
extern void cart_log_combine(CartLog *a, const CartLog *b);

/* Drops events at or before the latest order, sorts, keeps each event once, and the latest 1000. */
extern void cart_log_normalize(CartLog *log);

/* The cart a (normalized) log replays to. */
extern Jsonb *cart_replay(CartLog *log);

#endif
