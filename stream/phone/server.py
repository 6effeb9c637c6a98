"""``livehmr phone``: the page over HTTPS, its WebSocket, and one pipeline per phone.

One port serves the page (``/?token=...``), its script and the WebSocket (``/ws``), over
TLS (:mod:`livehmr.stream.phone.certs`). Each connected phone gets its own pipeline in a
thread (the stages ``--keypoints``, ``--estimator``... choose; camera motion from the
phone's gyroscope on the page's clock), publishing on the ``--publish`` endpoint through a
hub (stream ``phone-1``, ``phone-2``...) and sending each frame's result back to its page
for the overlay.

Who may connect: only with this run's pairing token (page and WebSocket), the WebSocket
only from the page's own origin, at most ``max_phones`` at once. Oversized, malformed or
too-fast messages are dropped and counted in :attr:`PhoneServer.counters`; none ends the
server.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import replace
from http import HTTPStatus
from pathlib import Path

import numpy as np

from livehmr.core.geometry import invert_T, project, transform_points
from livehmr.core.types import FrameResult
from livehmr.stream.phone.certs import server_tls
from livehmr.stream.phone.protocol import (
    CLOSE_VERSION,
    MAX_MESSAGE_BYTES,
    PHONE_PROTOCOL,
    PhoneMessageError,
    parse_frame,
    parse_imu,
    parse_text,
)
from livehmr.stream.phone.source import PhoneSource
from livehmr.stream.publish.hub import Hub
from livehmr.stream.publish.publisher import ZmqPublisher
from livehmr.stream.publish.security import CurveServer
from livehmr.stream.registry import StageChoices

log = logging.getLogger(__name__)
PAGE_DIR = Path(__file__).resolve().parent / "page"
_ASSETS = {"/phone.js": ("phone.js", "text/javascript; charset=utf-8")}
MAX_FRAMES_PER_S = 60  # a page sending faster is dropped to this (30 fps cameras, with room)
MAX_IMU_MESSAGES_PER_S = 50  # the page batches its samples every ~50 ms
CLOCK_DISAGREEMENT_S = 1.0  # frames this far from the newest gyro sample: the page's clocks disagree


class RateLimit:
    """At most ``per_s`` events in any second (a token bucket of one second's capacity)."""

    def __init__(self, per_s: float):
        self.per_s = per_s
        self.tokens = per_s
        self.last = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.per_s, self.tokens + (now - self.last) * self.per_s)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class OverlaySender:
    """A publisher that sends each frame's SMPL joints, projected into the frame (pixels),
    back to the page that sent the frame (the live AR overlay)."""

    withheld = 0

    def __init__(self, loop: asyncio.AbstractEventLoop, outbox: asyncio.Queue):
        self.loop = loop
        self.outbox = outbox

    def publish(self, result: FrameResult) -> None:
        persons = []
        if result.K is not None:
            T_cam_world = invert_T(result.T_world_cam)
            for person in result.persons:
                X_cam = transform_points(T_cam_world, person.joints_world)
                X_cam[:, 2] = np.maximum(X_cam[:, 2], 1e-3)  # a joint behind the lens still draws its bone
                uv = project(X_cam, result.K)
                if np.all(np.isfinite(uv)):
                    persons.append({"id": person.person_id, "joints": np.round(uv, 1).tolist()})
        message = json.dumps({"type": "result", "seq": result.frame_index, "frame": result.frame_index,
                              "persons": persons, "flags": sorted(result.flags),
                              "server_ms": round((time.perf_counter() - result.t_captured) * 1e3, 2)})  # fmt: skip
        self.loop.call_soon_threadsafe(_offer, self.outbox, message)

    def publish_refined(self, result: FrameResult) -> None:
        pass

    def publish_status(self, status: dict) -> None:
        pass

    def close(self) -> None:
        pass


def _offer(outbox: asyncio.Queue, message: str) -> None:
    """Queue a message for the page; a page that does not read loses the oldest."""
    if outbox.full():
        outbox.get_nowait()
    outbox.put_nowait(message)


