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

# What the python models import, and nothing else (no torch: ocrstack.models and convert/ are not
# imported at serve time; tests/serving/test_repository_configs.py checks the import closure against
# this list). numpy stays 1.x: the 24.10 python backend stub is built against it. onnxruntime is only
# imported through ocrstack.pipeline -> ocrstack.engine; 1.23.2 is the newest release with a cp310
# wheel (1.24 and later, like the 1.31.1 in pyproject.toml, need Python >= 3.11), and shapely 2.1.2
# likewise (2.2 needs 3.11); Pillow (the JPEG header read before decoding, ocrstack.pipeline.image_io)
# 12.1.0 for the same reason (13 has no cp310 wheel). The transitive dependencies are pinned too, as
# resolved for cp310.
RUN python3 -m pip install --no-cache-dir \
        numpy==1.26.4 \
        opencv-python-headless==4.11.0.86 \
        pillow==12.1.0 \
        pyclipper==1.4.0 \
        shapely==2.1.2 \
        onnx==1.23.2 \
        onnxruntime==1.23.2 \
        'tritonclient[grpc]==2.73.0' \
        protobuf==6.33.6 \
        grpcio==1.85.1 \
        ml_dtypes==0.5.4 \
        python-rapidjson==1.25 \
        urllib3==2.8.0 \
        packaging==26.3 \
        typing_extensions==4.16.0 \
        flatbuffers==25.12.19 \
        coloredlogs==15.0.1 \
        humanfriendly==10.0 \
        sympy==1.14.0 \
        mpmath==1.3.0

# The project itself without its dependencies: pyproject.toml also lists torch, the gateway and the
# load-test tools, none of which the server needs. The import at the end fails the build if a package
# the python models need is missing or does not load on this Python.
COPY pyproject.toml README.md /tmp/ocrstack/
COPY ocrstack /tmp/ocrstack/ocrstack
# The image has Python 3.10: the serving modules run on it; the 3.11 floor in pyproject.toml comes from
# the development pins (onnxruntime 1.31, shapely 2.2), which are not installed here.
RUN python3 -m pip install --no-cache-dir --no-deps --ignore-requires-python /tmp/ocrstack \
    && rm -rf /tmp/ocrstack \
    && cd / && python3 -c "import ocrstack.pipeline, ocrstack.serving.repository"

WORKDIR /
EXPOSE 8000 8001 8002
CMD ["tritonserver", "--model-repository=/models", "--log-info=true"]
