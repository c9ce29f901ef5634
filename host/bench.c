/*
 * bench: per plugin spec, cold start (dlopen to init returned), then one session to EOF
 * consumed exactly as `run` does it (same checks and patches) but silently, extracting the
 * requested fields per event; one JSON line of results per spec.
 *
 * --work-kib K: between events, write K KiB (one byte per cache line) of a 4 MiB ring, as
 * Falco's own work between two plugin calls evicts the caches that a tight loop keeps warm.
 *
 * Peak RSS is the process's VmHWM: getrusage's ru_maxrss survives exec, so it would report
 * the parent's peak (a Python harness) when that was larger.
 */
#include "host.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RSS_EVERY 1000000
#define WORK_RING (4u << 20)

typedef struct {
	field_bind *binds;
	size_t nbinds;
	int per_call;
	ss_plugin_extract_field *fields; /* per-call mode: all fields, one call */
	uint64_t sink;
	uint64_t *rss;
	size_t nrss;
	uint8_t *work; /* --work-kib: the ring, and how much of it each event touches */
	size_t work_bytes, work_at;
} bench_ctx;

static void touch_work(bench_ctx *c)
{
	for (size_t i = 0; i < c->work_bytes; i += 64) {
		c->work[c->work_at] += (uint8_t)c->sink;
		c->work_at = (c->work_at + 64) % WORK_RING;
	}
}

/* CPU time of the whole process (every thread), in ns: on a shared machine, wall time also
 * counts the time other processes ran. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long long size = 0, resident = 0;
	if (f) {
		if (fscanf(f, "%llu %llu", &size, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * (uint64_t)sysconf(_SC_PAGESIZE) / 1024;
}

/* VmHWM, the peak resident set of this process image, in KiB. */
static uint64_t peak_rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long kb = 0;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmHWM: %llu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

static void rss_sample(bench_ctx *c)
{
	uint64_t *v = realloc(c->rss, (c->nrss + 1) * sizeof *v);
	if (!v)
		abort();
	c->rss = v;
	c->rss[c->nrss++] = rss_kb();
}

/* Read the values as libsinsp would (strlen for strings), so they are really produced. */
static void consume(bench_ctx *c, const ss_plugin_extract_field *f)
{
	for (uint64_t i = 0; i < f->res_len; i++) {
		switch (f->ftype) {
		case FTYPE_STRING: c->sink += strlen(f->res.str[i]); break;
		case FTYPE_BOOL: c->sink += f->res.boolean[i]; break;
		case FTYPE_IPADDR:
		case FTYPE_IPNET: c->sink += f->res.buf[i].len; break;
		default: c->sink += f->res.u64[i];
		}
	}
}

static int bench_on_event(session *s, const ss_plugin_event_input *in)
{
	bench_ctx *c = s->user;
	char err[HOST_ERRLEN];
	uint16_t type = in->evt->type;
	if (c->nbinds) {
		plugin *p = c->binds[0].p;
		if (c->per_call) {
			if (p->extract_types[type / 8] & (1u << (type % 8))) {
				for (size_t i = 0; i < c->nbinds; i++)
					fill_field(&c->fields[i], &c->binds[i]); /* outputs back to garbage */
				int r = extract_call(p, c->fields, (uint32_t)c->nbinds, in, err, sizeof err);
				if (r < 0) {
					errorf("%s", err);
					return -1;
				}
				if (r == 1)
					for (size_t i = 0; i < c->nbinds; i++)
						consume(c, &c->fields[i]);
			}
		} else {
			for (size_t i = 0; i < c->nbinds; i++) {
				const field_bind *b = &c->binds[i];
				if (!b->p || !(b->p->extract_types[type / 8] & (1u << (type % 8))))
					continue;
				ss_plugin_extract_field f;
				fill_field(&f, b);
				int r = extract_call(b->p, &f, 1, in, err, sizeof err);
				if (r < 0) {
					errorf("%s", err);
					return -1;
				}
				if (r == 1)
					consume(c, &f);
			}
		}
	}
	if (c->work)
		touch_work(c);
	if (s->events % RSS_EVERY == 0)
		rss_sample(c);
	return 0;
}

/* Libraries stay loaded until every spec is done (the caller unloads them): a second spec of
 * the same library reuses the loaded image, as a new registration in one process would. */
