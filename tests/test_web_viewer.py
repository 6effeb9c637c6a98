"""`livehmr web`: the bridge forwards the stream frame by frame, guards itself against other
origins and hosts, and a headless Chromium (Debian's package) draws a body from it."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from livehmr.core.geometry import R_WORLD_CAM_LEVEL
from livehmr.core.types import FrameResult, PersonState
from livehmr.models.body import SmplParams
from livehmr.models.skeleton import NUM_JOINTS
from livehmr.stream.publish.publisher import ZmqPublisher


class _Stream:
    """Publishes a walking Anny body (or nobody) at 30 fps on a thread until closed."""

    def __init__(self, url: str, body, with_person: bool = True):
        rng = np.random.default_rng(0)
        self.rotvecs = 0.3 * np.sin(np.arange(90)[:, None, None] / 8 + rng.uniform(0, 6, (1, NUM_JOINTS, 3)))
        self.rotvecs[:, 0] = Rotation.from_matrix(np.array([[0.0, 0, -1], [-1, 0, 0], [0, 1, 0]])).as_rotvec()  # faces the camera
        self.body, self.with_person = body, with_person
        self.publisher = ZmqPublisher(url)
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def result(self, i: int) -> FrameResult:
        T = np.eye(4)
        T[:3, :3], T[2, 3] = R_WORLD_CAM_LEVEL, 1.5
        persons = []
        if self.with_person:
            rv = self.rotvecs[i % 90]
            params = SmplParams(rv[0], rv[1:].ravel(), np.array([4.0, 0.0, 0.05]), self.body.betas)
            from livehmr.models.body import body_joints

            persons = [PersonState(3, params, body_joints(self.body, params), np.full(4, 0.5), np.full(24, 0.8))]
        return FrameResult(i, i / 30, time.perf_counter(), T, persons)

    def _run(self) -> None:
        i = 0
        while self.running:
            self.publisher.publish(self.result(i))
            i += 1
            time.sleep(1 / 30)

    def close(self) -> None:
        self.running = False
        self.thread.join(2)
        self.publisher.close()


@pytest.fixture
def viewer_of():
    from livehmr.clients.web_viewer import WebViewer

    started = []

    def start(url: str) -> WebViewer:
        viewer = WebViewer(url, port=0).start()
        started.append(viewer)
        return viewer

    yield start
    for viewer in started:
        viewer.stop()


def _get(url: str, host: str | None = None) -> tuple[int, bytes, str]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), response.headers["Content-Type"]
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers["Content-Type"]


def test_page_message_carries_what_the_page_poses(anny_body):
    from livehmr.clients.sdk import State
    from livehmr.clients.web_viewer import page_message
    from livehmr.stream.publish.publisher import state_messages
    from livehmr.stream.publish.wire import TOPIC_STATE, decode, encode

    def states(result):
        return [State(decode(encode(TOPIC_STATE, h, a))) for h, a in state_messages(result, "s", "anny")]

    stream = _Stream.__new__(_Stream)  # its frames, without a publisher
    stream.rotvecs, stream.body, stream.with_person = np.random.default_rng(2).normal(0, 0.4, (1, 24, 3)), anny_body, True
    result = stream.result(0)
    states_ = states(result)
    msg = json.loads(json.dumps(page_message(states_)))
    (person,) = msg["persons"]
    q = np.array(person["quaternions"])
    np.testing.assert_allclose(Rotation.from_quat(q).as_rotvec(), stream.rotvecs[0], atol=1e-3)
    np.testing.assert_allclose(person["pelvis"], result.persons[0].joints_world[0], atol=1e-3)
    np.testing.assert_allclose(np.array(msg["T_world_cam"]).reshape(4, 4), result.T_world_cam, atol=1e-5)
    assert person["id"] == 3 and person["phenotype"] == [0.5] * 6

    stream.with_person = False
    msg = page_message(states(stream.result(1)))
    assert msg["persons"] == [] and "no_person" in msg["flags"]


def test_the_bridge_serves_the_page_and_the_stream_to_its_own_origin_only(anny_body, viewer_of):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    stream = _Stream("tcp://127.0.0.1:5651", anny_body)
    try:
        viewer = viewer_of("tcp://127.0.0.1:5651")
        base = viewer.url
        status, page, kind = _get(base)
        assert status == 200 and b"viewer.js" in page and kind.startswith("text/html")
        status, script, kind = _get(base + "vendor/three.bundle.min.js")
        assert status == 200 and kind.startswith("text/javascript") and len(script) > 100_000
        assert _get(base + "../cli.py")[0] == 404 and _get(base + "secret")[0] == 404
        assert _get(base, host="evil.example:80")[0] == 403  # DNS rebinding
        assert _get(base + "body.glb?phenotype=1,2")[0] == 400

        status, glb, kind = _get(base + "body.glb?phenotype=0.5,0.5,0.5,0.5,0.5,0.5")
        assert status == 200 and kind == "model/gltf-binary" and glb[:4] == b"glTF"
        import pygltflib

        gltf = pygltflib.GLTF2.load_from_bytes(glb)
        assert [n.name for n in gltf.nodes[1:25]][:3] == ["pelvis", "left_hip", "right_hip"] and not gltf.animations

        with pytest.raises(InvalidStatus):
            connect(base.replace("http", "ws") + "ws", origin="http://evil.example")
        with connect(base.replace("http", "ws") + "ws", origin=base.rstrip("/")) as ws:
            assert json.loads(ws.recv(10))["hello"] == "livehmr"
            frames = [json.loads(ws.recv(10)) for _ in range(5)]
        assert all(len(f["persons"]) == 1 and f["persons"][0]["id"] == 3 for f in frames)
        assert [f["frame"] for f in frames] == sorted({f["frame"] for f in frames})
    finally:
        stream.close()


def test_a_slow_browser_gets_the_latest_frames_and_stalls_nothing():
    import asyncio

    from livehmr.clients.web_viewer import CLIENT_QUEUE, _Client

    async def scenario():
        client = _Client()
        for i in range(50):
            client.offer(str(i))  # nobody reads: must not block or grow
        return [client.queue.get_nowait() for _ in range(client.queue.qsize())], client.dropped

    kept, dropped = asyncio.run(scenario())
    assert kept == [str(i) for i in range(50 - CLIENT_QUEUE, 50)] and dropped == 50 - CLIENT_QUEUE


def _chromium(extra_args: tuple[str, ...] = ()):
    """Debian's chromium + chromium-driver and selenium, or a skip (a failure on CI, which installs them);
    ``extra_args``: more command-line switches (the phone page's fake camera)."""
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        browser = None
    if not (browser and driver):
        message = "needs Debian's chromium and chromium-driver and selenium (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(message + "; .ci/run installs them")
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=800,600",
                "--use-angle=swiftshader", "--enable-unsafe-swiftshader", *extra_args):  # fmt: skip
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=Service(driver))


