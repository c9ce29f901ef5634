/*
 * Capture listening and the routine thread pool (plugin-api-facts.md, Listening, routines and
 * metrics): capture_open for every CAP_CAPTURE_LISTENING plugin once the capture is open (after the async
 * handlers are set), capture_close when it is closed, then the pool is purged: queued routines
 * are dropped and the host waits for the running ones (sinsp::close).
 *
 * subscribe(owner, fn, state) queues fn(plugin_state, state) on the pool (--pool-threads
 * workers); a run that returns true is queued again at once (like a loop), false ends the
 * routine. unsubscribe marks the routine so that it is neither started nor queued again; it
 * does not wait for a run in progress (safe from capture_close while the routine runs, and from
 * the routine itself). Routines run concurrently with the event loop and with each other.
 */
#include "host.h"

#include <stdlib.h>
#include <string.h>

#define ROUTINE_MAGIC 0x726f7574u

typedef struct routine {
	uint32_t magic;
	plugin *p;
	ss_plugin_routine_fn_t fn;
	ss_plugin_routine_state_t *st;
	int unsubscribed, done;
	struct routine *qnext, *all_next;
} routine;

static struct {
	pthread_mutex_t mu;
	pthread_cond_t work, idle;
	routine *qhead, *qtail, *all;
	pthread_t *threads;
	unsigned nthreads;
	unsigned busy;
	int accepting, stopping;
} g_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, NULL,
	    NULL, 0, 0, 0, 0};

static void enqueue(routine *r)
{
	r->qnext = NULL;
	if (g_pool.qtail)
		g_pool.qtail->qnext = r;
	else
		g_pool.qhead = r;
	g_pool.qtail = r;
	pthread_cond_signal(&g_pool.work);
}

static void *worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&g_pool.mu);
	for (;;) {
		while (!g_pool.stopping && !g_pool.qhead)
			pthread_cond_wait(&g_pool.work, &g_pool.mu);
		if (g_pool.stopping)
			break;
		routine *r = g_pool.qhead;
		g_pool.qhead = r->qnext;
		if (!g_pool.qhead)
			g_pool.qtail = NULL;
		if (r->unsubscribed || !g_pool.accepting) {
			r->done = 1;
			continue;
		}
		g_pool.busy++;
		pthread_mutex_unlock(&g_pool.mu);
		ss_plugin_bool again = r->fn(r->p->state, r->st);
		__atomic_add_fetch(&r->p->routine_runs, 1, __ATOMIC_RELAXED);
		pthread_mutex_lock(&g_pool.mu);
		g_pool.busy--;
		if (again && !r->unsubscribed && g_pool.accepting)
			enqueue(r);
		else
			r->done = 1;
		pthread_cond_broadcast(&g_pool.idle);
	}
	pthread_mutex_unlock(&g_pool.mu);
	return NULL;
}

void pool_start(unsigned nthreads)
{
	if (g_pool.threads)
		return;
	if (nthreads == 0)
		nthreads = 1;
	g_pool.threads = calloc(nthreads, sizeof *g_pool.threads);
	if (!g_pool.threads)
		abort();
	g_pool.accepting = 1;
	g_pool.stopping = 0;
	for (unsigned i = 0; i < nthreads; i++) {
		if (pthread_create(&g_pool.threads[i], NULL, worker, NULL) != 0) {
			errorf("cannot start a routine pool thread");
			break;
		}
		g_pool.nthreads++;
	}
}

void pool_stop(void)
{
	if (!g_pool.threads)
		return;
	pthread_mutex_lock(&g_pool.mu);
	g_pool.accepting = 0;
	for (routine *r = g_pool.qhead; r; r = r->qnext)
		r->done = 1;
	g_pool.qhead = g_pool.qtail = NULL;
	while (g_pool.busy)
		pthread_cond_wait(&g_pool.idle, &g_pool.mu);
	g_pool.stopping = 1;
	pthread_cond_broadcast(&g_pool.work);
	pthread_mutex_unlock(&g_pool.mu);
	for (unsigned i = 0; i < g_pool.nthreads; i++)
		pthread_join(g_pool.threads[i], NULL);
	free(g_pool.threads);
	g_pool.threads = NULL;
	g_pool.nthreads = 0;
	while (g_pool.all) {
		routine *r = g_pool.all;
		g_pool.all = r->all_next;
		r->magic = 0;
		free(r);
	}
}

