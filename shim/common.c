/*
 * What every plugin exports: baked metadata, init / destroy / errors / config, and the
 * HostLink object through which Python reaches the host (logging here; more capabilities
 * add methods in their own files).
 */
#include "shim.h"

#include <stdlib.h>
#include <string.h>

/* --- metadata: static C data, no Python ---------------------------------------------- */

FP_EXPORT const char *plugin_get_required_api_version(void) { return FPY_REQUIRED_API_VERSION; }

/* Exported only when the plugin declares a version or takes other events than plugin events
 * (the version script). Decided at init: NULL (meaning "3.0.0") before init or for None. */
FP_EXPORT const char *plugin_get_required_event_schema_version(ss_plugin_t *s)
{
#if FPY_SCHEMA_AT_INIT
	return s ? ((fp_state *)s)->schema_version : NULL;
#else
	(void)s;
	return FPY_EVENT_SCHEMA_VERSION;
#endif
}
FP_EXPORT const char *plugin_get_version(void) { return FPY_VERSION; }
FP_EXPORT const char *plugin_get_name(void) { return FPY_NAME; }
FP_EXPORT const char *plugin_get_description(void) { return FPY_DESCRIPTION; }
FP_EXPORT const char *plugin_get_contact(void) { return FPY_CONTACT; }

FP_EXPORT const char *plugin_get_init_schema(ss_plugin_schema_type *schema_type)
{
	static const char schema[] = FPY_INIT_SCHEMA;
	*schema_type = schema[0] ? SS_PLUGIN_SCHEMA_JSON : SS_PLUGIN_SCHEMA_NONE;
	return schema;
}

FP_EXPORT const char *plugin_get_last_error(ss_plugin_t *s)
{
	return s ? ((fp_state *)s)->last_error : "falco-plugin: no plugin state";
}

/* --- HostLink: the Python object that calls back into the host --------------------- */

typedef struct {
	PyObject_HEAD
	fp_state *state; /* NULL once the state is destroyed */
} fp_link;

static PyObject *link_log(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	const char *msg;
	long severity;
	if (nargs != 2 || !(msg = PyUnicode_AsUTF8(args[0])) ||
	    ((severity = PyLong_AsLong(args[1])) == -1 && PyErr_Occurred())) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_TypeError, "HostLink.log(message: str, severity: int)");
		return NULL;
	}
	fp_state *s = ((fp_link *)self)->state;
	ss_plugin_log_fn_t log_fn = s ? s->log_fn : NULL;
	ss_plugin_owner_t *owner = s ? s->owner : NULL;
	if (!log_fn) {
		fprintf(stderr, "%s: %s\n", FPY_NAME, msg);
		Py_RETURN_NONE;
	}
	Py_BEGIN_ALLOW_THREADS
	log_fn(owner, NULL, msg, (ss_plugin_log_severity)severity);
	Py_END_ALLOW_THREADS
	Py_RETURN_NONE;
}

static PyMethodDef link_methods[] = {
	{"log", (PyCFunction)(void (*)(void))link_log, METH_FASTCALL, "log(message, severity): the host's log_fn"},
	{NULL, NULL, 0, NULL},
};

static PyTypeObject link_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "falco_plugin_shim.HostLink",
	.tp_basicsize = sizeof(fp_link),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "The host side of one plugin state.",
	.tp_methods = link_methods,
	.tp_new = NULL,
};

PyObject *fp_link_new(fp_state *s)
{
	if (!(link_type.tp_flags & Py_TPFLAGS_READY) && PyType_Ready(&link_type) < 0)
		return NULL;
	fp_link *link = PyObject_New(fp_link, &link_type);
	if (link)
		link->state = s;
	return (PyObject *)link;
}

void fp_link_clear(PyObject *link)
{
	if (link)
		((fp_link *)link)->state = NULL;
}

/* --- lifecycle ---------------------------------------------------------------------- */

#define FPY_DECIDE_AT_INIT (FPY_EXTRACT_TYPES_AT_INIT || FPY_PARSE_TYPES_AT_INIT || FPY_SCHEMA_AT_INIT)

