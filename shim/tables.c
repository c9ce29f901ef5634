/*
 * State tables (plugin-api-facts.md, State tables): the host's tables seen from Python (this file; what
 * __init__ does with them in tables_init.c), and the plugin's own tables exported to the host
 * (tables_export.c). Mirrors falco_plugin/tables.py.
 *
 * Access rules come from the ABI: tables and field accessors are looked up only in init,
 * the vtables are valid only inside the call that received them, readers in extraction,
 * readers and writers in parsing, capture listening and init. Each plugin-API call that
 * brings vtables pushes an fp_access on its thread; a Python object for a table, field or
 * entry checks it before every operation, so misuse raises instead of corrupting anything.
 * Entries the call obtained are released when it ends; entry objects kept past it raise.
 * The GIL is released around every call into the host, as everywhere in the shim.
 */
#include "tables.h"

#include <stdlib.h>
#include <string.h>

static __thread fp_access *current;
static __thread uint64_t generations;

void fp_access_begin(fp_access *a, fp_state *s, const char *phase)
{
	/* per call: member by member, the in-place entries are written only as they are held */
	a->state = s;
	a->phase = phase;
	a->owner = NULL;
	a->owner_error = NULL;
	a->reader = NULL;
	a->writer = NULL;
	a->fields = NULL;
	a->generation = ++generations;
	a->held = a->in_place;
	a->nheld = 0;
	a->capheld = sizeof a->in_place / sizeof a->in_place[0];
	a->prev = current;
	current = a;
}

int fp_access_hold(fp_access *a, ss_plugin_table_t *t, ss_plugin_table_entry_t *e, int created)
{
	if (a->nheld == a->capheld) {
		size_t cap = 2 * a->capheld;
		struct fp_held *held = a->held == a->in_place ? malloc(cap * sizeof *held)
							    : realloc(a->held, cap * sizeof *held);
		if (!held)
			return -1;
		if (a->held == a->in_place)
			memcpy(held, a->in_place, sizeof a->in_place);
		a->held = held;
		a->capheld = cap;
	}
	a->held[a->nheld++] = (struct fp_held){t, e, created};
	return 0;
}

void fp_access_end(fp_access *a)
{
	for (size_t i = 0; i < a->nheld; i++) {
		struct fp_held *h = &a->held[i];
		if (h->created == 1 && a->writer)
			a->writer->destroy_table_entry(h->table, h->entry); /* created, never added */
		else if (h->created == 0 && a->reader)
			a->reader->release_table_entry(h->table, h->entry);
	}
	if (a->held != a->in_place)
		free(a->held);
	current = a->prev;
}

fp_access *fp_access_now(void) { return current; }

/* ---- errors ------------------------------------------------------------------------- */

PyObject *fp_table_error_type(void)
{
	static PyObject *type;
	if (!type) {
		PyObject *module = PyImport_ImportModule("falco_plugin.tables");
		if (module) {
			type = PyObject_GetAttrString(module, "TableError");
			Py_DECREF(module);
		}
		if (!type) {
			PyErr_Clear();
			return PyExc_RuntimeError;
		}
	}
	return type;
}

/* ---- imported tables: Table, Field, Entry ------------------------------------------- */

/* The current call's access, or NULL with an error, for an object of state s. */
fp_access *fp_access_for(fp_state *s, PyObject *name, int write)
{
	fp_access *a = current;
	if (!a || a->state != s || !a->reader) {
		PyErr_Format(fp_table_error_type(),
			     "table '%S' used outside a call that has table access (init, parse_event, extract, "
			     "capture_open/capture_close, on the thread of that call)",
			     name);
		return NULL;
	}
	if (write && !a->writer) {
		PyErr_Format(fp_table_error_type(), "table '%S' is read-only during %s: write to tables in parse_event, "
			     "capture_open/capture_close or init", name, a->phase);
		return NULL;
	}
	return a;
}

static fp_access *access_for_entry(fp_entry *e, int write)
{
	fp_access *a = fp_access_for(e->table->state, e->table->name, write);
	if (a && e->generation != a->generation) {
		PyErr_Format(fp_table_error_type(),
			     "an entry of table '%S' is only valid during the call that got it (look it up again)",
			     e->table->name);
		return NULL;
	}
	return a;
}

