"""Latency each bridge adds: from the publisher's send to the bridge's output.

    python -m livehmr.bench.bridges [--seconds 20] [--only vmc,foxglove,ros2]

A publisher sends the embedded scene's true states at 30 fps with each frame's image
message (a grey 640x480 JPEG and the true joints projected as 2D keypoints; no
pipeline: the bridge is all that is measured); the bridge, a client of the stream like
any other, turns each frame into its protocol's output:

- vmc: an OSC bundle to a UDP server on loopback;
- foxglove: the live WebSocket server (no viewer connected) and an MCAP file;
- ros2: CDR messages on a Zenoh session with a subscriber peer on loopback, and a bag.

The figure is ``time the bridge finished the frame - t_publish`` of the frame's last
state message (one machine, one clock), p50 / p99.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def scene_results(seconds: float):
    """FrameResults of the embedded scene's ground truth (one person), 30 fps, with a grey
    image and the true joints projected as keypoints."""
    from livehmr.core.geometry import invert_T, project, transform_points
    from livehmr.core.types import NUM_KEYPOINTS, FrameResult, PersonKeypoints, PersonState
    from livehmr.studio.scene import default_scene

    scene = default_scene(duration=seconds)
    image = np.full((480, 640, 3), 128, np.uint8)
    for i in range(scene.num_frames):
        truth = scene.truth(i)
        person = PersonState(0, truth.params, truth.joints_world, np.full(4, 0.5), np.ones(24))
        kp = np.ones((NUM_KEYPOINTS, 3))
        kp[:, :2] = project(transform_points(invert_T(truth.T_world_cam), truth.joints_world[:NUM_KEYPOINTS]), truth.K)
        yield FrameResult(i, truth.t, time.perf_counter(), truth.T_world_cam, [person],
                          keypoints=[PersonKeypoints(kp, np.zeros(4), track_id=0)], image=image, K=truth.K)  # fmt: skip


def measure(bridge, seconds: float, url: str = "tcp://127.0.0.1:5691", images: bool = True) -> tuple[int, float, float]:
    """(frames bridged, p50 ms, p99 ms) of ``bridge`` over ``seconds`` of the scene at 30 fps
    (``images``: the bridge subscribes to the image messages too)."""
    from livehmr.clients.bridges.stream import run_bridge
    from livehmr.stream.publish.publisher import ZmqPublisher

    results = list(scene_results(seconds))
    publisher = ZmqPublisher(url, publish_frames=True)
    out = {}
    thread = threading.Thread(target=lambda: out.update(stats=run_bridge(url, bridge, count=len(results), idle_s=3.0,
                                                                         images=images)))  # fmt: skip
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


def _vmc(stack: contextlib.ExitStack, tmp: Path):
    from pythonosc.dispatcher import Dispatcher
    from pythonosc.osc_server import ThreadingOSCUDPServer

    from livehmr.clients.bridges.vmc import VmcBridge

    server = ThreadingOSCUDPServer(("127.0.0.1", 0), Dispatcher())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stack.callback(server.shutdown)
    return VmcBridge(port=server.server_address[1])


def _foxglove(stack: contextlib.ExitStack, tmp: Path):
    from livehmr.clients.bridges.foxglove import FoxgloveBridge

    return FoxgloveBridge(port=0, mcap=tmp / "bench.mcap")


def _ros2(stack: contextlib.ExitStack, tmp: Path):
    import zenoh

    from livehmr.clients.bridges.ros2 import BagSink, Ros2Bridge, RosMessages, ZenohSink, typestore, zenoh_config

    store = typestore()
    sink = ZenohSink(connect=[], listen=["tcp/127.0.0.1:7462"], store=store)
    session = stack.enter_context(zenoh.open(zenoh_config(["tcp/127.0.0.1:7462"])))
    session.declare_subscriber("0/**", lambda sample: None)
    return Ros2Bridge([sink, BagSink(tmp / "bench_ros2.mcap", store)], RosMessages(store))


#: name -> (make the bridge, whether it takes the image messages)
BRIDGES = {"vmc": (_vmc, False), "foxglove": (_foxglove, True), "ros2": (_ros2, True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--only", default=",".join(BRIDGES), help="comma-separated bridges to measure")
    args = parser.parse_args()
    rows = []
    for i, name in enumerate(args.only.split(",")):
        with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
            make, images = BRIDGES[name]
            rows.append((name, *measure(make(stack, Path(tmp)), args.seconds, f"tcp://127.0.0.1:{5691 + i}", images)))
    print("| bridge | frames | added latency p50 (ms) | p99 (ms) |")
    print("|---|---|---|---|")
    for name, frames, p50, p99 in rows:
        print(f"| {name} | {frames} | {p50:.2f} | {p99:.2f} |")


if __name__ == "__main__":
    main()
