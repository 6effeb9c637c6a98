"""Ray's overhead: `livehmr serve` against plain `livehmr run` processes, and `livehmr batch` scaling.

    livehmr bench serve [--streams 1,2,4] [--seconds 10] [--videos 4] [--out bench_out/serve]

For each N of ``--streams``, the same N clips (the embedded scene encoded to MP4, 640 px
wide, played as live cameras at 30 fps) run twice, one after the other on this machine:
as N plain ``livehmr run --realtime`` processes, each on its own port, and as N streams of
one ``livehmr serve`` on a local Ray instance (each stream reserving 2/N CPUs so they fit
the two cores). A subscriber counts what reaches it: total states per second over the
span all streams publish, and glass-to-publish p50/p99 (``latency_ms`` of each header,
taken where the state is published: for serve before the hub hop, which is given apart,
subscriber receive time minus the header's ``t_publish``). The ratio serve/run per N is
Ray's overhead (target: throughput per stream >= 0.9x).

Then ``livehmr batch`` on ``--videos`` clips of ``--batch-seconds`` with ``--workers 1`` and ``--workers 2``
on a local Ray instance: videos per minute (target: scales with workers until the cores
run out).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from livehmr.testing import free_port, write_scene_clip

LIVEHMR = [sys.executable, "-m", "livehmr"]


class _Collector:
    """Subscribes to ``urls``; keeps (receive time, stream, frame, glass-to-publish ms, hub hop ms)."""

    def __init__(self, urls: list[str]):
        from livehmr.clients.sdk import Subscriber

        self.rows: list[tuple[float, str, int, float, float]] = []
        self.subs = [Subscriber(u, timeout_s=0.2) for u in urls]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from livehmr.clients.sdk import State

        while not self.stop.is_set():
            for k, sub in enumerate(self.subs):
                state = sub.recv(timeout_s=0.01)
                if isinstance(state, State):
                    now = time.time()
                    h = state.header
                    # plain processes all name their stream "livehmr": told apart by endpoint
                    self.rows.append((now, f"{k}:{h.get('stream')}", state.frame, float(h["latency_ms"]),
                                      (now - float(h["t_publish"])) * 1e3))  # fmt: skip

    def close(self) -> list[tuple[float, str, int, float, float]]:
        self.stop.set()
        self.thread.join(timeout=5)
        for sub in self.subs:
            sub.close()
        return self.rows


def _figures(rows, n_streams: int) -> dict:
    """Total states/s over the span every stream publishes, latency percentiles, hub hop."""
    if not rows:
        return {"fps": 0.0, "p50": float("nan"), "p99": float("nan"), "hop_p50": float("nan"), "states": 0}
    t = np.array([r[0] for r in rows])
    streams = {r[1] for r in rows}
    first = max(t[[r[1] == s for r in rows]].min() for s in streams)  # all publishing
    last = min(t[[r[1] == s for r in rows]].max() for s in streams)  # none ended yet
    inside = (t >= first) & (t <= last)
    latency = np.array([r[3] for r in rows])[inside]
    hop = np.array([r[4] for r in rows])[inside]
    span = max(last - first, 1e-6)
    return {"fps": float(inside.sum() / span), "per_stream_fps": float(inside.sum() / span / n_streams),
            "p50": float(np.percentile(latency, 50)), "p99": float(np.percentile(latency, 99)),
            "hop_p50": float(np.percentile(hop, 50)), "states": int(inside.sum()), "streams_heard": len(streams)}  # fmt: skip


def _plain(clips: list[Path]) -> dict:
    ports = [free_port() for _ in clips]
    collector = _Collector([f"tcp://127.0.0.1:{p}" for p in ports])
    procs = [subprocess.Popen([*LIVEHMR, "run", str(c), "--realtime", "--no-far-search", "--quiet",
                               "--publish", f"tcp://127.0.0.1:{p}"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for c, p in zip(clips, ports)]  # fmt: skip
    for proc in procs:
        proc.wait(timeout=600)
    return _figures(collector.close(), len(clips))


def _served(clips: list[Path], folder: Path) -> dict:
    port = free_port()
    share = 2.0 / len(clips)
    lines = [f'[serve]\npublish = "tcp://127.0.0.1:{port}"\n']
    for i, clip in enumerate(clips):
        lines.append(f'[[stream]]\nid = "s{i}"\nsource = "{clip.resolve()}"\nrealtime = true\nfar_search = false\nnum_cpus = {share}\n')
    toml = folder / f"streams-{len(clips)}.toml"
    toml.write_text("\n".join(lines))
    collector = _Collector([f"tcp://127.0.0.1:{port}"])
    proc = subprocess.run([*LIVEHMR, "serve", str(toml)], capture_output=True, text=True, timeout=900)
    rows = collector.close()
    if proc.returncode != 0:
        raise SystemExit(f"livehmr serve failed: {proc.stdout}{proc.stderr}")
    return _figures(rows, len(clips))


def _batch(videos: list[Path], workers: int, folder: Path) -> dict:
    out = folder / f"batch-{workers}"
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    proc = subprocess.run([*LIVEHMR, "batch", *map(str, videos), "--out", str(out), "--workers", str(workers),
                           "--no-far-search", "--quiet", "--outputs", "recording,npz"], capture_output=True, text=True,
                          timeout=1800)  # fmt: skip
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"livehmr batch failed: {proc.stderr}")
    done = len(list(out.glob("*/summary.json")))
    return {"videos": done, "wall_s": wall, "videos_per_min": 60.0 * done / wall}


def _one_run_cores(video: Path) -> dict:
    """CPU time over wall time of one plain ``livehmr run`` on ``video`` (imports and model
    loading included): how much of the machine one video already takes."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([*LIVEHMR, "run", str(video), "--no-far-search", "--quiet", "--publish",
                    f"tcp://127.0.0.1:{free_port()}"], capture_output=True, check=True, timeout=600)  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cpu_s": cpu, "wall_s": wall, "cores": cpu / wall}


