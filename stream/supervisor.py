"""The stage supervisor: a stage that raises or returns non-finite values is restarted.

Every stage call of the pipeline goes through :meth:`Supervisor.call`. A call that
raises, or whose output fails its check (:func:`keypoints_ok`, :func:`camera_ok`,
:func:`states_ok`), is a *fault*: the supervisor logs it, restarts the stage (its
``reset``, which clears the stage's state), counts the restart under the stage's name
and hands the pipeline a safe stand-in for the output (no keypoints, the last good
camera pose, no body), so the frame goes out as a heartbeat flagged ``stage_error``.
Restart counts travel in the 1 Hz status (``restarts``).

Why check outputs and not only exceptions: a NaN inside a recurrent network or an
integrated gyro does not raise, and it would poison every later frame of that stage.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Callable, TypeVar

import numpy as np

from livehmr.core.types import CameraState, PersonKeypoints, PersonState

log = logging.getLogger(__name__)
T = TypeVar("T")


def keypoints_ok(persons: list[PersonKeypoints]) -> bool:
    """Every person's keypoints (23, 3), box and 3D landmarks are finite."""
    for p in persons:
        if np.shape(p.keypoints) != (23, 3) or not np.isfinite(p.keypoints).all() or not np.isfinite(p.box).all():
            return False
        if p.landmarks_3d is not None and not np.isfinite(p.landmarks_3d).all():
            return False
    return True


def camera_ok(camera: CameraState) -> bool:
    """A finite rotation matrix (orthonormal, det +1), finite translation and rate."""
    R = np.asarray(camera.R_world_cam)
    if R.shape != (3, 3) or not np.isfinite(R).all():
        return False
    if np.abs(R @ R.T - np.eye(3)).max() > 1e-3 or abs(np.linalg.det(R) - 1.0) > 1e-3:
        return False
    return bool(np.isfinite(camera.t_world_cam).all() and np.isfinite(camera.angular_velocity).all())


def states_ok(states: list[PersonState]) -> bool:
    """Every array of every person's state is finite."""
    for s in states:
        p = s.params
        arrays = (p.global_orient, p.body_pose, p.betas, p.transl, s.joints_world, s.contacts, s.joint_confidence)
        if not all(np.isfinite(a).all() for a in arrays):
            return False
    return True


class Supervisor:
    """Runs stage calls; restarts a stage on a fault and stands in for its output."""

    def __init__(self):
        self._restarts: Counter[str] = Counter()
        self._lock = threading.Lock()  # the keypoint stage restarts on its own thread

    @property
    def restarts(self) -> dict[str, int]:
        """Restarts so far by stage name ("keypoints", "camera", "estimator")."""
        with self._lock:
            return dict(self._restarts)

    def call(self, stage: str, frame_index: int, run: Callable[[], T], ok: Callable[[T], bool],
             restart: Callable[[], None], stand_in: Callable[[], T]) -> tuple[T, bool]:  # fmt: skip
        """``run()``; on an exception or an output ``ok`` refuses, ``restart()`` the stage and
        return ``(stand_in(), False)``; else ``(output, True)``."""
        try:
            output = run()
            if ok(output):
                return output, True
            problem = "returned non-finite or malformed values"
        except Exception as exc:  # a stage failing on one frame must not end the stream
            problem = f"raised {type(exc).__name__}: {exc}"
        log.warning("%s stage %s on frame %d; restarting it", stage, problem, frame_index)
        with self._lock:
            self._restarts[stage] += 1
        try:
            restart()
        except Exception as exc:  # keep streaming heartbeats; the next frame tries again
            log.error("%s stage could not be restarted: %s", stage, exc)
        return stand_in(), False


def restart_stage(stage, **kwargs) -> None:
    """Call ``stage.reset(**kwargs)`` if the stage has a reset (the keyword arguments it
    does not take are left out)."""
    reset = getattr(stage, "reset", None)
    if reset is None:
        return
    import inspect

    accepted = inspect.signature(reset).parameters
    reset(**{k: v for k, v in kwargs.items() if k in accepted})
