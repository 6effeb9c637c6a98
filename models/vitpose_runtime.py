"""Runtime backends for ViTPose, chosen by the file the user gives and ``device``.

Every backend maps (B, 3, 256, 192) float32 normalised crops to (B, 17, 64, 48) float32
heatmaps (numpy in, numpy out):

- ``.pth``: PyTorch. ``device="cpu"`` in float32; ``device="cuda"`` in float16, with the
  forward pass captured once per batch size as a CUDA graph (``cuda_graphs=True``)
  so that per-frame launch overhead disappears.
- ``.onnx``: ONNX Runtime, CUDA provider when ``device="cuda"`` and available, else CPU.
- ``.engine`` / ``.plan``: a TensorRT engine built by ``livehmr export vitpose --engine``
  (needs the ``tensorrt`` package: ``pip install 'livehmr[gpu]'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from livehmr.core.errors import LivehmrError


class HeatmapRunner(Protocol):
    name: str

    def __call__(self, crops: np.ndarray) -> np.ndarray: ...


class TorchRunner:
    def __init__(self, model, device: str = "cpu", cuda_graphs: bool = True, max_batch: int = 8):
        import torch

        if device.startswith("cuda") and not torch.cuda.is_available():
            raise LivehmrError("--device cuda: PyTorch sees no CUDA device")
        self.device = torch.device(device)
        self.half = self.device.type == "cuda"
        self.model = model.to(self.device).eval()
        if self.half:
            self.model = self.model.half()
        self.cuda_graphs = cuda_graphs and self.half
        self.max_batch = max_batch
        self._graphs: dict[int, tuple] = {}
        self.name = f"torch-{self.device.type}" + ("-fp16" if self.half else "") + ("-graphs" if self.cuda_graphs else "")

    def _graph(self, batch: int):
        import torch

        if batch not in self._graphs:
            static_in = torch.zeros(batch, 3, 256, 192, device=self.device, dtype=torch.float16)
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream), torch.inference_mode():
                for _ in range(3):  # warm-up before capture, as CUDA graphs require
                    self.model(static_in)
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph), torch.inference_mode():
                static_out = self.model(static_in)
            self._graphs[batch] = (graph, static_in, static_out)
        return self._graphs[batch]

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        import torch

        x = torch.from_numpy(np.ascontiguousarray(crops, dtype=np.float32)).to(self.device)
        if self.cuda_graphs and len(crops) <= self.max_batch:
            graph, static_in, static_out = self._graph(len(crops))
            static_in.copy_(x.half())
            graph.replay()
            return static_out.float().cpu().numpy()
        with torch.inference_mode():
            y = self.model(x.half() if self.half else x)
        return y.float().cpu().numpy()


class OrtRunner:
    def __init__(self, path: Path, device: str = "cpu"):
        import onnxruntime as ort

        available = ort.get_available_providers()
        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            if "CUDAExecutionProvider" not in available:
                raise LivehmrError("--device cuda: this onnxruntime has no CUDA provider (pip install onnxruntime-gpu)")
            providers.insert(0, "CUDAExecutionProvider")
        self.session = ort.InferenceSession(str(path), providers=providers)
        self.input = self.session.get_inputs()[0].name
        self.name = "onnxruntime-" + ("cuda" if device.startswith("cuda") else "cpu")

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        return np.asarray(self.session.run(None, {self.input: np.ascontiguousarray(crops, dtype=np.float32)})[0])


class TrtRunner:
    """A TensorRT engine with a dynamic batch dimension (built by :func:`livehmr.export.vitpose_onnx.build_engine`)."""

    def __init__(self, path: Path):
        try:
            import tensorrt as trt  # pyright: ignore[reportMissingImports]  (optional: GPU machines only)
            import torch
        except ImportError as exc:
            raise LivehmrError("a .engine needs TensorRT: pip install 'livehmr[gpu]' (CUDA machines only)") from exc
        logger = trt.Logger(trt.Logger.WARNING)
        with open(path, "rb") as f, trt.Runtime(logger) as runtime:
            self.engine = runtime.deserialize_cuda_engine(f.read())
        if self.engine is None:
            raise LivehmrError(f"{path}: TensorRT could not deserialise the engine (built by another TensorRT version?)")
        self.context = self.engine.create_execution_context()
        self.input, self.output = self.engine.get_tensor_name(0), self.engine.get_tensor_name(1)
        self.torch = torch
        self.name = "tensorrt"

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        torch = self.torch
        x = torch.from_numpy(np.ascontiguousarray(crops, dtype=np.float32)).cuda()
        self.context.set_input_shape(self.input, tuple(x.shape))
        y = torch.empty(tuple(self.context.get_tensor_shape(self.output)), dtype=torch.float32, device="cuda")
        self.context.set_tensor_address(self.input, x.data_ptr())
        self.context.set_tensor_address(self.output, y.data_ptr())
        self.context.execute_async_v3(torch.cuda.current_stream().cuda_stream)
        torch.cuda.current_stream().synchronize()
        return y.cpu().numpy()


def open_runner(path: str | Path, device: str = "cpu", variant: str | None = None, trust_pickle: bool = False,
                cuda_graphs: bool = True) -> HeatmapRunner:  # fmt: skip
    """The backend for a ViTPose file: ``.pth`` (PyTorch), ``.onnx`` (ONNX Runtime), ``.engine``/``.plan`` (TensorRT)."""
    path = Path(path)
    if not path.is_file():
        raise LivehmrError(f"ViTPose model not found: {path}")
    suffix = path.suffix.lower()
    if suffix in (".pth", ".pt", ".ckpt"):
        from livehmr.models.vitpose import load_vitpose

        return TorchRunner(load_vitpose(path, variant, trust_pickle), device, cuda_graphs)
    if suffix == ".onnx":
        return OrtRunner(path, device)
    if suffix in (".engine", ".plan", ".trt"):
        return TrtRunner(path)
    raise LivehmrError(f"{path}: a ViTPose model is a .pth checkpoint, an .onnx or a TensorRT .engine")
