/*
 * provider.c: one message through one provider (provider.h). SMTP: libcurl with the message
 * built by message.c, STARTTLS and AUTH as configured, the reply code classified (4xx retry,
 * 5xx final). HTTP: a JSON POST with a bearer token (429 and 5xx retry, other 4xx final).
 * A transport failure before the whole message went out is a retry; after it, unknown.
 */
#include "provider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "message.h"
#include "strbuf.h"

/* What a transfer reads and hears. */
typedef struct transfer
{
	const char *data;
	size_t		len;
	size_t		pos;
	int			eof;	   /* the whole body was handed to libcurl */
	strbuf		last_line; /* SMTP: the last reply line; HTTP: the last header */
	strbuf		err_line;  /* SMTP: the first 4xx or 5xx reply line */
	strbuf		body;	   /* HTTP: the reply body (up to 64 kB) */
	double		retry_after;
} transfer;

/* libcurl's read callback: the message, then end of data. */
static size_t
read_cb(char *buf, size_t size, size_t nitems, void *ud)
{
	transfer *t = ud;
	size_t	  n = size * nitems;

	if (t->pos >= t->len)
	{
		t->eof = 1;
		return 0;
	}
	if (n > t->len - t->pos)
		n = t->len - t->pos;
	memcpy(buf, t->data + t->pos, n);
	t->pos += n;
	return n;
}

/* libcurl's header callback: SMTP reply lines, HTTP header lines (Retry-After). */
static size_t
header_cb(char *buf, size_t size, size_t nitems, void *ud)
{
	transfer *t = ud;
	size_t	  n = size * nitems,
		   m = n;

	while (m > 0 && (buf[m - 1] == '\r' || buf[m - 1] == '\n'))
		m--;
	if (m > 0)
	{
		sb_reset(&t->last_line);
		sb_add(&t->last_line, buf, m < 255 ? m : 255);
		if (t->err_line.len == 0 && m >= 3 && (buf[0] == '4' || buf[0] == '5') && buf[1] >= '0' && buf[1] <= '9')
			sb_add(&t->err_line, buf, m < 255 ? m : 255);
		if (m > 12 && strncasecmp(buf, "Retry-After:", 12) == 0)
		{
			double s = atof(buf + 12);

			t->retry_after = s > 0 && s < 86400 ? s : 0;
		}
	}
	return n;
}

/* libcurl's write callback: keeps the first 64 kB of an HTTP reply. */
static size_t
write_cb(char *buf, size_t size, size_t nitems, void *ud)
{
	transfer *t = ud;
	size_t	  n = size * nitems;

	if (t->body.len < 65536)
		sb_add(&t->body, buf, n < 65536 - t->body.len ? n : 65536 - t->body.len);
	return n;
}

/* Classifies a libcurl failure that came with no reply: nothing sent yet is a retry, a
 * message handed over without an answer is unknown. */
static void
transport_failure(outcome *o, CURLcode rc, const char *errbuf, int whole_sent)
{
	int never_connected = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
						  rc == CURLE_COULDNT_RESOLVE_PROXY || rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_USE_SSL_FAILED ||
						  rc == CURLE_LOGIN_DENIED;

	o->kind = (never_connected || !whole_sent) ? OUTCOME_RETRY : OUTCOME_UNKNOWN;
	snprintf(o->error, sizeof(o->error), "%s: %s", curl_easy_strerror(rc), errbuf[0] ? errbuf : "no detail");
}

/* Whether an SMTP failure is the provider's, not the message's: AUTH refused or required
 * (RFC 4954: 530, 534, 535, 538), STARTTLS required but not offered, a certificate that is not
 * trusted. Every message would meet it: a retry (through another provider), never final. */
static int
smtp_provider_fault(CURLcode rc, long code)
{
	return rc == CURLE_LOGIN_DENIED || rc == CURLE_USE_SSL_FAILED || rc == CURLE_PEER_FAILED_VERIFICATION ||
		   rc == CURLE_SSL_CACERT_BADFILE || code == 530 || code == 534 || code == 535 || code == 538;
}

/* The options both kinds of transfer share: timeouts, no signals, the reply's lines. */
static void
common_options(CURL *h, const provider *p, transfer *t, char *errbuf)
{
	curl_easy_setopt(h, CURLOPT_URL, p->url);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, p->timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, p->timeout_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
}

/* Detaches a transfer's list (option list_opt) and error buffer from the handle, which
 * outlives them, and frees them and what the transfer heard. */
