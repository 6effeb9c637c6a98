"""Studio suites: reproducible sets of rendered sequences with exact ground truth.

A suite folder holds ``suite.json`` (the recipe and every sequence's spec) and one
folder per sequence::

    video.mp4   the camera's frames (mp4v, 30 fps)
    gyro.csv    t,wx,wy,wz,ax,ay,az on the IMU's own clock (what ``--gyro`` reads), IMU axes:
                the gyroscope (rad/s) and the accelerometer's specific force (m/s^2, +g up at rest)
    truth.npz   ground truth, see :class:`SequenceTruth`
    spec.json   the spec it was made from (re-making it gives the same sequence)

Everything is drawn from one seed, so ``livehmr studio make --suite test`` makes the
same suite on every machine. Suites use the corpus' **test** subjects only (``val``: the
validation subjects, drawn with the test suite's recipe) unless ``--clips`` says otherwise.

The travelling families (``follow``, ``dolly``, ``robot``) film a subject who covers
ground: a gait cycle of a clip that moves at 1 m/s or more, looped
(:mod:`livehmr.studio.locomotion`), since the capture volume cuts every run short. A
sequence whose person is visible in fewer than half its frames (a prop in the way, a
camera that lost them) is re-drawn with a new camera and props (``redraw`` in its spec).
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from livehmr.core.errors import LivehmrError
from livehmr.core.geometry import IMU_PRESETS, invert_T, project, transform_points
from livehmr.models.anny_body import AnnyBody
from livehmr.models.skeleton import JOINT_NAMES
from livehmr.studio.camera_path import (
    CAMERA_FAMILIES,
    TRAVELLING_FAMILIES,
    AccelNoise,
    GyroNoise,
    SmoothPath,
    make_camera_path,
)  # fmt: skip
from livehmr.studio.corpus import Corpus
from livehmr.studio.locomotion import GaitCycle, find_gait_cycle, ground_speed, loop_gait
from livehmr.studio.retarget import Retargeter, SmplMotion, foot_contacts
from livehmr.studio.scene import SyntheticScene, scatter_props

VISIBILITY_TOLERANCE_M = 0.2  # a joint is hidden when a surface lies this much in front of it
MIN_VISIBLE_SHARE = 0.5  # a sequence must show its person in at least this share of frames
MAX_REDRAWS = 6


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
    #: travelling families: the looped gait's length, s (uniform), and its steady turn, deg per cycle
    travelling_seconds: tuple[float, float] = (10.0, 20.0)
    max_turn_deg: float = 4.0
    min_travel_speed: float = 1.0  # m/s, a gait cycle's mean ground speed


#: the camera families in the order sequences cycle through them: travelling first, so a
#: suite of any length has at least a third of them
SUITE_CAMERAS = (*TRAVELLING_FAMILIES, *(f for f in CAMERA_FAMILIES if f not in TRAVELLING_FAMILIES))
TEST_RECIPE = SuiteRecipe(sequences=45, seconds=30.0, min_minutes=20.0, cameras=SUITE_CAMERAS)

SUITES = {
    "smoke": SuiteRecipe(sequences=3, seconds=4.0, sizes=((640, 480),), cameras=("handheld", "static", "whip")),
    "test": TEST_RECIPE,
    # the test suite's recipe on the validation subjects: what models and settings are tuned on
    "val": SuiteRecipe(**{**asdict(TEST_RECIPE), "sequences": 36, "min_minutes": 0.0, "split": "val"}),
    # training subjects only: what the detector error model is measured on
    "detector": SuiteRecipe(sequences=8, seconds=20.0, split="train"),
    # training subjects covering ground, filmed by the travelling cameras: what BlazePose's 3D
    # landmarks do to a runner's legs (the gait part of the 3D error model) is measured on it
    "detector-gait": SuiteRecipe(sequences=15, seconds=12.0, split="train", cameras=TRAVELLING_FAMILIES,
                                 sizes=((640, 480), (640, 480), (1280, 720)), travelling_seconds=(8.0, 12.0)),
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
    #: travelling families: the looped gait cycle [start, stop) of the clip, its steady turn (deg per cycle)
    gait_cycle: tuple[int, int] | None = None
    turn_deg: float = 0.0
    #: times the camera and props were re-drawn because the person was too rarely visible
    redraw: int = 0


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

    @property
    def ground_speed(self) -> np.ndarray:
        """(T-1,) the subject's true ground speed between frames, m/s (pelvis, smoothed over 0.15 s)."""
        return ground_speed(self.joints_world[:, 0, :2], self.fps)

    @property
    def person_visible(self) -> np.ndarray:
        """(T,) whether at least half of the person's 24 joints are visible in each frame."""
        return self.visible.sum(axis=1) >= 12


