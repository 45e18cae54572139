"""Synthetic but realistic data for one office, for dashboards, demos and benchmarks (`jianguan seed`).

What it writes, for `days` local calendar days ending at `end` (default: now):

- the site, its cameras and zones (by default the 112 camera points of `jianguan/examples/office-112.yaml`,
  built from the one definition of that office, `devkit.office`, as the node would load it);
- `transactions` from a queue simulation per service window: arrivals follow the office's rhythm (open
  08:30-17:30 Monday to Friday and 08:30-12:00 on Saturday, morning and afternoon peaks, a lunch dip,
  Monday busiest), each window serves one ticket at a time, so waits grow at the peaks; handling times
  depend on the business type (2-30 min); windows 1-10 are composite, 11-20 vehicle, 21-30 licence
  business; the 24-hour self-service kiosks serve a trickle every day, Sundays included;
- `camera_stats` every `stats_every_s` per camera (outages with reconnects, a flaky outlet camera),
  `occupancy_samples` every `occupancy_every_s` per zone (staff at windows with breaks, exam sessions,
  queues in the hall), `lane_events` and `inspections` for the 6 drive-through lanes (about 15 min a car,
  a few suspiciously short inspections), and `alerts` + `alert_events` with auditors' verdicts on the
  older ones and a live, unreviewed queue in the last day.

Deterministic: the same `seed`, `end`, `days` and intervals give the same rows (each day and each camera
draws from its own seeded generator). Bulk rows go in with COPY, one transaction per day.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from devkit.office import office_config
from i18n import N_
from jianguan.config import SiteConfig
from storage.dsn import connect
from storage.errors import StorageError

Progress = Callable[[str], None]

# business type -> (handling minutes low, high, weight); "2-30 min by type", as the offices report.
BUSINESS = {
    "licence_renewal": (3, 6, 0.22),
    "licence_replacement": (3, 5, 0.08),
    "violation_processing": (3, 8, 0.12),
    "address_change": (5, 10, 0.08),
    "vehicle_registration": (20, 30, 0.16),
    "transfer_registration": (15, 25, 0.16),
    "mortgage_registration": (10, 15, 0.08),
    "inspection_certificate": (2, 4, 0.10),
}
VEHICLE_TYPES = ("vehicle_registration", "transfer_registration", "mortgage_registration", "inspection_certificate")
LICENCE_TYPES = ("licence_renewal", "licence_replacement", "violation_processing", "address_change")
SELF_SERVICE_TYPES = ("inspection_certificate", "violation_processing", "licence_renewal")
WEEKDAY_FACTOR = (1.2, 1.0, 0.95, 0.95, 1.1, 0.7, 0.0)  # Monday .. Sunday (Sunday: windows closed)
# Arrival intensity over the local day (hours -> 0..1): opening ramp, morning peak, lunch dip, afternoon.
_KNOTS_H = np.array([0, 8.5, 8.75, 9.5, 11.0, 11.75, 12.0, 13.5, 13.75, 16.0, 17.0, 17.5, 24])
_KNOTS_V = np.array([0, 0.0, 0.7, 1.0, 1.0, 0.85, 0.25, 0.25, 0.8, 0.8, 0.5, 0.0, 0])


@dataclass(frozen=True)
class SeedZone:
    id: str
    kind: str
    polygon: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class SeedCamera:
    id: str
    name: str
    area: str
    detect_fps: float
    zones: tuple[SeedZone, ...]


@dataclass(frozen=True)
class SeedSite:
    id: str
    name: str
    timezone: str
    cameras: tuple[SeedCamera, ...]
    # The site config's inspection lanes (SiteConfig.lane_ids). None, for a site put together by hand: the
    # lanes of its inspection-lane cameras, named `<lane>-<view>` as the config's cameras are.
    lanes: tuple[str, ...] | None = None

    def lane_ids(self) -> list[str]:
        if self.lanes is not None:
            return list(self.lanes)
        return sorted({c.id.rsplit("-", 1)[0] for c in self.cameras if c.area == "inspection_lane" and "-" in c.id})


@dataclass
class SeedReport:
    start: datetime
    end: datetime
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def site_from_config(cfg: SiteConfig) -> SeedSite:
    """The site, cameras (ids, names, areas, fps, zones) and lanes of a loaded site config, to seed."""
    cams = tuple(SeedCamera(c.id, c.name, c.area, c.detect.fps,
                            tuple(SeedZone(z.id, z.kind, tuple((float(x), float(y)) for x, y in z.polygon))
                                  for z in c.zones))
                 for c in cfg.cameras)
    return SeedSite(cfg.site.id, cfg.site.name, cfg.site.timezone, cams, tuple(cfg.lane_ids()))


def office_112() -> SeedSite:
    """The 112 camera points of jianguan/examples/office-112.yaml, from the office's one definition."""
    return site_from_config(office_config())


