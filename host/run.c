/*
 * falco-plugin-host run: the plugins' sessions, each event printed with the fields asked
 * (--fields), parsing, capture listening, metrics and the summaries.
 */
#include "host.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
	const cli_opts *o;
	field_bind *binds;
	size_t nbinds;
	sbuf line;
	sbuf offsets; /* --offsets */
	plugin **plugins; /* all loaded, for parsing */
	size_t np;
} run_ctx;

static void print_plugin_summaries(plugin **plugins, size_t np, int json)
{
	for (size_t i = 0; i < np; i++) {
		plugin *p = plugins[i];
		if (!(p->caps & (CAP_PARSING | CAP_CAPTURE_LISTENING)) && !p->tables_used)
			continue;
		sbuf b = {0};
		unsigned long long subs = __atomic_load_n(&p->routines_subscribed, __ATOMIC_RELAXED);
		unsigned long long runs = __atomic_load_n(&p->routine_runs, __ATOMIC_RELAXED);
		if (json) {
			sb_puts(&b, "{\"summary\":{\"plugin\":");
			sb_json_str(&b, p->name);
			sb_printf(&b,
				  ",\"kind\":\"plugin\",\"parsed\":%llu,\"parse_failures\":%llu,\"table_entries_unreleased\":%llu,"
				  "\"routines_subscribed\":%llu,\"routine_runs\":%llu}}\n",
				  (unsigned long long)p->parsed, (unsigned long long)p->parse_failures,
				  (unsigned long long)p->table_entries_unreleased, subs, runs);
		} else {
			sb_printf(&b,
				  "summary: plugin=%s kind=plugin parsed=%llu parse_failures=%llu table_entries_unreleased=%llu "
				  "routines_subscribed=%llu routine_runs=%llu\n",
				  p->name, (unsigned long long)p->parsed, (unsigned long long)p->parse_failures,
				  (unsigned long long)p->table_entries_unreleased, subs, runs);
		}
		write_line(&b);
		sb_free(&b);
	}
}

int print_session_end(plugin **plugins, const cli_opts *o)
{
	print_plugin_summaries(plugins, o->nspecs, o->json);
	int failed = o->metrics && metrics_print_all(plugins, o->nspecs, o->json, "end");
	if (o->dump_tables) {
		pthread_mutex_lock(&g_io_lock);
		tables_dump(stdout);
		pthread_mutex_unlock(&g_io_lock);
	}
	return failed;
}

static void payload_of(const ss_plugin_event *e, const uint8_t **data, size_t *len)
{
	const uint8_t *raw = (const uint8_t *)e;
	size_t off = (e->type == FPA_EVT_PLUGINEVENT && e->len >= FPA_PLUGIN_EVENT_PAYLOAD_OFFSET)
			     ? FPA_PLUGIN_EVENT_PAYLOAD_OFFSET
			     : sizeof(ss_plugin_event);
	*data = raw + off;
	*len = e->len > off ? e->len - off : 0;
}

/* evt.plugininfo: event_to_string for the source plugin's own 322 events, with libsinsp's
 * fallback text when it returns an empty string. */
static int event_info(session *s, const ss_plugin_event_input *in, sbuf *out, int json)
{
	plugin *p = s->p;
	const ss_plugin_event *e = in->evt;
	uint32_t pid = 0;
	if (!p->api.event_to_string || p->id == 0 || e->type != FPA_EVT_PLUGINEVENT)
		return 0;
	memcpy(&pid, (const uint8_t *)e + 34, 4);
	if (pid != p->id)
		return 0;
	sbuf txt = {0};
	if (s->lock)
		pthread_mutex_lock(&p->lock);
	const char *str = p->state ? p->api.event_to_string(p->state, in) : NULL;
	if (str)
		sb_puts(&txt, str);
	if (s->lock)
		pthread_mutex_unlock(&p->lock);
	if (!txt.len) {
		const uint8_t *data;
		size_t len;
		payload_of(e, &data, &len);
		sb_printf(&txt, "datalen=%zu data=", len);
		size_t show = len < 50 ? len : 50, i;
		for (i = 0; i < show && data[i] >= 0x20 && data[i] < 0x7f; i++)
			;
		if (i < show) {
			sb_puts(&txt, "<binary>");
		} else {
			sb_write(&txt, data, show);
			if (len > 50)
				sb_puts(&txt, "...");
		}
	}
	if (json) {
		sb_json_strn(out, txt.p, txt.len);
	} else {
		sb_puts(out, " info=");
		sb_write(out, txt.p, txt.len);
	}
	sb_free(&txt);
	return 1;
}

