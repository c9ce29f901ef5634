/*
 * Private to the tables files of the shim (tables.c: access and the imported tables;
 * tables_init.c: what __init__ does with them; tables_export.c: the plugin's own tables):
 * the Python objects for host tables, and the conversion of state values, static inline
 * because every field read and write goes through it.
 */
#ifndef FALCO_PLUGIN_TABLES_H
#define FALCO_PLUGIN_TABLES_H

#include "shim.h"

#include <stdio.h>
#include <string.h>

/* ---- state values <-> Python -------------------------------------------------------- */

static inline const char *type_name(ss_plugin_state_type t)
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

static inline int valid_type(long t)
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

static inline const char *what_text(const fp_what *w, char *buf, size_t n)
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
static inline int to_state(PyObject *v, ss_plugin_state_type t, ss_plugin_state_data *out, const fp_what *w)
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

static inline PyObject *from_state(const ss_plugin_state_data *d, ss_plugin_state_type t)
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

/* The host's reason for the last failure, copied while the GIL is released. */
static inline void owner_error(const fp_access *a, char *out, size_t n)
{
	const char *e = a->owner_error ? a->owner_error(a->owner) : NULL;
	snprintf(out, n, "%s", e && *e ? e : "no reason given by the host");
}

/* ---- imported tables: Table, Field, Entry (tables.c) -------------------------------- */

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

extern PyTypeObject fp_table_type, fp_field_type, fp_entry_type;

/* falco_plugin.tables.TableError (RuntimeError if it cannot be imported); borrowed. */
PyObject *fp_table_error_type(void);
/* The access of the plugin-API call running on this thread, or NULL. */
fp_access *fp_access_now(void);
/* The current call's access for an object of state s (write: a writer too), or NULL with an
 * error naming the table. */
fp_access *fp_access_for(fp_state *s, PyObject *name, int write);
/* Keep e of t to release (created 0) or destroy unless added (created 1) when the call ends. */
int fp_access_hold(fp_access *a, ss_plugin_table_t *t, ss_plugin_table_entry_t *e, int created);
fp_table *fp_table_new(fp_state *s, ss_plugin_table_t *t, PyObject *name, ss_plugin_state_type key_type,
		       PyObject *entry_cls, PyObject *fields);
PyObject *fp_field_new(fp_table *tb, ss_plugin_table_field_t *ptr, PyObject *name, ss_plugin_state_type type,
		       int read_only);

/* ---- init (tables_init.c): Table methods that only __init__ may call ----------------- */

PyObject *fp_table_get_field(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *fp_table_add_field(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *fp_table_list_fields(PyObject *self, PyObject *unused);
PyObject *fp_table_sample_nested(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

/* ---- exported tables (tables_export.c) ---------------------------------------------- */

/* Export the Python ExportedTable `table` to the host (add_table); -1 with why or a Python error. */
int fp_tables_export(fp_state *s, const ss_plugin_init_tables_input *in, PyObject *table, char *why, size_t n);

#endif
