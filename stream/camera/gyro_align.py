"""Gyro-to-camera clock offset and gyro bias, from the gyro and the vision's rotation rates.

The gyro and the frames run on different clocks. Over a window of frames, the camera's
angular velocity seen by visual odometry (one mean rate per frame interval) must equal
the gyro's mean rate over the same interval *on the gyro's clock*, i.e. shifted by the
offset, minus the gyro's bias. We search the offset that best aligns the two (least
squares after removing each axis' mean, so a bias does not pull it), refine it to a
fraction of a millisecond by a parabola through the best three, and read the bias off
as the median residual at that offset.

Gyro samples hold over the interval centred on them (as
:func:`livehmr.stream.camera.gyro.integrate_gyro` integrates them), so the integral of the rate is piecewise linear and a mean rate over
any interval is exact by interpolating its cumulative sum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class OffsetEstimate:
    """``offset_s``: add to frame times to reach the gyro clock. ``bias_cam`` (3,) rad/s,
    in **cam**. ``residual``: rms rate mismatch at the optimum (rad/s). ``excitation``:
    rms of the vision's rates (rad/s); below ~0.05 the offset is not observable."""

    offset_s: float
    bias_cam: np.ndarray
    residual: float
    excitation: float


def mean_rates(samples: np.ndarray, R_cam_imu: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Mean gyro rate (M, 3) rad/s in **cam** over intervals [starts, ends] on the gyro clock."""
    from livehmr.stream.sources.gyro_feeds import centred_hold

    samples = centred_hold(samples)
    t = samples[:, 0]
    w = samples[:, 1:4] @ R_cam_imu.T
    cum = np.concatenate([np.zeros((1, 3)), np.cumsum(w[:-1] * np.diff(t)[:, None], axis=0)])

    def integral(x: np.ndarray) -> np.ndarray:
        return np.stack([np.interp(x, t, cum[:, k]) for k in range(3)], axis=-1)

    return (integral(ends) - integral(starts)) / np.maximum(ends - starts, 1e-9)[:, None]


def estimate_offset(samples: np.ndarray, R_cam_imu: np.ndarray, t_start: np.ndarray, t_end: np.ndarray,
                    vision_rates: np.ndarray, search_s: float = 0.1, step_s: float = 0.002) -> OffsetEstimate | None:  # fmt: skip
    """Offset and bias from frame intervals [t_start, t_end] (frame clock, s) whose vision
    rates (M, 3) rad/s in cam are known. None if the gyro does not cover the window."""
    if len(samples) < 10 or len(t_start) < 10:
        return None
    lo, hi = samples[0, 0], samples[-1, 0]
    offsets = np.arange(-search_s, search_s + step_s / 2, step_s)
    keep = (t_start + offsets[0] >= lo) & (t_end + offsets[-1] <= hi)
    if keep.sum() < 10:
        return None
    ts, te, v = t_start[keep], t_end[keep], vision_rates[keep]
    v0 = v - v.mean(0)

    def cost(offset: float) -> float:
        g = mean_rates(samples, R_cam_imu, ts + offset, te + offset)
        return float(np.mean(((g - g.mean(0)) - v0) ** 2))

    best = 0.0
    if len(offsets) >= 3:  # search_s = 0: the offset is known, only the bias is wanted
        costs = np.array([cost(o) for o in offsets])
        i = int(np.clip(np.argmin(costs), 1, len(offsets) - 2))
        c0, c1, c2 = costs[i - 1 : i + 2]
        denom = c0 - 2 * c1 + c2
        shift = 0.5 * (c0 - c2) / denom if denom > 1e-18 else 0.0
        best = float(offsets[i] + np.clip(shift, -1.0, 1.0) * step_s)
    g = mean_rates(samples, R_cam_imu, ts + best, te + best)
    bias = np.median(g - v, axis=0)  # median: frames where vision slipped do not drag it
    return OffsetEstimate(best, bias, float(np.sqrt(cost(best))), float(np.sqrt(np.mean(v0**2))))
