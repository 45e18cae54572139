"""RTSP camera simulator: N cameras on one port, each with /<id>/main and /<id>/sub, from real footage.

The server is GStreamer's RTSP server (Debian `gir1.2-gst-rtsp-server-1.0`) running its GLib main loop in a
**separate process**, so a test can kill it, SIGSTOP it (a frozen camera: socket open, no data) or restart it
on the same port, exactly as a real camera server would behave.

Cost: the footage is encoded to H.264 once per variant (ffmpeg, cached on disk, AUDs inserted, SPS/PPS on
every IDR, no B-frames), split into access units and held in memory. Every mount pushes those access units
through `appsrc ! h264parse ! rtph264pay` at the footage's frame rate, stamped with the pipeline's running
time and looped forever: no decoding or encoding per camera, so one core serves hundreds of streams and
the readers under test get the CPU. A mount's pipeline exists only while someone watches it (rtsp-server
builds it on the first DESCRIBE and shares it between readers); a reader that joins sees the current
picture (live source, publish clock and offset), never a rewind.

**Play-once mode** (`once=True`, for `jianguan evaluate --via-rtsp`): each camera can have its own footage
(`sources`); a mount starts its footage at the first frame when its first reader PLAYs, plays it once and then
goes silent (a later reader gets 404), and the server writes the wall-clock epoch at which it sent frame 0 to
a file the parent reads (`SimulatorHandle.started`): that epoch is the footage's time zero on the stream.

This file is also the server's script: `python devkit/simulator.py` runs the server side, which imports
only the standard library and `gi`. The parent runs it with an interpreter that has GStreamer's RTSP
server through PyGObject: this venv's when `PyGObject<3.51` is installed, else Debian's `/usr/bin/python3`
(with `python3-gi`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

DEFAULT_SOURCE = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
PASSWORD_ENV = "JIANGUAN_SIM_PASSWORD_INTERNAL"  # how the password reaches the child (never argv)
SYSTEM_PYTHON = "/usr/bin/python3"


@dataclass(frozen=True)
class Variant:
    """One encoding of the footage, served as /<cam>/<name>."""

    name: str
    width: int
    height: int
    bitrate_kbps: int
    slices: int = 1  # slices per picture; some real cameras send 4 or 8


MAIN = Variant("main", 768, 576, 1500)
SUB = Variant("sub", 640, 360, 400)
VARIANTS = (MAIN, SUB)


class SimulatorError(Exception):
    """The simulator could not be started (missing GStreamer packages, port in use, bad footage)."""


# ---------------------------------------------------------------------------------------------------
# Parent side
# ---------------------------------------------------------------------------------------------------
def _has_rtsp_server(python: str) -> bool:
    code = ("import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0');"
            "from gi.repository import Gst, GstRtspServer")
    try:
        return subprocess.run([python, "-c", code], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def find_python() -> str | None:
    """An interpreter that can import GStreamer's RTSP server: this one, else Debian's system Python."""
    for python in (sys.executable, SYSTEM_PYTHON):
        if python and Path(python).exists() and _has_rtsp_server(python):
            return python
    return None


def missing_reason() -> str | None:
    """Why the simulator cannot run here (for pytest skips), or None when it can."""
    if not DEFAULT_SOURCE.exists():
        return f"footage {DEFAULT_SOURCE} missing (apt-get install opencv-doc)"
    if subprocess.run(["sh", "-c", "command -v ffmpeg"], capture_output=True).returncode:
        return "ffmpeg missing (apt-get install ffmpeg)"
    if find_python() is None:
        return ("GStreamer RTSP server not importable (apt-get install gir1.2-gst-rtsp-server-1.0 python3-gi "
                "gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad)")
    return None


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "jianguan" / "simulator"


def encode_variant(source: Path, variant: Variant, fps: float, cache_dir: Path, gop_s: float = 2.0,
                   lead_in_s: float = 0.0) -> Path:
    """Encode the footage once to an Annex-B H.264 file (cached by source, size, rate and settings).
    `lead_in_s` > 0 puts that long a still of the first picture before the footage."""
    st = source.stat()
    gop = max(1, round(fps * gop_s))
    key = f"{source.resolve()}|{st.st_size}|{st.st_mtime_ns}|{variant}|{fps}|{gop}|v2"
    if lead_in_s > 0:
        key += f"|lead{lead_in_s:g}"
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    out = cache_dir / f"{variant.name}-{variant.width}x{variant.height}-{digest}.h264"
    if out.exists() and out.stat().st_size > 0:
        return out
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".h264.part")
    os.close(fd)
    lead = f"tpad=start_duration={lead_in_s:g}:start_mode=clone," if lead_in_s > 0 else ""
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(source), "-an",
           "-vf", f"{lead}scale={variant.width}:{variant.height},format=yuv420p", "-r", f"{fps:g}",
           "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "main", "-bf", "0",
           "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
           "-b:v", f"{variant.bitrate_kbps}k", "-maxrate", f"{variant.bitrate_kbps}k",
           "-bufsize", f"{2 * variant.bitrate_kbps}k",
           "-x264-params", f"repeat-headers=1:sliced-threads=0:slices={variant.slices}",
           "-bsf:v", "h264_metadata=aud=insert", "-f", "h264", tmp]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        Path(tmp).unlink(missing_ok=True)
        raise SimulatorError(f"cannot encode {source} for the simulator: {proc.stderr.strip()[-300:]}")
    os.replace(tmp, out)  # atomic: parallel test sessions never read a half-written file
    return out


@dataclass
class SimulatorHandle:
    """A running simulator process. URLs per camera; pause/resume/kill/restart act like a real server."""

    cameras: list[str]
    host: str
    port: int
    user: str | None
    password: str | None = field(repr=False)
    proc: subprocess.Popen[bytes]
    _spec: dict = field(repr=False)
    _python: str = field(repr=False)
    _log: Path = field(repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def url(self, camera_id: str, stream: str = "sub", credentials: bool = True) -> str:
        auth = ""
        if self.user is not None and credentials:
            auth = f"{quote(self.user, safe='')}:{quote(self.password or '', safe='')}@"
        elif self.user is not None:
            auth = f"{quote(self.user, safe='')}@"
        return f"rtsp://{auth}{self.host}:{self.port}/{camera_id}/{stream}"

    @property
    def files(self) -> dict[str, Path]:
        """The encoded footage each mount serves, per variant (main, sub) (the first camera's, with `sources`)."""
        return {name: Path(f) for name, f in self._spec["files"][self.cameras[0]].items()}

    @property
    def urls(self) -> dict[str, dict[str, str]]:
        return {c: {name: self.url(c, name) for name in self._spec["variants"]} for c in self.cameras}

    def started(self, camera_id: str, stream: str = "main") -> list[float]:
        """Play-once mode: the wall-clock epochs (time.time()) at which the server sent the first picture of
        this mount's footage (after the lead-in), one per pipeline built (normally one; none until a PLAY)."""
        path = self._spec.get("starts")
        if not path or not Path(path).exists():
            return []
        out = []
        for line in Path(path).read_text().splitlines():
            cam, variant, epoch = line.split()
            if cam == camera_id and variant == stream:
                out.append(float(epoch) + self._spec["lead_in_s"])
        return out

    def alive(self) -> bool:
        return self.proc.poll() is None

    def pause(self) -> None:
        """SIGSTOP: sockets stay open, nothing is sent or answered (a hung camera server)."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """Abrupt death (SIGKILL): connections reset, the port is free again."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a stopped process still dies, but be explicit
            self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.unlink(missing_ok=True)
        if self._spec.get("starts"):
            Path(self._spec["starts"]).unlink(missing_ok=True)

    def restart(self, timeout_s: float = 30.0) -> None:
        """Kill and start again on the same port (a camera server reboot)."""
        self.kill()
        self.proc, self.port = _spawn(self._python, self._spec | {"port": self.port}, self.password, self._log,
                                      timeout_s)

    def wait(self) -> int:
        return self.proc.wait()

    def __enter__(self) -> SimulatorHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _spawn(python: str, spec: dict, password: str | None, log: Path, timeout_s: float
           ) -> tuple[subprocess.Popen[bytes], int]:
    from ingest.children import die_with_parent  # here: this file also runs as the server's script

    env = dict(os.environ)
    env.pop(PASSWORD_ENV, None)
    if password is not None:
        env[PASSWORD_ENV] = password
    with open(log, "ab") as err:
        proc = subprocess.Popen([python, str(Path(__file__).resolve()), json.dumps(spec)], stdout=subprocess.PIPE,
                                stderr=err, stdin=subprocess.DEVNULL, env=env, preexec_fn=die_with_parent())
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    line = b""
    while time.monotonic() < deadline and not line.endswith(b"\n"):
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 256)
            if not chunk:
                break
            line += chunk
        elif proc.poll() is not None:
            break
    if line.startswith(b"READY "):
        return proc, int(line.split()[1])
    proc.kill()
    proc.wait(5)
    tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
    why = " / ".join(tail) or ("timed out" if time.monotonic() >= deadline else "exited")
    raise SimulatorError(f"RTSP simulator did not start on {spec['host']}:{spec['port']}: {why}")


