"""Serving on Triton, one job per subpackage:

- ``python_models``: the Triton python models of ``model_repository/`` (they import only the core);
- ``ort_backend``: the embedded server's Python-based onnxruntime backend;
- ``launcher``: starting and stopping the embedded tritonserver;
- ``client``: building OCR requests and reading the answers (gateway, tests, benchmarks).

``parameters``, ``errors`` and ``repository`` are what the python-backend code shares: config parameters,
per-request error answers and reading the model repository.
"""
