/*
 * Capture listening (plugin-api-facts.md, Listening, routines and metrics): capture_open and
 * capture_close with table access, and routines on the host's thread pool. Mirrors
 * falco_plugin/listen.py.
 *
 * A routine is a Python callable; the host calls the C trampoline again and again on a
 * pool thread, and the trampoline enters Python for one call each time. Returning False
 * (or raising, which is logged) ends it. The records outlive unsubscribe, because the host
 * may still be running one when capture_close returns; they go at destroy.
 *
 * The thread pool given in capture_open stays usable from any later call (parse_event, a
 * routine, ...) until capture_close returns: the vtable itself is a stack object of the
 * host's, so the shim keeps a copy of its two function pointers and the owner.
 */
#include "shim.h"

#if FPY_CAP_LISTENING

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct fp_routine {
	fp_state *state;
	PyObject *fn;
	ss_plugin_routine_t *handle; /* the host's */
	int ended;
	struct fp_routine *next;
};

struct fp_listen {
	struct fp_routine *routines;
	pthread_mutex_t lock; /* routines list and the pool fields (routines subscribe from pool threads) */
	ss_plugin_routine_vtable vtable; /* copied in capture_open */
	int open;                        /* from capture_open until capture_close returns */
	ss_plugin_owner_t *owner;
};

typedef struct {
	PyObject_HEAD
	fp_state *state;
} fp_pool;

typedef struct {
	PyObject_HEAD
	struct fp_routine *r; /* owned by the state's list */
} fp_routine_obj;

static ss_plugin_bool routine_trampoline(ss_plugin_t *st, ss_plugin_routine_state_t *rs)
{
	struct fp_routine *r = rs;
	(void)st;
	if (r->ended)
		return 0;
	char report[FPA_MAX_ERRLEN] = "";
	fp_gil g = fp_enter();
	int go_on = 0;
	PyObject *res = r->fn ? PyObject_CallNoArgs(r->fn) : NULL;
	if (res) {
		go_on = res == Py_None ? 0 : PyObject_IsTrue(res);
		Py_DECREF(res);
	}
	if (go_on < 0 || (!res && r->fn)) {
		fp_set_error_from_python(r->state, "routine");
		snprintf(report, sizeof report, "%.980s (the routine stops)", r->state->last_error);
		go_on = 0;
	}
	if (!go_on)
		r->ended = 1;
	fp_leave(g);
	if (report[0] && r->state->log_fn)
		r->state->log_fn(r->state->owner, NULL, report, SS_PLUGIN_LOG_SEV_ERROR);
	return go_on > 0;
}

static PyTypeObject routine_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "falco_plugin.listen.Routine",
	.tp_basicsize = sizeof(fp_routine_obj),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A routine running on the host's thread pool (ThreadPool.subscribe).",
};

static struct fp_listen *listen_of(fp_state *s)
{
	if (!s->listen && (s->listen = calloc(1, sizeof *s->listen)))
		pthread_mutex_init(&s->listen->lock, NULL);
	return s->listen;
}

/* The pool's functions and owner, if a capture is open (under the lock). */
static int pool_now(struct fp_listen *l, ss_plugin_routine_vtable *vt, ss_plugin_owner_t **owner)
{
	if (!l)
		return 0;
	pthread_mutex_lock(&l->lock);
	int open = l->open && l->vtable.subscribe && l->vtable.unsubscribe;
	if (open) {
		*vt = l->vtable;
		*owner = l->owner;
	}
	pthread_mutex_unlock(&l->lock);
	return open;
}

static PyObject *pool_subscribe(PyObject *self, PyObject *fn)
{
	fp_state *s = ((fp_pool *)self)->state;
	struct fp_listen *l = s->listen;
	if (!PyCallable_Check(fn)) {
		PyErr_SetString(PyExc_TypeError, "subscribe(fn): fn() is called again and again until it returns False");
		return NULL;
	}
	ss_plugin_routine_vtable vt;
	ss_plugin_owner_t *owner;
	if (!pool_now(l, &vt, &owner)) {
		PyErr_SetString(PyExc_RuntimeError,
				"routines can be subscribed from capture_open until capture_close returns (no capture is open)");
		return NULL;
	}
	struct fp_routine *r = calloc(1, sizeof *r);
	if (!r)
		return PyErr_NoMemory();
	r->state = s;
	r->fn = Py_NewRef(fn);
	pthread_mutex_lock(&l->lock);
	r->next = l->routines;
	l->routines = r;
	pthread_mutex_unlock(&l->lock);
	PyThreadState *ts = PyEval_SaveThread();
	r->handle = vt.subscribe(owner, routine_trampoline, r);
	PyEval_RestoreThread(ts);
	if (!r->handle) {
		r->ended = 1;
		PyErr_SetString(PyExc_RuntimeError, "the host has no thread pool for routines (subscribe returned NULL)");
		return NULL;
	}
	if (!(routine_type.tp_flags & Py_TPFLAGS_READY) && PyType_Ready(&routine_type) < 0)
		return NULL;
	fp_routine_obj *o = PyObject_New(fp_routine_obj, &routine_type);
	if (o)
		o->r = r;
	return (PyObject *)o;
}

