/*
 * Async events: the AsyncEvent type in C, set_async_event_handler / dump_state, and the
 * AsyncHandler object Python threads emit through.
 *
 * emit() checks the name against the baked ASYNC_EVENTS, frames a PPME_ASYNCEVENT_E event
 * (plugin-api-facts.md, Async events) in a local or thread-local buffer, and calls the host's handler with
 * the GIL released: a host thread that holds a host lock while calling into the plugin must
 * never wait for a Python thread that waits for the GIL inside the host
 * (plugin-api-facts.md, Embedding CPython). The host copies the event before returning, so the buffer is
 * reused at once.
 */
#include "shim.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FP_STR_(x) #x
#define FP_STR(x) FP_STR_(x)

/* --- AsyncEvent in C (every plugin) -------------------------------------------------- *
 *
 * falco_plugin.AsyncEvent, implemented in C: a constructor call costs ~20 ns instead of
 * ~120 ns for the Python class, and emit() reads the checked fields straight from the
 * struct. It is falco_plugin._shim.AsyncEvent (registered before the plugin's module is
 * imported, event.c); falco_plugin.async_event takes it in place of the pure-Python class,
 * which it keeps as PyAsyncEvent and uses outside a plugin. Both check the same things when
 * a value is set, and share repr() and to_bytes() (Python helpers). When several SDK
 * plugins share the interpreter, falco_plugin was imported with the first one's class, which
 * the others read directly too (same layout, see FP_ASYNC_EVENT_ABI).
 *
 * The fields only ever hold an exact str, an exact bytes, and None or an exact int, so an
 * instance cannot be part of a reference cycle and the type needs no GC support.
 */

#define FP_ASYNC_EVENT_ABI 1 /* bump when fp_async_event changes: another .so's type is read directly only if equal */

typedef struct {
	PyObject_HEAD
	PyObject *name;       /* exact str */
	PyObject *data;       /* exact bytes */
	PyObject *ts, *tid;   /* None or an exact int in [0, 2**64) */
	uint64_t ts_v, tid_v; /* their values; UINT64_MAX for None ("now", "no thread") */
} fp_async_event;

static PyTypeObject ae_type;

/* Freed exact instances kept for reuse (needs the GIL): a tight emit loop builds and drops
 * one per event, and this skips the allocator both ways. */
#define AE_FREELIST_MAX 64
static fp_async_event *ae_freelist[AE_FREELIST_MAX];
static int ae_nfree;

static PyObject *kw_name, *kw_data, *kw_ts, *kw_tid;
static PyObject *py_helpers; /* falco_plugin.async_event, for _repr and _to_bytes */

static PyObject *check_name(PyObject *v) /* new reference, or NULL */
{
	if (PyUnicode_CheckExact(v))
		return Py_NewRef(v);
	if (PyUnicode_Check(v))
		return PyUnicode_FromObject(v); /* an exact copy of a subclass */
	PyErr_Format(PyExc_TypeError, "AsyncEvent.name must be a str, not %.100s", Py_TYPE(v)->tp_name);
	return NULL;
}

static PyObject *check_data(PyObject *v)
{
	if (PyBytes_CheckExact(v))
		return Py_NewRef(v);
	if (PyObject_CheckBuffer(v))
		return PyBytes_FromObject(v); /* a copy, contiguous */
	PyErr_Format(PyExc_TypeError, "AsyncEvent.data must be bytes-like, not %.100s", Py_TYPE(v)->tp_name);
	return NULL;
}

static PyObject *check_u64(const char *attr, PyObject *v, uint64_t *value)
{
	*value = UINT64_MAX;
	if (v == Py_None)
		return Py_NewRef(v);
	PyObject *n;
	if (PyLong_CheckExact(v))
		n = Py_NewRef(v);
	else if (PyIndex_Check(v))
		n = PyNumber_Index(v); /* an exact int */
	else {
		PyErr_Format(PyExc_TypeError, "AsyncEvent.%s must be None or an int, not %.100s", attr,
			     Py_TYPE(v)->tp_name);
		return NULL;
	}
	if (!n)
		return NULL;
	*value = PyLong_AsUnsignedLongLong(n);
	if (*value == UINT64_MAX && PyErr_Occurred()) {
		if (!PyErr_ExceptionMatches(PyExc_OverflowError)) {
			Py_DECREF(n);
			return NULL;
		}
		PyErr_Clear();
		PyErr_Format(PyExc_ValueError, "AsyncEvent.%s must be None or an int in [0, 2**64), not %R", attr, n);
		Py_DECREF(n);
		return NULL;
	}
	return n;
}

