/*
 * State tables at init (plugin-api-facts.md, State tables): the HostTables object __init__ receives
 * (list_tables, get_table, add_table), the Table methods that only __init__ may call (fields
 * are looked up or added then), and the registration of the table types in _shim.
 */
#include "tables.h"

/* A state type given as its code or as a hint (str, bool, UInt64 ...); -1 with an error. */
static long state_code(PyObject *o)
{
	if (PyLong_Check(o))
		return PyLong_AsLong(o);
	PyObject *module = PyImport_ImportModule("falco_plugin.tables");
	PyObject *r = module ? PyObject_CallMethod(module, "state_type", "O", o) : NULL;
	Py_XDECREF(module);
	long code = r ? PyLong_AsLong(r) : -1;
	Py_XDECREF(r);
	return code;
}

static fp_access *fields_access(fp_table *tb)
{
	fp_access *a = fp_access_for(tb->state, tb->name, 0);
	if (a && !a->fields) {
		PyErr_Format(fp_table_error_type(), "fields of table '%S' can only be looked up or added in __init__",
			     tb->name);
		return NULL;
	}
	return a;
}

static PyObject *get_or_add_field(fp_table *tb, PyObject *const *args, Py_ssize_t nargs, int add)
{
	const char *fn = add ? "add_field" : "get_field";
	long type = -1;
	if (nargs != 2 || !PyUnicode_Check(args[0]) || ((type = state_code(args[1])), !valid_type(type))) {
		if (!PyErr_Occurred())
			PyErr_Format(PyExc_TypeError, "%s(name, type): type is str, bool, Int8 ... UInt64", fn);
		return NULL;
	}
	fp_access *a = fields_access(tb);
	if (!a)
		return NULL;
	PyObject *known = PyDict_GetItemWithError(tb->fields, args[0]);
	if (known && ((fp_field *)known)->type == (ss_plugin_state_type)type)
		return Py_NewRef(known);
	const char *name = PyUnicode_AsUTF8(args[0]);
	if (!name)
		return NULL;
	char why[FPA_MAX_ERRLEN];
	int read_only = 0;
	PyThreadState *ts = PyEval_SaveThread();
	ss_plugin_table_field_t *f = add ? a->fields->add_table_field(tb->table, name, (ss_plugin_state_type)type)
					 : a->fields->get_table_field(tb->table, name, (ss_plugin_state_type)type);
	if (!f) {
		owner_error(a, why, sizeof why);
	} else if (!add) {
		uint32_t n = 0;
		const ss_plugin_table_fieldinfo *info = a->fields->list_table_fields(tb->table, &n);
		for (uint32_t i = 0; info && i < n; i++)
			if (info[i].name && strcmp(info[i].name, name) == 0)
				read_only = info[i].read_only != 0;
	}
	PyEval_RestoreThread(ts);
	if (!f) {
		PyErr_Format(fp_table_error_type(), "%s('%s', %s) on table '%S': %s", fn, name,
			     type_name((ss_plugin_state_type)type), tb->name, why);
		return NULL;
	}
	PyObject *field = fp_field_new(tb, f, args[0], (ss_plugin_state_type)type, read_only);
	if (field && PyDict_SetItem(tb->fields, args[0], field) < 0)
		Py_CLEAR(field);
	return field;
}

PyObject *fp_table_get_field(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	return get_or_add_field((fp_table *)self, args, nargs, 0);
}

PyObject *fp_table_add_field(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	return get_or_add_field((fp_table *)self, args, nargs, 1);
}

PyObject *fp_table_list_fields(PyObject *self, PyObject *unused)
{
	(void)unused;
	fp_table *tb = (fp_table *)self;
	fp_access *a = fields_access(tb);
	if (!a)
		return NULL;
	uint32_t n = 0;
	PyThreadState *ts = PyEval_SaveThread();
	const ss_plugin_table_fieldinfo *info = a->fields->list_table_fields(tb->table, &n);
	PyEval_RestoreThread(ts);
	PyObject *list = PyList_New(0);
	for (uint32_t i = 0; list && info && i < n; i++) {
		PyObject *item = Py_BuildValue("(siO)", info[i].name ? info[i].name : "", (int)info[i].field_type,
					       info[i].read_only ? Py_True : Py_False);
		if (!item || PyList_Append(list, item) < 0)
			Py_CLEAR(list);
		Py_XDECREF(item);
	}
	return list;
}

