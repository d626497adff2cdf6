"""Starting and stopping the embedded Triton server (nvidia-pytriton's tritonserver with this project's
backends): ``python -m ocrstack.serving.launcher serve``."""
