/*
 * A parse + extract plugin that uses the host's "threads" table; tbl_ext.c builds it on the
 * _ext vtables, tbl_old.c on the deprecated embedded ones (no release, no iteration, and no
 * nested-table field accessors since the deprecated init input has no writer).
 *
 * init: gets "threads", the accessors of tid, pid, comm, cwd, uid, file_descriptors, and adds
 * fields of its own, one per state type: tbl_count (uint64), tbl_tag (string), tbl_flag (bool),
 * tbl_i8 .. tbl_i64, tbl_u8 .. tbl_u32. The _ext flavour also creates a temporary thread entry
 * to reach a file_descriptors table, gets its "name" and "fd" accessors, adds "tbl_seen"
 * (uint64) to it, and destroys the entry.
 * parse_event (events with a thread): tbl_count += 1 (read then write), tbl_tag = comm#count,
 * the typed fields from the count; _ext: every fd entry of the thread gets tbl_seen += 1
 * (iterate_entries), and the entry is released.
 * fields: tbl.count, tbl.tag, tbl.pid, tbl.fds (size of the thread's file_descriptors table),
 * tbl.i8 (as uint64 of the int8 value + 1000).
 *
 * The init config is a list of words:
 *   misuse   each misuse below is tried once (init, first parse, first extract) and its
 *            owner error logged as "misuse <what>: <error>"
 *   leak     parse does not release its entries (_ext)
 *   crud     init adds thread 999999 ("made-in-init"; the deprecated flavour: the first parse,
 *            "made-in-parse", and it creates and destroys one more entry); (_ext) the first
 *            parse clears the fds of thread 1 and adds fd 42 "/made/by/plugin", list_tables,
 *            iterate and size are logged; the event with evtnum 10 erases 999999 and adds 888888
 *   thread   init calls the table from another thread (must fail)
 */
#include <pthread.h>

#include "common.h"

#ifdef TBL_OLD
#define TBL_NAME "tbl_old"
#define TBL_API "3.0.0"
#define RD(in) (&(in)->table_reader)
#define WR(in) (&(in)->table_writer)
typedef ss_plugin_table_reader_vtable rd_vt;
#else
#define TBL_NAME "tbl_ext"
#define TBL_API "3.12.0"
#define RD(in) ((in)->table_reader_ext)
#define WR(in) ((in)->table_writer_ext)
typedef ss_plugin_table_reader_vtable_ext rd_vt;
#endif

typedef struct {
	char lasterr[512];
	ss_plugin_owner_t *owner;
	ss_plugin_log_fn_t log_fn;
	ss_plugin_get_owner_last_error_fn oerr;
	char config[256];
	ss_plugin_table_t *threads;
	ss_plugin_table_field_t *tid, *pid, *comm, *cwd, *uid, *fds;
	ss_plugin_table_field_t *count, *tag, *flag, *i8, *i16, *i32, *i64, *u8, *u16, *u32;
	ss_plugin_table_field_t *fd_name, *fd_fd, *fd_seen;
	ss_plugin_table_fields_vtable fields_vt; /* kept for misuse only */
	ss_plugin_table_t *(*get_table)(ss_plugin_owner_t *o, const char *name, ss_plugin_state_type key_type);
	const ss_plugin_table_writer_vtable *stashed_writer;
	int parse_misuse_done, extract_misuse_done, crud_done;
	uint64_t u64;
	const char *str;
	char strbuf[512];
	/* iteration */
	const ss_plugin_table_reader_vtable_ext *it_rd;
	const ss_plugin_table_writer_vtable_ext *it_wr;
	ss_plugin_table_t *it_table;
	uint64_t it_count;
} tstate;

