# Quick start: `make demo` (set up + a short run on the built-in synthetic data), `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo demo-train test test-fast test-integration test-resilience test-slow lint bench clean chromium

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,onnx,dashboard,mlflow]'
	touch $(STAMP)

setup: $(STAMP)

# A small search on the built-in synthetic data with the CPU profile: 4 trials, ASHA, 2 at a time,
# then its best 2 and the paper default raced on 2 fresh seeds each (6 more trainings) and the verdict.
DEMO_NAME ?= demo-$(shell date +%Y%m%d-%H%M%S)
demo: $(STAMP)
	$(BIN)/glass-tune tune --config cpu_demo --space default \
		--samples 4 --epochs 6 --grace-period 2 --cpus-per-trial 1 --confirm-top 2 --confirm-seeds 2 \
		--name $(DEMO_NAME) --storage runs/tune

# One plain training run with the same CPU profile (no Ray).
demo-train: $(STAMP)
	$(BIN)/glass-tune train --config cpu_demo --out runs/demo-train --overwrite

# The report test renders the HTML in a headless Chromium: installed here (Debian, as root) when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make: installing the Debian package chromium (the report test renders the HTML with it)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "make: the report test needs Chromium: install it (Debian: sudo apt-get install chromium) and rerun"; exit 2; \
	  fi; }

# Everything but the slow and GPU checks: the unit tests (test-fast), then the integration tests
# (Ray clusters, subprocesses, servers) one at a time. Provisions Chromium first (see above).
test: chromium test-fast
	$(BIN)/python -m pytest -q -m "integration and not slow and not gpu"

# Unit tests only, one pytest worker per core (pytest-xdist): no Ray cluster, no subprocess CLI, no
# kills, no end-to-end comparison of complete training runs (under a minute on 2 cores).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n auto -m "not slow and not gpu and not integration"

test-integration: $(STAMP)
	$(BIN)/python -m pytest -q -m integration

# The long cluster checks (two-node cluster, driver killed at several moments, job stop and resume):
# slow-marked integration tests, about 10 minutes on 2 cores. CI runs them after `make test`.
test-resilience: $(STAMP)
	$(BIN)/python -m pytest -q -m "slow and integration and not gpu"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

bench: $(STAMP)
	$(BIN)/python benchmarks/epoch_time.py --out benchmarks/results/epoch_time.json

clean:
	rm -rf runs .pytest_cache
