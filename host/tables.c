/*
 * State tables as libsinsp offers them to plugins (plugin-api-facts.md, State tables): one registry per
 * host process (like one inspector) with the host's tables ("threads", see threads.c) and the
 * tables plugins register with add_table; generic host-owned tables with fields of every state
 * type, fields added at run time, nested tables; the reader/writer/fields vtables in both the
 * deprecated and the _ext flavour.
 *
 * Every ss_plugin_table_t* the host hands out is a view: the table plus the plugin that asked
 * for it, so that errors land in that plugin's owner error. Views of plugin-owned tables
 * forward each call to the owning plugin's functions and, on failure, copy the owning plugin's
 * get_last_error into the caller's owner error.
 *
 * Entries are refcounted (the table holds one reference, every handle another), so a handle
 * stays readable after its entry is erased, as libsinsp's shared pointers do. Handles a plugin
 * gets are recorded per plugin; at the end of each call the host releases what is left (as
 * libsinsp cleans up after each call) and counts the handles the API says must be released:
 * entries from the _ext get_table_entry and created entries neither added nor destroyed.
 *
 * Checks of our own that libsinsp does not make, so that misuse is reported instead of
 * corrupting anything: a table function called outside a plugin call that received the vtables
 * (another thread, a routine, after the call) fails; writers fail in extract_fields; fields
 * are obtained or added only in init; entries and fields of another table are refused; a
 * table is not modified while it is being iterated.
 */
#include "tables.h"

#include <stdlib.h>
#include <string.h>

reg_entry *g_reg;
size_t g_nreg;
tschema *g_schemas;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_locking;

FPH_TLS plugin *tls_plugin;
FPH_TLS call_kind tls_kind;

void tables_set_locking(int on)
{
	g_locking = on;
}

void tables_lock(void)
{
	if (g_locking)
		pthread_mutex_lock(&g_lock);
}

void tables_unlock(void)
{
	if (g_locking)
		pthread_mutex_unlock(&g_lock);
}

/* ---- types ---- */

const char *state_type_name(uint32_t t)
{
	switch (t) {
	case SS_PLUGIN_ST_INT8: return "int8";
	case SS_PLUGIN_ST_INT16: return "int16";
	case SS_PLUGIN_ST_INT32: return "int32";
	case SS_PLUGIN_ST_INT64: return "int64";
	case SS_PLUGIN_ST_UINT8: return "uint8";
	case SS_PLUGIN_ST_UINT16: return "uint16";
	case SS_PLUGIN_ST_UINT32: return "uint32";
	case SS_PLUGIN_ST_UINT64: return "uint64";
	case SS_PLUGIN_ST_STRING: return "string";
	case SS_PLUGIN_ST_TABLE: return "table";
	case SS_PLUGIN_ST_BOOL: return "bool";
	default: return "invalid";
	}
}

/* ---- schemas ---- */

void schema_infos(tschema *s)
{
	if (s->ninfos == s->nfields && s->infos)
		return;
	s->infos = xrealloc(s->infos, (s->nfields ? s->nfields : 1) * sizeof *s->infos);
	for (size_t i = 0; i < s->nfields; i++) {
		s->infos[i].name = s->fields[i]->name;
		s->infos[i].field_type = s->fields[i]->type;
		s->infos[i].read_only = (ss_plugin_bool)s->fields[i]->read_only;
	}
	s->ninfos = s->nfields;
}

tfield *schema_add(tschema *s, const char *name, ss_plugin_state_type type, int ro, tschema *sub,
			  uint64_t defval, plugin *by)
{
	tfield *f = xcalloc(1, sizeof *f);
	f->magic = FIELD_MAGIC;
	f->schema = s;
	f->index = (uint32_t)s->nfields;
	f->name = xstrdup(name);
	f->type = type;
	f->read_only = ro;
	f->sub = sub;
	f->defval = norm(type, defval);
	f->added_by = by;
	if (s->nfields == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->fields = xrealloc(s->fields, s->cap * sizeof *s->fields);
	}
	s->fields[s->nfields++] = f;
	return f;
}

