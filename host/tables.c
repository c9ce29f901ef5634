/*
 * State tables as libsinsp offers them to plugins (plugin-api.md §3.5, §3.7): one registry per
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
#include "host.h"

#include <stdlib.h>
#include <string.h>

#define TVIEW_MAGIC 0x76696577u /* "view" */
#define TVIEW_DEAD 0x64656164u  /* "dead" */
#define ENTRY_MAGIC 0x656e7472u
#define ENTRY_DEAD 0x78656e74u
#define FIELD_MAGIC 0x6669656cu
#define TABLE_MAGIC 0x7461626cu

struct tfield {
	uint32_t magic;
	tschema *schema;
	uint32_t index;
	char *name;
	ss_plugin_state_type type;
	int read_only;
	tschema *sub;
	uint64_t defval;
	plugin *added_by; /* NULL: the host */
};

struct tschema {
	char *name;
	ss_plugin_state_type key_type;
	tfield **fields;
	size_t nfields, cap;
	ss_plugin_table_fieldinfo *infos; /* list_table_fields, rebuilt when fields change */
	size_t ninfos;
	int key_field; /* index of the field that mirrors the key (tid, fd), -1 none */
	tschema *next_all;
};

typedef union {
	uint64_t u;
	char *s;
	htable *t;
} hslot;

typedef struct {
	uint64_t u;
	char *s; /* STRING keys */
} hkey;

struct hentry {
	uint32_t magic;
	uint32_t refs;
	tschema *schema;
	htable *table; /* NULL once its table is freed while the entry is still held */
	int in_table;
	hkey key;
	hentry *chain;
	hentry *prev, *next;
	uint32_t nslots;
	hslot *slots;
};

struct htable {
	uint32_t magic;
	tschema *schema;
	hentry **buckets;
	size_t nbuckets, size;
	hentry *first, *last;
	int iterating;
};

/* A plugin-registered table. */
typedef struct ptable {
	const char *name; /* the plugin's pointer, kept as libsinsp does */
	ss_plugin_state_type key_type;
	ss_plugin_table_t *table;
	plugin *owner;
	ss_plugin_table_reader_vtable_ext reader;
	ss_plugin_table_writer_vtable_ext writer;
	ss_plugin_table_fields_vtable_ext fields;
	/* field accessors seen through our wrappers and their types (to wrap nested tables) */
	struct {
		void *f;
		ss_plugin_state_type type;
	} * ftypes;
	size_t nftypes;
} ptable;

typedef struct tview {
	uint32_t magic;
	int ephemeral;
	plugin *owner;
	htable *ht;             /* host table */
	ptable *pt;             /* or a plugin table */
	ss_plugin_table_t *raw; /* pt: the plugin's own table pointer (root or nested) */
	size_t reg;             /* root views: registry index */
} tview;

typedef struct {
	void *e;
	htable *ht;
	ptable *pt;
	void *raw;
	uint8_t counted; /* must be released (or added/destroyed) by the plugin */
	uint8_t created; /* created, not added yet */
} held_item;

struct tbl_owner {
	held_item *held;
	size_t nheld, capheld;
	tview **eph;
	size_t neph, capeph;
	tview **roots;
	size_t nroots;
	ss_plugin_table_info *infos;
	int warned;
};

typedef struct {
	const char *name;
	ss_plugin_state_type key_type;
	htable *ht;
	ptable *pt;
} reg_entry;

static reg_entry *g_reg;
static size_t g_nreg;
static tschema *g_schemas;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_locking;

static __thread plugin *tls_plugin;
static __thread call_kind tls_kind;

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz);
	if (!p)
		abort();
	return p;
}

