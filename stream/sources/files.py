"""File sources: every frame is delivered, in order (``live = False``); or a video file
played as a live camera (:class:`PacedVideoSource`)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from livehmr.core.errors import SourceError
from livehmr.core.types import Flag, Frame

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


class VideoFileSource:
    """Frames of a video file with their container timestamps (seconds), from ``start_s``
    on (earlier frames are decoded and skipped, so indices and times stay the file's own)."""

    live = False

    def __init__(self, path: str | Path, max_frames: int | None = None, start_s: float = 0.0):
        self.path = Path(path)
        self.capture = cv2.VideoCapture(str(self.path))
        if not self.capture.isOpened():
            raise SourceError(f"cannot open video {self.path}: not a readable video file")
        self.fps = self.capture.get(cv2.CAP_PROP_FPS) or 30.0
        ok, first = self.capture.read()
        if not ok or first is None:
            raise SourceError(f"video {self.path} has no decodable frame")
        self._first = first
        self.max_frames = max_frames
        self.start_s = max(0.0, start_s)

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        image = self._first
        while image is not None and (self.max_frames is None or index < self.max_frames):
            t = index / self.fps
            if t >= self.start_s - 1e-9:
                yield Frame(index=index, t=t, image=image, t_captured=time.perf_counter())
            index += 1
            ok, image = self.capture.read()
            if not ok:
                break

    def close(self) -> None:
        self.capture.release()


class PacedVideoSource(VideoFileSource):
    """A video file played as a live camera (``livehmr run clip.mp4 --realtime``): frame i is
    released i / fps seconds after the first and stamped then, decoding included, and the
    pipeline drops what it is late for as it does with a camera. What a real camera costs,
    with a picture that repeats run after run."""

    live = True

    def __iter__(self) -> Iterator[Frame]:
        start = time.perf_counter() - self.start_s
        for frame in super().__iter__():
            delay = start + frame.t - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            frame.t_captured = time.perf_counter()
            yield frame


class ImageFolderSource:
    """Images of a folder in name order, at ``fps`` (unreadable files are skipped and flagged)."""

    live = False

    def __init__(self, folder: str | Path, fps: float = 30.0, max_frames: int | None = None):
        self.files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise SourceError(f"folder {folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        self.fps = fps
        self.max_frames = max_frames

    def __iter__(self) -> Iterator[Frame]:
        skipped = False
        for index, path in enumerate(self.files[: self.max_frames]):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None or image.size == 0:
                log.warning("skipping unreadable image %s", path)
                skipped = True
                continue
            flags: set[str] = {Flag.FRAME_MISSING} if skipped else set()
            skipped = False
            yield Frame(index=index, t=index / self.fps, image=np.ascontiguousarray(image), t_captured=time.perf_counter(), flags=flags)

    def close(self) -> None:
        pass
