-- The exact SQL surface: every function and module fnguard registers, with its flags.
-- (A change here is a change of contract: update the README's reference with it.)
SELECT name, narg, (flags & 0x800) != 0 AS deterministic, (flags & 0x80000) != 0 AS directonly,
       (flags & 0x200000) != 0 AS innocuous
  FROM pragma_function_list
 WHERE name LIKE 'lstm_ae%' OR name LIKE 'dbscan%' OR name LIKE 'fnguard%' OR name LIKE 'fn_%'
    OR name LIKE 'cloudtrail%' OR name LIKE 'lambda%' OR name LIKE 'xray%'
 ORDER BY name, narg;
SELECT '--';
SELECT name FROM pragma_module_list
 WHERE name NOT IN ('json_each', 'json_tree', 'pragma_module_list', 'fts3', 'fts3tokenize', 'fts4', 'fts4aux', 'fts5', 'fts5vocab', 'rtree', 'rtree_i32', 'geopoly', 'dbstat', 'sqlite_dbpage', 'sqlite_stmt', 'bytecode', 'tables_used', 'completion', 'generate_series', 'zipfile', 'sqlite_dbdata', 'sqlite_dbptr', 'carray', 'fsdir')
   AND name NOT LIKE 'pragma_%'
 ORDER BY name;
