"""The camera / pelvis filter on trajectories whose answer is known (issue 21, part 2)."""

from __future__ import annotations

import numpy as np
import pytest

from livehmr.models.motion.trajectory import PelvisObservation, TrajectoryConfig, TrajectoryFilter

FPS = 30.0
DT = 1 / FPS


def _look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """R_world_cam of an OpenCV camera at ``eye`` looking at ``target`` (world Z up, no roll)."""
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


def _scene(T: int, camera_velocity=(0.0, 0.0, 0.0)):
    """A person walking a circle of 3 m radius around (5, 0) at 1.2 m/s, pelvis 0.95 m up;
    a camera at (0, 0, 1.5) (moving at ``camera_velocity``) panning to follow them."""
    t = np.arange(T) * DT
    angle = 1.2 / 3.0 * t
    pelvis = np.stack([5 + 3 * np.cos(angle), 3 * np.sin(angle), np.full(T, 0.95)], -1)
    eye = np.array([0.0, 0.0, 1.5]) + t[:, None] * np.asarray(camera_velocity)
    R = np.stack([_look_at(e, p) for e, p in zip(eye, pelvis)])
    pelvis_cam = np.einsum("tji,tj->ti", R, pelvis - eye)
    return pelvis, eye, R, pelvis_cam


def _run(filt, pelvis, R, pelvis_cam, rng=None, depth_noise=0.0, step_noise=0.0, step_bias=1.0, depth_sigma=None):
    out = []
    for i in range(len(pelvis)):
        disp = (pelvis[i] - pelvis[i - 1]) * step_bias if i else np.zeros(3)
        if rng is not None:
            disp = disp + rng.normal(0, step_noise * DT, 3)
        m = pelvis_cam[i].copy()
        if rng is not None and depth_noise:
            m *= 1 + rng.normal(0, depth_noise)  # along the ray: what a depth error is
        sigma = depth_sigma if depth_sigma is not None else max(depth_noise, 0.02)
        obs = PelvisObservation(disp, height=float(pelvis[i, 2]), pelvis_cam=m, in_contact=True, depth_sigma=sigma)
        out.append(filt.step(DT, R[i], {0: obs})[0])
    return np.array(out)


def test_a_static_camera_and_exact_measurements_give_the_true_path():
    """Noise-free camera-frame pelvis, said to be precise: the path is the truth even though
    the predicted motion is 20 % too fast and noisy."""
    pelvis, eye, R, pelvis_cam = _scene(300)
    precise = TrajectoryConfig(lateral_sigma=1e-4, lateral_floor_m=1e-4, depth_floor_m=1e-4)
    filt = TrajectoryFilter("fixed", precise)
    path = _run(filt, pelvis, R, pelvis_cam, rng=np.random.default_rng(0), step_noise=0.3, step_bias=1.2, depth_sigma=1e-4)
    # the world is the camera's: origin below it, so the truth is shifted by the camera's x, y
    truth = pelvis - [eye[0, 0], eye[0, 1], 0.0]
    assert np.abs(path - truth).max() < 0.02
    assert np.linalg.norm(filt.camera_position - [0, 0, 1.5]) < 0.01


@pytest.mark.parametrize("mode, bias", [("fixed", 1.15), ("auto", 1.0)])
def test_a_rotating_only_camera_keeps_its_position_under_noisy_depth_and_motion(mode, bias):
    """Stated (fixed: even with 15 % too fast motion) or found (auto: from unbiased motion)."""
    pelvis, eye, R, pelvis_cam = _scene(600)
    filt = TrajectoryFilter(mode)
    cams = []
    rng = np.random.default_rng(1)
    for i in range(len(pelvis)):
        disp = (pelvis[i] - pelvis[i - 1]) * bias + rng.normal(0, 0.3 * DT, 3) if i else np.zeros(3)
        m = pelvis_cam[i] * (1 + rng.normal(0, 0.1))
        filt.step(DT, R[i], {0: PelvisObservation(disp, 0.95, m, True, 0.1)})
        cams.append(filt.camera_position)
    cams = np.array(cams)
    drift = np.linalg.norm(cams - cams[0], axis=1).max()
    assert drift < 0.05, drift
    if mode == "auto":
        assert filt.camera_moving_probability < 0.1


