/*
 * The Event object Python code receives (event_to_string, field extraction, parsing).
 *
 * It wraps the host's event for the duration of one call: header fields are copied in,
 * the payload and raw bytes are copied out only when Python asks for them, and after the
 * call the host memory is never touched again. One object per state is reused while the
 * host keeps asking about the same event (same evtnum), so whatever Python caches on it
 * (attributes, the decoded payload) is shared by every field of that event.
 */
#include "shim.h"

#include <structmember.h>

#include <string.h>

/* Results of @per_event methods for the current event, looked up by the memo object. */
#define FP_MEMO_SLOTS 8

typedef struct {
	PyObject_HEAD
	const ss_plugin_event *evt; /* host memory: valid during the current call only */
	const char *source;         /* likewise */
	uint64_t evtnum, ts, tid;
	uint32_t len;
	uint16_t type;
	PyObject *payload, *raw, *source_str, *dict;
	PyObject *memo_key[FP_MEMO_SLOTS], *memo_value[FP_MEMO_SLOTS];
	int nmemo;
} fp_event;

static void event_reset(fp_event *e)
{
	for (int i = 0; i < e->nmemo; i++) {
		Py_CLEAR(e->memo_key[i]);
		Py_CLEAR(e->memo_value[i]);
	}
	e->nmemo = 0;
	Py_CLEAR(e->payload);
	Py_CLEAR(e->raw);
	Py_CLEAR(e->source_str);
	Py_CLEAR(e->dict);
}

static void event_dealloc(PyObject *self)
{
	event_reset((fp_event *)self);
	Py_TYPE(self)->tp_free(self);
}

static int event_gone(fp_event *e)
{
	if (e->evt)
		return 0;
	PyErr_SetString(PyExc_RuntimeError,
			"the event's data is only available during the call that received it "
			"(copy event.payload or event.raw inside the call to keep it)");
	return 1;
}

static PyObject *event_payload(PyObject *self, void *closure)
{
	(void)closure;
	fp_event *e = (fp_event *)self;
	if (e->payload)
		return Py_NewRef(e->payload);
	if (e->type != FPA_EVT_PLUGINEVENT && e->type != FPA_EVT_ASYNCEVENT)
		Py_RETURN_NONE;
	if (event_gone(e))
		return NULL;
	const uint8_t *p = (const uint8_t *)e->evt;
	uint32_t nparams = e->type == FPA_EVT_PLUGINEVENT ? 2 : 3, lens[3] = {0, 0, 0};
	uint64_t start = 26 + 4 * (uint64_t)nparams, total = start;
	if (e->len >= start && e->evt->nparams == nparams) {
		memcpy(lens, p + 26, 4 * nparams);
		total += (uint64_t)lens[0] + lens[1] + lens[2];
	}
	if (e->len < start || e->evt->nparams != nparams || total > e->len) {
		PyErr_Format(PyExc_ValueError, "malformed %s event #%llu (len %u, nparams %u)",
			     e->type == FPA_EVT_PLUGINEVENT ? "plugin" : "async", (unsigned long long)e->evtnum,
			     e->len, e->evt->nparams);
		return NULL;
	}
	/* the data is the last parameter: after the plugin id (and the async event's name) */
	uint32_t datalen = lens[nparams - 1];
	e->payload = PyBytes_FromStringAndSize((const char *)p + total - datalen, datalen);
	return Py_XNewRef(e->payload);
}

static PyObject *event_async_name(PyObject *self, void *closure)
{
	(void)closure;
	fp_event *e = (fp_event *)self;
	if (e->type != FPA_EVT_ASYNCEVENT)
		Py_RETURN_NONE;
	if (event_gone(e))
		return NULL;
	const char *name = (const char *)e->evt + 42;
	uint32_t namelen;
	if (e->len < 42 || e->evt->nparams != 3 || (memcpy(&namelen, (const uint8_t *)e->evt + 30, 4), namelen == 0) ||
	    42 + (uint64_t)namelen > e->len || name[namelen - 1] != '\0') {
		PyErr_Format(PyExc_ValueError, "malformed async event #%llu", (unsigned long long)e->evtnum);
		return NULL;
	}
	return PyUnicode_DecodeUTF8(name, namelen - 1, "replace");
}

static PyObject *event_raw(PyObject *self, void *closure)
{
	(void)closure;
	fp_event *e = (fp_event *)self;
	if (!e->raw) {
		if (event_gone(e))
			return NULL;
		e->raw = PyBytes_FromStringAndSize((const char *)e->evt, e->len);
	}
	return Py_XNewRef(e->raw);
}

static PyObject *event_source(PyObject *self, void *closure)
{
	(void)closure;
	fp_event *e = (fp_event *)self;
	if (!e->source_str) {
		if (event_gone(e))
			return NULL;
		e->source_str = PyUnicode_FromString(e->source ? e->source : "");
	}
	return Py_XNewRef(e->source_str);
}

