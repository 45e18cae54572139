-- Core schema: the same tables on plain PostgreSQL and on TimescaleDB.
-- Time-series tables carry their time column in every unique key so that 0002 can turn them
-- into hypertables without rewriting constraints.

CREATE TABLE sites (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    timezone    text NOT NULL DEFAULT 'Asia/Shanghai'
);

CREATE TABLE cameras (
    id          text PRIMARY KEY,
    site_id     text NOT NULL REFERENCES sites (id),
    name        text NOT NULL,
    area        text NOT NULL CHECK (area IN ('window', 'inspection_lane', 'exam_room', 'outlet', 'hall',
                                              'self_service')),
    detect_fps  real NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE zones (
    camera_id   text NOT NULL REFERENCES cameras (id) ON DELETE CASCADE,
    id          text NOT NULL,
    kind        text NOT NULL,
    polygon     jsonb NOT NULL,          -- [[x, y], ...] relative to the frame, 0..1
    PRIMARY KEY (camera_id, id)
);

CREATE TABLE incidents (
    id          bigserial PRIMARY KEY,
    camera_id   text NOT NULL REFERENCES cameras (id),
    rule        text NOT NULL,
    zone_id     text,
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz,
    confidence  real NOT NULL DEFAULT 1.0,
    track_ids   integer[] NOT NULL DEFAULT '{}',
    evidence    jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX incidents_camera_started ON incidents (camera_id, started_at DESC);

CREATE TABLE clips (
    id          bigserial PRIMARY KEY,
    camera_id   text NOT NULL REFERENCES cameras (id),
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz NOT NULL,
    path        text NOT NULL,
    sha256      text NOT NULL,
    bytes       bigint NOT NULL,
    locked      boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alerts (
    id            bigserial PRIMARY KEY,
    dedup_key     text NOT NULL,                 -- camera:rule:zone
    incident_id   bigint REFERENCES incidents (id),
    site_id       text NOT NULL REFERENCES sites (id),
    camera_id     text NOT NULL REFERENCES cameras (id),
    rule          text NOT NULL,
    zone_id       text,
    severity      text NOT NULL CHECK (severity IN ('info', 'minor', 'major', 'critical')),
    status        text NOT NULL DEFAULT 'open'
                  CHECK (status IN ('open', 'acknowledged', 'reviewed', 'closed')),
    verdict       text CHECK (verdict IN ('confirmed', 'false_alarm', 'needs_follow_up')),
    title         text NOT NULL,
    started_at    timestamptz NOT NULL,
    ended_at      timestamptz,
    snapshot_path text,
    snapshot_sha256 text,
    clip_id       bigint REFERENCES clips (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- Deduplication: at most one live alert per camera/rule/zone.
CREATE UNIQUE INDEX alerts_one_live_per_key ON alerts (dedup_key) WHERE status IN ('open', 'acknowledged');
CREATE INDEX alerts_started ON alerts (started_at DESC);

CREATE TABLE alert_events (
    id          bigserial PRIMARY KEY,
    alert_id    bigint NOT NULL REFERENCES alerts (id),
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    action      text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE TABLE occupancy_samples (
    ts          timestamptz NOT NULL,
    camera_id   text NOT NULL,
    zone_id     text NOT NULL,
    people      integer NOT NULL,
    PRIMARY KEY (camera_id, zone_id, ts)
);

CREATE TABLE camera_stats (
    ts             timestamptz NOT NULL,
    camera_id      text NOT NULL,
    online         boolean NOT NULL,
    camera_fps     real NOT NULL,
    process_fps    real NOT NULL,
    skipped_fps    real NOT NULL,
    detection_fps  real NOT NULL,
    decode_ms      real NOT NULL,
    lag_s          real NOT NULL,
    reconnects     integer NOT NULL,
    PRIMARY KEY (camera_id, ts)
);

CREATE TABLE lane_events (
    ts            timestamptz NOT NULL,
    message_id    text NOT NULL,
    site_id       text NOT NULL,
    lane_id       text NOT NULL,
    kind          text NOT NULL,
    plate         text,
    inspector_id  text,
    payload       jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (message_id, ts)
);

CREATE TABLE inspections (
    id            bigserial PRIMARY KEY,
    site_id       text NOT NULL,
    lane_id       text NOT NULL,
    plate         text,
    inspector_id  text,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz
);

CREATE TABLE transactions (
    message_id     text NOT NULL,
    site_id        text NOT NULL,
    window_id      text NOT NULL,
    business_type  text NOT NULL,
    ticket         text,
    staff_id       text,
    queued_at      timestamptz NOT NULL,
    called_at      timestamptz,
    finished_at    timestamptz,
    wait_s         real,
    handle_s       real,
    PRIMARY KEY (message_id, queued_at)
);

-- Durable outbox: a notification is a row before it is a request. `channel` names a notifier in the
-- config; its URL and secrets are resolved at delivery time and never stored here.
CREATE TABLE outbox (
    id               bigserial PRIMARY KEY,
    alert_id         bigint REFERENCES alerts (id),
    channel          text NOT NULL,
    idempotency_key  text NOT NULL UNIQUE,
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';

CREATE TABLE dead_letters (
    id           bigserial PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now(),
    source       text NOT NULL,
    reason       text NOT NULL,
    payload      text NOT NULL
);

CREATE TABLE users (
    id             bigserial PRIMARY KEY,
    username       text NOT NULL UNIQUE,
    password_hash  text NOT NULL,
    role           text NOT NULL CHECK (role IN ('auditor', 'supervisor', 'commander', 'admin')),
    sites          text[] NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_log (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    actor    text NOT NULL,
    action   text NOT NULL,
    object   text NOT NULL,
    detail   jsonb NOT NULL DEFAULT '{}'::jsonb
);