@pytest.mark.parametrize("mode", ["moving", "auto"])
def test_a_moving_cameras_translation_is_recovered(mode):
    velocity = np.array([0.6, -0.4, 0.0])
    pelvis, eye, R, pelvis_cam = _scene(600, velocity)
    filt = TrajectoryFilter(mode)
    rng = np.random.default_rng(2)
    errors = []
    for i in range(len(pelvis)):
        disp = (pelvis[i] - pelvis[i - 1]) + rng.normal(0, 0.1 * DT, 3) if i else np.zeros(3)
        m = pelvis_cam[i] * (1 + rng.normal(0, 0.05))
        filt.step(DT, R[i], {0: PelvisObservation(disp, 0.95, m, True, 0.05)})
        errors.append(np.linalg.norm(filt.camera_position - (eye[i] - [eye[0, 0], eye[0, 1], 0.0])))
    travelled = np.linalg.norm(eye[-1] - eye[0])
    assert travelled > 10
    assert np.mean(errors[300:]) < 0.15 * 1 + 0.02 * travelled, np.mean(errors[300:])
    if mode == "auto":
        assert filt.camera_moving_probability > 0.9


def test_a_one_frame_jump_is_not_published_as_motion():
    pelvis, eye, R, pelvis_cam = _scene(90)
    filt = TrajectoryFilter("auto")
    published = []
    for i in range(len(pelvis)):
        m = pelvis_cam[i] * (2.0 if i == 60 else 1.0)  # one frame metres away (a detector slip)
        disp = pelvis[i] - pelvis[i - 1] if i else np.zeros(3)
        published.append(filt.step(DT, R[i], {0: PelvisObservation(disp, 0.95, m, True)})[0])
    velocity = np.diff(published, axis=0) * FPS
    speeds = np.linalg.norm(velocity, axis=1)
    assert speeds.max() < 3.0, speeds.max()  # the walker's 1.2 m/s, not a 6 m jump in 33 ms
    accel = np.linalg.norm(np.diff(velocity, axis=0), axis=1) * FPS
    assert accel.max() <= 30.0 + 1e-6  # no velocity change a person cannot make
    assert np.abs(np.array(published) - (pelvis - [0, 0, 0]))[61:].max() < 0.3


def test_people_come_and_go_and_share_one_camera():
    pelvis, eye, R, pelvis_cam = _scene(120)
    filt = TrajectoryFilter("fixed")
    for i in range(120):
        obs = {0: PelvisObservation(pelvis[i] - pelvis[i - 1] if i else np.zeros(3), 0.95, pelvis_cam[i], True)}
        if 30 <= i < 80:  # a second person standing still 2 m beside the first one's start
            other = np.array([8.0, 2.0, 0.95])
            obs[7] = PelvisObservation(np.zeros(3), 0.95, R[i].T @ (other - eye[i]), True)
        out = filt.step(DT, R[i], obs)
        if 30 <= i < 80:
            assert np.linalg.norm(out[7] - [8.0, 2.0, 0.95]) < 0.02
    assert filt.persons == [0]
    assert np.linalg.norm(out[0] - pelvis[-1]) < 0.02


def test_no_measurement_predicts_through_and_bad_mode_is_refused():
    pelvis, eye, R, pelvis_cam = _scene(60)
    filt = TrajectoryFilter("fixed")
    for i in range(60):
        m = pelvis_cam[i] if i < 30 else None  # the detector lost them: motion only
        out = filt.step(DT, R[i], {0: PelvisObservation(pelvis[i] - pelvis[i - 1] if i else np.zeros(3), 0.95, m, True)})
    assert np.linalg.norm(out[0] - pelvis[-1]) < 0.02
    with pytest.raises(ValueError, match="camera translation model"):
        TrajectoryFilter("sometimes")
