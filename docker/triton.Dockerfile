# The official Triton container with this project installed, so that the python models of
# model_repository/ (preprocess, crop_recognize, ...) can import `ocrstack`. The ONNX models are served
# by the container's own C++ onnxruntime backend; the model repository is mounted at run time, not baked
# in, so build its ONNX files first (`make model-repository`).
#
#   docker build -f docker/triton.Dockerfile -t ocrstack-triton .
#   docker run --rm --gpus all --shm-size=1g -p 8000:8000 -p 8001:8001 -p 8002:8002 \
#       -v "$PWD/model_repository:/models:ro" ocrstack-triton
#   curl -fsS localhost:8000/v2/health/ready
#
# or `docker compose up triton`, which does the same (docker-compose.yml).
#
# 24.10 is Triton 2.51, the version of the embedded CPU server (nvidia-pytriton 0.7.0); it ships
# Ubuntu 22.04 with Python 3.10 and ONNX Runtime 1.19.2 in its onnxruntime backend.
FROM nvcr.io/nvidia/tritonserver:24.10-py3

# The project with its base dependency list (pyproject.toml), and nothing else: what the core stages and
# the python models import (no torch, no onnxruntime: ocrstack.models and the in-process pipeline are not
# imported at serve time; tests/serving/test_repository_configs.py checks the import closure against that
# list). The list pins numpy 1.x (the 24.10 python backend stub is built against it) and, by a
# `python_version < '3.11'` marker, the releases of shapely and Pillow that have cp310 wheels.
# The image has Python 3.10: the serving modules run on it; the 3.11 floor in pyproject.toml comes from
# the development pins (onnxruntime 1.31, shapely 2.2), which are not installed here. The import at the end
# fails the build if a package the python models need is missing or does not load on this Python.
COPY pyproject.toml README.md /tmp/ocrstack/
COPY ocrstack /tmp/ocrstack/ocrstack
RUN python3 -m pip install --no-cache-dir --ignore-requires-python /tmp/ocrstack \
    && rm -rf /tmp/ocrstack \
    && cd / && python3 -c "import ocrstack.pipeline.stages, ocrstack.serving.repository"

WORKDIR /
EXPOSE 8000 8001 8002
CMD ["tritonserver", "--model-repository=/models", "--log-info=true"]
