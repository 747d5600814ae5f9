/*
 * config.c: reads the config file and the flags into a config (config.h; the format is in
 * docs/sender.md, "Configuration").
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "strbuf.h"

#define SENDER_VERSION "0.2"

double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Frees a provider's strings and lock. */
static void
provider_free(provider *p)
{
	free(p->name);
	free(p->url);
	free(p->token);
	free(p->username);
	free(p->password);
	free(p->ca_file);
	pthread_mutex_destroy(&p->lock);
}

void
config_free(config *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->nproviders; i++)
		provider_free(&c->providers[i]);
	free(c->providers);
	free(c->conninfo);
	free(c->lease);
	free(c->name);
	free(c);
}

/* Appends a provider named name with the defaults; returns it. */
static provider *
add_provider(config *c, const char *name)
{
	provider *v = xmalloc(sizeof(provider) * (c->nproviders + 1));
	provider *p;

	if (c->nproviders)
		memcpy(v, c->providers, sizeof(provider) * c->nproviders);
	free(c->providers);
	c->providers = v;
	p = &c->providers[c->nproviders++];
	memset(p, 0, sizeof(*p));
	p->name = xstrdup(name);
	p->type = PROVIDER_SMTP;
	p->starttls = TLS_TRY;
	p->timeout_ms = 30000;
	return p;
}

/* Replaces the string *dst with a copy of v. */
static void
set_string(char **dst, const char *v)
{
	free(*dst);
	*dst = xstrdup(v);
}

/* Parses a number in [lo, hi] into *out; returns 0 or -1. */
static int
parse_number(const char *v, double lo, double hi, double *out)
{
	char  *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (errno || end == v || *end || d < lo || d > hi)
		return -1;
	*out = d;
	return 0;
}

/* Reads a file's first line (a token), trimmed, into *dst; returns 0 or -1. */
static int
read_secret_file(const char *path, char **dst)
{
	FILE  *f = fopen(path, "r");
	char   buf[4096];
	size_t n;

	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && isspace((unsigned char) buf[n - 1]))
		buf[--n] = '\0';
	set_string(dst, buf);
	return 0;
}

/* Sets a provider's key; returns NULL or what is wrong. */
static const char *
set_provider_key(provider *p, const char *k, const char *v)
{
	double d;

	if (strcmp(k, "type") == 0)
	{
		if (strcmp(v, "smtp") == 0)
			p->type = PROVIDER_SMTP;
		else if (strcmp(v, "http") == 0)
			p->type = PROVIDER_HTTP;
		else
			return "type must be smtp or http";
	}
	else if (strcmp(k, "url") == 0)
		set_string(&p->url, v);
	else if (strcmp(k, "token") == 0)
		set_string(&p->token, v);
	else if (strcmp(k, "token_file") == 0)
	{
		if (read_secret_file(v, &p->token) < 0)
			return "token_file cannot be read";
	}
	else if (strcmp(k, "username") == 0)
		set_string(&p->username, v);
	else if (strcmp(k, "password") == 0)
		set_string(&p->password, v);
	else if (strcmp(k, "password_file") == 0)
	{
		if (read_secret_file(v, &p->password) < 0)
			return "password_file cannot be read";
	}
	else if (strcmp(k, "ca_file") == 0)
	{
		if (access(v, R_OK) != 0)
			return "ca_file cannot be read";
		set_string(&p->ca_file, v);
	}
	else if (strcmp(k, "starttls") == 0)
	{
		if (strcmp(v, "off") == 0)
			p->starttls = TLS_OFF;
		else if (strcmp(v, "try") == 0)
			p->starttls = TLS_TRY;
		else if (strcmp(v, "required") == 0)
			p->starttls = TLS_REQUIRED;
		else
			return "starttls must be off, try or required";
	}
	else if (strcmp(k, "rate") == 0)
	{
		if (parse_number(v, 0, 1e6, &p->rate) < 0)
			return "rate must be a number of messages per second from 0 (unlimited) to 1000000";
	}
	else if (strcmp(k, "timeout") == 0)
	{
		if (parse_number(v, 0.1, 3600, &d) < 0)
			return "timeout must be from 0.1 to 3600 seconds";
		p->timeout_ms = (long) (d * 1000);
	}
	else
		return "unknown provider key";
	return NULL;
}

