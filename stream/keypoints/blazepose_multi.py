"""BlazePose for several people: MediaPipe's own detector and landmark models, run directly.

``mediapipe==0.10.14``'s Pose solution tracks one person. Its wheel also carries the two
``.tflite`` models that solution runs (``pose_detection`` and ``pose_landmark_full``), so
livehmr runs them itself through LiteRT (``ai-edge-litert``, the TFLite runtime on PyPI)
and repeats the solution's geometry for every person:

1. the detector (224×224, letterboxed, input in [-1, 1]) scores 2254 SSD anchors; each
   detection carries 4 keypoints: hip centre, a full-body scale point, shoulder centre,
   an upper-body scale point;
2. a detection becomes a region of interest (:class:`Roi`): a square centred on the hip
   centre, side 2 × 1.25 × |scale point − hip centre|, rotated so the body stands upright;
3. the landmark model (256×256 crop of that region, input in [0, 1]) gives 33 landmarks
   + 2 auxiliary ones, visibility and presence logits, a pose score and metric world
   landmarks; the auxiliary pair gives the next frame's region (tracking without the
   detector, as MediaPipe does).

A :class:`PersonFinder` looks for people nobody follows yet; a :class:`~livehmr.stream.keypoints.tracker.PersonTracker`
gives each person a stable id. The constants below are those of MediaPipe's
``pose_detection_cpu`` and ``pose_landmark_by_roi_cpu`` graphs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.special import expit

from livehmr.core.errors import LivehmrError
from livehmr.core.types import Frame, PersonKeypoints
from livehmr.stream.keypoints.blazepose import blazepose_to_keypoints, visible_box
from livehmr.stream.keypoints.tracker import PersonTracker, TrackerConfig, box_iou

log = logging.getLogger(__name__)

DETECTOR_SIZE = 224
LANDMARK_SIZE = 256
NUM_LANDMARKS = 33
_ROI_SCALE = 1.25  # RectTransformationCalculator scale_x = scale_y


def mediapipe_model(name: str) -> Path:
    """Path of a ``.tflite`` inside the installed mediapipe wheel, e.g. ``pose_detection/pose_detection.tflite``."""
    import importlib.util

    spec = importlib.util.find_spec("mediapipe")
    if spec is None or spec.origin is None:
        raise LivehmrError("mediapipe is not installed (pip install mediapipe==0.10.14)")
    path = Path(spec.origin).parent / "modules" / name
    if not path.exists():
        raise LivehmrError(f"{path} is missing: livehmr needs mediapipe==0.10.14, whose wheel ships the pose models")
    return path


def _open(interpreter):
    """``interpreter``, unless its model was closed."""
    if interpreter is None:
        raise RuntimeError("this BlazePose model was closed")
    return interpreter


def _interpreter(path: Path, threads: int):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise LivehmrError("multi-person BlazePose needs LiteRT: pip install ai-edge-litert") from exc
    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    return interpreter


def ssd_anchors() -> np.ndarray:
    """(2254, 2) anchor centres of the pose detector, normalised [0, 1] (x, y).

    SsdAnchorsCalculator with strides 8, 16, 32, 32, 32 on a 224 input, one aspect ratio
    plus the interpolated scale (2 anchors per layer), ``fixed_anchor_size`` (so only
    centres matter); layers of equal stride share a grid and stack their anchors."""
    centres = []
    for stride, per_cell in ((8, 2), (16, 2), (32, 6)):
        n = DETECTOR_SIZE // stride
        ys, xs = np.meshgrid((np.arange(n) + 0.5) / n, (np.arange(n) + 0.5) / n, indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(grid, per_cell, axis=0))
    return np.concatenate(centres)


@dataclass
class Roi:
    """A rotated square in image pixels: ``center`` (2,), ``size`` (side), ``rotation``
    (radians; MediaPipe's sign: a crop point (x, y) maps to center + size · R(rotation) · (x − ½, y − ½))."""

    center: np.ndarray
    size: float
    rotation: float

    @classmethod
    def from_alignment(cls, centre: np.ndarray, scale_point: np.ndarray) -> Roi:
        """AlignmentPointsRectsCalculator (target angle 90°) + RectTransformation (×1.25)."""
        d = scale_point - centre
        rotation = np.pi / 2 - np.arctan2(-d[1], d[0])
        rotation = (rotation + np.pi) % (2 * np.pi) - np.pi
        return cls(np.asarray(centre, float), float(2.0 * np.hypot(*d) * _ROI_SCALE), float(rotation))

    def rotation_matrix(self) -> np.ndarray:
        """(2, 2) the region's rotation in image axes."""
        c, s = np.cos(self.rotation), np.sin(self.rotation)
        return np.array([[c, -s], [s, c]])

    def crop_to_image(self, side: int) -> np.ndarray:
        """(2, 3) affine taking pixel (u, v) of a ``side``×``side`` crop to image pixels."""
        A = (self.size / side) * self.rotation_matrix()
        return np.hstack([A, (self.center - A @ np.array([side / 2, side / 2]))[:, None]])

    def box(self) -> np.ndarray:
        """(4,) axis-aligned bounds x0, y0, x1, y1 of the rotated square."""
        M = self.crop_to_image(LANDMARK_SIZE)
        pts = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float) * LANDMARK_SIZE @ M[:, :2].T + M[:, 2]
        return np.array([*pts.min(0), *pts.max(0)])


