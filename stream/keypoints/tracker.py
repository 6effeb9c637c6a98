"""Stable ids for the people a keypoint detector finds, frame after frame.

Each frame's detections are matched to the tracks by one Hungarian assignment on a
similarity that mixes the three cues trackers in the field use (SORT's box overlap with
a constant-velocity prediction, PoseTrack's keypoint similarity, DeepSORT's appearance):

    similarity = w_overlap · max(IoU, proximity) + w_oks · OKS + w_appearance · colour

``proximity`` lets a track that lost its box overlap during an occlusion (its predicted
box drifted) be re-identified when the person reappears near it. Clothes that clearly
disagree (colour correlation under ``appearance_gate``) halve a pair's similarity, and a
track's colour model only learns from matches whose clothes agree: when two people cross,
a landmark region can slide onto the other person, and geometry alone then swaps their
ids (DeepSORT gates on appearance for the same reason). A track is
**tentative** until matched ``confirm_hits`` frames in a row (spurious detections never
get an id), then **confirmed** (published), then **lost** when unmatched; a lost track
keeps its id for ``max_lost_frames`` and takes it back when matched again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from livehmr.core.types import KP, PersonKeypoints

#: Per-keypoint OKS falloff (COCO's sigmas; the foot points take the ankle's).
OKS_SIGMAS = np.array([.026, .025, .025, .035, .035, .079, .079, .072, .072, .062, .062, .107, .107, .087, .087,
                       .089, .089, .089, .089, .089, .089, .089, .089])  # fmt: skip
_TORSO = [KP["left_shoulder"], KP["right_shoulder"], KP["left_hip"], KP["right_hip"]]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) intersection over union of boxes ``a`` (N, 4) and ``b`` (M, 4), x0 y0 x1 y1."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=2)
    area = lambda x: np.prod(np.clip(x[:, 2:] - x[:, :2], 0.0, None), axis=1)  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None] - inter, 1e-9)


def keypoint_similarity(a: np.ndarray, b: np.ndarray, area: float, min_conf: float = 0.3) -> float:
    """COCO object keypoint similarity of two (23, 3) keypoint sets on a person of ``area`` px²,
    over the keypoints both see; 0 when they share none."""
    both = (a[:, 2] >= min_conf) & (b[:, 2] >= min_conf)
    if not both.any():
        return 0.0
    d2 = ((a[both, :2] - b[both, :2]) ** 2).sum(1)
    return float(np.exp(-d2 / (2.0 * max(area, 1.0) * (2 * OKS_SIGMAS[both]) ** 2)).mean())


def torso_histogram(image: np.ndarray, person: PersonKeypoints) -> np.ndarray | None:
    """Normalised hue-saturation histogram of the person's torso (their clothes), or None."""
    pts = person.keypoints[_TORSO]
    pts = pts[pts[:, 2] >= 0.3, :2]
    if len(pts) < 3:
        return None
    h, w = image.shape[:2]
    x0, y0 = np.clip(np.floor(pts.min(0)).astype(int), 0, [w - 1, h - 1])
    x1, y1 = np.clip(np.ceil(pts.max(0)).astype(int), 0, [w - 1, h - 1])
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    hsv = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [16, 4], [0, 180, 0, 256]).ravel()
    return hist / max(hist.sum(), 1.0)


