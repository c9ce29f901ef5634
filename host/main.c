/*
 * falco-plugin-host: a libsinsp-like host for plugins. main dispatches to the commands: info
 * (loader.c), run (run.c), replay and bench-parse (replay.c), bench and bench-async (bench.c);
 * the command line is in cli.c, the utilities in util.c.
 */
#include "host.h"

#include <signal.h>
#include <string.h>

static void on_signal(int sig)
{
	(void)sig;
	g_interrupted = 1;
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(cli_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = (int)SA_RESETHAND; /* a second Ctrl-C kills */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	const char *cmd = argv[1];
	if (!strcmp(cmd, "info")) {
		if (argc != 3) {
			fprintf(stderr, "error: info takes one LIB.so\n%s", cli_usage);
			return 2;
		}
		return cmd_info(argv[2]);
	}
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 2, argv + 2);
	if (!strcmp(cmd, "bench"))
		return cmd_bench(argc - 2, argv + 2);
	if (!strcmp(cmd, "bench-async"))
		return cmd_bench_async(argc - 2, argv + 2);
	if (!strcmp(cmd, "replay"))
		return cmd_replay(argc - 2, argv + 2);
	if (!strcmp(cmd, "bench-parse"))
		return cmd_bench_parse(argc - 2, argv + 2);
	fprintf(stderr, "error: unknown command %s\n%s", cmd, cli_usage);
	return 2;
}