/* In __init__: a nested table of a TABLE field, reached through a temporary entry (the host
 * allows writers at init for this) kept until init returns, so that the fields of such
 * nested tables can be looked up (an accessor is valid for every table of that kind). */
PyObject *fp_table_sample_nested(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	fp_table *tb = (fp_table *)self;
	if (nargs != 2 || Py_TYPE(args[0]) != &fp_field_type || ((fp_field *)args[0])->type != SS_PLUGIN_ST_TABLE ||
	    !PyLong_Check(args[1]) || !valid_type(PyLong_AsLong(args[1]))) {
		PyErr_SetString(PyExc_TypeError, "sample_nested(table_field, key_state_type)");
		return NULL;
	}
	fp_field *f = (fp_field *)args[0];
	fp_access *a = fields_access(tb);
	if (!a || !fp_access_for(tb->state, tb->name, 1))
		return NULL;
	char why[FPA_MAX_ERRLEN] = "";
	ss_plugin_state_data out = {0};
	PyThreadState *ts = PyEval_SaveThread();
	ss_plugin_table_entry_t *e = a->writer->create_table_entry(tb->table);
	ss_plugin_rc rc = SS_PLUGIN_FAILURE;
	if (e) {
		rc = a->reader->read_entry_field(tb->table, e, f->field, &out);
		if (rc != SS_PLUGIN_SUCCESS)
			owner_error(a, why, sizeof why);
	} else {
		owner_error(a, why, sizeof why);
	}
	PyEval_RestoreThread(ts);
	/* the nested table lives in the entry: destroyed when __init__ is over */
	if (e && fp_access_hold(a, tb->table, e, 1) < 0) {
		ts = PyEval_SaveThread();
		a->writer->destroy_table_entry(tb->table, e);
		PyEval_RestoreThread(ts);
		return PyErr_NoMemory();
	}
	if (rc != SS_PLUGIN_SUCCESS || !out.table) {
		PyErr_Format(fp_table_error_type(), "reaching the nested tables of field '%S' of table '%S': %s", f->name,
			     tb->name, why[0] ? why : "no table");
		return NULL;
	}
	PyObject *name = PyUnicode_FromFormat("%S.%S", tb->name, f->name);
	PyObject *sub = name ? (PyObject *)fp_table_new(tb->state, out.table, name,
						     (ss_plugin_state_type)PyLong_AsLong(args[1]), NULL, NULL)
			     : NULL;
	Py_XDECREF(name);
	return sub;
}

/* ---- init: the host's table registry ------------------------------------------------ */

typedef struct {
	PyObject_HEAD
	fp_state *state;
	const ss_plugin_init_tables_input *in; /* valid during plugin_init only */
} fp_init_tables;

/* Whether the table of this name is one a plugin of this SDK exported in this process
 * (TablesInput.add_table keeps the names in falco_plugin.tables); not knowing means yes. */
static int served_by_python(PyObject *name)
{
	PyObject *module = PyImport_ImportModule("falco_plugin.tables");
	PyObject *names = module ? PyObject_GetAttrString(module, "_PYTHON_TABLES") : NULL;
	int found = names ? PySequence_Contains(names, name) : -1;
	Py_XDECREF(module);
	Py_XDECREF(names);
	if (found < 0) {
		PyErr_Clear();
		return 1;
	}
	return found;
}

static int init_usable(fp_init_tables *it)
{
	fp_access *a = fp_access_now();
	if (!it->in || !a || a->state != it->state) {
		PyErr_SetString(fp_table_error_type(), "tables can only be looked up or added during __init__");
		return 0;
	}
	return 1;
}

