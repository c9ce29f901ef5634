/*
 * Field extraction. The field list, event types and sources are baked at build time; at
 * init the shim caches one bound method per field id. extract_fields loops in C over the
 * requested fields, calls the method with the (reused) Event object and the argument, and
 * converts the result in C (plugin-api.md §3.4, §6.4). A method that raises gives "no value"
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
 * Batch fields (@field(batch=True)): when the event lies in the state's current batch (the
 * events the shim framed in its own buffer at the last next_batch), the field is computed for
 * the whole batch by one Python call on its first request, and its values are copied into C
 * arrays indexed by the event's position in the batch. Every other request for an event of
 * that batch is answered from them without the GIL. Other events take the per-event path.
 *
 * Value offsets (API 3.11, plugins with located fields only): a located field's method may
 * return falco_plugin.Located(value, start, length); the offsets are kept with the result and,
 * when the host passes value_offsets, handed over one entry per value of the requested fields
 * in order ({0, 0} for values not from the event). Without value_offsets nothing is done.
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
static const uint8_t field_located[] = FPY_FIELD_LOCATED;
#define NFIELDS ((uint32_t)sizeof field_types)

/* One field's result for the current event: its values and the objects they point into. */
typedef struct {
	uint32_t fid;
	ss_plugin_bool arg_present;
	uint64_t arg_index;
	char *arg_key; /* a copy, or NULL */
	PyObject *arg_obj; /* the argument as the method receives it, made on first use */
	void *buf;     /* the values, reused from event to event */
	size_t cap;
	char *data; /* copies of the strings / IP bytes the values point to, also reused */
	size_t datacap;
	uint64_t len; /* how many values (0: no value) */
	uint32_t *offs; /* located fields: start, length per value */
	size_t offcap;
	int fresh; /* computed for the current event; else carried over from the last one */
	int asked; /* the host asked for it during the current event */
} fp_result;

/* One batch field (and argument): its values for every event of a batch, owned by C. */
typedef struct {
	uint32_t fid;
	ss_plugin_bool arg_present;
	uint64_t arg_index;
	char *arg_key;
	uint64_t gen;   /* the batch they are for (0: none yet) */
	uint32_t *off;  /* event i's values are [off[i], off[i + 1]) */
	size_t offcap;
	void *vals;     /* the values, elem_size each */
	size_t valcap;
	char *arena;    /* copies of strings and IP bytes the values point into */
	size_t arenalen, arenacap;
} fp_bslot;

struct fp_extract {
	PyObject *methods; /* tuple of bound methods, by field id */
	PyObject *batch_methods; /* tuple: the batch method of a batch field, else None */
	PyObject *batch_func[sizeof field_types]; /* borrowed from batch_methods; NULL: per event */
	fp_bslot *bslots;
	uint32_t nbslots, capbslots;
	/* each method as function and self (self NULL: a plain callable), borrowed from methods,
	 * so a call skips the bound method's own dispatch */
	PyObject *func[sizeof field_types], *self[sizeof field_types];
	PyObject *datetime_ns, *ip_packed; /* _runtime converters, looked up once */
	PyObject *located_type, *str_value, *str_start, *str_length; /* falco_plugin.Located */
	uint32_t *ostart, *olen; /* the value_offsets arrays handed to the host */
	uint64_t ocap;
	fp_result *results;
	uint32_t nresults, capresults;
	/* by field id: where its result or batch slot was found last (a hint, checked on use) */
	uint32_t result_hint[sizeof field_types], bslot_hint[sizeof field_types];
	uint8_t elem_size[sizeof field_types]; /* bytes per value, by field id */
	int have_event; /* which event the results are for */
	uint64_t evtnum, ts;
	uint16_t type;
	uint8_t logged[sizeof field_types];
};

FP_EXPORT const char *plugin_get_fields(void) { return FPY_FIELDS_JSON; }
FP_EXPORT const char *plugin_get_extract_event_sources(void) { return FPY_EXTRACT_SOURCES_JSON; }

