/*
 * The table vtables the host hands to plugins (plugin-api-facts.md, State tables): fields,
 * reader and writer, in the deprecated and the _ext flavour, each call checked first (tables.c
 * says which checks).
 */
#include "tables.h"

#include <stdarg.h>

/* ---- checks shared by the vtable functions ---- */

static tview *V(ss_plugin_table_t *t, const char *op)
{
	tview *v = t;
	if (!v || (v->magic != TVIEW_MAGIC && v->magic != TVIEW_DEAD)) {
		terr(tls_plugin, "%s: invalid table handle %p", op, t);
		return NULL;
	}
	if (v->magic == TVIEW_DEAD) {
		terr(v->owner, "%s: nested table handle used after the call that read it ended", op);
		return NULL;
	}
	if (tls_kind == CALL_NONE || tls_plugin != v->owner) {
		twarn(v->owner, WARN_THREAD,
		      "table '%s': %s called outside a plugin call that received table vtables (tables may only be "
		      "used synchronously, on the thread of that call)",
		      view_name(v), op);
		return NULL;
	}
	v->owner->owner_err[0] = '\0';
	return v;
}

const char *kind_name(call_kind k)
{
	switch (k) {
	case CALL_INIT: return "init";
	case CALL_PARSE: return "parse_event";
	case CALL_EXTRACT: return "extract_fields";
	case CALL_LISTEN: return "capture_open/capture_close";
	default: return "no call";
	}
}

/* Writers fail in extract_fields; structural changes (clear, erase, add) also while the table
 * is being iterated (field writes are fine). */
static int may_write(tview *v, const char *op, int structural)
{
	if (tls_kind == CALL_EXTRACT) {
		terr(v->owner,
		     "table '%s': %s is not allowed in extract_fields (writers are given to init, parse_event and "
		     "capture listening only)",
		     view_name(v), op);
		return 0;
	}
	if (structural && v->ht && v->ht->iterating) {
		terr(v->owner, "table '%s': %s while the table is being iterated", view_name(v), op);
		return 0;
	}
	return 1;
}

static int fields_allowed(tview *v, const char *op)
{
	if (tls_kind != CALL_INIT) {
		terr(v->owner, "table '%s': %s is only allowed in init (called in %s)", view_name(v), op,
		     kind_name(tls_kind));
		return 0;
	}
	return 1;
}

static tfield *F(tview *v, const ss_plugin_table_field_t *f, const char *op)
{
	const tfield *tf = f;
	if (!tf || tf->magic != FIELD_MAGIC) {
		terr(v->owner, "table '%s': %s: invalid field accessor %p", view_name(v), op, f);
		return NULL;
	}
	if (tf->schema != v->ht->schema) {
		terr(v->owner, "table '%s': %s: field '%s' belongs to table '%s'", view_name(v), op, tf->name,
		     tf->schema->name);
		return NULL;
	}
	return (tfield *)tf;
}

static hentry *E(tview *v, ss_plugin_table_entry_t *e, const char *op)
{
	hentry *he = e;
	if (!he || he->magic != ENTRY_MAGIC) {
		terr(v->owner, "table '%s': %s: invalid entry %p%s", view_name(v), op, e,
		     he && he->magic == ENTRY_DEAD ? " (released, erased or from an earlier call)" : "");
		return NULL;
	}
	if (he->table != v->ht) {
		terr(v->owner, "table '%s': %s: the entry belongs to %s", view_name(v), op,
		     he->table ? "another table" : "no table any more");
		return NULL;
	}
	return he;
}

static int K(tview *v, const ss_plugin_state_data *key, hkey *k, const char *op)
{
	if (!key) {
		terr(v->owner, "table '%s': %s: NULL key", view_name(v), op);
		return 0;
	}
	ss_plugin_state_type kt = v->ht->schema->key_type;
	if (kt == SS_PLUGIN_ST_STRING) {
		if (!key->str) {
			terr(v->owner, "table '%s': %s: NULL string key", view_name(v), op);
			return 0;
		}
		k->u = 0;
		k->s = (char *)key->str;
	} else {
		k->u = sd_get(kt, key);
		k->s = NULL;
	}
	return 1;
}

/* Failure of a plugin-owned table's callback: the owning plugin's get_last_error goes to the caller. */
static void pfail(tview *v, const char *op)
{
	plugin *o = v->pt->owner;
	const char *msg = o->state ? o->api.get_last_error(o->state) : NULL;
	if (msg && msg[0])
		terr(v->owner, "%s", msg);
	else
		terr(v->owner, "table '%s': %s failed in plugin %s", view_name(v), op, o->name);
}