class PhoneSession:
    """One connected phone: its source, and its pipeline in a thread."""

    def __init__(self, server: PhoneServer, stream_id: str, outbox: asyncio.Queue, loop: asyncio.AbstractEventLoop):
        self.server = server
        self.stream_id = stream_id
        self.source = PhoneSource()
        self.overlay = OverlaySender(loop, outbox)
        self.pipeline = None
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, name=f"livehmr-{stream_id}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from livehmr.stream.registry import build_pipeline

        publisher = ZmqPublisher(self.server.hub.link.url, stream_id=self.stream_id, body_model=self.server.choices.body,
                                 socket=self.server.hub.link.connect())  # fmt: skip
        try:
            # the page's frames and gyro share one clock: the gyro camera with no offset
            choices = replace(self.server.choices, camera="gyro", imu_to_cam="identity", gyro_offset=0.0)
            self.pipeline = build_pipeline(choices, [publisher, self.overlay], source=self.source)
            self.pipeline.run()
        except Exception as exc:  # a stage that cannot start: said to the page and the terminal
            self.error = str(exc)
            log.error("%s: %s", self.stream_id, exc)
            self.overlay.loop.call_soon_threadsafe(_offer, self.overlay.outbox,
                                                   json.dumps({"type": "error", "message": f"livehmr: {exc}"}))  # fmt: skip
        finally:
            if self.pipeline is not None:
                self.pipeline.close()
            else:
                publisher.close()

    def close(self) -> None:
        self.source.close()
        if self.pipeline is not None:
            self.pipeline.stop()
        self.thread.join(timeout=10)


def http_response(status: HTTPStatus, body: bytes, content_type: str = "text/plain; charset=utf-8"):
    """A plain HTTP answer from a WebSocket server's ``process_request`` (websockets' ``Response``)."""
    from websockets.datastructures import Headers
    from websockets.http11 import Response

    headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(body))),
                       ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")])  # fmt: skip
    return Response(status.value, status.phrase, headers, body)


