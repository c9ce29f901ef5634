/*
 * Field extraction. The field list, event types and sources are baked at build time; at
 * init the shim caches one bound method per field id. extract_fields loops in C over the
 * requested fields, calls the method with the (reused) Event object and the argument, and
 * converts the result in C (plugin-api-facts.md, Field extraction). A method that raises gives "no value"
 * and is logged once.
 *
 * Results are kept per state for the current event: Falco asks for the same field of the
 * same event more than once (the rule condition, then the output), and a repeat is answered
 * from C without entering Python. They live until the host moves on to another event, which
 * is longer than the ABI asks (until the next extract_fields call on the state).
 *
 * Prefetch: libsinsp asks one field per call, and a rule set asks the same fields of every
 * event. So while the GIL is held for the first field of an event, the shim also computes
 * the fields the host asked of the previous event; their calls are then answered from C.
 * A field that raises while prefetched is dropped silently and computed again (and logged)
 * only if the host really asks for it; a field the host stops asking is no longer prefetched.
 *
 * Batch fields (@field(batch=True)) are computed for a whole batch at once: batch_fields.c,
 * and the hot path that answers them without the GIL in extract.h.
 *
 * Value offsets (API 3.11, plugins with located fields only): a located field's method may
 * return falco_plugin.Located(value, start, length); the offsets are kept with the result and,
 * when the host passes value_offsets, handed over one entry per value of the requested fields
 * in order ({0, 0} for values not from the event). Without value_offsets nothing is done.
 */
#include "extract.h"

#if FPY_CAP_EXTRACTION

#include <datetime.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t field_located[] = FPY_FIELD_LOCATED;

FP_EXPORT const char *plugin_get_fields(void) { return FPY_FIELDS_JSON; }
FP_EXPORT const char *plugin_get_extract_event_sources(void) { return FPY_EXTRACT_SOURCES_JSON; }

FP_EXPORT uint16_t *plugin_get_extract_event_types(uint32_t *numtypes, ss_plugin_t *s)
{
	if (FPY_EXTRACT_TYPES_AT_INIT && s && ((fp_state *)s)->types[0]) {
		*numtypes = ((fp_state *)s)->ntypes[0];
		return ((fp_state *)s)->types[0];
	}
	static uint16_t types[] = FPY_EXTRACT_TYPES; /* {0} when none are declared: FPY_EXTRACT_NTYPES is 0 */
	*numtypes = FPY_EXTRACT_NTYPES;
	return types;
}

int fp_extract_init(fp_state *s)
{
	for (uint32_t i = 0; i < NFIELDS; i++) /* datetime is imported only for time fields */
		if (field_types[i] == FTYPE_RELTIME || field_types[i] == FTYPE_ABSTIME) {
			PyDateTime_IMPORT;
			if (!PyDateTimeAPI)
				return -1;
			break;
		}
	struct fp_extract *x = calloc(1, sizeof *x);
	if (!x) {
		PyErr_NoMemory();
		return -1;
	}
	s->extract = x;
	x->methods = fp_runtime_call("field_methods", &s->plugin, 1);
	x->batch_methods = fp_runtime_call("batch_methods", &s->plugin, 1);
	if (!x->batch_methods || !PyTuple_Check(x->batch_methods) || PyTuple_GET_SIZE(x->batch_methods) != NFIELDS) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_RuntimeError, "batch_methods: one entry per field expected");
		return -1;
	}
	for (uint32_t i = 0; i < NFIELDS; i++) {
		PyObject *m = PyTuple_GET_ITEM(x->batch_methods, i);
#if FPY_CAP_SOURCING
		x->batch_func[i] = m == Py_None ? NULL : m;
#else
		(void)m; /* no batches of our own: every event goes the per-event way */
#endif
	}
	x->datetime_ns = PyObject_GetAttrString(fp_runtime, "datetime_ns");
	x->ip_packed = PyObject_GetAttrString(fp_runtime, "ip_packed");
	PyObject *module = PyImport_ImportModule("falco_plugin.extract");
	x->located_type = module ? PyObject_GetAttrString(module, "Located") : NULL;
	x->payloads_type = module ? PyObject_GetAttrString(module, "Payloads") : NULL;
	Py_XDECREF(module);
	x->str_value = PyUnicode_InternFromString("value");
	x->str_start = PyUnicode_InternFromString("start");
	x->str_length = PyUnicode_InternFromString("length");
	x->str_buffer = PyUnicode_InternFromString("_buffer");
	x->str_offsets = PyUnicode_InternFromString("_offsets");
	if (!x->methods || !x->datetime_ns || !x->ip_packed || !x->located_type || !x->payloads_type || !x->str_value ||
	    !x->str_start || !x->str_buffer || !x->str_offsets ||
	    !x->str_length)
		return -1;
	if (!PyTuple_Check(x->methods) || PyTuple_GET_SIZE(x->methods) != NFIELDS) {
		PyErr_Format(PyExc_RuntimeError,
			     "the plugin class declares %zd fields but this library was built with %u: rebuild it",
			     PyTuple_Check(x->methods) ? PyTuple_GET_SIZE(x->methods) : -1, NFIELDS);
		return -1;
	}
	for (uint32_t i = 0; i < NFIELDS; i++) {
		PyObject *m = PyTuple_GET_ITEM(x->methods, i);
		x->elem_size[i] = (uint8_t)elem_size(field_types[i]);
		x->func[i] = PyMethod_Check(m) ? PyMethod_GET_FUNCTION(m) : m;
		x->self[i] = PyMethod_Check(m) ? PyMethod_GET_SELF(m) : NULL;
	}
	return 0;
}

