-- requires: timescaledb
-- Applied only where the timescaledb extension is available; recorded as applied only then, so a
-- database that gains the extension later picks this up on the next migrate.
SELECT create_hypertable('occupancy_samples', 'ts', migrate_data => true, if_not_exists => true);
SELECT create_hypertable('camera_stats', 'ts', migrate_data => true, if_not_exists => true);
SELECT create_hypertable('lane_events', 'ts', migrate_data => true, if_not_exists => true);
SELECT create_hypertable('transactions', 'queued_at', migrate_data => true, if_not_exists => true);