#define LOG(s, ...) host_logf((s)->log_fn, (s)->owner, SS_PLUGIN_LOG_SEV_INFO, __VA_ARGS__)
/* A call expected to fail (NULL or non-zero rc), then its owner error. */
#define TRY(what, call)                                                                          \
	do {                                                                                     \
		int ok_ = (call) ? 1 : 0;                                                        \
		LOG(s, "misuse %s: %s%s", what, ok_ ? "SUCCEEDED " : "", oerr(s));               \
	} while (0)
#define TRYRC(what, call)                                                                        \
	do {                                                                                     \
		int ok_ = (call) == SS_PLUGIN_SUCCESS;                                           \
		LOG(s, "misuse %s: %s%s", what, ok_ ? "SUCCEEDED " : "", oerr(s));               \
	} while (0)

DEFINE_META(TBL_NAME, "0.1.0", TBL_API)
DEFINE_CONTACT

const char *plugin_get_last_error(ss_plugin_t *s) { return ((tstate *)s)->lasterr; }
const char *plugin_get_parse_event_sources(void) { return "[\"syscall\"]"; }
const char *plugin_get_extract_event_sources(void) { return "[\"syscall\"]"; }

const char *plugin_get_fields(void)
{
	return "[{\"type\":\"uint64\",\"name\":\"tbl.count\",\"desc\":\"events parsed for the thread\"},"
	       "{\"type\":\"string\",\"name\":\"tbl.tag\",\"desc\":\"comm#count\"},"
	       "{\"type\":\"uint64\",\"name\":\"tbl.pid\",\"desc\":\"pid from the threads table\"},"
	       "{\"type\":\"uint64\",\"name\":\"tbl.fds\",\"desc\":\"size of the thread's fd table\"},"
	       "{\"type\":\"uint64\",\"name\":\"tbl.i8\",\"desc\":\"tbl_i8 + 1000\"}]";
}

static int has(const tstate *s, const char *word)
{
	return strstr(s->config, word) != NULL;
}

static const char *oerr(const tstate *s)
{
	const char *e = s->oerr(s->owner);
	return e ? e : "NO ERROR";
}

