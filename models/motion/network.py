"""The causal motion networks (after WHAM), strictly recurrent: O(1) work per frame.

- **motion encoder**: keypoint features -> motion context (GRU);
- **local decoder**: context -> local body pose (23 x 6D), root orientation in **cam**
  (6D), pelvis position in cam (box-relative offset and log depth x box size) and body
  shape (Anny phenotype, 6 values in [0, 1]);
- **trajectory decoder**: context + camera angular velocity + world-down in cam + the
  root orientation in cam -> root velocity in the body's heading frame (m/s), pelvis
  height above the floor (m) and per-foot contact logits.

:meth:`MotionNet.forward` runs a sequence; :meth:`MotionNet.step` one frame with an
explicit state; both compute the same thing (the step *is* a sequence of one).
Outputs are decoded by :func:`decode` into named quantities.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import roma
import torch
from torch import nn

from livehmr.models.motion.features import NUM_CAM_FEATURES, input_columns

#: the shipped weights (``livehmr train motion --config cpu`` makes them)
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "data" / "motion_cpu.pt"

LOCAL_OUT = 23 * 6 + 6 + 3 + 6
TRAJ_OUT = 3 + 1 + 4
PELVIS_HEIGHT_PRIOR_M = 0.9  # a standing adult's pelvis; the network predicts the difference


@dataclass
class NetConfig:
    """``landmarks``: the network also reads BlazePose's 3D landmarks (the v2 input; False:
    the first motion model's 2D-only input, kept so its weights still load)."""

    hidden: int = 192
    layers: int = 1
    landmarks: bool = False

    @property
    def num_inputs(self) -> int:
        return len(input_columns(self.landmarks))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, config: dict, where: str = "motion model") -> NetConfig:
        """A config read from a file, checked: known keys, integers in sane ranges (a file
        must not make livehmr allocate without bound)."""
        from livehmr.core.errors import LivehmrError

        limits = {"hidden": (1, 4096), "layers": (1, 8)}
        unknown = set(config) - set(limits) - {"landmarks"}
        if unknown:
            raise LivehmrError(f"{where}: unknown network config keys {sorted(map(str, unknown))}")
        if type(config.get("landmarks", False)) is not bool:
            raise LivehmrError(f"{where}: network config landmarks={config['landmarks']!r} must be true or false")
        for key, (lo, hi) in limits.items():
            value = config.get(key, getattr(cls, key))
            if type(value) is not int or not lo <= value <= hi:
                raise LivehmrError(f"{where}: network config {key}={value!r} must be an integer in [{lo}, {hi}]")
        return cls(**config)


