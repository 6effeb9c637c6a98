"""BlazePose's 3D landmark error model (issue 21, part 1): measured statistics on hand-made
cases whose answer is known, and the synthesis that training draws from them."""

from __future__ import annotations

import numpy as np

from livehmr.models.motion.features import (
    KEYPOINT_NAMES,
    LANDMARK_SLICE,
    MIRROR,
    NUM_FEATURES,
    NUM_KP,
    hip_centred,
    input_columns,
    landmark_features,
)  # fmt: skip
from livehmr.training.landmark_errors import (
    compare,
    episodes,
    gait_gain,
    lag1_autocorrelation,
    robust_covariance,
    summarise,
    summarise_gait,
)  # fmt: skip


def _body(T: int, seed: int = 0) -> np.ndarray:
    """(T, 14, 3) a standing body's 14 points in canon (X left, Y up, Z forward), metres."""
    rng = np.random.default_rng(seed)
    base = np.zeros((14, 3))
    for k, name in enumerate(KEYPOINT_NAMES):
        side = 0.18 if name.startswith("left") else -0.18
        height = {"shoulder": 0.5, "elbow": 0.25, "wrist": 0.0, "hip": 0.0, "knee": -0.45, "ankle": -0.85, "big": -0.9}
        part = next(v for key, v in height.items() if key in name)
        base[k] = [side * (0.6 if "hip" in name else 1.0), part, 0.1 if "toe" in name else 0.0]
    return base + rng.normal(0, 0.01, (T, 14, 3))


def _turn(yaw: np.ndarray) -> np.ndarray:
    """R_cam_root for bodies facing the camera turned by yaw (T,) (cam: x right, y down, z away)."""
    facing_camera = np.array([[-1.0, 0, 0], [0, -1, 0], [0, 0, -1]])  # canon Z forward -> towards the camera
    c, s = np.cos(yaw), np.sin(yaw)
    R_y = np.stack([np.stack([c, 0 * c, s], -1), np.stack([0 * c, 1 + 0 * c, 0 * c], -1), np.stack([-s, 0 * c, c], -1)], -2)
    return R_y @ facing_camera


def test_a_constant_body_frame_offset_is_measured_as_that_bias_from_any_view():
    T = 200
    canon = _body(T)
    R = _turn(np.linspace(-1.2, 1.2, T))
    joints_cam = np.einsum("tij,tkj->tki", R, canon) + [0.0, 0.0, 4.0]
    offset = np.zeros((14, 3))
    offset[KEYPOINT_NAMES.index("left_wrist")] = [0.0, 0.05, 0.10]  # 5 cm up, 10 cm forward, in the body
    offset[KEYPOINT_NAMES.index("right_knee")] = [0.03, 0.0, 0.0]
    landmarks = np.einsum("tij,tkj->tki", R, canon + offset) + [0.0, 0.0, 4.0]
    c = compare(landmarks, joints_cam, R)
    assert not c["facing_flip"].any() and not c["lr_swap"].any()
    # hip-centred on both sides, so the offsets appear as they are (hips carry none)
    assert np.allclose(c["e_body"].mean(0), offset, atol=1e-9)
    model = summarise({**c, "visible": np.ones((T, 14), bool), "lr_swap_2d": np.zeros(T, bool)}, [slice(0, T)])
    assert np.allclose(model["joints"]["left_wrist"]["bias"], [0.0, 0.05, 0.10], atol=1e-4)
    assert model["facing_flip_rate"] == 0.0


def test_a_body_read_back_to_front_is_a_facing_flip_and_a_swap():
    T = 50
    canon = _body(T, 1)
    R = _turn(np.zeros(T))
    joints_cam = np.einsum("tij,tkj->tki", R, canon) + [0.0, 0.0, 4.0]
    centred = hip_centred(joints_cam)
    flipped = centred[:, MIRROR] * [1.0, 1.0, -1.0]  # what LandmarkNoise does on a flip
    c = compare(flipped, joints_cam, R)
    assert c["facing_flip"].all()
    assert c["lr_swap"].all()


