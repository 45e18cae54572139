-- An incident's identity from the node that raised it (alerts/writer.py): the node spools an incident to disk
-- before it reaches the database and replays the spool after an outage or a crash; a replay of an incident
-- whose commit went through but whose acknowledgement did not must find it instead of adding a second one.
-- Nullable: incidents written before this migration, and by tools that never replay, have none.
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS uid text;
CREATE UNIQUE INDEX IF NOT EXISTS incidents_uid ON incidents (uid) WHERE uid IS NOT NULL;
