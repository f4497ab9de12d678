# Two commands set up a fresh machine (Python 3.11 only): `make demo` and `make test`. Both install first if needed.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip --disable-pip-version-check
STAMP := $(VENV)/.installed

.PHONY: install browser demo test clean shipped-colorizer

install: $(STAMP)

# Why --no-deps: tfx 1.21.0 declares ml-metadata>=1.21 and tensorflow-data-validation>=1.21, which have no wheels
# for CPython 3.11 / linux x86_64, so pip's resolver refuses. We install a verified, fully pinned set without
# resolution, then tfx + ml-pipelines-sdk + ml-metadata 1.17.1 on top (docs/architecture.md, "Install"), then the
# Google Cloud clients, the test tools and Apache Airflow (pipeline/run_airflow.py).
$(STAMP): requirements/base.lock requirements/tfx.lock requirements/cloud.lock requirements/dev.lock \
    requirements/airflow.lock setup.py
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version' \
	  || (echo "Set PYTHON=/path/to/python3.11" && false)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --no-deps -r requirements/base.lock
	$(PIP) install -q --no-deps -r requirements/tfx.lock
	$(PIP) install -q --no-deps -r requirements/cloud.lock
	$(PIP) install -q --no-deps -r requirements/dev.lock
	$(PIP) install -q --no-deps -r requirements/airflow.lock
	$(PIP) install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: install
	$(PY) -m pipeline.demo

# The shipped colorizer (trainer/pretrained/), from scratch: the corpus (configs/corpus.yaml), the recipe
# (configs/shipped_colorizer.yaml: about two hours on 2 CPU cores), then the weights file with its header.
shipped-colorizer: install
	$(PY) -m dataset.corpus --output=outputs/corpus
	$(PY) -m pipeline.run_local --config=configs/shipped_colorizer.yaml
	$(PY) -m pipeline.ship_colorizer --config=configs/shipped_colorizer.yaml

# The web page is tested in a real headless browser: Debian's chromium, driven by Playwright.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian's chromium for the browser tests ..." && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "The web page tests need Debian's chromium: sudo apt-get install chromium" && exit 1; fi; }

test: install browser
	$(PY) -m pytest -q tests

clean:
	rm -rf outputs