/* A timestamp for people (text mode): UTC with ns, "-" for "none" (all ones); --json keeps raw ns. */
static void sb_put_time(sbuf *b, uint64_t ts)
{
	if (ts == UINT64_MAX) {
		sb_putc(b, '-');
		return;
	}
	time_t secs = (time_t)(ts / 1000000000ull);
	struct tm tm;
	char text[32];
	if (!gmtime_r(&secs, &tm) || !strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm)) {
		sb_printf(b, "%llu", (unsigned long long)ts);
		return;
	}
	sb_printf(b, "%s.%09lluZ", text, (unsigned long long)(ts % 1000000000ull));
}

static int run_on_event(session *s, const ss_plugin_event_input *in)
{
	run_ctx *c = s->user;
	const cli_opts *o = c->o;
	sbuf *b = &c->line;
	const ss_plugin_event *e = in->evt;
	char err[HOST_ERRLEN];
	const uint8_t *data;
	size_t len;
	const char *async_name = NULL;
	b->len = 0;
	c->offsets.len = 0;
	sb_puts(&c->offsets, "");
	extract_offsets_to(o->offsets ? &c->offsets : NULL, o->json);
	/* a syscall-source plugin's events are parsed into the thread state like driver events
	 * (source_plugin.c, next), before the plugins parse them */
	int syscall_state = s->p->id == 0 && e->type != FPA_EVT_ASYNCEVENT;
	if (syscall_state) {
		tables_lock();
		threads_before_parse(e);
		tables_unlock();
	}
	parse_all(c->plugins, c->np, in, s->lock); /* before extraction (sinsp::next) */
	if (e->type == FPA_EVT_ASYNCEVENT)
		async_name = async_event_parts(e, &data, &len); /* checked by the handler */
	if (!async_name)
		payload_of(e, &data, &len);
	if (o->json) {
		sb_printf(b, "{\"evtnum\":%llu,\"source\":", (unsigned long long)in->evtnum);
		sb_json_str(b, s->source);
		sb_puts(b, ",\"plugin\":");
		sb_json_str(b, s->p->name);
		sb_printf(b, ",\"ts\":%llu,\"tid\":%llu,\"type\":%u,\"len\":%u,\"plugin_id\":",
			  (unsigned long long)e->ts, (unsigned long long)e->tid, e->type, e->len);
		if (e->type == FPA_EVT_PLUGINEVENT || async_name) {
			uint32_t pid;
			memcpy(&pid, (const uint8_t *)e + (async_name ? 38 : 34), 4);
			sb_printf(b, "%u", pid);
		} else {
			sb_puts(b, "null");
		}
		if (async_name) {
			sb_puts(b, ",\"async_name\":");
			sb_json_str(b, async_name);
		}
		sb_puts(b, ",\"payload_hex\":\"");
		static const char hex[] = "0123456789abcdef";
		sb_reserve(b, len * 2);
		for (size_t i = 0; i < len; i++) {
			b->p[b->len++] = hex[data[i] >> 4];
			b->p[b->len++] = hex[data[i] & 15];
		}
		b->p[b->len] = '\0';
		sb_puts(b, "\",\"fields\":{");
		for (size_t i = 0; i < c->nbinds; i++) {
			if (i)
				sb_putc(b, ',');
			sb_json_str(b, c->binds[i].spec);
			sb_putc(b, ':');
			if (extract_field(&c->binds[i], in, b, 1, s->lock, err, sizeof err) < 0) {
				errorf("%s", err);
				return -1;
			}
		}
		sb_puts(b, "},\"info\":");
		if (!event_info(s, in, b, 1))
			sb_puts(b, "null");
		if (o->offsets) {
			sb_puts(b, ",\"offsets\":{");
			sb_write(b, c->offsets.p, c->offsets.len);
			sb_putc(b, '}');
		}
		sb_puts(b, "}\n");
	} else {
		sb_printf(b, "#%llu [%s] ts=", (unsigned long long)in->evtnum, s->source);
		sb_put_time(b, e->ts);
		sb_printf(b, " tid=%llu len=%u ", (unsigned long long)e->tid, e->len);
		if (async_name) {
			sb_puts(b, "async=");
			sb_puts(b, async_name);
			sb_putc(b, ' ');
		}
		sb_puts(b, "payload=");
		size_t show = len < 64 ? len : 64;
		for (size_t i = 0; i < show; i++) {
			uint8_t ch = data[i];
			if (ch >= 0x20 && ch < 0x7f && ch != '\\')
				sb_putc(b, (char)ch);
			else
				sb_printf(b, "\\x%02x", ch);
		}
		for (size_t i = 0; i < c->nbinds; i++) {
			sb_putc(b, ' ');
			sb_puts(b, c->binds[i].spec);
			sb_putc(b, '=');
			if (extract_field(&c->binds[i], in, b, 0, s->lock, err, sizeof err) < 0) {
				errorf("%s", err);
				return -1;
			}
		}
		event_info(s, in, b, 0);
		if (o->offsets) {
			sb_puts(b, " offsets:");
			sb_write(b, c->offsets.p, c->offsets.len);
		}
		sb_putc(b, '\n');
	}
	if (syscall_state) {
		tables_lock();
		threads_after_parse(e, 1);
		tables_unlock();
	}
	if (!o->quiet)
		write_line(b);
	if (o->dump_every && s->events % o->dump_every == 0 && async_dump_all(c->plugins, c->np, o->json, s->lock, "every"))
		return -1;
	return 0;
}

