"""JPEG over a WebSocket vs WebRTC: what each transport costs between the phone page and livehmr.

    livehmr bench phone --transport-study [--seconds 15]

The issue behind ``livehmr phone`` asks for the transport to be chosen by measured latency
and CPU. This study measures the transports alone (no pipeline behind them), the same way
for both: headless Chromium's fake camera plays the embedded scene at 30 fps, 640x480, with
each frame's index drawn into its top-left corner as a strip of black and white blocks.
The page reads the index of every frame it sees (``requestVideoFrameCallback``) and logs
it with the frame's time; the server reads the index from the image once decoded (the
array the pipeline would take) and logs its time; the page and the server share this
machine's clock, so a frame's delay is the difference.

* ``jpeg``: the phone page's own path — the frame drawn on a canvas, JPEG at quality 0.9,
  sent over a TLS WebSocket, at most 2 frames in flight (the server acknowledges each
  once decoded), decoded with OpenCV.
* ``webrtc``: the camera track sent over an ``RTCPeerConnection`` (Chromium's encoder,
  whichever codec it negotiates with ``aiortc``), received and decoded by ``aiortc``,
  each frame turned into an array as the pipeline would need it.

Figures after a 3 s warm-up: page-to-server delay p50/p99, frames received of the frames
the page saw, the received size, the server's CPU (this process) and Chromium's CPU, in
cores. Both ends run on the same two cores, so the figures compare the transports with
each other; they are not a phone's.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path

import numpy as np

CODE_BITS = 10  # a frame's index modulo 1024, one block per bit
CODE_BLOCK = 32  # px: big enough to survive JPEG and a video codec at a low bitrate
MODES = ("jpeg", "webrtc")
SAMPLE_EVERY = 15  # received frames kept to compare with the clip's (PSNR)


def stamp_index(index: int, image: np.ndarray) -> None:
    """Draw ``index`` (mod 2**CODE_BITS) into the top-left corner of a BGR ``image`` (in place)."""
    for bit in range(CODE_BITS):
        value = 255 if (index >> bit) & 1 else 0
        image[:CODE_BLOCK, bit * CODE_BLOCK : (bit + 1) * CODE_BLOCK] = value


def read_index(image: np.ndarray, stamped_width: int = 640) -> int:
    """The index :func:`stamp_index` drew on a frame ``stamped_width`` pixels wide, read from
    the centre of each block of ``image`` (BGR or grey; a sender may have scaled it down)."""
    scale = image.shape[1] / stamped_width
    grey = image if image.ndim == 2 else image.mean(axis=2)
    y = int(scale * CODE_BLOCK / 2)
    xs = [int(scale * (bit + 0.5) * CODE_BLOCK) for bit in range(CODE_BITS)]
    return sum(1 << bit for bit, x in enumerate(xs) if grey[y, x] > 128)


PAGE = """<!doctype html><html><body><video id="v" playsinline muted autoplay></video><script>
"use strict";
const BITS = %(bits)d, BLOCK = %(block)d, MAX_IN_FLIGHT = 2, QUALITY = 0.9;
const mode = new URLSearchParams(location.search).get("mode");
const study = { mode, log: [], sent: 0, skipped: 0, acked: 0, timeSource: null, state: "starting", error: null, codec: null };
window.study = study;
const video = document.getElementById("v");
const codeCanvas = document.createElement("canvas");
codeCanvas.width = BITS * BLOCK; codeCanvas.height = BLOCK;
const codeG = codeCanvas.getContext("2d", { willReadFrequently: true });
const frameCanvas = document.createElement("canvas");
let ws = null, inFlight = 0;

function readIndex() {
  codeG.drawImage(video, 0, 0, BITS * BLOCK, BLOCK, 0, 0, BITS * BLOCK, BLOCK);
  const d = codeG.getImageData(0, 0, BITS * BLOCK, BLOCK).data, c = BLOCK >> 1;
  let index = 0;
  for (let bit = 0; bit < BITS; bit++) if (d[4 * (c * BITS * BLOCK + bit * BLOCK + c)] > 128) index |= 1 << bit;
  return index;
}

