# The model lives in the core package, shared with the in-process pipeline and the tests.
from ocrstack.serving.python_models.recognize_crops import TritonPythonModel  # noqa: F401
