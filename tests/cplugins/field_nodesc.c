/* get_fields has a field without "desc". */
#include "common.h"
DEFINE_COMMON("field_nodesc", "0.1.0", "3.0.0")
DEFINE_FIELDS("[{\"type\":\"uint64\",\"name\":\"x.ok\",\"desc\":\"fine\"},{\"type\":\"string\",\"name\":\"x.nodesc\"}]")