function sendJpeg(index) {
  if (inFlight >= MAX_IN_FLIGHT || ws.bufferedAmount > 1 << 20) { study.skipped++; return; }
  frameCanvas.width = video.videoWidth; frameCanvas.height = video.videoHeight;
  frameCanvas.getContext("2d").drawImage(video, 0, 0);
  inFlight++;
  frameCanvas.toBlob(async (blob) => { ws.send(await blob.arrayBuffer()); study.sent++; }, "image/jpeg", QUALITY);
}

function onFrame(now, meta) {
  const t = meta && meta.captureTime ? meta.captureTime : now;
  study.timeSource = meta && meta.captureTime ? "captureTime" : "callback";
  const index = readIndex();
  study.log.push([index, performance.timeOrigin + t]);
  if (mode === "jpeg") sendJpeg(index);
  video.requestVideoFrameCallback(onFrame);
}

async function startWebrtc(stream) {
  const pc = new RTCPeerConnection();
  for (const track of stream.getVideoTracks()) {
    // the pipeline needs the full resolution: under a low bitrate or a busy CPU the
    // encoder should drop frames, not pixels ("detail": maintain-resolution)
    track.contentHint = "detail";
    pc.addTrack(track, stream);
  }
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((done) => {
    if (pc.iceGatheringState === "complete") return done();
    pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && done());
  });
  ws.send(JSON.stringify({ type: "offer", sdp: pc.localDescription.sdp }));
  return pc;
}

async function start() {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: false,
      video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } } });
    video.srcObject = stream;
    await video.play();
    ws = new WebSocket(`wss://${location.host}/ws`);
    ws.binaryType = "arraybuffer";
    let pc = null;
    ws.onmessage = async (event) => {
      const m = JSON.parse(event.data);
      if (m.type === "ack") { inFlight = Math.max(0, inFlight - 1); study.acked++; }
      if (m.type === "answer") await pc.setRemoteDescription({ type: "answer", sdp: m.sdp });
    };
    await new Promise((done) => { ws.onopen = done; });
    if (mode === "webrtc") pc = await startWebrtc(stream);
    video.requestVideoFrameCallback(onFrame);
    study.state = "streaming";
  } catch (e) { study.error = String(e); }
}
start();
</script></body></html>
""" % {"bits": CODE_BITS, "block": CODE_BLOCK}


@dataclass
class Received:
    """What the server received: per frame (index, arrival ms on the epoch clock), sizes seen."""

    frames: list[tuple[int, float]] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)  # (width, height) of each frame
    codecs: set[str] = field(default_factory=set)
    samples: list[tuple[int, np.ndarray]] = field(default_factory=list)  # (index, BGR image), every SAMPLE_EVERY-th frame


class StudyServer:
    """The study page, and one WebSocket per page: JPEG frames, or WebRTC's offer/answer."""

    def __init__(self, cert: Path, key: Path):
        from livehmr.stream.phone.certs import server_tls

        self.ssl = server_tls(cert, key)
        self.received = Received()
        self.port = 0
        self.ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Future | None = None
        self._peers: list = []

    def process_request(self, connection, request):
        from livehmr.stream.phone.server import http_response

        path = urllib.parse.urlsplit(request.path).path
        if path == "/ws":
            return None
        if path != "/":
            return http_response(HTTPStatus.NOT_FOUND, b"not found\n")
        return http_response(HTTPStatus.OK, PAGE.encode(), "text/html; charset=utf-8")

    async def handler(self, ws) -> None:
        import cv2
        import websockets

        try:
            async for message in ws:
                if isinstance(message, bytes):  # a JPEG frame
                    image = cv2.imdecode(np.frombuffer(message, np.uint8), cv2.IMREAD_COLOR)
                    if image is not None:  # the page's own JPEG: undecodable only if truncated
                        self._arrived(image, "jpeg")
                    await ws.send('{"type": "ack"}')
                elif (offer := json.loads(message)).get("type") == "offer":
                    await ws.send(json.dumps({"type": "answer", "sdp": await self._answer(offer["sdp"])}))
        except websockets.ConnectionClosed:
            pass

    def _arrived(self, image: np.ndarray, codec: str) -> None:
        self.received.frames.append((read_index(image), time.time() * 1e3))
        self.received.sizes.append((image.shape[1], image.shape[0]))
        self.received.codecs.add(codec)
        if len(self.received.frames) % SAMPLE_EVERY == 0:
            self.received.samples.append((self.received.frames[-1][0], image))

    async def _answer(self, offer_sdp: str) -> str:
        from aiortc import RTCPeerConnection, RTCSessionDescription
        from aiortc.mediastreams import MediaStreamError

        peer = RTCPeerConnection()
        self._peers.append(peer)
        codec = "?"  # known once the answer is made, before any frame can arrive

        async def consume(track) -> None:
            try:
                while True:
                    frame = await track.recv()
                    self._arrived(frame.to_ndarray(format="bgr24"), codec)
            except MediaStreamError:
                pass

        peer.on("track", lambda track: asyncio.ensure_future(consume(track)))
        await peer.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        await peer.setLocalDescription(await peer.createAnswer())
        codec = negotiated_video_codec(peer.localDescription.sdp)
        return peer.localDescription.sdp

    async def serve(self) -> None:
        from websockets.asyncio.server import serve

        self._loop = asyncio.get_running_loop()
        self._stop = self._loop.create_future()
        async with serve(self.handler, "127.0.0.1", 0, ssl=self.ssl, process_request=self.process_request,
                         max_size=4 << 20) as server:  # fmt: skip
            self.port = next(iter(server.sockets)).getsockname()[1]
            self.ready.set()
            await self._stop
        for peer in self._peers:
            await peer.close()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(lambda: self._stop.done() or self._stop.set_result(None))  # type: ignore[union-attr]