static __attribute__((unused)) void *thread_call(void *arg)
{
	tstate *s = arg;
	const ss_plugin_table_reader_vtable_ext *rd = (const ss_plugin_table_reader_vtable_ext *)s->it_rd;
	uint64_t n = rd->get_table_size(s->threads);
	LOG(s, "thread get_table_size=%lld: %s", (long long)n, oerr(s));
	return NULL;
}

ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc)
{
	tstate *s = calloc(1, sizeof *s);
	s->owner = in->owner;
	s->log_fn = in->log_fn;
	s->oerr = in->get_owner_last_error;
	snprintf(s->config, sizeof s->config, "%s", in->config ? in->config : "");
	*rc = SS_PLUGIN_FAILURE;
	const ss_plugin_init_tables_input *t = in->tables;
	if (!t) {
		snprintf(s->lasterr, sizeof s->lasterr, "no tables input");
		return s;
	}
#ifdef TBL_OLD
	const ss_plugin_table_fields_vtable *fv = &t->fields;
#else
	const ss_plugin_table_fields_vtable_ext *fv = t->fields_ext;
#endif
	s->fields_vt = *fv;
	s->get_table = t->get_table;
	s->threads = t->get_table(s->owner, "threads", SS_PLUGIN_ST_INT64);
	if (!s->threads) {
		snprintf(s->lasterr, sizeof s->lasterr, "no threads table: %s", oerr(s));
		return s;
	}
#define GET(var, name, type)                                                                           \
	if (!(s->var = fv->get_table_field(s->threads, name, type))) {                                 \
		snprintf(s->lasterr, sizeof s->lasterr, "get_table_field %s: %s", name, oerr(s));       \
		return s;                                                                              \
	}
#define ADD(var, name, type)                                                                           \
	if (!(s->var = fv->add_table_field(s->threads, name, type))) {                                 \
		snprintf(s->lasterr, sizeof s->lasterr, "add_table_field %s: %s", name, oerr(s));       \
		return s;                                                                              \
	}
	GET(tid, "tid", SS_PLUGIN_ST_INT64)
	GET(pid, "pid", SS_PLUGIN_ST_INT64)
	GET(comm, "comm", SS_PLUGIN_ST_STRING)
	GET(cwd, "cwd", SS_PLUGIN_ST_STRING)
	GET(uid, "uid", SS_PLUGIN_ST_UINT32)
	GET(fds, "file_descriptors", SS_PLUGIN_ST_TABLE)
	ADD(count, "tbl_count", SS_PLUGIN_ST_UINT64)
	ADD(tag, "tbl_tag", SS_PLUGIN_ST_STRING)
	ADD(flag, "tbl_flag", SS_PLUGIN_ST_BOOL)
	ADD(i8, "tbl_i8", SS_PLUGIN_ST_INT8)
	ADD(i16, "tbl_i16", SS_PLUGIN_ST_INT16)
	ADD(i32, "tbl_i32", SS_PLUGIN_ST_INT32)
	ADD(i64, "tbl_i64", SS_PLUGIN_ST_INT64)
	ADD(u8, "tbl_u8", SS_PLUGIN_ST_UINT8)
	ADD(u16, "tbl_u16", SS_PLUGIN_ST_UINT16)
	ADD(u32, "tbl_u32", SS_PLUGIN_ST_UINT32)
	uint32_t nf = 0;
	const ss_plugin_table_fieldinfo *fi = fv->list_table_fields(s->threads, &nf);
	int seen_count = 0;
	for (uint32_t i = 0; fi && i < nf; i++)
		if (!strcmp(fi[i].name, "tbl_count") && fi[i].field_type == SS_PLUGIN_ST_UINT64 && !fi[i].read_only)
			seen_count = 1;
	LOG(s, "init fields=%u listed_tbl_count=%d", nf, seen_count);
#ifndef TBL_OLD
	/* a temporary entry to reach a nested file_descriptors table (writers at init, 3.5) */
	ss_plugin_table_entry_t *tmp = t->writer_ext->create_table_entry(s->threads);
	ss_plugin_state_data d;
	if (!tmp || t->reader_ext->read_entry_field(s->threads, tmp, s->fds, &d) != SS_PLUGIN_SUCCESS || !d.table) {
		snprintf(s->lasterr, sizeof s->lasterr, "cannot reach a file_descriptors table: %s", oerr(s));
		return s;
	}
	s->fd_name = fv->get_table_field(d.table, "name", SS_PLUGIN_ST_STRING);
	s->fd_fd = fv->get_table_field(d.table, "fd", SS_PLUGIN_ST_INT64);
	s->fd_seen = fv->add_table_field(d.table, "tbl_seen", SS_PLUGIN_ST_UINT64);
	if (!s->fd_name || !s->fd_fd || !s->fd_seen) {
		snprintf(s->lasterr, sizeof s->lasterr, "file_descriptors fields: %s", oerr(s));
		return s;
	}
	LOG(s, "init nested table name=%s", t->reader_ext->get_table_name(d.table));
	t->writer_ext->destroy_table_entry(s->threads, tmp);
	if (has(s, "crud")) {
		uint32_t ntables = 0;
		ss_plugin_table_info *ti = t->list_tables(s->owner, &ntables);
		for (uint32_t i = 0; i < ntables; i++)
			LOG(s, "table %s key=%d", ti[i].name, (int)ti[i].key_type);
		ss_plugin_table_entry_t *e = t->writer_ext->create_table_entry(s->threads);
		ss_plugin_state_data v;
		v.str = "made-in-init";
		t->writer_ext->write_entry_field(s->threads, e, s->comm, &v);
		ss_plugin_state_data key;
		key.s64 = 999999;
		e = t->writer_ext->add_table_entry(s->threads, &key, e);
		LOG(s, "init add 999999: %s", e ? "ok" : oerr(s));
	}
	if (has(s, "thread")) {
		pthread_t th;
		s->it_rd = t->reader_ext;
		pthread_create(&th, NULL, thread_call, s);
		pthread_join(th, NULL);
	}
#endif
	if (has(s, "misuse")) {
		TRY("get_table unknown", t->get_table(s->owner, "nope", SS_PLUGIN_ST_INT64));
		TRY("get_table key type", t->get_table(s->owner, "threads", SS_PLUGIN_ST_UINT64));
		TRY("get_table_field type", fv->get_table_field(s->threads, "comm", SS_PLUGIN_ST_UINT64));
		TRY("get_table_field unknown", fv->get_table_field(s->threads, "nope", SS_PLUGIN_ST_UINT64));
		TRY("add_table_field type", fv->add_table_field(s->threads, "comm", SS_PLUGIN_ST_UINT64));
		void *again = fv->add_table_field(s->threads, "tbl_count", SS_PLUGIN_ST_UINT64);
		LOG(s, "misuse add_table_field again: same=%d", again == s->count);
		TRY("add_table_field invalid type", fv->add_table_field(s->threads, "bad", (ss_plugin_state_type)99));
		TRY("add_table_field table", fv->add_table_field(s->threads, "sub", SS_PLUGIN_ST_TABLE));
	}
	*rc = SS_PLUGIN_SUCCESS;
	return s;
}

