"""PyTorch models. Each exportable ``forward`` returns only the named output of its config record."""

from ocrstack.models.factory import ARCHITECTURES, build_model

__all__ = ["ARCHITECTURES", "build_model"]
