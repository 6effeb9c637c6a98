"""Soak: the full pipeline for an hour, with a slow and a reconnecting subscriber.

    python -m livehmr.bench.soak --minutes 60 --out docs/img/soak
    python -m livehmr.bench.soak --minutes 1.5           # CI's short version

The source plays the embedded scene and the same scene encoded to an MP4 file, one
after the other, for as long as the soak lasts, paced at ``--fps`` with file
semantics (every frame is delivered and numbered; a missing number is a lost frame).
The pipeline is the default one: BlazePose, visual odometry, the learned motion model,
ZeroMQ. Two subscribers run in processes of their own:

- **slow**: reads one message every ``--slow-sleep`` seconds; it connects for a minute,
  leaves for a minute, and so on, so that the frame rate with and without it is
  measured in the same run (the machine's load changes over an hour);
- **reconnecting**: reads everything, and closes and reopens its socket every
  ``--reconnect-s`` seconds; it counts messages, reconnections and anything malformed
  or non-finite.

Every ``--sample-s`` seconds a row goes to ``soak.csv``: resident memory, frames and
the frame rate, per-stage latency p50/p99 of that window, dropped and lost frames, what
each subscriber received. ``soak.png`` draws it. The summary compares the run with the
targets of the reliability issue (memory after the first 5 minutes grows <= 2 %;
latency p99 of the last 10 minutes within 10 % of the first 10; frame rate unchanged
with the slow subscriber; no frame of a file source lost); on runs shorter than 20
minutes those windows shrink to a quarter of the run, and the first sample (the
models' warm-up) is left out of the first window. The exit code is 1 when a frame
was lost, a non-finite value was published or a subscriber saw a malformed message
or nothing after reconnecting: those are bugs at any length, while the timing and
memory figures are for a person to read.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing as mp
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
from tqdm import tqdm

STAGES = ("keypoints", "camera", "estimator", "publish", "overhead", "glass_to_publish")


def rss_mb() -> float:
    """Resident memory of this process, MiB (Linux ``/proc``)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class PacedPlaylist:
    """Frames of several sources, one after the other, round and round, numbered without
    a break and paced at ``fps`` (0: as fast as they come). ``live = False``: the pipeline
    takes every frame, as from a file."""

    live = False

    def __init__(self, open_sources: list, fps: float, stop: threading.Event):
        self.open_sources = open_sources  # callables: each opens a fresh pass of one source
        self.fps = fps
        self.stop = stop
        self.passes = 0

    def __iter__(self) -> Iterator:
        index, t_offset, start = 0, 0.0, time.perf_counter()
        while not self.stop.is_set():
            source = self.open_sources[self.passes % len(self.open_sources)]()
            t_last = 0.0
            for frame in source:
                if self.stop.is_set():
                    break
                if self.fps > 0:
                    delay = start + index / self.fps - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                frame.index, t_last = index, frame.t
                frame.t += t_offset
                frame.t_captured = time.perf_counter()
                frame.flags.discard("frame_dropped")  # numbering restarts with each pass
                index += 1
                yield frame
            source.close()
            t_offset += t_last + 1 / 30
            self.passes += 1

    def close(self) -> None:
        pass


# -- subscribers (each in a process of its own) --------------------------------------------------
def _slow_subscriber(url: str, sleep_s: float, on_s: float, off_s: float, received, connected, stop) -> None:
    from livehmr.clients.sdk import Subscriber

    while not stop.is_set():
        with Subscriber(url, timeout_s=0.5) as sub:
            connected.value = 1
            until = time.monotonic() + on_s
            while time.monotonic() < until and not stop.is_set():
                if sub.recv() is not None:
                    received.value += 1
                time.sleep(sleep_s)
        connected.value = 0
        stop.wait(off_s)


def _reconnecting_subscriber(url: str, reconnect_s: float, received, reconnects, empty_sessions, bad, stop) -> None:
    from livehmr.clients.sdk import Subscriber

    while not stop.is_set():
        got = 0
        with Subscriber(url, timeout_s=0.5) as sub:
            until = time.monotonic() + reconnect_s
            while time.monotonic() < until and not stop.is_set():
                state = sub.recv()
                if state is None:
                    continue
                got += 1
                received.value += 1
                arrays = state.message.arrays
                if not all(np.isfinite(a).all() for a in arrays.values() if a.dtype.kind == "f"):
                    bad.value += 1
            bad.value += sub.rejected
        if got == 0 and not stop.is_set():
            empty_sessions.value += 1
        reconnects.value += 1


