"""CPU visual odometry (OpenCV): the camera's rotation from the background, frame by frame.

Corners are found away from the people (their boxes are masked out, since a moving
body would drag the estimate along) and tracked with pyramidal Lucas-Kanade, forward
and backward (a track that does not come back to where it started is dropped). Every
track remembers its bearing in the current **keyframe**; the rotation keyframe -> now is
a RANSAC fit of a rotation to those bearing pairs (2-point minimal sets, Kabsch), which
is exact for distant background and robust to the rest; a frame whose inliers fit a
rotation poorly falls back to the essential matrix (which also gives the translation
direction). A new keyframe is taken when tracks thin out or the view has turned far.
When too few tracks survive the estimate is *lost*: the rotation holds, the frame is
flagged ``vo_lost`` and corners are found afresh (recovery).

Conventions: OpenCV camera axes; ``R_kf_cam`` maps current-camera vectors into the
keyframe's camera frame.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np

from livehmr.core.geometry import rotation_angle, rotmat_to_rotvec, special_procrustes

log = logging.getLogger(__name__)


@dataclass
class VoConfig:
    max_width: int = 640  # larger images are downscaled first
    max_corners: int = 250
    min_tracks: int = 90  # fewer live tracks than this: find corners again
    lost_tracks: int = 15  # fewer inliers than this: lost
    keyframe_angle_deg: float = 15.0
    inlier_px: float = 1.5
    ransac_iters: int = 64
    person_margin: float = 0.15  # person boxes grow by this fraction before masking
    essential_below: float = 0.6  # rotation inliers below this fraction: parallax, use the essential matrix
    seed: int = 0


@dataclass
class VoEstimate:
    """One frame's result: ``R_kf_cam`` (3, 3), translation direction (3,) in the keyframe
    (zero when unknown), inlier count, and whether tracking is lost."""

    R_kf_cam: np.ndarray
    t_dir: np.ndarray = field(default_factory=lambda: np.zeros(3))
    inliers: int = 0
    lost: bool = False
    new_keyframe: bool = False


def mask_people(shape: tuple[int, ...], boxes: list[np.ndarray], margin: float) -> np.ndarray:
    """A uint8 mask of an image of ``shape`` (H, W): 255 everywhere but inside the people's
    boxes (x0, y0, x1, y1 px), each grown by ``margin`` of its size, where it is 0 (a moving
    body would drag an estimate from the background along)."""
    mask = np.full(shape[:2], 255, np.uint8)
    for x0, y0, x1, y1 in boxes:
        mx, my = (x1 - x0) * margin, (y1 - y0) * margin
        mask[max(int(y0 - my), 0) : max(int(y1 + my) + 1, 0), max(int(x0 - mx), 0) : max(int(x1 + mx) + 1, 0)] = 0
    return mask


def kabsch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotations R (..., 3, 3) minimising sum |R b - a|^2 over point sets a, b (..., N, 3):
    the rotation nearest to sum a b^T (:func:`livehmr.core.geometry.special_procrustes`)."""
    return special_procrustes(np.swapaxes(a, -1, -2) @ b)


