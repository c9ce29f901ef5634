/*
 * `replay`: the events of a scap capture through parsing and extraction, in order, as libsinsp
 * reads a capture file: plugins are inited, the capture is opened (its process and fd lists
 * fill the threads table), capture listeners get capture_open (sinsp.cpp: listening also happens for
 * capture files; async handlers are not set for files), then for each event: the host's minimal
 * thread-state update (threads.c), parse_event of the parsing plugins in load order, extraction
 * of --fields, the event line, and procexit's removal of the thread. Events are of source
 * "syscall" (plugin id 0).
 *
 * `bench-parse`: the capture's events in memory, one untimed warm-up pass with the state update
 * (procexit removals skipped so that every pass sees the same table), then K timed passes of
 * parse_event alone (filters and the call bookkeeping included), per parsing plugin.
 */
#include "host.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
	ss_plugin_event **evts;
	size_t n;
} event_list;

static void print_event(const cli_opts *o, sbuf *b, const ss_plugin_event_input *in, uint16_t cpu,
			const field_bind *binds, size_t nbinds, int *failed)
{
	const ss_plugin_event *e = in->evt;
	const char *name = e->type < g_event_max && g_event_table[e->type].name ? g_event_table[e->type].name : "?";
	char err[HOST_ERRLEN];
	b->len = 0;
	sbuf offs = {0};
	sb_puts(&offs, "");
	extract_offsets_to(o->offsets ? &offs : NULL, o->json);
	if (o->json) {
		sb_printf(b, "{\"evtnum\":%llu,\"source\":\"syscall\",\"ts\":%llu,\"tid\":%llu,\"type\":%u,\"name\":",
			  (unsigned long long)in->evtnum, (unsigned long long)e->ts, (unsigned long long)e->tid, e->type);
		sb_json_str(b, name);
		sb_printf(b, ",\"len\":%u,\"cpu\":%u,\"fields\":{", e->len, cpu);
	} else {
		sb_printf(b, "#%llu [syscall] ts=%llu tid=%llu type=%s(%u) len=%u cpu=%u", (unsigned long long)in->evtnum,
			  (unsigned long long)e->ts, (unsigned long long)e->tid, name, e->type, e->len, cpu);
	}
	for (size_t i = 0; i < nbinds; i++) {
		if (o->json) {
			if (i)
				sb_putc(b, ',');
			sb_json_str(b, binds[i].spec);
			sb_putc(b, ':');
		} else {
			sb_putc(b, ' ');
			sb_puts(b, binds[i].spec);
			sb_putc(b, '=');
		}
		if (extract_field(&binds[i], in, b, o->json, 0, err, sizeof err) < 0) {
			errorf("%s", err);
			*failed = 1;
			sb_free(&offs);
			return;
		}
	}
	if (o->offsets) {
		sb_puts(b, o->json ? "},\"offsets\":{" : " offsets:");
		sb_write(b, offs.p, offs.len);
	}
	sb_free(&offs);
	sb_puts(b, o->json ? "}}\n" : "\n");
	if (!o->quiet)
		write_line(b);
}

static int init_all(plugin **plugins, size_t np, const cli_opts *o)
{
	char err[HOST_ERRLEN];
	for (size_t i = 0; i < np; i++) {
		int failed = plugin_init(plugins[i], err, sizeof err);
		if (!failed && o->show_init)
			print_plugin_init(plugins[i], o->json);
		if (failed || plugin_check_schema_version(plugins[i], o->engine_schema, err, sizeof err)) {
			errorf("%s", err);
			return -1;
		}
	}
	return 0;
}

