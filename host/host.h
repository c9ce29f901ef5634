/*
 * falco-plugin-host: loads a Falco plugin .so the way libsinsp/libscap do and drives it.
 * Facts (messages, call order, checks) follow libsinsp and libscap, summed up with the upstream
 * files they come from in docs/internals/plugin-api-facts.md; the code is ours.
 */
#ifndef FALCO_PLUGIN_HOST_H
#define FALCO_PLUGIN_HOST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "plugin_abi.h"

#define HOST_ERRLEN FPA_MAX_ERRLEN

/* Loader capability bits (plugin_loader.c). */
enum {
	CAP_SOURCING = 1u << 0,
	CAP_EXTRACTION = 1u << 1,
	CAP_PARSING = 1u << 2,
	CAP_ASYNC = 1u << 3,
	CAP_CAPTURE_LISTENING = 1u << 4,
	CAP_BROKEN = 1u << 31,
};

/* ---- growable string buffer (json.c) ---- */
typedef struct {
	char *p;
	size_t len, cap;
} sbuf;

void sb_reserve(sbuf *b, size_t extra);
void sb_putc(sbuf *b, char c);
void sb_write(sbuf *b, const void *data, size_t n);
void sb_puts(sbuf *b, const char *s);
void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_free(sbuf *b);

/* ---- JSON (json.c) ---- */
typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jval {
	jtype t;
	int b;             /* J_BOOL */
	double num;        /* J_NUM */
	int is_int;        /* J_NUM written without fraction or exponent */
	char *s;           /* J_STR: the string; J_NUM: its source text */
	size_t n;          /* J_ARR/J_OBJ: number of items */
	struct jval **items;
	char **keys;       /* J_OBJ only */
} jval;

jval *json_parse(const char *text, char *err, size_t errlen);
void json_free(jval *v);
const jval *json_get(const jval *obj, const char *key);
/* The string form of a scalar as jsoncpp's asString() gives it; NULL for arrays and objects. */
const char *json_scalar_string(const jval *v);
const char *json_type_name(const jval *v);
void sb_json_str(sbuf *b, const char *s);
void sb_json_strn(sbuf *b, const char *s, size_t n);
void sb_json_value(sbuf *b, const jval *v);

/* ---- JSON Schema (schema.c) ---- */
/* 0 when valid; otherwise 1 with "In <context>, <description>" written into err. */
int schema_validate(const jval *schema, const jval *instance, char *err, size_t errlen);

/* ---- plugins (loader.c) ---- */
typedef struct {
	char **v;
	size_t n;
} strlist;

typedef struct {
	char *name;
	uint32_t type; /* ss_plugin_field_type */
	int is_list;
	int arg_required, arg_index, arg_key;
} field_def;

typedef struct plugin {
	const char *path;
	void *dl;
	struct {
#define FPH_API_MEMBER(ret, name, args) ret(*name) args;
		FPA_FOR_EACH_SYMBOL(FPH_API_MEMBER)
#undef FPH_API_MEMBER
	} api;
	uint32_t caps;
	char *name, *version, *description, *contact, *required_api_version;
	uint32_t id;
	char *event_source; /* "" when the plugin has none */
	jval *fields_json;
	field_def *fields;
	size_t nfields;
	/* As declared by the plugin (empty strings dropped); NULL when not resolved (symbol or
	 * capability missing). The effective extract set adds the plugin's own source. */
	strlist *extract_sources, *parse_sources, *async_sources, *async_events;
	int extract_all_sources; /* effective set is "all sources" */

	/* run-time state */
	const char *config;      /* -c */
	const char *open_params; /* -o */
	ss_plugin_t *state;
	uint8_t *extract_types; /* bitmap of 65536 event codes, after init */
	/* how many types get_{extract,parse}_event_types declared (0: the host's default), -1: no answer */
	int64_t extract_types_declared, parse_types_declared;
	char owner_err[HOST_ERRLEN];
	pthread_mutex_t lock; /* serializes calls into this state when several sessions run */
	/* async (async.c): the queue of the session the plugin is attached to, and whether the
	 * host handler is set (atomic; stored before the set call so its threads can emit) */
	struct async_queue *async_q;
	int async_set;

	/* state tables (tables.c): this plugin's handles, views and counters as a table user */
	struct tbl_owner *tbl;
	int tables_used;                   /* got a table or registered one */
	uint64_t table_entries_unreleased; /* counted at the end of each call */
	/* parsing (parse.c) */
	uint8_t *parse_types; /* bitmap of 65536 event codes, after init */
	int parse_all_sources;
	ss_plugin_event_parse_input parse_in;
	uint64_t parsed, parse_failures;
	strlist *parse_errors_seen; /* distinct messages already printed */
	/* capture listening (listen.c) */
	int capture_opened;
	uint64_t routines_subscribed, routine_runs; /* atomic */
} plugin;