void plugin_destroy(ss_plugin_t *s)
{
	free(s);
}

#ifndef TBL_OLD
static ss_plugin_bool mark_fd(ss_plugin_table_iterator_state_t *is, ss_plugin_table_entry_t *e)
{
	tstate *s = is;
	ss_plugin_state_data d;
	if (s->it_rd->read_entry_field(s->it_table, e, s->fd_seen, &d) != SS_PLUGIN_SUCCESS)
		return 0;
	d.u64++;
	if (s->it_wr->write_entry_field(s->it_table, e, s->fd_seen, &d) != SS_PLUGIN_SUCCESS)
		return 0;
	s->it_count++;
	return 1;
}

static ss_plugin_bool count_entry(ss_plugin_table_iterator_state_t *is, ss_plugin_table_entry_t *e)
{
	(void)e;
	((tstate *)is)->it_count++;
	return 1;
}
#endif

static void parse_misuse(tstate *s, const ss_plugin_event_parse_input *in, ss_plugin_table_entry_t *e)
{
	const rd_vt *rd = RD(in);
	const ss_plugin_table_writer_vtable *wr = WR(in);
	ss_plugin_state_data d;
	d.str = "/nope";
	TRYRC("write read-only", wr->write_entry_field(s->threads, e, s->cwd, &d));
	d.str = NULL;
	TRYRC("write NULL string", wr->write_entry_field(s->threads, e, s->tag, &d));
#ifndef TBL_OLD
	d.u64 = 1;
	TRYRC("foreign field", wr->write_entry_field(s->threads, e, s->fd_seen, &d));
#endif
	ss_plugin_state_data key;
	key.s64 = -42;
	TRY("missing entry", rd->get_table_entry(s->threads, &key));
	TRYRC("erase missing", wr->erase_table_entry(s->threads, &key));
	TRY("field outside init", s->fields_vt.get_table_field(s->threads, "pid", SS_PLUGIN_ST_INT64));
	TRY("add entry not created", wr->add_table_entry(s->threads, &key, e));
	TRY("table outside init", s->get_table(s->owner, "threads", SS_PLUGIN_ST_INT64));
}

