/*
 * --dump-tables: every table as JSON lines, host tables then plugin tables (read through their
 * vtables).
 */
#include "tables.h"

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
				htable *sub = slot_get_table(e, f);
				if (sub)
					dump_host_entries(b, sub);
				else
					sb_puts(b, "null");
			} else if (f->type == SS_PLUGIN_ST_STRING) {
				sb_json_str(b, slot_get_s(e, f));
			} else {
				sd_put(f->type, slot_get_u(e, f), &d);
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
				const ss_plugin_table_input *in = d.table; /* the nested table's input */
				if (in && in->table && in->reader_ext && in->fields_ext && depth < 8) {
					ptable npt = {.name = in->name, .key_type = in->key_type, .owner = pt->owner,
						      .reader = *in->reader_ext, .fields = *in->fields_ext};
					dump_plugin_entries(b, &npt, in->table, depth + 1);
				} else {
					sb_puts(b, "null");
				}
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
