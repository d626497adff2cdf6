# The model repository as an image, for Kubernetes: an init container of the Triton pod runs
# deploy/prepare_repository.py from it into the pod's model volume (deploy/k8s/triton.yaml), so a cluster
# needs no shared storage. Build the ONNX files first, on any machine with the project set up:
#
#   make model-repository
#   docker build -f docker/models.Dockerfile -t REGISTRY/ocrstack-models:TAG .
#
# Only the standard library runs here: prepare_repository.py and the two modules it reads the config
# records from (ocrstack/config.py, convert/tensorrt.py) are stdlib-only.
# Build context: docker/models.Dockerfile.dockerignore.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}
COPY model_repository /opt/ocrstack/model_repository
COPY ocrstack/__init__.py ocrstack/config.py /opt/ocrstack/ocrstack/
COPY convert/__init__.py convert/tensorrt.py /opt/ocrstack/convert/
COPY deploy/prepare_repository.py /opt/ocrstack/deploy/prepare_repository.py
# Fails the build when an ONNX file is missing (make model-repository was not run), not the pod.
RUN cd /opt/ocrstack && python deploy/prepare_repository.py prepare --engine cpu \
        --source model_repository --out /tmp/check && rm -rf /tmp/check \
    && useradd --system --uid 10001 models
ENV PYTHONPATH=/opt/ocrstack
WORKDIR /opt/ocrstack
USER 10001
CMD ["python", "deploy/prepare_repository.py", "prepare", "--source", "/opt/ocrstack/model_repository", "--out", "/models"]
