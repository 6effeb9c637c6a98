"""The motion model's step network in ONNX Runtime: the ``--motion-model x.onnx`` backend
of the live estimator (the graph is made by :mod:`livehmr.export.motion_onnx`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class OnnxStep:
    """ONNX Runtime session of an exported step network (CPU, or CUDA when available)."""

    def __init__(self, path: str | Path, providers: list[str] | None = None):
        from livehmr.core.errors import LivehmrError

        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise LivehmrError("the onnx backend needs onnxruntime (pip install onnxruntime)") from exc
        path = Path(path)
        if path.suffix != ".onnx":
            raise LivehmrError(f"the onnx backend needs an exported .onnx file, not {path.name} "
                               "(make one: livehmr export motion-model --out motion.onnx)")  # fmt: skip
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        available = ort.get_available_providers()
        providers = providers or [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=providers)
            inputs = self.session.get_inputs()
            shape = inputs[1].shape  # (3, layers, batch, hidden)
            self.layers, self.hidden = int(shape[1]), int(shape[3])
            inputs_wide = int(inputs[0].shape[1])
        except Exception as exc:  # ONNX Runtime's own errors (and a graph of another shape)
            raise LivehmrError(f"{path} is not an exported livehmr motion model ({type(exc).__name__}: {str(exc)[:200]})") from None
        from livehmr.models.motion.features import input_columns

        widths = {len(input_columns(False)): False, len(input_columns(True)): True}
        if inputs_wide not in widths:
            raise LivehmrError(f"{path}: its input has {inputs_wide} features; a livehmr motion model takes "
                               f"{' or '.join(map(str, widths))}")  # fmt: skip
        self.landmarks = widths[inputs_wide]  # whether it reads BlazePose's 3D landmarks

    def initial_state(self) -> np.ndarray:
        return np.zeros((3, self.layers, 1, self.hidden), np.float32)

    def __call__(self, x: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out, new = self.session.run(None, {"x": x.astype(np.float32), "state": state.astype(np.float32)})
        return np.asarray(out), np.asarray(new)
