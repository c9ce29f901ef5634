/*
 * Event sourcing: open / close / next_batch and friends.
 *
 * next_batch makes one Python call per batch; Python returns payloads and C frames each one
 * as a PPME_PLUGINEVENT_E event (26-byte header, two 4-byte parameter lengths, the plugin
 * id, the payload) in a per-instance buffer that stays valid and writable until the next
 * call or close, because the host patches events in place (plugin-api-facts.md, Event sourcing).
 *
 * A syscall-source plugin (plugin id 0) hands over whole events instead (typed events of
 * falco_plugin.event, turned into their bytes by _runtime.syscall_events), copied as they are.
 */
#include "shim.h"

#include <math.h>

#if FPY_CAP_SOURCING

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One batch item as Python handed it over (valid while the batch list is alive). */
typedef struct {
	const char *data;
	Py_ssize_t len;
	uint64_t ts;
} fp_item;

typedef struct {
	PyObject *instance;   /* the user's SourceInstance */
	PyObject *next_batch; /* its bound method */
	PyObject *progress;   /* bound method, or NULL when the instance has none */
	uint8_t *buf;         /* framed events */
	size_t bufcap;
	ss_plugin_event **events;
	fp_item *items; /* scratch: the items of the batch being framed */
	uint32_t evcap; /* capacity of events and items */
	char *progress_text;
	fp_batch batch; /* what batch fields are computed for */
} fp_instance;

FP_EXPORT uint32_t plugin_get_id(void) { return FPY_PLUGIN_ID; }
FP_EXPORT const char *plugin_get_event_source(void) { return FPY_EVENT_SOURCE; }

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

FP_EXPORT ss_instance_t *plugin_open(ss_plugin_t *st, const char *params, ss_plugin_rc *rc)
{
	fp_state *s = st;
	*rc = SS_PLUGIN_FAILURE;
	if (!s || !s->plugin) {
		if (s)
			fp_set_error(s, "open: the plugin is not initialized");
		return NULL;
	}
	fp_instance *in = NULL;
	fp_gil g = fp_enter();
	const char *text = params ? params : "";
	PyObject *py_params = PyUnicode_DecodeUTF8(text, (Py_ssize_t)strlen(text), "replace");
	PyObject *instance = NULL, *next_batch = NULL, *has_progress = NULL;
	if (py_params) {
		PyObject *args[] = {s->plugin, py_params};
		instance = fp_runtime_call("open_instance", args, 2);
	}
	if (instance)
		next_batch = PyObject_GetAttrString(instance, "next_batch");
	if (next_batch) {
		PyObject *args[] = {instance, FPY_HAS_PROGRESS ? Py_True : Py_False};
		has_progress = fp_runtime_call("has_progress", args, 2);
	}
	if (has_progress && (in = calloc(1, sizeof *in)) != NULL) {
		in->instance = Py_NewRef(instance);
		in->next_batch = Py_NewRef(next_batch);
		if (has_progress == Py_True && !(in->progress = PyObject_GetAttrString(instance, "progress")))
			PyErr_Clear();
		*rc = SS_PLUGIN_SUCCESS;
	} else {
		if (has_progress)
			PyErr_NoMemory();
		fp_set_error_from_python(s, "open");
	}
	Py_XDECREF(has_progress);
	Py_XDECREF(next_batch);
	Py_XDECREF(instance);
	Py_XDECREF(py_params);
	fp_leave(g);
	return in;
}