static void pt_note_field(ptable *pt, void *f, ss_plugin_state_type type)
{
	for (size_t i = 0; i < pt->nftypes; i++)
		if (pt->ftypes[i].f == f) {
			pt->ftypes[i].type = type;
			return;
		}
	pt->ftypes = xrealloc(pt->ftypes, (pt->nftypes + 1) * sizeof *pt->ftypes);
	pt->ftypes[pt->nftypes].f = f;
	pt->ftypes[pt->nftypes].type = type;
	pt->nftypes++;
}

static int pt_field_type(const ptable *pt, const void *f)
{
	for (size_t i = 0; i < pt->nftypes; i++)
		if (pt->ftypes[i].f == f)
			return (int)pt->ftypes[i].type;
	return -1;
}

/* ---- fields vtable ---- */

static const ss_plugin_table_fieldinfo *vt_list_fields(ss_plugin_table_t *t, uint32_t *n)
{
	tview *v = V(t, "list_table_fields");
	if (n)
		*n = 0;
	if (!v)
		return NULL;
	if (!n) {
		terr(v->owner, "table '%s': list_table_fields: NULL count pointer", view_name(v));
		return NULL;
	}
	if (v->pt) {
		const ss_plugin_table_fieldinfo *r = v->pt->fields.list_table_fields(v->raw, n);
		if (!r)
			pfail(v, "list_table_fields");
		return r;
	}
	schema_infos(v->ht->schema);
	*n = (uint32_t)v->ht->schema->nfields;
	return v->ht->schema->infos;
}

static ss_plugin_table_field_t *vt_get_field(ss_plugin_table_t *t, const char *name, ss_plugin_state_type type)
{
	tview *v = V(t, "get_table_field");
	if (!v || !fields_allowed(v, "get_table_field"))
		return NULL;
	if (!name) {
		terr(v->owner, "table '%s': get_table_field: NULL name", view_name(v));
		return NULL;
	}
	if (v->pt) {
		void *f = v->pt->fields.get_table_field(v->raw, name, type);
		if (!f)
			pfail(v, "get_table_field");
		else
			pt_note_field(v->pt, f, type);
		return f;
	}
	tfield *f = schema_field(v->ht->schema, name);
	if (!f) {
		terr(v->owner, "table '%s' has no field '%s'", view_name(v), name);
		return NULL;
	}
	if (f->type != type) {
		terr(v->owner, "field '%s' of table '%s' has type %s, not %s", name, view_name(v), state_type_name(f->type),
		     state_type_name(type));
		return NULL;
	}
	return f;
}

static ss_plugin_table_field_t *vt_add_field(ss_plugin_table_t *t, const char *name, ss_plugin_state_type type)
{
	tview *v = V(t, "add_table_field");
	if (!v || !fields_allowed(v, "add_table_field"))
		return NULL;
	if (!name || !name[0]) {
		terr(v->owner, "table '%s': add_table_field: %s name", view_name(v), name ? "empty" : "NULL");
		return NULL;
	}
	if (v->pt) {
		void *f = v->pt->fields.add_table_field(v->raw, name, type);
		if (!f)
			pfail(v, "add_table_field");
		else
			pt_note_field(v->pt, f, type);
		return f;
	}
	if (!valid_type(type)) {
		terr(v->owner, "table '%s': add_table_field '%s': invalid state type %d", view_name(v), name, (int)type);
		return NULL;
	}
	tfield *f = schema_field(v->ht->schema, name);
	if (f) {
		if (f->type == type)
			return f;
		terr(v->owner, "field '%s' of table '%s' already exists with type %s, not %s", name, view_name(v),
		     state_type_name(f->type), state_type_name(type));
		return NULL;
	}
	if (type == SS_PLUGIN_ST_TABLE) {
		terr(v->owner, "table '%s': add_table_field '%s': fields of type table cannot be added", view_name(v),
		     name);
		return NULL;
	}
	v->owner->tables_used = 1;
	return schema_add(v->ht->schema, name, type, 0, NULL, 0, v->owner);
}

/* ---- reader ---- */

