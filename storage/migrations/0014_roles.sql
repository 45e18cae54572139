-- Least privilege in the database (issue 18): one role per process kind, none of them the owner of anything.
-- Only a table's owner (or a superuser) can ALTER it (DISABLE TRIGGER, DROP TRIGGER) or set
-- session_replication_role, and nobody is granted TRUNCATE, UPDATE or DELETE on the trails, so the append-only
-- triggers of 0005/0007 hold against every process; the role that runs the migrations stays the owner.
--
--   jianguan_desk      the review desk (alerts/review): verdicts, acknowledgements, rectification steps, sessions
--   jianguan_node      a node (jianguan/node.py, alerts/): config mirror, incidents, alerts, clips, outbox, series
--   jianguan_intake    the event intake (ingest/events): lane events, inspections, transactions
--   jianguan_business  business early warning (alerts/business.py): business alerts, rectifications, pushes
--   jianguan_reports   reports (reports/publish.py): the report archive and its pushes
--
-- Roles are the cluster's, not this database's: created here only when missing, which needs CREATEROLE; an
-- operator may create them beforehand instead (docs/security.md). NOLOGIN: a login is given by the embedded
-- server (storage/embedded.py) or by the site (ALTER ROLE .. LOGIN PASSWORD, or a login role made a member).
--
-- Reads: every role reads every table but the desk's accounts, sessions and audit log; tables created later
-- by the migrating role are readable by all of them (default privileges), so a migration that adds a table
-- only grants its writers, and revokes the reading of anything secret. Writes are listed per table, UPDATE
-- per column where a role may change only part of a row (a node never sets a verdict, the desk never
-- rewrites an alert's facts or a user's role).
DO $roles$
DECLARE
    kind text;
BEGIN
    FOREACH kind IN ARRAY ARRAY['jianguan_desk', 'jianguan_node', 'jianguan_intake', 'jianguan_business',
                                'jianguan_reports'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = kind) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', kind);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- the migration of another database on this server made it at the same moment
            END;
        END IF;
        EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO %I', current_schema(), kind);
        EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA %I TO %I', current_schema(), kind);
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT ON TABLES TO %I', current_schema(), kind);
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE ON SEQUENCES TO %I', current_schema(),
                       kind);
        IF kind <> 'jianguan_desk' THEN
            EXECUTE format('REVOKE SELECT ON users, desk_sessions, audit_log FROM %I', kind);
        END IF;
    END LOOP;
END
$roles$;

-- Nobody but the owner creates objects (PostgreSQL 15 and later: already so; older clusters: PUBLIC could).
-- A warning, not an error, where the migrating role does not own the schema.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- -- the desk ---------------------------------------------------------------------------------------------
GRANT INSERT ON alert_events, audit_log, rectification_events TO jianguan_desk;
GRANT UPDATE (status, verdict, updated_at) ON alerts TO jianguan_desk;
GRANT UPDATE (locked) ON clips TO jianguan_desk;
GRANT UPDATE (status, note, rectified_at, verified_at, updated_at) ON rectifications TO jianguan_desk;
GRANT UPDATE (locale) ON users TO jianguan_desk;
GRANT INSERT, UPDATE (last_seen_at), DELETE ON desk_sessions TO jianguan_desk;

-- -- a node -----------------------------------------------------------------------------------------------
GRANT INSERT, UPDATE ON sites, cameras TO jianguan_node;
GRANT INSERT, DELETE ON zones TO jianguan_node;
GRANT INSERT ON incidents, alerts, clips, alert_events, outbox, occupancy_samples, camera_stats, dead_letters
    TO jianguan_node;
GRANT UPDATE (ended_at, evidence) ON incidents TO jianguan_node;
GRANT UPDATE (ended_at, updated_at, clip_id) ON alerts TO jianguan_node;
GRANT UPDATE (deleted_at, deleted_reason) ON clips TO jianguan_node;
GRANT UPDATE ON outbox TO jianguan_node;

-- -- the intake -------------------------------------------------------------------------------------------
GRANT INSERT ON lane_events, dead_letters TO jianguan_intake;
GRANT INSERT, UPDATE ON inspections, transactions TO jianguan_intake;
GRANT INSERT, DELETE ON intake_seen TO jianguan_intake;

-- -- business early warning -------------------------------------------------------------------------------
GRANT INSERT ON incidents, alerts, alert_events, rectifications, rectification_events, outbox TO jianguan_business;
GRANT UPDATE (updated_at, ended_at) ON alerts TO jianguan_business;
GRANT UPDATE ON outbox TO jianguan_business;

-- -- reports ----------------------------------------------------------------------------------------------
GRANT INSERT ON reports, outbox TO jianguan_reports;

-- -- rollups on plain PostgreSQL (0009) -------------------------------------------------------------------
-- Rows inserted into camera_stats and occupancy_samples log their hours through a trigger that runs as the
-- inserting role (the node). The refresh rewrites rollup tables that storage/rollups.py drops and rebuilds,
-- so rather than grants that a rebuild would lose, it runs with its owner's rights (SECURITY DEFINER, a
-- fixed search_path) and only the node may call it. A CREATE OR REPLACE of refresh_rollups must say
-- SECURITY DEFINER and the search_path again. On TimescaleDB the policies refresh the aggregates, as owner.
DO $rollups$
BEGIN
    IF to_regclass('rollup_invalidations') IS NOT NULL THEN
        GRANT INSERT ON rollup_invalidations TO jianguan_node;
    END IF;
    IF to_regprocedure('refresh_rollups(timestamptz, timestamptz)') IS NOT NULL THEN
        EXECUTE format('ALTER FUNCTION refresh_rollups(timestamptz, timestamptz) SECURITY DEFINER'
                       ' SET search_path = %I, pg_temp', current_schema());
        REVOKE EXECUTE ON FUNCTION refresh_rollups(timestamptz, timestamptz) FROM PUBLIC;
        GRANT EXECUTE ON FUNCTION refresh_rollups(timestamptz, timestamptz) TO jianguan_node;
    END IF;
END
$rollups$;
