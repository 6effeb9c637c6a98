"""Camera-motion backends: ``static`` and ``gyro``.

Both start from the same world: gravity from the first frame's accelerometer
reading when the source gives one (``Frame.gravity_cam``), otherwise the camera is
*assumed level* at the first frame (image rows horizontal, optical axis horizontal);
the world's heading (+X) is the first frame's viewing direction.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from livehmr.core.geometry import R_WORLD_CAM_LEVEL, gravity_aligned_from_cam, rotation_between, rotvec_to_rotmat
from livehmr.core.stages import CameraMotion
from livehmr.core.types import CameraState, Flag, Frame, PersonKeypoints
from livehmr.stream.gyro import GyroFeed, centred_hold

if TYPE_CHECKING:
    from livehmr.stream.vo import VoEstimate

log = logging.getLogger(__name__)


def initial_orientation(frame: Frame) -> np.ndarray:
    """R_world_cam at the first frame: tilt/roll from gravity if known, heading +X."""
    if frame.gravity_cam is None:
        return R_WORLD_CAM_LEVEL.copy()
    g = np.asarray(frame.gravity_cam, dtype=np.float64)
    # Find a level camera's rotation by the tilt that maps its gravity onto the measured one.
    g_level = R_WORLD_CAM_LEVEL.T @ np.array([0.0, 0.0, -1.0])
    R_level_cam = rotation_between(g, g_level)  # cam -> a level camera frame
    return gravity_aligned_from_cam(R_WORLD_CAM_LEVEL @ R_level_cam)


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


class StaticCamera(CameraMotion):
    """No camera-motion input: the camera keeps its first orientation (flag ``camera_static``)."""

    def __init__(self):
        self.R_world_cam: np.ndarray | None = None

    def update(self, frame: Frame, persons: list[PersonKeypoints]) -> CameraState:
        if self.R_world_cam is None:
            self.R_world_cam = initial_orientation(frame)
        return CameraState(self.R_world_cam.copy(), flags={Flag.CAMERA_STATIC}, translates=False)

    def reset(self, R_world_cam: np.ndarray | None = None) -> None:
        self.R_world_cam = None if R_world_cam is None else R_world_cam.copy()


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
    feed's :class:`~livehmr.stream.gyro.ClockJumpDetector` notices, the clock offset moves
    by the jump, the old clock's samples are dropped and the frame is flagged
    ``gyro_clock_jump``.

    The bias is re-estimated whenever the last second of gyro looks still (see
    ``still_std``, ``still_rate``): a slow steady pan under 1.7 deg/s would be mistaken for
    bias, which is why ``gyro+vo`` estimates it from vision instead. Gravity comes from
    the source (``Frame.gravity_cam``), else from the feed's accelerometer, else the first
    frame is assumed level.
    """

    def __init__(self, feed: GyroFeed, R_cam_imu: np.ndarray | None = None, clock_offset: float = 0.0,
                 max_gap: float = 0.03, wait_s: float = 0.02, repair_s: float = 2.0):  # fmt: skip
        self.feed = feed
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
        self.t_prev = frame.t
        self._repair(frame.t)
        flags: set[str] = {Flag.GYRO_GAP} if gap else set()
        if jump:
            flags.add(Flag.GYRO_CLOCK_JUMP)
        if gap:
            log.debug("gyro gap before frame %d: rotation extrapolated at constant rate", frame.index)
        else:
            self.w_last = w
        return CameraState(self.R_world_cam.copy(), angular_velocity=w, flags=flags)

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

    def close(self) -> None:
        self.feed.close()


