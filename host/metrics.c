/*
 * Metrics (plugin-api-facts.md, Listening, routines and metrics): get_metrics(state, &n) with
 * n preset to 0; the array stays the plugin's. At the end of a run (--metrics) and, with --metrics-interval,
 * from a separate thread while the event loop runs, concurrently with next_batch/parse/extract
 * on the same state as Falco's web server does. The array is checked: NULL with n > 0, NULL
 * names, unknown metric types and value types are reported as errors (and the run fails).
 */
#include "host.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const value_types[] = {"u32", "s32", "u64", "s64", "d", "f", "i"};

/* JSON has no NaN or infinity: a non-finite double or float is written as the string
 * "NaN", "Infinity" or "-Infinity" there (as in text mode, where printf writes nan/inf). */
static int put_non_finite(sbuf *b, double v, int json)
{
	if (!json || isfinite(v))
		return 0;
	sb_puts(b, isnan(v) ? "\"NaN\"" : v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
	return 1;
}

static void put_value(sbuf *b, const ss_plugin_metric *m, int json)
{
	if (m->value_type == SS_PLUGIN_METRIC_VALUE_TYPE_D && put_non_finite(b, m->value.d, json))
		return;
	if (m->value_type == SS_PLUGIN_METRIC_VALUE_TYPE_F && put_non_finite(b, (double)m->value.f, json))
		return;
	switch (m->value_type) {
	case SS_PLUGIN_METRIC_VALUE_TYPE_U32: sb_printf(b, "%u", m->value.u32); break;
	case SS_PLUGIN_METRIC_VALUE_TYPE_S32: sb_printf(b, "%d", m->value.s32); break;
	case SS_PLUGIN_METRIC_VALUE_TYPE_U64: sb_printf(b, "%llu", (unsigned long long)m->value.u64); break;
	case SS_PLUGIN_METRIC_VALUE_TYPE_S64: sb_printf(b, "%lld", (long long)m->value.s64); break;
	case SS_PLUGIN_METRIC_VALUE_TYPE_D: sb_printf(b, "%.17g", m->value.d); break;
	case SS_PLUGIN_METRIC_VALUE_TYPE_F: sb_printf(b, "%.9g", (double)m->value.f); break;
	case SS_PLUGIN_METRIC_VALUE_TYPE_I: sb_printf(b, "%d", m->value.i); break;
	default: sb_puts(b, "null");
	}
}

/* One plugin's metrics as one line; -1 if the plugin broke the contract (errors printed). */
static int metrics_one(plugin *p, int json, const char *when)
{
	uint32_t n = 0;
	ss_plugin_metric *m = p->api.get_metrics(p->state, &n);
	int status = 0;
	if (n > 0 && !m) {
		errorf("plugin %s: get_metrics returned NULL with %u metrics", p->name, n);
		n = 0;
		status = -1;
	}
	sbuf b = {0};
	if (json) {
		sb_puts(&b, "{\"metrics\":{\"plugin\":");
		sb_json_str(&b, p->name);
		sb_puts(&b, ",\"when\":");
		sb_json_str(&b, when);
		sb_puts(&b, ",\"metrics\":[");
	} else {
		sb_printf(&b, "metrics: plugin=%s when=%s", p->name, when);
	}
	int first = 1;
	for (uint32_t i = 0; i < n; i++) {
		const ss_plugin_metric *x = &m[i];
		if (!x->name) {
			errorf("plugin %s: get_metrics: metric %u has a NULL name", p->name, i);
			status = -1;
			continue;
		}
		if (x->type != SS_PLUGIN_METRIC_TYPE_MONOTONIC && x->type != SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC) {
			errorf("plugin %s: get_metrics: metric '%s' has an unknown metric type %d", p->name, x->name,
			       (int)x->type);
			status = -1;
			continue;
		}
		if ((unsigned)x->value_type > SS_PLUGIN_METRIC_VALUE_TYPE_I) {
			errorf("plugin %s: get_metrics: metric '%s' has an unknown value type %d", p->name, x->name,
			       (int)x->value_type);
			status = -1;
			continue;
		}
		const char *type = x->type == SS_PLUGIN_METRIC_TYPE_MONOTONIC ? "monotonic" : "non_monotonic";
		if (json) {
			sb_puts(&b, first ? "{\"name\":" : ",{\"name\":");
			sb_json_str(&b, x->name);
			sb_printf(&b, ",\"type\":\"%s\",\"value_type\":\"%s\",\"value\":", type, value_types[x->value_type]);
			put_value(&b, x, 1);
			sb_putc(&b, '}');
		} else {
			sb_printf(&b, " %s=", x->name);
			put_value(&b, x, 0);
		}
		first = 0;
	}
	sb_puts(&b, json ? "]}}\n" : "\n");
	write_line(&b);
	sb_free(&b);
	return status;
}

int metrics_print_all(plugin **plugins, size_t np, int json, const char *when)
{
	int status = 0;
	for (size_t i = 0; i < np; i++)
		if (plugins[i]->api.get_metrics && plugins[i]->state && metrics_one(plugins[i], json, when))
			status = -1;
	return status;
}

static struct {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int running, stop, status, json;
	double interval;
	plugin **plugins;
	size_t np;
} g_m = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void *metrics_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&g_m.mu);
	while (!g_m.stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)(g_m.interval * 1e9);
		ts.tv_sec += (time_t)(ns / 1000000000ull);
		ts.tv_nsec = (long)(ns % 1000000000ull);
		while (!g_m.stop && pthread_cond_timedwait(&g_m.cv, &g_m.mu, &ts) == 0)
			;
		if (g_m.stop)
			break;
		pthread_mutex_unlock(&g_m.mu);
		if (metrics_print_all(g_m.plugins, g_m.np, g_m.json, "interval"))
			g_m.status = -1;
		pthread_mutex_lock(&g_m.mu);
	}
	pthread_mutex_unlock(&g_m.mu);
	return NULL;
}

void metrics_thread_start(plugin **plugins, size_t np, double interval, int json)
{
	g_m.plugins = plugins;
	g_m.np = np;
	g_m.interval = interval;
	g_m.json = json;
	g_m.stop = 0;
	g_m.status = 0;
	if (pthread_create(&g_m.thread, NULL, metrics_thread, NULL) == 0)
		g_m.running = 1;
	else
		errorf("cannot start the metrics thread");
}

int metrics_thread_stop(void)
{
	if (!g_m.running)
		return 0;
	pthread_mutex_lock(&g_m.mu);
	g_m.stop = 1;
	pthread_cond_broadcast(&g_m.cv);
	pthread_mutex_unlock(&g_m.mu);
	pthread_join(g_m.thread, NULL);
	g_m.running = 0;
	return g_m.status;
}
