/* Only the required symbols: no capability at all. */
#include "common.h"
DEFINE_COMMON("no_caps", "0.1.0", "3.0.0")
