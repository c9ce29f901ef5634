/*
 * State tables (plugin-api.md §3.7): the host's tables seen from Python, and the plugin's
 * own tables exported to the host. Mirrors falco_plugin/tables.py.
 *
 * Access rules come from the ABI: tables and field accessors are looked up only in init,
 * the vtables are valid only inside the call that received them, readers in extraction,
 * readers and writers in parsing, capture listening and init. Each plugin-API call that
 * brings vtables pushes an fp_access on its thread; a Python object for a table, field or
 * entry checks it before every operation, so misuse raises instead of corrupting anything.
 * Entries the call obtained are released when it ends; entry objects kept past it raise.
 * The GIL is released around every call into the host, as everywhere in the shim.
 */
#include "shim.h"

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

static int hold(fp_access *a, ss_plugin_table_t *t, ss_plugin_table_entry_t *e, int created)
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

/* ---- errors ------------------------------------------------------------------------- */

static PyObject *table_error_type(void)
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

/* The host's reason for the last failure, copied while the GIL is released. */
static void owner_error(const fp_access *a, char *out, size_t n)
{
	const char *e = a->owner_error ? a->owner_error(a->owner) : NULL;
	snprintf(out, n, "%s", e && *e ? e : "no reason given by the host");
}

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

/* ---- state values <-> Python -------------------------------------------------------- */

static const char *type_name(ss_plugin_state_type t)
{
	switch (t) {
	case SS_PLUGIN_ST_INT8: return "int8";
	case SS_PLUGIN_ST_INT16: return "int16";
	case SS_PLUGIN_ST_INT32: return "int32";
	case SS_PLUGIN_ST_INT64: return "int64";
	case SS_PLUGIN_ST_UINT8: return "uint8";
	case SS_PLUGIN_ST_UINT16: return "uint16";
	case SS_PLUGIN_ST_UINT32: return "uint32";
	case SS_PLUGIN_ST_UINT64: return "uint64";
	case SS_PLUGIN_ST_STRING: return "string";
	case SS_PLUGIN_ST_TABLE: return "table";
	case SS_PLUGIN_ST_BOOL: return "bool";
	default: return "unknown";
	}
}

static int valid_type(long t)
{
	return (t >= SS_PLUGIN_ST_INT8 && t <= SS_PLUGIN_ST_TABLE) || t == SS_PLUGIN_ST_BOOL;
}

/* What a value is, for messages: "field 'f' of table 't'", "the key of table 't'" or a fixed
 * text. The text is only made when a message needs it: a value converted per call must not
 * pay a format for an error that does not happen. */
typedef struct {
	PyObject *field, *table; /* str: the field's name (NULL: the table's key), the table's */
	const char *text;        /* instead of field/table when not NULL */
} fp_what;

static const char *what_text(const fp_what *w, char *buf, size_t n)
{
	if (w->text)
		return w->text;
	const char *table = PyUnicode_AsUTF8(w->table);
	const char *field = w->field ? PyUnicode_AsUTF8(w->field) : NULL;
	if (!table || (w->field && !field)) {
		PyErr_Clear();
		return "a table value";
	}
	if (field)
		snprintf(buf, n, "field '%s' of table '%s'", field, table);
	else
		snprintf(buf, n, "the key of table '%s'", table);
	return buf;
}

