"""Which input makes the network read a runner slow: its own speed with BlazePose's inputs or the truth's.

    livehmr bench speed-inputs --suite-dir suites/val [--families follow,dolly,robot]
                                [--motion-model PATH] [--out bench_out/speed-inputs]

For each sequence the motion network runs over the whole clip (a sequence forward, the
same as stepping it frame by frame) four times, its inputs taken from:

- ``blazepose``: the recorded BlazePose keypoints and 3D landmarks (what the pipeline sees);
- ``true-2d``: the true 2D joints (confidence 0.99 where visible) with BlazePose's 3D landmarks;
- ``true-3d``: BlazePose's 2D keypoints with the true 3D joints as landmarks;
- ``true-both``: both from the truth.

The camera inputs come from the true camera in every variant (its rotation's rate and the
down direction), so only the body's inputs differ. Prints, per camera family, the
network's mean horizontal root speed over the true one (frames from the second second on:
the recurrent state has settled), and over all families by time into the clip (the
network was trained on windows of 3 s, then 6 s); writes ``speed_inputs.json``.

``--synthetic``: also the same ratio on the training synthesiser's ground-covering
sequences of the val split (96 of 150 frames), their 3D landmarks made with the gait
error model and without it (the additive model of every other sequence): how much of
the studio's gap the synthesis reproduces.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

VARIANTS = ("blazepose", "true-2d", "true-3d", "true-both")
SETTLED = 30  # frames: the first second is left out (the recurrent state starts from zero)
TIME_BINS = ((1.0, 3.0), (3.0, 6.0), (6.0, 10.0), (10.0, 30.0))  # s into the clip: does the read hold up?


def inputs(truth, recorded: dict, variant: str, landmarks: bool) -> tuple[np.ndarray, np.ndarray]:
    """The network's full feature vectors (T, F) and boxes (T, 3) of one sequence for a variant."""
    from livehmr.models.motion.features import (
        DEFAULT_BOX,
        KEYPOINT_JOINTS,
        LANDMARK_SLICE,
        NUM_CAM_FEATURES,
        NUM_FEATURES,
        NUM_KP,
        NUM_KP_FEATURES,
        camera_features,
        keypoint_features,
        landmark_features,
        rates_from_rotations,
        select_keypoints,
        select_landmarks,
    )  # fmt: skip

    n = truth.num_frames
    R_wc, eye = truth.T_world_cam[:, :3, :3], truth.T_world_cam[:, :3, 3]
    joints_cam = np.einsum("tji,tkj->tki", R_wc, truth.joints_world - eye[:, None])[:, KEYPOINT_JOINTS]
    kp = np.zeros((n, NUM_KP, 3))
    lm: list[np.ndarray | None] = [None] * n
    vis: list[np.ndarray | None] = [None] * n
    for i, persons in recorded.items():
        if i < n and persons:
            kp[i] = select_keypoints(persons[0].keypoints)
            lm[i], vis[i] = select_landmarks(persons[0].landmarks_3d, persons[0].landmarks_3d_conf)
    if variant in ("true-2d", "true-both"):
        kp[..., :2] = truth.joints_2d[:, KEYPOINT_JOINTS]
        kp[..., 2] = 0.99 * truth.visible[:, KEYPOINT_JOINTS]
    if variant in ("true-3d", "true-both"):
        lm, vis = list(joints_cam), [np.full(NUM_KP, 0.99)] * n
    x, boxes, box = np.zeros((n, NUM_FEATURES)), np.zeros((n, 3)), DEFAULT_BOX.copy()
    for i in range(n):
        f, box = keypoint_features(kp[i], truth.K, box)
        boxes[i], x[i, :NUM_KP_FEATURES] = box, f
        if landmarks:
            x[i, LANDMARK_SLICE] = landmark_features(lm[i], vis[i], f[-1] > 0)
    x[:, -NUM_CAM_FEATURES:] = camera_features(rates_from_rotations(R_wc), R_wc)
    return x, boxes


