"""ViTPose to ONNX (dynamic batch of person crops) and, where TensorRT is installed, to an fp16 engine.

ONNX graph: input ``crops`` (B, 3, 256, 192) float32, ImageNet-normalised RGB; output
``heatmaps`` (B, 17, 64, 48) float32. Opset 17, TorchScript exporter; attention is
written out as MatMul/Softmax, which every runtime and TensorRT parse.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from livehmr.core.errors import LivehmrError

OPSET = 17


def export_vitpose_onnx(model, out: str | Path, batch: int = 2) -> Path:
    """Write ``model`` (a :class:`~livehmr.models.vitpose.ViTPose`) to ``out`` with a dynamic batch."""
    import torch

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    x = torch.zeros(batch, 3, 256, 192)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the legacy exporter announces its own deprecation
        torch.onnx.export(model.eval(), (x,), str(out), dynamo=False, opset_version=OPSET,
                          input_names=["crops"], output_names=["heatmaps"],
                          dynamic_axes={"crops": {0: "batch"}, "heatmaps": {0: "batch"}})  # fmt: skip
    return out


def build_engine(onnx_path: str | Path, engine_path: str | Path, fp16: bool = True, max_batch: int = 8,
                 workspace_gb: float = 4.0) -> Path:  # fmt: skip
    """A TensorRT engine for batches 1..``max_batch`` (optimised for 4) from an exported ONNX."""
    try:
        import tensorrt as trt  # pyright: ignore[reportMissingImports]  (optional: GPU machines only)
    except ImportError as exc:
        raise LivehmrError("--engine needs TensorRT (pip install 'livehmr[gpu]' on a CUDA machine); "
                           "the ONNX file was written and runs in ONNX Runtime") from exc  # fmt: skip
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise LivehmrError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    profile.set_shape("crops", (1, 3, 256, 192), (min(4, max_batch), 3, 256, 192), (max_batch, 3, 256, 192))
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise LivehmrError("TensorRT failed to build the engine (see its log above)")
    engine_path = Path(engine_path)
    engine_path.write_bytes(bytes(serialized))
    return engine_path
