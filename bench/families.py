"""Ground covered, per camera family: validation beside test, from `bench accuracy` runs.

    python -m livehmr.bench.families --val bench_out/v2-val --test bench_out/v2-test \
        [--configs learned+gyro,learned+vo,baseline+gyro] [--plot speed.png]

Reads each run's ``results.json`` (written by ``livehmr bench accuracy``; nothing is run
again) and prints one markdown table per config: for every camera family and overall,
the published ground speed over the true one, RTE (all, walking < 1.8 m/s, running), the
camera's drift against the true camera (median / worst over sequences), PA-MPJPE and
W-MPJPE100, each as ``val / test``. ``--plot``: the speed ratios per family drawn (what
a person would rather see than read).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from livehmr.core.errors import LivehmrError
from livehmr.studio.camera_path import CAMERA_FAMILIES, TRAVELLING_FAMILIES

#: (column, key in the accuracy run's details, digits)
COLUMNS = (
    ("speed ratio", "speed ratio", 2), ("RTE (%)", "RTE", 1), ("RTE < 1.8 m/s", "RTE <1.8", 1),
    ("RTE ≥ 1.8 m/s", "RTE >=1.8", 1), ("cam drift median (m)", "cam drift median", 2),
    ("cam drift max (m)", "cam drift max", 2), ("PA-MPJPE (mm)", "PA-MPJPE", 1), ("W-MPJPE100 (mm)", "W-MPJPE100", 0),
)  # fmt: skip
FAMILY_ORDER = (*TRAVELLING_FAMILIES, *(f for f in CAMERA_FAMILIES if f not in TRAVELLING_FAMILIES))


def load_details(run: str | Path) -> dict[str, dict[str, float]]:
    path = Path(run) / "results.json"
    if not path.is_file():
        raise LivehmrError(f"{path} not found: run `livehmr bench accuracy --out {run}` first")
    return json.loads(path.read_text())["details"]


def _cell(values: list[float | None], digits: int) -> str:
    return " / ".join("–" if v is None or not np.isfinite(v) else f"{v:.{digits}f}" for v in values)


def family_table(runs: dict[str, dict[str, dict[str, float]]], config: str) -> str:
    """Markdown: one row per family (travelling first) and overall; cells ``val / test``."""
    names = list(runs)
    head = f"| {config} ({' / '.join(names)}) | sequences | true speed (m/s) | " + " | ".join(c for c, _, _ in COLUMNS) + " |"
    rows = [head, "|---|---:|---:|" + "---:|" * len(COLUMNS)]
    for family in (*FAMILY_ORDER, None):
        key = config if family is None else f"{config} @ {family}"
        found = [runs[n].get(key) for n in names]
        if not any(found):
            continue
        label = "**all**" if family is None else family
        seq = _cell([r.get("sequences") if r else None for r in found], 0)
        speed = _cell([r.get("true speed") if r else None for r in found], 2)
        cells = [_cell([r.get(k) if r else None for r in found], d) for _, k, d in COLUMNS]
        rows.append(f"| {label} | {seq} | {speed} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def plot_speed_ratios(runs: dict[str, dict[str, dict[str, float]]], configs: list[str], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(5.5 * len(runs), 3.8), squeeze=False)
    x = np.arange(len(FAMILY_ORDER))
    for ax, (name, details) in zip(axes[0], runs.items()):
        for k, config in enumerate(configs):
            ratios = [details.get(f"{config} @ {f}", {}).get("speed ratio", np.nan) for f in FAMILY_ORDER]
            ax.bar(x + (k - (len(configs) - 1) / 2) * 0.25, ratios, width=0.25, label=config)
        ax.axhspan(0.85, 1.15, color="green", alpha=0.12, label="target 0.85-1.15")
        ax.set_xticks(x, FAMILY_ORDER, rotation=35)
        ax.set(title=f"{name}: published / true ground speed", ylim=(0, 2.5))
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(prog="livehmr bench families", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--val", help="a `bench accuracy` output folder on the validation suite")
    parser.add_argument("--test", help="one on the test suite")
    parser.add_argument("--configs", default="learned+gyro,learned+vo,baseline+gyro")
    parser.add_argument("--plot", help="also draw the speed ratios into this PNG")
    args = parser.parse_args()
    runs = {name: load_details(path) for name, path in (("val", args.val), ("test", args.test)) if path}
    if not runs:
        raise SystemExit("give --val and/or --test (bench accuracy output folders)")
    configs = [c.strip() for c in args.configs.split(",")]
    for config in configs:
        print(family_table(runs, config))
    if args.plot:
        plot_speed_ratios(runs, configs, Path(args.plot))
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