static const char *vt_get_name(ss_plugin_table_t *t)
{
	tview *v = V(t, "get_table_name");
	if (!v)
		return NULL;
	if (v->pt) {
		const char *r = v->pt->reader.get_table_name(v->raw);
		if (!r)
			pfail(v, "get_table_name");
		return r;
	}
	return v->ht->schema->name;
}

static uint64_t vt_get_size(ss_plugin_table_t *t)
{
	tview *v = V(t, "get_table_size");
	if (!v)
		return UINT64_MAX;
	if (v->pt) {
		uint64_t r = v->pt->reader.get_table_size(v->raw);
		if (r == UINT64_MAX)
			pfail(v, "get_table_size");
		return r;
	}
	return v->ht->size;
}

static ss_plugin_table_entry_t *get_entry(ss_plugin_table_t *t, const ss_plugin_state_data *key, int counted)
{
	tview *v = V(t, "get_table_entry");
	if (!v)
		return NULL;
	if (v->pt) {
		if (!key) {
			terr(v->owner, "table '%s': get_table_entry: NULL key", view_name(v));
			return NULL;
		}
		void *e = v->pt->reader.get_table_entry(v->raw, key);
		if (!e)
			pfail(v, "get_table_entry");
		else
			hold(v->owner, e, NULL, v->pt, v->raw, counted, 0);
		return e;
	}
	hkey k;
	if (!K(v, key, &k, "get_table_entry"))
		return NULL;
	hentry *e = ht_find(v->ht, &k);
	if (!e) {
		char kt[128];
		key_text(v->ht->schema->key_type, &k, kt, sizeof kt);
		terr(v->owner, "table '%s' has no entry with key %s", view_name(v), kt);
		return NULL;
	}
	hold(v->owner, e, v->ht, NULL, NULL, counted, 0);
	return e;
}

/* The deprecated reader has no release: its entries are released at the end of the call. */
static ss_plugin_table_entry_t *vt_get_entry_old(ss_plugin_table_t *t, const ss_plugin_state_data *key)
{
	return get_entry(t, key, 0);
}

static ss_plugin_table_entry_t *vt_get_entry(ss_plugin_table_t *t, const ss_plugin_state_data *key)
{
	return get_entry(t, key, 1);
}

static ss_plugin_rc vt_read(ss_plugin_table_t *t, ss_plugin_table_entry_t *e, const ss_plugin_table_field_t *f,
			    ss_plugin_state_data *out)
{
	tview *v = V(t, "read_entry_field");
	if (!v)
		return SS_PLUGIN_FAILURE;
	if (!out) {
		terr(v->owner, "table '%s': read_entry_field: NULL output", view_name(v));
		return SS_PLUGIN_FAILURE;
	}
	if (v->pt) {
		ss_plugin_rc rc = v->pt->reader.read_entry_field(v->raw, e, f, out);
		if (rc != SS_PLUGIN_SUCCESS) {
			pfail(v, "read_entry_field");
		} else if (pt_field_type(v->pt, f) == SS_PLUGIN_ST_TABLE && out->table) {
			/* the value is the nested table's ss_plugin_table_input: its owner's functions
			 * and its own table pointer (docs/internals/plugin-api-facts.md, State tables) */
			const ss_plugin_table_input *in = (const ss_plugin_table_input *)out->table;
			ptable *npt = pt_nested(v->pt, (void *)f, in, v->owner);
			if (!npt)
				return SS_PLUGIN_FAILURE;
			tview *n = view_new(v->owner, 1);
			n->pt = npt;
			n->raw = in->table;
			out->table = n;
		}
		return rc;
	}
	hentry *he = E(v, e, "read_entry_field");
	tfield *tf = he ? F(v, f, "read_entry_field") : NULL;
	if (!tf)
		return SS_PLUGIN_FAILURE;
	switch (tf->type) {
	case SS_PLUGIN_ST_STRING:
		out->u64 = 0;
		out->str = slot_get_s(he, tf);
		break;
	case SS_PLUGIN_ST_TABLE: {
		htable *sub = slot_get_table(he, tf);
		out->u64 = 0;
		if (sub) {
			tview *n = view_new(v->owner, 1);
			n->ht = sub;
			out->table = n;
		}
		break;
	}
	default:
		sd_put(tf->type, slot_get_u(he, tf), out);
	}
	return SS_PLUGIN_SUCCESS;
}