/* Set the fields from args[0..3] (name required; NULL: the default). -1 with an exception. */
static int ae_fill(fp_async_event *e, PyObject *const *args)
{
	uint64_t ts, tid;
	PyObject *name = check_name(args[0]);
	PyObject *data = name ? (args[1] ? check_data(args[1]) : PyBytes_FromStringAndSize(NULL, 0)) : NULL;
	PyObject *ts_obj = data ? check_u64("ts", args[2] ? args[2] : Py_None, &ts) : NULL;
	PyObject *tid_obj = ts_obj ? check_u64("tid", args[3] ? args[3] : Py_None, &tid) : NULL;
	if (!tid_obj) {
		Py_XDECREF(name);
		Py_XDECREF(data);
		Py_XDECREF(ts_obj);
		return -1;
	}
	Py_XSETREF(e->name, name);
	Py_XSETREF(e->data, data);
	Py_XSETREF(e->ts, ts_obj);
	Py_XSETREF(e->tid, tid_obj);
	e->ts_v = ts;
	e->tid_v = tid;
	return 0;
}

static int kw_index(PyObject *key)
{
	PyObject *const kws[4] = {kw_name, kw_data, kw_ts, kw_tid};
	for (int i = 0; i < 4; i++)
		if (key == kws[i])
			return i;
	for (int i = 0; i < 4; i++)
		if (PyUnicode_Check(key) && PyUnicode_Compare(key, kws[i]) == 0)
			return i;
	return -1;
}

/* AsyncEvent(name, data=b"", ts=None, tid=None), without an args tuple. */
static PyObject *ae_vectorcall(PyObject *type, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
	Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
	if (nargs == 2 && !kwnames && type == (PyObject *)&ae_type && ae_nfree > 0 && PyUnicode_CheckExact(args[0]) &&
	    PyBytes_CheckExact(args[1])) {
		/* the common AsyncEvent(name, payload), inline */
		fp_async_event *e = (fp_async_event *)PyObject_Init((PyObject *)ae_freelist[--ae_nfree], &ae_type);
		e->name = Py_NewRef(args[0]);
		e->data = Py_NewRef(args[1]);
		e->ts = Py_NewRef(Py_None);
		e->tid = Py_NewRef(Py_None);
		e->ts_v = e->tid_v = UINT64_MAX;
		return (PyObject *)e;
	}
	PyObject *v[4] = {NULL, NULL, NULL, NULL};
	if (nargs > 4) {
		PyErr_Format(PyExc_TypeError, "AsyncEvent() takes from 1 to 4 positional arguments but %zd were given",
			     nargs);
		return NULL;
	}
	for (Py_ssize_t i = 0; i < nargs; i++)
		v[i] = args[i];
	for (Py_ssize_t j = 0; kwnames && j < PyTuple_GET_SIZE(kwnames); j++) {
		PyObject *key = PyTuple_GET_ITEM(kwnames, j);
		int i = kw_index(key);
		if (i < 0) {
			PyErr_Format(PyExc_TypeError, "AsyncEvent() got an unexpected keyword argument '%S'", key);
			return NULL;
		}
		if (v[i]) {
			PyErr_Format(PyExc_TypeError, "AsyncEvent() got multiple values for argument '%S'", key);
			return NULL;
		}
		v[i] = args[nargs + j];
	}
	if (!v[0]) {
		PyErr_SetString(PyExc_TypeError, "AsyncEvent() missing required argument 'name'");
		return NULL;
	}
	PyTypeObject *tp = (PyTypeObject *)type;
	fp_async_event *e;
	if (tp != &ae_type)
		e = (fp_async_event *)tp->tp_alloc(tp, 0);
	else if (ae_nfree > 0)
		e = (fp_async_event *)PyObject_Init((PyObject *)ae_freelist[--ae_nfree], &ae_type);
	else
		e = PyObject_New(fp_async_event, &ae_type);
	if (!e)
		return NULL;
	e->name = e->data = e->ts = e->tid = NULL;
	if (ae_fill(e, v) < 0) {
		Py_DECREF(e);
		return NULL;
	}
	return (PyObject *)e;
}

