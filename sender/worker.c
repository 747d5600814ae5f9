/*
 * worker.c: a worker's loop (docs/sender.md, "How it works"): connect (with backoff) and
 * LISTEN personalize_sends; claim a batch with claim_sends; deliver each send through the first
 * provider whose breaker allows it; record the outcome with complete_send or fail_send; wait
 * for a notification or the poll interval when nothing is due. An outcome that cannot be
 * recorded because the connection is lost is kept and recorded after reconnecting.
 */
#include "worker.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libpq-fe.h>

#include "provider.h"
#include "strbuf.h"

/* Outcomes are recorded in groups of this many (and at the end of each batch): a crash
 * repeats at most a group's messages more than per-message recording would, all of them
 * leased to this worker at the time. */
#define RECORD_GROUP 20
/* Statements recording outcomes that may be in flight in the pipeline at a time. */
#define MAX_INFLIGHT 16

/* An outcome still to be recorded in the database. */
typedef struct pending
{
	long long send_id;
	int		  kind; /* OUTCOME_* */
	char	 *provider_id;
	char	 *provider;
	char	 *error;
	double	  retry_after;
	int		  tag; /* 0: not sent yet; n: sent in statement n, answer awaited; -1: that
					* statement failed, to be recorded one by one */
} pending;

/* The sends whose last delivery's outcome is unknown, with the provider that may have
 * accepted it: they are retried there only, never through another (shared by the workers). */
#define STICKY_MAX 4096
static struct
{
	long long send_id;
	char	  provider[128];
} sticky[STICKY_MAX];
static int			   sticky_next;
static pthread_mutex_t sticky_lock = PTHREAD_MUTEX_INITIALIZER;

/* The provider a send is bound to (copied into out), or 0 when it is free. */
static int
sticky_get(long long send_id, char *out, size_t n)
{
	int found = 0;

	pthread_mutex_lock(&sticky_lock);
	for (int i = 0; i < STICKY_MAX && !found; i++)
		if (sticky[i].send_id == send_id)
		{
			snprintf(out, n, "%s", sticky[i].provider);
			found = 1;
		}
	pthread_mutex_unlock(&sticky_lock);
	return found;
}

/* Binds a send to a provider (provider NULL: unbinds it). */
static void
sticky_set(long long send_id, const char *provider)
{
	int slot = -1;

	pthread_mutex_lock(&sticky_lock);
	for (int i = 0; i < STICKY_MAX; i++)
		if (sticky[i].send_id == send_id)
			slot = i;
	if (provider)
	{
		if (slot < 0)
		{
			slot = sticky_next;
			sticky_next = (sticky_next + 1) % STICKY_MAX;
		}
		sticky[slot].send_id = send_id;
		snprintf(sticky[slot].provider, sizeof(sticky[slot].provider), "%s", provider);
	}
	else if (slot >= 0)
		sticky[slot].send_id = 0;
	pthread_mutex_unlock(&sticky_lock);
}

/* A worker's private state. */
typedef struct wstate
{
	worker		*w;
	config		*cfg;
	PGconn		*conn;
	CURL	   **curl; /* one per provider of cfg */
	char		 name[200];
	pending		*pend;
	int			 npend;
	int			 cappend;
	worker_stats batch;
	double		 record_seconds;		 /* of the batch, waiting for complete_sends/fail_sends */
	int			 inflight[MAX_INFLIGHT]; /* tags of the statements in flight, in order */
	int			 ninflight;
	int			 next_tag;
} wstate;

static int collect(wstate *s);

/* The first line of a libpq message, in buf. */
static const char *
first_line(const char *msg, char *buf, size_t n)
{
	size_t len = strcspn(msg ? msg : "", "\n");

	snprintf(buf, n, "%.*s", (int) (len < n ? len : n - 1), msg ? msg : "");
	return buf;
}

/* Sleeps up to seconds, returning early when the sender stops. */
static void
nap(double seconds)
{
	struct pollfd pfd = {sender_wake_fd, POLLIN, 0};

	poll(&pfd, 1, (int) (seconds * 1000));
}