int plugin_load(plugin *p, const char *path, char *err);
void plugin_unload(plugin *p);
const char *plugin_last_error(plugin *p); /* get_last_error(state), "" when NULL (util.c) */
const char *cap_name(uint32_t cap);
int source_compatible(const plugin *p, const char *source); /* extraction sources */
const field_def *plugin_find_field(const plugin *p, const char *name, uint32_t *index);
/* Schema check + init + post-init queries. 0 ok, 1 failure (message in err). */
int plugin_init(plugin *p, char *err, size_t errlen);
/* --show-init: the event types and schema version the host holds after init, one line. */
void print_plugin_init(plugin *p, int json);
/* The required event schema version against an engine's (NULL: the engine reports none), as
 * plugin.cpp check_required_schema_version does; 0 ok, 1 (err). */
int plugin_check_schema_version(plugin *p, const char *engine, char *err, size_t errlen);

/* ---- state tables (tables.c) ---- */
/* What the current thread is inside of: table functions refuse to work outside a plugin call
 * that received table vtables, writers refuse extract_fields, fields get/add need init. */
typedef enum { CALL_NONE = 0, CALL_INIT, CALL_PARSE, CALL_EXTRACT, CALL_LISTEN } call_kind;

typedef struct tschema tschema;
typedef struct tfield tfield;
typedef struct htable htable;
typedef struct hentry hentry;

/* Host-side field description for building schemas. */
typedef struct {
	const char *name;
	ss_plugin_state_type type;
	int read_only;
	int64_t defval;   /* numeric default (libsinsp's initial value) */
	tschema *sub;     /* TABLE fields: schema of the nested tables */
} field_spec;

void tables_init(void);     /* the registry with the host's tables (threads); once per process */
void tables_shutdown(void); /* after every plugin is destroyed */
void tables_plugin_free(plugin *p);
/* Around every plugin call that receives table vtables (on the calling thread). The end counts
 * and releases what the plugin still holds and invalidates the call's nested-table handles. */
void tables_call_begin(plugin *p, call_kind k);
void tables_call_end(plugin *p);
/* Serializes table users across session threads when several sessions run (set_locking(1)). */
void tables_set_locking(int on);
void tables_lock(void);
void tables_unlock(void);
/* The vtables handed to plugins. */
extern ss_plugin_table_reader_vtable g_reader_old;
extern ss_plugin_table_reader_vtable_ext g_reader_ext;
extern ss_plugin_table_writer_vtable g_writer_old;
extern ss_plugin_table_writer_vtable_ext g_writer_ext;
extern ss_plugin_table_fields_vtable g_fields_vt;
void tables_fill_init_input(ss_plugin_init_tables_input *in);
/* --dump-tables: one JSON line per table, host tables then plugin tables (read through their vtables). */
void tables_dump(FILE *out);
const char *state_type_name(uint32_t t);

/* Host-internal access (threads.c, the replay state update). */
tschema *schema_new(const char *name, ss_plugin_state_type key_type, const field_spec *fields, size_t n,
		    const char *key_field);
