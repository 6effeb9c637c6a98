"""The pipeline's health: a status once a second with rates, latencies, flags and
liveliness, on its own topic, shown by `livehmr echo --status`."""

from __future__ import annotations

import threading
import time

import numpy as np

from livehmr.core.types import FrameResult
from livehmr.stream.health import HealthMonitor


class _Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _result(i: int, flags=(), keypoints_ms: float = 40.0) -> FrameResult:
    result = FrameResult(i, i / 30, 0.0, np.eye(4), [], set(flags))
    result.latency_ms.update(keypoints=keypoints_ms, overhead=3.0)
    return result


def test_status_summarises_the_last_second_and_flags_a_stall():
    clock = _Clock()
    health = HealthMonitor(clock=clock)
    for i in range(30):  # one second at 30 fps, a gyro gap on 3 frames, one slow frame
        clock.t += 1 / 30
        health.observe(_result(i, ("gyro_gap",) if i % 10 == 0 else (), keypoints_ms=200.0 if i == 5 else 40.0))
    clock.t = 101.0 + 1e-9  # exactly one period after the start (30 additions of 1/30 fall short by an ulp)
    assert health.due()
    status = health.status(dropped=2, withheld=0, restarts={"camera": 1}, skipped=4)
    assert status["restarts"] == {"camera": 1} and status["skipped"] == 4
    assert status["fps"] == 30.0 and status["frames"] == 30 and status["dropped"] == 2
    assert status["flags"] == {"gyro_gap": 3} and status["camera"] == "gyro_gap"
    assert status["latency_ms"]["keypoints"][0] == 40.0 and status["latency_ms"]["keypoints"][1] > 100.0
    assert not status["stalled"] and not health.due()

    clock.t += 3.0  # no frame for 3 s
    status = health.status()
    assert status["fps"] == 0.0 and status["stalled"] and status["latency_ms"] == {} and status["frames"] == 30


def test_a_running_pipeline_publishes_its_status_and_echo_shows_it(tmp_path):
    from typer.testing import CliRunner

    from livehmr.cli import app
    from livehmr.clients.sdk import Status, Subscriber
    from livehmr.core.types import CameraState, Frame
    from livehmr.stream.publish.publisher import ZmqPublisher
    from livehmr.stream.runtime import Pipeline
    from livehmr.tests.test_runtime import _Nobody, _NoPeople

    class Frames:  # 30 fps for 4 s, then nothing for 4 s (a stalled camera), then the end
        live = True

        def __iter__(self):
            for i in range(120):
                time.sleep(1 / 30)
                yield Frame(i, i / 30, np.zeros((32, 32, 3), np.uint8), t_captured=time.perf_counter())
            time.sleep(4.0)

    class Still:
        def update(self, frame, persons):
            return CameraState(np.eye(3), flags={"camera_static"})

    url = "tcp://127.0.0.1:5681"
    publisher = ZmqPublisher(url)
    pipeline = Pipeline(Frames(), _NoPeople(), Still(), _Nobody(), publishers=[publisher])
    statuses: list[Status] = []
    lines = []

    def watch():
        with Subscriber(url, timeout_s=3.0, status=True, states=False) as sub:
            statuses.extend(s for s in sub)

    def echo():
        lines.append(CliRunner().invoke(app, ["echo", url, "--status", "--count", "2", "--timeout", "3"]).output)

    watchers = [threading.Thread(target=watch), threading.Thread(target=echo)]
    for w in watchers:
        w.start()
    time.sleep(0.5)
    pipeline.run()
    for w in watchers:
        w.join(10)
    publisher.close()

    assert all(isinstance(s, Status) for s in statuses)
    assert 6 <= len(statuses) <= 9, len(statuses)  # about 1 Hz over ~6.5 s, and the closing one
    running = [s.status for s in statuses if s.status["fps"] > 0]
    assert running and all(20 <= s["fps"] <= 35 and s["camera"] == "static" for s in running[1:-1])
    assert statuses[-1].status["stalled"] and statuses[-1].status["fps"] == 0.0
    assert statuses[-1].status["frames"] == 120  # the closing status counts every frame
    assert "fps" in lines[0] and "camera static" in lines[0] and len(lines[0].strip().splitlines()) == 2
