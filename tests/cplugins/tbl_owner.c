/*
 * tbl_owner: a parse plugin that registers its own table "owned" (key uint64; fields "count"
 * uint64, "label" string, "items" a nested table of key uint64 with field "v" uint64), with
 * identical deprecated and _ext vtables; other plugins may add uint64/string fields to it. A
 * nested table is handed out as its own ss_plugin_table_input (the same functions), as libsinsp
 * and the Rust SDK hand out subtables.
 * parse_event (events with a thread): entry tid % 4 gets count += 1, label "k<key>", and its
 * items get entry count % 3 with v = count.
 * Failures set get_last_error, e.g. "owned: no entry 99", "owned: field 'count' is uint64, not
 * string".
 * The init config picks how add_table is called: "" (correctly), "inconsistent" (a deprecated
 * member differs from its _ext one), "noext" (NULL _ext pointers), "nullfn" (a NULL function),
 * "dupname" (the name "threads"), "noname" (a NULL name). The result is logged as
 * "add_table: ok" or "add_table: <owner error>".
 */
#include "common.h"

#define MAXF 16
#define MAXE 64

typedef struct {
	char name[64];
	ss_plugin_state_type type;
	int index;
} ofield;

typedef struct {
	ofield fields[MAXF];
	ss_plugin_table_fieldinfo infos[MAXF];
	int n;
} oschema;

struct ostate;
typedef struct otable otable;

typedef struct {
	uint64_t key;
	uint64_t u[MAXF];
	char *s[MAXF];
	otable *t[MAXF];
} oentry;

struct otable {
	ss_plugin_table_input input; /* what reading a field of type table gives: this table's input */
	struct ostate *st;
	const char *name;
	oschema *schema;
	oentry *e[MAXE];
	int n;
};

typedef struct ostate {
	char lasterr[512];
	ss_plugin_owner_t *owner;
	ss_plugin_log_fn_t log_fn;
	oschema root_schema, item_schema;
	otable root;
	uint64_t releases;
} ostate;

#define ERR(t, ...) snprintf((t)->st->lasterr, sizeof (t)->st->lasterr, __VA_ARGS__)

DEFINE_META("tbl_owner", "0.1.0", "3.12.0")
DEFINE_CONTACT
const char *plugin_get_last_error(ss_plugin_t *s) { return ((ostate *)s)->lasterr; }
const char *plugin_get_parse_event_sources(void) { return "[\"syscall\"]"; }

static ofield *schema_add(oschema *s, const char *name, ss_plugin_state_type type)
{
	ofield *f = &s->fields[s->n];
	snprintf(f->name, sizeof f->name, "%s", name);
	f->type = type;
	f->index = s->n;
	s->infos[s->n].name = f->name;
	s->infos[s->n].field_type = type;
	s->infos[s->n].read_only = 0;
	s->n++;
	return f;
}

static ss_plugin_table_reader_vtable_ext g_rd;
static ss_plugin_table_writer_vtable_ext g_wr;
static ss_plugin_table_fields_vtable_ext g_fl;

static otable *table_new(ostate *st, oschema *schema, const char *name)
{
	otable *t = calloc(1, sizeof *t);
	t->st = st;
	t->schema = schema;
	t->name = name;
	t->input.name = name;
	t->input.key_type = SS_PLUGIN_ST_UINT64;
	t->input.table = t;
	memcpy(&t->input.reader, &g_rd, sizeof t->input.reader);
	t->input.writer = g_wr; /* g_* are filled in below (tentative definitions); read at run time */
	t->input.fields = g_fl;
	t->input.reader_ext = &g_rd;
	t->input.writer_ext = &g_wr;
	t->input.fields_ext = &g_fl;
	return t;
}

static void table_clear(otable *t);

static void entry_free(otable *t, oentry *e)
{
	for (int i = 0; i < t->schema->n; i++) {
		free(e->s[i]);
		if (e->t[i]) {
			table_clear(e->t[i]);
			free(e->t[i]);
		}
	}
	free(e);
}

static void table_clear(otable *t)
{
	for (int i = 0; i < t->n; i++)
		entry_free(t, t->e[i]);
	t->n = 0;
}

static oentry *entry_new(otable *t)
{
	oentry *e = calloc(1, sizeof *e);
	for (int i = 0; i < t->schema->n; i++)
		if (t->schema->fields[i].type == SS_PLUGIN_ST_TABLE)
			e->t[i] = table_new(t->st, &t->st->item_schema, "items");
	return e;
}

static int find(otable *t, uint64_t key)
{
	for (int i = 0; i < t->n; i++)
		if (t->e[i]->key == key)
			return i;
	return -1;
}