class MotionNet(nn.Module):
    """Input x (B, T, config.num_inputs): the columns :func:`input_columns` picks from the
    full feature vector (see :mod:`livehmr.models.motion.features`); output (B, T, 161)."""

    def __init__(self, config: NetConfig | None = None):
        super().__init__()
        self.config = c = config or NetConfig()
        kp = c.num_inputs - NUM_CAM_FEATURES
        self.embed = nn.Sequential(nn.Linear(kp, c.hidden), nn.ReLU(), nn.Linear(c.hidden, c.hidden))
        self.encoder = nn.GRU(c.hidden, c.hidden, c.layers, batch_first=True)
        self.local = nn.GRU(c.hidden, c.hidden, c.layers, batch_first=True)
        self.local_head = nn.Sequential(nn.Linear(c.hidden, c.hidden), nn.ReLU(), nn.Linear(c.hidden, LOCAL_OUT))
        self.traj = nn.GRU(c.hidden + NUM_CAM_FEATURES + 6, c.hidden, c.layers, batch_first=True)
        self.traj_head = nn.Sequential(nn.Linear(c.hidden, c.hidden), nn.ReLU(), nn.Linear(c.hidden, TRAJ_OUT))

    def initial_state(self, batch: int = 1) -> torch.Tensor:
        """Zero state (3, layers, B, hidden): encoder, local and trajectory GRUs."""
        return torch.zeros(3, self.config.layers, batch, self.config.hidden)

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if state is None:
            state = self.initial_state(x.shape[0]).to(x)
        kp, cam = x[..., :-NUM_CAM_FEATURES], x[..., -NUM_CAM_FEATURES:]
        ctx, h_enc = self.encoder(self.embed(kp), state[0].contiguous())
        loc, h_loc = self.local(ctx, state[1].contiguous())
        local_out = self.local_head(loc)
        root6d = local_out[..., 23 * 6 : 23 * 6 + 6]
        tr, h_tr = self.traj(torch.cat([ctx, cam, root6d], -1), state[2].contiguous())
        return torch.cat([local_out, self.traj_head(tr)], -1), torch.stack([h_enc, h_loc, h_tr])

    def step(self, x_t: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One frame: x_t (B, num_inputs), state (3, layers, B, hidden) -> (B, 161), new state."""
        out, state = self.forward(x_t[:, None], state)
        return out[:, 0], state


def sixd_to_rotmat(x: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3): the two columns made orthonormal (Gram-Schmidt, roma)."""
    return roma.special_gramschmidt(x.reshape(*x.shape[:-1], 2, 3).transpose(-1, -2))


def rotmat_to_sixd(R: torch.Tensor) -> torch.Tensor:
    return R[..., :, :2].transpose(-1, -2).reshape(*R.shape[:-2], 6)


@dataclass
class Decoded:
    """Named outputs, torch, leading dims (...):

    local_rotmats (..., 23, 3, 3); R_cam_root (..., 3, 3); pelvis_cam (..., 3) m;
    phenotype (..., 6); v_heading (..., 3) m/s; height (...) m; contact_logits (..., 4).
    """

    local_rotmats: torch.Tensor
    R_cam_root: torch.Tensor
    pelvis_cam: torch.Tensor
    phenotype: torch.Tensor
    v_heading: torch.Tensor
    height: torch.Tensor
    contact_logits: torch.Tensor


def decode(out: torch.Tensor, box: torch.Tensor) -> Decoded:
    """Network output (..., 161) and the features' box (..., 3) = (cx, cy, log s) -> Decoded.
    The pelvis is at depth z = exp(q) / s and image position c + s * (dx, dy)."""
    n = 23 * 6
    local = sixd_to_rotmat(out[..., :n].reshape(*out.shape[:-1], 23, 6))
    root = sixd_to_rotmat(out[..., n : n + 6])
    dxy, q = out[..., n + 6 : n + 8], out[..., n + 8]
    s = torch.exp(box[..., 2])
    z = torch.exp(q) / s
    xy = (box[..., :2] + s[..., None] * dxy) * z[..., None]
    pelvis = torch.cat([xy, z[..., None]], -1)
    phen = torch.sigmoid(out[..., n + 9 : n + 15])
    t = out[..., LOCAL_OUT:]
    return Decoded(local, root, pelvis, phen, t[..., :3], t[..., 3] + PELVIS_HEIGHT_PRIOR_M, t[..., 4:8])


def load_motion_net(path: str | Path) -> MotionNet:
    """A shipped or trained ``motion.pt`` (or a ``checkpoint.pt``) as an eval-mode MotionNet.

    The file is a user's path: it is read with ``weights_only`` (tensors and plain data,
    never code from the file), and anything malformed is a LivehmrError saying what."""
    from livehmr.core.errors import LivehmrError

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds (zip, unpickling, EOF, runtime) on a bad file
        raise LivehmrError(f"{path} is not a readable motion model file ({type(exc).__name__}: {str(exc)[:200]})") from None
    config = None
    if isinstance(state, dict):
        config = state.get("net")
        if config is None and isinstance(state.get("config"), dict):  # a training checkpoint
            config = state["config"].get("net")
    if not isinstance(config, dict) or not isinstance(state.get("model"), dict):
        raise LivehmrError(f"{path} is not a livehmr motion model: it needs 'model' weights and a 'net' config")
    model = MotionNet(NetConfig.from_dict(config, where=str(path)))
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, TypeError, AttributeError, KeyError) as exc:
        raise LivehmrError(f"{path}: its weights do not fit its network config ({str(exc)[:200]})") from None
    return model.eval()