void fp_extract_destroy(fp_state *s)
{
	struct fp_extract *x = s->extract;
	if (!x)
		return;
	for (uint32_t i = 0; i < x->capresults; i++) {
		Py_CLEAR(x->results[i].arg_obj);
		free(x->results[i].arg_key);
		free(x->results[i].buf);
		free(x->results[i].offs);
		free(x->results[i].data);
	}
	free(x->results);
	fp_bslots_free(x);
	Py_CLEAR(x->batch_methods);
	free(x->ostart);
	free(x->olen);
	Py_CLEAR(x->located_type);
	Py_CLEAR(x->payloads_type);
	Py_CLEAR(x->str_buffer);
	Py_CLEAR(x->str_offsets);
	Py_CLEAR(x->str_value);
	Py_CLEAR(x->str_start);
	Py_CLEAR(x->str_length);
	Py_CLEAR(x->methods);
	Py_CLEAR(x->datetime_ns);
	Py_CLEAR(x->ip_packed);
	free(x);
	s->extract = NULL;
}

static uint64_t time_ns(const struct fp_extract *x, PyObject *v, uint8_t ftype)
{
	if (ftype == FTYPE_RELTIME && PyDelta_Check(v)) {
		/* days may be negative (seconds and microseconds never are); checked, unsigned */
		int days = PyDateTime_DELTA_GET_DAYS(v);
		uint64_t ns;
		if (days < 0) {
			PyErr_SetString(PyExc_ValueError, "a reltime field cannot be negative");
			return (uint64_t)-1;
		}
		if (__builtin_mul_overflow((uint64_t)days, (uint64_t)86400000000000ULL, &ns) ||
		    __builtin_add_overflow(ns, (uint64_t)PyDateTime_DELTA_GET_SECONDS(v) * 1000000000ULL, &ns) ||
		    __builtin_add_overflow(ns, (uint64_t)PyDateTime_DELTA_GET_MICROSECONDS(v) * 1000ULL, &ns) ||
		    ns == UINT64_MAX) {
			PyErr_Format(PyExc_OverflowError, "a reltime field is out of range (%R is over 2**64-2 ns)", v);
			return (uint64_t)-1;
		}
		return ns;
	}
	if (ftype == FTYPE_ABSTIME && PyDateTime_Check(v)) {
		PyObject *ns = PyObject_Vectorcall(x->datetime_ns, &v, 1, NULL);
		uint64_t out = ns ? PyLong_AsUnsignedLongLong(ns) : (uint64_t)-1;
		Py_XDECREF(ns);
		if (ns && out == (uint64_t)-1 && PyErr_ExceptionMatches(PyExc_OverflowError)) {
			PyErr_Clear();
			PyErr_Format(PyExc_OverflowError,
				     "an abstime field is out of range (%R is before 1970 or too far ahead for ns in 64 bits)",
				     v);
		}
		return out;
	}
	return PyLong_AsUnsignedLongLong(v);
}