# -- the soak ---------------------------------------------------------------------------------------
@dataclass
class Window:
    """What the pipeline did since the last sample."""

    frames: int = 0
    lost: int = 0
    invalid: int = 0
    #: per stage, the latencies (ms) seen in this window
    latency: dict[str, list[float]] = field(default_factory=lambda: {stage: [] for stage in STAGES})


class SoakRecorder:
    """Watches every frame result: lost frame numbers, non-finite output, latencies by window."""

    def __init__(self):
        self.lock = threading.Lock()
        self.window = Window()
        self.last_index = -1
        self.frames = self.lost = self.invalid = 0

    def on_result(self, result) -> None:
        with self.lock:
            w = self.window
            w.frames += 1
            gap = result.frame_index - self.last_index - 1
            w.lost += max(gap, 0)
            self.last_index = result.frame_index
            if "invalid" in result.flags or any(
                not np.isfinite(p.joints_world).all() or not np.isfinite(p.params.transl).all() for p in result.persons
            ):
                w.invalid += 1
            for stage in STAGES:
                if stage in result.latency_ms:
                    w.latency[stage].append(result.latency_ms[stage])

    def take(self) -> Window:
        with self.lock:
            window, self.window = self.window, Window()
        self.frames += window.frames
        self.lost += window.lost
        self.invalid += window.invalid
        return window


def soak(minutes: float, out: Path, fps: float, sample_s: float, slow_sleep: float, slow_period_s: float,
         reconnect_s: float, scene_s: float) -> dict:  # fmt: skip
    from livehmr.bench.latency import encode_scene
    from livehmr.models.body import load_body_model
    from livehmr.stream import registry
    from livehmr.stream.publish.publisher import ZmqPublisher
    from livehmr.stream.runtime import Pipeline
    from livehmr.stream.sources.files import VideoFileSource
    from livehmr.stream.sources.synthetic import SyntheticSource
    from livehmr.studio.scene import default_scene

    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="livehmr-soak-"))
    video = tmp / "scene.mp4"
    encode_scene(video, int(round(scene_s * 30)), keep_images=False)
    scene = default_scene(duration=scene_s)
    stop = threading.Event()
    source = PacedPlaylist([lambda: SyntheticSource(scene), lambda: VideoFileSource(video)], fps, stop)
    publisher = ZmqPublisher("tcp://127.0.0.1:0")
    body = load_body_model("anny")
    pipeline = Pipeline(source, registry.make_keypoints("blazepose"), registry.make_camera("vo", source),
                        registry.make_estimator("learned", body), publishers=[publisher])  # fmt: skip
    recorder = SoakRecorder()
    pipeline.on_result.append(recorder.on_result)

    ctx = mp.get_context("spawn")
    sub_stop = ctx.Event()
    counters = {name: ctx.Value("q", 0) for name in ("slow", "slow_on", "fast", "reconnects", "empty", "bad")}
    processes = [
        ctx.Process(target=_slow_subscriber, args=(publisher.url, slow_sleep, slow_period_s, slow_period_s,
                                                   counters["slow"], counters["slow_on"], sub_stop), daemon=True),
        ctx.Process(target=_reconnecting_subscriber, args=(publisher.url, reconnect_s, counters["fast"], counters["reconnects"],
                                                           counters["empty"], counters["bad"], sub_stop), daemon=True),
    ]  # fmt: skip
    for p in processes:
        p.start()

    rows: list[dict] = []
    csv_path = out / "soak.csv"
    total_s = minutes * 60

    def sampler() -> None:
        start = last = time.monotonic()
        last_sent = last_dropped = 0
        with open(csv_path, "w", newline="") as f, tqdm(total=round(total_s), desc="soak", unit="s") as bar:
            writer = None
            while not stop.wait(max(0.0, last + sample_s - time.monotonic())):
                now = time.monotonic()
                span, last = now - last, now
                w = recorder.take()
                row = {"t_s": round(now - start, 1), "rss_mb": round(rss_mb(), 1), "frames": recorder.frames,
                       "fps": round(w.frames / span, 2), "lost": w.lost, "invalid": w.invalid,
                       "dropped": pipeline.summary.dropped - last_dropped,
                       "published_per_s": round((publisher.sent - last_sent) / span, 1),
                       "slow_connected": counters["slow_on"].value, "slow_received": counters["slow"].value,
                       "reconnecting_received": counters["fast"].value, "reconnects": counters["reconnects"].value,
                       "passes": source.passes}  # fmt: skip
                for stage in STAGES:
                    v = w.latency[stage]
                    row[f"{stage}_p50_ms"] = round(float(np.percentile(v, 50)), 2) if v else ""
                    row[f"{stage}_p99_ms"] = round(float(np.percentile(v, 99)), 2) if v else ""
                last_sent, last_dropped = publisher.sent, pipeline.summary.dropped
                rows.append(row)
                if writer is None:
                    writer = csv.DictWriter(f, fieldnames=list(row))
                    writer.writeheader()
                writer.writerow(row)
                f.flush()
                bar.update(round(row["t_s"]) - bar.n)
                bar.set_postfix(fps=row["fps"], rss=f"{row['rss_mb']:.0f}MB", lost=recorder.lost)
                if now - start >= total_s:
                    pipeline.stop()
                    stop.set()

    sampling = threading.Thread(target=sampler, name="soak-sampler", daemon=True)
    sampling.start()
    try:
        pipeline.run()
    finally:
        stop.set()
        pipeline.close()
        sub_stop.set()
        for p in processes:
            p.join(timeout=5)
        sampling.join(timeout=sample_s + 5)
    summary = summarise(rows, recorder, counters, minutes)
    plot(rows, out / "soak.png", minutes)
    return summary


