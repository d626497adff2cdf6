"""Shared core of the OCR serving stack: model config records, PyTorch models, weight import,
framework-free pre/post-processing and the inference-engine interface."""

__version__ = "0.1.0"
