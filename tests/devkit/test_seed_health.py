"""`devkit.seed` writes the camera-health figures of migration 0008 the way the node does."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from devkit.seed import seed

END = datetime(2024, 5, 15, 10, 0, tzinfo=UTC)  # Wednesday 18:00 in Asia/Shanghai


def test_seeded_picture_health(db_dsn):
    seed(db_dsn, days=2, end=END, seed=3, stats_every_s=600, occupancy_every_s=3600)
    with psycopg.connect(db_dsn) as conn:
        conn.execute("SET TIME ZONE 'Asia/Shanghai'")
        offline = conn.execute("SELECT count(*), count(luma_mean), count(*) FILTER (WHERE health_issues ="
                               " '{video_loss}') FROM camera_stats WHERE NOT online").fetchone()
        online = conn.execute("SELECT count(*), count(luma_mean), count(sharpness_ratio), count(health_issues),"
                              " min(changed), max(scene_shift) FROM camera_stats WHERE online").fetchone()
        lanes = dict(conn.execute(
            "SELECT extract(hour FROM s.ts)::int, avg(s.luma_mean) FROM camera_stats s JOIN cameras c"
            " ON c.id = s.camera_id WHERE c.area = 'inspection_lane' AND extract(hour FROM s.ts) IN (2, 12)"
            " GROUP BY 1").fetchall())
    assert offline[0] > 0 and offline[1] == 0 and offline[2] == offline[0]  # video lost: no picture, one issue
    assert online[0] == online[1] == online[2] and online[3] == 0
    assert online[4] > 0.0005 and online[5] < 0.02  # never frozen, never moved
    assert lanes[2] + 30 < lanes[12]  # the outdoor lanes are darker at night
