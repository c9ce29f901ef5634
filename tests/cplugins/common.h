/*
 * Building blocks for the small C plugins the host tests load. Each macro defines a group
 * of exported plugin_* symbols, so a test plugin states exactly which symbols it exports.
 */
#ifndef FPH_TEST_COMMON_H
#define FPH_TEST_COMMON_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_abi.h"

typedef struct {
	char lasterr[512];
	ss_plugin_owner_t *owner;
	ss_plugin_log_fn_t log_fn;
} basic_state;

/* Everything required except get_contact: name, version strings, description. */
/* printf-style logging through the host's log_fn (nothing when there is none). */
static void host_logf(ss_plugin_log_fn_t log_fn, ss_plugin_owner_t *owner, ss_plugin_log_severity sev,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5), unused));
static void host_logf(ss_plugin_log_fn_t log_fn, ss_plugin_owner_t *owner, ss_plugin_log_severity sev,
		      const char *fmt, ...)
{
	char msg[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (log_fn)
		log_fn(owner, NULL, msg, sev);
}

#define DEFINE_META(NAME, VERSION, API)                                              \
	const char *plugin_get_required_api_version(void) { return API; }            \
	const char *plugin_get_version(void) { return VERSION; }                     \
	const char *plugin_get_name(void) { return NAME; }                           \
	const char *plugin_get_description(void) { return "test plugin " NAME; }

#define DEFINE_CONTACT \
	const char *plugin_get_contact(void) { return "falco-plugin tests"; }

/* init/destroy/get_last_error with a basic_state. */
#define DEFINE_BASIC_STATE                                                           \
	ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc)   \
	{                                                                            \
		basic_state *s = calloc(1, sizeof *s);                               \
		s->owner = in->owner;                                                \
		s->log_fn = in->log_fn;                                              \
		*rc = SS_PLUGIN_SUCCESS;                                             \
		return s;                                                            \
	}                                                                            \
	void plugin_destroy(ss_plugin_t *s) { free(s); }                             \
	const char *plugin_get_last_error(ss_plugin_t *s) { return ((basic_state *)s)->lasterr; }

#define DEFINE_COMMON(NAME, VERSION, API) DEFINE_META(NAME, VERSION, API) DEFINE_CONTACT DEFINE_BASIC_STATE

/* open/close: an instance that ends at once. */
#define DEFINE_OPEN_CLOSE                                                                         \
	ss_instance_t *plugin_open(ss_plugin_t *s, const char *params, ss_plugin_rc *rc)          \
	{                                                                                         \
		(void)params;                                                                     \
		*rc = SS_PLUGIN_SUCCESS;                                                          \
		return s;                                                                         \
	}                                                                                         \
	void plugin_close(ss_plugin_t *s, ss_instance_t *h) { (void)s; (void)h; }

#define DEFINE_NEXT_BATCH_EOF                                                                     \
	ss_plugin_rc plugin_next_batch(ss_plugin_t *s, ss_instance_t *h, uint32_t *n,             \
				       ss_plugin_event ***e)                                      \
	{                                                                                         \
		(void)s; (void)h;                                                                 \
		*n = 0;                                                                           \
		*e = NULL;                                                                        \
		return SS_PLUGIN_EOF;                                                             \
	}

/* A field list given as a string, and an extract_fields that returns no value. */
#define DEFINE_FIELDS(JSON)                                                                       \
	const char *plugin_get_fields(void) { return JSON; }                                      \
	ss_plugin_rc plugin_extract_fields(ss_plugin_t *s, const ss_plugin_event_input *evt,      \
					   const ss_plugin_field_extract_input *in)               \
	{                                                                                         \
		(void)s; (void)evt;                                                               \
		for (uint32_t i = 0; i < in->num_fields; i++)                                     \
			in->fields[i].res_len = 0;                                                \
		return SS_PLUGIN_SUCCESS;                                                         \
	}

#define ONE_FIELD "[{\"type\":\"uint64\",\"name\":\"x.n\",\"desc\":\"a number\"}]"

#endif