tschema *schema_new(const char *name, ss_plugin_state_type key_type, const field_spec *fields, size_t n,
		    const char *key_field)
{
	tschema *s = xcalloc(1, sizeof *s);
	s->name = xstrdup(name);
	s->key_type = key_type;
	s->key_field = -1;
	for (size_t i = 0; i < n; i++) {
		tfield *f = schema_add(s, fields[i].name, fields[i].type, fields[i].read_only, fields[i].sub,
				       (uint64_t)fields[i].defval, NULL);
		if (key_field && strcmp(key_field, fields[i].name) == 0)
			s->key_field = (int)f->index;
	}
	s->next_all = g_schemas;
	g_schemas = s;
	return s;
}

tfield *schema_field(tschema *s, const char *name)
{
	for (size_t i = 0; i < s->nfields; i++)
		if (strcmp(s->fields[i]->name, name) == 0)
			return s->fields[i];
	return NULL;
}

static void schema_free_all(void)
{
	while (g_schemas) {
		tschema *s = g_schemas;
		g_schemas = s->next_all;
		for (size_t i = 0; i < s->nfields; i++) {
			free(s->fields[i]->name);
			free(s->fields[i]);
		}
		free(s->fields);
		free(s->infos);
		free(s->name);
		free(s);
	}
}

/* ---- host tables ---- */

htable *ht_new(tschema *s)
{
	htable *t = xcalloc(1, sizeof *t);
	t->magic = TABLE_MAGIC;
	t->schema = s;
	t->nbuckets = 16;
	t->buckets = xcalloc(t->nbuckets, sizeof *t->buckets);
	return t;
}

uint64_t ht_size(const htable *t)
{
	return t->size;
}

hentry *ent_new(htable *t)
{
	tschema *s = t->schema;
	hentry *e = xcalloc(1, sizeof *e);
	e->magic = ENTRY_MAGIC;
	e->schema = s;
	e->table = t;
	e->nslots = (uint32_t)s->nfields;
	e->slots = xcalloc(s->nfields, sizeof *e->slots);
	for (size_t i = 0; i < s->nfields; i++) {
		tfield *f = s->fields[i];
		if (f->type == SS_PLUGIN_ST_TABLE)
			e->slots[i].t = f->sub ? ht_new(f->sub) : NULL;
		else if (f->type != SS_PLUGIN_ST_STRING)
			e->slots[i].u = f->defval;
	}
	return e;
}

static void ht_free(htable *t);

static void ent_free(hentry *e)
{
	tschema *s = e->schema;
	for (uint32_t i = 0; i < e->nslots; i++) {
		if (s->fields[i]->type == SS_PLUGIN_ST_STRING)
			free(e->slots[i].s);
		else if (s->fields[i]->type == SS_PLUGIN_ST_TABLE && e->slots[i].t)
			ht_free(e->slots[i].t);
	}
	free(e->slots);
	free(e->key.s);
	e->magic = ENTRY_DEAD;
	free(e);
}

void ent_unref(hentry *e)
{
	if (--e->refs == 0)
		ent_free(e);
}

void ht_unlink(htable *t, hentry *e)
{
	uint64_t h = hash_key(t, &e->key) & (t->nbuckets - 1);
	for (hentry **pp = &t->buckets[h]; *pp; pp = &(*pp)->chain) {
		if (*pp == e) {
			*pp = e->chain;
			break;
		}
	}
	if (e->prev)
		e->prev->next = e->next;
	else
		t->first = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		t->last = e->prev;
	e->prev = e->next = e->chain = NULL;
	e->in_table = 0;
	t->size--;
}

void ht_clear(htable *t)
{
	while (t->first) {
		hentry *e = t->first;
		ht_unlink(t, e);
		ent_unref(e);
	}
}

static void ht_free(htable *t)
{
	while (t->first) {
		hentry *e = t->first;
		ht_unlink(t, e);
		if (e->refs > 1)
			e->table = NULL; /* still held: detached (its nested tables go with it) */
		ent_unref(e);
	}
	free(t->buckets);
	t->magic = 0;
	free(t);
}

