/*
 * tbl_reader: a parse + extract plugin that uses tbl_owner's table "owned" (loaded after it):
 * init gets the table, the accessors of "count" and "items" and adds "seen_by_reader" (uint64);
 * with the config "misuse" it also logs the owner errors of get_table_field("count", string),
 * get_table("owned", int64) and, at the first parse, get_table_entry(99).
 * parse_event (events with a thread): entry tid % 4 (created by tbl_owner, which parses first)
 * gets seen_by_reader = count * 10; the entry is released.
 * fields: rdr.count (count of entry tid % 4), rdr.items (size of its nested table).
 */
#include "common.h"

typedef struct {
	char lasterr[512];
	ss_plugin_owner_t *owner;
	ss_plugin_log_fn_t log_fn;
	ss_plugin_get_owner_last_error_fn oerr;
	int misuse, misuse_done;
	ss_plugin_table_t *owned;
	ss_plugin_table_field_t *count, *items, *seen;
	uint64_t u64;
} rstate;

#define LOG(s, ...) host_logf((s)->log_fn, (s)->owner, SS_PLUGIN_LOG_SEV_INFO, __VA_ARGS__)

DEFINE_META("tbl_reader", "0.1.0", "3.12.0")
DEFINE_CONTACT
const char *plugin_get_last_error(ss_plugin_t *s) { return ((rstate *)s)->lasterr; }
const char *plugin_get_parse_event_sources(void) { return "[\"syscall\"]"; }
const char *plugin_get_extract_event_sources(void) { return "[\"syscall\"]"; }
const char *plugin_get_fields(void)
{
	return "[{\"type\":\"uint64\",\"name\":\"rdr.count\",\"desc\":\"count of owned entry tid % 4\"},"
	       "{\"type\":\"uint64\",\"name\":\"rdr.items\",\"desc\":\"size of its items table\"}]";
}

static const char *oerr(const rstate *s)
{
	const char *e = s->oerr(s->owner);
	return e ? e : "NO ERROR";
}

ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc)
{
	rstate *s = calloc(1, sizeof *s);
	s->owner = in->owner;
	s->log_fn = in->log_fn;
	s->oerr = in->get_owner_last_error;
	s->misuse = in->config && strstr(in->config, "misuse");
	*rc = SS_PLUGIN_FAILURE;
	const ss_plugin_init_tables_input *t = in->tables;
	s->owned = t->get_table(s->owner, "owned", SS_PLUGIN_ST_UINT64);
	if (!s->owned) {
		snprintf(s->lasterr, sizeof s->lasterr, "no table owned: %s", oerr(s));
		return s;
	}
	s->count = t->fields_ext->get_table_field(s->owned, "count", SS_PLUGIN_ST_UINT64);
	s->items = t->fields_ext->get_table_field(s->owned, "items", SS_PLUGIN_ST_TABLE);
	s->seen = t->fields_ext->add_table_field(s->owned, "seen_by_reader", SS_PLUGIN_ST_UINT64);
	if (!s->count || !s->items || !s->seen) {
		snprintf(s->lasterr, sizeof s->lasterr, "owned fields: %s", oerr(s));
		return s;
	}
	LOG(s, "init table name=%s", t->reader_ext->get_table_name(s->owned));
	if (s->misuse) {
		void *r = t->fields_ext->get_table_field(s->owned, "count", SS_PLUGIN_ST_STRING);
		LOG(s, "misuse field type: %s%s", r ? "SUCCEEDED " : "", oerr(s));
		r = t->get_table(s->owner, "owned", SS_PLUGIN_ST_INT64);
		LOG(s, "misuse key type: %s%s", r ? "SUCCEEDED " : "", oerr(s));
	}
	*rc = SS_PLUGIN_SUCCESS;
	return s;
}

void plugin_destroy(ss_plugin_t *s)
{
	free(s);
}

ss_plugin_rc plugin_parse_event(ss_plugin_t *st, const ss_plugin_event_input *ev, const ss_plugin_event_parse_input *in)
{
	rstate *s = st;
	const ss_plugin_table_reader_vtable_ext *rd = in->table_reader_ext;
	const ss_plugin_table_writer_vtable_ext *wr = in->table_writer_ext;
	if (ev->evt->tid == UINT64_MAX)
		return SS_PLUGIN_SUCCESS;
	ss_plugin_state_data key, d;
	if (s->misuse && !s->misuse_done) {
		s->misuse_done = 1;
		key.u64 = 99;
		void *r = rd->get_table_entry(s->owned, &key);
		LOG(s, "misuse missing entry: %s%s", r ? "SUCCEEDED " : "", oerr(s));
	}
	key.u64 = ev->evt->tid % 4;
	ss_plugin_table_entry_t *e = rd->get_table_entry(s->owned, &key);
	if (!e) {
		snprintf(s->lasterr, sizeof s->lasterr, "no owned entry: %s", oerr(s));
		return SS_PLUGIN_FAILURE;
	}
	if (rd->read_entry_field(s->owned, e, s->count, &d) != SS_PLUGIN_SUCCESS)
		return SS_PLUGIN_FAILURE;
	d.u64 *= 10;
	if (wr->write_entry_field(s->owned, e, s->seen, &d) != SS_PLUGIN_SUCCESS)
		return SS_PLUGIN_FAILURE;
	rd->release_table_entry(s->owned, e);
	return SS_PLUGIN_SUCCESS;
}

ss_plugin_rc plugin_extract_fields(ss_plugin_t *st, const ss_plugin_event_input *ev,
				   const ss_plugin_field_extract_input *in)
{
	rstate *s = st;
	const ss_plugin_table_reader_vtable_ext *rd = in->table_reader_ext;
	for (uint32_t i = 0; i < in->num_fields; i++)
		in->fields[i].res_len = 0;
	if (ev->evt->tid == UINT64_MAX)
		return SS_PLUGIN_SUCCESS;
	ss_plugin_state_data key, d;
	key.u64 = ev->evt->tid % 4;
	ss_plugin_table_entry_t *e = rd->get_table_entry(s->owned, &key);
	if (!e)
		return SS_PLUGIN_FAILURE;
	for (uint32_t i = 0; i < in->num_fields; i++) {
		ss_plugin_extract_field *f = &in->fields[i];
		if (rd->read_entry_field(s->owned, e, f->field_id == 0 ? s->count : s->items, &d) != SS_PLUGIN_SUCCESS)
			continue;
		s->u64 = f->field_id == 0 ? d.u64 : rd->get_table_size(d.table);
		f->res.u64 = &s->u64;
		f->res_len = 1;
	}
	rd->release_table_entry(s->owned, e);
	return SS_PLUGIN_SUCCESS;
}