FP_EXPORT uint16_t *plugin_get_extract_event_types(uint32_t *numtypes, ss_plugin_t *s)
{
	if (FPY_EXTRACT_TYPES_AT_INIT && s && ((fp_state *)s)->types[0]) {
		*numtypes = ((fp_state *)s)->ntypes[0];
		return ((fp_state *)s)->types[0];
	}
	static uint16_t types[] = FPY_EXTRACT_TYPES;
	*numtypes = (uint32_t)(sizeof types / sizeof types[0]);
	return types;
}

static size_t elem_size(uint8_t ftype);

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
	Py_XDECREF(module);
	x->str_value = PyUnicode_InternFromString("value");
	x->str_start = PyUnicode_InternFromString("start");
	x->str_length = PyUnicode_InternFromString("length");
	if (!x->methods || !x->datetime_ns || !x->ip_packed || !x->located_type || !x->str_value || !x->str_start ||
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
	for (uint32_t i = 0; i < x->nbslots; i++) {
		free(x->bslots[i].arg_key);
		free(x->bslots[i].off);
		free(x->bslots[i].vals);
		free(x->bslots[i].arena);
	}
	free(x->bslots);
	Py_CLEAR(x->batch_methods);
	free(x->ostart);
	free(x->olen);
	Py_CLEAR(x->located_type);
	Py_CLEAR(x->str_value);
	Py_CLEAR(x->str_start);
	Py_CLEAR(x->str_length);
	Py_CLEAR(x->methods);
	Py_CLEAR(x->datetime_ns);
	Py_CLEAR(x->ip_packed);
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
static int convert_one(const struct fp_extract *x, PyObject *v, uint8_t ftype, void *out, fp_result *r, size_t *used)
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
		if (!PyUnicode_Check(v)) {
			PyErr_Format(PyExc_TypeError, "a string field must return str, not %.80s", Py_TYPE(v)->tp_name);
			return -1;
		}
		Py_ssize_t n;
		const char *utf8 = PyUnicode_AsUTF8AndSize(v, &n);
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

/* The offsets convert_one stored become pointers into r->data (final once it is filled). */
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
		int rc = reserve(r, size) < 0 || convert_one(x, value, ftype, r->buf, r, &used) < 0 ? -1 : 0;
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
			rc = convert_one(x, item, ftype, (char *)r->buf + (size_t)i * size, r, &used);
		Py_DECREF(item);
	}
	Py_DECREF(fast);
	if (rc < 0)
		return -1;
	fix_pointers(r, ftype, i);
	r->len = (uint64_t)i;
	return 0;
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
		if (!r->arg_obj && !(r->arg_obj = field_arg_object(fid, f)))
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

/* --- batch fields --------------------------------------------------------------------- */

/* The position of ev in the state's current batch, or -1 (no GIL needed). */
static inline int64_t batch_index(fp_state *s, const ss_plugin_event *ev)
{
	fp_batch *b = s->batch; /* NULL for a plugin that does not source events */
	uintptr_t p = (uintptr_t)ev;
	if (!b || !b->n || p < (uintptr_t)b->start || p >= (uintptr_t)b->end)
		return -1;
	uint32_t h = b->hint; /* the host asks in order: this event or the next */
	if (h < b->n && b->events[h] == ev)
		return h;
	if (h + 1 < b->n && b->events[h + 1] == ev)
		return b->hint = h + 1;
	uint32_t lo = 0, hi = b->n; /* the events lie in the buffer in order */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if ((uintptr_t)b->events[mid] < p)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < b->n && b->events[lo] == ev)
		return b->hint = lo;
	return -1;
}