/* Makes the libcurl handles for the config in hand. */
static void
open_handles(wstate *s)
{
	s->curl = xmalloc(sizeof(CURL *) * s->cfg->nproviders);
	for (int i = 0; i < s->cfg->nproviders; i++)
		if (!(s->curl[i] = curl_easy_init()))
		{
			log_line("worker %d: curl_easy_init failed", s->w->id);
			abort();
		}
}

/* Closes the libcurl handles (and so their connections). */
static void
close_handles(wstate *s)
{
	if (!s->curl)
		return;
	for (int i = 0; i < s->cfg->nproviders; i++)
		curl_easy_cleanup(s->curl[i]);
	free(s->curl);
	s->curl = NULL;
}

/* Connects and LISTENs, retrying with backoff (0.2 s doubling to 10 s); false when the
 * sender stops first. */
static int
db_connect(wstate *s)
{
	double delay = 0.2;

	for (;;)
	{
		const char *keys[] = {"dbname", "application_name", "client_encoding", NULL};
		const char *vals[] = {s->cfg->conninfo ? s->cfg->conninfo : "", "personalize-sender", "UTF8", NULL};
		PGresult   *r;
		char		buf[300];

		if (s->conn)
			PQfinish(s->conn);
		s->conn = PQconnectdbParams(keys, vals, 1);
		if (PQstatus(s->conn) == CONNECTION_OK)
		{
			r = PQexec(s->conn, "LISTEN personalize_sends");
			/* pipeline mode: outcomes are recorded while the next messages go out, and the
			 * last ones of a batch travel with the next claim */
			if (PQresultStatus(r) == PGRES_COMMAND_OK && PQenterPipelineMode(s->conn))
			{
				PQclear(r);
				s->ninflight = 0;
				for (int i = 0; i < s->npend; i++)
					s->pend[i].tag = 0;
				return 1;
			}
			log_line("worker %d: LISTEN failed: %s", s->w->id, PQerrorMessage(s->conn));
			PQclear(r);
		}
		else
			log_line("worker %d: cannot connect (retrying in %.1f s): %s", s->w->id, delay,
					 first_line(PQerrorMessage(s->conn), buf, sizeof(buf)));
		if (sender_stopping && s->npend == 0)
			return 0;
		nap(delay);
		if (sender_stopping && s->npend == 0)
			return 0;
		delay = delay * 2 > 10 ? 10 : delay * 2;
	}
}

/* Records one outcome with the single form (the fallback when a set-form statement fails
 * otherwise than by a lost connection; the connection is out of pipeline mode); returns 0, or
 * -1 when the connection is lost (the caller keeps it). Another error is tried twice more after
 * a pause (a transient conflict) and then logged: the lease then runs out and the send is
 * delivered again, with the same Message-ID. */
static int
record(wstate *s, const pending *p)
{
	char id[32],
		after[64];
	const char *params[4];

	snprintf(id, sizeof(id), "%lld", p->send_id);
	params[0] = id;
	snprintf(after, sizeof(after), "%.3f seconds", p->retry_after);
	for (int attempt = 1;; attempt++)
	{
		PGresult *r;
		char	  state[6] = "";

		if (p->kind == OUTCOME_SENT)
		{
			params[1] = p->provider_id;
			params[2] = p->provider;
			r = PQexecParams(s->conn, "SELECT personalize.complete_send($1::bigint, $2, now(), $3)", 3, NULL,
							 params, NULL, NULL, 0);
		}
		else
		{
			params[1] = p->error;
			params[2] = p->kind == OUTCOME_FINAL ? "false" : "true";
			params[3] = p->retry_after > 0 ? after : NULL;
			r = PQexecParams(s->conn, "SELECT personalize.fail_send($1::bigint, $2, $3::boolean, $4::interval)", 4,
							 NULL, params, NULL, NULL, 0);
		}
		if (PQresultStatus(r) == PGRES_TUPLES_OK)
		{
			PQclear(r);
			return 0;
		}
		if (PQstatus(s->conn) != CONNECTION_OK)
		{
			PQclear(r);
			return -1;
		}
		if (PQresultErrorField(r, PG_DIAG_SQLSTATE))
			snprintf(state, sizeof(state), "%s", PQresultErrorField(r, PG_DIAG_SQLSTATE));
		log_line("worker %d: recording send %lld failed (try %d of 3): %s", s->w->id, p->send_id, attempt,
				 PQresultErrorMessage(r));
		PQclear(r);
		/* a send that no longer exists (forgotten) will not come back */
		if (attempt == 3 || strcmp(state, "P0002") == 0)
			return 0;
		nap(0.5 * attempt);
	}
}

