/*
 * Capture sessions: open, the next_batch loop with libscap's per-event checks and in-place
 * patches, close (plugin-api-facts.md, Event sourcing). Like Falco, open and close run on the
 * main thread and the loop on one thread per session.
 */
#include "host.h"

#include <stdlib.h>
#include <string.h>

const char *end_name(end_reason e)
{
	switch (e) {
	case END_EOF: return "eof";
	case END_FAILURE: return "failure";
	case END_LIMIT: return "limit";
	case END_DURATION: return "duration";
	case END_OPEN_FAILED: return "open_failed";
	case END_INTERRUPTED: return "interrupted";
	default: return "none";
	}
}

static void lock(session *s)
{
	if (s->lock)
		pthread_mutex_lock(&s->p->lock);
}

static void unlock(session *s)
{
	if (s->lock)
		pthread_mutex_unlock(&s->p->lock);
}

int session_open(session *s)
{
	plugin *p = s->p;
	ss_plugin_rc rc = SS_PLUGIN_FAILURE; /* the scap engine presets FAILURE */
	lock(s);
	s->handle = p->api.open(p->state, p->open_params ? p->open_params : "", &rc);
	unlock(s);
	s->opened = 1;
	if (rc != SS_PLUGIN_SUCCESS) {
		lock(s);
		errorf("%s: open failed: %s", p->name, plugin_last_error(p));
		unlock(s);
		s->end = END_OPEN_FAILED;
		return -1;
	}
	return 0;
}

void session_close(session *s)
{
	if (!s->opened)
		return;
	/* called even after a failed open, with whatever open returned (libscap scap_close) */
	lock(s);
	s->p->api.close(s->p->state, s->handle);
	unlock(s);
	s->opened = 0;
}

/* libscap source_plugin.c next(), plus a few checks of our own that keep a broken event from crashing the host. */
static int check_event(session *s, ss_plugin_event *e, char *err, size_t errlen)
{
	plugin *p = s->p;
	if (!e) {
		snprintf(err, errlen, "plugin %s: next_batch returned a NULL event pointer", p->name);
		return -1;
	}
	if (e->len < sizeof(ss_plugin_event)) {
		snprintf(err, errlen, "malformed plugin event produced by plugin: '%s' (len %u)", p->name, e->len);
		return -1;
	}
	if (p->id != 0 && (e->type != FPA_EVT_PLUGINEVENT || e->nparams != 2)) {
		snprintf(err, errlen, "malformed plugin event produced by plugin: '%s'", p->name);
		return -1;
	}
	if (e->type == FPA_EVT_PLUGINEVENT) {
		uint8_t *raw = (uint8_t *)e;
		uint32_t l0, l1, pid;
		if (e->len < FPA_PLUGIN_EVENT_PAYLOAD_OFFSET || e->nparams != 2) {
			snprintf(err, errlen, "malformed plugin event produced by plugin: '%s' (len %u, nparams %u)",
				 p->name, e->len, e->nparams);
			return -1;
		}
		memcpy(&l0, raw + 26, 4);
		memcpy(&l1, raw + 30, 4);
		if (l0 != 4 || (uint64_t)FPA_PLUGIN_EVENT_PAYLOAD_OFFSET + l1 != e->len) {
			snprintf(err, errlen,
				 "malformed plugin event produced by plugin: '%s' (param lengths %u and %u do not match "
				 "len %u)",
				 p->name, l0, l1, e->len);
			return -1;
		}
		memcpy(&pid, raw + 34, 4);
		if (p->id != 0) {
			if (pid == 0) {
				pid = p->id;
				memcpy(raw + 34, &pid, 4);
			} else if (pid != p->id) {
				snprintf(err, errlen,
					 "unexpected plugin ID in plugin event: plugin='%s', expected_id=%u, actual_id=%u",
					 p->name, p->id, pid);
				return -1;
			}
		}
		if (pid == 0) {
			snprintf(err, errlen, "malformed plugin event produced by plugin (no ID)");
			return -1;
		}
		e->tid = UINT64_MAX;
	}
	if (e->ts == UINT64_MAX)
		e->ts = now_realtime_ns();
	return 0;
}

