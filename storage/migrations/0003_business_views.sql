-- Business metric views. On plain PostgreSQL they are ordinary views over the raw tables. Where
-- TimescaleDB is present, 0004 replaces the two hourly ones by continuous aggregates with the same names,
-- columns and types (real-time: materialized_only = false), so every query works on both.
--
-- Buckets: hours are fixed UTC-aligned hours (date_bin here, time_bucket on TimescaleDB: the same
-- boundaries); whole-hour time zones such as Asia/Shanghai see local hours. Days (alerts_daily) are the
-- site's local calendar days, from sites.timezone.

-- Queue-system volume and service level per hour, site, window and business type. The service target:
-- finished within 30 minutes of taking a ticket (wait + handling), the figure offices are judged by.
CREATE VIEW business_volume_hourly AS
SELECT date_bin('1 hour', t.queued_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
       t.site_id,
       t.window_id,
       t.business_type,
       count(*) AS transactions,
       count(t.finished_at) AS finished,
       avg(t.wait_s) AS avg_wait_s,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY t.wait_s) AS p50_wait_s,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY t.wait_s) AS p90_wait_s,
       avg(t.handle_s) AS avg_handle_s,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY t.handle_s) AS p50_handle_s,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY t.handle_s) AS p90_handle_s,
       count(*) FILTER (WHERE t.finished_at IS NOT NULL AND t.wait_s + t.handle_s <= 1800) AS within_target,
       (count(*) FILTER (WHERE t.finished_at IS NOT NULL AND t.wait_s + t.handle_s <= 1800))::float8
           / count(*) AS within_target_share
FROM transactions t
GROUP BY date_bin('1 hour', t.queued_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'), t.site_id, t.window_id,
         t.business_type;

-- Camera availability per hour from the per-camera stats samples (uptime = share of samples online).
CREATE VIEW camera_uptime_hourly AS
SELECT date_bin('1 hour', s.ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
       s.camera_id,
       count(*) AS samples,
       count(*) FILTER (WHERE s.online) AS online_samples,
       (count(*) FILTER (WHERE s.online))::float8 / count(*) AS uptime_share,
       avg(s.process_fps) AS avg_process_fps,
       max(s.lag_s) AS max_lag_s,
       max(s.reconnects) - min(s.reconnects) AS reconnects
FROM camera_stats s
GROUP BY date_bin('1 hour', s.ts, TIMESTAMPTZ '2000-01-01 00:00:00+00'), s.camera_id;

-- Alerts per rule per local day. An ordinary view on TimescaleDB too: `alerts` is a plain table (its
-- dedup index has no time column, so it cannot be a hypertable) and a few thousand rows a day need no
-- materialisation.
CREATE VIEW alerts_daily AS
SELECT d.day,
       (d.day::timestamp AT TIME ZONE d.timezone) AS bucket,
       d.site_id,
       d.rule,
       count(*) AS alerts,
       count(*) FILTER (WHERE d.severity IN ('major', 'critical')) AS major_or_critical,
       count(*) FILTER (WHERE d.verdict = 'confirmed') AS confirmed,
       count(*) FILTER (WHERE d.verdict = 'false_alarm') AS false_alarms,
       count(*) FILTER (WHERE d.verdict = 'needs_follow_up') AS needs_follow_up,
       count(*) FILTER (WHERE d.verdict IS NULL) AS pending
FROM (SELECT (a.started_at AT TIME ZONE s.timezone)::date AS day, s.timezone, a.site_id, a.rule, a.severity,
             a.verdict
      FROM alerts a JOIN sites s ON s.id = a.site_id) d
GROUP BY d.day, d.timezone, d.site_id, d.rule;
