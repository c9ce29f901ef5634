/* Extraction capability with an empty field list. */
#include "common.h"
DEFINE_COMMON("empty_fields", "0.1.0", "3.0.0")
DEFINE_FIELDS("[]")
