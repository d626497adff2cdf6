# The gateway (FastAPI, gateway/) and the ocrstack library it imports, on a slim Python, as a non-root user.
#
#   docker build -f docker/gateway.Dockerfile -t ocrstack-gateway .
#   docker run --rm -p 8080:8080 -e OCRSTACK_TRITON_URL=triton-host:8001 ocrstack-gateway
#
# or `docker compose up gateway` (docker-compose.yml). Settings come from the environment (OCRSTACK_*,
# gateway/settings.py); Papago credentials from an env file or a Secret, never from this image.
#
# The project is installed with its `gateway` extra (pyproject.toml: the base list and the gateway's own),
# so no dependency list is kept here; the gateway itself runs from its copied source folder.
# Build context: docker/gateway.Dockerfile.dockerignore lets only pyproject.toml, README.md, ocrstack/ and
# gateway/ in.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS dependencies
COPY pyproject.toml README.md /tmp/ocrstack/
COPY ocrstack /tmp/ocrstack/ocrstack
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --upgrade pip \
    && /opt/venv/bin/pip install --no-cache-dir '/tmp/ocrstack[gateway]'

FROM ${PYTHON_IMAGE}
# Fonts for the re-drawn image (render=true): Latin, Hangul and Han, found through fontconfig
# (ocrstack.synth.fonts names the same Debian packages).
RUN apt-get update \
    && apt-get install -y --no-install-recommends fontconfig fonts-dejavu-core fonts-nanum fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /home/gateway --create-home gateway
COPY --from=dependencies /opt/venv /opt/venv
COPY gateway /app/gateway
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OCRSTACK_TRITON_URL=triton:8001
WORKDIR /app
USER 10001:10001
EXPOSE 8080
# /readyz answers 200 once Triton and every model the gateway calls are ready (503 before).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2)"]
CMD ["python", "-m", "gateway", "--host", "0.0.0.0", "--port", "8080"]
