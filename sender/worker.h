/*
 * worker.h: a delivering worker (a thread with its own PostgreSQL connection and its own
 * libcurl handle per provider) and what the workers share with the main thread.
 */
#ifndef SENDER_WORKER_H
#define SENDER_WORKER_H

#include <pthread.h>

#include "config.h"

typedef struct worker_stats
{
	long batches;
	long sent;
	long failed;
	long retried;
	long released;
} worker_stats;

typedef struct worker
{
	int			 id;
	pthread_t	 thread;
	int			 done; /* set by the worker as it ends */
	worker_stats stats;
} worker;

/* Set (to 1) by SIGTERM/SIGINT: finish the message in hand, release the rest, exit. */
extern volatile int sender_stopping;
/* The read end of a pipe that becomes readable when the sender stops. */
extern int sender_wake_fd;

/* The current config, held until config_release. */
config *config_acquire(void);
/* Lets go of a config from config_acquire (freed when replaced and unused). */
void config_release(config *c);
/* One log line on stderr: a UTC time stamp, then the text. */
void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A worker's thread. */
void *worker_main(void *arg);

#endif