tfield *schema_field(tschema *s, const char *name);
htable *ht_new(tschema *s);
htable *tables_register_host(const char *name, tschema *s);
uint64_t ht_size(const htable *t);
hentry *ht_get_int(htable *t, int64_t key);
hentry *ht_add_int(htable *t, int64_t key); /* a new entry with defaults (replaces an existing one) */
int ht_erase_int(htable *t, int64_t key);
void ent_set_u(hentry *e, const tfield *f, uint64_t v);
void ent_set_s(hentry *e, const tfield *f, const char *s);
uint64_t ent_get_u(const hentry *e, const tfield *f);
const char *ent_get_s(const hentry *e, const tfield *f);
htable *ent_get_table(const hentry *e, const tfield *f);

/* ---- the threads table and the replay state update (threads.c) ---- */
typedef struct {
	int64_t tid, pid, ptid, sid, vtid, vpid, vpgid, fdlimit;
	uint32_t uid, gid, loginuid, flags, tty;
	const char *comm, *exe, *exepath, *cwd, *root;
} proc_info;
typedef struct {
	int64_t fd;
	uint64_t ino;
	uint8_t type;
	uint32_t open_flags, dev;
	const char *name;
} fd_info;
void threads_init(void); /* registers "threads" (called by tables_init) */
htable *threads_table(void);
void threads_add_proc(const proc_info *pi);
void threads_add_fd(int64_t tid, const fd_info *fi);
/* Before plugins parse an event / after they did (procexit removes the thread here). */
void threads_before_parse(const ss_plugin_event *e);
void threads_after_parse(const ss_plugin_event *e, int allow_remove);

/* ---- event schema (event_table.c, generated by tools/gen_host_events.py) ---- */
typedef struct {
	const char *name;      /* "open", "execve", ... ; NULL for unused codes */
	const char *params;    /* parameter names, comma separated */
	uint8_t nparams;
	uint8_t large;         /* EF_LARGE_PAYLOAD: 4-byte parameter lengths */
	uint8_t dir;           /* '>' enter, '<' exit */
} event_schema_info;
extern const event_schema_info g_event_table[];
extern const uint32_t g_event_max;
extern const uint16_t g_v1_quirk_codes[2];
/* Index of a parameter by name in event type `code`, -1 when absent. */
int event_param_index(uint16_t code, const char *name);
/* Parameter i of an event: pointer and length (0 when absent). */
const uint8_t *event_param(const ss_plugin_event *e, uint32_t i, uint32_t *len);

/* ---- scap capture files (scap.c) ---- */
typedef struct capture capture;
/* Opens a capture (gzip or plain) and reads its metadata blocks into the threads table.
 * NULL on failure (message in err). */
capture *capture_open_file(const char *path, char *err, size_t errlen);
/* The next event (an upgraded copy valid until the next call); 0 ok, 1 end, -1 error (err). */
int capture_next(capture *c, ss_plugin_event **evt, uint16_t *cpu, char *err, size_t errlen);
void capture_close_file(capture *c);
uint64_t capture_procs(const capture *c);
uint64_t capture_fds(const capture *c);

/* ---- parsing (parse.c) ---- */
/* After init: parse types and the parse input. */
void parse_setup(plugin *p);
int parse_source_compatible(const plugin *p, const char *source);
/* parse_event of every CAP_PARSING plugin, in load order, filtered by source and type. */
void parse_all(plugin **plugins, size_t np, const ss_plugin_event_input *in, int lock);
/* One plugin, no filters (bench). */
void parse_one(plugin *p, const ss_plugin_event_input *in);

/* ---- capture listening and the routine pool (listen.c) ---- */
void pool_start(unsigned nthreads);
/* Drops queued routines and waits for the running ones (sinsp::close), then stops the workers. */
void pool_stop(void);
/* capture_open for every listening plugin in load order; -1 on the first failure (printed). */
int listen_open_all(plugin **plugins, size_t np);
/* capture_close for those whose capture_open succeeded; -1 if any failed (printed). */
int listen_close_all(plugin **plugins, size_t np);

/* ---- metrics (metrics.c) ---- */
/* get_metrics of every plugin that has it, one line each; -1 if a plugin broke the contract. */
int metrics_print_all(plugin **plugins, size_t np, int json, const char *when);
void metrics_thread_start(plugin **plugins, size_t np, double interval, int json);
int metrics_thread_stop(void); /* -1 if a periodic collection saw a violation */

