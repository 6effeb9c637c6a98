"""3DPW's test split, camera-frame metrics (PA-MPJPE, MPJPE, PVE), as the field scores it.

    livehmr bench 3dpw --root 3DPW_DIR --smpl-model SMPL_DIR [--configs learned] [--out bench_out/3dpw]

Reads 3DPW's released layout (its Python 2 annotation pickles: this command unpickles the
files you point it at, and nothing else); each person track is scored against the one
person livehmr follows (``--keypoints blazepose``), so in two-person sequences a track
the pipeline did not follow counts as not covered. Protocol: docs/benchmarks.md.
"""

from __future__ import annotations


def main() -> None:
    from livehmr.bench.emdb import run
    from livehmr.eval.datasets import read_3dpw

    run("3dpw", lambda a: (read_3dpw(a.root), "3dpw"), "livehmr bench 3dpw", __doc__ or "", "learned",
        split_option=False)


if __name__ == "__main__":
    main()