void session_loop(session *s)
{
	plugin *p = s->p;
	char err[HOST_ERRLEN];
	uint64_t deadline = s->duration_ns ? now_monotonic_ns() + s->duration_ns : 0;
	ss_plugin_event_input in = {NULL, 0, s->source};
	if (s->end == END_OPEN_FAILED)
		return;
	for (;;) {
		if (g_interrupted) {
			s->end = END_INTERRUPTED;
			return;
		}
		if (deadline && now_monotonic_ns() >= deadline) {
			s->end = END_DURATION;
			return;
		}
		/* queued async events go before each fetch, so also after each TIMEOUT (sinsp::next) */
		if (async_deliver(s, &in))
			return;
		uint32_t n = 0;
		ss_plugin_event **evts = NULL;
		lock(s);
		if (s->hold_async_lock) /* a host that calls the plugin holding the lock its handler needs */
			async_hold(s, 1);
		ss_plugin_rc rc = p->api.next_batch(p->state, s->handle, &n, &evts);
		if (s->hold_async_lock)
			async_hold(s, 0);
		unlock(s);
		s->batches++;
		if (rc == SS_PLUGIN_SUCCESS && n == 0) {
			errorf("unexpected 0 size event returned by plugin %s", p->name);
			s->end = END_FAILURE;
			return;
		}
		if (n > 0 && !evts) {
			errorf("plugin %s: next_batch returned %u events and a NULL array", p->name, n);
			s->end = END_FAILURE;
			return;
		}
		/* events delivered with TIMEOUT/EOF/FAILURE come first; the code comes due after (source_plugin.c) */
		for (uint32_t i = 0; i < n; i++) {
			if (check_event(s, evts[i], err, sizeof err)) {
				errorf("%s", err);
				s->end = END_FAILURE;
				return;
			}
			in.evt = evts[i];
			in.evtnum = ++s->events;
			if (s->on_event(s, &in)) {
				s->end = END_FAILURE;
				return;
			}
			if (s->limit && s->events >= s->limit) {
				s->end = END_LIMIT;
				return;
			}
			if (deadline && now_monotonic_ns() >= deadline) {
				s->end = END_DURATION;
				return;
			}
		}
		switch (rc) {
		case SS_PLUGIN_SUCCESS:
			break;
		case SS_PLUGIN_TIMEOUT:
			s->timeouts++; /* Falco calls again immediately */
			break;
		case SS_PLUGIN_EOF:
			s->end = END_EOF;
			async_deliver(s, &in); /* what was queued until now, once more */
			return;
		default: /* FAILURE, NOT_SUPPORTED, or any other value */
			lock(s);
			errorf("%s", plugin_last_error(p));
			unlock(s);
			s->end = END_FAILURE;
			return;
		}
	}
}

static void *session_thread(void *arg)
{
	session *s = arg;
	if (s->start)
		pthread_barrier_wait(s->start);
	session_loop(s);
	if (s->on_end)
		s->on_end(s);
	return NULL;
}

void sessions_run(session **ss, size_t n)
{
	if (n == 1) {
		session_loop(ss[0]);
		if (ss[0]->on_end)
			ss[0]->on_end(ss[0]);
		return;
	}
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, (unsigned)n);
	size_t started = 0;
	for (size_t i = 0; i < n; i++) {
		ss[i]->start = &start;
		if (pthread_create(&ss[i]->thread, NULL, session_thread, ss[i]) != 0) {
			errorf("cannot start a session thread");
			abort(); /* the barrier would never open */
		}
		started++;
	}
	for (size_t i = 0; i < started; i++)
		pthread_join(ss[i]->thread, NULL);
	pthread_barrier_destroy(&start);
}