/* ---- output / logging (util.c) ---- */
extern pthread_mutex_t g_io_lock;
extern volatile sig_atomic_t g_interrupted; /* SIGINT/SIGTERM: sessions and benches stop */
void host_log_fn(ss_plugin_owner_t *o, const char *component, const char *msg, ss_plugin_log_severity sev);
const char *host_get_owner_last_error(ss_plugin_owner_t *o);
void errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t now_realtime_ns(void);
uint64_t now_monotonic_ns(void);

/* ---- field requests and extraction (extract.c) ---- */
typedef struct {
	char *spec; /* as given: name or name[arg] */
	char *name;
	char *arg;  /* NULL when absent */
} field_req;

typedef struct {
	plugin *p; /* NULL: no compatible extractor for this session */
	uint32_t field_id;
	const field_def *def;
	const char *name, *spec, *arg;
	uint64_t arg_index; /* UINT64_MAX unless a valid index was given */
	const char *arg_key;
} field_bind;

int parse_field_list(const char *list, field_req **out, size_t *n, char *err, size_t errlen);
void free_field_reqs(field_req *reqs, size_t n);
/* Checks every request against the loaded plugins (unknown field, arg rules). */
int check_field_reqs(plugin **plugins, size_t np, const field_req *reqs, size_t nreq, char *err, size_t errlen);
/* Binds each request to the session's own plugin or else the first loaded extractor that has
 * the field and is compatible with the session's source. */
void bind_fields(plugin **plugins, size_t np, plugin *own, const char *source, const field_req *reqs,
		 size_t nreq, field_bind *out);
/* Inputs from the binding, outputs set to garbage. */
void fill_field(ss_plugin_extract_field *f, const field_bind *b);
/* extract_fields with n fields: 1 values set, 0 no value (FAILURE), -1 contract violation (err). */
int extract_call(plugin *p, ss_plugin_extract_field *f, uint32_t n, const ss_plugin_event_input *in, char *err,
		 size_t errlen);
/* --offsets: extract_field on this thread also asks for value offsets and appends them to out
 * (NULL: not asked, value_offsets NULL). */
void extract_offsets_to(sbuf *out, int json);
/* One field, num_fields = 1, value appended to out as text or JSON ("<NA>"/null without one).
 * Returns 1 with a value, 0 without, -1 on a contract violation (err set). */
int extract_field(const field_bind *b, const ss_plugin_event_input *in, sbuf *out, int json, int lock, char *err,
		  size_t errlen);

/* ---- capture sessions (source.c) ---- */
typedef enum { END_NONE, END_EOF, END_FAILURE, END_LIMIT, END_DURATION, END_OPEN_FAILED, END_INTERRUPTED } end_reason;
const char *end_name(end_reason e);

struct session;
typedef int (*event_cb)(struct session *s, const ss_plugin_event_input *in);

typedef struct session {
	plugin *p;
	const char *source;   /* the session's event source name ("syscall" for ID 0) */
	uint64_t limit;       /* 0: unlimited */
	uint64_t duration_ns; /* 0: unlimited */
	int lock;             /* lock plugin states around calls (several sessions) */
	int hold_async_lock;  /* hold the async queue's lock while calling the plugin (deadlock probe) */
	event_cb on_event;    /* nonzero return: failure, ends the session */
	void (*on_end)(struct session *s);
	void *user;
	pthread_barrier_t *start;
	ss_instance_t *handle;
	int opened;
	/* async (async.c): plugins attached to this session, and its queue (NULL: none) */
	plugin **async_plugins;
	size_t nasync, nasync_called; /* attached; set_async_event_handler called on the first n */
	struct async_queue *aq;
	/* results */
	uint64_t events, timeouts, batches;
	uint64_t async_events; /* delivered (also counted in events) */
	end_reason end;
	pthread_t thread;
} session;

int session_open(session *s);   /* main thread; -1 on failure (printed, end = open_failed) */
void session_loop(session *s);  /* next_batch loop until an end reason */
void session_close(session *s); /* main thread; also after a failed open */
/* One session runs on the calling thread; several run on one thread each, released together. */
void sessions_run(session **ss, size_t n);