def negotiated_video_codec(sdp: str) -> str:
    """The codec of an SDP answer's video section: its first payload type's ``rtpmap`` name."""
    lines = sdp.splitlines()
    media = next((line.split() for line in lines if line.startswith("m=video")), None)
    if not media or len(media) < 4:
        return "?"
    rtpmap = f"a=rtpmap:{media[3]} "
    return next((line[len(rtpmap) :].split("/")[0] for line in lines if line.startswith(rtpmap)), "?")


def match_delays(page_log: list[tuple[int, float]], received: list[tuple[int, float]]) -> np.ndarray:
    """Each received frame's delay (ms): its arrival minus the time of the latest frame the
    page saw with the same index before it arrived (indices repeat as the clip loops)."""
    seen: dict[int, list[float]] = {}
    for index, t in page_log:
        seen.setdefault(index, []).append(t)
    delays = []
    for index, t in received:
        before = [s for s in seen.get(index, []) if s <= t + 1.0]  # 1 ms: the two clocks' rounding
        if before:
            delays.append(t - before[-1])
    return np.array(delays, float)


def y4m_layout(path: Path) -> tuple[int, int, int]:
    """(width, height, frames) of a 4:2:0 .y4m file as :func:`livehmr.testing.write_scene_y4m` writes it."""
    with open(path, "rb") as f:
        header = f.readline()
    w, h = (int(token[1:]) for token in header.split()[1:3])
    return w, h, (path.stat().st_size - len(header)) // (len(b"FRAME\n") + w * h * 3 // 2)


def read_y4m_frame(path: Path, index: int) -> np.ndarray:
    """Frame ``index`` of a 4:2:0 .y4m file (as :func:`livehmr.testing.write_scene_y4m` writes), BGR."""
    import cv2

    w, h, _ = y4m_layout(path)
    size = w * h * 3 // 2
    with open(path, "rb") as f:
        f.readline()
        f.seek(f.tell() + index * (len(b"FRAME\n") + size) + len(b"FRAME\n"))
        yuv = np.frombuffer(f.read(size), np.uint8).reshape(h * 3 // 2, w)
    return cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420)


