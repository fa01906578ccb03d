-- Rule logging_tampered: logging was stopped, deleted, narrowed or shortened.
--
-- Why: an attacker blinds the defenders before (or after) acting: stopping or deleting the
-- trail, event selectors that drop management or data events, deleting the log groups a
-- function writes to (/aws/lambda/NAME) or shortening their retention, deleting VPC flow logs or
-- DNS query logging (Stratus Red Team: aws.defense-evasion.cloudtrail-stop, cloudtrail-delete,
-- cloudtrail-event-selectors, vpc-remove-flow-logs, dns-delete-logs).
--
-- Matches: cloudtrail:StopLogging, DeleteTrail, UpdateTrail, PutEventSelectors,
-- DeleteEventDataStore, StopEventDataStoreIngestion; logs:DeleteLogGroup, DeleteLogStream,
-- PutRetentionPolicy, DeleteSubscriptionFilter; ec2:DeleteFlowLogs;
-- route53resolver:DeleteResolverQueryLogConfig, DisassociateResolverQueryLogConfig. By anyone;
-- failed attempts count.
-- Severity: high for stopping or deleting a trail, an event data store, a log group, flow logs or
-- query logging, for event selectors that exclude management events, and for anything done with
-- a function's credentials; medium for other selector and trail updates, log stream and
-- subscription deletions; low for retention changes (routine in infrastructure code: read the
-- days in the summary).
DROP VIEW IF EXISTS rule_logging_tampered;
CREATE VIEW rule_logging_tampered AS
SELECT 'logging_tampered' AS rule,
       CASE WHEN caller_function IS NOT NULL THEN 'high'
            WHEN event IN ('cloudtrail:StopLogging', 'cloudtrail:DeleteTrail', 'cloudtrail:DeleteEventDataStore',
                           'cloudtrail:StopEventDataStoreIngestion', 'logs:DeleteLogGroup', 'ec2:DeleteFlowLogs',
                           'route53resolver:DeleteResolverQueryLogConfig') THEN 'high'
            WHEN event = 'cloudtrail:PutEventSelectors'
                 AND (params LIKE '%"includeManagementEvents":false%' OR params LIKE '%"eventSelectors":[]%') THEN 'high'
            WHEN event = 'logs:PutRetentionPolicy' THEN 'low'
            ELSE 'medium' END AS severity,
       coalesce(caller_function,
                CASE WHEN target LIKE '/aws/lambda/%' THEN substr(target, 13) END) AS function,
       target,
       ts AS first_ts, ts AS last_ts, 1 AS n_events,
       actor || ' called ' || event || coalesce(' on ' || target, '')
         || CASE WHEN event = 'logs:PutRetentionPolicy'
                 THEN ' (' || coalesce(json_extract(params, '$.retentionInDays'), '?') || ' days)' ELSE '' END
         || failed AS summary,
       event_id AS ref,
       json_array(event_id) AS event_ids,
       event, error_code, source_ip, user_agent
  FROM (SELECT c.*,
               coalesce(json_extract(c.params, '$.name'), json_extract(c.params, '$.trailName'),
                        json_extract(c.params, '$.logGroupName'), json_extract(c.params, '$.eventDataStore'),
                        json_extract(c.params, '$.DeleteFlowLogsRequest.FlowLogId.content'),
                        json_extract(c.params, '$.flowLogIds[0]'),
                        json_extract(c.params, '$.resolverQueryLogConfigId')) AS target
          FROM ct_calls c
         WHERE c.event IN ('cloudtrail:StopLogging', 'cloudtrail:DeleteTrail', 'cloudtrail:UpdateTrail',
                           'cloudtrail:PutEventSelectors', 'cloudtrail:DeleteEventDataStore',
                           'cloudtrail:StopEventDataStoreIngestion', 'logs:DeleteLogGroup',
                           'logs:DeleteLogStream', 'logs:PutRetentionPolicy', 'logs:DeleteSubscriptionFilter',
                           'ec2:DeleteFlowLogs', 'route53resolver:DeleteResolverQueryLogConfig',
                           'route53resolver:DisassociateResolverQueryLogConfig'));