#if FPY_DECIDE_AT_INIT
/* A list of codes from Python into s->types[i] (None: keep the baked ones). */
static int keep_types(fp_state *s, int i, PyObject *codes)
{
	if (codes == Py_None)
		return 0;
	Py_ssize_t n = PyList_Size(codes);
	if (n < 0)
		return -1;
	s->types[i] = malloc((size_t)(n ? n : 1) * sizeof(uint16_t));
	if (!s->types[i]) {
		PyErr_NoMemory();
		return -1;
	}
	for (Py_ssize_t k = 0; k < n; k++) {
		long v = PyLong_AsLong(PyList_GET_ITEM(codes, k)); /* checked 0..65535 in Python */
		if (v == -1 && PyErr_Occurred())
			return -1;
		s->types[i][k] = (uint16_t)v;
	}
	s->ntypes[i] = (uint32_t)n;
	return 0;
}

/* With the GIL, right after __init__: what the plugin decides at init (plugin-api-facts.md, Init
 * init step 5: the host asks for event types after init). -1 with a Python error. */
static int decide_at_init(fp_state *s)
{
	PyObject *r = fp_runtime_call("decide_at_init", &s->plugin, 1);
	if (!r)
		return -1;
	int rc = -1;
	if (PyTuple_Check(r) && PyTuple_GET_SIZE(r) == 3 && keep_types(s, 0, PyTuple_GET_ITEM(r, 0)) == 0 &&
	    keep_types(s, 1, PyTuple_GET_ITEM(r, 1)) == 0) {
		PyObject *v = PyTuple_GET_ITEM(r, 2);
		const char *text = v == Py_None ? NULL : PyUnicode_AsUTF8(v);
		if (v == Py_None || text) {
			s->schema_version = text ? strdup(text) : NULL;
			rc = text && !s->schema_version ? -1 : 0;
			if (rc)
				PyErr_NoMemory();
		}
	}
	Py_DECREF(r);
	return rc;
}
#endif

#if FPY_DECIDE_AT_INIT || FPY_CAP_PARSING || FPY_CAP_EXTRACTION
/* A step after the plugin's __init__ failed: keep its error, destroy the plugin object. */
static void abandon_init(fp_state *s)
{
	fp_set_error_from_python(s, "");
	PyObject *args[] = {s->plugin, s->link};
	PyObject *res = fp_runtime_call("destroy", args, 2);
	Py_XDECREF(res);
	PyErr_Clear();
	Py_CLEAR(s->plugin);
}
#endif

