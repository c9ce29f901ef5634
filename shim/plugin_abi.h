/*
 * The Falco plugin C ABI, version 3.12.0, written for falco-plugin from the facts of the
 * upstream userspace/plugin/plugin_api.h (names, layouts, enum values; no code copied).
 * Shared by the shim (the plugin side) and by our test host (the libsinsp side). Layouts
 * are LP64; the static asserts at the end pin the sizes and offsets of the upstream structs.
 */
#ifndef FALCO_PLUGIN_ABI_H
#define FALCO_PLUGIN_ABI_H

#include <stddef.h>
#include <stdint.h>

#define FPA_API_MAJOR 3
#define FPA_API_MINOR 12
#define FPA_API_PATCH 0
#define FPA_MAX_ERRLEN 1024
#define FPA_PLUGIN_EVENT_PAYLOAD_OFFSET 38

#define FPA_EVT_PLUGINEVENT 322
#define FPA_EVT_ASYNCEVENT 402

/* Return codes. SS_PLUGIN_EOF is 2 in the plugin ABI (6 is the scap value). */
typedef enum {
	SS_PLUGIN_SUCCESS = 0,
	SS_PLUGIN_FAILURE = 1,
	SS_PLUGIN_TIMEOUT = -1,
	SS_PLUGIN_EOF = 2,
	SS_PLUGIN_NOT_SUPPORTED = 3,
} ss_plugin_rc;

typedef enum {
	FTYPE_UINT64 = 8,
	FTYPE_STRING = 9,
	FTYPE_RELTIME = 20,
	FTYPE_ABSTIME = 21,
	FTYPE_BOOL = 25,
	FTYPE_IPADDR = 40,
	FTYPE_IPNET = 41,
} ss_plugin_field_type;

typedef enum {
	SS_PLUGIN_SCHEMA_NONE = 0,
	SS_PLUGIN_SCHEMA_JSON = 1,
} ss_plugin_schema_type;

typedef enum {
	SS_PLUGIN_ST_INT8 = 1,
	SS_PLUGIN_ST_INT16 = 2,
	SS_PLUGIN_ST_INT32 = 3,
	SS_PLUGIN_ST_INT64 = 4,
	SS_PLUGIN_ST_UINT8 = 5,
	SS_PLUGIN_ST_UINT16 = 6,
	SS_PLUGIN_ST_UINT32 = 7,
	SS_PLUGIN_ST_UINT64 = 8,
	SS_PLUGIN_ST_STRING = 9,
	SS_PLUGIN_ST_TABLE = 10,
	SS_PLUGIN_ST_BOOL = 25,
} ss_plugin_state_type;

typedef enum {
	SS_PLUGIN_LOG_SEV_FATAL = 1,
	SS_PLUGIN_LOG_SEV_CRITICAL = 2,
	SS_PLUGIN_LOG_SEV_ERROR = 3,
	SS_PLUGIN_LOG_SEV_WARNING = 4,
	SS_PLUGIN_LOG_SEV_NOTICE = 5,
	SS_PLUGIN_LOG_SEV_INFO = 6,
	SS_PLUGIN_LOG_SEV_DEBUG = 7,
	SS_PLUGIN_LOG_SEV_TRACE = 8,
} ss_plugin_log_severity;

typedef enum {
	SS_PLUGIN_METRIC_VALUE_TYPE_U32 = 0,
	SS_PLUGIN_METRIC_VALUE_TYPE_S32 = 1,
	SS_PLUGIN_METRIC_VALUE_TYPE_U64 = 2,
	SS_PLUGIN_METRIC_VALUE_TYPE_S64 = 3,
	SS_PLUGIN_METRIC_VALUE_TYPE_D = 4,
	SS_PLUGIN_METRIC_VALUE_TYPE_F = 5,
	SS_PLUGIN_METRIC_VALUE_TYPE_I = 6,
} ss_plugin_metric_value_type;

typedef enum {
	SS_PLUGIN_METRIC_TYPE_MONOTONIC = 0,
	SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC = 1,
} ss_plugin_metric_type;

typedef uint32_t ss_plugin_bool;