def test_episodes_autocorrelation_and_the_robust_core():
    assert episodes(np.array([0, 1, 1, 0, 1, 0, 0, 1, 1, 1], bool)) == [2, 1, 3]
    rng = np.random.default_rng(0)
    rho, n = 0.9, 20000
    x = np.zeros((n, 3))
    for t in range(1, n):
        x[t] = rho * x[t - 1] + np.sqrt(1 - rho**2) * rng.normal(size=3)
    assert abs(lag1_autocorrelation(x, [slice(0, n)]) - rho) < 0.02
    core = rng.multivariate_normal([0.01, -0.02, 0.0], np.diag([0.02, 0.05, 0.03]) ** 2, 9000)
    wild = rng.normal(0, 0.5, (1000, 3))
    mean, cov = robust_covariance(np.concatenate([core, wild]))
    assert np.allclose(np.sqrt(np.diag(cov)), [0.02, 0.05, 0.03], rtol=0.1)
    assert np.allclose(mean, [0.01, -0.02, 0.0], atol=0.005)


def test_synthesised_landmarks_are_exact_without_noise_and_mirrored_on_a_flip():
    from livehmr.training.motion.synth import LandmarkNoise

    errors = {"joints": {k: {"bias": [0, 0, 0], "cov": np.zeros((3, 3)).tolist(), "lag1_autocorrelation": 0.9,
                             "outlier_rate": 0.0, "outlier_cov": np.eye(3).tolist()} for k in KEYPOINT_NAMES},
              "facing_flip_rate": 0.0, "facing_flip_mean_frames": 3.0}  # fmt: skip
    noise = LandmarkNoise(errors)
    T = 20
    R = _turn(np.zeros(T))
    joints_cam = np.einsum("tij,tkj->tki", R, _body(T, 2)) + [0.3, -0.1, 5.0]
    flipped = np.arange(T) >= 10
    out = noise(np.random.default_rng(0), joints_cam, R, flipped)
    assert np.allclose(out[:10], hip_centred(joints_cam)[:10], atol=1e-3)
    assert np.allclose(out[10:], hip_centred(joints_cam)[10:][:, MIRROR] * [1, 1, -1], atol=1e-3)
    assert not noise.flips(np.random.default_rng(0), R, joints_cam[:, 0]).any()  # rate 0: never


def _swinging_legs(T: int, seed: int) -> np.ndarray:
    """(T, 14, 3) canon bodies whose ankles and toes swing forward and back 0.3 m at 1.5 Hz."""
    canon = _body(T, seed)
    swing = 0.3 * np.sin(2 * np.pi * 1.5 * np.arange(T) / 30.0)
    for k, name in enumerate(KEYPOINT_NAMES):
        if "ankle" in name or "toe" in name:
            canon[:, k, 2] += swing if name.startswith("left") else -swing
    return canon