def warp_crop(image: np.ndarray, crop_to_image: np.ndarray, side: int) -> np.ndarray:
    """The ``side``×``side`` crop whose pixels map to the image by ``crop_to_image`` (zero outside)."""
    return cv2.warpAffine(image, crop_to_image, (side, side), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)  # fmt: skip


@dataclass
class PoseDetection:
    score: float
    box: np.ndarray  # (4,) pixels x0, y0, x1, y1 (the detector's box is the face's)
    keypoints: np.ndarray  # (4, 2) pixels: hip centre, full-body scale point, shoulder centre, upper-body scale point

    def roi(self) -> Roi:
        return Roi.from_alignment(self.keypoints[0], self.keypoints[1])


class PoseDetector:
    """MediaPipe's BlazePose person detector on a whole image (RGB uint8)."""

    def __init__(self, min_score: float = 0.5, nms_iou: float = 0.3, threads: int = 2):
        self.interpreter = _interpreter(mediapipe_model("pose_detection/pose_detection.tflite"), threads)
        self._input = self.interpreter.get_input_details()[0]["index"]
        outputs = {d["name"]: d["index"] for d in self.interpreter.get_output_details()}
        self._boxes, self._scores = outputs["Identity"], outputs["Identity_1"]
        self.anchors = ssd_anchors()
        self.min_score = min_score
        self.nms_iou = nms_iou

    def __call__(self, rgb: np.ndarray) -> list[PoseDetection]:
        h, w = rgb.shape[:2]
        scale = DETECTOR_SIZE / max(h, w)  # letterbox: keep the aspect ratio, pad with zeros
        pad = (np.array([DETECTOR_SIZE, DETECTOR_SIZE]) - np.array([w, h]) * scale) / 2
        M = np.array([[scale, 0, pad[0]], [0, scale, pad[1]]])
        tensor = cv2.warpAffine(rgb, M, (DETECTOR_SIZE, DETECTOR_SIZE), flags=cv2.INTER_LINEAR)
        tensor = tensor.astype(np.float32)[None] / 127.5 - 1.0
        interpreter = _open(self.interpreter)
        interpreter.set_tensor(self._input, tensor)
        interpreter.invoke()
        raw = interpreter.get_tensor(self._boxes)[0]  # (2254, 12)
        # score_clipping_thresh 100, as MediaPipe's graph
        logits = np.clip(interpreter.get_tensor(self._scores)[0, :, 0].astype(np.float64), -100.0, 100.0)
        scores = expit(logits)
        keep = np.flatnonzero(scores >= self.min_score)
        if len(keep) == 0:
            return []
        # TensorsToDetections with reverse_output_order: (x, y, w, h) then 4 × (x, y), all / 224
        raw, anchors = raw[keep] / DETECTOR_SIZE, self.anchors[keep]
        centre = raw[:, :2] + anchors
        half = raw[:, 2:4] / 2
        boxes = np.concatenate([centre - half, centre + half], axis=1) * DETECTOR_SIZE
        points = (raw[:, 4:12].reshape(-1, 4, 2) + anchors[:, None]) * DETECTOR_SIZE
        to_image = lambda p: (p - pad) / scale  # noqa: E731  (letterbox removal)
        boxes = np.concatenate([to_image(boxes[:, :2]), to_image(boxes[:, 2:])], axis=1)
        return weighted_nms(scores[keep], boxes, to_image(points), self.nms_iou)

    def close(self) -> None:
        self.interpreter = None


