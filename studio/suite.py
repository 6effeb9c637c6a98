"""Studio suites: reproducible sets of rendered sequences with exact ground truth.

A suite folder holds ``suite.json`` (the recipe and every sequence's spec) and one
folder per sequence::

    video.mp4   the camera's frames (mp4v, 30 fps)
    gyro.csv    t,wx,wy,wz on the gyro's own clock (what ``--gyro`` reads), IMU axes
    truth.npz   ground truth, see :class:`SequenceTruth`
    spec.json   the spec it was made from (re-making it gives the same sequence)

Everything is drawn from one seed, so ``livehmr studio make --suite test`` makes the
same suite on every machine. Suites use the corpus' **test** subjects only unless
``--clips`` says otherwise.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from livehmr.core.errors import LivehmrError
from livehmr.core.geometry import IMU_PRESETS, invert_T, project, transform_points
from livehmr.models.anny_body import AnnyBody
from livehmr.models.skeleton import JOINT_NAMES
from livehmr.studio.camera_path import CAMERA_FAMILIES, GyroNoise, make_camera_path
from livehmr.studio.corpus import Corpus
from livehmr.studio.retarget import Retargeter, SmplMotion, foot_contacts
from livehmr.studio.scene import SyntheticScene, scatter_props

VISIBILITY_TOLERANCE_M = 0.2  # a joint is hidden when a surface lies this much in front of it


@dataclass
class SuiteRecipe:
    """How a named suite is drawn: ``sequences`` at least, ``min_minutes`` of motion at
    least, each up to ``seconds`` long; image sizes and camera families to draw from."""

    sequences: int
    seconds: float
    min_minutes: float = 0.0
    split: str = "test"
    sizes: tuple[tuple[int, int], ...] = ((640, 480), (640, 480), (640, 480), (1280, 720))
    cameras: tuple[str, ...] = CAMERA_FAMILIES
    min_clip_seconds: float = 4.0


SUITES = {
    "smoke": SuiteRecipe(sequences=3, seconds=4.0, sizes=((640, 480),), cameras=("handheld", "static", "whip")),
    "test": SuiteRecipe(sequences=40, seconds=30.0, min_minutes=20.0),
    # training subjects only: what the detector error model is measured on
    "detector": SuiteRecipe(sequences=8, seconds=20.0, split="train"),
}


@dataclass
class SequenceSpec:
    """Everything that makes one sequence (JSON-serialisable)."""

    name: str
    clip_id: str
    start: int
    frames: int
    phenotype: dict[str, float]
    camera: str
    hfov_deg: float
    size: tuple[int, int]
    light_dir: tuple[float, float, float]
    imu: str
    gyro_clock_offset_s: float
    gyro_dropout_rate_hz: float
    seed: int
    fps: float = 30.0


@dataclass
class SequenceTruth:
    """Ground truth of a sequence (``truth.npz``). T frames; world Z up, metres, floor z = 0.

    Attributes:
        fps, K (3, 3), size (W, H); times (T,) frame times on the frame clock, s.
        T_world_cam (T, 4, 4); joints_world (T, 24, 3); global_orient (T, 3), body_pose (T, 69),
        transl (T, 3), betas (10,) (Anny: phenotype in betas[:6]); rest_joints (24, 3) canon.
        contacts (T, 4) bool (left ankle, left toes, right ankle, right toes);
        joints_2d (T, 24, 2) pixels; visible (T, 24) bool (in the image and not hidden);
        R_cam_imu (3, 3); gyro_clock_offset_s (gyro clock - frame clock, s).
    """

    fps: float
    K: np.ndarray
    size: np.ndarray
    times: np.ndarray
    T_world_cam: np.ndarray
    joints_world: np.ndarray
    global_orient: np.ndarray
    body_pose: np.ndarray
    transl: np.ndarray
    betas: np.ndarray
    rest_joints: np.ndarray
    contacts: np.ndarray
    joints_2d: np.ndarray
    visible: np.ndarray
    R_cam_imu: np.ndarray
    gyro_clock_offset_s: float
    phenotype: dict[str, float] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        arrays = {k: v for k, v in asdict(self).items() if k != "phenotype"}
        np.savez_compressed(path, **arrays, phenotype=json.dumps(self.phenotype), joint_names=np.array(JOINT_NAMES))

    @classmethod
    def load(cls, path: str | Path) -> SequenceTruth:
        with np.load(path) as d:
            kw = {k: d[k] for k in cls.__dataclass_fields__ if k not in ("phenotype",)}
            kw["fps"] = float(kw["fps"])
            kw["gyro_clock_offset_s"] = float(kw["gyro_clock_offset_s"])
            return cls(**kw, phenotype=json.loads(str(d["phenotype"])))

    @property
    def num_frames(self) -> int:
        return len(self.times)


def _sample_phenotype(rng: np.random.Generator) -> dict[str, float]:
    """Adult Anny shapes: age 0.4-0.85 (about 20-70 years), the rest around the middle."""
    return {
        "gender": float(rng.uniform(0.0, 1.0)), "age": float(rng.uniform(0.4, 0.85)),
        "muscle": float(rng.uniform(0.25, 0.75)), "weight": float(rng.uniform(0.25, 0.75)),
        "height": float(rng.uniform(0.2, 0.8)), "proportions": float(rng.uniform(0.3, 0.7)),
    }  # fmt: skip


def draw_specs(recipe: SuiteRecipe, corpus: Corpus, clip_ids: list[str], seed: int, prefix: str) -> list[SequenceSpec]:
    """Draw sequence specs until the recipe's count and minutes are both reached."""
    rng = np.random.default_rng(seed)
    usable = [c for c in clip_ids if corpus.entries[c]["frames"] >= recipe.min_clip_seconds * corpus.fps]
    if not usable:
        raise LivehmrError(f"no clip of at least {recipe.min_clip_seconds} s among the {len(clip_ids)} selected")
    order = list(rng.permutation(usable))
    specs: list[SequenceSpec] = []
    minutes = 0.0
    while len(specs) < recipe.sequences or minutes < recipe.min_minutes:
        if not order:
            order = list(rng.permutation(usable))
        clip_id = str(order.pop())
        n = corpus.entries[clip_id]["frames"]
        frames = min(n, int(recipe.seconds * 30))
        start = int(rng.integers(0, n - frames + 1))
        i = len(specs)
        specs.append(SequenceSpec(
            name=f"{prefix}_{i:03d}", clip_id=clip_id, start=start, frames=frames, phenotype=_sample_phenotype(rng),
            camera=recipe.cameras[i % len(recipe.cameras)], hfov_deg=float(rng.uniform(60, 80)),
            size=recipe.sizes[int(rng.integers(len(recipe.sizes)))],
            light_dir=(float(rng.uniform(-0.6, 0.6)), float(rng.uniform(-0.6, 0.6)), float(rng.uniform(0.5, 1.0))),
            imu=str(rng.choice(["identity", "android-portrait", "android-landscape"])),
            gyro_clock_offset_s=float(rng.uniform(-0.05, 0.05)), gyro_dropout_rate_hz=float(rng.choice([0.0, 0.05, 0.1])),
            seed=int(rng.integers(2**31)),
        ))  # fmt: skip
        minutes += frames / 30 / 60
    return specs