/*
 * Around the hot table calls (get an entry, read or write a field): give up the GIL only
 * when it matters. It must be released when the call may enter Python on this thread (a
 * table a falco-plugin plugin exported: its callbacks take the GIL) or when another thread
 * could be waiting for it. With this thread's the only Python thread state, none can be;
 * a thread that starts waiting during the call waits for that call only, since the host's
 * table calls take no lock that a thread entering a plugin holds (libsinsp's take none;
 * this host takes its tables lock before calling a plugin, not inside the vtables).
 * Releasing and taking the GIL back costs more than the lookup or read itself.
 */
static inline PyThreadState *host_call_begin(const fp_table *tb)
{
	PyThreadState *ts = PyThreadState_Get();
	if (!tb->python_served && PyInterpreterState_ThreadHead(PyThreadState_GetInterpreter(ts)) == ts &&
	    !PyThreadState_Next(ts))
		return NULL;
	return PyEval_SaveThread();
}

static inline void host_call_end(PyThreadState *ts)
{
	if (ts)
		PyEval_RestoreThread(ts);
}

fp_table *fp_table_new(fp_state *s, ss_plugin_table_t *t, PyObject *name, ss_plugin_state_type key_type,
			   PyObject *entry_cls, PyObject *fields)
{
	fp_table *tb = PyObject_GC_New(fp_table, &fp_table_type);
	if (!tb)
		return NULL;
	tb->state = s;
	tb->table = t;
	tb->key_type = key_type;
	tb->name = Py_NewRef(name);
	tb->entry_type = Py_NewRef(entry_cls ? entry_cls : (PyObject *)&fp_entry_type);
	tb->spare = NULL;
	tb->reuse = 0;
	tb->python_served = 1;
	tb->fields = fields ? Py_NewRef(fields) : PyDict_New();
	if (!tb->fields) {
		Py_DECREF(tb);
		return NULL;
	}
	PyObject_GC_Track(tb);
	return tb;
}

static int has_dict(PyTypeObject *t)
{
#ifdef Py_TPFLAGS_MANAGED_DICT
	if (t->tp_flags & Py_TPFLAGS_MANAGED_DICT)
		return 1;
#endif
	return t->tp_dictoffset != 0;
}

/* Whether Python can no longer reach o in any way: no other reference, no weak reference,
 * no attribute set on it. Only then may the object stand for another entry. */
static int entry_unreachable(PyObject *o)
{
	if (Py_REFCNT(o) != 1)
		return 0;
	PyTypeObject *t = Py_TYPE(o);
	if (t->tp_weaklistoffset && *(PyObject **)((char *)o + t->tp_weaklistoffset))
		return 0;
	if (t == &fp_entry_type || !has_dict(t))
		return 1;
	/* documented API: it makes the dict of an object that has none yet (once per object,
	 * the spare entry is reused) where the private _PyObject_GetDictPtr did not */
	PyObject *dict = PyObject_GenericGetDict(o, NULL);
	if (!dict) {
		PyErr_Clear();
		return 0;
	}
	int empty = PyDict_GET_SIZE(dict) == 0;
	Py_DECREF(dict);
	return empty;
}

/* The entry object for e during the call of this generation. An entry lookup is per event,
 * so the table's previous entry object is taken again when nothing can reach it any more
 * (the common case: it was dropped at the end of the last call); else a new one, which
 * becomes the one to reuse. An object kept by Python keeps its old generation and raises. */
static PyObject *entry_new(fp_table *tb, ss_plugin_table_entry_t *e, uint64_t generation)
{
	fp_entry *en = (fp_entry *)tb->spare;
	if (en && Py_TYPE(en) == (PyTypeObject *)tb->entry_type && entry_unreachable((PyObject *)en)) {
		en->entry = e;
		en->generation = generation;
		return Py_NewRef(en);
	}
	PyTypeObject *type = (PyTypeObject *)tb->entry_type;
	en = (fp_entry *)type->tp_alloc(type, 0);
	if (!en)
		return NULL;
	en->table = (fp_table *)Py_NewRef(tb);
	en->entry = e;
	en->generation = generation;
	if (tb->reuse)
		Py_XSETREF(tb->spare, Py_NewRef(en));
	return (PyObject *)en;
}