static PyObject *event_plugin_id(PyObject *self, void *closure)
{
	(void)closure;
	fp_event *e = (fp_event *)self;
	if (e->type != FPA_EVT_PLUGINEVENT && e->type != FPA_EVT_ASYNCEVENT)
		Py_RETURN_NONE;
	if (event_gone(e))
		return NULL;
	uint32_t id;
	if (e->len < FPA_PLUGIN_EVENT_PAYLOAD_OFFSET + 4u * (e->type == FPA_EVT_ASYNCEVENT))
		Py_RETURN_NONE;
	memcpy(&id, (const uint8_t *)e->evt + (e->type == FPA_EVT_PLUGINEVENT ? 34 : 38), 4);
	return PyLong_FromUnsignedLong(id);
}

#define U64_GETTER(field)                                                        \
	static PyObject *event_get_##field(PyObject *self, void *closure)         \
	{                                                                         \
		(void)closure;                                                    \
		return PyLong_FromUnsignedLongLong(((fp_event *)self)->field);    \
	}
U64_GETTER(evtnum)
U64_GETTER(ts)
U64_GETTER(tid)
U64_GETTER(type)

static PyObject *event_repr(PyObject *self)
{
	fp_event *e = (fp_event *)self;
	return PyUnicode_FromFormat("<Event #%llu type=%u ts=%llu len=%u>", (unsigned long long)e->evtnum,
				    (unsigned)e->type, (unsigned long long)e->ts, (unsigned)e->len);
}

static PyGetSetDef event_getset[] = {
	{"evtnum", event_get_evtnum, NULL, "the host's event number", NULL},
	{"ts", event_get_ts, NULL, "timestamp, ns since the epoch", NULL},
	{"tid", event_get_tid, NULL, "thread id (2**64-1: none)", NULL},
	{"type", event_get_type, NULL, "event type code (322: plugin event)", NULL},
	{"source", event_source, NULL, "the event source name", NULL},
	{"plugin_id", event_plugin_id, NULL, "plugin id of a plugin event, else None", NULL},
	{"payload", event_payload, NULL, "the data of a plugin or async event (bytes), else None", NULL},
	{"async_name", event_async_name, NULL, "the name of an async event, else None", NULL},
	{"raw", event_raw, NULL, "the whole event, header included (bytes)", NULL},
	{"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, "per-event cache", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject event_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "falco_plugin.Event",
	.tp_basicsize = sizeof(fp_event),
	.tp_dealloc = event_dealloc,
	.tp_repr = event_repr,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A host event, valid during the call that received it. Attributes set on it "
		  "live as long as the host works on the same event.",
	.tp_getset = event_getset,
	.tp_dictoffset = offsetof(fp_event, dict),
};

static PyObject *bind(PyObject **slot, const ss_plugin_event_input *in, PyObject *payload);

PyObject *fp_event_bind(PyObject **slot, const ss_plugin_event_input *in)
{
	return fp_event_bind_payload(slot, in, NULL);
}

PyObject *fp_event_bind_payload(PyObject **slot, const ss_plugin_event_input *in, PyObject *payload)
{
	/* held across the reset below, which can run Python code (__del__ of cached values) */
	Py_XINCREF(payload);
	PyObject *event = bind(slot, in, payload);
	Py_XDECREF(payload);
	return event;
}

static PyObject *bind(PyObject **slot, const ss_plugin_event_input *in, PyObject *payload)
{
	fp_event *e = (fp_event *)*slot;
	if (e && e->evtnum == in->evtnum && e->ts == in->evt->ts && e->type == in->evt->type) {
		e->evt = in->evt; /* the same event again: keep what Python cached */
		e->source = in->evtsrc;
		if (!e->payload && payload)
			e->payload = Py_NewRef(payload);
		return *slot;
	}
	if (e && Py_REFCNT(e) == 1) {
		event_reset(e);
	} else {
		if (!(event_type.tp_flags & Py_TPFLAGS_READY) && PyType_Ready(&event_type) < 0)
			return NULL;
		Py_XDECREF(e); /* Python kept the old one: leave it alone */
		*slot = NULL;
		e = PyObject_New(fp_event, &event_type);
		if (!e)
			return NULL;
		e->payload = e->raw = e->source_str = e->dict = NULL;
		e->nmemo = 0;
		*slot = (PyObject *)e;
	}
	e->evt = in->evt;
	e->source = in->evtsrc;
	e->evtnum = in->evtnum;
	e->ts = in->evt->ts;
	e->tid = in->evt->tid;
	e->len = in->evt->len;
	e->type = in->evt->type;
	e->payload = Py_XNewRef(payload);
	return *slot;
}

void fp_event_unbind(PyObject *event)
{
	if (event) {
		((fp_event *)event)->evt = NULL;
		((fp_event *)event)->source = NULL;
	}
}

/*
 * per_event: the C form of falco_plugin.per_event, used inside the shim (the Python one
 * is the reference and runs everywhere else). Falco asks one field per call, so a payload
 * decode shared by the fields of an event is looked up on every call: here a hit is a
 * pointer compare in the Event instead of a Python frame and a dict lookup. For any other
 * object than the shim's Event (e.g. a typed event), it caches in obj.__dict__ as the
 * Python form does.
 */
typedef struct {
	PyObject_HEAD
	PyObject *func, *name, *key, *dict; /* key: "__per_event_<name>", for __dict__ caching */
	vectorcallfunc vectorcall;
} fp_memo;

static PyObject *memo_store_in_dict(fp_memo *m, PyObject *self, PyObject *event)
{
	PyObject *cache = PyObject_GetAttrString(event, "__dict__");
	if (!cache)
		return NULL;
	PyObject *value = PyDict_GetItemWithError(cache, m->key);
	if (value) {
		Py_INCREF(value);
	} else if (!PyErr_Occurred()) {
		PyObject *args[2] = {self, event};
		value = PyObject_Vectorcall(m->func, args, 2, NULL);
		if (value && PyDict_SetItem(cache, m->key, value) < 0)
			Py_CLEAR(value);
	}
	Py_DECREF(cache);
	return value;
}

static PyObject *memo_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
	fp_memo *m = (fp_memo *)callable;
	if (PyVectorcall_NARGS(nargsf) != 2 || (kwnames && PyTuple_GET_SIZE(kwnames))) {
		PyErr_Format(PyExc_TypeError, "%S() is a @per_event method: call it as self.%S(event)", m->name, m->name);
		return NULL;
	}
	if (Py_TYPE(args[1]) != &event_type)
		return memo_store_in_dict(m, args[0], args[1]);
	fp_event *e = (fp_event *)args[1];
	for (int i = 0; i < e->nmemo; i++)
		if (e->memo_key[i] == callable)
			return Py_NewRef(e->memo_value[i]);
	PyObject *value = PyObject_Vectorcall(m->func, args, 2, NULL);
	if (!value)
		return NULL;
	if (e->nmemo == FP_MEMO_SLOTS) /* more memoized methods than slots: the rest go by dict */
		return value;
	e->memo_key[e->nmemo] = Py_NewRef(callable);
	e->memo_value[e->nmemo++] = Py_NewRef(value);
	return value;
}

