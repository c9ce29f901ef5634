/*
 * Field requests ("name" or "name[arg]"), their checks against the loaded plugins, and
 * extraction as libsinsp does it (plugin-api-facts.md, Field extraction): one field per call,
 * outputs left as garbage for the plugin to fill, arg_index UINT64_MAX when absent.
 */
#include "host.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define GARBAGE_LEN 0x5a5a5a5a5a5a5a5aULL
#define GARBAGE_PTR ((void *)(uintptr_t)0x5a5a5a5a5a5a5a5aULL)

static char *xstrndup(const char *s, size_t n)
{
	char *d = strndup(s, n);
	if (!d)
		abort();
	return d;
}

int parse_field_list(const char *list, field_req **out, size_t *n, char *err, size_t errlen)
{
	*out = NULL;
	*n = 0;
	const char *p = list;
	while (*p) {
		/* one spec: up to a comma outside brackets */
		const char *start = p;
		int depth = 0;
		while (*p && !(*p == ',' && depth == 0)) {
			if (*p == '[')
				depth++;
			else if (*p == ']' && depth > 0)
				depth--;
			p++;
		}
		const char *end = p;
		if (*p == ',')
			p++;
		while (start < end && (*start == ' ' || *start == '\t'))
			start++;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (start == end)
			continue;
		field_req r = {0};
		r.spec = xstrndup(start, (size_t)(end - start));
		const char *br = memchr(start, '[', (size_t)(end - start));
		if (br) {
			if (end[-1] != ']' || br == start) {
				snprintf(err, errlen, "invalid field %s", r.spec);
				free(r.spec);
				return -1;
			}
			r.name = xstrndup(start, (size_t)(br - start));
			r.arg = xstrndup(br + 1, (size_t)(end - 1 - (br + 1)));
		} else {
			r.name = xstrndup(start, (size_t)(end - start));
		}
		field_req *v = realloc(*out, (*n + 1) * sizeof *v);
		if (!v)
			abort();
		*out = v;
		v[(*n)++] = r;
	}
	return 0;
}

void free_field_reqs(field_req *reqs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(reqs[i].spec);
		free(reqs[i].name);
		free(reqs[i].arg);
	}
	free(reqs);
}

/* plugin_filtercheck.cpp: decimal digits without leading zeros. */
static int parse_index(const char *arg, uint64_t *out)
{
	if (!arg || !arg[0] || (arg[0] == '0' && arg[1]))
		return 0;
	for (const char *c = arg; *c; c++)
		if (*c < '0' || *c > '9')
			return 0;
	errno = 0;
	unsigned long long v = strtoull(arg, NULL, 10);
	if (errno == ERANGE)
		return 0;
	*out = v;
	return 1;
}

int check_field_reqs(plugin **plugins, size_t np, const field_req *reqs, size_t nreq, char *err, size_t errlen)
{
	for (size_t i = 0; i < nreq; i++) {
		const field_req *r = &reqs[i];
		const field_def *d = NULL;
		for (size_t j = 0; j < np && !d; j++)
			d = plugin_find_field(plugins[j], r->name, NULL);
		if (!d) {
			snprintf(err, errlen, "unknown field %s", r->name);
			return -1;
		}
		uint64_t idx;
		if (r->arg) {
			if (!d->arg_index && !d->arg_key) {
				snprintf(err, errlen, "field %s does not accept an argument", r->name);
				return -1;
			}
			/* an invalid index falls back to a key when isKey is set too */
			if (d->arg_index && !d->arg_key && !parse_index(r->arg, &idx)) {
				snprintf(err, errlen,
					 "field %s has an invalid index argument '%s' (decimal digits without leading "
					 "zeros)",
					 r->name, r->arg);
				return -1;
			}
		} else if (d->arg_required) {
			snprintf(err, errlen, "field %s requires an argument", r->name);
			return -1;
		}
	}
	return 0;
}

/* Try the session's own plugin first: in Falco each source has its own inspector, where a
 * second registration of the same library would not be present. */
