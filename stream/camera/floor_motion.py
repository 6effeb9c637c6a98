"""How far the camera travelled over the floor, from the floor's own image motion.

A camera that travels with a person (an operator following, a dolly, a robot behind a
walker) keeps them where they are in the image; neither the person nor a gyroscope
shows the travel, and an accelerometer integrates it only with drift. The floor does:
floor points tracked from one frame to the next move as the plane they lie on, seen
from two poses. In normalised camera coordinates

    x_2 ~ (R + t n^T) x_1,

with ``n`` the floor's unit normal in the first camera (pointing down, away from the
camera: known from the camera's orientation, i.e. from gravity), ``R`` the camera's turn
between the frames and ``t`` its translation in units of its height above the floor (the
plane is at distance 1 along ``n``). A frame's turn is small, so with R ~ I + [w]x each
tracked point gives two equations linear in (w, t); a RANSAC over 3-point sets finds the
floor's points among the rest (the people are masked out; props, walls and shadows are
outliers), a least-squares fit on its inliers refines, and one more pass on the points
turned back by that fit's exact rotation removes the small-angle error.

The answer is the camera's horizontal displacement in the world **divided by its height
above the floor**: the trajectory filter, which estimates that height, makes it metres.
A plane fit needs no gyroscope (whose clock offset would misplace a turn between two
frames by more than a step's travel), only the floor's direction, which changes slowly.

Hand-written rather than OpenCV's ``findHomography`` + ``decomposeHomographyMat``: an
8-parameter homography fitted to a frame's few-pixel motion, then split into four
candidate (R, t, n), is far noisier than the 6 unknowns left once ``n`` is known.

Units: the image in pixels, ``t`` in camera heights. Work per frame: corners and
pyramidal Lucas-Kanade on an image of at most ``max_width`` pixels, and a 6x6 solve per
RANSAC draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from livehmr.core.geometry import rotvec_to_rotmat
from livehmr.stream.camera.vo import mask_people


@dataclass
class FloorMotionConfig:
    max_width: int = 320  # larger images are downscaled first
    max_corners: int = 150
    min_depression_deg: float = 8.0  # a point's ray must point this far below the horizon (nearer the horizon, noise grows)
    person_margin: float = 0.15  # person boxes grow by this fraction before masking
    inlier_px: float = 0.6  # reprojection error, pixels of the (scaled) image
    min_inliers: int = 25
    min_inlier_fraction: float = 0.4
    ransac_iters: int = 64
    seed: int = 0


def floor_equations(x1: np.ndarray, x2: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The linear system A (2N, 6) @ [w, t] = b (2N,) of floor points seen at normalised
    coordinates ``x1`` (N, 2) then ``x2`` (N, 2), for x_2 ~ (I + [w]x + t n^T) x_1, where
    ``n`` (3,) is the floor's unit normal in camera 1 at distance 1."""
    u1, v1 = x1[:, 0], x1[:, 1]
    u2, v2 = x2[:, 0], x2[:, 1]
    s = n[0] * u1 + n[1] * v1 + n[2]  # n . x_1: how far along the normal the ray meets the floor (inverse depth)
    zero = np.zeros_like(u1)
    # rows: u2 * y_z - y_x = 0 and v2 * y_z - y_y = 0, with y = x_1 + w x x_1 + t s
    row_u = np.stack([u2 * v1, -u2 * u1 - 1.0, v1, -s, zero, u2 * s], axis=-1)
    row_v = np.stack([v2 * v1 + 1.0, -v2 * u1, -u1, zero, -s, v2 * s], axis=-1)
    A = np.concatenate([row_u, row_v])
    b = np.concatenate([u1 - u2, v1 - v2])
    return A, b


