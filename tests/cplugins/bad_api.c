/* Declares required API 2.0.0: the major version disagrees with 3. */
#include "common.h"
DEFINE_COMMON("bad_api", "0.1.0", "2.0.0")
DEFINE_FIELDS(ONE_FIELD)
