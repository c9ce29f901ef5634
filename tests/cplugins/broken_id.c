/* A source plugin with get_id but no get_event_source: broken. */
#include "common.h"
DEFINE_COMMON("broken_id", "0.1.0", "3.0.0")
DEFINE_OPEN_CLOSE
DEFINE_NEXT_BATCH_EOF
uint32_t plugin_get_id(void) { return 991; }
