"""Why a person reads slow: the learned estimator's speed evidence, ablated, on a suite.

    python -m livehmr.bench.speed --suite-dir suites/val [--variants full,no-box,no-landmarks,moving]
                                  [--families follow,dolly,robot,static,pan] [--out bench_out/speed-val]

Runs ``learned+gyro`` on each sequence (recorded BlazePose keypoints, as ``bench
accuracy``) and keeps, per frame of the published person, four speeds (m/s, horizontal):
the **true** one; the **network**'s own (its predicted root velocity); the **legs'** (the
displacement the trajectory filter is given: the network's velocity corrected so planted
feet do not slide); and the **published** one (the pelvis over a 0.5 s window). Beside
them, how often the trajectory filter believed the camera translates. Variants:

- ``full``: as shipped;
- ``no-box``: the box inputs (centre, size) held at their first value: no box motion;
- ``no-landmarks``: BlazePose's 3D landmarks withheld (what a 2D-only backend gives);
- ``moving``: the trajectory filter told the camera translates (``--camera-translation moving``).

Prints, per variant, the ratio of each speed to the true one (sum over frames) by camera
group (travelling, still, other) and by true-speed bin; writes ``speed.json`` and a plot.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from livehmr.models.motion.features import LANDMARK_SLICE, NUM_KP
from livehmr.studio.camera_path import TRAVELLING_FAMILIES

VARIANTS = ("full", "no-box", "no-landmarks", "moving")
GROUPS = {"travelling": TRAVELLING_FAMILIES, "still": ("static", "pan")}
SPEED_BINS = ((0.0, 0.3), (0.3, 1.0), (1.0, 1.8), (1.8, 99.0))  # m/s, true
BOX = slice(NUM_KP * 3, NUM_KP * 3 + 3)  # (cx, cy, log s) in the feature vector
WINDOW_S = 0.5


class _AblatedStep:
    """Wraps the estimator's network step, changing its inputs (B, F) before each call."""

    def __init__(self, step, variant: str, columns: np.ndarray):
        self.step, self.variant = step, variant
        self.box = [np.flatnonzero(columns == c)[0] for c in range(BOX.start, BOX.stop)]
        self.landmark_columns = [i for i, c in enumerate(columns) if LANDMARK_SLICE.start <= c < LANDMARK_SLICE.stop]
        self.first_box: dict[int, np.ndarray] = {}  # batch row -> box (one person per studio sequence)
        self.landmarks = step.landmarks

    def initial_state(self):
        return self.step.initial_state()

    def __call__(self, x: np.ndarray, state: np.ndarray):
        x = x.copy()
        if self.variant == "no-box":
            for row in range(len(x)):
                self.first_box.setdefault(row, x[row, self.box].copy())
                x[row, self.box] = self.first_box[row]
        elif self.variant == "no-landmarks":
            x[:, self.landmark_columns] = 0.0
        return self.step(x, state)


def run_one(folder: Path, spec, truth, body, variant: str, model: str | None) -> dict[str, np.ndarray]:
    """Per-frame series of one sequence (NaN where nothing was published)."""
    from livehmr.eval.accuracy import run_frames
    from livehmr.eval.keypoint_cache import cached_keypoints
    from livehmr.stream import registry
    from livehmr.stream.estimators.learned import LearnedEstimator
    from livehmr.stream.sources.files import VideoFileSource

    n = truth.num_frames
    series = {k: np.full(n, np.nan) for k in ("network", "legs", "moving")}
    estimator = LearnedEstimator(body, model, default_hfov_deg=spec.hfov_deg,
                                 camera_translation="moving" if variant == "moving" else "auto")  # fmt: skip
    if variant in ("no-box", "no-landmarks"):
        estimator.step = _AblatedStep(estimator.step, variant, estimator.columns)
    dt = 1.0 / spec.fps

    def record(result) -> None:
        i = result.frame_index
        if i >= n or not result.persons:
            return
        person = result.persons[0]
        body_ = estimator.last_bodies.get(person.person_id)
        obs = estimator.last_observations.get(person.person_id)
        if body_ is not None and obs is not None:
            series["network"][i] = np.linalg.norm(body_.v_world[:2])
            series["legs"][i] = np.linalg.norm(obs.displacement[:2]) / dt
        series["moving"][i] = float(estimator.trajectory.believed_model.moving)

    source = VideoFileSource(folder / "video.mp4")
    camera = registry.make_camera("gyro", source, str(folder / "gyro.csv"), spec.imu)
    pred = run_frames(source, camera, estimator, body, spec.hfov_deg, n, cached_keypoints(folder, truth),
                      on_result=(record,))  # fmt: skip
    pelvis = pred.joints_world[:, 0]
    w = max(1, int(round(WINDOW_S * spec.fps)))
    published = np.full(n, np.nan)
    published[w:] = np.linalg.norm(pelvis[w:, :2] - pelvis[:-w, :2], axis=1) / (w * dt)
    series["published"] = published
    series["true"] = np.concatenate([[np.nan], truth.ground_speed])  # frame i: from i-1 to i
    return series


