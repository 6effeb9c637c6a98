"""DPVO's incremental contract, minus the network: shapes checked, poses from a known path."""

import numpy as np
import torch
from scipy.spatial.transform import Rotation

TRAJECTORY: list = []  # R_world_cam per frame, set by the test
INSTANCES: list = []


class _Graph:
    def __init__(self, buffer):
        self.poses_ = torch.zeros(buffer, 7)
        self.poses_[:, 6] = 1.0


class DPVO:
    def __init__(self, cfg, network, ht=480, wd=640, viz=False):
        assert ht % 16 == 0 and wd % 16 == 0, "DPVO needs sides divisible by 16"
        self.cfg, self.network, self.ht, self.wd = cfg, network, ht, wd
        self.pg = _Graph(64)
        self.counter = 0
        self.n = 0
        self.is_initialized = False
        self.terminated = False
        self.calls = []
        INSTANCES.append(self)

    def __call__(self, tstamp, image, intrinsics):
        assert image.dtype == torch.uint8 and tuple(image.shape) == (3, self.ht, self.wd), image.shape
        assert tuple(intrinsics.shape) == (4,)
        self.calls.append((tstamp, intrinsics.clone()))
        R0 = TRAJECTORY[0]
        R_dpvo_cam = R0.T @ TRAJECTORY[self.counter]  # DPVO's world: the first camera
        R_cam_dpvo = R_dpvo_cam.T
        slot = min(self.counter, len(self.pg.poses_) - 1)
        self.pg.poses_[slot, :3] = torch.tensor([0.1 * self.counter, 0.0, 0.0])  # t_cam_world
        self.pg.poses_[slot, 3:] = torch.tensor(Rotation.from_matrix(R_cam_dpvo).as_quat(), dtype=torch.float32)
        self.counter += 1
        self.n = slot + 1
        self.is_initialized = self.counter >= 8

    def terminate(self):
        assert self.is_initialized
        self.terminated = True
        return np.zeros((self.counter, 7)), np.arange(self.counter, dtype=float)
