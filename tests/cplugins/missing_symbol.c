/* Lacks plugin_get_contact, a required symbol. */
#include "common.h"
DEFINE_META("missing_symbol", "0.1.0", "3.0.0")
DEFINE_BASIC_STATE
DEFINE_FIELDS(ONE_FIELD)
