"""One person's window as an optimisation problem: what it holds, its energy, its solve.

Frames are named as in :mod:`livehmr.core.geometry`: world is gravity-aligned, Z up, metres;
cam is OpenCV's. The unknowns per frame are the local body pose (23 rotation vectors),
the root orientation (rotation vector, canon -> world), the pelvis' world position and
the camera's world position (rotation-only front ends leave the camera's position to the
estimator; it is refined here). The skeleton is one per window (shape constant per person).

Energy terms (weights in :class:`RefineWeights`):

- ``reprojection``: Geman-McClure of the 14 keypoints' pixel residuals in units of the
  person's 2D size, weighted by confidence (frames without keypoints add nothing);
- ``prior``: the learned motion prior on the window's motion features (HuMoR-style CVAE
  energy or diffusion score distillation), or none;
- ``smooth``: squared joint accelerations (m / frame^2);
- ``contact``: feet in contact (the causal model's probability > 0.5 on both frames) do
  not move, and their soles sit on the ground estimate;
- ``data``: stay near the causal estimates (weak: it carries occlusions);
- ``camera``: squared camera accelerations and (weakly) velocities, and, where the front end gives the camera's
  translation up to scale, agreement with it after a scale solved in the window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import roma
import torch

from livehmr.models.motion.features import KEYPOINT_JOINTS, MIN_CONFIDENCE
from livehmr.models.priors.representation import motion_features
from livehmr.models.skeleton import FOOT_JOINTS, forward_kinematics


@dataclass
class RefineWeights:
    reprojection: float = 1.0
    prior: float = 0.02
    smooth: float = 1000.0
    contact_still: float = 2000.0
    contact_ground: float = 200.0
    data_pose: float = 0.02
    data_position: float = 0.5
    camera_smooth: float = 1000.0
    camera_still: float = 100.0
    camera_scale: float = 5.0
    gm_sigma: float = 0.05  # Geman-McClure scale, person-size units


@dataclass
class WindowInputs:
    """A person's window of W frames (numpy, float64), all in the world unless named.

    keypoints (W, 14, 3): pixels + confidence (0 where not detected); K (W, 3, 3);
    R_world_cam (W, 3, 3); camera (W, 3) the causal camera position; root (W, 3) and
    body_pose (W, 23, 3) rotation vectors; pelvis (W, 3); contacts (W, 4) probabilities
    (FOOT_JOINTS order); rest_joints (24, 3) canon; sole_offsets (4,) m; up_to_scale
    (W, 3) or None: the front end's camera translation up to scale; fixed (W,) bool:
    frames already published (held).
    """

    keypoints: np.ndarray
    K: np.ndarray
    R_world_cam: np.ndarray
    camera: np.ndarray
    root: np.ndarray
    body_pose: np.ndarray
    pelvis: np.ndarray
    contacts: np.ndarray
    rest_joints: np.ndarray
    sole_offsets: np.ndarray
    fixed: np.ndarray
    up_to_scale: np.ndarray | None = None


@dataclass
class Solution:
    """Refined unknowns (W, ...) like :class:`WindowInputs`', joints (W, 24, 3) and diagnostics."""

    root: np.ndarray
    body_pose: np.ndarray
    pelvis: np.ndarray
    camera: np.ndarray
    joints: np.ndarray
    energy: dict[str, float] = field(default_factory=dict)
    ok: bool = True


MIN_KEYPOINTS = 4  # detected keypoints (confidence >= MIN_CONFIDENCE) a frame needs to count as evidence


def frames_with_evidence(keypoints):
    """(W,) bool, numpy or torch like ``keypoints`` (W, 14, 3): the frames the reprojection
    term uses (at least MIN_KEYPOINTS keypoints detected)."""
    return (keypoints[..., 2] >= MIN_CONFIDENCE).sum(-1) >= MIN_KEYPOINTS


def _t(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=torch.float32)


