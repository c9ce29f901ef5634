/*
 * Async events: set_async_event_handler / dump_state, and the AsyncHandler object Python
 * threads emit through.
 *
 * emit() checks the name against the baked ASYNC_EVENTS, frames a PPME_ASYNCEVENT_E event
 * (plugin-api.md §5.3) in a thread-local buffer, and calls the host's handler with the GIL
 * released: a host thread that holds a host lock while calling into the plugin must never
 * wait for a Python thread that waits for the GIL inside the host (embedding-cpython.md §2.2).
 * The host copies the event before returning, so the buffer is reused at once.
 */
#include "shim.h"

#if FPY_CAP_ASYNC

#include <stdlib.h>
#include <string.h>
#if PY_VERSION_HEX < 0x030C0000
#include <structmember.h> /* PyMemberDef; part of Python.h from 3.12 */
#endif

static const char *const async_names[] = FPY_ASYNC_NAMES;
#define NNAMES (sizeof async_names / sizeof async_names[0])

typedef struct {
	PyObject_HEAD
	ss_plugin_owner_t *owner;
	ss_plugin_async_event_handler_t handler; /* NULL once the host took it back */
} fp_handler;

static PyObject *str_name, *str_data, *str_ts, *str_tid;

/* falco_plugin.AsyncEvent and where its __slots__ live: an exact instance is read directly,
 * which saves four attribute lookups per event on the hot path. */
static PyTypeObject *event_class;
static Py_ssize_t off_name, off_data, off_ts, off_tid;

static Py_ssize_t slot_offset(PyObject *cls, const char *attr)
{
	PyObject *descr = PyObject_GetAttrString(cls, attr);
	Py_ssize_t off = -1;
	if (descr && Py_IS_TYPE(descr, &PyMemberDescr_Type))
		off = ((PyMemberDescrObject *)descr)->d_member->offset;
	Py_XDECREF(descr);
	PyErr_Clear();
	return off;
}

static void find_event_class(void)
{
	PyObject *module = PyImport_ImportModule("falco_plugin.async_event");
	PyObject *cls = module ? PyObject_GetAttrString(module, "AsyncEvent") : NULL;
	Py_XDECREF(module);
	if (cls && PyType_Check(cls)) {
		off_name = slot_offset(cls, "name");
		off_data = slot_offset(cls, "data");
		off_ts = slot_offset(cls, "ts");
		off_tid = slot_offset(cls, "tid");
		if (off_name > 0 && off_data > 0 && off_ts > 0 && off_tid > 0) {
			event_class = (PyTypeObject *)cls; /* kept for the life of the process */
			return;
		}
	}
	Py_XDECREF(cls);
	PyErr_Clear(); /* no fast path: attributes are looked up */
}

/* New references to the four attributes of an AsyncEvent (or anything that has them). */
static int event_fields(PyObject *event, PyObject **name, PyObject **data, PyObject **ts, PyObject **tid)
{
	if (Py_TYPE(event) == event_class) {
		char *base = (char *)event;
		*name = *(PyObject **)(base + off_name);
		*data = *(PyObject **)(base + off_data);
		*ts = *(PyObject **)(base + off_ts);
		*tid = *(PyObject **)(base + off_tid);
		if (*name && *data && *ts && *tid) {
			Py_INCREF(*name);
			Py_INCREF(*data);
			Py_INCREF(*ts);
			Py_INCREF(*tid);
			return 0;
		}
	}
	*name = PyObject_GetAttr(event, str_name);
	*data = *name ? PyObject_GetAttr(event, str_data) : NULL;
	*ts = *data ? PyObject_GetAttr(event, str_ts) : NULL;
	*tid = *ts ? PyObject_GetAttr(event, str_tid) : NULL;
	if (*tid)
		return 0;
	Py_CLEAR(*name);
	Py_CLEAR(*data);
	Py_CLEAR(*ts);
	return -1;
}

FP_EXPORT const char *plugin_get_async_events(void) { return FPY_ASYNC_EVENTS_JSON; }
FP_EXPORT const char *plugin_get_async_event_sources(void) { return FPY_ASYNC_SOURCES_JSON; }

/* A framed event in a thread-local buffer. */
static __thread uint8_t *tl_buf;
static __thread size_t tl_cap;

static uint8_t *tl_reserve(size_t bytes)
{
	if (bytes > tl_cap) {
		size_t cap = bytes + 256;
		uint8_t *buf = realloc(tl_buf, cap);
		if (!buf) {
			PyErr_NoMemory();
			return NULL;
		}
		tl_buf = buf;
		tl_cap = cap;
	}
	return tl_buf;
}

static int optional_u64(PyObject *v, uint64_t *out)
{
	*out = UINT64_MAX; /* "now" for ts, "no thread" for tid */
	if (v == Py_None)
		return 0;
	*out = PyLong_AsUnsignedLongLong(v);
	return *out == UINT64_MAX && PyErr_Occurred() ? -1 : 0;
}

