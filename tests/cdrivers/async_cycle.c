/*
 * A minimal host that drives one async plugin through the handler's life cycle the way
 * libsinsp can: set, reset, set again (a capture reopened), then destroy while the handler
 * is still set (a host torn down without a reset). Loaded RTLD_LOCAL|RTLD_NOW as Falco does.
 *
 *   async_cycle LIB.so CONFIG  -> prints one line per phase with the events received
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "plugin_abi.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long received, malformed;

static ss_plugin_rc handler(ss_plugin_owner_t *o, const ss_plugin_event *evt, char *err)
{
	(void)o;
	(void)err;
	pthread_mutex_lock(&mu);
	received++;
	if (evt->type != 402 || evt->nparams != 3)
		malformed++;
	pthread_mutex_unlock(&mu);
	return SS_PLUGIN_SUCCESS;
}

static void log_fn(ss_plugin_owner_t *o, const char *component, const char *msg, ss_plugin_log_severity sev)
{
	(void)o;
	fprintf(stderr, "log %d %s: %s\n", (int)sev, component ? component : "plugin", msg);
}

static unsigned long count(void)
{
	pthread_mutex_lock(&mu);
	unsigned long n = received;
	pthread_mutex_unlock(&mu);
	return n;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: async_cycle LIB.so CONFIG\n");
		return 2;
	}
	void *lib = dlopen(argv[1], RTLD_LOCAL | RTLD_NOW);
	if (!lib) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 2;
	}
	ss_plugin_t *(*init)(const ss_plugin_init_input *, ss_plugin_rc *) = (ss_plugin_t * (*)(const ss_plugin_init_input *, ss_plugin_rc *)) dlsym(lib, "plugin_init");
	ss_plugin_rc (*set)(ss_plugin_t *, ss_plugin_owner_t *, const ss_plugin_async_event_handler_t) =
		(ss_plugin_rc(*)(ss_plugin_t *, ss_plugin_owner_t *, const ss_plugin_async_event_handler_t))dlsym(lib, "plugin_set_async_event_handler");
	void (*destroy)(ss_plugin_t *) = (void (*)(ss_plugin_t *))dlsym(lib, "plugin_destroy");
	const char *(*last_error)(ss_plugin_t *) = (const char *(*)(ss_plugin_t *))dlsym(lib, "plugin_get_last_error");
	if (!init || !set || !destroy || !last_error) {
		fprintf(stderr, "missing symbols\n");
		return 2;
	}
	int owner = 0;
	ss_plugin_init_input in = {argv[2], &owner, NULL, NULL, log_fn};
	ss_plugin_rc rc = SS_PLUGIN_FAILURE;
	ss_plugin_t *s = init(&in, &rc);
	if (rc != SS_PLUGIN_SUCCESS) {
		printf("init failed: %s\n", s ? last_error(s) : "?");
		return 1;
	}
	for (int round = 1; round <= 2; round++) {
		unsigned long before = count();
		if (set(s, &owner, handler) != SS_PLUGIN_SUCCESS) {
			printf("set failed: %s\n", last_error(s));
			return 1;
		}
		sleep_ms(300);
		double t0 = now_ms();
		rc = set(s, &owner, NULL);
		double stop_ms = now_ms() - t0;
		unsigned long after_reset = count();
		sleep_ms(200);
		printf("round %d: events=%lu reset_rc=%d reset_ms=%.0f quiet_after_reset=%d\n", round, after_reset - before,
		       (int)rc, stop_ms, count() == after_reset);
	}
	set(s, &owner, handler);
	sleep_ms(100);
	destroy(s); /* the handler is still set: the plugin must stop its threads itself */
	unsigned long at_destroy = count();
	sleep_ms(200);
	printf("destroyed while running: quiet_after_destroy=%d malformed=%lu\n", count() == at_destroy, malformed);
	dlclose(lib);
	return 0;
}