FP_EXPORT void plugin_close(ss_plugin_t *st, ss_instance_t *h)
{
	fp_state *s = st;
	fp_instance *in = h;
	if (!in) /* also after a failed open (plugin-api-facts.md, Event sourcing) */
		return;
	int failed = 0;
	fp_gil g = fp_enter();
	PyObject *res = PyObject_CallMethod(in->instance, "close", NULL);
	if (!res && s) {
		fp_set_error_from_python(s, "close");
		failed = 1;
	}
	PyErr_Clear();
	Py_XDECREF(res);
	Py_CLEAR(in->progress);
	Py_CLEAR(in->next_batch);
	Py_CLEAR(in->instance);
	Py_CLEAR(in->batch.items);
	Py_CLEAR(in->batch.payloads);
	if (s && s->batch == &in->batch)
		s->batch = NULL;
	fp_leave(g);
	if (failed && s->log_fn)
		s->log_fn(s->owner, NULL, s->last_error, SS_PLUGIN_LOG_SEV_ERROR);
	free(in->buf);
	free(in->events);
	free(in->items);
	free(in->progress_text);
	free(in);
}

/* One item of a batch: bytes or bytearray, optionally in a (payload, ts) pair. */
FP_UNUSED static int batch_item(PyObject *item, Py_ssize_t i, const char **data, Py_ssize_t *len, uint64_t *ts)
{
	PyObject *payload = item;
	*ts = UINT64_MAX; /* "now", filled in by the host */
	if (PyTuple_Check(item)) {
		if (PyTuple_GET_SIZE(item) != 2) {
			PyErr_Format(PyExc_TypeError, "next_batch: item %zd is a tuple of %zd, expected (payload, ts)",
				     i, PyTuple_GET_SIZE(item));
			return -1;
		}
		payload = PyTuple_GET_ITEM(item, 0);
		PyObject *t = PyTuple_GET_ITEM(item, 1);
		if (!PyLong_Check(t)) {
			PyErr_Format(PyExc_TypeError,
				     "next_batch: item %zd: the timestamp must be an int of ns since the epoch, not %.80s",
				     i, Py_TYPE(t)->tp_name);
			return -1;
		}
		*ts = PyLong_AsUnsignedLongLong(t);
		if (*ts == (uint64_t)-1 && PyErr_Occurred()) {
			PyErr_Format(PyExc_ValueError,
				     "next_batch: item %zd: the timestamp %R is out of range (0 to 2**64-1 ns since the epoch)",
				     i, t);
			return -1;
		}
	}
	if (PyBytes_Check(payload)) {
		*data = PyBytes_AS_STRING(payload);
		*len = PyBytes_GET_SIZE(payload);
	} else if (PyByteArray_Check(payload)) {
		*data = PyByteArray_AS_STRING(payload);
		*len = PyByteArray_GET_SIZE(payload);
	} else {
		PyErr_Format(PyExc_TypeError, "next_batch: item %zd is %.80s, expected bytes or (bytes, int)", i,
			     Py_TYPE(payload)->tp_name);
		return -1;
	}
	if ((uint64_t)*len > UINT32_MAX - FPA_PLUGIN_EVENT_PAYLOAD_OFFSET) {
		PyErr_Format(PyExc_ValueError, "next_batch: item %zd: payload of %zd bytes is too large", i, *len);
		return -1;
	}
	return 0;
}

static int reserve_events(fp_instance *in, Py_ssize_t n)
{
	if (n > UINT32_MAX - 64) {
		PyErr_SetString(PyExc_ValueError, "next_batch: too many events in one batch");
		return -1;
	}
	if ((uint32_t)n <= in->evcap)
		return 0;
	uint32_t cap = (uint32_t)n + 64;
	ss_plugin_event **events = realloc(in->events, cap * sizeof *events);
	if (events)
		in->events = events;
	fp_item *items = realloc(in->items, cap * sizeof *items);
	if (items)
		in->items = items;
	if (!events || !items) {
		PyErr_NoMemory();
		return -1;
	}
	in->evcap = cap;
	return 0;
}

/* Room for total bytes of framed events in the instance's buffer. */
FP_UNUSED static int reserve_buffer(fp_instance *in, size_t total)
{
	if (total <= in->bufcap)
		return 0;
	size_t cap = total + total / 2 + 4096;
	uint8_t *buf = realloc(in->buf, cap);
	if (!buf) {
		PyErr_NoMemory();
		return -1;
	}
	in->buf = buf;
	in->bufcap = cap;
	return 0;
}

