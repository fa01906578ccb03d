/* placeholder: replaced by the real module */
#include "fg_ext.h"
int fg_register_windows(sqlite3 *db) { (void)db; return SQLITE_OK; }
