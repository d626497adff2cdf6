# The model lives in the core package, shared with the in-process pipeline and the tests.
from ocrstack.serving.recognize_crops_model import TritonPythonModel  # noqa: F401