def main() -> None:
    parser = argparse.ArgumentParser(prog="livehmr bench serve", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--streams", default="1,2,4", help="Stream counts to compare (comma-separated).")
    parser.add_argument("--seconds", type=float, default=10.0, help="Length of each live clip (s, 30 fps).")
    parser.add_argument("--videos", type=int, default=6, help="Clips for the batch comparison (0: skip it).")
    parser.add_argument("--batch-seconds", type=float, default=10.0, help="Length of each batch clip (s, 30 fps).")
    parser.add_argument("--out", default="bench_out/serve")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    console = Console()
    counts = [int(n) for n in args.streams.split(",") if n.strip() and n != "none"]
    with console.status("encoding the clips..."):
        clip = write_scene_clip(out / "live.mp4", seconds=args.seconds, fps=30.0, width=640) if counts else None
        clips = []
        for i in range(max(counts, default=0)):
            clips.append(out / f"live{i}.mp4")
            shutil.copy(str(clip), clips[-1])
    results: dict = {"streams": {}, "batch": {}}
    table = Table(title="livehmr serve (Ray) against plain livehmr run processes, paced clips at 30 fps, this machine")
    for column in ("streams", "run: states/s", "serve: states/s", "ratio", "run p50/p99 ms", "serve p50/p99 ms",
                   "hub hop p50 ms"):  # fmt: skip
        table.add_column(column)
    for n in counts:
        assert clip is not None
        with console.status(f"{n} streams: plain processes..."):
            plain = _plain(clips[:n])
        with console.status(f"{n} streams: livehmr serve..."):
            served = _served(clips[:n], out)
        results["streams"][n] = {"run": plain, "serve": served, "ratio": served["fps"] / max(plain["fps"], 1e-9)}
        table.add_row(str(n), f"{plain['fps']:.1f}", f"{served['fps']:.1f}", f"{results['streams'][n]['ratio']:.2f}",
                      f"{plain['p50']:.1f} / {plain['p99']:.1f}", f"{served['p50']:.1f} / {served['p99']:.1f}",
                      f"{served['hop_p50']:.2f}")  # fmt: skip
    if counts:
        console.print(table)
    if args.videos > 0:
        with console.status("encoding the batch clips..."):
            short = write_scene_clip(out / "short.mp4", seconds=args.batch_seconds, fps=30.0, width=640)
            videos = []
            for i in range(args.videos):
                videos.append(out / f"video{i}.mp4")
                shutil.copy(short, videos[-1])
        batch = Table(title=f"livehmr batch, {args.videos} clips of {args.batch_seconds:g} s at 30 fps, local Ray")
        for column in ("workers", "videos/min", "wall s"):
            batch.add_column(column)
        for workers in (1, 2):
            with console.status(f"batch with {workers} worker(s)..."):
                results["batch"][workers] = r = _batch(videos, workers, out)
            batch.add_row(str(workers), f"{r['videos_per_min']:.1f}", f"{r['wall_s']:.1f}")
        console.print(batch)
        with console.status("one plain livehmr run on one clip..."):
            results["batch"]["one_run"] = one = _one_run_cores(videos[0])
        console.print(f"one `livehmr run` on one clip: {one['cpu_s']:.1f} s CPU in {one['wall_s']:.1f} s wall "
                      f"= {one['cores']:.2f} cores")
        results["batch"]["speedup_2_over_1"] = results["batch"][2]["videos_per_min"] / results["batch"][1]["videos_per_min"]
        console.print(f"batch speed-up, 2 workers over 1: {results['batch']['speedup_2_over_1']:.2f}x")
    name = "serve.json" if counts else "batch.json"
    (out / name).write_text(json.dumps(results, indent=2))
    console.print(f"written: {out / name}")


if __name__ == "__main__":
    main()
