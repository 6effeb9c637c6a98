"""ONNX and TensorRT export (the ViTPose and causal-model exports land here)."""
