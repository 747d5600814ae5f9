/*
 * main.c: personalize-sender, the reference consumer of the personalize outbox
 * (docs/sender.md): reads the config, starts the workers, and handles the signals: SIGTERM
 * and SIGINT stop (the message in hand is finished, the rest of each batch released), SIGHUP
 * reads the config again. Prints a summary on exit.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "config.h"
#include "worker.h"

volatile int sender_stopping;
int			 sender_wake_fd = -1;

static config		  *current;
static pthread_mutex_t config_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
/* configs replaced by a reload but still held by a worker */
static config *retired[64];
static int	   nretired;

config *
config_acquire(void)
{
	config *c;

	pthread_mutex_lock(&config_lock);
	c = current;
	c->refs++;
	pthread_mutex_unlock(&config_lock);
	return c;
}

void
config_release(config *c)
{
	pthread_mutex_lock(&config_lock);
	c->refs--;
	for (int i = 0; i < nretired; i++)
		if (retired[i]->refs == 0)
		{
			config_free(retired[i]);
			retired[i--] = retired[--nretired];
		}
	pthread_mutex_unlock(&config_lock);
}

/* Makes c the current config; false when too many old ones are still held. */
static int
config_install(config *c)
{
	int ok = 1;

	pthread_mutex_lock(&config_lock);
	if (current && current->refs == 0)
		config_free(current);
	else if (current && nretired < 64)
		retired[nretired++] = current;
	else if (current)
		ok = 0;
	if (ok)
	{
		c->generation = current ? current->generation + 1 : 1;
		current = c;
	}
	pthread_mutex_unlock(&config_lock);
	return ok;
}

void
log_line(const char *fmt, ...)
{
	char			when[40];
	struct timespec ts;
	struct tm		tm;
	va_list			ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s.%03ldZ personalize-sender: ", when, ts.tv_nsec / 1000000);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}

int
main(int argc, char **argv)
{
	char		 err[600];
	bool		 exit_now;
	config		*c = config_build(argc, argv, err, sizeof(err), &exit_now);
	sigset_t	 sigs;
	int			 pipefd[2];
	worker		*workers;
	int			 nworkers;
	worker_stats total = {0};

	if (!c)
	{
		if (exit_now)
			return 0;
		fprintf(stderr, "personalize-sender: %s\n", err);
		return 2;
	}
	if (pipe(pipefd) < 0)
	{
		perror("personalize-sender: pipe");
		return 1;
	}
	sender_wake_fd = pipefd[0];
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
	{
		fprintf(stderr, "personalize-sender: curl_global_init failed\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	config_install(c);
	nworkers = c->workers;
	workers = calloc(nworkers, sizeof(worker));
	if (!workers)
		return 1;
	log_line("starting %d workers, batch %d, lease %s, providers:", nworkers, c->batch, c->lease);
	for (int i = 0; i < c->nproviders; i++)
		log_line("  %d. %s (%s %s, %g/s)", i + 1, c->providers[i].name,
				 c->providers[i].type == PROVIDER_SMTP ? "smtp" : "http", c->providers[i].url, c->providers[i].rate);
	for (int i = 0; i < nworkers; i++)
	{
		workers[i].id = i + 1;
		if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0)
		{
			fprintf(stderr, "personalize-sender: cannot start worker %d\n", i + 1);
			return 1;
		}
	}
	for (;;)
	{
		struct timespec tick = {0, 200 * 1000 * 1000};
		int				sig = sigtimedwait(&sigs, NULL, &tick);
		int				alive = 0;

		if ((sig == SIGTERM || sig == SIGINT) && !sender_stopping)
		{
			log_line("signal %s: finishing the messages in hand, releasing the rest", sig == SIGTERM ? "TERM" : "INT");
			sender_stopping = 1;
			if (write(pipefd[1], "x", 1) < 0)
				perror("personalize-sender: write");
		}
		else if (sig == SIGHUP)
		{
			config *n = config_build(argc, argv, err, sizeof(err), &exit_now);

			if (!n)
				log_line("SIGHUP: the config is not valid, keeping the current one: %s", err);
			else if (n->workers != nworkers)
			{
				log_line("SIGHUP: workers changed from %d to %d: that takes a restart; keeping the current config",
						 nworkers, n->workers);
				config_free(n);
			}
			else if (!config_install(n))
			{
				log_line("SIGHUP: too many reloads in progress; try again");
				config_free(n);
			}
			else
				log_line("SIGHUP: config read again (%d providers)", n->nproviders);
		}
		for (int i = 0; i < nworkers; i++)
			alive += !__atomic_load_n(&workers[i].done, __ATOMIC_SEQ_CST);
		if (alive == 0)
			break;
	}
	for (int i = 0; i < nworkers; i++)
	{
		pthread_join(workers[i].thread, NULL);
		total.batches += workers[i].stats.batches;
		total.sent += workers[i].stats.sent;
		total.failed += workers[i].stats.failed;
		total.retried += workers[i].stats.retried;
		total.released += workers[i].stats.released;
	}
	log_line("exiting: %ld batches, %ld sent, %ld failed, %ld to retry, %ld released", total.batches, total.sent,
			 total.failed, total.retried, total.released);
	for (int i = 0; i < current->nproviders; i++)
		log_line("  provider %s: %ld sent, %ld failed, %ld to retry", current->providers[i].name,
				 current->providers[i].sent, current->providers[i].failed, current->providers[i].retried);
	free(workers);
	for (int i = 0; i < nretired; i++)
		config_free(retired[i]);
	config_free(current);
	curl_global_cleanup();
	close(pipefd[0]);
	close(pipefd[1]);
	return 0;
}
