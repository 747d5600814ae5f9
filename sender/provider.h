/*
 * provider.h: delivering one claimed send through a provider (SMTP through libcurl, or an HTTP
 * JSON API), classifying the outcome, and the providers' shared circuit breaker and rate limit
 * (docs/sender.md, "Providers" and "Fallback").
 */
#ifndef SENDER_PROVIDER_H
#define SENDER_PROVIDER_H

#include <curl/curl.h>

#include "config.h"
#include "json.h"

/* A claimed send, its strings pointing into the claim's result. */
typedef struct claimed
{
	long long	send_id;
	int			attempt;
	const char *to;
	const char *from;
	const char *reply_to;
	const char *subject;
	const char *html;
	const char *text;
	const char *message_id;
	json_pair  *headers;
	int			nheaders;
} claimed;

typedef enum
{
	OUTCOME_SENT,	/* accepted */
	OUTCOME_FINAL,	/* refused for good (SMTP 5xx, HTTP 4xx but 408/429) */
	OUTCOME_RETRY,	/* known not accepted, try again later (SMTP 4xx, HTTP 429/5xx,
					 * no connection) */
	OUTCOME_UNKNOWN /* sent, but no answer: may have been accepted */
} outcome_kind;

typedef struct outcome
{
	outcome_kind kind;
	long		 code;			 /* SMTP or HTTP status, 0 when none */
	double		 retry_after;	 /* seconds, 0 when the provider said nothing */
	int			 provider_fault; /* refused for what the provider is (AUTH refused, STARTTLS
								  * missing, certificate not trusted), not for the message:
								  * a retry, and the provider's breaker opens at once */
	char provider_id[256];
	char error[512];
} outcome;

/* Delivers m through p with handle h (one per worker and provider, so its connection is
 * reused); fills o. */
void provider_deliver(provider *p, CURL *h, const claimed *m, outcome *o);
/* Whether p may take a message now; a half-open breaker lets one probe through (the caller
 * is then the prober). Sets *ready_at to when it might when it may not. */
int breaker_allows(provider *p, double now, double *ready_at);
/* Records an outcome in p's breaker; returns 1 when this outcome opened it. */
int breaker_record(provider *p, const config *c, const outcome *o, double now);
/* Waits for p's rate limit; returns early (0) when *stop becomes set, else 1. */
int rate_wait(provider *p, volatile int *stop);

#endif