class VisualOdometry:
    """Frame-to-keyframe rotation tracker. Call :meth:`track` once per frame, in order."""

    def __init__(self, config: VoConfig | None = None):
        self.config = config or VoConfig()
        self.rng = np.random.default_rng(self.config.seed)
        self.prev_gray: np.ndarray | None = None
        self.points = np.zeros((0, 2), np.float32)  # current pixel positions (scaled image)
        self.kf_bearings = np.zeros((0, 3))  # their bearings in the keyframe
        self.R_kf_prev = np.eye(3)
        self.scale = 1.0
        self.K_inv = np.eye(3)

    def reset(self) -> None:
        self.prev_gray = None
        self.points = np.zeros((0, 2), np.float32)

    def _bearings(self, pts: np.ndarray) -> np.ndarray:
        h = np.column_stack([pts / self.scale, np.ones(len(pts))]) @ self.K_inv.T
        return h / np.linalg.norm(h, axis=1, keepdims=True)

    def _detect(self, gray: np.ndarray, boxes: list[np.ndarray]) -> np.ndarray:
        mask = mask_people(gray.shape, [np.asarray(box, float) * self.scale for box in boxes], self.config.person_margin)
        for p in self.points:  # keep new corners away from live tracks
            cv2.circle(mask, (int(p[0]), int(p[1])), 8, 0, -1)
        want = self.config.max_corners - len(self.points)
        if want <= 0:
            return np.zeros((0, 2), np.float32)
        found = cv2.goodFeaturesToTrack(gray, want, 0.01, 8, mask=mask, blockSize=5)
        return np.zeros((0, 2), np.float32) if found is None else found.reshape(-1, 2)

    def _fit_rotation(self, kf: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """RANSAC rotation with kf ~ R cur; returns R and the inlier mask."""
        n = len(kf)
        thresh = self.config.inlier_px / (1.0 / self.K_inv[0, 0])  # radians per pixel
        idx = self.rng.integers(0, n, size=(self.config.ransac_iters, 2))
        R = kabsch(kf[idx], cur[idx])  # (iters, 3, 3)
        residual = np.linalg.norm(kf[None] - cur[None] @ np.swapaxes(R, 1, 2), axis=-1)  # (iters, n)
        inliers = residual < thresh
        best = int(np.argmax(inliers.sum(1)))
        mask = inliers[best]
        if mask.sum() >= 3:
            R_best = kabsch(kf[mask], cur[mask])
            mask = np.linalg.norm(kf - cur @ R_best.T, axis=-1) < thresh
            if mask.sum() >= 3:
                R_best = kabsch(kf[mask], cur[mask])
            return R_best, mask
        return R[best], mask

    def track(self, image: np.ndarray, K: np.ndarray, person_boxes: list[np.ndarray]) -> VoEstimate:
        """Update with a BGR frame (H, W, 3), its intrinsics and people's boxes (x0, y0, x1, y1 px)."""
        cfg = self.config
        self.scale = min(1.0, cfg.max_width / image.shape[1])
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        if self.scale < 1.0:
            gray = cv2.resize(gray, None, fx=self.scale, fy=self.scale, interpolation=cv2.INTER_AREA)
        self.K_inv = np.linalg.inv(K)
        if self.prev_gray is not None and self.prev_gray.shape != gray.shape:
            log.info("frame size changed to %dx%d: visual odometry starts afresh", image.shape[1], image.shape[0])
            self.reset()
        if self.prev_gray is None:
            self.prev_gray = gray
            self.points = self._detect(gray, person_boxes)
            self.kf_bearings = self._bearings(self.points)
            self.R_kf_prev = np.eye(3)
            return VoEstimate(np.eye(3), new_keyframe=True)
        estimate = VoEstimate(self.R_kf_prev.copy())
        if len(self.points) >= 3:
            nxt, st, _ = cv2.calcOpticalFlowPyrLK(self.prev_gray, gray, self.points, None, winSize=(21, 21), maxLevel=3)
            back, st2, _ = cv2.calcOpticalFlowPyrLK(gray, self.prev_gray, nxt, None, winSize=(21, 21), maxLevel=3)
            good = (st[:, 0] == 1) & (st2[:, 0] == 1) & (np.linalg.norm(back - self.points, axis=1) < 0.7)
            self.points, self.kf_bearings = nxt[good], self.kf_bearings[good]
        if len(self.points) >= cfg.lost_tracks:
            cur = self._bearings(self.points)
            R, inliers = self._fit_rotation(self.kf_bearings, cur)
            estimate.inliers = int(inliers.sum())
            if estimate.inliers >= cfg.lost_tracks:
                if estimate.inliers < cfg.essential_below * len(cur):  # parallax: a rotation explains too little
                    R, estimate.t_dir = self._essential(self.kf_bearings, cur, R)
                estimate.R_kf_cam = R
                # drop tracks that disagree with the motion (people, reflections)
                self.points, self.kf_bearings = self.points[inliers], self.kf_bearings[inliers]
            else:
                estimate.lost = True
        else:
            estimate.lost = True
        self.prev_gray = gray
        if estimate.lost:
            self.points = np.zeros((0, 2), np.float32)
        turned = np.degrees(rotation_angle(estimate.R_kf_cam)) > cfg.keyframe_angle_deg
        if estimate.lost or turned or len(self.points) < cfg.min_tracks:
            # new keyframe at this frame: surviving tracks re-anchor on their current bearings
            estimate.new_keyframe = True
            self.points = np.concatenate([self.points, self._detect(gray, person_boxes)])
            self.kf_bearings = self._bearings(self.points)
            self.R_kf_prev = np.eye(3)
        else:
            self.R_kf_prev = estimate.R_kf_cam
        return estimate

    def _essential(self, kf: np.ndarray, cur: np.ndarray, R_guess: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rotation and translation direction from the essential matrix (fallback)."""
        p_kf = kf[:, :2] / kf[:, 2:]
        p_cur = cur[:, :2] / cur[:, 2:]
        f = 1.0 / self.K_inv[0, 0]
        E, mask = cv2.findEssentialMat(p_cur, p_kf, np.eye(3), cv2.RANSAC, 0.999, self.config.inlier_px / f)
        if E is None or E.shape != (3, 3):
            return R_guess, np.zeros(3)
        _, R, t, _ = cv2.recoverPose(E, p_cur, p_kf, np.eye(3), mask=mask)
        # recoverPose gives x_kf = R x_cur + t; keep it only if it agrees roughly with the rotation fit
        if np.degrees(rotation_angle(R.T @ R_guess)) > 5.0:
            return R_guess, np.zeros(3)
        return R, t[:, 0] / max(np.linalg.norm(t), 1e-12)


def rotation_rate(R_prev_cam: np.ndarray, dt: float) -> np.ndarray:
    """Mean angular velocity (3,) rad/s in **cam** of a rotation over ``dt`` seconds."""
    return rotmat_to_rotvec(R_prev_cam) / max(dt, 1e-6)
