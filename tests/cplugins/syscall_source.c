/* A source plugin claiming the reserved "syscall" event source. */
#include "common.h"
DEFINE_COMMON("syscall_source", "0.1.0", "3.0.0")
DEFINE_OPEN_CLOSE
DEFINE_NEXT_BATCH_EOF
uint32_t plugin_get_id(void) { return 992; }
const char *plugin_get_event_source(void) { return "syscall"; }
