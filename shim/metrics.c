/*
 * Metrics (plugin-api-facts.md, Listening, routines and metrics): get_metrics returns an array
 * of ss_plugin_metric built from what the plugin's get_metrics() returns. Falco may call it from its web server
 * thread while the event loop runs on the same state; the GIL serializes the Python side,
 * and the array is per state, replaced by the next call. Mirrors falco_plugin/metrics.py.
 */
#include "shim.h"

#if FPY_HAS_METRICS

#include <stdlib.h>
#include <string.h>

struct fp_metrics {
	ss_plugin_metric *array;
	size_t cap;
	PyObject *hold; /* the list whose names the array points into */
};

static int fill(ss_plugin_metric *m, PyObject *item)
{
	/* item: (name, monotonic, value_type, value) from _runtime.metrics */
	PyObject *name, *value;
	int monotonic, vtype;
	if (!PyArg_ParseTuple(item, "UpiO", &name, &monotonic, &vtype, &value))
		return -1;
	if (!(m->name = PyUnicode_AsUTF8(name)))
		return -1;
	m->type = monotonic ? SS_PLUGIN_METRIC_TYPE_MONOTONIC : SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC;
	m->value_type = (ss_plugin_metric_value_type)vtype;
	memset(&m->value, 0, sizeof m->value);
	switch (vtype) {
	case SS_PLUGIN_METRIC_VALUE_TYPE_U32: m->value.u32 = (uint32_t)PyLong_AsUnsignedLong(value); break;
	case SS_PLUGIN_METRIC_VALUE_TYPE_S32: m->value.s32 = (int32_t)PyLong_AsLong(value); break;
	case SS_PLUGIN_METRIC_VALUE_TYPE_U64: m->value.u64 = PyLong_AsUnsignedLongLong(value); break;
	case SS_PLUGIN_METRIC_VALUE_TYPE_S64: m->value.s64 = PyLong_AsLongLong(value); break;
	case SS_PLUGIN_METRIC_VALUE_TYPE_D: m->value.d = PyFloat_AsDouble(value); break;
	case SS_PLUGIN_METRIC_VALUE_TYPE_F: m->value.f = (float)PyFloat_AsDouble(value); break;
	default: m->value.i = (int)PyLong_AsLong(value); break;
	}
	return PyErr_Occurred() ? -1 : 0;
}

FP_EXPORT ss_plugin_metric *plugin_get_metrics(ss_plugin_t *st, uint32_t *num_metrics)
{
	fp_state *s = st;
	*num_metrics = 0;
	if (!s || !s->plugin)
		return NULL;
	char report[FPA_MAX_ERRLEN] = "";
	ss_plugin_metric *out = NULL;
	fp_gil g = fp_enter();
	if (!s->metrics)
		s->metrics = calloc(1, sizeof *s->metrics);
	struct fp_metrics *m = s->metrics;
	PyObject *list = m ? fp_runtime_call("metrics", &s->plugin, 1) : NULL;
	if (list && PyList_Check(list)) {
		Py_ssize_t n = PyList_GET_SIZE(list);
		if ((size_t)n > m->cap) {
			ss_plugin_metric *a = realloc(m->array, (size_t)n * sizeof *a);
			if (a) {
				m->array = a;
				m->cap = (size_t)n;
			}
		}
		int ok = (size_t)n <= m->cap;
		for (Py_ssize_t i = 0; ok && i < n; i++)
			ok = fill(&m->array[i], PyList_GET_ITEM(list, i)) == 0;
		if (ok) {
			Py_XSETREF(m->hold, list);
			list = NULL;
			*num_metrics = (uint32_t)n;
			out = m->array;
		}
	}
	if (!out && PyErr_Occurred()) {
		fp_set_error_from_python(s, "get_metrics");
		snprintf(report, sizeof report, "%.1000s", s->last_error);
	}
	Py_XDECREF(list);
	fp_leave(g);
	if (report[0] && s->log_fn)
		s->log_fn(s->owner, NULL, report, SS_PLUGIN_LOG_SEV_ERROR);
	return out;
}

void fp_metrics_destroy(fp_state *s)
{
	if (s->metrics) {
		free(s->metrics->array);
		Py_CLEAR(s->metrics->hold);
		free(s->metrics);
		s->metrics = NULL;
	}
}

#else

void fp_metrics_destroy(fp_state *s) { (void)s; }

#endif /* FPY_HAS_METRICS */