def floor_residuals(x1: np.ndarray, x2: np.ndarray, n: np.ndarray, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(..., N) distance in normalised coordinates between ``x2`` (N, 2) and where the plane
    motion (R + t n^T) takes ``x1`` (N, 2), for motions R (..., 3, 3), t (..., 3)."""
    M = R + t[..., :, None] * n
    y = np.einsum("...ij,nj->...ni", M, np.column_stack([x1, np.ones(len(x1))]))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.linalg.norm(y[..., :2] / y[..., 2:] - x2, axis=-1)
    return np.where(np.isfinite(r), r, np.inf)


def fit_floor_motion(x1: np.ndarray, x2: np.ndarray, n: np.ndarray, threshold: float, rng: np.random.Generator,
                     iters: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:  # fmt: skip
    """The camera's turn R (3, 3) and translation t (3,) (camera 1 -> 2: X_2 = R X_1 + t, t
    in units of the floor's distance) between two views of floor points ``x1`` -> ``x2``
    (N, 2, normalised coordinates), and the inlier mask (N,); None with fewer than 3 points
    or no fit. ``threshold``: inlier distance in normalised coordinates."""
    N = len(x1)
    if N < 3:
        return None
    A, b = floor_equations(x1, x2, n)
    # RANSAC over 3-point sets: 6 equations, 6 unknowns
    pick = rng.integers(0, N, size=(iters, 3))
    rows = np.concatenate([pick, pick + N], axis=1)  # (iters, 6)
    A_s, b_s = A[rows], b[rows]
    ok = np.abs(np.linalg.det(A_s)) > 1e-12
    if not ok.any():
        return None
    theta = np.linalg.solve(A_s[ok], b_s[ok][..., None])[..., 0]  # (k, 6)
    counts = (floor_residuals(x1, x2, n, rotvec_to_rotmat(theta[:, :3]), theta[:, 3:]) < threshold).sum(axis=1)
    best = theta[int(np.argmax(counts))]
    R, t = rotvec_to_rotmat(best[:3]), best[3:]
    inliers = floor_residuals(x1, x2, n, R, t) < threshold
    for _ in range(2):  # refine on the inliers, then once more on points turned back by the fit's exact rotation
        if inliers.sum() < 3:
            return None
        x2_back = _turn_back(x2[inliers], R)
        A_in, b_in = floor_equations(x1[inliers], x2_back, n)
        d = np.linalg.lstsq(A_in, b_in, rcond=None)[0]
        # x_2 ~ R (I + [dw]x + dt n^T) x_1 = (R exp(dw) + R dt n^T) x_1, to first order
        R, t = R @ rotvec_to_rotmat(d[:3]), R @ d[3:]
        inliers = floor_residuals(x1, x2, n, R, t) < threshold
    return R, t, inliers


def _turn_back(x2: np.ndarray, R: np.ndarray) -> np.ndarray:
    """Normalised points ``x2`` (N, 2) seen from the camera turned back by R^T (R: cam1 -> cam2)."""
    y = np.column_stack([x2, np.ones(len(x2))]) @ R  # rows: (R^T x)^T
    return y[:, :2] / y[:, 2:]


class FloorMotion:
    """Frame-to-frame camera travel over the floor (see the module docstring). Call
    :meth:`update` once per frame, in order. Tracks live on from frame to frame; corners
    are found afresh only where they have thinned out."""

    def __init__(self, config: FloorMotionConfig | None = None):
        self.config = config or FloorMotionConfig()
        self.rng = np.random.default_rng(self.config.seed)
        self.prev_gray: np.ndarray | None = None
        self.prev_R_world_cam = np.eye(3)
        self.points = np.zeros((0, 2), np.float32)  # tracks, at their place in the last frame (scaled image)
        self.inliers = 0  # the last fit's floor points

    def reset(self) -> None:
        self.prev_gray = None
        self.points = np.zeros((0, 2), np.float32)

    def update(self, image: np.ndarray, K: np.ndarray, R_world_cam: np.ndarray,
               person_boxes: list[np.ndarray]) -> np.ndarray | None:  # fmt: skip
        """Take a BGR frame (H, W, 3) with its intrinsics K (3, 3, pixels), the camera's world
        orientation (3, 3; only its tilt is used) and the people's boxes (x0, y0, x1, y1 px).
        Returns (2,) the camera's world (x, y) displacement since the last frame divided by
        its height above the floor, or None when the floor was not seen well enough (the
        first frame, too few floor points, no consistent plane motion)."""
        cfg = self.config
        scale = min(1.0, cfg.max_width / image.shape[1])
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        K_s = np.diag([scale, scale, 1.0]) @ np.asarray(K, dtype=np.float64)
        R_world_cam = np.asarray(R_world_cam, dtype=np.float64)
        boxes = [np.asarray(b, dtype=np.float64) * scale for b in person_boxes]
        prev_gray, prev_R = self.prev_gray, self.prev_R_world_cam
        self.prev_gray, self.prev_R_world_cam = gray, R_world_cam
        self.inliers = 0
        if prev_gray is None or prev_gray.shape != gray.shape:
            self.points = self._replenish(gray, K_s, R_world_cam, boxes, np.zeros((0, 2), np.float32))
            return None
        shift = None
        points = self.points
        if len(points) >= cfg.min_inliers:
            nxt, st, _ = cv2.calcOpticalFlowPyrLK(prev_gray, gray, points, None, winSize=(15, 15), maxLevel=2)
            back, st2, _ = cv2.calcOpticalFlowPyrLK(gray, prev_gray, nxt, None, winSize=(15, 15), maxLevel=2)
            good = (st[:, 0] == 1) & (st2[:, 0] == 1) & (np.linalg.norm(back - points, axis=1) < 0.5)
            shift = self._fit(points[good], nxt[good], K_s, prev_R)
            points = nxt[good]
        else:
            points = np.zeros((0, 2), np.float32)
        self.points = self._replenish(gray, K_s, R_world_cam, boxes, points)
        return shift

    def _fit(self, p1: np.ndarray, p2: np.ndarray, K: np.ndarray, R_world_cam1: np.ndarray) -> np.ndarray | None:
        cfg = self.config
        if len(p1) < cfg.min_inliers:
            return None
        K_inv = np.linalg.inv(K)
        x1, x2 = _normalised(p1, K_inv), _normalised(p2, K_inv)
        n = -R_world_cam1.T @ np.array([0.0, 0.0, 1.0])  # down, in the first camera
        fit = fit_floor_motion(x1, x2, n, cfg.inlier_px / K[0, 0], self.rng, cfg.ransac_iters)
        if fit is None:
            return None
        R, t, inliers = fit
        self.inliers = int(inliers.sum())
        if self.inliers < cfg.min_inliers or self.inliers < cfg.min_inlier_fraction * len(x1):
            return None
        centre_in_cam1 = -R.T @ t  # the second camera's centre in the first camera's frame (heights)
        return (R_world_cam1 @ centre_in_cam1)[:2]

    def _replenish(self, gray: np.ndarray, K: np.ndarray, R_world_cam: np.ndarray, boxes: list[np.ndarray],
                   points: np.ndarray) -> np.ndarray:  # fmt: skip
        """``points`` (N, 2) kept where they still look at the floor, away from the people,
        topped up with new corners when fewer than half of ``max_corners`` are left."""
        cfg = self.config
        mask = mask_people(gray.shape, boxes, cfg.person_margin)
        h, w = gray.shape
        inside = (points[:, 0] >= 0) & (points[:, 0] < w) & (points[:, 1] >= 0) & (points[:, 1] < h)
        points = points[inside]
        points = points[mask[points[:, 1].astype(int), points[:, 0].astype(int)] > 0]
        points = points[self._on_floor_side(points, K, R_world_cam)]
        if len(points) >= cfg.max_corners // 2:
            return points
        for p in points:  # new corners away from live tracks
            cv2.circle(mask, (int(p[0]), int(p[1])), 7, 0, -1)
        found = cv2.goodFeaturesToTrack(gray, cfg.max_corners - len(points), 0.01, 7, mask=mask, blockSize=5)
        if found is None:
            return points
        new = found.reshape(-1, 2).astype(np.float32)
        return np.concatenate([points, new[self._on_floor_side(new, K, R_world_cam)]])

    def _on_floor_side(self, pts: np.ndarray, K: np.ndarray, R_world_cam: np.ndarray) -> np.ndarray:
        """(N,) whether each pixel's ray points at least ``min_depression_deg`` below the horizon."""
        rays = R_world_cam @ (np.linalg.inv(K) @ np.column_stack([pts, np.ones(len(pts))]).T)
        sin_depression = -rays[2] / np.maximum(np.linalg.norm(rays, axis=0), 1e-12)
        return sin_depression > np.sin(np.radians(self.config.min_depression_deg))


def _normalised(pts: np.ndarray, K_inv: np.ndarray) -> np.ndarray:
    h = np.column_stack([pts, np.ones(len(pts))]) @ K_inv.T
    return h[:, :2] / h[:, 2:]
