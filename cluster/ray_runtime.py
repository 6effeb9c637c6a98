"""Joining Ray: a local instance, or an existing cluster whose address is checked first.

Ray is an optional dependency (``pip install 'livehmr[cluster]'``); only ``livehmr serve``
and ``livehmr batch`` import it, through :func:`require_ray`.
"""

from __future__ import annotations

import logging
import os
import socket

from livehmr.core.errors import LivehmrError

log = logging.getLogger(__name__)


def require_ray():
    """The ``ray`` module, or a LivehmrError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise LivehmrError("livehmr serve and livehmr batch run on Ray: pip install 'livehmr[cluster]'") from None
    return ray


def check_address(address: str, timeout_s: float = 3.0) -> None:
    """Refuse, in one line and within ``timeout_s``, a Ray address nothing answers at
    (``HOST:PORT`` of a head's GCS, or ``ray://HOST:PORT`` of a Ray Client server); Ray's own
    ``init`` would retry for a minute. ``auto`` (the cluster this node belongs to) is left to Ray."""
    if address == "auto":
        return
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise LivehmrError(f"--address {address!r}: use HOST:PORT (the head's address) or ray://HOST:PORT")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise LivehmrError(f"--address {address}: no Ray cluster answers there ({exc.strerror or exc})") from None


def start_ray(address: str | None, num_cpus: float | None = None):
    """Join the cluster at ``address`` (checked), or start a local Ray instance with
    ``num_cpus`` logical CPUs (default: this machine's cores). Returns the ``ray`` module.
    Ray's workers start this Python; the package must be importable on every node."""
    ray = require_ray()
    if address:
        check_address(address)
    if ray.is_initialized():
        return ray
    options: dict = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
    try:
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(num_cpus=int(num_cpus or os.cpu_count() or 1), **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise LivehmrError(f"cannot start Ray{' at ' + address if address else ''}: {exc}") from None
    log.info("Ray %s: %s", "joined" if address else "started locally", ray.cluster_resources())
    return ray


def cluster_cpus(ray) -> float:
    """The logical CPUs the cluster offers in all (its nodes' ``num_cpus``)."""
    return float(ray.cluster_resources().get("CPU", 0.0))


def describe_ray_error(exc: BaseException) -> str:
    """One line for what a Ray task or actor call raised: the original error where Ray kept
    it (``cause``; a LivehmrError's own text), else the last line of Ray's message."""
    cause = getattr(exc, "cause", None)
    if cause is None and isinstance(exc, LivehmrError):
        cause = exc
    if cause is not None:
        return str(cause) if isinstance(cause, LivehmrError) else f"{type(cause).__name__}: {cause}"
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[-1] if lines else type(exc).__name__