/* tp_new and tp_init, for subclasses (type_call): __new__ gives the defaults whatever the
 * arguments, so that a subclass's own __init__ signature works; __init__ sets the fields. */
static PyObject *ae_new(PyTypeObject *tp, PyObject *args, PyObject *kwds)
{
	(void)args;
	(void)kwds;
	fp_async_event *e = (fp_async_event *)tp->tp_alloc(tp, 0);
	if (!e)
		return NULL;
	e->name = PyUnicode_New(0, 0);
	e->data = PyBytes_FromStringAndSize(NULL, 0);
	e->ts = Py_NewRef(Py_None);
	e->tid = Py_NewRef(Py_None);
	e->ts_v = e->tid_v = UINT64_MAX;
	if (!e->name || !e->data)
		Py_CLEAR(e);
	return (PyObject *)e;
}

static int ae_init(PyObject *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = {"name", "data", "ts", "tid", NULL};
	PyObject *v[4] = {NULL, NULL, NULL, NULL};
	if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|OOO:AsyncEvent", kwlist, &v[0], &v[1], &v[2], &v[3]))
		return -1;
	return ae_fill((fp_async_event *)self, v);
}

static void ae_dealloc(PyObject *self)
{
	fp_async_event *e = (fp_async_event *)self;
	Py_XDECREF(e->name);
	Py_XDECREF(e->data);
	Py_XDECREF(e->ts);
	Py_XDECREF(e->tid);
	if (Py_IS_TYPE(self, &ae_type) && ae_nfree < AE_FREELIST_MAX)
		ae_freelist[ae_nfree++] = e;
	else
		Py_TYPE(self)->tp_free(self);
}

static PyObject *ae_get(PyObject *self, void *closure)
{
	PyObject *v = *(PyObject **)((char *)self + (size_t)closure);
	return Py_NewRef(v);
}

static int ae_set(PyObject *self, PyObject *value, void *closure)
{
	fp_async_event *e = (fp_async_event *)self;
	size_t off = (size_t)closure;
	if (!value) {
		PyErr_SetString(PyExc_AttributeError, "AsyncEvent attributes cannot be deleted");
		return -1;
	}
	uint64_t n = 0;
	PyObject *v = off == offsetof(fp_async_event, name)   ? check_name(value)
		      : off == offsetof(fp_async_event, data) ? check_data(value)
		      : check_u64(off == offsetof(fp_async_event, ts) ? "ts" : "tid", value, &n);
	if (!v)
		return -1;
	if (off == offsetof(fp_async_event, ts))
		e->ts_v = n;
	else if (off == offsetof(fp_async_event, tid))
		e->tid_v = n;
	Py_SETREF(*(PyObject **)((char *)self + off), v);
	return 0;
}

#define AE_FIELD(f, doc) {#f, ae_get, ae_set, doc, (void *)offsetof(fp_async_event, f)}
static PyGetSetDef ae_getset[] = {
	AE_FIELD(name, "the event's name, one of the plugin's ASYNC_EVENTS (checked by emit)"),
	AE_FIELD(data, "the payload (bytes)"),
	AE_FIELD(ts, "ns since the epoch, or None for \"now\""),
	AE_FIELD(tid, "the thread id, or None for \"no thread\""),
	{NULL, NULL, NULL, NULL, NULL},
};

