/*
 * Batch fields of field extraction (extract.c has the rest, extract.h the hot path).
 *
 * Batch fields (@field(batch=True)): when the event lies in the state's current batch (the
 * events the shim framed in its own buffer at the last next_batch), the field is computed for
 * the whole batch by one Python call on its first request, and its values are copied into C
 * arrays indexed by the event's position in the batch. Every other request for an event of
 * that batch is answered from them without the GIL. Other events take the per-event path.
 */
#include "extract.h"

#if FPY_CAP_EXTRACTION

#include <stdlib.h>
#include <string.h>

fp_bslot *fp_bslot_add(struct fp_extract *x, const ss_plugin_extract_field *f)
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
		Py_ssize_t len = PyBytes_Check(v) ? PyBytes_GET_SIZE(v) : 0;
		const char *utf8 = PyUnicode_Check(v) ? PyUnicode_AsUTF8AndSize(v, &len)
				   : PyBytes_Check(v) ? PyBytes_AS_STRING(v) : NULL;
		if (!PyUnicode_Check(v) && !PyBytes_Check(v))
			PyErr_Format(PyExc_TypeError, "a string field must return str or bytes, not %.80s",
				     Py_TYPE(v)->tp_name);
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
	} else if (fp_convert_one(x, v, ftype, out, NULL, &at) < 0) { /* numbers: no copies to keep */
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
			Py_ssize_t len = PyBytes_CheckExact(v) ? PyBytes_GET_SIZE(v) : 0;
			const char *utf8 = PyUnicode_CheckExact(v) ? PyUnicode_AsUTF8AndSize(v, &len)
					   : PyBytes_CheckExact(v) ? PyBytes_AS_STRING(v) : NULL;
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

/* Packed values: one per event, so event i's value is value i. */
static int store_batch_count(fp_bslot *b, Py_ssize_t got, uint32_t n)
{
	if (got != (Py_ssize_t)n) {
		PyErr_Format(PyExc_ValueError, "a batch field must return one value per event: got %zd for %u events",
			     got, n);
		return -1;
	}
	for (uint32_t i = 0; i <= n; i++)
		b->off[i] = i;
	return 0;
}

/* The item type of a buffer of values: its struct format letter without a native or
 * little-endian byte-order mark ('?' when the order is not the machine's). */
static char buffer_letter(const Py_buffer *view)
{
	const char *f = view->format ? view->format : "B";
	if (*f == '@' || *f == '=' || (*f == '<' && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__))
		f++;
	return f[0] && !f[1] ? f[0] : '?';
}

/* A uint64 / reltime / abstime / bool field's values packed in a buffer (array.array, numpy
 * array, memoryview, bytes of native uint64s): copied as they are, no Python object per value. */
static int store_batch_buffer(fp_bslot *b, uint8_t ftype, PyObject *values, uint32_t n)
{
	Py_buffer view;
	if (PyObject_GetBuffer(values, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
		if (PyErr_ExceptionMatches(PyExc_BufferError)) {
			PyErr_Clear();
			PyErr_Format(PyExc_ValueError,
				     "a batch field's buffer must be contiguous: this %.80s is not (copy it first, e.g. "
				     "bytes(view) or numpy.ascontiguousarray(values))",
				     Py_TYPE(values)->tp_name);
		}
		return -1;
	}
	char letter = buffer_letter(&view);
	int is_bytes = view.itemsize == 1 && (letter == 'B' || letter == 'b' || letter == 'c');
	int is_u64 = view.itemsize == 8 && (letter == 'Q' || letter == 'L' || letter == 'N');
	int is_i64 = view.itemsize == 8 && (letter == 'q' || letter == 'l' || letter == 'n');
	int is_bool = ftype == FTYPE_BOOL && view.itemsize == 1 && letter == '?';
	int rc = -1;
	if (view.ndim > 1) {
		PyErr_Format(PyExc_ValueError, "a batch field's buffer must be one-dimensional, not %d-dimensional",
			     view.ndim);
	} else if (!is_bytes && !is_u64 && !is_i64 && !is_bool) {
		PyErr_Format(PyExc_ValueError,
			     "a batch field's buffer must hold 8-byte unsigned integers (format 'Q', numpy uint64%s), "
			     "not format '%s' of %zd bytes",
			     ftype == FTYPE_BOOL ? ", or numpy bool" : "", view.format ? view.format : "B", view.itemsize);
	} else if (is_bytes && view.len % 8) {
		PyErr_Format(PyExc_ValueError,
			     "a batch field's bytes must hold 8-byte values: %zd bytes is not a multiple of 8", view.len);
	} else if (store_batch_count(b, is_bytes ? view.len / 8 : view.len / view.itemsize, n) == 0 &&
		   grow(&b->vals, &b->valcap, (size_t)n * (ftype == FTYPE_BOOL ? sizeof(ss_plugin_bool) : 8)) == 0) {
		rc = 0;
		if (ftype == FTYPE_BOOL) {
			ss_plugin_bool *out = b->vals;
			for (uint32_t i = 0; i < n; i++) {
				uint64_t u = 0;
				if (is_bool)
					u = ((const uint8_t *)view.buf)[i];
				else
					memcpy(&u, (const char *)view.buf + (size_t)i * 8, 8);
				out[i] = u != 0;
			}
		} else {
			memcpy(b->vals, view.buf, (size_t)n * 8);
		}
		for (uint32_t i = 0; is_i64 && i < n; i++) {
			int64_t v = ((const int64_t *)b->vals)[i];
			if (v < 0) {
				PyErr_Format(PyExc_ValueError, "value %u of the batch is negative (%lld)", i, (long long)v);
				rc = -1;
				break;
			}
		}
	}
	PyBuffer_Release(&view);
	return rc;
}

/* A string field's values joined by NUL ("\0".join(values), as str or bytes): one copy of the
 * whole text; each value then ends at its separator. */
static int store_batch_joined(fp_bslot *b, PyObject *values, uint32_t n)
{
	Py_buffer view = {0};
	Py_ssize_t len;
	const char *text = PyUnicode_Check(values) ? PyUnicode_AsUTF8AndSize(values, &len) : NULL;
	if (!text) {
		if (PyErr_Occurred() || PyObject_GetBuffer(values, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
			return -1;
		if (view.itemsize != 1 || view.ndim > 1) {
			PyErr_Format(PyExc_ValueError, "a string batch field's buffer must hold bytes, not format '%s'",
				     view.format ? view.format : "B");
			PyBuffer_Release(&view);
			return -1;
		}
		text = view.buf;
		len = view.len;
	}
	size_t at;
	int rc = grow(&b->vals, &b->valcap, (size_t)n * sizeof(const char *)) < 0 ||
			 arena_put(b, text, (size_t)len, 1, &at) < 0
		 ? -1
		 : 0;
	if (view.obj)
		PyBuffer_Release(&view);
	if (rc < 0)
		return -1;
	/* value i starts after the i-th NUL and ends at the next one (or at the NUL arena_put added) */
	const char **out = b->vals, *p = b->arena + at, *end = p + len;
	Py_ssize_t count = 0;
	for (;;) {
		if (count < (Py_ssize_t)n)
			out[count] = p;
		count++;
		const char *sep = memchr(p, '\0', (size_t)(end - p));
		if (!sep)
			break;
		p = sep + 1;
	}
	return store_batch_count(b, count, n);
}

/* Convert what the batch method returned (one value, list or None per event) into the slot. */
static int store_batch(const struct fp_extract *x, fp_bslot *b, uint32_t fid, PyObject *values, uint32_t n)
{
	uint8_t ftype = field_types[fid];
	b->arenalen = 0;
	if (!field_is_list[fid] && !PyList_Check(values) && !PyTuple_Check(values)) {
		if (ftype == FTYPE_STRING && (PyUnicode_Check(values) || PyObject_CheckBuffer(values)))
			return store_batch_joined(b, values, n);
		if (ftype != FTYPE_STRING && ftype != FTYPE_IPADDR && ftype != FTYPE_IPNET && PyObject_CheckBuffer(values))
			return store_batch_buffer(b, ftype, values, n);
	}
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

/* The payloads of the batch's events, the falco_plugin.Payloads (a list) every batch field of
 * the batch receives. */
static PyObject *batch_payloads(const struct fp_extract *x, fp_batch *bt)
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
	PyObject *payloads = list ? PyObject_CallOneArg(x->payloads_type, list) : NULL;
	Py_XDECREF(list);
	if (payloads && (PyObject_SetAttr(payloads, x->str_buffer, Py_None) < 0 ||
			 PyObject_SetAttr(payloads, x->str_offsets, Py_None) < 0))
		Py_CLEAR(payloads);
	return bt->payloads = payloads;
}

/* Call the batch method for every event of the current batch and keep the values in b. On
 * failure the batch has no values for it (-1 with the Python error set). */
int fp_batch_compute(struct fp_extract *x, fp_state *s, fp_bslot *b, const ss_plugin_extract_field *f)
{
	uint32_t fid = f->field_id, n = 0;
	int rc = -1;
	fp_batch *bt = s->batch;
	n = bt->n;
	if (grow((void **)&b->off, &b->offcap, (n + 1) * sizeof *b->off) < 0)
		return -1;
	memset(b->off, 0, (n + 1) * sizeof *b->off);
	b->gen = bt->gen; /* computed once per batch, even if it fails */
	PyObject *payloads = batch_payloads(x, bt);
	if (!payloads)
		return -1;
	PyObject *args[3] = {NULL, payloads, NULL}; /* args[0]: room for a callee's self */
	size_t nargs = 1;
	if (field_arg[fid] != ARG_NONE) {
		if (!(args[2] = fp_field_arg_object(fid, f)))
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
PyObject *fp_batch_payload(const fp_batch *bt, int64_t idx)
{
	if (idx < 0 || !bt->items || idx >= PySequence_Fast_GET_SIZE(bt->items))
		return NULL;
	PyObject *item = PySequence_Fast_GET_ITEM(bt->items, idx);
	PyObject *payload = PyTuple_Check(item) ? PyTuple_GET_ITEM(item, 0) : item;
	return PyBytes_CheckExact(payload) ? payload : NULL;
}

void fp_bslots_free(struct fp_extract *x)
{
	for (uint32_t i = 0; i < x->nbslots; i++) {
		free(x->bslots[i].arg_key);
		free(x->bslots[i].off);
		free(x->bslots[i].vals);
		free(x->bslots[i].arena);
	}
	free(x->bslots);
	x->bslots = NULL;
	x->nbslots = x->capbslots = 0;
}

#endif /* FPY_CAP_EXTRACTION */