/* Frame every item of seq into the instance's buffers; returns the count or -1. The items
 * stay in in->batch (plugins that extract): batch fields get their payloads, and the Event of
 * a batch event hands out the payload object itself instead of a copy. A list is copied, so
 * that the items stay the ones framed whatever the plugin does to its list afterwards. */
FP_UNUSED static Py_ssize_t frame_batch(fp_instance *in, PyObject *seq)
{
	/* a dict or set would give its keys in some order, a bytes its ints: not a batch */
	if (PyDict_Check(seq) || PyAnySet_Check(seq) || PyBytes_Check(seq) || PyByteArray_Check(seq) ||
	    PyUnicode_Check(seq)) {
		PyErr_Format(PyExc_TypeError,
			     "next_batch must return a list of events (bytes or (bytes, ts) pairs), not %.80s",
			     Py_TYPE(seq)->tp_name);
		return -1;
	}
#if FPY_CAP_EXTRACTION
	PyObject *fast = PyList_CheckExact(seq) ? PyList_GetSlice(seq, 0, PyList_GET_SIZE(seq))
						: PySequence_Fast(seq, "next_batch must return a list of events");
#else
	PyObject *fast = PySequence_Fast(seq, "next_batch must return a list of events");
#endif
	if (!fast)
		return -1;
	Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
	PyObject **objs = PySequence_Fast_ITEMS(fast);
	if (reserve_events(in, n) < 0)
		goto fail;
	size_t total = 0;
	for (Py_ssize_t i = 0; i < n; i++) {
		fp_item *it = &in->items[i];
		if (batch_item(objs[i], i, &it->data, &it->len, &it->ts) < 0)
			goto fail;
		total += FPA_PLUGIN_EVENT_PAYLOAD_OFFSET + (size_t)it->len;
	}
	if (reserve_buffer(in, total) < 0)
		goto fail;
	uint8_t *p = in->buf;
	const uint32_t id_len = 4, plugin_id = FPY_PLUGIN_ID;
	for (Py_ssize_t i = 0; i < n; i++) {
		const fp_item *it = &in->items[i];
		ss_plugin_event *ev = (ss_plugin_event *)p;
		uint32_t data_len = (uint32_t)it->len;
		ev->ts = it->ts;
		ev->tid = UINT64_MAX;
		ev->len = FPA_PLUGIN_EVENT_PAYLOAD_OFFSET + data_len;
		ev->type = FPA_EVT_PLUGINEVENT;
		ev->nparams = 2;
		memcpy(p + 26, &id_len, 4);
		memcpy(p + 30, &data_len, 4);
		memcpy(p + 34, &plugin_id, 4);
		memcpy(p + FPA_PLUGIN_EVENT_PAYLOAD_OFFSET, it->data, (size_t)it->len);
		in->events[i] = ev;
		p += FPA_PLUGIN_EVENT_PAYLOAD_OFFSET + (size_t)it->len;
	}
	in->batch.start = in->buf;
	in->batch.end = p;
#if FPY_CAP_EXTRACTION
	in->batch.items = fast;
#else
	Py_DECREF(fast);
#endif
	return n;
fail:
	Py_DECREF(fast);
	return -1;
}

