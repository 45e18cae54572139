-- 0009: wake the outbox worker on insert (LISTEN/NOTIFY), and hourly rollups of the per-camera series so
-- that dashboards over weeks and months read ~60x fewer rows.
--
-- Rollups, by the same names on both servers (the dashboards read these names); since storage/rollups.py
-- (ROLLUP_VERSION 2) builds them from its registry with more columns; this file keeps the shared plain parts:
--   camera_stats_hourly (bucket, camera_id, samples, online_samples, sum_camera_fps, sum_process_fps,
--                        sum_skipped_fps, sum_detection_fps, sum_decode_ms, max_lag_s, min_reconnects,
--                        max_reconnects)
--   occupancy_hourly    (bucket, camera_id, zone_id, samples, sum_people, max_people)
-- Sums and counts rather than averages, so that any coarser grouping (3 h, a day, the whole range) is
-- exact: avg = sum(sum_x) / sum(samples). Float sums are of real (float4) values taken as float8, so
-- they are exact whatever the order of addition (24-bit mantissas, far fewer than 2^29 terms).
--
-- TimescaleDB (0002 applied): continuous aggregates, built by storage/rollups.py (not by this file).
-- Plain PostgreSQL: each is a view over a rollup table `rollup_<name>` holding the buckets before the
-- rollup's watermark, plus the raw rows at or after the watermark aggregated on the fly (the same
-- "real-time aggregate" semantics). `refresh_rollups(from, to)` materialises closed buckets from the
-- watermark on, and re-aggregates the buckets late rows landed in: an AFTER INSERT statement trigger
-- logs every inserted hour in `rollup_invalidations` (writers never wait on a lock for it).
-- Buckets are UTC-aligned hours: date_bin here, time_bucket on TimescaleDB (the same boundaries).

-- -- outbox wake-up -----------------------------------------------------------------------------------
-- One notification per inserting statement, delivered at commit, i.e. when the rows become visible
-- (PostgreSQL folds identical notifications of one transaction into one).
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('jianguan_outbox', '');
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS outbox_notify ON outbox;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- -- rollups -------------------------------------------------------------------------------------------
DO $outer$
DECLARE
    hypertables boolean := false;
BEGIN
IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
    -- A separate statement: timescaledb_information exists only with the extension.
    EXECUTE $ts$SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables
                               WHERE hypertable_name = 'camera_stats')$ts$ INTO hypertables;
END IF;
IF hypertables THEN
    -- The continuous aggregates are built by storage/rollups.py (install, run by migrate right after the
    -- files), from the one definition both backends share. Built here too, as this file first did, their
    -- policy jobs could start and deadlock with install's rebuild of them.
    RETURN;
END IF;

-- Plain PostgreSQL from here on.
CREATE TABLE IF NOT EXISTS rollup_watermarks (
    rollup        text PRIMARY KEY,
    source        text NOT NULL UNIQUE,   -- the raw table it aggregates
    watermark     timestamptz,            -- buckets before it are materialised; NULL: nothing yet
    refreshed_at  timestamptz
);
INSERT INTO rollup_watermarks (rollup, source)
VALUES ('camera_stats_hourly', 'camera_stats'), ('occupancy_hourly', 'occupancy_samples')
ON CONFLICT DO NOTHING;