static int bind_to(field_bind *b, plugin *p, const char *source, const field_req *r)
{
	uint32_t id;
	const field_def *d = p ? plugin_find_field(p, r->name, &id) : NULL;
	if (!d || !source_compatible(p, source))
		return 0;
	b->p = p;
	b->field_id = id;
	b->def = d;
	if (d->arg_index && r->arg)
		parse_index(r->arg, &b->arg_index);
	b->arg_key = (d->arg_key && r->arg) ? r->arg : NULL;
	return 1;
}

void bind_fields(plugin **plugins, size_t np, plugin *own, const char *source, const field_req *reqs, size_t nreq,
		 field_bind *out)
{
	for (size_t i = 0; i < nreq; i++) {
		field_bind *b = &out[i];
		memset(b, 0, sizeof *b);
		b->arg_index = UINT64_MAX;
		b->name = reqs[i].name;
		b->spec = reqs[i].spec;
		b->arg = reqs[i].arg;
		if (bind_to(b, own, source, &reqs[i]))
			continue;
		for (size_t j = 0; j < np; j++)
			if (bind_to(b, plugins[j], source, &reqs[i]))
				break;
	}
}

void fill_field(ss_plugin_extract_field *f, const field_bind *b)
{
	f->res.u64 = GARBAGE_PTR;
	f->res_len = GARBAGE_LEN;
	f->field_id = b->field_id;
	f->field = b->name;
	f->arg_key = b->arg_key;
	f->arg_index = b->arg_index;
	f->arg_present = b->arg != NULL;
	f->ftype = b->def->type;
	f->flist = (ss_plugin_bool)b->def->is_list;
}

/* With vo: value offsets asked for (API 3.11; libsinsp passes both pointers NULL and reads
 * them back, NULL meaning "not supported"); without: value_offsets is NULL. */
static int extract_call_vo(plugin *p, ss_plugin_extract_field *f, uint32_t n, const ss_plugin_event_input *in,
			   ss_plugin_extract_value_offsets *vo, char *err, size_t errlen)
{
	ss_plugin_field_extract_input fin;
	memset(&fin, 0, sizeof fin);
	fin.owner = p;
	fin.get_owner_last_error = host_get_owner_last_error;
	fin.num_fields = n;
	fin.fields = f;
	fin.table_reader = g_reader_old;
	fin.table_reader_ext = &g_reader_ext;
	fin.value_offsets = vo;
	tables_call_begin(p, CALL_EXTRACT);
	ss_plugin_rc rc = p->api.extract_fields(p->state, in, &fin);
	tables_call_end(p);
	if (rc != SS_PLUGIN_SUCCESS)
		return 0; /* silent: no value (plugin.cpp) */
	for (uint32_t i = 0; i < n; i++) {
		if (f[i].res_len == GARBAGE_LEN) {
			snprintf(err, errlen, "plugin %s: extract_fields returned SUCCESS without setting res_len for %s",
				 p->name, f[i].field);
			return -1;
		}
		if (f[i].res_len && (f[i].res.u64 == NULL || f[i].res.u64 == GARBAGE_PTR)) {
			snprintf(err, errlen, "plugin %s: extract_fields set res_len=%llu for %s but no value array",
				 p->name, (unsigned long long)f[i].res_len, f[i].field);
			return -1;
		}
		if (f[i].ftype == FTYPE_STRING)
			for (uint64_t k = 0; k < f[i].res_len; k++)
				if (!f[i].res.str[k]) {
					snprintf(err, errlen, "plugin %s: extract_fields returned a NULL string for %s",
						 p->name, f[i].field);
					return -1;
				}
	}
	return 1;
}

int extract_call(plugin *p, ss_plugin_extract_field *f, uint32_t n, const ss_plugin_event_input *in, char *err,
		 size_t errlen)
{
	return extract_call_vo(p, f, n, in, NULL, err, errlen);
}

static __thread sbuf *tl_offsets;
static __thread int tl_offsets_json;

void extract_offsets_to(sbuf *out, int json)
{
	tl_offsets = out;
	tl_offsets_json = json;
}