/* v as a value of type t; a str stays owned by v. w names the value in errors. */
static int to_state(PyObject *v, ss_plugin_state_type t, ss_plugin_state_data *out, const fp_what *w)
{
	char buf[256];
	out->u64 = 0;
	if (t == SS_PLUGIN_ST_STRING) {
		if (!PyUnicode_Check(v)) {
			PyErr_Format(PyExc_TypeError, "%s holds str, not %.80s", what_text(w, buf, sizeof buf), Py_TYPE(v)->tp_name);
			return -1;
		}
		Py_ssize_t n;
		out->str = PyUnicode_AsUTF8AndSize(v, &n);
		if (!out->str)
			return -1;
		if ((size_t)n != strlen(out->str)) {
			PyErr_Format(PyExc_ValueError, "%s: a string cannot hold NUL characters", what_text(w, buf, sizeof buf));
			return -1;
		}
		return 0;
	}
	if (t == SS_PLUGIN_ST_BOOL) {
		if (!PyBool_Check(v)) {
			PyErr_Format(PyExc_TypeError, "%s holds bool, not %.80s", what_text(w, buf, sizeof buf), Py_TYPE(v)->tp_name);
			return -1;
		}
		out->b = v == Py_True;
		return 0;
	}
	if (t == SS_PLUGIN_ST_TABLE) {
		PyErr_Format(PyExc_TypeError, "%s is a table: it cannot be written", what_text(w, buf, sizeof buf));
		return -1;
	}
	if (!PyLong_Check(v) || PyBool_Check(v)) {
		PyErr_Format(PyExc_TypeError, "%s holds %s, not %.80s", what_text(w, buf, sizeof buf), type_name(t), Py_TYPE(v)->tp_name);
		return -1;
	}
	int overflow = 0;
	long long s = 0;
	unsigned long long u = 0;
	int is_signed = t <= SS_PLUGIN_ST_INT64;
	if (is_signed) {
		s = PyLong_AsLongLongAndOverflow(v, &overflow);
		if (s == -1 && PyErr_Occurred())
			return -1;
	} else {
		/* a negative int raises OverflowError here too */
		if ((u = PyLong_AsUnsignedLongLong(v)) == (unsigned long long)-1 && PyErr_Occurred()) {
			PyErr_Clear();
			overflow = 1;
		}
	}
	switch (t) {
	case SS_PLUGIN_ST_INT8: overflow |= s < INT8_MIN || s > INT8_MAX; out->s8 = (int8_t)s; break;
	case SS_PLUGIN_ST_INT16: overflow |= s < INT16_MIN || s > INT16_MAX; out->s16 = (int16_t)s; break;
	case SS_PLUGIN_ST_INT32: overflow |= s < INT32_MIN || s > INT32_MAX; out->s32 = (int32_t)s; break;
	case SS_PLUGIN_ST_INT64: out->s64 = s; break;
	case SS_PLUGIN_ST_UINT8: overflow |= u > UINT8_MAX; out->u8 = (uint8_t)u; break;
	case SS_PLUGIN_ST_UINT16: overflow |= u > UINT16_MAX; out->u16 = (uint16_t)u; break;
	case SS_PLUGIN_ST_UINT32: overflow |= u > UINT32_MAX; out->u32 = (uint32_t)u; break;
	default: out->u64 = u; break;
	}
	if (overflow) {
		PyErr_Format(PyExc_OverflowError, "%s holds %s: %R is out of range", what_text(w, buf, sizeof buf), type_name(t), v);
		return -1;
	}
	return 0;
}

static PyObject *from_state(const ss_plugin_state_data *d, ss_plugin_state_type t)
{
	switch (t) {
	case SS_PLUGIN_ST_INT8: return PyLong_FromLong(d->s8);
	case SS_PLUGIN_ST_INT16: return PyLong_FromLong(d->s16);
	case SS_PLUGIN_ST_INT32: return PyLong_FromLong(d->s32);
	case SS_PLUGIN_ST_INT64: return PyLong_FromLongLong(d->s64);
	case SS_PLUGIN_ST_UINT8: return PyLong_FromUnsignedLong(d->u8);
	case SS_PLUGIN_ST_UINT16: return PyLong_FromUnsignedLong(d->u16);
	case SS_PLUGIN_ST_UINT32: return PyLong_FromUnsignedLong(d->u32);
	case SS_PLUGIN_ST_UINT64: return PyLong_FromUnsignedLongLong(d->u64);
	case SS_PLUGIN_ST_STRING: return PyUnicode_DecodeUTF8(d->str ? d->str : "", d->str ? (Py_ssize_t)strlen(d->str) : 0, "replace");
	case SS_PLUGIN_ST_BOOL: return PyBool_FromLong(d->b != 0);
	default: PyErr_Format(PyExc_TypeError, "cannot convert a %s value", type_name(t)); return NULL;
	}
}

/* ---- imported tables: Table, Field, Entry ------------------------------------------- */

typedef struct {
	PyObject_HEAD
	fp_state *state;
	ss_plugin_table_t *table;
	ss_plugin_state_type key_type;
	PyObject *name;
	PyObject *entry_type; /* what get() hands out: Entry or a bound subclass */
	PyObject *fields;     /* dict: name -> Field */
	/* the last entry object handed out, to reuse once nothing holds it; only for tables
	 * looked up in init, which live as long as the plugin (the pair is a reference cycle) */
	PyObject *spare;
	int reuse;
	int python_served; /* 1 unless known not to be a table a falco-plugin plugin exported */
} fp_table;

typedef struct {
	PyObject_HEAD
	fp_state *state;
	ss_plugin_table_field_t *field;
	ss_plugin_state_type type;
	int read_only;
	PyObject *name, *table_name;
	PyObject *sub; /* a TABLE field: the Table whose entry_type/fields/key its nested tables take */
} fp_field;

typedef struct {
	PyObject_HEAD
	fp_table *table;
	ss_plugin_table_entry_t *entry;
	uint64_t generation;
} fp_entry;

