/*
 * Async events (plugin-api-facts.md, Async events): each CAP_ASYNC plugin is
 * attached to one session; its handler is set on the main thread after that session's open
 * and reset after its close. The handler checks and copies each event into the session's
 * bounded queue; the session thread delivers the queue in timestamp order before each
 * next_batch fetch. Also `bench-async`.
 */
#include "host.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ASYNC_QUEUE_CAP 4096 /* DEFAULT_ASYNC_EVENT_QUEUE_SIZE */
#define ASYNC_NAME_OFFSET 42 /* 26-byte header + 3 lengths + the 4-byte plugin id */
#define ASYNC_ID_OFFSET 38
#define ASYNC_MAX_FUTURE_NS (10ull * 1000000000ull)

typedef struct {
	ss_plugin_event *evt; /* malloc'd copy */
	uint64_t seq;         /* arrival order, for a stable sort */
} aq_item;

typedef struct async_queue {
	pthread_mutex_t mu;
	pthread_cond_t nonempty; /* bench: the drain thread waits on it */
	pthread_cond_t reached;  /* bench: accepted + dropped reached target */
	aq_item *items;
	size_t n, cap, limit; /* limit 0: unbounded */
	uint64_t seq;
	uint32_t plugin_id;    /* written into param 0 */
	const char *source;    /* for messages */
	int full_warned;       /* one warning per burst of drops */
	int drained_by_thread; /* bench: signal nonempty */
	uint64_t accepted, dropped, target;
	atomic_int handlers_waiting; /* handler calls blocked on mu; see async_hold */
} async_queue;

static async_queue *queue_new(uint32_t plugin_id, const char *source, size_t limit)
{
	async_queue *q = calloc(1, sizeof *q);
	if (!q)
		abort();
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->nonempty, NULL);
	pthread_cond_init(&q->reached, NULL);
	q->plugin_id = plugin_id;
	q->source = source;
	q->limit = limit;
	return q;
}

static void queue_free(async_queue *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->n; i++)
		free(q->items[i].evt);
	free(q->items);
	pthread_cond_destroy(&q->nonempty);
	pthread_cond_destroy(&q->reached);
	pthread_mutex_destroy(&q->mu);
	free(q);
}

static ss_plugin_rc fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static ss_plugin_rc fail(char *err, const char *fmt, ...)
{
	if (err) { /* strlcpy-like: truncated, always terminated */
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, FPA_MAX_ERRLEN, fmt, ap);
		va_end(ap);
	}
	return SS_PLUGIN_FAILURE;
}

static int has_name(const strlist *l, const char *name)
{
	for (size_t i = 0; l && i < l->n; i++)
		if (strcmp(l->v[i], name) == 0)
			return 1;
	return 0;
}

static void signal_target(async_queue *q)
{
	if (q->target && q->accepted + q->dropped >= q->target)
		pthread_cond_broadcast(&q->reached);
}

const char *async_event_parts(const ss_plugin_event *e, const uint8_t **data, size_t *len)
{
	const uint8_t *raw = (const uint8_t *)e;
	uint32_t l[3];
	if (e->type != FPA_EVT_ASYNCEVENT || e->nparams != 3 || e->len < ASYNC_NAME_OFFSET)
		return NULL;
	memcpy(l, raw + sizeof(ss_plugin_event), sizeof l);
	if (l[0] != 4 || l[1] == 0 || (uint64_t)ASYNC_ID_OFFSET + l[0] + l[1] + l[2] != e->len ||
	    !memchr(raw + ASYNC_NAME_OFFSET, '\0', l[1]))
		return NULL;
	*data = raw + ASYNC_NAME_OFFSET + l[1];
	*len = l[2];
	return (const char *)raw + ASYNC_NAME_OFFSET;
}