def _sample_phenotype(rng: np.random.Generator) -> dict[str, float]:
    """Adult Anny shapes: age 0.4-0.85 (about 20-70 years), the rest around the middle."""
    return {
        "gender": float(rng.uniform(0.0, 1.0)), "age": float(rng.uniform(0.4, 0.85)),
        "muscle": float(rng.uniform(0.25, 0.75)), "weight": float(rng.uniform(0.25, 0.75)),
        "height": float(rng.uniform(0.2, 0.8)), "proportions": float(rng.uniform(0.3, 0.7)),
    }  # fmt: skip


def gait_cycles(corpus: Corpus, clip_ids: list[str], min_speed: float) -> dict[str, GaitCycle]:
    """Every clip among ``clip_ids`` with a loopable gait cycle of at least ``min_speed`` m/s."""
    cycles = {}
    for clip_id in tqdm(clip_ids, desc="gait cycles", unit="clip", leave=False):
        cycle = find_gait_cycle(corpus.load(clip_id), min_speed=min_speed)
        if cycle is not None:
            cycles[clip_id] = cycle
    return cycles


def draw_specs(recipe: SuiteRecipe, corpus: Corpus, clip_ids: list[str], seed: int, prefix: str) -> list[SequenceSpec]:
    """Draw sequence specs until the recipe's count and minutes are both reached."""
    rng = np.random.default_rng(seed)
    usable = [c for c in clip_ids if corpus.entries[c]["frames"] >= recipe.min_clip_seconds * corpus.fps]
    if not usable:
        raise LivehmrError(f"no clip of at least {recipe.min_clip_seconds} s among the {len(clip_ids)} selected")
    order = list(rng.permutation(usable))
    cycles: dict[str, GaitCycle] = {}
    if any(c in TRAVELLING_FAMILIES for c in recipe.cameras):
        cycles = gait_cycles(corpus, sorted(clip_ids), recipe.min_travel_speed)
        if not cycles:
            raise LivehmrError(f"no clip among the {len(clip_ids)} selected moves at {recipe.min_travel_speed} m/s "
                               "for a whole gait cycle: the travelling camera families need one")  # fmt: skip
    travel_order: list[str] = []
    specs: list[SequenceSpec] = []
    minutes = 0.0
    while len(specs) < recipe.sequences or minutes < recipe.min_minutes:
        i = len(specs)
        camera = recipe.cameras[i % len(recipe.cameras)]
        gait_cycle, turn_deg = None, 0.0
        if camera in TRAVELLING_FAMILIES:
            if not travel_order:
                travel_order = list(rng.permutation(sorted(cycles)))
            clip_id = str(travel_order.pop())
            cycle = cycles[clip_id]
            gait_cycle, turn_deg = (cycle.start, cycle.stop), float(rng.uniform(-1, 1) * recipe.max_turn_deg)
            start, frames = 0, int(rng.uniform(*recipe.travelling_seconds) * 30)
        else:
            if not order:
                order = list(rng.permutation(usable))
            clip_id = str(order.pop())
            n = corpus.entries[clip_id]["frames"]
            frames = min(n, int(recipe.seconds * 30))
            start = int(rng.integers(0, n - frames + 1))
        specs.append(SequenceSpec(
            name=f"{prefix}_{i:03d}", clip_id=clip_id, start=start, frames=frames, phenotype=_sample_phenotype(rng),
            camera=camera, hfov_deg=float(rng.uniform(60, 80)),
            size=recipe.sizes[int(rng.integers(len(recipe.sizes)))],
            light_dir=(float(rng.uniform(-0.6, 0.6)), float(rng.uniform(-0.6, 0.6)), float(rng.uniform(0.5, 1.0))),
            imu=str(rng.choice(["identity", "android-portrait", "android-landscape"])),
            gyro_clock_offset_s=float(rng.uniform(-0.05, 0.05)), gyro_dropout_rate_hz=float(rng.choice([0.0, 0.05, 0.1])),
            seed=int(rng.integers(2**31)), gait_cycle=gait_cycle, turn_deg=turn_deg,
        ))  # fmt: skip
        minutes += frames / 30 / 60
    return specs


