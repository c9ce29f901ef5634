/*
 * table_rw_c: the plain-C reference for `make bench` section P (table access). A parse plugin
 * that in init gets the "threads" table, the accessor of "pid" and adds a uint64 field of its
 * own ("table_rw_c_counter"); on each event with a thread it gets the thread's entry (_ext
 * reader), reads pid, then does K pairs of (read the counter, write counter + 1), and releases
 * the entry. Init config {"ops": K} (default 1), so that ns/op = (ns/event(K) - ns/event(0)) / K.
 * Events whose thread has no entry are skipped (the host's replay state creates one per tid).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_abi.h"

typedef struct {
	char lasterr[256];
	uint64_t ops, pid_sum;
	ss_plugin_table_t *threads;
	ss_plugin_table_field_t *pid, *counter;
} rw_state;

const char *plugin_get_required_api_version(void) { return "3.5.0"; }
const char *plugin_get_version(void) { return "0.1.0"; }
const char *plugin_get_name(void) { return "table_rw_c"; }
const char *plugin_get_description(void) { return "reads and writes a threads table field per event (C reference)"; }
const char *plugin_get_contact(void) { return "falco-plugin bench"; }
const char *plugin_get_last_error(ss_plugin_t *s) { return ((rw_state *)s)->lasterr; }
const char *plugin_get_parse_event_sources(void) { return "[\"syscall\"]"; }

ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc)
{
	rw_state *s = calloc(1, sizeof *s);
	const char *ops = in->config ? strstr(in->config, "\"ops\"") : NULL;
	s->ops = 1;
	if (ops && (ops = strchr(ops, ':')))
		s->ops = strtoull(ops + 1, NULL, 10);
	*rc = SS_PLUGIN_FAILURE;
	const ss_plugin_init_tables_input *t = in->tables;
	s->threads = t ? t->get_table(in->owner, "threads", SS_PLUGIN_ST_INT64) : NULL;
	if (s->threads) {
		s->pid = t->fields_ext->get_table_field(s->threads, "pid", SS_PLUGIN_ST_INT64);
		s->counter = t->fields_ext->add_table_field(s->threads, "table_rw_c_counter", SS_PLUGIN_ST_UINT64);
	}
	if (!s->threads || !s->pid || !s->counter) {
		const char *e = in->get_owner_last_error(in->owner);
		snprintf(s->lasterr, sizeof s->lasterr, "threads table: %s", e ? e : "?");
		return s;
	}
	*rc = SS_PLUGIN_SUCCESS;
	return s;
}

void plugin_destroy(ss_plugin_t *s) { free(s); }

ss_plugin_rc plugin_parse_event(ss_plugin_t *st, const ss_plugin_event_input *evt, const ss_plugin_event_parse_input *in)
{
	rw_state *s = st;
	const ss_plugin_table_reader_vtable_ext *rd = in->table_reader_ext;
	const ss_plugin_table_writer_vtable_ext *wr = in->table_writer_ext;
	ss_plugin_state_data key, v;
	key.s64 = (int64_t)evt->evt->tid;
	ss_plugin_table_entry_t *e = rd->get_table_entry(s->threads, &key);
	if (!e)
		return SS_PLUGIN_SUCCESS;
	ss_plugin_rc rc = rd->read_entry_field(s->threads, e, s->pid, &v);
	s->pid_sum += (uint64_t)v.s64;
	for (uint64_t i = 0; i < s->ops && rc == SS_PLUGIN_SUCCESS; i++) {
		rc = rd->read_entry_field(s->threads, e, s->counter, &v);
		v.u64++;
		if (rc == SS_PLUGIN_SUCCESS)
			rc = wr->write_entry_field(s->threads, e, s->counter, &v);
	}
	rd->release_table_entry(s->threads, e);
	if (rc != SS_PLUGIN_SUCCESS)
		snprintf(s->lasterr, sizeof s->lasterr, "table access failed");
	return rc;
}