/* The handler's checks (plugin.cpp, handle_plugin_async_event) in libsinsp's order, with its messages. */
ss_plugin_rc async_handler(ss_plugin_owner_t *o, const ss_plugin_event *e, char *err)
{
	plugin *p = o;
	if (!p || !(p->caps & CAP_ASYNC))
		return fail(err, "plugin without async events cap used as async handler");
	if (!__atomic_load_n(&p->async_set, __ATOMIC_ACQUIRE))
		return fail(err, "async event sent with NULL handler: %s", p->name);
	async_queue *q = p->async_q; /* written before async_set (release) */
	const uint8_t *raw = (const uint8_t *)e;
	if (!e || e->type != FPA_EVT_ASYNCEVENT || e->nparams != 3 || e->len < ASYNC_NAME_OFFSET)
		return fail(err, "malformed async event produced by plugin: %s", p->name);
	/* libsinsp reads the name as a C string without a bound; we require its NUL within len */
	const char *name = (const char *)raw + ASYNC_NAME_OFFSET;
	if (!memchr(name, '\0', e->len - ASYNC_NAME_OFFSET))
		return fail(err, "malformed async event produced by plugin: %s", p->name);
	if (!has_name(p->async_events, name))
		return fail(err, "incompatible async event '%s' produced by plugin: %s", name, p->name);
	const uint8_t *data;
	size_t dlen;
	if (!async_event_parts(e, &data, &dlen)) /* libsinsp's decode step: lengths must add up */
		return fail(err, "malformed async event produced by plugin: %s", p->name);
	if (!q) /* cannot happen: the handler is only set for attached plugins */
		return fail(err, "async event sent with NULL handler: %s", p->name);
	if (q->plugin_id != 0 && e->tid != UINT64_MAX)
		return fail(err, "async events of plugin '%s' can have no thread associated with open event source '%s'",
			    p->name, q->source);

	if (e->ts != UINT64_MAX && e->ts > now_realtime_ns() + ASYNC_MAX_FUTURE_NS) {
		pthread_mutex_lock(&q->mu);
		q->dropped++;
		signal_target(q);
		pthread_mutex_unlock(&q->mu);
		char msg[FPA_MAX_ERRLEN];
		snprintf(msg, sizeof msg, "async event '%s' of plugin %s dropped: timestamp %llu is more than 10 s in the future",
			 name, p->name, (unsigned long long)e->ts);
		host_log_fn(NULL, "host", msg, SS_PLUGIN_LOG_SEV_WARNING);
		return SS_PLUGIN_SUCCESS;
	}

	ss_plugin_event *copy = malloc(e->len);
	if (!copy)
		return fail(err, "out of memory copying an async event");
	memcpy(copy, e, e->len);
	memcpy((uint8_t *)copy + ASYNC_ID_OFFSET, &q->plugin_id, 4);

	int warn = 0;
	atomic_fetch_add(&q->handlers_waiting, 1);
	pthread_mutex_lock(&q->mu);
	atomic_fetch_sub(&q->handlers_waiting, 1);
	if (q->limit && q->n >= q->limit) {
		q->dropped++;
		warn = !q->full_warned;
		q->full_warned = 1;
		signal_target(q);
		pthread_mutex_unlock(&q->mu);
		free(copy);
		if (warn)
			host_log_fn(NULL, "host", "async event queue is full", SS_PLUGIN_LOG_SEV_WARNING);
		return SS_PLUGIN_SUCCESS;
	}
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 64;
		aq_item *v = realloc(q->items, cap * sizeof *v);
		if (!v) {
			pthread_mutex_unlock(&q->mu);
			free(copy);
			return fail(err, "out of memory queueing an async event");
		}
		q->items = v;
		q->cap = cap;
	}
	q->items[q->n].evt = copy;
	q->items[q->n].seq = q->seq++;
	if (q->n++ == 0 && q->drained_by_thread)
		pthread_cond_signal(&q->nonempty);
	q->full_warned = 0;
	q->accepted++;
	signal_target(q);
	pthread_mutex_unlock(&q->mu);
	return SS_PLUGIN_SUCCESS;
}

/* ---- attaching to sessions ---- */

/* A sourcing plugin's own source is always compatible: async_attach gives it its own session. */
static int async_source_compatible(const plugin *p, const char *source)
{
	if (!p->async_sources || p->async_sources->n == 0)
		return 1; /* null/empty: all */
	return has_name(p->async_sources, source);
}