static void vt_release(ss_plugin_table_t *t, ss_plugin_table_entry_t *e)
{
	tview *v = V(t, "release_table_entry");
	if (!v)
		return;
	held_item *h = find_held(v->owner, e);
	if (!h || h->created) {
		twarn(v->owner, WARN_HANDLE,
		      "table '%s': release_table_entry: entry %p is not held (released twice, obtained in an earlier "
		      "call, or created and not added)",
		      view_name(v), e);
		return;
	}
	held_item copy = *h;
	drop_held(v->owner, h);
	release_item(&copy);
}

typedef struct {
	ss_plugin_table_iterator_func_t fn;
	ss_plugin_table_iterator_state_t *st;
} iter_ctx;

static ss_plugin_bool vt_iterate(ss_plugin_table_t *t, ss_plugin_table_iterator_func_t it,
				 ss_plugin_table_iterator_state_t *s)
{
	tview *v = V(t, "iterate_entries");
	if (!v)
		return 0;
	if (!it) {
		terr(v->owner, "table '%s': iterate_entries: NULL iterator", view_name(v));
		return 0;
	}
	if (v->pt) {
		if (!v->pt->reader.iterate_entries) {
			terr(v->owner, "table '%s': iterate_entries is not supported by plugin %s", view_name(v),
			     v->pt->owner->name);
			return 0;
		}
		return v->pt->reader.iterate_entries(v->raw, it, s);
	}
	htable *ht = v->ht;
	ss_plugin_bool all = 1;
	ht->iterating++;
	for (hentry *e = ht->first; e; e = e->next) {
		if (!it(s, e)) {
			all = 0;
			break;
		}
	}
	ht->iterating--;
	return all;
}

/* ---- writer ---- */

static ss_plugin_rc vt_clear(ss_plugin_table_t *t)
{
	tview *v = V(t, "clear_table");
	if (!v || !may_write(v, "clear_table", 1))
		return SS_PLUGIN_FAILURE;
	if (v->pt) {
		ss_plugin_rc rc = v->pt->writer.clear_table(v->raw);
		if (rc != SS_PLUGIN_SUCCESS)
			pfail(v, "clear_table");
		return rc;
	}
	ht_clear(v->ht);
	return SS_PLUGIN_SUCCESS;
}

static ss_plugin_rc vt_erase(ss_plugin_table_t *t, const ss_plugin_state_data *key)
{
	tview *v = V(t, "erase_table_entry");
	if (!v || !may_write(v, "erase_table_entry", 1))
		return SS_PLUGIN_FAILURE;
	if (v->pt) {
		ss_plugin_rc rc = key ? v->pt->writer.erase_table_entry(v->raw, key) : SS_PLUGIN_FAILURE;
		if (!key)
			terr(v->owner, "table '%s': erase_table_entry: NULL key", view_name(v));
		else if (rc != SS_PLUGIN_SUCCESS)
			pfail(v, "erase_table_entry");
		return rc;
	}
	hkey k;
	if (!K(v, key, &k, "erase_table_entry"))
		return SS_PLUGIN_FAILURE;
	hentry *e = ht_find(v->ht, &k);
	if (!e) {
		char kt[128];
		key_text(v->ht->schema->key_type, &k, kt, sizeof kt);
		terr(v->owner, "table '%s' has no entry with key %s", view_name(v), kt);
		return SS_PLUGIN_FAILURE;
	}
	ht_unlink(v->ht, e);
	ent_unref(e);
	return SS_PLUGIN_SUCCESS;
}

static ss_plugin_table_entry_t *vt_create(ss_plugin_table_t *t)
{
	tview *v = V(t, "create_table_entry");
	if (!v || !may_write(v, "create_table_entry", 0))
		return NULL;
	if (v->pt) {
		void *e = v->pt->writer.create_table_entry(v->raw);
		if (!e)
			pfail(v, "create_table_entry");
		else
			hold(v->owner, e, NULL, v->pt, v->raw, 1, 1);
		return e;
	}
	hentry *e = ent_new(v->ht);
	hold(v->owner, e, v->ht, NULL, NULL, 1, 1); /* the handle's reference is its only one */
	return e;
}

static void vt_destroy(ss_plugin_table_t *t, ss_plugin_table_entry_t *e)
{
	tview *v = V(t, "destroy_table_entry");
	if (!v)
		return;
	held_item *h = find_held(v->owner, e);
	if (!h || !h->created) {
		twarn(v->owner, WARN_HANDLE,
		      "table '%s': destroy_table_entry: entry %p is not a created entry waiting to be added (only "
		      "entries from create_table_entry that were not added can be destroyed)",
		      view_name(v), e);
		return;
	}
	held_item copy = *h;
	drop_held(v->owner, h);
	release_item(&copy);
}

