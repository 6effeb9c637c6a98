"""``--camera gyro``: the camera's rotation integrated from a gyroscope feed between frame times."""

from __future__ import annotations

import logging

import numpy as np

from livehmr.core.geometry import rotvec_between, rotvec_to_rotmat, special_procrustes
from livehmr.core.types import CameraState, Flag, Frame, PersonKeypoints
from livehmr.stream.camera.static import initial_orientation
from livehmr.stream.camera.stillness import AccelStillness
from livehmr.stream.sources.gyro_feeds import GyroFeed, centred_hold

log = logging.getLogger(__name__)


def integrate_gyro(samples: np.ndarray, t0: float, t1: float, R_cam_imu: np.ndarray,
                   max_gap: float, fallback_w: np.ndarray,
                   bias_cam: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, bool]:  # fmt: skip
    """Rotation of the camera from t0 to t1 (``R_cam0_cam1``) from gyro samples.

    Samples (N, 4) are ``t, w_imu`` on the frame clock, each holding over the interval
    centred on it (:func:`centred_hold`); the interval before the first sample and any gap longer than
    ``max_gap`` are integrated with ``fallback_w`` (rad/s, **cam**) and reported.

    Returns:
        R: (3, 3) rotation, w_mean: (3,) mean angular velocity in **cam**, gap: bool.
    """
    if t1 <= t0:
        return np.eye(3), fallback_w, False
    samples = centred_hold(samples)
    times = samples[:, 0] if len(samples) else np.zeros(0)
    w_cam = samples[:, 1:4] @ R_cam_imu.T if len(samples) else np.zeros((0, 3))
    if bias_cam is not None:
        w_cam = w_cam - bias_cam
    # Knots: t0, every sample inside (t0, t1), t1. Each piece uses the latest sample before it.
    inside = (times > t0) & (times < t1)
    knots = np.concatenate([[t0], times[inside], [t1]])
    rotvecs, gap = [], False
    for a, b in zip(knots[:-1], knots[1:]):
        i = np.searchsorted(times, a, side="right") - 1  # the sample holding over [a, b]
        if i < 0 or b - times[i] > max_gap:
            w, gap = fallback_w, True
        else:
            w = w_cam[i]
        rotvecs.append(w * (b - a))
    R = np.eye(3)
    for M in rotvec_to_rotmat(np.array(rotvecs)):
        R = R @ M
    w_mean = np.sum(rotvecs, axis=0) / (t1 - t0)
    return R, w_mean, gap


