/*
 * config.h: the sender's settings (docs/sender.md, "Configuration"): a config file of
 * "key = value" lines with [provider NAME] sections, overridden by command-line flags; read
 * again on SIGHUP. A config also carries each provider's shared state (circuit breaker, rate
 * limit), so a reload starts those afresh.
 */
#ifndef SENDER_CONFIG_H
#define SENDER_CONFIG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum
{
	PROVIDER_SMTP,
	PROVIDER_HTTP
} provider_type;

typedef enum
{
	TLS_OFF,
	TLS_TRY,
	TLS_REQUIRED
} tls_mode;

typedef struct provider
{
	char		 *name;
	provider_type type;
	char		 *url;
	char		 *token;	/* HTTP: bearer token */
	char		 *username; /* SMTP AUTH */
	char		 *password;
	char		 *ca_file;	/* CA certificates to verify the server with, NULL: the system's */
	tls_mode	  starttls; /* SMTP */
	double		  rate;		/* messages per second, 0: unlimited */
	long		  timeout_ms;

	/* shared by the workers, under lock */
	pthread_mutex_t lock;
	int				failures;	/* consecutive retryable failures */
	double			open_until; /* breaker open until then (monotonic seconds), 0: closed */
	bool			probing;	/* a half-open probe is in flight */
	double			next_slot;	/* rate limit: the earliest time of the next message */
	long			sent,
		failed,
		retried;
} provider;

typedef struct config
{
	char	 *conninfo; /* NULL: libpq's PG* environment */
	int		  workers;
	int		  batch;
	char	 *lease;		 /* an interval, e.g. "5 min" */
	double	  poll_interval; /* seconds between claims without a notification */
	char	 *name;			 /* worker name prefix */
	int		  breaker_failures;
	double	  breaker_cooldown;
	bool	  once; /* deliver what is due, then exit */
	bool	  verbose;
	provider *providers;
	int		  nproviders;
	long	  generation;
	int		  refs;
} config;

/* Builds a config from the command line (and the config file it names); NULL and a message in
 * err on a bad flag, file or value. *exit_now is set for --help and --version. */
config *config_build(int argc, char **argv, char *err, size_t errlen, bool *exit_now);
/* Frees a config and its providers. */
void config_free(config *c);
/* Monotonic seconds. */
double now_seconds(void);

#endif
