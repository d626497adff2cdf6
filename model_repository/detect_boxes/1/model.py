# The model lives in the core package, shared with the in-process pipeline and the tests.
from ocrstack.serving.detect_boxes_model import TritonPythonModel  # noqa: F401
