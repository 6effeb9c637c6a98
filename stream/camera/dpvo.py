"""``--camera dpvo``: Deep Patch Visual Odometry (Teed, Lipson, Deng; NeurIPS 2023), driven
frame by frame through its own incremental API, on a CUDA GPU.

DPVO is not on PyPI and needs CUDA extensions; install it where there is a GPU::

    git clone https://github.com/princeton-vl/DPVO && cd DPVO
    pip install torch-scatter -f https://data.pyg.org/whl/torch-$(python -c "import torch;print(torch.__version__)").html
    pip install .          # builds the CUDA kernels (lietorch, cuda_corr, cuda_ba)
    wget https://www.dropbox.com/s/nap0u8zslspdwm4/models.zip && unzip models.zip   # dpvo.pth
    export LIVEHMR_DPVO_WEIGHTS=$PWD/dpvo.pth

What the adapter relies on (DPVO's ``demo.py`` contract): ``DPVO(cfg, weights, ht, wd, viz)``;
``slam(t, image, intrinsics)`` per frame with a (3, H, W) uint8 CUDA image whose sides are
multiples of 16 and ``intrinsics = [fx, fy, cx, cy]``; ``slam.is_initialized`` once its
first frames are in; the latest pose is the last row of ``poses_`` (on ``slam.pg`` in newer
releases), ``tx ty tz qx qy qz qw`` of ``T_cam_world``; ``slam.terminate()`` at the end.
A stand-in with this contract (``tests/fake_dpvo``) tests the adapter without a GPU.

Until DPVO has initialised (its first ~8 frames) the camera holds its first orientation,
flagged ``vo_lost``. Translation comes up to an unknown scale (``CameraState.t_up_to_scale``).
"""

from __future__ import annotations

import os

import numpy as np

from livehmr.core.errors import LivehmrError
from livehmr.core.types import CameraState, Flag, Frame, PersonKeypoints
from livehmr.stream.camera.static import initial_orientation


def _quat_xyzw_to_rotmat(q: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_quat(q).as_matrix()


class DpvoCamera:
    """DPVO behind the CameraMotion interface.

    Args:
        weights: path of ``dpvo.pth`` (default $LIVEHMR_DPVO_WEIGHTS).
        config: DPVO yaml config (default: the package's ``config/default.yaml`` if found).
        device: ``cuda`` (DPVO's kernels need it; tests pass ``cpu`` to the stand-in).
    """

    def __init__(self, weights: str | None = None, config: str | None = None, hfov_deg: float = 60.0,
                 device: str = "cuda"):  # fmt: skip
        try:
            import torch
            from dpvo.config import cfg  # pyright: ignore[reportMissingImports]  (optional: CUDA machines)
            from dpvo.dpvo import DPVO  # pyright: ignore[reportMissingImports]
        except ImportError as exc:
            raise LivehmrError(f"--camera dpvo needs the dpvo package ({exc}); see livehmr/stream/camera/dpvo.py for how to install it") from None
        if device == "cuda" and not torch.cuda.is_available():
            raise LivehmrError("--camera dpvo needs a CUDA GPU (DPVO's kernels are CUDA-only)")
        weights = weights or os.environ.get("LIVEHMR_DPVO_WEIGHTS")
        if not weights or not os.path.isfile(weights):
            raise LivehmrError("--camera dpvo needs DPVO's weights: set LIVEHMR_DPVO_WEIGHTS=/path/to/dpvo.pth")
        if config:
            cfg.merge_from_file(config)
        self._DPVO, self._cfg, self._weights = DPVO, cfg, weights
        self._torch = torch
        self.device = device
        self.hfov_deg = hfov_deg
        self.slam = None
        self.R_world_cam: np.ndarray | None = None
        self.R_world_cam0: np.ndarray | None = None
        self._restart_at: np.ndarray | None = None  # where a restarted graph begins

    def _intrinsics(self, frame: Frame, h: int, w: int) -> np.ndarray:
        K = frame.intrinsics(self.hfov_deg)
        return np.array([K[0, 0], K[1, 1], K[0, 2], K[1, 2]], dtype=np.float32)

    def update(self, frame: Frame, persons: list[PersonKeypoints]) -> CameraState:
        torch = self._torch
        H, W = frame.image.shape[:2]
        h, w = H - H % 16, W - W % 16  # DPVO's patch grid needs sides divisible by 16 (crop, not scale)
        if self.slam is None:
            self.slam = self._DPVO(self._cfg, self._weights, ht=h, wd=w, viz=False)
            self.R_world_cam0 = self._restart_at if self._restart_at is not None else initial_orientation(frame)
            self.R_world_cam = self.R_world_cam0.copy()
        assert self.R_world_cam is not None and self.R_world_cam0 is not None  # set with the graph
        rgb = np.ascontiguousarray(frame.image[:h, :w, ::-1])  # BGR -> RGB, as DPVO's streams give it
        image = torch.from_numpy(rgb).permute(2, 0, 1).to(self.device)
        intrinsics = torch.from_numpy(self._intrinsics(frame, h, w)).to(self.device)
        with torch.no_grad():
            self.slam(frame.index, image, intrinsics)
        if not getattr(self.slam, "is_initialized", False):
            return CameraState(self.R_world_cam.copy(), flags={Flag.VO_LOST})
        graph = getattr(self.slam, "pg", self.slam)
        n = int(self.slam.n)
        pose = graph.poses_[n - 1].detach().cpu().numpy().astype(np.float64)  # T_cam_world, tx ty tz qx qy qz qw
        R_cam_dpvo = _quat_xyzw_to_rotmat(pose[3:])
        t_cam_dpvo = pose[:3]
        R_dpvo_cam = R_cam_dpvo.T
        # DPVO's world is its first frame's camera (that pose is held at identity)
        self.R_world_cam = self.R_world_cam0 @ R_dpvo_cam
        t_up_to_scale = self.R_world_cam0 @ (-R_dpvo_cam @ t_cam_dpvo)
        return CameraState(self.R_world_cam.copy(), t_up_to_scale=t_up_to_scale)

    def reset(self, R_world_cam: np.ndarray | None = None) -> None:
        """A new DPVO graph whose first frame sits at ``R_world_cam`` (None: from gravity)."""
        self.close()
        self._restart_at = None if R_world_cam is None else R_world_cam.copy()

    def close(self) -> None:
        if self.slam is not None and getattr(self.slam, "is_initialized", False):
            self.slam.terminate()
        self.slam = None
