"""Serving on Triton: launcher, python models and the Python-based onnxruntime backend."""