/* falco_plugin.async_event.<name>(self), shared with the Python class. */
static PyObject *ae_helper(PyObject *self, const char *name)
{
	if (!py_helpers && !(py_helpers = PyImport_ImportModule("falco_plugin.async_event")))
		return NULL;
	PyObject *fn = PyObject_GetAttrString(py_helpers, name);
	PyObject *res = fn ? PyObject_CallOneArg(fn, self) : NULL;
	Py_XDECREF(fn);
	return res;
}

static PyObject *ae_repr(PyObject *self) { return ae_helper(self, "_repr"); }

static PyObject *ae_to_bytes(PyObject *self, PyObject *unused)
{
	(void)unused;
	return ae_helper(self, "_to_bytes");
}

static PyObject *ae_reduce(PyObject *self, PyObject *unused)
{
	(void)unused;
	fp_async_event *e = (fp_async_event *)self;
	return Py_BuildValue("O(OOOO)", (PyObject *)Py_TYPE(self), e->name, e->data, e->ts, e->tid);
}

static PyObject *ae_richcompare(PyObject *a, PyObject *b, int op)
{
	if ((op != Py_EQ && op != Py_NE) || Py_TYPE(a) != Py_TYPE(b))
		Py_RETURN_NOTIMPLEMENTED;
	fp_async_event *x = (fp_async_event *)a, *y = (fp_async_event *)b;
	int eq = 1;
	PyObject *const xs[4] = {x->name, x->data, x->ts, x->tid}, *const ys[4] = {y->name, y->data, y->ts, y->tid};
	for (int i = 0; i < 4 && eq == 1; i++)
		eq = PyObject_RichCompareBool(xs[i], ys[i], Py_EQ);
	if (eq < 0)
		return NULL;
	return PyBool_FromLong(op == Py_EQ ? eq : !eq);
}

static PyMethodDef ae_methods[] = {
	{"to_bytes", ae_to_bytes, METH_NOARGS, "The event as the host receives it (PPME_ASYNCEVENT_E, plugin id 0)."},
	{"__reduce__", ae_reduce, METH_NOARGS, NULL},
	{NULL, NULL, 0, NULL},
};

static PyTypeObject ae_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "falco_plugin.async_event.AsyncEvent",
	.tp_basicsize = sizeof(fp_async_event),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "AsyncEvent(name, data=b'', ts=None, tid=None): an async event (the shim's C implementation).",
	.tp_dealloc = ae_dealloc,
	.tp_repr = ae_repr,
	.tp_hash = PyObject_HashNotImplemented,
	.tp_richcompare = ae_richcompare,
	.tp_methods = ae_methods,
	.tp_getset = ae_getset,
	.tp_init = ae_init,
	.tp_new = ae_new,
	.tp_vectorcall = ae_vectorcall,
};

/* The keyword strings and the type, once. Needs the GIL. */
static int ae_ready(void)
{
	if (!kw_name && (!(kw_name = PyUnicode_InternFromString("name")) || !(kw_data = PyUnicode_InternFromString("data")) ||
			 !(kw_ts = PyUnicode_InternFromString("ts")) || !(kw_tid = PyUnicode_InternFromString("tid"))))
		return -1;
	if (!(ae_type.tp_flags & Py_TPFLAGS_READY)) {
		if (PyType_Ready(&ae_type) < 0)
			return -1;
		PyObject *abi = PyLong_FromLong(FP_ASYNC_EVENT_ABI);
		int rc = abi ? PyDict_SetItemString(ae_type.tp_dict, "_fp_abi", abi) : -1;
		Py_XDECREF(abi);
		if (rc < 0)
			return -1;
		PyType_Modified(&ae_type);
	}
	return 0;
}

int fp_async_register(PyObject *module)
{
	if (ae_ready() < 0)
		return -1;
	return PyModule_AddObjectRef(module, "AsyncEvent", (PyObject *)&ae_type);
}

#if FPY_CAP_ASYNC

static const char *const async_names[] = FPY_ASYNC_NAMES;
#define NNAMES (sizeof async_names / sizeof async_names[0])

typedef struct {
	PyObject_HEAD
	ss_plugin_owner_t *owner;
	ss_plugin_async_event_handler_t handler; /* NULL once the host took it back */
} fp_handler;