def start_simulator(cameras: list[str], port: int = 0, *, host: str = "127.0.0.1", fps: float = 10.0,
                    user: str | None = None, password: str | None = None, source: Path | str = DEFAULT_SOURCE,
                    cache_dir: Path | None = None, python: str | None = None, slices: int = 1,
                    timeout_s: float = 60.0, sources: Mapping[str, Path | str] | None = None,
                    variants: Sequence[Variant] = VARIANTS, once: bool = False, lead_in_s: float = 0.0
                    ) -> SimulatorHandle:
    """Serve `cameras` as rtsp://host:port/<id>/main and /<id>/sub; return when the server accepts.

    The server process is killed when the thread that called this ends (PR_SET_PDEATHSIG): call it from a
    thread that lives as long as the server should (the main thread, a test).

    `port=0` picks a free port (see `handle.port`). With `user`, every mount requires basic auth with
    `user`/`password` (the password travels to the server process in its environment, not its argv).
    `slices` > 1 encodes each picture in that many slices, as some real cameras do.
    `sources` gives cameras their own footage (the others show `source`); `variants` limits the mounts
    (e.g. `(MAIN,)`, 768x576, the scenario library's size). `once`: play-once mode (see the module docstring).
    `lead_in_s`: a still of the first picture served before the footage (FFmpeg's stream probe swallows the
    first ~20 frames of a stream and hands them out in one burst when the open returns).
    """
    if not cameras:
        raise SimulatorError("no cameras to simulate")
    bad = [c for c in cameras if not c or "/" in c or c != c.strip()]
    if bad:
        raise SimulatorError(f"camera ids must be non-empty path segments: {bad[:3]}")
    if user is not None and not password:
        raise SimulatorError("a user needs a password")
    footage = {c: Path((sources or {}).get(c, source)) for c in cameras}
    for path in set(footage.values()):
        if not path.exists():
            raise SimulatorError(f"footage not found: {path}")
    python = python or find_python()
    if python is None:
        raise SimulatorError(missing_reason() or "GStreamer RTSP server not importable")
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    variants = [dataclasses.replace(v, slices=slices) for v in variants]
    encoded = {(path, v.name): str(encode_variant(path, v, fps, cache, lead_in_s=lead_in_s))
               for path in set(footage.values()) for v in variants}
    spec = {"cameras": list(cameras), "host": host, "port": port, "fps": fps, "user": user, "once": once,
            "lead_in_s": lead_in_s,
            "variants": {v.name: {"width": v.width, "height": v.height} for v in variants},
            "files": {c: {v.name: encoded[footage[c], v.name] for v in variants} for c in cameras}}
    if once:
        fd, spec["starts"] = tempfile.mkstemp(prefix="jianguan-sim-", suffix=".starts")
        os.close(fd)
    log = Path(tempfile.mkstemp(prefix="jianguan-sim-", suffix=".log")[1])
    proc, bound = _spawn(python, spec, password, log, timeout_s)
    return SimulatorHandle(list(cameras), host, bound, user, password, proc, spec, python, log)