class VoCamera(CameraMotion):
    """``--camera vo``: rotation from the CPU visual odometry (:mod:`livehmr.stream.vo`).

    The keyframe's world orientation times the tracked keyframe -> now rotation. While
    lost (``vo_lost``) the camera keeps turning at its last measured rate for up to
    ``hold_s`` seconds, then holds still, until tracking recovers.
    """

    def __init__(self, hfov_deg: float = 60.0, hold_s: float = 0.5):
        from livehmr.stream.vo import VisualOdometry

        self.vo = VisualOdometry()
        self.hfov_deg = hfov_deg
        self.hold_s = hold_s
        self.R_world_cam: np.ndarray | None = None
        self.R_world_kf = np.eye(3)
        self.t_prev = 0.0
        self.w_last = np.zeros(3)
        self.lost_since: float | None = None
        self.last: VoEstimate | None = None  # the latest estimate

    def update(self, frame: Frame, persons: list[PersonKeypoints]) -> CameraState:
        est = self.last = self.vo.track(frame.image, frame.intrinsics(self.hfov_deg), [p.box for p in persons])
        if self.R_world_cam is None:
            self.R_world_cam = initial_orientation(frame)
            self.R_world_kf = self.R_world_cam.copy()
            self.t_prev = frame.t
            return CameraState(self.R_world_cam.copy())
        dt = max(frame.t - self.t_prev, 1e-6)
        self.t_prev = frame.t
        flags: set[str] = set()
        if est.lost:
            flags.add(Flag.VO_LOST)
            self.lost_since = frame.t if self.lost_since is None else self.lost_since
            w = self.w_last if frame.t - self.lost_since < self.hold_s else np.zeros(3)
            R_new = self.R_world_cam @ rotvec_to_rotmat(w * dt)
        else:
            self.lost_since = None
            R_new = self.R_world_kf @ est.R_kf_cam
            from livehmr.core.geometry import rotmat_to_rotvec

            w = rotmat_to_rotvec(self.R_world_cam.T @ R_new) / dt
            self.w_last = w
        self.R_world_cam = R_new
        if est.new_keyframe:
            self.R_world_kf = self.R_world_cam.copy()
        return CameraState(self.R_world_cam.copy(), angular_velocity=w, flags=flags)

    def reset(self, R_world_cam: np.ndarray | None = None) -> None:
        """Track afresh from ``R_world_cam`` (the last good orientation; None: from gravity)."""
        self.vo.reset()
        self.R_world_cam = None if R_world_cam is None else R_world_cam.copy()
        self.R_world_kf = np.eye(3) if R_world_cam is None else R_world_cam.copy()
        self.w_last = np.zeros(3)
        self.lost_since = None


