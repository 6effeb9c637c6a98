"""Camera trajectories with exact orientation and the IMU readings they imply.

A trajectory is a smooth function of time ``t`` (seconds) returning ``T_world_cam``
(4x4, OpenCV camera axes, see :mod:`livehmr.core.geometry`). The simulated gyroscope is
differentiated from it: the body-frame angular velocity ``w`` satisfies
``R(t + dt) = R(t) @ exp(w * dt)`` in the IMU frame. The simulated accelerometer reads
the specific force, the camera's acceleration minus gravity, in the IMU frame:
``f = R_world_imu^T (a_world - g)`` with ``g = (0, 0, -9.81)`` m/s^2, so a still phone
reads +9.81 m/s^2 along its up axis (as Android's and the Web's accelerometers do). For
that to mean anything the camera's position must be twice differentiable in ``t``: every
path here is built from sines, cubic splines and filters of the subject's smoothed
pelvis (:class:`SmoothPath`), never from a piecewise-linear one.

Families: ``static``, ``pan`` (tripods), ``handheld``, ``whip`` (a person near one spot),
``orbit``, ``drone`` (circling the subject), and the travelling ones, which move with a
subject who covers ground: ``follow`` (an operator walking behind or beside),
``dolly`` (a track parallel to the subject's path), ``robot`` (a ground robot following).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.ndimage import gaussian_filter1d

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


GRAVITY_WORLD = np.array([0.0, 0.0, -9.81])  # m/s^2, world Z up


class SmoothPath:
    """A C2 function of time through sampled points: a natural cubic spline through
    ``points`` (N, D) at ``times`` (N,) s, optionally Gaussian-smoothed over ``sigma_s``
    first, continued as a straight line at its end velocities outside ``times`` (a natural
    spline's second derivative is 0 at its ends, so the continuation keeps it C2)."""

    def __init__(self, times: np.ndarray, points: np.ndarray, sigma_s: float = 0.0):
        times = np.asarray(times, dtype=np.float64)
        points = np.asarray(points, dtype=np.float64)
        if sigma_s > 0 and len(times) > 1:
            points = gaussian_filter1d(points, sigma_s / (times[1] - times[0]), axis=0, mode="nearest")
        self.t0, self.t1 = float(times[0]), float(times[-1])
        self.spline = CubicSpline(times, points, bc_type="natural")
        self._ends = [(self.t0, self.spline(self.t0), self.spline(self.t0, 1)),
                      (self.t1, self.spline(self.t1), self.spline(self.t1, 1))]  # fmt: skip

    def __call__(self, t: float, derivative: int = 0) -> np.ndarray:
        for edge, (te, pe, ve) in zip((t < self.t0, t > self.t1), self._ends):
            if edge:
                return pe + ve * (t - te) if derivative == 0 else ve.copy() if derivative == 1 else 0.0 * ve
        return np.asarray(self.spline(t, derivative))


def _unit(v: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-6 else fallback


def _rot2(angle: float) -> np.ndarray:
    return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])


@dataclass
class Pursuit:
    """A vehicle (a walking operator, a dolly, a robot) on the ground plane chasing a goal
    point: a damped spring (natural frequency ``omega`` rad/s, damping ratio ``zeta``) toward
    the goal and its velocity, whose
    acceleration is limited to ``max_accel`` m/s^2 and speed to ``max_speed`` m/s, as a
    person or a machine following someone has. ``goal(t, position)`` may depend on where it
    is (a leash). :meth:`simulate` integrates it on a fine grid; the result is made C2 by
    :class:`SmoothPath`."""

    omega: float = 2.0
    zeta: float = 1.0
    max_accel: float = 2.5
    max_speed: float = 5.0
    anticipation: float = 1.0  # how much of the goal's velocity it matches (below 1: it lags as the goal speeds up)

    def simulate(self, goal: Callable[[float, np.ndarray], np.ndarray], start: np.ndarray, duration: float,
                 dt: float = 0.01, lead_in_s: float = 2.0) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """Times (N,) from ``-lead_in_s`` to ``duration + 1`` s and positions (N, 2); it
        starts still at ``start`` ``lead_in_s`` before the first frame (so by then it moves
        as it would)."""
        times = np.arange(-lead_in_s, duration + 1.0, dt)
        p, v = np.asarray(start, dtype=np.float64).copy(), np.zeros(2)
        out = np.empty((len(times), 2))
        for k, t in enumerate(times):
            out[k] = p
            g = goal(t, p)
            g_rate = (goal(t + dt, p) - g) / dt  # the goal's own velocity: followed without a steady lag
            a = self.omega**2 * (g - p) + 2 * self.zeta * self.omega * (self.anticipation * g_rate - v)
            a *= min(1.0, self.max_accel / max(float(np.linalg.norm(a)), 1e-9))
            v = v + a * dt
            v *= min(1.0, self.max_speed / max(float(np.linalg.norm(v)), 1e-9))
            p = p + v * dt
        return times, out


