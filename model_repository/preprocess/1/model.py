# The model lives in the core package, shared with the in-process pipeline and the tests.
from ocrstack.serving.python_models.preprocess import TritonPythonModel  # noqa: F401
