"""The fixed-lag smoother: causal frame results in, refined frame results out, ``lag``
frames later.

Per person it keeps the last ``window`` frames. Every ``every`` frames each person's
window is solved (:func:`.problem.solve`), warm-started from the previous solution
where the windows overlap and from the causal estimates (shifted to join the previous
solution) for new frames. A frame is published once ``lag`` newer frames have been seen;
from then on it is *final*: later windows hold it fixed, so it anchors them. Persons whose
state was refined carry the flag ``refined``.

Bad windows never publish garbage: a person with no usable keypoints in the window, or a
solve that goes non-finite, publishes the causal state (without the ``refined`` person
flag). A break in a person's frames (a lost track, many dropped frames) closes their window:
what was not yet solved is solved with the context there is, then a new window starts.
A few frames dropped by a live source (up to ``max_gap``) do not break a window: the
frames around them are treated as consecutive.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from livehmr.core.types import Flag, FrameResult, PersonState
from livehmr.models.body import BodySkeleton, SmplParams, sole_offsets
from livehmr.models.motion.features import NUM_KP, select_keypoints
from livehmr.models.skeleton import FOOT_JOINTS
from livehmr.stream.refine.problem import RefineWeights, WindowInputs, frames_with_evidence, solve

#: each prior's weight, tuned on the validation subjects with the v2 motion model (suites/val, 8 sequences):
#: diffusion 0.02 -> 0.005 cut its jitter 41.1 -> 33.6 and foot sliding 15.9 -> 15.2 mm at the same W-MPJPE100
PRIOR_WEIGHTS = {"humor": 0.02, "diffusion": 0.005}


@dataclass
class RefineConfig:
    """``window`` frames solved together, re-solved every ``every`` frames, each frame
    published ``lag`` frames after it came (so ``lag + every <= window``)."""

    window: int = 45
    lag: int = 20
    every: int = 15
    iterations: int = 15
    max_gap: int = 5  # frames a live source may drop inside a window; a longer gap starts a new one
    prior: str | None = "humor"  # humor | diffusion | None
    weights: RefineWeights | None = None  # None: RefineWeights with the prior's own weight (PRIOR_WEIGHTS)

    def __post_init__(self):
        if self.weights is None:
            self.weights = RefineWeights(prior=PRIOR_WEIGHTS.get(self.prior or "", RefineWeights.prior))
        if not (1 <= self.every and 0 <= self.lag and self.lag + self.every <= self.window):
            raise ValueError(f"refinement needs 1 <= every and lag + every <= window (got {self})")

    @classmethod
    def for_prior(cls, prior: str, lag: int | None = None, every: int | None = None, iterations: int | None = None,
                  prior_weight: float | None = None) -> RefineConfig:  # fmt: skip
        """The settings for ``--refine PRIOR`` (``humor``, ``diffusion`` or ``noprior``), the
        defaults but what is given; a longer ``lag`` widens the window to ``lag`` + the default
        cadence (a cadence the window cannot hold is a ValueError), and the prior keeps its own
        tuned weight (``PRIOR_WEIGHTS``) unless ``prior_weight`` is given."""
        d = cls()
        lag = d.lag if lag is None else lag
        weights = None if prior_weight is None else RefineWeights(prior=prior_weight)
        return cls(prior=None if prior == "noprior" else prior, lag=lag, every=every or d.every,
                   window=max(d.window, lag + d.every), iterations=iterations or d.iterations, weights=weights)  # fmt: skip


@dataclass
class RefineBody:
    """What the refinement needs of a body model, small enough to send to its process:
    ``name``, ``rest_joints`` (24, 3), ``betas`` (10,) and the soles' offsets (4,)."""

    name: str
    rest_joints: np.ndarray
    betas: np.ndarray
    _sole_offsets: np.ndarray

    @classmethod
    def of(cls, body: BodySkeleton) -> RefineBody:
        return cls(getattr(body, "name", ""), np.asarray(body.rest_joints, dtype=np.float64),
                   np.asarray(body.betas, dtype=np.float64), np.asarray(sole_offsets(body), dtype=np.float64))  # fmt: skip


def make_refiner(body: RefineBody, config: RefineConfig) -> FixedLagRefiner:
    """A refiner (a module-level function: what the refinement process is given to call)."""
    return FixedLagRefiner(body, config)


@dataclass
class _PersonFrame:
    index: int
    keypoints: np.ndarray  # (14, 3)
    K: np.ndarray
    R_world_cam: np.ndarray
    camera: np.ndarray
    root: np.ndarray
    body_pose: np.ndarray  # (23, 3)
    pelvis: np.ndarray
    contacts: np.ndarray
    state: PersonState
    up_to_scale: np.ndarray | None