/* What emit() needs of one event: the declared name's index, the payload, ts and tid. */
typedef struct {
	size_t name;
	const char *data;
	size_t ndata;
	uint64_t ts, tid;
	PyObject *hold; /* slow path: the payload object (released by parts_release) */
} ev_parts;

/* Another SDK plugin's C AsyncEvent (falco_plugin was imported with the first plugin's),
 * read directly too if its layout is ours. */
static PyTypeObject *foreign_event_type;

/* Per declared name: its length, and the last str object found equal to it (a strong
 * reference, so the pointer stays valid): a literal in the plugin's code is the same
 * object at every call, so the check is one pointer comparison. Needs the GIL. */
static size_t name_len[NNAMES];
static PyObject *name_seen[NNAMES];

/* A name not in ASYNC_EVENTS, when the plugin leaves that check to the host
 * (CHECK_ASYNC_EVENT_NAMES = False): index NNAMES, its bytes copied here per thread (each
 * event is framed right after its name is looked up). */
static __thread char *tl_uname;
static __thread size_t tl_ulen, tl_ucap;
static inline const char *name_at(size_t i) { return i < NNAMES ? async_names[i] : tl_uname; }
static inline size_t name_size(size_t i) { return i < NNAMES ? name_len[i] : tl_ulen; }

/* The names' lengths, and the foreign type if any; once. Needs the GIL. */
static void emit_setup(void)
{
	static int done;
	if (done)
		return;
	done = 1;
	for (size_t i = 0; i < NNAMES; i++)
		name_len[i] = strlen(async_names[i]);
	PyObject *module = PyImport_ImportModule("falco_plugin.async_event");
	PyObject *cls = module ? PyObject_GetAttrString(module, "AsyncEvent") : NULL;
	PyObject *abi = cls && PyType_Check(cls) && cls != (PyObject *)&ae_type ? PyObject_GetAttrString(cls, "_fp_abi")
										      : NULL;
	if (abi && PyLong_Check(abi) && PyLong_AsLong(abi) == FP_ASYNC_EVENT_ABI &&
	    ((PyTypeObject *)cls)->tp_basicsize == (Py_ssize_t)sizeof(fp_async_event))
		foreign_event_type = (PyTypeObject *)Py_NewRef(cls); /* kept for the life of the process */
	Py_XDECREF(abi);
	Py_XDECREF(cls);
	Py_XDECREF(module);
	PyErr_Clear(); /* not found: other objects take the attribute path */
}

/* The index of name in ASYNC_EVENTS, or -1 with an exception. */
static Py_ssize_t declared_index(PyObject *name)
{
	for (size_t i = 0; i < NNAMES; i++) {
		if (name_seen[i] == name)
			return (Py_ssize_t)i;
	}
	Py_ssize_t len = 0;
	const char *cname = PyUnicode_Check(name) ? PyUnicode_AsUTF8AndSize(name, &len) : NULL;
	if (!cname && !PyUnicode_Check(name)) {
		PyErr_Format(PyExc_TypeError, "AsyncEvent.name must be a str, not %.100s", Py_TYPE(name)->tp_name);
		return -1;
	}
	PyErr_Clear(); /* not encodable: not declared */
	for (size_t i = 0; cname && i < NNAMES; i++) {
		if ((size_t)len == name_len[i] && memcmp(cname, async_names[i], (size_t)len) == 0) {
			Py_XSETREF(name_seen[i], Py_NewRef(name));
			return (Py_ssize_t)i;
		}
	}
	if (!FPY_CHECK_ASYNC_NAMES && cname && !memchr(cname, '\0', (size_t)len)) {
		if ((size_t)len + 1 > tl_ucap) {
			char *buf = realloc(tl_uname, (size_t)len + 64);
			if (!buf) {
				PyErr_NoMemory();
				return -1;
			}
			tl_uname = buf;
			tl_ucap = (size_t)len + 64;
		}
		memcpy(tl_uname, cname, (size_t)len + 1);
		tl_ulen = (size_t)len;
		return (Py_ssize_t)NNAMES; /* the host checks it (plugin.cpp, handle_plugin_async_event) */
	}
	PyErr_Format(PyExc_ValueError, "async event %R is not declared in %s.ASYNC_EVENTS %s", name, FPY_ENTRY_CLASS,
		     FPY_ASYNC_EVENTS_JSON);
	return -1;
}