def _mean(values) -> float:
    values = [v for v in values if v != ""]
    return float(np.mean(values)) if values else float("nan")


def summarise(rows: list[dict], recorder: SoakRecorder, counters: dict, minutes: float) -> dict:
    """The run against the issue's targets (windows scaled down on runs under 20 minutes)."""
    t = np.array([r["t_s"] for r in rows])
    warm_s = min(300.0, minutes * 60 / 4)
    edge_s = min(600.0, minutes * 60 / 4)
    after_warm = [r["rss_mb"] for r, ti in zip(rows, t) if ti >= warm_s]
    first = [r for r, ti in zip(rows[1:], t[1:]) if ti <= edge_s]  # the first sample holds the models' warm-up
    last = [r for r, ti in zip(rows, t) if ti > t[-1] - edge_s] if len(t) else []
    p99 = {s: (_mean(r[f"{s}_p99_ms"] for r in first), _mean(r[f"{s}_p99_ms"] for r in last)) for s in STAGES}
    # the first sample of each slow-subscriber phase straddles the switch: leave it out
    steady = [r for prev, r in zip(rows, rows[1:]) if prev["slow_connected"] == r["slow_connected"] and r["t_s"] > warm_s]
    fps_with = _mean(r["fps"] for r in steady if r["slow_connected"])
    fps_without = _mean(r["fps"] for r in steady if not r["slow_connected"])
    glass_with = _mean(r["glass_to_publish_p50_ms"] for r in steady if r["slow_connected"])
    glass_without = _mean(r["glass_to_publish_p50_ms"] for r in steady if not r["slow_connected"])
    return {
        "minutes": round(float(t[-1]) / 60, 1) if len(t) else 0.0,
        "frames": recorder.frames, "lost": recorder.lost, "invalid": recorder.invalid,
        "memory_mb_after_warmup": (after_warm[0], after_warm[-1]) if after_warm else None,
        "memory_growth_pct": 100 * (after_warm[-1] / after_warm[0] - 1) if len(after_warm) > 1 else float("nan"),
        "warm_s": warm_s, "edge_s": edge_s, "p99_first_last_ms": p99,
        "fps_with_slow": fps_with, "fps_without_slow": fps_without,
        "glass_p50_with_slow": glass_with, "glass_p50_without_slow": glass_without,
        "slow_received": counters["slow"].value, "reconnecting_received": counters["fast"].value,
        "reconnects": counters["reconnects"].value, "empty_sessions": counters["empty"].value,
        "bad_messages": counters["bad"].value,
    }  # fmt: skip


