"""``livehmr web``: a browser viewer of a live stream, fed by a WebSocket bridge.

One asyncio server on one port serves the page (``clients/web/``: three.js, vendored),
the rigged body (``/body.glb?phenotype=...``: the same GLB :mod:`livehmr.export.gltf`
writes, without animation) and ``/ws``, a WebSocket that forwards the ZeroMQ stream
frame by frame as JSON::

    {"frame": int, "t": s, "flags": [...], "T_world_cam": [16, row-major],
     "persons": [{"id": int, "phenotype": [6], "quaternions": [[x, y, z, w] x 24],
                  "pelvis": [x, y, z], "contacts": [4], "confidence": float}]}

``quaternions`` are each joint's local rotation (``[0]``: canon -> world), ``pelvis`` the
pelvis joint in the world (metres, Z up) -- what the page sets on the GLB's joints.

Safety: it binds loopback unless ``insecure``; requests must name this host (a
defence against DNS rebinding) and WebSocket handshakes must come from this page's
origin (or from no browser at all). A browser that reads slowly gets the latest frame
only: each has a queue of :data:`CLIENT_QUEUE` frames, the oldest dropped first, so no
client can stall the bridge or another client.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import mimetypes
import threading
import urllib.parse
from dataclasses import dataclass, field
from http import HTTPStatus
from importlib import resources
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from livehmr.clients.sdk import AsyncSubscriber, FrameGrouper, State
from livehmr.core.endpoints import is_loopback
from livehmr.core.errors import LivehmrError

log = logging.getLogger(__name__)
CLIENT_QUEUE = 2
BODY_CACHE = 8
STATIC_FILES = ("index.html", "viewer.js", "favicon.svg", "vendor/three.bundle.min.js", "vendor/LICENSE-three.txt")


def page_message(states: list[State]) -> dict:
    """One frame's states (one per person, or a heartbeat) as the page's JSON object. The
    page draws Anny: of the stream's phenotype, or the default one for an ``smpl`` stream
    (whose betas are not a phenotype)."""
    first = states[0]
    persons = []
    for s in states:
        if not s.has_body:
            continue
        a = s.message.arrays
        rotvecs = np.concatenate([a["global_orient"], a["body_pose"]]).reshape(24, 3).astype(np.float64)
        persons.append({
            "id": s.person,
            "phenotype": [round(float(v), 3) for v in a["betas"][:6]] if s.header.get("body_model") == "anny" else [0.5] * 6,
            "quaternions": np.round(Rotation.from_rotvec(rotvecs).as_quat(), 5).tolist(),
            "pelvis": np.round(a["joints_world"][0].astype(np.float64), 4).tolist(),
            "contacts": np.round(a["contacts"].astype(np.float64), 3).tolist(),
            "confidence": round(float(a["joint_confidence"].mean()), 3),
        })  # fmt: skip
    T = first.message.arrays.get("T_world_cam", np.eye(4)).astype(np.float64)
    flags = sorted({f for s in states for f in s.flags})
    return {"frame": first.frame, "t": float(first.header.get("t_source", 0.0)), "flags": flags,
            "T_world_cam": np.round(T, 5).ravel().tolist(), "persons": persons}  # fmt: skip


@functools.lru_cache(maxsize=BODY_CACHE)  # bounded: the query string is the visitor's to choose
def rigged_body_glb(phenotype: tuple[float, ...]) -> bytes:
    """The rigged Anny body of ``phenotype`` as GLB bytes, without animation."""
    import tempfile

    from livehmr.export.gltf import write_glb
    from livehmr.models.skinned import skinned_anny_of

    with tempfile.TemporaryDirectory() as tmp:
        return write_glb(Path(tmp) / "body.glb", skinned_anny_of(phenotype)).read_bytes()


@dataclass(eq=False)  # clients are told apart by identity (kept in a set)
class _Client:
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(CLIENT_QUEUE))
    dropped: int = 0

    def offer(self, text: str) -> None:
        """Queue a frame; a full queue loses its oldest frame, never blocks."""
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(text)


class WebViewer:
    """The bridge and page server. ``run()`` blocks; ``start()`` runs it on a thread.

    Args:
        stream_url: the ZeroMQ stream to show.
        host, port: where to serve the page (``port=0``: any free port, see ``self.port``).
        insecure: allow serving beyond loopback (the page has no login: anyone who reaches it sees the stream).
        curve: CURVE keys for a stream that authenticates its subscribers.
    """

    def __init__(self, stream_url: str = "tcp://127.0.0.1:5557", host: str = "127.0.0.1", port: int = 8765,
                 insecure: bool = False, curve=None):  # fmt: skip
        if not is_loopback(f"tcp://{host}:{port}") and not insecure:
            raise LivehmrError(f"refusing to serve the viewer on {host} beyond loopback; pass --insecure to mean it")
        self.stream_url, self.host, self.port, self.insecure = stream_url, host, port, insecure
        self.curve = curve
        self.clients: set[_Client] = set()
        self.frames_sent = 0
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- HTTP ---------------------------------------------------------------------------
    def _allowed_hosts(self) -> set[str]:
        return {f"{h}:{self.port}" for h in ("127.0.0.1", "localhost", "[::1]")}

    async def _process_request(self, connection, request):
        from websockets.datastructures import Headers
        from websockets.http11 import Response

        def reply(status: HTTPStatus, body: bytes, content_type: str = "text/plain; charset=utf-8") -> Response:
            headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(body))),
                               ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")])  # fmt: skip
            return Response(status.value, status.phrase, headers, body)

        if not self.insecure and request.headers.get("Host") not in self._allowed_hosts():
            return reply(HTTPStatus.FORBIDDEN, b"this viewer answers requests for localhost only\n")
        url = urllib.parse.urlsplit(request.path)
        if url.path == "/ws":
            origin = request.headers.get("Origin")  # None: not a browser
            if not self.insecure and origin is not None and origin.removeprefix("http://") not in self._allowed_hosts():
                return reply(HTTPStatus.FORBIDDEN, b"WebSocket connections are taken from this viewer's own page only\n")
            return None  # the WebSocket handshake goes on
        if url.path == "/body.glb":
            try:
                values = urllib.parse.parse_qs(url.query).get("phenotype", ["0.5,0.5,0.5,0.5,0.5,0.5"])[0].split(",")
                phenotype = tuple(round(min(max(float(v), 0.0), 1.0), 2) for v in values)
                if len(phenotype) != 6:
                    raise ValueError
            except ValueError:
                return reply(HTTPStatus.BAD_REQUEST, b"phenotype: six comma-separated numbers in [0, 1]\n")
            # Building a body takes seconds: off the event loop, so frames keep flowing to the browsers.
            return reply(HTTPStatus.OK, await asyncio.to_thread(rigged_body_glb, phenotype), "model/gltf-binary")
        name = "index.html" if url.path == "/" else url.path.lstrip("/")
        if name not in STATIC_FILES:
            return reply(HTTPStatus.NOT_FOUND, b"not found\n")
        data = resources.files("livehmr.clients").joinpath("web", name).read_bytes()
        kind = "text/javascript" if name.endswith(".js") else mimetypes.guess_type(name)[0] or "application/octet-stream"
        return reply(HTTPStatus.OK, data, f"{kind}; charset=utf-8" if kind.startswith("text") else kind)

    # -- WebSocket ----------------------------------------------------------------------
    async def _client(self, websocket) -> None:
        client = _Client()
        self.clients.add(client)
        try:
            await websocket.send(json.dumps({"hello": "livehmr", "stream": self.stream_url}))
            while True:
                await websocket.send(await client.queue.get())
        except Exception:  # the browser went away
            pass
        finally:
            self.clients.discard(client)

    async def _bridge(self, stop: asyncio.Event) -> None:
        """Group the stream's states by frame; hand each finished frame to every client."""
        frames = FrameGrouper()
        async with AsyncSubscriber(self.stream_url, timeout_s=0.2, curve=self.curve) as sub:
            while not stop.is_set():
                state = await sub.recv()
                if state is not None and not isinstance(state, State):
                    continue  # only states are asked for
                done = frames.flush() if state is None else frames.add(state)
                if done:
                    self._broadcast(done)

    def _broadcast(self, states: list[State]) -> None:
        text = json.dumps(page_message(states), separators=(",", ":"))
        self.frames_sent += 1
        for client in list(self.clients):
            client.offer(text)

    async def _main(self) -> None:
        from websockets.asyncio.server import serve

        self._stop = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        async with serve(self._client, self.host, self.port, process_request=self._process_request,
                         max_size=2**16, ping_interval=20) as server:  # fmt: skip
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            bridge = asyncio.create_task(self._bridge(self._stop))
            await self._stop.wait()
            bridge.cancel()

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except OSError as exc:
            raise LivehmrError(f"cannot serve the viewer on {self.host}:{self.port}: {exc}") from None

    def start(self) -> "WebViewer":
        """Serve on a background thread; returns once the port is open."""
        self._thread = threading.Thread(target=self.run, name="livehmr-web", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise LivehmrError("the web viewer did not start")
        return self

    @property
    def url(self) -> str:
        return f"http://{'127.0.0.1' if self.host in ('0.0.0.0', '127.0.0.1') else self.host}:{self.port}/"

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(5)
