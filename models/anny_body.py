"""Anny (Apache-2.0, bundled with ``pip install anny``) driven by SMPL-24 rotations.

How SMPL-24 rotations drive Anny's 104-bone skeleton
----------------------------------------------------
1. **Frames.** Anny's rest mesh is Z-up, facing -Y, the body's left at +X. SMPL's
   **canon** frame is Y-up, facing +Z, left at +X; ``A = R_anny_canon`` maps one to the
   other.
2. **Segments.** Each SMPL joint drives the Anny bones that start at it
   (:data:`SEGMENTS`: e.g. ``left_elbow`` -> ``lowerarm01.L``); a bone not listed
   (``spine03``, ``lowerarm02.L``, the finger and toe phalanges, the eyes...) moves
   rigidly with its nearest listed ancestor. The map respects both trees: the nearest
   mapped ancestor of every mapped bone is mapped to the SMPL parent joint.
3. **Rest pose.** Anny rests in an A-pose; SMPL's zero pose is a T-pose. A fixed
   rotation ``C[j]`` per joint (in **canon**) takes each arm segment from Anny's rest
   direction to the T-pose direction (+X for the left arm, -X for the right); every
   other segment keeps Anny's rest (``C[j] = I``). The body's SMPL rest skeleton
   ``rest_joints`` is read off Anny in that T-pose: bone heads, the mean of the toe
   bases for ``*_foot``, the mean of the knuckles for ``*_hand``.
4. **Posing.** With ``G[j]`` the world rotation of SMPL joint ``j`` (SMPL forward
   kinematics), every bone ``b`` of segment ``j`` gets the world orientation
   ``G[j] @ C[j] @ A.T @ R_rest[b]`` (Anny's ``world-orient`` parameterisation: heads
   follow their parents), and the root bone's head is placed at the SMPL pelvis.
   Anny's posed bone heads then coincide with SMPL forward kinematics on
   ``rest_joints`` (tested in ``tests/test_body.py``).
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import torch

from livehmr.core.geometry import rotation_between
from livehmr.core.types import NUM_BETAS, SmplParams
from livehmr.models.skeleton import JOINT, JOINT_NAMES, NUM_JOINTS, forward_kinematics, pose_to_rotmats

#: canon -> Anny rest frame.
A_ANNY_CANON = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])

PHENOTYPES = ("gender", "age", "muscle", "weight", "height", "proportions")
DEFAULT_PHENOTYPE = {"gender": 0.5, "age": 0.5, "muscle": 0.5, "weight": 0.5, "height": 0.5, "proportions": 0.5}


def _sided(side: str) -> dict[str, tuple[str, ...]]:
    s = "left" if side == "L" else "right"
    return {
        f"{s}_hip": (f"upperleg01.{side}",),
        f"{s}_knee": (f"lowerleg01.{side}",),
        f"{s}_ankle": (f"foot.{side}",),
        f"{s}_foot": tuple(f"toe{i}-1.{side}" for i in range(1, 6)),
        f"{s}_collar": (f"clavicle.{side}",),
        f"{s}_shoulder": (f"upperarm01.{side}",),
        f"{s}_elbow": (f"lowerarm01.{side}",),
        f"{s}_wrist": (f"wrist.{side}",),
        f"{s}_hand": tuple(f"metacarpal{i}.{side}" for i in range(1, 5)) + (f"finger1-1.{side}",),
    }


#: SMPL joint -> the Anny bones it drives (the first one's head is the joint, except
#: for *_foot and *_hand, see the module docstring).
SEGMENTS: dict[str, tuple[str, ...]] = {
    "pelvis": ("root",),
    "spine1": ("spine04",),
    "spine2": ("spine02",),
    "spine3": ("spine01",),
    "neck": ("neck01",),
    "head": ("head",),
    **_sided("L"),
    **_sided("R"),
}
_KNUCKLES = tuple(f"finger{i}-1" for i in range(2, 6))
#: T-pose direction of each arm segment in canon (joint -> its child).
_TPOSE_CHILD = {"shoulder": "elbow", "elbow": "wrist", "wrist": "hand"}


def smpl_joint_position(name: str, heads: np.ndarray, index: dict[str, int]) -> np.ndarray:
    """Position (3,) of SMPL joint ``name`` from Anny bone heads (B, 3): the head of its
    first bone, the mean of the toe bases for ``*_foot``, of the knuckles for ``*_hand``."""
    side = name[0].upper()
    if name.endswith("_foot"):
        return heads[[index[b] for b in SEGMENTS[name]]].mean(0)
    if name.endswith("_hand"):
        return heads[[index[f"{k}.{side}"] for k in _KNUCKLES]].mean(0)
    return heads[index[SEGMENTS[name][0]]]


@contextlib.contextmanager
def _quiet():
    """Anny's first import prints backend banners (warp, "no CUDA driver"); keep our output clean."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def build_anny_cache() -> float:
    """Build Anny's one-time model cache (about 100 s on a 2-core CPU). Returns seconds taken."""
    import time

    t0 = time.perf_counter()
    with _quiet():
        import anny

        anny.Anny()
    return time.perf_counter() - t0