def plot(rows: list[dict], path: Path, minutes: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.array([r["t_s"] for r in rows]) / 60
    fig, ax = plt.subplots(4, 1, figsize=(10, 11), sharex=True)
    ax[0].plot(t, [r["rss_mb"] for r in rows])
    ax[0].set_ylabel("resident memory (MiB)")
    for stage in ("keypoints", "estimator", "overhead", "glass_to_publish"):
        line = ax[1].plot(t, [r[f"{stage}_p50_ms"] or np.nan for r in rows], label=f"{stage} p50")[0]
        ax[1].plot(t, [r[f"{stage}_p99_ms"] or np.nan for r in rows], "--", color=line.get_color(), label=f"{stage} p99")
    ax[1].set_ylabel("latency (ms)")
    ax[1].set_yscale("log")
    ax[1].legend(fontsize=7, ncol=4)
    ax[2].plot(t, [r["fps"] for r in rows], label="frames processed / s")
    slow = np.array([r["slow_connected"] for r in rows], dtype=bool)
    ax[2].fill_between(t, 0, 1, where=slow, transform=ax[2].get_xaxis_transform(), alpha=0.15, label="slow subscriber connected")
    ax[2].set_ylabel("frame rate (fps)")
    ax[2].legend(fontsize=8)
    ax[3].plot(t, np.cumsum([r["lost"] for r in rows]), label="frames lost (total)")
    ax[3].plot(t, np.cumsum([r["invalid"] for r in rows]), label="non-finite frames (total)")
    ax[3].plot(t, np.diff([0] + [r["reconnecting_received"] for r in rows]) / np.diff([0] + list(t * 60)), label="reconnecting subscriber, msg/s")
    ax[3].plot(t, np.diff([0] + [r["slow_received"] for r in rows]) / np.diff([0] + list(t * 60)), label="slow subscriber, msg/s")
    ax[3].set_ylabel("count / rate")
    ax[3].set_xlabel("minutes")
    ax[3].legend(fontsize=8)
    fig.suptitle(f"livehmr soak, {minutes:g} min: embedded scene + MP4, BlazePose, VO, learned model, ZeroMQ")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def report(s: dict) -> list[str]:
    """The summary as lines, each target with its measured figure."""
    lines = [f"{s['minutes']} min, {s['frames']} frames: lost {s['lost']}, non-finite {s['invalid']} (target 0 and 0)"]
    if s["memory_mb_after_warmup"]:
        a, b = s["memory_mb_after_warmup"]
        lines.append(f"memory after {s['warm_s'] / 60:g} min: {a:.0f} -> {b:.0f} MiB, {s['memory_growth_pct']:+.2f} % (target <= 2 %)")
    for stage, (first, last) in s["p99_first_last_ms"].items():
        lines.append(f"{stage} p99, first vs last {s['edge_s'] / 60:g} min: {first:.1f} -> {last:.1f} ms "
                     f"({100 * (last / first - 1):+.1f} %, target within 10 %)")  # fmt: skip
    if np.isfinite(s["fps_with_slow"]) and np.isfinite(s["fps_without_slow"]):
        ratio = s["fps_with_slow"] / s["fps_without_slow"]
        lines.append(f"frame rate with / without the slow subscriber: {s['fps_with_slow']:.2f} / {s['fps_without_slow']:.2f} fps = {ratio:.3f}")
        lines.append(f"glass-to-publish p50 with / without the slow subscriber: {s['glass_p50_with_slow']:.1f} / "
                     f"{s['glass_p50_without_slow']:.1f} ms")
    else:  # a phase needs two samples in a row after the warm-up to be measured
        lines.append("frame rate with / without the slow subscriber: not measured (no two samples in a row after the "
                     "warm-up in each phase: make --slow-period-s at least twice --sample-s)")
    lines.append(f"slow subscriber read {s['slow_received']} messages; reconnecting one {s['reconnecting_received']} over "
                 f"{s['reconnects']} connections ({s['empty_sessions']} got nothing); malformed or non-finite: {s['bad_messages']}")  # fmt: skip
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--out", type=Path, default=Path("soak"))
    parser.add_argument("--fps", type=float, default=15.0, help="pace of the source (0: as fast as the pipeline goes)")
    parser.add_argument("--sample-s", type=float, default=10.0)
    parser.add_argument("--slow-sleep", type=float, default=0.5, help="seconds the slow subscriber sleeps per message")
    parser.add_argument("--slow-period-s", type=float, default=60.0, help="the slow subscriber connects this long, then leaves this long")
    parser.add_argument("--reconnect-s", type=float, default=180.0)
    parser.add_argument("--scene-s", type=float, default=20.0, help="length of the scene (each pass of the playlist)")
    args = parser.parse_args()
    summary = soak(args.minutes, args.out, args.fps, args.sample_s, args.slow_sleep, args.slow_period_s,
                   args.reconnect_s, args.scene_s)  # fmt: skip
    lines = report(summary)
    (args.out / "summary.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {args.out / 'soak.csv'}, {args.out / 'soak.png'}, {args.out / 'summary.txt'}")
    broken = summary["lost"] or summary["invalid"] or summary["bad_messages"] or summary["empty_sessions"]
    raise SystemExit(1 if broken else 0)


if __name__ == "__main__":
    main()