static int bslot_is(const fp_bslot *b, const ss_plugin_extract_field *f)
{
	if (b->fid != f->field_id || b->arg_present != f->arg_present || b->arg_index != f->arg_index)
		return 0;
	if (!b->arg_key || !f->arg_key)
		return b->arg_key == f->arg_key;
	return strcmp(b->arg_key, f->arg_key) == 0;
}

static fp_bslot *find_bslot(struct fp_extract *x, const ss_plugin_extract_field *f)
{
	uint32_t h = x->bslot_hint[f->field_id];
	if (h < x->nbslots && bslot_is(&x->bslots[h], f))
		return &x->bslots[h];
	for (uint32_t i = 0; i < x->nbslots; i++)
		if (bslot_is(&x->bslots[i], f)) {
			x->bslot_hint[f->field_id] = i;
			return &x->bslots[i];
		}
	return NULL;
}

static fp_bslot *add_bslot(struct fp_extract *x, const ss_plugin_extract_field *f)
{
	if (x->nbslots == x->capbslots) {
		uint32_t cap = x->capbslots ? 2 * x->capbslots : 4;
		fp_bslot *slots = realloc(x->bslots, cap * sizeof *slots);
		if (!slots)
			return NULL;
		memset(slots + x->capbslots, 0, (cap - x->capbslots) * sizeof *slots);
		x->bslots = slots;
		x->capbslots = cap;
	}
	char *key = f->arg_key ? strdup(f->arg_key) : NULL;
	if (f->arg_key && !key)
		return NULL;
	x->bslot_hint[f->field_id] = x->nbslots;
	fp_bslot *b = &x->bslots[x->nbslots++];
	b->fid = f->field_id;
	b->arg_present = f->arg_present;
	b->arg_index = f->arg_index;
	b->arg_key = key;
	b->gen = 0;
	return b;
}

static int grow(void **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t cap2 = *cap ? *cap : 256;
	while (cap2 < need)
		cap2 *= 2;
	void *p = realloc(*buf, cap2);
	if (!p) {
		PyErr_NoMemory();
		return -1;
	}
	*buf = p;
	*cap = cap2;
	return 0;
}

/* Copy len bytes into the slot's arena; *at is where they start. */
static int arena_put(fp_bslot *b, const void *data, size_t len, int nul, size_t *at)
{
	if (grow((void **)&b->arena, &b->arenacap, b->arenalen + len + 1) < 0)
		return -1;
	*at = b->arenalen;
	memcpy(b->arena + b->arenalen, data, len);
	b->arenalen += len;
	if (nul)
		b->arena[b->arenalen++] = '\0';
	return 0;
}

/* Append one converted value to the slot; strings and IP bytes are copied into the arena
 * (their pointers hold arena offsets until fix_batch_pointers). */
static int put_value(const struct fp_extract *x, fp_bslot *b, uint8_t ftype, PyObject *v, size_t *count)
{
	size_t size = elem_size(ftype);
	if (grow(&b->vals, &b->valcap, (*count + 1) * size) < 0)
		return -1;
	char *out = (char *)b->vals + *count * size;
	size_t at;
	if (ftype == FTYPE_STRING) {
		Py_ssize_t len;
		const char *utf8 = PyUnicode_Check(v) ? PyUnicode_AsUTF8AndSize(v, &len) : NULL;
		if (!PyUnicode_Check(v))
			PyErr_Format(PyExc_TypeError, "a string field must return str, not %.80s", Py_TYPE(v)->tp_name);
		else if (utf8 && memchr(utf8, 0, (size_t)len))
			PyErr_SetString(PyExc_ValueError, "a string field cannot contain a NUL character ('\\0')");
		if (!utf8 || PyErr_Occurred() || arena_put(b, utf8, (size_t)len, 1, &at) < 0)
			return -1;
		const char *ptr = (const char *)(uintptr_t)at;
		memcpy(out, &ptr, sizeof ptr);
	} else if (ftype == FTYPE_IPADDR || ftype == FTYPE_IPNET) {
		PyObject *packed = PyBytes_Check(v) ? Py_NewRef(v) : PyObject_Vectorcall(x->ip_packed, &v, 1, NULL);
		if (!packed)
			return -1;
		int bad = !PyBytes_Check(packed) || (PyBytes_GET_SIZE(packed) != 4 && PyBytes_GET_SIZE(packed) != 16);
		if (bad)
			PyErr_SetString(PyExc_ValueError, "an IP field must be 4 or 16 bytes");
		if (bad || arena_put(b, PyBytes_AS_STRING(packed), (size_t)PyBytes_GET_SIZE(packed), 0, &at) < 0) {
			Py_DECREF(packed);
			return -1;
		}
		ss_plugin_byte_buffer bb = {(uint32_t)PyBytes_GET_SIZE(packed), (const void *)(uintptr_t)at};
		Py_DECREF(packed);
		memcpy(out, &bb, sizeof bb);
	} else if (convert_one(x, v, ftype, out, NULL, &at) < 0) { /* numbers: no copies to keep */
		return -1;
	}
	(*count)++;
	return 0;
}

