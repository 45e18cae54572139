-- What the analysis did with a camera's frames, beside what its reader delivered (process_fps), so an operator
-- sees a node that falls behind: analysed_fps is the rate frames went through detection, tracking and rules;
-- dropped_fps the rate live frames were thrown away because analysis was busy (jianguan/node.py); needed_fps
-- the rate the camera's rules need. All nullable: rows written before this migration have none.
-- One ADD COLUMN per statement: TimescaleDB refuses several at once on a hypertable with compression.
ALTER TABLE camera_stats ADD COLUMN IF NOT EXISTS analysed_fps real;
ALTER TABLE camera_stats ADD COLUMN IF NOT EXISTS dropped_fps real;
ALTER TABLE camera_stats ADD COLUMN IF NOT EXISTS needed_fps real;