def _heading_of(path: SmoothPath, sigma_s: float = 1.0, duration: float = 60.0) -> SmoothPath:
    """The subject's direction of travel (unit (2,) vectors) as a smooth function of time,
    taken from ``path``'s velocity averaged over ``sigma_s``; where it barely moves the
    last direction is kept."""
    times = np.arange(path.t0 - 2.0, max(path.t1, duration) + 2.0, 0.05)
    v = np.array([path(t, 1)[:2] for t in times])
    v = gaussian_filter1d(v, sigma_s / 0.05, axis=0, mode="nearest")
    direction = np.empty_like(v)
    last = np.array([1.0, 0.0])
    for k in range(len(v)):
        last = direction[k] = _unit(v[k], last)
    return SmoothPath(times, direction)


@dataclass
class Travelling:
    """A camera that travels with the subject: ``eye_path`` (C2, metres in the world) plus a
    walker's bob and sway (``bob_m`` up and down at the step rate ``step_hz`` while moving,
    sideways half as much at half the rate), aimed at ``aim`` (the subject's smoothed pelvis)
    ``lag`` s late at height ``aim_height``, with ``shake_deg`` of rotation wobble."""

    eye_path: SmoothPath
    aim: SmoothPath
    lag: float = 0.3
    aim_height: float = 1.0
    bob_m: float = 0.0
    step_hz: float = 1.8
    shake_deg: float = 0.3
    shake_hz: float = 2.0
    vibration_m: float = 0.0  # a robot's chassis on the floor: small and fast

    def _eye(self, t: float) -> np.ndarray:
        eye = self.eye_path(t)
        if self.bob_m > 0:
            v = self.eye_path(t, 1)
            moving = float(np.tanh(np.linalg.norm(v[:2]) / 0.6))  # no bob standing still; full at a walk
            side = _unit(np.array([-v[1], v[0], 0.0]), np.array([0.0, 1.0, 0.0]))
            phase = 2 * np.pi * self.step_hz * t
            eye = eye + moving * self.bob_m * (np.array([0.0, 0.0, np.sin(phase)]) + 0.5 * np.sin(phase / 2) * side)
        if self.vibration_m > 0:
            eye = eye + np.array([0.0, 0.0, _sines(t, ((self.vibration_m, 9.3, 0.0), (self.vibration_m / 2, 13.1, 1.0)))])
        return eye

    def T_world_cam(self, t: float) -> np.ndarray:
        eye = self._eye(t)
        aim = self.aim(t - self.lag).copy()
        aim[2] = self.aim_height
        d = np.deg2rad(self.shake_deg)
        f = self.shake_hz
        shake = np.array([
            _sines(t, ((d, f, 0.0), (d / 2, 2.3 * f, 1.3))),
            _sines(t, ((d, 0.8 * f, 0.7), (d / 2, 2.1 * f, 2.1))),
            _sines(t, ((d / 2, 0.6 * f, 0.4), (d / 3, 1.9 * f, 0.9))),
        ])  # fmt: skip
        R = look_at(eye, aim, roll=shake[2]) @ rotvec_to_rotmat(np.array([shake[0], shake[1], 0.0]))
        return make_T(R, eye)