/* Append the framed form of event at offset *used of the thread-local buffer. */
static int frame_event(PyObject *event, size_t *used)
{
	PyObject *name, *data, *ts_obj, *tid_obj;
	if (event_fields(event, &name, &data, &ts_obj, &tid_obj) < 0)
		return -1;
	uint64_t ts, tid;
	int rc = -1;
	Py_buffer view = {0};
	const char *bytes;
	Py_ssize_t nbytes, name_len;
	if (optional_u64(ts_obj, &ts) < 0 || optional_u64(tid_obj, &tid) < 0)
		goto out;
	const char *cname = PyUnicode_Check(name) ? PyUnicode_AsUTF8AndSize(name, &name_len) : NULL;
	if (!cname) {
		if (!PyErr_Occurred())
			PyErr_Format(PyExc_TypeError, "AsyncEvent.name must be a str, not %.80s", Py_TYPE(name)->tp_name);
		goto out;
	}
	size_t i = 0;
	while (i < NNAMES && strcmp(async_names[i], cname) != 0)
		i++;
	if (i == NNAMES || strlen(cname) != (size_t)name_len) {
		PyErr_Format(PyExc_ValueError, "async event %R is not declared in %s.ASYNC_EVENTS %s", name,
			     FPY_ENTRY_CLASS, FPY_ASYNC_EVENTS_JSON);
		goto out;
	}
	if (PyBytes_CheckExact(data)) {
		bytes = PyBytes_AS_STRING(data);
		nbytes = PyBytes_GET_SIZE(data);
	} else if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) == 0) {
		bytes = view.buf;
		nbytes = view.len;
	} else {
		goto out;
	}
	size_t len = 42 + (size_t)name_len + 1 + (size_t)nbytes;
	if (len > UINT32_MAX) {
		PyErr_SetString(PyExc_ValueError, "async event too large");
		goto out;
	}
	uint8_t *p = tl_reserve(*used + len);
	if (!p)
		goto out;
	p += *used;
	ss_plugin_event *ev = (ss_plugin_event *)p;
	ev->ts = ts;
	ev->tid = tid;
	ev->len = (uint32_t)len;
	ev->type = FPA_EVT_ASYNCEVENT;
	ev->nparams = 3;
	uint32_t lens[3] = {4, (uint32_t)name_len + 1, (uint32_t)nbytes}, plugin_id = 0;
	memcpy(p + 26, lens, sizeof lens);
	memcpy(p + 38, &plugin_id, 4); /* the host writes the source's plugin id here */
	memcpy(p + 42, cname, (size_t)name_len + 1);
	memcpy(p + 42 + name_len + 1, bytes, (size_t)nbytes);
	*used += len;
	rc = 0;
out:
	if (view.obj)
		PyBuffer_Release(&view);
	Py_DECREF(name);
	Py_DECREF(data);
	Py_DECREF(ts_obj);
	Py_DECREF(tid_obj);
	return rc;
}

/* Hand the framed events in tl_buf[0..used) to the host, with the GIL released. */
static PyObject *send_framed(fp_handler *h, size_t used)
{
	ss_plugin_async_event_handler_t handler = h->handler;
	ss_plugin_owner_t *owner = h->owner;
	char err[FPA_MAX_ERRLEN] = "";
	ss_plugin_rc rc = SS_PLUGIN_SUCCESS;
	const char *failed = NULL;
	Py_BEGIN_ALLOW_THREADS
	for (size_t off = 0; off < used && rc == SS_PLUGIN_SUCCESS;) {
		const ss_plugin_event *ev = (const ss_plugin_event *)(tl_buf + off);
		rc = handler(owner, ev, err);
		if (rc != SS_PLUGIN_SUCCESS)
			failed = (const char *)ev + 42;
		off += ev->len;
	}
	Py_END_ALLOW_THREADS
	if (rc != SS_PLUGIN_SUCCESS) {
		err[sizeof err - 1] = '\0';
		PyErr_Format(PyExc_RuntimeError, "the host rejected async event '%s': %s", failed,
			     err[0] ? err : "no reason given");
		return NULL;
	}
	Py_RETURN_NONE;
}

static int handler_live(fp_handler *h)
{
	if (h->handler)
		return 1;
	PyErr_SetString(PyExc_RuntimeError,
			"the async event handler was taken back by the host (capture stopped): stop emitting "
			"in stop_async()");
	return 0;
}

static PyObject *handler_emit(PyObject *self, PyObject *event)
{
	fp_handler *h = (fp_handler *)self;
	size_t used = 0;
	if (!handler_live(h) || frame_event(event, &used) < 0)
		return NULL;
	return send_framed(h, used);
}

