-- Camera health figures beside the stream figures in camera_stats, and retention marks on clips.
--
-- camera_stats: the picture measures of analytics/health.py (CameraHealth.last_measures) at the time of the
-- stats sample. All nullable: a camera that is offline, or whose health check is off, has no picture to
-- measure; sharpness_ratio, scene_shift and scene_response stay NULL until the baseline is learned.
-- One ADD COLUMN per statement: TimescaleDB refuses several at once on a hypertable with compression.
ALTER TABLE camera_stats ADD COLUMN IF NOT EXISTS luma_mean real;        -- brightness, grey levels 0..255
ALTER TABLE camera_stats ADD COLUMN IF NOT EXISTS luma_std real;         -- spread; near 0: covered/uniform
ALTER TABLE camera_stats ADD COLUMN IF NOT EXISTS sharpness real;        -- variance of the Laplacian
ALTER TABLE camera_stats ADD COLUMN IF NOT EXISTS sharpness_ratio real;  -- sharpness / learned baseline (defocus)
ALTER TABLE camera_stats ADD COLUMN IF NOT EXISTS changed real;          -- share of pixels changed (frozen: ~0)
ALTER TABLE camera_stats ADD COLUMN IF NOT EXISTS scene_shift real;      -- shift vs the reference, share of width
ALTER TABLE camera_stats ADD COLUMN IF NOT EXISTS scene_response real;   -- phase-correlation peak (low: moved)
ALTER TABLE camera_stats ADD COLUMN IF NOT EXISTS health_issues text[];  -- open health incidents (covered, ...)

-- clips: retention (ingest/retention.py) deletes the file of an old clip that no alert holds any more and
-- marks the row, so the review desk can say "deleted by retention" instead of a broken link.
ALTER TABLE clips ADD COLUMN IF NOT EXISTS deleted_at timestamptz;
ALTER TABLE clips ADD COLUMN IF NOT EXISTS deleted_reason text;
CREATE INDEX IF NOT EXISTS clips_live_created ON clips (created_at) WHERE deleted_at IS NULL;
