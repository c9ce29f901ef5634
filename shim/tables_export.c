/*
 * Exported tables (plugin-api-facts.md, State tables): the plugin's own tables, served to the host.
 */
#include "tables.h"

#include <stdlib.h>
#include <string.h>

/* ---- exported tables: the plugin's own, served to the host ----------------------------
 * The host calls these vtables (without the GIL, from whatever thread is in a call that
 * has table access); each one enters Python and calls the ExportedTable's _methods. Entry
 * handles are the Python entry objects, kept alive while the host holds them; field
 * handles are small C records by field index, kept per schema (the fields the Python
 * _Schema lists) until destroy, so that the handles a plugin took on one nested table serve
 * every nested table of that field, as libsinsp's subtable accessors do.
 *
 * Nested tables (a field of type table, plugin-api-facts.md, State tables): the value handed out is an
 * ss_plugin_table_input of the nested table (its table pointer and these same vtables),
 * which is what libsinsp and the Rust SDK hand out and read. Its record lives as long as
 * an entry of the plugin's holds the nested table (while only the record holds it, no entry
 * can reach it any more: a later sweep frees it), and at most until destroy.
 */

struct fp_xschema {
	PyObject *schema; /* the Python _Schema */
	struct fp_xfield **fields;
	uint32_t nfields;
	struct fp_xschema *next;
};

struct fp_xfield {
	struct fp_xschema *sc;
	uint32_t index;
	ss_plugin_state_type type;
	int read_only;
};

struct fp_xtable {
	ss_plugin_table_input input; /* first: a nested table's field value points here */
	fp_state *state;
	PyObject *table; /* the Python ExportedTable */
	char *name;
	ss_plugin_state_type key_type;
	struct fp_xschema *sc;
	ss_plugin_table_fieldinfo *info;
	uint32_t ninfo;
	PyObject *info_names; /* keeps the names in info alive */
	PyObject *last; /* the last string read, alive until the next read */
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
	struct fp_xschema *sc = xt->sc;
	/* r: (index, state_type, read_only) from _field/_add_field */
	long index, type;
	int ro;
	if (!PyArg_ParseTuple(r, "llp", &index, &type, &ro))
		return NULL;
	if (index < 0 || index > 100000) {
		PyErr_SetString(PyExc_ValueError, "field index out of range");
		return NULL;
	}
	if ((uint32_t)index >= sc->nfields) {
		struct fp_xfield **fields = realloc(sc->fields, (size_t)(index + 1) * sizeof *fields);
		if (!fields) {
			PyErr_NoMemory();
			return NULL;
		}
		memset(fields + sc->nfields, 0, ((size_t)index + 1 - sc->nfields) * sizeof *fields);
		sc->fields = fields;
		sc->nfields = (uint32_t)index + 1;
	}
	if (!sc->fields[index]) {
		struct fp_xfield *f = calloc(1, sizeof *f);
		if (!f) {
			PyErr_NoMemory();
			return NULL;
		}
		*f = (struct fp_xfield){sc, (uint32_t)index, (ss_plugin_state_type)type, ro};
		sc->fields[index] = f;
	}
	return sc->fields[index];
}

static struct fp_xtable *x_nested(struct fp_xtable *parent, PyObject *table);

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
	if (v && f->type == SS_PLUGIN_ST_TABLE) {
		struct fp_xtable *n = x_nested(xt, v);
		if (n) {
			out->u64 = 0;
			out->table = &n->input;
			rc = SS_PLUGIN_SUCCESS;
		}
	} else if (v && to_state(v, f->type, out, &what) == 0) {
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

static ss_plugin_table_reader_vtable_ext x_reader = {x_get_name, x_get_size, x_get_entry, x_read, x_release_entry,
						      x_iterate};
static ss_plugin_table_writer_vtable_ext x_writer = {x_clear, x_erase, x_create, x_destroy, x_add, x_write};
static ss_plugin_table_fields_vtable_ext x_fields = {x_list_fields, x_get_field, x_add_field};

/* The field-handle record of a Python _Schema (made once, kept until destroy). */
static struct fp_xschema *x_schema(fp_state *s, PyObject *table)
{
	PyObject *schema = PyObject_GetAttrString(table, "_schema");
	if (!schema)
		return NULL;
	struct fp_xschema *sc = s->xschemas;
	while (sc && sc->schema != schema)
		sc = sc->next;
	if (!sc) {
		if (!(sc = calloc(1, sizeof *sc))) {
			Py_DECREF(schema);
			PyErr_NoMemory();
			return NULL;
		}
		sc->schema = Py_NewRef(schema);
		sc->next = s->xschemas;
		s->xschemas = sc;
	}
	Py_DECREF(schema);
	return sc;
}

/* A record for the Python ExportedTable `table`: its ss_plugin_table_input and field handles. */
static struct fp_xtable *x_new(fp_state *s, PyObject *table)
{
	PyObject *name = PyObject_GetAttrString(table, "name");
	PyObject *key = name ? PyObject_GetAttrString(table, "key_type") : NULL;
	long key_type = key ? PyLong_AsLong(key) : -1;
	const char *cname = name && PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
	struct fp_xtable *xt = NULL;
	struct fp_xschema *sc = cname && valid_type(key_type) ? x_schema(s, table) : NULL;
	if (!sc) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_TypeError, "add_table() takes an ExportedTable");
	} else if (!(xt = calloc(1, sizeof *xt)) || !(xt->name = strdup(cname))) {
		free(xt);
		xt = NULL;
		PyErr_NoMemory();
	} else {
		xt->state = s;
		xt->table = Py_NewRef(table);
		xt->key_type = (ss_plugin_state_type)key_type;
		xt->sc = sc;
		xt->input = (ss_plugin_table_input){
			.name = xt->name,
			.key_type = xt->key_type,
			.table = xt,
			/* the deprecated members must equal the _ext ones (plugin-api-facts.md, State tables) */
			.reader = {x_get_name, x_get_size, x_get_entry, x_read},
			.writer = x_writer,
			.fields = x_fields,
			.reader_ext = &x_reader,
			.writer_ext = &x_writer,
			.fields_ext = &x_fields,
		};
	}
	Py_XDECREF(name);
	Py_XDECREF(key);
	return xt;
}