static PyObject *handler_emit_many(PyObject *self, PyObject *events)
{
	fp_handler *h = (fp_handler *)self;
	if (!handler_live(h))
		return NULL;
	PyObject *fast = PySequence_Fast(events, "emit_many takes an iterable of AsyncEvent");
	if (!fast)
		return NULL;
	size_t used = 0;
	for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(fast); i++) {
		if (frame_event(PySequence_Fast_GET_ITEM(fast, i), &used) < 0) {
			Py_DECREF(fast);
			return NULL;
		}
	}
	Py_DECREF(fast);
	return used ? send_framed(h, used) : Py_NewRef(Py_None);
}

static PyMethodDef handler_methods[] = {
	{"emit", handler_emit, METH_O, "emit(event): send one AsyncEvent to the host"},
	{"emit_many", handler_emit_many, METH_O, "emit_many(events): send several, one crossing into C"},
	{NULL, NULL, 0, NULL},
};

static PyTypeObject handler_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "falco_plugin_shim.AsyncHandler",
	.tp_basicsize = sizeof(fp_handler),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "The host's async event handler; emit() from any thread.",
	.tp_methods = handler_methods,
};

static PyObject *handler_new(ss_plugin_owner_t *owner, ss_plugin_async_event_handler_t handler)
{
	if (!str_name) {
		if (PyType_Ready(&handler_type) < 0 || !(str_name = PyUnicode_InternFromString("name")) ||
		    !(str_data = PyUnicode_InternFromString("data")) || !(str_ts = PyUnicode_InternFromString("ts")) ||
		    !(str_tid = PyUnicode_InternFromString("tid")))
			return NULL;
		find_event_class();
	}
	fp_handler *h = PyObject_New(fp_handler, &handler_type);
	if (h) {
		h->owner = owner;
		h->handler = handler;
	}
	return (PyObject *)h;
}

/* Take the handler back from Python: emit() raises from now on. Needs the GIL. */
static void handler_revoke(PyObject *h)
{
	if (h)
		((fp_handler *)h)->handler = NULL;
}

/* stop_async() and revoke; returns -1 with a Python exception if stop_async raised. */
static int stop_async(fp_state *s)
{
	if (!s->async_handler)
		return 0;
	PyObject *res = PyObject_CallMethod(s->plugin, "stop_async", NULL);
	handler_revoke(s->async_handler);
	Py_CLEAR(s->async_handler);
	Py_XDECREF(res);
	return res ? 0 : -1;
}

int fp_async_destroy(fp_state *s)
{
	if (stop_async(s) == 0)
		return 0;
	fp_set_error_from_python(s, "stop_async at destroy");
	return -1;
}

FP_EXPORT ss_plugin_rc plugin_set_async_event_handler(ss_plugin_t *st, ss_plugin_owner_t *owner,
						      const ss_plugin_async_event_handler_t handler)
{
	fp_state *s = st;
	if (!s || !s->plugin) {
		if (s)
			fp_set_error(s, "set_async_event_handler: the plugin is not initialized");
		return SS_PLUGIN_FAILURE;
	}
	ss_plugin_rc rc = SS_PLUGIN_SUCCESS;
	fp_gil g = fp_enter();
	if (stop_async(s) < 0) { /* a reset, or a new handler without one (not what libsinsp does) */
		fp_set_error_from_python(s, "stop_async");
		rc = SS_PLUGIN_FAILURE;
	}
	if (handler && rc == SS_PLUGIN_SUCCESS) {
		s->async_handler = handler_new(owner, handler);
		PyObject *res = s->async_handler ? PyObject_CallMethod(s->plugin, "start_async", "O", s->async_handler)
						 : NULL;
		if (!res) {
			fp_set_error_from_python(s, "start_async");
			handler_revoke(s->async_handler);
			Py_CLEAR(s->async_handler);
			rc = SS_PLUGIN_FAILURE;
		}
		Py_XDECREF(res);
	}
	fp_leave(g);
	return rc;
}

#if FPY_HAS_DUMP_STATE
FP_EXPORT ss_plugin_rc plugin_dump_state(ss_plugin_t *st, ss_plugin_owner_t *owner,
					 const ss_plugin_async_event_handler_t handler)
{
	fp_state *s = st;
	if (!s || !s->plugin || !handler)
		return SS_PLUGIN_FAILURE;
	ss_plugin_rc rc = SS_PLUGIN_SUCCESS;
	fp_gil g = fp_enter();
	PyObject *h = handler_new(owner, handler);
	PyObject *res = h ? PyObject_CallMethod(s->plugin, "dump_state", "O", h) : NULL;
	if (!res) {
		fp_set_error_from_python(s, "dump_state");
		rc = SS_PLUGIN_FAILURE;
	}
	handler_revoke(h); /* valid only during the call */
	Py_XDECREF(h);
	Py_XDECREF(res);
	fp_leave(g);
	return rc;
}
#endif

#endif /* FPY_CAP_ASYNC */
