/*
 * Field extraction. The field list, event types and sources are baked at build time; at
 * init the shim caches one bound method per field id. extract_fields loops in C over the
 * requested fields, calls the method with the (reused) Event object and the argument, and
 * converts the result in C into per-state slots that live until the next call on the state
 * (plugin-api.md §3.4, §6.4). A method that raises gives "no value" and is logged once.
 */
#include "shim.h"

#if FPY_CAP_EXTRACTION

#include <datetime.h>
#include <stdlib.h>
#include <string.h>

enum { ARG_NONE = 0, ARG_INDEX = 1, ARG_KEY = 2 };

static const uint8_t field_types[] = FPY_FIELD_TYPES;
static const uint8_t field_is_list[] = FPY_FIELD_IS_LIST;
static const uint8_t field_arg[] = FPY_FIELD_ARG;
#define NFIELDS ((uint32_t)sizeof field_types)

/* Storage for one requested field's values, kept until the next call. */
typedef struct {
	void *buf;
	size_t cap;
	PyObject *hold; /* the objects the values point into */
} fp_slot;

struct fp_extract {
	PyObject *methods; /* tuple of bound methods, by field id */
	fp_slot *slots;
	uint32_t nslots;
	uint8_t logged[sizeof field_types];
};

FP_EXPORT const char *plugin_get_fields(void) { return FPY_FIELDS_JSON; }
FP_EXPORT const char *plugin_get_extract_event_sources(void) { return FPY_EXTRACT_SOURCES_JSON; }

FP_EXPORT uint16_t *plugin_get_extract_event_types(uint32_t *numtypes, ss_plugin_t *s)
{
	(void)s;
	static uint16_t types[] = FPY_EXTRACT_TYPES;
	*numtypes = (uint32_t)(sizeof types / sizeof types[0]);
	return types;
}

int fp_extract_init(fp_state *s)
{
	PyDateTime_IMPORT;
	if (!PyDateTimeAPI)
		return -1;
	struct fp_extract *x = calloc(1, sizeof *x);
	if (!x) {
		PyErr_NoMemory();
		return -1;
	}
	s->extract = x;
	x->methods = fp_runtime_call("field_methods", &s->plugin, 1);
	if (!x->methods)
		return -1;
	if (!PyTuple_Check(x->methods) || PyTuple_GET_SIZE(x->methods) != NFIELDS) {
		PyErr_Format(PyExc_RuntimeError,
			     "the plugin class declares %zd fields but this library was built with %u: rebuild it",
			     PyTuple_Check(x->methods) ? PyTuple_GET_SIZE(x->methods) : -1, NFIELDS);
		return -1;
	}
	return 0;
}

void fp_extract_destroy(fp_state *s)
{
	struct fp_extract *x = s->extract;
	if (!x)
		return;
	for (uint32_t i = 0; i < x->nslots; i++) {
		Py_CLEAR(x->slots[i].hold);
		free(x->slots[i].buf);
	}
	free(x->slots);
	Py_CLEAR(x->methods);
	free(x);
	s->extract = NULL;
}

static size_t elem_size(uint8_t ftype)
{
	switch (ftype) {
	case FTYPE_STRING:
		return sizeof(const char *);
	case FTYPE_BOOL:
		return sizeof(ss_plugin_bool);
	case FTYPE_IPADDR:
	case FTYPE_IPNET:
		return sizeof(ss_plugin_byte_buffer);
	default:
		return sizeof(uint64_t);
	}
}

static uint64_t time_ns(PyObject *v, uint8_t ftype)
{
	if (ftype == FTYPE_RELTIME && PyDelta_Check(v)) {
		long long ns = ((long long)PyDateTime_DELTA_GET_DAYS(v) * 86400 + PyDateTime_DELTA_GET_SECONDS(v)) *
				       1000000000LL +
			       (long long)PyDateTime_DELTA_GET_MICROSECONDS(v) * 1000LL;
		if (ns < 0) {
			PyErr_SetString(PyExc_ValueError, "a reltime field cannot be negative");
			return (uint64_t)-1;
		}
		return (uint64_t)ns;
	}
	if (ftype == FTYPE_ABSTIME && PyDateTime_Check(v)) {
		PyObject *ns = fp_runtime_call("datetime_ns", &v, 1);
		uint64_t out = ns ? PyLong_AsUnsignedLongLong(ns) : (uint64_t)-1;
		Py_XDECREF(ns);
		return out;
	}
	return PyLong_AsUnsignedLongLong(v);
}

