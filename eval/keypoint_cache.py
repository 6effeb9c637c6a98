"""A detector's outputs on a rendered sequence, computed once and kept beside its video.

``keypoints_<detector>.npz`` holds plain arrays (2D keypoints, boxes, BlazePose's 3D world
landmarks and their visibilities, track ids), read with ``allow_pickle=False``: a suite
folder from elsewhere can hold nothing that runs. It is derived data: delete it to recompute.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from livehmr.core.errors import LivehmrError
from livehmr.core.types import PersonKeypoints
from livehmr.studio.suite import SequenceTruth


def save_keypoints(path: Path, recorded: dict[int, list[PersonKeypoints]]) -> None:
    """Write recorded keypoints as plain arrays (an ``.npz`` without pickled objects), atomically."""
    rows = [(i, p) for i in sorted(recorded) for p in recorded[i]]
    n = len(rows)
    has_3d = np.array([p.landmarks_3d is not None for _, p in rows], bool)
    arrays = dict(
        frame=np.array([i for i, _ in rows], np.int64), track_id=np.array([p.track_id for _, p in rows], np.int64),
        keypoints=np.array([p.keypoints for _, p in rows], np.float64).reshape(n, 23, 3),
        box=np.array([p.box for _, p in rows], np.float64).reshape(n, 4), has_3d=has_3d,
        landmarks_3d=np.array([p.landmarks_3d if p.landmarks_3d is not None else np.zeros((33, 3)) for _, p in rows]).reshape(n, 33, 3),
        landmarks_3d_conf=np.array([p.landmarks_3d_conf if p.landmarks_3d_conf is not None else np.zeros(33) for _, p in rows]).reshape(n, 33),
        frames=np.array(sorted(recorded), np.int64),
    )  # fmt: skip
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, allow_pickle=False, **arrays)
    tmp.replace(path)


def load_keypoints(path: Path) -> dict[int, list[PersonKeypoints]]:
    """Keypoints written by :func:`save_keypoints`; a file that is not one is a :class:`LivehmrError`
    (arrays only: nothing in it is unpickled or run)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            a = {k: data[k] for k in ("frame", "track_id", "keypoints", "box", "has_3d", "landmarks_3d",
                                      "landmarks_3d_conf", "frames")}  # fmt: skip
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise LivehmrError(f"{path}: not a keypoint cache ({exc}); delete it to recompute") from None
    n = len(a["frame"])
    shapes = {"track_id": (n,), "keypoints": (n, 23, 3), "box": (n, 4), "has_3d": (n,), "landmarks_3d": (n, 33, 3),
              "landmarks_3d_conf": (n, 33)}  # fmt: skip
    if any(a[k].shape != shape for k, shape in shapes.items()) or a["frame"].ndim != 1 or a["frames"].ndim != 1:
        raise LivehmrError(f"{path}: arrays of unexpected shapes; delete it to recompute")
    if not all(np.isfinite(a[k]).all() for k in ("keypoints", "box", "landmarks_3d", "landmarks_3d_conf")):
        raise LivehmrError(f"{path}: non-finite keypoints; delete it to recompute")
    recorded: dict[int, list[PersonKeypoints]] = {int(i): [] for i in a["frames"]}
    for r in range(n):
        with_3d = bool(a["has_3d"][r])
        recorded.setdefault(int(a["frame"][r]), []).append(PersonKeypoints(
            keypoints=a["keypoints"][r], box=a["box"][r], landmarks_3d=a["landmarks_3d"][r] if with_3d else None,
            landmarks_3d_conf=a["landmarks_3d_conf"][r] if with_3d else None, track_id=int(a["track_id"][r])))  # fmt: skip
    return recorded


def cached_keypoints(folder: Path, truth: SequenceTruth, detector: str = "blazepose",
                     far_search: bool = True) -> dict[int, list[PersonKeypoints]]:  # fmt: skip
    """The detector's keypoints for every frame of a sequence, computed once (tracking mode,
    frames in order, exactly as live) and kept beside the video as ``keypoints_<detector>.npz``
    (``blazepose``: MediaPipe's solution alone; ``keypoints_blazepose+far.npz`` with the
    far-person fallback, ``far_search``). Derived data, plain arrays: a suite folder from
    elsewhere runs no code; delete it to recompute."""
    from livehmr.stream import registry
    from livehmr.stream.sources.files import VideoFileSource

    far = far_search and detector == "blazepose"
    path = folder / f"keypoints_{detector}{'+far' if far else ''}.npz"
    if path.exists():
        return load_keypoints(path)
    source = VideoFileSource(folder / "video.mp4")
    model = registry.make_keypoints(detector, far_search=far)
    recorded: dict[int, list[PersonKeypoints]] = {}
    try:
        for frame in source:
            if frame.index >= truth.num_frames:
                break
            recorded[frame.index] = model.detect(frame)
    finally:
        source.close()
        model.close()
    save_keypoints(path, recorded)
    return recorded