static void x_free(struct fp_xtable *xt)
{
	free(xt->info);
	free(xt->name);
	Py_CLEAR(xt->info_names);
	Py_CLEAR(xt->last);
	Py_CLEAR(xt->table);
	free(xt);
}

/* Free the records of nested tables nothing but their record holds any more (so no entry of
 * the plugin's does: the host cannot have reached them in this call). With the GIL. */
static void x_sweep(fp_state *s)
{
	struct fp_xtable **p = &s->xnested;
	size_t kept = 0;
	while (*p) {
		struct fp_xtable *xt = *p;
		if (Py_REFCNT(xt->table) <= 2) { /* the record's reference and the map's key */
			*p = xt->next;
			PyDict_DelItem(s->xnested_map, xt->table);
			x_free(xt);
		} else {
			p = &xt->next;
			kept++;
		}
	}
	s->xnested_kept = kept;
}

/* The record of the nested table `table` (a value of a table field of parent's entries):
 * made on first read, found again later. With the GIL. */
static struct fp_xtable *x_nested(struct fp_xtable *parent, PyObject *table)
{
	fp_state *s = parent->state;
	if (!s->xnested_map && !(s->xnested_map = PyDict_New()))
		return NULL;
	PyObject *found = PyDict_GetItemWithError(s->xnested_map, table); /* borrowed: the address */
	if (found)
		return PyLong_AsVoidPtr(found);
	if (PyErr_Occurred())
		return NULL;
	if (s->xnested_count > 2 * (s->xnested_kept > 64 ? s->xnested_kept : 64)) {
		x_sweep(s);
		s->xnested_count = s->xnested_kept;
	}
	struct fp_xtable *xt = x_new(s, table);
	PyObject *address = xt ? PyLong_FromVoidPtr(xt) : NULL;
	if (!address || PyDict_SetItem(s->xnested_map, table, address) < 0) {
		Py_XDECREF(address);
		if (xt)
			x_free(xt);
		return NULL;
	}
	Py_DECREF(address);
	xt->next = s->xnested;
	s->xnested = xt;
	s->xnested_count++;
	return xt;
}

int fp_tables_export(fp_state *s, const ss_plugin_init_tables_input *in, PyObject *table, char *why, size_t n)
{
	struct fp_xtable *xt = x_new(s, table);
	if (!xt)
		return -1;
	xt->next = s->exported;
	s->exported = xt; /* lives until destroy, even if the host refuses it */
	PyThreadState *ts = PyEval_SaveThread();
	ss_plugin_rc r = in->add_table(s->owner, &xt->input);
	if (r != SS_PLUGIN_SUCCESS)
		owner_error(fp_access_now(), why, n);
	PyEval_RestoreThread(ts);
	return r == SS_PLUGIN_SUCCESS ? 0 : -1;
}

void fp_tables_destroy(fp_state *s)
{
	for (struct fp_xtable **list = &s->exported; list; list = list == &s->exported ? &s->xnested : NULL)
		while (*list) {
			struct fp_xtable *xt = *list;
			*list = xt->next;
			x_free(xt);
		}
	Py_CLEAR(s->xnested_map);
	while (s->xschemas) {
		struct fp_xschema *sc = s->xschemas;
		s->xschemas = sc->next;
		for (uint32_t i = 0; i < sc->nfields; i++)
			free(sc->fields[i]);
		free(sc->fields);
		Py_CLEAR(sc->schema);
		free(sc);
	}
}