ss_plugin_rc plugin_parse_event(ss_plugin_t *st, const ss_plugin_event_input *ev, const ss_plugin_event_parse_input *in)
{
	tstate *s = st;
	const rd_vt *rd = RD(in);
	const ss_plugin_table_writer_vtable *wr = WR(in);
	s->stashed_writer = wr;
	if (ev->evt->tid == UINT64_MAX)
		return SS_PLUGIN_SUCCESS;
#ifdef TBL_OLD
	if (has(s, "crud") && !s->crud_done) {
		/* no writer in the deprecated init input: the entry is made at the first event */
		s->crud_done = 1;
		ss_plugin_table_entry_t *e = wr->create_table_entry(s->threads);
		ss_plugin_state_data v, key;
		v.str = "made-in-parse";
		wr->write_entry_field(s->threads, e, s->comm, &v);
		key.s64 = 999999;
		e = wr->add_table_entry(s->threads, &key, e);
		LOG(s, "parse add 999999: %s", e ? "ok" : oerr(s));
		e = wr->create_table_entry(s->threads);
		wr->destroy_table_entry(s->threads, e); /* created, never added */
	}
#else
	if (has(s, "crud") && !s->crud_done) {
		s->crud_done = 1;
		ss_plugin_state_data key, d;
		key.s64 = 1;
		ss_plugin_table_entry_t *t1 = rd->get_table_entry(s->threads, &key);
		if (t1 && rd->read_entry_field(s->threads, t1, s->fds, &d) == SS_PLUGIN_SUCCESS) {
			ss_plugin_table_t *fds = d.table;
			LOG(s, "crud fds of 1 before: %llu", (unsigned long long)rd->get_table_size(fds));
			wr->clear_table(fds);
			ss_plugin_table_entry_t *fe = wr->create_table_entry(fds);
			d.str = "/made/by/plugin";
			wr->write_entry_field(fds, fe, s->fd_name, &d);
			key.s64 = 42;
			fe = wr->add_table_entry(fds, &key, fe);
			rd->release_table_entry(fds, fe);
			LOG(s, "crud fds of 1 after: %llu", (unsigned long long)rd->get_table_size(fds));
			rd->release_table_entry(s->threads, t1);
		}
		s->it_count = 0;
		rd->iterate_entries(s->threads, count_entry, s);
		LOG(s, "crud iterate=%llu size=%llu", (unsigned long long)s->it_count,
		    (unsigned long long)rd->get_table_size(s->threads));
	}
#endif
	if (has(s, "crud") && ev->evtnum == 10) {
		ss_plugin_state_data key;
		key.s64 = 999999;
		LOG(s, "crud erase 999999: %s", wr->erase_table_entry(s->threads, &key) ? oerr(s) : "ok");
		ss_plugin_table_entry_t *e = wr->create_table_entry(s->threads);
		key.s64 = 888888;
		e = wr->add_table_entry(s->threads, &key, e);
		LOG(s, "crud add 888888: %s", e ? "ok" : oerr(s));
		LOG(s, "crud size=%llu", (unsigned long long)rd->get_table_size(s->threads));
	}
	ss_plugin_state_data key, d;
	key.s64 = (int64_t)ev->evt->tid;
	ss_plugin_table_entry_t *e = rd->get_table_entry(s->threads, &key);
	if (!e) {
		snprintf(s->lasterr, sizeof s->lasterr, "no thread %lld: %s", (long long)key.s64, oerr(s));
		return SS_PLUGIN_FAILURE;
	}
	if (has(s, "misuse") && !s->parse_misuse_done) {
		s->parse_misuse_done = 1;
		parse_misuse(s, in, e);
	}
	if (rd->read_entry_field(s->threads, e, s->count, &d) != SS_PLUGIN_SUCCESS)
		goto fail;
	uint64_t n = d.u64 + 1;
	d.u64 = n;
	if (wr->write_entry_field(s->threads, e, s->count, &d) != SS_PLUGIN_SUCCESS)
		goto fail;
	if (rd->read_entry_field(s->threads, e, s->comm, &d) != SS_PLUGIN_SUCCESS)
		goto fail;
	snprintf(s->strbuf, sizeof s->strbuf, "%s#%llu", d.str, (unsigned long long)n);
	d.str = s->strbuf;
	if (wr->write_entry_field(s->threads, e, s->tag, &d) != SS_PLUGIN_SUCCESS)
		goto fail;
	d.b = n % 2;
	wr->write_entry_field(s->threads, e, s->flag, &d);
	d.s8 = (int8_t)-(int64_t)(n % 100);
	wr->write_entry_field(s->threads, e, s->i8, &d);
	d.s16 = (int16_t)-(int64_t)n;
	wr->write_entry_field(s->threads, e, s->i16, &d);
	d.s32 = (int32_t)-(int64_t)n;
	wr->write_entry_field(s->threads, e, s->i32, &d);
	d.s64 = -(int64_t)n * 1000;
	wr->write_entry_field(s->threads, e, s->i64, &d);
	d.u8 = (uint8_t)(n % 256);
	wr->write_entry_field(s->threads, e, s->u8, &d);
	d.u16 = (uint16_t)n;
	wr->write_entry_field(s->threads, e, s->u16, &d);
	d.u32 = (uint32_t)n * 3;
	if (wr->write_entry_field(s->threads, e, s->u32, &d) != SS_PLUGIN_SUCCESS)
		goto fail;
#ifndef TBL_OLD
	if (rd->read_entry_field(s->threads, e, s->fds, &d) == SS_PLUGIN_SUCCESS && d.table) {
		s->it_rd = rd;
		s->it_wr = wr;
		s->it_table = d.table;
		s->it_count = 0;
		if (!rd->iterate_entries(d.table, mark_fd, s))
			goto fail;
	}
	if (!has(s, "leak"))
		rd->release_table_entry(s->threads, e);
#endif
	return SS_PLUGIN_SUCCESS;
fail:
	snprintf(s->lasterr, sizeof s->lasterr, "table access failed: %s", oerr(s));
	return SS_PLUGIN_FAILURE;
}

