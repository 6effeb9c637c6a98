"""The ``livehmr`` command line."""

from __future__ import annotations

import logging
import math
import signal
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, Optional

import typer

from livehmr.core.endpoints import check_endpoint
from livehmr.core.errors import LivehmrError

if TYPE_CHECKING:
    from livehmr.stream.registry import StageChoices

app = typer.Typer(
    help="Live, world-grounded human motion capture: frames in, SMPL states out over ZeroMQ.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
log = logging.getLogger("livehmr")


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.secho(f"livehmr: error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


# -- option values, checked while the command line is parsed (before anything loads) ----------------
def _within(lo: float | None = None, hi: float | None = None):
    """A check that a number is finite and within [lo, hi] (either end may be open: None)."""

    def check(value: float | None):
        if value is None:
            return None
        if not math.isfinite(value):
            raise typer.BadParameter(f"{value} is not a finite number")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            bounds = f"{lo:g} to {hi:g}" if lo is not None and hi is not None else f"at least {lo:g}" if lo is not None else f"at most {hi:g}"
            raise typer.BadParameter(f"{value:g} is out of range: must be {bounds}")
        return value

    return check


def _endpoint(bind: bool):
    def check(value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return check_endpoint(value, bind=bind)
        except LivehmrError as exc:
            raise typer.BadParameter(str(exc)) from None

    return check


def _existing_file(value: str | None) -> str | None:
    if value is not None and not Path(value).exists():
        raise typer.BadParameter(f"{value} does not exist")
    return value


# The values of options that name one of a few things: typer choices whose members are the
# plain strings (StrEnum), so they pass on as they are. tests/test_cli.py holds them to the
# registries they name (backends, suites, training presets).
class Keypoints(StrEnum):
    BLAZEPOSE = "blazepose"
    BLAZEPOSE_MULTI = "blazepose-multi"
    VITPOSE = "vitpose"


class Camera(StrEnum):
    AUTO = "auto"
    GYRO = "gyro"
    VO = "vo"
    GYRO_VO = "gyro+vo"
    DPVO = "dpvo"
    STATIC = "static"


class EstimatorName(StrEnum):
    LEARNED = "learned"
    BASELINE = "baseline"


class BodyName(StrEnum):
    ANNY = "anny"
    SMPL = "smpl"


class RefinePrior(StrEnum):
    HUMOR = "humor"
    DIFFUSION = "diffusion"
    NOPRIOR = "noprior"


class Device(StrEnum):
    CPU = "cpu"
    CUDA = "cuda"


class ExportFormat(StrEnum):
    BVH = "bvh"
    GLTF = "gltf"
    NPZ = "npz"
    CSV = "csv"


class RecordFormat(StrEnum):
    LHMR = "lhmr"
    MCAP = "mcap"


class SuiteName(StrEnum):
    SMOKE = "smoke"
    TEST = "test"
    VAL = "val"
    DETECTOR = "detector"
    DETECTOR_GAIT = "detector-gait"


class TrainConfig(StrEnum):
    CPU = "cpu"
    CPU_V1 = "cpu-v1"
    CPU_V3 = "cpu-v3"
    CPU_V3_MORE = "cpu-v3-more"
    CPU_V3_GAIT3D = "cpu-v3-gait3d"
    CPU_V3_LONG = "cpu-v3-long"
    GPU = "gpu"
    SMOKE = "smoke"


class PriorConfig(StrEnum):
    CPU = "cpu"
    GPU = "gpu"
    SMOKE = "smoke"


class PriorKind(StrEnum):
    HUMOR = "humor"
    DIFFUSION = "diffusion"


class UpAxis(StrEnum):
    Y = "y"
    Z = "z"


class VitVariant(StrEnum):
    S = "s"
    B = "b"
    L = "l"
    H = "h"


class CameraTranslation(StrEnum):
    AUTO = "auto"
    FIXED = "fixed"
    MOVING = "moving"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"



def _run_pipeline(choices: StageChoices, *, publish: str, insecure: bool = False, curve=None,
                  publish_frames: bool = False, quiet: bool = False) -> None:  # fmt: skip
    """Build the stages ``choices`` name, publish on ``publish`` and run until the source ends."""
    from rich.console import Console

    from livehmr.stream.publish.publisher import ZmqPublisher
    from livehmr.stream.registry import build_pipeline

    c = choices
    console = Console(stderr=True)
    clock = [time.perf_counter()]

    def loaded(stage: str, backend):
        """``backend``, after logging (INFO: ``-v``) which one ``stage`` got and how long it took."""
        now = time.perf_counter()
        log.info("%s: %s ready in %.2f s", stage, type(backend).__name__, now - clock[0])
        clock[0] = now
        return backend

    publisher = None
    try:
        # Bind first: subscribers that are already waiting connect while the models load,
        # instead of missing the first seconds of a file that then runs flat out.
        c.check()  # the same checks the loaders make, before anything loads
        publisher = ZmqPublisher(publish, body_model=c.body, insecure=insecure, publish_frames=publish_frames, curve=curve)
        with console.status("opening the source and camera, loading the models..."):
            pipeline = build_pipeline(c, [publisher], loaded)
    except (LivehmrError, ValueError) as exc:
        if publisher is not None:
            publisher.close()
        _fail(str(exc))
    console.print(f"[green]publishing[/] on {publisher.url}  (watch with: livehmr echo {publish})")

    def on_result(result):
        if quiet or result.frame_index % 15:
            return
        n = len(result.persons)
        lat = result.latency_ms
        console.print(
            f"frame {result.frame_index:6d}  persons {n}  glass-to-publish {lat['glass_to_publish']:6.1f} ms"
            f"  flags {','.join(sorted(result.flags)) or '-'}", highlight=False)  # fmt: skip

    pipeline.on_result.append(on_result)
    signal.signal(signal.SIGTERM, lambda *_: pipeline.stop())
    try:
        summary = pipeline.run()
    except KeyboardInterrupt:
        pipeline.stop()
        summary = pipeline.summary
    except LivehmrError as exc:
        _fail(str(exc))
    finally:
        pipeline.close()
    lat = summary.latency
    if pipeline.refiner is not None:
        r = pipeline.refiner
        console.print(f"refinement ({c.refine}): {r.solves} window solves, {r.failed_solves} failed, "
                      f"{r.dropped} frames dropped for it, {r.errors} errors, {r.published} frames published")  # fmt: skip
    console.print(
        f"done: {summary.frames} frames in {summary.wall_s:.1f} s ({summary.fps:.1f} fps), "
        f"{summary.dropped} dropped, {summary.skipped} unusable, {summary.stage_errors} stage errors, "
        f"{sum(summary.restarts.values())} stage restarts; "
        f"p50 keypoints {lat.get('keypoints', (0,))[0]:.1f} ms, overhead {lat.get('overhead', (0,))[0]:.1f} ms"
    )


_KEYPOINTS = typer.Option("blazepose", help="2D keypoints: blazepose (one person, MediaPipe's Pose solution) | blazepose-multi (up to --people, tracked ids) | vitpose (needs --vitpose FILE; people found by BlazePose's detector).")
_FAR_SEARCH = typer.Option(True, help="--keypoints blazepose: on frames where MediaPipe's solution finds nobody (far away, seen from above), look with BlazePose's models over zoomed views (--no-far-search: the solution alone).")
_PEOPLE = typer.Option(4, callback=_within(1, 32), help="blazepose-multi / vitpose: follow at most this many people.")
_VITPOSE = typer.Option(None, callback=_existing_file, help="ViTPose model for --keypoints vitpose: an official .pth checkpoint, an exported .onnx or a TensorRT .engine.")
_DEVICE = typer.Option("cpu", help="Where ViTPose runs: cpu | cuda (PyTorch fp16 + CUDA graphs, ONNX Runtime's CUDA provider, or TensorRT).")
_TRUST = typer.Option(False, help="Allow a checkpoint that pickles non-tensor objects (runs code from the file: only for files you trust).")
_CAMERA = typer.Option("auto", help="Camera motion: auto (gyro if one is given or the source has one, else vo: a video without a gyroscope is not assumed to be from a still camera) | gyro | vo (OpenCV visual odometry) | gyro+vo (fused; clock offset and bias estimated online) | dpvo (needs the dpvo package and CUDA) | static.")
_GYRO = typer.Option(None, help="Gyroscope feed: a CSV file 't,wx,wy,wz' (s, rad/s) or a ZeroMQ URL tcp://HOST:PORT.")
_IMU = typer.Option("identity", callback=lambda v: _imu(v), help="Camera<-IMU rotation: identity | android-portrait | android-landscape | 9 numbers row-major.")
_GYRO_OFFSET = typer.Option(None, callback=_within(-10.0, 10.0), help="Seconds added to frame times to reach the gyro clock (default: 0 for gyro, estimated online for gyro+vo).")
_FLOOR_MOTION = typer.Option(True, help="Camera backends but static: measure the camera's travel over the floor from the floor's image motion (a camera travelling with a person shows it nowhere else; --no-floor-motion: leave the camera's travel to the people's evidence).")
_ESTIMATOR = typer.Option("learned", help="Body estimator: learned (the causal motion model, world-grounded) | baseline (per-frame IK on BlazePose 3D landmarks).")
_REFINE = typer.Option(None, help="Also publish a refined stream (topic 'refined', a fixed lag later): windowed optimisation with the motion prior humor | diffusion | noprior.")
_REFINE_LAG = typer.Option(20, callback=_within(1, 300), help="--refine: frames each refined frame waits for (its future context; 20 = 0.67 s at 30 fps).")
_MOTION_MODEL = typer.Option(None, callback=_existing_file, help="Motion model weights for --estimator learned: a .pt (PyTorch) or an exported .onnx (ONNX Runtime); default the shipped model.")
_CAMERA_TRANSLATION = typer.Option("auto", help="How the camera may translate (learned estimator): auto (decided from what it sees) | fixed (static or tripod: pans and zooms only) | moving.")
_SMOOTH_POSE = typer.Option(False, "--smooth-pose", help="Learned estimator: publish a smoother body (a One Euro filter on the rotations; on the validation suite jitter 180 -> 108 and foot sliding 47 -> 40 mm, but the overlay's error 1.54 -> 1.66x BlazePose's: fast limbs lag).")
_BODY = typer.Option("anny", help="Body model: anny (bundled) | smpl (needs --smpl-model).")
_SMPL = typer.Option(None, callback=_existing_file, help="Path to an SMPL model file or folder (licensed; only used with --body smpl).")
_FOV = typer.Option(60.0, callback=_within(1.0, 179.0), help="Horizontal field of view (degrees, 1-179) assumed when the source gives no intrinsics.")
_PUBLISH = typer.Option("tcp://127.0.0.1:5557", callback=_endpoint(bind=True), help="ZeroMQ PUB endpoint to bind.")
_INSECURE = typer.Option(False, "--insecure", "--allow-remote", help="Bind beyond loopback without authentication (anyone who reaches the port reads the stream).")
_CURVE_SECRET = typer.Option(None, callback=_existing_file, help="CURVE: this publisher's secret key file (NAME.key_secret from 'livehmr keys'); subscribers must then authenticate.")
_CURVE_CLIENTS = typer.Option(None, callback=_existing_file, help="CURVE: directory of the public keys (*.key) of the subscribers let in (with --curve-secret).")
_CURVE_KEY = typer.Option(None, callback=_existing_file, help="CURVE: this subscriber's secret key file, for a publisher that authenticates.")
_CURVE_SERVER = typer.Option(None, callback=_existing_file, help="CURVE: the publisher's public key file (NAME.key), with --curve-key.")


def _imu(value: str) -> str:
    from livehmr.stream.registry import parse_imu_rotation

    try:
        parse_imu_rotation(value)
    except LivehmrError as exc:
        raise typer.BadParameter(str(exc).removeprefix(f"--imu-to-cam {value!r}").lstrip(": ") or str(exc)) from None
    return value


_STREAM_URL = typer.Argument("tcp://127.0.0.1:5557", callback=_endpoint(bind=False), help="Publisher endpoint (tcp://HOST:PORT).")
_FORCE = typer.Option(False, "--force", help="Overwrite the output file if it exists.")


def _curve_server(secret: Optional[str], clients: Optional[str]):
    from livehmr.stream.publish.security import CurveServer

    if (secret is None) != (clients is None):
        _fail("--curve-secret and --curve-clients go together")
    return CurveServer(Path(secret), Path(clients)) if secret is not None and clients is not None else None


def _curve_client(key: Optional[str], server: Optional[str]):
    from livehmr.stream.publish.security import CurveClient

    if (key is None) != (server is None):
        _fail("--curve-key and --curve-server go together")
    return CurveClient(Path(key), Path(server)) if key is not None and server is not None else None
_MAX = typer.Option(None, callback=_within(1), help="Stop after this many frames.")
_QUIET = typer.Option(False, "--quiet", "-q", help="No per-frame progress lines.")
_FRAMES = typer.Option(False, help="Also publish each frame's image (JPEG), intrinsics and 2D keypoints on topic 'frame' (for `livehmr view`).")


@app.command()
def run(
    source: str = typer.Argument(..., help="Video file, image folder, camera index (0, camera:1), stream URL, or 'synthetic'."),
    keypoints: Keypoints = _KEYPOINTS, camera: Camera = _CAMERA, gyro: Optional[str] = _GYRO, imu_to_cam: str = _IMU,
    gyro_offset: Optional[float] = _GYRO_OFFSET, floor_motion: bool = _FLOOR_MOTION, estimator: EstimatorName = _ESTIMATOR,
    motion_model: Optional[str] = _MOTION_MODEL, camera_translation: CameraTranslation = _CAMERA_TRANSLATION,
    smooth_pose: bool = _SMOOTH_POSE, body: BodyName = _BODY, smpl_model: Optional[str] = _SMPL,
    fov: float = _FOV, publish: str = _PUBLISH,
    insecure: bool = _INSECURE, curve_secret: Optional[str] = _CURVE_SECRET, curve_clients: Optional[str] = _CURVE_CLIENTS,
    max_frames: Optional[int] = _MAX,
    realtime: bool = typer.Option(False, help="Play the source at its frame rate like a live camera (the synthetic scene or a video "
                                  "file; frames the pipeline is late for are dropped and flagged)."),
    quiet: bool = _QUIET, people: int = _PEOPLE, vitpose: Optional[str] = _VITPOSE, device: Device = _DEVICE,
    trust_checkpoint: bool = _TRUST, publish_frames: bool = _FRAMES, refine: Optional[RefinePrior] = _REFINE,
    refine_lag: int = _REFINE_LAG, far_search: bool = _FAR_SEARCH,
) -> None:  # fmt: skip
    """Run the pipeline on SOURCE and publish SMPL states over ZeroMQ."""
    from livehmr.stream.registry import StageChoices

    choices = StageChoices(source, keypoints=keypoints, people=people, vitpose=vitpose, device=device,
                           trust_checkpoint=trust_checkpoint, camera=camera, gyro=gyro, imu_to_cam=imu_to_cam,
                           gyro_offset=gyro_offset, floor_motion=floor_motion, estimator=estimator,
                           motion_model=motion_model, camera_translation=camera_translation, smooth_pose=smooth_pose, body=body,
                           smpl_model=smpl_model, fov=fov, refine=refine, refine_lag=refine_lag, max_frames=max_frames,
                           realtime=realtime, far_search=far_search)  # fmt: skip
    _run_pipeline(choices, publish=publish, insecure=insecure, curve=_curve_server(curve_secret, curve_clients),
                  publish_frames=publish_frames, quiet=quiet)


@app.command()
def demo(
    seconds: float = typer.Option(20.0, callback=_within(0.1, 3600.0), help="Length of the embedded scene (it ends, then the demo stops)."),
    publish: str = _PUBLISH, keypoints: Keypoints = _KEYPOINTS, camera: Camera = _CAMERA, estimator: EstimatorName = _ESTIMATOR,
    realtime: bool = typer.Option(True, help="Pace frames at 30 fps like a live camera (--no-realtime: as fast as possible)."),
    quiet: bool = _QUIET,
    people: int = typer.Option(1, callback=_within(1, 4), help="People in the scene (1-4); more than one switches --keypoints blazepose to blazepose-multi."),
    publish_frames: bool = _FRAMES, refine: Optional[RefinePrior] = _REFINE, refine_lag: int = _REFINE_LAG,
) -> None:  # fmt: skip
    """Run the whole pipeline on the embedded synthetic scene (no files needed)."""
    max_frames = int(round(seconds * 30))
    source = "synthetic" if people == 1 else f"crowd:{people}"
    if people > 1 and keypoints == Keypoints.BLAZEPOSE:
        keypoints = Keypoints.BLAZEPOSE_MULTI
    from livehmr.stream.registry import StageChoices

    choices = StageChoices(source, keypoints=keypoints, people=people, camera=camera, estimator=estimator, fov=70.0,
                           refine=refine, refine_lag=refine_lag, max_frames=max_frames, realtime=realtime)  # fmt: skip
    _run_pipeline(choices, publish=publish, publish_frames=publish_frames, quiet=quiet)


_ADDRESS = typer.Option(None, help="Ray cluster to join: HOST:PORT of its head (printed by 'ray start --head'), ray://HOST:PORT, or auto. Default: start a local Ray instance on this machine.")


def _connect_host(url: str) -> str:
    """A bind URL as a local subscriber reaches it (``*`` and ``0.0.0.0`` are this machine)."""
    return url.replace("tcp://*:", "tcp://127.0.0.1:").replace("tcp://0.0.0.0:", "tcp://127.0.0.1:")


@app.command()
def serve(
    streams: str = typer.Argument(..., help="STREAMS.toml: a 'serve' table (the publish endpoint), then one 'stream' table per stream (docs/scaling.md)."),
    address: Optional[str] = _ADDRESS,
    status: bool = typer.Option(False, "--status", help="Print each stream's node, rate, glass-to-publish latency and restarts, from the running serve's status messages, and exit."),
    curve_key: Optional[str] = _CURVE_KEY, curve_server: Optional[str] = _CURVE_SERVER,
) -> None:  # fmt: skip
    """Serve the live streams of STREAMS.toml on a Ray cluster: one actor per stream, every stream
    on one ZeroMQ endpoint (each header names its stream), dead workers restarted."""
    from livehmr.cluster.config import load_streams

    try:
        config = load_streams(streams)
    except LivehmrError as exc:
        _fail(str(exc))
    if status:
        return _serve_status(config, _curve_client(curve_key, curve_server))
    from rich.console import Console

    from livehmr.cluster.serve import Server

    console = Console(stderr=True)
    server = Server(config, address, say=lambda line: console.print(line, highlight=False, markup=False))
    try:
        server.start()
    except LivehmrError as exc:
        server.close()
        _fail(str(exc))
    except KeyboardInterrupt:
        server.close()
        raise typer.Exit(130) from None
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: server.stop())
    try:
        result = server.supervise()
    finally:
        server.close()
    if result.failed:
        _fail(f"{len(result.failed)} of {len(result.streams)} streams failed: {', '.join(result.failed)}", code=1)


def _serve_status(config, curve) -> None:
    from rich.console import Console
    from rich.table import Table

    from livehmr.cluster.serve import status_table

    url = _connect_host(config.publish)
    rows = status_table(url, [s.id for s in config.streams], curve=curve)
    table = Table(title=f"livehmr serve on {url}")
    for column in ("stream", "node", "pid", "fps", "glass-to-publish p50 / p99 ms", "frames", "restarts"):
        table.add_column(column)
    for r in rows:
        if not r["heard"]:
            table.add_row(r["stream"], "-", "-", "-", "no status in 2.5 s (starting, restarting or down)", "-", "-")
            continue
        table.add_row(r["stream"], str(r["node"]), str(r["pid"]), f"{r['fps']:.1f}", f"{r['p50_ms']:.1f} / {r['p99_ms']:.1f}",
                      str(r["frames"]), str(r["restarts"]))  # fmt: skip
    Console().print(table)
    if not any(r["heard"] for r in rows):
        _fail(f"no stream answered on {url}: is livehmr serve running?", code=1)


@app.command()
def batch(
    videos: list[str] = typer.Argument(..., help="Video files."),
    out: Path = typer.Option(..., help="Output folder: one subfolder per video (named after it)."),
    address: Optional[str] = _ADDRESS,
    outputs: str = typer.Option("recording,npz,bvh", help="What each video's folder gets, comma-separated: recording (.lhmr, every published message) | npz | bvh | gltf | csv."),
    workers: Optional[int] = typer.Option(None, callback=_within(1, 4096), help="At most this many videos at once (default: as many as the cluster's CPUs hold at --cpus-per-video)."),
    cpus_per_video: float = typer.Option(1.0, callback=_within(0.01, 256), help="CPUs Ray reserves for each video's task."),
    force: bool = typer.Option(False, "--force", help="Redo videos whose output is finished (by default they are skipped: a batch resumes)."),
    keypoints: Keypoints = _KEYPOINTS, far_search: bool = _FAR_SEARCH, people: int = _PEOPLE,
    estimator: EstimatorName = _ESTIMATOR, motion_model: Optional[str] = _MOTION_MODEL,
    camera: Camera = _CAMERA, camera_translation: CameraTranslation = _CAMERA_TRANSLATION,
    body: BodyName = _BODY, smpl_model: Optional[str] = _SMPL, fov: float = _FOV,
    refine: Optional[RefinePrior] = _REFINE, refine_lag: int = _REFINE_LAG, max_frames: Optional[int] = _MAX,
    quiet: bool = _QUIET,
) -> None:  # fmt: skip
    """Run the pipeline on every video as a Ray task; resumable (finished videos are skipped); an
    unreadable video is reported and the rest go on (exit status 1 when any failed)."""
    from livehmr.cluster.batch import run_batch
    from livehmr.cluster.ray_runtime import check_address, require_ray
    from livehmr.stream.registry import StageChoices

    choices = StageChoices("", keypoints=keypoints, far_search=far_search, people=people, estimator=estimator,
                           motion_model=motion_model, camera=camera, camera_translation=camera_translation, body=body,
                           smpl_model=smpl_model, fov=fov, refine=refine, refine_lag=refine_lag, max_frames=max_frames)  # fmt: skip
    wanted = tuple(o.strip() for o in outputs.split(",") if o.strip())
    try:
        choices.check()
        require_ray()
        if address:
            check_address(address)
        report = run_batch(videos, out, choices, wanted, address=address, workers=workers, cpus_per_video=cpus_per_video,
                           force=force, show_bar=not quiet,
                           progress=None if quiet else lambda v, what: typer.echo(f"{v}: {what}", err=True))  # fmt: skip
    except LivehmrError as exc:
        _fail(str(exc))
    typer.echo(f"batch: {len(report.done)} done, {len(report.skipped)} skipped (done before), {len(report.failed)} failed "
               f"in {report.wall_s:.1f} s ({report.videos_per_minute:.1f} videos/min)", err=True)  # fmt: skip
    for video, why in report.failed.items():
        typer.echo(f"  failed: {video}: {why}", err=True)
    if report.failed:
        raise typer.Exit(1)


@app.command()
def phone(
    port: int = typer.Option(8443, callback=_within(0, 65535), help="HTTPS port of the page and its WebSocket (0: any free port)."),
    host: str = typer.Option("0.0.0.0", help="Address to listen on (the phone dials this machine's LAN address)."),
    cert: Optional[str] = typer.Option(None, callback=_existing_file, help="TLS certificate (PEM); default one made once and kept in ~/.config/livehmr/phone."),
    key: Optional[str] = typer.Option(None, callback=_existing_file, help="TLS private key (PEM), with --cert."),
    max_phones: int = typer.Option(1, callback=_within(1, 16), help="Phones connected at once (each its own pipeline and stream phone-N)."),
    publish: str = _PUBLISH, insecure: bool = _INSECURE, curve_secret: Optional[str] = _CURVE_SECRET,
    curve_clients: Optional[str] = _CURVE_CLIENTS,
    keypoints: Keypoints = _KEYPOINTS, far_search: bool = _FAR_SEARCH, people: int = _PEOPLE,
    estimator: EstimatorName = _ESTIMATOR, motion_model: Optional[str] = _MOTION_MODEL,
    camera_translation: CameraTranslation = _CAMERA_TRANSLATION, body: BodyName = _BODY, smpl_model: Optional[str] = _SMPL,
    fov: float = typer.Option(65.0, callback=_within(1.0, 179.0), help="Horizontal field of view of the phone's camera (degrees; the page cannot read it; most main cameras are 63-70)."),
    refine: Optional[RefinePrior] = _REFINE, refine_lag: int = _REFINE_LAG,
) -> None:  # fmt: skip
    """Serve a page that makes a phone the camera: its camera and gyroscope stream on one clock
    over a WebSocket, livehmr runs on them and draws the skeleton back over the page's preview."""
    import asyncio
    import secrets

    from livehmr.stream.phone.certs import ensure_certificate, lan_address
    from livehmr.stream.phone.server import PhoneServer
    from livehmr.stream.registry import StageChoices

    if (cert is None) != (key is None):
        _fail("--cert and --key go together")
    choices = StageChoices("phone", keypoints=keypoints, far_search=far_search, people=people, estimator=estimator,
                           motion_model=motion_model, camera_translation=camera_translation, body=body,
                           smpl_model=smpl_model, fov=fov, refine=refine, refine_lag=refine_lag)  # fmt: skip
    token = secrets.token_urlsafe(12)  # this run's pairing token: never stored
    try:
        choices.check()
        cert_path, key_path = (Path(cert), Path(key)) if cert and key else ensure_certificate()
        server = PhoneServer(choices, token, host=host, port=port, cert=cert_path, key=key_path, publish=publish,
                             max_phones=max_phones, insecure=insecure, curve=_curve_server(curve_secret, curve_clients))  # fmt: skip
    except (LivehmrError, OSError) as exc:
        _fail(str(exc))
    import threading

    def announce() -> None:
        server.ready.wait()
        address = lan_address() if host in ("0.0.0.0", "::") else host
        url = f"https://{address}:{server.port}/?token={token}"
        typer.echo(f"open on the phone (same network): {url}", err=True)
        try:
            import qrcode

            qr = qrcode.QRCode(border=1)
            qr.add_data(url)
            qr.print_ascii(out=sys.stderr, invert=True)
        except ImportError:
            pass
        typer.echo(f"the certificate is self-signed: accept it once on the phone. States on {server.hub.url} "
                   f"(stream phone-1...; watch: livehmr echo {server.hub.url})", err=True)  # fmt: skip

    threading.Thread(target=announce, daemon=True).start()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: server.stop())
    try:
        asyncio.run(server.serve())
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(server.counters.items())) or "nothing received"
    typer.echo(f"phone: {counts}", err=True)


