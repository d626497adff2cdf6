"""Checkpoint -> ONNX (-> TensorRT) conversion, with parity checks against PyTorch.

``python -m convert --help`` lists the commands.
"""