def build_scene(spec: SequenceSpec, corpus: Corpus, retargeter: Retargeter) -> tuple[SyntheticScene, SmplMotion]:
    """The scene of a spec: body, retargeted motion stretch (pelvis starting over the origin),
    camera path, props, lighting and gyro model."""
    rng = np.random.default_rng(spec.seed)
    body = AnnyBody(spec.phenotype)
    motion = retargeter.retarget(corpus.load(spec.clip_id), body).segment(spec.start, spec.start + spec.frames)
    pelvis = motion.transl + body.rest_joints[0]
    shift = np.array([pelvis[0, 0], pelvis[0, 1], 0.0])
    motion.transl = motion.transl - shift
    pelvis = pelvis - shift

    frame_times = np.arange(len(pelvis)) / spec.fps

    def target(t: float) -> np.ndarray:
        # continuous in t: the camera path (and so the gyro, its derivative) must be smooth
        return np.array([np.interp(t, frame_times, pelvis[:, k]) for k in range(3)])

    extent = float(np.ptp(pelvis[:, :2], axis=0).max())
    camera = make_camera_path(spec.camera, target, rng, extent_m=extent)
    cam_path = np.array([camera.T_world_cam(t)[:2, 3] for t in np.arange(0, spec.frames / spec.fps, 0.5)])
    keep_clear = np.concatenate([pelvis[::15, :2], cam_path])

    def blocked(xy: np.ndarray) -> bool:
        return bool(np.min(np.linalg.norm(keep_clear - xy, axis=1)) < 2.5)

    props = scatter_props(rng, pelvis.mean(axis=0), count=int(rng.integers(4, 9)), avoid=blocked)
    noise = GyroNoise(clock_offset=spec.gyro_clock_offset_s, dropout_rate_hz=spec.gyro_dropout_rate_hz,
                      bias=tuple(rng.normal(0.0, 0.004, size=3)))  # fmt: skip
    scene = SyntheticScene(body=body, motion=motion, camera=camera, size=(int(spec.size[0]), int(spec.size[1])), hfov_deg=spec.hfov_deg,
                           fps=spec.fps, duration=spec.frames / spec.fps, gyro_noise=noise, seed=spec.seed % 10000,
                           props=props, light_dir=spec.light_dir, R_cam_imu=IMU_PRESETS[spec.imu])  # fmt: skip
    return scene, motion