/* Frees a pending outcome's strings. */
static void
pending_free(pending *p)
{
	free(p->provider_id);
	free(p->provider);
	free(p->error);
}

/* Appends a PostgreSQL array literal element: NULL, or the text quoted and escaped. */
static void
array_element(strbuf *b, const char *v)
{
	if (b->data[b->len - 1] != '{')
		sb_addc(b, ',');
	if (!v)
	{
		sb_adds(b, "NULL");
		return;
	}
	sb_addc(b, '"');
	for (; *v; v++)
	{
		if (*v == '"' || *v == '\\')
			sb_addc(b, '\\');
		sb_addc(b, *v);
	}
	sb_addc(b, '"');
}

/* Queues one set-form statement in the pipeline over the kept outcomes not yet sent whose kind
 * is sent (complete_sends) or not (fail_sends), with its own sync (its own transaction, so that
 * its failure does not abort what follows); marks them with the statement's tag. Returns 0
 * (also when there were none), or -1 when the connection is lost. */
static int
send_group(wstate *s, int sent)
{
	static const char *const sql[2] = {
		"SELECT count(*) FROM personalize.fail_sends($1::bigint[], $2::text[], $3::boolean[], $4::interval[])",
		"SELECT count(*) FROM personalize.complete_sends($1::bigint[], $2::text[], now(), $3::text[])"};
	strbuf		a[4];
	const char *params[4];
	int			n = 0,
		rc = 0;

	for (int k = 0; k < 4; k++)
	{
		sb_init(&a[k]);
		sb_addc(&a[k], '{');
	}
	for (int i = 0; i < s->npend; i++)
	{
		pending *p = &s->pend[i];
		char	 id[32],
			after[64];

		if (p->tag != 0 || (p->kind == OUTCOME_SENT) != sent)
			continue;
		snprintf(id, sizeof(id), "%lld", p->send_id);
		snprintf(after, sizeof(after), "%.3f seconds", p->retry_after);
		array_element(&a[0], id);
		array_element(&a[1], sent ? p->provider_id : p->error);
		array_element(&a[2], sent ? p->provider : p->kind == OUTCOME_FINAL ? "false"
																		   : "true");
		array_element(&a[3], p->retry_after > 0 ? after : NULL);
		p->tag = s->next_tag;
		n++;
	}
	for (int k = 0; k < 4; k++)
	{
		sb_addc(&a[k], '}');
		params[k] = a[k].data;
	}
	if (n > 0)
	{
		if (PQsendQueryParams(s->conn, sql[sent], sent ? 3 : 4, NULL, params, NULL, NULL, 0) && PQpipelineSync(s->conn))
			s->inflight[s->ninflight++] = s->next_tag++;
		else
			rc = -1;
	}
	for (int k = 0; k < 4; k++)
		sb_free(&a[k]);
	return rc;
}

/* Sends the kept outcomes not yet sent, without waiting for the answers (collect reads them):
 * delivery goes on meanwhile. Returns 0, or -1 when the connection is lost. */
static int
flush_async(wstate *s)
{
	if (s->ninflight + 2 > MAX_INFLIGHT && collect(s) < 0)
		return -1;
	if (send_group(s, 1) < 0 || send_group(s, 0) < 0)
		return -1;
	PQflush(s->conn);
	return 0;
}

