"""Metrics against hand-constructed trajectories whose answers are known in closed form."""

import numpy as np
import pytest

from livehmr.core.geometry import rotvec_to_rotmat
from livehmr.eval import metrics as M

RNG = np.random.default_rng(0)
BODY = RNG.normal(0, 0.3, size=(24, 3))  # a cloud standing in for a body


def _static(T=100):
    return np.repeat(BODY[None], T, axis=0)


def test_mpjpe_ignores_a_shift_and_sees_one_moved_joint():
    gt = _static(5)
    assert np.allclose(M.mpjpe(gt + [1.0, -2.0, 0.5], gt), 0.0)
    pred = gt.copy()
    pred[:, 15] += [0.1, 0.0, 0.0]  # head 10 cm off, hips untouched
    assert np.allclose(M.mpjpe(pred, gt), 100.0 / 24)


def test_pa_mpjpe_is_similarity_invariant_and_least_squares():
    gt = _static(3)
    R = rotvec_to_rotmat(np.array([0.3, -0.2, 1.0]))
    assert np.allclose(M.pa_mpjpe(1.3 * gt @ R.T + [0.2, 0.1, 3.0], gt), 0.0, atol=1e-6)
    pred = 1.3 * gt[0] @ R.T
    pred[20] += [0.0, 0.2, 0.0]
    s, R_fit, t = M.align_similarity(pred, gt[0])

    def sse(s, R_fit, t):
        return ((s * pred @ R_fit.T + t - gt[0]) ** 2).sum()

    best = sse(s, R_fit, t)
    assert 0 < best < 0.2**2  # better than undoing the similarity exactly, which leaves the 0.2 m joint
    for ds, dR, dt in [(1.01, np.eye(3), 0), (1, rotvec_to_rotmat(np.array([0.01, 0, 0])), 0), (1, np.eye(3), 0.005)]:
        assert sse(s * ds, dR @ R_fit, t + dt) > best


def test_wa_mpjpe_removes_one_similarity_per_chunk():
    gt = _static(250) + np.linspace(0, 5, 250)[:, None, None] * [1.0, 0.0, 0.0]
    R = rotvec_to_rotmat(np.array([0.0, 0.0, 0.7]))
    assert np.allclose(M.wa_mpjpe(0.8 * gt @ R.T + 2.0, gt), 0.0, atol=1e-6)


def test_w_mpjpe_sees_drift_after_the_first_two_frames():
    T, v = 100, 0.002
    gt = _static(T)
    pred = gt + (np.arange(T) * v)[:, None, None] * [1.0, 0.0, 0.0]
    # the first two frames (offsets 0 and v) align best by shifting -v/2: error |k - 1/2| v
    expected = 1000 * v * np.abs(np.arange(T) - 0.5)
    assert np.allclose(M.w_mpjpe(pred, gt), expected, atol=1e-6)
    # a rigid motion of the whole prediction is removed
    R = rotvec_to_rotmat(np.array([0.0, 0.0, -1.2]))
    assert np.allclose(M.w_mpjpe(gt @ R.T + [3.0, 1.0, 0.0], gt), 0.0, atol=1e-6)


def test_rte_of_a_10_percent_overshoot_on_a_straight_walk():
    x = np.linspace(0.0, 10.0, 101)
    gt = np.stack([x, np.zeros_like(x), np.full_like(x, 0.9)], axis=1)
    pred = gt * [1.1, 1.0, 1.0]
    # rigid alignment can only shift: error 0.1 |x - 5| over 10 m travelled
    assert np.isclose(M.rte(pred, gt).mean(), 100 * 0.1 * np.abs(x - 5.0).mean() / 10.0)
    assert np.allclose(M.rte(gt @ rotvec_to_rotmat(np.array([0, 0, 2.0])).T, gt), 0.0, atol=1e-6)


def test_jitter_of_a_constant_jerk():
    fps, a = 30.0, 40.0  # jerk 40 m/s^3 along x for every joint
    t = np.arange(60) / fps
    joints = _static(60) + (a * t**3 / 6)[:, None, None] * [1.0, 0.0, 0.0]
    assert np.allclose(M.jitter(joints, fps), a / 10.0)


def test_foot_sliding_counts_only_true_contacts():
    T = 50
    gt = _static(T)
    gt[25:, 7] += (np.arange(25) * 0.05)[:, None] * [1, 0, 0]  # left ankle walks away in the 2nd half
    pred = gt.copy()
    pred[:, list(M.FOOT_POINTS)] += (np.arange(T) * 0.005)[:, None, None] * [0, 1, 0]  # every foot slides 5 mm/frame
    slide = M.foot_sliding(pred, gt)
    # 49 frame pairs x 4 points, minus the left ankle's 24 moving pairs
    assert len(slide) == 49 * 4 - 24
    assert np.allclose(slide[np.isfinite(slide)].min(), 5.0)
    assert np.median(slide) == pytest.approx(5.0)


def test_accel_error_of_one_accelerating_joint():
    T, c = 40, 0.001
    gt = _static(T)
    pred = gt.copy()
    pred[:, 20] += (c * np.arange(T) ** 2)[:, None] * [0, 0, 1]  # second difference 2c
    assert np.allclose(M.accel_error(pred, gt), 1000 * 2 * c / 24)
    assert np.allclose(M.accel_error(gt + (np.arange(T) ** 2 * c)[:, None, None], gt), 0.0, atol=1e-9)


def test_rotation_error_and_runs():
    R = rotvec_to_rotmat(np.array([[0, 0, 0.1], [0.2, 0, 0]]))
    assert np.allclose(M.rotation_error_deg(R, np.tile(np.eye(3), (2, 1, 1))), np.degrees([0.1, 0.2]))
    valid = np.array([1, 1, 0, 1, 1, 1, 0, 1], bool)
    assert M.runs(valid, 2) == [slice(0, 2), slice(3, 6)]
    assert M.runs(valid, 3) == [slice(3, 6)]
