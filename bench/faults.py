"""Injected faults: what the published stream shows, and how long recovery takes.

    python -m livehmr.bench.faults            # every fault, the table of docs/reliability.md

Each scenario runs the real pipeline (:class:`~livehmr.stream.runtime.Pipeline`) with
one fault injected, and reads what a subscriber would read: every message goes through
the wire encoder and decoder (:class:`WireTap`). ``tests/test_faults.py`` runs the same
scenarios and asserts on them; this script prints their measurements.

Most scenarios use the embedded scene's ground truth instead of rendering it:
:class:`SceneFrames` carries each frame's truth on a small blank image, and
:class:`TruthKeypoints` projects the true joints, so a scenario costs milliseconds a
frame; where the fault is in the images (resolution change, corrupt files) the scene
is rendered and BlazePose runs. Times are stream seconds (frames / 30 fps) for file-like
runs, and wall seconds where the fault is one of real time (a camera that stalls, a signal).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from livehmr.clients.sdk import State, Status, parse
from livehmr.core.geometry import rotation_angle
from livehmr.core.stages import Estimator, Publisher
from livehmr.core.types import (
    BLAZEPOSE_OF_KEYPOINT,
    KP,
    NUM_KEYPOINTS,
    CameraState,
    Frame,
    FrameResult,
    PersonKeypoints,
)
from livehmr.models.motion.features import PAIRS
from livehmr.models.skeleton import JOINT
from livehmr.stream.camera.static import StaticCamera
from livehmr.stream.publish.publisher import encode_or_withhold, state_messages
from livehmr.stream.publish.wire import TOPIC_STATE, TOPIC_STATUS, decode, encode
from livehmr.stream.runtime import Pipeline
from livehmr.stream.sources.gyro_feeds import ArrayGyroFeed, GyroFeed
from livehmr.testing import free_port

FPS = 30.0


# -- harness ---------------------------------------------------------------------------------------
class WireTap(Publisher):
    """A publisher that keeps every message as a subscriber decodes it (wire encode + decode),
    with the wall time it was sent."""

    def __init__(self):
        self.states: list[tuple[float, State]] = []
        self.statuses: list[tuple[float, Status]] = []
        self.withheld = 0

    def publish(self, result: FrameResult) -> None:
        for header, arrays in state_messages(result, "faults", "anny"):
            frames, withheld = encode_or_withhold(TOPIC_STATE, header, arrays)
            self.withheld += withheld
            state = parse(decode(frames))
            assert isinstance(state, State)
            self.states.append((time.perf_counter(), state))

    def publish_status(self, status: dict) -> None:
        frames = encode(TOPIC_STATUS, {"stream": "faults", "t_publish": time.time(), "status": status, "flags": []}, {})
        message = parse(decode(frames))
        assert isinstance(message, Status)
        self.statuses.append((time.perf_counter(), message))

    def close(self) -> None:
        pass

    def by_frame(self) -> dict[int, list[State]]:
        frames: dict[int, list[State]] = {}
        for _, s in self.states:
            frames.setdefault(s.frame, []).append(s)
        return frames

    def all_finite(self) -> bool:
        """Whether every float array of every published state is finite."""
        return all(np.isfinite(a).all() for _, s in self.states for a in s.message.arrays.values() if a.dtype.kind == "f")


def body_frames(tap: WireTap) -> list[int]:
    """Frames that published a body with no ``stage_error``."""
    return sorted({s.frame for _, s in tap.states if s.has_body and "stage_error" not in s.flags})


def first_at_or_after(frames: list[int], start: int) -> int | None:
    return next((f for f in frames if f >= start), None)


class TruthKeypoints:
    """What BlazePose would report with no error: the scene's true joints projected into the
    image (confidence 0.9) and, as its 3D world landmarks, the same joints in camera axes
    (the estimator re-centres them on their hips), on frames that carry truth; nobody on
    frames that do not. Only the 14 points the motion model reads
    (:data:`livehmr.models.motion.features.PAIRS`) are filled."""

    def detect(self, frame: Frame) -> list[PersonKeypoints]:
        truth = frame.truth
        if truth is None:
            return []
        T_cam_world = np.linalg.inv(truth.T_world_cam)
        p_cam = truth.joints_world @ T_cam_world[:3, :3].T + T_cam_world[:3, 3]
        uv = p_cam @ truth.K.T
        uv = uv[:, :2] / uv[:, 2:3]
        keypoints = np.zeros((NUM_KEYPOINTS, 3))
        for kp_name, joint_name in PAIRS.items():
            keypoints[KP[kp_name]] = (*uv[JOINT[joint_name]], 0.9)
        landmarks, visibility = np.zeros((33, 3)), np.zeros(33)
        for kp_name, joint_name in PAIRS.items():
            landmarks[BLAZEPOSE_OF_KEYPOINT[kp_name]] = p_cam[JOINT[joint_name]]
            visibility[BLAZEPOSE_OF_KEYPOINT[kp_name]] = 0.9
        used = keypoints[keypoints[:, 2] > 0, :2]
        box = np.concatenate([used.min(0), used.max(0)])
        return [PersonKeypoints(keypoints, box, landmarks_3d=landmarks, landmarks_3d_conf=visibility, track_id=0)]

    def close(self) -> None:
        pass


class Nobody(Estimator):
    """An estimator that publishes no body (for faults of the camera front end)."""

    def estimate(self, frame, camera, persons):
        return []

    def reset(self) -> None:
        pass


class NoKeypoints:
    def detect(self, frame):
        return []

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


class SceneFrames:
    """A file-like source of the embedded scene: its truth on a small blank image (no
    render), or with ``render`` its images; ``truth=False`` leaves the (costly) body truth out.

    ``schedule`` lists (scene frame index or None for an empty frame, stream time s);
    ``before_frame(frame)`` runs as each frame is made (feeding a scripted gyro)."""

    live = False

    def __init__(self, scene, schedule: Sequence[tuple[int | None, float]], before_frame: Callable[[Frame], None] | None = None,
                 truth: bool = True, render: bool = False):  # fmt: skip
        self.scene = scene
        self.schedule = schedule
        self.before_frame = before_frame
        self.truth, self.render = truth or render, render

    def __iter__(self) -> Iterator[Frame]:
        for index, (scene_index, t) in enumerate(self.schedule):
            truth = self.scene.truth(scene_index) if scene_index is not None and self.truth else None
            T_world_cam = self.scene.camera.T_world_cam((scene_index or 0) / FPS)
            gravity = T_world_cam[:3, :3].T @ np.array([0.0, 0.0, -1.0])
            image = self.scene.render(truth) if self.render else np.full((48, 64, 3), 90, np.uint8)
            frame = Frame(index, t, image, K=self.scene.K, t_captured=time.perf_counter(), gravity_cam=gravity,
                          truth=truth)  # fmt: skip
            if self.before_frame is not None:
                self.before_frame(frame)
            yield frame

    def close(self) -> None:
        pass


_SCENE = None


def scene():
    """The embedded scene (20 s), made once per process."""
    global _SCENE
    if _SCENE is None:
        from livehmr.studio.scene import default_scene

        _SCENE = default_scene()
    return _SCENE


def learned_estimator():
    from livehmr.stream.estimators.learned import LearnedEstimator

    return LearnedEstimator(scene().body, default_hfov_deg=scene().hfov_deg)


def run(source, keypoints, camera, estimator, status_period_s: float = 0.25) -> tuple[WireTap, Pipeline]:
    tap = WireTap()
    pipeline = Pipeline(source, keypoints, camera, estimator, publishers=[tap])
    pipeline.health.period_s = status_period_s  # default 4 a second: more statuses in a short run
    pipeline.run()
    return tap, pipeline


@dataclass
class Outcome:
    """One fault: what the stream showed, and the measured recovery."""

    fault: str
    shows: str
    recovery: str
    ok: bool  # every property the tests assert held
    figures: dict = field(default_factory=dict)


# -- a stage that raises or returns NaN ------------------------------------------------------------
class _Faulty:
    """Wraps a stage: on the frames in ``faults`` it raises (``"raise"``) or returns NaN (``"nan"``).
    Counts its resets (the supervisor's restarts)."""

    def __init__(self, inner, faults: dict[int, str]):
        self.inner, self.faults, self.resets = inner, faults, 0

    def _fault(self, index: int) -> str | None:
        kind = self.faults.get(index)
        if kind == "raise":
            raise RuntimeError(f"injected failure on frame {index}")
        return kind

    def reset(self, **kwargs) -> None:
        from livehmr.stream.supervisor import restart_stage

        self.resets += 1
        restart_stage(self.inner, **kwargs)

    def close(self) -> None:
        pass


class FaultyKeypoints(_Faulty):
    def detect(self, frame):
        persons = self.inner.detect(frame)
        if self._fault(frame.index) == "nan":
            for p in persons:
                p.keypoints[3, 0] = np.nan
        return persons


class FaultyCamera(_Faulty):
    def update(self, frame, persons):
        state = self.inner.update(frame, persons)
        if self._fault(frame.index) == "nan":
            state = CameraState(np.full((3, 3), np.nan), flags=state.flags)
        return state

    def reset(self, R_world_cam=None) -> None:
        super().reset(R_world_cam=R_world_cam)


class FaultyEstimator(_Faulty):
    def estimate(self, frame, camera, persons):
        states = self.inner.estimate(frame, camera, persons)
        if self._fault(frame.index) == "nan":
            for s in states:
                s.joints_world[5] = np.nan
        return states

    @property
    def default_hfov_deg(self):
        return self.inner.default_hfov_deg

    def camera_translation(self):
        return self.inner.camera_translation()


def stage_faults(seconds: float = 8.0) -> list[Outcome]:
    """The estimator raises (frame 40) and returns NaN (70); the camera returns NaN (100)
    and raises (130); the keypoint detector returns NaN (160) and raises (190)."""
    from livehmr.stream.camera.gyro import GyroCamera

    sc = scene()
    n = int(seconds * FPS)
    schedule = [(i, i / FPS) for i in range(n)]
    keypoints = FaultyKeypoints(TruthKeypoints(), {160: "nan", 190: "raise"})
    camera = FaultyCamera(GyroCamera(ArrayGyroFeed(sc.gyro())), {100: "nan", 130: "raise"})
    estimator = FaultyEstimator(learned_estimator(), {40: "raise", 70: "nan"})
    tap, pipeline = run(SceneFrames(sc, schedule), keypoints, camera, estimator)
    frames = tap.by_frame()
    bodies = body_frames(tap)
    restarts = tap.statuses[-1][1].status["restarts"] if tap.statuses else {}
    # what the faulty frame shows: the estimator's fault leaves no body; the camera's, a
    # body under the last good camera pose; the keypoints', a body the model predicts
    shows = {"estimator": ("a `stage_error` heartbeat, no body", lambda s: not s.has_body),
             "camera": ("`stage_error`, the body under the last good camera pose", lambda s: s.has_body),
             "keypoints": ("`stage_error`, the body predicted (`predicted`)",
                           lambda s: s.has_body and "predicted" in s.flags)}  # fmt: skip
    outcomes = []
    for stage, wrapper in (("estimator", estimator), ("camera", camera), ("keypoints", keypoints)):
        text, looks_right = shows[stage]
        for frame, kind in sorted(wrapper.faults.items()):
            flagged = all("stage_error" in s.flags and looks_right(s) for s in frames[frame])
            back = first_at_or_after(bodies, frame + 1)
            recovery_frames = None if back is None else back - frame
            ok = flagged and back is not None and wrapper.resets == len(wrapper.faults) and tap.all_finite()
            ok &= restarts.get(stage, 0) == len(wrapper.faults)
            outcomes.append(Outcome(
                f"{stage} stage {'raises' if kind == 'raise' else 'returns NaN'}",
                f"that frame: {text}; the stage restarted (status `restarts`)",
                "normal again on the next frame" if recovery_frames == 1 else
                f"normal again after {recovery_frames} frames ({(recovery_frames or 0) / FPS:.2f} s)",
                ok, {"frame": frame, "recovery_frames": recovery_frames, "restarts": restarts.get(stage, 0)}))  # fmt: skip
    return outcomes


# -- no person for minutes ---------------------------------------------------------------------------
def nobody_for(minutes: float = 3.0, before_s: float = 3.0, after_s: float = 5.0) -> Outcome:
    """A person for ``before_s``, nobody for ``minutes`` (frames keep coming), then the person again."""
    sc = scene()
    gap = minutes * 60
    n_before, n_after = int(before_s * FPS), int(after_s * FPS)
    schedule = [(i, i / FPS) for i in range(n_before)]
    schedule += [(None, before_s + k / FPS) for k in range(int(gap * FPS))]
    schedule += [(n_before + k, before_s + gap + k / FPS) for k in range(n_after)]
    back_at = n_before + int(gap * FPS)
    tap, pipeline = run(SceneFrames(sc, schedule), TruthKeypoints(), StaticCamera(), learned_estimator())
    frames = tap.by_frame()
    bodies = body_frames(tap)
    empty = [frames[f] for f in range(n_before + 20, back_at)]  # after the 15 predicted frames end
    heartbeats = all(len(m) == 1 and "no_person" in m[0].flags and not m[0].has_body for m in empty)
    back = first_at_or_after(bodies, back_at)
    # after the return, the body's height and its position relative to the truth, per frame
    errors = []
    for f in bodies:
        if f >= back_at + 30:
            s = frames[f][0]
            index = schedule[f][0]
            assert index is not None  # frames after the return show the person
            truth = sc.truth(index)
            errors.append(abs(float(s.joints_world[15, 2]) - float(truth.joints_world[15, 2])))
    head_err = float(np.median(errors)) if errors else float("nan")
    ok = heartbeats and back is not None and tap.all_finite() and head_err < 0.15
    rec = None if back is None else back - back_at
    return Outcome(f"no person for {minutes:g} min, then the person again",
                   f"`no_person` heartbeats every frame ({len(empty)} frames); then a new body",
                   f"a body {rec} frames after the person is back ({(rec or 0) / FPS:.2f} s); head height "
                   f"error {100 * head_err:.1f} cm (median, from 1 s on)", ok,
                   {"recovery_frames": rec, "head_height_error_m": head_err})  # fmt: skip


# -- gyro faults -------------------------------------------------------------------------------------
class ScriptedGyro(GyroFeed):
    """A live gyro feed whose samples arrive as scripted: ``deliver(rows, arrival)`` with
    simulated arrival times (s on this machine's clock, here the frames' clock)."""

    live = True

    def deliver(self, rows: np.ndarray, arrival: float) -> None:
        for row in rows:
            self.buffer.add(*row, arrival=arrival)


GYRO_FAULTS = {
    "dropout": "no samples for 0.5 s",
    "dropout_vo": "no samples for 0.5 s, camera `gyro+vo`",
    "burst": "1 s of samples held back, then delivered at once",
    "duplicate": "every sample twice",
    "out_of_order": "samples arrive shuffled",
    "clock_jump": "the gyro clock jumps +100 s",
    "clock_jump_back": "the gyro clock jumps -50 s",
}
_GYRO_SHOWS = {
    "dropout": "`gyro_gap` on the frames without samples (rotation extrapolated at the last rate)",
    "dropout_vo": "`gyro_gap` on the frames without samples (vision carries them)",
    "burst": "`gyro_gap` while held back; when they come, the extrapolated frames are redone",
    "duplicate": "nothing: duplicates are dropped",
    "out_of_order": "nothing: samples are kept sorted",
    "clock_jump": "`gyro_clock_jump` once, `gyro_gap` until the new clock is confirmed (0.3 s), then redone",
    "clock_jump_back": "`gyro_clock_jump` once, `gyro_gap` until the new clock is confirmed (0.3 s), then redone",
}


def _gyro_run(kind: str | None, seconds: float, at: float) -> tuple[list[np.ndarray], list[set[str]]]:
    """Published camera orientations relative to the first frame, and flags, per frame."""
    from livehmr.stream.camera.fused import FusedCamera
    from livehmr.stream.camera.gyro import GyroCamera
    sc = scene()
    samples = sc.gyro()
    rng = np.random.default_rng(0)
    feed = ScriptedGyro()
    latency = 0.005  # s from a sample's moment to its arrival
    sent = np.zeros(len(samples), bool)

    def before_frame(frame: Frame) -> None:
        """Deliver what has arrived by this frame's time, as the fault has it."""
        t = frame.t
        due = ~sent & (samples[:, 0] + latency <= t)
        if kind == "burst":
            due &= ~((samples[:, 0] >= at) & (samples[:, 0] < at + 1.0)) | (t >= at + 1.0)
        if kind in ("dropout", "dropout_vo"):
            lost = due & (samples[:, 0] >= at) & (samples[:, 0] < at + 0.5)
            sent[lost] = True
            due &= ~lost
        rows = samples[due].copy()
        sent[due] = True
        if kind == "out_of_order":
            rows = rows[rng.permutation(len(rows))]
        if kind == "duplicate":
            rows = np.repeat(rows, 2, axis=0)
        if kind in ("clock_jump", "clock_jump_back"):
            rows[rows[:, 0] >= at, 0] += 100.0 if kind == "clock_jump" else -50.0
        feed.deliver(rows, t)

    schedule = [(i, i / FPS) for i in range(int(seconds * FPS))]
    vision = kind == "dropout_vo"
    if vision:
        camera = FusedCamera(feed, clock_offset=0.0, hfov_deg=sc.hfov_deg)
        camera.gyro.wait_s = 0.0  # a file-speed run: waiting would only slow it
    else:
        camera = GyroCamera(feed, wait_s=0.0)
    tap, _ = run(SceneFrames(sc, schedule, before_frame, truth=False, render=vision), NoKeypoints(), camera, Nobody())
    frames = tap.by_frame()
    R = [frames[i][0].T_world_cam[:3, :3].astype(np.float64) for i in range(len(schedule))]
    return [R[0].T @ Ri for Ri in R], [set(frames[i][0].flags) for i in range(len(schedule))]


_CLEAN: dict = {}


def gyro_fault(kind: str, seconds: float = 8.0, at: float = 4.0) -> Outcome:
    """The scene's simulated phone gyro (bias, noise) through a live feed with one fault at
    ``at`` s, camera ``gyro`` (``dropout_vo``: ``gyro+vo`` on rendered frames). The fault's
    effect is the published orientation's difference from the same run without the fault,
    after the flags clear."""
    vision = kind == "dropout_vo"
    if (vision, seconds) not in _CLEAN:
        _CLEAN[(vision, seconds)] = _gyro_run(None, seconds, at)[0]
    clean = _CLEAN[(vision, seconds)]
    R, flags = _gyro_run(kind, seconds, at)
    n, i_at = len(R), int(at * FPS)
    flagged = [i for i in range(n) if {"gyro_gap", "gyro_clock_jump"} & flags[i]]
    jumps = [i for i in range(n) if "gyro_clock_jump" in flags[i]]
    clear = max([i_at - 1, *flagged]) + 1
    effect = max(np.degrees(rotation_angle(R[i].T @ clean[i])) for i in range(clear, n)) if clear < n else float("nan")
    recovery_s = (clear - i_at) / FPS if flagged else 0.0
    # gyro alone cannot know the turn it missed; vision carries it
    ok = {"dropout": True, "dropout_vo": effect < 5.0}.get(kind, effect < 1.0)
    if kind in ("duplicate", "out_of_order"):
        ok &= not flagged
    elif kind.startswith("clock_jump"):
        ok &= len(jumps) == 1
    else:
        ok &= bool(flagged)
    return Outcome(f"gyro: {GYRO_FAULTS[kind]}", _GYRO_SHOWS[kind],
                   f"flags clear {recovery_s:.2f} s after the fault began; then {effect:.2f} deg from the run without it",
                   ok, {"flagged_frames": len(flagged), "recovery_s": recovery_s, "effect_deg": effect, "jumps": len(jumps)})  # fmt: skip


# -- a camera that stalls, comes back, and dies -----------------------------------------------------
class ScriptedCamera:
    """Stands in for ``cv2.VideoCapture``: 30 fps while ``on(t)`` is true (t: s since the
    script started), no frame otherwise (a stalled or unplugged camera)."""

    def __init__(self, on: Callable[[float], bool]):
        self.on = on
        self.start = time.perf_counter()
        self.image = np.full((240, 320, 3), 120, np.uint8)
        self.opened = 0

    def __call__(self, target):  # cv2.VideoCapture(target)
        self.opened += 1
        return self

    def isOpened(self) -> bool:
        return True

    def read(self):
        time.sleep(1 / FPS)
        return (True, self.image.copy()) if self.on(time.perf_counter() - self.start) else (False, None)

    def get(self, prop: int) -> float:
        return 0.0

    def release(self) -> None:
        pass


def camera_stall(stall_from: float = 2.0, stall_s: float = 3.0, total_s: float = 7.0) -> Outcome:
    """A live camera delivers, stalls for ``stall_s`` (longer than the 2 s stall threshold), then delivers again."""
    from livehmr.stream.sources.live_camera import CameraSource

    script = ScriptedCamera(lambda t: not stall_from <= t < stall_from + stall_s)
    source = CameraSource(0, max_frames=int(FPS * (total_s - stall_s)), open_capture=script, retry_s=0.2)
    tap, pipeline = run(source, NoKeypoints(), StaticCamera(), Nobody())
    source.close()
    back_wall = script.start + stall_from + stall_s
    after = [(w, s) for w, s in tap.states if w >= back_wall]
    first_back = after[0] if after else None
    stalled = [st.status for w, st in tap.statuses if st.status["stalled"]]
    missing = first_back is not None and "frame_missing" in first_back[1].flags
    recovery = first_back[0] - back_wall if first_back else float("nan")
    ok = bool(stalled) and missing and recovery < 1.0 and tap.all_finite()
    return Outcome(f"camera stalls for {stall_s:g} s, then comes back",
                   "status `stalled: true` (and `fps` 0) during the stall; first frame back flagged `frame_missing`",
                   f"frames published again {recovery:.2f} s after the camera delivers (reopened every 0.2 s)", ok,
                   {"recovery_s": recovery, "stalled_statuses": len(stalled), "reopened": script.opened})  # fmt: skip


def camera_dies(dies_at: float = 1.0, give_up_s: float = 2.0) -> Outcome:
    """A live camera delivers for ``dies_at`` s, then never again: the source gives up after ``give_up_s``."""
    from livehmr.core.errors import SourceError
    from livehmr.stream.sources.live_camera import CameraSource

    script = ScriptedCamera(lambda t: t < dies_at)
    source = CameraSource(0, open_capture=script, give_up_s=give_up_s, retry_s=0.2)
    tap = WireTap()
    pipeline = Pipeline(source, NoKeypoints(), StaticCamera(), Nobody(), publishers=[tap])
    error = ""
    try:
        pipeline.run()
    except SourceError as exc:
        error = str(exc)
    ended = time.perf_counter() - (script.start + dies_at)
    source.close()
    ok = "delivered no frame" in error and tap.all_finite()
    return Outcome("camera dies (no frame ever again)",
                   f"heartbeats stop; the run ends with a SourceError: \"{error}\" (`livehmr run` exits 2 with it)",
                   f"ended {ended:.2f} s after the last frame (give-up time {give_up_s:g} s)", ok,
                   {"ended_after_s": ended, "error": error})  # fmt: skip


# -- corrupt, truncated and resized frames ----------------------------------------------------------
class ListSource:
    """File-like source of given images (anything, to inject corrupt ones)."""

    live = False

    def __init__(self, images: list, K: np.ndarray | None = None, Ks: list | None = None):
        self.images, self.K, self.Ks = images, K, Ks

    def __iter__(self):
        for i, image in enumerate(self.images):
            K = self.Ks[i] if self.Ks else self.K
            yield Frame(i, i / FPS, image, K=K, t_captured=time.perf_counter())

    def close(self) -> None:
        pass


def corrupt_frames() -> Outcome:
    """A source hands over unusable images among good ones (None, grey, float, 4x4, 4 channels)."""
    good = np.full((120, 160, 3), 100, np.uint8)
    bad = {10: None, 11: None, 20: np.zeros((120, 160), np.uint8), 30: np.zeros((120, 160, 3), np.float32),
           40: np.zeros((4, 4, 3), np.uint8), 50: np.zeros((120, 160, 4), np.uint8)}  # fmt: skip
    images = [bad.get(i, good) for i in range(60)]
    tap, pipeline = run(ListSource(images), NoKeypoints(), StaticCamera(), Nobody())
    frames = tap.by_frame()
    skipped = sorted(set(range(60)) - set(frames))
    flagged = sorted(f for f, m in frames.items() if "frame_missing" in m[0].flags)
    ok = skipped == sorted(bad) and flagged == [12, 21, 31, 41, 51] and pipeline.summary.skipped == len(bad)
    return Outcome("corrupt frames (None, grey, float, 4x4, RGBA images)",
                   "the frame is skipped (logged; status `skipped`); the next one is flagged `frame_missing`",
                   "the next good frame", ok, {"skipped": skipped, "flagged": flagged})  # fmt: skip


def render_scene(n: int) -> list[np.ndarray]:
    sc = scene()
    return [sc.render(sc.truth(i)) for i in range(n)]


def truncated_files(tmp: Path) -> list[Outcome]:
    """An AVI cut in half, an MP4 cut in half (its index is at the end), and an image folder
    with a truncated JPEG and a file of noise."""
    import cv2

    from livehmr.core.errors import SourceError
    from livehmr.stream.sources import open_source

    images = render_scene(60)
    outcomes = []
    for suffix, fourcc in ((".avi", "MJPG"), (".mp4", "mp4v")):
        path = tmp / f"scene{suffix}"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), FPS, (images[0].shape[1], images[0].shape[0]))
        for image in images:
            writer.write(image)
        writer.release()
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        try:
            tap, pipeline = run(open_source(str(path)), NoKeypoints(), StaticCamera(), Nobody())
            n = pipeline.summary.frames
            outcomes.append(Outcome(f"video file ({suffix}) cut in half",
                                    f"the frames before the cut ({n} of 60), then the stream ends normally",
                                    "- (the rest is gone)", 0 < n < 60 and tap.all_finite(), {"frames": n}))  # fmt: skip
        except SourceError as exc:
            outcomes.append(Outcome(f"video file ({suffix}) cut in half",
                                    f"refused at start with a clear error: \"{exc}\"", "- (unreadable)",
                                    "not a readable video" in str(exc) or "no decodable frame" in str(exc), {"error": str(exc)}))  # fmt: skip
    folder = tmp / "folder"
    folder.mkdir()
    for i, image in enumerate(images[:20]):
        cv2.imwrite(str(folder / f"{i:03d}.jpg"), image)
    jpeg = (folder / "007.jpg").read_bytes()
    (folder / "007.jpg").write_bytes(jpeg[:200])
    (folder / "012.jpg").write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    tap, pipeline = run(open_source(str(folder)), NoKeypoints(), StaticCamera(), Nobody())
    frames = tap.by_frame()
    flagged = sorted(f for f, m in frames.items() if "frame_missing" in m[0].flags)
    ok = sorted(set(range(20)) - set(frames)) == [7, 12] and flagged == [8, 13]
    outcomes.append(Outcome("image folder with a truncated JPEG and a file of noise",
                            "those images are skipped (logged); the next frame is flagged `frame_missing`",
                            "the next good image", ok, {"flagged": flagged}))  # fmt: skip
    return outcomes


