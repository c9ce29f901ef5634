/*
 * Event parsing (plugin-api-facts.md, Parsing): after init, each CAP_PARSING plugin's parse
 * event types (get_parse_event_types; NULL or empty: every type if its parse sources include
 * "syscall", else only 322, as for extraction) and parse sources (get_parse_event_sources; a
 * sourcing plugin with an ID gets its own source; empty means all). For each event, before
 * extraction, parse_event of every parsing plugin in load order whose filters match, with the
 * reader and writer vtables (deprecated embedded and _ext). The rc is ignored, as libsinsp does;
 * failures are counted and each distinct get_last_error message is logged once.
 */
#include "host.h"

#include <stdlib.h>
#include <string.h>

#define MAX_DISTINCT_ERRORS 64

int parse_source_compatible(const plugin *p, const char *source)
{
	if (p->parse_all_sources)
		return 1;
	if (p->event_source[0] && strcmp(p->event_source, source) == 0)
		return 1;
	if (p->parse_sources)
		for (size_t i = 0; i < p->parse_sources->n; i++)
			if (strcmp(p->parse_sources->v[i], source) == 0)
				return 1;
	return 0;
}

void parse_setup(plugin *p)
{
	if (!(p->caps & CAP_PARSING) || !p->state)
		return;
	p->parse_all_sources = (!p->parse_sources || p->parse_sources->n == 0) && !p->event_source[0];
	free(p->parse_types);
	p->parse_types = calloc(65536 / 8, 1);
	if (!p->parse_types)
		abort();
	uint32_t n = 0;
	uint16_t *types = p->api.get_parse_event_types ? p->api.get_parse_event_types(&n, p->state) : NULL;
	p->parse_types_declared = types ? (int64_t)n : -1;
	if (types)
		for (uint32_t i = 0; i < n; i++)
			p->parse_types[types[i] / 8] |= (uint8_t)(1u << (types[i] % 8));
	if (!types || n == 0) {
		if (parse_source_compatible(p, "syscall"))
			memset(p->parse_types, 0xff, 65536 / 8);
		else
			p->parse_types[FPA_EVT_PLUGINEVENT / 8] |= (uint8_t)(1u << (FPA_EVT_PLUGINEVENT % 8));
	}
	memset(&p->parse_in, 0, sizeof p->parse_in);
	p->parse_in.owner = p;
	p->parse_in.get_owner_last_error = host_get_owner_last_error;
	p->parse_in.table_reader = g_reader_old;
	p->parse_in.table_writer = g_writer_old;
	p->parse_in.table_reader_ext = &g_reader_ext;
	p->parse_in.table_writer_ext = &g_writer_ext;
}

static void note_failure(plugin *p)
{
	p->parse_failures++;
	const char *msg = plugin_last_error(p);
	strlist *seen = p->parse_errors_seen;
	if (!seen) {
		seen = p->parse_errors_seen = calloc(1, sizeof *seen);
		if (!seen)
			abort();
	}
	for (size_t i = 0; i < seen->n; i++)
		if (strcmp(seen->v[i], msg) == 0)
			return;
	if (seen->n >= MAX_DISTINCT_ERRORS)
		return;
	char **v = realloc(seen->v, (seen->n + 1) * sizeof *v);
	if (!v)
		abort();
	seen->v = v;
	seen->v[seen->n] = strdup(msg);
	if (!seen->v[seen->n])
		abort();
	seen->n++;
	char line[HOST_ERRLEN + 64];
	snprintf(line, sizeof line, "parse_event failed: %s", msg);
	host_log_fn(p, NULL, line, SS_PLUGIN_LOG_SEV_ERROR);
}

void parse_one(plugin *p, const ss_plugin_event_input *in)
{
	tables_call_begin(p, CALL_PARSE);
	ss_plugin_rc rc = p->api.parse_event(p->state, in, &p->parse_in);
	tables_call_end(p);
	p->parsed++;
	if (rc != SS_PLUGIN_SUCCESS)
		note_failure(p);
}

void parse_all(plugin **plugins, size_t np, const ss_plugin_event_input *in, int lock)
{
	uint16_t type = in->evt->type;
	for (size_t i = 0; i < np; i++) {
		plugin *p = plugins[i];
		if (!(p->caps & CAP_PARSING) || !p->state || !p->parse_types)
			continue;
		if (!(p->parse_types[type / 8] & (1u << (type % 8))) || !parse_source_compatible(p, in->evtsrc))
			continue;
		if (lock)
			pthread_mutex_lock(&p->lock);
		tables_lock();
		parse_one(p, in);
		tables_unlock();
		if (lock)
			pthread_mutex_unlock(&p->lock);
	}
}
