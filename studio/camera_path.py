"""Camera trajectories with exact orientation and the gyroscope they imply.

A trajectory is a smooth function of time ``t`` (seconds) returning ``T_world_cam``
(4x4, OpenCV camera axes, see :mod:`livehmr.geometry`). The simulated gyroscope is
differentiated from it: the body-frame angular velocity ``w`` satisfies
``R(t + dt) = R(t) @ exp(w * dt)`` in the IMU frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from livehmr.geometry import make_T, rotmat_to_rotvec, rotvec_to_rotmat


def look_at(eye: np.ndarray, target: np.ndarray, roll: float = 0.0) -> np.ndarray:
    """R_world_cam of a camera at ``eye`` looking at ``target`` with world +Z up, rolled by ``roll``."""
    forward = target - eye
    forward = forward / np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    R = np.stack([right, down, forward], axis=1)
    return R @ rotvec_to_rotmat(np.array([0.0, 0.0, roll]))


def _sines(t: float, terms: tuple[tuple[float, float, float], ...]) -> float:
    """Sum of amplitude * sin(2 pi f t + phase) over (amplitude, f, phase) terms."""
    return float(sum(a * np.sin(2 * np.pi * f * t + p) for a, f, p in terms))


@dataclass
class HandheldFollow:
    """A person holding a phone near ``base``, turning to follow a target, with hand shake.

    ``target(t)`` gives the world point to keep in view (e.g. the walker's pelvis);
    it is followed with a ``lag`` (seconds), as a person tracking someone does.
    Shake is a few tenths of a degree at 2-8 Hz plus slow sway of a few centimetres.
    """

    target: Callable[[float], np.ndarray]
    base: tuple[float, float, float] = (0.0, 0.0, 1.45)
    lag: float = 0.3
    shake_deg: float = 0.6
    sway_m: float = 0.03

    def T_world_cam(self, t: float) -> np.ndarray:
        s = self.sway_m
        eye = np.asarray(self.base) + np.array([
            _sines(t, ((s, 0.31, 0.0), (s / 3, 1.1, 1.0))),
            _sines(t, ((s, 0.23, 2.0), (s / 3, 0.9, 0.3))),
            _sines(t, ((s / 2, 1.8, 0.5),)),
        ])  # fmt: skip
        aim = self.target(max(t - self.lag, 0.0)).copy()
        aim[2] = 1.0
        d = np.deg2rad(self.shake_deg)
        shake = np.array([
            _sines(t, ((d, 2.3, 0.0), (d / 2, 5.1, 1.3), (d / 4, 7.7, 0.2))),
            _sines(t, ((d, 1.9, 0.7), (d / 2, 4.3, 2.1), (d / 4, 8.1, 1.1))),
            _sines(t, ((d / 2, 1.3, 0.4), (d / 3, 3.7, 0.9))),
        ])  # fmt: skip
        R = look_at(eye, aim, roll=shake[2]) @ rotvec_to_rotmat(np.array([shake[0], shake[1], 0.0]))
        return make_T(R, eye)


def angular_velocity(T_world_cam: Callable[[float], np.ndarray], t: float, dt: float = 1e-4) -> np.ndarray:
    """Body-frame (camera-frame) angular velocity (3,) rad/s at time t, by central difference."""
    R0 = T_world_cam(t - dt / 2)[:3, :3]
    R1 = T_world_cam(t + dt / 2)[:3, :3]
    return rotmat_to_rotvec(R0.T @ R1) / dt


@dataclass
class GyroNoise:
    """Phone-grade gyroscope errors (rad/s units). ``clock_offset`` (s) is added to the
    gyro's timestamps relative to the frames' clock; ``dropout_prob`` drops samples."""

    white: float = 0.003
    bias: tuple[float, float, float] = (0.004, -0.003, 0.002)
    bias_walk: float = 0.0002
    clock_offset: float = 0.0
    dropout_prob: float = 0.0


def simulate_gyro(
    T_world_cam: Callable[[float], np.ndarray],
    duration: float,
    rate_hz: float = 200.0,
    R_cam_imu: np.ndarray | None = None,
    noise: GyroNoise | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Gyroscope samples over [0, duration]: (N, 4) rows ``t, wx, wy, wz`` in the IMU frame.

    ``t`` is on the gyro's own clock (the frames' clock + ``noise.clock_offset``).
    """
    R_cam_imu = np.eye(3) if R_cam_imu is None else R_cam_imu
    rng = np.random.default_rng(seed)
    times = np.arange(0.0, duration, 1.0 / rate_hz)
    rows = []
    bias = np.array(noise.bias) if noise else np.zeros(3)
    for t in times:
        w_imu = R_cam_imu.T @ angular_velocity(T_world_cam, t)
        if noise:
            bias = bias + noise.bias_walk * np.sqrt(1.0 / rate_hz) * rng.normal(size=3)
            w_imu = w_imu + bias + noise.white * rng.normal(size=3)
            if rng.random() < noise.dropout_prob:
                continue
        rows.append((t + (noise.clock_offset if noise else 0.0), *w_imu))
    return np.array(rows)
