"""Causal smoothing of a published body: a One Euro filter (Casiez et al., CHI 2012) on rotations.

A detector's frame-to-frame noise reaches the published pose through the network and the
limb fit; a plain low-pass filter would remove it but make fast limbs lag. The One Euro
filter adapts its cut-off to the speed: ``cutoff = min_cutoff + beta * speed``, so a still
or slow joint is smoothed hard and a swinging one passes almost unfiltered. Here each
joint's rotation moves from its last filtered value towards the new one along the
geodesic, by the filter's weight ``alpha = 1 / (1 + tau / dt)``, ``tau = 1 / (2 pi cutoff)``;
the speed is the joint's own angular speed (rad/s), itself low-passed at ``speed_cutoff``.
Written here because the packaged One Euro filters work on scalars, not on rotations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livehmr.core.geometry import rotmat_to_rotvec, rotvec_to_rotmat


@dataclass
class OneEuroConfig:
    """``min_cutoff`` Hz at rest; ``beta`` Hz per rad/s of angular speed; ``speed_cutoff``
    Hz of the speed's own low-pass."""

    min_cutoff: float = 3.0
    beta: float = 0.3
    speed_cutoff: float = 1.0


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    tau = 1.0 / (2 * np.pi * np.asarray(cutoff, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt)


class OneEuroRotations:
    """Filters a stream of rotation stacks (N, 3, 3), one per frame; the first is passed through."""

    def __init__(self, config: OneEuroConfig | None = None):
        self.cfg = config or OneEuroConfig()
        self.R: np.ndarray | None = None  # the last filtered rotations
        self.speed = np.zeros(0)  # each joint's low-passed angular speed, rad/s

    def __call__(self, R: np.ndarray, dt: float) -> np.ndarray:
        """R (N, 3, 3) this frame's rotations, dt seconds since the last -> filtered (N, 3, 3)."""
        if self.R is None or self.R.shape != R.shape:
            self.R, self.speed = R.copy(), np.zeros(len(R))
            return R.copy()
        delta = rotmat_to_rotvec(np.einsum("nji,njk->nik", self.R, R))  # from the last filtered to the new, local axes
        speed = np.linalg.norm(delta, axis=-1) / dt
        self.speed = self.speed + _alpha(self.cfg.speed_cutoff, dt) * (speed - self.speed)
        a = _alpha(self.cfg.min_cutoff + self.cfg.beta * self.speed, dt)
        self.R = self.R @ rotvec_to_rotmat(delta * a[:, None])
        return self.R.copy()