static void *xrealloc(void *p, size_t sz)
{
	p = realloc(p, sz ? sz : 1);
	if (!p)
		abort();
	return p;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

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

static int valid_type(uint32_t t)
{
	return (t >= SS_PLUGIN_ST_INT8 && t <= SS_PLUGIN_ST_TABLE) || t == SS_PLUGIN_ST_BOOL;
}

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

static int is_signed(ss_plugin_state_type t)
{
	return t >= SS_PLUGIN_ST_INT8 && t <= SS_PLUGIN_ST_INT64;
}

/* The value of a numeric state datum, sign-extended for signed types. */
static uint64_t sd_get(ss_plugin_state_type t, const ss_plugin_state_data *d)
{
	switch (t) {
	case SS_PLUGIN_ST_INT8: return (uint64_t)(int64_t)d->s8;
	case SS_PLUGIN_ST_INT16: return (uint64_t)(int64_t)d->s16;
	case SS_PLUGIN_ST_INT32: return (uint64_t)(int64_t)d->s32;
	case SS_PLUGIN_ST_INT64: return (uint64_t)d->s64;
	case SS_PLUGIN_ST_UINT8: return d->u8;
	case SS_PLUGIN_ST_UINT16: return d->u16;
	case SS_PLUGIN_ST_UINT32: return d->u32;
	case SS_PLUGIN_ST_UINT64: return d->u64;
	case SS_PLUGIN_ST_BOOL: return d->b != 0;
	case SS_PLUGIN_ST_TABLE: return (uint64_t)(uintptr_t)d->table;
	default: return 0;
	}
}

static void sd_put(ss_plugin_state_type t, uint64_t v, ss_plugin_state_data *d)
{
	d->u64 = 0;
	switch (t) {
	case SS_PLUGIN_ST_INT8: d->s8 = (int8_t)v; break;
	case SS_PLUGIN_ST_INT16: d->s16 = (int16_t)v; break;
	case SS_PLUGIN_ST_INT32: d->s32 = (int32_t)v; break;
	case SS_PLUGIN_ST_INT64: d->s64 = (int64_t)v; break;
	case SS_PLUGIN_ST_UINT8: d->u8 = (uint8_t)v; break;
	case SS_PLUGIN_ST_UINT16: d->u16 = (uint16_t)v; break;
	case SS_PLUGIN_ST_UINT32: d->u32 = (uint32_t)v; break;
	case SS_PLUGIN_ST_BOOL: d->b = v != 0; break;
	default: d->u64 = v;
	}
}

/* Truncate a value to its type (what a write of it stores). */
static uint64_t norm(ss_plugin_state_type t, uint64_t v)
{
	ss_plugin_state_data d;
	sd_put(t, v, &d);
	return sd_get(t, &d);
}

static void key_text(ss_plugin_state_type t, const hkey *k, char *buf, size_t n)
{
	if (t == SS_PLUGIN_ST_STRING)
		snprintf(buf, n, "'%s'", k->s ? k->s : "");
	else if (is_signed(t))
		snprintf(buf, n, "%lld", (long long)(int64_t)k->u);
	else
		snprintf(buf, n, "%llu", (unsigned long long)k->u);
}

/* ---- schemas ---- */

static void schema_infos(tschema *s)
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

static tfield *schema_add(tschema *s, const char *name, ss_plugin_state_type type, int ro, tschema *sub,
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

static uint64_t hash_key(const htable *t, const hkey *k)
{
	if (t->schema->key_type == SS_PLUGIN_ST_STRING) {
		uint64_t h = 1469598103934665603ull;
		for (const unsigned char *c = (const unsigned char *)(k->s ? k->s : ""); *c; c++)
			h = (h ^ *c) * 1099511628211ull;
		return h;
	}
	uint64_t x = k->u;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static int key_eq(const htable *t, const hkey *a, const hkey *b)
{
	if (t->schema->key_type == SS_PLUGIN_ST_STRING)
		return strcmp(a->s ? a->s : "", b->s ? b->s : "") == 0;
	return a->u == b->u;
}

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

static hentry *ent_new(htable *t)
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

static void ent_unref(hentry *e)
{
	if (--e->refs == 0)
		ent_free(e);
}

static void ht_unlink(htable *t, hentry *e)
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

static void ht_clear(htable *t)
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

static hentry *ht_find(htable *t, const hkey *k)
{
	uint64_t h = hash_key(t, k) & (t->nbuckets - 1);
	for (hentry *e = t->buckets[h]; e; e = e->chain)
		if (key_eq(t, &e->key, k))
			return e;
	return NULL;
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
static void ht_insert(htable *t, const hkey *key, hentry *e)
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

static void ent_grow(hentry *e, uint32_t n)
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

void ent_set_u(hentry *e, const tfield *f, uint64_t v)
{
	if (f->index >= e->nslots)
		ent_grow(e, f->index + 1);
	e->slots[f->index].u = norm(f->type, v);
}

void ent_set_s(hentry *e, const tfield *f, const char *s)
{
	if (f->index >= e->nslots)
		ent_grow(e, f->index + 1);
	char *copy = xstrdup(s ? s : "");
	free(e->slots[f->index].s);
	e->slots[f->index].s = copy;
}

uint64_t ent_get_u(const hentry *e, const tfield *f)
{
	return f->index < e->nslots ? e->slots[f->index].u : f->defval;
}

const char *ent_get_s(const hentry *e, const tfield *f)
{
	const char *s = f->index < e->nslots ? e->slots[f->index].s : NULL;
	return s ? s : "";
}

htable *ent_get_table(const hentry *e, const tfield *f)
{
	return f->index < e->nslots ? e->slots[f->index].t : NULL;
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

static void reg_add(const char *name, ss_plugin_state_type key_type, htable *ht, ptable *pt)
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

void tables_init(void)
{
	if (g_nreg)
		return;
	threads_init();
}

void tables_shutdown(void)
{
	for (size_t i = 0; i < g_nreg; i++) {
		if (g_reg[i].ht)
			ht_free(g_reg[i].ht);
		if (g_reg[i].pt) {
			free(g_reg[i].pt->ftypes);
			free(g_reg[i].pt);
		}
	}
	free(g_reg);
	g_reg = NULL;
	g_nreg = 0;
	schema_free_all();
}

/* ---- per-plugin bookkeeping ---- */

static struct tbl_owner *owner_of(plugin *p)
{
	if (!p->tbl)
		p->tbl = xcalloc(1, sizeof *p->tbl);
	return p->tbl;
}

static void terr(plugin *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void terr(plugin *p, const char *fmt, ...)
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
enum { WARN_HANDLE = 1, WARN_THREAD = 2 };
static void twarn(plugin *p, int kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void twarn(plugin *p, int kind, const char *fmt, ...)
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

static const char *view_name(const tview *v)
{
	if (v->ht)
		return v->ht->schema->name;
	return v->pt->name ? v->pt->name : "?";
}

static tview *view_new(plugin *owner, int ephemeral)
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

static void hold(plugin *p, void *e, htable *ht, ptable *pt, void *raw, int counted, int created)
{
	struct tbl_owner *o = owner_of(p);
	if (o->nheld == o->capheld) {
		o->capheld = o->capheld ? o->capheld * 2 : 16;
		o->held = xrealloc(o->held, o->capheld * sizeof *o->held);
	}
	held_item *h = &o->held[o->nheld++];
	h->e = e;
	h->ht = ht;
	h->pt = pt;
	h->raw = raw;
	h->counted = (uint8_t)counted;
	h->created = (uint8_t)created;
	if (ht)
		((hentry *)e)->refs++;
}

static held_item *find_held(plugin *p, void *e)
{
	struct tbl_owner *o = owner_of(p);
	for (size_t i = o->nheld; i-- > 0;)
		if (o->held[i].e == e)
			return &o->held[i];
	return NULL;
}

static void drop_held(plugin *p, held_item *h)
{
	struct tbl_owner *o = owner_of(p);
	size_t i = (size_t)(h - o->held);
	o->held[i] = o->held[--o->nheld];
}

/* Releases a handle: the host reference, or the owning plugin's release/destroy. */
static void release_item(held_item *h)
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

static const char *kind_name(call_kind k)
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
			tview *n = view_new(v->owner, 1); /* a nested table of a plugin table: same functions */
			n->pt = v->pt;
			n->raw = out->table;
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
		out->str = ent_get_s(he, tf);
		break;
	case SS_PLUGIN_ST_TABLE: {
		htable *sub = ent_get_table(he, tf);
		out->u64 = 0;
		if (sub) {
			tview *n = view_new(v->owner, 1);
			n->ht = sub;
			out->table = n;
		}
		break;
	}
	default:
		sd_put(tf->type, ent_get_u(he, tf), out);
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
		ent_set_u(he, tf, sd_get(tf->type, in));
	}
	return SS_PLUGIN_SUCCESS;
}

ss_plugin_table_reader_vtable g_reader_old = {vt_get_name, vt_get_size, vt_get_entry_old, vt_read};
ss_plugin_table_reader_vtable_ext g_reader_ext = {vt_get_name, vt_get_size, vt_get_entry,
						  vt_read,     vt_release,  vt_iterate};
ss_plugin_table_writer_vtable g_writer_old = {vt_clear, vt_erase, vt_create, vt_destroy, vt_add, vt_write};
ss_plugin_table_writer_vtable_ext g_writer_ext = {vt_clear, vt_erase, vt_create, vt_destroy, vt_add, vt_write};
ss_plugin_table_fields_vtable g_fields_vt = {vt_list_fields, vt_get_field, vt_add_field};

/* ---- init tables input: list_tables, get_table, add_table ---- */

static plugin *init_owner(ss_plugin_owner_t *o, const char *op)
{
	plugin *p = o;
	if (!p || p != tls_plugin) {
		terr(tls_plugin, "%s: the owner is not the plugin being initialized", op);
		return NULL;
	}
	p->owner_err[0] = '\0';
	if (tls_kind != CALL_INIT) {
		terr(p, "%s is only allowed in init (called in %s)", op, kind_name(tls_kind));
		return NULL;
	}
	return p;
}

static ss_plugin_table_info *vt_list_tables(ss_plugin_owner_t *o, uint32_t *n)
{
	if (n)
		*n = 0;
	plugin *p = init_owner(o, "list_tables");
	if (!p)
		return NULL;
	if (!n) {
		terr(p, "list_tables: NULL count pointer");
		return NULL;
	}
	struct tbl_owner *ow = owner_of(p);
	ow->infos = xrealloc(ow->infos, (g_nreg ? g_nreg : 1) * sizeof *ow->infos);
	for (size_t i = 0; i < g_nreg; i++) {
		ow->infos[i].name = g_reg[i].name;
		ow->infos[i].key_type = g_reg[i].key_type;
	}
	*n = (uint32_t)g_nreg;
	return ow->infos;
}

static ss_plugin_table_t *vt_get_table(ss_plugin_owner_t *o, const char *name, ss_plugin_state_type key_type)
{
	plugin *p = init_owner(o, "get_table");
	if (!p)
		return NULL;
	if (!name) {
		terr(p, "get_table: NULL name");
		return NULL;
	}
	size_t i;
	for (i = 0; i < g_nreg; i++)
		if (strcmp(g_reg[i].name, name) == 0)
			break;
	if (i == g_nreg) {
		terr(p, "table '%s' not found", name);
		return NULL;
	}
	if (g_reg[i].key_type != key_type) {
		terr(p, "table '%s' has key type %s, not %s", name, state_type_name(g_reg[i].key_type),
		     state_type_name(key_type));
		return NULL;
	}
	p->tables_used = 1;
	struct tbl_owner *ow = owner_of(p);
	for (size_t k = 0; k < ow->nroots; k++)
		if (ow->roots[k]->reg == i)
			return ow->roots[k];
	tview *v = view_new(p, 0);
	v->reg = i;
	v->ht = g_reg[i].ht;
	v->pt = g_reg[i].pt;
	v->raw = v->pt ? v->pt->table : NULL;
	return v;
}

static int declared_minor(const plugin *p)
{
	unsigned a = 0, b = 0, c = 0;
	if (sscanf(p->required_api_version, "%u.%u.%u", &a, &b, &c) != 3)
		return 0;
	return (int)b;
}

static void noop_release(ss_plugin_table_t *t, ss_plugin_table_entry_t *e)
{
	(void)t;
	(void)e;
}

static ss_plugin_rc vt_add_table(ss_plugin_owner_t *o, const ss_plugin_table_input *in)
{
	plugin *p = init_owner(o, "add_table");
	if (!p)
		return SS_PLUGIN_FAILURE;
	if (!in) {
		terr(p, "add_table: NULL table input");
		return SS_PLUGIN_FAILURE;
	}
	if (!in->name || !in->name[0]) {
		terr(p, "add_table: %s table name", in->name ? "empty" : "NULL");
		return SS_PLUGIN_FAILURE;
	}
	if (!in->table) {
		terr(p, "add_table '%s': NULL table pointer", in->name);
		return SS_PLUGIN_FAILURE;
	}
	if (!valid_type(in->key_type)) {
		terr(p, "add_table '%s': invalid key type %d", in->name, (int)in->key_type);
		return SS_PLUGIN_FAILURE;
	}
	for (size_t i = 0; i < g_nreg; i++) {
		if (strcmp(g_reg[i].name, in->name) == 0) {
			terr(p, "add_table '%s': a table with this name already exists", in->name);
			return SS_PLUGIN_FAILURE;
		}
	}
	ptable pt;
	memset(&pt, 0, sizeof pt);
	pt.name = in->name;
	pt.key_type = in->key_type;
	pt.table = in->table;
	pt.owner = p;
	const char *broken = "add_table '%s': broken or inconsistent reader/writer/fields vtables";
	if (declared_minor(p) < 1) {
		/* 3.0 plugins: the _ext vtables are rebuilt from the deprecated ones (§1.2) */
		memcpy(&pt.reader, &in->reader, sizeof in->reader);
		pt.reader.release_table_entry = noop_release;
		pt.reader.iterate_entries = NULL;
		pt.writer = in->writer;
		pt.fields = in->fields;
	} else {
		if (!in->reader_ext || !in->writer_ext || !in->fields_ext) {
			terr(p, broken, in->name);
			return SS_PLUGIN_FAILURE;
		}
		pt.reader = *in->reader_ext;
		pt.writer = *in->writer_ext;
		pt.fields = *in->fields_ext;
		const ss_plugin_table_reader_vtable *r = &in->reader;
		const ss_plugin_table_writer_vtable *w = &in->writer;
		const ss_plugin_table_fields_vtable *f = &in->fields;
		int same = r->get_table_name == pt.reader.get_table_name && r->get_table_size == pt.reader.get_table_size &&
			   r->get_table_entry == pt.reader.get_table_entry &&
			   r->read_entry_field == pt.reader.read_entry_field && w->clear_table == pt.writer.clear_table &&
			   w->erase_table_entry == pt.writer.erase_table_entry &&
			   w->create_table_entry == pt.writer.create_table_entry &&
			   w->destroy_table_entry == pt.writer.destroy_table_entry &&
			   w->add_table_entry == pt.writer.add_table_entry &&
			   w->write_entry_field == pt.writer.write_entry_field &&
			   f->list_table_fields == pt.fields.list_table_fields &&
			   f->get_table_field == pt.fields.get_table_field && f->add_table_field == pt.fields.add_table_field;
		if (!same || !pt.reader.release_table_entry || !pt.reader.iterate_entries) {
			terr(p, broken, in->name);
			return SS_PLUGIN_FAILURE;
		}
	}
	if (!pt.reader.get_table_name || !pt.reader.get_table_size || !pt.reader.get_table_entry ||
	    !pt.reader.read_entry_field || !pt.writer.clear_table || !pt.writer.erase_table_entry ||
	    !pt.writer.create_table_entry || !pt.writer.destroy_table_entry || !pt.writer.add_table_entry ||
	    !pt.writer.write_entry_field || !pt.fields.list_table_fields || !pt.fields.get_table_field ||
	    !pt.fields.add_table_field) {
		terr(p, broken, in->name);
		return SS_PLUGIN_FAILURE;
	}
	ptable *copy = xcalloc(1, sizeof *copy);
	*copy = pt;
	reg_add(copy->name, copy->key_type, NULL, copy);
	p->tables_used = 1;
	return SS_PLUGIN_SUCCESS;
}

void tables_fill_init_input(ss_plugin_init_tables_input *in)
{
	memset(in, 0, sizeof *in);
	in->list_tables = vt_list_tables;
	in->get_table = vt_get_table;
	in->add_table = vt_add_table;
	in->fields = g_fields_vt;
	in->fields_ext = &g_fields_vt;
	in->reader_ext = &g_reader_ext;
	in->writer_ext = &g_writer_ext;
}

/* ---- --dump-tables ---- */

static int cmp_entries(const void *a, const void *b)
{
	const hentry *x = *(hentry *const *)a, *y = *(hentry *const *)b;
	ss_plugin_state_type kt = x->schema->key_type;
	if (kt == SS_PLUGIN_ST_STRING)
		return strcmp(x->key.s ? x->key.s : "", y->key.s ? y->key.s : "");
	if (is_signed(kt))
		return (int64_t)x->key.u < (int64_t)y->key.u ? -1 : (int64_t)x->key.u > (int64_t)y->key.u;
	return x->key.u < y->key.u ? -1 : x->key.u > y->key.u;
}

static void dump_value(sbuf *b, ss_plugin_state_type t, const ss_plugin_state_data *d)
{
	switch (t) {
	case SS_PLUGIN_ST_STRING: sb_json_str(b, d->str ? d->str : ""); break;
	case SS_PLUGIN_ST_BOOL: sb_puts(b, d->b ? "true" : "false"); break;
	default:
		if (is_signed(t))
			sb_printf(b, "%lld", (long long)(int64_t)sd_get(t, d));
		else
			sb_printf(b, "%llu", (unsigned long long)sd_get(t, d));
	}
}

static void dump_host_entries(sbuf *b, htable *t)
{
	tschema *s = t->schema;
	hentry **v = xcalloc(t->size, sizeof *v);
	size_t n = 0;
	for (hentry *e = t->first; e; e = e->next)
		v[n++] = e;
	qsort(v, n, sizeof *v, cmp_entries);
	sb_putc(b, '[');
	for (size_t i = 0; i < n; i++) {
		hentry *e = v[i];
		sb_puts(b, i ? ",{\"key\":" : "{\"key\":");
		ss_plugin_state_data d;
		if (s->key_type == SS_PLUGIN_ST_STRING)
			d.str = e->key.s;
		else
			sd_put(s->key_type, e->key.u, &d);
		dump_value(b, s->key_type, &d);
		for (size_t k = 0; k < s->nfields; k++) {
			tfield *f = s->fields[k];
			sb_putc(b, ',');
			sb_json_str(b, f->name);
			sb_putc(b, ':');
			if (f->type == SS_PLUGIN_ST_TABLE) {
				htable *sub = ent_get_table(e, f);
				if (sub)
					dump_host_entries(b, sub);
				else
					sb_puts(b, "null");
			} else if (f->type == SS_PLUGIN_ST_STRING) {
				sb_json_str(b, ent_get_s(e, f));
			} else {
				sd_put(f->type, ent_get_u(e, f), &d);
				dump_value(b, f->type, &d);
			}
		}
		sb_putc(b, '}');
	}
	sb_putc(b, ']');
	free(v);
}

static void dump_fields_json(sbuf *b, const ss_plugin_table_fieldinfo *fi, uint32_t n, const tschema *s)
{
	sb_putc(b, '[');
	for (uint32_t i = 0; i < n; i++) {
		sb_puts(b, i ? ",{\"name\":" : "{\"name\":");
		sb_json_str(b, fi[i].name ? fi[i].name : "");
		sb_puts(b, ",\"type\":");
		sb_json_str(b, state_type_name(fi[i].field_type));
		sb_printf(b, ",\"read_only\":%s", fi[i].read_only ? "true" : "false");
		if (s) {
			sb_puts(b, ",\"added_by\":");
			if (s->fields[i]->added_by)
				sb_json_str(b, s->fields[i]->added_by->name);
			else
				sb_puts(b, "null");
		}
		sb_putc(b, '}');
	}
	sb_putc(b, ']');
}

typedef struct {
	void **v;
	size_t n;
} ptr_list;

static ss_plugin_bool collect_entry(ss_plugin_table_iterator_state_t *s, ss_plugin_table_entry_t *e)
{
	ptr_list *l = s;
	l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
	l->v[l->n++] = e;
	return 1;
}

/* A plugin table (root or nested) read through its owner's functions; the key is not
 * reachable through the API, so entries have "key": null. */
static void dump_plugin_entries(sbuf *b, const ptable *pt, void *raw, int depth)
{
	uint32_t nf = 0;
	const ss_plugin_table_fieldinfo *fi = pt->fields.list_table_fields(raw, &nf);
	if (!fi)
		nf = 0;
	void **acc = xcalloc(nf, sizeof *acc);
	for (uint32_t i = 0; i < nf; i++)
		acc[i] = fi[i].name ? pt->fields.get_table_field(raw, fi[i].name, fi[i].field_type) : NULL;
	ptr_list l = {NULL, 0};
	if (pt->reader.iterate_entries)
		pt->reader.iterate_entries(raw, collect_entry, &l);
	sb_putc(b, '[');
	for (size_t k = 0; k < l.n; k++) {
		sb_puts(b, k ? ",{\"key\":null" : "{\"key\":null");
		for (uint32_t i = 0; i < nf; i++) {
			sb_putc(b, ',');
			sb_json_str(b, fi[i].name ? fi[i].name : "");
			sb_putc(b, ':');
			ss_plugin_state_data d;
			memset(&d, 0, sizeof d);
			if (!acc[i] || pt->reader.read_entry_field(raw, l.v[k], acc[i], &d) != SS_PLUGIN_SUCCESS) {
				sb_puts(b, "null");
			} else if (fi[i].field_type == SS_PLUGIN_ST_TABLE) {
				if (d.table && depth < 8)
					dump_plugin_entries(b, pt, d.table, depth + 1);
				else
					sb_puts(b, "null");
			} else {
				dump_value(b, fi[i].field_type, &d);
			}
		}
		sb_putc(b, '}');
	}
	sb_putc(b, ']');
	free(l.v);
	free(acc);
}

void tables_dump(FILE *out)
{
	for (size_t i = 0; i < g_nreg; i++) {
		reg_entry *r = &g_reg[i];
		sbuf b = {0};
		sb_puts(&b, "{\"table\":{\"name\":");
		sb_json_str(&b, r->name);
		sb_puts(&b, ",\"key_type\":");
		sb_json_str(&b, state_type_name(r->key_type));
		sb_puts(&b, ",\"owner\":");
		if (r->ht) {
			sb_puts(&b, "\"host\",\"size\":");
			sb_printf(&b, "%llu,\"fields\":", (unsigned long long)r->ht->size);
			schema_infos(r->ht->schema);
			dump_fields_json(&b, r->ht->schema->infos, (uint32_t)r->ht->schema->nfields, r->ht->schema);
			sb_puts(&b, ",\"entries\":");
			dump_host_entries(&b, r->ht);
		} else {
			const ptable *pt = r->pt;
			sb_json_str(&b, pt->owner->name);
			uint64_t size = pt->reader.get_table_size(pt->table);
			sb_puts(&b, ",\"size\":");
			if (size == UINT64_MAX)
				sb_puts(&b, "null");
			else
				sb_printf(&b, "%llu", (unsigned long long)size);
			uint32_t nf = 0;
			const ss_plugin_table_fieldinfo *fi = pt->fields.list_table_fields(pt->table, &nf);
			sb_puts(&b, ",\"fields\":");
			dump_fields_json(&b, fi, fi ? nf : 0, NULL);
			sb_puts(&b, ",\"entries\":");
			dump_plugin_entries(&b, pt, pt->table, 0);
		}
		sb_puts(&b, "}}\n");
		fwrite(b.p, 1, b.len, out);
		fflush(out);
		sb_free(&b);
	}
}