static ss_plugin_table_entry_t *vt_add(ss_plugin_table_t *t, const ss_plugin_state_data *key,
				       ss_plugin_table_entry_t *e)
{
	tview *v = V(t, "add_table_entry");
	if (!v || !may_write(v, "add_table_entry", 1))
		return NULL;
	held_item *h = find_held(v->owner, e);
	if (!h || !h->created) {
		terr(v->owner,
		     "table '%s': add_table_entry: entry %p does not come from create_table_entry in this call, or "
		     "was already added",
		     view_name(v), e);
		return NULL;
	}
	if (v->pt) {
		if (!key) {
			terr(v->owner, "table '%s': add_table_entry: NULL key", view_name(v));
			return NULL;
		}
		if (h->pt != v->pt) {
			terr(v->owner, "table '%s': add_table_entry: the entry was created for another table",
			     view_name(v));
			return NULL;
		}
		void *r = v->pt->writer.add_table_entry(v->raw, key, e);
		if (!r) {
			pfail(v, "add_table_entry");
			return NULL;
		}
		h->e = r;
		h->created = 0;
		h->counted = 0;
		return r;
	}
	hentry *he = e;
	if (he->magic != ENTRY_MAGIC || he->table != v->ht || he->in_table) {
		terr(v->owner, "table '%s': add_table_entry: the entry was created for another table", view_name(v));
		return NULL;
	}
	hkey k;
	if (!K(v, key, &k, "add_table_entry"))
		return NULL;
	ht_insert(v->ht, &k, he);
	h->created = 0;
	h->counted = 0; /* the added entry's handle is released at the end of the call */
	return he;
}

static ss_plugin_rc vt_write(ss_plugin_table_t *t, ss_plugin_table_entry_t *e, const ss_plugin_table_field_t *f,
			     const ss_plugin_state_data *in)
{
	tview *v = V(t, "write_entry_field");
	if (!v || !may_write(v, "write_entry_field", 0))
		return SS_PLUGIN_FAILURE;
	if (!in) {
		terr(v->owner, "table '%s': write_entry_field: NULL input", view_name(v));
		return SS_PLUGIN_FAILURE;
	}
	if (v->pt) {
		ss_plugin_rc rc = v->pt->writer.write_entry_field(v->raw, e, f, in);
		if (rc != SS_PLUGIN_SUCCESS)
			pfail(v, "write_entry_field");
		return rc;
	}
	hentry *he = E(v, e, "write_entry_field");
	tfield *tf = he ? F(v, f, "write_entry_field") : NULL;
	if (!tf)
		return SS_PLUGIN_FAILURE;
	if (tf->read_only) {
		terr(v->owner, "field '%s' of table '%s' is read-only", tf->name, view_name(v));
		return SS_PLUGIN_FAILURE;
	}
	switch (tf->type) {
	case SS_PLUGIN_ST_STRING:
		if (!in->str) {
			terr(v->owner, "field '%s' of table '%s': NULL string written", tf->name, view_name(v));
			return SS_PLUGIN_FAILURE;
		}
		ent_set_s(he, tf, in->str);
		break;
	case SS_PLUGIN_ST_TABLE:
		terr(v->owner, "field '%s' of table '%s': fields of type table cannot be written", tf->name,
		     view_name(v));
		return SS_PLUGIN_FAILURE;
	default:
		slot_set_u(he, tf, sd_get(tf->type, in));
	}
	return SS_PLUGIN_SUCCESS;
}

ss_plugin_table_reader_vtable g_reader_old = {vt_get_name, vt_get_size, vt_get_entry_old, vt_read};
ss_plugin_table_reader_vtable_ext g_reader_ext = {vt_get_name, vt_get_size, vt_get_entry,
						  vt_read,     vt_release,  vt_iterate};
ss_plugin_table_writer_vtable g_writer_old = {vt_clear, vt_erase, vt_create, vt_destroy, vt_add, vt_write};
ss_plugin_table_writer_vtable_ext g_writer_ext = {vt_clear, vt_erase, vt_create, vt_destroy, vt_add, vt_write};
ss_plugin_table_fields_vtable g_fields_vt = {vt_list_fields, vt_get_field, vt_add_field};
