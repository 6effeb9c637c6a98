"""Camera trajectories with exact orientation and the gyroscope they imply.

A trajectory is a smooth function of time ``t`` (seconds) returning ``T_world_cam``
(4x4, OpenCV camera axes, see :mod:`livehmr.core.geometry`). The simulated gyroscope is
differentiated from it: the body-frame angular velocity ``w`` satisfies
``R(t + dt) = R(t) @ exp(w * dt)`` in the IMU frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from livehmr.core.geometry import make_T, rotmat_to_rotvec, rotvec_to_rotmat


def look_at(eye: np.ndarray, target: np.ndarray, roll: float | np.ndarray = 0.0) -> np.ndarray:
    """R_world_cam (..., 3, 3), OpenCV axes, of cameras at ``eye`` (..., 3) looking at
    ``target`` (..., 3) with world +Z up, rolled by ``roll`` (scalar or (...,), radians)
    about their optical axis."""
    forward = target - eye
    forward = forward / np.linalg.norm(forward, axis=-1, keepdims=True)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.maximum(np.linalg.norm(right, axis=-1, keepdims=True), 1e-9)
    down = np.cross(forward, right)
    R = np.stack([right, down, forward], axis=-1)
    return R @ rotvec_to_rotmat(np.asarray(roll, dtype=np.float64)[..., None] * [0.0, 0.0, 1.0])


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


@dataclass
class Tripod:
    """A camera on a tripod at ``eye``. ``follow``: pans and tilts to keep ``target`` in view
    (with ``lag`` seconds, smoothly, as an operator does); otherwise it never moves."""

    target: Callable[[float], np.ndarray]
    eye: tuple[float, float, float]
    follow: bool = False
    lag: float = 0.5
    aim_height: float = 1.0

    def T_world_cam(self, t: float) -> np.ndarray:
        aim = self.target(max(t - self.lag, 0.0) if self.follow else 0.0).copy()
        aim[2] = self.aim_height
        eye = np.asarray(self.eye, dtype=np.float64)
        return make_T(look_at(eye, aim), eye)


@dataclass
class Orbit:
    """A camera circling the target at ``radius`` m and ``height`` m, ``speed`` rad/s,
    always looking at it, with a little hand shake."""

    target: Callable[[float], np.ndarray]
    radius: float = 4.5
    height: float = 1.6
    speed: float = 0.25
    start_angle: float = 0.0
    shake_deg: float = 0.3

    def T_world_cam(self, t: float) -> np.ndarray:
        center = self.target(t)
        a = self.start_angle + self.speed * t
        eye = np.array([center[0] + self.radius * np.cos(a), center[1] + self.radius * np.sin(a), self.height])
        aim = np.array([center[0], center[1], 1.0])
        d = np.deg2rad(self.shake_deg)
        shake = np.array([_sines(t, ((d, 2.1, 0.0), (d / 2, 5.3, 1.0))), _sines(t, ((d, 1.7, 0.5), (d / 2, 4.9, 2.0))), 0.0])
        return make_T(look_at(eye, aim) @ rotvec_to_rotmat(shake), eye)


@dataclass
class WhipPan:
    """A handheld follow camera that now and then whips away (a fast pan of ``amplitude_deg``
    over ``whip_s`` seconds and back), every ``period_s`` seconds: the hard case for
    visual odometry and gyro timing."""

    follow: HandheldFollow
    amplitude_deg: float = 70.0
    whip_s: float = 0.5
    period_s: float = 5.0
    offset_s: float = 2.0

    def T_world_cam(self, t: float) -> np.ndarray:
        T = self.follow.T_world_cam(t)
        phase = (t - self.offset_s) % self.period_s
        if t >= self.offset_s and phase < 2 * self.whip_s:
            # out and back along a raised cosine: smooth velocity, peaks of ~250 deg/s
            s = 0.5 - 0.5 * np.cos(2 * np.pi * phase / (2 * self.whip_s))
            yaw = np.deg2rad(self.amplitude_deg) * s
            T = T.copy()
            T[:3, :3] = rotvec_to_rotmat(np.array([0.0, 0.0, yaw])) @ T[:3, :3]
        return T


@dataclass
class Drone:
    """A drone at ``height`` m drifting around the target at ``radius`` m, looking down at it,
    with slow roll and pitch wobble."""

    target: Callable[[float], np.ndarray]
    height: float = 4.0
    radius: float = 6.0
    start_angle: float = 0.0
    drift: float = 0.08
    wobble_deg: float = 1.5

    def T_world_cam(self, t: float) -> np.ndarray:
        center = self.target(t)
        a = self.start_angle + self.drift * t + 0.2 * np.sin(0.15 * t)
        r = self.radius * (1.0 + 0.1 * np.sin(0.21 * t + 1.0))
        eye = np.array([center[0] + r * np.cos(a), center[1] + r * np.sin(a), self.height + 0.3 * np.sin(0.33 * t)])
        d = np.deg2rad(self.wobble_deg)
        wobble = np.array([_sines(t, ((d, 0.4, 0.0), (d / 3, 1.3, 1.0))), _sines(t, ((d, 0.3, 2.0),)), 0.0])
        return make_T(look_at(eye, np.array([center[0], center[1], 0.9])) @ rotvec_to_rotmat(wobble), eye)


CAMERA_FAMILIES = ("static", "pan", "handheld", "orbit", "whip", "drone")


def _smoothed(target: Callable[[float], np.ndarray], window_s: float = 1.0) -> Callable[[float], np.ndarray]:
    """The target averaged over the past ``window_s`` (cameras do not track a bobbing pelvis)."""
    offsets = np.linspace(0.0, window_s, 7)
    return lambda t: np.mean([target(max(t - o, 0.0)) for o in offsets], axis=0)


def make_camera_path(family: str, target: Callable[[float], np.ndarray], rng: np.random.Generator,
                     extent_m: float = 0.0):  # fmt: skip
    """A random trajectory of one family, placed to see a subject whose pelvis follows
    ``target`` and who moves over ``extent_m`` metres."""
    if family not in CAMERA_FAMILIES:
        raise ValueError(f"unknown camera family {family!r}; choose from {', '.join(CAMERA_FAMILIES)}")
    smooth = _smoothed(target)
    start = target(0.0)
    bearing = rng.uniform(-np.pi, np.pi)
    distance = rng.uniform(3.5, 6.0) + (0.6 * extent_m if family in ("static", "pan") else 0.0)
    base = (start[0] + distance * np.cos(bearing), start[1] + distance * np.sin(bearing), rng.uniform(1.2, 1.7))
    if family == "static":
        center = start
        return Tripod(lambda t: center, base, follow=False, aim_height=rng.uniform(0.8, 1.1))
    if family == "pan":
        return Tripod(smooth, base, follow=True, lag=rng.uniform(0.2, 0.6))
    handheld = HandheldFollow(smooth, base=base, lag=rng.uniform(0.2, 0.5), shake_deg=rng.uniform(0.4, 1.0))
    if family == "handheld":
        return handheld
    if family == "whip":
        return WhipPan(handheld, amplitude_deg=rng.uniform(50, 90) * rng.choice([-1, 1]), whip_s=rng.uniform(0.35, 0.6),
                       period_s=rng.uniform(4.0, 7.0), offset_s=rng.uniform(1.5, 3.0))  # fmt: skip
    if family == "orbit":
        return Orbit(smooth, radius=rng.uniform(3.5, 5.5), height=rng.uniform(1.3, 1.9),
                     speed=rng.uniform(0.15, 0.35) * rng.choice([-1, 1]), start_angle=bearing)  # fmt: skip
    return Drone(smooth, height=rng.uniform(3.0, 5.5), radius=rng.uniform(5.0, 8.0), start_angle=bearing)


def angular_velocity(T_world_cam: Callable[[float], np.ndarray], t: float, dt: float = 1e-4) -> np.ndarray:
    """Body-frame (camera-frame) angular velocity (3,) rad/s at time t, by central difference."""
    R0 = T_world_cam(t - dt / 2)[:3, :3]
    R1 = T_world_cam(t + dt / 2)[:3, :3]
    return rotmat_to_rotvec(R0.T @ R1) / dt


@dataclass
class GyroNoise:
    """Phone-grade gyroscope errors. ``white`` (rad/s per sample), constant ``bias`` (rad/s)
    and its random walk ``bias_walk`` (rad/s/sqrt(s)); ``clock_offset`` (s) is added to the
    gyro's timestamps relative to the frames' clock; ``dropout_prob`` drops single samples
    and ``dropout_rate_hz`` starts bursts of ``dropout_len_s`` with no samples at all."""

    white: float = 0.003
    bias: tuple[float, float, float] = (0.004, -0.003, 0.002)
    bias_walk: float = 0.0002
    clock_offset: float = 0.0
    dropout_prob: float = 0.0
    dropout_rate_hz: float = 0.0
    dropout_len_s: float = 0.2


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
    silent_until = -1.0
    for t in times:
        w_imu = R_cam_imu.T @ angular_velocity(T_world_cam, t)
        if noise:
            bias = bias + noise.bias_walk * np.sqrt(1.0 / rate_hz) * rng.normal(size=3)
            w_imu = w_imu + bias + noise.white * rng.normal(size=3)
            if rng.random() < noise.dropout_rate_hz / rate_hz:
                silent_until = t + noise.dropout_len_s
            if t < silent_until or rng.random() < noise.dropout_prob:
                continue
        rows.append((t + (noise.clock_offset if noise else 0.0), *w_imu))
    return np.array(rows)
