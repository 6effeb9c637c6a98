"""Latency a bridge adds: from the publisher's send to the bridge's output.

    python -m livehmr.bench.bridges [--seconds 20]

A publisher sends the embedded scene's true states at 30 fps (no pipeline: the bridge is
all that is measured); the bridge, a client of the stream like any other, turns each
frame into its protocol's output. The figure is ``time of the bridge's send -
t_publish`` in the first message of the frame (one machine, one clock), p50 / p99.
"""

from __future__ import annotations

import argparse
import threading
import time

import numpy as np


def scene_results(seconds: float):
    """FrameResults of the embedded scene's ground truth (one person), 30 fps."""
    from livehmr.stream.types import FrameResult, PersonState
    from livehmr.studio.scene import default_scene

    scene = default_scene(duration=seconds)
    for i in range(scene.num_frames):
        truth = scene.truth(i)
        person = PersonState(0, truth.params, truth.joints_world, np.full(4, 0.5), np.ones(24))
        yield FrameResult(i, truth.t, time.perf_counter(), truth.T_world_cam, [person])


def measure(bridge, seconds: float, url: str = "tcp://127.0.0.1:5691") -> tuple[int, float, float]:
    """(frames bridged, p50 ms, p99 ms) of ``bridge`` over ``seconds`` of the scene at 30 fps."""
    from livehmr.clients.bridges.stream import run_bridge
    from livehmr.stream.publish import ZmqPublisher

    results = list(scene_results(seconds))
    publisher = ZmqPublisher(url)
    out = {}
    thread = threading.Thread(target=lambda: out.update(stats=run_bridge(url, bridge, count=len(results), idle_s=3.0)))
    thread.start()
    time.sleep(1.0)  # the bridge subscribes
    start = time.perf_counter()
    for i, result in enumerate(results):
        time.sleep(max(0.0, start + i / 30 - time.perf_counter()))
        publisher.publish(result)
    thread.join(10)
    publisher.close()
    stats = out["stats"]
    return (stats.frames, *stats.percentiles())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    from pythonosc.dispatcher import Dispatcher
    from pythonosc.osc_server import ThreadingOSCUDPServer

    from livehmr.clients.bridges.vmc import VmcBridge

    server = ThreadingOSCUDPServer(("127.0.0.1", 0), Dispatcher())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    frames, p50, p99 = measure(VmcBridge(port=server.server_address[1]), args.seconds)
    server.shutdown()
    print("| bridge | frames | added latency p50 (ms) | p99 (ms) |")
    print("|---|---|---|---|")
    print(f"| vmc | {frames} | {p50:.2f} | {p99:.2f} |")


if __name__ == "__main__":
    main()