/* --progress: what get_progress says after the last batch, appended to the summary. */
static void put_progress(session *s, sbuf *b, int json)
{
	if (!s->p->api.get_progress || !s->handle)
		return;
	uint32_t pct = 0;
	if (s->lock)
		pthread_mutex_lock(&s->p->lock);
	const char *text = s->p->api.get_progress(s->p->state, s->handle, &pct);
	if (s->lock)
		pthread_mutex_unlock(&s->p->lock);
	if (json) {
		sb_printf(b, ",\"progress_pct\":%u,\"progress_text\":", pct);
		if (text)
			sb_json_str(b, text);
		else
			sb_puts(b, "null");
	} else {
		sb_printf(b, " progress=%u.%02u%%", pct / 100, pct % 100);
	}
}

static void run_on_end(session *s)
{
	run_ctx *c = s->user;
	sbuf b = {0};
	if (c->o->json) {
		sb_puts(&b, "{\"summary\":{\"plugin\":");
		sb_json_str(&b, s->p->name);
		sb_puts(&b, ",\"source\":");
		sb_json_str(&b, s->source);
		sb_printf(&b,
			  ",\"events\":%llu,\"timeouts\":%llu,\"end\":\"%s\",\"async_events\":%llu,\"async_dropped\":%llu",
			  (unsigned long long)s->events, (unsigned long long)s->timeouts, end_name(s->end),
			  (unsigned long long)s->async_events, (unsigned long long)async_dropped(s));
		if (c->o->progress)
			put_progress(s, &b, 1);
		sb_puts(&b, "}}\n");
	} else {
		sb_printf(&b, "summary: plugin=%s source=%s events=%llu timeouts=%llu end=%s async_events=%llu async_dropped=%llu",
			  s->p->name, s->source, (unsigned long long)s->events, (unsigned long long)s->timeouts,
			  end_name(s->end), (unsigned long long)s->async_events, (unsigned long long)async_dropped(s));
		if (c->o->progress)
			put_progress(s, &b, 0);
		sb_putc(&b, '\n');
	}
	write_line(&b);
	sb_free(&b);
}

