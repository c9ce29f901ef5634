/*
 * The command line of falco-plugin-host: the usage text, the options of run, replay, bench and
 * bench-parse (parse_cli), and loading and unloading the plugins they name.
 */
#include "host.h"

#include <stdlib.h>
#include <string.h>

const char cli_usage[] =
	"usage:\n"
	"  falco-plugin-host info LIB.so\n"
	"  falco-plugin-host run [-n N] [--json] [--quiet] [--fields LIST] [--duration SECONDS] [--hold-async-lock]\n"
	"                        [--progress]\n"
	"                        [--dump-tables] [--metrics] [--metrics-interval SECONDS] [--pool-threads N]\n"
	"                        [--engine-schema-version M.m.p] [--show-init] [--dump-state] [--dump-state-every N]\n"
	"                        [--offsets]\n"
	"                        -p LIB.so [-c CONFIG] [-o OPEN_PARAMS] [-p LIB2.so ...]\n"
	"  falco-plugin-host replay --capture FILE.scap [-n N] [--json] [--quiet] [--fields LIST] [--dump-tables]\n"
	"                        [--metrics] [--metrics-interval SECONDS] [--pool-threads N]\n"
	"                        [--engine-schema-version M.m.p] [--show-init] [--dump-state] [--dump-state-every N]\n"
	"                        -p LIB.so [-c CONFIG] [-p LIB2.so ...]\n"
	"  falco-plugin-host bench [--events N] [--fields LIST] [--fields-per-call] [--work-kib K]\n"
	"                        -p LIB.so [-c CONFIG] [-o OPEN_PARAMS] [-p ...]\n"
	"  falco-plugin-host bench-async [--events N] -p LIB.so [-c CONFIG] [-p ...]\n"
	"  falco-plugin-host bench-parse --capture FILE.scap [--repeat K] -p LIB.so [-c CONFIG] [-p ...]\n";

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	if (!s || !*s || *s == '-')
		return -1;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end)
		return -1;
	*out = v;
	return 0;
}

static int parse_seconds(const char *opt, const char *val, double *out)
{
	char *end;
	*out = strtod(val, &end);
	if (*end || !(*out > 0)) {
		fprintf(stderr, "error: %s needs a positive number of seconds\n", opt);
		return -1;
	}
	return 0;
}

static int parse_cli_inner(int argc, char **argv, int mode, cli_opts *o);

int parse_cli(int argc, char **argv, int mode, cli_opts *o)
{
	int r = parse_cli_inner(argc, argv, mode, o);
	if (r) {
		free(o->specs);
		o->specs = NULL;
	}
	return r;
}

