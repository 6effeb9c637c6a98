"""The camera's travel over the floor from the floor's image motion, on views whose answer
is known: projected floor points, and a rendered textured floor."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from livehmr.models.motion.trajectory import PelvisObservation, TrajectoryFilter
from livehmr.stream.camera.floor_motion import FloorMotion, fit_floor_motion
from livehmr.tests.test_trajectory import _look_at

W, H, F = 640, 480, 500.0
K = np.array([[F, 0, W / 2], [0, F, H / 2], [0, 0, 1.0]])


def _project(X_world: np.ndarray, R_world_cam: np.ndarray, c: np.ndarray) -> np.ndarray:
    """(N, 2) normalised coordinates of world points seen from a camera at ``c``."""
    X_cam = (X_world - c) @ R_world_cam
    return X_cam[:, :2] / X_cam[:, 2:]


def _two_views(rng, turn_deg=2.0, travel=(0.05, 0.02, 0.0), height=1.2):
    """Floor points seen from a camera at height ``height`` looking down 20 deg, then from
    the camera moved by ``travel`` (m) and turned by ``turn_deg`` about a random axis."""
    c1 = np.array([0.0, 0.0, height])
    R1 = _look_at(c1, np.array([4.0, 0.0, height - 4 * np.tan(np.radians(20))]))
    axis = rng.normal(size=3)
    turn = cv2.Rodrigues(axis / np.linalg.norm(axis) * np.radians(turn_deg))[0]
    c2, R2 = c1 + np.asarray(travel), R1 @ turn
    X = np.column_stack([rng.uniform(1.5, 8, 200), rng.uniform(-3, 3, 200), np.zeros(200)])
    return X, (c1, R1), (c2, R2)


def test_the_fit_recovers_the_turn_and_the_travel_in_camera_heights():
    rng = np.random.default_rng(0)
    X, (c1, R1), (c2, R2) = _two_views(rng)
    x1, x2 = _project(X, R1, c1), _project(X, R2, c2)
    n = -R1.T @ [0, 0, 1.0]
    R, t, inliers = fit_floor_motion(x1, x2, n, 1e-3, rng)
    assert inliers.all()
    # X_2 = R X_1 + t with R = R2^T R1, t = R2^T (c1 - c2) / height
    np.testing.assert_allclose(R, R2.T @ R1, atol=1e-6)
    np.testing.assert_allclose(t, R2.T @ (c1 - c2) / c1[2], atol=1e-6)


def test_points_off_the_floor_and_pixel_noise_leave_one_frames_travel_within_ten_percent():
    rng = np.random.default_rng(1)
    X, (c1, R1), (c2, R2) = _two_views(rng, turn_deg=3.0, travel=(0.04, -0.01, 0.0))
    X[:60, 2] = rng.uniform(0.3, 1.5, 60)  # a third of the points on props and walls
    x1 = _project(X, R1, c1) + rng.normal(0, 0.2 / F, (len(X), 2))
    x2 = _project(X, R2, c2) + rng.normal(0, 0.2 / F, (len(X), 2))
    R, t, inliers = fit_floor_motion(x1, x2, -R1.T @ [0, 0, 1.0], 0.6 / F, rng)
    assert inliers[60:].mean() > 0.75  # 0.2 px noise against a 0.6 px threshold (points a little above the floor pass too)
    travel = (R1 @ (-R.T @ t))[:2] * c1[2]
    assert np.linalg.norm(travel - (c2 - c1)[:2]) < 0.1 * np.linalg.norm((c2 - c1)[:2])


def _render_floor(texture: np.ndarray, R_world_cam: np.ndarray, c: np.ndarray, metres_per_px: float) -> np.ndarray:
    """A BGR image of a camera at ``c`` looking at the floor z = 0 covered by ``texture``
    (its pixel (i, j) at world (x, y) = ((j - w/2), (i - h/2)) * metres_per_px); sky grey."""
    th, tw = texture.shape[:2]
    floor_from_tex = np.array([[metres_per_px, 0, -tw / 2 * metres_per_px], [0, metres_per_px, -th / 2 * metres_per_px],
                               [0, 0, 1.0]])  # fmt: skip
    # a floor point (x, y, 0) projects to K R_cam_world ((x, y, 0) - c)
    R_cam_world = R_world_cam.T
    img_from_floor = K @ np.column_stack([R_cam_world[:, 0], R_cam_world[:, 1], -R_cam_world @ c])
    H_img_tex = img_from_floor @ floor_from_tex
    image = cv2.warpPerspective(texture, H_img_tex, (W, H), flags=cv2.INTER_LINEAR, borderValue=(128, 128, 128))
    # above the horizon the homography wraps the texture round: paint the sky
    v, u = np.mgrid[0:H, 0:W]
    rays = R_world_cam @ (np.linalg.inv(K) @ np.stack([u.ravel(), v.ravel(), np.ones(u.size)]))
    image.reshape(-1, 3)[rays[2] >= -1e-3] = (200, 170, 120)
    return image


@pytest.mark.parametrize("travel", [(0.04, 0.0, 0.0), (0.0, -0.03, 0.0), (0.0, 0.0, 0.0)])
def test_a_rendered_floor_gives_the_camera_travel_per_unit_height(travel):
    rng = np.random.default_rng(2)
    noise = rng.integers(0, 255, (400, 400), dtype=np.uint8)
    texture = cv2.cvtColor(cv2.GaussianBlur(noise, (0, 0), 1.5), cv2.COLOR_GRAY2BGR)
    height = 1.3
    c1 = np.array([0.0, 0.0, height])
    R1 = _look_at(c1, np.array([3.0, 0.5, 0.0]))
    c2, R2 = c1 + np.array(travel), _look_at(c1 + np.array(travel), np.array([3.0, 0.45, 0.0]))
    floor = FloorMotion()
    assert floor.update(_render_floor(texture, R1, c1, 0.02), K, R1, []) is None  # the first frame: nothing to compare
    shift = floor.update(_render_floor(texture, R2, c2, 0.02), K, R2, [])
    assert shift is not None and floor.inliers >= 25
    np.testing.assert_allclose(shift * height, np.array(travel)[:2], atol=0.004)  # 4 mm of a few cm


def test_without_a_floor_in_view_nothing_is_measured():
    """A camera looking up at the sky (no point below the horizon) says nothing."""
    c = np.array([0.0, 0.0, 1.3])
    R = _look_at(c, np.array([3.0, 0.0, 3.0]))
    image = np.random.default_rng(3).integers(0, 255, (H, W, 3), dtype=np.uint8)
    floor = FloorMotion()
    floor.update(image, K, R, [])
    assert floor.update(image, K, R, []) is None


def test_the_filter_publishes_a_followed_walker_at_the_cameras_pace():
    """A camera following 3 m behind a walker at 1.2 m/s, whose network reads a quarter of
    that: with the floor's travel the published walker keeps pace; without, they do not."""
    T = 300
    t = np.arange(T) / 30.0
    pelvis = np.column_stack([1.2 * t + 3.0, np.zeros(T), np.full(T, 0.95)])
    eye = np.column_stack([1.2 * t, np.zeros(T), np.full(T, 1.2)])
    R = _look_at(eye[0], pelvis[0])
    speeds = {}
    for measured in (True, False):
        filt = TrajectoryFilter("auto")
        path = []
        for i in range(T):
            obs = PelvisObservation(np.array([0.3 / 30.0, 0, 0]) if i else np.zeros(3), height=0.95,
                                    pelvis_cam=R.T @ (pelvis[i] - eye[i]), in_contact=True)  # fmt: skip
            shift = (eye[i] - eye[i - 1])[:2] / 1.2 if measured and i else None
            path.append(filt.step(1 / 30.0, R, {0: obs}, floor_shift=shift)[0])
        path = np.array(path)
        speeds[measured] = np.linalg.norm(path[-1, :2] - path[150, :2]) / (t[-1] - t[150])
    assert speeds[True] == pytest.approx(1.2, rel=0.1)
    assert speeds[False] < 0.8