static PyTypeObject table_type, field_type, entry_type;

/* The current call's access, or NULL with an error, for an object of state s. */
static fp_access *access_for(fp_state *s, PyObject *name, int write)
{
	fp_access *a = current;
	if (!a || a->state != s || !a->reader) {
		PyErr_Format(table_error_type(),
			     "table '%S' used outside a call that has table access (init, parse_event, extract, "
			     "capture_open/capture_close, on the thread of that call)",
			     name);
		return NULL;
	}
	if (write && !a->writer) {
		PyErr_Format(table_error_type(), "table '%S' is read-only during %s: write to tables in parse_event, "
			     "capture_open/capture_close or init", name, a->phase);
		return NULL;
	}
	return a;
}

static fp_access *access_for_entry(fp_entry *e, int write)
{
	fp_access *a = access_for(e->table->state, e->table->name, write);
	if (a && e->generation != a->generation) {
		PyErr_Format(table_error_type(),
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

static fp_table *table_new(fp_state *s, ss_plugin_table_t *t, PyObject *name, ss_plugin_state_type key_type,
			   PyObject *entry_cls, PyObject *fields)
{
	fp_table *tb = PyObject_GC_New(fp_table, &table_type);
	if (!tb)
		return NULL;
	tb->state = s;
	tb->table = t;
	tb->key_type = key_type;
	tb->name = Py_NewRef(name);
	tb->entry_type = Py_NewRef(entry_cls ? entry_cls : (PyObject *)&entry_type);
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
	if (t == &entry_type || !has_dict(t))
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
		PyErr_Format(table_error_type(), "reading field '%S' of table '%S': %s", f->name, e->table->name, why);
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
	fp_table *sub = table_new(e->table->state, out.table, name, tmpl ? tmpl->key_type : SS_PLUGIN_ST_INT64,
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
		PyErr_Format(table_error_type(), "field '%S' of table '%S' is read-only", f->name, e->table->name);
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
		PyErr_Format(table_error_type(), "writing %s: %s", what_text(&what, buf, sizeof buf), why);
		return -1;
	}
	return 0;
}

/* A Field object, or a field name resolved at init. */
static fp_field *lookup_field(fp_entry *e, PyObject *key)
{
	if (Py_TYPE(key) == &field_type) {
		fp_field *f = (fp_field *)key;
		if (f->state != e->table->state || PyObject_RichCompareBool(f->table_name, e->table->name, Py_NE) == 1) {
			PyErr_Format(table_error_type(), "field '%S' belongs to table '%S', not '%S'", f->name,
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

static PyTypeObject entry_type = {
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
	return t == &entry_type || t->tp_base == &entry_type || PyType_IsSubtype(t, &entry_type);
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
	if (value && value != Py_None && Py_TYPE(value) != &table_type) {
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

static PyTypeObject field_type = {
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

static PyObject *field_new(fp_table *tb, ss_plugin_table_field_t *ptr, PyObject *name, ss_plugin_state_type type,
			   int read_only)
{
	fp_field *f = PyObject_GC_New(fp_field, &field_type);
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
	fp_access *a = access_for(tb->state, tb->name, 0);
	ss_plugin_state_data k;
	if (!a || key_of(tb, key, &k) < 0)
		return NULL;
	PyThreadState *ts = host_call_begin(tb);
	ss_plugin_table_entry_t *e = a->reader->get_table_entry(tb->table, &k);
	host_call_end(ts);
	if (!e)
		Py_RETURN_NONE;
	if (hold(a, tb->table, e, 0) < 0) {
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
	fp_access *a = access_for(tb->state, tb->name, 0);
	if (!a)
		return -1;
	PyThreadState *ts = PyEval_SaveThread();
	uint64_t n = a->reader->get_table_size(tb->table);
	PyEval_RestoreThread(ts);
	if (n == UINT64_MAX) {
		PyErr_Format(table_error_type(), "the size of table '%S' is not available", tb->name);
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
	fp_access *a = access_for(tb->state, tb->name, 0);
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
	fp_access *a = access_for(tb->state, tb->name, 1);
	if (!a)
		return NULL;
	PyThreadState *ts = PyEval_SaveThread();
	ss_plugin_table_entry_t *e = a->writer->create_table_entry(tb->table);
	char why[FPA_MAX_ERRLEN];
	if (!e)
		owner_error(a, why, sizeof why);
	PyEval_RestoreThread(ts);
	if (!e) {
		PyErr_Format(table_error_type(), "creating an entry of table '%S': %s", tb->name, why);
		return NULL;
	}
	if (hold(a, tb->table, e, 1) < 0)
		return PyErr_NoMemory();
	return entry_new(tb, e, a->generation);
}

static PyObject *table_add_entry(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	fp_table *tb = (fp_table *)self;
	if (nargs != 2 || !PyObject_TypeCheck(args[1], &entry_type)) {
		PyErr_SetString(PyExc_TypeError, "add_entry(key, entry): entry from create_entry()");
		return NULL;
	}
	fp_entry *en = (fp_entry *)args[1];
	fp_access *a = access_for(tb->state, tb->name, 1);
	ss_plugin_state_data k;
	if (!a || !access_for_entry(en, 1) || key_of(tb, args[0], &k) < 0)
		return NULL;
	size_t i = 0;
	while (i < a->nheld && !(a->held[i].entry == en->entry && a->held[i].created == 1))
		i++;
	if (en->table != tb || i == a->nheld) {
		PyErr_Format(table_error_type(), "add_entry: the entry was not made by create_entry() of table '%S' "
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
		PyErr_Format(table_error_type(), "adding entry %R to table '%S': %s", args[0], tb->name, why);
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
	fp_access *a = access_for(tb->state, tb->name, 1);
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
		PyErr_Format(table_error_type(), "erasing %R from table '%S': %s", key, tb->name, why);
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
	fp_access *a = access_for(tb->state, tb->name, 1);
	if (!a)
		return NULL;
	char why[FPA_MAX_ERRLEN];
	PyThreadState *ts = PyEval_SaveThread();
	ss_plugin_rc rc = a->writer->clear_table(tb->table);
	if (rc != SS_PLUGIN_SUCCESS)
		owner_error(a, why, sizeof why);
	PyEval_RestoreThread(ts);
	if (rc != SS_PLUGIN_SUCCESS) {
		PyErr_Format(table_error_type(), "clearing table '%S': %s", tb->name, why);
		return NULL;
	}
	Py_RETURN_NONE;
}

static fp_access *fields_access(fp_table *tb)
{
	fp_access *a = access_for(tb->state, tb->name, 0);
	if (a && !a->fields) {
		PyErr_Format(table_error_type(), "fields of table '%S' can only be looked up or added in __init__",
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
		PyErr_Format(table_error_type(), "%s('%s', %s) on table '%S': %s", fn, name,
			     type_name((ss_plugin_state_type)type), tb->name, why);
		return NULL;
	}
	PyObject *field = field_new(tb, f, args[0], (ss_plugin_state_type)type, read_only);
	if (field && PyDict_SetItem(tb->fields, args[0], field) < 0)
		Py_CLEAR(field);
	return field;
}

static PyObject *table_get_field(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	return get_or_add_field((fp_table *)self, args, nargs, 0);
}

static PyObject *table_add_field(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	return get_or_add_field((fp_table *)self, args, nargs, 1);
}

static PyObject *table_list_fields(PyObject *self, PyObject *unused)
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
static PyObject *table_sample_nested(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	fp_table *tb = (fp_table *)self;
	if (nargs != 2 || Py_TYPE(args[0]) != &field_type || ((fp_field *)args[0])->type != SS_PLUGIN_ST_TABLE ||
	    !PyLong_Check(args[1]) || !valid_type(PyLong_AsLong(args[1]))) {
		PyErr_SetString(PyExc_TypeError, "sample_nested(table_field, key_state_type)");
		return NULL;
	}
	fp_field *f = (fp_field *)args[0];
	fp_access *a = fields_access(tb);
	if (!a || !access_for(tb->state, tb->name, 1))
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
	if (e && hold(a, tb->table, e, 1) < 0) {
		ts = PyEval_SaveThread();
		a->writer->destroy_table_entry(tb->table, e);
		PyEval_RestoreThread(ts);
		return PyErr_NoMemory();
	}
	if (rc != SS_PLUGIN_SUCCESS || !out.table) {
		PyErr_Format(table_error_type(), "reaching the nested tables of field '%S' of table '%S': %s", f->name,
			     tb->name, why[0] ? why : "no table");
		return NULL;
	}
	PyObject *name = PyUnicode_FromFormat("%S.%S", tb->name, f->name);
	PyObject *sub = name ? (PyObject *)table_new(tb->state, out.table, name,
						     (ss_plugin_state_type)PyLong_AsLong(args[1]), NULL, NULL)
			     : NULL;
	Py_XDECREF(name);
	return sub;
}

static PyObject *table_bind(PyObject *self, PyObject *cls)
{
	fp_table *tb = (fp_table *)self;
	if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &entry_type)) {
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
	fp_access *a = access_for(tb->state, tb->name, 0);
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
	fp_access *a = access_for(tb->state, tb->name, 0);
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
		PyErr_Format(table_error_type(), "get_table_name of table '%S': %s", tb->name, why);
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
	{"get_field", (PyCFunction)(void (*)(void))table_get_field, METH_FASTCALL,
	 "get_field(name, state_type): the accessor of an existing field (in __init__)"},
	{"add_field", (PyCFunction)(void (*)(void))table_add_field, METH_FASTCALL,
	 "add_field(name, state_type): add a field of this plugin's to the table (in __init__)"},
	{"list_fields", table_list_fields, METH_NOARGS, "list_fields(): (name, state_type, read_only) (in __init__)"},
	{"sample_nested", (PyCFunction)(void (*)(void))table_sample_nested, METH_FASTCALL, NULL},
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

static PyTypeObject table_type = {
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

/* ---- init: the host's table registry ------------------------------------------------ */

typedef struct {
	PyObject_HEAD
	fp_state *state;
	const ss_plugin_init_tables_input *in; /* valid during plugin_init only */
} fp_init_tables;

static int init_usable(fp_init_tables *it)
{
	if (!it->in || !current || current->state != it->state) {
		PyErr_SetString(table_error_type(), "tables can only be looked up or added during __init__");
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
		owner_error(current, why, sizeof why);
	PyEval_RestoreThread(ts);
	if (!t) {
		PyErr_Format(table_error_type(), "no table '%s' with %s keys: %s", name,
			     type_name((ss_plugin_state_type)key), why);
		return NULL;
	}
	fp_table *tb = table_new(it->state, t, args[0], (ss_plugin_state_type)key, NULL, NULL);
	if (tb) {
		tb->reuse = 1;
		tb->python_served = served_by_python(args[0]);
	}
	return (PyObject *)tb;
}

int fp_tables_export(fp_state *s, const ss_plugin_init_tables_input *in, PyObject *table, char *why, size_t n);

static PyObject *init_add_table(PyObject *self, PyObject *table)
{
	fp_init_tables *it = (fp_init_tables *)self;
	if (!init_usable(it))
		return NULL;
	char why[FPA_MAX_ERRLEN] = "";
	if (fp_tables_export(it->state, it->in, table, why, sizeof why) < 0) {
		if (!PyErr_Occurred())
			PyErr_Format(table_error_type(), "add_table: %s", why);
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
	PyTypeObject *types[] = {&table_type, &field_type, &entry_type, &init_tables_type};
	const char *names[] = {"Table", "Field", "Entry", "HostTables"};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (PyType_Ready(types[i]) < 0 || PyModule_AddObjectRef(module, names[i], (PyObject *)types[i]) < 0)
			return -1;
	return 0;
}

/* ---- exported tables: the plugin's own, served to the host ----------------------------
 * The host calls these vtables (without the GIL, from whatever thread is in a call that
 * has table access); each one enters Python and calls the ExportedTable's _methods. Entry
 * handles are the Python entry objects, kept alive while the host holds them; field
 * handles are small C records by field index, stable for the table's life.
 */

struct fp_xfield {
	struct fp_xtable *t;
	uint32_t index;
	ss_plugin_state_type type;
	int read_only;
};

struct fp_xtable {
	fp_state *state;
	PyObject *table; /* the Python ExportedTable */
	char *name;
	ss_plugin_state_type key_type;
	ss_plugin_table_fieldinfo *info;
	uint32_t ninfo;
	PyObject *info_names; /* keeps the names in info alive */
	struct fp_xfield **fields;
	uint32_t nfields;
	PyObject *last; /* the last string read, alive until the next read */
	ss_plugin_table_reader_vtable_ext reader;
	ss_plugin_table_writer_vtable_ext writer;
	ss_plugin_table_fields_vtable_ext fieldsvt;
	struct fp_xtable *next;
};

static PyObject *x_call(struct fp_xtable *xt, const char *method, PyObject *const *args, size_t nargs)
{
	PyObject *fn = PyObject_GetAttrString(xt->table, method);
	if (!fn)
		return NULL;
	PyObject *r = PyObject_Vectorcall(fn, args, nargs, NULL);
	Py_DECREF(fn);
	return r;
}

static void x_failed(struct fp_xtable *xt, const char *what)
{
	char where[200];
	snprintf(where, sizeof where, "table '%s': %s", xt->name, what);
	fp_set_error_from_python(xt->state, where);
}

static PyObject *x_key(struct fp_xtable *xt, const ss_plugin_state_data *key)
{
	if (xt->key_type == SS_PLUGIN_ST_STRING && !key->str)
		return PyUnicode_FromString("");
	return from_state(key, xt->key_type);
}

static const char *x_get_name(ss_plugin_table_t *t) { return ((struct fp_xtable *)t)->name; }

static uint64_t x_get_size(ss_plugin_table_t *t)
{
	struct fp_xtable *xt = t;
	fp_gil g = fp_enter();
	Py_ssize_t n = PyObject_Length(xt->table);
	if (n < 0)
		x_failed(xt, "size");
	fp_leave(g);
	return n < 0 ? UINT64_MAX : (uint64_t)n;
}

static ss_plugin_table_entry_t *x_get_entry(ss_plugin_table_t *t, const ss_plugin_state_data *key)
{
	struct fp_xtable *xt = t;
	fp_gil g = fp_enter();
	PyObject *k = x_key(xt, key), *e = NULL;
	if (k) {
		e = x_call(xt, "_get", &k, 1);
		Py_DECREF(k);
	}
	if (!e)
		x_failed(xt, "get_table_entry");
	else if (e == Py_None) {
		Py_CLEAR(e);
		fp_set_error(xt->state, "table '%s': no such entry", xt->name);
	}
	fp_leave(g);
	return e; /* a reference the host gives back with release_table_entry */
}

static void x_release_entry(ss_plugin_table_t *t, ss_plugin_table_entry_t *e)
{
	(void)t;
	if (!e)
		return;
	fp_gil g = fp_enter();
	Py_DECREF((PyObject *)e);
	fp_leave(g);
}

static struct fp_xfield *x_field_handle(struct fp_xtable *xt, PyObject *r)
{
	/* r: (index, state_type, read_only) from _field/_add_field */
	long index, type;
	int ro;
	if (!PyArg_ParseTuple(r, "llp", &index, &type, &ro))
		return NULL;
	if (index < 0 || index > 100000) {
		PyErr_SetString(PyExc_ValueError, "field index out of range");
		return NULL;
	}
	if ((uint32_t)index >= xt->nfields) {
		struct fp_xfield **fields = realloc(xt->fields, (size_t)(index + 1) * sizeof *fields);
		if (!fields) {
			PyErr_NoMemory();
			return NULL;
		}
		memset(fields + xt->nfields, 0, ((size_t)index + 1 - xt->nfields) * sizeof *fields);
		xt->fields = fields;
		xt->nfields = (uint32_t)index + 1;
	}
	if (!xt->fields[index]) {
		struct fp_xfield *f = calloc(1, sizeof *f);
		if (!f) {
			PyErr_NoMemory();
			return NULL;
		}
		*f = (struct fp_xfield){xt, (uint32_t)index, (ss_plugin_state_type)type, ro};
		xt->fields[index] = f;
	}
	return xt->fields[index];
}

static ss_plugin_rc x_read(ss_plugin_table_t *t, ss_plugin_table_entry_t *e, const ss_plugin_table_field_t *fh,
			   ss_plugin_state_data *out)
{
	struct fp_xtable *xt = t;
	const struct fp_xfield *f = fh;
	ss_plugin_rc rc = SS_PLUGIN_FAILURE;
	fp_gil g = fp_enter();
	PyObject *index = PyLong_FromUnsignedLong(f->index);
	PyObject *v = NULL;
	if (index) {
		PyObject *args[] = {(PyObject *)e, index};
		v = x_call(xt, "_read", args, 2);
		Py_DECREF(index);
	}
	static const fp_what what = {NULL, NULL, "a field value"};
	if (v && to_state(v, f->type, out, &what) == 0) {
		Py_XSETREF(xt->last, v); /* a string's UTF-8 lives in it */
		v = NULL;
		rc = SS_PLUGIN_SUCCESS;
	}
	if (rc != SS_PLUGIN_SUCCESS)
		x_failed(xt, "read_entry_field");
	Py_XDECREF(v);
	fp_leave(g);
	return rc;
}

struct x_iteration {
	ss_plugin_table_iterator_func_t fn;
	ss_plugin_table_iterator_state_t *st;
};

static ss_plugin_bool x_iterate(ss_plugin_table_t *t, ss_plugin_table_iterator_func_t it,
				ss_plugin_table_iterator_state_t *st)
{
	struct fp_xtable *xt = t;
	fp_gil g = fp_enter();
	PyObject *list = x_call(xt, "_entries_list", NULL, 0);
	if (!list || !PyList_Check(list)) {
		if (!list)
			x_failed(xt, "iterate_entries");
		Py_XDECREF(list);
		fp_leave(g);
		return 0;
	}
	ss_plugin_bool all = 1;
	for (Py_ssize_t i = 0; all && i < PyList_GET_SIZE(list); i++) {
		PyObject *e = PyList_GET_ITEM(list, i); /* alive: the list holds it */
		PyThreadState *ts = PyEval_SaveThread();
		all = it(st, e) != 0;
		PyEval_RestoreThread(ts);
	}
	Py_DECREF(list);
	fp_leave(g);
	return all;
}

static ss_plugin_rc x_simple(struct fp_xtable *xt, const char *method, const ss_plugin_state_data *key)
{
	fp_gil g = fp_enter();
	PyObject *k = key ? x_key(xt, key) : NULL, *r = NULL;
	if (!key || k)
		r = x_call(xt, method, &k, key ? 1 : 0);
	Py_XDECREF(k);
	ss_plugin_rc rc = r ? SS_PLUGIN_SUCCESS : SS_PLUGIN_FAILURE;
	if (!r)
		x_failed(xt, method + 1);
	Py_XDECREF(r);
	fp_leave(g);
	return rc;
}

static ss_plugin_rc x_clear(ss_plugin_table_t *t) { return x_simple(t, "_clear", NULL); }
static ss_plugin_rc x_erase(ss_plugin_table_t *t, const ss_plugin_state_data *key) { return x_simple(t, "_erase", key); }

static ss_plugin_table_entry_t *x_create(ss_plugin_table_t *t)
{
	struct fp_xtable *xt = t;
	fp_gil g = fp_enter();
	PyObject *e = x_call(xt, "_create", NULL, 0);
	if (!e)
		x_failed(xt, "create_table_entry");
	fp_leave(g);
	return e; /* owned by the host until add_table_entry or destroy_table_entry */
}

static void x_destroy(ss_plugin_table_t *t, ss_plugin_table_entry_t *e) { x_release_entry(t, e); }

static ss_plugin_table_entry_t *x_add(ss_plugin_table_t *t, const ss_plugin_state_data *key, ss_plugin_table_entry_t *e)
{
	struct fp_xtable *xt = t;
	fp_gil g = fp_enter();
	PyObject *k = x_key(xt, key), *r = NULL;
	if (k && e) {
		PyObject *args[] = {k, (PyObject *)e};
		r = x_call(xt, "_add", args, 2);
	}
	Py_XDECREF(k);
	if (!r)
		x_failed(xt, "add_table_entry");
	if (e)
		Py_DECREF((PyObject *)e); /* the reference create_table_entry gave the host */
	fp_leave(g);
	return r; /* a reference of its own, as from get_table_entry: the host gives it back with
		   * release_table_entry */
}

static ss_plugin_rc x_write(ss_plugin_table_t *t, ss_plugin_table_entry_t *e, const ss_plugin_table_field_t *fh,
			    const ss_plugin_state_data *in)
{
	struct fp_xtable *xt = t;
	const struct fp_xfield *f = fh;
	fp_gil g = fp_enter();
	ss_plugin_rc rc = SS_PLUGIN_FAILURE;
	if (f->read_only) {
		fp_set_error(xt->state, "table '%s': field #%u is read-only", xt->name, f->index);
	} else {
		PyObject *v = from_state(in, f->type);
		PyObject *index = PyLong_FromUnsignedLong(f->index);
		PyObject *r = NULL;
		if (v && index) {
			PyObject *args[] = {(PyObject *)e, index, v};
			r = x_call(xt, "_write", args, 3);
		}
		if (r)
			rc = SS_PLUGIN_SUCCESS;
		else
			x_failed(xt, "write_entry_field");
		Py_XDECREF(r);
		Py_XDECREF(v);
		Py_XDECREF(index);
	}
	fp_leave(g);
	return rc;
}

static const ss_plugin_table_fieldinfo *x_list_fields(ss_plugin_table_t *t, uint32_t *n)
{
	struct fp_xtable *xt = t;
	*n = 0;
	fp_gil g = fp_enter();
	PyObject *list = x_call(xt, "_fields", NULL, 0); /* [(name, type, read_only)] */
	const ss_plugin_table_fieldinfo *out = NULL;
	if (list && PyList_Check(list)) {
		Py_ssize_t count = PyList_GET_SIZE(list);
		ss_plugin_table_fieldinfo *info = calloc((size_t)count + 1, sizeof *info);
		int ok = info != NULL;
		for (Py_ssize_t i = 0; ok && i < count; i++) {
			PyObject *name;
			long type;
			int ro;
			ok = PyArg_ParseTuple(PyList_GET_ITEM(list, i), "Ulp", &name, &type, &ro) &&
			     (info[i].name = PyUnicode_AsUTF8(name)) != NULL;
			info[i].field_type = (ss_plugin_state_type)type;
			info[i].read_only = (ss_plugin_bool)ro;
		}
		if (ok) {
			free(xt->info);
			xt->info = info;
			xt->ninfo = (uint32_t)count;
			Py_XSETREF(xt->info_names, Py_NewRef(list)); /* the names point into it */
			*n = xt->ninfo;
			out = xt->info;
		} else {
			free(info);
		}
	}
	if (!out)
		x_failed(xt, "list_table_fields");
	Py_XDECREF(list);
	fp_leave(g);
	return out;
}

static ss_plugin_table_field_t *x_field(ss_plugin_table_t *t, const char *name, ss_plugin_state_type type, int add)
{
	struct fp_xtable *xt = t;
	fp_gil g = fp_enter();
	PyObject *n = PyUnicode_FromString(name ? name : "");
	PyObject *ty = PyLong_FromLong(type);
	PyObject *r = NULL;
	if (n && ty) {
		PyObject *args[] = {n, ty};
		r = x_call(xt, add ? "_add_field" : "_field", args, 2);
	}
	struct fp_xfield *f = r ? x_field_handle(xt, r) : NULL;
	if (!f)
		x_failed(xt, add ? "add_table_field" : "get_table_field");
	Py_XDECREF(r);
	Py_XDECREF(n);
	Py_XDECREF(ty);
	fp_leave(g);
	return f;
}

static ss_plugin_table_field_t *x_get_field(ss_plugin_table_t *t, const char *name, ss_plugin_state_type type)
{
	return x_field(t, name, type, 0);
}

static ss_plugin_table_field_t *x_add_field(ss_plugin_table_t *t, const char *name, ss_plugin_state_type type)
{
	return x_field(t, name, type, 1);
}

int fp_tables_export(fp_state *s, const ss_plugin_init_tables_input *in, PyObject *table, char *why, size_t n)
{
	PyObject *name = PyObject_GetAttrString(table, "name");
	PyObject *key = name ? PyObject_GetAttrString(table, "key_type") : NULL;
	long key_type = key ? PyLong_AsLong(key) : -1;
	const char *cname = name && PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
	int rc = -1;
	if (!cname || !valid_type(key_type)) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_TypeError, "add_table() takes an ExportedTable");
		goto out;
	}
	struct fp_xtable *xt = calloc(1, sizeof *xt);
	if (!xt || !(xt->name = strdup(cname))) {
		free(xt);
		PyErr_NoMemory();
		goto out;
	}
	xt->state = s;
	xt->table = Py_NewRef(table);
	xt->key_type = (ss_plugin_state_type)key_type;
	xt->reader = (ss_plugin_table_reader_vtable_ext){x_get_name, x_get_size, x_get_entry, x_read, x_release_entry,
							 x_iterate};
	xt->writer = (ss_plugin_table_writer_vtable_ext){x_clear, x_erase, x_create, x_destroy, x_add, x_write};
	xt->fieldsvt = (ss_plugin_table_fields_vtable_ext){x_list_fields, x_get_field, x_add_field};
	xt->next = s->exported;
	s->exported = xt; /* lives until destroy, even if the host refuses it */
	ss_plugin_table_input input = {
		.name = xt->name,
		.key_type = xt->key_type,
		.table = xt,
		/* the deprecated members must equal the _ext ones (plugin-api.md §3.7) */
		.reader = {x_get_name, x_get_size, x_get_entry, x_read},
		.writer = xt->writer,
		.fields = xt->fieldsvt,
		.reader_ext = &xt->reader,
		.writer_ext = &xt->writer,
		.fields_ext = &xt->fieldsvt,
	};
	PyThreadState *ts = PyEval_SaveThread();
	ss_plugin_rc r = in->add_table(s->owner, &input);
	if (r != SS_PLUGIN_SUCCESS)
		owner_error(current, why, n);
	PyEval_RestoreThread(ts);
	rc = r == SS_PLUGIN_SUCCESS ? 0 : -1;
out:
	Py_XDECREF(name);
	Py_XDECREF(key);
	return rc;
}

void fp_tables_destroy(fp_state *s)
{
	while (s->exported) {
		struct fp_xtable *xt = s->exported;
		s->exported = xt->next;
		for (uint32_t i = 0; i < xt->nfields; i++)
			free(xt->fields[i]);
		free(xt->fields);
		free(xt->info);
		free(xt->name);
		Py_CLEAR(xt->info_names);
		Py_CLEAR(xt->last);
		Py_CLEAR(xt->table);
		free(xt);
	}
}
