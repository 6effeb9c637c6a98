"""ZeroMQ endpoint strings, checked before any socket is made.

ZeroMQ's own error for a malformed endpoint ("Invalid argument", "Protocol not
supported") names neither the option nor the value, and arrives after the models have
loaded; :func:`check_endpoint` says which option holds what, up front.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse

from livehmr.core.errors import LivehmrError

_TCP = re.compile(r"^tcp://(?P<host>\[[0-9A-Fa-f:.]+\]|[^:/\[\]\s]+):(?P<port>\*|\d{1,5})$")
FORMS = "tcp://HOST:PORT, ipc://PATH or inproc://NAME"


def check_endpoint(url: str, option: str | None = None, bind: bool = False) -> str:
    """``url`` if it is a ZeroMQ endpoint livehmr can use, else a :class:`LivehmrError`
    naming ``option`` (when given) and the value. ``bind``: a port of ``*`` or 0 (any free
    port) is allowed."""
    try:
        return _check(url, bind)
    except LivehmrError as exc:
        raise LivehmrError(f"{option} {exc}" if option else str(exc)) from None


def _check(url: str, bind: bool) -> str:
    if not isinstance(url, str) or not url:
        raise LivehmrError(f"an empty endpoint; use {FORMS}")
    if url.startswith(("ipc://", "inproc://")):
        if url.split("://", 1)[1].strip():
            return url
        raise LivehmrError(f"{url!r} names no path; use {FORMS}")
    match = _TCP.match(url)
    if match is None:
        raise LivehmrError(f"{url!r} is not a ZeroMQ endpoint; use {FORMS}")
    port = match["port"]
    if port == "*" or int(port) == 0:
        if not bind:
            raise LivehmrError(f"{url!r}: a subscriber needs the publisher's port, not {port}")
        return url
    if not 1 <= int(port) <= 65535:
        raise LivehmrError(f"{url!r}: port {port} is outside 1-65535")
    return url


def is_loopback(url: str) -> bool:
    """Whether a bind URL stays on this machine (ipc/inproc, or a loopback tcp host)."""
    if not url.startswith("tcp://"):
        return url.startswith(("ipc://", "inproc://"))
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # '*', interface names, hostnames