/* Opaque handles. */
typedef void ss_plugin_t;
typedef void ss_instance_t;
typedef void ss_plugin_owner_t;
typedef void ss_plugin_table_t;
typedef void ss_plugin_table_entry_t;
typedef void ss_plugin_table_field_t;
typedef void ss_plugin_table_iterator_state_t;
typedef void ss_plugin_routine_t;
typedef void ss_plugin_routine_state_t;

/* The scap event header: packed, 26 bytes. Parameter lengths and data follow it. */
#pragma pack(push, 1)
typedef struct {
	uint64_t ts;      /* ns since epoch; UINT64_MAX: the host fills in "now" */
	uint64_t tid;     /* UINT64_MAX: no thread */
	uint32_t len;     /* whole event, header included */
	uint16_t type;
	uint32_t nparams;
} ss_plugin_event;
#pragma pack(pop)

typedef struct {
	const ss_plugin_event *evt;
	uint64_t evtnum;
	const char *evtsrc;
} ss_plugin_event_input;

typedef struct {
	uint32_t len;
	const void *ptr;
} ss_plugin_byte_buffer;

typedef struct {
	union {
		const char **str;
		uint64_t *u64;
		uint32_t *u32;
		ss_plugin_bool *boolean;
		ss_plugin_byte_buffer *buf;
	} res;
	uint64_t res_len;
	uint32_t field_id;
	const char *field;
	const char *arg_key;
	uint64_t arg_index;
	ss_plugin_bool arg_present;
	uint32_t ftype;
	ss_plugin_bool flist;
} ss_plugin_extract_field;

typedef struct {
	uint32_t *start;
	uint32_t *length;
} ss_plugin_extract_value_offsets;

typedef union {
	int8_t s8;
	int16_t s16;
	int32_t s32;
	int64_t s64;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	const char *str;
	ss_plugin_bool b;
	ss_plugin_table_t *table;
} ss_plugin_state_data;

typedef struct {
	const char *name;
	ss_plugin_state_type key_type;
} ss_plugin_table_info;

typedef struct {
	const char *name;
	ss_plugin_state_type field_type;
	ss_plugin_bool read_only;
} ss_plugin_table_fieldinfo;

typedef ss_plugin_bool (*ss_plugin_table_iterator_func_t)(ss_plugin_table_iterator_state_t *s,
							  ss_plugin_table_entry_t *e);

typedef struct {
	const ss_plugin_table_fieldinfo *(*list_table_fields)(ss_plugin_table_t *t, uint32_t *nfields);
	ss_plugin_table_field_t *(*get_table_field)(ss_plugin_table_t *t, const char *name,
						    ss_plugin_state_type data_type);
	ss_plugin_table_field_t *(*add_table_field)(ss_plugin_table_t *t, const char *name,
						    ss_plugin_state_type data_type);
} ss_plugin_table_fields_vtable;
typedef ss_plugin_table_fields_vtable ss_plugin_table_fields_vtable_ext;

typedef struct {
	const char *(*get_table_name)(ss_plugin_table_t *t);
	uint64_t (*get_table_size)(ss_plugin_table_t *t);
	ss_plugin_table_entry_t *(*get_table_entry)(ss_plugin_table_t *t, const ss_plugin_state_data *key);
	ss_plugin_rc (*read_entry_field)(ss_plugin_table_t *t, ss_plugin_table_entry_t *e,
					 const ss_plugin_table_field_t *f, ss_plugin_state_data *out);
} ss_plugin_table_reader_vtable;

typedef struct {
	const char *(*get_table_name)(ss_plugin_table_t *t);
	uint64_t (*get_table_size)(ss_plugin_table_t *t);
	ss_plugin_table_entry_t *(*get_table_entry)(ss_plugin_table_t *t, const ss_plugin_state_data *key);
	ss_plugin_rc (*read_entry_field)(ss_plugin_table_t *t, ss_plugin_table_entry_t *e,
					 const ss_plugin_table_field_t *f, ss_plugin_state_data *out);
	void (*release_table_entry)(ss_plugin_table_t *t, ss_plugin_table_entry_t *e);
	ss_plugin_bool (*iterate_entries)(ss_plugin_table_t *t, ss_plugin_table_iterator_func_t it,
					  ss_plugin_table_iterator_state_t *s);
} ss_plugin_table_reader_vtable_ext;