static ss_plugin_routine_t *routine_subscribe(ss_plugin_owner_t *o, ss_plugin_routine_fn_t fn,
					      ss_plugin_routine_state_t *st)
{
	plugin *p = o;
	if (!p)
		return NULL;
	if (!fn) {
		snprintf(p->owner_err, sizeof p->owner_err, "subscribe: NULL routine function");
		return NULL;
	}
	pthread_mutex_lock(&g_pool.mu);
	if (!g_pool.accepting) {
		pthread_mutex_unlock(&g_pool.mu);
		snprintf(p->owner_err, sizeof p->owner_err,
			 "subscribe: the thread pool does not accept routines (no capture is open)");
		return NULL;
	}
	routine *r = calloc(1, sizeof *r);
	if (!r)
		abort();
	r->magic = ROUTINE_MAGIC;
	r->p = p;
	r->fn = fn;
	r->st = st;
	r->all_next = g_pool.all;
	g_pool.all = r;
	__atomic_add_fetch(&p->routines_subscribed, 1, __ATOMIC_RELAXED);
	enqueue(r);
	pthread_mutex_unlock(&g_pool.mu);
	return r;
}

static ss_plugin_rc routine_unsubscribe(ss_plugin_owner_t *o, ss_plugin_routine_t *rt)
{
	plugin *p = o;
	ss_plugin_rc rc = SS_PLUGIN_FAILURE;
	if (!p)
		return rc;
	pthread_mutex_lock(&g_pool.mu);
	routine *r = NULL;
	for (routine *x = g_pool.all; x; x = x->all_next)
		if (x == rt)
			r = x;
	if (!r || r->p != p)
		snprintf(p->owner_err, sizeof p->owner_err, "unsubscribe: unknown routine %p", rt);
	else if (r->unsubscribed)
		snprintf(p->owner_err, sizeof p->owner_err, "unsubscribe: routine %p is already unsubscribed", rt);
	else {
		r->unsubscribed = 1; /* not started or queued again; a run in progress finishes */
		rc = SS_PLUGIN_SUCCESS;
	}
	pthread_mutex_unlock(&g_pool.mu);
	return rc;
}

static ss_plugin_routine_vtable g_routine_vt = {routine_subscribe, routine_unsubscribe};

static ss_plugin_rc listen_call(plugin *p, int open)
{
	ss_plugin_capture_listen_input in;
	memset(&in, 0, sizeof in);
	in.owner = p;
	in.routine = &g_routine_vt;
	in.table_reader_ext = &g_reader_ext;
	in.table_writer_ext = &g_writer_ext;
	in.get_owner_last_error = host_get_owner_last_error;
	tables_lock();
	tables_call_begin(p, CALL_LISTEN);
	ss_plugin_rc rc = open ? p->api.capture_open(p->state, &in) : p->api.capture_close(p->state, &in);
	tables_call_end(p);
	tables_unlock();
	return rc;
}

int listen_open_all(plugin **plugins, size_t np)
{
	for (size_t i = 0; i < np; i++) {
		plugin *p = plugins[i];
		if (!(p->caps & CAP_CAPTURE_LISTENING) || !p->state)
			continue;
		if (listen_call(p, 1) != SS_PLUGIN_SUCCESS) {
			errorf("capture_open error for plugin '%s' : %s", p->name, plugin_last_error(p));
			return -1;
		}
		p->capture_opened = 1;
	}
	return 0;
}

int listen_close_all(plugin **plugins, size_t np)
{
	int status = 0;
	for (size_t i = 0; i < np; i++) {
		plugin *p = plugins[i];
		if (!p->capture_opened)
			continue;
		p->capture_opened = 0;
		if (listen_call(p, 0) != SS_PLUGIN_SUCCESS) {
			errorf("capture_close error for plugin '%s' : %s", p->name, plugin_last_error(p));
			status = -1;
		}
	}
	return status;
}