@app.command()
def echo(
    url: str = _STREAM_URL,
    count: Optional[int] = typer.Option(None, callback=_within(1), help="Exit after this many states."),
    timeout: Optional[float] = typer.Option(None, callback=_within(0.0), help="Exit after this many seconds without a message."),
    curve_key: Optional[str] = _CURVE_KEY, curve_server: Optional[str] = _CURVE_SERVER,
    status: bool = typer.Option(False, "--status", help="Show the pipeline's health (topic 'status', once a second) instead of the states."),
) -> None:  # fmt: skip
    """Print a one-line summary of every published state (or, with --status, of the pipeline's health)."""
    from livehmr.clients.sdk import Status, Subscriber

    seen = 0
    try:
        with Subscriber(url, timeout_s=timeout, curve=_curve_client(curve_key, curve_server), status=status,
                        states=not status) as sub:  # fmt: skip
            for message in sub:
                typer.echo(_status_line(message.status) if isinstance(message, Status) else _state_line(message))
                seen += 1
                if count is not None and seen >= count:
                    break
    except KeyboardInterrupt:
        pass
    if timeout is not None and seen == 0:
        _fail(f"no state arrived from {url} within {timeout:g} s", code=1)


def _state_line(state) -> str:
    from livehmr.models.skeleton import JOINT

    flags = ",".join(state.flags) or "-"
    stream = state.header.get("stream", "livehmr")
    prefix = "" if stream == "livehmr" else f"{stream}: "  # one of livehmr serve's streams
    if not state.has_body:
        return f"{prefix}frame {state.frame:6d} (no body)  flags {flags}"
    pelvis = state.joints_world[JOINT["pelvis"]]
    head = state.joints_world[JOINT["head"]]
    contacts = "".join("x" if c > 0.5 else "." for c in state.contacts)
    return (f"{prefix}frame {state.frame:6d} person {state.person:2d} pelvis [{pelvis[0]:6.2f} {pelvis[1]:6.2f} "
            f"{pelvis[2]:5.2f}] m  head z {head[2]:4.2f} m  contacts {contacts}  "
            f"conf {state.joint_confidence.mean():.2f}  {state.header['latency_ms']:5.1f} ms  flags {flags}")  # fmt: skip


