/*
 * The host's utilities for every file: time, errors and logs on stderr, output lines on
 * stdout, all under g_io_lock so that lines of different threads do not mix; and the owner
 * callbacks every plugin gets (log, get_owner_last_error).
 */
#include "host.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

pthread_mutex_t g_io_lock = PTHREAD_MUTEX_INITIALIZER;
volatile sig_atomic_t g_interrupted; /* set by main's SIGINT/SIGTERM handler */

uint64_t now_realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t now_monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void errorf(const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&g_io_lock);
	fputs("error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	pthread_mutex_unlock(&g_io_lock);
}

static const char *const severities[] = {"?",      "fatal", "critical", "error", "warning",
					 "notice", "info",  "debug",    "trace"};

void host_log_fn(ss_plugin_owner_t *o, const char *component, const char *msg, ss_plugin_log_severity sev)
{
	plugin *p = o;
	const char *sv = (sev >= 1 && sev <= 8) ? severities[sev] : "?";
	pthread_mutex_lock(&g_io_lock);
	fprintf(stderr, "log %s %s: %s\n", sv, component ? component : (p && p->name ? p->name : "?"),
		msg ? msg : "");
	fflush(stderr);
	pthread_mutex_unlock(&g_io_lock);
}

const char *host_get_owner_last_error(ss_plugin_owner_t *o)
{
	plugin *p = o;
	return (p && p->owner_err[0]) ? p->owner_err : NULL;
}

void write_line(const sbuf *b)
{
	pthread_mutex_lock(&g_io_lock);
	fwrite(b->p, 1, b->len, stdout);
	fflush(stdout);
	pthread_mutex_unlock(&g_io_lock);
}

/* The plugin's get_last_error, for messages (libsinsp's text when it has no state). */
const char *plugin_last_error(plugin *p)
{
	if (!p->state)
		return "plugin handle or 'get_last_error' function not defined";
	const char *e = p->api.get_last_error(p->state);
	return e ? e : "";
}