/* Drops the kept outcomes of a statement (tag) that has been answered. */
static void
forget_tag(wstate *s, int tag)
{
	int kept = 0;

	for (int i = 0; i < s->npend; i++)
		if (s->pend[i].tag == tag)
			pending_free(&s->pend[i]);
		else
			s->pend[kept++] = s->pend[i];
	s->npend = kept;
}

/* Reads the answers of the statements in flight, in order, each followed by its sync: an
 * answered statement's outcomes are dropped, a failed one's marked to be recorded one by one
 * (fallback). Returns 0, or -1 when the connection is lost (every outcome not answered is kept,
 * to be sent again after the reconnect: the set forms are idempotent). */
static int
read_answers(wstate *s)
{
	double t0 = now_seconds();
	int	   rc = 0;

	while (s->ninflight > 0 && rc == 0)
	{
		int		  tag = s->inflight[0];
		int		  ok = 0;
		PGresult *r;
		char	  buf[300];

		while ((r = PQgetResult(s->conn)) != NULL)
		{
			if (PQresultStatus(r) == PGRES_TUPLES_OK)
				ok = 1;
			else
				log_line("worker %d: recording a group of outcomes failed (recording them one by one): %s", s->w->id,
						 first_line(PQresultErrorMessage(r), buf, sizeof(buf)));
			PQclear(r);
		}
		/* the sync that closes the statement */
		r = PQgetResult(s->conn);
		if (!r || PQresultStatus(r) != PGRES_PIPELINE_SYNC || PQstatus(s->conn) != CONNECTION_OK)
			rc = -1;
		PQclear(r);
		if (rc == 0)
		{
			memmove(s->inflight, s->inflight + 1, sizeof(int) * --s->ninflight);
			if (ok)
				forget_tag(s, tag);
			else
				for (int i = 0; i < s->npend; i++)
					if (s->pend[i].tag == tag)
						s->pend[i].tag = -1;
		}
	}
	if (rc < 0)
	{
		s->ninflight = 0;
		for (int i = 0; i < s->npend; i++)
			s->pend[i].tag = 0;
	}
	s->record_seconds += now_seconds() - t0;
	return rc;
}

/* Records the outcomes of failed statements one by one with the single forms (an unknown send,
 * say, then fails alone), out of pipeline mode; needs nothing in flight. Returns 0, or -1 when
 * the connection is lost (they stay kept). */
static int
fallback(wstate *s)
{
	int kept = 0,
		rc = 0,
		any = 0;
	double t0 = now_seconds();

	for (int i = 0; i < s->npend; i++)
		any |= s->pend[i].tag == -1;
	if (!any)
		return 0;
	PQexitPipelineMode(s->conn);
	for (int i = 0; i < s->npend; i++)
	{
		if (s->pend[i].tag == -1 && rc == 0 && (rc = record(s, &s->pend[i])) == 0)
		{
			pending_free(&s->pend[i]);
			continue;
		}
		s->pend[i].tag = s->pend[i].tag == -1 ? 0 : s->pend[i].tag;
		s->pend[kept++] = s->pend[i];
	}
	s->npend = kept;
	if (rc == 0 && (PQstatus(s->conn) != CONNECTION_OK || !PQenterPipelineMode(s->conn)))
		rc = -1;
	s->record_seconds += now_seconds() - t0;
	return rc;
}

/* Reads the answers in flight and records what failed one by one. */
static int
collect(wstate *s)
{
	if (read_answers(s) < 0)
		return -1;
	return fallback(s);
}

/* Records every kept outcome and waits for the answers; returns 0, or -1 when the connection
 * is lost (the rest stay kept). */
static int
flush_pending(wstate *s)
{
	if (flush_async(s) < 0 || collect(s) < 0)
		return -1;
	return s->npend ? -1 : 0;
}

/* Keeps an outcome: completions are sent in groups of RECORD_GROUP and at the end of each batch,
 * failures at once (with the completions kept so far), all without waiting for the answer (read
 * before the next claim), and all again after a reconnect. */
