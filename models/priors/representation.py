"""The motion features both priors see, from world joints alone (so any body model's
skeleton works, and the refinement can differentiate through them).

World is Z up (see :mod:`livehmr.core.geometry`). Per frame ``t`` (F = 77 numbers):

- the 24 joints relative to the pelvis in the body's **heading frame** (72): rotated by
  the inverse of the pelvis' yaw, so turning on the spot or walking north or east look
  the same;
- the pelvis height above the floor (1), metres;
- the pelvis velocity from ``t-1`` to ``t`` in the heading frame of ``t-1`` (3), m/s;
- the yaw rate from ``t-1`` to ``t`` (1), rad/s.

The heading is the horizontal direction the hips face: ``forward = normalise(left x up)``
with ``left`` the right-hip -> left-hip vector (SMPL's canon: +X left, +Z forward). A
sequence of T frames gives T - 1 feature rows (velocities need two frames).
"""

from __future__ import annotations

import torch

from livehmr.models.skeleton import JOINT

FPS = 30.0
NUM_FEATURES = 77
_UP = (0.0, 0.0, 1.0)


def heading_axes(joints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit horizontal forward and left directions (..., 3) of the hips in ``joints`` (..., 24, 3)."""
    left = joints[..., JOINT["left_hip"], :] - joints[..., JOINT["right_hip"], :]
    left = torch.stack([left[..., 0], left[..., 1], torch.zeros_like(left[..., 0])], -1)
    left = left / left.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    up = torch.tensor(_UP, dtype=joints.dtype).expand_as(left)
    forward = torch.cross(left, up, dim=-1)
    return forward, left


def to_heading(v: torch.Tensor, forward: torch.Tensor, left: torch.Tensor) -> torch.Tensor:
    """Vectors ``v`` (..., N, 3) in world -> heading frame (x forward, y left, z up)."""
    return torch.stack([(v * forward[..., None, :]).sum(-1), (v * left[..., None, :]).sum(-1), v[..., 2]], -1)


def motion_features(joints: torch.Tensor, fps: float = FPS) -> torch.Tensor:
    """Features (..., T-1, 77) of world joints (..., T, 24, 3), metres (floor at z = 0)."""
    forward, left = heading_axes(joints)
    pelvis = joints[..., 0, :]
    local = to_heading(joints - pelvis[..., None, :], forward, left)[..., 1:, :, :]
    height = pelvis[..., 1:, 2:3]
    step = (pelvis[..., 1:, :] - pelvis[..., :-1, :])[..., None, :]
    velocity = to_heading(step, forward[..., :-1, :], left[..., :-1, :])[..., 0, :] * fps
    f0, f1 = forward[..., :-1, :], forward[..., 1:, :]
    sin = f0[..., 0] * f1[..., 1] - f0[..., 1] * f1[..., 0]
    cos = (f0[..., :2] * f1[..., :2]).sum(-1)
    yaw_rate = torch.atan2(sin, cos)[..., None] * fps
    return torch.cat([local.flatten(-2), height, velocity, yaw_rate], -1)


class Normaliser(torch.nn.Module):
    """Per-feature standardisation fitted on training features (saved with a prior)."""

    mean: torch.Tensor  # (NUM_FEATURES,) buffers
    std: torch.Tensor

    def __init__(self, mean: torch.Tensor | None = None, std: torch.Tensor | None = None):
        super().__init__()
        self.register_buffer("mean", torch.zeros(NUM_FEATURES) if mean is None else mean.float())
        self.register_buffer("std", torch.ones(NUM_FEATURES) if std is None else std.float())

    @classmethod
    def fit(cls, features: torch.Tensor) -> Normaliser:
        flat = features.reshape(-1, features.shape[-1]).double()
        return cls(flat.mean(0), flat.std(0).clamp_min(1e-3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