def activity(hours: np.ndarray, weekday: int) -> np.ndarray:
    """Relative arrival intensity at the service windows (0..1.2) at local `hours` of a day."""
    base = np.interp(hours, _KNOTS_H, _KNOTS_V)
    if weekday == 5:  # Saturday: mornings only
        base = np.where(hours < 12.0, base, 0.0)
    return base * WEEKDAY_FACTOR[weekday]


def seed(dsn: str, site: SeedSite | None = None, *, days: int = 30, end: datetime | None = None, seed: int = 1,
         stats_every_s: int = 60, occupancy_every_s: int = 60, truncate: bool = False,
         progress: Progress | None = None) -> SeedReport:
    """Fill the (migrated) database at `dsn` with `days` of data for `site` (default: the 112-camera office).

    Refuses a database that already holds transactions or camera stats unless `truncate` (which empties the
    time-series and business tables first). Alerts and their timeline are append-only evidence (migration
    0005), so they are never emptied: when the site already has alerts in the period none are added.
    `end` defaults to now; the first day starts at local midnight."""
    site = site or office_112()
    tz = ZoneInfo(site.timezone)
    end = (end or datetime.now(tz=UTC)).astimezone(UTC).replace(second=0, microsecond=0)
    first_day = end.astimezone(tz).date() - timedelta(days=days - 1)
    start = datetime.combine(first_day, datetime.min.time(), tzinfo=tz).astimezone(UTC)
    report = SeedReport(start, end)
    say = progress or (lambda _msg: None)
    t_start = time.monotonic()
    with connect(dsn) as conn:
        _prepare(conn, site, truncate)
        state = _State(site, seed)
        for n in range(days):
            day = first_day + timedelta(days=n)
            t_day = time.monotonic()
            counts = _seed_day(conn, site, state, day, tz, end, stats_every_s, occupancy_every_s)
            conn.commit()
            for table, k in counts.items():
                report.rows[table] = report.rows.get(table, 0) + k
            say(f"{day.isoformat()} ({day.strftime('%a')}): " + ", ".join(f"{k} {t}" for t, k in counts.items() if k)
                + f" in {time.monotonic() - t_day:.1f} s")
        report.rows.update(_write_alerts(conn, site, state, start, end, say))
        conn.commit()
        conn.autocommit = True
        conn.execute("ANALYZE")
    report.seconds = time.monotonic() - t_start
    say(f"seeded {report.total_rows} rows in {report.seconds:.1f} s: "
        + ", ".join(f"{k} {t}" for t, k in sorted(report.rows.items())))
    return report


# -- internals ---------------------------------------------------------------------------------------
SERIES_TABLES = ("camera_stats", "occupancy_samples", "transactions", "lane_events", "inspections",
                 "testing_results")


@dataclass
class _State:
    site: SeedSite
    seed: int
    reconnects: dict[str, int] = field(default_factory=dict)
    alerts: list[tuple] = field(default_factory=list)  # (camera_id, rule, zone_id, severity, title, started_at)


def _rng(seed: int, *parts: object) -> random.Random:
    return random.Random(":".join(map(str, (seed, *parts))))


def _np_rng(seed: int, *parts: object) -> np.random.Generator:
    return np.random.default_rng(_rng(seed, *parts).getrandbits(64))