/* ---- async events (async.c) ---- */
/* plugin.cpp handle_plugin_async_event: the host's handler, thread-safe; the owner is the plugin. */
ss_plugin_rc async_handler(ss_plugin_owner_t *o, const ss_plugin_event *evt, char *err);
/* Attaches each CAP_ASYNC plugin to the first compatible session (its own if it is a source). */
void async_attach(plugin **plugins, size_t np, session *ss, size_t ns);
/* Main thread, after a successful open: set_async_event_handler for the attached plugins.
 * -1 on the first failure (printed). */
int async_session_start(session *s);
/* Main thread, after close: set_async_event_handler(NULL). -1 if any reset failed (printed). */
int async_session_stop(session *s);
/* Session thread: delivers the queued async events through on_event. Nonzero when the
 * session must end (s->end set). */
int async_deliver(session *s, ss_plugin_event_input *in);
uint64_t async_dropped(const session *s);
/* dump_state of every CAP_ASYNC plugin that has it, as when libsinsp opens a capture dump:
 * its events through the dump checks (type and name only, as sinsp_dumper), one line each,
 * then a summary line. -1 if a plugin failed ("dump error for plugin ..."). */
int async_dump_all(plugin **plugins, size_t np, int json, int lock, const char *when);
/* Take (on=1) or release (on=0) the lock the async handler needs, if the session has a queue. */
void async_hold(session *s, int on);
void async_session_free(session *s);
/* The data param of a 402 event and its name (NULL when the event is not a well-formed 402). */
const char *async_event_parts(const ss_plugin_event *e, const uint8_t **data, size_t *len);

/* ---- commands ---- */
typedef struct {
	const char *path, *config, *open_params;
} plugin_spec;

typedef struct {
	plugin_spec *specs;
	size_t nspecs;
	const char *fields; /* --fields */
	/* run */
	uint64_t limit;  /* -n */
	double duration; /* --duration */
	int json, quiet;
	int hold_async_lock; /* --hold-async-lock */
	int progress;        /* --progress: get_progress after the last batch, in the summary */
	/* bench */
	uint64_t events; /* --events */
	int per_call;    /* --fields-per-call */
	uint64_t work_kib; /* --work-kib: memory touched per event between the calls */
	/* tables, capture listening, metrics, replay */
	int dump_tables;          /* --dump-tables */
	int metrics;              /* --metrics */
	double metrics_interval;  /* --metrics-interval */
	unsigned pool_threads;    /* --pool-threads */
	const char *capture;      /* --capture */
	const char *engine_schema; /* --engine-schema-version: as a driver engine reporting it */
	int show_init;             /* --show-init */
	int offsets;               /* --offsets: ask for value offsets */
	int dump_state;            /* --dump-state: at the end */
	uint64_t dump_every;       /* --dump-state-every N: after every N events */
	uint64_t repeat;          /* --repeat (bench-parse) */
} cli_opts;

/* The end of a run or replay: a counters line ({"summary":{"plugin":..,"kind":"plugin",...}})
 * for every plugin that parses, listens or used tables, then the final metrics (--metrics) and
 * the tables (--dump-tables). 1 when the metrics could not be read. */
int print_session_end(plugin **plugins, const cli_opts *o);

/* The usage text of every command (cli.c). */
extern const char cli_usage[];
/* Parses the arguments after the command; prints usage errors; 0 ok, -1 error. */
enum { CLI_RUN = 0, CLI_BENCH = 1, CLI_REPLAY = 2, CLI_BENCH_PARSE = 3 };
int parse_cli(int argc, char **argv, int mode, cli_opts *o);
/* Loads every spec in order (exit status 2 on failure, printed); fills plugins[]. */
int load_specs(const cli_opts *o, plugin **plugins);
void unload_all(plugin **plugins, size_t n);

int cmd_info(const char *path);
int cmd_run(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_bench_async(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_bench_parse(int argc, char **argv);
void write_line(const sbuf *b);

#endif