static void attach(plugin *p, session *s)
{
	plugin **v = realloc(s->async_plugins, (s->nasync + 1) * sizeof *v);
	if (!v)
		abort();
	s->async_plugins = v;
	v[s->nasync++] = p;
	if (!s->aq)
		s->aq = queue_new(s->p->id, s->source, ASYNC_QUEUE_CAP);
	p->async_q = s->aq;
}

void async_attach(plugin **plugins, size_t np, session *ss, size_t ns)
{
	for (size_t i = 0; i < np; i++) {
		plugin *p = plugins[i];
		if (!(p->caps & CAP_ASYNC))
			continue;
		session *to = NULL;
		for (size_t k = 0; k < ns && !to; k++)
			if (ss[k].p == p)
				to = &ss[k];
		for (size_t k = 0; k < ns && !to; k++)
			if (async_source_compatible(p, ss[k].source))
				to = &ss[k];
		if (to) {
			attach(p, to);
		} else {
			char msg[FPA_MAX_ERRLEN];
			snprintf(msg, sizeof msg,
				 "plugin %s: no session has a source compatible with its async event sources; its "
				 "handler is not set",
				 p->name);
			host_log_fn(NULL, "host", msg, SS_PLUGIN_LOG_SEV_WARNING);
		}
	}
}

/* sinsp_plugin::set_async_event_handler: the flag is set before the call and restored on failure. */
static ss_plugin_rc set_handler(plugin *p)
{
	__atomic_store_n(&p->async_set, 1, __ATOMIC_RELEASE);
	ss_plugin_rc rc = p->api.set_async_event_handler(p->state, p, async_handler);
	if (rc != SS_PLUGIN_SUCCESS)
		__atomic_store_n(&p->async_set, 0, __ATOMIC_RELEASE);
	return rc;
}

/* sinsp_plugin::set_async_event_handler: the handler stays set during the call (stopping
 * threads may still emit) and is cleared once the plugin accepted the reset. */
static ss_plugin_rc reset_handler(plugin *p)
{
	ss_plugin_rc rc = p->api.set_async_event_handler(p->state, p, NULL);
	if (rc == SS_PLUGIN_SUCCESS)
		__atomic_store_n(&p->async_set, 0, __ATOMIC_RELEASE);
	return rc;
}

int async_session_start(session *s)
{
	for (size_t i = 0; i < s->nasync; i++) {
		plugin *p = s->async_plugins[i];
		s->nasync_called = i + 1;
		if (set_handler(p) != SS_PLUGIN_SUCCESS) {
			errorf("can't set async event handler for plugin %s: %s", p->name, plugin_last_error(p));
			return -1;
		}
	}
	return 0;
}

int async_session_stop(session *s)
{
	int status = 0;
	for (size_t i = 0; i < s->nasync_called; i++) {
		plugin *p = s->async_plugins[i];
		if (reset_handler(p) != SS_PLUGIN_SUCCESS) {
			errorf("can't reset async event handler for plugin %s: %s", p->name, plugin_last_error(p));
			status = -1;
		}
	}
	s->nasync_called = 0;
	return status;
}

/* ---- dump_state (plugin-api-facts.md, Async events) ---- */

/* What the dump currently being written prints its events as (one dump at a time). */
static pthread_mutex_t g_dump_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_dump_json;
static uint64_t g_dump_events;

/* The dump's handler: libsinsp's dump callback applies checks 3 and 4 only, then writes the
 * event into the capture being dumped; we print it, one line per event. */