def make_sequence(spec: SequenceSpec, corpus: Corpus, retargeter: Retargeter, out: Path, progress=None) -> SequenceTruth:
    """Render one sequence into ``out`` (video.mp4, gyro.csv, truth.npz, spec.json)."""
    out.mkdir(parents=True, exist_ok=True)
    scene, motion = build_scene(spec, corpus, retargeter)
    W, H = scene.size
    writer = cv2.VideoWriter(str(out / "video.mp4"), cv2.VideoWriter.fourcc(*"mp4v"), spec.fps, (W, H))
    if not writer.isOpened():
        raise LivehmrError(f"cannot write {out / 'video.mp4'} (OpenCV has no mp4v encoder?)")
    T = spec.frames
    T_world_cam = np.zeros((T, 4, 4))
    joints = np.zeros((T, 24, 3))
    joints_2d = np.zeros((T, 24, 2))
    visible = np.zeros((T, 24), bool)
    try:
        for i in range(T):
            truth = scene.truth(i)
            image, depth = scene.render_with_depth(truth)
            writer.write(image)
            T_world_cam[i], joints[i] = truth.T_world_cam, truth.joints_world
            cam = transform_points(invert_T(truth.T_world_cam), truth.joints_world)
            uv = project(cam, scene.K)
            joints_2d[i] = np.nan_to_num(uv, nan=-1.0)  # NaN: behind the camera
            px = np.round(np.clip(np.nan_to_num(uv, nan=-1.0), -1e6, 1e6)).astype(int)
            inside = (cam[:, 2] > 0.1) & (px[:, 0] >= 0) & (px[:, 0] < W) & (px[:, 1] >= 0) & (px[:, 1] < H)
            surface = np.where(inside, depth[np.clip(px[:, 1], 0, H - 1), np.clip(px[:, 0], 0, W - 1)], 0.0)
            visible[i] = inside & (surface > cam[:, 2] - VISIBILITY_TOLERANCE_M)
            if progress is not None:
                progress.update(1)
    finally:
        writer.release()
    with (out / "gyro.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t", "wx", "wy", "wz"])
        w.writerows((f"{r[0]:.6f}", f"{r[1]:.6f}", f"{r[2]:.6f}", f"{r[3]:.6f}") for r in scene.gyro())
    truth = SequenceTruth(
        fps=spec.fps, K=scene.K, size=np.array(scene.size), times=np.arange(T) / spec.fps, T_world_cam=T_world_cam,
        joints_world=joints, global_orient=motion.global_orient, body_pose=motion.body_pose, transl=motion.transl,
        betas=scene.body.betas, rest_joints=scene.body.rest_joints, contacts=foot_contacts(joints, scene.body, spec.fps),
        joints_2d=joints_2d, visible=visible, R_cam_imu=scene.R_cam_imu, gyro_clock_offset_s=spec.gyro_clock_offset_s,
        phenotype=scene.body.phenotype,
    )  # fmt: skip
    truth.save(out / "truth.npz")
    (out / "spec.json").write_text(json.dumps(asdict(spec), indent=1))
    return truth


def make_suite(name: str, out: str | Path, corpus_dir: str | Path | None = None, clips: str | None = None,
               seed: int = 0, limit: int | None = None) -> Path:  # fmt: skip
    """Generate suite ``name`` (see :data:`SUITES`) into ``out``; returns the suite folder.
    Sequences already rendered from the same spec are kept (an interrupted run resumes)."""
    if name not in SUITES:
        raise LivehmrError(f"unknown suite {name!r}; choose from {', '.join(SUITES)}")
    recipe = SUITES[name]
    corpus = Corpus(corpus_dir)
    clip_ids = corpus.ids(clips or recipe.split)
    specs = draw_specs(recipe, corpus, clip_ids, seed=seed, prefix=name)[:limit]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = dict(suite=name, seed=seed, corpus=str(corpus.root), clips=clips or recipe.split,
                    recipe=asdict(recipe), sequences=[asdict(s) for s in specs])  # fmt: skip
    (out / "suite.json").write_text(json.dumps(manifest, indent=1))
    retargeter = Retargeter(corpus)
    todo = [s for s in specs if not _is_done(out / s.name, s)]
    with tqdm(total=sum(s.frames for s in todo), desc=f"studio {name}", unit="frame") as bar:
        for spec in todo:
            bar.set_postfix_str(f"{spec.name} {spec.clip_id} {spec.camera}")
            make_sequence(spec, corpus, retargeter, out / spec.name, progress=bar)
    return out


def _is_done(folder: Path, spec: SequenceSpec) -> bool:
    spec_file = folder / "spec.json"
    return spec_file.is_file() and json.loads(spec_file.read_text()) == json.loads(json.dumps(asdict(spec)))


def load_suite(folder: str | Path) -> list[tuple[SequenceSpec, Path]]:
    """(spec, folder) of every rendered sequence of a suite, in order."""
    folder = Path(folder)
    manifest_path = folder / "suite.json"
    if not manifest_path.is_file():
        raise LivehmrError(f"{folder} is not a studio suite (no suite.json); make one with `livehmr studio make`")
    manifest = json.loads(manifest_path.read_text())
    found = []
    for s in manifest["sequences"]:
        spec = SequenceSpec(**{**s, "size": tuple(s["size"]), "light_dir": tuple(s["light_dir"])})
        if (folder / spec.name / "truth.npz").is_file():
            found.append((spec, folder / spec.name))
    if not found:
        raise LivehmrError(f"suite {folder} has no rendered sequences yet")
    return found