def _prepare(conn: psycopg.Connection, site: SeedSite, truncate: bool) -> None:
    if truncate:
        conn.execute("TRUNCATE " + ", ".join(SERIES_TABLES))
    elif conn.execute("SELECT EXISTS (SELECT 1 FROM transactions) OR EXISTS (SELECT 1 FROM camera_stats)"
                      ).fetchone()[0]:
        raise StorageError(N_("the database already holds transactions or camera stats; seed an empty database "
                              "or pass --truncate to empty the time-series and business tables first"))
    conn.execute("INSERT INTO sites (id, name, timezone) VALUES (%s, %s, %s) ON CONFLICT (id) DO UPDATE"
                 " SET name = EXCLUDED.name, timezone = EXCLUDED.timezone", (site.id, site.name, site.timezone))
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO cameras (id, site_id, name, area, detect_fps) VALUES (%s, %s, %s, %s, %s)"
                        " ON CONFLICT (id) DO UPDATE SET site_id = EXCLUDED.site_id, name = EXCLUDED.name,"
                        " area = EXCLUDED.area, detect_fps = EXCLUDED.detect_fps, updated_at = now()",
                        [(c.id, site.id, c.name, c.area, c.detect_fps) for c in site.cameras])
        cur.executemany("INSERT INTO zones (camera_id, id, kind, polygon) VALUES (%s, %s, %s, %s)"
                        " ON CONFLICT (camera_id, id) DO UPDATE SET kind = EXCLUDED.kind, polygon = EXCLUDED.polygon",
                        [(c.id, z.id, z.kind, Jsonb([list(p) for p in z.polygon])) for c in site.cameras
                         for z in c.zones])
    from devkit.seed_business import seed_units  # beside this module; imports it back

    seed_units(conn, site)


def _ts_strings(day_start: datetime, step_s: int, n: int) -> list[str]:
    return [(day_start + timedelta(seconds=k * step_s)).strftime("%Y-%m-%d %H:%M:%S+00") for k in range(n)]


def _seed_day(conn: psycopg.Connection, site: SeedSite, state: _State, day: date, tz: ZoneInfo, end: datetime,
              stats_every_s: int, occupancy_every_s: int) -> dict[str, int]:
    day_start = datetime.combine(day, datetime.min.time(), tzinfo=tz).astimezone(UTC)
    horizon_s = min(86400, int((end - day_start).total_seconds()))
    if horizon_s <= 0:
        return {}
    counts: dict[str, int] = {}
    weekday = day.weekday()
    outages = _outages(site, state, day, horizon_s)
    counts["transactions"] = _transactions(conn, site, state, day, day_start, weekday, end)
    from devkit.seed_business import business_day  # partner outlets and testing lines (issue 7)

    for table, k in business_day(conn, site, state.seed, day, day_start, weekday, end).items():
        counts[table] = counts.get(table, 0) + k
    lanes, inspections = _lanes(conn, site, state, day, day_start, weekday, end)
    counts["lane_events"], counts["inspections"] = lanes, inspections
    counts["camera_stats"] = _camera_stats(conn, site, state, day, day_start, weekday, horizon_s, stats_every_s,
                                           outages)
    counts["occupancy_samples"] = _occupancy(conn, site, state, day, day_start, weekday, horizon_s,
                                             occupancy_every_s, outages)
    return counts


def _outages(site: SeedSite, state: _State, day: date, horizon_s: int) -> dict[str, list[tuple[int, int]]]:
    """Per camera: (start s, end s) of the day's video losses. Most cameras rarely drop; outlet-07 is flaky."""
    out: dict[str, list[tuple[int, int]]] = {}
    for cam in site.cameras:
        rng = _rng(state.seed, "outage", day, cam.id)
        episodes = []
        chance = 0.9 if cam.id == "outlet-07" else 0.04
        while rng.random() < chance and len(episodes) < 4:
            start = rng.randrange(0, 86400)
            length = int(min(4 * 3600, rng.lognormvariate(np.log(12 * 60), 0.9)))
            if start < horizon_s:
                episodes.append((start, min(start + length, horizon_s)))
            chance *= 0.4
        out[cam.id] = sorted(episodes)
        for s, e in out[cam.id]:
            if e - s >= 120:
                state.alerts.append((cam.id, "video_loss", None, "minor", f"Video lost on {cam.name}",
                                     _at(day, s, site)))
    return out


def _at(day: date, seconds: float, site: SeedSite) -> datetime:
    tz = ZoneInfo(site.timezone)
    return (datetime.combine(day, datetime.min.time(), tzinfo=tz) + timedelta(seconds=seconds)).astimezone(UTC)


def _window_types(window_no: int) -> tuple[str, ...]:
    if window_no <= 10:
        return tuple(BUSINESS)
    return VEHICLE_TYPES if window_no <= 20 else LICENCE_TYPES