typedef struct {
	ss_plugin_rc (*clear_table)(ss_plugin_table_t *t);
	ss_plugin_rc (*erase_table_entry)(ss_plugin_table_t *t, const ss_plugin_state_data *key);
	ss_plugin_table_entry_t *(*create_table_entry)(ss_plugin_table_t *t);
	void (*destroy_table_entry)(ss_plugin_table_t *t, ss_plugin_table_entry_t *e);
	ss_plugin_table_entry_t *(*add_table_entry)(ss_plugin_table_t *t, const ss_plugin_state_data *key,
						    ss_plugin_table_entry_t *e);
	ss_plugin_rc (*write_entry_field)(ss_plugin_table_t *t, ss_plugin_table_entry_t *e,
					  const ss_plugin_table_field_t *f, const ss_plugin_state_data *in);
} ss_plugin_table_writer_vtable;
typedef ss_plugin_table_writer_vtable ss_plugin_table_writer_vtable_ext;

typedef struct {
	const char *name;
	ss_plugin_state_type key_type;
	ss_plugin_table_t *table;
	ss_plugin_table_reader_vtable reader;
	ss_plugin_table_writer_vtable writer;
	ss_plugin_table_fields_vtable fields;
	ss_plugin_table_reader_vtable_ext *reader_ext;
	ss_plugin_table_writer_vtable_ext *writer_ext;
	ss_plugin_table_fields_vtable_ext *fields_ext;
} ss_plugin_table_input;

typedef struct {
	ss_plugin_table_info *(*list_tables)(ss_plugin_owner_t *o, uint32_t *ntables);
	ss_plugin_table_t *(*get_table)(ss_plugin_owner_t *o, const char *name, ss_plugin_state_type key_type);
	ss_plugin_rc (*add_table)(ss_plugin_owner_t *o, const ss_plugin_table_input *in);
	ss_plugin_table_fields_vtable fields;
	ss_plugin_table_fields_vtable_ext *fields_ext;
	ss_plugin_table_reader_vtable_ext *reader_ext;
	ss_plugin_table_writer_vtable_ext *writer_ext;
} ss_plugin_init_tables_input;

typedef const char *(*ss_plugin_get_owner_last_error_fn)(ss_plugin_owner_t *o);
typedef void (*ss_plugin_log_fn_t)(ss_plugin_owner_t *o, const char *component, const char *msg,
				   ss_plugin_log_severity sev);

typedef struct {
	const char *config;
	ss_plugin_owner_t *owner;
	ss_plugin_get_owner_last_error_fn get_owner_last_error;
	const ss_plugin_init_tables_input *tables;
	ss_plugin_log_fn_t log_fn;
} ss_plugin_init_input;

typedef struct {
	const char *config;
} ss_plugin_set_config_input;

typedef struct {
	ss_plugin_owner_t *owner;
	ss_plugin_get_owner_last_error_fn get_owner_last_error;
	uint32_t num_fields;
	ss_plugin_extract_field *fields;
	ss_plugin_table_reader_vtable table_reader;
	ss_plugin_table_reader_vtable_ext *table_reader_ext;
	ss_plugin_extract_value_offsets *value_offsets;
} ss_plugin_field_extract_input;

typedef struct {
	ss_plugin_owner_t *owner;
	ss_plugin_get_owner_last_error_fn get_owner_last_error;
	ss_plugin_table_reader_vtable table_reader;
	ss_plugin_table_writer_vtable table_writer;
	ss_plugin_table_reader_vtable_ext *table_reader_ext;
	ss_plugin_table_writer_vtable_ext *table_writer_ext;
} ss_plugin_event_parse_input;

typedef ss_plugin_bool (*ss_plugin_routine_fn_t)(ss_plugin_t *s, ss_plugin_routine_state_t *i);

typedef struct {
	ss_plugin_routine_t *(*subscribe)(ss_plugin_owner_t *o, ss_plugin_routine_fn_t f,
					  ss_plugin_routine_state_t *i);
	ss_plugin_rc (*unsubscribe)(ss_plugin_owner_t *o, ss_plugin_routine_t *r);
} ss_plugin_routine_vtable;

