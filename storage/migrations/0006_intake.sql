-- Event intake (lane sensors, business transactions): idempotent delivery and inspection pairing.
--
-- lane_events and transactions keep their time column in the primary key (hypertables need it), so a
-- redelivery with a different timestamp would not collide there. `intake_seen` holds one row per
-- (stream, message id): the writer inserts into it with ON CONFLICT DO NOTHING in the same transaction as
-- the data row, so a repeat is detected atomically, also between concurrent writers. `ref_ts` is the time
-- key of the stored row (lane_events.ts / transactions.queued_at), so a later message with the same id
-- finds that row without a scan.

CREATE TABLE IF NOT EXISTS intake_seen (
    stream      text NOT NULL CHECK (stream IN ('lane_events', 'transactions')),
    message_id  text NOT NULL,
    ref_ts      timestamptz NOT NULL,
    seen_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream, message_id)
);
CREATE INDEX IF NOT EXISTS intake_seen_seen_at ON intake_seen (seen_at);

-- Which lane events opened and closed an inspection: a replayed or reordered event can then never open a
-- second row or close the wrong one.
ALTER TABLE inspections ADD COLUMN IF NOT EXISTS start_message_id text;
ALTER TABLE inspections ADD COLUMN IF NOT EXISTS end_message_id text;
CREATE UNIQUE INDEX IF NOT EXISTS inspections_start_message ON inspections (start_message_id)
    WHERE start_message_id IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS inspections_end_message ON inspections (end_message_id)
    WHERE end_message_id IS NOT NULL;
-- The pairing looks up the open inspection of one vehicle in one lane.
CREATE INDEX IF NOT EXISTS inspections_open_by_vehicle ON inspections (site_id, lane_id, plate, started_at)
    WHERE finished_at IS NULL;
-- ... and the inspection events of one vehicle in one lane around a time (an end that arrived first).
CREATE INDEX IF NOT EXISTS lane_events_inspection_by_vehicle ON lane_events (site_id, lane_id, plate, ts)
    WHERE kind IN ('inspection_start', 'inspection_end');
CREATE INDEX IF NOT EXISTS dead_letters_received ON dead_letters (received_at DESC);