def _transactions(conn: psycopg.Connection, site: SeedSite, state: _State, day: date, day_start: datetime,
                  weekday: int, end: datetime) -> int:
    rows: list[tuple] = []
    windows = [c for c in site.cameras if c.area == "window"]
    for idx, cam in enumerate(windows, start=1):
        rng = _rng(state.seed, "tx", day, cam.id)
        types = _window_types(idx)
        weights = [BUSINESS[t][2] for t in types]
        mean_handle_s = sum(60 * (BUSINESS[t][0] + BUSINESS[t][1]) / 2 * w for t, w in zip(types, weights, strict=True)
                            ) / sum(weights)
        peak_rate = 0.85 / mean_handle_s  # arrivals per second at intensity 1: utilisation 0.85 at the peak
        rows += _queue(rng, site, cam.id, f"{'CVL'[min(2, (idx - 1) // 10)]}", types, weights, day, day_start,
                       lambda h: float(activity(np.array([h]), weekday)[0]), peak_rate * 1.2, peak_rate, end,
                       staff=(f"staff-{idx:02d}a", f"staff-{idx:02d}b"))
        # Staff leaving the window for a while during opening hours: the zone_unattended alerts.
        if WEEKDAY_FACTOR[weekday] and rng.random() < 0.12:
            at = rng.uniform(9.0, 16.5 if weekday < 5 else 11.5) * 3600
            state.alerts.append((cam.id, "zone_unattended", "staff", "major", f"{cam.name}: nobody at the window",
                                 _at(day, at, site)))
    for cam in (c for c in site.cameras if c.area == "self_service"):
        rng = _rng(state.seed, "tx", day, cam.id)
        rows += _queue(rng, site, cam.id, "S", SELF_SERVICE_TYPES, [1, 1, 1], day, day_start,
                       lambda h: 1.0 if 7 <= h < 22 else 0.1, 1.0 / 3600, 1.0 / 3600, end, staff=(None,),
                       handle_scale=0.3)
    with conn.cursor().copy("COPY transactions (message_id, site_id, window_id, business_type, ticket, staff_id,"
                            " queued_at, called_at, finished_at, wait_s, handle_s) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    return len(rows)


def _queue(rng: random.Random, site: SeedSite, window: str, prefix: str, types: tuple[str, ...], weights: list[float],
           day: date, day_start: datetime, intensity: Callable[[float], float], max_rate: float, rate: float,
           end: datetime, staff: tuple[str | None, ...], handle_scale: float = 1.0) -> list[tuple]:
    """One server, first come first served; arrivals by thinning a Poisson process of rate `max_rate`."""
    rows = []
    t = 0.0
    free_at = 0.0
    n = 0
    while True:
        t += rng.expovariate(max_rate)
        if t >= 86400:
            break
        if rng.random() * max_rate > rate * intensity(t / 3600):
            continue
        business = rng.choices(types, weights)[0]
        low, high, _ = BUSINESS[business]
        handle = rng.uniform(low, high) * 60 * handle_scale
        called = max(t, free_at) + rng.uniform(10, 40)
        finished = called + handle
        free_at = finished
        n += 1
        queued_at = day_start + timedelta(seconds=t)
        if queued_at >= end:
            break
        called_at = day_start + timedelta(seconds=called)
        finished_at = day_start + timedelta(seconds=finished)
        done = finished_at <= end
        rows.append((f"tx-{day:%Y%m%d}-{window}-{n:04d}", site.id, window, business, f"{prefix}{n:03d}",
                     staff[0] if called < 13 * 3600 else staff[-1], queued_at,
                     called_at if called_at <= end else None, finished_at if done else None,
                     round(called - t, 1) if called_at <= end else None, round(handle, 1) if done else None))
    return rows


def _lanes(conn: psycopg.Connection, site: SeedSite, state: _State, day: date, day_start: datetime, weekday: int,
           end: datetime) -> tuple[int, int]:
    events, inspections = [], []
    lane_ids = site.lane_ids()
    close_h = 17.5 if weekday < 5 else 12.0
    for lane in lane_ids:
        rng = _rng(state.seed, "lane", day, lane)
        if WEEKDAY_FACTOR[weekday] == 0:
            continue
        t = 8.5 * 3600 + rng.uniform(0, 600)
        k = 0
        while t < close_h * 3600 - 900:
            if 12.0 * 3600 <= t < 13.5 * 3600:  # lanes pause at lunch
                t = 13.5 * 3600 + rng.uniform(0, 300)
                continue
            k += 1
            inspector = f"insp-{lane[-1]}{'a' if t < 13 * 3600 else 'b'}"
            plate = f"京{chr(65 + rng.randrange(8))}{rng.randrange(10**5):05d}"
            short = rng.random() < 0.03  # a skipped check: the inspection is far too short
            minutes = rng.uniform(1.0, 2.5) if short else rng.gauss(15, 3)
            arrive, start = t, t + rng.uniform(30, 120)
            finish = start + max(4.0, minutes) * 60 if not short else start + minutes * 60
            leave = finish + rng.uniform(30, 120)
            msg = f"{lane}-{day:%Y%m%d}-{k:03d}"
            for kind, at in (("vehicle_in", arrive), ("inspection_start", start), ("inspection_end", finish),
                             ("vehicle_out", leave)):
                ts = day_start + timedelta(seconds=at)
                if ts <= end:
                    events.append((ts, f"{msg}-{kind}", site.id, lane, kind, plate, inspector,
                                   Jsonb({"seq": k})))
            started_at = day_start + timedelta(seconds=start)
            finished_at = day_start + timedelta(seconds=finish)
            if started_at <= end:
                inspections.append((site.id, lane, plate, inspector, started_at,
                                    finished_at if finished_at <= end else None))
            if short:
                state.alerts.append((f"{lane}-left", "inspection_too_short", "lane", "major",
                                     f"Inspection lane {lane[-1]}: {minutes:.1f} min inspection of {plate}",
                                     started_at))
            t = leave + rng.uniform(60, 300)
    with conn.cursor() as cur:
        with cur.copy("COPY lane_events (ts, message_id, site_id, lane_id, kind, plate, inspector_id, payload)"
                      " FROM STDIN") as copy:
            for row in events:
                copy.write_row(row)
        with cur.copy("COPY inspections (site_id, lane_id, plate, inspector_id, started_at, finished_at)"
                      " FROM STDIN") as copy:
            for row in inspections:
                copy.write_row(row)
    return len(events), len(inspections)


def _people(cam: SeedCamera, hours: np.ndarray, weekday: int, rng: np.random.Generator) -> np.ndarray:
    """People in the camera's (first) zone at local `hours`, by area."""
    n = len(hours)
    busy = activity(hours, weekday)
    open_ = busy > 0
    if cam.area in ("window", "outlet"):
        if cam.area == "outlet":  # partner outlets (post office, banks): 09:00-17:00, Saturdays too
            open_ = (hours >= 9) & (hours < 17) & (weekday < 6)
        people = open_.astype(np.int64)
        # breaks: a few minutes away now and then, longer at lunch for half the staff
        away = rng.random(n) < 0.04
        lunch = (hours >= 12.0) & (hours < 13.0) & (rng.random() < 0.5)
        people[away | lunch] = 0
        return people
    if cam.area == "inspection_lane":
        return np.where(open_, rng.choice([0, 1, 1, 2, 2, 3], size=n), 0)
    if cam.area == "exam_room":
        session = ((hours >= 9) & (hours < 11)) | ((hours >= 14) & (hours < 16))
        session &= weekday < 5
        return np.where(session, rng.integers(2, 7, size=n), (hours >= 8) & (hours < 18) & (weekday < 5))
    if cam.area == "hall":
        return rng.poisson(3 + 35 * busy)
    # self-service
    return rng.poisson(np.where((hours >= 7) & (hours < 22), 1.2, 0.1))


def _offline_mask(n: int, step_s: int, episodes: list[tuple[int, int]]) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    for s, e in episodes:
        mask[s // step_s:(e + step_s - 1) // step_s] = True
    return mask


def _camera_stats(conn: psycopg.Connection, site: SeedSite, state: _State, day: date, day_start: datetime,
                  weekday: int, horizon_s: int, step_s: int, outages: dict[str, list[tuple[int, int]]]) -> int:
    n = -(-horizon_s // step_s)
    ts = _ts_strings(day_start, step_s, n)
    hours = np.arange(n) * step_s / 3600
    total = 0
    with conn.cursor().copy("COPY camera_stats (ts, camera_id, online, camera_fps, process_fps, skipped_fps,"
                            " detection_fps, decode_ms, lag_s, reconnects, luma_mean, luma_std, sharpness,"
                            " sharpness_ratio, changed, scene_shift, scene_response, health_issues,"
                            " analysed_fps, dropped_fps, needed_fps) FROM STDIN"
                            ) as copy:
        for cam in site.cameras:
            rng = _np_rng(state.seed, "stats", day, cam.id)
            offline = _offline_mask(n, step_s, outages[cam.id])
            camera_fps = np.where(offline, 0.0, 25.0 + rng.normal(0, 0.2, n))
            process = np.where(offline, 0.0, cam.detect_fps * (1 - np.abs(rng.normal(0, 0.01, n))))
            skipped = np.maximum(camera_fps - process, 0)
            detection = process * _people(cam, hours, weekday, rng)
            decode = np.where(offline, 0.0, 3.0 + rng.gamma(2.0, 0.6, n))
            lag = np.where(offline, 0.0, rng.gamma(1.5, 0.15, n))
            before = state.reconnects.get(cam.id, 0)
            # the counter steps up when a stream comes back (one reconnect per outage, sometimes more)
            ends = np.zeros(n, dtype=np.int64)
            for _s, e in outages[cam.id]:
                ends[min(n - 1, e // step_s)] += 1 + int(rng.integers(0, 3))
            reconnects = before + np.cumsum(ends)
            state.reconnects[cam.id] = int(reconnects[-1]) if n else before
            online = np.where(offline, "f", "t")
            health = _picture_health(cam, hours, offline, detection, process, rng)  # drawn last: the above stay
            # a node that keeps up: every frame the reader delivers is analysed (migration 0010), none dropped
            lines = [f"{t}\t{cam.id}\t{o}\t{c:.2f}\t{p:.2f}\t{s:.2f}\t{d:.2f}\t{dm:.2f}\t{lg:.3f}\t{r}\t{h}"
                     f"\t{p:.2f}\t0\t{cam.detect_fps:.2f}\n"
                     for t, o, c, p, s, d, dm, lg, r, h in zip(ts, online.tolist(), camera_fps.tolist(),
                                                              process.tolist(), skipped.tolist(), detection.tolist(),
                                                              decode.tolist(), lag.tolist(), reconnects.tolist(),
                                                              health, strict=True)]
            copy.write("".join(lines))
            total += n
    return total


def _picture_health(cam: SeedCamera, hours: np.ndarray, offline: np.ndarray, detection: np.ndarray,
                    process: np.ndarray, rng: np.random.Generator) -> list[str]:
    """COPY text of the picture measures (migration 0008): brightness follows daylight on the outdoor lanes,
    which also lose some sharpness at night (infrared); the picture changes more with more people; offline
    samples have no measures and an open video_loss."""
    n = len(hours)
    light = np.clip(np.sin(np.pi * (hours % 24 - 6) / 12), 0, 1) if cam.area == "inspection_lane" else np.ones(n)
    luma = 55 + 65 * light + rng.normal(0, 3, n)
    contrast = 38 + 10 * light + rng.normal(0, 2, n)
    ratio = 0.8 + 0.2 * light + rng.normal(0, 0.04, n)
    sharp = rng.uniform(150, 450) * ratio
    people = np.divide(detection, process, out=np.zeros(n), where=process > 0)
    changed = 0.0008 + 0.004 * np.minimum(people, 10) + np.abs(rng.normal(0, 0.0005, n))
    shift = np.abs(rng.normal(0, 0.002, n))
    response = np.clip(0.6 + rng.normal(0, 0.05, n), 0, 1)
    return ["\\N\t" * 7 + "{video_loss}" if off else
            f"{lm:.1f}\t{ls:.1f}\t{sh:.1f}\t{ra:.3f}\t{ch:.5f}\t{sf:.4f}\t{re:.3f}\t\\N"
            for off, lm, ls, sh, ra, ch, sf, re in zip(offline.tolist(), luma.tolist(), contrast.tolist(),
                                                       sharp.tolist(), ratio.tolist(), changed.tolist(),
                                                       shift.tolist(), response.tolist(), strict=True)]


def _occupancy(conn: psycopg.Connection, site: SeedSite, state: _State, day: date, day_start: datetime,
               weekday: int, horizon_s: int, step_s: int, outages: dict[str, list[tuple[int, int]]]) -> int:
    n = -(-horizon_s // step_s)
    ts = _ts_strings(day_start, step_s, n)
    hours = np.arange(n) * step_s / 3600
    total = 0
    with conn.cursor().copy("COPY occupancy_samples (ts, camera_id, zone_id, people) FROM STDIN") as copy:
        for cam in site.cameras:
            rng = _np_rng(state.seed, "occupancy", day, cam.id)
            online = ~_offline_mask(n, step_s, outages[cam.id])  # no samples while the camera is down
            for zone in cam.zones:
                people = _people(cam, hours, weekday, rng)
                copy.write("".join(f"{t}\t{cam.id}\t{zone.id}\t{p}\n" for t, p, ok in
                                   zip(ts, people.tolist(), online.tolist(), strict=True) if ok))
                total += int(online.sum())
            if cam.area == "exam_room" and weekday < 5 and cam.id.endswith("-01"):
                rng_a = _rng(state.seed, "exam-alert", day, cam.id)
                for rule, chance in (("phone_at_seat", 0.25), ("extra_person_at_seat", 0.08)):
                    if rng_a.random() < chance:
                        at = rng_a.choice([9.0, 14.0]) * 3600 + rng_a.uniform(300, 6900)
                        state.alerts.append((cam.id, rule, "room", "critical",
                                             f"{cam.name}: {rule.replace('_', ' ')}", _at(day, at, site)))
    return total


def _write_alerts(conn: psycopg.Connection, site: SeedSite, state: _State, start: datetime, end: datetime,
                  say: Progress) -> dict[str, int]:
    """Alerts with their lifecycle: older ones reviewed by auditors, the last day's still open."""
    if conn.execute("SELECT EXISTS (SELECT 1 FROM alerts WHERE site_id = %s AND started_at BETWEEN %s AND %s)",
                    (site.id, start, end)).fetchone()[0]:
        say(f"alerts: {site.id} already has alerts in the period; none added (alerts are append-only evidence)")
        return {"alerts": 0, "alert_events": 0}
    rng = _rng(state.seed, "alerts")
    alerts = sorted((a for a in state.alerts if a[5] <= end), key=lambda a: (a[5], a[0], a[1]))
    live_keys: set[str] = set()
    n_alerts = n_events = 0
    with conn.cursor() as cur:
        for camera_id, rule, zone_id, severity, title, started_at in alerts:
            key = f"{camera_id}:{rule}:{zone_id or ''}"
            age = end - started_at
            verdict = None
            if age > timedelta(hours=24) or key in live_keys:
                status = rng.choices(["reviewed", "closed"], [1, 3])[0]
                verdict = rng.choices(["confirmed", "false_alarm", "needs_follow_up"],
                                      [0.5 if rule != "video_loss" else 0.9, 0.35, 0.15])[0]
            else:
                status = rng.choice(["open", "acknowledged"])
                live_keys.add(key)
            ended_at = started_at + timedelta(minutes=rng.uniform(1, 20)) if status != "open" else None
            cur.execute("INSERT INTO alerts (dedup_key, site_id, camera_id, rule, zone_id, severity, status, verdict,"
                        " title, started_at, ended_at, created_at, updated_at)"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                        " ON CONFLICT (dedup_key) WHERE status IN ('open', 'acknowledged') DO NOTHING RETURNING id",
                        (key, site.id, camera_id, rule, zone_id, severity, status, verdict, title, started_at,
                         ended_at, started_at, ended_at or started_at))
            inserted = cur.fetchone()
            if inserted is None:  # a live alert with this key exists already (from before the period)
                continue
            n_alerts += 1
            alert_id = inserted[0]
            events = [(started_at, "system", "opened", {})]
            if status != "open":
                events.append((started_at + timedelta(minutes=rng.uniform(0.5, 10)), "commander1", "acknowledged", {}))
            if verdict:
                events.append((started_at + timedelta(hours=rng.uniform(1, 20)), rng.choice(["auditor1", "auditor2"]),
                               "reviewed", {"verdict": verdict}))
            cur.executemany("INSERT INTO alert_events (alert_id, at, actor, action, detail)"
                            " VALUES (%s, %s, %s, %s, %s)",
                            [(alert_id, min(at, end), actor, action, Jsonb(detail)) for at, actor, action, detail
                             in events])
            n_events += len(events)
    return {"alerts": n_alerts, "alert_events": n_events}
