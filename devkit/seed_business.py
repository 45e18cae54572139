"""Business data beside `devkit.seed` for the early-warning rules and reports (issue 7).

Per day: transactions at the partner outlets (警邮/警银/警保 and dealers: 09:00-17:00 on weekdays, mornings
on Saturday, one clerk each, licence and certificate business) and vehicle tests at four private testing
lines (检测线, 08:00-18:00 Monday to Saturday, each line with its own steady pass rate). Once: the
responsible units (supervision centre, the office and its departments, partner outlets, testing
institutions), what each answers for, and their contacts (notifier ids: `centre`, `hall`, `inspection`,
`exam`, `outlets`, `testing`).

Deterministic like the rest of the seed: every (day, source) draws from its own seeded generator.
"""

from __future__ import annotations

from datetime import date, datetime

import psycopg

from devkit.seed import WEEKDAY_FACTOR, SeedSite, _queue, _rng

OUTLET_TYPES = ("licence_renewal", "licence_replacement", "violation_processing", "inspection_certificate")
PARTNERS = (("post", "Post office outlets (警邮)"), ("bank", "Bank outlets (警银)"),
            ("insurer", "Insurer outlets (警保)"), ("dealer", "Car dealer outlets (4S)"))
TESTING_LINES = (("line-01", "a", 0.86), ("line-02", "a", 0.84), ("line-03", "b", 0.88), ("line-04", "b", 0.82))
TESTS_PER_HOUR = 5.0


def _outlet_intensity(weekday: int):
    close = 12.0 if weekday == 5 else 17.0

    def f(h: float) -> float:
        if WEEKDAY_FACTOR[weekday] == 0 or not 9.0 <= h < close:
            return 0.0
        return 0.6 if 12.0 <= h < 13.5 else 1.0
    return f


def outlets(site: SeedSite) -> list[str]:
    return [c.id for c in site.cameras if c.area == "outlet"]


def business_day(conn: psycopg.Connection, site: SeedSite, seed: int, day: date, day_start: datetime,
                 weekday: int, end: datetime) -> dict[str, int]:
    """Outlet transactions and testing-line results of one local day (COPY)."""
    rows: list[tuple] = []
    for outlet in outlets(site):
        rng = _rng(seed, "outlet-tx", day, outlet)
        rate = (3.0 + 2.0 * rng.random()) / 3600 * max(WEEKDAY_FACTOR[weekday], 0.0)
        if rate > 0:
            rows += _queue(rng, site, outlet, "P", OUTLET_TYPES, [3, 1, 2, 2], day, day_start,
                           _outlet_intensity(weekday), rate, rate, end, staff=(f"{outlet}-clerk",))
    if rows:
        with conn.cursor().copy("COPY transactions (message_id, site_id, window_id, business_type, ticket, staff_id,"
                                " queued_at, called_at, finished_at, wait_s, handle_s) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    tests: list[tuple] = []
    if weekday < 6:
        for line, _inst, p_pass in TESTING_LINES:
            rng = _rng(seed, "testing", day, line)
            t = 8 * 3600.0
            n = 0
            while True:
                t += rng.expovariate(TESTS_PER_HOUR / 3600)
                if t >= 18 * 3600:
                    break
                at = day_start.timestamp() + t
                if at > end.timestamp():
                    break
                n += 1
                tests.append((f"tr-{day:%Y%m%d}-{line}-{n:03d}", site.id, line,
                              f"京{chr(65 + rng.randrange(8))}{rng.randrange(10**5):05d}", f"{line}-insp",
                              datetime.fromtimestamp(at, tz=day_start.tzinfo), rng.random() < p_pass))
        with conn.cursor().copy("COPY testing_results (message_id, site_id, line_id, plate, inspector_id, tested_at,"
                                " passed) FROM STDIN") as copy:
            for row in tests:
                copy.write_row(row)
    return {"transactions": len(rows), "testing_results": len(tests)}


def seed_units(conn: psycopg.Connection, site: SeedSite) -> None:
    """The responsible units of `site` and their contacts (idempotent upserts)."""
    s = site.id
    units = [("centre", "Supervision centre (监管中心)", "supervision_centre", None),
             (s, site.name, "office", "centre"),
             (f"{s}-hall", "Service hall", "department", s),
             (f"{s}-inspection", "Vehicle inspection area", "department", s),
             (f"{s}-exam", "Examination department", "department", s)]
    units += [(f"{s}-{key}", name, "outlet", s) for key, name in PARTNERS]
    units += [(f"{s}-testing-{inst}", f"Testing station {inst.upper()}", "testing_institution", "centre")
              for inst in sorted({i for _, i, _ in TESTING_LINES})]
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO units (id, name, kind, parent) VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO UPDATE"
                        " SET name = EXCLUDED.name, kind = EXCLUDED.kind, parent = EXCLUDED.parent", units)
        cur.execute("INSERT INTO testing_lines (id, site_id, name) SELECT * FROM unnest(%s::text[], %s::text[],"
                    " %s::text[]) ON CONFLICT (id) DO NOTHING",
                    ([line for line, _, _ in TESTING_LINES], [s] * len(TESTING_LINES),
                     [f"Testing line {line[-2:]}" for line, _, _ in TESTING_LINES]))
        members = [("site", s, s)]
        for cam in site.cameras:
            if cam.area in ("window", "self_service"):
                members.append(("window", cam.id, f"{s}-hall"))
            elif cam.area == "outlet":
                n = int(cam.id.rsplit("-", 1)[-1]) if cam.id.rsplit("-", 1)[-1].isdigit() else 1
                members.append(("outlet", cam.id, f"{s}-{PARTNERS[(n - 1) // 5 % len(PARTNERS)][0]}"))
            elif cam.area == "exam_room":
                members.append(("camera", cam.id, f"{s}-exam"))
            elif cam.area == "inspection_lane":
                members.append(("camera", cam.id, f"{s}-inspection"))
        for lane in site.lane_ids():
            members.append(("lane", lane, f"{s}-inspection"))
        members += [("testing_line", line, f"{s}-testing-{inst}") for line, inst, _ in TESTING_LINES]
        cur.executemany("INSERT INTO unit_members (site_id, member_kind, member_id, unit_id) VALUES (%s, %s, %s, %s)"
                        " ON CONFLICT (site_id, member_kind, member_id) DO UPDATE SET unit_id = EXCLUDED.unit_id",
                        [(s, kind, mid, unit) for kind, mid, unit in members])
        contacts = [("centre", "Duty desk", "supervisor", "centre")]
        contacts += [(u, "Head of department", "responsible", ch) for u, ch in
                     ((f"{s}-hall", "hall"), (f"{s}-inspection", "inspection"), (f"{s}-exam", "exam"))]
        contacts += [(f"{s}-{key}", "Outlet manager", "responsible", "outlets") for key, _ in PARTNERS]
        contacts += [(f"{s}-testing-{inst}", "Station manager", "responsible", "testing")
                     for inst in sorted({i for _, i, _ in TESTING_LINES})]
        cur.executemany("INSERT INTO unit_contacts (unit_id, name, role, channel) VALUES (%s, %s, %s, %s)"
                        " ON CONFLICT (unit_id, channel, name) DO NOTHING", contacts)