static void
settle(wstate *s, long long send_id, int kind, const char *provider, const outcome *o)
{
	pending p = {send_id, kind, xstrdup(o ? o->provider_id : NULL), xstrdup(provider),
				 xstrdup(o ? o->error : "released: the sender is stopping"), o ? o->retry_after : 0, 0};
	int		unsent = 0;

	if (s->npend == s->cappend)
	{
		pending *v;

		s->cappend = s->cappend ? s->cappend * 2 : 64;
		v = xmalloc(sizeof(pending) * s->cappend);
		if (s->npend)
			memcpy(v, s->pend, sizeof(pending) * s->npend);
		free(s->pend);
		s->pend = v;
	}
	s->pend[s->npend++] = p;
	for (int i = 0; i < s->npend; i++)
		unsent += s->pend[i].tag == 0;
	/* a failure is sent at once: the send becomes due again after its backoff (another worker
	 * may take it meanwhile) */
	if ((kind != OUTCOME_SENT || unsent >= RECORD_GROUP) && PQstatus(s->conn) == CONNECTION_OK)
		flush_async(s);
}

/* Picks the provider for m: the first whose breaker allows it (only the bound one for a send
 * whose earlier outcome is unknown); -1 and *ready_at when none may take it now. */
static int
choose_provider(wstate *s, const claimed *m, double *ready_at)
{
	char   bound[128];
	int	   is_bound = sticky_get(m->send_id, bound, sizeof(bound));
	double now = now_seconds();

	*ready_at = now + 3600;
	for (int i = 0; i < s->cfg->nproviders; i++)
	{
		provider *p = &s->cfg->providers[i];
		double	  ready = now + 3600;

		if (is_bound && strcmp(p->name, bound) != 0)
			continue;
		if (breaker_allows(p, now, &ready))
			return i;
		if (ready < *ready_at)
			*ready_at = ready;
	}
	return -1;
}

/* Delivers one claimed send and records its outcome; lease_end is when its lease runs out. */
static void
deliver(wstate *s, const claimed *m, double lease_end)
{
	int tried = 0;

	for (;;)
	{
		double	  ready_at;
		int		  i;
		provider *p;
		outcome	  o;

		if (sender_stopping)
		{
			settle(s, m->send_id, OUTCOME_RETRY, NULL, NULL);
			s->batch.released++;
			return;
		}
		i = choose_provider(s, m, &ready_at);
		if (i < 0 || tried > s->cfg->nproviders)
		{
			double now = now_seconds();

			/* every provider's breaker is open: wait for the first to half-open, unless the
			 * lease would run out first; then give the send back for later */
			if (i < 0 && ready_at < lease_end - 10 && tried <= s->cfg->nproviders)
			{
				nap(ready_at - now > 1 ? 1 : (ready_at - now > 0.01 ? ready_at - now : 0.01));
				continue;
			}
			memset(&o, 0, sizeof(o));
			o.kind = OUTCOME_RETRY;
			o.retry_after = ready_at > now ? ready_at - now : 0;
			snprintf(o.error, sizeof(o.error), "no provider available (circuit breakers open)");
			settle(s, m->send_id, OUTCOME_RETRY, NULL, &o);
			s->batch.retried++;
			return;
		}
		p = &s->cfg->providers[i];
		if (!rate_wait(p, &sender_stopping))
			continue;
		provider_deliver(p, s->curl[i], m, &o);
		tried++;
		if (breaker_record(p, s->cfg, &o, now_seconds()))
			log_line("provider %s: circuit breaker open for %.1f s after %s", p->name, s->cfg->breaker_cooldown,
					 o.error);
		if (s->cfg->verbose)
			log_line("worker %d: send %lld attempt %d via %s: %s %s", s->w->id, m->send_id, m->attempt, p->name,
					 o.kind == OUTCOME_SENT	   ? "sent"
					 : o.kind == OUTCOME_FINAL ? "failed"
					 : o.kind == OUTCOME_RETRY ? "retry"
											   : "unknown",
					 o.kind == OUTCOME_SENT ? o.provider_id : o.error);
		switch (o.kind)
		{
			case OUTCOME_SENT:
				sticky_set(m->send_id, NULL);
				settle(s, m->send_id, OUTCOME_SENT, p->name, &o);
				s->batch.sent++;
				return;
			case OUTCOME_FINAL:
				sticky_set(m->send_id, NULL);
				settle(s, m->send_id, OUTCOME_FINAL, p->name, &o);
				s->batch.failed++;
				return;
			case OUTCOME_UNKNOWN:
				/* it may have been accepted: only this provider may see it again */
				sticky_set(m->send_id, p->name);
				settle(s, m->send_id, OUTCOME_RETRY, p->name, &o);
				s->batch.retried++;
				return;
			case OUTCOME_RETRY:
				/* known not accepted: another provider may take it, once this one's breaker
				 * is open; else it waits for its backoff */
				{
					double unused;

					pthread_mutex_lock(&p->lock);
					unused = p->open_until;
					pthread_mutex_unlock(&p->lock);
					if (unused != 0 && s->cfg->nproviders > 1 && !sticky_get(m->send_id, (char[2]){0}, 2))
						continue;
				}
				settle(s, m->send_id, OUTCOME_RETRY, p->name, &o);
				s->batch.retried++;
				return;
		}
	}
}