static PyObject *entry_read(fp_entry *e, fp_field *f)
{
	fp_access *a = access_for_entry(e, 0);
	if (!a)
		return NULL;
	ss_plugin_state_data out;
	char why[FPA_MAX_ERRLEN];
	PyThreadState *ts = host_call_begin(e->table);
	ss_plugin_rc rc = a->reader->read_entry_field(e->table->table, e->entry, f->field, &out);
	if (rc != SS_PLUGIN_SUCCESS)
		owner_error(a, why, sizeof why);
	host_call_end(ts);
	if (rc != SS_PLUGIN_SUCCESS) {
		PyErr_Format(fp_table_error_type(), "reading field '%S' of table '%S': %s", f->name, e->table->name, why);
		return NULL;
	}
	if (f->type != SS_PLUGIN_ST_TABLE)
		return from_state(&out, f->type);
	if (!out.table)
		Py_RETURN_NONE;
	fp_table *tmpl = (fp_table *)f->sub;
	PyObject *name = PyUnicode_FromFormat("%S.%S", e->table->name, f->name);
	if (!name)
		return NULL;
	fp_table *sub = fp_table_new(e->table->state, out.table, name, tmpl ? tmpl->key_type : SS_PLUGIN_ST_INT64,
				  tmpl ? tmpl->entry_type : NULL, tmpl ? tmpl->fields : NULL);
	Py_DECREF(name);
	if (sub)
		sub->python_served = e->table->python_served;
	return (PyObject *)sub;
}

static int entry_write(fp_entry *e, fp_field *f, PyObject *value)
{
	if (!value) {
		PyErr_Format(PyExc_AttributeError, "fields of table '%S' cannot be deleted", e->table->name);
		return -1;
	}
	fp_access *a = access_for_entry(e, 1);
	if (!a)
		return -1;
	if (f->read_only) {
		PyErr_Format(fp_table_error_type(), "field '%S' of table '%S' is read-only", f->name, e->table->name);
		return -1;
	}
	fp_what what = {f->name, e->table->name, NULL};
	ss_plugin_state_data in;
	if (to_state(value, f->type, &in, &what) < 0)
		return -1;
	char why[FPA_MAX_ERRLEN];
	PyThreadState *ts = host_call_begin(e->table);
	ss_plugin_rc rc = a->writer->write_entry_field(e->table->table, e->entry, f->field, &in);
	if (rc != SS_PLUGIN_SUCCESS)
		owner_error(a, why, sizeof why);
	host_call_end(ts);
	if (rc != SS_PLUGIN_SUCCESS) {
		char buf[256];
		PyErr_Format(fp_table_error_type(), "writing %s: %s", what_text(&what, buf, sizeof buf), why);
		return -1;
	}
	return 0;
}

/* A Field object, or a field name resolved at init. */
static fp_field *lookup_field(fp_entry *e, PyObject *key)
{
	if (Py_TYPE(key) == &fp_field_type) {
		fp_field *f = (fp_field *)key;
		if (f->state != e->table->state || PyObject_RichCompareBool(f->table_name, e->table->name, Py_NE) == 1) {
			PyErr_Format(fp_table_error_type(), "field '%S' belongs to table '%S', not '%S'", f->name,
				     f->table_name, e->table->name);
			return NULL;
		}
		return f;
	}
	PyObject *f = PyUnicode_Check(key) ? PyDict_GetItemWithError(e->table->fields, key) : NULL;
	if (!f && !PyErr_Occurred())
		PyErr_Format(PyExc_KeyError,
			     "table '%S' has no field %R looked up in __init__ (get_field/add_field, or declare it)",
			     e->table->name, key);
	return (fp_field *)f;
}

static PyObject *entry_getitem(PyObject *self, PyObject *key)
{
	fp_field *f = lookup_field((fp_entry *)self, key);
	return f ? entry_read((fp_entry *)self, f) : NULL;
}

static int entry_setitem(PyObject *self, PyObject *key, PyObject *value)
{
	fp_field *f = lookup_field((fp_entry *)self, key);
	return f ? entry_write((fp_entry *)self, f, value) : -1;
}

static void entry_dealloc(PyObject *self)
{
	PyObject_GC_UnTrack(self);
	Py_CLEAR(((fp_entry *)self)->table);
	Py_TYPE(self)->tp_free(self);
}

static int entry_traverse(PyObject *self, visitproc visit, void *arg)
{
	Py_VISIT(((fp_entry *)self)->table);
	Py_VISIT(Py_TYPE(self));
	return 0;
}

