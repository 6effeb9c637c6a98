"""Body-model interface: an SMPL-24 pose + a shape -> joints (and a mesh).

Every body model livehmr drives implements :class:`BodyModel`. The pose is always
SMPL's (see :mod:`livehmr.models.skeleton`); what a model adds is its own rest
skeleton ``rest_joints`` (from its shape) and, when asked, a skinned mesh.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch

from livehmr.core.types import NUM_BETAS, SmplParams  # noqa: F401  (re-exported: body models build them)
from livehmr.models.skeleton import FOOT_JOINTS, forward_kinematics, pose_to_rotmats


class BodySkeleton(Protocol):
    """What posing the 24 joints needs: a body's rest skeleton and its shape."""

    #: (24, 3) rest joint positions in **canon**, metres (T-pose).
    rest_joints: np.ndarray
    #: (10,) the shape this instance was built for, as published in ``betas``.
    betas: np.ndarray


@runtime_checkable
class MeshedBody(BodySkeleton, Protocol):
    """A skeleton that can also skin its mesh."""

    def mesh(self, params: SmplParams) -> tuple[np.ndarray, np.ndarray]:
        """Skinned vertices (V, 3) in world metres and triangle faces (F, 3)."""
        ...


@runtime_checkable
class BodyModel(MeshedBody, Protocol):
    """What the pipeline needs from a body model: the skeleton, a name and a mesh."""

    name: str


def body_joints(body: BodySkeleton, params: SmplParams) -> np.ndarray:
    """World joint positions (24, 3) of ``body`` posed by ``params`` (SMPL FK, no mesh)."""
    rotmats = pose_to_rotmats(params.global_orient, params.body_pose)
    J = torch.as_tensor(body.rest_joints, dtype=torch.float64)
    joints, _ = forward_kinematics(rotmats, J, torch.as_tensor(params.transl, dtype=torch.float64))
    return joints.numpy()


def check_body_options(name: str, model_path: str | None) -> None:
    """What a body model needs besides its name (checked before anything loads)."""
    from livehmr.core.errors import LivehmrError

    if name == "smpl" and not model_path:
        raise LivehmrError("--body smpl needs --smpl-model PATH (SMPL is licensed; livehmr never ships it)")


def load_body_model(name: str = "anny", model_path: str | None = None) -> BodyModel:
    """Build a body model by name: ``anny`` (default, bundled) or ``smpl`` (needs ``model_path``)."""
    from livehmr.core.errors import LivehmrError

    if name == "anny":
        from livehmr.models.anny_body import AnnyBody

        return AnnyBody()
    check_body_options(name, model_path)
    if name == "smpl" and model_path:
        from livehmr.models.smpl_body import SmplBody

        return SmplBody(model_path)
    raise LivehmrError(f"unknown body model {name!r}: choose 'anny' or 'smpl'")


def sole_offsets(body: BodySkeleton) -> np.ndarray:
    """Heights (4,) of the FOOT_JOINTS (ankles, toe bases) above the sole in the rest pose,
    metres; computed once per body from its mesh and cached on it as ``_sole_offsets``
    (skeleton-only bodies, e.g. the refiner's, carry it precomputed)."""
    cached = getattr(body, "_sole_offsets", None)
    if cached is None:
        if not isinstance(body, MeshedBody):
            raise TypeError(f"{type(body).__name__} has neither a mesh nor precomputed sole offsets")
        vertices, _ = body.mesh(SmplParams(betas=body.betas))
        floor = vertices[:, 1].min()  # canon +Y up; the rest pose stands on its soles
        cached = body.rest_joints[list(FOOT_JOINTS), 1] - floor
        body._sole_offsets = cached  # type: ignore[attr-defined]
    return cached


def sole_gaps(body: BodySkeleton, joints_world: np.ndarray) -> np.ndarray:
    """World height (4,) of the sole under each FOOT_JOINT (left ankle, left toes, right
    ankle, right toes): 0 when that part of the foot rests on a floor at z = 0."""
    return joints_world[list(FOOT_JOINTS), 2] - sole_offsets(body)


def lowest_sole(body: BodySkeleton, joints_world: np.ndarray) -> float:
    """World height (z) of the lowest sole point implied by the foot joints."""
    return float(sole_gaps(body, joints_world).min())