def weighted_nms(scores: np.ndarray, boxes: np.ndarray, points: np.ndarray, iou: float) -> list[PoseDetection]:
    """MediaPipe's WEIGHTED non-maximum suppression: each cluster of overlapping detections
    becomes one, its box and keypoints the score-weighted mean of the cluster."""
    order = list(np.argsort(-scores))
    out = []
    while order:
        best = order[0]
        overlaps = box_iou(boxes[best][None], boxes[order])[0]
        cluster = [order[i] for i in np.flatnonzero(overlaps > iou)]
        weights = scores[cluster][:, None]
        box = (boxes[cluster] * weights).sum(0) / weights.sum()
        pts = (points[cluster] * weights[:, :, None]).sum(0) / weights.sum()
        out.append(PoseDetection(float(scores[best]), box, pts))
        order = [i for i in order if i not in set(cluster)]
    return out


@dataclass
class PoseLandmarks:
    """One person's landmark-model output, in image pixels.

    Attributes:
        score: pose presence in [0, 1].
        landmarks: (33, 3) pixel x, y and visibility in [0, 1].
        world: (33, 3) metres, hip-centred, camera-aligned axes (x right, y down, z away).
        next_roi: the region to crop in the next frame (from the auxiliary landmarks).
    """

    score: float
    landmarks: np.ndarray
    world: np.ndarray
    next_roi: Roi


class PoseLandmarker:
    """MediaPipe's BlazePose landmark model (full) on one region of an image (RGB uint8)."""

    def __init__(self, threads: int = 2):
        self.interpreter = _interpreter(mediapipe_model("pose_landmark/pose_landmark_full.tflite"), threads)
        self._input = self.interpreter.get_input_details()[0]["index"]
        outputs = {d["name"]: d["index"] for d in self.interpreter.get_output_details()}
        self._landmarks, self._flag, self._world = outputs["Identity"], outputs["Identity_1"], outputs["Identity_4"]

    def __call__(self, rgb: np.ndarray, roi: Roi) -> PoseLandmarks:
        M = roi.crop_to_image(LANDMARK_SIZE)
        crop = warp_crop(rgb, M, LANDMARK_SIZE).astype(np.float32)[None] / 255.0
        interpreter = _open(self.interpreter)
        interpreter.set_tensor(self._input, crop)
        interpreter.invoke()
        raw = interpreter.get_tensor(self._landmarks)[0].reshape(-1, 5)  # 39 × (x, y, z, vis, presence)
        score = float(interpreter.get_tensor(self._flag)[0, 0])
        world = interpreter.get_tensor(self._world)[0].reshape(-1, 3)[:NUM_LANDMARKS].astype(np.float64)
        pixels = raw[:, :2] @ M[:, :2].T + M[:, 2]
        visibility = expit(raw[:, 3].astype(np.float64))
        world[:, :2] = world[:, :2] @ roi.rotation_matrix().T  # undo the crop's rotation
        landmarks = np.concatenate([pixels[:NUM_LANDMARKS], visibility[:NUM_LANDMARKS, None]], axis=1)
        return PoseLandmarks(score, landmarks.astype(np.float64), world, Roi.from_alignment(pixels[33], pixels[34]))

    def close(self) -> None:
        self.interpreter = None