def _status_line(s: dict) -> str:
    latency = "  ".join(f"{k} {v[0]:.1f}/{v[1]:.1f}" for k, v in s["latency_ms"].items() if k in ("keypoints", "overhead", "glass_to_publish"))
    flags = ",".join(f"{k}:{v}" for k, v in sorted(s["flags"].items())) or "-"
    stalled = "  STALLED" if s["stalled"] else ""
    return (f"up {s['uptime_s']:7.1f} s  {s['fps']:5.1f} fps  frames {s['frames']}  persons {s['persons']}  "
            f"dropped {s['dropped']}  errors {s['stage_errors']}  restarts {sum(s['restarts'].values())}  camera {s['camera']}  "
            f"ms p50/p99: {latency or '-'}  flags {flags}{stalled}")  # fmt: skip


@app.command()
def setup() -> None:
    """One-time preparation: build Anny's model cache (~100 s) and compile the renderer."""
    from rich.console import Console

    console = Console(stderr=True)
    with console.status("building the Anny body model cache (one time, about 100 s on 2 cores)..."):
        from livehmr.models.anny_body import build_anny_cache

        seconds = build_anny_cache()
    console.print(f"Anny body model ready ({seconds:.0f} s)")
    with console.status("compiling the synthetic-scene renderer (numba, one time)..."):
        from livehmr.studio.scene import default_scene

        scene = default_scene(duration=1.0)
        scene.render(scene.truth(0))
    with console.status("checking BlazePose loads offline..."):
        from livehmr.stream.keypoints.blazepose import BlazePoseDetector

        BlazePoseDetector().close()
        from livehmr.stream.keypoints.blazepose_multi import MultiBlazePose

        MultiBlazePose().close()
    console.print("[green]livehmr is set up.[/] Try: livehmr demo   (and in another terminal: livehmr echo)")


