"""Frame sources: video file, camera, image folder, and the embedded synthetic scene."""

from __future__ import annotations

from pathlib import Path

from livehmr.core.errors import SourceError
from livehmr.core.stages import Source


def names_a_path(spec: str) -> bool:
    """Whether a source spec is a file or folder path (not ``synthetic``, ``crowd:N``, a
    camera index or a URL): what :func:`open_source` opens from disk."""
    return not (spec in ("synthetic", "demo") or spec.startswith(("crowd:", "camera:")) or spec.isdigit() or "://" in spec)


def open_source(spec: str, *, realtime: bool | None = None, max_frames: int | None = None, start_s: float = 0.0) -> Source:
    """Open a source from its command-line spec.

    ``synthetic`` (the embedded scene), ``crowd:N`` (N people in a synthetic scene), ``camera:N`` / an integer (camera index),
    ``rtsp://...``/``http://...`` (network camera), a directory (image folder) or a
    video file path. ``start_s``: a video file starts this far in (its own frame indices kept).
    """
    if spec in ("synthetic", "demo"):
        from livehmr.stream.sources.synthetic import SyntheticSource

        return SyntheticSource(realtime=bool(realtime), max_frames=max_frames)
    if spec.startswith("crowd:"):
        from livehmr.stream.sources.synthetic import SyntheticSource
        from livehmr.studio.scene import crowd_scene

        people = spec.removeprefix("crowd:")
        if not people.isdigit() or not 1 <= int(people) <= 4:
            raise SourceError(f"source {spec!r}: use crowd:N with N from 1 to 4 people")
        return SyntheticSource(crowd_scene(int(people)), realtime=bool(realtime), max_frames=max_frames)
    if not names_a_path(spec):  # a camera index or URL
        from livehmr.stream.sources.live_camera import CameraSource

        target: int | str = int(spec.removeprefix("camera:")) if not ("://" in spec) else spec
        return CameraSource(target, max_frames=max_frames)
    path = Path(spec)
    if path.is_dir():
        from livehmr.stream.sources.files import ImageFolderSource

        return ImageFolderSource(path, max_frames=max_frames)
    if path.is_file():
        from livehmr.stream.sources.files import PacedVideoSource, VideoFileSource

        return (PacedVideoSource if realtime else VideoFileSource)(path, max_frames=max_frames, start_s=start_s)
    raise SourceError(f"source {spec!r} is neither 'synthetic', 'crowd:N', a camera index, a URL, a directory nor an existing file")
