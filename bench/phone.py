"""The phone page's latency, drops and server CPU, through headless Chromium's fake camera.

    livehmr bench phone [--seconds 20] [--out bench_out/phone]
    livehmr bench phone --jpeg-study      # what JPEG alone costs the pipeline, offline
    livehmr bench phone --transport-study # JPEG over the WebSocket vs WebRTC, transports alone

Chromium (Debian's ``chromium`` + ``chromium-driver``, driven by selenium) opens the page
of an in-process ``livehmr phone`` server over HTTPS on loopback; its fake camera plays the
embedded scene at 30 fps, 640x480, and the page streams it (JPEG over the WebSocket, the
transport the transport study chose: docs/phone.md). Figures, after a 3 s warm-up:

* page -> result: from the frame's capture on the page's clock to its result arriving
  back on the page (the overlay's delay; an upper bound on page-to-publish, which has no
  common clock to be measured on), p50 / p99 ms;
* server glass-to-publish: from the frame's arrival at the server to its publication;
* frames the page skipped (its back-pressure: at most 2 frames in flight) and frames the
  server dropped, of the frames the camera delivered;
* server CPU: this process's CPU time (server, decoding, the pipeline) over wall time, in cores.

The gyroscope is not driven here (the page's sensor path costs one small message per
50 ms); Chromium itself runs on the same two cores, so figures are pessimistic for a
real phone, which encodes on its own CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from livehmr.stream.phone.certs import ensure_certificate
from livehmr.stream.phone.server import PhoneServer
from livehmr.stream.registry import StageChoices
from livehmr.studio.scene import default_scene
from livehmr.testing import fake_camera_chromium, write_scene_y4m


def jpeg_study(qualities: tuple[int, ...] = (75, 85, 92), seconds: float = 4.0) -> dict[str, float]:
    """What JPEG alone costs the pipeline, offline: the embedded scene through BlazePose, the
    gyro camera and the baseline estimator (the phone test's stages), each frame as rendered
    and through JPEG at each quality; median local pose error (m) against the truth, after
    the first half second."""
    import cv2

    from livehmr.stream.camera.gyro import GyroCamera
    from livehmr.stream.estimators.baseline import BaselineEstimator
    from livehmr.stream.keypoints.blazepose import BlazePoseDetector
    from livehmr.stream.runtime import Pipeline
    from livehmr.stream.sources.synthetic import SyntheticSource
    from livehmr.testing import scene_state_errors

    class Jpeg(SyntheticSource):
        def __init__(self, quality: int | None):
            super().__init__(duration=seconds)
            self.quality = quality

        def __iter__(self):
            for frame in super().__iter__():
                if self.quality is not None:
                    _, data = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
                    frame.image = np.asarray(cv2.imdecode(data, cv2.IMREAD_COLOR))
                yield frame

    errors: dict[str, float] = {}
    for quality in (None, *qualities):
        source = Jpeg(quality)
        results = []
        pipeline = Pipeline(source, BlazePoseDetector(), GyroCamera(source.gyro_feed()),
                            BaselineEstimator(source.scene.body), publishers=[])  # fmt: skip
        pipeline.on_result.append(results.append)
        pipeline.run()
        pipeline.close()
        pose = [scene_state_errors(source.scene.truth(r.frame_index), r.T_world_cam, p.joints_world)[0]
                for r in results if r.frame_index >= 15 for p in r.persons]  # fmt: skip
        errors["as rendered" if quality is None else f"JPEG {quality}"] = float(np.median(pose))
    return errors


def _print_transport_study(out: Path, seconds: float) -> None:
    from livehmr.bench.phone_transport import transport_study

    console = Console()
    with console.status(f"two transports, {seconds:g} s each after a 3 s warm-up..."):
        results = transport_study(out, seconds)
    table = Table(title="page -> server, transports alone (JPEG 0.9 over TLS WebSocket; WebRTC to aiortc): "
                        "headless Chromium's fake camera, 640x480 at 30 fps, loopback")  # fmt: skip
    for column in ("transport", "delay p50 / p99", "received", "at 640x480", "PSNR", "server CPU", "Chromium CPU"):
        table.add_column(column)
    for r in results:
        name = "JPEG/WebSocket" if r["transport"] == "jpeg" else f"WebRTC {'/'.join(r['codecs'])}"
        table.add_row(name, f"{r['delay_ms'][0]:.1f} / {r['delay_ms'][1]:.1f} ms", f"{r['received_pct']:.1f} %",
                      f"{r['full_size_pct']:.0f} %", f"{r['psnr_db']:.1f} dB", f"{r['server_cpu_cores']:.2f} cores",
                      f"{r['chromium_cpu_cores']:.2f} cores")  # fmt: skip
    console.print(table)
    (out / "transports.json").write_text(json.dumps(results, indent=2))
    console.print(f"written: {out / 'transports.json'}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="livehmr bench phone", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="How long the page streams (after a 3 s warm-up).")
    parser.add_argument("--estimator", default="learned", help="The pipeline's estimator (learned | baseline).")
    parser.add_argument("--out", default="bench_out/phone")
    parser.add_argument("--jpeg-study", action="store_true",
                        help="Only measure what JPEG costs the pipeline offline (median local pose error by quality).")
    parser.add_argument("--transport-study", action="store_true",
                        help="Only compare the transports, page to server (JPEG over the WebSocket vs WebRTC with aiortc).")
    args = parser.parse_args()
    if args.jpeg_study:
        for name, error in jpeg_study().items():
            print(f"{name}: median local pose error {1000 * error:.0f} mm")
        return
    if args.transport_study:
        _print_transport_study(Path(args.out), args.seconds)
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    console = Console()
    with console.status("writing the fake camera's clip..."):
        y4m = write_scene_y4m(out / "scene.y4m", default_scene(duration=8.0))
    cert, key = ensure_certificate(out / "config")
    server = PhoneServer(StageChoices("phone", far_search=False, estimator=args.estimator, fov=70.0), "bench",
                         host="127.0.0.1", port=0, cert=cert, key=key, publish="tcp://127.0.0.1:0")  # fmt: skip
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    server.ready.wait(20)
    driver = fake_camera_chromium(y4m)
    try:
        driver.get(f"https://127.0.0.1:{server.port}/?token=bench")
        driver.find_element("id", "start").click()
        with console.status("warming up..."):
            time.sleep(3.0)
        before = driver.execute_script("return window.livehmrPhone")
        cpu0, wall0 = time.process_time(), time.perf_counter()
        with console.status(f"streaming {args.seconds:g} s..."):
            time.sleep(args.seconds)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        after = driver.execute_script("return window.livehmrPhone")
    finally:
        driver.quit()
        server.stop()
        thread.join(timeout=20)
    n_new = after["results"] - before["results"]
    latency = np.array(after["latencyMs"][-n_new:]) if n_new > 0 else np.array([np.nan])
    server_ms = np.array(after["serverMs"][-n_new:]) if n_new > 0 else np.array([np.nan])
    sent = after["sent"] - before["sent"]
    skipped = after["skipped"] - before["skipped"]
    delivered = sent + skipped
    figures = {
        "seconds": wall, "camera_frames": delivered, "sent": sent, "results": n_new,
        "results_fps": n_new / wall, "page_skipped": skipped, "page_skipped_pct": 100.0 * skipped / max(delivered, 1),
        "server_dropped": int(server.counters["frames_dropped_server"]),
        "page_to_result_ms": [float(np.percentile(latency, 50)), float(np.percentile(latency, 99))],
        "server_glass_to_publish_ms": [float(np.percentile(server_ms, 50)), float(np.percentile(server_ms, 99))],
        "server_cpu_cores": cpu / wall, "estimator": args.estimator, "transport": "JPEG over WebSocket (TLS)",
    }  # fmt: skip
    table = Table(title="livehmr phone: headless Chromium's fake camera, 640x480 at 30 fps, loopback, this machine")
    table.add_column("figure")
    table.add_column("value")
    table.add_row("page -> result back on the page p50 / p99", f"{figures['page_to_result_ms'][0]:.1f} / {figures['page_to_result_ms'][1]:.1f} ms")
    table.add_row("server glass-to-publish p50 / p99", f"{figures['server_glass_to_publish_ms'][0]:.1f} / {figures['server_glass_to_publish_ms'][1]:.1f} ms")
    table.add_row("results per second", f"{figures['results_fps']:.1f}")
    table.add_row("camera frames the page skipped (back-pressure)", f"{skipped} of {delivered} ({figures['page_skipped_pct']:.1f} %)")
    table.add_row("frames the server dropped", str(figures["server_dropped"]))
    table.add_row("server CPU (server + pipeline)", f"{figures['server_cpu_cores']:.2f} cores")
    console.print(table)
    (out / "phone.json").write_text(json.dumps(figures, indent=2))
    console.print(f"written: {out / 'phone.json'}")


if __name__ == "__main__":
    main()
