/*
 * smtp_blast.c: the baseline of the sender benchmark (bench/sender.sh): the simplest possible
 * SMTP client, no database: one pre-rendered message sent N times over one reused libcurl
 * connection per worker thread. usage: smtp_blast URL N WORKERS MESSAGE_FILE; prints the
 * seconds it took, or exits non-zero on the first failed message.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

static const char *url;
static char		  *message;
static size_t	   message_len;

typedef struct job
{
	long   n;
	int	   failed;
	size_t pos;
} job;

/* libcurl's read callback: the message, then end of data. */
static size_t
read_cb(char *buf, size_t size, size_t nitems, void *ud)
{
	job	  *j = ud;
	size_t n = size * nitems;

	if (n > message_len - j->pos)
		n = message_len - j->pos;
	memcpy(buf, message + j->pos, n);
	j->pos += n;
	return n;
}

/* A worker: its share of the messages over one handle (one connection, reused). */
static void *
blast(void *arg)
{
	job				  *j = arg;
	CURL			  *h = curl_easy_init();
	struct curl_slist *rcpt = curl_slist_append(NULL, "bench@example.com");

	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, "<shop@example.com>");
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(h, CURLOPT_READDATA, j);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	for (long i = 0; i < j->n && !j->failed; i++)
	{
		j->pos = 0;
		if (curl_easy_perform(h) != CURLE_OK)
			j->failed = 1;
	}
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(h);
	return NULL;
}

int
main(int argc, char **argv)
{
	FILE *f;
	long  n;
	int	  workers,
		failed = 0;
	pthread_t	   *t;
	job			   *jobs;
	struct timespec a,
		b;

	if (argc != 5)
	{
		fprintf(stderr, "usage: smtp_blast URL N WORKERS MESSAGE_FILE\n");
		return 2;
	}
	url = argv[1];
	n = atol(argv[2]);
	workers = atoi(argv[3]);
	f = fopen(argv[4], "rb");
	if (!f || workers < 1)
		return 2;
	message = malloc(1 << 20);
	message_len = fread(message, 1, 1 << 20, f);
	fclose(f);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	t = calloc(workers, sizeof(pthread_t));
	jobs = calloc(workers, sizeof(job));
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < workers; i++)
	{
		jobs[i].n = n / workers + (i < n % workers);
		pthread_create(&t[i], NULL, blast, &jobs[i]);
	}
	for (int i = 0; i < workers; i++)
	{
		pthread_join(t[i], NULL);
		failed |= jobs[i].failed;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.3f\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
	free(t);
	free(jobs);
	free(message);
	curl_global_cleanup();
	return failed;
}