/* Claims a batch and delivers it; returns the number claimed, or -1 when the connection is
 * lost. */
static int
run_batch(wstate *s)
{
	char		batch[16];
	const char *params[3] = {s->name, batch, s->cfg->lease};
	PGresult   *r;
	int			n;
	double		t0 = now_seconds(),
		   t_claim,
		   claim_record,
		   lease;

	snprintf(batch, sizeof(batch), "%d", s->cfg->batch);
	s->record_seconds = 0;
	/* the outcomes not yet recorded, then the claim, in one round trip; the answers in order */
	if (flush_async(s) < 0 ||
		!PQsendQueryParams(s->conn,
						   "SELECT send_id, attempt, to_address, from_address, reply_to, subject, html, text, "
						   "headers::text, message_id, extract(epoch FROM $3::interval) "
						   "FROM personalize.claim_sends($1, $2::integer, $3::interval)",
						   3, NULL, params, NULL, NULL, 0) ||
		!PQpipelineSync(s->conn) || read_answers(s) < 0)
		return -1;
	r = PQgetResult(s->conn);
	for (PGresult *x; (x = PQgetResult(s->conn)) != NULL;)
		PQclear(x); /* the end of the claim's results */
	{
		PGresult *sync = PQgetResult(s->conn);
		int		  synced = sync && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;

		PQclear(sync);
		if (!synced || PQstatus(s->conn) != CONNECTION_OK)
		{
			PQclear(r);
			return -1;
		}
	}
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
	{
		char buf[300];

		log_line("worker %d: claim_sends failed: %s", s->w->id, first_line(PQresultErrorMessage(r), buf, sizeof(buf)));
		PQclear(r);
		if (fallback(s) < 0)
			return -1;
		nap(s->cfg->poll_interval);
		return 0;
	}
	if (fallback(s) < 0)
	{
		PQclear(r);
		return -1;
	}
	t_claim = now_seconds();
	claim_record = s->record_seconds;
	n = PQntuples(r);
	memset(&s->batch, 0, sizeof(s->batch));
	lease = n ? atof(PQgetvalue(r, 0, 10)) : 0;
	for (int i = 0; i < n; i++)
	{
		claimed m;
		int		nh;

#define COL(c) (PQgetisnull(r, i, c) ? NULL : PQgetvalue(r, i, c))
		m.send_id = atoll(PQgetvalue(r, i, 0));
		m.attempt = atoi(PQgetvalue(r, i, 1));
		m.to = COL(2);
		m.from = COL(3);
		m.reply_to = COL(4);
		m.subject = COL(5) ? COL(5) : "";
		m.html = COL(6);
		m.text = COL(7);
		m.message_id = COL(9);
		nh = json_object_pairs(COL(8) ? COL(8) : "{}", &m.headers);
		m.nheaders = nh < 0 ? 0 : nh;
#undef COL
		if (!m.to)
		{
			outcome o;

			memset(&o, 0, sizeof(o));
			snprintf(o.error, sizeof(o.error), "the profile has no e-mail address");
			settle(s, m.send_id, OUTCOME_FINAL, NULL, &o);
			s->batch.failed++;
		}
		else
			deliver(s, &m, t0 + lease);
		json_pairs_free(m.headers, m.nheaders);
	}
	PQclear(r);
	/* the last outcomes go now, unanswered: their answers come with the next claim's */
	if (s->npend > 0 && flush_async(s) < 0)
		log_line("worker %d: lost the database connection with %d outcomes to record", s->w->id, s->npend);
	if (n > 0)
	{
		s->w->stats.batches++;
		s->w->stats.sent += s->batch.sent;
		s->w->stats.failed += s->batch.failed;
		s->w->stats.retried += s->batch.retried;
		s->w->stats.released += s->batch.released;
		log_line("worker %d: batch of %d: %ld sent, %ld failed, %ld to retry, %ld released; claim %.0f ms, "
				 "delivery %.0f ms, recording %.0f ms",
				 s->w->id, n, s->batch.sent, s->batch.failed, s->batch.retried, s->batch.released,
				 (t_claim - t0 - claim_record) * 1000, (now_seconds() - t_claim - s->record_seconds + claim_record) * 1000,
				 s->record_seconds * 1000);
	}
	if (PQstatus(s->conn) != CONNECTION_OK)
		return -1;
	return n;
}