FP_EXPORT ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc)
{
	*rc = SS_PLUGIN_FAILURE;
	fp_state *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->owner = in ? in->owner : NULL;
	s->log_fn = in ? in->log_fn : NULL; /* present from API 3.3, which we require */
	if (fp_interpreter_start(s->last_error, sizeof s->last_error) < 0)
		return s; /* the host reads get_last_error, then calls destroy */

	/* tables: NULL unless the plugin parses or extracts (plugin-api-facts.md, Init) */
	const ss_plugin_init_tables_input *tables = in && FPY_USES_TABLES ? in->tables : NULL;
	fp_access access;
	fp_access_begin(&access, s, "init");
	if (tables) {
		access.owner = s->owner;
		access.owner_error = in->get_owner_last_error;
		access.reader = tables->reader_ext;
		access.writer = tables->writer_ext;
		access.fields = tables->fields_ext ? tables->fields_ext : &tables->fields;
	}
	fp_gil g = fp_enter();
	PyObject *config = PyUnicode_DecodeUTF8(in && in->config ? in->config : "",
						(Py_ssize_t)strlen(in && in->config ? in->config : ""), "replace");
	PyObject *module = PyUnicode_FromString(FPY_ENTRY_MODULE);
	PyObject *cls = PyUnicode_FromString(FPY_ENTRY_CLASS);
	PyObject *host_tables = tables ? fp_init_tables_new(s, tables) : Py_NewRef(Py_None);
	s->link = fp_link_new(s);
	PyObject *sys_path = PyUnicode_DecodeFSDefault(fp_plugin_sys_path());
	PyObject *build_info = PyUnicode_FromString(FPY_BUILD_JSON);
	if (config && module && cls && s->link && host_tables && sys_path && build_info) {
		PyObject *args[] = {module, cls, config, s->link, host_tables, sys_path, build_info};
		s->plugin = fp_runtime_call("create", args, 7);
	}
	Py_XDECREF(sys_path);
	Py_XDECREF(build_info);
	fp_init_tables_done(host_tables);
	Py_XDECREF(host_tables);
#if FPY_DECIDE_AT_INIT
	if (s->plugin && decide_at_init(s) < 0) {
		abandon_init(s);
	}
#endif
#if FPY_CAP_PARSING
	if (s->plugin && fp_parse_init(s) < 0) {
		abandon_init(s);
	}
#endif
#if FPY_CAP_EXTRACTION
	if (s->plugin && fp_extract_init(s) < 0) {
		abandon_init(s);
	}
#endif
	if (!s->plugin && !s->last_error[0])
		fp_set_error_from_python(s, "");
	Py_XDECREF(config);
	Py_XDECREF(module);
	Py_XDECREF(cls);
	if (s->plugin)
		*rc = SS_PLUGIN_SUCCESS;
	fp_leave(g);
	fp_access_end(&access);
	return s;
}

FP_EXPORT void plugin_destroy(ss_plugin_t *st)
{
	fp_state *s = st;
	if (!s)
		return;
	int failed = 0;
	if (s->link) {
		fp_gil g = fp_enter();
#if FPY_CAP_ASYNC
		if (s->plugin && fp_async_destroy(s) < 0) /* the host should have reset the handler */
			failed = 1;
#endif
		if (s->plugin) {
			PyObject *args[] = {s->plugin, s->link};
			PyObject *res = fp_runtime_call("destroy", args, 2);
			if (!res) {
				fp_set_error_from_python(s, "destroy");
				failed = 1;
			}
			Py_XDECREF(res);
		}
#if FPY_CAP_EXTRACTION
		fp_extract_destroy(s);
#endif
#if FPY_CAP_LISTENING
		fp_listen_destroy(s);
#endif
#if FPY_CAP_PARSING
		fp_parse_destroy(s);
#endif
		fp_metrics_destroy(s);
		fp_tables_destroy(s);
		fp_link_clear(s->link);
		Py_CLEAR(s->event);
		Py_CLEAR(s->plugin);
		Py_CLEAR(s->link);
		fp_leave(g);
	}
	if (failed && s->log_fn) /* never call the host with the GIL held */
		s->log_fn(s->owner, NULL, s->last_error, SS_PLUGIN_LOG_SEV_ERROR);
	free(s->text);
	free(s->types[0]);
	free(s->types[1]);
	free(s->schema_version);
	free(s);
}

FP_EXPORT ss_plugin_rc plugin_set_config(ss_plugin_t *st, const ss_plugin_set_config_input *in)
{
	fp_state *s = st;
	if (!s || !s->plugin) {
		if (s)
			fp_set_error(s, "set_config: the plugin is not initialized");
		return SS_PLUGIN_FAILURE;
	}
	ss_plugin_rc rc = SS_PLUGIN_FAILURE;
	fp_gil g = fp_enter();
	const char *text = in && in->config ? in->config : "";
	PyObject *config = PyUnicode_DecodeUTF8(text, (Py_ssize_t)strlen(text), "replace");
	PyObject *res = NULL;
	if (config) {
		PyObject *args[] = {s->plugin, config};
		res = fp_runtime_call("set_config", args, 2);
	}
	if (res)
		rc = SS_PLUGIN_SUCCESS;
	else
		fp_set_error_from_python(s, "set_config");
	Py_XDECREF(res);
	Py_XDECREF(config);
	fp_leave(g);
	return rc;
}