static int optional_u64(PyObject *v, uint64_t *out)
{
	*out = UINT64_MAX; /* "now" for ts, "no thread" for tid */
	if (v == Py_None)
		return 0;
	*out = PyLong_AsUnsignedLongLong(v);
	return *out == UINT64_MAX && PyErr_Occurred() ? -1 : 0;
}

/* The slow path's references. view: the payload's buffer, if it was not bytes. */
static inline void parts_release(ev_parts *e, Py_buffer *view)
{
	if (view->obj)
		PyBuffer_Release(view);
	Py_CLEAR(e->hold);
}

/* Fill e from an AsyncEvent (or anything with its four attributes). -1 with an exception.
 * Inlined, so that the fields reach frame() in registers (not through stores and wider loads
 * that stall). */
static inline __attribute__((always_inline)) int event_parts(PyObject *event, ev_parts *e, Py_buffer *view)
{
	e->hold = NULL;
	view->obj = NULL;
	PyTypeObject *tp = Py_TYPE(event);
	if (tp == &ae_type || (tp == foreign_event_type && tp)) {
		/* checked when set; no Python code runs until the event is framed, so the borrowed
		 * fields stay valid */
		fp_async_event *ae = (fp_async_event *)event;
		Py_ssize_t i = declared_index(ae->name);
		if (i < 0)
			return -1;
		e->name = (size_t)i;
		e->data = PyBytes_AS_STRING(ae->data);
		e->ndata = (size_t)PyBytes_GET_SIZE(ae->data);
		e->ts = ae->ts_v;
		e->tid = ae->tid_v;
		return 0;
	}
	PyObject *name = PyObject_GetAttr(event, kw_name);
	Py_ssize_t i = name ? declared_index(name) : -1;
	if (i == (Py_ssize_t)NNAMES) /* undeclared: copied again below, once no more Python code runs */
		e->hold = Py_NewRef(name);
	Py_XDECREF(name);
	int rc = i < 0 ? -1 : 0;
	e->name = (size_t)i;
	PyObject *ts = rc == 0 ? PyObject_GetAttr(event, kw_ts) : NULL;
	rc = ts ? optional_u64(ts, &e->ts) : -1;
	Py_XDECREF(ts);
	PyObject *tid = rc == 0 ? PyObject_GetAttr(event, kw_tid) : NULL;
	rc = tid ? optional_u64(tid, &e->tid) : -1;
	Py_XDECREF(tid);
	PyObject *undeclared = e->hold; /* the attribute reads above may have emitted (tl_uname) */
	e->hold = NULL;
	if (rc < 0 || !(e->hold = PyObject_GetAttr(event, kw_data))) {
		Py_XDECREF(undeclared);
		return -1;
	}
	if (PyBytes_Check(e->hold)) {
		e->data = PyBytes_AS_STRING(e->hold);
		e->ndata = (size_t)PyBytes_GET_SIZE(e->hold);
	} else if (PyObject_GetBuffer(e->hold, view, PyBUF_SIMPLE) == 0) {
		e->data = view->buf;
		e->ndata = (size_t)view->len;
	} else {
		Py_XDECREF(undeclared);
		parts_release(e, view);
		return -1;
	}
	rc = undeclared ? (declared_index(undeclared) < 0 ? -1 : 0) : 0;
	Py_XDECREF(undeclared);
	if (rc < 0)
		parts_release(e, view);
	return rc;
}

#define ASYNC_HEADER 42 /* 26-byte header, 3 lengths, the 4-byte plugin id */

/* The framed size of e, or 0 (with ValueError) if it does not fit the 32-bit length. */
static inline size_t frame_size(const ev_parts *e)
{
	size_t len = ASYNC_HEADER + name_size(e->name) + 1 + e->ndata;
	if (len > UINT32_MAX) {
		PyErr_SetString(PyExc_ValueError, "async event too large");
		return 0;
	}
	return len;
}