static int bench_one(const cli_opts *o, const plugin_spec *spec, const field_req *reqs, size_t nreq, plugin *p)
{
	char err[HOST_ERRLEN];
	char events_param[32];
	plugin *plugins[1] = {p};
	bench_ctx c = {0};
	session s = {0};
	int status = 0;

	uint64_t rss_before = rss_kb();
	uint64_t t0 = now_monotonic_ns();
	p->config = spec->config;
	p->open_params = spec->open_params;
	if (!p->open_params && o->events) {
		snprintf(events_param, sizeof events_param, "%llu", (unsigned long long)o->events);
		p->open_params = events_param;
	}
	if (plugin_load(p, spec->path, err)) {
		errorf("could not load plugin %s: %s", spec->path, err);
		status = 2;
		goto out;
	}
	if (!(p->caps & CAP_SOURCING)) {
		errorf("plugin %s has no event sourcing capability: nothing to bench", p->name);
		status = 2;
		goto out;
	}
	if (check_field_reqs(plugins, 1, reqs, nreq, err, sizeof err)) {
		errorf("%s", err);
		status = 2;
		goto out;
	}
	if (plugin_init(p, err, sizeof err)) {
		errorf("%s", err);
		status = 1;
		goto out;
	}
	double cold_ms = (double)(now_monotonic_ns() - t0) / 1e6;
	uint64_t rss_init = rss_kb();

	s.p = p;
	s.source = p->id ? p->event_source : "syscall";
	s.limit = o->events;
	s.on_event = bench_on_event;
	s.user = &c;
	c.per_call = o->per_call;
	c.nbinds = nreq;
	c.binds = calloc(nreq ? nreq : 1, sizeof *c.binds);
	bind_fields(plugins, 1, p, s.source, reqs, nreq, c.binds);
	for (size_t i = 0; i < nreq; i++) {
		if (!c.binds[i].p) {
			errorf("field %s cannot be extracted from source %s by plugin %s", reqs[i].name, s.source,
			       p->name);
			status = 2;
			goto out;
		}
	}
	if (c.per_call)
		c.fields = calloc(nreq ? nreq : 1, sizeof *c.fields);
	if (o->work_kib) {
		c.work_bytes = (size_t)o->work_kib * 1024;
		if (!(c.work = calloc(1, WORK_RING))) {
			errorf("out of memory for --work-kib");
			status = 1;
			goto out;
		}
	}

	if (session_open(&s)) {
		session_close(&s);
		status = 1;
		goto out;
	}
	uint64_t t1 = now_monotonic_ns(), c1 = cpu_ns();
	session_loop(&s);
	uint64_t t2 = now_monotonic_ns(), c2 = cpu_ns();
	session_close(&s);
	if (s.end == END_FAILURE) {
		status = 1;
		goto out;
	}
	if (s.end == END_INTERRUPTED)
		status = 130;

	sbuf b = {0};
	sb_puts(&b, "{\"plugin\":");
	sb_json_str(&b, p->name);
	sb_printf(&b,
		  ",\"events\":%llu,\"batches\":%llu,\"timeouts\":%llu,\"ns_per_event\":%.3f,\"cpu_ns_per_event\":%.3f,\"cold_start_ms\":%.3f,"
		  "\"rss_before_load_kb\":%llu,\"rss_after_init_kb\":%llu,\"rss_kb_samples\":[",
		  (unsigned long long)s.events, (unsigned long long)s.batches, (unsigned long long)s.timeouts,
		  s.events ? (double)(t2 - t1) / (double)s.events : 0.0,
		  s.events ? (double)(c2 - c1) / (double)s.events : 0.0, cold_ms, (unsigned long long)rss_before,
		  (unsigned long long)rss_init);
	for (size_t i = 0; i < c.nrss; i++)
		sb_printf(&b, "%s%llu", i ? "," : "", (unsigned long long)c.rss[i]);
	sb_printf(&b, "],\"peak_rss_kb\":%llu}\n", (unsigned long long)peak_rss_kb());
	pthread_mutex_lock(&g_io_lock);
	fputs(b.p, stdout);
	fflush(stdout);
	pthread_mutex_unlock(&g_io_lock);
	sb_free(&b);
out:
	if (p->state) { /* teardown of this spec; dlclose comes at the end */
		p->api.destroy(p->state);
		p->state = NULL;
	}
	free(c.binds);
	free(c.fields);
	free(c.rss);
	free(c.work);
	return status;
}

int cmd_bench(int argc, char **argv)
{
	cli_opts o;
	field_req *reqs = NULL;
	size_t nreq = 0;
	char err[HOST_ERRLEN];
	int status = 0;
	if (parse_cli(argc, argv, 1, &o))
		return 2;
	if (o.fields && parse_field_list(o.fields, &reqs, &nreq, err, sizeof err)) {
		errorf("%s", err);
		status = 2;
	}
	plugin **loaded = calloc(o.nspecs, sizeof *loaded);
	for (size_t i = 0; i < o.nspecs && !status; i++) {
		loaded[i] = calloc(1, sizeof *loaded[i]);
		status = bench_one(&o, &o.specs[i], reqs, nreq, loaded[i]);
	}
	unload_all(loaded, o.nspecs);
	free(loaded);
	free_field_reqs(reqs, nreq);
	free(o.specs);
	return status;
}