static void
transfer_done(CURL *h, transfer *t, CURLoption list_opt, struct curl_slist *list)
{
	curl_easy_setopt(h, list_opt, NULL);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(list);
	sb_free(&t->last_line);
	sb_free(&t->err_line);
	sb_free(&t->body);
}

/* One message over SMTP. */
static void
smtp_deliver(provider *p, CURL *h, const claimed *m, outcome *o)
{
	mail	 msg = {m->from, m->to, m->reply_to, m->subject, m->text, m->html, m->message_id, m->headers,
					m->nheaders};
	strbuf	 data;
	transfer t;
	char	 from[320],
		to[320],
		env_from[330],
		errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *rcpt = NULL;
	const char		  *bad;
	CURLcode		   rc;

	if (mail_address(m->from, from, sizeof(from)) < 0 || mail_address(m->to, to, sizeof(to)) < 0)
	{
		o->kind = OUTCOME_FINAL;
		snprintf(o->error, sizeof(o->error), "the sender or recipient address is not a plain ASCII address");
		return;
	}
	sb_init(&data);
	bad = build_message(&msg, time(NULL), &data);
	if (bad)
	{
		o->kind = OUTCOME_FINAL;
		snprintf(o->error, sizeof(o->error), "%s", bad);
		sb_free(&data);
		return;
	}
	memset(&t, 0, sizeof(t));
	t.data = data.data;
	t.len = data.len;
	snprintf(env_from, sizeof(env_from), "<%s>", from);
	rcpt = curl_slist_append(NULL, to);
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, env_from);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(h, CURLOPT_READDATA, &t);
	curl_easy_setopt(h, CURLOPT_USE_SSL,
					 p->starttls == TLS_REQUIRED ? (long) CURLUSESSL_ALL
					 : p->starttls == TLS_TRY	 ? (long) CURLUSESSL_TRY
												 : (long) CURLUSESSL_NONE);
	if (p->username)
		curl_easy_setopt(h, CURLOPT_USERNAME, p->username);
	if (p->password)
		curl_easy_setopt(h, CURLOPT_PASSWORD, p->password);
	if (p->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, p->ca_file);
	common_options(h, p, &t, errbuf);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &o->code);
	if (rc == CURLE_OK)
	{
		o->kind = OUTCOME_SENT;
		snprintf(o->provider_id, sizeof(o->provider_id), "%s", t.last_line.data ? t.last_line.data : "250");
	}
	else if (smtp_provider_fault(rc, o->code))
	{
		o->kind = OUTCOME_RETRY;
		o->provider_fault = 1;
		snprintf(o->error, sizeof(o->error), "%s: %s",
				 rc == CURLE_LOGIN_DENIED	  ? "SMTP AUTH refused"
				 : rc == CURLE_USE_SSL_FAILED ? "STARTTLS required but not offered by the server"
				 : o->code >= 500			  ? "SMTP"
											  : curl_easy_strerror(rc),
				 t.err_line.data ? t.err_line.data : errbuf[0] ? errbuf
															   : "no detail");
	}
	else if (o->code >= 500)
	{
		o->kind = OUTCOME_FINAL;
		snprintf(o->error, sizeof(o->error), "SMTP %s", t.err_line.data ? t.err_line.data : "5xx");
	}
	else if (o->code >= 400)
	{
		o->kind = OUTCOME_RETRY;
		snprintf(o->error, sizeof(o->error), "SMTP %s", t.err_line.data ? t.err_line.data : "4xx");
	}
	else
		transport_failure(o, rc, errbuf, t.eof);
	transfer_done(h, &t, CURLOPT_MAIL_RCPT, rcpt);
	sb_free(&data);
}

/* Appends "name":"value" to an open object (a comma first unless it is the first member),
 * when value is not NULL. */
static void
json_member(strbuf *b, const char *name, const char *value)
{
	if (!value)
		return;
	if (b->data[b->len - 1] != '{')
		sb_addc(b, ',');
	json_string(b, name);
	sb_addc(b, ':');
	json_string(b, value);
}

/* The JSON body of an HTTP delivery (docs/sender.md, "HTTP providers"). */
static void
http_body(strbuf *b, const claimed *m)
{
	int mid_in_headers = 0;

	sb_addc(b, '{');
	json_member(b, "to", m->to);
	json_member(b, "from", m->from);
	json_member(b, "reply_to", m->reply_to);
	json_member(b, "subject", m->subject);
	json_member(b, "html", m->html);
	json_member(b, "text", m->text);
	json_member(b, "message_id", m->message_id);
	sb_adds(b, ",\"headers\":{");
	for (int i = 0; i < m->nheaders; i++)
	{
		if (m->headers[i].value && strcasecmp(m->headers[i].name, "Message-ID") == 0)
			mid_in_headers = 1;
		json_member(b, m->headers[i].name, m->headers[i].value);
	}
	if (!mid_in_headers)
		json_member(b, "Message-ID", m->message_id);
	sb_printf(b, "},\"custom_args\":{\"send_id\":\"%lld\",\"attempt\":\"%d\"}}", m->send_id, m->attempt);
}

