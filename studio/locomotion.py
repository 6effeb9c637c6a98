"""Long locomotion from short captures: one gait cycle of a clip, looped.

A motion-capture volume is a few metres across, so its runs and jogs last 1-3 s and its
walks turn back at the walls; a tracking shot follows a person covering ground for
many seconds. :func:`find_gait_cycle` picks, inside a clip's fastest stretch, the pair
of frames ``(i, j)`` 0.5-1.6 s apart whose poses and velocities match best (one or two
strides), and :func:`loop_gait` repeats frames ``[i, j)`` end to end: every repetition is
placed where the last one ended, heading the same way (the cycle's own net turn taken
out, an optional steady ``turn_deg`` per cycle put in, so paths can curve), and the small mismatch
between frames ``i`` and ``j`` is spread over the cycle so no seam pops. This is the
classic motion-graph loop; it is hand-written because it is thirty lines over the
corpus' own clip type.

Heading: the yaw of the horizontal line from the right to the left hip (``rButtock`` ->
``lButtock``) turned a quarter turn, i.e. the direction the pelvis faces. World: Z up.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation

from livehmr.studio.corpus import MotionClip

MIN_CYCLE_S, MAX_CYCLE_S = 0.5, 1.6


@dataclass(frozen=True)
class GaitCycle:
    """Frames ``[start, stop)`` of a clip that loop; ``speed``: mean ground speed over them (m/s);
    ``cost``: how badly frame ``stop`` continues frame ``stop - 1`` as frame ``start`` would."""

    start: int
    stop: int
    speed: float
    cost: float


def _heading(clip: MotionClip) -> np.ndarray:
    """(T,) unwrapped yaw (rad) the pelvis faces."""
    P = clip.joint_positions()
    names = list(clip.names)
    left, right = P[:, names.index("lButtock")], P[:, names.index("rButtock")]
    lateral = left - right
    # facing = up x (right -> left) rotated: forward is lateral turned -90 degrees about +Z
    return np.unwrap(np.arctan2(lateral[:, 1], lateral[:, 0]) - np.pi / 2)


def ground_speed(xy: np.ndarray, fps: float, sigma_s: float = 0.15) -> np.ndarray:
    """(T-1,) ground speed (m/s) of a horizontal path (T, 2), smoothed over ``sigma_s``."""
    smooth = gaussian_filter1d(np.asarray(xy, dtype=np.float64), sigma_s * fps, axis=0, mode="nearest")
    return np.linalg.norm(np.diff(smooth, axis=0), axis=1) * fps


def find_gait_cycle(clip: MotionClip, min_speed: float = 1.0, max_cost: float = 0.03,
                    max_joint_step_m: float = 0.5) -> GaitCycle | None:  # fmt: skip
    """The best-matching loop of a clip whose mean ground speed is at least ``min_speed``
    (m/s), or None when the clip never moves that fast for a whole cycle, its best loop
    costs more than ``max_cost`` or the capture jumps (a joint moving over
    ``max_joint_step_m`` in one frame: a marker glitch)."""
    if np.linalg.norm(np.diff(clip.joint_positions(), axis=0), axis=-1).max(initial=0.0) > max_joint_step_m:
        return None
    return find_cycle(clip.quats_xyzw, clip.root, _heading(clip), clip.fps, min_speed, max_cost)


def loop_gait(clip: MotionClip, cycle: GaitCycle, frames: int, turn_deg: float = 0.0) -> MotionClip:
    """``clip``'s frames ``[cycle.start, cycle.stop)`` repeated to ``frames`` frames (see
    :func:`loop_cycle`), as a clip of the same skeleton."""
    quats, root, _ = loop_cycle(clip.quats_xyzw, clip.root, _heading(clip), cycle, frames, turn_deg)
    return replace(clip, quats_xyzw=quats.astype(np.float32), root=root.astype(np.float32),
                   id=f"{clip.id}@loop{cycle.start}-{cycle.stop}")  # fmt: skip


def _yaw(angles: np.ndarray) -> Rotation:
    """Turns about world +Z by ``angles`` (rad)."""
    return Rotation.from_rotvec(np.outer(angles, [0.0, 0.0, 1.0]))


def _without_heading(root_quats: np.ndarray, heading: np.ndarray) -> Rotation:
    """The root's rotation with its heading (a turn about world +Z) taken off: tilt and twist."""
    return _yaw(-heading) * Rotation.from_quat(root_quats)


