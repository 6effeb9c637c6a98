"""ViTPose without official weights: checkpoint layout, ONNX parity, decoding, crop geometry."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch

from livehmr.core.errors import LivehmrError
from livehmr.models.heatmaps import box_to_crop, decode_heatmaps
from livehmr.models.vitpose import IMAGENET_MEAN, IMAGENET_STD, ViTPose, ViTPoseConfig, load_vitpose


def official_state_dict(dim: int, depth: int, head: str, seed: int = 0) -> OrderedDict:
    """Tensors under the key names and shapes of the official mmpose ViTPose checkpoints,
    written out from the published architecture (not from livehmr's module)."""
    g = torch.Generator().manual_seed(seed)
    shapes = {"backbone.pos_embed": (1, 16 * 12 + 1, dim), "backbone.patch_embed.proj.weight": (dim, 3, 16, 16),
              "backbone.patch_embed.proj.bias": (dim,)}  # fmt: skip
    for i in range(depth):
        b = f"backbone.blocks.{i}."
        shapes.update({b + "norm1.weight": (dim,), b + "norm1.bias": (dim,), b + "attn.qkv.weight": (3 * dim, dim),
                       b + "attn.qkv.bias": (3 * dim,), b + "attn.proj.weight": (dim, dim), b + "attn.proj.bias": (dim,),
                       b + "norm2.weight": (dim,), b + "norm2.bias": (dim,), b + "mlp.fc1.weight": (4 * dim, dim),
                       b + "mlp.fc1.bias": (4 * dim,), b + "mlp.fc2.weight": (dim, 4 * dim), b + "mlp.fc2.bias": (dim,)})  # fmt: skip
    shapes.update({"backbone.last_norm.weight": (dim,), "backbone.last_norm.bias": (dim,)})
    if head == "classic":
        for layer, cin in ((0, dim), (3, 256)):
            shapes[f"keypoint_head.deconv_layers.{layer}.weight"] = (cin, 256, 4, 4)
            for name in ("weight", "bias", "running_mean", "running_var"):
                shapes[f"keypoint_head.deconv_layers.{layer + 1}.{name}"] = (256,)
        shapes.update({"keypoint_head.final_layer.weight": (17, 256, 1, 1), "keypoint_head.final_layer.bias": (17,)})
    else:
        shapes.update({"keypoint_head.final_layer.weight": (17, dim, 3, 3), "keypoint_head.final_layer.bias": (17,)})
    state = OrderedDict((k, torch.randn(s, generator=g) * 0.02) for k, s in shapes.items())
    for k in state:
        if k.endswith("running_var"):
            state[k] = state[k].abs() + 1.0
    if head == "classic":
        state["keypoint_head.deconv_layers.1.num_batches_tracked"] = torch.tensor(1000)
        state["keypoint_head.deconv_layers.4.num_batches_tracked"] = torch.tensor(1000)
    return state


@pytest.mark.parametrize("head", ["classic", "simple"])
def test_official_checkpoint_layout_loads(tmp_path, head):
    state = official_state_dict(384, 12, head)
    path = tmp_path / "vitpose_small.pth"
    torch.save({"meta": {"epoch": 210, "mmcv_version": "1.3.9"}, "state_dict": state}, path)
    model = load_vitpose(path, variant="s")
    assert model.cfg == ViTPoseConfig("s", head, 17)
    loaded = model.state_dict()
    for key in ("backbone.pos_embed", "backbone.blocks.11.attn.qkv.weight", "keypoint_head.final_layer.weight"):
        assert torch.equal(loaded[key], state[key])
    with pytest.raises(LivehmrError, match="not ViTPose-B"):
        load_vitpose(path, variant="b")


def test_bad_checkpoints_are_refused_clearly(tmp_path):
    state = official_state_dict(384, 12, "classic")
    state["backbone.last_norm.weight"] = torch.zeros(100)
    torch.save({"state_dict": state}, tmp_path / "bad_shape.pth")
    with pytest.raises(LivehmrError, match="wrong shapes for \\['backbone.last_norm.weight'\\]"):
        load_vitpose(tmp_path / "bad_shape.pth")
    torch.save({"state_dict": {"conv.weight": torch.zeros(3)}}, tmp_path / "other.pth")
    with pytest.raises(LivehmrError, match="not a ViTPose checkpoint"):
        load_vitpose(tmp_path / "other.pth")
    torch.save({"state_dict": state, "meta": {"hook": np.dtype}}, tmp_path / "pickled.pth")  # a non-tensor object
    with pytest.raises(LivehmrError, match="--trust-checkpoint"):
        load_vitpose(tmp_path / "pickled.pth")
    with pytest.raises(LivehmrError, match="not found"):
        load_vitpose(tmp_path / "missing.pth")


def test_onnx_runtime_matches_pytorch_on_random_weights(tmp_path):
    """Parity of the exported graph, dynamic batch: max |ORT - PyTorch| <= 1e-5 (heatmaps up to ~0.2)."""
    pytest.importorskip("onnx")
    from livehmr.export.vitpose_onnx import export_vitpose_onnx
    from livehmr.models.vitpose_runtime import OrtRunner

    torch.manual_seed(0)
    model = ViTPose(ViTPoseConfig("s", "classic")).eval()
    onnx_path = export_vitpose_onnx(model, tmp_path / "vitpose_s.onnx")
    runner = OrtRunner(onnx_path)
    for batch in (1, 3):
        x = np.random.default_rng(batch).normal(size=(batch, 3, 256, 192)).astype(np.float32)
        with torch.no_grad():
            expected = model(torch.from_numpy(x)).numpy()
        got = runner(x)
        assert got.shape == (batch, 17, 64, 48)
        assert np.abs(expected).max() > 0.1  # the comparison is not between zeros
        assert np.abs(got - expected).max() <= 1e-5  # measured: 1.2e-7


def _gaussian(hw: tuple[int, int], centre: np.ndarray, sigma: float) -> np.ndarray:
    ys, xs = np.mgrid[0 : hw[0], 0 : hw[1]]
    return np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2 * sigma**2))


