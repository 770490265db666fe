"""`landscape`: make and repair landscape pictures with GANs, over folders, with ONNX Runtime."""
__version__ = "0.1.0"
