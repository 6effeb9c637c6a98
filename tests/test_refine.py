"""Windowed refinement: motion features, priors, the window problem, the fixed-lag
refiner, its worker and the refined topic."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from livehmr.core.types import FrameResult, PersonKeypoints, PersonState
from livehmr.models.body import SmplParams
from livehmr.models.motion.shape import load_rest_regressor
from livehmr.models.priors.representation import motion_features
from livehmr.models.skeleton import JOINT, forward_kinematics
from livehmr.stream.refine.problem import WindowInputs, solve

FPS = 30.0
R_WORLD_CANON = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # facing +x, up +z
R_WORLD_CAM = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])  # looking +y, level
CAMERA = np.array([1.0, -5.0, 1.2])
K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
SOLES = np.array([0.08, 0.03, 0.08, 0.03])


def _walk(n: int = 60, speed: float = 1.0, swing_rad: float = 0.4):
    """A walker along +x at ``speed`` m/s swinging the legs: root rotvec (n, 3), body pose (n, 23, 3), pelvis (n, 3),
    rest joints (24, 3), world joints (n, 24, 3)."""
    import roma

    rest = load_rest_regressor()(np.full(6, 0.5))
    t = np.arange(n) / FPS
    swing = swing_rad * np.sin(2 * np.pi * 1.0 * t)
    pose = np.zeros((n, 23, 3))
    pose[:, JOINT["left_hip"] - 1, 0] = swing
    pose[:, JOINT["right_hip"] - 1, 0] = -swing
    pose[:, JOINT["left_knee"] - 1, 0] = 0.3 + 0.3 * np.maximum(swing, 0)
    pose[:, JOINT["right_knee"] - 1, 0] = 0.3 + 0.3 * np.maximum(-swing, 0)
    root = np.tile(roma.rotmat_to_rotvec(torch.as_tensor(R_WORLD_CANON)).numpy(), (n, 1))
    pelvis = np.column_stack([t * speed, np.zeros(n), np.full(n, 0.92)])
    rot = roma.rotvec_to_rotmat(torch.as_tensor(np.concatenate([root[:, None], pose], 1)))
    joints, _ = forward_kinematics(rot, torch.as_tensor(rest), torch.as_tensor(pelvis - rest[0]))
    return root, pose, pelvis, rest, joints.numpy()


def _project(joints: np.ndarray) -> np.ndarray:
    """The 14 model keypoints (n, 14, 3) of world joints seen by the test camera."""
    from livehmr.models.motion.features import KEYPOINT_JOINTS

    x_cam = (joints[:, KEYPOINT_JOINTS] - CAMERA) @ R_WORLD_CAM
    uv = x_cam[..., :2] / x_cam[..., 2:3] * 500.0 + np.array([320.0, 240.0])
    return np.concatenate([uv, np.full((*uv.shape[:-1], 1), 0.9)], -1)


def _noisy_window(seed: int = 0, n: int = 45, **walk):
    root, pose, pelvis, rest, joints = _walk(n, **walk)
    rng = np.random.default_rng(seed)
    inputs = WindowInputs(
        keypoints=_project(joints), K=np.tile(K, (n, 1, 1)), R_world_cam=np.tile(R_WORLD_CAM, (n, 1, 1)),
        camera=CAMERA + 0.05 * rng.normal(size=(n, 3)), root=root + 0.05 * rng.normal(size=(n, 3)),
        body_pose=pose + 0.05 * rng.normal(size=pose.shape), pelvis=pelvis + 0.03 * rng.normal(size=(n, 3)),
        contacts=np.zeros((n, 4)), rest_joints=rest, sole_offsets=SOLES, fixed=np.zeros(n, bool))  # fmt: skip
    return inputs, joints


def _joints(inputs: WindowInputs) -> np.ndarray:
    from livehmr.stream.refine.problem import joints_of

    with torch.no_grad():
        j = joints_of(*(torch.as_tensor(getattr(inputs, k), dtype=torch.float32) for k in ("root", "body_pose", "pelvis")),
                      torch.as_tensor(inputs.rest_joints, dtype=torch.float32))  # fmt: skip
    return j.double().numpy()


def _jitter(joints: np.ndarray) -> float:
    return float(np.linalg.norm(joints[2:] - 2 * joints[1:-1] + joints[:-2], axis=-1).mean())


# -- features ------------------------------------------------------------------------------------
def test_features_ignore_where_and_which_way_the_body_walks():
    import roma

    *_, joints = _walk(30)
    yaw = roma.rotvec_to_rotmat(torch.tensor([0.0, 0.0, 1.1], dtype=torch.float64)).numpy()
    moved = joints @ yaw.T + np.array([3.0, -2.0, 0.0])
    a, b = motion_features(torch.as_tensor(joints)), motion_features(torch.as_tensor(moved))
    assert a.shape == (29, 77)
    assert torch.allclose(a, b, atol=1e-9)


def test_features_give_the_known_velocity_height_and_turn_rate():
    import roma

    *_, joints = _walk(30)
    f = motion_features(torch.as_tensor(joints))
    assert torch.allclose(f[:, 73:76], torch.tensor([1.0, 0.0, 0.0], dtype=f.dtype), atol=1e-9)  # m/s forward
    assert torch.allclose(f[:, 72], torch.tensor(0.92, dtype=f.dtype))
    # turning on the spot at 0.5 rad/s
    turn = np.stack([joints[0] @ roma.rotvec_to_rotmat(torch.tensor([0, 0, 0.5 * i / FPS], dtype=torch.float64)).numpy().T
                     for i in range(10)])  # fmt: skip
    g = motion_features(torch.as_tensor(turn))
    assert torch.allclose(g[:, 76], torch.tensor(0.5, dtype=g.dtype), atol=1e-6)


# -- the window problem -------------------------------------------------------------------------
def test_solve_brings_a_noisy_window_closer_to_the_truth_and_smooths_it():
    inputs, truth = _noisy_window()
    before = _joints(inputs)
    sol = solve(inputs, prior=None, iterations=40)
    assert sol.ok
    err_before = np.linalg.norm(before - truth, axis=-1).mean()
    err_after = np.linalg.norm(sol.joints - truth, axis=-1).mean()
    assert err_after < 0.6 * err_before, (err_before, err_after)
    assert _jitter(sol.joints) < 0.3 * _jitter(before)


def test_feet_in_contact_stop_sliding_and_meet_the_ground():
    inputs, truth = _noisy_window(seed=1, speed=0.0, swing_rad=0.0)  # standing: both feet down
    inputs.contacts[:] = 1.0
    ground = float((truth[:, [7, 10, 8, 11], 2] - SOLES).mean())
    sol = solve(inputs, prior=None, iterations=40, ground=ground)
    feet, before = sol.joints[:, [7, 10, 8, 11]], _joints(inputs)[:, [7, 10, 8, 11]]
    slide = np.linalg.norm(np.diff(feet, axis=0), axis=-1).mean()
    assert slide < 0.2 * np.linalg.norm(np.diff(before, axis=0), axis=-1).mean()
    assert np.abs(feet[..., 2] - SOLES - ground).mean() < 0.5 * np.abs(before[..., 2] - SOLES - ground).mean()


def test_frames_already_published_stay_as_they_were():
    inputs, _ = _noisy_window(seed=2)
    inputs.fixed[:10] = True
    sol = solve(inputs, prior=None, iterations=20)
    assert np.allclose(sol.pelvis[:10], inputs.pelvis[:10], atol=1e-6)
    assert np.allclose(sol.body_pose[:10], inputs.body_pose[:10], atol=1e-6)
    assert not np.allclose(sol.pelvis[10:], inputs.pelvis[10:], atol=1e-3)


def test_a_window_that_goes_non_finite_returns_its_causal_values():
    inputs, _ = _noisy_window(seed=3)
    inputs.K[5] = np.nan  # a corrupt frame
    sol = solve(inputs, prior=None, iterations=10)
    assert not sol.ok
    assert np.allclose(sol.pelvis, inputs.pelvis) and np.isfinite(sol.joints).all()


def test_an_up_to_scale_camera_translation_steadies_the_camera_path():
    """The camera dollies 0.5 m along +x; the causal estimate of its path is noisy (3 cm);
    the front end's translation has the path's shape in unknown units (a quarter metre)."""
    from livehmr.models.motion.features import KEYPOINT_JOINTS

    inputs, truth = _noisy_window(seed=4)
    n = len(inputs.camera)
    path = np.column_stack([np.linspace(0, 0.5, n), np.zeros(n), np.zeros(n)])
    x_cam = np.einsum("wkj,ji->wki", truth[:, KEYPOINT_JOINTS] - (CAMERA + path)[:, None], R_WORLD_CAM)
    inputs.keypoints[..., :2] = x_cam[..., :2] / x_cam[..., 2:3] * 500.0 + np.array([320.0, 240.0])
    inputs.camera = CAMERA + path + 0.03 * np.random.default_rng(5).normal(size=(n, 3))
    without = solve(inputs, prior=None, iterations=40)
    with_scale = solve(dataclasses.replace(inputs, up_to_scale=0.25 * path), prior=None, iterations=40)

    def error(sol):
        return np.linalg.norm((sol.camera - sol.camera[0]) - path, axis=-1).mean()

    assert error(with_scale) < 0.7 * error(without), (error(with_scale), error(without))


# -- the fixed-lag refiner and its worker -------------------------------------------------------------
class _StubBody:
    """A body model without a mesh: the refiner needs its name, skeleton and soles."""

    name = "stub"

    def __init__(self, rest):
        self.rest_joints = rest
        self.betas = np.zeros(10)
        self._sole_offsets = SOLES


def _stream(n: int = 90, missing: tuple[int, ...] = ()):
    """Causal results of the noisy walker seen by the test camera; no person on ``missing`` frames."""
    root, pose, pelvis, rest, joints = _walk(n)
    rng = np.random.default_rng(7)
    kp14 = _project(joints)
    from livehmr.models.motion.features import KEYPOINT_INDEX

    out = []
    for i in range(n):
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = R_WORLD_CAM, CAMERA
        if i in missing:
            out.append(FrameResult(i, i / FPS, 0.0, T, [], K=K))
            continue
        kp23 = np.zeros((23, 3))
        kp23[KEYPOINT_INDEX] = kp14[i]
        noisy_pose = pose[i] + 0.05 * rng.normal(size=(23, 3))
        p = pelvis[i] + 0.02 * rng.normal(size=3)
        params = SmplParams(root[i], noisy_pose.reshape(69), p - rest[0], np.zeros(10))
        state = PersonState(3, params, joints[i], np.zeros(4), np.full(24, 0.9))
        out.append(FrameResult(i, i / FPS, 0.0, T, [state], K=K, keypoints=[PersonKeypoints(kp23, np.zeros(4), track_id=3)]))
    return out, joints, rest


def _refiner(rest, **config):
    from livehmr.stream.refine.refiner import FixedLagRefiner, RefineConfig

    return FixedLagRefiner(_StubBody(rest), RefineConfig(prior=None, **config))


def test_refiner_publishes_every_frame_once_in_order_at_its_lag():
    stream, truth, rest = _stream(90)
    refiner = _refiner(rest, window=45, lag=20, every=10)
    refiner.rest_from_phenotype = None  # the stub's own skeleton
    out = []
    for result in stream:
        out += [(result.frame_index, r) for r in refiner.push(result)]
    tail = refiner.flush()
    frames = [r.frame_index for _, r in out] + [r.frame_index for r in tail]
    assert frames == list(range(90))
    assert all(newest - r.frame_index >= 20 for newest, r in out)  # never before its lag
    assert all(r.lag_frames == newest - r.frame_index for newest, r in out)
    assert all("refined" in r.persons[0].flags for _, r in out)
    refined = np.stack([r.persons[0].joints_world for _, r in out] + [r.persons[0].joints_world for r in tail])
    causal = np.stack([_joints_of_state(s.persons[0], rest) for s in stream])
    assert np.linalg.norm(refined - truth, axis=-1).mean() < 0.7 * np.linalg.norm(causal - truth, axis=-1).mean()
    assert _jitter(refined) < 0.3 * _jitter(causal)
    assert all(np.isfinite(r.persons[0].params.transl).all() for _, r in out)


def _joints_of_state(state: PersonState, rest) -> np.ndarray:
    import roma

    p = state.params
    rv = torch.as_tensor(np.concatenate([p.global_orient[None], p.body_pose.reshape(23, 3)]))
    j, _ = forward_kinematics(roma.rotvec_to_rotmat(rv), torch.as_tensor(rest), torch.as_tensor(p.transl))
    return j.numpy()


def test_refiner_passes_empty_frames_and_restarts_after_a_gap():
    stream, _, rest = _stream(80, missing=tuple(range(30, 36)))
    refiner = _refiner(rest, window=30, lag=10, every=5)
    refiner.rest_from_phenotype = None
    out = [r for result in stream for r in refiner.push(result)] + refiner.flush()
    assert [r.frame_index for r in out] == list(range(80))
    assert all(not r.persons for r in out[30:36])  # heartbeats stay heartbeats
    assert all("refined" in r.persons[0].flags for r in out if r.persons)
    assert all(np.isfinite(r.persons[0].joints_world).all() for r in out if r.persons)


def test_worker_never_blocks_and_survives_a_refinement_error(monkeypatch):
    from livehmr.stream.refine.worker import RefineWorker

    stream, _, rest = _stream(40)
    refiner = _refiner(rest, window=20, lag=5, every=5)
    refiner.rest_from_phenotype = None
    calls = {"n": 0}
    push = refiner.push

    def flaky(result):
        calls["n"] += 1
        if calls["n"] == 12:
            raise RuntimeError("a broken window")
        return push(result)

    monkeypatch.setattr(refiner, "push", flaky)
    worker = RefineWorker(lambda: refiner, refiner.config, mode="thread", max_pending=100)
    for result in stream:
        worker.submit(result)
    out = worker.close()
    assert worker.errors == 1
    assert sorted(r.frame_index for r in out) == [i for i in range(40) if i != 11]  # the failing frame itself is lost
    assert all(np.isfinite(r.persons[0].joints_world).all() for r in out)


def test_worker_drops_rather_than_waits_when_refinement_falls_behind():
    import threading

    from livehmr.stream.refine.worker import RefineWorker

    stream, _, rest = _stream(30)
    refiner = _refiner(rest, window=20, lag=5, every=5)
    entered, gate = threading.Event(), threading.Event()
    push = refiner.push
    refiner.push = lambda result: (entered.set(), gate.wait(), push(result))[2]  # stuck on its first frame
    worker = RefineWorker(lambda: refiner, refiner.config, mode="thread", max_pending=4)
    worker.submit(stream[0])
    assert entered.wait(10.0)
    for result in stream[1:]:
        worker.submit(result)  # returns at once even though nothing is consumed
    assert worker.dropped == 30 - 1 - 4
    gate.set()
    worker.close()


def test_a_refinement_that_cannot_start_stops_the_run_with_its_reason():
    from functools import partial

    from livehmr.core.errors import LivehmrError
    from livehmr.stream.refine.refiner import RefineBody, RefineConfig, make_refiner
    from livehmr.stream.refine.worker import RefineWorker

    body = RefineBody("test", np.zeros((24, 3)), np.zeros(10), np.zeros(4))
    config = RefineConfig(prior="no-such-prior")  # what the process is given cannot be made there
    worker = RefineWorker(partial(make_refiner, body, config), config, mode="process")
    with pytest.raises(LivehmrError, match="could not start.*unknown prior 'no-such-prior'"):
        worker.wait_started(timeout_s=60.0)
    assert worker.close(timeout_s=5.0) == []  # and closing it neither hangs nor fails


def test_a_refinement_process_that_dies_silently_is_reported_at_once():
    import os
    import time
    from functools import partial

    from livehmr.core.errors import LivehmrError
    from livehmr.stream.refine.refiner import RefineConfig
    from livehmr.stream.refine.worker import RefineWorker

    worker = RefineWorker(partial(os._exit, 3), RefineConfig(), mode="process")  # no message, just gone
    t0 = time.monotonic()
    with pytest.raises(LivehmrError, match="could not start: its worker ended \\(exit code 3\\)"):
        worker.wait_started(timeout_s=60.0)
    assert time.monotonic() - t0 < 30.0  # not the full timeout
    assert worker.close(timeout_s=60.0) == []


def test_refined_topic_reaches_a_subscriber_with_its_lag():
    from livehmr.clients.sdk import Subscriber
    from livehmr.stream.publish.publisher import ZmqPublisher
    from livehmr.tests.conftest import watch_for_subscriber

    stream, _, rest = _stream(40)
    refiner = _refiner(rest, window=20, lag=8, every=4)
    refiner.rest_from_phenotype = None
    url = "tcp://127.0.0.1:5581"
    publisher = ZmqPublisher(url)
    try:
        wait = watch_for_subscriber(publisher.socket)
        with Subscriber(url, timeout_s=2.0, refined=True, states=False) as sub:
            wait()
            for result in stream:
                for refined in refiner.push(result):
                    publisher.publish_refined(refined)
            got = []
            while (m := sub.recv(timeout_s=1.0)) is not None:
                got.append(m)
    finally:
        publisher.close()
    lagged = [m for m in got if m.header.get("lag_frames") is not None]
    assert {m.topic for m in got} == {"refined"}
    assert [m.frame for m in lagged] == list(range(40 - 8)) and all(m.header["lag_frames"] >= 8 for m in lagged)
    assert all("refined" in m.flags for m in lagged)


# -- the shipped priors ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["humor", "diffusion"])
def test_shipped_prior_pulls_a_jittered_walk_towards_the_clean_one(kind):
    """Descending the prior's energy from a walk with 2 cm of per-joint jitter brings its
    motion features closer to the clean walk's (the prior never saw this synthetic walker)."""
    from livehmr.models.priors.load import SHIPPED, load_prior

    prior = load_prior(SHIPPED[kind])
    *_, joints = _walk(48)
    clean = motion_features(torch.as_tensor(joints)).float()
    noisy = torch.as_tensor(joints + 0.02 * np.random.default_rng(0).normal(size=joints.shape))
    x = noisy.clone().float().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=2e-3)
    g = torch.Generator()
    for step in range(60):
        feats = motion_features(x)
        loss = prior.energy(feats) if kind == "humor" else prior.sds_loss(feats, generator=g.manual_seed(step))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        before = (motion_features(noisy.float()) - clean).norm()
        after = (motion_features(x) - clean).norm()
    assert after < 0.8 * before, (float(before), float(after))