static int reserve(fp_result *r, size_t bytes)
{
	if (bytes <= r->cap)
		return 0;
	size_t cap = 2 * r->cap > bytes ? 2 * r->cap : bytes;
	void *buf = realloc(r->buf, cap);
	if (!buf) {
		PyErr_NoMemory();
		return -1;
	}
	r->buf = buf;
	r->cap = cap;
	return 0;
}

/* Room for n more bytes in r->data after *used (its first byte at r->data + *used). */
static int reserve_data(fp_result *r, size_t used, size_t n)
{
	if (used + n <= r->datacap)
		return 0;
	size_t cap = 2 * r->datacap > used + n ? 2 * r->datacap : used + n + 64;
	char *data = realloc(r->data, cap);
	if (!data) {
		PyErr_NoMemory();
		return -1;
	}
	r->data = data;
	r->datacap = cap;
	return 0;
}

/* Convert one value into *out. Strings and IP bytes are copied into r->data at *used, and
 * *out holds their offset there until fix_pointers: the shim owns what the host reads, so
 * nothing Python does to the objects afterwards can free it. */
int fp_convert_one(const struct fp_extract *x, PyObject *v, uint8_t ftype, void *out, fp_result *r, size_t *used)
{
	switch (ftype) {
	case FTYPE_UINT64:
	case FTYPE_RELTIME:
	case FTYPE_ABSTIME: {
		uint64_t u = ftype == FTYPE_UINT64 ? PyLong_AsUnsignedLongLong(v) : time_ns(x, v, ftype);
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
		if (!PyUnicode_Check(v) && !PyBytes_Check(v)) {
			PyErr_Format(PyExc_TypeError, "a string field must return str or bytes, not %.80s",
				     Py_TYPE(v)->tp_name);
			return -1;
		}
		Py_ssize_t n = PyBytes_Check(v) ? PyBytes_GET_SIZE(v) : 0;
		const char *utf8 = PyBytes_Check(v) ? PyBytes_AS_STRING(v) : PyUnicode_AsUTF8AndSize(v, &n);
		if (!utf8)
			return -1;
		if (memchr(utf8, 0, (size_t)n)) {
			PyErr_SetString(PyExc_ValueError, "a string field cannot contain a NUL character ('\\0')");
			return -1;
		}
		if (reserve_data(r, *used, (size_t)n + 1) < 0)
			return -1;
		memcpy(r->data + *used, utf8, (size_t)n + 1);
		uintptr_t off = *used;
		memcpy(out, &off, sizeof off);
		*used += (size_t)n + 1;
		return 0;
	}
	default: { /* ipaddr / ipnet: 4 or 16 bytes in network order */
		PyObject *packed = PyBytes_Check(v) ? Py_NewRef(v) : PyObject_Vectorcall(x->ip_packed, &v, 1, NULL);
		if (!packed)
			return -1;
		size_t n = PyBytes_Check(packed) ? (size_t)PyBytes_GET_SIZE(packed) : 0;
		int rc = -1;
		if (n != 4 && n != 16)
			PyErr_SetString(PyExc_ValueError, "an IP field must be 4 or 16 bytes");
		else if (reserve_data(r, *used, n) == 0)
			rc = 0;
		if (rc == 0) {
			memcpy(r->data + *used, PyBytes_AS_STRING(packed), n);
			ss_plugin_byte_buffer bb = {(uint32_t)n, (void *)(uintptr_t)*used};
			memcpy(out, &bb, sizeof bb);
			*used += n;
		}
		Py_DECREF(packed);
		return rc;
	}
	}
}

/* The offsets fp_convert_one stored become pointers into r->data (final once it is filled). */
static void fix_pointers(fp_result *r, uint8_t ftype, Py_ssize_t n)
{
	if (ftype == FTYPE_STRING) {
		const char **p = r->buf;
		for (Py_ssize_t i = 0; i < n; i++)
			p[i] = r->data + (uintptr_t)p[i];
	} else if (ftype == FTYPE_IPADDR || ftype == FTYPE_IPNET) {
		ss_plugin_byte_buffer *p = r->buf;
		for (Py_ssize_t i = 0; i < n; i++)
			p[i].ptr = r->data + (uintptr_t)p[i].ptr;
	}
}

/* The value inside a Located and its offsets into r (one pair per value, for located fields);
 * a new reference (v itself for a plain value, with {0, 0}), or NULL with an exception. */