class GyroCamera:
    """Integrates a gyro feed between frame timestamps.

    Args:
        feed: the samples. R_cam_imu: (3, 3) IMU -> camera rotation.
        clock_offset: seconds to subtract from gyro timestamps to put them on the frame clock.
        max_gap: longest spacing of samples (s) not flagged as a ``gyro_gap``.
        wait_s: how long to wait for a live feed to cover a frame before extrapolating.
        repair_s: samples that arrive late (a burst after a Wi-Fi hiccup) still count: an
            interval that was extrapolated is redone once samples cover it, up to this many
            seconds later (the frames published meanwhile keep their ``gyro_gap`` flag).

    A live feed's clock may jump (a phone's clock reset, the sending app restarted): the
    feed's :class:`~livehmr.stream.sources.gyro_feeds.ClockJumpDetector` notices, the clock offset moves
    by the jump, the old clock's samples are dropped and the frame is flagged
    ``gyro_clock_jump``.

    The bias is re-estimated whenever the last second of gyro looks still (see
    ``still_std``, ``still_rate``): a slow steady pan under 1.7 deg/s would be mistaken for
    bias, which is why ``gyro+vo`` estimates it from vision instead. Gravity comes from
    the source (``Frame.gravity_cam``), else from the feed's accelerometer, else the first
    frame is assumed level. Where the feed has an accelerometer, every frame then turns
    the camera's tilt a fraction ``tilt_gain`` of the way toward the gravity it reads (a
    complementary filter, as in an AHRS): a gyro's drift in pitch and roll stays bounded;
    heading is the gyro's alone. The accelerometer also says when the camera stands still
    (:class:`~livehmr.stream.camera.stillness.AccelStillness`): such frames go out with
    ``translates`` False, so the estimator keeps the camera in one place.
    """

    def __init__(self, feed: GyroFeed, R_cam_imu: np.ndarray | None = None, clock_offset: float = 0.0,
                 max_gap: float = 0.03, wait_s: float = 0.02, repair_s: float = 2.0, tilt_gain: float = 0.02):  # fmt: skip
        self.feed = feed
        self.tilt_gain = tilt_gain  # per frame: 0.02 at 30 fps pulls a tilt error in with a ~1.7 s time constant
        self.repair_s = repair_s
        self._extrapolated: list = []  # (t0, t1, R_world_cam at t0, rotation applied) of gap intervals
        self._repair_seen: float | None = None  # the feed's latest arrival at the last repair attempt
        self.repaired = 0
        self.R_cam_imu = np.eye(3) if R_cam_imu is None else np.asarray(R_cam_imu, dtype=np.float64)
        self.clock_offset = clock_offset
        self.max_gap = max_gap
        self.wait_s = wait_s
        self.bias_cam = np.zeros(3)  # rad/s in cam, subtracted: from stillness here, from vision in FusedCamera
        self.estimate_bias_when_still = True
        self.still_std = 0.006  # rad/s: per-axis spread of a still phone-grade gyro over 1 s
        self.still_rate = 0.03  # rad/s: slower than this with that little spread counts as still
        self.stillness = AccelStillness(self.R_cam_imu)
        self.R_world_cam: np.ndarray | None = None
        self.t_prev = 0.0
        self.w_last = np.zeros(3)

    def _gravity_from_accel(self, t: float) -> np.ndarray | None:
        """Gravity direction (3,) in cam from the feed's accelerometer around ``t``, if it
        reads about 1 g (the phone not being swung); an accelerometer at rest reads +g up."""
        samples = self.feed.accel.window(t + self.clock_offset - 0.25, t + self.clock_offset + 0.25)
        if len(samples) < 3:
            return None
        a_cam = self.R_cam_imu @ samples[:, 1:4].mean(axis=0)
        if not 7.8 < np.linalg.norm(a_cam) < 11.8:
            return None
        return -a_cam / np.linalg.norm(a_cam)

    def _correct_tilt(self, t: float) -> None:
        """Turn the camera a ``tilt_gain`` fraction toward the accelerometer's gravity (about an
        axis at right angles to gravity: heading untouched). Nothing without an accelerometer
        or while it reads far from 1 g."""
        if self.tilt_gain <= 0 or self.R_world_cam is None:
            return
        g_measured = self._gravity_from_accel(t)
        if g_measured is None:
            return
        g_predicted = self.R_world_cam.T @ np.array([0.0, 0.0, -1.0])  # gravity in cam, as the gyro has it
        # R' such that R'^T g_world moves toward g_measured: R' = R exp(k * rotvec(g_pred -> g_meas))^T
        step = rotvec_to_rotmat(self.tilt_gain * rotvec_between(g_predicted, g_measured))
        self.R_world_cam = special_procrustes(self.R_world_cam @ step.T)

    def _bias_while_still(self, t_gyro: float) -> None:
        """Re-estimate the bias from the last second when the gyro says the camera is still."""
        recent = self.feed.buffer.window(t_gyro - 1.0, t_gyro)
        if len(recent) < 20 or recent[-1, 0] - recent[0, 0] < 0.8:
            return
        w_cam = recent[:, 1:4] @ self.R_cam_imu.T
        if w_cam.std(axis=0).max() < self.still_std and np.abs(w_cam.mean(axis=0)).max() < self.still_rate:
            self.bias_cam = w_cam.mean(axis=0)

    def update(self, frame: Frame, persons: list[PersonKeypoints]) -> CameraState:
        if self.R_world_cam is None:
            if frame.gravity_cam is None:
                frame.gravity_cam = self._gravity_from_accel(frame.t)
            self.R_world_cam = initial_orientation(frame)
            self.t_prev = frame.t
            return CameraState(self.R_world_cam.copy())
        jump = self.feed.buffer.take_clock_jump() if self.feed.live else 0.0
        if jump:
            log.warning("the gyro's clock jumped by %+.3f s before frame %d; offset moved with it", jump, frame.index)
            self.clock_offset += jump
            self._repair_seen = None  # samples already here may cover the gaps on the new clock
        t_gyro = frame.t + self.clock_offset
        if self.estimate_bias_when_still:
            self._bias_while_still(t_gyro)
        if self.feed.live:
            self.feed.buffer.wait_until(t_gyro, self.wait_s)
        R_delta, w, gap = self._integrate(self.t_prev, frame.t)
        if gap and self.repair_s > 0:
            self._extrapolated.append((self.t_prev, frame.t, self.R_world_cam.copy(), R_delta))
        self.R_world_cam = self.R_world_cam @ R_delta
        t_prev_gyro = self.t_prev + self.clock_offset
        self.t_prev = frame.t
        self._repair(frame.t)
        self._correct_tilt(frame.t)
        translates = self._still(frame.t, t_prev_gyro, t_gyro)
        flags: set[str] = {Flag.GYRO_GAP} if gap else set()
        if jump:
            flags.add(Flag.GYRO_CLOCK_JUMP)
        if gap:
            log.debug("gyro gap before frame %d: rotation extrapolated at constant rate", frame.index)
        else:
            self.w_last = w
        return CameraState(self.R_world_cam.copy(), angular_velocity=w, flags=flags, translates=translates)

    def _still(self, t: float, t0_gyro: float, t1_gyro: float) -> bool | None:
        """False when the accelerometer says the camera stands still, else None (no
        accelerometer, or it cannot tell); takes this frame's samples (gyro clock)."""
        samples = self.feed.accel.window(t0_gyro, t1_gyro)
        if not len(samples) and not self.stillness.seen_any:
            return None  # a feed without an accelerometer
        assert self.R_world_cam is not None  # the first frame set it
        return self.stillness.update(t, self.R_world_cam, samples[samples[:, 0] > t0_gyro])

    def _integrate(self, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray, bool]:
        """``integrate_gyro`` over frame times [t0, t1] with the buffered samples."""
        samples = self.feed.buffer.window(t0 + self.clock_offset - self.max_gap, t1 + self.clock_offset)
        if len(samples):
            samples = samples.copy()
            samples[:, 0] -= self.clock_offset
        return integrate_gyro(samples, t0, t1, self.R_cam_imu, self.max_gap, self.w_last, self.bias_cam)

    def _repair(self, t_now: float) -> None:
        """Redo extrapolated intervals that late samples now cover. With R_before the
        orientation at an interval's start, D_used what was applied over it and D_true
        what the samples say, the orientation now becomes
        ``R_before D_true D_used^T R_before^T R_now``; later intervals' R_before move alike."""
        arrived = self.feed.buffer.last_arrival_t
        if not self._extrapolated or arrived == self._repair_seen:
            return  # nothing new could cover them
        self._repair_seen = arrived
        pending = []
        for t0, t1, R_before, D_used in self._extrapolated:
            if t_now - t1 > self.repair_s:
                continue  # too old: leave it
            D_true, _, gap = self._integrate(t0, t1)
            if gap:
                pending.append((t0, t1, R_before, D_used))
                continue
            correction = R_before @ D_true @ D_used.T @ R_before.T
            self.R_world_cam = correction @ self.R_world_cam
            pending = [(a, b, correction @ R, D) for a, b, R, D in pending]
            self.repaired += 1
        self._extrapolated = [(a, b, R, D) for a, b, R, D in pending]

    def reset(self, R_world_cam: np.ndarray | None = None) -> None:
        """Go on from ``R_world_cam`` (the last good orientation; None: start over from gravity)
        with no remembered rate; the bias and clock offset are kept."""
        self.R_world_cam = None if R_world_cam is None else R_world_cam.copy()
        self.w_last = np.zeros(3)
        self._extrapolated = []
        self.stillness.reset()

    def close(self) -> None:
        self.feed.close()