static ss_plugin_rc dump_handler(ss_plugin_owner_t *o, const ss_plugin_event *e, char *err)
{
	plugin *p = o;
	if (!p || !e || e->type != FPA_EVT_ASYNCEVENT || e->nparams != 3 || e->len < ASYNC_NAME_OFFSET)
		return fail(err, "malformed async event produced by plugin: %s", p ? p->name : "?");
	const char *name = (const char *)e + ASYNC_NAME_OFFSET;
	if (!memchr(name, '\0', e->len - ASYNC_NAME_OFFSET))
		return fail(err, "malformed async event produced by plugin: %s", p->name);
	if (!has_name(p->async_events, name))
		return fail(err, "incompatible async event '%s' produced by plugin: %s", name, p->name);
	const uint8_t *data = NULL;
	size_t len = 0;
	if (!async_event_parts(e, &data, &len))
		len = 0; /* not decoded by the dump path: printed without its data */
	sbuf b = {0};
	if (g_dump_json) {
		sb_puts(&b, "{\"dump\":{\"plugin\":");
		sb_json_str(&b, p->name);
		sb_puts(&b, ",\"async_name\":");
		sb_json_str(&b, name);
		sb_printf(&b, ",\"ts\":%llu,\"tid\":%llu,\"payload_hex\":\"", (unsigned long long)e->ts,
			  (unsigned long long)e->tid);
		for (size_t i = 0; i < len; i++)
			sb_printf(&b, "%02x", data[i]);
		sb_puts(&b, "\"}}\n");
	} else {
		sb_printf(&b, "dump: plugin=%s async=%s ts=%llu tid=%llu len=%u payload=", p->name, name,
			  (unsigned long long)e->ts, (unsigned long long)e->tid, e->len);
		for (size_t i = 0; i < len && i < 64; i++) {
			if (data[i] >= 0x20 && data[i] < 0x7f && data[i] != '\\')
				sb_putc(&b, (char)data[i]);
			else
				sb_printf(&b, "\\x%02x", data[i]);
		}
		sb_putc(&b, '\n');
	}
	write_line(&b);
	sb_free(&b);
	g_dump_events++;
	return SS_PLUGIN_SUCCESS;
}

int async_dump_all(plugin **plugins, size_t np, int json, int lock, const char *when)
{
	int status = 0;
	pthread_mutex_lock(&g_dump_lock);
	g_dump_json = json;
	for (size_t i = 0; i < np; i++) {
		plugin *p = plugins[i];
		if (!(p->caps & CAP_ASYNC) || !p->api.dump_state || !p->state)
			continue;
		g_dump_events = 0;
		if (lock)
			pthread_mutex_lock(&p->lock);
		p->owner_err[0] = '\0';
		ss_plugin_rc rc = p->api.dump_state(p->state, p, dump_handler);
		if (lock)
			pthread_mutex_unlock(&p->lock);
		if (rc != SS_PLUGIN_SUCCESS) {
			/* libsinsp's message carries the owner error string, not get_last_error */
			errorf("dump error for plugin '%s' : %s", p->name, p->owner_err);
			status = -1;
			continue;
		}
		sbuf b = {0};
		if (json) {
			sb_puts(&b, "{\"summary\":{\"plugin\":");
			sb_json_str(&b, p->name);
			sb_printf(&b, ",\"kind\":\"dump\",\"when\":\"%s\",\"dumped\":%llu}}\n", when,
				  (unsigned long long)g_dump_events);
		} else {
			sb_printf(&b, "summary: plugin=%s kind=dump when=%s dumped=%llu\n", p->name, when,
				  (unsigned long long)g_dump_events);
		}
		write_line(&b);
		sb_free(&b);
	}
	pthread_mutex_unlock(&g_dump_lock);
	return status;
}

uint64_t async_dropped(const session *s)
{
	if (!s->aq)
		return 0;
	pthread_mutex_lock(&s->aq->mu);
	uint64_t d = s->aq->dropped;
	pthread_mutex_unlock(&s->aq->mu);
	return d;
}

/* After the plugins are destroyed (a plugin may still call the handler from destroy). */
void async_session_free(session *s)
{
	free(s->async_plugins);
	s->async_plugins = NULL;
	s->nasync = 0;
	queue_free(s->aq);
	s->aq = NULL;
}

/* ---- delivery ---- */

