"""Inference engines: one interface, one implementation per runtime."""

from ocrstack.engine.base import InferenceEngine
from ocrstack.engine.onnxruntime_engine import OnnxRuntimeEngine

__all__ = ["InferenceEngine", "OnnxRuntimeEngine"]