def follow_path(subject: SmoothPath, rng: np.random.Generator, duration: float, dt: float = 0.01) -> Travelling:
    """An operator walking with the subject at 2-6 m, behind or beside them (their side
    drifting back toward the chosen one as the subject turns), lagging and changing pace as
    a person following does, the phone held at 1.3-1.7 m with the operator's steps in it."""
    heading = _heading_of(subject, duration=duration)
    distance0 = rng.uniform(2.0, 6.0)
    breathe, period = rng.uniform(0.1, 0.25), rng.uniform(5.0, 12.0)  # the gap opens and closes

    def distance(t: float) -> float:
        return distance0 * (1.0 + breathe * np.sin(2 * np.pi * t / period))

    side = rng.choice([np.pi, np.pi - 0.6, np.pi + 0.6, np.pi / 2, -np.pi / 2]) + rng.uniform(-0.3, 0.3)

    def goal(t: float, p: np.ndarray) -> np.ndarray:
        s = subject(t)[:2]
        preferred = _rot2(side) @ heading(t)
        bearing = _unit(_unit(p - s, preferred) + 0.35 * preferred, preferred)
        return s + distance(t) * bearing

    start = subject(0.0)[:2] + distance(0.0) * (_rot2(side) @ heading(0.0))
    pursuit = Pursuit(omega=rng.uniform(1.2, 2.4), zeta=rng.uniform(0.7, 1.0), max_accel=rng.uniform(1.5, 3.0), max_speed=6.0,
                      anticipation=rng.uniform(0.6, 0.9))  # fmt: skip
    times, xy = pursuit.simulate(goal, start, duration, dt=dt)
    height = rng.uniform(1.3, 1.7)
    eye = SmoothPath(times, np.column_stack([xy, np.full(len(xy), height)]))
    return Travelling(eye, subject, lag=rng.uniform(0.15, 0.4), aim_height=rng.uniform(0.9, 1.1), bob_m=rng.uniform(0.01, 0.025),
                      step_hz=rng.uniform(1.7, 2.4), shake_deg=rng.uniform(0.3, 0.8), shake_hz=rng.uniform(1.5, 3.0))  # fmt: skip


def dolly_path(subject: SmoothPath, rng: np.random.Generator, duration: float, dt: float = 0.01) -> Travelling:
    """A camera on a track (or a vehicle) running parallel to the subject's path at 3-8 m,
    at 1.0-1.8 m height, moving smoothly to stay level with them, panning to keep them
    framed (sports coverage)."""
    heading = _heading_of(subject, sigma_s=2.0, duration=duration)
    offset = rng.uniform(3.0, 8.0) * rng.choice([-1.0, 1.0])
    lead = rng.uniform(-1.0, 1.0)  # metres ahead (+) or behind (-) the subject along the track

    def goal(t: float, p: np.ndarray) -> np.ndarray:
        h = heading(t)
        return subject(t)[:2] + offset * np.array([-h[1], h[0]]) + lead * h

    pursuit = Pursuit(omega=rng.uniform(0.8, 1.6), zeta=1.0, max_accel=rng.uniform(1.5, 2.5), max_speed=7.0)
    times, xy = pursuit.simulate(goal, goal(0.0, np.zeros(2)), duration, dt=dt)
    eye = SmoothPath(times, np.column_stack([xy, np.full(len(xy), rng.uniform(1.0, 1.8))]))
    return Travelling(eye, subject, lag=rng.uniform(0.1, 0.3), aim_height=rng.uniform(0.9, 1.1), shake_deg=rng.uniform(0.05, 0.2),
                      shake_hz=rng.uniform(0.5, 1.5))  # fmt: skip


def robot_path(subject: SmoothPath, rng: np.random.Generator, duration: float, dt: float = 0.01) -> Travelling:
    """A ground robot following the subject at 1.5-4 m on a leash (it closes in when they
    get ahead and turns toward where they are), its camera 0.4-1.2 m high looking up at them,
    accelerating and turning within a machine's limits, its chassis vibrating a little."""
    heading = _heading_of(subject, duration=duration)
    distance = rng.uniform(1.5, 4.0)

    def goal(t: float, p: np.ndarray) -> np.ndarray:
        s = subject(t)[:2]
        return s + distance * _unit(p - s, -heading(t))

    start = subject(0.0)[:2] - distance * heading(0.0)
    pursuit = Pursuit(omega=rng.uniform(1.0, 2.0), zeta=1.0, max_accel=rng.uniform(1.0, 2.0), max_speed=5.0,
                      anticipation=rng.uniform(0.8, 1.0))  # fmt: skip
    times, xy = pursuit.simulate(goal, start, duration, dt=dt)
    height = rng.uniform(0.4, 1.2)
    eye = SmoothPath(times, np.column_stack([xy, np.full(len(xy), height)]))
    return Travelling(eye, subject, lag=rng.uniform(0.1, 0.3), aim_height=rng.uniform(0.8, 1.0), shake_deg=rng.uniform(0.05, 0.15),
                      shake_hz=rng.uniform(3.0, 6.0), vibration_m=rng.uniform(0.0003, 0.001))  # fmt: skip


