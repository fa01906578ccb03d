-- schema.sql — the tables of a case database: what ingestion writes.
--
--   sqlite3 case.db < sql/schema.sql          (sql/import.sql reads it first; idempotent)
--
-- Raw tables keep what the three table-valued functions returned (cloudtrail_events,
-- lambda_log_events, xray_segments: same columns, minus the hidden arguments), so the case
-- file holds the evidence as read. function_events is derived from them by sql/import.sql; it is
-- what the detector reads (fn_windows partitions it by function or flow, ordered by ts).

-- ---- raw sources ----------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS cloudtrail(
  event_time TEXT, ts INTEGER, event_source TEXT, event_name TEXT, event TEXT, event_type TEXT,
  event_category TEXT, aws_region TEXT, source_ip TEXT, user_agent TEXT, identity_type TEXT,
  principal_arn TEXT, principal_id TEXT, account_id TEXT, user_name TEXT, role_arn TEXT,
  role_name TEXT, session_name TEXT, access_key_id TEXT, invoked_by TEXT, error_code TEXT,
  error_message TEXT, read_only INTEGER, management_event INTEGER, request_id TEXT,
  event_id TEXT UNIQUE,       -- re-importing a record (or the same record from two trails) is a no-op
  recipient_account_id TEXT, request_parameters TEXT, response_elements TEXT, resources TEXT,
  function TEXT, file TEXT, record_index INTEGER,
  input_error TEXT            -- with :skip_errors, a row per input that could not be read
);
CREATE INDEX IF NOT EXISTS cloudtrail_request ON cloudtrail(request_id);

CREATE TABLE IF NOT EXISTS lambda_logs(
  ts INTEGER, function TEXT, log_group TEXT, log_stream TEXT, request_id TEXT, type TEXT,
  level TEXT, duration_ms REAL, billed_ms INTEGER, memory_mb INTEGER, max_memory_mb INTEGER,
  init_ms REAL, cold_start INTEGER, status TEXT, error_type TEXT, trace_id TEXT, message TEXT,
  file TEXT, record_index INTEGER, line INTEGER, input_error TEXT,
  UNIQUE(file, record_index)  -- re-importing a file is a no-op
);
CREATE INDEX IF NOT EXISTS lambda_logs_request ON lambda_logs(function, request_id);
CREATE INDEX IF NOT EXISTS lambda_logs_stream ON lambda_logs(function, log_stream, ts);

CREATE TABLE IF NOT EXISTS xray(
  ts INTEGER, trace_id TEXT, id TEXT, parent_id TEXT, segment_id TEXT, depth INTEGER, type TEXT,
  name TEXT, namespace TEXT, origin TEXT, event TEXT, operation TEXT, resource TEXT,
  request_id TEXT, function TEXT, aws_region TEXT, account_id TEXT, http_url TEXT,
  http_host TEXT, http_method TEXT, http_status INTEGER, start REAL, end REAL, duration_ms REAL,
  fault INTEGER, error INTEGER, throttle INTEGER, in_progress INTEGER, cause TEXT, file TEXT,
  record_index INTEGER, input_error TEXT,
  UNIQUE(trace_id, id)        -- a segment seen twice (overlapping batch-get-traces) once
);
CREATE INDEX IF NOT EXISTS xray_request ON xray(request_id);

-- Every input that could not be read, whatever the source (filled with :skip_errors = 1).
CREATE VIEW IF NOT EXISTS ingest_errors(source, file, error) AS
  SELECT 'cloudtrail', file, input_error FROM cloudtrail WHERE input_error IS NOT NULL
  UNION ALL SELECT 'lambda', file, input_error FROM lambda_logs WHERE input_error IS NOT NULL
  UNION ALL SELECT 'xray', file, input_error FROM xray WHERE input_error IS NOT NULL;

-- ---- applications ---------------------------------------------------------------------------

-- Which application a function belongs to. import.sql adds a row for every new function and
-- never changes an existing one, so an analyst's own mapping (rule 'analyst') wins:
--   INSERT OR REPLACE INTO apps VALUES ('shop-checkout', 'shop', 'analyst');
CREATE TABLE IF NOT EXISTS apps(
  function TEXT PRIMARY KEY,
  app TEXT NOT NULL,
  rule TEXT NOT NULL          -- 'analyst', 'cloudformation' (stack-name tag), 'prefix' (default)
);

-- ---- function events ------------------------------------------------------------------------

-- One row per event of a function's flow (an invocation), from any source. Event names are the
-- same across sources: "service:Operation" for AWS API calls (dynamodb:PutItem, from CloudTrail
-- or X-Ray), "http:HOST" for outbound HTTP, "lambda:START|REPORT|INIT_START|TIMEOUT" for the
-- platform, "log:ERROR|WARN" for application errors and warnings, "local:NAME" for custom
-- X-Ray subsegments.
CREATE TABLE IF NOT EXISTS function_events(
  id INTEGER PRIMARY KEY,
  ts INTEGER NOT NULL,        -- unix ms
  app TEXT,                   -- from apps
  function TEXT NOT NULL,
  flow TEXT,                  -- the invocation's request id (NULL: the call is in no invocation,
                              -- e.g. made from outside Lambda)
  source TEXT NOT NULL,       -- cloudtrail / lambda / xray: where the row comes from
  event TEXT NOT NULL,
  event_type TEXT,            -- api, http, local (calls); platform, log (Lambda)
  parent TEXT,                -- event of the enclosing X-Ray (sub)segment, when known
  resource TEXT,              -- table, bucket, queue, topic, function, host
  duration_ms REAL,
  rel_start_ms REAL,          -- ts minus the first ts of the flow
  depth INTEGER,              -- X-Ray nesting (0 = the invocation's own level)
  status TEXT,                -- NULL when fine; error / fault / throttle / timeout
  error_code TEXT,            -- errorCode, exception type, Lambda error type
  source_ip TEXT,             -- caller context (CloudTrail)
  user_agent TEXT,
  access_key TEXT,
  outside_lambda INTEGER,     -- 1: made with the function's credentials from outside Lambda
                              -- (stolen credentials); 0: from Lambda; NULL: unknown
  request_id TEXT,            -- AWS request id of the call (the key that merges CloudTrail and X-Ray)
  attribution TEXT,           -- how flow was found: request (the row names it), xray, time,
                              -- time-ambiguous; NULL when not attributed
  origin TEXT                 -- the raw row: CloudTrail eventID, X-Ray trace/segment id, log file:line
);
CREATE INDEX IF NOT EXISTS function_events_function_ts ON function_events(function, ts);
CREATE INDEX IF NOT EXISTS function_events_flow ON function_events(flow);