static void fix_batch_pointers(fp_bslot *b, uint8_t ftype, size_t count)
{
	if (ftype == FTYPE_STRING) {
		const char **p = b->vals;
		for (size_t i = 0; i < count; i++)
			p[i] = b->arena + (uintptr_t)p[i];
	} else if (ftype == FTYPE_IPADDR || ftype == FTYPE_IPNET) {
		ss_plugin_byte_buffer *p = b->vals;
		for (size_t i = 0; i < count; i++)
			p[i].ptr = b->arena + (uintptr_t)p[i].ptr;
	}
}

/* The common case of a single-value uint64 or string field whose values are all exact ints or
 * strs (or None): converted without running any Python code, so the list cannot change under
 * the loop. 0: stored; 1: some value needs the general loop of store_batch (which also reports
 * what is wrong with it); -1: out of memory. */
static int store_batch_plain(fp_bslot *b, uint8_t ftype, PyObject *fast, uint32_t n)
{
	PyObject **items = PySequence_Fast_ITEMS(fast);
	if (grow(&b->vals, &b->valcap, (size_t)n * sizeof(uint64_t)) < 0)
		return -1;
	size_t count = 0;
	for (uint32_t i = 0; i < n; i++) {
		PyObject *v = items[i];
		b->off[i] = (uint32_t)count;
		if (v == Py_None)
			continue;
		if (ftype == FTYPE_UINT64) {
			if (!PyLong_CheckExact(v))
				return 1;
			uint64_t u = PyLong_AsUnsignedLongLong(v);
			if (u == (uint64_t)-1 && PyErr_Occurred()) {
				PyErr_Clear();
				return 1;
			}
			((uint64_t *)b->vals)[count++] = u;
		} else {
			Py_ssize_t len;
			const char *utf8 = PyUnicode_CheckExact(v) ? PyUnicode_AsUTF8AndSize(v, &len) : NULL;
			size_t at;
			if (!utf8 || memchr(utf8, 0, (size_t)len)) {
				PyErr_Clear();
				return 1;
			}
			if (arena_put(b, utf8, (size_t)len, 1, &at) < 0)
				return -1;
			((const char **)b->vals)[count++] = (const char *)(uintptr_t)at;
		}
	}
	b->off[n] = (uint32_t)count;
	fix_batch_pointers(b, ftype, count);
	return 0;
}