static PyObject *memo_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
	PyObject *func;
	if (kwds && PyDict_GET_SIZE(kwds)) {
		PyErr_SetString(PyExc_TypeError, "per_event() takes no keyword arguments");
		return NULL;
	}
	if (!PyArg_UnpackTuple(args, "per_event", 1, 1, &func))
		return NULL;
	if (!PyCallable_Check(func)) {
		PyErr_SetString(PyExc_TypeError, "per_event() needs a method");
		return NULL;
	}
	PyObject *name = PyObject_GetAttrString(func, "__name__");
	if (!name)
		return NULL;
	PyObject *key = PyUnicode_FromFormat("__per_event_%S", name);
	fp_memo *m = key ? (fp_memo *)type->tp_alloc(type, 0) : NULL;
	if (!m) {
		Py_DECREF(name);
		Py_XDECREF(key);
		return NULL;
	}
	m->func = Py_NewRef(func);
	m->name = name;
	m->key = key;
	m->vectorcall = memo_vectorcall;
	return (PyObject *)m;
}

static void memo_dealloc(PyObject *self)
{
	fp_memo *m = (fp_memo *)self;
	PyObject_GC_UnTrack(self);
	Py_CLEAR(m->func);
	Py_CLEAR(m->name);
	Py_CLEAR(m->key);
	Py_CLEAR(m->dict);
	Py_TYPE(self)->tp_free(self);
}

static int memo_traverse(PyObject *self, visitproc visit, void *arg)
{
	fp_memo *m = (fp_memo *)self;
	Py_VISIT(m->func);
	Py_VISIT(m->dict);
	return 0;
}

static PyObject *memo_get(PyObject *self, PyObject *obj, PyObject *type)
{
	(void)type;
	if (!obj || obj == Py_None)
		return Py_NewRef(self);
	return PyMethod_New(self, obj);
}

static PyMemberDef memo_members[] = {
	{"__vectorcalloffset__", T_PYSSIZET, offsetof(fp_memo, vectorcall), READONLY, NULL},
	{NULL, 0, 0, 0, NULL},
};

static PyGetSetDef memo_getset[] = {
	{"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject memo_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "falco_plugin.per_event",
	.tp_basicsize = sizeof(fp_memo),
	.tp_dealloc = memo_dealloc,
	.tp_call = PyVectorcall_Call,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_METHOD_DESCRIPTOR |
		    Py_TPFLAGS_HAVE_VECTORCALL,
	.tp_doc = "Memoize method(self, event) for the event being handled.",
	.tp_traverse = memo_traverse,
	.tp_members = memo_members,
	.tp_getset = memo_getset,
	.tp_descr_get = memo_get,
	.tp_dictoffset = offsetof(fp_memo, dict),
	.tp_vectorcall_offset = offsetof(fp_memo, vectorcall),
	.tp_new = memo_new,
};

int fp_event_register(PyObject *module)
{
	if (PyType_Ready(&event_type) < 0 || PyType_Ready(&memo_type) < 0)
		return -1;
	int rc = PyModule_AddObjectRef(module, "per_event", (PyObject *)&memo_type);
	return rc == 0 ? PyModule_AddObjectRef(module, "Event", (PyObject *)&event_type) : rc;
}