/* One message as a JSON POST. */
static void
http_deliver(provider *p, CURL *h, const claimed *m, outcome *o)
{
	strbuf body,
		auth,
		idem;
	transfer		   t;
	char			   errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	CURLcode		   rc;

	sb_init(&body);
	sb_init(&auth);
	sb_init(&idem);
	http_body(&body, m);
	memset(&t, 0, sizeof(t));
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	if (p->token)
	{
		sb_printf(&auth, "Authorization: Bearer %s", p->token);
		hdrs = curl_slist_append(hdrs, auth.data);
	}
	sb_printf(&idem, "Idempotency-Key: %s", m->message_id);
	hdrs = curl_slist_append(hdrs, idem.data);
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long) body.len);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
	common_options(h, p, &t, errbuf);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &o->code);
	o->retry_after = t.retry_after;
	if (rc != CURLE_OK || o->code == 0)
		transport_failure(o, rc, errbuf, 1);
	else if (o->code >= 200 && o->code < 300)
	{
		json_pair  *r;
		int			n = json_object_pairs(t.body.data, &r);
		const char *id = n > 0 ? json_pairs_get(r, n, "id") : NULL;

		if (!id && n > 0)
			id = json_pairs_get(r, n, "message_id");
		o->kind = OUTCOME_SENT;
		snprintf(o->provider_id, sizeof(o->provider_id), "%s", id ? id : m->message_id);
		json_pairs_free(r, n < 0 ? 0 : n);
	}
	else
	{
		o->kind = (o->code == 429 || o->code == 408 || o->code >= 500) ? OUTCOME_RETRY : OUTCOME_FINAL;
		snprintf(o->error, sizeof(o->error), "HTTP %ld: %.300s", o->code, t.body.data ? t.body.data : "");
	}
	transfer_done(h, &t, CURLOPT_HTTPHEADER, hdrs);
	sb_free(&body);
	sb_free(&auth);
	sb_free(&idem);
}

void
provider_deliver(provider *p, CURL *h, const claimed *m, outcome *o)
{
	memset(o, 0, sizeof(*o));
	if (p->type == PROVIDER_SMTP)
		smtp_deliver(p, h, m, o);
	else
		http_deliver(p, h, m, o);
}

int
breaker_allows(provider *p, double now, double *ready_at)
{
	int ok = 0;

	pthread_mutex_lock(&p->lock);
	if (p->open_until == 0)
		ok = 1;
	else if (now >= p->open_until && !p->probing)
	{
		p->probing = true; /* half open: this caller probes */
		ok = 1;
	}
	else
		*ready_at = p->open_until > now ? p->open_until : now + 0.05;
	pthread_mutex_unlock(&p->lock);
	return ok;
}

int
breaker_record(provider *p, const config *c, const outcome *o, double now)
{
	int opened = 0;

	pthread_mutex_lock(&p->lock);
	if (o->kind == OUTCOME_SENT || o->kind == OUTCOME_FINAL)
	{
		/* the provider answered: it works */
		p->failures = 0;
		p->open_until = 0;
		p->probing = false;
		if (o->kind == OUTCOME_SENT)
			p->sent++;
		else
			p->failed++;
	}
	else
	{
		p->retried++;
		p->failures++;
		if (p->probing || (p->open_until == 0 && (p->failures >= c->breaker_failures || o->provider_fault)))
		{
			opened = 1;
			p->open_until = now + c->breaker_cooldown;
			if (p->open_until == 0)
				p->open_until = 1e-9;
		}
		p->probing = false;
	}
	pthread_mutex_unlock(&p->lock);
	return opened;
}

int
rate_wait(provider *p, volatile int *stop)
{
	double slot,
		now = now_seconds();

	if (p->rate <= 0)
		return 1;
	pthread_mutex_lock(&p->lock);
	slot = p->next_slot > now ? p->next_slot : now;
	p->next_slot = slot + 1.0 / p->rate;
	pthread_mutex_unlock(&p->lock);
	while ((now = now_seconds()) < slot)
	{
		double d = slot - now;

		if (*stop)
			return 0;
		usleep((useconds_t) ((d > 0.1 ? 0.1 : d) * 1e6));
	}
	return 1;
}
