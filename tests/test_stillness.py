"""A phone's accelerometer says when its camera stands still (issue 31), and the
trajectory filter keeps such a camera in one place."""

from __future__ import annotations

import numpy as np
import pytest

from livehmr.core.geometry import IMU_PRESETS
from livehmr.models.motion.trajectory import PelvisObservation, TrajectoryFilter
from livehmr.stream.camera.stillness import AccelStillness
from livehmr.studio.camera_path import AccelNoise, GyroNoise, SmoothPath, Tripod, make_camera_path, simulate_imu

FPS = 30.0


def _walker(seconds: float = 8.0, speed: float = 1.4) -> SmoothPath:
    """A pelvis walking at ``speed`` m/s give or take 0.3 over about 3 s (a person's pace
    changes), bobbing 3 cm."""
    t = np.arange(0.0, seconds, 1 / FPS)
    x = speed * t - 0.3 / 2.0 * np.cos(2.0 * t)
    return SmoothPath(t, np.column_stack([x, 0.2 * np.sin(0.3 * t), 0.95 + 0.03 * np.sin(2 * np.pi * 2 * t)]), sigma_s=0.1)


def _stillness_per_frame(path, seconds: float, R_cam_imu: np.ndarray, accel_noise: AccelNoise | None) -> np.ndarray:
    """AccelStillness' answer at every frame of ``path``, fed as the gyro camera feeds it."""
    samples = simulate_imu(path.T_world_cam, seconds, 200.0, R_cam_imu=R_cam_imu,
                           noise=GyroNoise(clock_offset=0.0), accel_noise=accel_noise)  # fmt: skip
    still = AccelStillness(R_cam_imu)
    answers, t_prev = [], -1.0
    for t in np.arange(0.0, seconds, 1 / FPS):
        mine = (samples[:, 0] > t_prev) & (samples[:, 0] <= t)
        answers.append(still.update(t, path.T_world_cam(t)[:3, :3], samples[mine][:, [0, 4, 5, 6]]))
        t_prev = t
    return np.array([a is False for a in answers])


def test_a_panning_tripod_reads_still_once_its_window_fills():
    """A tripod that pans to follow a walker, with a phone's accelerometer noise and bias:
    still at every frame once its first window (1.8 s) has been read, not before."""
    path = Tripod(_walker(), eye=(4.0, -5.0, 1.5), follow=True)
    still = _stillness_per_frame(path, 8.0, IMU_PRESETS["android-landscape"], AccelNoise())
    assert not still[: int(1.7 * FPS)].any()
    assert still[int(2.0 * FPS) :].all()


@pytest.mark.parametrize("family", ["follow", "dolly", "robot", "handheld", "orbit"])
def test_a_camera_that_moves_never_reads_still(family):
    """(A dolly cruising at a constant velocity reads still: no accelerometer can tell it
    from a tripod; nor, over a 2 s window, one whose speed changes only over 8 s or more.
    One that keeps pace with a walking person changes speed with them.)"""
    path = make_camera_path(family, _walker(), np.random.default_rng(5), extent_m=11.0, duration=8.0)
    still = _stillness_per_frame(path, 8.0, IMU_PRESETS["android-portrait"], AccelNoise())
    assert not still.any()


def test_no_samples_never_read_still():
    still = AccelStillness(np.eye(3))
    assert all(still.update(t, np.eye(3), np.zeros((0, 4))) is None for t in np.arange(0, 4, 1 / FPS))
    assert not still.seen_any


def _observation(pelvis_cam, displacement=(0.0, 0.0, 0.0)) -> PelvisObservation:
    return PelvisObservation(np.array(displacement, float), 0.95, np.array(pelvis_cam, float), in_contact=True)


def test_a_known_still_camera_stays_put_where_the_measurements_would_move_it():
    """A person 4 m ahead walks 1.4 m/s sideways in the image while their predicted motion says
    they stand (the network reading them slow). Left to the measurements, the auto filter
    comes to believe the camera moves (opposite); told each frame that it stands still, the
    camera stays at its start and the person is published walking."""
    R = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])  # R_world_cam: level, looking along world +y
    runs = {}
    for told in (None, False):
        f = TrajectoryFilter("auto")
        for i in range(150):
            out = f.step(1 / FPS, R, {0: _observation([1.4 * i / FPS, 0.5, 4.0])}, camera_translates=told)
        runs[told] = (f.camera_position, out[0], f.believed_moving)
    camera, person, moving = runs[False]
    assert not moving and np.linalg.norm(camera[:2]) < 1e-6
    assert person[0] == pytest.approx(1.4 * 149 / FPS, abs=0.15)
    assert runs[None][2], "without the camera stage's word the measurements alone move the camera"
    assert np.linalg.norm(runs[None][0][:2]) > 1.0