int cmd_replay(int argc, char **argv)
{
	cli_opts o;
	if (parse_cli(argc, argv, CLI_REPLAY, &o))
		return 2;
	plugin **plugins = calloc(o.nspecs, sizeof *plugins);
	field_req *reqs = NULL;
	field_bind *binds = NULL;
	size_t nreq = 0;
	capture *cap = NULL;
	sbuf line = {0};
	char err[HOST_ERRLEN];
	end_reason end = END_EOF;
	uint64_t events = 0;
	tables_init();
	int status = load_specs(&o, plugins);
	if (status)
		goto out_free;
	if (o.fields && (parse_field_list(o.fields, &reqs, &nreq, err, sizeof err) ||
			 check_field_reqs(plugins, o.nspecs, reqs, nreq, err, sizeof err))) {
		errorf("%s", err);
		status = 2;
		goto out;
	}
	if (init_all(plugins, o.nspecs, &o)) {
		status = 1;
		goto out;
	}
	cap = capture_open_file(o.capture, err, sizeof err);
	if (!cap) {
		errorf("%s", err);
		status = 1;
		goto out;
	}
	binds = calloc(nreq ? nreq : 1, sizeof *binds);
	bind_fields(plugins, o.nspecs, NULL, "syscall", reqs, nreq, binds);

	int listening = 0;
	for (size_t i = 0; i < o.nspecs; i++)
		if (plugins[i]->caps & CAP_CAPTURE_LISTENING)
			listening = 1;
	if (listening) {
		pool_start(o.pool_threads);
		if (listen_open_all(plugins, o.nspecs)) {
			status = 1;
			end = END_OPEN_FAILED;
		}
	}
	if (end == END_EOF && o.metrics_interval > 0)
		metrics_thread_start(plugins, o.nspecs, o.metrics_interval, o.json);
	while (end == END_EOF) {
		if (g_interrupted) {
			end = END_INTERRUPTED;
			status = 130;
			break;
		}
		if (o.limit && events >= o.limit) {
			end = END_LIMIT;
			break;
		}
		ss_plugin_event *e;
		uint16_t cpu = 0;
		int r = capture_next(cap, &e, &cpu, err, sizeof err);
		if (r == 1)
			break;
		if (r < 0) {
			errorf("%s", err);
			end = END_FAILURE;
			status = 1;
			break;
		}
		ss_plugin_event_input in = {e, ++events, "syscall"};
		threads_before_parse(e);
		parse_all(plugins, o.nspecs, &in, 0);
		int failed = 0;
		print_event(&o, &line, &in, cpu, binds, nreq, &failed);
		threads_after_parse(e, 1);
		if (!failed && o.dump_every && events % o.dump_every == 0 &&
		    async_dump_all(plugins, o.nspecs, o.json, 0, "every"))
			failed = 1;
		if (failed) {
			end = END_FAILURE;
			status = 1;
		}
	}
	if (o.dump_state && end != END_OPEN_FAILED && async_dump_all(plugins, o.nspecs, o.json, 0, "end"))
		status = 1;
	if (metrics_thread_stop())
		status = 1;
	if (listen_close_all(plugins, o.nspecs))
		status = 1;
	pool_stop();

	sbuf b = {0};
	if (o.json) {
		sb_puts(&b, "{\"summary\":{\"capture\":");
		sb_json_str(&b, o.capture);
		sb_printf(&b,
			  ",\"source\":\"syscall\",\"events\":%llu,\"end\":\"%s\",\"procs\":%llu,\"fds\":%llu,\"threads\":%llu}}"
			  "\n",
			  (unsigned long long)events, end_name(end), (unsigned long long)capture_procs(cap),
			  (unsigned long long)capture_fds(cap), (unsigned long long)ht_size(threads_table()));
	} else {
		sb_printf(&b, "summary: capture=%s source=syscall events=%llu end=%s procs=%llu fds=%llu threads=%llu\n",
			  o.capture, (unsigned long long)events, end_name(end), (unsigned long long)capture_procs(cap),
			  (unsigned long long)capture_fds(cap), (unsigned long long)ht_size(threads_table()));
	}
	write_line(&b);
	sb_free(&b);
	if (print_session_end(plugins, &o))
		status = 1;
out:
	unload_all(plugins, o.nspecs);
out_free:
	capture_close_file(cap);
	sb_free(&line);
	free(binds);
	free_field_reqs(reqs, nreq);
	free(plugins);
	free(o.specs);
	tables_shutdown();
	return status;
}

/* ---- bench-parse ---- */

#define BENCH_PARSE_DEFAULT_REPEAT 100