static inline void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* Scalars, not an ev_parts: copying the struct through the stack costs store-forwarding
 * stalls (wide loads of fields just written) on the hot path. */
static void frame(uint8_t *p, size_t name, const char *data, size_t ndata, uint64_t ts, uint64_t tid, size_t len)
{
	uint32_t nlen = (uint32_t)name_size(name) + 1;
	put64(p, ts);
	put64(p + 8, tid);
	put32(p + 16, (uint32_t)len);
	uint16_t type = FPA_EVT_ASYNCEVENT;
	memcpy(p + 20, &type, 2);
	put32(p + 22, 3); /* nparams */
	put32(p + 26, 4); /* the lengths: plugin id, name with its NUL, data */
	put32(p + 30, nlen);
	put32(p + 34, (uint32_t)ndata);
	put32(p + 38, 0); /* the plugin id: the host writes the source's here */
	memcpy(p + ASYNC_HEADER, name_at(name), nlen);
	memcpy(p + ASYNC_HEADER + nlen, data, ndata);
}

FP_EXPORT const char *plugin_get_async_events(void) { return FPY_ASYNC_EVENTS_JSON; }
FP_EXPORT const char *plugin_get_async_event_sources(void) { return FPY_ASYNC_SOURCES_JSON; }

/* emit_many frames into a growing buffer: the thread's own one, reused from call to call
 * (emit uses the stack when the event fits). Reading an event's attributes can run Python
 * code that emits again on this thread; such a nested call gets a buffer of its own, so the
 * frames the outer call already wrote stay as they are. */
typedef struct {
	uint8_t *p;
	size_t cap;
} frame_buf;
static __thread frame_buf tl_frames;
static __thread int tl_frames_busy;

static uint8_t *fb_reserve(frame_buf *b, size_t bytes)
{
	if (bytes > b->cap) {
		size_t cap = bytes + 256 > 2 * b->cap ? bytes + 256 : 2 * b->cap;
		uint8_t *p = realloc(b->p, cap);
		if (!p) {
			PyErr_NoMemory();
			return NULL;
		}
		b->p = p;
		b->cap = cap;
	}
	return b->p;
}

/* The buffer for one emit call, and its end. */
static frame_buf *fb_take(frame_buf *own)
{
	if (tl_frames_busy) {
		*own = (frame_buf){NULL, 0};
		return own;
	}
	tl_frames_busy = 1;
	return &tl_frames;
}

static void fb_give_back(frame_buf *b)
{
	if (b == &tl_frames)
		tl_frames_busy = 0;
	else
		free(b->p);
}

