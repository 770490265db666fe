"""Numpy in, numpy out over an ONNX Runtime session: one module per task."""