typedef struct {
	ss_plugin_owner_t *owner;
	ss_plugin_routine_vtable *routine;
	ss_plugin_table_reader_vtable_ext *table_reader_ext;
	ss_plugin_table_writer_vtable_ext *table_writer_ext;
	ss_plugin_get_owner_last_error_fn get_owner_last_error;
} ss_plugin_capture_listen_input;

typedef ss_plugin_rc (*ss_plugin_async_event_handler_t)(ss_plugin_owner_t *o, const ss_plugin_event *evt,
							 char *err);

typedef union {
	uint32_t u32;
	int32_t s32;
	uint64_t u64;
	int64_t s64;
	double d;
	float f;
	int i;
} ss_plugin_metric_value;

typedef struct {
	const char *name;
	ss_plugin_metric_type type;
	ss_plugin_metric_value value;
	ss_plugin_metric_value_type value_type;
} ss_plugin_metric;

/* Every exported function, for the shim's definitions and the host's dlsym'd pointers. */
#define FPA_FOR_EACH_SYMBOL(X)                                                                               \
	X(const char *, get_required_api_version, (void))                                                    \
	X(const char *, get_init_schema, (ss_plugin_schema_type * schema_type))                              \
	X(ss_plugin_t *, init, (const ss_plugin_init_input *in, ss_plugin_rc *rc))                           \
	X(void, destroy, (ss_plugin_t * s))                                                                  \
	X(const char *, get_last_error, (ss_plugin_t * s))                                                   \
	X(const char *, get_name, (void))                                                                    \
	X(const char *, get_description, (void))                                                             \
	X(const char *, get_contact, (void))                                                                 \
	X(const char *, get_version, (void))                                                                 \
	X(uint32_t, get_id, (void))                                                                          \
	X(const char *, get_event_source, (void))                                                            \
	X(ss_instance_t *, open, (ss_plugin_t * s, const char *params, ss_plugin_rc *rc))                    \
	X(void, close, (ss_plugin_t * s, ss_instance_t *h))                                                  \
	X(const char *, list_open_params, (ss_plugin_t * s, ss_plugin_rc *rc))                               \
	X(const char *, get_progress, (ss_plugin_t * s, ss_instance_t *h, uint32_t *progress_pct))           \
	X(const char *, event_to_string, (ss_plugin_t * s, const ss_plugin_event_input *evt))                \
	X(ss_plugin_rc, next_batch, (ss_plugin_t * s, ss_instance_t *h, uint32_t *nevts, ss_plugin_event ***evts)) \
	X(uint16_t *, get_extract_event_types, (uint32_t * numtypes, ss_plugin_t *s))                        \
	X(const char *, get_extract_event_sources, (void))                                                   \
	X(const char *, get_fields, (void))                                                                  \
	X(ss_plugin_rc, extract_fields,                                                                      \
	  (ss_plugin_t * s, const ss_plugin_event_input *evt, const ss_plugin_field_extract_input *in))     \
	X(uint16_t *, get_parse_event_types, (uint32_t * numtypes, ss_plugin_t *s))                          \
	X(const char *, get_parse_event_sources, (void))                                                     \
	X(ss_plugin_rc, parse_event,                                                                         \
	  (ss_plugin_t * s, const ss_plugin_event_input *evt, const ss_plugin_event_parse_input *in))       \
	X(const char *, get_async_event_sources, (void))                                                     \
	X(const char *, get_async_events, (void))                                                            \
	X(ss_plugin_rc, set_async_event_handler,                                                             \
	  (ss_plugin_t * s, ss_plugin_owner_t *owner, const ss_plugin_async_event_handler_t handler))       \
	X(ss_plugin_rc, dump_state,                                                                          \
	  (ss_plugin_t * s, ss_plugin_owner_t *owner, const ss_plugin_async_event_handler_t handler))       \
	X(ss_plugin_rc, set_config, (ss_plugin_t * s, const ss_plugin_set_config_input *in))                 \
	X(ss_plugin_metric *, get_metrics, (ss_plugin_t * s, uint32_t *num_metrics))                         \
	X(ss_plugin_rc, capture_open, (ss_plugin_t * s, const ss_plugin_capture_listen_input *in))           \
	X(ss_plugin_rc, capture_close, (ss_plugin_t * s, const ss_plugin_capture_listen_input *in))          \
	X(const char *, get_required_event_schema_version, (ss_plugin_t * s))