static PyObject *init_list_tables(PyObject *self, PyObject *unused)
{
	(void)unused;
	fp_init_tables *it = (fp_init_tables *)self;
	if (!init_usable(it))
		return NULL;
	uint32_t n = 0;
	PyThreadState *ts = PyEval_SaveThread();
	ss_plugin_table_info *info = it->in->list_tables(it->state->owner, &n);
	PyEval_RestoreThread(ts);
	PyObject *list = PyList_New(0);
	for (uint32_t i = 0; list && info && i < n; i++) {
		PyObject *item = Py_BuildValue("(si)", info[i].name ? info[i].name : "", (int)info[i].key_type);
		if (!item || PyList_Append(list, item) < 0)
			Py_CLEAR(list);
		Py_XDECREF(item);
	}
	return list;
}

static PyObject *init_get_table(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	fp_init_tables *it = (fp_init_tables *)self;
	long key = -1;
	if (nargs != 2 || !PyUnicode_Check(args[0]) || ((key = state_code(args[1])), !valid_type(key))) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_TypeError, "get_table(name, key type)");
		return NULL;
	}
	if (!init_usable(it))
		return NULL;
	const char *name = PyUnicode_AsUTF8(args[0]);
	char why[FPA_MAX_ERRLEN];
	PyThreadState *ts = PyEval_SaveThread();
	ss_plugin_table_t *t = it->in->get_table(it->state->owner, name, (ss_plugin_state_type)key);
	if (!t)
		owner_error(fp_access_now(), why, sizeof why);
	PyEval_RestoreThread(ts);
	if (!t) {
		PyErr_Format(fp_table_error_type(), "no table '%s' with %s keys: %s", name,
			     type_name((ss_plugin_state_type)key), why);
		return NULL;
	}
	fp_table *tb = fp_table_new(it->state, t, args[0], (ss_plugin_state_type)key, NULL, NULL);
	if (tb) {
		tb->reuse = 1;
		tb->python_served = served_by_python(args[0]);
	}
	return (PyObject *)tb;
}

static PyObject *init_add_table(PyObject *self, PyObject *table)
{
	fp_init_tables *it = (fp_init_tables *)self;
	if (!init_usable(it))
		return NULL;
	char why[FPA_MAX_ERRLEN] = "";
	if (fp_tables_export(it->state, it->in, table, why, sizeof why) < 0) {
		if (!PyErr_Occurred())
			PyErr_Format(fp_table_error_type(), "add_table: %s", why);
		return NULL;
	}
	Py_RETURN_NONE;
}

static PyMethodDef init_methods[] = {
	{"list_tables", init_list_tables, METH_NOARGS, "list_tables(): (name, key_state_type) of every table"},
	{"get_table", (PyCFunction)(void (*)(void))init_get_table, METH_FASTCALL, "get_table(name, key_state_type)"},
	{"add_table", init_add_table, METH_O, "add_table(exported_table)"},
	{NULL, NULL, 0, NULL},
};

static PyTypeObject init_tables_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "falco_plugin.tables.HostTables",
	.tp_basicsize = sizeof(fp_init_tables),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "The host's tables, during __init__.",
	.tp_methods = init_methods,
};

PyObject *fp_init_tables_new(fp_state *s, const ss_plugin_init_tables_input *in)
{
	fp_init_tables *it = PyObject_New(fp_init_tables, &init_tables_type);
	if (it) {
		it->state = s;
		it->in = in;
	}
	return (PyObject *)it;
}

void fp_init_tables_done(PyObject *obj)
{
	/* obj is None for a plugin given no tables: writing there overwrote libpython's own
	 * data next to Py_None (3.14 crashed in its parser) */
	if (obj && Py_IS_TYPE(obj, &init_tables_type))
		((fp_init_tables *)obj)->in = NULL;
}

int fp_tables_register(PyObject *module)
{
	PyTypeObject *types[] = {&fp_table_type, &fp_field_type, &fp_entry_type, &init_tables_type};
	const char *names[] = {"Table", "Field", "Entry", "HostTables"};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (PyType_Ready(types[i]) < 0 || PyModule_AddObjectRef(module, names[i], (PyObject *)types[i]) < 0)
			return -1;
	return 0;
}
