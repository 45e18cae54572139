-- Business early warning (issue 7): responsible units and their contacts, business alerts without a
-- camera, rectification with an append-only trail, testing-line results, and the archive of reports.
-- Idempotent (IF NOT EXISTS / DROP NOT NULL) so a partly hand-applied copy does not block the run.

-- Units: the supervision centre, the office and its departments, partner outlets, testing institutions.
CREATE TABLE IF NOT EXISTS units (
    id      text PRIMARY KEY,
    name    text NOT NULL,
    kind    text NOT NULL CHECK (kind IN ('supervision_centre', 'office', 'department', 'outlet',
                                          'testing_institution', 'team')),
    parent  text REFERENCES units (id)
);

-- What a unit answers for. One responsible unit per member (the primary key), so routing is unambiguous.
-- member_kind: window and outlet ids are the business system's window ids (transactions.window_id), lane
-- ids those of inspections.lane_id, testing lines those of testing_lines.id; `site` and `camera` cover the rest.
CREATE TABLE IF NOT EXISTS unit_members (
    site_id      text NOT NULL REFERENCES sites (id),
    member_kind  text NOT NULL CHECK (member_kind IN ('site', 'window', 'lane', 'outlet', 'testing_line',
                                                      'camera', 'staff')),
    member_id    text NOT NULL,
    unit_id      text NOT NULL REFERENCES units (id) ON DELETE CASCADE,
    PRIMARY KEY (site_id, member_kind, member_id)
);
CREATE INDEX IF NOT EXISTS unit_members_unit ON unit_members (unit_id);

-- Contacts: `channel` names a notifier of the config (its URL and secrets live in the environment); the
-- address is what a person reads (a mailbox, a phone extension), never a credential.
CREATE TABLE IF NOT EXISTS unit_contacts (
    id       bigserial PRIMARY KEY,
    unit_id  text NOT NULL REFERENCES units (id) ON DELETE CASCADE,
    name     text NOT NULL,
    role     text NOT NULL DEFAULT 'responsible' CHECK (role IN ('responsible', 'commander', 'supervisor')),
    channel  text NOT NULL,
    address  text,
    UNIQUE (unit_id, channel, name)
);

-- Business alerts have no camera: they name the business source (a window, lane, outlet, testing line or
-- staff id) and the responsible unit; the evidence rows sit in incidents.evidence (JSON).
ALTER TABLE incidents ALTER COLUMN camera_id DROP NOT NULL;
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS source_id text;
ALTER TABLE alerts ALTER COLUMN camera_id DROP NOT NULL;
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS source_id text;
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS unit_id text REFERENCES units (id);
-- A business finding is recorded once however often the scheduled check re-reads its period.
CREATE UNIQUE INDEX IF NOT EXISTS incidents_finding_key ON incidents ((evidence ->> 'finding_key'))
    WHERE evidence ? 'finding_key';

-- Rectification of a business alert by its unit: open -> rectified (with a note) -> verified by the centre
-- (or back to open when verification fails). The current state is a row; every step is an event.
CREATE TABLE IF NOT EXISTS rectifications (
    id           bigserial PRIMARY KEY,
    alert_id     bigint NOT NULL UNIQUE REFERENCES alerts (id),
    unit_id      text REFERENCES units (id),
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'rectified', 'verified')),
    note         text,
    opened_at    timestamptz NOT NULL DEFAULT now(),
    due_at       timestamptz,
    rectified_at timestamptz,
    verified_at  timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS rectifications_unit_status ON rectifications (unit_id, status);

CREATE TABLE IF NOT EXISTS rectification_events (
    id                bigserial PRIMARY KEY,
    rectification_id  bigint NOT NULL REFERENCES rectifications (id),
    at                timestamptz NOT NULL DEFAULT now(),
    actor             text NOT NULL,
    action            text NOT NULL,
    note              text,
    detail            jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS rectification_events_rect ON rectification_events (rectification_id, at);
DROP TRIGGER IF EXISTS rectification_events_append_only ON rectification_events;
CREATE TRIGGER rectification_events_append_only BEFORE UPDATE OR DELETE ON rectification_events
    FOR EACH ROW EXECUTE FUNCTION jianguan_append_only();
DROP TRIGGER IF EXISTS rectification_events_no_truncate ON rectification_events;
CREATE TRIGGER rectification_events_no_truncate BEFORE TRUNCATE ON rectification_events
    FOR EACH STATEMENT EXECUTE FUNCTION jianguan_append_only();

-- Private testing lines (检测线) and one row per vehicle test: the pass-rate series.
CREATE TABLE IF NOT EXISTS testing_lines (
    id       text PRIMARY KEY,
    site_id  text NOT NULL REFERENCES sites (id),
    name     text NOT NULL
);

CREATE TABLE IF NOT EXISTS testing_results (
    message_id  text NOT NULL,
    site_id     text NOT NULL,
    line_id     text NOT NULL,
    plate       text,
    inspector_id text,
    tested_at   timestamptz NOT NULL,
    passed      boolean NOT NULL,
    PRIMARY KEY (message_id, tested_at)
);
CREATE INDEX IF NOT EXISTS testing_results_line_ts ON testing_results (line_id, tested_at);

-- Indexes the business rules' period scans need (inspections has none on time).
CREATE INDEX IF NOT EXISTS inspections_started ON inspections (started_at);
CREATE INDEX IF NOT EXISTS transactions_queued ON transactions (queued_at);

-- The archive of rendered reports; the files live under the configured directory, sha256 recorded here.
CREATE TABLE IF NOT EXISTS reports (
    id            bigserial PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('daily', 'weekly', 'monthly')),
    site_id       text NOT NULL REFERENCES sites (id),
    period_start  timestamptz NOT NULL,
    period_end    timestamptz NOT NULL,
    html_path     text NOT NULL,
    html_sha256   text NOT NULL,
    pdf_path      text,
    pdf_sha256    text,
    figures       jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS reports_period ON reports (site_id, kind, period_start DESC);
