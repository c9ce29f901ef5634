/*
 * Event parsing (plugin-api-facts.md, Parsing): parse_event is called once per
 * event of the baked types and sources, after libsinsp's own parsing and before any
 * extraction, with write access to tables. Mirrors falco_plugin/parse.py.
 *
 * The host ignores the result, so a raising parse_event is logged by the shim, once per
 * distinct message, and the event loop goes on.
 */
#include "shim.h"

#if FPY_CAP_PARSING

#include <string.h>

FP_EXPORT const char *plugin_get_parse_event_sources(void) { return FPY_PARSE_SOURCES_JSON; }

FP_EXPORT uint16_t *plugin_get_parse_event_types(uint32_t *numtypes, ss_plugin_t *s)
{
	if (FPY_PARSE_TYPES_AT_INIT && s && ((fp_state *)s)->types[1]) {
		*numtypes = ((fp_state *)s)->ntypes[1];
		return ((fp_state *)s)->types[1];
	}
	static uint16_t types[] = FPY_PARSE_TYPES; /* {0} when none are declared: FPY_PARSE_NTYPES is 0 */
	*numtypes = FPY_PARSE_NTYPES;
	return types;
}

#define FP_PARSE_LOGGED 512u

struct fp_parse {
	PyObject *method; /* plugin.parse_event, or the typed-event caller around it */
	/* what is called: the method's function and self (no bound-method hop per event), or
	 * the method itself and NULL */
	PyObject *func, *self;
	/* the hashes of the messages logged, to log each distinct one once (open addressing) */
	uint64_t logged[FP_PARSE_LOGGED];
	uint32_t nlogged;
};

/* 1 if msg was not logged yet (and now counts as logged); the set is bounded, and once it
 * is full the first message past it says so and nothing else is logged. */
static int first_time(struct fp_parse *p, const char *msg, char *report, size_t n)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (const unsigned char *c = (const unsigned char *)msg; *c; c++)
		h = (h ^ *c) * 1099511628211ULL;
	h |= 1; /* 0 marks a free slot */
	uint32_t i = (uint32_t)h % FP_PARSE_LOGGED;
	for (uint32_t probes = 0; probes < FP_PARSE_LOGGED && p->logged[i]; probes++, i = (i + 1) % FP_PARSE_LOGGED)
		if (p->logged[i] == h)
			return 0;
	if (p->nlogged >= FP_PARSE_LOGGED / 2) {
		if (p->nlogged++ == FP_PARSE_LOGGED / 2)
			snprintf(report, n, "%.900s (and from now on no other parse_event error is logged: %u distinct "
				 "ones were)", msg, FP_PARSE_LOGGED / 2);
		return 0;
	}
	p->logged[i] = h;
	p->nlogged++;
	return 1;
}

int fp_parse_init(fp_state *s)
{
	PyObject *m = fp_runtime_call("parse_method", &s->plugin, 1);
	if (!m)
		return -1;
	s->parse = calloc(1, sizeof *s->parse);
	if (!s->parse) {
		Py_DECREF(m);
		PyErr_NoMemory();
		return -1;
	}
	s->parse->method = m;
	if (PyMethod_Check(m)) {
		s->parse->func = Py_NewRef(PyMethod_GET_FUNCTION(m));
		s->parse->self = Py_NewRef(PyMethod_GET_SELF(m));
	} else {
		s->parse->func = Py_NewRef(m);
	}
	return 0;
}

void fp_parse_destroy(fp_state *s)
{
	if (s->parse) {
		Py_CLEAR(s->parse->method);
		Py_CLEAR(s->parse->func);
		Py_CLEAR(s->parse->self);
		free(s->parse);
		s->parse = NULL;
	}
}

FP_EXPORT ss_plugin_rc plugin_parse_event(ss_plugin_t *st, const ss_plugin_event_input *evt,
					  const ss_plugin_event_parse_input *in)
{
	fp_state *s = st;
	if (!s || !s->parse || !evt || !evt->evt)
		return SS_PLUGIN_FAILURE;
	fp_access access;
	fp_access_begin(&access, s, "parsing");
	if (in) {
		access.owner = in->owner;
		access.owner_error = in->get_owner_last_error;
		access.reader = in->table_reader_ext;
		access.writer = in->table_writer_ext;
	}
	char report[FPA_MAX_ERRLEN];
	report[0] = '\0';
	fp_gil g = fp_enter();
	PyObject *event = fp_event_bind(&s->event, evt), *r = NULL;
	if (event) {
		/* args[0] is scratch room for the callee (PY_VECTORCALL_ARGUMENTS_OFFSET) */
		struct fp_parse *p = s->parse;
		PyObject *args[3] = {NULL, p->self, event};
		r = p->self ? PyObject_Vectorcall(p->func, args + 1, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL)
			    : PyObject_Vectorcall(p->func, args + 2, 1 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
	}
	fp_event_unbind(event);
	if (!r) {
		fp_set_error_from_python(s, "parse_event");
		if (first_time(s->parse, s->last_error, report, sizeof report))
			snprintf(report, sizeof report, "%.1000s", s->last_error);
	}
	Py_XDECREF(r);
	fp_leave(g);
	fp_access_end(&access);
	if (report[0] && s->log_fn) /* never call the host with the GIL held */
		s->log_fn(s->owner, NULL, report, SS_PLUGIN_LOG_SEV_ERROR);
	return r ? SS_PLUGIN_SUCCESS : SS_PLUGIN_FAILURE;
}

#endif /* FPY_CAP_PARSING */