#if FPY_PLUGIN_ID == 0
/* Copy the whole events of seq (bytes from _runtime.syscall_events) into the buffers. */
static Py_ssize_t copy_batch(fp_instance *in, PyObject *seq)
{
	PyObject *list = fp_runtime_call("syscall_events", &seq, 1);
	if (!list)
		return -1;
	Py_ssize_t n = PyList_GET_SIZE(list);
	size_t total = 0;
	if (reserve_events(in, n) < 0)
		goto fail;
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *b = PyList_GET_ITEM(list, i);
		uint32_t len = 0;
		if (PyBytes_GET_SIZE(b) >= 26)
			memcpy(&len, PyBytes_AS_STRING(b) + 16, 4);
		if (PyBytes_GET_SIZE(b) < 26 || (Py_ssize_t)len != PyBytes_GET_SIZE(b)) {
			PyErr_Format(PyExc_ValueError,
				     "next_batch: item %zd of a syscall-source plugin: %zd bytes are not an event "
				     "(a 26-byte header whose len is the event's size)",
				     i, PyBytes_GET_SIZE(b));
			goto fail;
		}
		total += (size_t)len;
	}
	if (reserve_buffer(in, total) < 0)
		goto fail;
	uint8_t *p = in->buf;
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *b = PyList_GET_ITEM(list, i);
		memcpy(p, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b));
		in->events[i] = (ss_plugin_event *)p;
		p += PyBytes_GET_SIZE(b);
	}
	Py_DECREF(list);
	return n;
fail:
	Py_DECREF(list);
	return -1;
}
#endif

FP_EXPORT ss_plugin_rc plugin_next_batch(ss_plugin_t *st, ss_instance_t *h, uint32_t *nevts,
					 ss_plugin_event ***evts)
{
	fp_state *s = st;
	fp_instance *in = h;
	*nevts = 0;
	*evts = NULL;
	if (!s || !in) {
		if (s)
			fp_set_error(s, "next_batch: no open instance");
		return SS_PLUGIN_FAILURE;
	}
	uint64_t started = now_ns();
	ss_plugin_rc rc = SS_PLUGIN_SUCCESS;
	Py_ssize_t n = 0;
	fp_gil g = fp_enter();
	/* the last batch's events are gone: so are the values computed for them */
	Py_CLEAR(in->batch.items);
	Py_CLEAR(in->batch.payloads);
	in->batch.n = in->batch.hint = 0;
	in->batch.start = in->batch.end = NULL;
	in->batch.gen = ++s->batch_gen;
	in->batch.events = in->events;
	s->batch = &in->batch;
	PyObject *batch = PyObject_Vectorcall(in->next_batch, NULL, 0, NULL);
	if (!batch) {
		int eof = PyErr_ExceptionMatches(fp_exc_end_of_stream);
		if (eof || PyErr_ExceptionMatches(fp_exc_timeout)) {
			rc = eof ? SS_PLUGIN_EOF : SS_PLUGIN_TIMEOUT;
			PyObject *exc = fp_take_exception();
			batch = exc ? PyObject_GetAttrString(exc, "events") : NULL;
			if (!batch) /* a subclass that skipped super().__init__: report it on this call */
				rc = SS_PLUGIN_FAILURE;
			Py_XDECREF(exc);
		} else {
			rc = SS_PLUGIN_FAILURE;
		}
	}
	if (batch) {
#if FPY_PLUGIN_ID == 0
		n = copy_batch(in, batch);
#else
		n = frame_batch(in, batch);
#endif
		Py_DECREF(batch);
	}
	if (n < 0 || rc == SS_PLUGIN_FAILURE) {
		n = 0;
		rc = SS_PLUGIN_FAILURE;
		fp_set_error_from_python(s, "next_batch");
		Py_CLEAR(in->batch.items);
	}
	in->batch.n = (uint32_t)n;
	in->batch.events = in->events;
	fp_leave(g);
	*nevts = (uint32_t)n;
	*evts = in->events;
	if (rc == SS_PLUGIN_SUCCESS && n == 0)
		rc = SS_PLUGIN_TIMEOUT; /* SUCCESS with no events is an error for the host */
	if (rc == SS_PLUGIN_TIMEOUT && n == 0) {
		/* Falco calls again at once after a timeout: never let it spin. */
		uint64_t spent = now_ns() - started;
		if (spent < FPY_TIMEOUT_PAUSE_NS) {
			struct timespec pause = {0, (long)(FPY_TIMEOUT_PAUSE_NS - spent)};
			nanosleep(&pause, NULL);
		}
	}
	return rc;
}