def colour_agreement(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    """Correlation in [-1, 1] of two :func:`torso_histogram` s, or None when either is missing."""
    if a is None or b is None:
        return None
    return float(cv2.compareHist(a.astype(np.float32), b.astype(np.float32), cv2.HISTCMP_CORREL))


class TrackState(Enum):
    TENTATIVE = "tentative"
    CONFIRMED = "confirmed"
    LOST = "lost"


@dataclass
class TrackerConfig:
    confirm_hits: int = 3  # frames matched in a row before a track gets published
    max_lost_frames: int = 90  # a lost track keeps its id this long (3 s at 30 fps)
    min_similarity: float = 0.2  # weaker matches are refused
    w_overlap: float = 0.45
    w_oks: float = 0.35
    w_appearance: float = 0.2
    appearance_gate: float | None = 0.3  # colour correlation under which clothes disagree (None: never)


@dataclass
class Track:
    """One followed person. ``box`` (4,) pixels at time ``t``; ``velocity`` (4,) px/s."""

    id: int
    box: np.ndarray
    keypoints: np.ndarray
    t: float
    state: TrackState = TrackState.TENTATIVE
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    appearance: np.ndarray | None = None
    hits: int = 1
    misses: int = 0

    def predicted_box(self, t: float) -> np.ndarray:
        # constant velocity, trusted less the longer the person has been unseen
        dt = min(t - self.t, 1.0)
        return self.box + self.velocity * dt * (0.5**self.misses)


class PersonTracker:
    """Assigns stable ``track_id``s; see the module docstring for the rules."""

    def __init__(self, config: TrackerConfig | None = None):
        self.config = config or TrackerConfig()
        self.tracks: list[Track] = []
        self._next_id = 0
        #: after :meth:`update`: the track id given to each of its persons, in order (tentative included)
        self.assigned: list[int] = []

    def reset(self) -> None:
        self.tracks.clear()
        self.assigned = []

    def similarity(self, track: Track, person: PersonKeypoints, t: float, appearance: np.ndarray | None) -> float:
        c = self.config
        pred = track.predicted_box(t)
        size = np.sqrt(max(np.prod(pred[2:] - pred[:2]), 1.0))
        centre_shift = ((person.box[:2] + person.box[2:]) - (pred[:2] + pred[2:])) / 2
        reach = 0.5 * size * (1.0 + track.misses / 15.0)  # how far the person may have gone unseen
        proximity = float(np.exp(-((np.linalg.norm(centre_shift) / reach) ** 2)))
        overlap = max(float(box_iou(pred[None], person.box[None])[0, 0]), proximity)
        moved = track.keypoints.copy()
        moved[:, :2] += (pred[:2] + pred[2:] - track.box[:2] - track.box[2:]) / 2
        oks = keypoint_similarity(moved, person.keypoints, size**2)
        weights, terms = [c.w_overlap, c.w_oks], [overlap, oks]
        colour = colour_agreement(track.appearance, appearance)
        if colour is not None:
            weights.append(c.w_appearance)
            terms.append(max(colour, 0.0))
        score = float(np.dot(weights, terms) / sum(weights))
        if colour is not None and c.appearance_gate is not None and colour < c.appearance_gate:
            score *= 0.5
        return score * (0.9 if track.state is TrackState.LOST else 1.0)  # the seen win ties

    def update(self, persons: list[PersonKeypoints], t: float, image: np.ndarray | None = None) -> list[PersonKeypoints]:
        """Match this frame's ``persons`` (at time ``t`` s; ``image`` BGR for appearance) and
        return those on confirmed tracks, each a copy with its ``track_id``."""
        c = self.config
        looks = [torso_histogram(image, p) if image is not None else None for p in persons]
        S = np.array([[self.similarity(tr, p, t, a) for p, a in zip(persons, looks)] for tr in self.tracks])
        S = S.reshape(len(self.tracks), len(persons))
        rows, cols = linear_sum_assignment(-S) if S.size else (np.array([], int), np.array([], int))
        matched = {(r, k) for r, k in zip(rows, cols) if S[r, k] >= c.min_similarity}
        matched_tracks = {r for r, _ in matched}
        out: list[PersonKeypoints] = []
        self.assigned = [-1] * len(persons)
        for r, k in sorted(matched, key=lambda rk: rk[1]):
            track, person = self.tracks[r], persons[k]
            self.assigned[k] = track.id
            dt = max(t - track.t, 1e-3)
            v = (person.box - track.box) / dt
            track.velocity = v if track.hits == 1 else 0.7 * track.velocity + 0.3 * v
            track.box, track.keypoints, track.t = person.box.copy(), person.keypoints.copy(), t
            colour = colour_agreement(track.appearance, looks[k])
            if looks[k] is not None and (colour is None or c.appearance_gate is None or colour >= c.appearance_gate):
                track.appearance = looks[k] if track.appearance is None else 0.9 * track.appearance + 0.1 * looks[k]
            track.hits += 1
            track.misses = 0
            if track.state is TrackState.LOST or track.hits >= c.confirm_hits:
                track.state = TrackState.CONFIRMED
            if track.state is TrackState.CONFIRMED:
                out.append(dataclasses.replace(person, track_id=track.id))
        kept = []
        for r, track in enumerate(self.tracks):
            if r not in matched_tracks:
                track.misses += 1
                if track.state is TrackState.TENTATIVE:
                    continue
                track.state = TrackState.LOST
                if track.misses > c.max_lost_frames:
                    continue
            kept.append(track)
        self.tracks = kept
        for k in sorted(set(range(len(persons))) - {k for _, k in matched}):
            person = persons[k]
            self.tracks.append(Track(self._next_id, person.box.copy(), person.keypoints.copy(), t, appearance=looks[k]))
            self.assigned[k] = self._next_id
            self._next_id += 1
            if c.confirm_hits <= 1:
                self.tracks[-1].state = TrackState.CONFIRMED
                out.append(dataclasses.replace(person, track_id=self.tracks[-1].id))
        return out
