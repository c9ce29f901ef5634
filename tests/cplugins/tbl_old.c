/* The table user on the deprecated embedded vtables (see tbl_common.h). */
#define TBL_OLD 1
#include "tbl_common.h"