static int load_events(capture *cap, event_list *l, char *err, size_t errlen)
{
	size_t cap_n = 0;
	for (;;) {
		ss_plugin_event *e;
		uint16_t cpu;
		int r = capture_next(cap, &e, &cpu, err, errlen);
		if (r == 1)
			return 0;
		if (r < 0)
			return -1;
		if (l->n == cap_n) {
			cap_n = cap_n ? cap_n * 2 : 1024;
			l->evts = realloc(l->evts, cap_n * sizeof *l->evts);
			if (!l->evts)
				abort();
		}
		ss_plugin_event *copy = malloc(e->len);
		if (!copy)
			abort();
		memcpy(copy, e, e->len);
		l->evts[l->n++] = copy;
	}
}

int cmd_bench_parse(int argc, char **argv)
{
	cli_opts o;
	if (parse_cli(argc, argv, CLI_BENCH_PARSE, &o))
		return 2;
	uint64_t repeat = o.repeat ? o.repeat : BENCH_PARSE_DEFAULT_REPEAT;
	plugin **plugins = calloc(o.nspecs, sizeof *plugins);
	capture *cap = NULL;
	event_list evs = {NULL, 0};
	char err[HOST_ERRLEN];
	tables_init();
	int status = load_specs(&o, plugins);
	if (status)
		goto out_free;
	size_t nparse = 0;
	for (size_t i = 0; i < o.nspecs; i++)
		if (plugins[i]->caps & CAP_PARSING)
			nparse++;
	if (!nparse) {
		errorf("no plugin with the event parsing capability given: nothing to bench");
		status = 2;
		goto out;
	}
	if (init_all(plugins, o.nspecs, &o)) {
		status = 1;
		goto out;
	}
	cap = capture_open_file(o.capture, err, sizeof err);
	if (!cap || load_events(cap, &evs, err, sizeof err)) {
		errorf("%s", err);
		status = 1;
		goto out;
	}
	/* warm-up: the state update and every parser, untimed; no procexit removal */
	for (size_t k = 0; k < evs.n; k++) {
		ss_plugin_event_input in = {evs.evts[k], k + 1, "syscall"};
		threads_before_parse(evs.evts[k]);
		parse_all(plugins, o.nspecs, &in, 0);
		threads_after_parse(evs.evts[k], 0);
	}
	for (size_t i = 0; i < o.nspecs && !g_interrupted; i++) {
		plugin *p = plugins[i];
		if (!(p->caps & CAP_PARSING))
			continue;
		plugin *only[1] = {p};
		uint64_t before = p->parsed;
		uint64_t t0 = now_monotonic_ns();
		for (uint64_t r = 0; r < repeat; r++) {
			for (size_t k = 0; k < evs.n; k++) {
				ss_plugin_event_input in = {evs.evts[k], r * evs.n + k + 1, "syscall"};
				parse_all(only, 1, &in, 0);
			}
		}
		uint64_t t1 = now_monotonic_ns();
		uint64_t total = repeat * evs.n;
		sbuf b = {0};
		sb_puts(&b, "{\"bench\":{\"plugin\":");
		sb_json_str(&b, p->name);
		sb_printf(&b,
			  ",\"events\":%zu,\"passes\":%llu,\"parsed_per_pass\":%llu,\"ns_per_event\":%.3f,"
			  "\"parse_failures\":%llu,\"table_entries_unreleased\":%llu}}\n",
			  evs.n, (unsigned long long)repeat, (unsigned long long)((p->parsed - before) / repeat),
			  total ? (double)(t1 - t0) / (double)total : 0.0, (unsigned long long)p->parse_failures,
			  (unsigned long long)p->table_entries_unreleased);
		write_line(&b);
		sb_free(&b);
	}
	if (g_interrupted)
		status = 130;
out:
	unload_all(plugins, o.nspecs);
out_free:
	for (size_t k = 0; k < evs.n; k++)
		free(evs.evts[k]);
	free(evs.evts);
	capture_close_file(cap);
	free(plugins);
	free(o.specs);
	tables_shutdown();
	return status;
}