/* Waits for a notification on personalize_sends, the poll interval, or the stop; returns -1
 * when the connection is lost. */
static int
wait_for_work(wstate *s)
{
	struct pollfd pfd[2] = {{PQsocket(s->conn), POLLIN, 0}, {sender_wake_fd, POLLIN, 0}};
	PGnotify	 *nt;
	int			  rc;

	rc = poll(pfd, 2, (int) (s->cfg->poll_interval * 1000));
	if (rc > 0 && pfd[0].revents)
	{
		if (!PQconsumeInput(s->conn))
			return -1;
		while ((nt = PQnotifies(s->conn)) != NULL)
			PQfreemem(nt);
	}
	return PQstatus(s->conn) == CONNECTION_OK ? 0 : -1;
}

void *
worker_main(void *arg)
{
	wstate s;
	char   host[100] = "";

	memset(&s, 0, sizeof(s));
	s.w = arg;
	s.next_tag = 1;
	s.cfg = config_acquire();
	gethostname(host, sizeof(host) - 1);
	snprintf(s.name, sizeof(s.name), "%s:%s:%d:%d", s.cfg->name, host, (int) getpid(), s.w->id);
	open_handles(&s);
	if (db_connect(&s))
		for (;;)
		{
			config *now = config_acquire();
			int		n;

			if (now != s.cfg)
			{
				/* SIGHUP read the config again: new handles for the new providers */
				close_handles(&s);
				config_release(s.cfg);
				s.cfg = now;
				open_handles(&s);
			}
			else
				config_release(now);
			if (sender_stopping)
			{
				/* what is still kept (or in flight) is recorded before the worker ends */
				if (s.npend == 0 || flush_pending(&s) == 0)
					break;
				n = -1;
			}
			else
				n = run_batch(&s);
			if (n < 0)
			{
				log_line("worker %d: lost the database connection; reconnecting", s.w->id);
				if (!db_connect(&s))
					break;
				continue;
			}
			if (n == 0 && s.cfg->once && (s.npend == 0 || flush_pending(&s) == 0))
				break;
			if (n == 0 && wait_for_work(&s) < 0 && !sender_stopping)
			{
				log_line("worker %d: lost the database connection; reconnecting", s.w->id);
				if (!db_connect(&s))
					break;
			}
		}
	if (s.npend > 0)
		log_line("worker %d: %d outcomes could not be recorded: their leases expire and they are delivered again",
				 s.w->id, s.npend);
	for (int i = 0; i < s.npend; i++)
		pending_free(&s.pend[i]);
	free(s.pend);
	close_handles(&s);
	if (s.conn)
		PQfinish(s.conn);
	config_release(s.cfg);
	__atomic_store_n(&s.w->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}
