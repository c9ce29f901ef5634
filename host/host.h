/*
 * falco-plugin-host: loads a Falco plugin .so the way libsinsp/libscap do and drives it.
 * Facts (messages, call order, checks) follow shared/reference/plugin-api.md; the code is ours.
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

/* Loader capability bits (plugin-api.md §2.4). */
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
	char owner_err[HOST_ERRLEN];
	pthread_mutex_t lock; /* serializes calls into this state when several sessions run */
	/* async (async.c): the queue of the session the plugin is attached to, and whether the
	 * host handler is set (atomic; stored before the set call so its threads can emit) */
	struct async_queue *async_q;
	int async_set;
} plugin;

int plugin_load(plugin *p, const char *path, char *err);
void plugin_unload(plugin *p);
const char *plugin_last_error(plugin *p); /* get_last_error(state), "" when NULL */
const char *cap_name(uint32_t cap);
int source_compatible(const plugin *p, const char *source); /* extraction sources */
const field_def *plugin_find_field(const plugin *p, const char *name, uint32_t *index);
/* Schema check + init + post-init queries. 0 ok, 1 failure (message in err). */
int plugin_init(plugin *p, char *err, size_t errlen);

/* ---- output / logging (main.c) ---- */
extern pthread_mutex_t g_io_lock;
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
extern volatile sig_atomic_t g_interrupted;

/* ---- async events (async.c) ---- */
/* §5.5: the host's handler, thread-safe; the owner is the plugin. */
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
	/* bench */
	uint64_t events; /* --events */
	int per_call;    /* --fields-per-call */
} cli_opts;

/* Parses the arguments after the command; prints usage errors; 0 ok, -1 error. */
int parse_cli(int argc, char **argv, int bench, cli_opts *o);
/* Loads every spec in order (exit status 2 on failure, printed); fills plugins[]. */
int load_specs(const cli_opts *o, plugin **plugins);
void unload_all(plugin **plugins, size_t n);

int cmd_info(const char *path);
int cmd_run(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_bench_async(int argc, char **argv);

#endif
