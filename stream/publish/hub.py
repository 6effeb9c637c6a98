"""One ZeroMQ address for many streams (``livehmr serve``'s streams, ``livehmr phone``'s phones).

Each stream's publisher (in a Ray actor wherever Ray placed it, or a thread of this
process) *connects* a PUB socket to the hub's internal XSUB endpoint; subscribers connect to the hub's public XPUB endpoint (the
``publish`` of STREAMS.toml) and tell streams apart by the ``stream`` field every header
carries (the SDK's ``Subscriber(url, stream=ID)`` filters). A ZeroMQ proxy joins the two,
so subscriptions travel up to the publishers and a slow subscriber still only loses its own
messages (XPUB drops at its queue bound, as PUB does).

The public side follows ``livehmr run``'s bind rules (loopback, CURVE keys, or
``insecure``). The internal side binds the driver's node address; beyond loopback it is a
CURVE server with a key pair made for this run, and only the one client key handed to
the publishers (through Ray, for serve) completes the handshake.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import zmq

from livehmr.core.endpoints import is_loopback
from livehmr.stream.publish.publisher import PubSocket
from livehmr.stream.publish.security import CurveAuthenticator, CurveServer, make_curve_server

HWM = 1000  # messages queued per subscriber (public side) and per stream (internal side)


@dataclass(frozen=True)
class HubLink:
    """How a stream's publisher reaches the hub: the internal endpoint and, beyond loopback,
    the CURVE keys made for this hub (Z85 bytes: its public key, the publishers' key pair)."""

    url: str
    server_public: bytes | None = None
    client_public: bytes | None = None
    client_secret: bytes | None = None

    def connect(self) -> zmq.Socket:
        """A PUB socket connected to the hub (it reconnects by itself if the hub restarts)."""
        socket = zmq.Context.instance().socket(zmq.PUB)
        socket.setsockopt(zmq.SNDHWM, HWM)
        socket.setsockopt(zmq.RECONNECT_IVL, 100)
        socket.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        if self.server_public is not None:
            socket.curve_secretkey = self.client_secret
            socket.curve_publickey = self.client_public
            socket.curve_serverkey = self.server_public
        socket.connect(self.url)
        return socket


class Hub:
    """The proxy between the streams (internal XSUB on ``internal_host``) and the
    subscribers (public XPUB on ``publish``). ``close`` stops it."""

    def __init__(self, publish: str, internal_host: str = "127.0.0.1", insecure: bool = False,
                 curve: CurveServer | None = None):  # fmt: skip
        self.public = PubSocket(publish, HWM, insecure, curve, kind=zmq.XPUB)
        self.url = self.public.url
        self._keys_dir: Path | None = None
        self._authenticator = None
        self._context = zmq.Context()
        self.internal = self._context.socket(zmq.XSUB)
        self.internal.setsockopt(zmq.RCVHWM, HWM)
        self.internal.setsockopt(zmq.LINGER, 0)
        internal_url = f"tcp://{internal_host}:0"
        server_public = client_public = client_secret = None
        if not is_loopback(internal_url):
            server_public, client_public, client_secret = self._run_keys()
        self.internal.bind(internal_url)
        self.link = HubLink(self.internal.getsockopt_string(zmq.LAST_ENDPOINT), server_public, client_public,
                            client_secret)  # fmt: skip
        self._control = self._context.socket(zmq.PAIR)
        self._control.bind(f"inproc://hub-control-{id(self)}")
        self._thread = threading.Thread(target=self._proxy, name="livehmr-hub", daemon=True)
        self._thread.start()

    def _run_keys(self) -> tuple[bytes, bytes, bytes]:
        """This run's CURVE keys for the internal side: a server pair and one client pair,
        in a private temporary folder (removed on close); the authenticator lets in only
        that client."""
        import zmq.auth

        self._keys_dir = Path(tempfile.mkdtemp(prefix="livehmr-hub-"))
        clients = self._keys_dir / "clients"
        clients.mkdir()
        zmq.auth.create_certificates(self._keys_dir, "hub")
        client_public_file, client_secret_file = zmq.auth.create_certificates(self._keys_dir, "stream")
        shutil.copy(client_public_file, clients / "stream.key")
        curve = CurveServer(self._keys_dir / "hub.key_secret", clients)
        self._authenticator = CurveAuthenticator(self._context, curve)
        make_curve_server(self.internal, curve)
        server_public, _ = zmq.auth.load_certificate(self._keys_dir / "hub.key")
        client_public, client_secret = zmq.auth.load_certificate(client_secret_file)
        assert client_secret is not None
        return server_public, client_public, client_secret

    def _proxy(self) -> None:
        control = self._context.socket(zmq.PAIR)
        control.connect(f"inproc://hub-control-{id(self)}")
        try:
            zmq.proxy_steerable(self.internal, self.public.socket, None, control)
        except zmq.ZMQError:
            pass  # a socket closed under it: the hub is closing
        finally:
            control.close(linger=0)

    def close(self) -> None:
        self._control.send(b"TERMINATE")
        self._thread.join(timeout=5)
        self._control.close(linger=0)
        self.internal.close(linger=0)
        if self._authenticator is not None:
            self._authenticator.stop()
        self._context.term()
        self.public.close()
        if self._keys_dir is not None:
            shutil.rmtree(self._keys_dir, ignore_errors=True)
