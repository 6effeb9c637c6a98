"""The learned motion model: features, synthesis, networks, export, training, live estimator."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from livehmr.core.geometry import intrinsics_from_fov, rotvec_to_rotmat
from livehmr.models.motion.features import NUM_FEATURES, camera_features, keypoint_features
from livehmr.models.motion.network import MotionNet, NetConfig, decode, rotmat_to_sixd, sixd_to_rotmat
from livehmr.testing import walker_frames

SHARED_MOTION = Path(__file__).resolve().parents[2] / "shared" / "motion"
needs_corpus = pytest.mark.skipif(not SHARED_MOTION.exists(), reason="needs ../shared/motion beside the checkout")


class AnnyStub:
    """What the learned estimator needs of a body model when it is Anny: its name (the shape
    then comes from the network's phenotype); a rest pose and betas it does not read."""

    name = "anny"
    rest_joints = np.zeros((24, 3))
    betas = np.zeros(10)


def test_keypoint_features_known_answer():
    K = intrinsics_from_fov(640, 480, 90.0)  # f = 320
    kp = np.zeros((14, 3))
    kp[:4, :2] = [[320, 240], [480, 240], [320, 400], [480, 400]]  # a 0.5 x 0.5 square from the centre
    kp[:4, 2] = 0.9
    feats, box = keypoint_features(kp, K, np.zeros(3))
    assert np.allclose(box, [0.25, 0.25, np.log(0.5)])
    rel = feats[:28].reshape(14, 2)
    assert np.allclose(rel[:4], [[-0.5, -0.5], [0.5, -0.5], [-0.5, 0.5], [0.5, 0.5]])
    assert np.allclose(rel[4:], 0) and np.allclose(feats[28:32], 0.9) and feats[-1] == 1
    # too few confident points: undetected, box held, no keypoint inputs
    kp[2:, 2] = 0.1
    feats2, box2 = keypoint_features(kp, K, box)
    assert feats2[-1] == 0 and np.allclose(box2, box) and np.allclose(feats2[:42], 0)


def test_camera_features_give_down_in_cam():
    from livehmr.core.geometry import R_WORLD_CAM_LEVEL

    f = camera_features(np.array([0.1, 0.2, 0.3]), R_WORLD_CAM_LEVEL)
    assert np.allclose(f, [0.1, 0.2, 0.3, 0, 1, 0])  # a level camera: down is +y (OpenCV)


def test_step_and_sequence_agree_and_sixd_round_trips():
    torch.manual_seed(0)
    net = MotionNet(NetConfig(hidden=48, landmarks=True)).eval()
    x = torch.randn(3, 25, NUM_FEATURES)
    with torch.no_grad():
        seq, final = net(x)
        state = net.initial_state(3)
        steps = []
        for t in range(25):
            out, state = net.step(x[:, t], state)
            steps.append(out)
    assert torch.allclose(torch.stack(steps, 1), seq, atol=1e-5)
    assert torch.allclose(state, final, atol=1e-6)
    R = torch.as_tensor(rotvec_to_rotmat(np.random.default_rng(0).normal(size=(10, 3))), dtype=torch.float32)
    assert torch.allclose(sixd_to_rotmat(rotmat_to_sixd(R)), R, atol=1e-5)


def test_decode_places_the_pelvis_from_box_offset_and_depth():
    out = torch.zeros(161)
    n = 23 * 6
    out[n + 6 : n + 8] = torch.tensor([0.1, -0.2])
    out[n + 8] = np.log(1.5)
    box = torch.tensor([0.2, 0.1, np.log(0.5)], dtype=torch.float32)
    d = decode(out, box)
    z = 1.5 / 0.5
    assert torch.allclose(d.pelvis_cam, torch.tensor([(0.2 + 0.05) * z, (0.1 - 0.1) * z, z]), atol=1e-5)


def test_heading_velocity_integrates_back_to_the_trajectory():
    from livehmr.core.geometry import heading_rotmats

    t = np.arange(60) / 30
    yaw = 0.8 * t
    from livehmr.core.geometry import R_WORLD_CANON

    # a body turning about world Z; canon forward (+Z) is world -Y at yaw 0
    R = rotvec_to_rotmat(np.stack([np.zeros_like(t), np.zeros_like(t), yaw], -1)) @ R_WORLD_CANON
    p = np.stack([np.sin(t), 0.5 * t**2, 0.9 + 0.05 * np.sin(3 * t)], -1)
    v_world = np.gradient(p, axis=0) * 30
    v_head = np.einsum("tji,tj->ti", heading_rotmats(R), v_world)
    back = np.einsum("tij,tj->ti", heading_rotmats(R), v_head)
    assert np.allclose(back, v_world)
    forward = yaw - np.pi / 2
    assert np.allclose(heading_rotmats(R)[:, :2, 0], np.stack([np.cos(forward), np.sin(forward)], -1), atol=1e-9)


@pytest.fixture(scope="module")
def small_cache():
    from livehmr.training.motion.data import load_or_build

    return load_or_build("val", limit=12)


@needs_corpus
def test_synthesis_is_consistent_and_deterministic(small_cache):
    from livehmr.training.detector_errors import load_detector_errors
    from livehmr.training.motion.synth import Synthesizer

    errors = load_detector_errors()
    a = Synthesizer(small_cache, errors, seed=5).batch(2, 40)
    b = Synthesizer(small_cache, errors, seed=5).batch(2, 40)
    assert torch.equal(a.features, b.features) and torch.equal(a.joints_world, b.joints_world)
    # targets agree with each other: R_cam_root is the world root seen from the camera, the
    # pelvis in cam is the world pelvis seen from there, height is the world pelvis' z
    from livehmr.models.skeleton import forward_kinematics

    for k in (a,):
        R_world_root = k.R_world_cam @ k.R_cam_root
        rot = torch.cat([R_world_root[..., None, :, :], k.local_rotmats], -3).double()
        joints, _ = forward_kinematics(rot, k.rest_joints[:, None].double().expand(-1, 40, -1, -1))
        rel_true = (k.joints_world - k.joints_world[..., :1, :]).double()
        assert torch.allclose(joints - joints[..., :1, :], rel_true, atol=1e-4)
        assert torch.allclose(k.height, k.joints_world[..., 0, 2])
        assert torch.isfinite(k.features).all() and (k.pelvis_cam[..., 2] > 1.0).all()


@needs_corpus
def test_ground_covering_sequences_run_with_travelling_cameras():
    """v3's data: with ``gait_rate`` 1 every sequence loops a gait that covers ground at >= 1 m/s
    (its heading-frame velocity target says so and agrees with its joints), the travelling
    cameras film most of them from near, and the targets stay consistent."""
    from livehmr.training.detector_errors import load_detector_errors
    from livehmr.training.landmark_errors import load_landmark_errors
    from livehmr.training.motion.data import load_or_build
    from livehmr.training.motion.synth import Synthesizer

    cache = load_or_build("val", limit=40)
    synth = Synthesizer(cache, load_detector_errors(), seed=2, landmark_errors=load_landmark_errors(), gait_rate=1.0)
    assert len(synth.gaits) >= 3
    for _ in range(6):
        seq = synth.sequence(60)
        speed = np.linalg.norm(seq["v_heading"][:, :2], axis=1).mean()
        walked = np.linalg.norm(np.diff(seq["joints_world"][:, 0, :2], axis=0), axis=1).sum() * 30 / 59
        assert speed > 0.9 and abs(speed - walked) < 0.15 * walked
        assert np.isfinite(seq["features"]).all() and seq["pelvis_cam"][:, 2].min() > 1.0
        assert np.allclose(seq["height"], seq["joints_world"][:, 0, 2])


@needs_corpus
def test_noise_free_keypoints_are_the_projected_joints(small_cache):
    from livehmr.training.detector_errors import PAIRS, load_detector_errors
    from livehmr.training.motion.synth import DetectorNoise, Synthesizer

    errors = load_detector_errors()
    for k in PAIRS:
        e = errors["keypoints"][k]
        e.update(mean_offset=[0.0, 0.0], cov=[[0.0, 0.0], [0.0, 0.0]], miss_rate=0.0, **{"outlier_rate_0.2": 0.0})
    synth = Synthesizer(small_cache, errors, seed=1)
    captured = {}
    real = DetectorNoise.__call__

    def spy(self, rng, px, visible, scale):
        kp = real(self, rng, px, visible, scale)
        captured.update(px=px, visible=visible, kp=kp)
        return kp

    DetectorNoise.__call__ = spy
    try:
        seq = synth.sequence(30)
    finally:
        DetectorNoise.__call__ = real
    ok = captured["kp"][..., 2] > 0
    assert ok.mean() > 0.5  # most points seen (dropouts of whole frames remain)
    assert np.allclose(captured["kp"][ok][:, :2], captured["px"][ok], atol=0.05)  # 1e-8 jitter x person scale
    # and those pixels are the pinhole projection of the model joints in cam: the features
    # see them relative to their box, whose centre/size are the points' extent
    assert np.isfinite(seq["features"]).all()


def test_onnx_export_matches_pytorch(tmp_path):
    pytest.importorskip("onnxruntime")
    from livehmr.export.motion_onnx import export_motion_onnx
    from livehmr.models.motion.onnx_runtime import OnnxStep
    from livehmr.training.motion.train import TrainConfig, save_weights

    torch.manual_seed(0)
    cfg = TrainConfig(net=NetConfig(hidden=40))
    net = MotionNet(cfg.net).eval()
    save_weights(net, cfg, {"step": [], "seconds": 0.0, "val": []}, tmp_path / "m.pt")
    step = OnnxStep(export_motion_onnx(tmp_path / "m.pt", tmp_path / "m.onnx"))
    x = np.random.default_rng(0).normal(size=(3, cfg.net.num_inputs)).astype(np.float32)
    state = np.random.default_rng(1).normal(size=(3, 1, 3, 40)).astype(np.float32)
    out, new = step(x, state)
    with torch.no_grad():
        ref, ref_state = net.step(torch.as_tensor(x), torch.as_tensor(state))
    assert np.abs(out - ref.numpy()).max() < 1e-4  # float32 GRU, different kernels
    assert np.abs(new - ref_state.numpy()).max() < 1e-4


@needs_corpus
def test_training_runs_checkpoints_and_resumes(tmp_path, monkeypatch, small_cache):
    from livehmr.training.motion import data
    from livehmr.training.motion import train as T

    monkeypatch.setattr(data, "load_or_build", lambda split, **kw: data.MotionCache.load(_small_path(split)))
    cfg = T.TrainConfig.preset("smoke")
    T.train(tmp_path, cfg, workers=0, progress=False, max_minutes=0.0)  # stops after one step, checkpointed
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert state["step"] == 1 and not (tmp_path / "motion.pt").exists()
    T.train(tmp_path, cfg, workers=0, progress=False)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert state["step"] == cfg.steps and len(state["history"]["train"]) == cfg.steps
    net = T.load_motion_net(tmp_path / "motion.pt")
    assert net.config.hidden == cfg.net.hidden
    assert (tmp_path / "loss.png").stat().st_size > 1000
    assert json.loads((tmp_path / "history.json").read_text())["train"] == state["history"]["train"]
    with pytest.raises(ValueError, match="another config"):
        T.train(tmp_path, T.TrainConfig.preset("cpu"), workers=0, progress=False)


def _small_path(split):
    """The small val cache of the ``small_cache`` fixture stands in for every split."""
    from livehmr.training.motion.data import cache_dir

    return next(cache_dir().glob("motion_val_v*_12.npz"))


def test_learned_estimator_tracks_predicts_through_and_drops():
    from livehmr.stream.estimators.learned import DEFAULT_WEIGHTS, LearnedEstimator

    if not DEFAULT_WEIGHTS.exists():
        pytest.skip("shipped weights missing")

    est = LearnedEstimator(AnnyStub(), max_predict_frames=5)
    frames = walker_frames(40)
    flags = []
    for i, (frame, cam, person) in enumerate(frames):
        persons = [] if 20 <= i < 24 or i >= 30 else [person]
        states = est.estimate(frame, cam, persons)
        for s in states:
            assert np.isfinite(s.joints_world).all() and np.isfinite(s.params.transl).all()
            assert np.isfinite(s.contacts).all() and ((0 <= s.contacts) & (s.contacts <= 1)).all()
        flags.append((len(states), set().union(*(s.flags for s in states)) if states else set()))
    assert flags[10] == (1, set())
    assert flags[21] == (1, {"predicted"})  # missing: predicted through
    assert flags[26][0] == 1 and "predicted" not in flags[26][1]
    assert flags[34] == (1, {"predicted"}) and flags[36][0] == 0  # gone longer than 5 frames: dropped
    assert np.isfinite(est.camera_translation()).all()


def test_a_landmark_network_runs_with_and_without_3d_landmarks(tmp_path):
    """The masked-3D path: one v2 network serves BlazePose (3D landmarks) and a 2D-only
    backend (none): both give finite states, and the landmarks change what it predicts."""
    from livehmr.stream.estimators.learned import LearnedEstimator
    from livehmr.training.motion.train import TrainConfig, save_weights

    torch.manual_seed(0)
    cfg = TrainConfig.preset("smoke")
    assert cfg.net.landmarks
    save_weights(MotionNet(cfg.net).eval(), cfg, {"step": [], "seconds": 0.0, "val": []}, tmp_path / "m.pt")

    rng = np.random.default_rng(0)
    outputs = {}
    for with_3d in (True, False):
        est = LearnedEstimator(AnnyStub(), tmp_path / "m.pt")
        assert est.step.landmarks and len(est.columns) == NUM_FEATURES
        joints = []
        for frame, cam, person in walker_frames(12):
            if with_3d:
                person.landmarks_3d = rng.normal(0, 0.3, (33, 3))
                person.landmarks_3d_conf = np.full(33, 0.9)
            [state] = est.estimate(frame, cam, [person])
            assert np.isfinite(state.joints_world).all()
            joints.append(state.joints_world)
        outputs[with_3d] = np.array(joints)
    assert np.abs(outputs[True] - outputs[False]).max() > 1e-4


def test_people_stepped_in_one_batch_get_what_each_would_get_alone():
    from dataclasses import replace

    from livehmr.stream.estimators.learned import LearnedEstimator

    alone = LearnedEstimator(AnnyStub(), fit_limbs=False)
    together = LearnedEstimator(AnnyStub(), fit_limbs=False)
    for frame, cam, person in walker_frames(15):
        other = replace(person, track_id=1, keypoints=person.keypoints * [0.7, 0.9, 1.0], box=person.box * 0.8)
        mine = alone.estimate(frame, cam, [person])[0]
        ours = {s.person_id: s for s in together.estimate(frame, cam, [person, other])}
        # the network's answer for one person does not depend on who else is in the batch
        assert np.allclose(ours[0].params.body_pose, mine.params.body_pose, atol=1e-4)
        assert 1 in ours


def test_the_published_person_is_drawn_where_the_camera_sees_them(monkeypatch):
    """A still camera (its stage says so) and a person gliding across the view at 1.2 m/s
    while their legs say they stand: the published pelvis projects onto the detected hips
    (within 8 px over the last second), where the filter's own place, without the pull
    toward where the camera sees them, falls twice as far behind."""
    from dataclasses import replace

    import livehmr.stream.estimators.learned as learned
    from livehmr.core.types import KP

    if not learned.DEFAULT_WEIGHTS.exists():
        pytest.skip("shipped weights missing")

    def hip_errors_px() -> np.ndarray:
        est = learned.LearnedEstimator(AnnyStub())
        errors = []
        for frame, cam, person in walker_frames(90):
            (state,) = est.estimate(frame, replace(cam, translates=False), [person])
            p = cam.R_world_cam.T @ (state.joints_world[0] - est.camera_translation())
            px = p[:2] / p[2] * frame.K[0, 0] + frame.K[:2, 2]
            errors.append(np.linalg.norm(px - person.keypoints[[KP["left_hip"], KP["right_hip"]], :2].mean(0)))
        return np.array(errors[-30:])

    drawn = hip_errors_px()
    monkeypatch.setattr(learned, "SEEN_SMOOTHING", 1.0)  # the offset never moves: the filter's place alone
    assert drawn.mean() < 8.0 and drawn.mean() < 0.5 * hip_errors_px().mean()


def test_smooth_pose_publishes_a_steadier_body_that_still_matches_its_joints():
    """The same noisy walker with and without ``smooth_pose``: the smoothed stream's joints
    jitter less, and the published joints stay the forward kinematics of the published
    rotations (what a consumer re-poses a mesh with). ``livehmr run --smooth-pose`` reaches
    the estimator."""
    from livehmr.eval.metrics import jitter
    from livehmr.models.skeleton import forward_kinematics
    from livehmr.stream.estimators.learned import DEFAULT_WEIGHTS, LearnedEstimator
    from livehmr.stream.registry import StageChoices, make_estimator

    if not DEFAULT_WEIGHTS.exists():
        pytest.skip("shipped weights missing")

    rng = np.random.default_rng(3)
    frames = walker_frames(60)
    for _, _, person in frames:
        person.keypoints[:, :2] += rng.normal(0, 3.0, (len(person.keypoints), 2))  # a detector's pixel noise
    runs = {}
    for smooth in (None, {}):
        est = LearnedEstimator(AnnyStub(), smooth_pose=smooth)
        states = [est.estimate(frame, cam, [person])[0] for frame, cam, person in frames]
        runs[smooth is not None] = np.stack([s.joints_world for s in states])
        last = states[-1]
        rotmats = rotvec_to_rotmat(np.concatenate([last.params.global_orient[None], last.params.body_pose.reshape(23, 3)]))
        rest = est.shape_from_phenotype(est.tracks[last.person_id].phenotype)
        fk, _ = forward_kinematics(rotmats, rest, last.params.transl)
        assert np.allclose(fk, last.joints_world, atol=1e-6)
    assert jitter(runs[True][10:]).mean() < 0.8 * jitter(runs[False][10:]).mean()
    for asked in (True, False):
        est = make_estimator("learned", AnnyStub(), **StageChoices("synthetic", smooth_pose=asked).learned_options())
        assert (est.smooth_pose is not None) == asked