# ---------------------------------------------------------------------------------------------------
# Server side (runs in the child; standard library + gi only)
# ---------------------------------------------------------------------------------------------------
def split_access_units(data: bytes) -> tuple[list[bytes], list[int]]:
    """Annex-B stream with an AUD before every access unit -> (access units, indices of IDR units)."""
    starts: list[int] = []  # offsets of start codes of AUD NAL units (type 9)
    i = data.find(b"\x00\x00\x01")
    while i != -1:
        if i + 3 < len(data) and data[i + 3] & 0x1F == 9:
            starts.append(i - 1 if i > 0 and data[i - 1] == 0 else i)
        i = data.find(b"\x00\x00\x01", i + 3)
    units = [data[a:b] for a, b in zip(starts, [*starts[1:], len(data)], strict=True)]
    idr = [n for n, au in enumerate(units) if _has_nal(au, 5)]
    return units, idr


def _has_nal(au: bytes, nal_type: int) -> bool:
    i = au.find(b"\x00\x00\x01")
    while i != -1:
        if i + 3 < len(au) and au[i + 3] & 0x1F == nal_type:
            return True
        i = au.find(b"\x00\x00\x01", i + 3)
    return False


def serve(spec: dict) -> None:  # pragma: no cover - runs in the child process, exercised by the tests
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    fps = float(spec["fps"])
    frame_ns = int(Gst.SECOND / fps)
    once = bool(spec.get("once"))
    loaded: dict[str, tuple[list[bytes], list[int]]] = {}  # by file: cameras sharing footage share memory
    for file in {f for per_cam in spec["files"].values() for f in per_cam.values()}:
        loaded[file] = split_access_units(Path(file).read_bytes())
        if not loaded[file][0] or not loaded[file][1]:
            raise SystemExit(f"no H.264 access units in {file}")

    active: dict[int, dict] = {}  # id(appsrc) -> pushing state of one live mount pipeline

    def push(st: dict, pts: int) -> bool:
        buf = Gst.Buffer.new_wrapped(st["units"][st["pos"]])
        buf.pts = buf.dts = pts
        buf.duration = frame_ns
        return st["src"].emit("push-buffer", buf) == Gst.FlowReturn.OK

    def tick() -> bool:
        for st in list(active.values()):
            src = st["src"]
            clock = src.get_clock()
            if st["done"] or clock is None or src.get_state(0)[1] != Gst.State.PLAYING:
                continue
            now = clock.get_time() - src.get_base_time()
            if once and not st["playing"]:
                # The SDP needs caps: frame 0 once, before any reader plays; the footage starts at its PLAY.
                if not st["primed"]:
                    st["primed"] = push(st, now)
                continue
            if st["anchor"] is None or now - st["anchor"] > (st["k"] + 2 * fps) * frame_ns:
                if once and st["anchor"] is None:  # frame 0 leaves now: the footage's time zero on the wall
                    with open(spec["starts"], "a") as f:
                        f.write(f"{st['camera']} {st['variant']} {time.time():.6f}\n")
                st["anchor"], st["k"] = now, 0  # start, or resumed after a stall: no burst of old frames
            due = (now - st["anchor"]) // frame_ns + 1
            while st["k"] < due:
                ok = push(st, st["anchor"] + st["k"] * frame_ns)
                st["k"] += 1
                st["pos"] = (st["pos"] + 1) % len(st["units"])
                if once and st["pos"] == 0:
                    st["done"] = True  # played once: silence, as a camera whose footage ended
                    break
                if not ok:
                    break
        return True

    def on_configure(factory, media, camera: str, variant: str) -> None:
        src = media.get_element().get_by_name("src")
        aus, idr = loaded[spec["files"][camera][variant]]
        # Each camera shows a different moment of the footage; start on a keyframe so readers decode at once.
        offset = 0 if once else int(hashlib.sha1(camera.encode()).hexdigest(), 16) % len(aus)
        pos = max([i for i in idr if i <= offset] or [0])
        key = id(src)
        active[key] = {"src": src, "units": aus, "pos": pos, "anchor": None, "k": 0, "camera": camera,
                       "variant": variant, "media": media, "playing": False, "primed": False, "done": False}
        media.connect("unprepared", lambda _m: active.pop(key, None))

    def on_play(_client, ctx) -> None:
        # Play-once: the footage starts for its first reader; the mount goes away so that a reconnect
        # cannot replay it from the start on a clock the evaluator no longer knows (it gets 404).
        for st in list(active.values()):
            if st["media"] == ctx.media and not st["playing"]:
                st["playing"] = True
                mounts.remove_factory(f"/{st['camera']}/{st['variant']}")

    server = GstRtspServer.RTSPServer()
    server.set_address(spec["host"])
    server.set_service(str(spec["port"]))
    mounts = server.get_mount_points()
    user = spec.get("user")
    if user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, os.environ.get(PASSWORD_ENV, "")), token)
        server.set_auth(auth)
        role = Gst.Structure.new_from_string(
            "viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true")
    for camera in spec["cameras"]:
        for name, v in spec["variants"].items():  # the footage's size: each camera's file is this variant
            caps = (f"video/x-h264,stream-format=byte-stream,alignment=au,width={v['width']},"
                    f"height={v['height']},framerate={round(fps * 1000)}/1000")
            factory = GstRtspServer.RTSPMediaFactory()
            # config-interval=0: SPS/PPS are already in the stream before every IDR. With -1 the payloader
            # adds them before every IDR *slice*, and FFmpeg then splits a multi-slice keyframe into packets
            # that decode as half-grey smears until the next keyframe, and again after it.
            factory.set_launch(f'( appsrc name=src is-live=true format=time do-timestamp=false caps="{caps}" '
                               f"max-bytes=4000000 ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=0 )")
            factory.set_shared(True)
            factory.set_publish_clock_mode(GstRtspServer.RTSPPublishClockMode.CLOCK_AND_OFFSET)
            if user:
                factory.add_role_from_structure(role)
            factory.connect("media-configure", on_configure, camera, name)
            mounts.add_factory(f"/{camera}/{name}", factory)
    if once:
        server.connect("client-connected", lambda _s, client: client.connect("play-request", on_play))
    if server.attach(None) == 0:
        raise SystemExit(f"cannot listen on {spec['host']}:{spec['port']} (in use?)")
    GLib.timeout_add(max(5, int(500 / fps)), tick)
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
    os.write(1, f"READY {server.get_bound_port()}\n".encode())
    loop.run()


if __name__ == "__main__":  # pragma: no cover - the child process
    serve(json.loads(sys.argv[1]))