ss_plugin_rc plugin_extract_fields(ss_plugin_t *st, const ss_plugin_event_input *ev,
				   const ss_plugin_field_extract_input *in)
{
	tstate *s = st;
	const rd_vt *rd = RD(in);
	for (uint32_t i = 0; i < in->num_fields; i++)
		in->fields[i].res_len = 0;
	if (ev->evt->tid == UINT64_MAX)
		return SS_PLUGIN_SUCCESS;
	if (has(s, "misuse") && !s->extract_misuse_done && s->stashed_writer) {
		s->extract_misuse_done = 1;
		TRYRC("write in extract", s->stashed_writer->clear_table(s->threads));
	}
	ss_plugin_state_data key, d;
	key.s64 = (int64_t)ev->evt->tid;
	ss_plugin_table_entry_t *e = rd->get_table_entry(s->threads, &key);
	if (!e)
		return SS_PLUGIN_FAILURE;
	for (uint32_t i = 0; i < in->num_fields; i++) {
		ss_plugin_extract_field *f = &in->fields[i];
		ss_plugin_table_field_t *acc = f->field_id == 0   ? s->count
					       : f->field_id == 1 ? s->tag
					       : f->field_id == 2 ? s->pid
					       : f->field_id == 3 ? s->fds
								  : s->i8;
		if (rd->read_entry_field(s->threads, e, acc, &d) != SS_PLUGIN_SUCCESS)
			continue;
		f->res_len = 1;
		switch (f->field_id) {
		case 0: s->u64 = d.u64; break;
		case 1:
			snprintf(s->strbuf, sizeof s->strbuf, "%s", d.str);
			s->str = s->strbuf;
			f->res.str = &s->str;
			continue;
		case 2: s->u64 = (uint64_t)d.s64; break;
		case 3: s->u64 = rd->get_table_size(d.table); break;
		default: s->u64 = (uint64_t)(1000 + d.s8);
		}
		f->res.u64 = &s->u64;
	}
#ifndef TBL_OLD
	rd->release_table_entry(s->threads, e);
#endif
	return SS_PLUGIN_SUCCESS;
}