corpus_app = typer.Typer(help="Motion-capture corpora: import BVH folders, write the subject split.", no_args_is_help=True)
studio_app = typer.Typer(help="The studio: rendered sequences with exact ground truth.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks that print figures (never timed assertions): accuracy on studio suites and every other bench.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")
app.add_typer(studio_app, name="studio")
app.add_typer(bench_app, name="bench")
train_app = typer.Typer(help="Train the networks livehmr ships.", no_args_is_help=True)
export_app = typer.Typer(help="Export networks (ONNX, TensorRT).", no_args_is_help=True)
app.add_typer(train_app, name="train")
app.add_typer(export_app, name="export")
_CORPUS = typer.Option(None, help="Corpus folder in the ../shared/motion format (default: ../shared/motion or $LIVEHMR_MOTION).")


@corpus_app.command("import")
def corpus_import(
    folder: str = typer.Argument(..., callback=_existing_file, help="Folder of .bvh files (searched recursively; subfolders name subjects)."),
    skeleton: str = typer.Option(..., "--skeleton", callback=_existing_file, help='JSON {"<kind>": [24 BVH joint names in SMPL-24 order]}.'),
    out: str = typer.Option(..., help="Output corpus folder (index.json, clips/, smpl24_maps.json)."),
    scale: Optional[float] = typer.Option(None, callback=_within(1e-6, 1e6), help="File units -> metres (default: guessed from the figure's height)."),
    up: UpAxis = typer.Option("y", help="The files' up axis: y (BVH custom) | z."),
    force: bool = typer.Option(False, "--force", help="Write into an --out folder that already holds a corpus."),
) -> None:
    """Convert BVH motion files into a corpus the studio and training read."""
    from livehmr.studio.bvh import import_bvh_folder

    if not force and (Path(out) / "index.json").exists():
        _fail(f"--out {out} already holds a corpus (index.json); pass --force to write over it")
    n = import_bvh_folder(folder, skeleton, out, scale=scale, up=up)
    typer.echo(f"imported {n} clips into {out}")