FP_EXPORT const char *plugin_get_progress(ss_plugin_t *st, ss_instance_t *h, uint32_t *progress_pct)
{
	fp_state *s = st;
	fp_instance *in = h;
	*progress_pct = 0;
	if (!s || !in || !in->progress)
		return NULL;
	const char *result = NULL;
	fp_gil g = fp_enter();
	PyObject *res = PyObject_Vectorcall(in->progress, NULL, 0, NULL);
	double pct;
	PyObject *text;
	if (res && PyArg_ParseTuple(res, "dO;progress() must return (percent, text or None)", &pct, &text)) {
		if (isnan(pct))
			PyErr_SetString(PyExc_ValueError, "progress() returned NaN as the percentage");
		*progress_pct = !(pct > 0) ? 0 : pct >= 100 ? 10000 : (uint32_t)(pct * 100);
		if (text != Py_None) {
			const char *utf8 = PyUnicode_AsUTF8(text);
			char *copy = utf8 ? strdup(utf8) : NULL;
			if (copy) {
				free(in->progress_text);
				in->progress_text = copy;
				result = copy;
			}
		}
	}
	if (PyErr_Occurred())
		fp_set_error_from_python(s, "progress");
	Py_XDECREF(res);
	fp_leave(g);
	return result;
}

#if FPY_HAS_LIST_OPEN_PARAMS
FP_EXPORT const char *plugin_list_open_params(ss_plugin_t *st, ss_plugin_rc *rc)
{
	fp_state *s = st;
	*rc = SS_PLUGIN_FAILURE;
	if (!s || !s->plugin) {
		if (s)
			fp_set_error(s, "list_open_params: the plugin is not initialized");
		return "";
	}
	const char *result = "";
	fp_gil g = fp_enter();
	PyObject *res = fp_runtime_call("list_open_params", &s->plugin, 1);
	const char *kept = res ? fp_keep_text(s, res) : NULL;
	if (kept) {
		result = kept;
		*rc = SS_PLUGIN_SUCCESS;
	} else {
		fp_set_error_from_python(s, "list_open_params");
	}
	Py_XDECREF(res);
	fp_leave(g);
	return result;
}
#endif

#if FPY_HAS_EVENT_TO_STRING
FP_EXPORT const char *plugin_event_to_string(ss_plugin_t *st, const ss_plugin_event_input *evt)
{
	fp_state *s = st;
	if (!s || !s->plugin || !evt || !evt->evt)
		return "";
	const char *result = "";
	char report[FPA_MAX_ERRLEN] = "";
	fp_gil g = fp_enter();
	PyObject *event = fp_event_bind(&s->event, evt);
	PyObject *res = event ? PyObject_CallMethod(s->plugin, "event_to_string", "O", event) : NULL;
	const char *kept = res ? fp_keep_text(s, res) : NULL;
	if (kept) {
		result = kept;
	} else {
		/* The ABI has no error path here: show the failure where the text would be, and log
		 * it the first time. */
		fp_set_error_from_python(s, "event_to_string");
		if (!s->e2s_logged) {
			s->e2s_logged = 1;
			snprintf(report, sizeof report, "%.980s (logged once)", s->last_error);
		}
		PyObject *msg = PyUnicode_FromString(s->last_error);
		if (msg && (kept = fp_keep_text(s, msg)))
			result = kept;
		Py_XDECREF(msg);
		PyErr_Clear();
	}
	Py_XDECREF(res);
	fp_event_unbind(event);
	fp_leave(g);
	if (report[0] && s->log_fn) /* never call the host with the GIL held */
		s->log_fn(s->owner, NULL, report, SS_PLUGIN_LOG_SEV_ERROR);
	return result;
}
#endif

#endif /* FPY_CAP_SOURCING */