/* Sets a global key; returns NULL or what is wrong. */
static const char *
set_key(config *c, const char *k, const char *v)
{
	double d;

	if (strcmp(k, "conninfo") == 0)
		set_string(&c->conninfo, v);
	else if (strcmp(k, "workers") == 0)
	{
		if (parse_number(v, 1, 64, &d) < 0 || d != (int) d)
			return "workers must be a whole number from 1 to 64";
		c->workers = (int) d;
	}
	else if (strcmp(k, "batch") == 0)
	{
		if (parse_number(v, 1, 10000, &d) < 0 || d != (int) d)
			return "batch must be a whole number from 1 to 10000";
		c->batch = (int) d;
	}
	else if (strcmp(k, "lease") == 0)
		set_string(&c->lease, v);
	else if (strcmp(k, "poll_interval") == 0)
	{
		if (parse_number(v, 0.05, 3600, &c->poll_interval) < 0)
			return "poll_interval must be from 0.05 to 3600 seconds";
	}
	else if (strcmp(k, "name") == 0)
		set_string(&c->name, v);
	else if (strcmp(k, "breaker_failures") == 0)
	{
		if (parse_number(v, 1, 1000000, &d) < 0 || d != (int) d)
			return "breaker_failures must be a whole number from 1";
		c->breaker_failures = (int) d;
	}
	else if (strcmp(k, "breaker_cooldown") == 0)
	{
		if (parse_number(v, 0, 86400, &c->breaker_cooldown) < 0)
			return "breaker_cooldown must be from 0 to 86400 seconds";
	}
	else
		return "unknown key";
	return NULL;
}

/* Trims white space at both ends of s in place; returns it. */
static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char) *s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char) e[-1]))
		*--e = '\0';
	return s;
}

/* Reads the config file into c; returns 0, or -1 with a message in err. */
static int
load_file(config *c, const char *path, char *err, size_t errlen)
{
	FILE	 *f = fopen(path, "r");
	char	 *line = NULL;
	size_t	  cap = 0;
	int		  lineno = 0;
	provider *section = NULL;

	if (!f)
	{
		snprintf(err, errlen, "cannot open config file %s: %s", path, strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, f) > 0)
	{
		char *s = trim(line),
			 *eq;
		const char *bad;

		lineno++;
		if (*s == '\0' || *s == '#')
			continue;
		if (*s == '[')
		{
			char name[200];

			if (sscanf(s, "[provider %199[A-Za-z0-9_.-]]", name) != 1 || s[strlen(s) - 1] != ']')
			{
				snprintf(err, errlen, "%s:%d: a section is [provider NAME] (letters, digits, _ . -)", path, lineno);
				goto fail;
			}
			for (int i = 0; i < c->nproviders; i++)
				if (strcmp(c->providers[i].name, name) == 0)
				{
					snprintf(err, errlen, "%s:%d: provider %s is defined twice", path, lineno, name);
					goto fail;
				}
			section = add_provider(c, name);
			continue;
		}
		eq = strchr(s, '=');
		if (!eq)
		{
			snprintf(err, errlen, "%s:%d: expected key = value", path, lineno);
			goto fail;
		}
		*eq = '\0';
		bad = section ? set_provider_key(section, trim(s), trim(eq + 1)) : set_key(c, trim(s), trim(eq + 1));
		if (bad)
		{
			snprintf(err, errlen, "%s:%d: %s: %s", path, lineno, trim(s), bad);
			goto fail;
		}
	}
	free(line);
	fclose(f);
	return 0;
fail:
	free(line);
	fclose(f);
	return -1;
}

/* Prints the usage. */
static void
usage(void)
{
	puts("personalize-sender: delivers the sends of the personalize outbox over SMTP or HTTP\n"
		 "\n"
		 "usage: personalize-sender [--config FILE] [options]\n"
		 "  --config FILE        key = value settings and [provider NAME] sections (docs/sender.md)\n"
		 "  --conninfo STRING    libpq connection string (default: the PG* environment)\n"
		 "  --workers N          delivering workers, each with its own connections (default 1)\n"
		 "  --batch N            sends claimed at a time per worker (default 50)\n"
		 "  --lease INTERVAL     how long a claim holds the sends (default '5 min')\n"
		 "  --poll-interval SEC  claim at least this often without a notification (default 10)\n"
		 "  --name NAME          worker name prefix in the outbox (default personalize-sender)\n"
		 "  --smtp URL           one SMTP provider, e.g. smtp://127.0.0.1:2525 (replaces the file's list)\n"
		 "  --http URL           one HTTP provider (replaces the file's list); --token TOKEN for it\n"
		 "  --starttls MODE      off, try (default) or required, for --smtp\n"
		 "  --rate N             messages per second for the --smtp/--http provider (0: no limit)\n"
		 "  --once               deliver what is due now, then exit\n"
		 "  --verbose            a log line per message too\n"
		 "  --version, --help");
}

