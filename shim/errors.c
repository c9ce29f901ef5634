/*
 * Errors and calls into Python, for every part of the shim: the state's last_error from a
 * format or from the pending Python exception (described by _runtime.format_exception), and
 * calls of falco_plugin._runtime functions by name.
 */
#include "shim.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* set once by the interpreter's bootstrap (interpreter.c), process-wide */
PyObject *fp_runtime;
PyObject *fp_exc_end_of_stream;
PyObject *fp_exc_timeout;

void fp_set_error(fp_state *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->last_error, sizeof s->last_error, fmt, ap);
	va_end(ap);
}

PyObject *fp_take_exception(void)
{
#if PY_VERSION_HEX >= 0x030C0000
	return PyErr_GetRaisedException();
#else
	PyObject *type, *value, *tb;
	PyErr_Fetch(&type, &value, &tb);
	if (!type)
		return NULL;
	PyErr_NormalizeException(&type, &value, &tb);
	if (tb && value)
		PyException_SetTraceback(value, tb);
	Py_XDECREF(type);
	Py_XDECREF(tb);
	return value;
#endif
}

void fp_describe_exception(PyObject *exc, char *out, size_t outlen)
{
	PyObject *text = NULL;
	if (fp_runtime) {
		PyObject *args[] = {exc};
		text = fp_runtime_call("format_exception", args, 1);
	}
	if (!text) {
		PyErr_Clear();
		text = PyObject_Str(exc);
	}
	const char *utf8 = text ? PyUnicode_AsUTF8(text) : NULL;
	if (!utf8) {
		PyErr_Clear();
		utf8 = "(exception could not be described)";
	}
	snprintf(out, outlen, "%s", utf8);
	Py_XDECREF(text);
}

void fp_set_error_from_python(fp_state *s, const char *what)
{
	PyObject *exc = fp_take_exception();
	char detail[FPA_MAX_ERRLEN];
	if (exc)
		fp_describe_exception(exc, detail, sizeof detail);
	else
		snprintf(detail, sizeof detail, "unknown error");
	Py_XDECREF(exc);
	if (what && *what)
		fp_set_error(s, "%s: %s", what, detail);
	else
		fp_set_error(s, "%s", detail);
}

PyObject *fp_runtime_call(const char *name, PyObject *const *args, size_t nargs)
{
	PyObject *fn = PyObject_GetAttrString(fp_runtime, name);
	if (!fn)
		return NULL;
	PyObject *res = PyObject_Vectorcall(fn, args, nargs, NULL);
	Py_DECREF(fn);
	return res;
}

const char *fp_keep_text(fp_state *s, PyObject *str)
{
	Py_ssize_t n = 0;
	const char *utf8 = str == Py_None ? "" : PyUnicode_AsUTF8AndSize(str, &n);
	if (!utf8)
		return NULL;
	if (memchr(utf8, 0, (size_t)n)) {
		PyErr_SetString(PyExc_ValueError, "the text cannot contain a NUL character ('\\0')");
		return NULL;
	}
	char *copy = strdup(utf8);
	if (!copy) {
		PyErr_NoMemory();
		return NULL;
	}
	free(s->text);
	s->text = copy;
	return copy;
}