@dataclass
class _Person:
    frames: deque
    solved: dict = field(default_factory=dict)  # frame index -> (root, body_pose, pelvis, camera, joints)
    final: set = field(default_factory=set)  # frame indices published
    last_solved: int = -1


class FixedLagRefiner:
    """Synchronous core of the refinement (:class:`~.worker.RefineWorker` runs it in its own
    process; the accuracy benchmark calls it directly).

    Args:
        body: the body model (its soles; Anny shapes come from the published betas).
        config: window, lag, cadence, iterations, prior.
        prior_model: a loaded prior (default: the shipped one named by ``config.prior``).
    """

    def __init__(self, body: BodySkeleton, config: RefineConfig | None = None, prior_model=None):
        self.config = c = config or RefineConfig()
        self.body = body
        self.prior = prior_model
        if self.prior is None and c.prior:
            from livehmr.models.priors.load import SHIPPED, load_prior

            if c.prior not in SHIPPED:
                from livehmr.core.errors import LivehmrError

                raise LivehmrError(f"unknown prior {c.prior!r}: choose humor or diffusion (None: no prior)")
            self.prior = load_prior(SHIPPED[c.prior])
        self.rest_from_phenotype = None
        if getattr(body, "name", "") == "anny":
            from livehmr.models.motion.shape import load_rest_regressor

            self.rest_from_phenotype = load_rest_regressor()
        self.soles = np.asarray(sole_offsets(body), dtype=np.float64)
        self.ground = 0.0  # online floor height estimate, m (world z)
        self.persons: dict[int, _Person] = {}
        self.results: dict[int, FrameResult] = {}  # causal results not yet published
        self.newest = -1
        self.since_solve = 0
        self.failed_solves = 0
        self.solves = 0
        self.solve_ms: deque[float] = deque(maxlen=100_000)  # wall time of each window solve

    # -- input ----------------------------------------------------------------------------
    def push(self, result: FrameResult) -> list[FrameResult]:
        """Take the causal result of the next frame; return the refined results now final."""
        result = dataclasses.replace(result, image=None)  # the image is not needed; do not hold it
        self.results[result.frame_index] = result
        self.newest = result.frame_index
        keypoints = {k.track_id: k for k in result.keypoints}
        for state in result.persons:
            person = self.persons.get(state.person_id)
            if person is not None and person.frames and result.frame_index - person.frames[-1].index > self.config.max_gap + 1:
                self._close(person)  # a break: finish the old window first
            if person is None:
                person = self.persons[state.person_id] = _Person(deque(maxlen=self.config.window))
            kp = keypoints.get(state.person_id)
            person.frames.append(self._person_frame(result, state, kp))
        for pid in [pid for pid, p in self.persons.items()
                    if not p.frames or p.frames[-1].index < self.newest - self.config.window - self.config.lag]:  # fmt: skip
            self._close(self.persons[pid])
            if not any(k in self.persons[pid].solved for k in self.results):
                del self.persons[pid]  # gone for good: its last frames are published
        self.since_solve += 1
        if self.since_solve >= self.config.every:
            self.since_solve = 0
            for person in self.persons.values():
                self._solve(person)
        return self._emit(self.newest - self.config.lag)

    def flush(self) -> list[FrameResult]:
        """End of stream: solve what is left and publish everything."""
        for person in self.persons.values():
            self._solve(person)
        return self._emit(self.newest)

    def abandon(self) -> list[FrameResult]:
        """After an error: every frame held goes out as it came (causal), and refinement
        starts afresh from the next frame."""
        out = [dataclasses.replace(self.results[k], lag_frames=self.newest - k) for k in sorted(self.results)]
        self.results.clear()
        self.persons.clear()
        self.since_solve = 0
        return out

    def _person_frame(self, result: FrameResult, state: PersonState, kp) -> _PersonFrame:
        p = state.params
        rest = self._rest(p.betas)
        keypoints = select_keypoints(kp.keypoints) if kp is not None and Flag.PREDICTED not in state.flags else np.zeros((NUM_KP, 3))
        K = result.K if result.K is not None else np.eye(3)
        return _PersonFrame(result.frame_index, np.nan_to_num(np.asarray(keypoints, dtype=np.float64)), K,
                            result.T_world_cam[:3, :3].copy(), result.T_world_cam[:3, 3].copy(),
                            np.asarray(p.global_orient, np.float64), np.asarray(p.body_pose, np.float64).reshape(23, 3),
                            np.asarray(p.transl, np.float64) + rest[0], np.asarray(state.contacts, np.float64), state,
                            result.camera_up_to_scale)  # fmt: skip

    def _rest(self, betas: np.ndarray) -> np.ndarray:
        if self.rest_from_phenotype is not None:
            return self.rest_from_phenotype(np.asarray(betas[:6], dtype=np.float64))
        return np.asarray(self.body.rest_joints, dtype=np.float64)

    # -- solving -------------------------------------------------------------------------
    def _close(self, person: _Person) -> None:
        self._solve(person)
        person.frames.clear()

    def _solve(self, person: _Person) -> None:
        frames = list(person.frames)
        if not frames or frames[-1].index <= person.last_solved:
            return
        person.last_solved = frames[-1].index
        if not frames_with_evidence(np.stack([f.keypoints for f in frames])).any():
            return  # nothing to refine against: the causal states go out as they are
        inputs = self._inputs(person, frames)
        init = self._warm_start(person, frames)
        t0 = time.perf_counter()
        assert self.config.weights is not None  # set by RefineConfig
        solution = solve(inputs, self.prior, self.config.weights, self.config.iterations, init=init,
                         ground=self.ground, seed=frames[-1].index)  # fmt: skip
        self.solve_ms.append((time.perf_counter() - t0) * 1e3)
        self.solves += 1
        if not solution.ok:
            self.failed_solves += 1
            return
        for i, f in enumerate(frames):
            if f.index not in person.final:
                person.solved[f.index] = (solution.root[i], solution.body_pose[i], solution.pelvis[i],
                                          solution.camera[i], solution.joints[i])  # fmt: skip
        oldest = frames[0].index  # published frames that left the window are not needed any more
        for index in [k for k in person.final if k < oldest]:
            person.final.discard(index)
            person.solved.pop(index, None)
        self._update_ground(inputs, solution.joints)

    def _inputs(self, person: _Person, frames: list[_PersonFrame]) -> WindowInputs:
        def stack(name):
            return np.stack([getattr(f, name) for f in frames])

        scales = [f.up_to_scale for f in frames]
        known = [s for s in scales if s is not None]
        return WindowInputs(stack("keypoints"), stack("K"), stack("R_world_cam"), stack("camera"), stack("root"),
                            stack("body_pose"), stack("pelvis"), stack("contacts"),
                            self._rest(frames[-1].state.params.betas), self.soles,
                            np.array([f.index in person.final for f in frames]),
                            np.stack(known) if len(known) == len(scales) else None)  # fmt: skip

    def _warm_start(self, person: _Person, frames: list[_PersonFrame]) -> dict[str, np.ndarray]:
        """The previous solution where there is one; causal estimates after it, moved by
        the previous solution's offset at its last frame so the trajectory joins."""
        shift_pelvis, shift_camera = np.zeros(3), np.zeros(3)
        init = {k: [] for k in ("root", "body_pose", "pelvis", "camera")}
        for f in frames:
            prev = person.solved.get(f.index)
            if prev is not None:
                root, pose, pelvis, camera, _ = prev
                shift_pelvis, shift_camera = pelvis - f.pelvis, camera - f.camera
            else:
                root, pose, pelvis, camera = f.root, f.body_pose, f.pelvis + shift_pelvis, f.camera + shift_camera
            for k, v in zip(init, (root, pose, pelvis, camera)):
                init[k].append(v)
        return {k: np.stack(v) for k, v in init.items()}

    def _update_ground(self, inputs: WindowInputs, joints: np.ndarray) -> None:
        """The floor follows the soles of feet in contact (median over the window, slowly)."""
        down = inputs.contacts > 0.5
        if down.sum() >= 8:
            heights = joints[:, list(FOOT_JOINTS), 2] - self.soles
            self.ground += 0.2 * (float(np.median(heights[down])) - self.ground)

    # -- output --------------------------------------------------------------------------
    def _emit(self, upto: int) -> list[FrameResult]:
        out = []
        for index in sorted(k for k in self.results if k <= upto):
            causal = self.results.pop(index)
            persons, camera = [], None
            for state in causal.persons:
                person = self.persons.get(state.person_id)
                refined = person.solved.get(index) if person is not None else None
                if person is None or refined is None:
                    persons.append(state)
                    continue
                if person.frames and index >= person.frames[0].index:
                    person.final.add(index)  # held fixed by the windows that still hold it
                else:
                    del person.solved[index]
                root, pose, pelvis, cam, joints = refined
                transl = pelvis - self._rest(state.params.betas)[0]  # p[0] = J[0] + transl
                params = SmplParams(global_orient=root, body_pose=pose.reshape(69), transl=transl, betas=state.params.betas)
                persons.append(PersonState(state.person_id, params, joints, state.contacts, state.joint_confidence,
                                           state.flags | {Flag.REFINED}))  # fmt: skip
                if camera is None:
                    camera = cam
            T = causal.T_world_cam.copy()
            if camera is not None:
                T[:3, 3] = camera
            out.append(dataclasses.replace(causal, persons=persons, T_world_cam=T, lag_frames=self.newest - index))
        return out