/* Hand the framed events in buf[0..used) to the host, with the GIL released. */
static PyObject *send_framed(fp_handler *h, const uint8_t *buf, size_t used)
{
	ss_plugin_async_event_handler_t handler = h->handler;
	ss_plugin_owner_t *owner = h->owner;
	char err[FPA_MAX_ERRLEN];
	ss_plugin_rc rc = SS_PLUGIN_SUCCESS;
	const char *failed = NULL;
	err[0] = '\0';
	Py_BEGIN_ALLOW_THREADS
	for (size_t off = 0; off < used && rc == SS_PLUGIN_SUCCESS;) {
		const ss_plugin_event *ev = (const ss_plugin_event *)(buf + off);
		rc = handler(owner, ev, err);
		if (rc != SS_PLUGIN_SUCCESS)
			failed = (const char *)ev + ASYNC_HEADER;
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
	ev_parts e;
	Py_buffer view;
	if (!handler_live(h) || event_parts(event, &e, &view) < 0)
		return NULL;
	_Alignas(8) uint8_t local[512];
	size_t len = frame_size(&e);
	frame_buf own, *fb = NULL;
	uint8_t *buf = !len ? NULL : len <= sizeof local ? local : fb_reserve(fb = fb_take(&own), len);
	if (buf)
		frame(buf, e.name, e.data, e.ndata, e.ts, e.tid, len);
	parts_release(&e, &view);
	PyObject *r = buf ? send_framed(h, buf, len) : NULL;
	if (fb)
		fb_give_back(fb);
	return r;
}

static PyObject *handler_emit_many(PyObject *self, PyObject *events)
{
	fp_handler *h = (fp_handler *)self;
	if (!handler_live(h))
		return NULL;
	PyObject *fast = PySequence_Fast(events, "emit_many takes an iterable of AsyncEvent");
	if (!fast)
		return NULL;
	frame_buf own, *fb = fb_take(&own);
	PyObject *r = NULL;
	size_t used = 0;
	/* reading an event may run Python code that changes the list: hold each item, and read
	 * the size again at each step */
	for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(fast); i++) {
		ev_parts e;
		Py_buffer view;
		PyObject *item = Py_NewRef(PySequence_Fast_GET_ITEM(fast, i));
		int rc = event_parts(item, &e, &view);
		size_t len = rc == 0 ? frame_size(&e) : 0;
		uint8_t *buf = len ? fb_reserve(fb, used + len) : NULL;
		if (buf)
			frame(buf + used, e.name, e.data, e.ndata, e.ts, e.tid, len);
		if (rc == 0)
			parts_release(&e, &view);
		Py_DECREF(item);
		if (!buf)
			goto out;
		used += len;
	}
	r = used ? send_framed(h, fb->p, used) : Py_NewRef(Py_None);
out:
	Py_DECREF(fast);
	fb_give_back(fb);
	return r;
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
	if (!(handler_type.tp_flags & Py_TPFLAGS_READY) && PyType_Ready(&handler_type) < 0)
		return NULL;
	if (ae_ready() < 0) /* done already by fp_async_register */
		return NULL;
	emit_setup();
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

/* The contract: stop_async() returns promptly (it tells its threads to stop and joins them).
 * The host waits for it, so one that hangs hangs the host: a watchdog thread logs a warning
 * naming the plugin when it has not returned after FP_STOP_ASYNC_WARN_S seconds. */
#define FP_STOP_ASYNC_WARN_S 5

typedef struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	fp_state *s;
} fp_watchdog;

static void *watchdog_run(void *arg)
{
	fp_watchdog *w = arg;
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += FP_STOP_ASYNC_WARN_S;
	pthread_mutex_lock(&w->mu);
	int rc = 0;
	while (!w->done && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&w->cv, &w->mu, &until);
	int late = !w->done;
	pthread_mutex_unlock(&w->mu);
	if (late && w->s->log_fn) /* no Python here: the GIL is the hanging call's */
		w->s->log_fn(w->s->owner, NULL,
			     "plugin " FPY_NAME ": stop_async() has not returned after " FP_STR(FP_STOP_ASYNC_WARN_S)
			     " s and the host is waiting for it: stop_async must stop the plugin's threads and return "
			     "promptly",
			     SS_PLUGIN_LOG_SEV_WARNING);
	return NULL;
}

/* stop_async() and revoke; returns -1 with a Python exception if stop_async raised. */
static int stop_async(fp_state *s)
{
	if (!s->async_handler)
		return 0;
	fp_watchdog w = {.done = 0, .s = s};
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, &attr);
	pthread_condattr_destroy(&attr);
	pthread_t watcher;
	int watching = pthread_create(&watcher, NULL, watchdog_run, &w) == 0;
	PyObject *res = PyObject_CallMethod(s->plugin, "stop_async", NULL);
	if (watching) {
		pthread_mutex_lock(&w.mu);
		w.done = 1;
		pthread_cond_signal(&w.cv);
		pthread_mutex_unlock(&w.mu);
		Py_BEGIN_ALLOW_THREADS /* the watchdog may be in the host's log function */
		pthread_join(watcher, NULL);
		Py_END_ALLOW_THREADS
	}
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
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
	/* libsinsp's "dump error" message does not read get_last_error: say why in the log */
	if (rc != SS_PLUGIN_SUCCESS && s->log_fn)
		s->log_fn(s->owner, NULL, s->last_error, SS_PLUGIN_LOG_SEV_ERROR);
	return rc;
}
#endif

#endif /* FPY_CAP_ASYNC */