static int by_ts(const void *a, const void *b)
{
	const aq_item *x = a, *y = b;
	if (x->evt->ts != y->evt->ts)
		return x->evt->ts < y->evt->ts ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Takes everything queued; UINT64_MAX timestamps become "now" (pop time). */
static aq_item *take_all(async_queue *q, size_t *n)
{
	pthread_mutex_lock(&q->mu);
	aq_item *items = q->items;
	*n = q->n;
	q->items = NULL;
	q->n = q->cap = 0;
	pthread_mutex_unlock(&q->mu);
	if (*n) {
		uint64_t now = now_realtime_ns();
		for (size_t i = 0; i < *n; i++)
			if (items[i].evt->ts == UINT64_MAX)
				items[i].evt->ts = now;
		qsort(items, *n, sizeof *items, by_ts);
	}
	return items;
}

int async_deliver(session *s, ss_plugin_event_input *in)
{
	size_t n;
	if (!s->aq)
		return 0;
	aq_item *items = take_all(s->aq, &n);
	int end = 0;
	for (size_t i = 0; i < n; i++) {
		if (end) {
			free(items[i].evt);
			continue;
		}
		in->evt = items[i].evt;
		in->evtnum = ++s->events;
		s->async_events++;
		if (s->on_event(s, in)) {
			s->end = END_FAILURE;
			end = 1;
		} else if (s->limit && s->events >= s->limit) {
			s->end = END_LIMIT;
			end = 1;
		}
		free(items[i].evt);
	}
	in->evt = NULL;
	free(items);
	return end;
}

/* ---- bench-async ---- */

typedef struct {
	async_queue *q;
	int stop;
	uint64_t delivered, sink;
} drain_ctx;

/* Stands in for the session thread: pops and consumes events as they come. */
static void *drain_thread(void *arg)
{
	drain_ctx *d = arg;
	async_queue *q = d->q;
	for (;;) {
		pthread_mutex_lock(&q->mu);
		while (q->n == 0 && !__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE))
			pthread_cond_wait(&q->nonempty, &q->mu);
		int stop = q->n == 0;
		pthread_mutex_unlock(&q->mu);
		if (stop)
			return NULL;
		size_t n;
		aq_item *items = take_all(q, &n);
		for (size_t i = 0; i < n; i++) {
			d->sink += items[i].evt->ts + items[i].evt->len;
			free(items[i].evt);
		}
		free(items);
		d->delivered += n;
	}
}

#define BENCH_ASYNC_DEFAULT_EVENTS 100000
#define BENCH_ASYNC_STALL_NS (10ull * 1000000000ull) /* give up after 10 s without a new event */