class FusedCamera:
    """``--camera gyro+vo``: the gyro turns the camera every frame; vision keeps it honest.

    - the orientation is the gyro's prediction pulled a fraction ``gain`` of the way
      towards vision's estimate each frame (a complementary filter: gyro for fast motion,
      vision against drift); vision's estimate is its rotation since its keyframe applied
      to the fused orientation at that keyframe;
    - vision is believed only within what the gyro itself could have got wrong since that
      keyframe: ``bias_bound`` x time + ``offset_bound`` x the change of rate + a noise
      floor. A larger disagreement means vision was fooled (parallax from translation,
      which a rotation fit absorbs: orbits, drones), and that keyframe is ignored;
    - every ``refit_s`` seconds the **clock offset** and **gyro bias** are re-estimated
      from the last ``window_s`` seconds of gyro and vision rates
      (:mod:`livehmr.stream.gyro_align`), when the camera turned enough to observe them;
    - when vision's rates imply a gyro bias over ``fooled_bias``, vision is being fooled and
      is ignored for the next ``window_s`` seconds;
    - a gyro gap falls back to vision for those frames (flag ``gyro_gap``); lost vision
      (``vo_lost``) leaves the gyro alone.
    """

    def __init__(self, feed: GyroFeed, R_cam_imu: np.ndarray | None = None, clock_offset: float | None = None,
                 hfov_deg: float = 60.0, gain: float = 0.05, window_s: float = 8.0, refit_s: float = 2.0):  # fmt: skip
        from collections import deque

        # vision carries gyro gaps here: repairing them from late samples would count a turn twice
        self.gyro = GyroCamera(feed, R_cam_imu, clock_offset or 0.0, repair_s=0.0)
        self.vo = VoCamera(hfov_deg)
        self.estimate_offset = clock_offset is None
        self.gain = gain
        self.window_s = window_s
        self.refit_s = refit_s
        self.max_bias = 0.02  # rad/s (1.1 deg/s): a larger "bias" is not believed
        self.fooled_bias = 0.04  # rad/s: vision implying a larger one is being fooled
        # What the gyro can get wrong since a keyframe: an unknown bias up to bias_bound
        # (smaller once estimated), a clock offset error up to offset_bound (smaller once
        # estimated or given) times the change of rate, and a floor for noise.
        self.bias_bound = 0.015  # rad/s before any estimate
        self.offset_bound = 0.01 if clock_offset is not None else 0.05  # s
        self.floor_rad = np.radians(0.3)
        self.R_world_cam: np.ndarray | None = None
        self.R_world_kf = np.eye(3)  # fused orientation at vision's current keyframe
        self.R_gyro_kf = np.eye(3)  # the gyro's own orientation there
        self.t_kf = 0.0
        self.w_kf = np.zeros(3)  # rad/s in cam, the gyro's rate there
        self.kf_trusted = True
        self.distrust_until = -np.inf  # vision's rates implied an impossible gyro bias lately
        self.history: deque = deque()  # (t0, t1, vision rate (3,))
        self.last_fit = 0.0
        self.offset_estimate = None

    def update(self, frame: Frame, persons: list[PersonKeypoints]) -> CameraState:
        from livehmr.core.geometry import rotmat_to_rotvec

        t_prev = self.gyro.t_prev
        R_gyro_before = self.gyro.R_world_cam
        gyro_state = self.gyro.update(frame, persons)
        vo_state = self.vo.update(frame, persons)
        vo = self.vo.last
        assert vo is not None  # the update above made it
        if self.R_world_cam is None or R_gyro_before is None:
            self.R_world_cam = gyro_state.R_world_cam
            self._new_keyframe(frame.t, np.zeros(3))
            return CameraState(self.R_world_cam.copy())
        R_delta = R_gyro_before.T @ gyro_state.R_world_cam
        flags = gyro_state.flags | vo_state.flags
        R = self.R_world_cam @ R_delta
        w = rotmat_to_rotvec(R_delta) / max(frame.t - t_prev, 1e-6)
        if not vo.lost:
            self.history.append((t_prev, frame.t, vo_state.angular_velocity))
            # during a gyro gap vision is all there is, unless it has been caught out lately
            gap = Flag.GYRO_GAP in flags and frame.t >= self.distrust_until
            R_gyro_kf_cam = self.R_gyro_kf.T @ gyro_state.R_world_cam
            if frame.t < self.distrust_until:
                self.kf_trusted = False
            elif self.kf_trusted and not gap:
                self.kf_trusted = self._plausible(R_gyro_kf_cam, vo.R_kf_cam, frame.t - self.t_kf, w)
            # Vision corrects only what it measured since its keyframe, anchored on the
            # fused orientation there; during a gyro gap it is all there is.
            if gap or self.kf_trusted:
                R_vo = self.R_world_kf @ vo.R_kf_cam
                R = R @ rotvec_to_rotmat((1.0 if gap else self.gain) * rotmat_to_rotvec(R.T @ R_vo))
            if gap:  # the gyro missed this turn: compare it with vision only from here on
                self.R_gyro_kf = gyro_state.R_world_cam @ vo.R_kf_cam.T
        self.R_world_cam = R
        if vo.new_keyframe or vo.lost:
            self._new_keyframe(frame.t, w)
        self._maybe_refit(frame.t)
        return CameraState(R.copy(), angular_velocity=w, flags=flags)

    def _new_keyframe(self, t: float, w: np.ndarray) -> None:
        assert self.R_world_cam is not None and self.gyro.R_world_cam is not None  # both updated first
        self.R_world_kf = self.R_world_cam.copy()
        self.w_kf = w.copy()
        self.R_gyro_kf = self.gyro.R_world_cam.copy()
        self.t_kf = t
        self.kf_trusted = True

    def _plausible(self, R_gyro_kf_cam: np.ndarray, R_vo_kf_cam: np.ndarray, dt: float, w: np.ndarray) -> bool:
        """Whether vision's rotation since the keyframe is within the gyro's error bound."""
        from livehmr.core.geometry import rotation_angle

        # a clock offset error e shifts the interval: rotation error ~ e x the change of rate
        bound = self.bias_bound * dt + self.offset_bound * float(np.linalg.norm(w - self.w_kf)) + self.floor_rad
        return rotation_angle(R_gyro_kf_cam.T @ R_vo_kf_cam) < bound

    def _maybe_refit(self, t: float) -> None:
        from livehmr.stream.gyro_align import estimate_offset

        while self.history and self.history[0][0] < t - self.window_s:
            self.history.popleft()
        if t - self.last_fit < self.refit_s or len(self.history) < 30:
            return
        self.last_fit = t
        h = np.array([(a, b, *w) for a, b, w in self.history])
        g = self.gyro
        samples = g.feed.buffer.window(h[0, 0] + g.clock_offset - 0.2, h[-1, 1] + g.clock_offset + 0.2).copy()
        samples[:, 0] -= g.clock_offset  # search around the current estimate (or not at all when given)
        search_s = 0.1 if self.estimate_offset else 0.0
        est = estimate_offset(samples, g.R_cam_imu, h[:, 0], h[:, 1], h[:, 2:5], search_s=search_s, step_s=0.002)
        if est is None or est.residual > 0.1:
            return  # vision disagrees with the gyro at any offset: unreliable
        self.offset_estimate = est
        if self.estimate_offset and est.excitation >= 0.05:  # the offset is observable only when turning
            g.clock_offset += est.offset_s
            self.offset_bound = 0.01
        if np.linalg.norm(est.bias_cam) < self.max_bias:
            g.bias_cam = est.bias_cam
            self.bias_bound = 0.004
        elif np.linalg.norm(est.bias_cam) > self.fooled_bias:  # off by more than any gyro bias
            self.distrust_until = t + self.window_s

    def reset(self, R_world_cam: np.ndarray | None = None) -> None:
        """Go on from ``R_world_cam`` (None: from gravity), both halves afresh; the bias and
        clock offset estimates are kept."""
        self.gyro.reset(R_world_cam)
        self.vo.reset(R_world_cam)
        self.R_world_cam = None if R_world_cam is None else R_world_cam.copy()
        self.history.clear()
        if R_world_cam is not None:
            self._new_keyframe(self.gyro.t_prev, np.zeros(3))

    def close(self) -> None:
        self.gyro.close()