/* Sizes and offsets of the upstream structs (LP64). */
_Static_assert(sizeof(ss_plugin_event) == 26, "event header is 26 bytes");
_Static_assert(offsetof(ss_plugin_event, type) == 20, "event type at 20");
_Static_assert(sizeof(ss_plugin_event_input) == 24, "event input is 24 bytes");
_Static_assert(sizeof(ss_plugin_extract_field) == 64, "extract field is 64 bytes");
_Static_assert(offsetof(ss_plugin_extract_field, arg_present) == 48, "arg_present at 48");
_Static_assert(sizeof(ss_plugin_field_extract_input) == 80, "extract input is 80 bytes");
_Static_assert(offsetof(ss_plugin_field_extract_input, value_offsets) == 72, "value_offsets at 72");
_Static_assert(sizeof(ss_plugin_event_parse_input) == 112, "parse input is 112 bytes");
_Static_assert(sizeof(ss_plugin_init_input) == 40, "init input is 40 bytes");
_Static_assert(sizeof(ss_plugin_init_tables_input) == 72, "init tables input is 72 bytes");
_Static_assert(sizeof(ss_plugin_table_input) == 152, "table input is 152 bytes");
_Static_assert(sizeof(ss_plugin_capture_listen_input) == 40, "capture listen input is 40 bytes");
_Static_assert(sizeof(ss_plugin_metric) == 32, "metric is 32 bytes");
_Static_assert(offsetof(ss_plugin_metric, value_type) == 24, "metric value_type at 24");
_Static_assert(sizeof(ss_plugin_state_data) == 8, "state data is 8 bytes");
_Static_assert(sizeof(ss_plugin_table_info) == 16, "table info is 16 bytes");
_Static_assert(sizeof(ss_plugin_table_fieldinfo) == 16, "field info is 16 bytes");
_Static_assert(offsetof(ss_plugin_table_fieldinfo, read_only) == 12, "read_only at 12");
_Static_assert(sizeof(ss_plugin_table_fields_vtable) == 24, "fields vtable is 24 bytes");
_Static_assert(sizeof(ss_plugin_table_reader_vtable) == 32, "reader vtable is 32 bytes");
_Static_assert(sizeof(ss_plugin_table_reader_vtable_ext) == 48, "reader vtable ext is 48 bytes");
_Static_assert(sizeof(ss_plugin_table_writer_vtable) == 48, "writer vtable is 48 bytes");
_Static_assert(offsetof(ss_plugin_table_input, reader) == 24, "table input reader at 24");
_Static_assert(offsetof(ss_plugin_table_input, writer) == 56, "table input writer at 56");
_Static_assert(offsetof(ss_plugin_table_input, fields) == 104, "table input fields at 104");
_Static_assert(offsetof(ss_plugin_table_input, reader_ext) == 128, "table input reader_ext at 128");
_Static_assert(offsetof(ss_plugin_init_tables_input, fields) == 24, "init tables fields at 24");
_Static_assert(offsetof(ss_plugin_init_tables_input, fields_ext) == 48, "init tables fields_ext at 48");
_Static_assert(offsetof(ss_plugin_init_tables_input, writer_ext) == 64, "init tables writer_ext at 64");
_Static_assert(offsetof(ss_plugin_event_parse_input, table_writer) == 48, "parse input writer at 48");
_Static_assert(offsetof(ss_plugin_event_parse_input, table_reader_ext) == 96, "parse input reader_ext at 96");
_Static_assert(offsetof(ss_plugin_field_extract_input, table_reader) == 32, "extract input reader at 32");
_Static_assert(sizeof(ss_plugin_routine_vtable) == 16, "routine vtable is 16 bytes");
_Static_assert(offsetof(ss_plugin_capture_listen_input, get_owner_last_error) == 32,
	       "listen input get_owner_last_error at 32");

#endif
