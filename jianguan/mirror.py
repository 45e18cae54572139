"""Mirror the site config into the database, so that dashboards and joins see cameras and zones."""

from __future__ import annotations

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from jianguan.config import SiteConfig


def mirror_site(pool: ConnectionPool, config: SiteConfig) -> None:
    site = config.site
    with pool.connection() as conn, conn.transaction():
        conn.execute(
            "INSERT INTO sites (id, name, timezone, language) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, timezone = EXCLUDED.timezone,"
            " language = EXCLUDED.language",
            (site.id, site.name, site.timezone, site.language),
        )
        for cam in config.cameras:
            conn.execute(
                "INSERT INTO cameras (id, site_id, name, area, detect_fps) VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT (id) DO UPDATE SET site_id = EXCLUDED.site_id, name = EXCLUDED.name,"
                " area = EXCLUDED.area, detect_fps = EXCLUDED.detect_fps, updated_at = now()",
                (cam.id, site.id, cam.name, cam.area, cam.detect.fps),
            )
            conn.execute("DELETE FROM zones WHERE camera_id = %s", (cam.id,))
            for zone in cam.zones:
                conn.execute(
                    "INSERT INTO zones (camera_id, id, kind, polygon, name) VALUES (%s, %s, %s, %s, %s)",
                    (cam.id, zone.id, zone.kind, Jsonb([list(p) for p in zone.polygon]), zone.name),
                )