@corpus_app.command("split")
def corpus_split(corpus: Optional[str] = _CORPUS) -> None:
    """Write the corpus' subject split (train/val/test by subject) into studio/splits/."""
    from collections import Counter

    from livehmr.studio.corpus import Corpus

    c = Corpus(corpus)
    path = c.write_split()
    counts = Counter(c.make_split().values())
    typer.echo(f"wrote {path}: " + ", ".join(f"{k} {counts[k]} clips" for k in ("train", "val", "test")))


@studio_app.command("make")
def studio_make(
    suite: SuiteName = typer.Option("smoke", help="Suite: smoke (3 short sequences, for CI) | test (>= 45 sequences, >= 20 min, a third with travelling cameras) | val (the test recipe on the validation subjects, 36 sequences: tune on this) | detector (training subjects, for the detector error model) | detector-gait (training subjects covering ground, travelling cameras: the 3D landmarks' gait error model)."),
    out: Optional[str] = typer.Option(None, help="Output folder (default: suites/<suite> in the working directory)."),
    corpus: Optional[str] = _CORPUS,
    clips: Optional[str] = typer.Option(None, help="Clip ids (comma-separated) or a split name; default: the test split."),
    seed: int = typer.Option(0, help="Seed: the same seed makes the same suite."),
) -> None:
    """Render a studio suite: video.mp4, gyro.csv (gyroscope and accelerometer) and truth.npz per sequence, then print each camera family's true ground speeds."""
    import json

    from livehmr.studio.suite import make_suite, speed_distribution

    folder = make_suite(suite, out or f"suites/{suite}", corpus_dir=corpus, clips=clips, seed=seed)
    typer.echo(speed_distribution(json.loads((folder / "suite.json").read_text())["summary"]))
    typer.echo(f"suite ready in {folder}")


@studio_app.command("detector-errors")
def studio_detector_errors(
    suite_dir: str = typer.Option(..., help="A rendered suite folder."),
    out: Optional[str] = typer.Option(None, help="Statistics file (default: the project's models/data/blazepose_errors.json)."),
    keypoints: Keypoints = _KEYPOINTS, force: bool = _FORCE,
) -> None:
    """Measure the keypoint detector's errors against the truth's projections and save them."""
    from livehmr.core.outputs import check_output
    from livehmr.training.detector_errors import DEFAULT_PATH, measure_detector_errors

    if not (Path(suite_dir) / "suite.json").is_file():
        _fail(f"--suite-dir {suite_dir} is not a rendered suite (no suite.json)")
    check_output(out or DEFAULT_PATH, force)
    path = measure_detector_errors(suite_dir, out, keypoints)
    typer.echo(f"wrote {path}")


@studio_app.command("landmark-errors")
def studio_landmark_errors(
    suite_dir: list[str] = typer.Option(..., help="Rendered suite folder(s) of training subjects (repeat the option for several)."),
    out: Optional[str] = typer.Option(None, help="Statistics file (default: the project's models/data/blazepose_world_errors.json)."),
    force: bool = _FORCE,
    gait: bool = typer.Option(False, "--gait", help="Measure the gait entry (suites of subjects covering ground: detector-gait) into the file, keeping the rest of it."),
) -> None:
    """Measure BlazePose's 3D (world) landmark errors in the body frame and save them."""
    from livehmr.core.outputs import check_output
    from livehmr.training.landmark_errors import DEFAULT_PATH, measure_gait_landmark_errors, measure_landmark_errors

    for folder in suite_dir:
        if not (Path(folder) / "suite.json").is_file():
            _fail(f"--suite-dir {folder} is not a rendered suite (no suite.json)")
    if gait:
        if out is not None and not Path(out).is_file():
            _fail(f"--out {out}: --gait adds to an error model file; there is none there")
        check_output(out or DEFAULT_PATH, force)
        typer.echo(f"wrote {measure_gait_landmark_errors(suite_dir, out)}")
        return
    check_output(out or DEFAULT_PATH, force)
    typer.echo(f"wrote {measure_landmark_errors(suite_dir, out)}")


@bench_app.command("accuracy")
def bench_accuracy_cmd(
    suite: Optional[SuiteName] = typer.Option(None, help="A suite name: made under suites/<name> first if missing."),
    suite_dir: Optional[str] = typer.Option(None, help="Any rendered suite folder."),
    out: str = typer.Option("bench_out/accuracy", help="Folder for table.md, results.json and per-sequence plots."),
    limit: Optional[int] = typer.Option(None, callback=_within(1), help="Only the first N sequences."),
    configs: Optional[str] = typer.Option(None, help="Comma-separated estimator+camera pairs, e.g. learned+gyro,baseline+gyro (default: learned and baseline with gyro, gyro+vo; learned with static)."),
    refine: Optional[str] = typer.Option(None, help="Also score refined streams of every config: comma-separated priors humor,diffusion,noprior."),
    refine_every: Optional[int] = typer.Option(None, callback=_within(1), help="--refine: solve each window every N frames (default: the live setting, 15)."),
    refine_iterations: Optional[int] = typer.Option(None, callback=_within(1), help="--refine: L-BFGS evaluations per solve (default: the live setting, 15)."),
    refine_prior_weight: Optional[float] = typer.Option(None, callback=_within(0.0), help="--refine: weight of the motion prior term (default: each prior's own, humor 0.02, diffusion 0.005)."),
    motion_model: Optional[str] = _MOTION_MODEL, camera_translation: CameraTranslation = _CAMERA_TRANSLATION,
    fit_pelvis: bool = typer.Option(True, help="Learned estimator: place the pelvis by the fit to the keypoints (--no-fit-pelvis: the network's depth)."),
    fit_limbs: bool = typer.Option(True, help="Learned estimator: turn the limbs towards the keypoints (--no-fit-limbs: the network's pose)."),
    limb_smoothing: float = typer.Option(0.5, callback=_within(0.0, 0.99), help="Learned estimator: weight of the last frame's limb turn in this frame's (0: none)."),
    pin_feet: bool = typer.Option(True, help="Learned estimator: leave a leg to the network while its foot is predicted in contact (--no-pin-feet: fit it to the keypoints too)."),
    smooth_pose: bool = _SMOOTH_POSE, far_search: bool = _FAR_SEARCH, floor_motion: bool = _FLOOR_MOTION,
    compare_to: Optional[str] = typer.Option(None, help="Another run's --out folder: also report the frames this run publishes a body on and that one does not, and their errors."),
) -> None:
    """Run the pipeline causally on every sequence of a suite and print the accuracy table."""
    from pathlib import Path

    from livehmr.eval.accuracy import CONFIGS, bench_accuracy
    from livehmr.studio.suite import make_suite

    if (suite is None) == (suite_dir is None):
        _fail("give exactly one of --suite NAME or --suite-dir DIR")
    chosen = None
    if configs:
        chosen = tuple(tuple(c.strip().split("+", 1)) for c in configs.split(","))
        for pair in chosen:
            if len(pair) != 2 or pair[0] not in set(EstimatorName) or pair[1] not in set(Camera):
                _fail(f"--configs: {'+'.join(pair)!r} is not an estimator+camera pair such as learned+gyro "
                      f"(estimators: {', '.join(EstimatorName)}; cameras: {', '.join(Camera)})")  # fmt: skip
    priors = tuple(p.strip() for p in refine.split(",")) if refine else ()
    if any(p not in set(RefinePrior) for p in priors):
        _fail(f"--refine: choose from {', '.join(RefinePrior)}, got {refine!r}")
    refine_configs = {}
    if priors:
        from livehmr.stream.refine.refiner import RefineConfig

        try:
            refine_configs = {p: RefineConfig.for_prior(p, every=refine_every, iterations=refine_iterations,
                                                        prior_weight=refine_prior_weight) for p in priors}  # fmt: skip
        except ValueError as exc:
            _fail(f"--refine-every: {exc}")
    if suite_dir is not None and not (Path(suite_dir) / "suite.json").is_file():
        _fail(f"--suite-dir {suite_dir} is not a rendered suite (no suite.json)")
    folder = Path(suite_dir) if suite_dir else Path("suites") / str(suite)
    if suite and not (folder / "suite.json").is_file():
        make_suite(suite, folder)
    bench_accuracy(folder, out, configs=chosen or CONFIGS, limit=limit, refine=refine_configs,
                   estimator_options={"motion_model": motion_model, "camera_translation": camera_translation,
                                      "fit_pelvis": fit_pelvis, "fit_limbs": fit_limbs, "limb_smoothing": limb_smoothing,
                                      "pin_feet": pin_feet, "smooth_pose": {} if smooth_pose else None},
                   far_search=far_search, compare_to=compare_to, floor_motion=floor_motion)  # fmt: skip
    typer.echo((Path(out) / "table.md").read_text())
    typer.echo(f"plots and per-sequence results in {out}")