def network_speed(net, x: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(T,) the network's horizontal root speed, m/s, over a whole sequence."""
    import torch

    from livehmr.models.motion.features import input_columns
    from livehmr.models.motion.network import decode

    with torch.no_grad():
        out, _ = net(torch.as_tensor(x[None][..., input_columns(net.config.landmarks)], dtype=torch.float32))
        decoded = decode(out, torch.as_tensor(boxes[None], dtype=torch.float32))
    return decoded.v_heading[0, :, :2].norm(dim=-1).numpy()


def synthetic_ratios(net, sequences: int = 96, frames: int = 150) -> dict[str, float]:
    """The network's speed over the true one on synthetic ground-covering val sequences,
    their landmarks from the gait error model (``gait``) and from the additive one (``additive``)."""
    import torch

    from livehmr.models.motion.network import decode
    from livehmr.training.motion.train import TrainConfig, make_synthesizer
    from livehmr.training.motion.train import inputs as network_inputs

    cfg = TrainConfig(gait_rate=1.0, net=net.config)
    out = {}
    for name in ("gait", "additive"):
        synth = make_synthesizer("val", cfg, seed=777)
        if name == "additive":
            synth.gait_landmark_noise = synth.landmark_noise
        num = den = 0.0
        for _ in range(sequences // 16):
            batch = synth.batch(16, frames)
            with torch.no_grad():
                decoded = decode(net(network_inputs(batch, net))[0], batch.box)
            num += float(decoded.v_heading[:, SETTLED:, :2].norm(dim=-1).sum())
            den += float(batch.v_heading[:, SETTLED:, :2].norm(dim=-1).sum())
        out[name] = num / den
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="livehmr bench speed-inputs", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--suite-dir", default="suites/val")
    parser.add_argument("--families", default="follow,dolly,robot", help="camera families to run")
    parser.add_argument("--motion-model", default=None, help="motion model weights (default: the shipped ones)")
    parser.add_argument("--out", default="bench_out/speed-inputs")
    parser.add_argument("--synthetic", action="store_true", help="also the ratio on synthetic val sequences (see above)")
    args = parser.parse_args()
    import torch
    from tqdm import tqdm

    from livehmr.eval.keypoint_cache import cached_keypoints
    from livehmr.models.motion.network import DEFAULT_WEIGHTS, load_motion_net
    from livehmr.studio.suite import SequenceTruth, load_suite

    torch.set_num_threads(1)
    net = load_motion_net(args.motion_model or DEFAULT_WEIGHTS)
    families = args.families.split(",")
    sequences = [(s, f) for s, f in load_suite(args.suite_dir) if s.camera in families]
    groups = (*families, "all", *(f"{a:g}-{b:g} s" for a, b in TIME_BINS))
    sums: dict[str, dict[str, float]] = {g: {v: 0.0 for v in (*VARIANTS, "true")} for g in groups}
    for spec, folder in tqdm(sequences, desc="speed by input", unit="seq"):
        truth = SequenceTruth.load(folder / "truth.npz")
        recorded = cached_keypoints(folder, truth)
        true = np.linalg.norm(np.gradient(truth.joints_world[:, 0, :2], axis=0), axis=-1) * spec.fps
        spans = {spec.camera: slice(SETTLED, None), "all": slice(SETTLED, None)}
        spans.update({f"{a:g}-{b:g} s": slice(int(a * spec.fps), int(b * spec.fps)) for a, b in TIME_BINS})
        for group, span in spans.items():
            sums[group]["true"] += float(true[span].sum())
        for variant in VARIANTS:
            speed = network_speed(net, *inputs(truth, recorded, variant, net.config.landmarks))
            for group, span in spans.items():
                sums[group][variant] += float(speed[span].sum())
    table = {g: {v: s[v] / max(s["true"], 1e-9) for v in VARIANTS} for g, s in sums.items() if s["true"] > 0}
    lines = ["| family, or time into the clip (all families) | " + " | ".join(f"{v} / true" for v in VARIANTS) + " |", "|---|" + "---:|" * len(VARIANTS)]
    lines += [f"| {g} | " + " | ".join(f"{r[v]:.2f}" for v in VARIANTS) + " |" for g, r in table.items()]
    print("\n".join(lines))
    if args.synthetic:
        table["synthetic"] = synthetic_ratios(net)
        print("synthetic val, ground covering: " + ", ".join(f"{k} landmarks {v:.2f}" for k, v in table["synthetic"].items()))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "speed_inputs.json").write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
