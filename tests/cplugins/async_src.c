/* async_src: an async + extraction plugin; behaviours in async_common.h. Async sources: all. */
#include "async_common.h"

DEFINE_META("async_src", "0.1.0", "3.3.0")
DEFINE_CONTACT

const char *plugin_get_async_event_sources(void) { return "[]"; }