static PyObject *unlocate(const struct fp_extract *x, uint32_t fid, PyObject *v, fp_result *r, Py_ssize_t i)
{
	uint32_t start = 0, length = 0;
	PyObject *value = NULL;
	if (Py_TYPE(v) == (PyTypeObject *)x->located_type) {
		if (!field_located[fid]) {
			PyObject *fn = x->func[fid];
			PyCodeObject *code = PyFunction_Check(fn) ? (PyCodeObject *)PyFunction_GET_CODE(fn) : NULL;
			PyErr_Format(PyExc_TypeError,
				     "returned a Located value: declare the field with @field(..., located=True) (value "
				     "offsets, plugin API 3.11) (method at %S:%d)",
				     code ? code->co_filename : Py_None, code ? code->co_firstlineno : 0);
			return NULL;
		}
		value = PyObject_GetAttr(v, x->str_value);
		PyObject *s = value ? PyObject_GetAttr(v, x->str_start) : NULL;
		PyObject *l = s ? PyObject_GetAttr(v, x->str_length) : NULL;
		unsigned long su = s ? PyLong_AsUnsignedLong(s) : 0, lu = l ? PyLong_AsUnsignedLong(l) : 0;
		Py_XDECREF(s);
		Py_XDECREF(l);
		if (!l || PyErr_Occurred()) {
			Py_XDECREF(value);
			return NULL;
		}
		start = (uint32_t)su;
		length = (uint32_t)lu;
	} else {
		value = Py_NewRef(v);
	}
	if (field_located[fid]) {
		if ((size_t)i >= r->offcap) {
			size_t cap = (size_t)i + 8;
			uint32_t *offs = realloc(r->offs, cap * 2 * sizeof *offs);
			if (!offs) {
				Py_DECREF(value);
				return PyErr_NoMemory();
			}
			r->offs = offs;
			r->offcap = cap;
		}
		r->offs[2 * i] = start;
		r->offs[2 * i + 1] = length;
	}
	return value;
}

/* Store v (a value, or a sequence for list fields) as the values of r, copied. */
static int store(const struct fp_extract *x, fp_result *r, uint32_t fid, PyObject *v)
{
	uint8_t ftype = field_types[fid];
	size_t size = elem_size(ftype), used = 0;
	if (!field_is_list[fid]) {
		PyObject *value = unlocate(x, fid, v, r, 0);
		if (!value)
			return -1;
		int rc = reserve(r, size) < 0 || fp_convert_one(x, value, ftype, r->buf, r, &used) < 0 ? -1 : 0;
		Py_DECREF(value);
		if (rc < 0)
			return -1;
		fix_pointers(r, ftype, 1);
		r->len = 1;
		return 0;
	}
	PyObject *fast = PySequence_Fast(v, "a list field must return a list");
	if (!fast)
		return -1;
	/* a list item's conversion can run Python code (__bool__, __index__...) that changes the
	 * list: hold each item, and read the size again at each step */
	int rc = 0;
	Py_ssize_t i = 0;
	for (; rc == 0 && i < PySequence_Fast_GET_SIZE(fast); i++) {
		PyObject *item = unlocate(x, fid, PySequence_Fast_GET_ITEM(fast, i), r, i);
		if (!item) {
			rc = -1;
			break;
		}
		rc = reserve(r, (size_t)(i + 1) * size);
		if (rc == 0)
			rc = fp_convert_one(x, item, ftype, (char *)r->buf + (size_t)i * size, r, &used);
		Py_DECREF(item);
	}
	Py_DECREF(fast);
	if (rc < 0)
		return -1;
	fix_pointers(r, ftype, i);
	r->len = (uint64_t)i;
	return 0;
}

PyObject *fp_field_arg_object(uint32_t fid, const ss_plugin_extract_field *f)
{
	if (!f->arg_present)
		Py_RETURN_NONE;
	if (field_arg[fid] == ARG_INDEX && f->arg_index != UINT64_MAX)
		return PyLong_FromUnsignedLongLong(f->arg_index);
	if (f->arg_key)
		return PyUnicode_FromString(f->arg_key);
	Py_RETURN_NONE;
}

static int same_arg(const fp_result *r, const ss_plugin_extract_field *f)
{
	if (r->arg_present != f->arg_present || r->arg_index != f->arg_index)
		return 0;
	if (!r->arg_key || !f->arg_key)
		return r->arg_key == f->arg_key;
	return strcmp(r->arg_key, f->arg_key) == 0;
}

