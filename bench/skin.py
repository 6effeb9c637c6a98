"""How closely the 24-joint skin (what viewers and GLB files draw) matches Anny's own mesh.

    python -m livehmr.bench.skin [--poses 20] [--sigma 0.3]

Random poses (local rotations ~ N(0, sigma) rad per axis, hands and feet straight, where
Anny's per-toe and per-finger pivots agree with SMPL's one joint), Anny's own posed mesh
against :class:`~livehmr.models.skinned.SkinnedBody` with four influences per vertex
(glTF's JOINTS_0, three.js) and with every influence; vertex error in mm. Also the time
to skin one pose in numpy.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--poses", type=int, default=20)
    parser.add_argument("--sigma", type=float, default=0.3)
    args = parser.parse_args()

    from livehmr.models.anny_body import AnnyBody
    from livehmr.models.body import NUM_BETAS, SmplParams
    from livehmr.models.skeleton import JOINT, NUM_JOINTS, pose_to_rotmats
    from livehmr.models.skinned import skinned_anny, top_influences

    body = AnnyBody()
    four = skinned_anny(body)
    weights = body.model.dense_vertex_bone_weights.double().numpy()
    per_joint = np.zeros((weights.shape[1], NUM_JOINTS))
    per_joint[np.arange(weights.shape[1]), body.bone_joint] = 1.0
    idx, w = top_influences(weights @ per_joint, k=NUM_JOINTS)
    every = type(four)(**{**vars(four), "joint_indices": idx, "joint_weights": w})

    rng = np.random.default_rng(0)
    errors = {"4 influences": [], "all influences": []}
    skin_ms = []
    ends = [JOINT[n] - 1 for n in ("left_hand", "right_hand", "left_foot", "right_foot")]
    for _ in range(args.poses):
        body_pose = rng.normal(0, args.sigma, (23, 3))
        body_pose[ends] = 0.0
        params = SmplParams(rng.normal(0, 0.5, 3), body_pose.ravel(), rng.normal(0, 1, 3), np.zeros(NUM_BETAS))
        reference, _ = body.mesh(params)
        rotmats = pose_to_rotmats(params.global_orient, params.body_pose)[None].numpy()
        t0 = time.perf_counter()
        vertices = four.skin(rotmats, params.transl[None])[0]
        skin_ms.append((time.perf_counter() - t0) * 1e3)
        errors["4 influences"].append(np.linalg.norm(vertices - reference, axis=1))
        errors["all influences"].append(np.linalg.norm(every.skin(rotmats, params.transl[None])[0] - reference, axis=1))

    print(f"{args.poses} random poses (sigma {args.sigma} rad), {len(four.bind_vertices)} vertices; error in mm")
    print("| skin | max | p99 | mean |\n|---|---:|---:|---:|")
    for name, values in errors.items():
        e = np.concatenate(values) * 1e3
        print(f"| {name} | {e.max():.2f} | {np.quantile(e, 0.99):.2f} | {e.mean():.3f} |")
    print(f"numpy skinning of one pose: {np.median(skin_ms):.1f} ms (median)")


if __name__ == "__main__":
    main()