static int parse_cli_inner(int argc, char **argv, int mode, cli_opts *o)
{
	int bench = mode == CLI_BENCH, run = mode == CLI_RUN, replay = mode == CLI_REPLAY;
	int bparse = mode == CLI_BENCH_PARSE;
	int runlike = run || replay; /* event output, tables, listening, metrics */
	memset(o, 0, sizeof *o);
	o->pool_threads = 2;
	o->specs = calloc((size_t)argc + 1, sizeof *o->specs);
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *val = NULL;
		char opt[64];
		snprintf(opt, sizeof opt, "%s", a);
		char *eq = strncmp(a, "--", 2) == 0 ? strchr(opt, '=') : NULL;
		if (eq) {
			*eq = '\0';
			val = a + (eq - opt) + 1;
		}
		int takes = !strcmp(opt, "-p") || !strcmp(opt, "-c") || (!replay && !bparse && !strcmp(opt, "-o")) ||
			    (!bparse && !strcmp(opt, "--fields")) ||
			    (runlike && (!strcmp(opt, "-n") || !strcmp(opt, "--metrics-interval") ||
					 !strcmp(opt, "--pool-threads"))) ||
			    (run && !strcmp(opt, "--duration")) ||
			    (bench && (!strcmp(opt, "--events") || !strcmp(opt, "--work-kib"))) ||
			    ((replay || bparse) && !strcmp(opt, "--capture")) || (bparse && !strcmp(opt, "--repeat")) ||
			    (runlike && (!strcmp(opt, "--engine-schema-version") || !strcmp(opt, "--dump-state-every")));
		if (takes && !val) {
			if (i + 1 >= argc) {
				fprintf(stderr, "error: option %s needs a value\n%s", opt, cli_usage);
				return -1;
			}
			val = argv[++i];
		}
		if (!strcmp(opt, "-p")) {
			o->specs[o->nspecs++].path = val;
		} else if (!strcmp(opt, "-c") || (takes && !strcmp(opt, "-o"))) {
			if (!o->nspecs) {
				fprintf(stderr, "error: %s must follow a -p LIB.so\n%s", opt, cli_usage);
				return -1;
			}
			if (opt[1] == 'c')
				o->specs[o->nspecs - 1].config = val;
			else
				o->specs[o->nspecs - 1].open_params = val;
		} else if (takes && !strcmp(opt, "--fields")) {
			o->fields = val;
		} else if (takes && !strcmp(opt, "-n")) {
			if (parse_u64(val, &o->limit)) {
				fprintf(stderr, "error: -n needs a number of events\n");
				return -1;
			}
		} else if (takes && !strcmp(opt, "--duration")) {
			if (parse_seconds("--duration", val, &o->duration))
				return -1;
		} else if (takes && !strcmp(opt, "--metrics-interval")) {
			if (parse_seconds("--metrics-interval", val, &o->metrics_interval))
				return -1;
		} else if (takes && !strcmp(opt, "--pool-threads")) {
			uint64_t n;
			if (parse_u64(val, &n) || n == 0 || n > 1024) {
				fprintf(stderr, "error: --pool-threads needs a number of threads (1..1024)\n");
				return -1;
			}
			o->pool_threads = (unsigned)n;
		} else if (takes && !strcmp(opt, "--dump-state-every")) {
			if (parse_u64(val, &o->dump_every) || o->dump_every == 0) {
				fprintf(stderr, "error: --dump-state-every needs a positive number of events\n");
				return -1;
			}
		} else if (runlike && !strcmp(opt, "--dump-state") && !val) {
			o->dump_state = 1;
		} else if (takes && !strcmp(opt, "--engine-schema-version")) {
			o->engine_schema = val;
		} else if (takes && !strcmp(opt, "--capture")) {
			o->capture = val;
		} else if (takes && !strcmp(opt, "--repeat")) {
			if (parse_u64(val, &o->repeat) || o->repeat == 0) {
				fprintf(stderr, "error: --repeat needs a positive number of passes\n");
				return -1;
			}
		} else if (runlike && !strcmp(opt, "--json") && !val) {
			o->json = 1;
		} else if (runlike && !strcmp(opt, "--quiet") && !val) {
			o->quiet = 1;
		} else if (runlike && !strcmp(opt, "--dump-tables") && !val) {
			o->dump_tables = 1;
		} else if (runlike && !strcmp(opt, "--offsets") && !val) {
			o->offsets = 1;
		} else if (runlike && !strcmp(opt, "--show-init") && !val) {
			o->show_init = 1;
		} else if (runlike && !strcmp(opt, "--metrics") && !val) {
			o->metrics = 1;
		} else if (run && !strcmp(opt, "--hold-async-lock") && !val) {
			o->hold_async_lock = 1;
		} else if (run && !strcmp(opt, "--progress") && !val) {
			o->progress = 1;
		} else if (takes && !strcmp(opt, "--events")) {
			if (parse_u64(val, &o->events)) {
				fprintf(stderr, "error: --events needs a number\n");
				return -1;
			}
		} else if (takes && !strcmp(opt, "--work-kib")) {
			if (parse_u64(val, &o->work_kib) || o->work_kib > 1024 * 1024) {
				fprintf(stderr, "error: --work-kib needs a number of KiB (0..1048576)\n");
				return -1;
			}
		} else if (bench && !strcmp(opt, "--fields-per-call") && !val) {
			o->per_call = 1;
		} else {
			fprintf(stderr, "error: unknown argument %s\n%s", a, cli_usage);
			return -1;
		}
	}
	if (!o->nspecs) {
		fprintf(stderr, "error: no plugin given (-p LIB.so)\n%s", cli_usage);
		return -1;
	}
	if ((replay || bparse) && !o->capture) {
		fprintf(stderr, "error: --capture FILE is required\n%s", cli_usage);
		return -1;
	}
	return 0;
}

int load_specs(const cli_opts *o, plugin **plugins)
{
	char err[HOST_ERRLEN];
	for (size_t i = 0; i < o->nspecs; i++) {
		plugin *p = calloc(1, sizeof *p);
		plugins[i] = p;
		p->config = o->specs[i].config;
		p->open_params = o->specs[i].open_params;
		if (plugin_load(p, o->specs[i].path, err)) {
			errorf("could not load plugin %s: %s", o->specs[i].path, err);
			unload_all(plugins, i + 1);
			return 2;
		}
	}
	return 0;
}

/* destroy every state in load order, then dlclose (plugin-api-facts.md, Event sourcing: teardown) */
void unload_all(plugin **plugins, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (plugins[i] && plugins[i]->state) {
			plugins[i]->api.destroy(plugins[i]->state);
			plugins[i]->state = NULL;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (plugins[i]) {
			plugin_unload(plugins[i]);
			free(plugins[i]);
			plugins[i] = NULL;
		}
	}
}