/* Convert what the batch method returned (one value, list or None per event) into the slot. */
static int store_batch(const struct fp_extract *x, fp_bslot *b, uint32_t fid, PyObject *values, uint32_t n)
{
	uint8_t ftype = field_types[fid];
	PyObject *fast = PySequence_Fast(values, "a batch field must return a list of one value per event");
	if (!fast)
		return -1;
	if (PySequence_Fast_GET_SIZE(fast) != (Py_ssize_t)n) {
		PyErr_Format(PyExc_ValueError, "a batch field must return one value per event: got %zd for %u events",
			     PySequence_Fast_GET_SIZE(fast), n);
		Py_DECREF(fast);
		return -1;
	}
	b->arenalen = 0;
	if (!field_is_list[fid] && (ftype == FTYPE_UINT64 || ftype == FTYPE_STRING)) {
		int rc = store_batch_plain(b, ftype, fast, n);
		if (rc <= 0) {
			Py_DECREF(fast);
			return rc;
		}
		b->arenalen = 0;
	}
	size_t count = 0;
	/* converting a value can run Python code (__index__, __bool__...) that changes the lists:
	 * hold each item and read the sizes again at each step, as store() does */
	for (uint32_t i = 0; i < n; i++) {
		b->off[i] = (uint32_t)count;
		if (PySequence_Fast_GET_SIZE(fast) != (Py_ssize_t)n) {
			PyErr_SetString(PyExc_RuntimeError, "the batch's list of values changed while it was converted");
			Py_DECREF(fast);
			return -1;
		}
		PyObject *v = Py_NewRef(PySequence_Fast_GET_ITEM(fast, i));
		int rc = 0;
		if (v == Py_None) {
			Py_DECREF(v);
			continue;
		}
		if (field_is_list[fid]) {
			PyObject *list = PySequence_Fast(v, "a list field must return a list");
			for (Py_ssize_t k = 0; list && rc == 0 && k < PySequence_Fast_GET_SIZE(list); k++) {
				PyObject *item = Py_NewRef(PySequence_Fast_GET_ITEM(list, k));
				rc = put_value(x, b, ftype, item, &count);
				Py_DECREF(item);
			}
			if (!list)
				rc = -1;
			Py_XDECREF(list);
		} else {
			rc = put_value(x, b, ftype, v, &count);
		}
		Py_DECREF(v);
		if (rc < 0) {
			PyObject *exc = fp_take_exception();
			PyErr_Format(PyExc_ValueError, "value %u of the batch: %S", i, exc ? exc : Py_None);
			Py_XDECREF(exc);
			Py_DECREF(fast);
			return -1;
		}
	}
	b->off[n] = (uint32_t)count;
	fix_batch_pointers(b, ftype, count);
	Py_DECREF(fast);
	return 0;
}

/* The payloads of the batch's events, the list every batch field of the batch receives. */
static PyObject *batch_payloads(fp_batch *bt)
{
	if (bt->payloads)
		return bt->payloads;
	if (!bt->items || PySequence_Fast_GET_SIZE(bt->items) != (Py_ssize_t)bt->n) {
		PyErr_SetString(PyExc_RuntimeError, "the batch's events are gone (next_batch failed or the instance was closed)");
		return NULL;
	}
	PyObject *list = PyList_New(bt->n);
	for (uint32_t i = 0; list && i < bt->n; i++) {
		PyObject *item = PySequence_Fast_GET_ITEM(bt->items, i);
		PyList_SET_ITEM(list, i, Py_NewRef(PyTuple_Check(item) ? PyTuple_GET_ITEM(item, 0) : item));
	}
	return bt->payloads = list;
}

/* Call the batch method for every event of the current batch and keep the values in b. On
 * failure the batch has no values for it (-1 with the Python error set). */