def test_decoding_recovers_sub_pixel_peaks():
    rng = np.random.default_rng(0)
    truth = rng.uniform([6, 6], [42, 58], size=(17, 2))  # 6 px from the borders (the smoothing reflects there)
    heatmaps = np.stack([_gaussian((64, 48), c, 2.0) * rng.uniform(0.4, 1.0) for c in truth]).astype(np.float32)
    peaks, maxvals = decode_heatmaps(heatmaps)
    assert np.abs(peaks - truth).max() < 0.02  # pixels; the integer argmax alone is up to 0.5 off
    assert np.abs(np.round(truth) - truth).max() > 0.3
    assert np.all(maxvals > 0.35)


class _SamplingRunner:
    """A stand-in network whose heatmap k is the crop's colour channel k % 3 sampled at the
    heatmap grid (UDP: heatmap pixel j sits at input pixel j·191/47): exact by construction,
    so what the test measures is the crop and the decoding around it."""

    name = "sampling"

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        import cv2

        rgb = crops.transpose(0, 2, 3, 1) * IMAGENET_STD + IMAGENET_MEAN  # undo the normalisation
        xs = np.arange(48, dtype=np.float32) * (191 / 47)
        ys = np.arange(64, dtype=np.float32) * (255 / 63)
        mx, my = np.meshgrid(xs, ys)
        out = np.zeros((len(crops), 17, 64, 48), np.float32)
        for b in range(len(crops)):
            sampled = cv2.remap(rgb[b].astype(np.float32), mx, my, cv2.INTER_LINEAR)
            for k in range(17):
                out[b, k] = sampled[:, :, k % 3] / 255.0
        return out


def test_crop_and_decode_map_back_to_image_pixels():
    """Three blobs (one per RGB channel) at known image points are found there again."""
    from livehmr.stream.keypoints.vitpose import ViTPoseKeypoints

    points = np.array([[301.3, 180.7], [288.6, 262.2], [322.9, 330.4]])  # R, G, B blob centres
    rgb = np.zeros((480, 640, 3), np.float32)
    for channel, p in enumerate(points):
        rgb[:, :, channel] = 255 * _gaussian((480, 640), p, 9.0)
    stage = ViTPoseKeypoints.__new__(ViTPoseKeypoints)  # no detector needed for this path
    stage.runner = _SamplingRunner()
    box = np.array([250.0, 150.0, 350.0, 370.0])
    centre, size = box_to_crop(box)
    (kp, score), = stage.keypoints_in_regions(rgb.round().astype(np.uint8), [(centre, size)])
    expected = points[np.arange(17) % 3]
    assert np.abs(kp[:, :2] - expected).max() < 0.25  # pixels, after 8-bit quantisation of the image
    assert np.all(kp[:, 2] > 0.9)


def test_tensorrt_engine_builds_and_matches(tmp_path):
    trt = pytest.importorskip("tensorrt", reason="TensorRT is not installed (CUDA machines with livehmr[gpu] only)")
    if not torch.cuda.is_available():
        pytest.skip("TensorRT needs a CUDA device")
    from livehmr.export.vitpose_onnx import build_engine, export_vitpose_onnx
    from livehmr.models.vitpose_runtime import TrtRunner

    del trt
    torch.manual_seed(0)
    model = ViTPose(ViTPoseConfig("s", "classic")).eval()
    engine = build_engine(export_vitpose_onnx(model, tmp_path / "v.onnx"), tmp_path / "v.engine", fp16=True)
    x = np.random.default_rng(0).normal(size=(2, 3, 256, 192)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    assert np.abs(TrtRunner(engine)(x) - expected).max() < 2e-2  # fp16


def test_export_and_run_commands_with_a_checkpoint(tmp_path):
    """`livehmr export vitpose` then `livehmr run --keypoints vitpose` on the ONNX file, as a user would
    (random weights: the run must complete and publish, whatever it finds)."""
    import subprocess
    import sys

    ckpt = tmp_path / "vitpose_s.pth"
    torch.save({"state_dict": official_state_dict(384, 12, "classic")}, ckpt)
    cli = [sys.executable, "-m", "livehmr"]
    out = subprocess.run([*cli, "export", "vitpose", "--checkpoint", str(ckpt), "--out", str(tmp_path / "v.onnx")],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "ViTPose-S" in out.stdout and (tmp_path / "v.onnx").exists()
    engine = subprocess.run([*cli, "export", "vitpose", "--checkpoint", str(ckpt), "--out", str(tmp_path / "w.onnx"),
                             "--engine", str(tmp_path / "w.engine")], capture_output=True, text=True, timeout=300)  # fmt: skip
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        assert engine.returncode == 2 and "needs TensorRT" in engine.stderr and "Traceback" not in engine.stderr
    run = subprocess.run([*cli, "run", "crowd:2", "--keypoints", "vitpose", "--vitpose", str(tmp_path / "v.onnx"),
                          "--max-frames", "3", "--publish", "tcp://127.0.0.1:5599", "--quiet"],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "done: 3 frames" in run.stderr
    missing = subprocess.run([*cli, "run", "crowd:2", "--keypoints", "vitpose", "--max-frames", "1"],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    assert missing.returncode == 2 and "needs --vitpose" in missing.stderr