def test_bench_floor_scores_an_exact_measurement_as_exact_and_a_still_camera_without_a_path_ratio():
    from types import SimpleNamespace

    from livehmr.bench.floor import score_sequence, summarize

    T = 60
    moving = np.tile(np.eye(4), (T, 1, 1))
    moving[:, 0, 3] = np.arange(T) / 30.0  # 1 m/s along x
    moving[:, 2, 3] = 1.5
    still = np.tile(np.eye(4), (T, 1, 1))
    still[:, 2, 3] = 1.5
    shift = np.zeros((T, 2))
    shift[1:, 0] = (1 / 30.0) / 1.5
    rows = {"a": score_sequence({"shift": shift, "ms": np.ones(T)}, SimpleNamespace(T_world_cam=moving, fps=30.0)),
            "b": score_sequence({"shift": np.zeros((T, 2)), "ms": np.ones(T)}, SimpleNamespace(T_world_cam=still, fps=30.0))}  # fmt: skip
    assert rows["a"]["error_median"] == pytest.approx(0.0, abs=1e-9)
    assert rows["a"]["measured_speed"] == pytest.approx(1.0)
    table = summarize(rows, {"a": "dolly", "b": "static"})
    assert table["dolly"]["path_ratio"] == pytest.approx(1.0)
    assert np.isnan(table["static"]["path_ratio"]) and table["static"]["measured_speed"] == 0.0