static int compute_batch(struct fp_extract *x, fp_state *s, fp_bslot *b, const ss_plugin_extract_field *f)
{
	uint32_t fid = f->field_id, n = 0;
	int rc = -1;
	fp_batch *bt = s->batch;
	n = bt->n;
	if (grow((void **)&b->off, &b->offcap, (n + 1) * sizeof *b->off) < 0)
		return -1;
	memset(b->off, 0, (n + 1) * sizeof *b->off);
	b->gen = bt->gen; /* computed once per batch, even if it fails */
	PyObject *payloads = batch_payloads(bt);
	if (!payloads)
		return -1;
	PyObject *args[3] = {NULL, payloads, NULL}; /* args[0]: room for a callee's self */
	size_t nargs = 1;
	if (field_arg[fid] != ARG_NONE) {
		if (!(args[2] = field_arg_object(fid, f)))
			return -1;
		nargs = 2;
	}
	PyObject *values = PyObject_Vectorcall(x->batch_func[fid], args + 1, nargs | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
	Py_XDECREF(args[2]);
	if (values) {
		rc = store_batch(x, b, fid, values, n);
		Py_DECREF(values);
	}
	if (rc < 0)
		memset(b->off, 0, (n + 1) * sizeof *b->off);
	if (rc < 0 && values) {
		/* a value that does not convert was refused in C, without a traceback: say where the
		 * method is (_checked_batch records it) */
		PyObject *exc = fp_take_exception();
		PyObject *where = PyObject_GetAttrString(x->batch_func[fid], "__falco_where__");
		if (!where)
			PyErr_Clear();
		PyErr_Format(PyExc_ValueError, "%S%S", exc ? exc : Py_None, where ? where : Py_None);
		Py_XDECREF(where);
		Py_XDECREF(exc);
	}
	return rc;
}

/* The payload object the shim framed event idx of the batch from, if it is a bytes (borrowed;
 * NULL: a bytearray, copied as any other event's payload). */
static PyObject *batch_payload(const fp_batch *bt, int64_t idx)
{
	if (idx < 0 || !bt->items || idx >= PySequence_Fast_GET_SIZE(bt->items))
		return NULL;
	PyObject *item = PySequence_Fast_GET_ITEM(bt->items, idx);
	PyObject *payload = PyTuple_Check(item) ? PyTuple_GET_ITEM(item, 0) : item;
	return PyBytes_CheckExact(payload) ? payload : NULL;
}

static inline void answer_batch(const struct fp_extract *x, ss_plugin_extract_field *f, const fp_bslot *b,
				int64_t idx)
{
	size_t size = x->elem_size[f->field_id];
	f->res.u64 = (uint64_t *)((char *)b->vals + (size_t)b->off[idx] * size);
	f->res_len = b->off[idx + 1] - b->off[idx];
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

/* The hot path of batch fields, as libsinsp calls: one field, of an event of the current batch
 * (the one asked last or the next), already computed for the batch. 1: answered. */
static inline int answer_batch_fast(struct fp_extract *x, fp_state *s, const ss_plugin_event *ev,
				    ss_plugin_extract_field *f)
{
	uint32_t fid = f->field_id;
	if (fid >= NFIELDS || !x->batch_func[fid])
		return 0;
	int64_t h = batch_index(s, ev);
	if (h < 0)
		return 0;
	uint32_t k = x->bslot_hint[fid];
	if (k >= x->nbslots)
		return 0;
	const fp_bslot *slot = &x->bslots[k];
	if (slot->fid != fid || slot->gen != s->batch->gen || slot->arg_present != f->arg_present)
		return 0;
	if (f->arg_present && !bslot_is(slot, f))
		return 0;
	answer_batch(x, f, slot, h);
	return 1;
}

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
	PyObject *event = fp_event_bind_payload(&s->event, evt, FPY_CAP_SOURCING ? batch_payload(s->batch, idx) : NULL);
	for (uint32_t i = first; event && i < in->num_fields; i++) {
		ss_plugin_extract_field *f = &in->fields[i];
		uint32_t fid = f->field_id;
		if (fid >= NFIELDS)
			continue;
		if (x->batch_func[fid] && idx >= 0) {
			fp_bslot *b = find_bslot(x, f);
			if (!b && !(b = add_bslot(x, f))) {
				PyErr_NoMemory();
				field_failed(s, x, f, report);
				continue;
			}
			if (b->gen != s->batch->gen && compute_batch(x, s, b, f) < 0)
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
