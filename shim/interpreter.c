/*
 * Starting, joining and entering the one CPython interpreter of the process.
 *
 * Facts this follows (docs/internals/plugin-api-facts.md, Embedding CPython):
 * - Falco dlopens plugins RTLD_LOCAL, so C extension modules cannot see libpython's
 *   symbols unless we promote libpython to RTLD_GLOBAL (done at dlopen).
 * - An isolated PyConfig with the venv's python as `executable` finds the right stdlib and
 *   site-packages whatever the host's environment, and reports errors instead of exiting.
 * - Entering through a cached per-thread PyThreadState costs ~90 ns; PyGILState_Ensure and
 *   Release per call on a host thread costs ~5 us.
 * - The interpreter is shared by every SDK plugin of the process and never finalized.
 */
/* pyconfig.h defines it as 1 too: the same body keeps -Werror quiet on every Python. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "shim.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__thread PyThreadState *fp_thread_state;

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

/* --- bootstrap ---------------------------------------------------------------------- */

/* The sys.path entries this plugin adds ("\n"-separated): the directory of its own modules
 * for a dev build, its bundle's site-packages for a packaged one. */
static char plugin_sys_path[4096];
#if FPY_PACKAGED
static char runtime_dir[4096]; /* NAME.python next to this .so (dladdr) */

static int find_runtime(void)
{
	Dl_info info;
	char so[4096];
	if (!dladdr((void *)&fp_interpreter_start, &info) || !info.dli_fname || !realpath(info.dli_fname, so)) {
		snprintf(boot_error, sizeof boot_error, "plugin %s: cannot find the path of its own library (dladdr)",
			 FPY_NAME);
		return -1;
	}
	char *slash = strrchr(so, '/');
	*slash = '\0';
	snprintf(runtime_dir, sizeof runtime_dir, "%.3800s/%s", so, FPY_RUNTIME_DIR);
	char landmark[4200];
	snprintf(landmark, sizeof landmark, "%s/MANIFEST.json", runtime_dir);
	if (access(landmark, R_OK) != 0) {
		snprintf(boot_error, sizeof boot_error,
			 "plugin %s: its Python runtime %.500s is missing (no MANIFEST.json there): extract the whole "
			 "tarball, keeping %s next to %.200s",
			 FPY_NAME, runtime_dir, FPY_RUNTIME_DIR, slash + 1);
		return -1;
	}
	snprintf(plugin_sys_path, sizeof plugin_sys_path, "%.4000s/site-packages", runtime_dir);
	return 0;
}

static PyStatus add_search_path(PyConfig *config, const char *suffix)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/%s", runtime_dir, suffix);
	wchar_t *wide = Py_DecodeLocale(path, NULL);
	if (!wide)
		return PyStatus_NoMemory();
	PyStatus st = PyWideStringList_Append(&config->module_search_paths, wide);
	PyMem_RawFree(wide);
	return st;
}

/* Everything from the bundle: home, stdlib zip, lib-dynload, site-packages; nothing from the
 * environment, the user site, the current directory or the machine's own Python. */
static PyStatus configure(PyConfig *config)
{
	char exe[4200];
	snprintf(exe, sizeof exe, "%s/bin/python%s", runtime_dir, FPY_PY_VERSION);
	PyStatus st = PyConfig_SetBytesString(config, &config->home, runtime_dir);
	if (!PyStatus_Exception(st)) /* a name under the bundle, so getpath never searches $PATH */
		st = PyConfig_SetBytesString(config, &config->executable, exe);
	config->module_search_paths_set = 1;
	config->site_import = 0;
	config->write_bytecode = 0;
	config->pathconfig_warnings = 0;
	const char *paths[] = {"lib/python" FPY_PY_NODOT ".zip", "lib/python" FPY_PY_VERSION,
			       "lib/python" FPY_PY_VERSION "/lib-dynload", "site-packages"};
	for (size_t i = 0; i < sizeof paths / sizeof *paths && !PyStatus_Exception(st); i++)
		st = add_search_path(config, paths[i]);
	return st;
}
#define FP_PYTHON_FROM runtime_dir
#else
static PyStatus configure(PyConfig *config)
{
	snprintf(plugin_sys_path, sizeof plugin_sys_path, "%s", FPY_SYS_PATH);
	return PyConfig_SetBytesString(config, &config->executable, FPY_PY_EXECUTABLE);
}
#define FP_PYTHON_FROM FPY_PY_EXECUTABLE
#endif