def detection_views(width: int, height: int) -> list[tuple[int, int, int]]:
    """Square views (x0, y0, side) in pixels the detector cycles through: the whole image,
    then overlapping squares of the short side and of two thirds of it.

    BlazePose's detector looks for a person's face and hips at 224×224; on a whole
    640×480 frame someone 4 m away is 60 px tall there and often missed, so smaller
    views zoom in (measured on the crowd scene: a 320-px view finds people the whole
    frame does not)."""
    views = [(0, 0, max(width, height))]
    short = min(width, height)
    for side in (short, (2 * short) // 3):
        step = 2 * side / 3  # neighbouring views overlap by a third
        nx, ny = (int(np.ceil((n - side) / step)) + 1 for n in (width, height))
        for y in np.linspace(0, height - side, ny).astype(int):
            for x in np.linspace(0, width - side, nx).astype(int):
                views.append((int(x), int(y), side))
    return list(dict.fromkeys(views))


class PersonFinder:
    """Finds people nobody follows yet, at most one detector call per frame.

    Each call runs the detector on the next view of :func:`detection_views` (the whole
    frame, then zoomed squares), so a newcomer is found within one cycle (9 frames at
    640×480, 0.3 s). While ``max_people`` are followed it looks only every
    ``detect_every`` frames; while nobody is followed and a whole cycle found no one, every
    ``idle_every`` frames (someone coming into an empty view then takes up to
    ``idle_every`` cycles to find: ~1 s at 640×480)."""

    def __init__(self, max_people: int = 4, detect_every: int = 10, min_score: float = 0.5, threads: int = 2,
                 idle_every: int = 3):  # fmt: skip
        self.detector = PoseDetector(min_score=min_score, threads=threads)
        self.max_people = max_people
        self.detect_every = detect_every
        self.idle_every = idle_every
        self._view = 0
        self._frames_since_detect = 0
        self._empty_views = 0  # views in a row in which nobody new was found
        self.calls = 0  # detector calls made (the cost this schedule bounds)

    def __call__(self, rgb: np.ndarray, followed: list[np.ndarray]) -> list[Roi]:
        """Regions of people found in this frame's view whose hips lie in none of the
        ``followed`` boxes (x0 y0 x1 y1, pixels); none on frames the schedule skips."""
        self._frames_since_detect += 1
        if len(followed) >= self.max_people and self._frames_since_detect < self.detect_every:
            return []
        h, w = rgb.shape[:2]
        views = detection_views(w, h)
        if not followed and self._empty_views >= len(views) and self._frames_since_detect < self.idle_every:
            return []
        self._frames_since_detect = 0
        self.calls += 1
        x0, y0, side = views[self._view % len(views)]
        self._view += 1
        whole = side >= max(w, h)
        view = rgb if whole else np.ascontiguousarray(rgb[y0 : y0 + side, x0 : x0 + side])
        offset = np.zeros(2) if whole else np.array([x0, y0], float)
        new = []
        for det in self.detector(view):
            hips = det.keypoints[0] + offset
            if any(b[0] <= hips[0] <= b[2] and b[1] <= hips[1] <= b[3] for b in followed):
                continue
            new.append(Roi.from_alignment(hips, det.keypoints[1] + offset))
        self._empty_views = 0 if new else self._empty_views + 1
        return new

    def close(self) -> None:
        self.detector.close()


class MultiBlazePose:
    """Every person in view: BlazePose detection + landmarks per person + a tracker for ids.

    A :class:`PersonFinder` looks for people not followed yet; followed people are
    cropped from the region their last landmarks give, as MediaPipe's tracking mode does.

    Args:
        max_people: at most this many people are followed (the best-scoring first).
        detect_every: frames between detector runs while ``max_people`` are followed.
        min_score: detection score and pose presence needed to keep a person.
        threads: LiteRT threads per model.
    """

    def __init__(self, max_people: int = 4, detect_every: int = 10, min_score: float = 0.5, threads: int = 2,
                 tracker: TrackerConfig | None = None):  # fmt: skip
        self.finder = PersonFinder(max_people, detect_every, min_score=min_score, threads=threads)
        self.landmarker = PoseLandmarker(threads=threads)
        self.tracker = PersonTracker(tracker or TrackerConfig())
        self.max_people = max_people
        self.min_score = min_score
        self._rois: dict[int, Roi] = {}  # track id -> region for the next frame
        self._followed: list[np.ndarray] = []  # last frame's person boxes (tentative tracks too)

    def reset(self) -> None:
        """Forget everyone followed: the next frame looks for people afresh, with new ids."""
        self.tracker.reset()
        self._rois, self._followed = {}, []

    def detect(self, frame: Frame) -> list[PersonKeypoints]:
        rgb = cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)
        rois = list(self._rois.values()) + self.finder(rgb, self._followed)
        found: list[tuple[PersonKeypoints, Roi, float]] = []
        for roi in rois[: 2 * self.max_people]:
            result = self.landmarker(rgb, roi)
            if result.score < self.min_score or not np.isfinite(result.landmarks).all() or not np.isfinite(result.world).all():
                continue
            found.append((_person(result), result.next_roi, result.score))
        found = drop_duplicates(found)[: self.max_people]
        self._followed = [p.box for p, _, _ in found]
        persons = self.tracker.update([p for p, _, _ in found], frame.t, frame.image)
        # tentative tracks are not published yet but are followed all the same
        self._rois = {tid: roi for tid, (_, roi, _) in zip(self.tracker.assigned, found)}
        return persons

    def close(self) -> None:
        self.finder.close()
        self.landmarker.close()


def _person(result: PoseLandmarks) -> PersonKeypoints:
    return PersonKeypoints(keypoints=blazepose_to_keypoints(result.landmarks), box=visible_box(result.landmarks),
                           landmarks_3d=result.world, landmarks_3d_conf=result.landmarks[:, 2].copy())  # fmt: skip


def drop_duplicates(found: list, iou: float = 0.6) -> list:
    """(person, anything, score) items: where two boxes overlap (two regions converged on
    one person), keep the higher score."""
    found = sorted(found, key=lambda item: -item[2])
    kept: list = []
    for item in found:
        if all(box_iou(item[0].box[None], k[0].box[None])[0, 0] <= iou for k in kept):
            kept.append(item)
    return kept