/* Convert one value into *out. Objects it must keep alive are appended to keep. */
static int convert_one(PyObject *v, uint8_t ftype, void *out, PyObject *keep)
{
	switch (ftype) {
	case FTYPE_UINT64:
	case FTYPE_RELTIME:
	case FTYPE_ABSTIME: {
		uint64_t u = ftype == FTYPE_UINT64 ? PyLong_AsUnsignedLongLong(v) : time_ns(v, ftype);
		if (u == (uint64_t)-1 && PyErr_Occurred())
			return -1;
		memcpy(out, &u, sizeof u);
		return 0;
	}
	case FTYPE_BOOL: {
		int t = PyObject_IsTrue(v);
		if (t < 0)
			return -1;
		ss_plugin_bool b = (ss_plugin_bool)t;
		memcpy(out, &b, sizeof b);
		return 0;
	}
	case FTYPE_STRING: {
		if (!PyUnicode_Check(v)) {
			PyErr_Format(PyExc_TypeError, "a string field must return str, not %.80s", Py_TYPE(v)->tp_name);
			return -1;
		}
		const char *utf8 = PyUnicode_AsUTF8(v); /* cached in v, which the slot holds */
		if (!utf8)
			return -1;
		memcpy(out, &utf8, sizeof utf8);
		return 0;
	}
	default: { /* ipaddr / ipnet: 4 or 16 bytes in network order */
		PyObject *packed = PyBytes_Check(v) ? Py_NewRef(v) : fp_runtime_call("ip_packed", &v, 1);
		if (!packed)
			return -1;
		if (!PyBytes_Check(packed) || (PyBytes_GET_SIZE(packed) != 4 && PyBytes_GET_SIZE(packed) != 16)) {
			PyErr_SetString(PyExc_ValueError, "an IP field must be 4 or 16 bytes");
			Py_DECREF(packed);
			return -1;
		}
		int rc = PyList_Append(keep, packed);
		ss_plugin_byte_buffer bb = {(uint32_t)PyBytes_GET_SIZE(packed), PyBytes_AS_STRING(packed)};
		Py_DECREF(packed);
		memcpy(out, &bb, sizeof bb);
		return rc;
	}
	}
}

static int reserve(fp_slot *slot, size_t bytes)
{
	if (bytes <= slot->cap)
		return 0;
	void *buf = realloc(slot->buf, bytes);
	if (!buf) {
		PyErr_NoMemory();
		return -1;
	}
	slot->buf = buf;
	slot->cap = bytes;
	return 0;
}

/* Store v (a value, or a sequence for list fields) in slot; set f->res and f->res_len. */
static int store(fp_slot *slot, uint32_t fid, PyObject *v, ss_plugin_extract_field *f)
{
	uint8_t ftype = field_types[fid];
	size_t size = elem_size(ftype);
	if (!field_is_list[fid] && ftype != FTYPE_IPADDR && ftype != FTYPE_IPNET) {
		/* the common case: one value, nothing to keep but v itself (a str's UTF-8) */
		if (reserve(slot, size) < 0 || convert_one(v, ftype, slot->buf, NULL) < 0)
			return -1;
		Py_XSETREF(slot->hold, Py_NewRef(v));
		f->res.u64 = slot->buf;
		f->res_len = 1;
		return 0;
	}
	PyObject *keep = PyList_New(0);
	if (!keep)
		return -1;
	Py_ssize_t n = 1;
	PyObject *fast = NULL;
	if (field_is_list[fid]) {
		fast = PySequence_Fast(v, "a list field must return a list");
		if (!fast)
			goto fail;
		n = PySequence_Fast_GET_SIZE(fast);
		if (PyList_Append(keep, fast) < 0)
			goto fail;
	} else if (PyList_Append(keep, v) < 0) {
		goto fail;
	}
	if (reserve(slot, (size_t)(n ? n : 1) * size) < 0)
		goto fail;
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *item = fast ? PySequence_Fast_GET_ITEM(fast, i) : v;
		if (convert_one(item, ftype, (char *)slot->buf + (size_t)i * size, keep) < 0)
			goto fail;
	}
	Py_XDECREF(fast);
	Py_XSETREF(slot->hold, keep);
	f->res.u64 = slot->buf;
	f->res_len = (uint64_t)n;
	return 0;
