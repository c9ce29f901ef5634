/*
 * Starting, joining and entering the one CPython interpreter of the process.
 *
 * Facts this follows (shared/reference/embedding-cpython.md):
 * - Falco dlopens plugins RTLD_LOCAL, so C extension modules cannot see libpython's
 *   symbols unless we promote libpython to RTLD_GLOBAL (done at dlopen, §1.5).
 * - An isolated PyConfig with the venv's python as `executable` finds the right stdlib and
 *   site-packages whatever the host's environment, and reports errors instead of exiting (§1.4).
 * - Entering through a cached per-thread PyThreadState costs ~90 ns; PyGILState_Ensure and
 *   Release per call on a host thread costs ~5 us (§1.7, §2.2).
 * - The interpreter is shared by every SDK plugin of the process and never finalized.
 */
#define _GNU_SOURCE
#include "shim.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>

__thread PyThreadState *fp_thread_state;
PyObject *fp_runtime;
PyObject *fp_exc_end_of_stream;
PyObject *fp_exc_timeout;

static pthread_key_t thread_state_key;
static char libpython_conflict[FPA_MAX_ERRLEN];
static char boot_error[FPA_MAX_ERRLEN];
static pthread_once_t boot_once = PTHREAD_ONCE_INIT;

/* --- libpython: one per process, promoted to the global scope ---------------------- */

struct libpython_scan {
	char first[512];
	char other[512];
};

static int scan_libpython(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	struct libpython_scan *scan = data;
	const char *base = strrchr(info->dlpi_name, '/');
	base = base ? base + 1 : info->dlpi_name;
	if (strncmp(base, "libpython3", 10) != 0)
		return 0;
	/* Compare sonames without the path: the same library mapped once has one name. */
	if (!scan->first[0])
		snprintf(scan->first, sizeof scan->first, "%s", base);
	else if (strcmp(scan->first, base) != 0 && !scan->other[0])
		snprintf(scan->other, sizeof scan->other, "%s", base);
	return 0;
}

__attribute__((constructor)) static void promote_libpython(void)
{
	struct libpython_scan scan = {{0}, {0}};
	dl_iterate_phdr(scan_libpython, &scan);
	if (scan.other[0]) {
		snprintf(libpython_conflict, sizeof libpython_conflict,
			 "plugin %s: two different Python libraries are loaded in this process (%.100s and %.100s); "
			 "all falco-plugin plugins of one process must be built with the same Python "
			 "(this one needs Python %s)",
			 FPY_NAME, scan.first, scan.other, FPY_PY_VERSION);
		return;
	}
	Dl_info info;
	if (dladdr((void *)&Py_IsInitialized, &info) && info.dli_fname)
		dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD | RTLD_NODELETE);
}

/* --- per-thread thread states ------------------------------------------------------- */

static void thread_state_dtor(void *p)
{
	PyThreadState *ts = p;
	if (!ts || !Py_IsInitialized())
		return;
	PyEval_RestoreThread(ts);
	PyThreadState_Clear(ts);
	PyThreadState_DeleteCurrent();
}

fp_gil fp_enter_slow(void)
{
	if (PyGILState_Check()) /* a caller that already holds the GIL (e.g. ctypes.PyDLL) */
		return (fp_gil){FP_GIL_ENSURED, PyGILState_Ensure()};
	PyThreadState *ts = PyGILState_GetThisThreadState();
	if (ts) { /* made by Python itself or by another SDK plugin: not ours to delete */
		fp_thread_state = ts;
		PyEval_RestoreThread(ts);
		return (fp_gil){FP_GIL_RESTORED, PyGILState_UNLOCKED};
	}
	PyGILState_Ensure(); /* new thread state, kept until the thread exits */
	fp_thread_state = PyThreadState_Get();
	pthread_setspecific(thread_state_key, fp_thread_state);
	return (fp_gil){FP_GIL_RESTORED, PyGILState_UNLOCKED};
}

