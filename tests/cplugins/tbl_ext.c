/* The table user on the _ext vtables (see tbl_common.h). */
#include "tbl_common.h"
