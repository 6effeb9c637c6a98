"""``--camera gyro+vo``: gyro and visual odometry fused, with the clock offset and bias estimated online."""

from __future__ import annotations

import logging

import numpy as np

from livehmr.core.geometry import rotvec_to_rotmat
from livehmr.core.types import CameraState, Flag, Frame, PersonKeypoints
from livehmr.stream.camera.gyro import GyroCamera
from livehmr.stream.camera.visual import VoCamera
from livehmr.stream.sources.gyro_feeds import GyroFeed

log = logging.getLogger(__name__)


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
      (:mod:`livehmr.stream.camera.gyro_align`), when the camera turned enough to observe them;
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
        return CameraState(R.copy(), angular_velocity=w, flags=flags, translates=gyro_state.translates)

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
        from livehmr.stream.camera.gyro_align import estimate_offset

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