class AnnyBody:
    """Anny body of a given phenotype, posed by SMPL-24 parameters.

    Args:
        phenotype: Anny phenotype values in [0, 1] (``gender`` 0 = female .. 1 = male,
            ``age``, ``muscle``, ``weight``, ``height``, ``proportions``); missing keys
            take 0.5. Published as ``betas[:6]`` in that order.
    """

    name = "anny"

    def __init__(self, phenotype: dict[str, float] | None = None):
        with _quiet():
            import anny

            model = anny.Anny(pose_parameterization="world-orient")
        model.set_skinning_method("lbs")
        self.model = model.to(torch.float32).eval()
        self.phenotype = {**DEFAULT_PHENOTYPE, **(phenotype or {})}
        unknown = set(self.phenotype) - set(PHENOTYPES)
        if unknown:
            raise ValueError(f"unknown Anny phenotype keys {sorted(unknown)}; known: {PHENOTYPES}")
        self.betas = np.zeros(NUM_BETAS)
        self.betas[: len(PHENOTYPES)] = [self.phenotype[k] for k in PHENOTYPES]
        self._phenotype_kwargs = {k: torch.tensor([v], dtype=torch.float32) for k, v in self.phenotype.items()}

        labels = list(model.bone_labels)
        parents = list(model.bone_parents)
        with torch.no_grad():
            rest = self.model(pose_parameters=None, phenotype_kwargs=self._phenotype_kwargs)
        self.faces = self.model.get_triangular_faces().numpy().astype(np.int32)
        R_rest = rest["rest_bone_poses"][0, :, :3, :3].double().numpy()
        h_rest = rest["rest_bone_poses"][0, :, :3, 3].double().numpy()

        # Bone -> SMPL joint (nearest mapped ancestor for unmapped bones).
        mapped = {bone: JOINT[j] for j, bones in SEGMENTS.items() for bone in bones}
        bone_joint = np.empty(len(labels), dtype=np.int64)
        for b, label in enumerate(labels):  # parents precede children in Anny's bone list
            bone_joint[b] = mapped[label] if label in mapped else bone_joint[parents[b]]
        self.bone_joint = bone_joint

        # Rest (A-pose) positions in canon, then the T-pose corrections C[j].
        A = A_ANNY_CANON
        h_canon = h_rest @ A  # (A.T @ h) row-wise
        index = {label: b for b, label in enumerate(labels)}
        self._index = index
        C = np.tile(np.eye(3), (NUM_JOINTS, 1, 1))
        for side, sign in (("left", 1.0), ("right", -1.0)):
            for joint, child in _TPOSE_CHILD.items():
                d = (smpl_joint_position(f"{side}_{child}", h_canon, index)
                     - smpl_joint_position(f"{side}_{joint}", h_canon, index))  # fmt: skip
                C[JOINT[f"{side}_{joint}"]] = rotation_between(d, np.array([sign, 0.0, 0.0]))
            C[JOINT[f"{side}_hand"]] = C[JOINT[f"{side}_wrist"]]  # fingers stay rigid with the palm
        self.C = C
        self._R_rest = R_rest
        self._h_rest = h_rest
        self._parents = parents

        # T-pose bone heads in canon (root at its rest place), then the SMPL rest skeleton.
        Rt = C[bone_joint] @ A.T  # (B, 3, 3): rest -> T-pose rotation of every bone
        heads = np.zeros_like(h_rest)
        heads[0] = A.T @ h_rest[0]
        for b in range(1, len(labels)):
            p = parents[b]
            heads[b] = heads[p] + Rt[p] @ (h_rest[b] - h_rest[p])
        self.rest_joints = np.stack([smpl_joint_position(name, heads, index) for name in JOINT_NAMES])
        self.bone_labels = labels

    def bone_world_orientations(self, global_rotmats: np.ndarray) -> np.ndarray:
        """Anny bone world orientations (..., 104, 3, 3) for SMPL joint world rotations G (..., 24, 3, 3)."""
        G = global_rotmats[..., self.bone_joint, :, :]
        return G @ (self.C[self.bone_joint] @ A_ANNY_CANON.T @ self._R_rest)

    def pose_bones(self, params: SmplParams | list[SmplParams]) -> dict[str, torch.Tensor]:
        """Run Anny for one or a batch of poses; returns Anny's output dict (``vertices``, ``bone_poses``)."""
        batch = params if isinstance(params, list) else [params]
        rotmats = pose_to_rotmats(np.stack([p.global_orient for p in batch]), np.stack([p.body_pose for p in batch]))
        J = torch.as_tensor(self.rest_joints)
        transl = torch.as_tensor(np.stack([p.transl for p in batch]), dtype=torch.float64)
        joints, G = forward_kinematics(rotmats, J, transl)
        D = np.zeros((len(batch), len(self.bone_labels), 4, 4))
        D[..., :3, :3] = self.bone_world_orientations(G.numpy())
        D[:, 0, :3, 3] = joints[:, 0].numpy()
        D[..., 3, 3] = 1.0
        kwargs = {k: v.expand(len(batch)) for k, v in self._phenotype_kwargs.items()}
        with torch.no_grad():
            return self.model(pose_parameters=torch.as_tensor(D, dtype=torch.float32), phenotype_kwargs=kwargs)

    def mesh(self, params: SmplParams) -> tuple[np.ndarray, np.ndarray]:
        """Skinned vertices (V, 3) in world metres and triangle faces (F, 3)."""
        return self.pose_bones(params)["vertices"][0].numpy(), self.faces

    def mesh_joints(self, params: SmplParams) -> np.ndarray:
        """SMPL-24 joints read off Anny's own posed skeleton (24, 3): the FK cross-check."""
        heads = self.pose_bones(params)["bone_poses"][0, :, :3, 3].double().numpy()
        return np.stack([smpl_joint_position(name, heads, self._index) for name in JOINT_NAMES])