#: the benchmarks besides ``accuracy``: each a module of livehmr.bench with its own options
BENCHES = ("3dpw", "bridges", "camera", "crowd_overlay", "emdb", "families", "faults", "floor", "fuzz", "keypoints", "latency", "motion", "phone", "refine", "render", "serve", "skin", "soak", "speed",
           "speed-inputs", "tracking", "trajectory")  # fmt: skip


#: bench commands whose module is named otherwise (a module name cannot start with a digit)
BENCH_MODULES = {"3dpw": "threedpw", "speed-inputs": "speed_inputs"}


def _bench_summary(name: str) -> str:
    """The first line of a bench module's docstring, read without importing it (some import torch)."""
    import ast
    import importlib.util

    spec = importlib.util.find_spec(f"livehmr.bench.{BENCH_MODULES.get(name, name)}")
    doc = ast.get_docstring(ast.parse(Path(spec.origin).read_text())) if spec and spec.origin else None
    return (doc or name).split("\n")[0]


def _bench_command(name: str):
    def run_bench(ctx: typer.Context) -> None:
        import importlib

        sys.argv = [f"livehmr bench {name}", *ctx.args]  # the module parses its own options (argparse)
        importlib.import_module(f"livehmr.bench.{BENCH_MODULES.get(name, name)}").main()

    run_bench.__doc__ = _bench_summary(name) + f" (options: livehmr bench {name} --help)"
    return run_bench


for _name in BENCHES:
    bench_app.command(_name, context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
                      add_help_option=False)(_bench_command(_name))  # fmt: skip


