"""The shipped motion priors and their loader (what the refinement reads at run time;
their training is :mod:`livehmr.training.priors`)."""

from __future__ import annotations

from pathlib import Path

import torch

from livehmr.models.priors.diffusion import DiffusionConfig, MotionDiffusion
from livehmr.models.priors.humor import CvaeConfig, TransitionCVAE

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
SHIPPED = {"humor": DATA_DIR / "prior_humor.pt", "diffusion": DATA_DIR / "prior_diffusion.pt"}
KINDS = tuple(SHIPPED)


#: a trained motion prior: HuMoR-style transition CVAE or windowed motion diffusion
Prior = TransitionCVAE | MotionDiffusion


def load_prior(path: str | Path) -> Prior:
    """A ``prior_<kind>.pt`` as an eval-mode model, read with ``weights_only`` (never code);
    anything malformed is a LivehmrError saying what."""
    from livehmr.core.errors import LivehmrError

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds on a bad file
        raise LivehmrError(f"{path} is not a readable prior file ({type(exc).__name__}: {str(exc)[:200]})") from None
    if not isinstance(state, dict) or state.get("kind") not in KINDS or not isinstance(state.get("net"), dict):
        raise LivehmrError(f"{path} is not a livehmr motion prior (needs 'kind' in {KINDS}, 'net' and 'model')")
    try:
        if state["kind"] == "humor":
            model: Prior = TransitionCVAE(CvaeConfig(**state["net"]))
        else:
            model = MotionDiffusion(DiffusionConfig(**state["net"]))
        model.load_state_dict(state["model"])
    except (RuntimeError, TypeError, KeyError) as exc:
        raise LivehmrError(f"{path}: its weights do not fit its config ({str(exc)[:200]})") from None
    model.eval()
    return model