static fp_result *find_result(struct fp_extract *x, const ss_plugin_extract_field *f)
{
	uint32_t fid = f->field_id, h = x->result_hint[fid];
	if (h < x->nresults && x->results[h].fid == fid && same_arg(&x->results[h], f))
		return &x->results[h];
	for (uint32_t i = 0; i < x->nresults; i++)
		if (x->results[i].fid == fid && same_arg(&x->results[i], f)) {
			x->result_hint[fid] = i;
			return &x->results[i];
		}
	return NULL;
}

/* A new, empty result for f (or NULL when out of memory). */
static fp_result *add_result(struct fp_extract *x, const ss_plugin_extract_field *f)
{
	if (x->nresults == x->capresults) {
		uint32_t cap = x->capresults ? 2 * x->capresults : 8;
		fp_result *results = realloc(x->results, cap * sizeof *results);
		if (!results)
			return NULL;
		memset(results + x->capresults, 0, (cap - x->capresults) * sizeof *results);
		x->results = results;
		x->capresults = cap;
	}
	fp_result *r = &x->results[x->nresults];
	char *key = f->arg_key ? strdup(f->arg_key) : NULL;
	if (f->arg_key && !key)
		return NULL;
	x->result_hint[f->field_id] = x->nresults++;
	r->fid = f->field_id;
	r->arg_present = f->arg_present;
	r->arg_index = f->arg_index;
	r->arg_key = key;
	Py_CLEAR(r->arg_obj); /* none: start_event clears it when it drops a result */
	r->len = 0;
	r->fresh = 0;
	r->asked = 0;
	return r;
}

/* The host moved on to another event: the results it asked of the last one stay as
 * slots to prefetch, the others go (needs the GIL). */
static void start_event(struct fp_extract *x, const ss_plugin_event_input *evt)
{
	uint32_t kept = 0;
	for (uint32_t i = 0; i < x->nresults; i++) {
		fp_result *r = &x->results[i];
		if (!r->asked) {
			free(r->arg_key);
			r->arg_key = NULL;
			Py_CLEAR(r->arg_obj);
			continue;
		}
		r->fresh = r->asked = 0;
		r->len = 0;
		if (kept != i) { /* swap, so that each slot keeps its own buffers */
			fp_result t = x->results[kept];
			x->results[kept] = *r;
			*r = t;
		}
		kept++;
	}
	x->nresults = kept;
	x->have_event = 1;
	x->evtnum = evt->evtnum;
	x->ts = evt->evt->ts;
	x->type = evt->evt->type;
}

static void answer(ss_plugin_extract_field *f, fp_result *r)
{
	r->fresh = r->asked = 1;
	f->res.u64 = r->buf;
	f->res_len = r->len;
}

/* Call the field's method for f and store what it returns in r (len 0 for None).
 * -1 with a Python error set when it raised or returned what the field cannot hold. */
static int compute(struct fp_extract *x, PyObject *event, const ss_plugin_extract_field *f, fp_result *r)
{
	uint32_t fid = f->field_id;
	PyObject *args[4] = {NULL, x->self[fid], event, NULL}; /* args[0]: room for a callee's self */
	size_t nargs = 2;
	if (field_arg[fid] != ARG_NONE) {
		if (!r->arg_obj && !(r->arg_obj = fp_field_arg_object(fid, f)))
			return -1;
		args[3] = r->arg_obj;
		nargs = 3;
	}
	PyObject *const *from = x->self[fid] ? args + 1 : args + 2;
	if (!x->self[fid])
		nargs--;
	PyObject *value = PyObject_Vectorcall(x->func[fid], from, nargs | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
	if (!value)
		return -1;
	int rc = value == Py_None ? 0 : store(x, r, fid, value);
	Py_DECREF(value);
	return rc;
}

/* With the GIL held for this event anyway: compute what the host asked of the last event.
 * A field that fails here stays not computed, to be computed (and logged) if asked. */
static void prefetch(struct fp_extract *x, PyObject *event)
{
	for (uint32_t i = 0; i < x->nresults; i++) {
		fp_result *r = &x->results[i];
		if (r->fresh)
			continue;
		ss_plugin_extract_field f = {.field_id = r->fid, .arg_key = r->arg_key,
					     .arg_index = r->arg_index, .arg_present = r->arg_present};
		if (compute(x, event, &f, r) == 0) {
			r->fresh = 1;
		} else {
			PyErr_Clear();
			r->len = 0;
		}
	}
}

/* Answer f from C if it can be: a batch field already computed for this batch, or a field
 * computed for this event before. */
static int answer_from_c(struct fp_extract *x, fp_state *s, ss_plugin_extract_field *f, int64_t idx, int same_event)
{
	uint32_t fid = f->field_id;
	if (fid >= NFIELDS)
		return 1; /* not ours: no value */
	if (x->batch_func[fid] && idx >= 0) {
		fp_bslot *b = find_bslot(x, f);
		if (b && b->gen == s->batch->gen) {
			answer_batch(x, f, b, idx);
			return 1;
		}
		return 0;
	}
	fp_result *r = same_event ? find_result(x, f) : NULL;
	if (r && r->fresh) {
		answer(f, r);
		return 1;
	}
	return 0;
}

/* The exception fp_take_exception took, raised again (the reference is stolen). */
static void restore_exception(PyObject *exc)
{
	if (!exc)
		return;
#if PY_VERSION_HEX >= 0x030C0000
	PyErr_SetRaisedException(exc);
#else
	PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc, PyException_GetTraceback(exc));
#endif
}