/* --- errors ------------------------------------------------------------------------- */

void fp_set_error(fp_state *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->last_error, sizeof s->last_error, fmt, ap);
	va_end(ap);
}

PyObject *fp_take_exception(void)
{
#if PY_VERSION_HEX >= 0x030C0000
	return PyErr_GetRaisedException();
#else
	PyObject *type, *value, *tb;
	PyErr_Fetch(&type, &value, &tb);
	if (!type)
		return NULL;
	PyErr_NormalizeException(&type, &value, &tb);
	if (tb && value)
		PyException_SetTraceback(value, tb);
	Py_XDECREF(type);
	Py_XDECREF(tb);
	return value;
#endif
}

static void describe_exception(PyObject *exc, char *out, size_t outlen)
{
	PyObject *text = NULL;
	if (fp_runtime) {
		PyObject *args[] = {exc};
		text = fp_runtime_call("format_exception", args, 1);
	}
	if (!text) {
		PyErr_Clear();
		text = PyObject_Str(exc);
	}
	const char *utf8 = text ? PyUnicode_AsUTF8(text) : NULL;
	if (!utf8) {
		PyErr_Clear();
		utf8 = "(exception could not be described)";
	}
	snprintf(out, outlen, "%s", utf8);
	Py_XDECREF(text);
}

void fp_set_error_from_python(fp_state *s, const char *what)
{
	PyObject *exc = fp_take_exception();
	char detail[FPA_MAX_ERRLEN];
	if (exc)
		describe_exception(exc, detail, sizeof detail);
	else
		snprintf(detail, sizeof detail, "unknown error");
	Py_XDECREF(exc);
	if (what && *what)
		fp_set_error(s, "%s: %s", what, detail);
	else
		fp_set_error(s, "%s", detail);
}

PyObject *fp_runtime_call(const char *name, PyObject *const *args, size_t nargs)
{
	PyObject *fn = PyObject_GetAttrString(fp_runtime, name);
	if (!fn)
		return NULL;
	PyObject *res = PyObject_Vectorcall(fn, args, nargs, NULL);
	Py_DECREF(fn);
	return res;
}

const char *fp_keep_text(fp_state *s, PyObject *str)
{
	Py_ssize_t n = 0;
	const char *utf8 = str == Py_None ? "" : PyUnicode_AsUTF8AndSize(str, &n);
	if (!utf8)
		return NULL;
	if (memchr(utf8, 0, (size_t)n)) {
		PyErr_SetString(PyExc_ValueError, "the text cannot contain a NUL character ('\\0')");
		return NULL;
	}
	char *copy = strdup(utf8);
	if (!copy) {
		PyErr_NoMemory();
		return NULL;
	}
	free(s->text);
	s->text = copy;
	return copy;
}

/* --- bootstrap ---------------------------------------------------------------------- */

static int add_sys_path(void)
{
	PyObject *sys_path = PySys_GetObject("path"); /* borrowed */
	if (!sys_path)
		return -1;
	char paths[] = FPY_SYS_PATH;
	int index = 0;
	for (char *save = NULL, *p = strtok_r(paths, "\n", &save); p; p = strtok_r(NULL, "\n", &save)) {
		PyObject *entry = PyUnicode_DecodeFSDefault(p);
		if (!entry)
			return -1;
		int present = PySequence_Contains(sys_path, entry);
		if (present == 0)
			present = PyList_Insert(sys_path, index++, entry) == 0 ? 1 : -1;
		Py_DECREF(entry);
		if (present < 0)
			return -1;
	}
	return 0;
}

