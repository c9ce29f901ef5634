/* Declares required API 3.13.0: newer than the framework's 3.12.0. */
#include "common.h"
DEFINE_COMMON("high_minor", "0.1.0", "3.13.0")
DEFINE_FIELDS(ONE_FIELD)