def resolution_change(n: int = 120, change_at: int = 60, scale: float = 0.75) -> Outcome:
    """The embedded scene rendered, at 640x480 and then 480x360 (intrinsics scaled), through
    BlazePose, visual odometry and the motion model."""
    import cv2

    from livehmr.stream.camera.visual import VoCamera
    from livehmr.stream.keypoints.blazepose import BlazePoseDetector

    sc = scene()
    images = render_scene(n)
    Ks = []
    for i in range(n):
        K = sc.K.copy()
        if i >= change_at:
            images[i] = cv2.resize(images[i], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            K[:2] *= scale
        Ks.append(K)
    tap, pipeline = run(ListSource(images, Ks=Ks), BlazePoseDetector(), VoCamera(sc.hfov_deg), learned_estimator())
    frames = tap.by_frame()
    bodies = body_frames(tap)
    errors = pipeline.summary.stage_errors
    back = first_at_or_after(bodies, change_at)
    head = [float(frames[f][0].joints_world[15, 2]) for f in bodies]
    pelvis = {f: frames[f][0].joints_world[0] for f in bodies}
    jump = float(np.linalg.norm(pelvis[back] - pelvis[max(f for f in bodies if f < change_at)])) if back else float("nan")
    lost = [f for f in range(change_at, n) if "vo_lost" in frames[f][0].flags]
    ok = errors == 0 and back == change_at and len(bodies) >= 0.9 * n and jump < 0.2 and tap.all_finite()
    return Outcome("resolution changes mid-stream (640x480 -> 480x360)",
                   f"no error; the body continues (pelvis moves {100 * jump:.1f} cm across the change); "
                   f"visual odometry restarts on the new size ({len(lost)} `vo_lost` frames)",
                   f"none needed: body on the first frame of the new size; heads {min(head):.2f}-{max(head):.2f} m", ok,
                   {"stage_errors": errors, "pelvis_jump_m": jump, "vo_lost": len(lost)})  # fmt: skip


# -- signals ------------------------------------------------------------------------------------------
def _livehmr(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "livehmr", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip


def signals(tmp: Path) -> list[Outcome]:
    """``livehmr run`` stopped by SIGINT and by SIGTERM while ``livehmr record`` records it;
    the recorder stopped by SIGTERM. Each must exit 0, promptly, with its summary; the
    recording must read back whole (no cut record). Then ``kill -9`` of the recorder
    mid-stream: its file must read back up to the last complete message."""
    from livehmr.clients.recording import RecordingReader

    outcomes = []
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        url = f"tcp://127.0.0.1:{free_port()}"
        out = tmp / f"{sig.name}.lhmr"
        recorder = _livehmr("record", url, "--out", str(out))
        runner = _livehmr("run", "synthetic", "--publish", url, "--max-frames", "3000", "--realtime", "--estimator", "baseline")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 20_000):
            time.sleep(0.2)
        if sig == signal.SIGKILL:  # the recorder dies mid-stream, the publisher goes on
            recorder.kill()
            recorder.communicate(timeout=30)
            runner.send_signal(signal.SIGINT)
            runner.communicate(timeout=30)
            data = out.read_bytes()
            reader = RecordingReader(out)
            count = sum(1 for _ in reader)
            ok = recorder.returncode == -signal.SIGKILL and count > 0
            outcomes.append(Outcome("`kill -9` of `livehmr record` mid-stream",
                                    f"the file reads back {count} complete messages"
                                    + (f", then stops at a cut record ({reader.problem})" if reader.truncated else ", no cut record"),
                                    "- (nothing lost before the kill)", ok, {"messages": count, "bytes": len(data)}))  # fmt: skip
            continue
        t0 = time.perf_counter()
        runner.send_signal(sig)
        run_out, _ = runner.communicate(timeout=30)
        run_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        recorder.send_signal(signal.SIGTERM)
        rec_out, _ = recorder.communicate(timeout=30)
        rec_s = time.perf_counter() - t1
        reader = RecordingReader(out)
        count = sum(1 for _ in reader)
        said = rec_out.strip().splitlines()[-1] if rec_out.strip() else ""
        ok = (runner.returncode == 0 and "done:" in run_out and recorder.returncode == 0 and not reader.truncated
              and said == f"recorded {count} messages to {out}")  # fmt: skip
        outcomes.append(Outcome(f"{sig.name} to `livehmr run` (then SIGTERM to `livehmr record`)",
                                f"run exits {runner.returncode} with its summary line; record exits {recorder.returncode}, "
                                f"its file whole ({count} messages, no cut record)",
                                f"run stopped in {run_s:.2f} s, record in {rec_s:.2f} s", ok,
                                {"run_s": run_s, "record_s": rec_s, "messages": count, "run_output": run_out[-500:]}))  # fmt: skip
    return outcomes


def main() -> None:
    from tqdm import tqdm

    steps = [("camera", lambda tmp: [camera_stall(), camera_dies()]), ("corrupt frames", lambda tmp: [corrupt_frames()]),
             ("truncated files", truncated_files), ("resolution change", lambda tmp: [resolution_change()]),
             ("gyro", lambda tmp: [gyro_fault(kind) for kind in GYRO_FAULTS]), ("stages", lambda tmp: stage_faults()),
             ("no person for 3 min", lambda tmp: [nobody_for(3.0)]), ("signals", signals)]  # fmt: skip
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, step in tqdm(steps, desc="faults"):
            outcomes += step(Path(tmp))
    print("| fault | what the stream shows | recovery (measured) | holds |")
    print("|---|---|---|---|")
    for o in outcomes:
        print(f"| {o.fault} | {o.shows} | {o.recovery} | {'yes' if o.ok else '**NO**'} |")
    raise SystemExit(0 if all(o.ok for o in outcomes) else 1)


if __name__ == "__main__":
    main()
