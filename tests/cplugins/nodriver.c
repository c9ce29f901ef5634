/*
 * nodriver: a source plugin with no id and no source (so its events are "syscall" events)
 * that produces nothing: every next_batch sleeps 5 ms and returns TIMEOUT, like Falco's
 * nodriver engine.
 */
#include <time.h>

#include "common.h"

DEFINE_COMMON("nodriver", "0.1.0", "3.0.0")
DEFINE_OPEN_CLOSE

ss_plugin_rc plugin_next_batch(ss_plugin_t *s, ss_instance_t *h, uint32_t *n, ss_plugin_event ***e)
{
	struct timespec ts = {0, 5 * 1000 * 1000};
	(void)s;
	(void)h;
	nanosleep(&ts, NULL);
	*n = 0;
	*e = NULL;
	return SS_PLUGIN_TIMEOUT;
}
