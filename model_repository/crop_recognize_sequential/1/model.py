# The model lives in the core package, shared with the in-process pipeline and the tests.
from ocrstack.serving.crop_recognize_model import TritonPythonModel  # noqa: F401
