"""``STREAMS.toml``: the streams ``livehmr serve`` runs, checked whole before anything starts.

Layout (every key of a stream but ``id`` and ``source`` is optional; the stage keys are
``livehmr run``'s options with ``_`` for ``-``, same names, same defaults)::

    [serve]
    publish = "tcp://127.0.0.1:5557"   # the one endpoint subscribers connect to
    # beyond loopback: curve_secret = "keys/server.key_secret" and curve_clients = "keys/clients",
    # or insecure = true
    max_restarts = 10                   # per stream; a worker that dies more often stays down

    [[stream]]
    id = "door"                         # letters, digits, '-', '_'; in every message's header
    source = "clips/door.mp4"           # anything `livehmr run` takes; relative paths from this file
    realtime = true                     # a video file played as a live camera
    gyro = "udp://:5600"
    keypoints = "blazepose"
    people = 4
    refine = "humor"
    num_cpus = 1                        # what Ray reserves for the stream (default 1)
    num_gpus = 0                        # default 1 when device = "cuda", else 0
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from livehmr.core.endpoints import check_endpoint
from livehmr.core.errors import LivehmrError
from livehmr.stream.registry import StageChoices
from livehmr.stream.sources import names_a_path

_STREAM_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CHOICE_TYPES = {f.name: f.type for f in fields(StageChoices)}
#: the keys of a ``[[stream]]`` table that are ``livehmr run`` options (``start_s`` is serve's own)
STAGE_KEYS = tuple(name for name in _CHOICE_TYPES if name not in ("source", "start_s"))
_SERVE_KEYS = ("publish", "curve_secret", "curve_clients", "insecure", "max_restarts")
_PATH_KEYS = ("gyro", "vitpose", "motion_model", "smpl_model")


@dataclass(frozen=True)
class StreamSpec:
    """One served stream: its ``id`` (every message's ``stream`` header), its stage choices,
    and the resources Ray reserves for its actor (``num_cpus``, ``num_gpus``: logical units)."""

    id: str
    choices: StageChoices
    num_cpus: float = 1.0
    num_gpus: float = 0.0


@dataclass(frozen=True)
class ServeConfig:
    """Everything in a STREAMS.toml: where the streams are published and the streams."""

    streams: tuple[StreamSpec, ...]
    publish: str = "tcp://127.0.0.1:5557"
    curve_secret: Path | None = None
    curve_clients: Path | None = None
    insecure: bool = False
    max_restarts: int = 10
    path: Path = field(default=Path("STREAMS.toml"))


def load_streams(path: str | Path) -> ServeConfig:
    """Read and check a STREAMS.toml; raises LivehmrError naming the file, the stream and
    the key on anything wrong (malformed TOML, unknown keys or backends, wrong types,
    duplicate ids, missing files)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LivehmrError(f"cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise LivehmrError(f"{path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"serve", "stream"})
    if unknown:
        raise LivehmrError(f"{path}: unknown table(s) {', '.join(unknown)}; use [serve] and [[stream]]")
    serve = data.get("serve", {})
    streams = data.get("stream", [])
    if not isinstance(serve, dict) or not isinstance(streams, list):
        raise LivehmrError(f"{path}: [serve] is one table and [[stream]] an array of tables")
    if not streams:
        raise LivehmrError(f"{path} lists no [[stream]]")
    _no_unknown(serve, _SERVE_KEYS, f"{path} [serve]")
    base = path.parent
    specs = [_stream(table, i, base, path) for i, table in enumerate(streams)]
    ids = [s.id for s in specs]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise LivehmrError(f"{path}: stream id(s) {', '.join(duplicates)} appear more than once")
    publish = _typed(serve, "publish", str, f"{path} [serve]", "tcp://127.0.0.1:5557")
    check_endpoint(publish, f"{path} [serve] publish", bind=True)
    secret, clients = (_existing(base, serve[k], k, f"{path} [serve]") if k in serve else None
                       for k in ("curve_secret", "curve_clients"))  # fmt: skip
    if (secret is None) != (clients is None):
        raise LivehmrError(f"{path} [serve]: curve_secret and curve_clients go together")
    max_restarts = _typed(serve, "max_restarts", int, f"{path} [serve]", 10)
    if max_restarts < 0:
        raise LivehmrError(f"{path} [serve] max_restarts: {max_restarts} is negative")
    return ServeConfig(tuple(specs), publish, Path(secret) if secret else None, Path(clients) if clients else None,
                       _typed(serve, "insecure", bool, f"{path} [serve]", False), max_restarts, path)  # fmt: skip


def _stream(table, index: int, base: Path, path: Path) -> StreamSpec:
    where = f"{path} stream {index + 1}"
    if not isinstance(table, dict):
        raise LivehmrError(f"{where}: not a table")
    stream_id = table.get("id")
    if not isinstance(stream_id, str) or not _STREAM_ID.match(stream_id):
        raise LivehmrError(f"{where}: 'id' must be 1-64 letters, digits, '-' or '_' (got {stream_id!r})")
    where = f"{path} stream {stream_id!r}"
    _no_unknown(table, ("id", "source", "num_cpus", "num_gpus", *STAGE_KEYS), where)
    source = table.get("source")
    if not isinstance(source, str) or not source:
        raise LivehmrError(f"{where}: 'source' is required (a video file, image folder, camera index or URL)")
    if names_a_path(source):
        source = _existing(base, source, "source", where)
    options = {}
    for key in STAGE_KEYS:
        if key in table:
            options[key] = _stage_value(table, key, where)
    for key in _PATH_KEYS:
        value = options.get(key)
        if isinstance(value, str) and "://" not in value:
            options[key] = _existing(base, value, key, where)
    choices = StageChoices(source, **options)
    try:
        choices.check()
    except LivehmrError as exc:
        raise LivehmrError(f"{where}: {exc}") from None
    num_cpus = float(_typed(table, "num_cpus", (int, float), where, 1))
    num_gpus = float(_typed(table, "num_gpus", (int, float), where, 1 if choices.device == "cuda" else 0))
    if num_cpus < 0 or num_gpus < 0:
        raise LivehmrError(f"{where}: num_cpus and num_gpus cannot be negative")
    return StreamSpec(stream_id, choices, num_cpus, num_gpus)


def _stage_value(table: dict, key: str, where: str):
    annotation = str(_CHOICE_TYPES[key])
    value = table[key]
    if "bool" in annotation:
        ok = isinstance(value, bool)
    elif "int" in annotation:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif "float" in annotation:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        raise LivehmrError(f"{where}: {key} = {value!r} should be {annotation.replace(' | None', '')}")
    return value


def _typed(table: dict, key: str, kind, where: str, default):
    value = table.get(key, default)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise LivehmrError(f"{where}: {key} = {value!r} has the wrong type")
    return value


def _existing(base: Path, value, key: str, where: str) -> str:
    """``value`` as a path from the file's folder ``base``, which must exist."""
    resolved = base / str(value)
    if not resolved.exists():
        raise LivehmrError(f"{where}: {key} {value} does not exist (relative paths are from {base})")
    return str(resolved)


def _no_unknown(table: dict, allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise LivehmrError(f"{where}: unknown key(s) {', '.join(unknown)}")