class PhoneServer:
    """The HTTPS + WebSocket server of ``livehmr phone`` (see the module's docstring).

    Args:
        choices: the stages for every phone's pipeline (its ``source`` is ignored).
        token: this run's pairing token.
        cert, key: PEM files of the TLS certificate (``None``: plain HTTP, for tests only).
    """

    def __init__(self, choices: StageChoices, token: str, host: str = "0.0.0.0", port: int = 8443,
                 cert: Path | None = None, key: Path | None = None, publish: str = "tcp://127.0.0.1:5557",
                 max_phones: int = 1, insecure: bool = False, curve: CurveServer | None = None):  # fmt: skip
        self.choices = choices
        self.token = token
        self.host, self.port = host, port
        self.ssl = server_tls(cert, key) if cert is not None and key is not None else None
        self.max_phones = max_phones
        self.hub = Hub(publish, "127.0.0.1", insecure, curve)
        self.counters: Counter[str] = Counter()
        self.sessions: dict[int, PhoneSession] = {}
        #: stream id -> (first, last) gyro sample times of its page, s on the page's clock
        self.gyro_spans: dict[str, tuple[float | None, float | None]] = {}
        self._next_phone = 1
        self.ready = threading.Event()
        self._stop: asyncio.Future | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- HTTP: the page, its script, and who may upgrade to the WebSocket ---------------------
    def _token_ok(self, query: str) -> bool:
        given = urllib.parse.parse_qs(query).get("token", [""])[0]
        return hmac.compare_digest(given.encode(), self.token.encode())

    def process_request(self, connection, request):
        url = urllib.parse.urlsplit(request.path)
        if url.path in ("/", "/index.html"):
            if not self._token_ok(url.query):
                self.counters["refused_token"] += 1
                return http_response(HTTPStatus.FORBIDDEN, b"livehmr phone: open the URL with its pairing token\n")
            return http_response(HTTPStatus.OK, (PAGE_DIR / "phone.html").read_bytes(), "text/html; charset=utf-8")
        if url.path in _ASSETS:
            name, kind = _ASSETS[url.path]
            return http_response(HTTPStatus.OK, (PAGE_DIR / name).read_bytes(), kind)
        if url.path != "/ws":
            return http_response(HTTPStatus.NOT_FOUND, b"not found\n")
        if not self._token_ok(url.query):
            self.counters["refused_token"] += 1
            return http_response(HTTPStatus.FORBIDDEN, b"pairing token missing or wrong\n")
        scheme = "https" if self.ssl else "http"
        if request.headers.get("Origin") != f"{scheme}://{request.headers.get('Host')}":
            self.counters["refused_origin"] += 1
            return http_response(HTTPStatus.FORBIDDEN, b"the WebSocket accepts only the page's own origin\n")
        if len(self.sessions) >= self.max_phones:
            self.counters["refused_busy"] += 1
            return http_response(HTTPStatus.SERVICE_UNAVAILABLE, f"{self.max_phones} phone(s) already connected\n".encode())
        return None

    # -- the WebSocket of one phone -----------------------------------------------------------
    async def handler(self, ws) -> None:
        import websockets

        try:
            first = await asyncio.wait_for(ws.recv(), timeout=10)
            if not isinstance(first, str):
                raise PhoneMessageError("the first message must be the text hello")
            hello = parse_text(first)
        except (asyncio.TimeoutError, PhoneMessageError, websockets.ConnectionClosed):
            self.counters["malformed"] += 1
            await ws.close(1008, "say hello first")
            return
        if hello.get("type") != "hello" or hello.get("version") != PHONE_PROTOCOL:
            self.counters["version_mismatch"] += 1
            await ws.send(json.dumps({"type": "error", "message": f"this server speaks version {PHONE_PROTOCOL}; reload the page"}))
            await ws.close(CLOSE_VERSION, "version mismatch")
            return
        phone = self._next_phone
        self._next_phone += 1
        outbox: asyncio.Queue = asyncio.Queue(maxsize=8)
        session = PhoneSession(self, f"phone-{phone}", outbox, asyncio.get_running_loop())
        self.sessions[phone] = session
        log.info("phone-%d connected from %s", phone, ws.remote_address)
        await ws.send(json.dumps({"type": "welcome", "version": PHONE_PROTOCOL, "stream": session.stream_id}))
        sender = asyncio.create_task(self._send(ws, outbox))
        frames, imu = RateLimit(MAX_FRAMES_PER_S), RateLimit(MAX_IMU_MESSAGES_PER_S)
        try:
            async for data in ws:
                self._receive(session, data, frames, imu)
        except websockets.ConnectionClosed:
            pass
        finally:
            sender.cancel()
            del self.sessions[phone]
            await asyncio.get_running_loop().run_in_executor(None, session.close)
            self.counters["frames_dropped_server"] += session.source.dropped
            feed = session.source.gyro_feed()
            self.gyro_spans[session.stream_id] = (feed.first_t, feed.last_t)
            log.info("phone-%d disconnected", phone)

    def _receive(self, session: PhoneSession, data, frames: RateLimit, imu: RateLimit) -> None:
        """One message from the page: parsed, rate-limited, handed over; never raises."""
        c = self.counters
        if len(data) > MAX_MESSAGE_BYTES:
            c["oversized"] += 1
            return
        try:
            if isinstance(data, bytes):
                if not frames.allow():
                    c["too_fast"] += 1
                    return
                frame = parse_frame(data)
                c["frames"] += 1
                c["frames_skipped_page"] += frame.skipped
                apart = session.source.gyro_feed().disagreement_s(frame.t_ms / 1e3)
                if abs(apart) > CLOCK_DISAGREEMENT_S:  # the one clock, still checked
                    if c["clock_disagreements"] == 0:
                        log.warning("%s: a frame is %.1f s from the newest gyro sample: the page's clocks disagree",
                                    session.stream_id, apart)  # fmt: skip
                    c["clock_disagreements"] += 1
                session.source.put(frame)
            else:
                message = parse_text(data)
                if message["type"] != "imu":
                    raise PhoneMessageError("hello twice")
                if not imu.allow():
                    c["too_fast"] += 1
                    return
                samples = parse_imu(message)
                c["gyro_samples"] += len(samples.gyro)
                session.source.gyro_feed().add(samples)
        except PhoneMessageError as exc:
            if c["malformed"] < 5:
                log.warning("%s: dropped a malformed message: %s", session.stream_id, exc)
            c["malformed"] += 1

    async def _send(self, ws, outbox: asyncio.Queue) -> None:
        import websockets

        try:
            while True:
                await ws.send(await outbox.get())
        except websockets.ConnectionClosed:
            pass

    # -- running --------------------------------------------------------------------------------
    async def serve(self) -> None:
        """Serve until :meth:`stop`."""
        from websockets.asyncio.server import serve

        self._loop = asyncio.get_running_loop()
        self._stop = self._loop.create_future()
        async with serve(self.handler, self.host, self.port, ssl=self.ssl, process_request=self.process_request,
                         max_size=2 * MAX_MESSAGE_BYTES, max_queue=4, ping_interval=5, ping_timeout=10) as server:  # fmt: skip
            self.port = next(iter(server.sockets)).getsockname()[1]
            self.ready.set()
            await self._stop
        for session in list(self.sessions.values()):
            session.close()
        self.hub.close()

    def stop(self) -> None:
        """Stop serving (from any thread)."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(lambda: self._stop.done() or self._stop.set_result(None))  # type: ignore[union-attr]