def joints_of(root: torch.Tensor, body_pose: torch.Tensor, pelvis: torch.Tensor, rest: torch.Tensor) -> torch.Tensor:
    """World joints (W, 24, 3) from rotation vectors root (W, 3), body_pose (W, 23, 3), the
    pelvis position (W, 3) and a rest skeleton (24, 3)."""
    rotmats = roma.rotvec_to_rotmat(torch.cat([root[:, None], body_pose], 1))
    joints, _ = forward_kinematics(rotmats, rest, pelvis - rest[0])
    return joints


def reprojection_residuals(joints: torch.Tensor, camera: torch.Tensor, R_world_cam: torch.Tensor, K: torch.Tensor,
                           keypoints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Per-keypoint residuals (W, 14) in units of the person's 2D size, and their weights
    (confidence, 0 for undetected points and frames)."""
    X = joints[:, KEYPOINT_JOINTS] - camera[:, None]
    x_cam = torch.einsum("wji,wkj->wki", R_world_cam, X)  # R_cam_world = R_world_cam^T
    z = x_cam[..., 2:3].clamp_min(0.1)
    uv = torch.einsum("wij,wkj->wki", K[:, :2, :2], x_cam[..., :2] / z) + K[:, None, :2, 2]
    conf = keypoints[..., 2]
    ok = conf >= MIN_CONFIDENCE
    big = 1e6
    lo = torch.where(ok[..., None], keypoints[..., :2], torch.full_like(keypoints[..., :2], big)).amin(1)
    hi = torch.where(ok[..., None], keypoints[..., :2], torch.full_like(keypoints[..., :2], -big)).amax(1)
    size = (hi - lo).amax(-1).clamp_min(20.0)[:, None]
    frame_ok = frames_with_evidence(keypoints)[:, None]
    weight = torch.where(ok & frame_ok, conf, torch.zeros_like(conf))
    return (uv - keypoints[..., :2]).norm(dim=-1) / size, weight


def solve(inputs: WindowInputs, prior=None, weights: RefineWeights | None = None, iterations: int = 30,
          init: dict[str, np.ndarray] | None = None, ground: float = 0.0, seed: int = 0) -> Solution:  # fmt: skip
    """Minimise the window's energy with L-BFGS (at most ``iterations`` evaluations) from
    ``init`` (arrays like the unknowns; the
    causal estimates where None). ``prior``: a TransitionCVAE, a MotionDiffusion or None.
    ``ground``: the floor height estimate, m. A non-finite energy or result gives
    ``ok=False`` and the initial values back."""
    w = weights or RefineWeights()
    init = init or {}
    W = len(inputs.root)
    fixed = torch.as_tensor(inputs.fixed, dtype=torch.bool)
    free = (~fixed).float()
    start = {k: _t(init.get(k, getattr(inputs, k))) for k in ("root", "body_pose", "pelvis", "camera")}
    params = {k: v.clone().requires_grad_(True) for k, v in start.items()}
    causal = {k: _t(getattr(inputs, k)) for k in ("root", "body_pose", "pelvis", "camera")}
    rest = _t(inputs.rest_joints)
    R, K, kp = _t(inputs.R_world_cam), _t(inputs.K), _t(inputs.keypoints)
    contacts = _t(inputs.contacts)
    still = torch.minimum(contacts[1:], contacts[:-1]) > 0.5  # (W-1, 4)
    down = contacts > 0.5
    soles = _t(inputs.sole_offsets)
    scale_ref = None if inputs.up_to_scale is None else _t(inputs.up_to_scale)
    log_scale = torch.zeros(())
    if scale_ref is not None:  # start from the least-squares scale of the initial camera path
        du, dc = scale_ref - scale_ref[:1], start["camera"] - start["camera"][:1]
        s0 = (du * dc).sum() / (du * du).sum().clamp_min(1e-9)
        log_scale = torch.log(s0.clamp_min(1e-3))
    log_scale.requires_grad_(True)
    opt = torch.optim.LBFGS([*params.values(), log_scale], lr=1.0, max_iter=iterations, max_eval=iterations, history_size=10,
                            line_search_fn="strong_wolfe")  # fmt: skip
    generator = torch.Generator()

    def values() -> dict[str, torch.Tensor]:
        shape = {"root": (W, 1), "body_pose": (W, 1, 1), "pelvis": (W, 1), "camera": (W, 1)}
        return {k: start[k] + (params[k] - start[k]) * free.reshape(shape[k]) for k in params}

    def energy(v: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        joints = joints_of(v["root"], v["body_pose"], v["pelvis"], rest)
        r, rw = reprojection_residuals(joints, v["camera"], R, K, kp)
        gm = r**2 / (r**2 + w.gm_sigma**2)
        e = {"reprojection": (gm * rw).sum() / rw.sum().clamp_min(1.0) * W}
        feet = joints[:, list(FOOT_JOINTS)]
        slide = ((feet[1:] - feet[:-1]) ** 2).sum(-1)
        e["contact_still"] = (slide * still).sum()
        e["contact_ground"] = (((feet[..., 2] - soles - ground) ** 2) * down).sum()
        e["smooth"] = ((joints[2:] - 2 * joints[1:-1] + joints[:-2]) ** 2).sum(-1).mean(-1).sum() if W > 2 else joints.sum() * 0
        e["data_pose"] = ((v["body_pose"] - causal["body_pose"]) ** 2).sum() + ((v["root"] - causal["root"]) ** 2).sum()
        e["data_position"] = ((v["pelvis"] - causal["pelvis"]) ** 2).sum() + ((v["camera"] - causal["camera"]) ** 2).sum()
        cam = v["camera"]
        e["camera_smooth"] = ((cam[2:] - 2 * cam[1:-1] + cam[:-2]) ** 2).sum() if W > 2 else cam.sum() * 0
        e["camera_still"] = ((cam[1:] - cam[:-1]) ** 2).sum()
        if scale_ref is not None:
            e["camera_scale"] = (((cam - cam[:1]) - log_scale.exp() * (scale_ref - scale_ref[:1])) ** 2).sum()
        if prior is not None and W > 2:
            feats = motion_features(joints)
            if hasattr(prior, "sds_loss"):
                if len(feats) >= prior.config.window:  # the same noise draw throughout a solve: a fixed objective
                    e["prior"] = prior.sds_loss(feats, generator=generator.manual_seed(seed)) * W
            else:
                e["prior"] = prior.energy(feats) * W
        return e

    def total(e: dict[str, torch.Tensor]) -> torch.Tensor:
        out = torch.zeros(())  # float32, as every term
        for k, x in e.items():
            out = out + getattr(w, k) * x
        return out

    for p in prior.parameters() if prior is not None else ():
        p.requires_grad_(False)
    finite = [True]

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = total(energy(values()))
        if not torch.isfinite(loss):
            finite[0] = False
            return torch.zeros((), requires_grad=True)  # ends the line search; the result is discarded
        loss.backward()
        return loss

    opt.step(closure)
    ok = finite[0]
    with torch.no_grad():
        v = values()
        final = energy(v)
        joints = joints_of(v["root"], v["body_pose"], v["pelvis"], rest)
    out = {k: x.double().numpy() for k, x in v.items()}
    ok = ok and all(np.isfinite(x).all() for x in out.values()) and bool(torch.isfinite(joints).all())
    if not ok:
        out = {k: np.asarray(getattr(inputs, k), dtype=np.float64) for k in out}
        with torch.no_grad():
            joints = joints_of(causal["root"], causal["body_pose"], causal["pelvis"], rest)
    return Solution(out["root"], out["body_pose"], out["pelvis"], out["camera"], joints.double().numpy(),
                    {k: float(x) for k, x in final.items()}, ok)  # fmt: skip
