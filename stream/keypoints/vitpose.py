"""ViTPose keypoints for every person in view (top-down).

People are found by BlazePose's detector (:class:`~livehmr.stream.keypoints.blazepose_multi.PersonFinder`)
and then followed from their own keypoints: each frame, every followed person's box
(from the last keypoints, padded 1.25×) and every newcomer's region are cropped to
256×192, run through ViTPose as one batch, decoded (:mod:`livehmr.models.heatmaps`)
and handed to the tracker for stable ids. Output: COCO-17 keypoints (the foot points
stay at confidence 0: ViTPose's COCO models have none) and no metric 3D landmarks, so
it pairs with ``--estimator learned``.
"""

from __future__ import annotations

import cv2
import numpy as np

from livehmr.core.types import NUM_KEYPOINTS, Frame, PersonKeypoints
from livehmr.models.heatmaps import box_to_crop, crop, decode_heatmaps, heatmap_to_image
from livehmr.models.vitpose import HEATMAP_SIZE, INPUT_SIZE, normalise
from livehmr.models.vitpose_runtime import HeatmapRunner, open_runner
from livehmr.stream.keypoints.blazepose import visible_box
from livehmr.stream.keypoints.blazepose_multi import PersonFinder, drop_duplicates
from livehmr.stream.keypoints.tracker import PersonTracker, TrackerConfig


class ViTPoseKeypoints:
    """Args:
    model: a ``.pth`` checkpoint, ``.onnx`` or TensorRT ``.engine`` (see :func:`open_runner`),
        or a ready :class:`HeatmapRunner`.
    variant: s | b | l | h, checked against a checkpoint (None: read from it).
    device: ``cpu`` or ``cuda``.
    max_people, detect_every: as :class:`~livehmr.stream.keypoints.blazepose_multi.MultiBlazePose`.
    min_score: mean keypoint confidence a crop needs to count as a person.
    """

    def __init__(self, model: str | HeatmapRunner, variant: str | None = None, device: str = "cpu",
                 max_people: int = 4, detect_every: int = 10, min_score: float = 0.3,
                 trust_pickle: bool = False, tracker: TrackerConfig | None = None):  # fmt: skip
        self.runner = open_runner(model, device, variant, trust_pickle) if isinstance(model, str) else model
        self.finder = PersonFinder(max_people, detect_every)
        self.tracker = PersonTracker(tracker or TrackerConfig())
        self.max_people = max_people
        self.min_score = min_score
        self._boxes: dict[int, np.ndarray] = {}  # track id -> box for the next frame

    def keypoints_in_regions(self, rgb: np.ndarray, regions: list[tuple[np.ndarray, np.ndarray]]) -> list[tuple[np.ndarray, float]]:
        """(17, 3) pixel x, y, confidence and a score for each (centre, size) crop region, one batch."""
        if not regions:
            return []
        crops = np.stack([crop(rgb, c, s, INPUT_SIZE) for c, s in regions])
        heatmaps = self.runner(normalise(crops))
        out = []
        for hm, (c, s) in zip(heatmaps, regions):
            peaks, maxvals = decode_heatmaps(hm)
            kp = np.concatenate([heatmap_to_image(peaks, c, s, HEATMAP_SIZE), np.clip(maxvals, 0, 1)[:, None]], axis=1)
            out.append((kp, float(np.clip(maxvals, 0, 1).mean())))
        return out

    def reset(self) -> None:
        """Forget everyone followed: the next frame looks for people afresh, with new ids."""
        self.tracker.reset()
        self._boxes = {}

    def detect(self, frame: Frame) -> list[PersonKeypoints]:
        rgb = cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)
        followed = list(self._boxes.values())
        regions = [box_to_crop(b) for b in followed]
        regions += [box_to_crop(roi.box(), padding=1.0) for roi in self.finder(rgb, followed)]
        found = []
        for kp17, score in self.keypoints_in_regions(rgb, regions[: 2 * self.max_people]):
            if score < self.min_score or not np.isfinite(kp17).all():
                continue
            keypoints = np.zeros((NUM_KEYPOINTS, 3))
            keypoints[:17] = kp17
            found.append((PersonKeypoints(keypoints, visible_box(kp17)), None, score))
        found = drop_duplicates(found)[: self.max_people]
        persons = self.tracker.update([p for p, _, _ in found], frame.t, frame.image)
        self._boxes = {tid: p.box for tid, (p, _, _) in zip(self.tracker.assigned, found)}
        return persons

    def close(self) -> None:
        self.finder.close()