-- Hours that received rows, one row per (inserting statement, hour); consumed by refresh_rollups.
CREATE TABLE IF NOT EXISTS rollup_invalidations (
    id      bigserial PRIMARY KEY,
    source  text NOT NULL,
    bucket  timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS rollup_camera_stats_hourly (
    bucket             timestamptz NOT NULL,
    camera_id          text NOT NULL,
    samples            bigint NOT NULL,
    online_samples     bigint NOT NULL,
    sum_camera_fps     double precision NOT NULL,
    sum_process_fps    double precision NOT NULL,
    sum_skipped_fps    double precision NOT NULL,
    sum_detection_fps  double precision NOT NULL,
    sum_decode_ms      double precision NOT NULL,
    max_lag_s          real NOT NULL,
    min_reconnects     integer NOT NULL,
    max_reconnects     integer NOT NULL,
    PRIMARY KEY (bucket, camera_id)
);

CREATE TABLE IF NOT EXISTS rollup_occupancy_hourly (
    bucket      timestamptz NOT NULL,
    camera_id   text NOT NULL,
    zone_id     text NOT NULL,
    samples     bigint NOT NULL,
    sum_people  bigint NOT NULL,
    max_people  integer NOT NULL,
    PRIMARY KEY (bucket, camera_id, zone_id)
);

-- The raw tables' keys lead with camera_id; the live tail ("ts >= watermark", all cameras) needs an
-- index on time. BRIN: a few pages, next to no write cost, and the rows arrive in time order.
CREATE INDEX IF NOT EXISTS camera_stats_ts_brin ON camera_stats USING brin (ts) WITH (pages_per_range = 32);
CREATE INDEX IF NOT EXISTS occupancy_samples_ts_brin ON occupancy_samples USING brin (ts)
    WITH (pages_per_range = 32);

-- The aggregate of raw rows in [lo, hi). Dynamic SQL, so each call is planned with the actual bounds
-- (a generic plan would guess a third of the table for "ts >= $1" and scan all of it).
CREATE OR REPLACE FUNCTION camera_stats_hourly_between(lo timestamptz, hi timestamptz)
RETURNS SETOF rollup_camera_stats_hourly LANGUAGE plpgsql STABLE AS $fn$
BEGIN
    RETURN QUERY EXECUTE $q$
        SELECT date_bin('1 hour', s.ts, TIMESTAMPTZ '2000-01-01 00:00:00+00'), s.camera_id,
               count(*), count(*) FILTER (WHERE s.online),
               sum(s.camera_fps::float8), sum(s.process_fps::float8), sum(s.skipped_fps::float8),
               sum(s.detection_fps::float8), sum(s.decode_ms::float8), max(s.lag_s),
               min(s.reconnects), max(s.reconnects)
        FROM camera_stats s
        WHERE s.ts >= $1 AND s.ts < $2
        GROUP BY 1, 2 $q$ USING lo, hi;
END
$fn$;

CREATE OR REPLACE FUNCTION occupancy_hourly_between(lo timestamptz, hi timestamptz)
RETURNS SETOF rollup_occupancy_hourly LANGUAGE plpgsql STABLE AS $fn$
BEGIN
    RETURN QUERY EXECUTE $q$
        SELECT date_bin('1 hour', o.ts, TIMESTAMPTZ '2000-01-01 00:00:00+00'), o.camera_id, o.zone_id,
               count(*), sum(o.people)::bigint, max(o.people)
        FROM occupancy_samples o
        WHERE o.ts >= $1 AND o.ts < $2
        GROUP BY 1, 2, 3 $q$ USING lo, hi;
END
$fn$;

CREATE OR REPLACE FUNCTION rollup_watermark(p_rollup text) RETURNS timestamptz LANGUAGE sql STABLE AS $fn$
    SELECT coalesce((SELECT watermark FROM rollup_watermarks WHERE rollup = p_rollup), '-infinity')
$fn$;

CREATE OR REPLACE VIEW camera_stats_hourly AS
SELECT r.* FROM rollup_camera_stats_hourly r WHERE r.bucket < rollup_watermark('camera_stats_hourly')
UNION ALL
SELECT t.* FROM camera_stats_hourly_between(rollup_watermark('camera_stats_hourly'), 'infinity') t;

CREATE OR REPLACE VIEW occupancy_hourly AS
SELECT r.* FROM rollup_occupancy_hourly r WHERE r.bucket < rollup_watermark('occupancy_hourly')
UNION ALL
SELECT t.* FROM occupancy_hourly_between(rollup_watermark('occupancy_hourly'), 'infinity') t;

-- 0003's view, same columns and types, now over the rollup (the slow panel "Least available cameras").
CREATE OR REPLACE VIEW camera_uptime_hourly AS
SELECT h.bucket,
       h.camera_id,
       h.samples,
       h.online_samples,
       h.online_samples::float8 / h.samples AS uptime_share,
       h.sum_process_fps / h.samples AS avg_process_fps,
       h.max_lag_s,
       h.max_reconnects - h.min_reconnects AS reconnects
FROM camera_stats_hourly h;

CREATE OR REPLACE FUNCTION rollup_invalidate() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO rollup_invalidations (source, bucket)
    SELECT DISTINCT TG_TABLE_NAME, date_bin('1 hour', n.ts, TIMESTAMPTZ '2000-01-01 00:00:00+00')
    FROM new_rows n;
    RETURN NULL;
END
$fn$;
DROP TRIGGER IF EXISTS camera_stats_rollup_invalidate ON camera_stats;
CREATE TRIGGER camera_stats_rollup_invalidate AFTER INSERT ON camera_stats
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_invalidate();
DROP TRIGGER IF EXISTS occupancy_samples_rollup_invalidate ON occupancy_samples;
CREATE TRIGGER occupancy_samples_rollup_invalidate AFTER INSERT ON occupancy_samples
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_invalidate();

-- Materialise the closed buckets (ending at or before min(p_to, now())) from the watermark on, plus
-- p_from.. when given (a forced re-aggregation), plus every hour a visible invalidation names; then move
-- the watermark. Invalidations of transactions not yet committed stay for the next call, so a late row
-- is never lost, only briefly missing from its (already materialised) bucket.
CREATE OR REPLACE FUNCTION refresh_rollups(p_from timestamptz DEFAULT NULL, p_to timestamptz DEFAULT NULL)
RETURNS TABLE (rollup text, ranges integer, buckets bigint, watermark timestamptz)
LANGUAGE plpgsql AS $fn$
DECLARE
    origin CONSTANT timestamptz := TIMESTAMPTZ '2000-01-01 00:00:00+00';
    closed CONSTANT timestamptz := date_bin('1 hour', least(coalesce(p_to, now()), now()), origin);
    w record;
    lo timestamptz;
    upto timestamptz;
    ids bigint[];
    todo tstzmultirange;
    piece tstzrange;
    added bigint;
BEGIN
    -- One refresher at a time (several nodes may call it); writers never take this lock.
    PERFORM pg_advisory_xact_lock(hashtext('jianguan.refresh_rollups'));
    FOR w IN SELECT * FROM rollup_watermarks ORDER BY rollup_watermarks.rollup FOR UPDATE LOOP
        IF w.watermark IS NULL THEN  -- first refresh: from the oldest raw row
            EXECUTE format('SELECT date_bin(%L, min(ts), %L) FROM %I', '1 hour', origin, w.source) INTO lo;
            lo := coalesce(lo, closed);
        ELSE
            lo := w.watermark;
        END IF;
        IF p_from IS NOT NULL THEN
            lo := least(lo, date_bin('1 hour', p_from, origin));
        END IF;
        upto := greatest(coalesce(w.watermark, closed), closed);
        SELECT array_agg(i.id),
               range_agg(tstzrange(i.bucket, i.bucket + INTERVAL '1 hour')) FILTER (WHERE i.bucket < upto)
          INTO ids, todo
          FROM rollup_invalidations i WHERE i.source = w.source;
        todo := coalesce(todo, '{}'::tstzmultirange);
        IF lo < closed THEN
            todo := todo + tstzmultirange(tstzrange(lo, closed));
        END IF;
        rollup := w.rollup;
        ranges := 0;
        buckets := 0;
        FOR piece IN SELECT unnest(todo) LOOP
            EXECUTE format('DELETE FROM %I WHERE bucket >= $1 AND bucket < $2', 'rollup_' || w.rollup)
                USING lower(piece), upper(piece);
            EXECUTE format('INSERT INTO %I SELECT * FROM %I($1, $2)', 'rollup_' || w.rollup, w.rollup || '_between')
                USING lower(piece), upper(piece);
            GET DIAGNOSTICS added = ROW_COUNT;
            ranges := ranges + 1;
            buckets := buckets + added;
        END LOOP;
        IF ids IS NOT NULL THEN
            DELETE FROM rollup_invalidations WHERE id = ANY (ids);
        END IF;
        UPDATE rollup_watermarks SET watermark = upto, refreshed_at = now() WHERE rollup_watermarks.rollup = w.rollup;
        watermark := upto;
        RETURN NEXT;
    END LOOP;
END
$fn$;
END
$outer$;