def _body_pixels(png: bytes) -> int:
    """Pixels of the body's orange-tan (the GLB's material, lit): nothing else on the page has it."""
    import cv2

    bgr = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR).astype(int)
    b, g, r = bgr[..., 0], bgr[..., 1], bgr[..., 2]
    return int(((r > 90) & (r - g > 25) & (g - b > 15)).sum())


@pytest.mark.parametrize("with_person", [True, False])
def test_headless_chromium_draws_a_body_from_the_live_stream(anny_body, viewer_of, with_person, tmp_path):
    """The page, in a real browser, against a running stream: a body is drawn where there is
    a person (counted on the screenshot), and nothing orange where the stream has nobody."""
    driver = _chromium()
    port = 5652 + with_person
    stream = _Stream(f"tcp://127.0.0.1:{port}", anny_body, with_person=with_person)
    try:
        viewer = viewer_of(f"tcp://127.0.0.1:{port}")
        driver.get(viewer.url)
        stats = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            stats = driver.execute_script("return window.livehmrViewer") or {}
            if stats.get("framesDrawn", 0) > 10 and stats.get("personsDrawn", 0) == int(with_person):
                break
            time.sleep(0.3)
        png = driver.get_screenshot_as_png()
        errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        driver.quit()
        stream.close()
    assert not errors, errors
    assert stats.get("framesDrawn", 0) > 10, stats
    (tmp_path / "screenshot.png").write_bytes(png)  # kept by pytest for a look when this fails
    pixels = _body_pixels(png)
    if with_person:  # a 1.7 m body 6-7 m from the view covers about 1,300 pixels of 800x600
        assert stats["personsDrawn"] == 1 and pixels > 400, (stats, pixels)
    else:
        assert stats["personsDrawn"] == 0 and pixels == 0, (stats, pixels)