static int entry_clear(PyObject *self)
{
	Py_CLEAR(((fp_entry *)self)->table);
	return 0;
}

static PyObject *entry_repr(PyObject *self)
{
	fp_entry *e = (fp_entry *)self;
	return PyUnicode_FromFormat("<%s of table '%S'>", Py_TYPE(self)->tp_name, e->table ? e->table->name : Py_None);
}

static PyObject *entry_table(PyObject *self, void *closure)
{
	(void)closure;
	fp_entry *e = (fp_entry *)self;
	return Py_NewRef(e->table ? (PyObject *)e->table : Py_None);
}

static PyMappingMethods entry_mapping = {
	.mp_subscript = entry_getitem,
	.mp_ass_subscript = entry_setitem,
};

static PyGetSetDef entry_getset[] = {
	{"table", entry_table, NULL, "the table the entry belongs to", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject fp_entry_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "falco_plugin.tables.Entry",
	.tp_basicsize = sizeof(fp_entry),
	.tp_dealloc = entry_dealloc,
	.tp_repr = entry_repr,
	.tp_as_mapping = &entry_mapping,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
	.tp_doc = "An entry of a host table, valid during the call that got it. entry[field] reads, "
		  "entry[field] = v writes (field: a Field or the name of one looked up in __init__).",
	.tp_traverse = entry_traverse,
	.tp_clear = entry_clear,
	.tp_getset = entry_getset,
};

/* An Entry or a subclass: a bound entry class has Entry as its solid base, checked first. */
static inline int is_entry(PyObject *o)
{
	PyTypeObject *t = Py_TYPE(o);
	return t == &fp_entry_type || t->tp_base == &fp_entry_type || PyType_IsSubtype(t, &fp_entry_type);
}

/* Field: also a descriptor, so a typed entry class reads entry.comm in one C call. */
static PyObject *field_descr_get(PyObject *self, PyObject *obj, PyObject *type)
{
	(void)type;
	if (!obj)
		return Py_NewRef(self);
	if (!is_entry(obj)) {
		PyErr_SetString(PyExc_TypeError, "a table Field reads table entries only");
		return NULL;
	}
	return entry_read((fp_entry *)obj, (fp_field *)self);
}

static int field_descr_set(PyObject *self, PyObject *obj, PyObject *value)
{
	if (!is_entry(obj)) {
		PyErr_SetString(PyExc_TypeError, "a table Field writes table entries only");
		return -1;
	}
	return entry_write((fp_entry *)obj, (fp_field *)self, value);
}

static void field_dealloc(PyObject *self)
{
	fp_field *f = (fp_field *)self;
	PyObject_GC_UnTrack(self);
	Py_CLEAR(f->name);
	Py_CLEAR(f->table_name);
	Py_CLEAR(f->sub);
	Py_TYPE(self)->tp_free(self);
}

static int field_traverse(PyObject *self, visitproc visit, void *arg)
{
	Py_VISIT(((fp_field *)self)->sub);
	return 0;
}

static int field_clear(PyObject *self)
{
	Py_CLEAR(((fp_field *)self)->sub);
	return 0;
}

static PyObject *field_repr(PyObject *self)
{
	fp_field *f = (fp_field *)self;
	return PyUnicode_FromFormat("<Field %S.%S: %s%s>", f->table_name, f->name, type_name(f->type),
				    f->read_only ? ", read-only" : "");
}

static PyObject *field_get_sub(PyObject *self, void *closure)
{
	(void)closure;
	fp_field *f = (fp_field *)self;
	return Py_NewRef(f->sub ? f->sub : Py_None);
}

static int field_set_sub(PyObject *self, PyObject *value, void *closure)
{
	(void)closure;
	if (value && value != Py_None && Py_TYPE(value) != &fp_table_type) {
		PyErr_SetString(PyExc_TypeError, "sub must be a Table");
		return -1;
	}
	Py_XSETREF(((fp_field *)self)->sub, value && value != Py_None ? Py_NewRef(value) : NULL);
	return 0;
}

static PyObject *field_get_name(PyObject *self, void *closure) { (void)closure; return Py_NewRef(((fp_field *)self)->name); }
static PyObject *field_get_type(PyObject *self, void *closure) { (void)closure; return PyLong_FromLong(((fp_field *)self)->type); }
static PyObject *field_get_ro(PyObject *self, void *closure) { (void)closure; return PyBool_FromLong(((fp_field *)self)->read_only); }

static PyGetSetDef field_getset[] = {
	{"name", field_get_name, NULL, "the field's name", NULL},
	{"type", field_get_type, NULL, "the field's state type code", NULL},
	{"read_only", field_get_ro, NULL, "whether the field refuses writes", NULL},
	{"sub", field_get_sub, field_set_sub, "for a table field: the template of its nested tables", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject fp_field_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "falco_plugin.tables.Field",
	.tp_basicsize = sizeof(fp_field),
	.tp_dealloc = field_dealloc,
	.tp_repr = field_repr,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.tp_doc = "An accessor of one field of a host table, looked up in __init__.",
	.tp_traverse = field_traverse,
	.tp_clear = field_clear,
	.tp_getset = field_getset,
	.tp_descr_get = field_descr_get,
	.tp_descr_set = field_descr_set,
};

PyObject *fp_field_new(fp_table *tb, ss_plugin_table_field_t *ptr, PyObject *name, ss_plugin_state_type type,
			   int read_only)
{
	fp_field *f = PyObject_GC_New(fp_field, &fp_field_type);
	if (!f)
		return NULL;
	f->state = tb->state;
	f->field = ptr;
	f->type = type;
	f->read_only = read_only;
	f->name = Py_NewRef(name);
	f->table_name = Py_NewRef(tb->name);
	f->sub = NULL;
	PyObject_GC_Track(f);
	return (PyObject *)f;
}

/* Table methods */

static int key_of(fp_table *tb, PyObject *key, ss_plugin_state_data *out)
{
	fp_what what = {NULL, tb->name, NULL};
	return to_state(key, tb->key_type, out, &what);
}

static PyObject *table_get(PyObject *self, PyObject *key)
{
	fp_table *tb = (fp_table *)self;
	fp_access *a = fp_access_for(tb->state, tb->name, 0);
	ss_plugin_state_data k;
	if (!a || key_of(tb, key, &k) < 0)
		return NULL;
	PyThreadState *ts = host_call_begin(tb);
	ss_plugin_table_entry_t *e = a->reader->get_table_entry(tb->table, &k);
	host_call_end(ts);
	if (!e)
		Py_RETURN_NONE;
	if (fp_access_hold(a, tb->table, e, 0) < 0) {
		ts = PyEval_SaveThread();
		a->reader->release_table_entry(tb->table, e);
		PyEval_RestoreThread(ts);
		return PyErr_NoMemory();
	}
	return entry_new(tb, e, a->generation);
}

static PyObject *table_getitem(PyObject *self, PyObject *key)
{
	PyObject *e = table_get(self, key);
	if (e == Py_None) {
		Py_DECREF(e);
		PyErr_Format(PyExc_KeyError, "%R (not in table '%S')", key, ((fp_table *)self)->name);
		return NULL;
	}
	return e;
}

static int table_contains(PyObject *self, PyObject *key)
{
	PyObject *e = table_get(self, key);
	if (!e)
		return -1;
	int found = e != Py_None;
	Py_DECREF(e);
	return found;
}

static Py_ssize_t table_len(PyObject *self)
{
	fp_table *tb = (fp_table *)self;
	fp_access *a = fp_access_for(tb->state, tb->name, 0);
	if (!a)
		return -1;
	PyThreadState *ts = PyEval_SaveThread();
	uint64_t n = a->reader->get_table_size(tb->table);
	PyEval_RestoreThread(ts);
	if (n == UINT64_MAX) {
		PyErr_Format(fp_table_error_type(), "the size of table '%S' is not available", tb->name);
		return -1;
	}
	return (Py_ssize_t)n;
}

struct iteration {
	fp_table *table;
	fp_access *access;
	PyObject *fn;      /* called per entry; NULL: collect into list */
	PyObject *list;
	PyThreadState *ts; /* saved while the host iterates */
	int failed;
};

static ss_plugin_bool iterate_one(ss_plugin_table_iterator_state_t *st, ss_plugin_table_entry_t *e)
{
	struct iteration *it = st;
	PyEval_RestoreThread(it->ts);
	int go_on = 0;
	PyObject *entry = entry_new(it->table, e, it->access->generation);
	if (entry) {
		if (it->fn) {
			PyObject *r = PyObject_CallOneArg(it->fn, entry);
			go_on = r ? (r == Py_None ? 1 : PyObject_IsTrue(r)) : -1;
			Py_XDECREF(r);
		} else {
			go_on = PyList_Append(it->list, entry) == 0 ? 1 : -1;
		}
		Py_DECREF(entry);
	} else {
		go_on = -1;
	}
	if (go_on < 0)
		it->failed = 1;
	it->ts = PyEval_SaveThread();
	return go_on > 0;
}

static PyObject *iterate(fp_table *tb, PyObject *fn)
{
	fp_access *a = fp_access_for(tb->state, tb->name, 0);
	if (!a)
		return NULL;
	struct iteration it = {tb, a, fn, NULL, NULL, 0};
	if (!fn && !(it.list = PyList_New(0)))
		return NULL;
	it.ts = PyEval_SaveThread();
	ss_plugin_bool done = a->reader->iterate_entries(tb->table, iterate_one, &it);
	PyEval_RestoreThread(it.ts);
	if (it.failed) {
		Py_XDECREF(it.list);
		return NULL;
	}
	return fn ? PyBool_FromLong(done != 0) : it.list;
}

static PyObject *table_iterate(PyObject *self, PyObject *fn)
{
	if (!PyCallable_Check(fn)) {
		PyErr_SetString(PyExc_TypeError, "iterate(fn): fn(entry) is called for every entry until it returns False");
		return NULL;
	}
	return iterate((fp_table *)self, fn);
}

static PyObject *table_entries(PyObject *self, PyObject *unused)
{
	(void)unused;
	return iterate((fp_table *)self, NULL);
}

static PyObject *table_iter(PyObject *self)
{
	PyObject *list = iterate((fp_table *)self, NULL);
	if (!list)
		return NULL;
	PyObject *iter = PyObject_GetIter(list);
	Py_DECREF(list);
	return iter;
}

static PyObject *table_create_entry(PyObject *self, PyObject *unused)
{
	(void)unused;
	fp_table *tb = (fp_table *)self;
	fp_access *a = fp_access_for(tb->state, tb->name, 1);
	if (!a)
		return NULL;
	PyThreadState *ts = PyEval_SaveThread();
	ss_plugin_table_entry_t *e = a->writer->create_table_entry(tb->table);
	char why[FPA_MAX_ERRLEN];
	if (!e)
		owner_error(a, why, sizeof why);
	PyEval_RestoreThread(ts);
	if (!e) {
		PyErr_Format(fp_table_error_type(), "creating an entry of table '%S': %s", tb->name, why);
		return NULL;
	}
	if (fp_access_hold(a, tb->table, e, 1) < 0)
		return PyErr_NoMemory();
	return entry_new(tb, e, a->generation);
}

static PyObject *table_add_entry(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	fp_table *tb = (fp_table *)self;
	if (nargs != 2 || !PyObject_TypeCheck(args[1], &fp_entry_type)) {
		PyErr_SetString(PyExc_TypeError, "add_entry(key, entry): entry from create_entry()");
		return NULL;
	}
	fp_entry *en = (fp_entry *)args[1];
	fp_access *a = fp_access_for(tb->state, tb->name, 1);
	ss_plugin_state_data k;
	if (!a || !access_for_entry(en, 1) || key_of(tb, args[0], &k) < 0)
		return NULL;
	size_t i = 0;
	while (i < a->nheld && !(a->held[i].entry == en->entry && a->held[i].created == 1))
		i++;
	if (en->table != tb || i == a->nheld) {
		PyErr_Format(fp_table_error_type(), "add_entry: the entry was not made by create_entry() of table '%S' "
			     "in this call, or was added already", tb->name);
		return NULL;
	}
	char why[FPA_MAX_ERRLEN];
	PyThreadState *ts = PyEval_SaveThread();
	ss_plugin_table_entry_t *e = a->writer->add_table_entry(tb->table, &k, en->entry);
	if (!e)
		owner_error(a, why, sizeof why);
	PyEval_RestoreThread(ts);
	if (!e) {
		a->held[i].created = 2; /* the host took it even so: nothing to release */
		PyErr_Format(fp_table_error_type(), "adding entry %R to table '%S': %s", args[0], tb->name, why);
		return NULL;
	}
	/* the added entry is obtained like one from get_table_entry: released at the call's end */
	a->held[i] = (struct fp_held){tb->table, e, 0};
	en->entry = e;
	return Py_NewRef(args[1]);
}

static PyObject *table_erase(PyObject *self, PyObject *key)
{
	fp_table *tb = (fp_table *)self;
	fp_access *a = fp_access_for(tb->state, tb->name, 1);
	ss_plugin_state_data k;
	if (!a || key_of(tb, key, &k) < 0)
		return NULL;
	char why[FPA_MAX_ERRLEN];
	PyThreadState *ts = PyEval_SaveThread();
	ss_plugin_rc rc = a->writer->erase_table_entry(tb->table, &k);
	if (rc != SS_PLUGIN_SUCCESS)
		owner_error(a, why, sizeof why);
	PyEval_RestoreThread(ts);
	if (rc != SS_PLUGIN_SUCCESS) {
		PyErr_Format(fp_table_error_type(), "erasing %R from table '%S': %s", key, tb->name, why);
		return NULL;
	}
	Py_RETURN_NONE;
}

static int table_ass_subscript(PyObject *self, PyObject *key, PyObject *value)
{
	if (value) {
		PyErr_SetString(PyExc_TypeError, "add entries with create_entry() and add_entry(key, entry)");
		return -1;
	}
	PyObject *r = table_erase(self, key);
	Py_XDECREF(r);
	return r ? 0 : -1;
}

static PyObject *table_clear_entries(PyObject *self, PyObject *unused)
{
	(void)unused;
	fp_table *tb = (fp_table *)self;
	fp_access *a = fp_access_for(tb->state, tb->name, 1);
	if (!a)
		return NULL;
	char why[FPA_MAX_ERRLEN];
	PyThreadState *ts = PyEval_SaveThread();
	ss_plugin_rc rc = a->writer->clear_table(tb->table);
	if (rc != SS_PLUGIN_SUCCESS)
		owner_error(a, why, sizeof why);
	PyEval_RestoreThread(ts);
	if (rc != SS_PLUGIN_SUCCESS) {
		PyErr_Format(fp_table_error_type(), "clearing table '%S': %s", tb->name, why);
		return NULL;
	}
	Py_RETURN_NONE;
}

static PyObject *table_bind(PyObject *self, PyObject *cls)
{
	fp_table *tb = (fp_table *)self;
	if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &fp_entry_type)) {
		PyErr_SetString(PyExc_TypeError, "bind(cls): cls must subclass falco_plugin.tables.Entry");
		return NULL;
	}
	Py_SETREF(tb->entry_type, Py_NewRef(cls));
	Py_RETURN_NONE;
}