int cmd_run(int argc, char **argv)
{
	cli_opts o;
	if (parse_cli(argc, argv, 0, &o))
		return 2;
	plugin **plugins = calloc(o.nspecs, sizeof *plugins);
	field_req *reqs = NULL;
	size_t nreq = 0, nsess = 0;
	session *sess = NULL;
	run_ctx *ctx = NULL;
	int listening = 0;
	tables_init();
	int status = load_specs(&o, plugins);
	char err[HOST_ERRLEN];
	if (status)
		goto out_free;

	if (o.fields && (parse_field_list(o.fields, &reqs, &nreq, err, sizeof err) ||
			 check_field_reqs(plugins, o.nspecs, reqs, nreq, err, sizeof err))) {
		errorf("%s", err);
		status = 2;
		goto out;
	}
	for (size_t i = 0; i < o.nspecs; i++)
		if (plugins[i]->caps & CAP_SOURCING)
			nsess++;
	if (!nsess) {
		errorf("no plugin with the event sourcing capability given: nothing to run");
		for (size_t i = 0; i < o.nspecs; i++) {
			const char *path = o.specs[i].path, *name = plugins[i]->name;
			if (plugins[i]->caps & CAP_ASYNC)
				fprintf(stderr,
					"hint: %s is an async event plugin: it injects events into the stream of a source "
					"plugin, so run it beside one: falco-plugin run SOURCE.so --plugin %s "
					"(host: run -p SOURCE.so -p %s)\n",
					name, path, path);
			else if (plugins[i]->caps & (CAP_EXTRACTION | CAP_PARSING))
				fprintf(stderr,
					"hint: %s parses or extracts from events it does not produce: run it beside a source "
					"plugin (falco-plugin run SOURCE.so --plugin %s) or on a capture "
					"(falco-plugin replay FILE.scap %s)\n",
					name, path, path);
		}
		status = 2;
		goto out;
	}
	for (size_t i = 0; i < o.nspecs; i++) {
		int failed = plugin_init(plugins[i], err, sizeof err);
		if (!failed && o.show_init)
			print_plugin_init(plugins[i], o.json);
		if (failed || plugin_check_schema_version(plugins[i], o.engine_schema, err, sizeof err)) {
			errorf("%s", err);
			status = 1;
			goto out;
		}
	}

	sess = calloc(nsess, sizeof *sess);
	ctx = calloc(nsess, sizeof *ctx);
	session **running = calloc(nsess, sizeof *running);
	size_t nrun = 0, k = 0;
	/* build every session, attach the async plugins, then open them in order */
	for (size_t i = 0; i < o.nspecs; i++) {
		plugin *p = plugins[i];
		if (!(p->caps & CAP_SOURCING))
			continue;
		session *s = &sess[k];
		run_ctx *c = &ctx[k++];
		c->o = &o;
		c->plugins = plugins;
		c->np = o.nspecs;
		c->nbinds = nreq;
		c->binds = calloc(nreq ? nreq : 1, sizeof *c->binds);
		s->p = p;
		s->source = p->id ? p->event_source : "syscall";
		bind_fields(plugins, o.nspecs, p, s->source, reqs, nreq, c->binds);
		s->limit = o.limit;
		s->duration_ns = (uint64_t)(o.duration * 1e9);
		s->lock = nsess > 1;
		s->hold_async_lock = o.hold_async_lock;
		s->on_event = run_on_event;
		s->on_end = run_on_end;
		s->user = c;
	}
	tables_set_locking(nsess > 1);
	async_attach(plugins, o.nspecs, sess, nsess);
	for (k = 0; k < nsess; k++) {
		session *s = &sess[k];
		if (session_open(s) == 0 && async_session_start(s) == 0) {
			running[nrun++] = s;
		} else {
			s->end = END_OPEN_FAILED;
			run_on_end(s);
		}
	}
	/* capture listening once the capture is open and the async handlers set (sinsp::open_plugin) */
	for (size_t i = 0; i < o.nspecs; i++)
		if (plugins[i]->caps & CAP_CAPTURE_LISTENING)
			listening = 1;
	if (listening && nrun) {
		pool_start(o.pool_threads);
		if (listen_open_all(plugins, o.nspecs)) {
			status = 1;
			for (k = 0; k < nrun; k++) {
				running[k]->end = END_OPEN_FAILED;
				run_on_end(running[k]);
			}
			nrun = 0;
		}
	}
	if (o.metrics_interval > 0 && nrun)
		metrics_thread_start(plugins, o.nspecs, o.metrics_interval, o.json);
	if (nrun)
		sessions_run(running, nrun);
	if (metrics_thread_stop())
		status = 1;
	/* as when a capture dump is opened while capturing: before close (sinsp_dumper::open) */
	if (o.dump_state && nrun && async_dump_all(plugins, o.nspecs, o.json, nsess > 1, "end"))
		status = 1;
	free(running);
	for (size_t i = 0; i < nsess; i++) {
		session_close(&sess[i]);
		if (async_session_stop(&sess[i]))
			status = 1;
		if (sess[i].end == END_FAILURE || sess[i].end == END_OPEN_FAILED)
			status = 1;
		else if (sess[i].end == END_INTERRUPTED && !status)
			status = 130;
	}
	if (listen_close_all(plugins, o.nspecs))
		status = 1;
	pool_stop(); /* purge: queued routines dropped, running ones waited for (sinsp::close) */
	if (print_session_end(plugins, &o))
		status = 1;
out:
	unload_all(plugins, o.nspecs);
out_free:
	for (size_t i = 0; sess && i < nsess; i++)
		async_session_free(&sess[i]);
	for (size_t i = 0; ctx && i < nsess; i++) {
		free(ctx[i].binds);
		sb_free(&ctx[i].line);
		sb_free(&ctx[i].offsets);
	}
	free(ctx);
	free(sess);
	free_field_reqs(reqs, nreq);
	free(plugins);
	free(o.specs);
	tables_shutdown();
	return status;
}