@train_app.command("motion")
def train_motion(
    out: str = typer.Option("runs/motion", help="Run folder: checkpoint.pt (resumed if present), loss.png, motion.pt."),
    config: TrainConfig = typer.Option("cpu", help="cpu (v2: 3D landmarks in, 14,000 steps, <= 2 h on 2 cores) | cpu-v1 (the first, 2D-only model's recipe) | cpu-v3 (v2 trained on further with ground-covering gaits and travelling cameras, 3,000 steps) | cpu-v3-more (that candidate 3,000 steps more: 60 % ground-covering, speed loss x2) | cpu-v3-gait3d (that one 2,500 steps more on 6-s windows, runners' 3D landmarks as BlazePose reads them) | cpu-v3-long (the shipped weights 1,200 steps more on 9-s windows: tried, not shipped) | gpu (larger) | smoke."),
    workers: int = typer.Option(1, callback=_within(1, 64), help="Processes synthesising batches."),
    max_minutes: Optional[float] = typer.Option(None, callback=_within(0.0), help="Stop (checkpointed) after this long; run again to resume."),
) -> None:  # fmt: skip
    """Train the causal motion model on the corpus' train split (val split for validation)."""
    from livehmr.training.motion.train import train

    try:
        path = train(out, config, workers=workers, max_minutes=max_minutes)
    except (LivehmrError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(f"{path}: motion.pt (when finished), checkpoint.pt, loss.png")


@train_app.command("prior")
def train_prior_cmd(
    kind: PriorKind = typer.Option("humor", help="humor (transition CVAE) | diffusion (motion diffusion model)."),
    out: Optional[str] = typer.Option(None, help="Run folder (default runs/prior_<kind>): checkpoint.pt (resumed if present), loss.png, prior_<kind>.pt."),
    config: PriorConfig = typer.Option("cpu", help="cpu (the shipped priors) | gpu (larger) | smoke."),
    max_minutes: Optional[float] = typer.Option(None, callback=_within(0.0), help="Stop (checkpointed) after this long; run again to resume."),
) -> None:  # fmt: skip
    """Train a motion prior for --refine on the corpus' train split (val split for validation)."""
    from livehmr.training.priors import train_prior

    try:
        path = train_prior(out or f"runs/prior_{kind}", kind, config, max_minutes=max_minutes)
    except (LivehmrError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(f"{path}: prior_{kind}.pt (when finished), checkpoint.pt, loss.png")


@export_app.command("motion-model")
def export_motion_model(
    out: str = typer.Option(..., help="Output .onnx file."),
    weights: Optional[str] = typer.Option(None, callback=_existing_file, help="A motion.pt (default: the shipped model)."),
    force: bool = _FORCE,
) -> None:  # fmt: skip
    """Export the motion model's step network to ONNX (run it with --motion-model FILE.onnx)."""
    from livehmr.core.outputs import check_output
    from livehmr.export.motion_onnx import OPSET, export_motion_onnx
    from livehmr.stream.estimators.learned import DEFAULT_WEIGHTS

    check_output(out, force)
    path = export_motion_onnx(weights or DEFAULT_WEIGHTS, out)
    typer.echo(f"wrote {path} (opset {OPSET}, dynamic batch of persons)")


@export_app.command("vitpose")
def export_vitpose(
    checkpoint: str = typer.Option(..., callback=_existing_file, help="An official ViTPose COCO checkpoint (.pth, mmpose layout)."),
    out: str = typer.Option(..., help="Output .onnx file."),
    variant: Optional[VitVariant] = typer.Option(None, help="s | b | l | h, checked against the checkpoint (default: read from it)."),
    engine: Optional[str] = typer.Option(None, help="Also build a TensorRT fp16 engine here (needs tensorrt)."),
    max_batch: int = typer.Option(8, callback=_within(1, 256), help="Largest batch of person crops the TensorRT engine accepts."),
    trust_checkpoint: bool = _TRUST, force: bool = _FORCE,
) -> None:  # fmt: skip
    """Export ViTPose to ONNX (dynamic batch of 256x192 person crops) and optionally a TensorRT engine."""
    from livehmr.core.outputs import check_output
    from livehmr.export.vitpose_onnx import OPSET, build_engine, export_vitpose_onnx
    from livehmr.models.vitpose import load_vitpose

    check_output(out, force)
    if engine:
        check_output(engine, force, "--engine")
    model = load_vitpose(checkpoint, variant, trust_checkpoint)
    path = export_vitpose_onnx(model, out)
    typer.echo(f"wrote {path} (ViTPose-{model.cfg.variant.upper()}, {model.cfg.head} head, opset {OPSET}, "
               "input crops (B, 3, 256, 192), output heatmaps (B, 17, 64, 48))")  # fmt: skip
    if engine:
        typer.echo(f"wrote {build_engine(path, engine, fp16=True, max_batch=max_batch)} (TensorRT fp16, batch 1-{max_batch})")


@export_app.command("motion")
def export_motion(
    recording: str = typer.Argument(..., callback=_existing_file, help="A recording made by 'livehmr record'."),
    to: ExportFormat = typer.Option(..., "--to", help="bvh (SMPL-24 skeleton, Y up, cm) | gltf (binary .glb: Anny mesh skinned and animated, Y up) | npz (AMASS layout, Z up) | csv (joints per frame)."),
    out: str = typer.Option(..., help="Output file; with several people, _person<ID> is added to its name."),
    person: Optional[int] = typer.Option(None, callback=_within(0), help="Only this person id (default: everyone with a body)."),
    refined: bool = typer.Option(False, "--refined", help="Export the refined stream (recorded from a run with --refine) instead of the causal one."),
    force: bool = typer.Option(False, "--force", help="Overwrite output files that exist."),
) -> None:  # fmt: skip
    """Export the motion in a recording to BVH, glTF (GLB), AMASS-style npz or CSV."""
    from livehmr.clients.recording import export_recording

    for path in export_recording(recording, to, out, person, force=force, topic="refined" if refined else "state"):
        typer.echo(f"wrote {path}")


@app.command()
def record(
    url: str = _STREAM_URL,
    out: str = typer.Option(..., help="Recording file to write (.lhmr, or .mcap with --format mcap); an existing file needs --force."),
    format: RecordFormat = typer.Option("lhmr", help="lhmr: every message as received, for 'livehmr replay'; "
                               "mcap: the Foxglove bridge's channels, for Foxglove and the mcap tools."),
    count: Optional[int] = typer.Option(None, callback=_within(1), help="Stop after this many messages (mcap: frames)."),
    seconds: Optional[float] = typer.Option(None, callback=_within(0.0), help="Stop after this many seconds."),
    idle: Optional[float] = typer.Option(None, callback=_within(0.0), help="Stop after this many seconds without a message (counted from the first one)."),
    curve_key: Optional[str] = _CURVE_KEY, curve_server: Optional[str] = _CURVE_SERVER, force: bool = _FORCE,
) -> None:  # fmt: skip
    """Write a stream to a file (Ctrl-C stops; a cut file stays readable). Run the pipeline
    with --publish-frames to record the images too."""
    signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop closes the file like Ctrl-C
    from livehmr.core.outputs import check_output

    curve = _curve_client(curve_key, curve_server)
    try:
        check_output(out, force)
        if format == "mcap":
            from livehmr.clients.bridges.foxglove import FoxgloveBridge
            from livehmr.clients.bridges.stream import run_bridge

            stats = run_bridge(url, FoxgloveBridge(port=None, mcap=out, force=force), count=count, idle_s=idle,
                               seconds=seconds, curve=curve, images=True)  # fmt: skip
            typer.echo(f"recorded {stats.frames} frames to {out}")
            return
        from livehmr.clients.recording import record_stream

        n = record_stream(url, out, count=count, seconds=seconds, idle_s=idle, curve=curve, force=force)
    except LivehmrError as exc:
        _fail(str(exc))
    typer.echo(f"recorded {n} messages to {out}")


@app.command()
def replay(
    recording: str = typer.Argument(..., callback=_existing_file, help="A recording made by 'livehmr record'."),
    publish: str = _PUBLISH,
    speed: float = typer.Option(1.0, callback=_within(0.0), help="1: as recorded; 2: twice as fast; 0: as fast as possible."),
    insecure: bool = _INSECURE, curve_secret: Optional[str] = _CURVE_SECRET, curve_clients: Optional[str] = _CURVE_CLIENTS,
) -> None:  # fmt: skip
    """Republish a recording, message for message, at its recorded pace or any speed."""
    from livehmr.clients.recording import replay as replay_recording

    try:
        n = replay_recording(recording, publish, speed=speed, insecure=insecure,
                             curve=_curve_server(curve_secret, curve_clients))  # fmt: skip
    except LivehmrError as exc:
        _fail(str(exc))
    typer.echo(f"replayed {n} messages on {publish}")


@app.command()
def keys(
    name: str = typer.Argument(..., help="Name of the key pair: NAME.key (public, give it to the other side) and NAME.key_secret (keep it)."),
    out: str = typer.Option("keys", help="Directory to write them to."),
    force: bool = typer.Option(False, "--force", help="Replace a key pair of that name (its old secret key is lost)."),
) -> None:  # fmt: skip
    """Make a CURVE key pair for authenticated streams beyond loopback.

    Publisher: livehmr run ... --publish tcp://0.0.0.0:5557 --curve-secret keys/server.key_secret --curve-clients keys/clients/
    Subscriber: livehmr echo tcp://HOST:5557 --curve-key keys/me.key_secret --curve-server keys/server.key
    (copy each subscriber's me.key into the publisher's clients/ directory)."""
    from livehmr.stream.publish.security import generate_keys

    try:
        public, secret = generate_keys(out, name, force=force)
    except (LivehmrError, OSError) as exc:
        _fail(str(exc))
    typer.echo(f"wrote {public} (public) and {secret} (secret, mode 600)")


@app.command()
def web(
    url: str = _STREAM_URL,
    port: int = typer.Option(8765, callback=_within(1, 65535), help="Port of the page (http://127.0.0.1:PORT/)."),
    host: str = typer.Option("127.0.0.1", help="Address to serve on; beyond loopback needs --insecure (the page has no login)."),
    insecure: bool = _INSECURE, curve_key: Optional[str] = _CURVE_KEY, curve_server: Optional[str] = _CURVE_SERVER,
) -> None:  # fmt: skip
    """Serve a browser viewer of a live stream: skinned bodies, floor, camera and trails (three.js)."""
    from livehmr.clients.web_viewer import WebViewer

    try:
        viewer = WebViewer(url, host=host, port=port, insecure=insecure, curve=_curve_client(curve_key, curve_server))
        typer.echo(f"web viewer of {url} on http://{'localhost' if host == '127.0.0.1' else host}:{port}/  (Ctrl-C stops)")
        viewer.run()
    except LivehmrError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        pass


@app.command()
def view(
    source: str = typer.Argument("tcp://127.0.0.1:5557", help="A stream URL or a recording made by 'livehmr record'."),
    save: Optional[str] = typer.Option(None, help="Write an .rrd file instead of opening a viewer (headless machines); an existing file needs --force."),
    web: bool = typer.Option(False, help="Serve rerun's web viewer on http://localhost:9090 instead of the native one."),
    idle: Optional[float] = typer.Option(None, callback=_within(0.0), help="Live streams: stop after this many seconds without a message."),
    count: Optional[int] = typer.Option(None, callback=_within(1), help="Stop after this many messages."),
    force: bool = _FORCE,
    meshes: bool = typer.Option(True, help="Skinned meshes in 3D and over the image (--no-meshes: skeletons only)."),
    curve_key: Optional[str] = _CURVE_KEY, curve_server: Optional[str] = _CURVE_SERVER,
) -> None:  # fmt: skip
    """Show a live stream or a recording in rerun: world, camera, meshes, trails, image overlay, plots.
    Run the pipeline with --publish-frames to see the video frames."""
    from livehmr.clients.rerun_viewer import view as rerun_view
    from livehmr.core.outputs import check_output

    try:
        if "://" in source:
            check_endpoint(source, "SOURCE")
        elif not Path(source).is_file():
            _fail(f"{source} is neither a recording file nor a stream URL (tcp://HOST:PORT)")
        else:
            from livehmr.clients.recording import RecordingReader

            RecordingReader(source)  # a file that is not a recording is refused before anything is written
        if save:
            check_output(save, force, "--save")
        n = rerun_view(source, save=save, web=web, idle_s=idle, count=count, meshes=meshes, announce=typer.echo,
                       curve=_curve_client(curve_key, curve_server))  # fmt: skip
    except LivehmrError as exc:
        _fail(str(exc))
    typer.echo(f"logged {n} frames")


bridge_app = typer.Typer(help="Bridges from the stream to other tools' protocols (each a client of the stream).",
                         no_args_is_help=True)  # fmt: skip
app.add_typer(bridge_app, name="bridge")


@bridge_app.command("vmc")
def bridge_vmc(
    url: str = _STREAM_URL,
    host: str = typer.Option("127.0.0.1", help="Where the VMC receiver (Unity, VSeeFace, ...) listens."),
    port: int = typer.Option(39539, callback=_within(1, 65535), help="Its UDP port (39539: the VMC protocol's default)."),
    person: Optional[int] = typer.Option(None, help="Track id to send (VMC drives one avatar); default: the lowest in view."),
    curve_key: Optional[str] = _CURVE_KEY, curve_server: Optional[str] = _CURVE_SERVER,
) -> None:  # fmt: skip
    """Send one person's bones as a Unity humanoid over the VMC protocol (OSC/UDP); Ctrl-C stops."""
    try:
        from livehmr.clients.bridges.vmc import VmcBridge
    except ImportError as exc:
        _fail(f"the VMC bridge needs python-osc: pip install 'livehmr[bridges]' ({exc})")

    _run_bridge(url, VmcBridge(host, port, person), f"VMC on {host}:{port}", curve_key, curve_server, images=False)


@bridge_app.command("foxglove")
def bridge_foxglove(
    url: str = _STREAM_URL,
    port: int = typer.Option(8765, callback=_within(0, 65535), help="WebSocket port Foxglove connects to (ws://HOST:PORT; 0: any free port)."),
    host: str = typer.Option("127.0.0.1", help="Address to serve on; beyond loopback needs --insecure (no login)."),
    mcap: Optional[str] = typer.Option(None, help="Also write the channels to this MCAP file (an existing one needs --force)."),
    insecure: bool = _INSECURE, curve_key: Optional[str] = _CURVE_KEY, curve_server: Optional[str] = _CURVE_SERVER,
    force: bool = _FORCE,
) -> None:  # fmt: skip
    """Serve the stream live to Foxglove: world scene, tf frames, camera image with keypoints, plots; Ctrl-C stops.
    Run the pipeline with --publish-frames to see the camera image."""
    from livehmr.clients.bridges.foxglove import FoxgloveBridge

    try:
        bridge = FoxgloveBridge(port=port, host=host, mcap=mcap, insecure=insecure, force=force)
    except LivehmrError as exc:
        _fail(str(exc))
    _run_bridge(url, bridge, f"Foxglove on ws://{host}:{bridge.port}", curve_key, curve_server, images=True)


@bridge_app.command("ros2")
def bridge_ros2(
    url: str = _STREAM_URL,
    connect: list[str] = typer.Option(["tcp/localhost:7447"], help="Zenoh endpoint(s) to connect to: rmw_zenohd's by default."),
    listen: list[str] = typer.Option([], help="Zenoh endpoint(s) to listen on (peers connect here)."),
    domain: int = typer.Option(0, callback=_within(0, 232), help="ROS domain id (ROS_DOMAIN_ID, 0-232)."),
    bag: Optional[str] = typer.Option(None, help="Also write a ROS 2 MCAP bag here (an existing one needs --force)."),
    no_zenoh: bool = typer.Option(False, "--no-zenoh", help="Only write the bag (no Zenoh session)."),
    gyro: Optional[str] = typer.Option(None, help="Republish this gyro feed as sensor_msgs/Imu (a CSV file or tcp:// feed, as 'livehmr run --gyro')."),
    curve_key: Optional[str] = _CURVE_KEY, curve_server: Optional[str] = _CURVE_SERVER, force: bool = _FORCE,
) -> None:  # fmt: skip
    """Publish the stream to ROS 2 over Zenoh (as rmw_zenoh does; no ROS install needed): /tf, REP-155
    /humans/bodies/*, MarkerArray skeletons, Imu; and/or a ROS 2 MCAP bag. Ctrl-C stops."""
    from livehmr.clients.bridges.ros2 import BagSink, Ros2Bridge, RosMessages, ZenohSink, typestore

    if no_zenoh and bag is None:
        _fail("--no-zenoh needs --bag (there would be nothing to do)")
    try:
        store = typestore()
        sinks: list[BagSink | ZenohSink] = [] if bag is None else [BagSink(bag, store, force=force)]
        if not no_zenoh:
            sinks.append(ZenohSink(connect=connect, listen=listen, domain=domain, store=store))
        feed = None
        if gyro is not None:
            from livehmr.stream.sources.gyro_feeds import open_gyro

            feed = open_gyro(gyro)
    except LivehmrError as exc:
        _fail(str(exc))
    where = "a bag" if no_zenoh else f"Zenoh ({', '.join(connect + listen)}), domain {domain}"
    _run_bridge(url, Ros2Bridge(sinks, RosMessages(store), gyro=feed), f"ROS 2 on {where}", curve_key, curve_server,
                images=True)  # fmt: skip


def _run_bridge(url: str, bridge, where: str, curve_key: str | None, curve_server: str | None, images: bool) -> None:
    """What every ``livehmr bridge`` command does once its bridge is built: run it until
    Ctrl-C or SIGTERM, then report the frames sent and the latency added."""
    from livehmr.clients.bridges.stream import run_bridge

    signal.signal(signal.SIGTERM, _interrupt)
    typer.echo(f"bridging {url} to {where}  (Ctrl-C stops)")
    stats = run_bridge(url, bridge, curve=_curve_client(curve_key, curve_server), images=images)
    p50, p99 = stats.percentiles()
    typer.echo(f"sent {stats.frames} frames; added latency p50 {p50:.1f} ms, p99 {p99:.1f} ms")


@app.callback()
def _options(
    log_level: LogLevel = typer.Option("warning", "--log-level", help="livehmr's own log messages shown: debug | info | warning | error."),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="-v: INFO, -vv: DEBUG (and native libraries' start-up messages)."),
) -> None:  # fmt: skip
    level = {0: log_level.upper(), 1: "INFO"}.get(verbose, "DEBUG")
    logging.getLogger("livehmr").setLevel(level)
    if level == "DEBUG" and _NATIVE_FILTER is not None:
        _NATIVE_FILTER.passthrough = True  # show everything native libraries write


class _StderrNow:
    """Writes to whatever ``sys.stderr`` is at the moment (the native-noise filter replaces it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


_NATIVE_FILTER = None


def _reflowed(doc: str) -> str:
    """A docstring as help text: each paragraph's hard line breaks joined into one line (the
    terminal wraps it), except in paragraphs of list items or indented lines."""
    paragraphs = []
    for paragraph in doc.strip().split("\n\n"):
        lines = paragraph.splitlines()
        listed = any(line.startswith(("- ", "* ", " ")) for line in lines)
        paragraphs.append(paragraph if listed else " ".join(line.strip() for line in lines))
    return "\n\n".join(paragraphs)


def reflow_help(typer_app: typer.Typer) -> None:
    """Give every command of ``typer_app`` (and its groups) its docstring as reflowed help, so
    the command lists read as sentences at any width instead of breaking where the source
    does (Typer keeps a docstring's line breaks in its first paragraph)."""
    import inspect

    for info in typer_app.registered_commands:
        doc = info.help or (inspect.getdoc(info.callback) if info.callback else None)
        if doc:
            info.help = _reflowed(doc)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            reflow_help(group.typer_instance)


def main(argv: list[str] | None = None) -> None:
    """The ``livehmr`` entry point: usage errors and :class:`LivehmrError` are one line on
    stderr and exit code 2; native libraries' start-up noise is filtered off stderr."""
    global _NATIVE_FILTER
    from livehmr.core.native import NativeNoiseFilter

    handler = logging.StreamHandler(_StderrNow())  # type: ignore[arg-type]
    handler.setFormatter(logging.Formatter("livehmr: %(levelname)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    reflow_help(app)
    command = typer.main.get_command(app)
    with NativeNoiseFilter() as _NATIVE_FILTER:
        try:
            code = command.main(args=argv, prog_name="livehmr", standalone_mode=False)
        except LivehmrError as exc:
            typer.secho(f"livehmr: error: {exc}", err=True, fg=typer.colors.RED)
            code = 2
        except OSError as exc:  # the machine's, not livehmr's: a full disk, a permission, a vanished file
            where = f": {exc.filename}" if exc.filename else ""
            typer.secho(f"livehmr: error: {exc.strerror or exc}{where}", err=True, fg=typer.colors.RED)
            code = 1
        except typer.Abort:
            code = 130
        except typer.TyperException as exc:  # a usage error: unknown command, bad option value
            context = getattr(exc, "ctx", None)
            message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
            if message:  # (no message: a bare command group, whose help was printed)
                where = f" (see '{context.command_path} --help')" if context is not None else ""
                message = message.replace("Value error, ", "")
                typer.secho(f"livehmr: error: {message}{where}", err=True, fg=typer.colors.RED)
            code = 2
    sys.exit(code or 0)