/* The offsets of one field's values after the call, appended to tl_offsets ("spec":[[s,l],..]
 * in JSON, " spec=s+l,..." in text); libsinsp's error when the plugin gave none. */
static void put_offsets(const field_bind *bd, const ss_plugin_extract_field *f, const ss_plugin_extract_value_offsets *vo,
			int r)
{
	sbuf *b = tl_offsets;
	int json = tl_offsets_json;
	if (b->len && json)
		sb_putc(b, ',');
	if (json) {
		sb_json_str(b, bd->spec);
		sb_putc(b, ':');
	} else {
		sb_putc(b, ' ');
		sb_puts(b, bd->spec);
		sb_putc(b, '=');
	}
	uint64_t n = r == 1 ? f->res_len : 0;
	if (n && (!vo->start || !vo->length)) {
		errorf("Unable to extract offsets for %s", bd->spec);
		sb_puts(b, json ? "null" : "<NA>");
		return;
	}
	if (json)
		sb_putc(b, '[');
	for (uint64_t i = 0; i < n; i++) {
		if (i)
			sb_putc(b, ',');
		sb_printf(b, json ? "[%u,%u]" : "%u+%u", vo->start[i], vo->length[i]);
	}
	if (json)
		sb_putc(b, ']');
}

static void format_one(sbuf *b, const ss_plugin_extract_field *f, uint64_t i, int json)
{
	switch (f->ftype) {
	case FTYPE_STRING:
		if (json)
			sb_json_str(b, f->res.str[i]);
		else
			sb_puts(b, f->res.str[i]);
		break;
	case FTYPE_BOOL:
		sb_puts(b, f->res.boolean[i] ? "true" : "false");
		break;
	case FTYPE_IPADDR:
	case FTYPE_IPNET: {
		const ss_plugin_byte_buffer *bb = &f->res.buf[i];
		char txt[INET6_ADDRSTRLEN + 8] = "";
		if (bb->ptr && (bb->len == 4 || bb->len == 16)) {
			inet_ntop(bb->len == 4 ? AF_INET : AF_INET6, bb->ptr, txt, sizeof txt);
		} else {
			snprintf(txt, sizeof txt, "<invalid len %u>", bb->len);
		}
		if (json)
			sb_json_str(b, txt);
		else
			sb_puts(b, txt);
		break;
	}
	default: /* uint64, reltime, abstime */
		sb_printf(b, "%llu", (unsigned long long)f->res.u64[i]);
	}
}

int extract_field(const field_bind *bd, const ss_plugin_event_input *in, sbuf *out, int json, int lock, char *err,
		  size_t errlen)
{
	plugin *p = bd->p;
	uint16_t type = in->evt->type;
	ss_plugin_extract_field f;
	ss_plugin_extract_value_offsets vo = {NULL, NULL};
	if (!p || !(p->extract_types[type / 8] & (1u << (type % 8)))) {
		sb_puts(out, json ? "null" : "<NA>");
		if (tl_offsets)
			put_offsets(bd, &f, &vo, 0);
		return 0;
	}
	fill_field(&f, bd);
	if (lock)
		pthread_mutex_lock(&p->lock);
	tables_lock();
	int r = extract_call_vo(p, &f, 1, in, tl_offsets ? &vo : NULL, err, errlen);
	if (tl_offsets && r >= 0)
		put_offsets(bd, &f, &vo, r); /* read under the lock too: valid until the next call */
	/* values live until the next extract_fields on this state: format them under the lock */
	if (r == 1 && f.res_len > 0) {
		int many = bd->def->is_list || f.res_len > 1;
		if (many && json)
			sb_putc(out, '[');
		for (uint64_t i = 0; i < f.res_len; i++) {
			if (i)
				sb_putc(out, ',');
			format_one(out, &f, i, json);
		}
		if (many && json)
			sb_putc(out, ']');
	} else if (r == 0 || r == 1) {
		sb_puts(out, json ? "null" : "<NA>");
		r = 0;
	}
	tables_unlock();
	if (lock)
		pthread_mutex_unlock(&p->lock);
	return r;
}
