"""Who may bind where, and ZeroMQ CURVE authentication for streams beyond loopback.

A publisher binds loopback freely. Anywhere else it needs either CURVE (its own key
pair and a directory of the public keys of the subscribers it lets in) or an explicit
``insecure=True`` (``--insecure``), which logs a warning: anyone who can reach the
port then reads the stream.

Keys are ZeroMQ's certificate files (``zmq.auth``): ``NAME.key`` (public, give it to the
other side) and ``NAME.key_secret`` (keep it). ``livehmr keys NAME --out DIR`` writes a pair.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import zmq

from livehmr.core.endpoints import is_loopback
from livehmr.core.errors import LivehmrError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CurveServer:
    """A publisher's CURVE identity: its secret key file and the allowed subscribers' public keys."""

    secret_file: Path
    clients_dir: Path


@dataclass(frozen=True)
class CurveClient:
    """A subscriber's CURVE identity: its secret key file and the publisher's public key file."""

    secret_file: Path
    server_public_file: Path


def generate_keys(directory: str | Path, name: str, force: bool = False) -> tuple[Path, Path]:
    """Write a CURVE key pair ``NAME.key`` / ``NAME.key_secret`` into ``directory``; an
    existing pair of that name is kept (its secret may be the only copy) unless ``force``."""
    import zmq.auth

    from livehmr.core.outputs import check_output

    _require_curve()
    if not name or "/" in name or name.startswith("."):
        raise LivehmrError(f"key name {name!r}: use a plain file name such as 'server' or 'robot'")
    directory = Path(directory)
    for suffix in (".key", ".key_secret"):
        check_output(directory / f"{name}{suffix}", force, "key")
    directory.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(directory, name)
    Path(secret).chmod(0o600)
    return Path(public), Path(secret)


def _require_curve() -> None:
    if not zmq.has("curve"):
        raise LivehmrError("this pyzmq's libzmq has no CURVE support; install a pyzmq wheel (they include it)")


def _load(path: Path, secret: bool) -> tuple[bytes, bytes | None]:
    import zmq.auth

    try:
        public, secret_key = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise LivehmrError(f"cannot read the CURVE key {path}: {exc}") from None
    if secret and secret_key is None:
        raise LivehmrError(f"{path} holds no secret key (pass the .key_secret file)")
    return public, secret_key


def check_bind(url: str, curve: CurveServer | None, insecure: bool) -> None:
    """Refuse to bind ``url`` beyond loopback without CURVE or an explicit ``insecure``."""
    if is_loopback(url) or curve is not None:
        return
    if not insecure:
        raise LivehmrError(f"refusing to bind {url} beyond loopback without authentication: give CURVE keys "
                           "(--curve-secret, --curve-clients; make them with 'livehmr keys') or pass --insecure")  # fmt: skip
    log.warning("binding %s without authentication (--insecure): anyone who reaches it reads the stream", url)


class CurveAuthenticator:
    """Serves ZeroMQ's authentication (ZAP) for one context: only clients whose public key
    is in ``clients_dir`` complete the handshake."""

    def __init__(self, context: zmq.Context, curve: CurveServer):
        from zmq.auth.thread import ThreadAuthenticator

        _require_curve()
        if not Path(curve.clients_dir).is_dir():
            raise LivehmrError(f"--curve-clients {curve.clients_dir} is not a directory of client .key files")
        self.thread = ThreadAuthenticator(context)
        self.thread.start()
        self.thread.configure_curve(domain="*", location=str(curve.clients_dir))

    def stop(self) -> None:
        self.thread.stop()


def make_curve_server(socket: zmq.Socket, curve: CurveServer) -> None:
    """Make ``socket`` (before bind) a CURVE server with ``curve``'s key."""
    public, secret = _load(Path(curve.secret_file), secret=True)
    socket.curve_secretkey = secret
    socket.curve_publickey = public
    socket.curve_server = True


def make_curve_client(socket: zmq.Socket, curve: CurveClient) -> None:
    """Make ``socket`` (before connect) a CURVE client of the server whose public key ``curve`` names."""
    _require_curve()
    public, secret = _load(Path(curve.secret_file), secret=True)
    server_public, _ = _load(Path(curve.server_public_file), secret=False)
    socket.curve_secretkey = secret
    socket.curve_publickey = public
    socket.curve_serverkey = server_public
