/* open and close but no next_batch: broken event sourcing. */
#include "common.h"
DEFINE_COMMON("broken_source", "0.1.0", "3.0.0")
DEFINE_OPEN_CLOSE
uint32_t plugin_get_id(void) { return 990; }
const char *plugin_get_event_source(void) { return "broken"; }
