"""The published pose's causal smoother (a One Euro filter on rotations), on signals whose answer is known."""

from __future__ import annotations

import numpy as np

from livehmr.core.geometry import rotation_angle, rotvec_to_rotmat
from livehmr.models.motion.smoothing import OneEuroConfig, OneEuroRotations

DT = 1 / 30


def _frame_steps(R: np.ndarray) -> np.ndarray:
    """(T-1, N) angle between consecutive frames' rotations, rad."""
    return rotation_angle(np.einsum("tnji,tnjk->tnik", R[:-1], R[1:]))


def test_a_still_rotation_passes_unchanged_and_its_noise_is_smoothed():
    rng = np.random.default_rng(0)
    base = rotvec_to_rotmat(np.array([[0.3, -0.2, 1.0], [0.0, 0.5, 0.0]]))
    f = OneEuroRotations(OneEuroConfig(min_cutoff=1.5, beta=0.3))
    assert all(np.allclose(f(base, DT), base) for _ in range(10))
    f = OneEuroRotations(OneEuroConfig(min_cutoff=1.5, beta=0.3))
    noisy = np.stack([base @ rotvec_to_rotmat(rng.normal(0, 0.03, (2, 3))) for _ in range(300)])
    out = np.stack([f(R, DT) for R in noisy])
    # a first-order low-pass at 1.5 Hz keeps ~sqrt(alpha / (2 - alpha)) of white noise's frame-to-frame change
    assert _frame_steps(out[30:]).mean() < 0.5 * _frame_steps(noisy[30:]).mean()
    # and stays where the rotation is: no drift
    assert rotation_angle(np.einsum("tnji,njk->tnik", out[-50:], base)).mean() < 0.03


def test_a_fast_turn_is_followed_with_less_lag_than_a_plain_low_pass():
    omega = 6.0  # rad/s about z: a swinging limb
    axis = np.array([0.0, 0.0, 1.0])
    cfg = OneEuroConfig(min_cutoff=1.5, beta=0.3)
    f = OneEuroRotations(cfg)
    lags = []
    for t in range(90):
        R = rotvec_to_rotmat((omega * t * DT * axis)[None])
        lags.append(float(rotation_angle(f(R, DT)[0].T @ R[0])))
    plain_lag = omega / (2 * np.pi * cfg.min_cutoff)  # a fixed low-pass at min_cutoff: speed x tau
    assert abs(lags[-1] - lags[-10]) < 1e-3  # a steady lag, not a growing one
    assert lags[-1] < 0.5 * plain_lag