#: the cameras that move with a subject who covers ground, by family
TRAVELLING_PATHS = {"follow": follow_path, "dolly": dolly_path, "robot": robot_path}
TRAVELLING_FAMILIES = tuple(TRAVELLING_PATHS)
CAMERA_FAMILIES = ("static", "pan", "handheld", "orbit", "whip", "drone", *TRAVELLING_FAMILIES)


def _smoothed(target: Callable[[float], np.ndarray], window_s: float = 1.0) -> Callable[[float], np.ndarray]:
    """The target averaged over the past ``window_s`` (cameras do not track a bobbing pelvis)."""
    offsets = np.linspace(0.0, window_s, 7)
    return lambda t: np.mean([target(t - o) for o in offsets], axis=0)



def make_camera_path(family: str, target: SmoothPath, rng: np.random.Generator, extent_m: float = 0.0,
                     duration: float = 30.0):  # fmt: skip
    """A random trajectory of one family, placed to see a subject whose pelvis follows
    ``target`` (C2) and who moves over ``extent_m`` metres in ``duration`` s."""
    if family not in CAMERA_FAMILIES:
        raise ValueError(f"unknown camera family {family!r}; choose from {', '.join(CAMERA_FAMILIES)}")
    if family in TRAVELLING_PATHS:
        return TRAVELLING_PATHS[family](target, rng, duration)
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


@dataclass
class AccelNoise:
    """Phone-grade accelerometer errors: ``white`` (m/s^2 per sample), constant ``bias``
    (m/s^2) and its random walk ``bias_walk`` (m/s^2/sqrt(s)). Clock offset and dropouts
    are the gyroscope's (one IMU, one clock, one stream)."""

    white: float = 0.03
    bias: tuple[float, float, float] = (0.04, -0.03, 0.05)
    bias_walk: float = 0.002


def linear_acceleration(T_world_cam: Callable[[float], np.ndarray], t: float, dt: float = 2e-3,
                        T_at_t: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """The camera's acceleration (3,) in the world, m/s^2, by central second difference
    (``T_at_t``: ``T_world_cam(t)`` when the caller has it already)."""
    T_at_t = T_world_cam(t) if T_at_t is None else T_at_t
    before, after = T_world_cam(t - dt)[:3, 3], T_world_cam(t + dt)[:3, 3]
    return (before - 2 * T_at_t[:3, 3] + after) / dt**2


def simulate_imu(
    T_world_cam: Callable[[float], np.ndarray],
    duration: float,
    rate_hz: float = 200.0,
    R_cam_imu: np.ndarray | None = None,
    noise: GyroNoise | None = None,
    accel_noise: AccelNoise | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Gyroscope and accelerometer samples: (N, 7) rows ``t, wx, wy, wz, ax, ay, az`` (rad/s,
    m/s^2 specific force) in the IMU frame, on the gyro's clock, with the gyro's dropouts.
    The gyro columns are exactly :func:`simulate_gyro`'s for the same arguments."""
    R_cam_imu = np.eye(3) if R_cam_imu is None else R_cam_imu
    gyro = simulate_gyro(T_world_cam, duration, rate_hz, R_cam_imu=R_cam_imu, noise=noise, seed=seed)
    if len(gyro) == 0:
        return np.zeros((0, 7))
    rng = np.random.default_rng(seed + 1)
    offset = noise.clock_offset if noise else 0.0
    bias = np.array(accel_noise.bias) if accel_noise else np.zeros(3)
    accel = np.empty((len(gyro), 3))
    t_prev = 0.0
    for k, t_gyro in enumerate(gyro[:, 0]):
        t = t_gyro - offset
        T = T_world_cam(t)
        f = (T[:3, :3] @ R_cam_imu).T @ (linear_acceleration(T_world_cam, t, T_at_t=T) - GRAVITY_WORLD)
        if accel_noise:
            bias = bias + accel_noise.bias_walk * np.sqrt(max(t - t_prev, 0.0)) * rng.normal(size=3)
            f = f + bias + accel_noise.white * rng.normal(size=3)
        accel[k] = f
        t_prev = t
    return np.column_stack([gyro, accel])
