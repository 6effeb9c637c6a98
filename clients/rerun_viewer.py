"""``livehmr view``: a live stream or a recording in the rerun viewer.

Entities (world: livehmr's, metres, Z up; timelines ``frame`` and ``source_time``):

- ``world/ground``: the floor grid; ``world/camera``: the camera pose (``T_world_cam``)
  with its pinhole (a frustum in 3D), ``world/camera_trail`` its trajectory;
- ``world/camera/image``: the frame (needs a publisher with ``--publish-frames``) with
  every person's mesh drawn over it, and ``world/camera/image/keypoints/<id>`` the 2D
  keypoints and their skeleton;
- ``world/people/<id>/mesh`` (the skinned Anny mesh of the stream's phenotype; SMPL
  streams draw ``skeleton`` only), ``world/people/<id>/skeleton``, ``world/people/<id>/trail``
  (the pelvis over the floor);
- ``plots/contacts/<id>/<foot part>`` and ``plots/confidence/<id>``: time series.

Messages are grouped by frame: a frame is logged when the next one starts (the publisher
sends a frame's image before its states), so the overlay shows the bodies of that frame.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from livehmr.clients.scene import CONTACT_NAMES, KEYPOINT_EDGES, person_colour
from livehmr.clients.sdk import FrameGrouper, FrameImage, State, Status
from livehmr.core.errors import LivehmrError
from livehmr.core.geometry import intrinsics_from_fov
from livehmr.models.skeleton import PARENTS
from livehmr.stream.publish.wire import WireError

log = logging.getLogger(__name__)

BODY_COLOUR_BGR = (0.2, 0.45, 0.85)
DEFAULT_SIZE = (640, 480)


class RerunLogger:
    """Logs livehmr messages into a rerun recording stream.

    Args:
        recording: the ``rerun.RecordingStream`` to log into (its sinks decide where it goes).
        trail: frames of camera and pelvis trail kept.
        meshes: draw skinned meshes (3D and over the image); off, skeletons only.
    """

    def __init__(self, recording, trail: int = 300, meshes: bool = True):
        import rerun as rr

        self.rr = rr
        self.recording = recording
        self.meshes = meshes
        self._frames = FrameGrouper()
        self._camera_trail: deque = deque(maxlen=trail)
        self._trails: dict[int, deque] = {}
        self._trail_len = trail
        self._faces_logged: set[int] = set()
        self.frames_logged = 0
        self._log_static()

    # -- input ---------------------------------------------------------------------------------
    def log(self, item: State | FrameImage | Status) -> None:
        """Take one message; the frame before it is logged once this one starts a new frame."""
        if isinstance(item, Status):
            return  # health messages belong to no frame (see `livehmr echo --status`)
        done = self._frames.add(item)
        if done:
            self._log_frame(done)

    def flush(self) -> None:
        """Log the frame being gathered."""
        done = self._frames.flush()
        if done:
            self._log_frame(done)

    # -- logging -------------------------------------------------------------------------------
    def _log_static(self) -> None:
        rr, rec = self.rr, self.recording
        rec.log("world", rr.ViewCoordinates.RIGHT_HAND_Z_UP, static=True)
        lines = [[[a, -20, 0], [a, 20, 0]] for a in range(-20, 21)] + [[[-20, a, 0], [20, a, 0]] for a in range(-20, 21)]
        rec.log("world/ground", rr.LineStrips3D(lines, colors=[(110, 116, 128)], radii=0.005), static=True)

    def _log_frame(self, messages: list[State | FrameImage]) -> None:
        """Log one frame's messages: its image (if sent) and its states."""
        rr, rec = self.rr, self.recording
        image = next((m for m in messages if isinstance(m, FrameImage)), None)
        states = [m for m in messages if isinstance(m, State)]
        rec.set_time("frame", sequence=messages[0].frame)
        rec.set_time("source_time", duration=messages[0].t_source)

        T = next((s.message.arrays["T_world_cam"] for s in states if "T_world_cam" in s.message.arrays), None)
        if T is not None:
            T = T.astype(np.float64)
            rec.log("world/camera", rr.Transform3D(translation=T[:3, 3], mat3x3=T[:3, :3]))
            self._camera_trail.append(T[:3, 3].copy())
            rec.log("world/camera_trail", rr.LineStrips3D([list(self._camera_trail)], colors=[(127, 200, 255)], radii=0.01))
        if image is not None:
            K, size = image.K, (int(image.message.header["width"]), int(image.message.header["height"]))
        else:
            K, size = intrinsics_from_fov(*DEFAULT_SIZE, 60.0), DEFAULT_SIZE
        rec.log("world/camera", rr.Pinhole(image_from_camera=K, resolution=size, camera_xyz=rr.ViewCoordinates.RDF,
                                           image_plane_distance=0.5))  # fmt: skip

        meshes = [mesh for state in states if state.has_body for mesh in self._log_person(state)]
        if image is not None:
            try:
                self._log_image(image, meshes, T)
            except WireError as exc:  # a bad image loses that image, not the viewer
                log.warning("%s", exc)
        self.frames_logged += 1

    def _log_person(self, state: State) -> list:
        """Log one person's body, trail and plots; returns its mesh for the overlay (or [])."""
        from livehmr.core.geometry import rotvec_to_rotmat
        from livehmr.models.skinned import skinned_anny_of
        from livehmr.studio.render import Mesh

        rr, rec = self.rr, self.recording
        pid = state.person
        base = f"world/people/{pid}"
        joints = state.joints_world.astype(np.float64)
        colour = person_colour(pid)
        rec.log(f"{base}/skeleton", rr.LineStrips3D([[joints[PARENTS[j]], joints[j]] for j in range(1, 24)],
                                                    colors=[colour], radii=0.012))  # fmt: skip
        trail = self._trails.setdefault(pid, deque(maxlen=self._trail_len))
        trail.append([joints[0, 0], joints[0, 1], 0.01])
        rec.log(f"{base}/trail", rr.LineStrips3D([list(trail)], colors=[colour], radii=0.015))
        for name, value in zip(CONTACT_NAMES, state.contacts):
            rec.log(f"plots/contacts/{pid}/{name}", rr.Scalars(float(value)))
        rec.log(f"plots/confidence/{pid}", rr.Scalars(float(state.joint_confidence.mean())))

        if not self.meshes or state.header.get("body_model") != "anny":
            return []
        body = skinned_anny_of(tuple(round(float(v), 2) for v in state.betas[:6]))
        rotvecs = np.concatenate([state.global_orient, state.body_pose]).reshape(24, 3)
        vertices = body.skin(rotvec_to_rotmat(rotvecs)[None], state.transl[None].astype(np.float64))[0]
        if pid not in self._faces_logged:  # the topology once; vertices every frame
            rec.log(f"{base}/mesh", rr.Mesh3D.from_fields(triangle_indices=body.faces, albedo_factor=(*colour, 255)),
                    static=True)  # fmt: skip
            self._faces_logged.add(pid)
        rec.log(f"{base}/mesh", rr.Mesh3D.from_fields(vertex_positions=vertices, vertex_normals=body.vertex_normals(vertices)))
        colours = np.tile(np.array(colour[::-1], dtype=np.float64) / 255.0, (len(vertices), 1))
        return [Mesh(vertices, body.faces, colours)]

    def _log_image(self, image: FrameImage, meshes: list, T_world_cam: np.ndarray | None) -> None:
        import cv2

        from livehmr.studio.render import overlay_meshes

        rr, rec = self.rr, self.recording
        if meshes and T_world_cam is not None:
            drawn = overlay_meshes(image.image(), image.K, T_world_cam, meshes)
            contents = cv2.imencode(".jpg", drawn, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
        else:
            contents = image.jpeg
        rec.log("world/camera/image", rr.EncodedImage(contents=contents, media_type="image/jpeg"))
        for pid, kp in zip(image.persons, image.keypoints):
            ok = kp[:, 2] > 0.3
            path = f"world/camera/image/keypoints/{pid}"
            rec.log(path, rr.Points2D(kp[ok, :2], colors=[person_colour(pid)], radii=3.0))
            edges = [[kp[a, :2], kp[b, :2]] for a, b in KEYPOINT_EDGES if ok[a] and ok[b]]
            rec.log(f"{path}/skeleton", rr.LineStrips2D(edges, colors=[person_colour(pid)], radii=1.5))


def blueprint():
    """The layout: the world in 3D, the camera's image, and the plots."""
    import rerun.blueprint as rrb

    return rrb.Blueprint(
        rrb.Horizontal(
            rrb.Spatial3DView(origin="world", name="world"),
            rrb.Vertical(
                rrb.Spatial2DView(origin="world/camera", name="camera"),
                rrb.TimeSeriesView(origin="plots/contacts", name="foot contacts"),
                rrb.TimeSeriesView(origin="plots/confidence", name="confidence"),
            ),
            column_shares=[3, 2],
        ),
        collapse_panels=True,
    )


def messages_from(source: str, idle_s: float | None = None, count: int | None = None,
                  curve=None) -> Iterator[State | FrameImage | Status]:  # fmt: skip
    """The messages of a recording file (in order) or of a live stream URL (until ``idle_s``
    without a message, or ``count`` messages)."""
    from livehmr.clients.sdk import Subscriber

    if "://" not in source:
        from livehmr.clients.recording import RecordedMessages

        if not Path(source).is_file():
            raise LivehmrError(f"{source} is neither a recording file nor a stream URL (tcp://HOST:PORT)")
        messages = RecordedMessages(source)
        try:
            yield from itertools.islice(messages, count)
        finally:
            for warning in messages.warnings():
                log.warning("%s", warning)
        return
    with Subscriber(source, timeout_s=idle_s, frames=True, curve=curve) as sub:
        try:
            yield from itertools.islice(sub, count)
        finally:
            if sub.rejected:
                log.warning("%s: skipped %d malformed message(s)", source, sub.rejected)


def view(source: str, save: str | None = None, web: bool = False, idle_s: float | None = None,
         count: int | None = None, meshes: bool = True, announce: Callable[[str], None] = print,
         curve=None) -> int:  # fmt: skip
    """Show ``source`` (a recording or a stream URL) in rerun: spawned native viewer by
    default, ``web`` (rerun's web viewer, served locally), or ``save`` to an .rrd file.
    ``announce`` is told where to look. Returns the frames logged."""
    import rerun as rr

    recording = rr.RecordingStream("livehmr")
    if save:
        recording.save(save, default_blueprint=blueprint())
    elif web:
        uri = recording.serve_grpc(default_blueprint=blueprint())
        rr.serve_web_viewer(web_port=9090, connect_to=uri, open_browser=False)
        announce(f"rerun web viewer: http://localhost:9090/?url={uri}")
    else:
        import os
        import shutil
        import sys

        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise LivehmrError("no display to open the rerun viewer on (DISPLAY is not set); use --web or --save FILE.rrd")
        # The viewer binary comes with rerun-sdk, next to this Python (found without an activated venv).
        beside = Path(sys.executable).with_name("rerun")
        executable = str(beside) if beside.exists() else shutil.which("rerun")
        try:
            rr.spawn(recording=recording, default_blueprint=blueprint(), executable_path=executable)
        except Exception as exc:  # the viewer binary cannot start
            raise LivehmrError(f"cannot start the rerun viewer ({str(exc).splitlines()[0]}); use --web or --save FILE.rrd") from None
    if save:
        announce(f"logging to {save} (open it with: rerun {save})")
    logger = RerunLogger(recording, meshes=meshes)
    try:
        for item in messages_from(source, idle_s, count, curve):
            logger.log(item)
        logger.flush()
        recording.flush()
        if web:  # the page keeps reading from this process: serve until Ctrl-C
            announce("all messages logged; still serving the web viewer (Ctrl-C stops)")
            threading.Event().wait()
    except KeyboardInterrupt:
        logger.flush()
    except RuntimeError as exc:  # the viewer went away (e.g. it could not open a window)
        raise LivehmrError(f"the rerun viewer stopped taking data ({str(exc).splitlines()[0]}); "
                           "on a machine without a display use --web or --save FILE.rrd") from None  # fmt: skip
    finally:
        if save:
            recording.disconnect()
    return logger.frames_logged
