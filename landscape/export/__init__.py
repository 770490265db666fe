"""Checkpoint -> verified ONNX with the metadata the runtime reads."""