def build_scene(spec: SequenceSpec, corpus: Corpus, retargeter: Retargeter) -> tuple[SyntheticScene, SmplMotion]:
    """The scene of a spec: body, retargeted motion stretch (pelvis starting over the origin),
    camera path, props, lighting and gyro model."""
    rng = np.random.default_rng(spec.seed)
    body = AnnyBody(spec.phenotype)
    clip = corpus.load(spec.clip_id)
    if spec.gait_cycle is not None:
        start, stop = spec.gait_cycle
        clip = loop_gait(clip, GaitCycle(start, stop, 0.0, 0.0), spec.start + spec.frames, turn_deg=spec.turn_deg)
    motion = retargeter.retarget(clip, body).segment(spec.start, spec.start + spec.frames)
    pelvis = motion.transl + body.rest_joints[0]
    shift = np.array([pelvis[0, 0], pelvis[0, 1], 0.0])
    motion.transl = motion.transl - shift
    pelvis = pelvis - shift

    duration = spec.frames / spec.fps
    # the cameras aim at (and travel with) the pelvis smoothed over a tenth of a second and
    # made C2, so the camera's acceleration (what the accelerometer reads) is defined
    target = SmoothPath(np.arange(len(pelvis)) / spec.fps, pelvis, sigma_s=0.1)
    extent = float(np.ptp(pelvis[:, :2], axis=0).max())
    camera = make_camera_path(spec.camera, target, rng, extent_m=extent, duration=duration)
    times = np.arange(0, duration, 0.5)
    cam_path = np.array([camera.T_world_cam(t)[:2, 3] for t in times])
    subject = np.array([target(t)[:2] for t in times])
    # props stay off the subject's path, the camera's, and the line of sight between them
    sight = [cam_path + f * (subject - cam_path) for f in (0.25, 0.5, 0.75)]
    keep_clear = np.concatenate([pelvis[::15, :2], cam_path, *sight])

    def blocked(xy: np.ndarray) -> bool:
        return bool(np.min(np.linalg.norm(keep_clear - xy, axis=1)) < 2.5)

    if spec.camera in TRAVELLING_FAMILIES:
        # the scenery runs along the route (every ~8 m), as a street or a track's does
        travelled = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pelvis[:, :2], axis=0), axis=1))])
        stops = [pelvis[np.searchsorted(travelled, d)] for d in np.arange(0.0, travelled[-1] + 1e-9, 8.0)]
        props = [p for stop in stops for p in scatter_props(rng, stop, count=int(rng.integers(2, 5)), avoid=blocked)]
    else:
        props = scatter_props(rng, pelvis.mean(axis=0), count=int(rng.integers(4, 9)), avoid=blocked)
    noise = GyroNoise(clock_offset=spec.gyro_clock_offset_s, dropout_rate_hz=spec.gyro_dropout_rate_hz,
                      bias=tuple(rng.normal(0.0, 0.004, size=3)))  # fmt: skip
    accel_noise = AccelNoise(bias=tuple(rng.normal(0.0, 0.04, size=3)))
    scene = SyntheticScene(body=body, motion=motion, camera=camera, size=(int(spec.size[0]), int(spec.size[1])), hfov_deg=spec.hfov_deg,
                           fps=spec.fps, duration=duration, gyro_noise=noise, seed=spec.seed % 10000, props=props,
                           light_dir=spec.light_dir, R_cam_imu=IMU_PRESETS[spec.imu], accel_noise=accel_noise)  # fmt: skip
    return scene, motion


def make_sequence(spec: SequenceSpec, corpus: Corpus, retargeter: Retargeter, out: Path, progress=None) -> SequenceTruth:
    """Render one sequence into ``out`` (video.mp4, gyro.csv with the accelerometer, truth.npz, spec.json)."""
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
        w.writerow(["t", "wx", "wy", "wz", "ax", "ay", "az"])
        w.writerows([f"{r[0]:.6f}", *(f"{v:.6f}" for v in r[1:4]), *(f"{v:.5f}" for v in r[4:7])] for r in scene.imu())
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
    final: list[SequenceSpec] = []
    with tqdm(total=sum(s.frames for s in specs), desc=f"studio {name}", unit="frame") as bar:
        for spec in specs:
            bar.set_postfix_str(f"{spec.name} {spec.clip_id} {spec.camera}")
            final.append(_make_visible_sequence(spec, corpus, retargeter, out / spec.name, bar))
    manifest["sequences"] = [asdict(s) for s in final]
    manifest["summary"] = suite_summary(out, final)
    (out / "suite.json").write_text(json.dumps(manifest, indent=1))
    return out