static void ht_grow(htable *t)
{
	size_t n = t->nbuckets * 2;
	hentry **b = xcalloc(n, sizeof *b);
	for (size_t i = 0; i < t->nbuckets; i++) {
		for (hentry *e = t->buckets[i], *next; e; e = next) {
			next = e->chain;
			uint64_t h = hash_key(t, &e->key) & (n - 1);
			e->chain = b[h];
			b[h] = e;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

/* Inserts e (not in a table) under key (a string key is copied); replaces an existing entry. */
void ht_insert(htable *t, const hkey *key, hentry *e)
{
	hentry *old = ht_find(t, key);
	if (old) {
		ht_unlink(t, old);
		ent_unref(old);
	}
	if (t->size + 1 > t->nbuckets)
		ht_grow(t);
	e->key.u = key->u;
	free(e->key.s);
	e->key.s = t->schema->key_type == SS_PLUGIN_ST_STRING ? xstrdup(key->s ? key->s : "") : NULL;
	uint64_t h = hash_key(t, &e->key) & (t->nbuckets - 1);
	e->chain = t->buckets[h];
	t->buckets[h] = e;
	e->prev = t->last;
	e->next = NULL;
	if (t->last)
		t->last->next = e;
	else
		t->first = e;
	t->last = e;
	e->in_table = 1;
	e->refs++;
	t->size++;
	if (t->schema->key_field >= 0) { /* tid / fd mirror the key */
		tfield *kf = t->schema->fields[t->schema->key_field];
		if (kf->type != SS_PLUGIN_ST_STRING && kf->type != SS_PLUGIN_ST_TABLE)
			ent_set_u(e, kf, key->u);
	}
}

void ent_grow(hentry *e, uint32_t n)
{
	tschema *s = e->schema;
	e->slots = xrealloc(e->slots, n * sizeof *e->slots);
	for (uint32_t i = e->nslots; i < n; i++) {
		e->slots[i].u = 0;
		if (s->fields[i]->type != SS_PLUGIN_ST_STRING && s->fields[i]->type != SS_PLUGIN_ST_TABLE)
			e->slots[i].u = s->fields[i]->defval;
	}
	e->nslots = n;
}

/* for the other host files (threads.c); the tables files use the inline forms of tables.h */
void ent_set_u(hentry *e, const tfield *f, uint64_t v) { slot_set_u(e, f, v); }
uint64_t ent_get_u(const hentry *e, const tfield *f) { return slot_get_u(e, f); }
const char *ent_get_s(const hentry *e, const tfield *f) { return slot_get_s(e, f); }
htable *ent_get_table(const hentry *e, const tfield *f) { return slot_get_table(e, f); }

void ent_set_s(hentry *e, const tfield *f, const char *s)
{
	if (f->index >= e->nslots)
		ent_grow(e, f->index + 1);
	char *copy = xstrdup(s ? s : "");
	free(e->slots[f->index].s);
	e->slots[f->index].s = copy;
}

hentry *ht_get_int(htable *t, int64_t key)
{
	hkey k = {(uint64_t)key, NULL};
	return ht_find(t, &k);
}

hentry *ht_add_int(htable *t, int64_t key)
{
	hkey k = {(uint64_t)key, NULL};
	hentry *e = ent_new(t);
	ht_insert(t, &k, e);
	return e;
}

int ht_erase_int(htable *t, int64_t key)
{
	hkey k = {(uint64_t)key, NULL};
	hentry *e = ht_find(t, &k);
	if (!e)
		return -1;
	ht_unlink(t, e);
	ent_unref(e);
	return 0;
}

/* ---- the registry ---- */

void reg_add(const char *name, ss_plugin_state_type key_type, htable *ht, ptable *pt)
{
	g_reg = xrealloc(g_reg, (g_nreg + 1) * sizeof *g_reg);
	g_reg[g_nreg].name = name;
	g_reg[g_nreg].key_type = key_type;
	g_reg[g_nreg].ht = ht;
	g_reg[g_nreg].pt = pt;
	g_nreg++;
}

htable *tables_register_host(const char *name, tschema *s)
{
	htable *t = ht_new(s);
	reg_add(s->name, s->key_type, t, NULL);
	(void)name;
	return t;
}

void pt_free(ptable *pt)
{
	for (size_t i = 0; i < pt->nnested; i++)
		pt_free(pt->nested[i].pt);
	free(pt->nested);
	free(pt->ftypes);
	free(pt);
}

ptable *pt_nested(ptable *pt, void *f, const ss_plugin_table_input *in, plugin *owner)
{
	for (size_t i = 0; i < pt->nnested; i++)
		if (pt->nested[i].f == f)
			return pt->nested[i].pt;
	if (!in->table || !in->reader_ext || !in->writer_ext || !in->fields_ext) {
		terr(owner, "table '%s': plugin %s gave a nested table that is not a table input (its table and "
			    "reader_ext/writer_ext/fields_ext must be set, plugin-api-facts.md, State tables)", pt->name, pt->owner->name);
		return NULL;
	}
	ptable *n = xcalloc(1, sizeof *n);
	n->name = in->name;
	n->key_type = in->key_type;
	n->owner = pt->owner;
	n->reader = *in->reader_ext;
	n->writer = *in->writer_ext;
	n->fields = *in->fields_ext;
	pt->nested = xrealloc(pt->nested, (pt->nnested + 1) * sizeof *pt->nested);
	pt->nested[pt->nnested].f = f;
	pt->nested[pt->nnested].pt = n;
	pt->nnested++;
	return n;
}

void tables_shutdown(void)
{
	for (size_t i = 0; i < g_nreg; i++) {
		if (g_reg[i].ht)
			ht_free(g_reg[i].ht);
		if (g_reg[i].pt)
			pt_free(g_reg[i].pt);
	}
	free(g_reg);
	g_reg = NULL;
	g_nreg = 0;
	schema_free_all();
}

/* ---- per-plugin bookkeeping ---- */

void terr(plugin *p, const char *fmt, ...)
{
	if (!p)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->owner_err, sizeof p->owner_err, fmt, ap);
	va_end(ap);
}

/* A misuse that the plugin may not see in its owner error (a void function, or another thread
 * whose owner error the event loop overwrites): the owner error, plus one log line per plugin
 * and kind. */
void twarn(plugin *p, int kind, const char *fmt, ...)
{
	if (!p)
		return;
	char msg[HOST_ERRLEN];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	memcpy(p->owner_err, msg, sizeof msg);
	struct tbl_owner *o = owner_of(p);
	if (!(__atomic_fetch_or(&o->warned, kind, __ATOMIC_RELAXED) & kind))
		host_log_fn(p, "host", msg, SS_PLUGIN_LOG_SEV_WARNING);
}

const char *view_name(const tview *v)
{
	if (v->ht)
		return v->ht->schema->name;
	return v->pt->name ? v->pt->name : "?";
}

tview *view_new(plugin *owner, int ephemeral)
{
	struct tbl_owner *o = owner_of(owner);
	tview *v = NULL;
	if (ephemeral) {
		if (o->neph == o->capeph) {
			o->capeph = o->capeph ? o->capeph * 2 : 8;
			o->eph = xrealloc(o->eph, o->capeph * sizeof *o->eph);
			for (size_t i = o->neph; i < o->capeph; i++)
				o->eph[i] = NULL;
		}
		if (!o->eph[o->neph])
			o->eph[o->neph] = xcalloc(1, sizeof(tview));
		v = o->eph[o->neph++];
		memset(v, 0, sizeof *v);
	} else {
		v = xcalloc(1, sizeof *v);
		o->roots = xrealloc(o->roots, (o->nroots + 1) * sizeof *o->roots);
		o->roots[o->nroots++] = v;
	}
	v->magic = TVIEW_MAGIC;
	v->ephemeral = ephemeral;
	v->owner = owner;
	return v;
}

/* Releases a handle: the host reference, or the owning plugin's release/destroy. */
void release_item(held_item *h)
{
	if (h->ht) {
		ent_unref(h->e);
	} else if (h->pt) {
		if (h->created)
			h->pt->writer.destroy_table_entry(h->raw, h->e);
		else
			h->pt->reader.release_table_entry(h->raw, h->e);
	}
}

void tables_call_begin(plugin *p, call_kind k)
{
	tls_plugin = p;
	tls_kind = k;
	p->owner_err[0] = '\0';
}

void tables_call_end(plugin *p)
{
	struct tbl_owner *o = p->tbl;
	tls_plugin = NULL;
	tls_kind = CALL_NONE;
	if (!o)
		return;
	while (o->nheld) {
		held_item h = o->held[--o->nheld];
		if (h.counted)
			p->table_entries_unreleased++;
		release_item(&h);
	}
	for (size_t i = 0; i < o->neph; i++)
		o->eph[i]->magic = TVIEW_DEAD;
	o->neph = 0;
}

void tables_plugin_free(plugin *p)
{
	struct tbl_owner *o = p->tbl;
	if (!o)
		return;
	for (size_t i = 0; i < o->capeph; i++)
		free(o->eph[i]);
	for (size_t i = 0; i < o->nroots; i++)
		free(o->roots[i]);
	free(o->eph);
	free(o->roots);
	free(o->held);
	free(o->infos);
	free(o);
	p->tbl = NULL;
}