def test_a_first_still_verdict_returns_the_camera_the_first_seconds_moved():
    """The same walker: for the 1.8 s before the accelerometer's first verdict the measurements
    move the camera; the verdict (its window covers the first frame) says it never moved, so
    the camera goes back to its start and stays. A verdict that comes later (a camera that
    travelled, then stopped) does not send the camera back."""
    R = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
    verdict = {"early": 54, "late": 120}  # frames: 1.8 s, 4 s
    cameras = {}
    for when, first in verdict.items():
        f = TrajectoryFilter("auto")
        before = None
        for i in range(160):
            told = False if i >= first else None
            if i == first:
                before = f.camera_position
            f.step(1 / FPS, R, {0: _observation([1.4 * i / FPS, 0.5, 4.0])}, camera_translates=told)
        cameras[when] = (before, f.camera_position)
    early_before, early_after = cameras["early"]
    assert np.linalg.norm(early_before[:2]) > 0.3, "the measurements moved the camera before the verdict"
    assert np.linalg.norm(early_after[:2]) < 1e-6
    late_before, late_after = cameras["late"]
    assert np.linalg.norm(late_before[:2]) > 1.0
    assert np.linalg.norm(late_after[:2] - late_before[:2]) < 0.5 * np.linalg.norm(late_before[:2]), "not sent back"


def _gyro_camera_answers(path, tmp_path, with_accel: bool) -> list:
    """The gyro camera stage's ``translates`` per frame on a CSV written as the studio writes it."""
    from livehmr.core.types import Frame
    from livehmr.stream.camera.gyro import GyroCamera
    from livehmr.stream.sources.gyro_feeds import CsvGyroFeed

    R_cam_imu = IMU_PRESETS["android-portrait"]
    samples = simulate_imu(path.T_world_cam, 4.0, 200.0, R_cam_imu=R_cam_imu, noise=GyroNoise(), accel_noise=AccelNoise())
    columns = samples if with_accel else samples[:, :4]
    csv = tmp_path / "gyro.csv"
    np.savetxt(csv, columns, delimiter=",", header="t,wx,wy,wz,ax,ay,az" if with_accel else "t,wx,wy,wz", comments="")
    camera = GyroCamera(CsvGyroFeed(csv), R_cam_imu=R_cam_imu)
    image = np.zeros((48, 64, 3), np.uint8)
    return [camera.update(Frame(i, i / FPS, image), []).translates for i in range(int(3.5 * FPS))]


def test_the_gyro_camera_says_a_tripod_stands_still_and_a_walker_cannot_be_told(tmp_path):
    """From a gyro.csv with accelerometer columns: a panning tripod goes out with
    ``translates`` False once its first window (1.8 s) has been read; an operator following a walker
    with None (cannot tell); a gyro-only file always None."""
    tripod = _gyro_camera_answers(Tripod(_walker(), eye=(4.0, -5.0, 1.5), follow=True), tmp_path, with_accel=True)
    assert all(a is None for a in tripod[: int(1.7 * FPS)]) and all(a is False for a in tripod[int(2.0 * FPS) :])
    follow = make_camera_path("follow", _walker(), np.random.default_rng(2), extent_m=11.0, duration=8.0)
    assert all(a is None for a in _gyro_camera_answers(follow, tmp_path, with_accel=True))
    no_accel = _gyro_camera_answers(Tripod(_walker(), eye=(4.0, -5.0, 1.5), follow=True), tmp_path, with_accel=False)
    assert all(a is None for a in no_accel)


def test_a_long_gyro_file_keeps_its_accelerometer_from_the_first_second(tmp_path):
    """A 60 s gyro.csv (12,000 rows): both buffers hold the whole file, so the camera stage
    reads the accelerometer from the start (a live feed's 10-s buffer once kept only a file's
    last 10 s)."""
    from livehmr.stream.sources.gyro_feeds import CsvGyroFeed

    t = np.arange(0.0, 60.0, 1 / 200.0)
    rows = np.column_stack([t, np.zeros((len(t), 3)), np.tile([0.0, 9.81, 0.0], (len(t), 1))])
    np.savetxt(tmp_path / "gyro.csv", rows, delimiter=",", header="t,wx,wy,wz,ax,ay,az", comments="")
    feed = CsvGyroFeed(tmp_path / "gyro.csv")
    assert len(feed.accel.window(0.0, 1.0)) >= 200 and len(feed.buffer.window(0.0, 1.0)) >= 200
    assert len(feed.accel.window(0.0, 60.0)) == len(t)