const char *fp_plugin_sys_path(void) { return plugin_sys_path; }

static int import_runtime(void)
{
	if (!fp_runtime) {
		if (fp_module_register() < 0)
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
		fp_describe_exception(exc, detail, sizeof detail);
	Py_XDECREF(exc);
	snprintf(boot_error, sizeof boot_error, "plugin %s: %s: %s", FPY_NAME, what, detail);
}

/* Which loaded SDK plugin uses another libpython than ours, for the message: the loaded
 * objects other than this one that export plugin_get_name and reach (in their own scope) a
 * Py_GetVersion of another minor version. Only static strings are read; no Python runs. */
struct other_python {
	const char *self;
	char name[256];
	char version[32];
};

static int find_other_plugin(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	struct other_python *o = data;
	if (!info->dlpi_name[0] || o->name[0] || strcmp(info->dlpi_name, o->self) == 0)
		return 0;
	void *h = dlopen(info->dlpi_name, RTLD_LAZY | RTLD_NOLOAD);
	if (!h)
		return 0;
	const char *(*get_name)(void) = (const char *(*)(void))dlsym(h, "plugin_get_name");
	const char *(*get_version)(void) = (const char *(*)(void))dlsym(h, "Py_GetVersion");
	size_t n = strlen(FPY_PY_VERSION);
	if (get_name && get_version) {
		const char *v = get_version();
		if (strncmp(v, FPY_PY_VERSION, n) != 0 || v[n] != '.') {
			snprintf(o->name, sizeof o->name, "%s", get_name());
			snprintf(o->version, sizeof o->version, "%.*s", (int)strcspn(v, " "), v);
		}
	}
	dlclose(h);
	return 0;
}

static void bootstrap(void)
{
	if (libpython_conflict[0]) {
		Dl_info self;
		struct other_python other = {"", "", ""};
		if (dladdr((void *)&fp_interpreter_start, &self) && self.dli_fname)
			other.self = self.dli_fname;
		dl_iterate_phdr(find_other_plugin, &other);
		if (other.name[0])
			snprintf(boot_error, sizeof boot_error,
				 "plugin %s needs Python %s, but plugin %s, loaded before it, uses Python %s "
				 "in this process: SDK plugins of one process share one interpreter, so build both "
				 "with the same Python minor version",
				 FPY_NAME, FPY_PY_VERSION, other.name, other.version);
		else
			snprintf(boot_error, sizeof boot_error, "%s", libpython_conflict);
		return;
	}
	pthread_key_create(&thread_state_key, thread_state_dtor);
#if FPY_PACKAGED
	if (find_runtime() < 0)
		return;
#endif
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
		PyStatus st = configure(&config);
		if (!PyStatus_Exception(st))
			st = Py_InitializeFromConfig(&config);
		PyConfig_Clear(&config);
		if (PyStatus_Exception(st)) {
			snprintf(boot_error, sizeof boot_error,
				 "plugin %s: could not start Python from %.500s: %s%s%.300s", FPY_NAME, FP_PYTHON_FROM,
				 st.func ? st.func : "", st.func ? ": " : "", st.err_msg ? st.err_msg : "error");
			return;
		}
		if (import_runtime() < 0)
			boot_failed_from_python("could not import the falco_plugin runtime");
		fp_thread_state = PyEval_SaveThread(); /* this thread's state, reused on re-entry */
		return;
	}
#if !FPY_PACKAGED
	snprintf(plugin_sys_path, sizeof plugin_sys_path, "%s", FPY_SYS_PATH);
#endif
	/* Another SDK plugin (or the host) started Python: join it. The runtime checks at each
	 * init that this plugin's environment agrees with the ones already loaded. */
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