static void table_dealloc(PyObject *self)
{
	fp_table *tb = (fp_table *)self;
	PyObject_GC_UnTrack(self);
	Py_CLEAR(tb->name);
	Py_CLEAR(tb->entry_type);
	Py_CLEAR(tb->fields);
	Py_CLEAR(tb->spare);
	Py_TYPE(self)->tp_free(self);
}

static int table_traverse(PyObject *self, visitproc visit, void *arg)
{
	fp_table *tb = (fp_table *)self;
	Py_VISIT(tb->entry_type);
	Py_VISIT(tb->fields);
	Py_VISIT(tb->spare);
	return 0;
}

static int table_tp_clear(PyObject *self)
{
	fp_table *tb = (fp_table *)self;
	Py_CLEAR(tb->entry_type);
	Py_CLEAR(tb->fields);
	Py_CLEAR(tb->spare);
	return 0;
}

static PyObject *table_repr(PyObject *self)
{
	fp_table *tb = (fp_table *)self;
	return PyUnicode_FromFormat("<Table '%S' key %s>", tb->name, type_name(tb->key_type));
}

static PyObject *table_get_name(PyObject *self, void *c) { (void)c; return Py_NewRef(((fp_table *)self)->name); }

/* The host's owner error now (after a failed lookup: why), or None. */
static PyObject *table_last_error(PyObject *self, PyObject *unused)
{
	(void)unused;
	fp_table *tb = (fp_table *)self;
	fp_access *a = fp_access_for(tb->state, tb->name, 0);
	if (!a)
		return NULL;
	char why[FPA_MAX_ERRLEN] = "";
	PyThreadState *ts = PyEval_SaveThread();
	const char *e = a->owner_error ? a->owner_error(a->owner) : NULL;
	if (e)
		snprintf(why, sizeof why, "%s", e);
	PyEval_RestoreThread(ts);
	if (!why[0])
		Py_RETURN_NONE;
	return PyUnicode_DecodeUTF8(why, (Py_ssize_t)strlen(why), "replace");
}