def ratios(rows: list[dict[str, np.ndarray]]) -> dict[str, float]:
    """Each speed summed over the frames where all are known, over the true one's sum."""
    keys = ("network", "legs", "published")
    stacked = {k: np.concatenate([r[k] for r in rows]) for k in (*keys, "true", "moving")}
    ok = np.all([np.isfinite(stacked[k]) for k in (*keys, "true")], axis=0)
    true = stacked["true"][ok]
    out = {"frames": int(ok.sum()), "true speed": float(true.mean()) if ok.any() else float("nan")}
    for k in keys:
        out[k] = float(stacked[k][ok].sum() / max(true.sum(), 1e-9))
    out["camera believed moving"] = float(np.nanmean(stacked["moving"])) if np.isfinite(stacked["moving"]).any() else float("nan")
    return out


def summarize(per_sequence: dict[str, dict[str, np.ndarray]], families: dict[str, str]) -> dict[str, dict[str, float]]:
    table = {}
    for group, members in (*GROUPS.items(), ("other", None), ("all", None)):
        names = [s for s, f in families.items() if (members is None and group == "all") or
                 (members is not None and f in members) or
                 (group == "other" and f not in (*GROUPS["travelling"], *GROUPS["still"]))]  # fmt: skip
        if names:
            table[group] = ratios([per_sequence[s] for s in names])
    for lo, hi in SPEED_BINS:
        rows = []
        for s in per_sequence:
            r = per_sequence[s]
            keep = (r["true"] >= lo) & (r["true"] < hi)
            rows.append({k: np.where(keep, v, np.nan) for k, v in r.items()})
        table[f"true {lo:g}-{hi:g} m/s" if hi < 99 else f"true >= {lo:g} m/s"] = ratios(rows)
    return table


def markdown(variant: str, table: dict[str, dict[str, float]]) -> str:
    lines = [f"| {variant} | frames | true speed (m/s) | network / true | legs / true | published / true | camera believed moving |",
             "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for name, r in table.items():
        lines.append(f"| {name} | {r['frames']} | {r['true speed']:.2f} | {r['network']:.2f} | {r['legs']:.2f} | "
                     f"{r['published']:.2f} | {r['camera believed moving']:.0%} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def plot(tables: dict[str, dict[str, dict[str, float]]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [g for g in next(iter(tables.values()))]
    fig, axes = plt.subplots(1, len(tables), figsize=(4.2 * len(tables), 3.6), sharey=True, squeeze=False)
    for ax, (variant, table) in zip(axes[0], tables.items()):
        x = np.arange(len(groups))
        for k, key in enumerate(("network", "legs", "published")):
            ax.bar(x + (k - 1) * 0.27, [table[g][key] for g in groups], 0.27, label=key)
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xticks(x, groups, rotation=60, ha="right", fontsize=7)
        ax.set_title(variant)
    axes[0][0].set_ylabel("speed / true")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(prog="livehmr bench speed", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--suite-dir", default="suites/val")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--families", default=None, help="camera families to run (default: all)")
    parser.add_argument("--motion-model", default=None, help="motion model weights (default: the shipped ones)")
    parser.add_argument("--out", default="bench_out/speed")
    args = parser.parse_args()
    from tqdm import tqdm

    from livehmr.models.anny_body import AnnyBody
    from livehmr.studio.suite import SequenceTruth, load_suite

    variants = args.variants.split(",")
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; choose from {', '.join(VARIANTS)}")
    sequences = load_suite(args.suite_dir)
    if args.families:
        sequences = [(s, f) for s, f in sequences if s.camera in args.families.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    body = AnnyBody()
    families = {spec.name: spec.camera for spec, _ in sequences}
    tables, text = {}, ""
    for variant in variants:
        per_sequence = {}
        for spec, folder in tqdm(sequences, desc=f"speed {variant}", unit="seq"):
            truth = SequenceTruth.load(folder / "truth.npz")
            per_sequence[spec.name] = run_one(folder, spec, truth, body, variant, args.motion_model)
        tables[variant] = summarize(per_sequence, families)
        text += markdown(variant, tables[variant]) + "\n"
        print(markdown(variant, tables[variant]), flush=True)
    (out / "speed.json").write_text(json.dumps(tables, indent=1))
    (out / "speed.md").write_text(text)
    plot(tables, out / "speed.png")
    print(f"wrote {out / 'speed.md'}, {out / 'speed.png'}")


if __name__ == "__main__":
    main()
