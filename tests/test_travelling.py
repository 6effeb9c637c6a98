"""The studio's travelling cameras, its accelerometer and its suites' rules (issue 30).

Tests marked ``shared`` read ../shared/motion and skip with a reason where it is absent.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from livehmr.core.geometry import IMU_PRESETS
from livehmr.eval import metrics as M
from livehmr.studio.camera_path import (
    GRAVITY_WORLD,
    TRAVELLING_FAMILIES,
    AccelNoise,
    GyroNoise,
    SmoothPath,
    Tripod,
    make_camera_path,
    simulate_imu,
)  # fmt: skip
from livehmr.studio.corpus import default_corpus_dir

shared = pytest.mark.skipif(not (default_corpus_dir() / "index.json").is_file(),
                            reason="needs ../shared/motion beside the checkout")  # fmt: skip


def _jogger(seconds: float = 12.0, speed: float = 3.0) -> SmoothPath:
    """A pelvis jogging along a gentle curve at ``speed`` m/s, bobbing 4 cm at 2.8 Hz."""
    t = np.arange(0.0, seconds, 1 / 30)
    angle = 0.03 * speed * t
    xy = np.column_stack([np.sin(angle), 1 - np.cos(angle)]) / 0.03
    z = 0.95 + 0.04 * np.sin(2 * np.pi * 2.8 * t)
    return SmoothPath(t, np.column_stack([xy, z]), sigma_s=0.1)


def _integrate_accel(path, samples: np.ndarray, R_cam_imu: np.ndarray, t0: float, t1: float) -> np.ndarray:
    """World velocity change (3,) over [t0, t1] from specific-force samples (t on the frame clock)."""
    use = (samples[:, 0] >= t0) & (samples[:, 0] < t1)
    t, f = samples[use, 0], samples[use, 4:7]
    a = np.array([path.T_world_cam(ti)[:3, :3] @ R_cam_imu @ fi for ti, fi in zip(t, f)]) + GRAVITY_WORLD
    return np.trapezoid(a, t, axis=0)


def _velocity(path, t: float, dt: float = 1e-3) -> np.ndarray:
    return (path.T_world_cam(t + dt)[:3, 3] - path.T_world_cam(t - dt)[:3, 3]) / (2 * dt)


@pytest.mark.parametrize("family", TRAVELLING_FAMILIES)
def test_accelerometer_integrates_back_to_the_camera_velocity(family):
    """The simulated accelerometer, rotated into the world with the true camera and gravity
    added back, integrates to the camera's true change of velocity: exactly without noise,
    within what its bias and noise allow with them (a phone's bias of ~0.05 m/s^2 over 4 s)."""
    subject = _jogger()
    path = make_camera_path(family, subject, np.random.default_rng(3), duration=12.0)
    R_cam_imu = IMU_PRESETS["android-portrait"]
    t0, t1 = 3.0, 7.0
    truth = _velocity(path, t1) - _velocity(path, t0)
    assert np.linalg.norm(truth) > 0.1 or family == "dolly"  # it really moves (a dolly may cruise steadily)

    exact = simulate_imu(path.T_world_cam, 8.0, 400.0, R_cam_imu=R_cam_imu,
                         noise=GyroNoise(white=0.0, bias=(0, 0, 0), bias_walk=0.0), accel_noise=None)  # fmt: skip
    assert np.linalg.norm(_integrate_accel(path, exact, R_cam_imu, t0, t1) - truth) < 0.02

    accel_noise = AccelNoise()
    noise = GyroNoise(clock_offset=0.03)
    noisy = simulate_imu(path.T_world_cam, 8.0, 200.0, R_cam_imu=R_cam_imu, noise=noise, accel_noise=accel_noise)
    noisy[:, 0] -= noise.clock_offset  # onto the frame clock
    bound = (np.linalg.norm(accel_noise.bias) + 0.05) * (t1 - t0)  # bias, its walk and white noise over 4 s
    error = np.linalg.norm(_integrate_accel(path, noisy, R_cam_imu, t0, t1) - truth)
    assert error < bound
    # and the accelerometer does carry the motion: without it the error would be the change itself
    assert np.linalg.norm(truth) < 0.1 or error < np.linalg.norm(truth)


def test_a_tripod_accelerometer_reads_gravity_only():
    """A panning tripod camera: the accelerometer reads 9.81 m/s^2 straight up in the world at
    every sample (no noise), while the gyro sees the pan."""
    subject = _jogger(speed=1.2)
    path = Tripod(subject, eye=(6.0, -4.0, 1.5), follow=True)
    R_cam_imu = IMU_PRESETS["android-landscape"]
    samples = simulate_imu(path.T_world_cam, 6.0, 200.0, R_cam_imu=R_cam_imu, noise=None, accel_noise=None)
    f_world = np.array([path.T_world_cam(t)[:3, :3] @ R_cam_imu @ f for t, f in zip(samples[:, 0], samples[:, 4:7])])
    assert np.allclose(f_world, [0.0, 0.0, 9.81], atol=1e-3)
    assert np.abs(samples[:, 1:4]).max() > 0.05  # it pans


@pytest.mark.parametrize("family", TRAVELLING_FAMILIES)
def test_travelling_cameras_keep_up_with_the_subject(family):
    """Over 12 s of a 3 m/s jog (36 m), each travelling camera moves with the subject, stays
    within its distance range give or take its lag, and keeps them near the image centre."""
    subject = _jogger()
    path = make_camera_path(family, subject, np.random.default_rng(1), duration=12.0)
    times = np.arange(0.0, 12.0, 0.1)
    eye = np.array([path.T_world_cam(t)[:3, 3] for t in times])
    pelvis = np.array([subject(t) for t in times])
    distance = np.linalg.norm(eye[:, :2] - pelvis[:, :2], axis=1)
    assert np.linalg.norm(eye[-1, :2] - eye[0, :2]) > 25.0  # it travelled
    assert distance[10:].max() < {"follow": 9.0, "dolly": 10.0, "robot": 6.0}[family]
    assert distance.min() > 1.0
    for t, p in zip(times, pelvis):
        T = path.T_world_cam(t)
        cam = T[:3, :3].T @ (p - T[:3, 3])
        assert cam[2] > 0 and np.degrees(np.arctan2(np.linalg.norm(cam[:2]), cam[2])) < 20.0  # in view, near centre
    heights = {"follow": (1.25, 1.75), "dolly": (1.0, 1.8), "robot": (0.4, 1.2)}[family]
    assert heights[0] - 0.05 < eye[:, 2].mean() < heights[1] + 0.05


def test_camera_drift_aligns_position_and_heading():
    """Known answers: a published camera identical to the truth up to a world turn and shift
    drifts 0; one that stays put while the true one walks 5 m drifts 5 m at the end."""
    t = np.linspace(0, 5, 50)
    gt = np.tile(np.eye(4), (50, 1, 1))
    gt[:, 0, 3] = t
    yaw = np.deg2rad(40.0)
    Rz = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
    turned = gt.copy()
    turned[:, :3, :3] = Rz @ gt[:, :3, :3]
    turned[:, :3, 3] = gt[:, :3, 3] @ Rz.T + [3.0, -2.0, 0.0]
    assert np.allclose(M.camera_position_drift(turned, gt), 0.0, atol=1e-9)
    still = np.tile(np.eye(4), (50, 1, 1))
    assert np.isclose(M.camera_position_drift(still, gt)[-1], 5.0)


def test_csv_feed_reads_the_accelerometer_columns(tmp_path):
    from livehmr.core.errors import GyroFormatError
    from livehmr.stream.sources.gyro_feeds import CsvGyroFeed

    path = tmp_path / "imu.csv"
    path.write_text("t,wx,wy,wz,ax,ay,az\n0.0,0.1,0,0,0,9.81,0\n0.005,0.1,0,0,0.2,9.7,0\n")
    feed = CsvGyroFeed(path)
    assert feed.buffer.window(-1, 1).shape == (2, 4)
    assert np.allclose(feed.accel.window(-1, 1), [[0.0, 0, 9.81, 0], [0.005, 0.2, 9.7, 0]])
    path.write_text("t,wx,wy,wz,ax,ay,az\n0.0,0.1,0,0,0,9.81,0\n0.005,0.1,0,0\n")
    with pytest.raises(GyroFormatError, match=r"imu.csv:3.*7 numbers"):
        CsvGyroFeed(path)


@shared
def test_gait_loops_cover_ground_without_seams():
    """A captured jog of 1.8 s, looped to 15 s, covers ground at the clip's own pace in a
    nearly straight line, and no joint jumps at the seams more than it moves in the capture."""
    from livehmr.studio.corpus import Corpus
    from livehmr.studio.locomotion import find_gait_cycle, ground_speed, loop_gait

    clip = Corpus().load("cmu_141_03")  # "Run", 55 frames
    cycle = find_gait_cycle(clip)
    assert cycle is not None and cycle.speed > 3.0
    looped = loop_gait(clip, cycle, 450)
    speed = ground_speed(looped.root[:, :2], 30.0)
    assert abs(speed.mean() - cycle.speed) < 0.2
    assert np.linalg.norm(looped.root[-1, :2] - looped.root[0, :2]) > 0.9 * speed.mean() * 15
    step = np.linalg.norm(np.diff(looped.joint_positions(), axis=0), axis=-1).max()
    own = np.linalg.norm(np.diff(clip.joint_positions()[cycle.start : cycle.stop + 1], axis=0), axis=-1).max()
    assert step < 1.2 * own


@shared
def test_suites_draw_travelling_sequences_that_cover_ground():
    """The test and validation recipes: a third of the sequences or more travel, every
    travelling one loops a gait of at least 1 m/s, and the validation suite uses the
    validation subjects with the test suite's families, lengths and sizes."""
    from livehmr.studio.corpus import Corpus
    from livehmr.studio.suite import SUITES, draw_specs

    corpus = Corpus()
    assert (SUITES["val"].cameras, SUITES["val"].seconds, SUITES["val"].sizes, SUITES["val"].travelling_seconds) == (
        SUITES["test"].cameras, SUITES["test"].seconds, SUITES["test"].sizes, SUITES["test"].travelling_seconds)
    specs = draw_specs(SUITES["val"], corpus, corpus.ids("val"), seed=0, prefix="val")
    assert len(specs) >= 30
    split = corpus.split
    assert all(split[s.clip_id] == "val" for s in specs)
    travelling = [s for s in specs if s.camera in TRAVELLING_FAMILIES]
    assert 3 * len(travelling) >= len(specs)
    assert all(s.gait_cycle is not None for s in travelling)
    assert all(s.gait_cycle is None for s in specs if s.camera not in TRAVELLING_FAMILIES)


class _SilentBar:
    """A progress bar that shows nothing (what the suite's rendering loop is handed)."""

    total = 0

    def update(self, n):
        pass

    def write(self, text):
        pass


def test_a_sequence_that_hides_its_person_is_redrawn(tmp_path, monkeypatch):
    """The suite keeps re-drawing a sequence's camera and props until its person is visible in
    at least half of the frames, and keeps the spec it settled on."""
    from livehmr.studio import suite as S

    spec = S.SequenceSpec(name="x_000", clip_id="c", start=0, frames=10, phenotype={}, camera="static", hfov_deg=70.0,
                          size=(64, 48), light_dir=(0, 0, 1), imu="identity", gyro_clock_offset_s=0.0,
                          gyro_dropout_rate_hz=0.0, seed=5)  # fmt: skip
    rendered = []

    def fake_make_sequence(candidate, corpus, retargeter, out, progress=None):
        rendered.append(candidate)
        visible = np.zeros((10, 24), bool)
        visible[: 2 if len(rendered) < 3 else 8] = True  # hidden twice, then seen in 80 % of frames
        truth = _tiny_truth(visible)
        out.mkdir(parents=True, exist_ok=True)
        truth.save(out / "truth.npz")
        (out / "spec.json").write_text(json.dumps(S.asdict(candidate)))
        return truth

    monkeypatch.setattr(S, "make_sequence", fake_make_sequence)

    kept = S._make_visible_sequence(spec, None, None, tmp_path / "x_000", _SilentBar())
    assert [c.redraw for c in rendered] == [0, 1, 2]
    assert kept == rendered[-1] and kept.seed != spec.seed and kept.clip_id == spec.clip_id
    # done once: asking again re-renders nothing
    assert S._make_visible_sequence(spec, None, None, tmp_path / "x_000", _SilentBar()) == kept and len(rendered) == 3


def _tiny_truth(visible: np.ndarray):
    from livehmr.studio.suite import SequenceTruth

    T = len(visible)
    return SequenceTruth(fps=30.0, K=np.eye(3), size=np.array([64, 48]), times=np.arange(T) / 30, T_world_cam=np.tile(np.eye(4), (T, 1, 1)),
                         joints_world=np.zeros((T, 24, 3)), global_orient=np.zeros((T, 3)), body_pose=np.zeros((T, 69)),
                         transl=np.zeros((T, 3)), betas=np.zeros(10), rest_joints=np.zeros((24, 3)), contacts=np.zeros((T, 4), bool),
                         joints_2d=np.zeros((T, 24, 2)), visible=visible, R_cam_imu=np.eye(3), gyro_clock_offset_s=0.0)  # fmt: skip


@shared
def test_no_suite_sequence_hides_its_person_more_than_half_the_time(tmp_path):
    """A rendered suite (a travelling and a tripod sequence of the validation recipe, cut
    short) shows its person in at least half of every sequence's frames, and says so."""
    from livehmr.studio.corpus import Corpus
    from livehmr.studio.retarget import Retargeter
    from livehmr.studio.suite import MIN_VISIBLE_SHARE, SUITES, SequenceTruth, _make_visible_sequence, draw_specs

    corpus = Corpus()
    specs = draw_specs(SUITES["val"], corpus, corpus.ids("val"), seed=0, prefix="val")
    picked = [replace(s, frames=45) for s in (specs[0], specs[3])]  # follow, static

    retargeter = Retargeter(corpus)
    for spec in picked:
        kept = _make_visible_sequence(spec, corpus, retargeter, tmp_path / spec.name, _SilentBar())
        truth = SequenceTruth.load(Path(tmp_path / spec.name / "truth.npz"))
        assert truth.person_visible.mean() >= MIN_VISIBLE_SHARE
        assert kept.camera == spec.camera
        header = (tmp_path / spec.name / "gyro.csv").read_text().splitlines()[0]
        assert header == "t,wx,wy,wz,ax,ay,az"


def test_family_table_sets_validation_beside_test():
    from livehmr.bench.families import family_table

    row = {"sequences": 4, "true speed": 2.0, "speed ratio": 0.5, "RTE": 10.0, "cam drift median": 1.0}
    runs = {"val": {"learned+gyro @ follow": row, "learned+gyro": {**row, "sequences": 36}},
            "test": {"learned+gyro @ follow": {**row, "speed ratio": 0.25}}}
    table = family_table(runs, "learned+gyro")
    assert "| follow | 4 / 4 | 2.00 / 2.00 | 0.50 / 0.25 |" in table
    assert "| **all** | 36 / – |" in table and "dolly" not in table


def test_speed_ablation_sums_speeds_over_the_frames_all_know():
    """`bench speed`'s ratios: each speed summed over the frames where every speed is known,
    over the true one's sum; grouped by camera family and by true-speed bin."""
    from livehmr.bench.speed import summarize

    nan = np.nan
    walk = {"true": np.array([nan, 2.0, 2.0, 2.0]), "network": np.array([0.5, 0.5, 0.5, nan]),
            "legs": np.array([1.0, 1.0, 1.0, 1.0]), "published": np.array([nan, 1.0, 2.0, 2.0]),
            "moving": np.array([0.0, 1.0, 1.0, 1.0])}  # fmt: skip
    stand = {"true": np.array([nan, 0.1, 0.1]), "network": np.array([0.0, 0.2, 0.2]), "legs": np.array([0.0, 0.1, 0.3]),
             "published": np.array([0.0, 0.1, 0.1]), "moving": np.zeros(3)}  # fmt: skip
    table = summarize({"a": walk, "b": stand}, {"a": "follow", "b": "static"})
    assert table["travelling"]["frames"] == 2  # frame 0 has no truth, frame 3 no network speed
    assert table["travelling"]["network"] == pytest.approx(0.25) and table["travelling"]["published"] == pytest.approx(0.75)
    assert table["travelling"]["camera believed moving"] == pytest.approx(0.75)
    assert table["still"]["legs"] == pytest.approx(2.0)
    assert table["true >= 1.8 m/s"]["frames"] == 2 and table["true 0-0.3 m/s"]["frames"] == 2
    assert "other" not in table