static int import_runtime(void)
{
	if (add_sys_path() < 0)
		return -1;
	if (!fp_runtime) {
		if (fp_event_register() < 0)
			return -1;
		fp_runtime = PyImport_ImportModule("falco_plugin._runtime");
		if (!fp_runtime)
			return -1;
		fp_exc_end_of_stream = PyObject_GetAttrString(fp_runtime, "EndOfStream");
		fp_exc_timeout = PyObject_GetAttrString(fp_runtime, "Timeout");
		if (!fp_exc_end_of_stream || !fp_exc_timeout)
			return -1;
		PyObject *r = fp_runtime_call("embedded", NULL, 0); /* e.g. no signal handlers from plugins */
		if (!r)
			return -1;
		Py_DECREF(r);
	}
	return 0;
}

static void boot_failed_from_python(const char *what)
{
	PyObject *exc = fp_take_exception();
	char detail[FPA_MAX_ERRLEN] = "unknown error";
	if (exc)
		describe_exception(exc, detail, sizeof detail);
	Py_XDECREF(exc);
	snprintf(boot_error, sizeof boot_error, "plugin %s: %s: %s", FPY_NAME, what, detail);
}

static void bootstrap(void)
{
	if (libpython_conflict[0]) {
		snprintf(boot_error, sizeof boot_error, "%s", libpython_conflict);
		return;
	}
	pthread_key_create(&thread_state_key, thread_state_dtor);
	if (!Py_IsInitialized()) {
		/* The isolated config ignores the environment; PYTHONMALLOC=malloc is still honoured,
		 * so that a sanitizer build sees Python's objects (make sanitize). */
		const char *alloc = getenv("PYTHONMALLOC");
		if (alloc && (!strcmp(alloc, "malloc") || !strcmp(alloc, "malloc_debug"))) {
			PyPreConfig pre;
			PyPreConfig_InitIsolatedConfig(&pre);
			pre.allocator = !strcmp(alloc, "malloc") ? PYMEM_ALLOCATOR_MALLOC : PYMEM_ALLOCATOR_MALLOC_DEBUG;
			PyStatus ps = Py_PreInitialize(&pre);
			if (PyStatus_Exception(ps)) {
				snprintf(boot_error, sizeof boot_error, "plugin %s: PYTHONMALLOC=%s: %s", FPY_NAME,
					 alloc, ps.err_msg ? ps.err_msg : "error");
				return;
			}
		}
		PyConfig config;
		PyConfig_InitIsolatedConfig(&config);
		config.install_signal_handlers = 0;
		config.parse_argv = 0;
		config.user_site_directory = 0;
		PyStatus st = PyConfig_SetBytesString(&config, &config.executable, FPY_PY_EXECUTABLE);
		if (!PyStatus_Exception(st))
			st = Py_InitializeFromConfig(&config);
		PyConfig_Clear(&config);
		if (PyStatus_Exception(st)) {
			snprintf(boot_error, sizeof boot_error,
				 "plugin %s: could not start Python from %s: %s%s%s", FPY_NAME, FPY_PY_EXECUTABLE,
				 st.func ? st.func : "", st.func ? ": " : "", st.err_msg ? st.err_msg : "error");
			return;
		}
		if (import_runtime() < 0)
			boot_failed_from_python("could not import the falco_plugin runtime");
		fp_thread_state = PyEval_SaveThread(); /* this thread's state, reused on re-entry */
		return;
	}
	/* Another SDK plugin (or the host) started Python: join it. */
	const char *running = Py_GetVersion();
	size_t n = strlen(FPY_PY_VERSION);
	if (strncmp(running, FPY_PY_VERSION, n) != 0 || running[n] != '.') {
		snprintf(boot_error, sizeof boot_error,
			 "plugin %s was built for Python %s but this process already runs Python %.16s",
			 FPY_NAME, FPY_PY_VERSION, running);
		return;
	}
	fp_gil g = fp_enter();
	if (import_runtime() < 0)
		boot_failed_from_python("could not import the falco_plugin runtime");
	fp_leave(g);
}

int fp_interpreter_start(char *err, size_t errlen)
{
	pthread_once(&boot_once, bootstrap);
	if (boot_error[0]) {
		snprintf(err, errlen, "%s", boot_error);
		return -1;
	}
	return 0;
}
