/* get_version is not M.m.p. */
#include "common.h"
DEFINE_COMMON("bad_version", "1.x", "3.0.0")
DEFINE_FIELDS(ONE_FIELD)