def redrawn(spec: SequenceSpec, attempt: int) -> SequenceSpec:
    """The spec with its camera and props drawn anew (``attempt`` > 0), same clip and body."""
    if attempt == 0:
        return spec
    return replace(spec, redraw=attempt, seed=int(np.random.default_rng([spec.seed, attempt]).integers(2**31)))


def _make_visible_sequence(spec: SequenceSpec, corpus: Corpus, retargeter: Retargeter, out: Path, bar) -> SequenceSpec:
    """Render ``spec`` (or keep it, rendered before), re-drawn until its person is visible in
    at least :data:`MIN_VISIBLE_SHARE` of the frames; returns the spec that was kept."""
    first = 0  # a resumed run starts from the re-draw it had kept (the earlier ones failed)
    if (out / "spec.json").is_file():
        stored = json.loads((out / "spec.json").read_text()).get("redraw", 0)
        first = stored if 0 < stored <= MAX_REDRAWS and _is_done(out, redrawn(spec, stored)) else 0
    for attempt in range(first, MAX_REDRAWS + 1):
        candidate = redrawn(spec, attempt)
        if _is_done(out, candidate):
            truth = SequenceTruth.load(out / "truth.npz")
            bar.update(candidate.frames)
        else:
            truth = make_sequence(candidate, corpus, retargeter, out, progress=bar)
        share = float(truth.person_visible.mean())
        if share >= MIN_VISIBLE_SHARE:
            return candidate
        bar.write(f"{spec.name}: person visible in {100 * share:.0f} % of frames; re-drawing its camera and props")
        bar.total += spec.frames
    raise LivehmrError(f"{spec.name}: the person stayed out of view in over half the frames after {MAX_REDRAWS} re-draws")


def suite_summary(folder: Path, specs: list[SequenceSpec]) -> dict:
    """Per sequence: family, true mean ground speed (m/s), share of frames the person is visible."""
    rows = {}
    for spec in specs:
        truth = SequenceTruth.load(folder / spec.name / "truth.npz")
        rows[spec.name] = {"camera": spec.camera, "ground_speed_mps": round(float(truth.ground_speed.mean()), 3),
                           "visible_share": round(float(truth.person_visible.mean()), 3), "frames": spec.frames}  # fmt: skip
    return rows


def speed_distribution(summary: dict) -> str:
    """A few lines: per camera family, sequences, minutes, and the true mean ground speed's
    min / median / max (m/s)."""
    lines = []
    families = sorted({r["camera"] for r in summary.values()}, key=lambda f: (f not in TRAVELLING_FAMILIES, f))
    for family in families:
        rows = [r for r in summary.values() if r["camera"] == family]
        v = np.array([r["ground_speed_mps"] for r in rows])
        minutes = sum(r["frames"] for r in rows) / 30 / 60
        lines.append(f"{family:9s} {len(rows):3d} sequences {minutes:5.1f} min  ground speed m/s: min {v.min():.2f} "
                     f"median {np.median(v):.2f} max {v.max():.2f}  (>= 1.8 m/s: {int((v >= 1.8).sum())})")  # fmt: skip
    return "\n".join(lines)


def _is_done(folder: Path, spec: SequenceSpec) -> bool:
    spec_file = folder / "spec.json"
    return (spec_file.is_file() and (folder / "truth.npz").is_file()
            and json.loads(spec_file.read_text()) == json.loads(json.dumps(asdict(spec))))  # fmt: skip


def load_suite(folder: str | Path) -> list[tuple[SequenceSpec, Path]]:
    """(spec, folder) of every rendered sequence of a suite, in order."""
    folder = Path(folder)
    manifest_path = folder / "suite.json"
    if not manifest_path.is_file():
        raise LivehmrError(f"{folder} is not a studio suite (no suite.json); make one with `livehmr studio make`")
    manifest = json.loads(manifest_path.read_text())
    found = []
    for s in manifest["sequences"]:
        gait = s.get("gait_cycle")
        spec = SequenceSpec(**{**s, "size": tuple(s["size"]), "light_dir": tuple(s["light_dir"]),
                               "gait_cycle": tuple(gait) if gait is not None else None})  # fmt: skip
        if (folder / spec.name / "truth.npz").is_file():
            found.append((spec, folder / spec.name))
    if not found:
        raise LivehmrError(f"suite {folder} has no rendered sequences yet")
    return found
