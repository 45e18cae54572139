-- requires: timescaledb
-- TimescaleDB only (after 0002's hypertables): the hourly business views of 0003 become continuous
-- aggregates with the same names, columns and types, answering in real time (materialized_only = false:
-- materialised buckets plus the raw rows not yet materialised); raw time-series chunks are compressed
-- after a week and dropped after their retention period. Transactions are business records: kept.
-- WITH NO DATA lets CREATE MATERIALIZED VIEW run inside the migration's transaction; the policies fill it.

DROP VIEW business_volume_hourly;
CREATE MATERIALIZED VIEW business_volume_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', t.queued_at) AS bucket,
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
GROUP BY time_bucket(INTERVAL '1 hour', t.queued_at), t.site_id, t.window_id, t.business_type
WITH NO DATA;

DROP VIEW camera_uptime_hourly;
CREATE MATERIALIZED VIEW camera_uptime_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', s.ts) AS bucket,
       s.camera_id,
       count(*) AS samples,
       count(*) FILTER (WHERE s.online) AS online_samples,
       (count(*) FILTER (WHERE s.online))::float8 / count(*) AS uptime_share,
       avg(s.process_fps) AS avg_process_fps,
       max(s.lag_s) AS max_lag_s,
       max(s.reconnects) - min(s.reconnects) AS reconnects
FROM camera_stats s
GROUP BY time_bucket(INTERVAL '1 hour', s.ts), s.camera_id
WITH NO DATA;

SELECT add_continuous_aggregate_policy('business_volume_hourly', start_offset => INTERVAL '7 days',
                                       end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '15 minutes');
SELECT add_continuous_aggregate_policy('camera_uptime_hourly', start_offset => INTERVAL '7 days',
                                       end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '15 minutes');

ALTER TABLE camera_stats SET (timescaledb.compress, timescaledb.compress_segmentby = 'camera_id',
                              timescaledb.compress_orderby = 'ts DESC');
ALTER TABLE occupancy_samples SET (timescaledb.compress, timescaledb.compress_segmentby = 'camera_id, zone_id',
                                   timescaledb.compress_orderby = 'ts DESC');
ALTER TABLE lane_events SET (timescaledb.compress, timescaledb.compress_segmentby = 'site_id, lane_id',
                             timescaledb.compress_orderby = 'ts DESC');
ALTER TABLE transactions SET (timescaledb.compress, timescaledb.compress_segmentby = 'site_id',
                              timescaledb.compress_orderby = 'queued_at DESC');
SELECT add_compression_policy('camera_stats', compress_after => INTERVAL '7 days');
SELECT add_compression_policy('occupancy_samples', compress_after => INTERVAL '7 days');
SELECT add_compression_policy('lane_events', compress_after => INTERVAL '30 days');
SELECT add_compression_policy('transactions', compress_after => INTERVAL '30 days');

SELECT add_retention_policy('camera_stats', drop_after => INTERVAL '180 days');
SELECT add_retention_policy('occupancy_samples', drop_after => INTERVAL '180 days');
SELECT add_retention_policy('lane_events', drop_after => INTERVAL '3 years');