config *
config_build(int argc, char **argv, char *err, size_t errlen, bool *exit_now)
{
	config	 *c = xmalloc(sizeof(config));
	provider *flagged = NULL;
	bool	  flag_providers = false;

	memset(c, 0, sizeof(*c));
	*exit_now = false;
	c->workers = 1;
	c->batch = 50;
	c->lease = xstrdup("5 min");
	c->poll_interval = 10;
	c->name = xstrdup("personalize-sender");
	c->breaker_failures = 5;
	c->breaker_cooldown = 30;

	/* the file first, so that flags override it wherever they stand */
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc && load_file(c, argv[i + 1], err, errlen) < 0)
			goto fail;
	for (int i = 1; i < argc; i++)
	{
		const char *a = argv[i],
				   *v = i + 1 < argc ? argv[i + 1] : NULL,
				   *bad = NULL;
		static const char *const keyed[][2] = {{"--conninfo", "conninfo"}, {"--workers", "workers"}, {"--batch", "batch"}, {"--lease", "lease"}, {"--poll-interval", "poll_interval"}, {"--name", "name"}, {"--breaker-failures", "breaker_failures"}, {"--breaker-cooldown", "breaker_cooldown"}};
		bool					 done = false;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
		{
			usage();
			*exit_now = true;
			goto fail;
		}
		if (strcmp(a, "--version") == 0)
		{
			puts("personalize-sender " SENDER_VERSION);
			*exit_now = true;
			goto fail;
		}
		if (strcmp(a, "--once") == 0)
		{
			c->once = true;
			continue;
		}
		if (strcmp(a, "--verbose") == 0)
		{
			c->verbose = true;
			continue;
		}
		if (!v)
		{
			snprintf(err, errlen, "%s needs a value (see --help)", a);
			goto fail;
		}
		i++;
		if (strcmp(a, "--config") == 0)
			continue;
		for (size_t k = 0; k < sizeof(keyed) / sizeof(keyed[0]) && !done; k++)
			if (strcmp(a, keyed[k][0]) == 0)
			{
				bad = set_key(c, keyed[k][1], v);
				done = true;
			}
		if (!done && (strcmp(a, "--smtp") == 0 || strcmp(a, "--http") == 0))
		{
			if (!flag_providers)
			{
				for (int j = 0; j < c->nproviders; j++)
					provider_free(&c->providers[j]);
				c->nproviders = 0;
				flag_providers = true;
			}
			{
				char pname[32];

				/* --smtp, --http; a second one of a kind is smtp-2, ... */
				snprintf(pname, sizeof(pname), "%s", a + 2);
				for (int j = 0, k = 1; j < c->nproviders; j++)
					if (strcmp(c->providers[j].name, pname) == 0)
					{
						snprintf(pname, sizeof(pname), "%s-%d", a + 2, ++k);
						j = -1;
					}
				flagged = add_provider(c, pname);
			}
			flagged->type = a[2] == 's' ? PROVIDER_SMTP : PROVIDER_HTTP;
			set_string(&flagged->url, v);
			done = true;
		}
		else if (!done && (strcmp(a, "--token") == 0 || strcmp(a, "--starttls") == 0 || strcmp(a, "--rate") == 0))
		{
			if (!flagged)
			{
				snprintf(err, errlen, "%s applies to the --smtp or --http provider before it", a);
				goto fail;
			}
			bad = set_provider_key(flagged, a + 2, v);
			done = true;
		}
		if (!done)
		{
			snprintf(err, errlen, "unknown option %s (see --help)", a);
			goto fail;
		}
		if (bad)
		{
			snprintf(err, errlen, "%s: %s", a, bad);
			goto fail;
		}
	}
	if (c->nproviders == 0)
	{
		snprintf(err, errlen, "no provider: give --smtp URL, --http URL, or [provider NAME] sections in --config");
		goto fail;
	}
	for (int i = 0; i < c->nproviders; i++)
	{
		provider *p = &c->providers[i];

		if (!p->url || (strncmp(p->url, p->type == PROVIDER_SMTP ? "smtp" : "http",
								4) != 0))
		{
			snprintf(err, errlen, "provider %s: url must be an %s URL", p->name,
					 p->type == PROVIDER_SMTP ? "smtp:// or smtps://" : "http:// or https://");
			goto fail;
		}
		pthread_mutex_init(&p->lock, NULL);
	}
	return c;
fail:
	for (int i = 0; i < c->nproviders; i++)
		pthread_mutex_init(&c->providers[i].lock, NULL);
	config_free(c);
	return NULL;
}
