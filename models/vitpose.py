"""ViTPose (Xu et al., NeurIPS 2022): a plain ViT backbone and a heatmap head, top-down.

The module and parameter names mirror the official implementation (mmpose 0.x,
``ViTAE-Transformer/ViTPose``), so the official COCO checkpoints' ``state_dict`` loads
unchanged: ``backbone.patch_embed.proj``, ``backbone.pos_embed``, ``backbone.blocks.N.
{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}``, ``backbone.last_norm``, and
``keypoint_head.{deconv_layers, final_layer}``.

Input: (B, 3, 256, 192) RGB crops normalised with the ImageNet mean and std
(:func:`normalise`). Output: (B, 17, 64, 48) COCO-17 heatmaps. Crops are cut and
heatmaps decoded in :mod:`livehmr.models.heatmaps`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from livehmr.core.errors import LivehmrError

#: (embed_dim, depth, heads) of the four published sizes.
VARIANTS = {"s": (384, 12, 12), "b": (768, 12, 12), "l": (1024, 24, 16), "h": (1280, 32, 16)}
INPUT_SIZE = (256, 192)  # (height, width) pixels
HEATMAP_SIZE = (64, 48)
IMAGENET_MEAN = np.array([123.675, 116.28, 103.53], np.float32)  # RGB, 0..255
IMAGENET_STD = np.array([58.395, 57.12, 57.375], np.float32)


@dataclass(frozen=True)
class ViTPoseConfig:
    """``head``: ``classic`` (two 4×4 deconvolutions + 1×1 conv; the official COCO models)
    or ``simple`` (ReLU, ×4 bilinear upsampling, 3×3 conv; the paper's simple decoder)."""

    variant: str = "b"
    head: str = "classic"
    num_keypoints: int = 17

    @property
    def embed_dim(self) -> int:
        return VARIANTS[self.variant][0]

    @property
    def depth(self) -> int:
        return VARIANTS[self.variant][1]

    @property
    def heads(self) -> int:
        return VARIANTS[self.variant][2]


class _PatchEmbed(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        # padding 2 (the official "4 + 2 * (ratio // 2 - 1)" at ratio 1) gives a 16 × 12 grid
        self.proj = nn.Conv2d(3, dim, kernel_size=16, stride=16, padding=2)


class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(B, N, C))


class _Mlp(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = _Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = _Mlp(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class _Backbone(nn.Module):
    def __init__(self, cfg: ViTPoseConfig):
        super().__init__()
        self.patch_embed = _PatchEmbed(cfg.embed_dim)
        grid = (INPUT_SIZE[0] // 16) * (INPUT_SIZE[1] // 16)
        self.pos_embed = nn.Parameter(torch.zeros(1, grid + 1, cfg.embed_dim))  # + the pre-training class token's
        self.blocks = nn.ModuleList(_Block(cfg.embed_dim, cfg.heads) for _ in range(cfg.depth))
        self.last_norm = nn.LayerNorm(cfg.embed_dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed.proj(x)
        B, C, Hp, Wp = x.shape
        x = x.flatten(2).transpose(1, 2)
        x = x + self.pos_embed[:, 1:] + self.pos_embed[:, :1]  # as the official code adds them
        for block in self.blocks:
            x = block(x)
        return self.last_norm(x).transpose(1, 2).reshape(B, C, Hp, Wp)


class _ClassicHead(nn.Module):
    def __init__(self, dim: int, num_keypoints: int):
        super().__init__()
        self.deconv_layers = nn.Sequential(
            nn.ConvTranspose2d(dim, 256, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(256), nn.ReLU(),
            nn.ConvTranspose2d(256, 256, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(256), nn.ReLU(),
        )  # fmt: skip
        self.final_layer = nn.Conv2d(256, num_keypoints, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer(self.deconv_layers(x))


class _SimpleHead(nn.Module):
    def __init__(self, dim: int, num_keypoints: int):
        super().__init__()
        self.final_layer = nn.Conv2d(dim, num_keypoints, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(F.relu(x), scale_factor=4, mode="bilinear", align_corners=False)
        return self.final_layer(x)


class ViTPose(nn.Module):
    """(B, 3, 256, 192) normalised RGB crops -> (B, K, 64, 48) heatmaps."""

    def __init__(self, cfg: ViTPoseConfig = ViTPoseConfig()):
        super().__init__()
        if cfg.variant not in VARIANTS or cfg.head not in ("classic", "simple"):
            raise LivehmrError(f"ViTPose variant must be one of {', '.join(VARIANTS)} and head classic|simple")
        self.cfg = cfg
        self.backbone = _Backbone(cfg)
        head = _ClassicHead if cfg.head == "classic" else _SimpleHead
        self.keypoint_head = head(cfg.embed_dim, cfg.num_keypoints)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.keypoint_head(self.backbone(x))


def normalise(crops: np.ndarray) -> np.ndarray:
    """(B, H, W, 3) uint8 RGB crops -> (B, 3, H, W) float32 network input."""
    return np.ascontiguousarray(((crops.astype(np.float32) - IMAGENET_MEAN) / IMAGENET_STD).transpose(0, 3, 1, 2))


def config_from_state_dict(state: dict[str, torch.Tensor]) -> ViTPoseConfig:
    """The variant and head a checkpoint's tensors imply (embedding width, block count, head keys)."""
    try:
        dim = state["backbone.pos_embed"].shape[-1]
        depth = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("backbone.blocks."))
    except (KeyError, ValueError) as exc:
        raise LivehmrError("not a ViTPose checkpoint: no backbone.pos_embed / backbone.blocks.* keys") from exc
    variant = next((v for v, (d, n, _) in VARIANTS.items() if (d, n) == (dim, depth)), None)
    if variant is None:
        raise LivehmrError(f"ViTPose checkpoint with width {dim} and {depth} blocks matches no variant (s, b, l, h)")
    head = "classic" if "keypoint_head.deconv_layers.0.weight" in state else "simple"
    return ViTPoseConfig(variant, head, int(state["keypoint_head.final_layer.weight"].shape[0]))


def load_vitpose(path: str | Path, variant: str | None = None, trust_pickle: bool = False) -> ViTPose:
    """A ViTPose from an official (mmpose) checkpoint: ``{"state_dict": ...}`` or a bare state dict.

    Loaded with ``torch.load(weights_only=True)``: tensors only, no code from the file
    runs. ``trust_pickle`` lifts that for checkpoints that also pickle other objects
    (only for files you trust). ``variant``, when given, must match the file."""
    path = Path(path)
    if not path.is_file():
        raise LivehmrError(f"ViTPose checkpoint not found: {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except Exception as exc:
        raise LivehmrError(f"cannot read ViTPose checkpoint {path}: {exc}".split("\n")[0]
                           + ("" if trust_pickle else " (if you trust the file, pass --trust-checkpoint)")) from exc  # fmt: skip
    state = blob.get("state_dict", blob) if isinstance(blob, dict) else None
    if not isinstance(state, dict):
        raise LivehmrError(f"{path} holds no state dict")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    cfg = config_from_state_dict(state)
    if variant is not None and variant != cfg.variant:
        raise LivehmrError(f"{path} is ViTPose-{cfg.variant.upper()}, not ViTPose-{variant.upper()}")
    model = ViTPose(cfg)
    wanted = model.state_dict()
    state = {k: v for k, v in state.items() if k in wanted or not k.endswith("num_batches_tracked")}
    missing = sorted(set(wanted) - set(state))
    unexpected = sorted(set(state) - set(wanted))
    if missing or unexpected:
        raise LivehmrError(f"{path}: missing keys {missing[:5]}, unexpected keys {unexpected[:5]}")
    bad = [k for k, v in state.items() if tuple(v.shape) != tuple(wanted[k].shape)]
    if bad:
        raise LivehmrError(f"{path}: wrong shapes for {bad[:5]} (e.g. {bad[0]} {tuple(state[bad[0]].shape)})")
    model.load_state_dict(state)
    return model.eval()