/* f got no value because its method failed: log it once per field (the first of the call). */
static void field_failed(fp_state *s, struct fp_extract *x, const ss_plugin_extract_field *f, char *report)
{
	if (!x->logged[f->field_id] && !report[0]) {
		x->logged[f->field_id] = 1;
		char what[256];
		snprintf(what, sizeof what, "field %.200s", f->field ? f->field : "?");
		/* an error the shim found in the value (a wrong type) has no traceback: name the method */
		PyObject *exc = fp_take_exception();
		PyObject *tb = exc ? PyException_GetTraceback(exc) : NULL;
		PyObject *loc = NULL;
		if (exc && !tb) {
			PyObject *id = PyLong_FromUnsignedLong(f->field_id);
			PyObject *args[] = {s->plugin, id};
			loc = id ? fp_runtime_call("field_location", args, 2) : NULL;
			Py_XDECREF(id);
			PyErr_Clear();
		}
		Py_XDECREF(tb);
		restore_exception(exc);
		fp_set_error_from_python(s, what);
		const char *at = loc ? PyUnicode_AsUTF8(loc) : NULL;
		size_t len = strlen(s->last_error);
		if (at && len < sizeof s->last_error)
			snprintf(s->last_error + len, sizeof s->last_error - len, " (%s)", at);
		PyErr_Clear();
		Py_XDECREF(loc);
		snprintf(report, FPA_MAX_ERRLEN, "%.980s (no value; logged once per field)", s->last_error);
	}
	PyErr_Clear();
}
#if FPY_VALUE_OFFSETS
/* in->value_offsets: one start and length per value of the answered fields, in order. Left
 * NULL (the host then has no offsets) only when out of memory. */
static void give_offsets(struct fp_extract *x, const ss_plugin_field_extract_input *in)
{
	ss_plugin_extract_value_offsets *vo = in->value_offsets;
	uint64_t total = 0;
	for (uint32_t i = 0; i < in->num_fields; i++)
		total += in->fields[i].res_len;
	if (total > x->ocap) {
		uint32_t *st = realloc(x->ostart, (size_t)total * sizeof *st);
		if (st)
			x->ostart = st;
		uint32_t *ln = st ? realloc(x->olen, (size_t)total * sizeof *ln) : NULL;
		if (!ln)
			return;
		x->olen = ln;
		x->ocap = total;
	}
	uint64_t k = 0;
	for (uint32_t i = 0; i < in->num_fields; i++) {
		const ss_plugin_extract_field *f = &in->fields[i];
		fp_result *r = f->res_len ? find_result(x, f) : NULL;
		int located = r && f->field_id < NFIELDS && field_located[f->field_id] && r->offs;
		for (uint64_t j = 0; j < f->res_len; j++, k++) {
			x->ostart[k] = located && j < r->offcap ? r->offs[2 * j] : 0;
			x->olen[k] = located && j < r->offcap ? r->offs[2 * j + 1] : 0;
		}
	}
	vo->start = x->ostart;
	vo->length = x->olen;
}
#endif