/* ---- the vtable functions (the same for the root table and the nested ones) ---- */

static const char *o_name(ss_plugin_table_t *t) { return ((otable *)t)->name; }
static uint64_t o_size(ss_plugin_table_t *t) { return (uint64_t)((otable *)t)->n; }

static ss_plugin_table_entry_t *o_get(ss_plugin_table_t *tt, const ss_plugin_state_data *key)
{
	otable *t = tt;
	int i = find(t, key->u64);
	if (i < 0) {
		ERR(t, "owned: no entry %llu", (unsigned long long)key->u64);
		return NULL;
	}
	return t->e[i];
}

static ss_plugin_rc o_read(ss_plugin_table_t *tt, ss_plugin_table_entry_t *ee, const ss_plugin_table_field_t *ff,
			   ss_plugin_state_data *out)
{
	otable *t = tt;
	oentry *e = ee;
	const ofield *f = ff;
	if (!e || !f) {
		ERR(t, "owned: NULL entry or field");
		return SS_PLUGIN_FAILURE;
	}
	switch (f->type) {
	case SS_PLUGIN_ST_STRING: out->str = e->s[f->index] ? e->s[f->index] : ""; break;
	case SS_PLUGIN_ST_TABLE: out->table = &e->t[f->index]->input; break;
	default: out->u64 = e->u[f->index];
	}
	return SS_PLUGIN_SUCCESS;
}

static void o_release(ss_plugin_table_t *t, ss_plugin_table_entry_t *e)
{
	(void)e;
	((otable *)t)->st->releases++;
}

static ss_plugin_bool o_iterate(ss_plugin_table_t *tt, ss_plugin_table_iterator_func_t it,
				ss_plugin_table_iterator_state_t *s)
{
	otable *t = tt;
	for (int i = 0; i < t->n; i++)
		if (!it(s, t->e[i]))
			return 0;
	return 1;
}

static ss_plugin_rc o_clear(ss_plugin_table_t *t)
{
	table_clear(t);
	return SS_PLUGIN_SUCCESS;
}

static ss_plugin_rc o_erase(ss_plugin_table_t *tt, const ss_plugin_state_data *key)
{
	otable *t = tt;
	int i = find(t, key->u64);
	if (i < 0) {
		ERR(t, "owned: no entry %llu to erase", (unsigned long long)key->u64);
		return SS_PLUGIN_FAILURE;
	}
	entry_free(t, t->e[i]);
	t->e[i] = t->e[--t->n];
	return SS_PLUGIN_SUCCESS;
}

static ss_plugin_table_entry_t *o_create(ss_plugin_table_t *t) { return entry_new(t); }
static void o_destroy(ss_plugin_table_t *t, ss_plugin_table_entry_t *e) { entry_free(t, e); }

static ss_plugin_table_entry_t *o_add(ss_plugin_table_t *tt, const ss_plugin_state_data *key,
				      ss_plugin_table_entry_t *ee)
{
	otable *t = tt;
	oentry *e = ee;
	e->key = key->u64;
	int i = find(t, key->u64);
	if (i >= 0) {
		entry_free(t, t->e[i]);
		t->e[i] = e;
		return e;
	}
	if (t->n == MAXE) {
		ERR(t, "owned: table full");
		return NULL;
	}
	t->e[t->n++] = e;
	return e;
}

static ss_plugin_rc o_write(ss_plugin_table_t *tt, ss_plugin_table_entry_t *ee, const ss_plugin_table_field_t *ff,
			    const ss_plugin_state_data *in)
{
	otable *t = tt;
	oentry *e = ee;
	const ofield *f = ff;
	switch (f->type) {
	case SS_PLUGIN_ST_STRING:
		free(e->s[f->index]);
		e->s[f->index] = strdup(in->str);
		break;
	case SS_PLUGIN_ST_TABLE: ERR(t, "owned: field '%s' is a table", f->name); return SS_PLUGIN_FAILURE;
	default: e->u[f->index] = in->u64;
	}
	return SS_PLUGIN_SUCCESS;
}

static const ss_plugin_table_fieldinfo *o_list(ss_plugin_table_t *tt, uint32_t *n)
{
	otable *t = tt;
	*n = (uint32_t)t->schema->n;
	return t->schema->infos;
}

static ss_plugin_table_field_t *o_getf(ss_plugin_table_t *tt, const char *name, ss_plugin_state_type type)
{
	otable *t = tt;
	for (int i = 0; i < t->schema->n; i++) {
		ofield *f = &t->schema->fields[i];
		if (strcmp(f->name, name) == 0) {
			if (f->type != type) {
				ERR(t, "owned: field '%s' is %s, not %s", name, f->type == SS_PLUGIN_ST_UINT64 ? "uint64" : "other",
				    type == SS_PLUGIN_ST_STRING ? "string" : "other");
				return NULL;
			}
			return f;
		}
	}
	ERR(t, "owned: no field '%s'", name);
	return NULL;
}