static int bench_async_one(const plugin_spec *spec, uint64_t events, plugin *p)
{
	char err[HOST_ERRLEN];
	char config[64];
	int status = 0;
	p->config = spec->config;
	if (!p->config) {
		snprintf(config, sizeof config, "{\"events\": %llu}", (unsigned long long)events);
		p->config = config;
	}
	if (plugin_load(p, spec->path, err)) {
		errorf("could not load plugin %s: %s", spec->path, err);
		return 2;
	}
	if (!(p->caps & CAP_ASYNC)) {
		errorf("plugin %s has no async events capability: nothing to bench", p->name);
		return 2;
	}
	if (plugin_init(p, err, sizeof err)) {
		errorf("%s", err);
		status = 1;
		goto out;
	}

	/* an internal "syscall" session (plugin id 0), drained concurrently; unbounded so that
	 * nothing is dropped for lack of room */
	async_queue *q = queue_new(0, "syscall", 0);
	drain_ctx d = {q, 0, 0, 0};
	pthread_t drainer;
	q->target = events;
	q->drained_by_thread = 1;
	if (pthread_create(&drainer, NULL, drain_thread, &d) != 0) {
		errorf("cannot start the drain thread");
		queue_free(q);
		status = 1;
		goto out;
	}
	p->async_q = q;

	uint64_t t0 = now_monotonic_ns(), t1 = 0, got = 0;
	int set = set_handler(p) == SS_PLUGIN_SUCCESS;
	if (!set) {
		errorf("can't set async event handler for plugin %s: %s", p->name, plugin_last_error(p));
		status = 1;
	} else {
		uint64_t last = 0, progress = now_monotonic_ns();
		pthread_mutex_lock(&q->mu);
		while (q->accepted + q->dropped < events && !g_interrupted) {
			uint64_t now = now_monotonic_ns();
			if (q->accepted + q->dropped != last) {
				last = q->accepted + q->dropped;
				progress = now;
			} else if (now - progress >= BENCH_ASYNC_STALL_NS) {
				break;
			}
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 100 * 1000 * 1000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&q->reached, &q->mu, &ts);
		}
		t1 = now_monotonic_ns();
		got = q->accepted + q->dropped;
		pthread_mutex_unlock(&q->mu);
	}
	/* reset: the plugin stops and joins its threads (plugin_api.h); the call is always made, as
	 * libsinsp's close does */
	if (reset_handler(p) != SS_PLUGIN_SUCCESS) {
		errorf("can't reset async event handler for plugin %s: %s", p->name, plugin_last_error(p));
		status = 1;
	}
	__atomic_store_n(&d.stop, 1, __ATOMIC_RELEASE);
	pthread_mutex_lock(&q->mu);
	pthread_cond_signal(&q->nonempty);
	pthread_mutex_unlock(&q->mu);
	pthread_join(drainer, NULL);
	p->async_q = NULL;

	if (set && got < events) {
		if (g_interrupted)
			status = 130;
		else {
			errorf("bench-async: plugin %s: %llu of %llu events accepted, then none for 10 s", p->name,
			       (unsigned long long)got, (unsigned long long)events);
			status = 1;
		}
	} else if (set) {
		sbuf b = {0};
		sb_puts(&b, "{\"plugin\":");
		sb_json_str(&b, p->name);
		sb_printf(&b, ",\"events\":%llu,\"ns_per_event\":%.3f,\"dropped\":%llu}\n", (unsigned long long)events,
			  events ? (double)(t1 - t0) / (double)events : 0.0, (unsigned long long)q->dropped);
		pthread_mutex_lock(&g_io_lock);
		fputs(b.p, stdout);
		fflush(stdout);
		pthread_mutex_unlock(&g_io_lock);
		sb_free(&b);
	}
	queue_free(q);
out:
	if (p->state) { /* teardown of this spec; dlclose comes at the end */
		p->api.destroy(p->state);
		p->state = NULL;
	}
	return status;
}

int cmd_bench_async(int argc, char **argv)
{
	cli_opts o;
	int status = 0;
	if (parse_cli(argc, argv, 1, &o))
		return 2;
	if (o.fields || o.per_call) {
		errorf("bench-async takes no --fields or --fields-per-call");
		free(o.specs);
		return 2;
	}
	for (size_t i = 0; i < o.nspecs; i++) {
		if (o.specs[i].open_params) {
			errorf("bench-async takes no -o (there is no open)");
			free(o.specs);
			return 2;
		}
	}
	uint64_t events = o.events ? o.events : BENCH_ASYNC_DEFAULT_EVENTS;
	plugin **loaded = calloc(o.nspecs, sizeof *loaded);
	for (size_t i = 0; i < o.nspecs && !status; i++) {
		loaded[i] = calloc(1, sizeof *loaded[i]);
		status = bench_async_one(&o.specs[i], events, loaded[i]);
	}
	unload_all(loaded, o.nspecs);
	free(loaded);
	free(o.specs);
	return status;
}

void async_hold(session *s, int on)
{
	if (!s->aq)
		return;
	if (on) {
		pthread_mutex_lock(&s->aq->mu);
		return;
	}
	pthread_mutex_unlock(&s->aq->mu);
	/* glibc mutexes are not fair: a session thread that re-locks at once starves the handler
	 * calls blocked on mu, and the probe would show starvation rather than deadlock freedom.
	 * Hand the lock over to a waiting handler call (bounded, so a stuck one cannot stall us). */
	for (int i = 0; i < 10000 && atomic_load(&s->aq->handlers_waiting) > 0; i++)
		sched_yield();
}