static ss_plugin_rc extract_fields(fp_state *s, const ss_plugin_event_input *evt,
				   const ss_plugin_field_extract_input *in) __attribute__((noinline));

/* The exported entry is kept small, so that the common batch answer pays for no more than it uses. */
FP_EXPORT ss_plugin_rc plugin_extract_fields(ss_plugin_t *st, const ss_plugin_event_input *evt,
					     const ss_plugin_field_extract_input *in)
{
	fp_state *s = st;
#if !FPY_VALUE_OFFSETS /* with value offsets, every call goes the general way */
	if (in->num_fields == 1 && s && s->extract && evt && evt->evt &&
	    answer_batch_fast(s->extract, s, evt->evt, in->fields))
		return SS_PLUGIN_SUCCESS;
#endif
	return extract_fields(s, evt, in);
}

static ss_plugin_rc extract_fields(fp_state *s, const ss_plugin_event_input *evt,
				   const ss_plugin_field_extract_input *in)
{
	struct fp_extract *x = s ? s->extract : NULL;
	for (uint32_t i = 0; i < in->num_fields; i++)
		in->fields[i].res_len = 0;
	if (!x || !evt || !evt->evt)
		return SS_PLUGIN_FAILURE;
	int same_event = x->have_event && evt->evtnum == x->evtnum && evt->evt->ts == x->ts &&
			 evt->evt->type == x->type;
	int64_t idx = batch_index(s, evt->evt);
	uint32_t first = 0; /* the fields before it are answered, from C without the GIL */
	while (first < in->num_fields && answer_from_c(x, s, &in->fields[first], idx, same_event))
		first++;
	if (first == in->num_fields) {
#if FPY_VALUE_OFFSETS
		if (in->value_offsets)
			give_offsets(x, in);
#endif
		return SS_PLUGIN_SUCCESS;
	}
	char report[FPA_MAX_ERRLEN];
	report[0] = '\0';
#if FPY_USES_TABLES
	fp_access access;
	fp_access_begin(&access, s, "extraction");
	access.owner = in->owner;
	access.owner_error = in->get_owner_last_error;
	access.reader = in->table_reader_ext;
#endif
	fp_gil g = fp_enter();
	if (!same_event)
		start_event(x, evt);
	PyObject *event = fp_event_bind_payload(&s->event, evt, FPY_CAP_SOURCING ? fp_batch_payload(s->batch, idx) : NULL);
	for (uint32_t i = first; event && i < in->num_fields; i++) {
		ss_plugin_extract_field *f = &in->fields[i];
		uint32_t fid = f->field_id;
		if (fid >= NFIELDS)
			continue;
		if (x->batch_func[fid] && idx >= 0) {
			fp_bslot *b = find_bslot(x, f);
			if (!b && !(b = fp_bslot_add(x, f))) {
				PyErr_NoMemory();
				field_failed(s, x, f, report);
				continue;
			}
			if (b->gen != s->batch->gen && fp_batch_compute(x, s, b, f) < 0)
				field_failed(s, x, f, report);
			if (b->gen == s->batch->gen)
				answer_batch(x, f, b, idx);
			continue;
		}
		fp_result *r = find_result(x, f);
		if (r && r->fresh) {
			answer(f, r);
			continue;
		}
		if (!r && !(r = add_result(x, f))) {
			PyErr_NoMemory();
			field_failed(s, x, f, report);
			continue;
		}
		if (compute(x, event, f, r) == 0) {
			answer(f, r);
			continue;
		}
		r->len = 0; /* no value, also the next time this event is asked */
		r->fresh = r->asked = 1;
		field_failed(s, x, f, report);
	}
	if (!event) {
		fp_set_error_from_python(s, "extract_fields");
		snprintf(report, sizeof report, "%.1000s", s->last_error);
	} else if (!same_event) {
		prefetch(x, event);
	}
	fp_event_unbind(event);
	fp_leave(g);
#if FPY_USES_TABLES
	fp_access_end(&access);
#endif
#if FPY_VALUE_OFFSETS
	if (in->value_offsets)
		give_offsets(x, in);
#endif
	if (report[0] && s->log_fn) /* never call the host with the GIL held */
		s->log_fn(s->owner, NULL, report, SS_PLUGIN_LOG_SEV_ERROR);
	return SS_PLUGIN_SUCCESS;
}

#endif /* FPY_CAP_EXTRACTION */
