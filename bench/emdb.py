"""EMDB, scored the way the field does (split 2: world metrics; split 1: camera frame).

    livehmr bench emdb --root EMDB_DIR --smpl-model SMPL_DIR [--split 2] [--configs learned+gyro,learned]
                       [--refine humor] [--body anny|smpl] [--out bench_out/emdb]

Reads EMDB's released layout (its annotation pickles: this command unpickles the files you
point it at, and nothing else), runs every sequence of the split causally at 30 fps with
its intrinsics, and prints our rows beside the field's published ones (with sources).
``+gyro``: a gyroscope simulated from EMDB's true camera rotation (WHAM's and GVHMR's "GT
gyro" rows); said so in the table. Protocol: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console


def run(benchmark: str, sequences_of, argv_prog: str, doc: str, default_configs: str, split_option: bool) -> None:
    """The shared command line of ``bench emdb`` and ``bench 3dpw``."""
    from livehmr.core.errors import LivehmrError
    from livehmr.eval import field

    parser = argparse.ArgumentParser(prog=argv_prog, description=doc.split("\n")[0],
                                     epilog="Reading the dataset runs pickle on its annotation files: only on files you trust.")  # fmt: skip
    parser.add_argument("--root", required=True, help="The dataset's folder, as released.")
    parser.add_argument("--smpl-model", required=True, help="Folder of SMPL_{NEUTRAL,MALE,FEMALE}.pkl (licensed; yours).")
    if split_option:
        parser.add_argument("--split", type=int, default=2, choices=(1, 2), help="EMDB split: 1 (camera frame) or 2 (world).")
    parser.add_argument("--configs", default=default_configs, help="ESTIMATOR[+CAMERA], comma-separated (CAMERA: gyro | vo).")
    parser.add_argument("--refine", default="", help="Also score refined streams: humor,diffusion,noprior.")
    parser.add_argument("--body", default="anny", choices=("anny", "smpl"), help="The pipeline's body (smpl: PVE on SMPL meshes).")
    parser.add_argument("--limit", type=int, default=None, help="Only the first N sequences.")
    parser.add_argument("--out", default=f"bench_out/{benchmark.rstrip('12')}")
    args = parser.parse_args()
    console = Console()
    try:
        sequences, key = sequences_of(args)
        sequences = sequences[: args.limit] if args.limit else sequences
        configs = tuple(c.strip() for c in args.configs.split(",") if c.strip())
        refine = tuple(r.strip() for r in args.refine.split(",") if r.strip())
        with console.status("running...") as status:
            results = field.evaluate(sequences, args.smpl_model, configs, args.body, refine=refine,
                                     progress=lambda s, c: status.update(f"{s}: {c} done"))  # fmt: skip
    except LivehmrError as exc:
        raise SystemExit(f"livehmr bench {benchmark}: error: {exc}") from None
    rows = field.table(results, key)
    text = field.markdown(rows, key, gyro_note=True)
    frames = sum(int(r[next(iter(r))]["frames"]) for r in results.values())
    console.print(f"{key}: {len(results)} sequences, {frames} scored frames\n")
    console.print(text, highlight=False, markup=False)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{key}.md").write_text(text + "\n")
    clean = {s: {c: {k: v for k, v in m.items() if not k.startswith("_")} for c, m in per.items()} for s, per in results.items()}
    (out / f"{key}.json").write_text(json.dumps({"table": rows, "sequences": clean}, indent=2, default=float))
    console.print(f"written: {out / (key + '.md')}, {out / (key + '.json')}")


def main() -> None:
    from livehmr.eval.datasets import read_emdb

    run("emdb", lambda a: (read_emdb(a.root, a.split), f"emdb{a.split}"), "livehmr bench emdb", __doc__ or "",
        "learned+gyro,learned", split_option=True)


if __name__ == "__main__":
    main()
