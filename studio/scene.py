"""A synthetic scene: an Anny body in motion (and optionally others beside it), props
around it, seen by a moving camera.

:func:`default_scene` is livehmr's embedded default input (``livehmr demo``);
:func:`crowd_scene` puts several people in view (``livehmr demo --people N``); the
studio (:mod:`livehmr.studio.suite`) builds scenes from captured motion. A scene knows
its ground truth exactly at every time ``t``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from livehmr.core.geometry import intrinsics_from_fov
from livehmr.models.anny_body import AnnyBody
from livehmr.models.body import SmplParams, body_joints
from livehmr.models.skeleton import JOINT
from livehmr.studio.camera_path import AccelNoise, GyroNoise, HandheldFollow, Tripod, simulate_gyro, simulate_imu
from livehmr.studio.render import Mesh, render
from livehmr.studio.walk import CircleWalk

# Clothing regions by the SMPL joint that drives a vertex most (BGR, 0..1).
_SKIN = (0.55, 0.65, 0.85)
_REGION_COLORS = {
    "shirt": (0.65, 0.35, 0.2),
    "pants": (0.25, 0.22, 0.2),
    "shoes": (0.1, 0.1, 0.12),
    "skin": _SKIN,
}
_REGION_OF_JOINT = {
    **{j: "shirt" for j in ("spine1", "spine2", "spine3", "left_collar", "right_collar",
                            "left_shoulder", "right_shoulder")},
    **{j: "pants" for j in ("pelvis", "left_hip", "right_hip", "left_knee", "right_knee")},
    **{j: "shoes" for j in ("left_ankle", "right_ankle", "left_foot", "right_foot")},
}  # fmt: skip


def clothing_colors(body: AnnyBody) -> np.ndarray:
    """(V, 3) BGR vertex colours: shirt, trousers, shoes and skin from the skinning weights."""
    bone_index = body.model.vertex_bone_indices.numpy()
    bone_weight = body.model.vertex_bone_weights.numpy()
    dominant_bone = bone_index[np.arange(len(bone_index)), bone_weight.argmax(1)]
    joint_of_vertex = body.bone_joint[dominant_bone]
    names = {i: n for n, i in JOINT.items()}
    colors = np.array([_REGION_COLORS[_REGION_OF_JOINT.get(names[j], "skin")] for j in range(24)])
    return colors[joint_of_vertex]


@dataclass
class FrameTruth:
    """Ground truth of one frame. Units: metres, radians, pixels."""

    t: float
    params: SmplParams
    joints_world: np.ndarray  # (24, 3)
    T_world_cam: np.ndarray  # (4, 4)
    K: np.ndarray  # (3, 3)
    others: list[SmplParams] = field(default_factory=list)  # the scene's other people, in order
    others_joints: list[np.ndarray] = field(default_factory=list)  # their (24, 3) joints


class Motion(Protocol):
    """Anything that poses a body at time t (CircleWalk, a retargeted clip)."""

    def params(self, t: float, body: AnnyBody) -> SmplParams: ...


@dataclass
class Actor:
    """Another person in a scene: a body, what moves it, its clothes (V, 3) BGR."""

    body: AnnyBody
    motion: Motion
    colors: np.ndarray


class CameraPath(Protocol):
    def T_world_cam(self, t: float) -> np.ndarray: ...


def textured_box(center: tuple[float, float, float], size: tuple[float, float, float], yaw: float,
                 rng: np.random.Generator, cell: float = 0.25) -> Mesh:  # fmt: skip
    """An axis-aligned-then-yawed box (no bottom) whose faces are a grid of random colour
    cells: the texture visual odometry needs. ``center`` is the bottom centre, metres."""
    base = rng.uniform(0.25, 0.8, size=3)
    vertices, faces, colors = [], [], []
    hx, hy, h = size[0] / 2, size[1] / 2, size[2]
    sides = [  # each face: a corner and its two edge vectors, in box axes
        ((-hx, -hy, 0), (2 * hx, 0, 0), (0, 0, h)), ((hx, hy, 0), (-2 * hx, 0, 0), (0, 0, h)),
        ((hx, -hy, 0), (0, 2 * hy, 0), (0, 0, h)), ((-hx, hy, 0), (0, -2 * hy, 0), (0, 0, h)),
        ((-hx, -hy, h), (2 * hx, 0, 0), (0, 2 * hy, 0)),
    ]  # fmt: skip
    c, s_ = np.cos(yaw), np.sin(yaw)
    R = np.array([[c, -s_, 0.0], [s_, c, 0.0], [0.0, 0.0, 1.0]])
    for o, u, v in sides:
        o, u, v = np.array(o, float), np.array(u, float), np.array(v, float)
        nu = max(1, int(np.linalg.norm(u) / cell))
        nv = max(1, int(np.linalg.norm(v) / cell))
        for i in range(nu):
            for j in range(nv):
                corners = [o + u * (i + a) / nu + v * (j + b) / nv for a, b in ((0, 0), (1, 0), (1, 1), (0, 1))]
                k = len(vertices)
                vertices += corners
                faces += [(k, k + 1, k + 2), (k, k + 2, k + 3)]
                colors += [np.clip(base * rng.uniform(0.5, 1.3), 0, 1)] * 4
    world = np.array(vertices) @ R.T + np.asarray(center)
    return Mesh(world, np.array(faces, np.int32), np.array(colors))


def scatter_props(rng: np.random.Generator, around: np.ndarray, count: int = 6, clear_radius: float = 3.0,
                  avoid: Callable[[np.ndarray], bool] | None = None) -> list[Mesh]:  # fmt: skip
    """``count`` textured boxes and walls 4-14 m from ``around`` (x, y), none within
    ``clear_radius`` of it or where ``avoid(xy)`` is true (e.g. the camera's spot)."""
    props = []
    while len(props) < count:
        a, r = rng.uniform(-np.pi, np.pi), rng.uniform(4.0, 14.0)
        xy = np.asarray(around[:2]) + r * np.array([np.cos(a), np.sin(a)])
        if r < clear_radius or (avoid is not None and avoid(xy)):
            continue
        wall = rng.random() < 0.4
        size = (rng.uniform(2.5, 5.0), 0.3, rng.uniform(2.0, 3.0)) if wall else tuple(rng.uniform(0.6, 1.8, size=3))
        props.append(textured_box((xy[0], xy[1], 0.0), size, rng.uniform(-np.pi, np.pi), rng))
    return props


@dataclass
class SyntheticScene:
    """Everything needed to render and know a synthetic sequence.

    ``motion`` poses ``body`` at time t; ``camera`` gives ``T_world_cam(t)``; ``props`` are
    static textured meshes; the gyroscope is mounted with ``R_cam_imu``.
    """

    body: AnnyBody
    motion: Motion
    camera: CameraPath
    size: tuple[int, int] = (640, 480)
    hfov_deg: float = 70.0
    fps: float = 30.0
    duration: float = 20.0
    gyro_rate_hz: float = 200.0
    gyro_noise: GyroNoise = field(default_factory=GyroNoise)
    accel_noise: AccelNoise = field(default_factory=AccelNoise)
    seed: int = 0
    props: list[Mesh] = field(default_factory=list)
    light_dir: tuple[float, float, float] = (0.4, -0.3, 0.86)
    R_cam_imu: np.ndarray = field(default_factory=lambda: np.eye(3))
    colors: np.ndarray | None = None
    others: list[Actor] = field(default_factory=list)

    def __post_init__(self):
        self.K = intrinsics_from_fov(*self.size, self.hfov_deg)
        if self.colors is None:
            self.colors = clothing_colors(self.body)

    @property
    def body_colors(self) -> np.ndarray:
        """(V, 3) BGR vertex colours in [0, 1] of the main body (``colors``, else its clothing)."""
        assert self.colors is not None  # filled in by __post_init__
        return self.colors

    @property
    def num_frames(self) -> int:
        return int(round(self.duration * self.fps))

    def truth(self, index: int) -> FrameTruth:
        t = index / self.fps
        params = self.motion.params(t, self.body)
        others = [a.motion.params(t, a.body) for a in self.others]
        return FrameTruth(t, params, body_joints(self.body, params), self.camera.T_world_cam(t), self.K, others,
                          [body_joints(a.body, p) for a, p in zip(self.others, others)])  # fmt: skip

    def render(self, truth: FrameTruth) -> np.ndarray:
        """The camera image (H, W, 3) uint8 BGR of a frame."""
        image, _ = self.render_with_depth(truth)
        return image

    def render_with_depth(self, truth: FrameTruth) -> tuple[np.ndarray, np.ndarray]:
        """Image (H, W, 3) uint8 BGR and depth (H, W) metres along the optical axis."""
        meshes = [Mesh(*self.body.mesh(truth.params), self.body_colors), *self.props]
        meshes += [Mesh(*a.body.mesh(p), a.colors) for a, p in zip(self.others, truth.others)]
        return render(self.K, truth.T_world_cam, self.size, meshes, seed=self.seed + 7, light_dir=self.light_dir)

    def gyro(self) -> np.ndarray:
        """Simulated gyroscope samples (N, 4): t (gyro clock, s), wx, wy, wz (rad/s, IMU = camera axes)."""
        return simulate_gyro(self.camera.T_world_cam, self.duration, self.gyro_rate_hz, R_cam_imu=self.R_cam_imu,
                             noise=self.gyro_noise, seed=self.seed)  # fmt: skip

    def imu(self) -> np.ndarray:
        """Simulated gyroscope and accelerometer samples (N, 7): t (IMU clock, s), wx, wy, wz
        (rad/s), ax, ay, az (m/s^2 specific force), IMU axes; the gyro columns are :meth:`gyro`'s."""
        return simulate_imu(self.camera.T_world_cam, self.duration, self.gyro_rate_hz, R_cam_imu=self.R_cam_imu,
                            noise=self.gyro_noise, accel_noise=self.accel_noise, seed=self.seed)  # fmt: skip


def default_scene(duration: float = 20.0, seed: int = 0) -> SyntheticScene:
    """The embedded default: an average Anny adult walking a 1.5 m-radius circle, filmed handheld."""
    body = AnnyBody()
    walk = CircleWalk()

    def pelvis(t: float) -> np.ndarray:
        xy, _ = walk.root_xy(t)
        return np.array([xy[0], xy[1], 1.0])

    return SyntheticScene(body=body, motion=walk, camera=HandheldFollow(target=pelvis), duration=duration, seed=seed)


#: Phenotypes and shirt colours (BGR) of the people :func:`crowd_scene` adds.
_CROWD = (
    ({"gender": 0.1, "height": 0.35}, (0.2, 0.55, 0.75)),
    ({"gender": 0.9, "height": 0.7}, (0.3, 0.6, 0.25)),
    ({"gender": 0.6, "height": 0.5, "weight": 0.7}, (0.7, 0.7, 0.7)),
)


def crowd_scene(people: int = 3, duration: float = 20.0, seed: int = 0) -> SyntheticScene:
    """``people`` (1-4) walking side by side on circles in front of a tripod camera; their paths
    pass in front of one another, so the tracker meets occlusions and crossings."""
    if not 1 <= people <= 1 + len(_CROWD):
        raise ValueError(f"crowd_scene takes 1 to {1 + len(_CROWD)} people, not {people}")
    walks = [CircleWalk(center=(4.3 + 0.8 * (i % 2), 1.4 * (i - (people - 1) / 2)), radius=1.1 + 0.2 * i,
                        speed=0.9 + 0.15 * i, start_angle=np.pi + 1.3 * i) for i in range(people)]  # fmt: skip
    others = []
    for (phenotype, shirt), walk in zip(_CROWD, walks[1:]):
        body = AnnyBody(phenotype)
        colors = clothing_colors(body)
        shirt_of_vertex = np.all(np.isclose(colors, _REGION_COLORS["shirt"]), axis=1)
        colors[shirt_of_vertex] = shirt
        others.append(Actor(body, walk, colors))
    back = 0.0 if people <= 3 else 1.8  # four need a wider view
    camera = Tripod(target=lambda t: np.array([4.5, 0.0, 1.0]), eye=(0.5 - back, 0.0, 1.4))
    return SyntheticScene(body=AnnyBody(), motion=walks[0], camera=camera, duration=duration, seed=seed,
                          hfov_deg=75.0, others=others)  # fmt: skip
