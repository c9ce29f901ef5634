/*
 * Private to the host's state tables (tables.c: the tables, the registry, the per-plugin
 * bookkeeping; table_vtables.c: the vtables plugins call; tables_init.c: the init input;
 * tables_dump.c: --dump-tables): the data structures, and static inline what every vtable
 * call runs (state values, the hash lookup, the handles a call holds).
 */
#ifndef FPH_TABLES_H
#define FPH_TABLES_H

#include "host.h"

#include <stdio.h>
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
	/* the nested tables of each table field (by its accessor): their owner's functions, from
	 * the ss_plugin_table_input that is the field's value (plugin-api-facts.md, State tables), and the
	 * accessors seen on them; table is NULL (each nested table has its own) */
	struct {
		void *f;
		struct ptable *pt;
	} * nested;
	size_t nnested;
} ptable;

/* The nested tables of field f of pt's entries, as `in` (a read value of that field)
 * describes them; NULL (with the owner error of `owner` set) if `in` is not a usable input. */
ptable *pt_nested(ptable *pt, void *f, const ss_plugin_table_input *in, plugin *owner);
void pt_free(ptable *pt);

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

extern reg_entry *g_reg;
extern size_t g_nreg;
extern tschema *g_schemas;
/* the plugin whose call runs on this thread (NULL: none), and which call; defined in the
 * host executable itself (tables.c), so the cheapest TLS access model is valid */
#define FPH_TLS __thread __attribute__((tls_model("local-exec")))
extern FPH_TLS plugin *tls_plugin;
extern FPH_TLS call_kind tls_kind;

static inline void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz);
	if (!p)
		abort();
	return p;
}

static inline void *xrealloc(void *p, size_t sz)
{
	p = realloc(p, sz ? sz : 1);
	if (!p)
		abort();
	return p;
}

static inline char *xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

/* ---- types ---- */

static inline int valid_type(uint32_t t)
{
	return (t >= SS_PLUGIN_ST_INT8 && t <= SS_PLUGIN_ST_TABLE) || t == SS_PLUGIN_ST_BOOL;
}


static inline int is_signed(ss_plugin_state_type t)
{
	return t >= SS_PLUGIN_ST_INT8 && t <= SS_PLUGIN_ST_INT64;
}

/* The value of a numeric state datum, sign-extended for signed types. */
static inline uint64_t sd_get(ss_plugin_state_type t, const ss_plugin_state_data *d)
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

static inline void sd_put(ss_plugin_state_type t, uint64_t v, ss_plugin_state_data *d)
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
static inline uint64_t norm(ss_plugin_state_type t, uint64_t v)
{
	ss_plugin_state_data d;
	sd_put(t, v, &d);
	return sd_get(t, &d);
}

static inline void key_text(ss_plugin_state_type t, const hkey *k, char *buf, size_t n)
{
	if (t == SS_PLUGIN_ST_STRING)
		snprintf(buf, n, "'%s'", k->s ? k->s : "");
	else if (is_signed(t))
		snprintf(buf, n, "%lld", (long long)(int64_t)k->u);
	else
		snprintf(buf, n, "%llu", (unsigned long long)k->u);
}

/* ---- host tables ---- */

static inline uint64_t hash_key(const htable *t, const hkey *k)
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

static inline int key_eq(const htable *t, const hkey *a, const hkey *b)
{
	if (t->schema->key_type == SS_PLUGIN_ST_STRING)
		return strcmp(a->s ? a->s : "", b->s ? b->s : "") == 0;
	return a->u == b->u;
}

static inline hentry *ht_find(htable *t, const hkey *k)
{
	uint64_t h = hash_key(t, k) & (t->nbuckets - 1);
	for (hentry *e = t->buckets[h]; e; e = e->chain)
		if (key_eq(t, &e->key, k))
			return e;
	return NULL;
}

/* An entry's field values (a field added after the entry was made reads its default). */
void ent_grow(hentry *e, uint32_t n);

static inline void slot_set_u(hentry *e, const tfield *f, uint64_t v)
{
	if (f->index >= e->nslots)
		ent_grow(e, f->index + 1);
	e->slots[f->index].u = norm(f->type, v);
}

static inline uint64_t slot_get_u(const hentry *e, const tfield *f)
{
	return f->index < e->nslots ? e->slots[f->index].u : f->defval;
}

static inline const char *slot_get_s(const hentry *e, const tfield *f)
{
	const char *s = f->index < e->nslots ? e->slots[f->index].s : NULL;
	return s ? s : "";
}

static inline htable *slot_get_table(const hentry *e, const tfield *f)
{
	return f->index < e->nslots ? e->slots[f->index].t : NULL;
}

/* ---- per-plugin bookkeeping ---- */

enum { WARN_HANDLE = 1, WARN_THREAD = 2 };

static inline struct tbl_owner *owner_of(plugin *p)
{
	if (!p->tbl)
		p->tbl = xcalloc(1, sizeof *p->tbl);
	return p->tbl;
}

static inline void hold(plugin *p, void *e, htable *ht, ptable *pt, void *raw, int counted, int created)
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

static inline held_item *find_held(plugin *p, void *e)
{
	struct tbl_owner *o = owner_of(p);
	for (size_t i = o->nheld; i-- > 0;)
		if (o->held[i].e == e)
			return &o->held[i];
	return NULL;
}

static inline void drop_held(plugin *p, held_item *h)
{
	struct tbl_owner *o = owner_of(p);
	size_t i = (size_t)(h - o->held);
	o->held[i] = o->held[--o->nheld];
}

/* ---- tables.c ---- */

void terr(plugin *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void twarn(plugin *p, int kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const char *view_name(const tview *v);
tview *view_new(plugin *owner, int ephemeral);
void release_item(held_item *h);
tfield *schema_add(tschema *s, const char *name, ss_plugin_state_type type, int ro, tschema *sub, uint64_t defval,
		   plugin *by);
void schema_infos(tschema *s);
hentry *ent_new(htable *t);
void ent_unref(hentry *e);
void ht_clear(htable *t);
void ht_insert(htable *t, const hkey *key, hentry *e);
void ht_unlink(htable *t, hentry *e);
void reg_add(const char *name, ss_plugin_state_type key_type, htable *ht, ptable *pt);

/* ---- table_vtables.c ---- */

const char *kind_name(call_kind k);

#endif