static ss_plugin_table_field_t *o_addf(ss_plugin_table_t *tt, const char *name, ss_plugin_state_type type)
{
	otable *t = tt;
	for (int i = 0; i < t->schema->n; i++)
		if (strcmp(t->schema->fields[i].name, name) == 0)
			return t->schema->fields[i].type == type ? &t->schema->fields[i] : NULL;
	if ((type != SS_PLUGIN_ST_UINT64 && type != SS_PLUGIN_ST_STRING) || t->schema->n == MAXF) {
		ERR(t, "owned: cannot add field '%s'", name);
		return NULL;
	}
	return schema_add(t->schema, name, type);
}

static ss_plugin_table_reader_vtable_ext g_rd = {o_name, o_size, o_get, o_read, o_release, o_iterate};
static ss_plugin_table_writer_vtable_ext g_wr = {o_clear, o_erase, o_create, o_destroy, o_add, o_write};
static ss_plugin_table_fields_vtable_ext g_fl = {o_list, o_getf, o_addf};

static const char *other_name(ss_plugin_table_t *t)
{
	(void)t;
	return "other";
}

ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc)
{
	ostate *s = calloc(1, sizeof *s);
	s->owner = in->owner;
	s->log_fn = in->log_fn;
	const char *cfg = in->config ? in->config : "";
	schema_add(&s->root_schema, "count", SS_PLUGIN_ST_UINT64);
	schema_add(&s->root_schema, "label", SS_PLUGIN_ST_STRING);
	schema_add(&s->root_schema, "items", SS_PLUGIN_ST_TABLE);
	schema_add(&s->item_schema, "v", SS_PLUGIN_ST_UINT64);
	s->root.st = s;
	s->root.schema = &s->root_schema;
	s->root.name = "owned";

	ss_plugin_table_input ti;
	memset(&ti, 0, sizeof ti);
	ti.name = "owned";
	ti.key_type = SS_PLUGIN_ST_UINT64;
	ti.table = &s->root;
	memcpy(&ti.reader, &g_rd, sizeof ti.reader);
	ti.writer = g_wr;
	ti.fields = g_fl;
	ti.reader_ext = &g_rd;
	ti.writer_ext = &g_wr;
	ti.fields_ext = &g_fl;
	if (!strcmp(cfg, "inconsistent"))
		ti.reader.get_table_name = other_name;
	else if (!strcmp(cfg, "noext"))
		ti.reader_ext = NULL;
	else if (!strcmp(cfg, "nullfn"))
		ti.writer.clear_table = NULL;
	else if (!strcmp(cfg, "dupname"))
		ti.name = "threads";
	else if (!strcmp(cfg, "noname"))
		ti.name = NULL;
	ss_plugin_rc r = in->tables->add_table(in->owner, &ti);
	const char *e = in->get_owner_last_error(in->owner);
	host_logf(s->log_fn, s->owner, SS_PLUGIN_LOG_SEV_INFO, "add_table: %s", r == SS_PLUGIN_SUCCESS ? "ok" : e ? e : "?");
	*rc = SS_PLUGIN_SUCCESS;
	return s;
}

void plugin_destroy(ss_plugin_t *st)
{
	ostate *s = st;
	table_clear(&s->root);
	free(s);
}

ss_plugin_rc plugin_parse_event(ss_plugin_t *st, const ss_plugin_event_input *ev, const ss_plugin_event_parse_input *in)
{
	ostate *s = st;
	(void)in;
	if (ev->evt->tid == UINT64_MAX)
		return SS_PLUGIN_SUCCESS;
	otable *t = &s->root;
	uint64_t key = ev->evt->tid % 4;
	int i = find(t, key);
	oentry *e;
	if (i < 0) {
		e = entry_new(t);
		ss_plugin_state_data k;
		k.u64 = key;
		o_add(t, &k, e);
	} else {
		e = t->e[i];
	}
	uint64_t n = ++e->u[0];
	char label[32];
	snprintf(label, sizeof label, "k%llu", (unsigned long long)key);
	free(e->s[1]);
	e->s[1] = strdup(label);
	otable *items = e->t[2];
	ss_plugin_state_data k;
	k.u64 = n % 3;
	int j = find(items, k.u64);
	oentry *it = j >= 0 ? items->e[j] : o_add(items, &k, entry_new(items));
	it->u[0] = n;
	return SS_PLUGIN_SUCCESS;
}