/* The table's name as the host tells it (get_table_name). */
static PyObject *table_host_name(PyObject *self, PyObject *unused)
{
	(void)unused;
	fp_table *tb = (fp_table *)self;
	fp_access *a = fp_access_for(tb->state, tb->name, 0);
	if (!a)
		return NULL;
	char name[FPA_MAX_ERRLEN] = "";
	char why[FPA_MAX_ERRLEN];
	PyThreadState *ts = PyEval_SaveThread();
	const char *n = a->reader->get_table_name(tb->table);
	if (n)
		snprintf(name, sizeof name, "%s", n);
	else
		owner_error(a, why, sizeof why);
	PyEval_RestoreThread(ts);
	if (!n) {
		PyErr_Format(fp_table_error_type(), "get_table_name of table '%S': %s", tb->name, why);
		return NULL;
	}
	return PyUnicode_DecodeUTF8(name, (Py_ssize_t)strlen(name), "replace");
}
static PyObject *table_get_key_type(PyObject *self, void *c) { (void)c; return PyLong_FromLong(((fp_table *)self)->key_type); }
static PyObject *table_get_fields(PyObject *self, void *c) { (void)c; return PyDictProxy_New(((fp_table *)self)->fields); }

static PyMethodDef table_methods[] = {
	{"get", table_get, METH_O, "get(key): the entry, or None"},
	{"last_error", table_last_error, METH_NOARGS, "last_error(): the host's reason for the last failure, or None"},
	{"host_name", table_host_name, METH_NOARGS, "host_name(): the table's name, from the host (get_table_name)"},
	{"iterate", table_iterate, METH_O, "iterate(fn): fn(entry) for every entry until it returns False"},
	{"entries", table_entries, METH_NOARGS, "entries(): every entry, as a list"},
	{"create_entry", table_create_entry, METH_NOARGS, "create_entry(): a new entry, to fill and add_entry()"},
	{"add_entry", (PyCFunction)(void (*)(void))table_add_entry, METH_FASTCALL, "add_entry(key, entry)"},
	{"erase", table_erase, METH_O, "erase(key)"},
	{"clear", table_clear_entries, METH_NOARGS, "clear(): erase every entry"},
	{"get_field", (PyCFunction)(void (*)(void))fp_table_get_field, METH_FASTCALL,
	 "get_field(name, state_type): the accessor of an existing field (in __init__)"},
	{"add_field", (PyCFunction)(void (*)(void))fp_table_add_field, METH_FASTCALL,
	 "add_field(name, state_type): add a field of this plugin's to the table (in __init__)"},
	{"list_fields", fp_table_list_fields, METH_NOARGS, "list_fields(): (name, state_type, read_only) (in __init__)"},
	{"sample_nested", (PyCFunction)(void (*)(void))fp_table_sample_nested, METH_FASTCALL, NULL},
	{"bind", table_bind, METH_O, NULL},
	{NULL, NULL, 0, NULL},
};

static PyGetSetDef table_getset[] = {
	{"name", table_get_name, NULL, "the table's name", NULL},
	{"key_type", table_get_key_type, NULL, "the state type code of its keys", NULL},
	{"fields", table_get_fields, NULL, "the fields looked up in __init__, by name", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyMappingMethods table_mapping = {
	.mp_length = table_len,
	.mp_subscript = table_getitem,
	.mp_ass_subscript = table_ass_subscript,
};

static PySequenceMethods table_sequence = {
	.sq_contains = table_contains,
};

PyTypeObject fp_table_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "falco_plugin.tables.Table",
	.tp_basicsize = sizeof(fp_table),
	.tp_dealloc = table_dealloc,
	.tp_repr = table_repr,
	.tp_as_mapping = &table_mapping,
	.tp_as_sequence = &table_sequence,
	.tp_iter = table_iter,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.tp_doc = "A host table (or another plugin's), usable inside the calls that have table access.",
	.tp_traverse = table_traverse,
	.tp_clear = table_tp_clear,
	.tp_methods = table_methods,
	.tp_getset = table_getset,
};
