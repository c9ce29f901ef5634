/*
 * The registry's host tables (tables_init), and the tables input of plugin_init
 * (plugin-api-facts.md, State tables): list_tables, get_table, add_table.
 */
#include "tables.h"

void tables_init(void)
{
	if (g_nreg)
		return;
	threads_init();
}

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
		/* 3.0 plugins: the _ext vtables are rebuilt from the deprecated ones (plugin_table_api.cpp) */
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