static PyObject *pool_unsubscribe(PyObject *self, PyObject *routine)
{
	fp_state *s = ((fp_pool *)self)->state;
	struct fp_listen *l = s->listen;
	if (Py_TYPE(routine) != &routine_type || ((fp_routine_obj *)routine)->r->state != s) {
		PyErr_SetString(PyExc_TypeError, "unsubscribe(routine): a Routine from subscribe()");
		return NULL;
	}
	ss_plugin_routine_vtable vt;
	ss_plugin_owner_t *owner;
	if (!pool_now(l, &vt, &owner)) {
		PyErr_SetString(PyExc_RuntimeError,
				"routines can be unsubscribed from capture_open until capture_close returns (no capture is open)");
		return NULL;
	}
	struct fp_routine *r = ((fp_routine_obj *)routine)->r;
	r->ended = 1; /* a run that starts from now on returns at once */
	if (!r->handle)
		Py_RETURN_NONE;
	ss_plugin_routine_t *handle = r->handle;
	r->handle = NULL;
	PyThreadState *ts = PyEval_SaveThread();
	ss_plugin_rc rc = vt.unsubscribe(owner, handle);
	PyEval_RestoreThread(ts);
	if (rc != SS_PLUGIN_SUCCESS) {
		PyErr_SetString(PyExc_RuntimeError, "the host refused to unsubscribe the routine");
		return NULL;
	}
	Py_RETURN_NONE;
}

static PyMethodDef pool_methods[] = {
	{"subscribe", pool_subscribe, METH_O, "subscribe(fn): run fn() on the host's thread pool until it returns False"},
	{"unsubscribe", pool_unsubscribe, METH_O, "unsubscribe(routine): stop a routine"},
	{NULL, NULL, 0, NULL},
};

static PyTypeObject pool_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "falco_plugin.listen.ThreadPool",
	.tp_basicsize = sizeof(fp_pool),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "The host's thread pool, from capture_open until capture_close returns.",
	.tp_methods = pool_methods,
};

static ss_plugin_rc capture_call(fp_state *s, const ss_plugin_capture_listen_input *in, const char *what)
{
	if (!s || !s->plugin)
		return SS_PLUGIN_FAILURE;
	fp_access access;
	fp_access_begin(&access, s, what);
	if (in) {
		access.owner = in->owner;
		access.reader = in->table_reader_ext;
		access.writer = in->table_writer_ext;
		/* get_owner_last_error is in the listen input from API 3.9 only: not read */
	}
	ss_plugin_rc rc = SS_PLUGIN_FAILURE;
	fp_gil g = fp_enter();
	struct fp_listen *l = listen_of(s);
	fp_pool *pool = NULL;
	if (l && (pool_type.tp_flags & Py_TPFLAGS_READY || PyType_Ready(&pool_type) == 0))
		pool = PyObject_New(fp_pool, &pool_type);
	int opening = strcmp(what, "capture_open") == 0;
	if (pool) {
		pool->state = s;
		pthread_mutex_lock(&l->lock);
		if (in && in->routine) /* capture_close gets one too: the same functions */
			l->vtable = *in->routine;
		else
			memset(&l->vtable, 0, sizeof l->vtable);
		l->owner = in ? in->owner : s->owner;
		l->open = 1;
		pthread_mutex_unlock(&l->lock);
		PyObject *name = PyUnicode_FromString(what);
		PyObject *args[] = {s->plugin, name, (PyObject *)pool};
		PyObject *r = name ? fp_runtime_call("capture_listen", args, 3) : NULL;
		Py_XDECREF(name);
		if (r)
			rc = SS_PLUGIN_SUCCESS;
		Py_XDECREF(r);
		if (!opening || rc != SS_PLUGIN_SUCCESS) {
			pthread_mutex_lock(&l->lock);
			l->open = 0;
			pthread_mutex_unlock(&l->lock);
		}
		Py_DECREF(pool);
	}
	if (rc != SS_PLUGIN_SUCCESS)
		fp_set_error_from_python(s, what);
	fp_leave(g);
	fp_access_end(&access);
	return rc;
}

FP_EXPORT ss_plugin_rc plugin_capture_open(ss_plugin_t *s, const ss_plugin_capture_listen_input *in)
{
	return capture_call(s, in, "capture_open");
}

FP_EXPORT ss_plugin_rc plugin_capture_close(ss_plugin_t *s, const ss_plugin_capture_listen_input *in)
{
	return capture_call(s, in, "capture_close");
}

void fp_listen_destroy(fp_state *s)
{
	struct fp_listen *l = s->listen;
	if (!l)
		return;
	while (l->routines) {
		struct fp_routine *r = l->routines;
		l->routines = r->next;
		Py_CLEAR(r->fn);
		free(r);
	}
	pthread_mutex_destroy(&l->lock);
	free(l);
	s->listen = NULL;
}

#endif /* FPY_CAP_LISTENING */
