"""SMPL through ``smplx``, for users who bring their own (licensed) SMPL model file.

livehmr never ships or downloads SMPL. ``SmplBody(path)`` takes what ``smplx.SMPL``
takes: an SMPL ``.pkl`` file or a folder holding ``SMPL_NEUTRAL.pkl``. SMPL's own
format is a Python pickle, so give only model files you trust (this is the one place
livehmr reads a pickle, and only from a path the user names). Install with
``pip install 'livehmr[smpl]'``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from livehmr.core.errors import LivehmrError
from livehmr.core.types import NUM_BETAS, SmplParams


def _import_smplx():
    # smplx (and chumpy, for legacy .pkl files) still use numpy aliases removed in numpy 2.
    for alias, real in (("bool", np.bool_), ("int", np.int_), ("float", np.float64), ("complex", np.complex128),
                        ("object", np.object_), ("str", np.str_), ("unicode", np.str_)):  # fmt: skip
        if alias not in np.__dict__:
            setattr(np, alias, real)
    try:
        import smplx
    except ImportError:
        raise LivehmrError("--body smpl needs smplx: pip install 'livehmr[smpl]'") from None
    return smplx


class SmplBody:
    """An SMPL body of shape ``betas`` (10,)."""

    name = "smpl"

    def __init__(self, model_path: str | Path, betas: np.ndarray | None = None, gender: str = "neutral"):
        path = Path(model_path)
        if not path.exists():
            raise LivehmrError(f"SMPL model {path} does not exist")
        smplx = _import_smplx()
        ext = path.suffix.lstrip(".") if path.is_file() else "pkl"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.model = smplx.SMPL(model_path=str(path), gender=gender, ext=ext, num_betas=NUM_BETAS).eval()
        except Exception as exc:
            raise LivehmrError(f"cannot load SMPL model {path}: {exc}") from None
        self.betas = np.zeros(NUM_BETAS) if betas is None else np.asarray(betas, dtype=np.float64)
        self.faces = np.asarray(self.model.faces, dtype=np.int32)
        self.rest_joints = self._forward(SmplParams(betas=self.betas))[1][:24]

    def _forward(self, params: SmplParams) -> tuple[np.ndarray, np.ndarray]:
        t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32))[None]  # noqa: E731
        with torch.no_grad():
            out = self.model(global_orient=t(params.global_orient), body_pose=t(params.body_pose),
                             betas=t(self.betas), transl=t(params.transl))  # fmt: skip
        return out.vertices[0].double().numpy(), out.joints[0].double().numpy()

    def mesh(self, params: SmplParams) -> tuple[np.ndarray, np.ndarray]:
        return self._forward(params)[0], self.faces

    def smplx_joints(self, params: SmplParams) -> np.ndarray:
        """smplx's own 24 joints (the cross-check of livehmr's FK)."""
        return self._forward(params)[1][:24]