def _striding_data() -> dict[str, np.ndarray]:
    """:func:`collect`'s arrays for three sequences of a striding body whose landmarks keep a
    third of the motion and read the left ankle 2 cm left, 5 cm forward."""
    ankle = KEYPOINT_NAMES.index("left_ankle")
    parts = []
    for seq in range(3):  # each sequence seen from its own side, its landmarks a body in its own place
        T = 120
        canon = _swinging_legs(T, seq)
        R = _turn(np.full(T, 0.4 * seq))
        mean = canon.mean(0)
        offset = np.zeros((14, 3))
        offset[ankle] = [0.02, 0.0, 0.05]  # the ankle read 2 cm to the left and 5 cm forward
        read = mean + offset + 0.33 * (canon - mean)  # a third of the motion
        joints_cam = np.einsum("tij,tkj->tki", R, canon) + [0.0, 0.0, 4.0]
        landmarks = np.einsum("tij,tkj->tki", R, read) + [0.0, 0.0, 4.0]
        parts.append({**compare(landmarks, joints_cam, R), "visible": np.ones((T, 14), bool),
                      "lr_swap_2d": np.zeros(T, bool), "sequence": np.full(T, seq)})  # fmt: skip
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def test_a_stride_the_landmarks_keep_a_third_of_is_measured_as_gain_a_third_and_synthesised_so():
    from livehmr.training.motion.synth import LandmarkNoise

    ankle = KEYPOINT_NAMES.index("left_ankle")
    data = _striding_data()
    assert np.allclose(gait_gain(data)[ankle, 2], 0.33, atol=1e-6)
    model = summarise_gait(data, [slice(120 * i, 120 * (i + 1)) for i in range(3)])
    assert np.allclose(model["joints"]["left_ankle"]["gain"][2], 0.33, atol=1e-4)
    # what the gain leaves is the constant offset alone: the bias, no spread
    assert np.allclose(model["joints"]["left_ankle"]["bias"], [0.02, 0.0, 0.05], atol=1e-3)
    assert np.sqrt(model["joints"]["left_ankle"]["cov"][2][2]) < 0.01

    errors = {"joints": {k: {"bias": [0, 0, 0], "cov": np.zeros((3, 3)).tolist(), "lag1_autocorrelation": 0.0,
                             "outlier_rate": 0.0, "outlier_cov": np.eye(3).tolist(),
                             "gain": model["joints"][k]["gain"]} for k in KEYPOINT_NAMES},
              "facing_flip_rate": 0.0, "facing_flip_mean_frames": 3.0}  # fmt: skip
    T = 120
    R = _turn(np.full(T, 0.3))
    canon = _swinging_legs(T, 7)
    joints_cam = np.einsum("tij,tkj->tki", R, canon) + [0.0, 0.0, 4.0]
    out = np.einsum("tji,tkj->tki", R, LandmarkNoise(errors)(np.random.default_rng(0), joints_cam, R, np.zeros(T, bool)))
    true_swing = hip_centred(canon)[:, ankle, 2]
    assert np.allclose(out[:, ankle, 2].std() / true_swing.std(), 0.33, atol=0.01)


def test_measuring_either_part_of_the_error_model_keeps_the_other(tmp_path, monkeypatch):
    import json

    import livehmr.training.landmark_errors as le

    data = _striding_data()
    monkeypatch.setattr(le, "collect", lambda suites, detector: (data, [slice(120 * i, 120 * (i + 1)) for i in range(3)], 3))
    path = tmp_path / "errors.json"
    le.measure_landmark_errors(["base"], path)
    le.measure_gait_landmark_errors(["gait"], path)
    first = json.loads(path.read_text())
    assert first["suites"] == ["base"] and first["gait"]["suites"] == ["gait"]
    le.measure_landmark_errors(["base-again"], path)  # the base re-measured: the gait entry stays
    again = json.loads(path.read_text())
    assert again["suites"] == ["base-again"] and again["gait"] == first["gait"]


def test_the_landmark_block_is_zero_without_landmarks_and_a_2d_network_never_reads_it():
    none = landmark_features(None, None, np.array([True, False]))
    assert none.shape == (2, NUM_KP * 4 + 1) and not none.any()
    lm = np.random.default_rng(0).normal(0, 0.4, size=(14, 3))
    some = landmark_features(lm, np.full(14, 0.8), True)
    assert some[-1] == 1.0 and np.allclose(some[: 14 * 3].reshape(14, 3), hip_centred(lm))
    assert not landmark_features(lm, np.full(14, 0.8), False).any()  # no 2D detection: no 3D either
    columns = input_columns(False)
    assert not set(range(NUM_FEATURES)[LANDMARK_SLICE]) & set(columns.tolist())
    assert len(input_columns(True)) == NUM_FEATURES