def fidelity_db(y4m: Path, samples: list[tuple[int, np.ndarray]]) -> float:
    """Median PSNR (dB) of received frames against the clip's own, below the index strip."""
    import cv2

    n_frames = y4m_layout(y4m)[2]
    values = []
    for index, image in samples:
        if index >= n_frames:  # an index misread (a frame the codec smeared): nothing to compare with
            continue
        original = read_y4m_frame(y4m, index)
        if image.shape != original.shape:
            image = cv2.resize(image, (original.shape[1], original.shape[0]), interpolation=cv2.INTER_LINEAR)
        values.append(cv2.PSNR(original[CODE_BLOCK:], image[CODE_BLOCK:]))
    return float(np.median(values)) if values else float("nan")


def _cpu_s(process) -> float:
    """CPU seconds of ``process`` and all its children (Chromium's renderer, GPU and utility processes)."""
    import psutil

    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        try:
            times = p.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def measure(mode: str, y4m: Path, cert: Path, key: Path, seconds: float, warmup_s: float = 3.0) -> dict:
    """One transport: figures over ``seconds`` after ``warmup_s``."""
    import psutil

    from livehmr.testing import fake_camera_chromium

    if mode not in MODES:
        raise ValueError(f"unknown transport {mode!r}; known: {', '.join(MODES)}")
    server = StudyServer(cert, key)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    server.ready.wait(20)
    # loopback ICE candidates, and plain addresses rather than mDNS names, for aiortc
    driver = fake_camera_chromium(y4m, extra=("--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns"))
    try:
        chromium = psutil.Process(driver.service.process.pid)
        driver.get(f"https://127.0.0.1:{server.port}/?mode={mode}")
        time.sleep(warmup_s)
        page0 = driver.execute_script("return {n: window.study.log.length, sent: window.study.sent, skipped: window.study.skipped}")
        n0 = len(server.received.frames)
        cpu0, chromium0, wall0 = time.process_time(), _cpu_s(chromium), time.perf_counter()
        time.sleep(seconds)
        cpu, chromium_cpu, wall = time.process_time() - cpu0, _cpu_s(chromium) - chromium0, time.perf_counter() - wall0
        n1 = len(server.received.frames)
        study = driver.execute_script("return window.study")
    finally:
        driver.quit()
        server.stop()
        thread.join(timeout=20)
    if study["error"]:
        raise RuntimeError(f"the study page failed ({mode}): {study['error']}")
    page_seen = study["log"][page0["n"] :]
    received = server.received.frames[n0:n1]
    sizes, full = server.received.sizes[n0:n1], y4m_layout(y4m)[:2]
    delays = match_delays([tuple(x) for x in study["log"]], received)
    if delays.size == 0:
        raise RuntimeError(f"no frame of the {mode} transport could be matched to the page's (received {len(received)})")
    return {
        "transport": mode, "seconds": wall, "page_frames": len(page_seen), "received": len(received),
        "received_pct": 100.0 * len(received) / max(len(page_seen), 1),
        "page_skipped": study["skipped"] - page0["skipped"], "matched": int(delays.size),
        "delay_ms": [float(np.percentile(delays, 50)), float(np.percentile(delays, 99))],
        "full_size_pct": 100.0 * sum(size == full for size in sizes) / max(len(sizes), 1),
        "sizes": sorted(set(sizes)), "codecs": sorted(server.received.codecs),
        "psnr_db": fidelity_db(y4m, server.received.samples),
        "server_cpu_cores": cpu / wall, "chromium_cpu_cores": chromium_cpu / wall, "page_time": study["timeSource"],
    }  # fmt: skip


def transport_study(out: Path, seconds: float = 15.0, modes: tuple[str, ...] = MODES, warmup_s: float = 3.0) -> list[dict]:
    """Both transports, one after the other, on the same clip (written to ``out``)."""
    from livehmr.stream.phone.certs import ensure_certificate
    from livehmr.studio.scene import default_scene
    from livehmr.testing import write_scene_y4m

    out.mkdir(parents=True, exist_ok=True)
    y4m = write_scene_y4m(out / "scene_indexed.y4m", default_scene(duration=10.0), mark=stamp_index)
    cert, key = ensure_certificate(out / "config")
    return [measure(mode, y4m, cert, key, seconds, warmup_s) for mode in modes]