def find_cycle(quats_xyzw: np.ndarray, root: np.ndarray, heading: np.ndarray, fps: float, min_speed: float = 1.0,
               max_cost: float = 0.03) -> GaitCycle | None:  # fmt: skip
    """:func:`find_gait_cycle` on arrays: local rotations ``quats_xyzw`` (T, J, 4), joint 0 the
    root's world rotation; root positions (T, 3) m; the heading (T,) rad, unwrapped."""
    lo, hi = int(MIN_CYCLE_S * fps), int(MAX_CYCLE_S * fps)
    T = len(root)
    if T < lo + 2:
        return None
    speed = ground_speed(root[:, :2], fps)
    cum = np.concatenate([[0.0], np.cumsum(speed)])
    quats = quats_xyzw[:, 1:].astype(np.float64)
    quats /= np.linalg.norm(quats, axis=-1, keepdims=True)
    tilt_q = _without_heading(quats_xyzw[:, 0].astype(np.float64), heading).as_quat()
    best: GaitCycle | None = None
    for i in range(T - lo - 1):
        js = np.arange(i + lo, min(i + hi, T - 1) + 1)
        mean_speed = (cum[js] - cum[i]) / (js - i)
        ok = mean_speed >= min_speed
        if not ok.any():
            continue
        js, mean_speed = js[ok], mean_speed[ok]
        pose = (1.0 - np.abs(np.einsum("jk,njk->nj", quats[i], quats[js]))).mean(axis=1)
        pose += 1.0 - np.abs(tilt_q[js] @ tilt_q[i])
        height = np.abs(root[js, 2] - root[i, 2])
        v_i = speed[min(i, len(speed) - 1)]
        v_j = speed[np.minimum(js, len(speed) - 1)]
        cost = pose + 0.5 * height + 0.02 * np.abs(v_j - v_i)
        k = int(np.argmin(cost))
        if best is None or cost[k] < best.cost:
            best = GaitCycle(i, int(js[k]), float(mean_speed[k]), float(cost[k]))
    return best if best is not None and best.cost <= max_cost else None


def loop_cycle(quats_xyzw: np.ndarray, root: np.ndarray, heading: np.ndarray, cycle: GaitCycle, frames: int,
               turn_deg: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Frames ``[cycle.start, cycle.stop)`` repeated to ``frames`` frames, each repetition
    continuing where the last ended (turned by ``turn_deg``: the cycle's own net turn is
    taken out), local rotations and height corrected to loop seamlessly; starts at the
    cycle's first frame, at its own position and heading there. Arrays as in
    :func:`find_cycle`; returns quaternions (frames, J, 4), root positions (frames, 3) and
    the source frame of each output frame (frames,), to loop other per-frame data alike."""
    i, j = cycle.start, cycle.stop
    n = j - i
    s = np.arange(n) / n  # fraction of the cycle done at each of its frames
    turn = np.deg2rad(turn_deg)
    J = quats_xyzw.shape[1]
    local = Rotation.from_quat(quats_xyzw.reshape(-1, 4).astype(np.float64)).as_quat().reshape(-1, J, 4)
    # the root without its heading (its tilt and twist) loops like the other joints
    yaw_i = heading[i]
    local[:, 0] = _without_heading(local[:, 0], heading).as_quat()
    # spread the mismatch between frames j and i over the cycle: q'(t) = slerp(1, q_i q_j^-1, s) q(t)
    cycle_quats = np.empty((n, J, 4))
    for k in range(J):
        delta = (Rotation.from_quat(local[i, k]) * Rotation.from_quat(local[j, k]).inv()).as_rotvec()
        fix = Rotation.from_rotvec(s[:, None] * delta[None])
        cycle_quats[:, k] = (fix * Rotation.from_quat(local[i:j, k])).as_quat()
    height = root[i:j, 2] + s * (root[i, 2] - root[j, 2])
    # heading within the cycle relative to its start; the cycle's own net turn is taken out
    # (a captured stride that curves would loop into a circle) and ``turn`` put in instead
    yaw_rel = heading[i:j] - yaw_i + s * (turn - (heading[j] - yaw_i))
    c, sn = np.cos(-yaw_i), np.sin(-yaw_i)
    to_start = np.array([[c, -sn], [sn, c]])
    xy_rel = (root[i : j + 1, :2] - root[i, :2]) @ to_start.T  # in the start's heading frame
    step_xy, step_yaw = xy_rel[-1], turn

    out_q = np.empty((frames, J, 4))
    out_root = np.empty((frames, 3))
    origin, yaw0 = root[i, :2].astype(np.float64), float(yaw_i)
    for f0 in range(0, frames, n):
        m = min(n, frames - f0)
        R_rep = np.array([[np.cos(yaw0), -np.sin(yaw0)], [np.sin(yaw0), np.cos(yaw0)]])
        out_root[f0 : f0 + m, :2] = origin + xy_rel[:m] @ R_rep.T
        out_root[f0 : f0 + m, 2] = height[:m]
        q = cycle_quats[:m].copy()
        yaw = yaw0 + yaw_rel[:m]
        q[:, 0] = (_yaw(yaw) * Rotation.from_quat(q[:, 0])).as_quat()
        out_q[f0 : f0 + m] = q
        origin = origin + R_rep @ step_xy
        yaw0 += step_yaw
    return out_q, out_root, i + np.arange(frames) % n