fail:
	Py_XDECREF(fast);
	Py_DECREF(keep);
	return -1;
}

static PyObject *field_arg_object(uint32_t fid, const ss_plugin_extract_field *f)
{
	if (!f->arg_present)
		Py_RETURN_NONE;
	if (field_arg[fid] == ARG_INDEX && f->arg_index != UINT64_MAX)
		return PyLong_FromUnsignedLongLong(f->arg_index);
	if (f->arg_key)
		return PyUnicode_FromString(f->arg_key);
	Py_RETURN_NONE;
}

FP_EXPORT ss_plugin_rc plugin_extract_fields(ss_plugin_t *st, const ss_plugin_event_input *evt,
					     const ss_plugin_field_extract_input *in)
{
	fp_state *s = st;
	for (uint32_t i = 0; i < in->num_fields; i++)
		in->fields[i].res_len = 0;
	struct fp_extract *x = s ? s->extract : NULL;
	if (!x || !evt || !evt->evt)
		return SS_PLUGIN_FAILURE;
	if (in->num_fields > x->nslots) {
		fp_slot *slots = realloc(x->slots, in->num_fields * sizeof *slots);
		if (!slots)
			return SS_PLUGIN_FAILURE;
		memset(slots + x->nslots, 0, (in->num_fields - x->nslots) * sizeof *slots);
		x->slots = slots;
		x->nslots = in->num_fields;
	}
	char report[FPA_MAX_ERRLEN] = "";
	fp_gil g = fp_enter();
	PyObject *event = fp_event_bind(&s->event, evt);
	for (uint32_t i = 0; event && i < in->num_fields; i++) {
		ss_plugin_extract_field *f = &in->fields[i];
		uint32_t fid = f->field_id;
		if (fid >= NFIELDS)
			continue;
		PyObject *args[2] = {event, NULL};
		size_t nargs = 1;
		if (field_arg[fid] != ARG_NONE) {
			if (!(args[1] = field_arg_object(fid, f)))
				goto failed;
			nargs = 2;
		}
		PyObject *value = PyObject_Vectorcall(PyTuple_GET_ITEM(x->methods, fid), args, nargs, NULL);
		Py_XDECREF(args[1]);
		if (value) {
			int rc = value == Py_None ? 0 : store(&x->slots[i], fid, value, f);
			Py_DECREF(value);
			if (rc == 0)
				continue;
		}
	failed:
		f->res_len = 0;
		if (!x->logged[fid] && !report[0]) {
			x->logged[fid] = 1;
			char what[256];
			snprintf(what, sizeof what, "field %.200s", f->field ? f->field : "?");
			fp_set_error_from_python(s, what);
			snprintf(report, sizeof report, "%.980s (no value; logged once per field)", s->last_error);
		}
		PyErr_Clear();
	}
	if (!event) {
		fp_set_error_from_python(s, "extract_fields");
		snprintf(report, sizeof report, "%.1000s", s->last_error);
	}
	fp_event_unbind(event);
	fp_leave(g);
	if (report[0] && s->log_fn) /* never call the host with the GIL held */
		s->log_fn(s->owner, NULL, report, SS_PLUGIN_LOG_SEV_ERROR);
	return SS_PLUGIN_SUCCESS;
}

#endif /* FPY_CAP_EXTRACTION */