def test_prior_files_are_checked(tmp_path):
    from livehmr.core.errors import LivehmrError
    from livehmr.models.priors.load import load_prior

    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(LivehmrError, match="not a readable prior"):
        load_prior(bad)
    torch.save({"kind": "humor", "net": {"latent": 8}, "model": {}}, tmp_path / "empty.pt")
    with pytest.raises(LivehmrError, match="do not fit"):
        load_prior(tmp_path / "empty.pt")
    torch.save({"model": {}}, tmp_path / "motion.pt")
    with pytest.raises(LivehmrError, match="not a livehmr motion prior"):
        load_prior(tmp_path / "motion.pt")


@pytest.mark.parametrize("kind", ["humor", "diffusion"])
def test_prior_training_runs_checkpoints_and_resumes(kind, tmp_path, monkeypatch):
    from livehmr.models.priors.load import load_prior
    from livehmr.training import priors as T

    rng = np.random.default_rng(0)  # stand-in features: the training loop, not the data, is under test
    fake = T.FeatureSet(rng.normal(size=(400, 77)).astype(np.float32), np.array([0, 150, 400]))
    monkeypatch.setattr(T, "feature_set", lambda split, limit=None: fake)
    cfg = T.PriorTrainConfig.preset(kind, "smoke")
    T.train_prior(tmp_path, kind, cfg, progress=False, max_minutes=0.0)  # one step, checkpointed
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == 1
    assert not (tmp_path / f"prior_{kind}.pt").exists()
    T.train_prior(tmp_path, kind, cfg, progress=False)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["step"] == cfg.steps and len(state["history"]["train"]) == cfg.steps
    model = load_prior(tmp_path / f"prior_{kind}.pt")
    assert torch.allclose(model.normaliser.mean, torch.as_tensor(fake.features.mean(0)), atol=1e-5)
    assert (tmp_path / "loss.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="another config"):
        T.train_prior(tmp_path, kind, "cpu", progress=False)


def test_pipeline_streams_both_topics_on_the_embedded_scene():
    """`--refine humor` in the live pipeline (the refinement in its own process): every frame
    comes out refined once, after the causal one, with finite states; the causal stream is
    unchanged in count and order."""
    from livehmr.stream import registry
    from livehmr.stream.camera.gyro import GyroCamera
    from livehmr.stream.keypoints.blazepose import BlazePoseDetector
    from livehmr.stream.runtime import Pipeline
    from livehmr.stream.sources.synthetic import SyntheticSource

    n = 75
    source = SyntheticSource(max_frames=n, duration=n / 30)
    body = source.scene.body
    pipeline = Pipeline(source, BlazePoseDetector(), GyroCamera(source.gyro_feed()),
                        registry.make_estimator("learned", body, 70.0), refiner=registry.make_refiner("humor", body))  # fmt: skip
    causal, refined = [], []
    pipeline.on_result.append(lambda r: causal.append(r.frame_index))
    pipeline.on_refined.append(lambda r: refined.append((len(causal), r)))
    try:
        pipeline.run()
    finally:
        pipeline.close()
    assert causal == list(range(n))
    assert [r.frame_index for _, r in refined] == list(range(n))
    assert all(seen > r.frame_index for seen, r in refined)  # never before its causal frame
    bodies = [p for _, r in refined for p in r.persons]
    assert len(bodies) > 0.8 * n and sum("refined" in p.flags for p in bodies) > 0.8 * len(bodies)
    assert all(np.isfinite(p.joints_world).all() and np.isfinite(p.params.transl).all() for p in bodies)
    assert pipeline.refiner.errors == 0 and pipeline.refiner.solves > 0 and pipeline.refiner.failed_solves == 0


def test_cli_rejects_an_unknown_prior():
    from typer.testing import CliRunner

    from livehmr.cli import app

    result = CliRunner().invoke(app, ["run", "synthetic", "--refine", "magic", "--max-frames", "2", "--publish", "tcp://127.0.0.1:5583"])
    assert result.exit_code == 2 and "'magic' is not one of" in result.output and "humor" in result.output


def test_bench_accuracy_rejects_a_refine_cadence_the_window_cannot_hold(tmp_path):
    from typer.testing import CliRunner

    from livehmr.cli import app

    result = CliRunner().invoke(app, ["bench", "accuracy", "--suite-dir", str(tmp_path), "--refine", "humor",
                                      "--refine-every", "30"])  # fmt: skip
    assert result.exit_code == 2 and "--refine-every" in result.output and "lag + every <= window" in result.output


def test_frames_a_live_source_drops_do_not_break_the_window():
    stream, _, rest = _stream(90)
    kept = [r for r in stream if r.frame_index not in (10, 20, 21, 47, 60, 61, 62)]  # dropped, not even a heartbeat
    refiner = _refiner(rest, window=45, lag=20, every=15)
    refiner.rest_from_phenotype = None
    out = [r for result in kept for r in refiner.push(result)] + refiner.flush()
    assert [r.frame_index for r in out] == [r.frame_index for r in kept]
    assert all("refined" in r.persons[0].flags for r in out)
    assert refiner.solves == len(kept) // 15 + 1  # the cadence, not a solve per gap


def test_refine_config_for_a_prior_name():
    from livehmr.stream.refine.refiner import PRIOR_WEIGHTS, RefineConfig

    d = RefineConfig()
    humor = RefineConfig.for_prior("humor")
    assert (humor.prior, humor.window, humor.lag, humor.every) == ("humor", d.window, d.lag, d.every)
    assert humor.weights is not None and humor.weights.prior == PRIOR_WEIGHTS["humor"]
    assert RefineConfig.for_prior("noprior").prior is None
    long = RefineConfig.for_prior("diffusion", lag=40)  # the window grows to hold lag + every
    assert (long.lag, long.window) == (40, 40 + d.every)
    tuned = RefineConfig.for_prior("diffusion", every=10, iterations=25, prior_weight=0.1)
    assert (tuned.every, tuned.iterations, tuned.window) == (10, 25, d.window)
    assert tuned.weights is not None and tuned.weights.prior == 0.1
    with pytest.raises(ValueError, match="lag \\+ every <= window"):
        RefineConfig.for_prior("humor", every=30)  # the shipped window holds lag 20 + 25 at most
