"""The embedded server's Python-based ``onnxruntime`` backend: the ONNX models of ``model_repository/`` run
by ONNX Runtime inside Triton's python backend, following the conventions of Triton's C++ onnxruntime
backend (which the official container uses instead)."""
